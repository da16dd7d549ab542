#!/usr/bin/env python3
"""Process titles: what ps shows as the command of each bridge process.

The master reads "bridge: master ARGS" (the arguments as given), each
worker "bridge: worker N" and, once told to stop, "bridge: worker N
(stopping)", the --stats process "bridge: stats"; --name replaces
"bridge".  Also inside python3.11 (--python-exe auto), where ps would
otherwise show the interpreter's command line.  Titles overwrite the
memory of the original arguments and environment, so the tests also
check that nothing read from there changed: the application's
environment, a HUP's re-execution with the same arguments.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from http_harness import worker_pids                     # noqa: E402
from harness import BRIDGE, BUILDDIR, PROBE_SO, SRCDIR   # noqa: E402

APPS = os.path.join(SRCDIR, "tests/apps/wsgi")
PYHOST = os.path.join(BUILDDIR, "adapters/python/.libs/pyhost.so")


def cmdline(pid):
    """The command line as ps reads it: a title ends with one NUL."""
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode().rstrip("\0")


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def ps_args(pid):
    return subprocess.run(["ps", "-o", "args=", "-p", str(pid)],
                          capture_output=True, text=True).stdout.strip()


def syscalls(pid):
    """What each thread of pid is in: /proc/PID/task/TID/syscall."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
            out.append(f.read().strip())
    return out


def in_sleep(pid):
    """A thread of pid is in nanosleep(2) or clock_nanosleep(2) (x86-64
    numbers)."""
    return any(s.split()[0] in ("35", "230") for s in syscalls(pid))


def get(port, path="/"):
    status, _, body = harness.http_request(port, path=path, timeout=15)
    return status, body


class ProcTitleTest(unittest.TestCase):
    def start(self, argv, env=None):
        """Start bridge as root with --user nobody (user_args) on an
        HTTP port; returns (proc, port, argv as given)."""
        self.tmp = harness.TempDir(self, writable=True)
        self.log = self.tmp.join("bridge.log")
        port = harness.free_port()
        argv = argv + ["--http", "127.0.0.1:%d" % port, "--error-log",
                       self.log] + harness.user_args()
        e = dict(os.environ)
        e.update(env or {})
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=e)
        self.addCleanup(harness.stop_bridge, proc, self.log)
        harness.wait_port("127.0.0.1", port, proc=proc)
        if not harness.wait_for(lambda: "serving on" in self.log_text(),
                                20):
            self.fail("bridge never served:\n" + self.log_text())
        return proc, port, argv

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def workers(self, master, n):
        got = []

        def ready():
            got[:] = worker_pids(master)
            return len(got) == n
        if not harness.wait_for(ready, 20):
            self.fail("%d workers, not %d:\n%s" % (len(got), n,
                                                   self.log_text()))
        return got

    def assert_titles(self, master, argv, nworkers, name="bridge"):
        want = "%s: master %s" % (name, " ".join(argv[1:]))
        self.assertEqual(cmdline(master), want)
        self.assertEqual(ps_args(master), want)
        workers = self.workers(master, nworkers)
        titles = sorted(cmdline(w) for w in workers)
        self.assertEqual(titles, ["%s: worker %d" % (name, i)
                                  for i in range(nworkers)])
        # comm stays what --name (or the binary) made it.
        self.assertEqual(comm(master), name[:15])
        return workers

    def test_native_master_and_workers(self):
        proc, port, argv = self.start([BRIDGE, "--module", PROBE_SO,
                                       "-w", "2"])
        self.assert_titles(proc.pid, argv, 2)
        self.assertEqual(get(port, "/pid")[0], 200)

    def test_title_longer_than_the_command_line(self):
        """A title longer than the original arguments runs on into the
        environment's memory: the whole title shows, and the worker's
        environment (what a CGI script inherits: PATH) is intact."""
        name = "a-name-longer-than-the-path-of-the-binary-" + "x" * 20
        proc, port, argv = self.start([BRIDGE, "--module", PROBE_SO,
                                       "--name", name])
        self.assertGreater(len(cmdline(proc.pid)),
                           len(" ".join(argv)) + 1)
        self.assert_titles(proc.pid, argv, 1, name=name)

    def test_stats_process(self):
        sport = harness.free_port()
        proc, port, argv = self.start([BRIDGE, "--module", PROBE_SO,
                                       "--stats", "127.0.0.1:%d" % sport])
        harness.wait_port("127.0.0.1", sport, proc=proc)
        kids = worker_pids(proc.pid)
        self.assertIn("bridge: stats", [cmdline(k) for k in kids])

    def test_stopping_worker(self):
        """TERM: the worker, still answering a request, reads
        "(stopping)" until it ends."""
        # --threads 2: the request sleeps on an application thread, so
        # the loop thread takes the TERM at once (with one thread it
        # would read it only after the request).
        proc, port, argv = self.start([BRIDGE, "--module", PROBE_SO,
                                       "--graceful-timeout", "30",
                                       "--threads", "2"])
        old = self.workers(proc.pid, 1)[0]
        result = {}

        def slow():
            result["slow"] = get(port, "/sleep?5000")
        t = threading.Thread(target=slow)
        t.start()
        self.addCleanup(t.join, 30)
        # The worker is in the probe's nanosleep: the request is in.
        self.assertTrue(harness.wait_for(lambda: in_sleep(old), 10),
                        syscalls(old))
        os.kill(proc.pid, signal.SIGTERM)
        seen = []

        def stopping():
            try:
                seen.append(cmdline(old))
            except (FileNotFoundError, ProcessLookupError):
                return False
            return seen[-1] == "bridge: worker 0 (stopping)"
        self.assertTrue(harness.wait_for(stopping, 10),
                        "stopping worker titles: %r" % seen[-3:])
        t.join(30)
        self.assertEqual(result.get("slow", (None,))[0], 200)
        self.assertEqual(proc.wait(30), 0)

    def test_hup_keeps_the_arguments(self):
        """HUP: the master re-executes itself with its original arguments
        (copied before the title overwrote them), keeps its pid and
        title, and its new worker serves under its own title."""
        proc, port, argv = self.start([BRIDGE, "--module", PROBE_SO])
        old = self.workers(proc.pid, 1)[0]
        os.kill(proc.pid, signal.SIGHUP)

        def new_worker():
            kids = [k for k in worker_pids(proc.pid) if k != old]
            return bool(kids) and cmdline(kids[0]) == "bridge: worker 0"
        self.assertTrue(harness.wait_for(new_worker, 30), self.log_text())
        self.assertEqual(cmdline(proc.pid),
                         "bridge: master " + " ".join(argv[1:]))
        self.assertEqual(get(port, "/pid")[0], 200)

    @unittest.skipUnless(os.path.exists(PYHOST), "Python adapter not built")
    def test_python_hosted_and_embedded(self):
        """The same titles whether the application runs in python3.11 or
        in embedded libpython, and the application's os.environ and
        sys.argv are what they were."""
        for mode in ("auto", "embed"):
            with self.subTest(mode=mode):
                proc, port, argv = self.start(
                    [BRIDGE, "--chdir", APPS, "--wsgi", "hostinfo:application",
                     "--python-exe", mode, "-w", "2"],
                    env={"BRIDGE_TEST_MARK": "mark-%s" % mode})
                self.assert_titles(proc.pid, argv, 2)
                status, body = get(port)
                self.assertEqual(status, 200)
                info = json.loads(body)
                self.assertEqual(info["mark"], "mark-%s" % mode)
                self.assertEqual(info["argv"], ["bridge"])
                harness.stop_bridge(proc, self.log)


if __name__ == "__main__":
    harness.main()
