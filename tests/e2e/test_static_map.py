#!/usr/bin/python3
"""--static-map /static=DIR (issue 12, item 4): the Flask example
(examples/flask, copied) behind bridge --http and --https, run as root
with --user nobody; files under /static are answered by the worker's loop
without the application (a wrapper counts the application's calls):
validators and 304, Range 206/416, HEAD, MIME types, a .gz sibling,
Cache-Control, traversal and symlinks out of DIR refused, pipelined
static and application requests in order, 10 MB through curl over HTTP
and HTTPS checked by sha256."""
import hashlib
import gzip
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                      # noqa: E402
import http_harness as hh                                # noqa: E402
from test_tls import make_cert                           # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
FLASK = os.path.join(h.SRCDIR, "examples", "flask")
BIG = 10 * 1024 * 1024

# The application, wrapped: every call appends its path to calls/log.
COUNTING = """
import os
from main import app as flask_app
HERE = os.path.dirname(os.path.abspath(__file__))


def app(environ, start_response):
    with open(os.path.join(HERE, "calls", "log"), "a") as f:
        f.write(environ.get("PATH_INFO", "") + "\\n")
    return flask_app(environ, start_response)
"""


class TlsHttp(hh.RawHttp):
    """RawHttp over TLS (certificate not checked: a test certificate)."""

    def __init__(self, addr, timeout=h.TIMEOUT):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(addr, timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="a.test")
        self.timeout = timeout
        self.buf = b""
        self.eof = False


def importable(name):
    return subprocess.run(["/usr/bin/python3", "-c", "import " + name],
                          capture_output=True).returncode == 0


@unittest.skipUnless(importable("flask"), "python3-flask not installed")
class StaticMapTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bridge-static-")
        os.chmod(cls.tmp, 0o755)
        app = cls.app_dir = os.path.join(cls.tmp, "app")
        shutil.copytree(FLASK, app)
        st = cls.static = os.path.join(app, "static")
        with open(os.path.join(app, "counting.py"), "w") as f:
            f.write(COUNTING)
        os.mkdir(os.path.join(app, "calls"))
        os.chmod(os.path.join(app, "calls"), 0o777)
        cls.css = b"body { color: #333; }\n" * 50
        with open(os.path.join(st, "style.css"), "wb") as f:
            f.write(cls.css)
        with open(os.path.join(st, "app.js"), "wb") as f:
            f.write(b"console.log('plain');\n" * 100)
        cls.js_gz = gzip.compress(b"console.log('plain');\n" * 100)
        with open(os.path.join(st, "app.js.gz"), "wb") as f:
            f.write(cls.js_gz)
        cls.big = os.urandom(BIG)
        with open(os.path.join(st, "big.bin"), "wb") as f:
            f.write(cls.big)
        with open(os.path.join(st, "data.weird-ext"), "wb") as f:
            f.write(b"x")
        os.mkdir(os.path.join(st, "sub"))
        with open(os.path.join(st, "sub", "inner.txt"), "wb") as f:
            f.write(b"inner\n")
        # Out of the root: a relative and an absolute symlink to the
        # application's source; within the root: one to a file there.
        os.symlink("../main.py", os.path.join(st, "out-rel"))
        os.symlink(os.path.join(app, "main.py"), os.path.join(st, "out-abs"))
        os.symlink("sub/inner.txt", os.path.join(st, "in-link"))
        for d, dirs, files in os.walk(cls.tmp):
            for n in dirs:
                os.chmod(os.path.join(d, n), 0o755)
            for n in files:
                os.chmod(os.path.join(d, n), 0o644)
        os.chmod(os.path.join(app, "calls"), 0o777)
        with open(os.path.join(app, "main.py"), "rb") as f:
            cls.main_py = f.read()
        cls.cert, cls.key = make_cert(cls.tmp, "a.test", "ec")
        os.chmod(cls.key, 0o644)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def start(self, *extra):
        self.port, self.tport = h.free_port(), h.free_port()
        self.access = os.path.join(self.tmp, "access-%d.log" % self.port)
        self.errlog = os.path.join(self.tmp, "error-%d.log" % self.port)
        open(os.path.join(self.app_dir, "calls", "log"), "w").close()
        os.chmod(os.path.join(self.app_dir, "calls", "log"), 0o666)
        args = [BRIDGE, "--http", "127.0.0.1:%d" % self.port,
                "--https", "127.0.0.1:%d" % self.tport,
                "--cert", self.cert, "--key", self.key,
                "--wsgi", "counting:app", "--chdir", self.app_dir,
                "--static-map", "/static=" + self.static,
                "--static-expires", "1h", "--user", "nobody", "-w", "1",
                "--access-log", self.access, "--error-log", self.errlog,
                "--log-level", "info"] + list(extra)
        self.out = open(os.path.join(self.tmp, "out-%d" % self.port), "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.out)
        self.addCleanup(self.stop)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)
        h.wait_port("127.0.0.1", self.tport, proc=self.proc)
        self.assertTrue(h.wait_for(lambda: "serving on" in h.read_text(
            self.errlog), 10), h.read_text(self.errlog))

    def stop(self):
        rc = h.stop_process(self.proc, timeout=15)
        self.out.close()
        self.assertEqual(rc, 0, h.read_text(self.errlog))

    def conn(self, tls=False):
        if tls:
            return TlsHttp(("127.0.0.1", self.tport))
        return hh.RawHttp(("127.0.0.1", self.port))

    def get(self, target, method="GET", headers=(), tls=False, body=b""):
        with self.conn(tls) as c:
            return c.request(target, method=method, headers=headers,
                             body=body)

    def app_calls(self):
        with open(os.path.join(self.app_dir, "calls", "log")) as f:
            return f.read().split()

    def test_file_served_without_the_application(self):
        self.start()
        r = self.get("/static/style.css")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.css)
        self.assertEqual(r.header("Content-Type"), "text/css")
        self.assertEqual(r.header("Cache-Control"), "max-age=3600")
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertTrue(r.header("ETag", "").startswith('"'))
        self.assertIsNotNone(r.header("Last-Modified"))
        self.assertEqual(self.get("/static/hello.txt").status, 200)
        self.assertEqual(self.app_calls(), [])
        # The application still answers everything else.
        r = self.get("/")
        self.assertEqual((r.status, r.body), (200, b"hello world"))
        self.assertEqual(self.app_calls(), ["/"])
        # The access log has the static requests too.
        self.assertTrue(h.wait_for(lambda: "GET / HTTP" in h.read_text(
            self.access)))
        log = h.read_text(self.access)
        self.assertIn('"GET /static/style.css HTTP/1.1" 200 %d'
                      % len(self.css), log)

    def test_mime_types_from_etc_mime_types(self):
        self.start()
        self.assertEqual(self.get("/static/app.js").header("Content-Type"),
                         "text/javascript")
        self.assertEqual(self.get("/static/hello.txt").header(
            "Content-Type"), "text/plain")
        self.assertEqual(self.get("/static/data.weird-ext").header(
            "Content-Type"), "application/octet-stream")

    def test_not_modified_on_if_none_match_and_if_modified_since(self):
        self.start()
        r = self.get("/static/style.css")
        etag, lm = r.header("ETag"), r.header("Last-Modified")
        for hdr in ([("If-None-Match", etag)],
                    [("If-None-Match", '"other", W/' + etag)],
                    [("If-None-Match", "*")],
                    [("If-Modified-Since", lm)]):
            with self.conn() as c:
                r = c.request("/static/style.css", headers=hdr)
                self.assertEqual(r.status, 304, hdr)
                self.assertEqual(r.header("ETag"), etag)
                self.assertIsNone(r.header("Content-Length"))
                # No body followed: the connection goes on.
                self.assertEqual(c.request("/static/hello.txt").status, 200)
        r = self.get("/static/style.css",
                     headers=[("If-None-Match", '"nope"')])
        self.assertEqual((r.status, r.body), (200, self.css))
        r = self.get("/static/style.css", headers=[
            ("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")])
        self.assertEqual((r.status, r.body), (200, self.css))
        self.assertEqual(self.app_calls(), [])

    def test_range_206_and_416(self):
        self.start()
        for tls in (False, True):
            r = self.get("/static/big.bin", tls=tls,
                         headers=[("Range", "bytes=100-199")])
            self.assertEqual(r.status, 206)
            self.assertEqual(r.body, self.big[100:200])
            self.assertEqual(r.header("Content-Range"),
                             "bytes 100-199/%d" % BIG)
            r = self.get("/static/big.bin", tls=tls,
                         headers=[("Range", "bytes=-10")])
            self.assertEqual((r.status, r.body), (206, self.big[-10:]))
            r = self.get("/static/big.bin", tls=tls,
                         headers=[("Range", "bytes=%d-" % (BIG - 70000))])
            self.assertEqual((r.status, r.body),
                             (206, self.big[BIG - 70000:]))
            r = self.get("/static/style.css", tls=tls,
                         headers=[("Range", "bytes=5000-")])
            self.assertEqual(r.status, 416)
            self.assertEqual(r.header("Content-Range"),
                             "bytes */%d" % len(self.css))
            # Several ranges: the whole file, as RFC 9110 14.2 allows.
            r = self.get("/static/style.css", tls=tls,
                         headers=[("Range", "bytes=0-1,5-6")])
            self.assertEqual((r.status, r.body), (200, self.css))
        # If-Range with another validator: the whole file.
        r = self.get("/static/style.css", headers=[
            ("Range", "bytes=0-3"), ("If-Range", '"old"')])
        self.assertEqual((r.status, r.body), (200, self.css))

    def test_head_has_the_fields_and_no_body(self):
        self.start()
        with self.conn() as c:
            r = c.request("/static/big.bin", method="HEAD")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), str(BIG))
            # The next response starts right after the head.
            r = c.request("/static/hello.txt")
            self.assertEqual(r.status, 200)

    def test_gz_sibling_chosen_by_accept_encoding(self):
        self.start()
        r = self.get("/static/app.js", headers=[
            ("Accept-Encoding", "gzip, deflate")])
        self.assertEqual(r.body, self.js_gz)
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.header("Vary"), "Accept-Encoding")
        self.assertEqual(r.header("Content-Type"), "text/javascript")
        plain = self.get("/static/app.js")
        self.assertIsNone(plain.header("Content-Encoding"))
        self.assertEqual(gzip.decompress(r.body), plain.body)
        self.assertNotEqual(r.header("ETag"), plain.header("ETag"))
        r = self.get("/static/app.js", headers=[
            ("Accept-Encoding", "gzip;q=0, identity")])
        self.assertEqual(r.body, plain.body)

    def test_traversal_and_symlinks_out_refused(self):
        self.start()
        for target in ("/static/../main.py", "/static/%2e%2e/main.py",
                       "/static/%2E%2E%2Fmain.py", "/static/sub/../../main.py",
                       "/static/..%2fmain.py",
                       "/static/sub%2f..%2f..%2fmain.py"):
            r = self.get(target)
            self.assertEqual(r.status, 400, target)
            self.assertNotIn(b"flask", r.body)
        for target in ("/static/out-rel", "/static/out-abs"):
            r = self.get(target)
            self.assertEqual(r.status, 403, target)
            self.assertNotIn(b"flask", r.body)
        # A symlink that stays inside DIR is followed.
        self.assertEqual(self.get("/static/in-link").body, b"inner\n")
        # Directories: no listing.
        for target in ("/static/sub", "/static/sub/", "/static/", "/static"):
            self.assertEqual(self.get(target).status, 403, target)
        self.assertEqual(self.get("/static/nope.css").status, 404)
        self.assertEqual(self.app_calls(), [])

    def test_follow_symlinks_allows_symlinks_out(self):
        self.start("--static-follow-symlinks")
        self.assertEqual(self.get("/static/out-rel").body, self.main_py)
        self.assertEqual(self.get("/static/../main.py").status, 400)

    def test_other_methods_405_with_allow(self):
        self.start()
        with self.conn() as c:
            r = c.request("/static/style.css", method="POST", body=b"a=b")
            self.assertEqual(r.status, 405)
            self.assertEqual(r.header("Allow"), "GET, HEAD")
            # The body was read: the connection goes on.
            self.assertEqual(c.request("/static/style.css").body, self.css)
        self.assertEqual(self.app_calls(), [])

    def test_pipelined_static_and_app_requests_in_order(self):
        self.start()
        for tls in (False, True):
            with self.conn(tls) as c:
                reqs = [("GET", "/static/style.css"), ("GET", "/"),
                        ("GET", "/static/big.bin"), ("GET", "/json"),
                        ("HEAD", "/static/hello.txt"),
                        ("GET", "/static/nope"), ("GET", "/")]
                c.send(b"".join(b"%s %s HTTP/1.1\r\nHost: t\r\n\r\n"
                                % (m.encode(), t.encode())
                                for m, t in reqs))
                got = [c.read_response(head=(m == "HEAD"))
                       for m, _ in reqs]
            self.assertEqual([r.status for r in got],
                             [200, 200, 200, 200, 200, 404, 200])
            self.assertEqual(got[0].body, self.css)
            self.assertEqual(got[1].body, b"hello world")
            self.assertEqual(hashlib.sha256(got[2].body).hexdigest(),
                             hashlib.sha256(self.big).hexdigest())
            self.assertIn(b'"message"', got[3].body)
            self.assertEqual(got[6].body, b"hello world")
        self.assertEqual(self.app_calls(), ["/", "/json", "/"] * 2)

    def test_client_not_reading_a_big_file_does_not_hold_the_worker(self):
        # One worker: while a client takes none of the 10 MB, the loop
        # still answers others (the file goes out as the socket takes it).
        self.start()
        with hh.RawHttp(("127.0.0.1", self.port), rcvbuf=65536) as slow:
            slow.send(b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            for tls in (False, True):
                r = self.get("/static/style.css", tls=tls)
                self.assertEqual((r.status, r.body), (200, self.css))
                r = self.get("/", tls=tls)
                self.assertEqual((r.status, r.body), (200, b"hello world"))
            # The slow client's file goes on from where it was.
            r = slow.read_head()
            self.assertEqual(r.header("Content-Length"), str(BIG))
            self.assertEqual(slow._take(1 << 20), self.big[:1 << 20])

    def test_slow_reader_of_a_big_file_outlives_write_timeout(self):
        # Bytes of the file the client takes are write progress: a
        # download slower than --write-timeout but steady is not cut
        # (the timer was re-armed only by the head's bytes, and the
        # download was closed after --write-timeout).
        self.start("--write-timeout", "2")
        with hh.RawHttp(("127.0.0.1", self.port), rcvbuf=65536) as slow:
            slow.send(b"GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            r = slow.read_head()
            self.assertEqual(r.header("Content-Length"), str(BIG))
            got = b""
            t0 = time.monotonic()
            # About 6 s in all: three times --write-timeout.
            step = BIG // 60
            while len(got) < BIG:
                got += slow._take(min(step, BIG - len(got)))
                time.sleep(0.1)
            self.assertGreater(time.monotonic() - t0, 4)
            self.assertEqual(got, self.big)

    def test_curl_10mb_download_sha256(self):
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        self.start()
        want = hashlib.sha256(self.big).hexdigest()
        for url in ("http://127.0.0.1:%d/static/big.bin" % self.port,
                    "https://127.0.0.1:%d/static/big.bin" % self.tport):
            out = subprocess.run(["curl", "-sSfk", "--max-time", "60", url],
                                 capture_output=True, timeout=90)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(hashlib.sha256(out.stdout).hexdigest(), want)

    def test_config_keys_and_relative_dir_from_the_start_directory(self):
        conf = os.path.join(self.tmp, "static.conf")
        with open(conf, "w") as f:
            f.write("http = 127.0.0.1:1\nwsgi = counting:app\n"
                    "chdir = %s\nuser = nobody\n"
                    "static-map = /static=app/static\n"
                    "static-expires = 1d\nstatic-follow-symlinks = yes\n"
                    % self.app_dir)
        out = subprocess.run([BRIDGE, "--config", conf, "--check-config"],
                             cwd=self.tmp, capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(("static-map = /static=%s\n" % self.static).encode(),
                      out.stdout)
        self.assertIn(b"static-expires = 86400\n", out.stdout)
        self.assertIn(b"static-follow-symlinks = yes\n", out.stdout)

    def test_bad_static_map_is_one_line_and_exit_2(self):
        for arg in ("static=dir", "/static", "/static="):
            out = subprocess.run([BRIDGE, "--static-map", arg,
                                  "--check-config"], capture_output=True,
                                 timeout=30)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertIn(b"--static-map", out.stderr)
        out = subprocess.run(
            [BRIDGE, "--http", "127.0.0.1:1", "--wsgi", "counting:app",
             "--chdir", self.app_dir, "--static-map",
             "/s=/nonexistent-dir", "--user", "nobody", "--check-config"],
            capture_output=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(b"/nonexistent-dir", out.stderr)


if __name__ == "__main__":
    h.main()
