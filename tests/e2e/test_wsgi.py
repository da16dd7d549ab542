"""
End-to-end tests of the Python WSGI adapter (adapters/python, issue 4):
PEP 3333 rule by rule with the probe apps of tests/apps/wsgi/, over HTTP
against a live bridge, once raw and once inside wsgiref.validate with
warnings as errors; start-up errors; --venv, pythonpath and chdir.

Environment: BRIDGE, BUILDDIR, SRCDIR as for every e2e test;
PYTHON_ADAPTER overrides the adapter's path (default
$BUILDDIR/adapters/python/.libs/python.so).

The other test_wsgi_*.py files import the helpers here (WsgiBridge,
ClassScope, ADAPTER).
"""
import json
import os
import re
import socket
import subprocess
import time
import unittest

import harness as h
import http_harness as hh

ADAPTER = os.environ.get("PYTHON_ADAPTER") or os.path.join(
    h.BUILDDIR, "adapters", "python", ".libs", "python.so")
APPS = os.path.join(h.SRCDIR, "tests", "apps", "wsgi")
EXAMPLES = os.path.join(h.SRCDIR, "examples")
SYS_PY = "/usr/bin/python3"


def module_arg(app, pythonpath=None, venv=None, chdir=None):
    lines = ["app=" + app]
    if pythonpath:
        lines.append("pythonpath=" + pythonpath)
    if venv:
        lines.append("venv=" + venv)
    if chdir:
        lines.append("chdir=" + chdir)
    return "\n".join(lines)


class ClassScope:
    """Lets a bridge live for a whole TestCase class: what Bridge asks of
    its testcase, routed to the class."""

    def __init__(self, cls):
        self.cls = cls

    def addCleanup(self, fn, *a, **kw):
        self.cls.addClassCleanup(fn, *a, **kw)

    def skipTest(self, why):
        raise unittest.SkipTest(why)


class WsgiBridge(hh.HttpBridge):
    """bridge --http with the Python adapter serving app (module:callable).

        b = WsgiBridge(self, "probe:app")
        r = b.get("/env")
    """

    def __init__(self, testcase, app, pythonpath=APPS, workers=1, extra=(),
                 venv=None, chdir=None, start=True, tmp=None,
                 allow_root=False):
        if not os.path.exists(ADAPTER):
            testcase.skipTest("Python adapter %s not built (set "
                              "PYTHON_ADAPTER)" % ADAPTER)
        self.module_arg = module_arg(app, pythonpath, venv, chdir)
        super().__init__(testcase, module=ADAPTER, workers=workers,
                         extra=["--module-arg", self.module_arg]
                         + list(extra), start=start, tmp=tmp,
                         allow_root=allow_root)

    def get(self, target="/", method="GET", headers=(), body=b""):
        with self.connect() as c:
            return c.request(target, method=method, headers=headers,
                             body=body)

    def output(self):
        """What bridge (and the app's print()) wrote to stdout/stderr."""
        try:
            with open(self.tmp.join("bridge.stdout"), "r",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def request_lines(self, pattern):
        """Log lines of the request that logged a line matching pattern:
        (request id, its lines)."""
        log = self.log()
        m = re.search(r"\[req ([0-9a-f-]+)\] .*" + pattern, log)
        if not m:
            raise AssertionError("no log line matching %r in:\n%s"
                                 % (pattern, log))
        rid = m.group(1)
        return rid, [line for line in log.splitlines()
                     if "[req %s]" % rid in line]


def multipart(fields=(), files=()):
    """(Content-Type, body) of a multipart/form-data request (RFC 7578).
    fields: (name, str value); files: (name, filename, bytes)."""
    boundary = "bridge-test-%s" % os.urandom(8).hex()
    out = []
    for name, value in fields:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\""
                    "\r\n\r\n" % (boundary, name)).encode()
                   + value.encode() + b"\r\n")
    for name, filename, data in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                    "filename=\"%s\"\r\nContent-Type: "
                    "application/octet-stream\r\n\r\n"
                    % (boundary, name, filename)).encode() + data + b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return "multipart/form-data; boundary=" + boundary, b"".join(out)


def start_failing(testcase, app, pythonpath=APPS, workers=1, venv=None,
                  timeout=10):
    """Start bridge with an app that cannot start; returns (exit status,
    seconds it took, log)."""
    b = WsgiBridge(testcase, app, pythonpath=pythonpath, workers=workers,
                   venv=venv, start=False)
    out = open(b.tmp.join("bridge.stdout"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(b.args, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        out.close()
        raise AssertionError("bridge still running %d s after a failed "
                             "start; log:\n%s" % (timeout, b.log()))
    out.close()
    return rc, time.monotonic() - t0, b.log() + b.output()


# --- the probe, raw -------------------------------------------------------

class ProbeRaw(unittest.TestCase):
    """Every rule against tests/apps/wsgi/probe.py, one worker shared by
    the class (the worker must survive each failure)."""

    APP = "probe:app"

    @classmethod
    def setUpClass(cls):
        cls.b = WsgiBridge(ClassScope(cls), cls.APP)
        cls.tmp = h.TempDir(ClassScope(cls), "bridge-wsgi-",
                             writable=True)  # the apps write records

    def get(self, *a, **kw):
        return self.b.get(*a, **kw)

    def env(self, target="/env", **kw):
        r = self.get(target, **kw)
        self.assertEqual(r.status, 200, r.body)
        return json.loads(r.body)

    # environ ------------------------------------------------------------
    def test_environ_required_keys(self):
        e = self.env("/env?a=1", headers=[("X-Probe", "yes")])
        for k in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO",
                  "QUERY_STRING", "SERVER_NAME", "SERVER_PORT",
                  "SERVER_PROTOCOL"):
            self.assertIn(k, e)
        self.assertEqual(e["REQUEST_METHOD"], "GET")
        self.assertEqual(e["SCRIPT_NAME"], "")
        self.assertEqual(e["PATH_INFO"], "/env")
        self.assertEqual(e["QUERY_STRING"], "a=1")
        self.assertEqual(e["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(e["SERVER_PORT"], str(self.b.port))
        self.assertEqual(e["HTTP_X_PROBE"], "yes")
        for k, v in e.items():
            if not k.startswith(("wsgi.", "sys.")) and k != "cwd":
                self.assertIsInstance(v, str, k)
        self.assertEqual(e["wsgi.version"], ["tuple", [1, 0]])
        self.assertEqual(e["wsgi.url_scheme"], ["str", "http"])
        self.assertEqual(e["wsgi.multithread"], ["bool", False])
        self.assertEqual(e["wsgi.multiprocess"], ["bool", True])
        self.assertEqual(e["wsgi.run_once"], ["bool", False])
        self.assertEqual(e["wsgi.input_terminated"], ["bool", True])
        self.assertEqual(e["wsgi.input"][0], "Input")
        self.assertEqual(e["wsgi.errors"][0], "Errors")
        self.assertEqual(e["wsgi.file_wrapper"], ["type", "FileWrapper"])

    def test_environ_post_content_keys(self):
        e = self.env("/env", method="POST", body=b"a=b",
                     headers=[("Content-Type",
                               "application/x-www-form-urlencoded")])
        self.assertEqual(e["CONTENT_LENGTH"], "3")
        self.assertEqual(e["CONTENT_TYPE"],
                         "application/x-www-form-urlencoded")
        self.assertNotIn("HTTP_CONTENT_LENGTH", e)
        self.assertNotIn("HTTP_CONTENT_TYPE", e)

    def test_environ_non_ascii_is_latin1_native_str(self):
        # PEP 3333 "A Note On String Types": bytes as latin-1 code points.
        with self.b.connect() as c:
            c.send(b"GET /env/%C3%A9 HTTP/1.1\r\nHost: t\r\n"
                   b"X-Utf8: \xc3\xa9\r\n\r\n")
            r = c.read_response()
        e = json.loads(r.body)
        self.assertEqual(e["HTTP_X_UTF8"], "\xc3\xa9")
        self.assertEqual(e["PATH_INFO"], "/env/\xc3\xa9")
        self.assertEqual(e["PATH_INFO"].encode("latin-1").decode("utf-8"),
                         "/env/\u00e9")

    def test_interpreter_is_debians(self):
        e = self.env()
        self.assertEqual(e["sys.prefix"], "/usr")
        self.assertTrue(e["sys.executable"].startswith("/usr/bin/python3"),
                        e["sys.executable"])
        # cwd first, then pythonpath (Gunicorn's order).
        self.assertEqual(e["sys.path"][0], e["cwd"])
        self.assertEqual(e["sys.path"][1], APPS)
        self.assertIn("/usr/lib/python3/dist-packages", e["sys.path"])

    # wsgi.input ---------------------------------------------------------
    def test_echo_bodies(self):
        for n in (0, 1, 4095, 65536, 65537, 1 << 20):
            body = os.urandom(n)
            r = self.get("/echo", method="POST", body=body)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body, n)

    def test_echo_chunked_body(self):
        body = os.urandom(300000)
        with self.b.connect() as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   + hh.chunk_encode(body, 7000))
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body)

    def test_read_n_returns_n_until_eof(self):
        body = bytes(range(256)) * 10          # 2560
        r = json.loads(self.get("/read?1000", method="POST",
                                body=body).body)
        self.assertEqual(r["sizes"], [1000, 1000, 560, 0])
        self.assertEqual(r["body"].encode("latin-1"), body)

    def test_read_n_chunked(self):
        body = b"z" * 5000
        with self.b.connect() as c:
            c.send(b"POST /read?3000 HTTP/1.1\r\nHost: t\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   + hh.chunk_encode(body, 999))
            r = json.loads(c.read_response().body)
        self.assertEqual(r["sizes"], [3000, 2000, 0])

    def test_readline(self):
        body = b"one\ntwo\n\nthree without newline"
        r = json.loads(self.get("/readline", method="POST", body=body).body)
        self.assertEqual(r, ["one\n", "two\n", "\n", "three without newline"])

    def test_readline_size(self):
        body = b"abcdefgh\nij\n"
        r = json.loads(self.get("/readline?3", method="POST",
                                body=body).body)
        self.assertEqual(r, ["abc", "def", "gh\n", "ij\n"])

    def test_readline_long_lines_chunked(self):
        lines = [b"x" * 100000 + b"\n", b"short\n", b"y" * 70000]
        with self.b.connect() as c:
            c.send(b"POST /readline HTTP/1.1\r\nHost: t\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   + hh.chunk_encode(b"".join(lines), 4096))
            r = json.loads(c.read_response().body)
        self.assertEqual([x.encode("latin-1") for x in r], lines)

    def test_readlines_hint(self):
        body = b"a\nbb\nccc\ndddd\n"
        r = json.loads(self.get("/readlines?4", method="POST",
                                body=body).body)
        self.assertEqual(r["lines"], ["a\n", "bb\n"])
        self.assertEqual(r["rest"], "ccc\ndddd\n")
        r = json.loads(self.get("/readlines", method="POST",
                                body=body).body)
        self.assertEqual(r["lines"], ["a\n", "bb\n", "ccc\n", "dddd\n"])

    def test_iteration(self):
        r = json.loads(self.get("/iter", method="POST",
                                body=b"l1\nl2\nl3").body)
        self.assertEqual(r, ["l1\n", "l2\n", "l3"])

    def test_read_past_end_does_not_hang(self):
        t0 = time.monotonic()
        r = json.loads(self.get("/overread", method="POST",
                                body=b"q" * 777).body)
        self.assertEqual(r, [777, 0, 0])
        r = json.loads(self.get("/overread").body)
        self.assertEqual(r, [0, 0, 0])
        self.assertLess(time.monotonic() - t0, 3)

    # wsgi.errors --------------------------------------------------------
    def test_errors_go_to_log_with_request_id(self):
        r = self.get("/errors")
        self.assertEqual(r.body, b"logged\n")
        rid, lines = self.b.request_lines("probe error line one")
        text = "\n".join(lines)
        for want in ("probe error line one", "probe error line two",
                     "probe error line three", "probe error in two writes",
                     "probe error partial",
                     "probe error at end of request"):
            self.assertIn("[req %s] %s" % (rid, want), text)
        # Each write-up-to-newline is one line, nothing merged or split.
        self.assertTrue(any(line.endswith("] probe error in two writes")
                            for line in lines), lines)
        self.assertTrue(any(line.endswith("] probe error partial")
                            for line in lines), lines)

    # start_response and the body ----------------------------------------
    def test_write_callable(self):
        r = self.get("/write")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"written by write()\nand returned\n")

    def test_lazy_start_response(self):
        r = self.get("/lazy")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.body, b"lazy generator\n")
        r = self.get("/lazy-empty-first")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.body, b"lazy after an empty item\n")

    def test_empty_body(self):
        r = self.get("/empty")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")

    def test_second_start_response_without_exc_info_raises(self):
        r = self.get("/twice")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"second refused: RuntimeError\n")

    def test_exc_info_before_headers_replaces(self):
        r = self.get("/replace")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.header("X-Replaced"), "yes")
        self.assertEqual(r.body, b"replaced\n")

    def test_exc_info_after_headers_reraises_and_cuts(self):
        data = self.truncated("/excinfo-after?200000")
        self.assertIn(b"first chunk", data)
        self.assertNotIn(b"must not be sent", data)
        self.b.wait_log(r"ValueError: probe late failure")
        self.b.wait_log(r"cutting the response")

    def truncated(self, target):
        """The raw bytes of a response bridge had to cut: chunked, and
        the connection closes without the last chunk."""
        with self.b.connect() as c:
            c.send(hh.get_request(target))
            data = c.read_to_eof()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        self.assertFalse(body.endswith(b"0\r\n\r\n"), data)
        return body

    def assert_500(self, target, message):
        pid = self.get("/pid").body
        r = self.get(target)
        self.assertEqual(r.status, 500, (target, r.body))
        self.assertNotIn(b"accepted", r.body)
        self.b.wait_log(message)
        # The worker survives and keeps serving.
        self.assertEqual(self.get("/pid").body, pid)
        self.assertEqual(self.get("/").body, b"probe\n")

    def test_exception_before_response_500_with_traceback(self):
        self.assert_500("/raise", r"RuntimeError: probe exception before "
                        r"the response")
        rid, lines = self.b.request_lines("probe exception before")
        text = "\n".join(lines)
        self.assertIn("Traceback (most recent call last):", text)
        self.assertIn("probe.py", text)
        self.assertIn("answering 500", text)

    def test_exception_mid_stream_truncates(self):
        pid = self.get("/pid").body
        self.assertIn(b"partial ", self.truncated("/raise-mid?200000"))
        # Failing while bridge still holds the whole response back: no
        # complete response reaches the client either.
        with self.b.connect() as c:
            c.send(hh.get_request("/raise-mid"))
            with self.assertRaises(hh.Closed):
                c.read_response()
        self.b.wait_log(r"RuntimeError: probe exception in the middle")
        self.b.wait_log(r"after \d+ body bytes were sent; cutting")
        self.assertEqual(self.get("/pid").body, pid)

    def test_str_body_500(self):
        self.assert_500("/str-body", r"response body must be bytes, the "
                        r"application gave str")

    def test_bytes_result_500(self):
        self.assert_500("/bytes-result", r"the application returned bytes; "
                        r"it must return an iterable of bytes")

    def test_str_write_500(self):
        self.assert_500("/str-write", r"write\(\) argument must be bytes, "
                        r"not str")

    def test_bad_status_500(self):
        self.assert_500("/bad-status", r"status 'OK' is not \"NNN Reason\"")

    def test_bytes_status_500(self):
        self.assert_500("/bad-status-type", r"status must be str, not bytes")

    def test_int_header_500(self):
        self.assert_500("/bad-header-type",
                        r"header X-Number value must be str, not int")

    def test_crlf_header_500(self):
        self.assert_500("/bad-header-crlf", r"header 'X-Bad' has CR, LF")

    def test_tuple_headers_500(self):
        self.assert_500("/bad-headers-tuple",
                        r"response headers must be a list, not tuple")

    def test_hop_by_hop_header_500(self):
        self.assert_500("/hop", r"Connection is hop-by-hop")

    def test_no_start_response_500(self):
        self.assert_500("/no-start", r"returned without calling "
                        r"start_response")

    def test_never_more_than_content_length(self):
        rec = self.tmp.join("clen.rec")
        with self.b.connect() as c:
            r = c.request("/clen?" + rec)
            self.assertEqual(r.body, b"hello")
            # Nothing extra arrives: the connection is clean for reuse.
            r = c.request("/")
            self.assertEqual(r.body, b"probe\n")
        self.assertTrue(h.wait_for(lambda: os.path.exists(rec), 5))
        with open(rec) as f:
            self.assertEqual(f.read(), "generator closed\n")

    def test_close_called(self):
        rec = self.tmp.join("close.rec")
        r = self.get("/close?" + rec)
        self.assertEqual(r.body, b"one two\n")
        with open(rec) as f:
            self.assertEqual(f.read(), "closed 2\n")

    def test_close_called_when_client_goes_away(self):
        rec = self.tmp.join("gone.rec")
        s = socket.create_connection(self.b.addr, timeout=5)
        s.sendall(hh.get_request("/stream?" + rec))
        self.assertTrue(s.recv(65536))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()                                   # RST
        self.assertTrue(h.wait_for(lambda: os.path.exists(rec), 10),
                        self.b.log())
        with open(rec) as f:
            self.assertRegex(f.read(), r"^closed \d+\n$")
        self.b.wait_log(r"client gone after \d+ body bytes")
        self.assertEqual(self.get("/").body, b"probe\n")

    # wsgi.file_wrapper --------------------------------------------------
    def make_file(self, name, n):
        path = self.tmp.join(name)
        data = os.urandom(n)
        with open(path, "wb") as f:
            f.write(data)
        return path, data

    def test_file_wrapper_sendfile(self):
        path, data = self.make_file("big.bin", 3 * 1024 * 1024 + 17)
        r = self.get("/file?" + path)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, data)
        r = self.get("/file?%s&%d" % (path, 1000001))
        self.assertEqual(r.body, data[1000001:])

    def test_file_wrapper_uses_sendfile_not_read(self):
        path, data = self.make_file("counted.bin", 200000)
        r = self.get("/file-counted?" + path)
        self.assertEqual(r.body, data)
        self.assertEqual(self.get("/file-reads").body, b"0")

    def test_file_wrapper_falls_back_without_fileno(self):
        r = self.get("/file-bytesio")
        self.assertEqual(r.body, b"y" * 10000)
        r = self.get("/file-nofileno")
        self.assertEqual(r.body, b"block\n" * 3)

    def test_head_request(self):
        with self.b.connect() as c:
            r = c.request("/", method="HEAD")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"")
            self.assertEqual(c.request("/").body, b"probe\n")

    def test_keepalive_many_requests(self):
        with self.b.connect() as c:
            for i in range(200):
                r = c.request("/echo", method="POST", body=b"%d" % i)
                self.assertEqual(r.body, b"%d" % i)


# --- the probe, inside wsgiref.validate -----------------------------------

class ProbeValidated(unittest.TestCase):
    """The conforming paths again, with probe wrapped in
    wsgiref.validate.validator and every warning an error: bridge's side
    of PEP 3333 passes the reference checker with zero warnings."""

    @classmethod
    def setUpClass(cls):
        cls.b = WsgiBridge(ClassScope(cls), "validated:application")
        cls.tmp = h.TempDir(ClassScope(cls), "bridge-wsgi-val-",
                             writable=True)  # the apps write records

    def tearDown(self):
        log = self.b.log() + self.b.output()
        for bad in ("Traceback", "Warning", "AssertionError",
                    "Exception ignored"):
            self.assertNotIn(bad, log)

    def ok(self, target, **kw):
        r = self.b.get(target, **kw)
        self.assertEqual(r.status // 100, 2, (target, r.body[:2000],
                                              self.b.log()[-3000:]))
        return r

    def test_environ(self):
        e = json.loads(self.ok("/env?x=1").body)
        self.assertEqual(e["QUERY_STRING"], "x=1")
        e = json.loads(self.ok("/env", method="POST", body=b"abc").body)
        self.assertEqual(e["CONTENT_LENGTH"], "3")

    def test_input(self):
        body = b"l1\nl2\n" + b"x" * 5000
        self.assertEqual(self.ok("/echo", method="POST", body=body).body,
                         body)
        self.ok("/read?1000", method="POST", body=body)
        self.ok("/readline", method="POST", body=body)
        self.ok("/readline?2", method="POST", body=body)
        self.ok("/readlines?3", method="POST", body=body)
        self.ok("/readlines", method="POST", body=body)
        self.ok("/iter", method="POST", body=body)
        self.ok("/overread", method="POST", body=body)

    def test_errors(self):
        self.ok("/errors")
        self.b.wait_log("probe error at end of request")

    def test_responses(self):
        self.assertEqual(self.ok("/write").body,
                         b"written by write()\nand returned\n")
        self.assertEqual(self.ok("/lazy").body, b"lazy generator\n")
        self.ok("/empty")
        self.assertEqual(self.ok("/clen").body, b"hello")
        rec = self.tmp.join("close.rec")
        self.ok("/close?" + rec)
        with open(rec) as f:
            self.assertEqual(f.read(), "closed 2\n")

    def test_replace(self):
        r = self.b.get("/replace")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.body, b"replaced\n")

    def test_file_wrapper(self):
        path = self.tmp.join("f.bin")
        data = os.urandom(100000)
        with open(path, "wb") as f:
            f.write(data)
        self.assertEqual(self.ok("/file?" + path).body, data)
        self.assertEqual(self.ok("/file-bytesio").body, b"y" * 10000)
        self.assertEqual(self.ok("/file-nofileno").body, b"block\n" * 3)


# --- other front ends ----------------------------------------------------

class FrontEnds(unittest.TestCase):
    """The same probe behind FastCGI and in CGI mode: the environ
    carries the front end's truth (run_once in CGI mode, https from
    HTTPS=on)."""

    PARAMS = [("REQUEST_METHOD", "POST"), ("SCRIPT_NAME", "/app"),
              ("PATH_INFO", "/env"), ("QUERY_STRING", "q=1"),
              ("SERVER_PROTOCOL", "HTTP/1.1"),
              ("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_NAME", "example"),
              ("SERVER_PORT", "443"), ("REMOTE_ADDR", "127.0.0.1"),
              ("HTTP_HOST", "example"), ("HTTPS", "on"),
              ("CONTENT_LENGTH", "5"), ("CONTENT_TYPE", "text/plain")]

    def check_env(self, e, run_once):
        self.assertEqual(e["wsgi.url_scheme"], ["str", "https"])
        self.assertEqual(e["wsgi.run_once"], ["bool", run_once])
        self.assertEqual(e["wsgi.multiprocess"], ["bool", True])
        self.assertEqual(e["SCRIPT_NAME"], "/app")
        self.assertEqual(e["PATH_INFO"], "/env")
        self.assertEqual(e["QUERY_STRING"], "q=1")
        self.assertEqual(e["CONTENT_LENGTH"], "5")

    @staticmethod
    def split_cgi(out):
        head, _, body = out.partition(b"\r\n\r\n")
        return head.decode("latin-1"), body

    def test_fastcgi(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        b = h.Bridge(self, module=ADAPTER, extra=[
            "--module-arg", module_arg("probe:app", APPS)])
        with b.connect() as c:
            r = c.request(params=self.PARAMS, body=b"hello",
                          flags=h.FCGI_KEEP_CONN)
            head, body = self.split_cgi(r.stdout)
            self.assertIn("Status: 200", head)
            self.check_env(json.loads(body), False)
            params = [kv for kv in self.PARAMS if kv[0] != "PATH_INFO"]
            r = c.request(rid=2, flags=h.FCGI_KEEP_CONN,
                          params=params + [("PATH_INFO", "/echo")],
                          body=b"hello")
            self.assertEqual(self.split_cgi(r.stdout)[1], b"hello")
            r = c.request(rid=3, params=params + [("PATH_INFO", "/raise")],
                          body=b"hello")
            self.assertIn("Status: 500", self.split_cgi(r.stdout)[0])
        b.wait_log("probe exception before the response")

    def test_cgi_mode(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        tmp = h.TempDir(self, "bridge-wsgi-cgi-")
        env = dict(self.PARAMS)
        env["PATH"] = "/usr/bin:/bin"
        # The sanitizer settings of the ASan suite (leak suppressions for
        # the interpreter, the report directory) apply to this bridge too.
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        out = subprocess.run(
            [h.BRIDGE, "--module", ADAPTER, "--module-arg",
             module_arg("probe:app", APPS), "--error-log",
             os.path.join(tmp.path, "log")] + h.user_args(),
            input=b"hello", env=env, capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        head, body = self.split_cgi(out.stdout)
        self.assertIn("Status: 200", head)
        self.check_env(json.loads(body), True)


# --- start-up -------------------------------------------------------------

class Startup(unittest.TestCase):
    def assert_fails(self, app, message, **kw):
        rc, took, log = start_failing(self, app, **kw)
        self.assertNotEqual(rc, 0, log)
        self.assertLess(took, 8, log)
        self.assertRegex(log, message)
        return log

    def test_missing_module_exits_with_one_message(self):
        log = self.assert_fails("no_such_module_xyz:app",
                                r"ModuleNotFoundError: No module named "
                                r"'no_such_module_xyz'")
        self.assertEqual(log.count("cannot load the WSGI application "
                                   "no_such_module_xyz:app"), 1, log)

    def test_import_raises(self):
        log = self.assert_fails("broken_import:application",
                                r"RuntimeError: broken_import: this "
                                r"application cannot start")
        self.assertIn("Traceback (most recent call last):", log)
        self.assertIn("broken_import.py", log)
        self.assertEqual(log.count("cannot load the WSGI application"), 1,
                         log)

    def test_import_error_two_workers_exits(self):
        # Both workers fail at once: the master must reap both and exit,
        # not wait for a second SIGCHLD that the first one absorbed.
        log = self.assert_fails("no_such_module_xyz", r"No module named",
                                workers=2)
        self.assertLessEqual(log.count("cannot load the WSGI application"),
                             2, log)

    def test_missing_callable(self):
        self.assert_fails("probe:nope", r"AttributeError: .*'nope'")

    def test_not_callable(self):
        self.assert_fails("probe:COUNT", r"probe:COUNT is a list, not a "
                          r"WSGI callable")

    def test_default_callable_is_application(self):
        b = WsgiBridge(self, "probe")
        self.assertEqual(b.get("/").body, b"probe\n")

    def test_unknown_argument(self):
        b = WsgiBridge(self, "probe:app", start=False)
        b.args[b.args.index(b.module_arg)] += "\nthreads=4"
        out = open(b.tmp.join("bridge.stdout"), "wb")
        proc = subprocess.Popen(b.args, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.assertNotEqual(proc.wait(timeout=10), 0)
        out.close()
        self.assertIn('unknown argument "threads"', b.log() + b.output())

    def test_venv_of_other_version_refused(self):
        tmp = h.TempDir(self, "bridge-venv-")
        os.makedirs(tmp.join("lib", "python3.9", "site-packages"))
        with open(tmp.join("pyvenv.cfg"), "w") as f:
            f.write("home = /opt/py39/bin\ninclude-system-site-packages = "
                    "false\nversion = 3.9.7\n")
        self.assert_fails("probe:app", r"venv %s was made by Python 3\.9\.7, "
                          r"but bridge embeds Python 3\.\d+" %
                          re.escape(tmp.path), venv=tmp.path)

    def test_not_a_venv_refused(self):
        tmp = h.TempDir(self, "bridge-venv-")
        self.assert_fails("probe:app", r"pyvenv\.cfg.*not a virtualenv",
                          venv=tmp.path)

    def test_venv(self):
        tmp = h.TempDir(self, "bridge-venv-")
        venv = tmp.join("venv")
        subprocess.run([SYS_PY, "-m", "venv", "--without-pip", venv],
                       check=True, timeout=60)
        ver = subprocess.run([SYS_PY, "-c", "import sys; print("
                              "'python%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True,
                             timeout=30).stdout.strip()
        site = os.path.join(venv, "lib", ver, "site-packages")
        with open(os.path.join(site, "venv_only_app.py"), "w") as f:
            f.write("import sys\n"
                    "def application(environ, start_response):\n"
                    "    start_response('200 OK', "
                    "[('Content-Type', 'text/plain')])\n"
                    "    return [('%s|%s' % (sys.prefix, "
                    "':'.join(sys.path))).encode()]\n")
        b = WsgiBridge(self, "venv_only_app", venv=venv)
        prefix, path = b.get("/").body.decode().split("|")
        self.assertEqual(prefix, venv)
        path = path.split(":")
        self.assertIn(site, path)
        self.assertNotIn("/usr/lib/python3/dist-packages", path)

    def test_chdir(self):
        tmp = h.TempDir(self, "bridge-chdir-")
        with open(tmp.join("chdir_app.py"), "w") as f:
            f.write("import os, sys\n"
                    "def app(environ, start_response):\n"
                    "    start_response('200 OK', "
                    "[('Content-Type', 'text/plain')])\n"
                    "    return [(os.getcwd() + '|' + sys.path[0])"
                    ".encode()]\n")
        b = WsgiBridge(self, "chdir_app:app", pythonpath=None,
                       chdir=tmp.path)
        self.assertEqual(b.get("/").body.decode(),
                         tmp.path + "|" + tmp.path)


if __name__ == "__main__":
    h.main()
