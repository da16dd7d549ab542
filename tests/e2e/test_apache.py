#!/usr/bin/python3
"""
Apache httpd mod_proxy_fcgi -> bridge, using conf/apache-bridge.conf as
shipped (TCP), and its commented unix-socket variant.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

MODULES = ("mpm_event", "proxy", "proxy_fcgi")
TCP_LINE = 'ProxyPass "/" "fcgi://127.0.0.1:9000/"'
UNIX_LINE = '# ProxyPass "/" "unix:/run/bridge/bridge.sock|fcgi://localhost/"'


class ApacheTest(unittest.TestCase):
    unix = False

    def setUp(self):
        h.require(self, "apache2")
        self.b = h.Bridge(self, workers=2, unix=self.unix,
                          extra=["--socket-mode", "0666"] if self.unix
                          else [])
        tmp = h.TempDir(self, "bridge-apache-")
        if self.unix:
            subs = {TCP_LINE: "# " + TCP_LINE,
                    UNIX_LINE: UNIX_LINE[2:].replace(
                        "/run/bridge/bridge.sock", self.b.addr)}
        else:
            subs = {"127.0.0.1:9000": "%s:%d" % self.b.addr}
        text = h.render_conf("apache-bridge.conf", subs,
                             tmp.join("rendered.conf"))
        self.apache = h.Apache(self, text, tmp=tmp, modules=MODULES)
        self.port = self.apache.port

    def test_get_env(self):
        st, hd, body = h.http_request(self.port, "GET", "/env?x=1&y=2",
                                      headers={"X-Thing": "abc"})
        self.assertEqual(st, 200, body + self.apache.error_log().encode())
        env = h.parse_env(body)
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["QUERY_STRING"], "x=1&y=2")
        self.assertEqual(env["REQUEST_URI"], "/env?x=1&y=2")
        self.assertEqual(env["HTTP_X_THING"], "abc")
        self.assertEqual(env["HTTP_HOST"], "127.0.0.1:%d" % self.port)
        self.assertEqual(env["SERVER_PORT"], str(self.port))

    def test_post_echo(self):
        data = os.urandom(300000)
        st, hd, body = h.http_request(self.port, "POST", "/echo", body=data,
                                      timeout=30)
        self.assertEqual(st, 200)
        self.assertTrue(body == data, "body changed on the way")

    def test_sequential_reuse(self):
        for i in range(50):
            st, hd, body = h.http_request(self.port, "POST", "/echo",
                                          body=b"n%d" % i)
            self.assertEqual((st, body), (200, b"n%d" % i))

    def test_errors(self):
        self.assertEqual(h.http_request(self.port, "GET", "/fail")[0], 500)
        self.assertEqual(h.http_request(self.port, "GET", "/nostart")[0],
                         502)
        self.assertEqual(h.http_request(self.port, "GET", "/replace")[0],
                         503)

    def test_proxy_header(self):
        st, hd, body = h.http_request(self.port, "GET", "/env", headers={
            "Proxy": "http://evil.example:3128"})
        self.assertEqual(st, 200)
        self.assertNotIn(b"HTTP_PROXY", body)


class ApacheUnixTest(ApacheTest):
    unix = True


if __name__ == "__main__":
    h.main()
