"""A deployment run the way the README says, for longer than its timeouts.

As root with --user (the README's production path, and examples/serve.sh),
bridge used to stop itself after --startup-timeout: each worker, already
switched to the user, told the root master it was ready with a signal the
kernel refused (EPERM), so the master took every worker for hung, killed it
and gave up.  These tests start bridge as root with --user nobody, set
--startup-timeout and --timeout short, keep the deployment serving for
several times both, and check that it never restarted a worker, that its
workers run as the user, and that systemd heard READY=1.

Native module over HTTP, the Flask example over FastCGI (through a real
libfcgi client, cgi-fcgi) and under a NOTIFY_SOCKET as systemd would.
"""
import os
import pwd
import re
import socket
import subprocess
import time
import unittest

import harness
from harness import BRIDGE, HELLO_SO, SRCDIR, TempDir, free_port, wait_for

# Short, but long enough for Flask's import on a loaded 2-core machine.
STARTUP_TIMEOUT = 6     # s; the deployments below run for twice as long
REQUEST_TIMEOUT = 2     # s, --timeout
RUN_FOR = 2 * (STARTUP_TIMEOUT + REQUEST_TIMEOUT)
# Each worker logs this once it has the application (or module).
LOADED = re.compile(r"worker \d+ \(pid \d+\): .* (loaded|ready)")


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                         capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


class Deployment:
    """bridge started as a user would, as root with --user nobody."""

    def __init__(self, tc, args, env=None):
        self.tc = tc
        self.tmp = TempDir(tc)
        os.chmod(self.tmp.path, 0o755)
        self.log_path = self.tmp.join("error.log")
        self.args = [BRIDGE, "--user", "nobody",
                     "--startup-timeout", str(STARTUP_TIMEOUT),
                     "--timeout", str(REQUEST_TIMEOUT),
                     "--error-log", self.log_path] + args
        e = dict(os.environ, **(env or {}))
        # The point of these tests is the production path: no shortcut.
        e.pop("BRIDGE_ALLOW_ROOT", None)
        self.proc = subprocess.Popen(self.args, env=e,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        tc.addCleanup(self.cleanup)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        rc = harness.stop_process(self.proc, timeout=15)
        self.tc.assertEqual(rc, 0, "bridge exited %s:\n%s" % (rc, self.log()))

    def cleanup(self):
        if self.proc.poll() is None:
            harness.stop_process(self.proc, timeout=15)

    def run_past_timeouts(self, request, workers):
        """Once every worker has the application, serve for RUN_FOR
        seconds; returns the worker pids seen."""
        if not wait_for(lambda: len(LOADED.findall(self.log())) >= workers
                        or self.proc.poll() is not None,
                        STARTUP_TIMEOUT + 5):
            self.tc.fail("workers never loaded the application:\n"
                         + self.log())
        first = None
        end = time.monotonic() + RUN_FOR
        n = 0
        while time.monotonic() < end:
            self.tc.assertIsNone(self.proc.poll(),
                                 "bridge stopped:\n" + self.log())
            request()
            n += 1
            pids = children_of(self.proc.pid)
            if first is None:
                first = pids
            time.sleep(0.2)
        self.tc.assertGreater(n, 10)
        self.tc.assertEqual(children_of(self.proc.pid), first,
                            "workers were replaced:\n" + self.log())
        log = self.log()
        self.tc.assertNotIn("startup-timeout", log)
        self.tc.assertNotIn("killing", log)
        return first


class TestRootWithUser(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            msg = "needs root: the production path is root with --user"
            if os.environ.get("BRIDGE_REQUIRE_PEERS") == "1":
                self.fail(msg)
            self.skipTest(msg)
        self.nobody = pwd.getpwnam("nobody").pw_uid

    def test_http_native_serves_past_startup_and_request_timeouts(self):
        port = free_port()
        d = Deployment(self, ["--http", "127.0.0.1:%d" % port,
                              "--module", HELLO_SO, "-w", "2"])
        harness.wait_port("127.0.0.1", port, proc=d.proc)

        def get():
            st, _, body = harness.http_request(port, "GET", "/")
            self.assertEqual(st, 200)
            self.assertEqual(body, b"Hello, world!\n")
        pids = d.run_past_timeouts(get, 2)
        self.assertEqual(len(pids), 2)
        for pid in pids:
            self.assertEqual(uid_of(pid), self.nobody)
        self.assertEqual(uid_of(d.proc.pid), 0)
        d.stop()

    def test_fastcgi_flask_serves_past_startup_and_request_timeouts(self):
        cgi_fcgi = harness.require(self, "cgi-fcgi")[0]
        port = free_port()
        d = Deployment(self, ["--fastcgi", "127.0.0.1:%d" % port,
                              "--wsgi", "main:app", "--chdir",
                              os.path.join(SRCDIR, "examples", "flask"),
                              "-w", "2"])
        harness.wait_port("127.0.0.1", port, proc=d.proc)
        env = dict(os.environ, REQUEST_METHOD="GET", SCRIPT_NAME="",
                   PATH_INFO="/", REQUEST_URI="/", QUERY_STRING="",
                   SERVER_NAME="localhost", SERVER_PORT="80",
                   SERVER_PROTOCOL="HTTP/1.1")

        def get():
            out = subprocess.run([cgi_fcgi, "-bind", "-connect",
                                  "127.0.0.1:%d" % port], env=env,
                                 stdin=subprocess.DEVNULL,
                                 capture_output=True, timeout=10).stdout
            self.assertIn(b"hello world", out)
        pids = d.run_past_timeouts(get, 2)
        for pid in pids:
            self.assertEqual(uid_of(pid), self.nobody)
        d.stop()

    def test_systemd_hears_ready_from_workers_running_as_user(self):
        tmp = TempDir(self)
        path = tmp.join("notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        self.addCleanup(s.close)
        port = free_port()
        d = Deployment(self, ["--http", "127.0.0.1:%d" % port,
                              "--module", HELLO_SO, "-w", "2"],
                       env={"NOTIFY_SOCKET": path})
        s.settimeout(STARTUP_TIMEOUT + 8)
        got = b""
        while b"READY=1" not in got:
            try:
                got += s.recv(4096) + b"\n"
            except socket.timeout:
                self.fail("no READY=1 from bridge; got %r; log:\n%s"
                          % (got, d.log()))
        harness.wait_port("127.0.0.1", port, proc=d.proc)

        def get():
            st, _, _ = harness.http_request(port, "GET", "/")
            self.assertEqual(st, 200)
        d.run_past_timeouts(get, 2)
        d.stop()


if __name__ == "__main__":
    harness.main()
