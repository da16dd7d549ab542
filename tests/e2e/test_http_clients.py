#!/usr/bin/python3
"""
bridge's HTTP/1.1 front end driven by real clients: curl and Python's
http.client, over IPv4 and IPv6 loopback, and the gateway's failure paths
(tests/apps/probe.c) as an HTTP client sees them.

Section numbers are RFC 9110 / RFC 9112.
"""
import email.utils
import http.client
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT$")


class Curl(unittest.TestCase):
    def setUp(self):
        (self.curl,) = h.require(self, "curl")
        self.b = hh.HttpBridge(self, workers=2)
        self.base = "http://127.0.0.1:%d" % self.b.port
        self.tmp = h.TempDir(self)

    def run_curl(self, *args, timeout=30):
        p = subprocess.run([self.curl, "-sS", "--max-time", "20"]
                           + list(args), capture_output=True,
                           timeout=timeout)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return p.stdout, p.stderr.decode(errors="replace")

    def test_http11(self):
        out, _ = self.run_curl("-w", "\n%{http_code} %{http_version}",
                               self.base + "/env?a=1")
        body, _, tail = out.rpartition(b"\n")
        self.assertEqual(tail, b"200 1.1")
        env = h.parse_env(body)
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(env["QUERY_STRING"], "a=1")
        self.assertEqual(env["HTTP_HOST"], "127.0.0.1:%d" % self.b.port)
        self.assertTrue(env["HTTP_USER_AGENT"].startswith("curl/"))

    def test_http10(self):
        out, err = self.run_curl("-v", "--http1.0", self.base + "/env")
        env = h.parse_env(out)
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.0")
        self.assertIn("> GET /env HTTP/1.0", err)
        # RFC 9112 9.3: no keep-alive asked, so the server closes
        self.assertRegex(err, r"(?i)< connection: close")

    def test_http10_streamed_response_is_close_delimited(self):
        """An HTTP/1.0 client gets no chunked coding (RFC 9112 7.1: it is
        HTTP/1.1 only): a long unframed response ends at the close."""
        out, err = self.run_curl("-v", "--http1.0",
                                 self.base + "/big?300000")
        self.assertEqual(out, b"x" * 300000)
        self.assertNotRegex(err, r"(?i)< transfer-encoding")

    def test_chunked_upload_1mib(self):
        data = os.urandom(1 << 20)
        path = self.tmp.join("up.bin")
        with open(path, "wb") as f:
            f.write(data)
        out, err = self.run_curl("-v", "-H", "Transfer-Encoding: chunked",
                                 "--data-binary", "@" + path,
                                 self.base + "/echo")
        self.assertRegex(err, r"(?i)> transfer-encoding: chunked")
        self.assertEqual(len(out), len(data))
        self.assertEqual(out, data)

    def test_expect_100_continue(self):
        """curl waits for the interim 100 (up to --expect100-timeout)
        before sending a large body: it must come at once."""
        data = b"e" * 4096
        path = self.tmp.join("post.bin")
        with open(path, "wb") as f:
            f.write(data)
        t0 = time.monotonic()
        out, err = self.run_curl("-v", "--expect100-timeout", "10",
                                 "-H", "Expect: 100-continue",
                                 "--data-binary", "@" + path,
                                 self.base + "/echo")
        elapsed = time.monotonic() - t0
        self.assertIn("> Expect: 100-continue", err)
        self.assertIn("< HTTP/1.1 100 Continue", err)
        self.assertEqual(out, data)
        self.assertLess(elapsed, 3.0, "curl waited for the 100")

    def test_expect_100_by_default_for_big_post(self):
        """curl's own Expect for a POST over 1 KiB."""
        data = b"d" * 2048
        path = self.tmp.join("post.bin")
        with open(path, "wb") as f:
            f.write(data)
        t0 = time.monotonic()
        out, err = self.run_curl("-v", "--expect100-timeout", "10",
                                 "--data-binary", "@" + path,
                                 self.base + "/echo")
        self.assertEqual(out, data)
        self.assertLess(time.monotonic() - t0, 3.0)
        if "> Expect: 100-continue" in err:
            self.assertIn("< HTTP/1.1 100 Continue", err)

    def test_head(self):
        out, err = self.run_curl("-v", "-I", self.base + "/")
        self.assertIn(b"HTTP/1.1 200", out)
        self.assertIn(b"Content-Length: 6", out)
        # curl -I prints the head only; the wire had no body either (the
        # follow-up on one connection proves it, see test_keep_alive_reuse)
        _, err2 = self.run_curl("-v", "-I", self.base + "/",
                                   self.base + "/env")
        self.assertIn("Re-using existing connection", err2)

    def test_keep_alive_reuse(self):
        urls = [self.base + p for p in ("/env?1", "/", "/echo", "/env?4",
                                        "/big?100000")]
        out, err = self.run_curl("-v", *urls)
        self.assertEqual(err.count("Re-using existing connection"),
                         len(urls) - 1, err)
        self.assertEqual(len(re.findall(r"Connected to ", err)), 1, err)
        self.assertEqual(out.count(b"REMOTE_PORT="), 2)
        ports = set(re.findall(rb"REMOTE_PORT=(\d+)", out))
        self.assertEqual(len(ports), 1, "two TCP connections: %s" % ports)

    def test_big_streamed_response(self):
        out, err = self.run_curl("-v", self.base + "/big?5000000")
        self.assertEqual(len(out), 5000000)
        self.assertEqual(out.count(b"x"), 5000000)
        self.assertRegex(err, r"(?i)< transfer-encoding: chunked")

    def test_body_over_max_body_is_413(self):
        """RFC 9110 15.5.14: a body over --max-body is refused with 413,
        and the client reads the answer although it was still sending
        (the unread body must not reset the answer away)."""
        b = hh.HttpBridge(self, workers=1, extra=["--max-body", "1m"])
        path = self.tmp.join("big.bin")
        with open(path, "wb") as f:
            f.write(b"\0" * (4 << 20))
        p = subprocess.run([self.curl, "-sS", "--max-time", "20", "-o",
                            "/dev/null", "-w", "%{http_code}", "-H",
                            "Expect:", "--data-binary", "@" + path,
                            "http://127.0.0.1:%d/echo" % b.port],
                           capture_output=True, timeout=30)
        self.assertEqual(p.stdout, b"413", p.stderr)

    def test_post_form(self):
        out, _ = self.run_curl("-d", "a=1&b=2", self.base + "/env")
        env = h.parse_env(out)
        self.assertEqual(env["REQUEST_METHOD"], "POST")
        self.assertEqual(env["CONTENT_LENGTH"], "7")
        self.assertEqual(env["CONTENT_TYPE"],
                         "application/x-www-form-urlencoded")


class PythonClient(unittest.TestCase):
    def setUp(self):
        self.b = hh.HttpBridge(self, workers=2)

    def conn(self, **kw):
        c = http.client.HTTPConnection("127.0.0.1", self.b.port,
                                       timeout=10, **kw)
        self.addCleanup(c.close)
        return c

    def test_keep_alive(self):
        c = self.conn()
        ports = set()
        sock = None
        for i in range(20):
            c.request("GET", "/env?i=%d" % i)
            r = c.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200)
            self.assertFalse(r.will_close)
            ports.add(h.parse_env(body)["REMOTE_PORT"])
            if sock is None:
                sock = c.sock
            self.assertIs(c.sock, sock, "http.client reconnected")
        self.assertEqual(len(ports), 1)

    def test_chunked_response_decoded_exactly(self):
        c = self.conn()
        c.request("GET", "/big?300000")
        r = c.getresponse()
        self.assertTrue(r.chunked)
        self.assertIsNone(r.getheader("Content-Length"))
        body = r.read()
        self.assertEqual(len(body), 300000)
        self.assertEqual(body, b"x" * 300000)
        # and the connection is reusable after the last chunk
        c.request("GET", "/")
        self.assertEqual(c.getresponse().read(), b"probe\n")

    def test_small_unframed_response_gets_a_length(self):
        """A response the app sends without a length but that fits the
        hold-back buffer goes out with Content-Length (no chunks)."""
        c = self.conn()
        c.request("GET", "/big?1000")
        r = c.getresponse()
        self.assertFalse(r.chunked)
        self.assertEqual(r.getheader("Content-Length"), "1000")
        self.assertEqual(r.read(), b"x" * 1000)

    def test_post_echo(self):
        c = self.conn()
        body = bytes(range(256)) * 1000
        c.request("POST", "/echo", body=body,
                  headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, body))

    def test_chunked_request_body(self):
        c = self.conn()
        parts = [b"alpha", b"", b"beta" * 5000, b"gamma"]
        c.request("POST", "/echo", body=iter(parts),
                  encode_chunked=True)
        r = c.getresponse()
        self.assertEqual(r.read(), b"".join(parts))

    def test_204_304(self):
        """RFC 9110 6.4.1, 15.3.5, 15.4.5: 204 and 304 end at their head.
        The application writes a body anyway (probe's /status?N); none
        of it reaches the client, no Transfer-Encoding, and the
        connection stays in step for the next request."""
        with self.b.connect() as c:
            for code in (204, 304):
                with self.subTest(code=code):
                    c.send(hh.get_request("/status?%d" % code))
                    r = c.read_response()
                    self.assertEqual(r.status, code)
                    self.assertEqual(r.tokens("transfer-encoding"), [])
                    c.send(hh.get_request("/"))
                    r = c.read_response()
                    self.assertEqual((r.status, r.body), (200, b"probe\n"),
                                     "body bytes of the %d leaked into the "
                                     "next response" % code)

    def test_204_without_content_length(self):
        """RFC 9110 8.6: a server MUST NOT send Content-Length in a 204,
        even when the application set one."""
        with self.b.connect() as c:
            c.send(hh.get_request("/status?204"))
            r = c.read_response()
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header_all("content-length"), [])

    def test_date_header(self):
        """RFC 9110 6.6.1: an origin server with a clock sends Date, in
        IMF-fixdate (RFC 9110 5.6.7)."""
        c = self.conn()
        for path in ("/", "/big?200000", "/fail"):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            dates = r.headers.get_all("Date")
            self.assertEqual(len(dates or []), 1, path)
            self.assertRegex(dates[0], IMF_FIXDATE)
            t = email.utils.parsedate_to_datetime(dates[0]).timestamp()
            self.assertLess(abs(t - time.time()), 5)
            if r.will_close:
                c.close()
        # an error answered by the front end itself carries one too
        with self.b.connect() as raw:
            raw.send(b"GET / HTTP/1.1\r\n\r\n")
            r = raw.read_response()
            self.assertEqual(r.status, 400)
            self.assertRegex(r.header("Date"), IMF_FIXDATE)


class GracefulStop(unittest.TestCase):
    def test_term_finishes_request_and_closes_idle(self):
        """TERM: the request in the app is answered in full, an idle
        keep-alive connection is closed at once, and bridge exits 0
        well within --graceful-timeout."""
        b = hh.HttpBridge(self, workers=1)
        idle = b.connect()
        self.addCleanup(idle.close)
        self.assertEqual(idle.request("/").status, 200)
        busy = b.connect()
        self.addCleanup(busy.close)
        busy.send(hh.get_request("/sleep?1000"))
        time.sleep(0.3)
        t0 = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        r = busy.read_response()
        self.assertEqual((r.status, r.body), (200, b"slept\n"))
        self.assertTrue(idle.closed_within(3), "idle connection kept")
        self.assertTrue(busy.closed_within(3), "busy connection kept")
        b.stop()                # asserts exit status 0
        self.assertLess(time.monotonic() - t0, 5)


class Ipv6(unittest.TestCase):
    def setUp(self):
        if not hh.have_ipv6_loopback():
            self.skipTest("no IPv6 loopback")

    def test_ipv6_listener(self):
        b = hh.HttpBridge(self, workers=1, ipv6=True)
        c = http.client.HTTPConnection("::1", b.port6, timeout=10)
        self.addCleanup(c.close)
        c.request("GET", "/env")
        r = c.getresponse()
        env = h.parse_env(r.read())
        self.assertEqual(r.status, 200)
        self.assertEqual(env["REMOTE_ADDR"], "::1")
        self.assertEqual(env["SERVER_ADDR"], "::1")
        self.assertEqual(env["SERVER_PORT"], str(b.port6))
        self.assertEqual(env["SERVER_NAME"], "[::1]")
        # and the IPv4 listener of the same bridge still answers
        st, _, body = h.http_request(b.port, path="/")
        self.assertEqual((st, body), (200, b"probe\n"))

    def test_dual_stack_listener_ipv4_client(self):
        """[::]:port takes IPv4 clients too; their v4-mapped address
        (::ffff:127.0.0.1) reads as the IPv4 it is, on both ends."""
        port = h.free_port()
        b = hh.HttpBridge(self, workers=1, extra=["--http", "[::]:%d" % port])
        st, _, body = h.http_request(port, path="/env")
        env = h.parse_env(body)
        self.assertEqual(st, 200)
        self.assertEqual((env["REMOTE_ADDR"], env["SERVER_ADDR"],
                          env["SERVER_PORT"]), ("127.0.0.1", "127.0.0.1",
                                                str(port)))
        self.assertTrue(env["REMOTE_PORT"].isdigit())
        self.assertEqual(h.parse_env(h.http_request(
            port, path="/env", host="::1")[2])["REMOTE_ADDR"], "::1")
        self.assertEqual(b.log().count(" error "), 0)

    def test_ipv6_with_curl(self):
        (curl,) = h.require(self, "curl")
        b = hh.HttpBridge(self, workers=1, ipv6=True)
        p = subprocess.run([curl, "-sS", "--max-time", "10", "-g",
                            "http://[::1]:%d/env" % b.port6],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(h.parse_env(p.stdout)["REMOTE_ADDR"], "::1")


    def test_fastcgi_over_ipv6(self):
        """--fastcgi [::1]:PORT: a FastCGI listener on IPv6 loopback."""
        port6 = hh.free_port6()
        b = h.Bridge(self, extra=["--fastcgi", "[::1]:%d" % port6])
        h.wait_port("::1", port6, proc=b.proc)
        with h.FcgiConn(("::1", port6)) as c:
            r = c.request(path="/env?v6=1")
        self.assertEqual(r.status, 200, r.stdout)
        self.assertEqual(r.env()["QUERY_STRING"], "v6=1")
        self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
        b.stop()


class Failures(unittest.TestCase):
    """The gateway's failure paths, seen from an HTTP client."""

    def setUp(self):
        self.b = hh.HttpBridge(self, workers=1)

    def get(self, path):
        return h.http_request(self.b.port, path=path)

    def test_fail_is_500(self):
        st, _, _ = self.get("/fail")
        self.assertEqual(st, 500)
        self.assertEqual(self.get("/")[0], 200)

    def test_nostart_is_502(self):
        st, _, _ = self.get("/nostart")
        self.assertEqual(st, 502)
        self.assertEqual(self.get("/")[0], 200)

    def test_replace_before_first_byte(self):
        st, _, body = self.get("/replace")
        self.assertEqual((st, body), (503, b"replaced\n"))

    def test_header_injection_refused(self):
        """A header value with CR LF never reaches the wire (RFC 9110
        5.5); the app's error becomes a 500."""
        with self.b.connect() as c:
            c.send(hh.get_request("/badheader"))
            r = c.read_response()
        self.assertEqual(r.status, 500)
        self.assertNotIn(b"Injected", r.raw_head)
        self.assertIsNone(r.header("X-Bad"))

    def test_cut_response_closes(self):
        """Content-Length 100 and 10 bytes: RFC 9112 8 -- the message is
        incomplete, which only closing the connection can tell."""
        with self.b.connect() as c:
            c.send(hh.get_request("/cut") + hh.get_request("/"))
            r = c.read_head()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), "100")
            rest = c.read_to_eof(5)
            self.assertTrue(c.eof)
            self.assertEqual(rest, b"0123456789")
        c = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=10)
        self.addCleanup(c.close)
        c.request("GET", "/cut")
        r = c.getresponse()
        with self.assertRaises(http.client.IncompleteRead):
            r.read()

    def test_crash_drops_connection_and_worker_respawns(self):
        """A crashing worker takes its connection down (no response can
        be made up for it); the master forks a new worker and the next
        request succeeds within 2 s."""
        before = set(self.b.workers())
        with self.b.connect() as c:
            c.send(hh.get_request("/crash"))
            with self.assertRaises(hh.Closed):
                c.read_response()
        t0 = time.monotonic()
        ok = None
        while time.monotonic() - t0 < 2.0:
            try:
                st, _, body = h.http_request(self.b.port, path="/",
                                             timeout=2)
                if st == 200:
                    ok = time.monotonic() - t0
                    break
            except (OSError, http.client.HTTPException):
                time.sleep(0.02)
        self.assertIsNotNone(ok, "no answer within 2 s of the crash")
        after = set(self.b.workers())
        self.assertTrue(after and not (after & before),
                        "worker not replaced: %s -> %s" % (before, after))

    def test_sendfile(self):
        tmp = h.TempDir(self)
        path = tmp.join("f.bin")
        data = os.urandom(300000)
        with open(path, "wb") as f:
            f.write(data)
        st, hd, body = self.get("/file?" + path)
        self.assertEqual(st, 200)
        self.assertEqual(body, data)

    def test_log_line_carries_request(self):
        st, _, body = self.get("/log")
        self.assertEqual((st, body), (200, b"logged\n"))
        self.b.wait_log(r"probe log line 42")


if __name__ == "__main__":
    h.main()
