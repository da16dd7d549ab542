"""Lingering close (RFC 9112 section 9.6).

When bridge refuses a request whose body is still arriving (413 over
--max-body, a bad request), it answers and closes.  Closing a socket that
still has unread input makes the kernel send a reset, and a reset that
reaches the client before it read the answer destroys it: curl reported
"Send failure: Broken pipe" instead of the 413, intermittently.  bridge
now half-closes and reads what the client still sends (bounded) before it
closes.  These tests make the race deterministic: the client keeps
sending after the answer has been written.
"""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402


class Linger(unittest.TestCase):
    def setUp(self):
        self.b = hh.HttpBridge(self, extra=["--max-body", "64k"])

    def send_over_limit(self, s):
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 4000000\r\n\r\n" + b"a" * 100000)

    def test_413_survives_a_client_still_sending(self):
        """The 413 is written while the client sends on; the client,
        which reads only once it has sent more, still gets it."""
        s = socket.create_connection(self.b.addr, timeout=h.TIMEOUT)
        self.addCleanup(s.close)
        self.send_over_limit(s)
        # The refusal is logged once the answer is queued.
        self.b.wait_log(r": 413")
        for _ in range(5):
            s.sendall(b"a" * 100000)
            time.sleep(0.05)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError as e:
            self.fail("connection reset before the answer was read "
                      "(%d bytes read): %s" % (len(data), e))
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data[:80])
        self.assertIn(b"Connection: close", data)

    def test_lingering_is_bounded_for_a_client_that_never_stops(self):
        """A client that keeps sending forever is not read forever: the
        connection is closed within the linger bound (10 s)."""
        s = socket.create_connection(self.b.addr, timeout=h.TIMEOUT)
        self.addCleanup(s.close)
        self.send_over_limit(s)
        self.b.wait_log(r": 413")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 30:
            try:
                s.sendall(b"a" * 16384)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.01)
        self.assertTrue(closed, "still reading after 30 s")


if __name__ == "__main__":
    h.main()
