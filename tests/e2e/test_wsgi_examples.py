"""
End-to-end: the raw WSGI examples of examples/wsgi (hello, streaming,
download via wsgi.file_wrapper) served by bridge's Python adapter.
Helpers and environment as in test_wsgi.py.
"""
import os
import time
import unittest

import harness as h
import http_harness as hh
import test_wsgi as w

EX = os.path.join(w.EXAMPLES, "wsgi")


class Hello(unittest.TestCase):
    def test_hello(self):
        b = w.WsgiBridge(self, "hello", pythonpath=EX, workers=2)
        with b.connect() as c:
            for _ in range(50):
                r = c.request("/")
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, b"Hello, world!\n")


class Streaming(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = w.WsgiBridge(w.ClassScope(cls), "streaming", pythonpath=EX)

    def test_lines(self):
        r = self.b.get("/?n=5&delay=0")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"".join(b"line %d of 5\n" % i
                                          for i in range(1, 6)))
        r = self.b.get("/?n=10000&delay=0")
        self.assertTrue(r.chunked)
        self.assertEqual(r.body.count(b"\n"), 10000)

    # PEP 3333 "Buffering and Streaming": a block must reach the client
    # before the next one is asked for (the adapter calls the gateway's
    # flush() after each block of a generator).
    def test_streamed_as_produced(self):
        with self.b.connect(timeout=4) as c:
            t0 = time.monotonic()
            c.send(hh.get_request("/?n=3&delay=1"))
            head = c.read_head()
            self.assertEqual(head.status, 200)
            # The first line comes before the generator has finished.
            while b"line 1 of 3" not in c.buf:
                c._more()
            self.assertLess(time.monotonic() - t0, 1.5)


class Download(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir(w.ClassScope(cls), "bridge-download-")
        cls.data = os.urandom(5 * 1024 * 1024 + 3)
        os.makedirs(cls.tmp.join("sub"))
        with open(cls.tmp.join("sub", "big file.bin"), "wb") as f:
            f.write(cls.data)
        with open(cls.tmp.join(".hidden"), "w") as f:
            f.write("secret")
        old = os.environ.get("DOWNLOAD_ROOT")
        os.environ["DOWNLOAD_ROOT"] = cls.tmp.path
        try:
            cls.b = w.WsgiBridge(w.ClassScope(cls), "download",
                                 pythonpath=EX)
        finally:
            if old is None:
                del os.environ["DOWNLOAD_ROOT"]
            else:
                os.environ["DOWNLOAD_ROOT"] = old

    def test_download(self):
        r = self.b.get("/sub/big%20file.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(self.data)))
        self.assertEqual(r.header("Content-Disposition"),
                         "attachment; filename*=UTF-8''big%20file.bin")
        self.assertEqual(r.body, self.data)

    def test_head(self):
        with self.b.connect() as c:
            r = c.request("/sub/big%20file.bin", method="HEAD")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), str(len(self.data)))
            self.assertEqual(c.request("/nope").status, 404)

    def test_refused(self):
        for target in ("/nope", "/.hidden", "/sub/../.hidden",
                       "/../../etc/passwd", "/%2e%2e/etc/passwd", "/"):
            self.assertEqual(self.b.get(target).status, 404, target)
        self.assertEqual(self.b.get("/sub/big%20file.bin",
                                    method="POST", body=b"x").status, 405)


if __name__ == "__main__":
    h.main()
