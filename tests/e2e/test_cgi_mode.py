#!/usr/bin/python3
"""
bridge as a CGI program (RFC 3875): under Apache mod_cgi through a
wrapper script, and directly with an exact CGI environment.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

APACHE_CGI_MODULES = ("mpm_prefork", "cgi", "alias", "env")


def cgi_wrapper(tmp):
    """tmp/cgi-bin/probe.cgi: exec bridge in CGI mode."""
    os.makedirs(tmp.join("cgi-bin"), exist_ok=True)
    path = tmp.join("cgi-bin", "probe.cgi")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec '%s' --module '%s'\n"
                % (h.BRIDGE, h.PROBE_SO))
    os.chmod(path, 0o755)
    return path


def start_apache_cgi(tc):
    """Apache serving every path through bridge in CGI mode."""
    h.require(tc, "apache2")
    tmp = h.TempDir(tc, "bridge-apache-cgi-")
    cgi_wrapper(tmp)
    with open(os.path.join(h.HERE, "apache-cgi.conf.in")) as f:
        site = f.read().replace("@PREFIX@", tmp.path)
    return h.Apache(tc, site, tmp=tmp, modules=APACHE_CGI_MODULES)


def run_cgi(env, body=b"", args=(), allow_root=True):
    """bridge as a CGI program: (exit status, stdout, stderr).  The
    environment is exactly env: as root (CI), with --user nobody, as the
    README says; allow_root=False: neither flag (the refusal)."""
    if allow_root:
        args = h.user_args() + list(args)
    p = subprocess.run([h.BRIDGE, "--module", h.PROBE_SO] + list(args),
                       env=env, input=body, capture_output=True,
                       timeout=h.TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def base_env(method="GET", uri="/env", body=None):
    path, _, query = uri.partition("?")
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
           "REQUEST_METHOD": method, "REQUEST_URI": uri,
           "SCRIPT_NAME": path, "QUERY_STRING": query,
           "SERVER_NAME": "localhost", "SERVER_PORT": "80",
           "SERVER_SOFTWARE": "test", "REMOTE_ADDR": "127.0.0.1",
           "HTTP_HOST": "localhost", "PATH": "/usr/bin:/bin",
           "HOME": "/root", "LD_LIBRARY_PATH": "/nonexistent",
           "SECRET_TOKEN": "do-not-leak"}
    if body is not None:
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "text/plain"
    return env


def parse_cgi(out):
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError("no CGI header block in %r" % out[:300])
    hd = {}
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        hd[k.strip().decode().lower()] = v.strip().decode()
    return int(hd.get("status", "200").split()[0]), hd, body


class ApacheCgiTest(unittest.TestCase):
    def setUp(self):
        self.apache = start_apache_cgi(self)
        self.port = self.apache.port

    def test_env(self):
        st, hd, body = h.http_request(self.port, "GET", "/env?q=1",
                                      headers={"X-Cgi": "yes"})
        self.assertEqual(st, 200, self.apache.error_log())
        env = h.parse_env(body)
        self.assertEqual(env["GATEWAY_INTERFACE"], "CGI/1.1")
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["QUERY_STRING"], "q=1")
        self.assertEqual(env["HTTP_X_CGI"], "yes")
        # Apache gives CGI programs PATH and its own settings; they are
        # not request variables
        for name in ("PATH", "LD_LIBRARY_PATH", "APACHE_RUN_DIR"):
            self.assertNotIn(name, env)

    def test_post_echo(self):
        data = os.urandom(200000)
        st, hd, body = h.http_request(self.port, "POST", "/echo", body=data,
                                      timeout=20)
        self.assertEqual(st, 200, hd)
        self.assertEqual(len(body), len(data), hd)
        self.assertTrue(body == data)

    def test_errors(self):
        self.assertEqual(h.http_request(self.port, "GET", "/fail")[0], 500)
        self.assertEqual(h.http_request(self.port, "GET", "/nostart")[0],
                         502)
        self.assertEqual(h.http_request(self.port, "GET", "/replace")[0],
                         503)

    def test_proxy_header(self):
        st, hd, body = h.http_request(self.port, "GET", "/env", headers={
            "Proxy": "http://evil.example:1", "X-Other": "kept"})
        self.assertEqual(st, 200)
        seen = h.parse_env(body)
        self.assertEqual(seen.get("HTTP_X_OTHER"), "kept", seen)
        self.assertNotIn("HTTP_PROXY", seen)


class DirectCgiTest(unittest.TestCase):
    @unittest.skipUnless(os.geteuid() == 0, "the refusal applies to root")
    def test_root_refused(self):
        """Started as root by a web server, bridge does not run the
        application: nothing on stdout (the server answers 500), one line
        on stderr (the server's error log)."""
        rc, out, err = run_cgi(base_env("GET", "/env"), allow_root=False)
        self.assertEqual(rc, 1)
        self.assertEqual(out, b"")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(b"refusing to run the application as root", err)

    def test_env_only_request_vars(self):
        rc, out, err = run_cgi(base_env("GET", "/env?a=1"))
        self.assertEqual(rc, 0, err)
        st, hd, body = parse_cgi(out)
        self.assertEqual(st, 200)
        env = h.parse_env(body)
        self.assertEqual(env["QUERY_STRING"], "a=1")
        self.assertEqual(env["SERVER_SOFTWARE"], "test")
        for name in ("PATH", "HOME", "LD_LIBRARY_PATH", "SECRET_TOKEN"):
            self.assertNotIn(name, env)

    def test_post_echo(self):
        data = b"line one\nline two\x00\xff" * 1000
        rc, out, err = run_cgi(base_env("POST", "/echo", data), data)
        self.assertEqual(rc, 0, err)
        st, hd, body = parse_cgi(out)
        self.assertEqual((st, body), (200, data))

    def test_reads_only_content_length(self):
        """RFC 3875 section 4.2: the body is CONTENT_LENGTH bytes; more on
        stdin is not the request's."""
        env = base_env("POST", "/echo", b"12345")
        rc, out, err = run_cgi(env, b"12345EXTRA")
        self.assertEqual(parse_cgi(out)[2], b"12345")

    def test_no_content_length_no_body(self):
        rc, out, err = run_cgi(base_env("POST", "/echo"), b"ignored")
        self.assertEqual(parse_cgi(out)[:3:2], (200, b""))

    def test_bad_content_length_400(self):
        env = base_env("POST", "/echo", b"x")
        env["CONTENT_LENGTH"] = "1x"
        rc, out, err = run_cgi(env, b"x")
        self.assertEqual(parse_cgi(out)[0], 400)

    def test_body_over_max_413(self):
        data = b"y" * 5000
        rc, out, err = run_cgi(base_env("POST", "/echo", data), data,
                               ["--max-body", "1k"])
        self.assertEqual(parse_cgi(out)[0], 413)

    def test_httpoxy(self):
        env = base_env("GET", "/env")
        env["HTTP_PROXY"] = "http://evil:1"
        env["HTTP_X_OTHER"] = "kept"
        rc, out, err = run_cgi(env)
        self.assertEqual(rc, 0, err)
        st, _, body = parse_cgi(out)
        self.assertEqual(st, 200, out)
        seen = h.parse_env(body)
        # The application saw the request's other fields, not Proxy.
        self.assertEqual(seen.get("HTTP_X_OTHER"), "kept", seen)
        self.assertNotIn("HTTP_PROXY", seen)

    def test_app_errors(self):
        for uri, want in (("/fail", 500), ("/nostart", 502),
                          ("/replace", 503), ("/badheader", 500)):
            rc, out, err = run_cgi(base_env("GET", uri))
            self.assertEqual(parse_cgi(out)[0], want, uri)
        rc, out, err = run_cgi(base_env("GET", "/badheader"))
        self.assertNotIn(b"Injected", out)
        self.assertIn(b"CR, LF", err)

    def test_big(self):
        rc, out, err = run_cgi(base_env("GET", "/big?3000000"))
        self.assertEqual(rc, 0)
        self.assertEqual(len(parse_cgi(out)[2]), 3000000)


if __name__ == "__main__":
    h.main()
