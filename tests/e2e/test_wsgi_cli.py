#!/usr/bin/python3
"""The Python adapter through bridge's own flags: --wsgi MODULE:CALLABLE
with --pythonpath and --chdir (the seed's Flask app as users run it), and
--preload (the app imported once in the master, the collector frozen so
pages stay shared, an import error stopping bridge before any worker)."""
import os
import sys
import socket
import subprocess
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
SRCDIR = os.environ.get("SRCDIR", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
APPS = os.path.join(SRCDIR, "tests/apps/wsgi")
FLASK = os.path.join(SRCDIR, "examples/flask")
ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")


def get(port, path="/"):
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: w\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class WsgiCliTest(unittest.TestCase):
    def start(self, *args):
        port = free_port()
        log = tempfile.NamedTemporaryFile(suffix=".log", delete=False).name
        proc = subprocess.Popen([BRIDGE, "--http", "127.0.0.1:%d" % port,
                                 "--error-log", log] + list(args) +
                                # --preload loads the application in the
                                # master, which stays root: refused
                                # without --allow-root.
                                harness.user_args("--preload" in args),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(os.unlink, log)
        self.addCleanup(harness.stop_bridge, proc, log)
        deadline = time.monotonic() + 20
        while True:
            try:
                get(port)
                return proc, port
            except OSError:
                self.assertIsNone(proc.poll(), open(log).read())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)

    def test_flask_seed_app(self):
        proc, port = self.start("--wsgi", "main:app", "--chdir", FLASK,
                                "-w", "2")
        self.assertEqual(get(port, "/"), (200, b"hello world"))

    def test_callable_defaults_to_application(self):
        # examples/wsgi/hello.py defines "application".
        proc, port = self.start("--wsgi", "hello", "--pythonpath",
                                os.path.join(SRCDIR, "examples/wsgi"))
        self.assertEqual(get(port, "/"), (200, b"Hello, world!\n"))

    def served_by(self, port):
        """(importing pid, serving pid, gc freeze count) of requests from
        four clients at once until both workers answered (at most 10 s);
        fails unless both did."""
        out = []
        lock = threading.Lock()
        deadline = time.monotonic() + 10

        def client():
            while time.monotonic() < deadline:
                got = tuple(int(x) for x in get(port)[1].split()[:3])
                with lock:
                    out.append(got)
                    if len({s for _, s, _ in out}) >= 2:
                        return
        ts = [threading.Thread(target=client) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        self.assertEqual(len({s for _, s, _ in out}), 2,
                         "not both workers served: %s" % out)
        return out

    def test_without_preload_each_worker_imports(self):
        proc, port = self.start("--wsgi", "importpid:app", "--pythonpath",
                                APPS, "-w", "2")
        for imported, serving, frozen in self.served_by(port):
            self.assertEqual(imported, serving)
            self.assertNotEqual(imported, proc.pid)
            self.assertEqual(frozen, 0)

    def test_preload_imports_once_in_master_and_freezes(self):
        proc, port = self.start("--wsgi", "importpid:app", "--pythonpath",
                                APPS, "-w", "2", "--preload")
        for imported, serving, frozen in self.served_by(port):
            self.assertEqual(imported, proc.pid)
            self.assertNotEqual(serving, proc.pid)
            self.assertGreater(frozen, 0)

    def test_preload_import_error_stops_at_once(self):
        t0 = time.monotonic()
        out = subprocess.run([BRIDGE, "--http", "127.0.0.1:1", "--wsgi",
                              "no_such_module_x:app", "--preload", "-w", "4"]
                             # --preload as root: see start().
                             + harness.user_args(allow_root=True),
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"No module named 'no_such_module_x'", out.stderr)
        self.assertIn(b"--preload: module python could not start",
                      out.stderr)
        self.assertLess(time.monotonic() - t0, 10)


if __name__ == "__main__":
    harness.main()
