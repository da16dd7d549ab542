#!/usr/bin/python3
"""
One request, three doors: nginx -> FastCGI -> bridge
(conf/nginx-bridge.conf), Apache mod_cgi -> bridge as a CGI program, and
bridge's own HTTP front end (bridge --http).  DESIGN.md section 2: the
request model is protocol-neutral, so the app must see the same RFC 3875
variables and HTTP_* variables, and the same body.

Compared: the RFC 3875 section 4.1 meta-variables and every HTTP_* one,
except those that describe the server or the connection rather than the
request (EXCLUDED below).  A variable with an empty value counts as unset
(RFC 3875 section 4.1: NULL values; nginx's fastcgi_params sends
CONTENT_TYPE and CONTENT_LENGTH empty on a GET, Apache leaves them out).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402
import test_cgi_mode                                            # noqa: E402

RFC3875 = {"AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE",
           "GATEWAY_INTERFACE", "PATH_INFO", "PATH_TRANSLATED",
           "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_IDENT",
           "REMOTE_USER", "REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME",
           "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE"}

EXCLUDED = {
    # the client's address: two different TCP connections
    "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT", "REMOTE_IDENT",
    # the server's identity and address: nginx uses its server_name and
    # listen port, Apache its Host-derived name (UseCanonicalName Off)
    "SERVER_NAME", "SERVER_PORT", "SERVER_ADDR", "SERVER_SOFTWARE",
    # filesystem mapping: differs by construction
    "PATH_TRANSLATED", "DOCUMENT_ROOT", "SCRIPT_FILENAME",
    # where the application is mounted is the web server's setting (a
    # WSGI app at "/" wants SCRIPT_NAME "" and the path in PATH_INFO;
    # Apache's ScriptAlias gives SCRIPT_NAME the script's URL): only
    # their concatenation, the request path, must agree (checked apart)
    "SCRIPT_NAME", "PATH_INFO",
}

# Not sent: Authorization (Apache withholds HTTP_AUTHORIZATION from CGI
# programs, nginx passes it; RFC 3875 4.1.18 leaves it to the server).
HEADERS = {"Host": "example.test", "User-Agent": "parity/1",
           "X-Custom": "a b,c", "Cookie": "k=v; k2=v2",
           "Accept": "text/plain", "Accept-Language": "de, en;q=0.5",
           "Proxy": "http://evil.example:3128"}


def comparable(body):
    env = h.parse_env(body)
    return {k: v for k, v in env.items()
            if (k in RFC3875 or k.startswith("HTTP_"))
            and k not in EXCLUDED and v != ""}


class ParityTest(unittest.TestCase):
    def setUp(self):
        h.require(self, "nginx")
        h.require(self, "apache2")
        tcp = h.Bridge(self)
        unix = h.Bridge(self, unix=True, extra=["--socket-mode", "0666"])
        self.nginx = h.Nginx(self, tcp.addr, unix.addr)
        self.apache = test_cgi_mode.start_apache_cgi(self)
        self.http = hh.HttpBridge(self)

    def both(self, method, path, body=None, headers=None):
        """The bodies through FastCGI and CGI; the HTTP front end's answer
        is checked against the FastCGI one here."""
        hd = dict(HEADERS, **(headers or {}))
        out = []
        for port in (self.nginx.port, self.apache.port, self.http.port):
            st, rh, rb = h.http_request(port, method, path, body=body,
                                        headers=hd)
            self.assertEqual(st, 200, rb)
            out.append(rb)
        if path.startswith("/env"):
            self.assertSameEnv(out[0], out[2])
        else:
            self.assertEqual(out[0], out[2])
        return out[:2]

    def assertSameEnv(self, fcgi_body, cgi_body):
        paths = [h.parse_env(b).get("SCRIPT_NAME", "") +
                 h.parse_env(b).get("PATH_INFO", "")
                 for b in (fcgi_body, cgi_body)]
        self.assertEqual(paths[0], paths[1], "SCRIPT_NAME + PATH_INFO")
        f, c = comparable(fcgi_body), comparable(cgi_body)
        only_f = sorted(set(f) - set(c))
        only_c = sorted(set(c) - set(f))
        diff = sorted(k for k in set(f) & set(c) if f[k] != c[k])
        self.assertEqual((only_f, only_c, diff), ([], [], []),
                         "FastCGI-only %s, CGI-only %s, different %s"
                         % ({k: f[k] for k in only_f},
                            {k: c[k] for k in only_c},
                            {k: (f[k], c[k]) for k in diff}))

    def test_get(self):
        fb, cb = self.both("GET", "/env?a=1&b=%2F&c")
        self.assertEqual(comparable(fb)["QUERY_STRING"], "a=1&b=%2F&c")
        self.assertNotIn("HTTP_PROXY", comparable(fb))
        self.assertSameEnv(fb, cb)

    def test_post_with_body(self):
        """Content-Length and Content-Type reach the app as CONTENT_LENGTH
        and CONTENT_TYPE only (RFC 3875 section 4.1.18: the server SHOULD
        remove header fields available in other variables), whichever
        door the request came in by."""
        fb, cb = self.both("POST", "/env?x=1", body=b"k=v&k2=v2",
                           headers={"Content-Type":
                                    "application/x-www-form-urlencoded"})
        f = comparable(fb)
        self.assertEqual(f["CONTENT_LENGTH"], "9")
        self.assertEqual(f["CONTENT_TYPE"],
                         "application/x-www-form-urlencoded")
        self.assertSameEnv(fb, cb)

    def test_same_body(self):
        data = bytes(range(256)) * 400
        fb, cb = self.both("POST", "/echo", body=data)
        self.assertTrue(fb == data and cb == data)


if __name__ == "__main__":
    h.main()
