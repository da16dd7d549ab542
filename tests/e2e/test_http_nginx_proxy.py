#!/usr/bin/python3
"""
nginx proxy_pass -> bridge's HTTP port, using conf/nginx-proxy.conf as
shipped (HTTP/1.1 upstream with keepalive), rendered with only the ports
replaced.
"""
import http.client
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402


class NginxProxy(unittest.TestCase):
    def setUp(self):
        h.require(self, "nginx")
        self.b = hh.HttpBridge(self, workers=2)
        self.ngx = hh.NginxProxy(self, self.b.port)
        self.port = self.ngx.port

    def conn(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(c.close)
        return c

    def test_get(self):
        st, hd, body = h.http_request(self.port, path="/env?a=1",
                                      headers={"X-Custom": "yes"})
        self.assertEqual(st, 200, body)
        env = h.parse_env(body)
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["QUERY_STRING"], "a=1")
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(env["HTTP_X_CUSTOM"], "yes")
        self.assertEqual(env["HTTP_X_FORWARDED_FOR"], "127.0.0.1")
        self.assertEqual(env["HTTP_X_FORWARDED_PROTO"], "http")
        self.assertEqual(env["HTTP_HOST"], "127.0.0.1")
        self.assertEqual(env["SERVER_PORT"], str(self.b.port))
        # nginx's "Connection: close" would end upstream keepalive
        self.assertNotIn("HTTP_CONNECTION", env)

    def test_post(self):
        body = os.urandom(1 << 20)
        st, _, got = h.http_request(self.port, "POST", "/echo", body=body)
        self.assertEqual(st, 200)
        self.assertEqual(got, body)

    def test_chunked_post(self):
        """A chunked upload: nginx buffers it and sends it on with a
        Content-Length (or chunked); the app sees the same bytes."""
        c = self.conn()
        parts = [b"a" * 1000, b"b" * 70000, b"c"]
        c.request("POST", "/echo", body=iter(parts), encode_chunked=True)
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"".join(parts)))

    def test_streamed_response(self):
        c = self.conn()
        c.request("GET", "/big?5000000")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.read()), 5000000)

    def test_head(self):
        c = self.conn()
        c.request("HEAD", "/big?300000")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b""))
        c.request("GET", "/")
        self.assertEqual(c.getresponse().read(), b"probe\n")

    def test_upstream_keepalive(self):
        """Requests from separate client connections ride on one
        upstream connection (nginx has one worker): bridge keeps it."""
        ports = set()
        for i in range(20):
            st, _, body = h.http_request(self.port, path="/env?i=%d" % i)
            self.assertEqual(st, 200)
            ports.add(h.parse_env(body)["REMOTE_PORT"])
        self.assertLessEqual(len(ports), 2, "no upstream reuse: %s" % ports)
        self.assertNotIn("[error]", self.ngx.error_log())

    def test_http10_client_without_host(self):
        """nginx fills Host ($host) for an HTTP/1.0 client that sent
        none, so bridge gets a valid HTTP/1.1 request."""
        with hh.RawHttp(("127.0.0.1", self.port)) as c:
            c.send(b"GET /env HTTP/1.0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r.body)
        self.assertIn(b"HTTP_HOST=localhost\n", r.body)

    def test_app_errors(self):
        for path, want in (("/fail", 500), ("/nostart", 502)):
            st, _, _ = h.http_request(self.port, path=path)
            self.assertEqual(st, want, path)
        st, _, body = h.http_request(self.port, path="/")
        self.assertEqual((st, body), (200, b"probe\n"))

    def test_worker_crash(self):
        """The upstream connection drops: nginx answers 502, and the
        next request reaches a respawned worker."""
        st, _, _ = h.http_request(self.port, path="/crash")
        self.assertEqual(st, 502)
        ok = h.wait_for(lambda: h.http_request(self.port, path="/")[0]
                        == 200, 3)
        self.assertTrue(ok)

    def test_ordinary_traffic_accepted(self):
        """bridge's strictness behind nginx: ordinary requests nginx
        forwards (escapes, dot segments, cookies) are not refused."""
        c = self.conn()
        for path in ("/env?x=%20y", "/a/b/../c", "/%7Euser", "/?q=a+b"):
            c.request("GET", path, headers={"Cookie": "a=1; b=2",
                                            "Accept": "*/*"})
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200, path)


if __name__ == "__main__":
    h.main()
