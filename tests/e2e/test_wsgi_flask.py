"""
End-to-end: the seed's Flask application (examples/flask/main.py, Flask
from Debian's python3-flask) served by bridge's Python adapter over HTTP.
Helpers and environment as in test_wsgi.py.
"""
import hashlib
import importlib.util
import json
import os
import unittest
from urllib.parse import urlencode

import test_wsgi as w


class Flask(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Debian's, the one the embedded interpreter imports too.
        if importlib.util.find_spec("flask") is None:
            raise unittest.SkipTest("python3-flask not installed")
        cls.b = w.WsgiBridge(w.ClassScope(cls), "main:app",
                             pythonpath=os.path.join(w.EXAMPLES, "flask"),
                             workers=2)

    def tearDown(self):
        self.assertNotIn("Traceback", self.b.log())

    def test_hello_world(self):
        r = self.b.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello world")
        self.assertEqual(r.header("Content-Length"), "11")
        self.assertTrue(r.header("Content-Type").startswith("text/html"))

    def test_json(self):
        r = self.b.get("/json?q=caf%C3%A9")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(json.loads(r.body), {
            "message": "hello", "items": [1, 2, 3], "query": "caf\u00e9"})

    def test_form_post(self):
        body = urlencode({"name": "b\u00f6b", "x": "1"}).encode()
        r = self.b.get("/form", method="POST", body=body, headers=[
            ("Content-Type", "application/x-www-form-urlencoded")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.decode(), "hello b\u00f6b (2 fields)")

    def test_form_post_chunked(self):
        body = urlencode({"name": "chunky"}).encode()
        with self.b.connect() as c:
            c.send(b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: "
                   b"application/x-www-form-urlencoded\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   + w.hh.chunk_encode(body, 5))
            r = c.read_response()
        self.assertEqual(r.body, b"hello chunky (1 fields)")

    def test_file_upload(self):
        for n in (0, 1000, 3 * 1024 * 1024):
            data = os.urandom(n)
            ctype, body = w.multipart([("note", "x")],
                                      [("file", "data.bin", data)])
            r = self.b.get("/upload", method="POST", body=body,
                           headers=[("Content-Type", ctype)])
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(json.loads(r.body), {
                "filename": "data.bin", "size": n,
                "sha256": hashlib.sha256(data).hexdigest()})

    def test_static_file(self):
        # Flask's static route answers with send_file(), which hands
        # the open file to wsgi.file_wrapper.
        path = os.path.join(w.EXAMPLES, "flask", "static", "hello.txt")
        with open(path, "rb") as f:
            data = f.read()
        r = self.b.get("/static/hello.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("Content-Length"), str(len(data)))

    def test_not_found_and_method(self):
        self.assertEqual(self.b.get("/nope").status, 404)
        self.assertEqual(self.b.get("/form").status, 405)

    def test_keepalive(self):
        with self.b.connect() as c:
            for _ in range(100):
                self.assertEqual(c.request("/").body, b"hello world")


if __name__ == "__main__":
    w.h.main()
