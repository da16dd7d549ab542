#!/usr/bin/python3
"""
Behind real nginx (conf/nginx-bridge.conf as shipped, fastcgi_keep_conn
on): what a client of nginx sees of bridge's FastCGI semantics.

 - a header sent twice reaches the application as one joined value, as
   on bridge's own HTTP front end (nginx passes two params of one name);
 - a response shorter than its Content-Length fails at the client at
   once (short read) instead of leaving it waiting for the missing bytes;
 - HEAD and 304 with a Content-Length and no body are complete answers.
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

CURL_MAX = 20       # bound on a curl run; nginx's fastcgi_read_timeout is 60


class NginxSemanticsTest(unittest.TestCase):
    def setUp(self):
        h.require(self, "nginx", "curl")
        tmp = h.TempDir(self)
        self.tcp = h.Bridge(self, tmp=tmp, extra=["--user", "nobody"])
        utmp = h.TempDir(self)
        # nginx's workers are not bridge's user: open the socket to them
        self.unix = h.Bridge(self, unix=True, tmp=utmp,
                             extra=["--user", "nobody",
                                    "--socket-mode", "0666"])
        self.ngx = h.Nginx(self, self.tcp.addr, self.unix.addr)
        self.ports = {"tcp": self.ngx.port, "unix": self.ngx.port_unix}

    def each(self):
        for name, port in self.ports.items():
            with self.subTest(front=name):
                yield name, port

    def raw_env(self, port, extra):
        with hh.RawHttp(("127.0.0.1", port)) as c:
            c.send(hh.get_request("/env", extra=extra))
            r = c.read_response()
        self.assertEqual(r.status, 200, r.body)
        return h.parse_env(r.body)

    def test_repeated_header_reaches_app_joined_not_last_only(self):
        for _, port in self.each():
            env = self.raw_env(port, b"X-Dup: one\r\nX-Dup: two\r\n"
                               b"Cookie: a=1\r\nCookie: b=2\r\n"
                               b"Accept: text/html\r\nAccept: */*\r\n")
            self.assertEqual(env.get("HTTP_X_DUP"), "one, two")
            self.assertEqual(env.get("HTTP_COOKIE"), "a=1; b=2")
            self.assertEqual(env.get("HTTP_ACCEPT"), "text/html, */*")
            # fastcgi_param overrides still replace (the last one wins)
            self.assertEqual(env.get("SCRIPT_NAME"), "")
            self.assertEqual(env.get("PATH_INFO"), "/env")

    def curl(self, port, path, *args):
        t0 = time.monotonic()
        p = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "--max-time", str(CURL_MAX),
             "-w", "%{http_code} %{size_download}"] + list(args)
            + ["http://127.0.0.1:%d%s" % (port, path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=CURL_MAX + 10)
        return p.returncode, p.stdout.decode(), p.stderr.decode(), \
            time.monotonic() - t0

    def test_short_response_fails_at_client_instead_of_hanging(self):
        """/cut: Content-Length 100, 10 bytes.  curl must see a partial
        transfer (exit 18), not wait out its --max-time (exit 28)."""
        for _, port in self.each():
            rc, out, err, took = self.curl(port, "/cut")
            self.assertEqual(rc, 18, "curl exit %d after %.1fs (%s %s)"
                             % (rc, took, out, err))
            self.assertEqual(out.split()[1], "10")
            # the next request through the same nginx is served
            rc, out, err, _ = self.curl(port, "/status?201")
            self.assertEqual((rc, out.split()[0]), (0, "201"), err)

    def test_short_response_connection_not_reused(self):
        """The client's keep-alive connection ends with the broken
        response: no second response arrives on it."""
        port = self.ngx.port
        with hh.RawHttp(("127.0.0.1", port), timeout=CURL_MAX) as c:
            c.send(hh.get_request("/cut"))
            r = c.read_head()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), "100")
            body = c.read_to_eof(timeout=CURL_MAX)
            self.assertTrue(c.eof)
            self.assertEqual(body, b"0123456789")

    def test_head_and_304_with_length_are_complete(self):
        for _, port in self.each():
            rc, out, err, _ = self.curl(port, "/lenonly?17", "-I")
            self.assertEqual((rc, out.split()[0]), (0, "200"), err)
            rc, out, err, _ = self.curl(port, "/notmodified")
            self.assertEqual((rc, out.split()[0]), (0, "304"), err)
        for b in (self.tcp, self.unix):
            self.assertNotIn("; cut", b.log())
            self.assertNotIn("connection closed", b.log())


if __name__ == "__main__":
    h.main()
