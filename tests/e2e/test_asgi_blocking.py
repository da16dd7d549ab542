#!/usr/bin/env python3
"""--timeout with an ASGI application that blocks its event loop.

Awaiting past --timeout gets a 504 and the worker lives on
(test_asgi.py).  A coroutine that blocks instead (time.sleep(), a
synchronous client) stalls every request of its worker, and no request
timer can fire while it does: the worker's loop tells the master that it
turns (a heartbeat), and the master replaces a worker whose loop stood
still for longer than --timeout (plus two heartbeats), as Gunicorn
replaces a worker that stopped notifying it.  A response the application
started after the deadline but before the loop came round to it goes
out whole.
"""
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import BRIDGE, BUILDDIR, SRCDIR             # noqa: E402

APPS = os.path.join(SRCDIR, "tests/apps")
PYHOST = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")


def raw_get(port, path, timeout=30):
    """(status or None when the connection closed without an answer,
    body, seconds taken)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    took = time.monotonic() - t0
    if not data:
        return None, b"", took
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body, took


def sleeping(pid):
    """The worker's (only) thread is in time.sleep(): clock_nanosleep or
    nanosleep (x86-64 numbers)."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] in ("230", "35")
    except OSError:
        return False


@unittest.skipUnless(os.path.exists(PYHOST), "Python adapter not built")
class AsgiBlockingTest(unittest.TestCase):
    def start(self, timeout, extra=(), env=None):
        self.tmp = harness.TempDir(self, writable=True)
        self.log = self.tmp.join("bridge.log")
        self.port = harness.free_port()
        e = dict(os.environ)
        e.update(env or {})
        proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--chdir", APPS,
             "--asgi", "asgi_block:app", "-w", "1", "--timeout",
             str(timeout), "--error-log", self.log] + list(extra) +
            harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
        self.addCleanup(harness.stop_bridge, proc, self.log)
        harness.wait_port("127.0.0.1", self.port, proc=proc)
        self.assertTrue(harness.wait_for(
            lambda: raw_get(self.port, "/pid", 5)[0] == 200, 20),
            harness.read_text(self.log))
        return proc

    def pid(self):
        status, body, _ = raw_get(self.port, "/pid")
        self.assertEqual(status, 200)
        return int(body)

    def test_blocked_loop_replaces_worker(self):
        """A loop blocked for 60 s with --timeout 1: the worker is
        replaced within seconds, the blocked request's connection is
        closed, and the new worker serves, also a request sent during
        the block."""
        self.start(1)
        before = self.pid()
        results = {}

        def fetch(name, path):
            results[name] = raw_get(self.port, path, 60)
        blocked = threading.Thread(target=fetch, args=("blocked",
                                                       "/block?60"))
        blocked.start()
        self.addCleanup(blocked.join, 60)
        self.assertTrue(harness.wait_for(
            lambda: sleeping(before), 10))
        behind = threading.Thread(target=fetch, args=("behind", "/"))
        behind.start()
        blocked.join(30)
        behind.join(30)
        self.assertEqual(results["blocked"][0], None, results)
        self.assertLess(results["blocked"][2], 20)
        # Sent while the loop was blocked, it waited in the listen
        # queue, not taken: the new worker answers it.
        self.assertEqual(results["behind"][:2], (200, b"hello"), results)
        log = harness.read_text(self.log)
        self.assertIn("its event loop has stood still for more than "
                      "--timeout 1 s", log)
        self.assertTrue(harness.wait_for(
            lambda: raw_get(self.port, "/pid", 5)[0] == 200, 20), log)
        self.assertNotEqual(self.pid(), before)

    def test_recycled_worker_finishes_a_slow_lifespan_shutdown(self):
        """--max-requests 1 recycles the worker after one request; its
        lifespan shutdown awaits 5 s (without blocking) with --timeout 1:
        the heartbeat stops with the loop, so the master lets the
        shutdown finish instead of taking it for a blocked loop."""
        mark = self.tmp_mark()
        self.start(1, ["--max-requests", "1"],
                   env={"ASGI_SLOW_SHUTDOWN": "5",
                        "ASGI_SHUTDOWN_MARK": mark})
        first = self.pid()
        self.assertTrue(harness.wait_for(
            lambda: ("shutdown %d" % first) in harness.read_text(mark),
            20), harness.read_text(self.log))
        log = harness.read_text(self.log)
        self.assertNotIn("stood still", log)
        self.assertNotIn("--timeout", log)

    def tmp_mark(self):
        d = harness.TempDir(self, writable=True)
        return d.join("shutdown")

    def test_response_started_after_the_deadline_goes_out_whole(self):
        """Blocked 2.4 s with --timeout 2: the request's deadline passes
        while the loop is blocked, the application answers as the block
        ends, before the loop comes round to the deadline: its answer
        arrives whole (it was an empty reply), and the worker, whose loop
        stood still for less than --timeout plus two heartbeats, lives."""
        self.start(2)
        before = self.pid()
        status, body, _ = raw_get(self.port, "/block?2.4")
        self.assertEqual((status, body), (200, b"blocked 2.4"),
                         harness.read_text(self.log))
        self.assertEqual(self.pid(), before)
        self.assertNotIn("stood still", harness.read_text(self.log))


if __name__ == "__main__":
    harness.main()
