#!/usr/bin/python3
"""
A WSGI application's responses over FastCGI on TCP went out in two writes
(the head and body the adapter flushed, then END_REQUEST) on a socket with
Nagle's algorithm on: the second write waited for the web server's delayed
ACK, about 40 ms per request on Linux (HAProxy fcgi-app in front of the
Flask example: 196 requests/s instead of 1844).  FastCGI connections now
set TCP_NODELAY, as HTTP ones did.

The bound is loose: 40 requests took 1.7 s with the stall and 0.05 s
without; the test allows 1 s.

bridge runs as root with --user nobody.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                       "python.so")
# An iterable response, as Flask's and Django's are: PEP 3333 has each
# block sent before the next is asked for, so the adapter flushes it.
APP = """\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"hello\\n"
"""


class FcgiNoDelayTest(unittest.TestCase):

    def test_wsgi_response_over_tcp_does_not_wait_for_delayed_ack(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        tmp = h.TempDir(self)
        with open(tmp.join("gen.py"), "w") as f:
            f.write(APP)
        b = h.Bridge(self, module=ADAPTER, extra=[
            "--module-arg", "app=gen:application\npythonpath=" + tmp.path])
        with b.connect() as c:
            # Warm up: the application's first request imports things.
            r = c.request(path="/", flags=h.FCGI_KEEP_CONN)
            self.assertEqual((r.status, r.body), (200, b"hello\n"),
                             r.stdout)
            t = time.monotonic()
            for _ in range(40):
                r = c.request(path="/", flags=h.FCGI_KEEP_CONN)
                self.assertEqual((r.status, r.body), (200, b"hello\n"))
            took = time.monotonic() - t
        self.assertLess(took, 1.0, "40 keep-conn requests took %.2f s: "
                        "each waited for a delayed ACK" % took)


if __name__ == "__main__":
    h.main()
