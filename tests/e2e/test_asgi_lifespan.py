#!/usr/bin/python3
"""A failed ASGI lifespan startup (lifespan.startup.failed) stops bridge
with the application's message, whenever a worker meets it (issue #13),
as Gunicorn stops on WORKER_BOOT_ERROR: at the first start, in the
workers a HUP starts (the old ones stop too), and in a worker that
replaces one later (--max-requests) -- never a loop of respawns.  The
application (tests/apps/asgi_lifespan_flag.py) fails while a flag file
exists, with the file's text as its message; bridge runs as root with
--user nobody, as users run it."""
import os
import re
import signal
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port, wait_for                  # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
SRCDIR = os.environ.get("SRCDIR", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
APPS = os.path.abspath(os.path.join(SRCDIR, "tests/apps"))
ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")
# The line the master logs when it stops for this reason.
STOPPING = re.compile(r"the application failed to start: .*; stopping")


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class LifespanStartupFailedTest(unittest.TestCase):
    def setUp(self):
        self.tmp = harness.TempDir(self)
        self.flag = self.tmp.join("fail")
        self.port = free_port()

    def fail_startup(self, why):
        with open(self.flag, "w") as f:
            f.write(why + "\n")
        os.chmod(self.flag, 0o644)

    def start(self, *args):
        argv = [BRIDGE, "--http", "127.0.0.1:%d" % self.port,
                "--chdir", APPS, "--asgi", "asgi_lifespan_flag:app",
                "--graceful-timeout", "10"]
        argv += list(args) + harness.user_args()
        env = dict(os.environ, LIFESPAN_FAIL_FLAG=self.flag)
        # The error log is bridge's stderr, as by default (O_APPEND:
        # the master and its workers write it at once).
        self.err = open(self.tmp.join("stderr"), "a")
        self.addCleanup(self.err.close)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.err, env=env)
        self.addCleanup(self.reap)
        return self.proc

    def reap(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        with open(self.tmp.join("stderr")) as f:
            return f.read()

    def pid(self):
        url = "http://127.0.0.1:%d/" % self.port
        with urllib.request.urlopen(url, timeout=20) as r:
            return int(r.read())

    def started(self, n):
        """Wait until n workers have started the application."""
        ok = wait_for(lambda: self.proc.poll() is not None or len(
            re.findall(r"application \S+ loaded", self.log())) >= n, 30)
        self.assertTrue(ok and self.proc.poll() is None, self.log())

    def wait_exit(self):
        """bridge's exit status; fails if it keeps running."""
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("bridge kept running:\n" + self.log())

    def assert_stopped_for(self, why):
        rc = self.wait_exit()
        log = self.log()
        self.assertEqual(rc, 1, log)
        # The application's message, then the master's one line.
        self.assertIn("lifespan startup failed: " + why, log)
        stops = STOPPING.findall(log)
        self.assertEqual(len(stops), 1, log)
        self.assertIn(why, stops[0])
        return log

    def test_failed_at_first_start_stops_bridge(self):
        self.fail_startup("no database at first start")
        self.start("-w", "2")
        self.assert_stopped_for("no database at first start")

    def test_failed_after_hup_stops_bridge_and_old_workers(self):
        """HUP with a startup that now fails: bridge stops (Gunicorn
        halts too) rather than serve on with workers of the image it
        replaced; the old workers stop with it."""
        self.start("-w", "2")
        self.started(2)
        self.assertGreater(self.pid(), 0)
        self.fail_startup("database gone before the reload")
        self.proc.send_signal(signal.SIGHUP)
        self.assert_stopped_for("database gone before the reload")

    def test_failed_in_replacement_worker_stops_bridge(self):
        """A worker started later (--max-requests 1 recycles it) whose
        startup fails stops bridge at once: no endless respawns."""
        self.start("-w", "1", "--max-requests", "1")
        self.started(1)
        self.fail_startup("database gone for the next worker")
        # Its one request: the worker is replaced after answering.
        self.assertGreater(self.pid(), 0)
        log = self.assert_stopped_for("database gone for the next worker")
        # One worker tried, and no other after it.
        self.assertEqual(log.count("] python: ASGI lifespan startup "
                                   "failed: "), 1, log)


if __name__ == "__main__":
    unittest.main()
