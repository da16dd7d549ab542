"""
End-to-end: the example Django project (examples/django, Django from
Debian's python3-django) served as myproject.wsgi:application by bridge's
Python adapter over HTTP: hello, JSON, CSRF-protected form POST and file
upload, a FileResponse download through wsgi.file_wrapper.
Helpers and environment as in test_wsgi.py.
"""
import hashlib
import importlib.util
import json
import os
import re
import unittest
from urllib.parse import urlencode

import test_wsgi as w

PROJECT = os.path.join(w.EXAMPLES, "django")


class Django(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if importlib.util.find_spec("django") is None:
            raise unittest.SkipTest("python3-django not installed")
        cls.b = w.WsgiBridge(w.ClassScope(cls), "myproject.wsgi:application",
                             pythonpath=None, chdir=PROJECT)

    def tearDown(self):
        self.assertNotIn("Traceback", self.b.log())

    def csrf(self, path):
        """GET a form page: (cookie header value, form token)."""
        r = self.b.get(path)
        self.assertEqual(r.status, 200)
        cookie = [v.split(";")[0] for v in r.header_all("Set-Cookie")
                  if v.startswith("csrftoken=")]
        self.assertTrue(cookie, r.headers)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"',
                          r.body).group(1).decode()
        return cookie[0], token

    def test_hello(self):
        r = self.b.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello world")

    def test_json(self):
        r = self.b.get("/json/?q=x%20y")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(json.loads(r.body), {
            "message": "hello", "items": [1, 2, 3], "query": "x y",
            "secure": False})

    def test_append_slash_redirect(self):
        r = self.b.get("/json")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/json/")

    def test_form_post(self):
        cookie, token = self.csrf("/form/")
        body = urlencode({"csrfmiddlewaretoken": token,
                          "name": "d\u00e9j\u00e0"}).encode()
        r = self.b.get("/form/", method="POST", body=body, headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", cookie)])
        self.assertEqual(r.status, 200, r.body[:500])
        self.assertEqual(r.body.decode(), "hello d\u00e9j\u00e0")

    def test_form_post_without_csrf_forbidden(self):
        r = self.b.get("/form/", method="POST", body=b"name=x", headers=[
            ("Content-Type", "application/x-www-form-urlencoded")])
        self.assertEqual(r.status, 403)

    def test_file_upload(self):
        cookie, token = self.csrf("/upload/")
        # Django keeps small uploads in memory and spools big ones to
        # disk (FILE_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB): both paths.
        for n in (10, 4 * 1024 * 1024):
            data = os.urandom(n)
            ctype, body = w.multipart([("csrfmiddlewaretoken", token)],
                                      [("file", "up.bin", data)])
            r = self.b.get("/upload/", method="POST", body=body, headers=[
                ("Content-Type", ctype), ("Cookie", cookie)])
            self.assertEqual(r.status, 200, r.body[:500])
            self.assertEqual(json.loads(r.body), {
                "filename": "up.bin", "size": n,
                "sha256": hashlib.sha256(data).hexdigest()})

    def test_download_file_response(self):
        with open(os.path.join(PROJECT, "files", "hello.txt"), "rb") as f:
            data = f.read()
        r = self.b.get("/download/hello.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("Content-Length"), str(len(data)))
        self.assertIn("attachment", r.header("Content-Disposition"))
        self.assertEqual(self.b.get("/download/nope.txt").status, 404)

    def test_not_found(self):
        self.assertEqual(self.b.get("/no/such/page/").status, 404)


if __name__ == "__main__":
    w.h.main()
