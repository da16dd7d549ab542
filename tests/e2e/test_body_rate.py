#!/usr/bin/python3
"""--min-body-rate: a body trickled in (each piece within --read-timeout,
so no pause is ever long enough to time out) is still ended with 408 once
it falls below the rate, while a body sent at a decent pace is taken, and
the worker serves others meanwhile."""
import os
import sys
import socket
import subprocess
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
PROBE = os.path.join(BUILDDIR, "tests/apps/.libs/probe.so")


class BodyRateTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(suffix=".log",
                                               delete=False).name
        self.addCleanup(os.unlink, self.log)
        self.proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--module", PROBE,
             "-w", "1", "--read-timeout", "1", "--min-body-rate", "1000",
             "--error-log", self.log] + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_bridge, self.proc, self.log)
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)

    def trickle(self, piece, every, total):
        """Send a body of total bytes, piece bytes every `every` s;
        returns (what came back, seconds taken)."""
        s = socket.create_connection(("127.0.0.1", self.port), 10)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: r\r\nContent-Length: %d"
                  b"\r\nConnection: close\r\n\r\n" % total)
        s.settimeout(every)
        t0, sent, got = time.monotonic(), 0, b""
        while sent < total and time.monotonic() - t0 < 15:
            try:
                s.sendall(b"x" * min(piece, total - sent))
                sent += min(piece, total - sent)
            except OSError:
                break
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            except socket.timeout:
                pass
        s.settimeout(10)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        s.close()
        return got, time.monotonic() - t0

    def test_trickled_body_ended_with_408(self):
        got, took = self.trickle(100, 0.3, 100000)     # ~330 B/s
        self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got[:60])
        self.assertLess(took, 5)
        with open(self.log) as f:
            self.assertIn("body slower than --min-body-rate", f.read())

    def test_body_at_a_decent_pace_is_taken(self):
        got, took = self.trickle(2000, 0.2, 20000)      # ~10 kB/s
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:60])
        self.assertTrue(got.endswith(b"x" * 20000))


if __name__ == "__main__":
    harness.main()
