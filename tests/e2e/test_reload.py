#!/usr/bin/python3
"""HUP reloads: bridge executes itself again in the same process, keeping
its listening sockets, so the configuration file is read anew and a
--preload application imported anew; the new workers serve before the
old ones retire, and no client is refused meanwhile.  A configuration
that does not load is refused and the running one stays."""
import os
import sys
import signal
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
ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")


def get(port):
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.partition(b"\r\n\r\n")[2].decode()


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return sorted(int(x) for x in f.read().split())


def wait_for(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.conf = os.path.join(self.tmp, "bridge.conf")
        self.log = os.path.join(self.tmp, "error.log")
        self.port = free_port()
        self.write_conf(workers=1)
        self.proc = subprocess.Popen(
            # preload = yes: the application loads in the master, which
            # stays root; bridge refuses that without --allow-root.
            [BRIDGE, "--config", self.conf, "--error-log", self.log]
            + harness.user_args(allow_root=True),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        self.assertTrue(wait_for(lambda: self.try_get()), self.text())

    def write_conf(self, workers, extra=""):
        with open(self.conf, "w") as f:
            f.write("http = 127.0.0.1:%d\nwsgi = importpid:app\n"
                    "pythonpath = %s\npreload = yes\nworkers = %d\n%s"
                    % (self.port, APPS, workers, extra))

    def try_get(self):
        try:
            return get(self.port)
        except OSError:
            return None

    def text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        harness.stop_bridge(self.proc, self.log)

    def test_config_and_preloaded_app_read_anew(self):
        before = get(self.port).split()
        old_workers = children(self.proc.pid)
        self.assertEqual(len(old_workers), 1)
        failures = []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    get(self.port)
                except OSError as e:
                    failures.append(repr(e))
        t = threading.Thread(target=load)
        t.start()
        try:
            self.write_conf(workers=3)
            self.proc.send_signal(signal.SIGHUP)
            new = wait_for(lambda: len(children(self.proc.pid)) == 3 and
                           not set(children(self.proc.pid)) &
                           set(old_workers) and children(self.proc.pid))
            self.assertTrue(new, self.text())
        finally:
            stop.set()
            t.join(20)
        self.assertEqual(failures, [])
        after = get(self.port).split()
        # Same master (the process re-executed itself) ...
        self.assertEqual(after[0], str(self.proc.pid))
        self.assertEqual(before[0], after[0])
        # ... but the application was imported again.
        self.assertNotEqual(before[3], after[3])
        self.assertIn("HUP: replacing 1 workers; configuration and "
                      "application read anew", self.text())
        self.assertIn("reload done: 1 old worker retiring", self.text())

    def test_bad_configuration_keeps_the_running_one(self):
        before = children(self.proc.pid)
        self.write_conf(workers=1, extra="workers = many\n")
        self.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "does not load" in self.text()),
                        self.text())
        self.assertIn("workers: --workers: 'many' is not a number",
                      self.text())
        time.sleep(0.5)
        self.assertEqual(children(self.proc.pid), before)
        self.assertTrue(get(self.port))
        self.assertIsNone(self.proc.poll())


if __name__ == "__main__":
    harness.main()
