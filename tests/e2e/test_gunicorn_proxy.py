#!/usr/bin/python3
"""
Behind nginx proxy_pass, as Gunicorn users deploy: the shipped
conf/nginx-proxy.conf (only its ports changed, and a TLS listener added
beside the plain one) in front of bridge, started with Gunicorn's command
line, serving the example Django project with SECURE_PROXY_SSL_HEADER and
SECURE_SSL_REDIRECT.

The client talks from 127.0.0.2, so that its address differs from
nginx's (127.0.0.1, trusted by the default --forwarded-allow-ips):
- HTTPS through nginx is not redirected, HTTP is (to https://);
- the app and the access log see 127.0.0.2, not nginx's address;
- the same X-Forwarded-*/Forwarded headers sent straight to bridge from
  127.0.0.2 (untrusted) change nothing, and the app does not see them;
  from 127.0.0.1 (trusted) they are believed; sent to nginx, they change
  nothing either (nginx sets or clears each).
"""
import http.client
import importlib.util
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

DJANGO = os.path.join(h.SRCDIR, "examples", "django")
ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                       "python.so")
CLIENT = "127.0.0.2"

SETTINGS = """\
from myproject.settings import *  # noqa: F401,F403

SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')
SECURE_SSL_REDIRECT = True
SECURE_REDIRECT_EXEMPT = [r'^whoami/$']
ROOT_URLCONF = 'proxyurls'
"""

URLS = """\
import json

from django.http import HttpResponse
from django.urls import path

from myproject.urls import urlpatterns as base


def whoami(request):
    m = request.META
    return HttpResponse(json.dumps({
        'remote_addr': m.get('REMOTE_ADDR'),
        'secure': request.is_secure(),
        'scheme': m.get('wsgi.url_scheme'),
        'host': request.get_host(),
        'server_port': m.get('SERVER_PORT'),
        'proxy_headers': sorted(k for k in m if k.startswith(
            ('HTTP_X_FORWARDED', 'HTTP_FORWARDED'))),
    }), content_type='application/json')


urlpatterns = base + [path('whoami/', whoami)]
"""

SPOOF = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9",
         "X-Forwarded-Host": "evil.example",
         "Forwarded": "for=203.0.113.9;proto=https;host=evil.example"}


def make_cert(d):
    key, crt = os.path.join(d, "n.key"), os.path.join(d, "n.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-keyout", key, "-out", crt, "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


class DjangoBehindNginx(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if importlib.util.find_spec("django") is None:
            raise unittest.SkipTest("python3-django not installed")
        if not os.path.exists(ADAPTER):
            raise unittest.SkipTest("Python adapter not built")
        for prog in ("nginx", "openssl"):
            if h.which(prog) is None:
                raise unittest.SkipTest(prog + " not installed")
        scope = Scope(cls)
        cls.tmp = t = h.TempDir(scope, "bridge-gproxy-")
        with open(t.join("proxysettings.py"), "w") as f:
            f.write(SETTINGS)
        with open(t.join("proxyurls.py"), "w") as f:
            f.write(URLS)
        cls.start_bridge(t)
        cls.start_nginx(t)

    @classmethod
    def start_bridge(cls, t):
        cls.bport = h.free_port()
        cls.access = t.join("access.log")
        cls.errlog = t.join("error.log")
        # Gunicorn's command line; -u nobody because the suite runs as
        # root, where bridge refuses to run the application as root.
        args = [h.BRIDGE, "-w", "2", "-b", "127.0.0.1:%d" % cls.bport,
                "--chdir", DJANGO, "--pythonpath", t.path,
                "-e", "DJANGO_SETTINGS_MODULE=proxysettings",
                "--access-logfile", cls.access, "--error-logfile",
                cls.errlog, "--log-level", "debug",
                "myproject.wsgi:application"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env.pop("FORWARDED_ALLOW_IPS", None)
        env.pop("BRIDGE_ALLOW_ROOT", None)
        cls.bridge = subprocess.Popen(args, env=env,
                                      stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        cls.addClassCleanup(h.stop_process, cls.bridge)
        h.wait_port("127.0.0.1", cls.bport, proc=cls.bridge)
        if not h.wait_for(lambda: "serving on" in h.read_text(cls.errlog),
                          10):
            raise AssertionError(h.read_text(cls.errlog))

    @classmethod
    def start_nginx(cls, t):
        crt, key = make_cert(t.path)
        cls.port = h.free_port()
        cls.tls_port = h.free_port()
        for d in ("logs", "body", "fastcgi", "proxy", "scgi", "uwsgi"):
            os.makedirs(t.join(d), exist_ok=True)
        h.render_conf("nginx-proxy.conf", {
            "server 127.0.0.1:8000;": "server 127.0.0.1:%d;" % cls.bport,
            "listen 127.0.0.1:8080;":
                "listen 127.0.0.1:%d;\n    listen 127.0.0.1:%d ssl;\n"
                "    ssl_certificate %s;\n    ssl_certificate_key %s;"
                % (cls.port, cls.tls_port, crt, key),
        }, t.join("bridge.conf"))
        with open(os.path.join(h.HERE, "nginx-main.conf.in")) as f:
            main = f.read().replace("@PREFIX@", t.path)
        if os.geteuid() != 0:
            main = re.sub(r"(?m)^user .*$", "", main)
        with open(t.join("nginx.conf"), "w") as f:
            f.write(main)
        cls.nginx = subprocess.Popen(
            [h.which("nginx"), "-c", t.join("nginx.conf"), "-p",
             t.path + "/", "-g", "daemon off;"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.addClassCleanup(h.stop_process, cls.nginx, signal.SIGQUIT)
        h.wait_port("127.0.0.1", cls.port, proc=cls.nginx)
        h.wait_port("127.0.0.1", cls.tls_port, proc=cls.nginx)

    def get(self, port, path, headers=None, tls=False, source=CLIENT):
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = http.client.HTTPSConnection(
                "127.0.0.1", port, timeout=20, context=ctx,
                source_address=(source, 0))
        else:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20,
                                           source_address=(source, 0))
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.getheader("Location"), r.read()
        finally:
            c.close()

    def whoami(self, *a, **kw):
        st, _, body = self.get(*a, **kw)
        self.assertEqual(st, 200, body[:300])
        return json.loads(body)

    def access_lines(self, path):
        return [line for line in h.read_text(self.access).splitlines()
                if (" %s " % path) in line]

    def test_https_through_nginx_is_not_redirected(self):
        st, loc, body = self.get(self.tls_port, "/json/", tls=True)
        self.assertEqual(st, 200, (loc, body[:300]))
        self.assertIs(json.loads(body)["secure"], True)
        me = self.whoami(self.tls_port, "/whoami/", tls=True)
        self.assertEqual((me["scheme"], me["secure"]), ("https", True))
        self.assertEqual(me["server_port"], "443")

    def test_http_through_nginx_is_redirected_to_https(self):
        st, loc, _ = self.get(self.port, "/json/")
        self.assertEqual(st, 301)
        self.assertEqual(loc, "https://127.0.0.1/json/")
        me = self.whoami(self.port, "/whoami/")
        self.assertEqual((me["scheme"], me["secure"]), ("http", False))

    def test_client_address_in_app_and_access_log(self):
        me = self.whoami(self.port, "/whoami/?through=nginx")
        self.assertEqual(me["remote_addr"], CLIENT)
        me = self.whoami(self.tls_port, "/whoami/?through=tls", tls=True)
        self.assertEqual(me["remote_addr"], CLIENT)
        for q in ("nginx", "tls"):
            ok = h.wait_for(lambda: self.access_lines(
                "/whoami/?through=" + q), 5)
            self.assertTrue(ok, h.read_text(self.access))
            line = self.access_lines("/whoami/?through=" + q)[-1]
            self.assertTrue(line.startswith(CLIENT + " "), line)

    def test_client_headers_through_nginx_change_nothing(self):
        """A client sends the proxy headers to nginx: nginx appends to
        X-Forwarded-For, sets X-Forwarded-Proto and -Host and clears
        Forwarded and X-Forwarded-Port (conf/nginx-proxy.conf), so the
        app still sees the client's own address, scheme and host."""
        spoof = dict(SPOOF, **{"X-Forwarded-Port": "443",
                               "X-Forwarded-Ssl": "on"})
        st, loc, _ = self.get(self.port, "/json/", headers=spoof)
        self.assertEqual((st, loc), (301, "https://127.0.0.1/json/"))
        me = self.whoami(self.port, "/whoami/", headers=spoof)
        self.assertEqual((me["remote_addr"], me["secure"], me["scheme"],
                          me["host"], me["server_port"]),
                         (CLIENT, False, "http", "127.0.0.1",
                          str(self.bport)))

    def test_untrusted_client_headers_change_nothing(self):
        """Straight to bridge from 127.0.0.2, not in the default
        --forwarded-allow-ips: the proxy headers are dropped."""
        plain = self.get(self.bport, "/json/")
        spoofed = self.get(self.bport, "/json/", headers=SPOOF)
        self.assertEqual(plain[0], 301)
        self.assertEqual(spoofed[:2], plain[:2])
        self.assertEqual(spoofed[1], "https://127.0.0.1:%d/json/"
                         % self.bport)
        me = self.whoami(self.bport, "/whoami/?spoof=1", headers=SPOOF)
        self.assertEqual(me, {
            "remote_addr": CLIENT, "secure": False, "scheme": "http",
            "host": "127.0.0.1:%d" % self.bport,
            "server_port": str(self.bport), "proxy_headers": []})
        ok = h.wait_for(lambda: self.access_lines("/whoami/?spoof=1"), 5)
        self.assertTrue(ok, h.read_text(self.access))
        line = self.access_lines("/whoami/?spoof=1")[-1]
        self.assertTrue(line.startswith(CLIENT + " "), line)
        self.assertTrue(h.wait_for(lambda: re.search(
            r"proxy headers from 127\.0\.0\.2 ignored",
            h.read_text(self.errlog)), 5), h.read_text(self.errlog))

    def test_trusted_address_is_believed(self):
        """The same headers from 127.0.0.1 (trusted by default): the
        client, scheme and host they name reach the app."""
        me = self.whoami(self.bport, "/whoami/", headers=SPOOF,
                         source="127.0.0.1")
        self.assertEqual((me["remote_addr"], me["secure"], me["scheme"],
                          me["host"], me["server_port"]),
                         ("203.0.113.9", True, "https", "evil.example",
                          "443"))
        st, _, _ = self.get(self.bport, "/json/", headers=SPOOF,
                            source="127.0.0.1")
        self.assertEqual(st, 200)


class Scope:
    """What TempDir asks of a testcase, for a class-wide directory."""

    def __init__(self, cls):
        self.cls = cls

    def addCleanup(self, fn, *a, **kw):
        self.cls.addClassCleanup(fn, *a, **kw)


if __name__ == "__main__":
    h.main()
