"""
The Flask and Django examples deployed as the README and conf/ say, for
test_deploy_nginx.py, test_deploy_apache.py and test_deploy_haproxy.py.

bridge is started as root with `--user nobody` (never --allow-root) and
`--wsgi ... --chdir examples/...`; the web server in front runs a
shipped conf/ file with only ports and paths replaced (harness.Nginx,
Apache, Haproxy).  The checks are what a user's first minutes with an
app look like: GET /, a link built by url_for/reverse, a redirect, a
POST, a static file.
"""
import http.cookies
import json
import os
import re
import subprocess
import urllib.parse

import harness as h

EXAMPLES = os.path.join(h.SRCDIR, "examples")
FLASK = os.path.join(EXAMPLES, "flask")
DJANGO = os.path.join(EXAMPLES, "django")
ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                       "python.so")
APPS = {
    "flask": ("main:app", FLASK),
    "django": ("myproject.wsgi:application", DJANGO),
}


class UserBridge:
    """bridge --fastcgi 127.0.0.1:PORT --wsgi APP --chdir DIR --user nobody,
    started as root the way the README says."""

    def __init__(self, testcase, app, extra=()):
        if os.geteuid() != 0:
            testcase.skipTest("needs root: bridge is started as root with "
                              "--user nobody, as the README says")
        if not os.path.exists(ADAPTER):
            testcase.skipTest("Python adapter not built")
        wsgi, chdir = APPS[app]
        self.tmp = h.TempDir(testcase)
        self.port = h.free_port()
        self.addr = ("127.0.0.1", self.port)
        self.log_path = self.tmp.join("bridge.log")
        env = dict(os.environ)
        env.pop("BRIDGE_ALLOW_ROOT", None)
        self.out = open(self.tmp.join("bridge.stdout"), "wb")
        testcase.addCleanup(self.out.close)
        self.proc = subprocess.Popen(
            [h.BRIDGE, "--fastcgi", "127.0.0.1:%d" % self.port,
             "--wsgi", wsgi, "--chdir", chdir, "-w", "2",
             "--user", "nobody", "--error-log", self.log_path]
            + list(extra), stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT, env=env)
        testcase.addCleanup(self.stop, testcase)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)

    def log(self):
        return h.read_text(self.log_path)

    def stop(self, testcase):
        rc = h.stop_process(self.proc)
        testcase.assertEqual(rc, 0, "bridge did not stop cleanly:\n"
                             + self.log())


def get(port, path, method="GET", body=None, headers=None):
    return h.http_request(port, method, path, body=body, headers=headers,
                          timeout=30)


class FlaskChecks:
    """Mixed into a TestCase whose setUp sets self.port (the web server's)
    and self.prefix (where the app is mounted, "" at the root)."""
    prefix = ""

    def url(self, path):
        return self.prefix + path

    def test_flask_root(self):
        st, hd, body = get(self.port, self.url("/"))
        # A split that says nothing made Flask redirect / to itself.
        self.assertEqual((st, body), (200, b"hello world"),
                         "%s %s" % (hd, self.diag()))

    def test_flask_url_for_links(self):
        st, hd, body = get(self.port, self.url("/links"))
        self.assertEqual(st, 200, body + self.diag().encode())
        links = json.loads(body)
        self.assertEqual(links["json"], self.url("/json"))
        self.assertEqual(links["static"], self.url("/static/hello.txt"))
        self.assertEqual(urllib.parse.urlsplit(links["external"]).path,
                         self.url("/"))

    def test_flask_redirect(self):
        st, hd, body = get(self.port, self.url("/go"))
        self.assertIn(st, (301, 302, 303, 307, 308), body)
        loc = urllib.parse.urlsplit(hd["location"])
        self.assertEqual(loc.path, self.url("/json"))
        st, hd, body = get(self.port, loc.path + "?" + loc.query)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["query"], "redirected")

    def test_flask_post_form(self):
        st, hd, body = get(self.port, self.url("/form"), "POST",
                           body=b"name=ada&x=1", headers={
                               "Content-Type":
                               "application/x-www-form-urlencoded"})
        self.assertEqual((st, body), (200, b"hello ada (2 fields)"))

    def test_flask_static_file(self):
        with open(os.path.join(FLASK, "static", "hello.txt"), "rb") as f:
            want = f.read()
        st, hd, body = get(self.port, self.url("/static/hello.txt"))
        self.assertEqual((st, body), (200, want))


class DjangoChecks:
    prefix = ""

    def url(self, path):
        return self.prefix + path

    def test_django_root_and_json(self):
        st, hd, body = get(self.port, self.url("/"))
        self.assertEqual((st, body), (200, b"hello world"))
        # With the whole path as SCRIPT_NAME, Django routed every path
        # to the root view.
        st, hd, body = get(self.port, self.url("/json/?q=x"))
        self.assertEqual(st, 200, body + self.diag().encode())
        self.assertEqual(json.loads(body)["query"], "x")

    def test_django_append_slash_redirect(self):
        st, hd, body = get(self.port, self.url("/json"))
        # Django says 301; HAProxy 2.6's FastCGI client answers a
        # response with a Location as 302 whatever its Status says.
        self.assertIn(st, (301, 302), body)
        self.assertEqual(urllib.parse.urlsplit(hd["location"]).path,
                         self.url("/json/"))

    def test_django_reverse_link_and_csrf_post(self):
        st, hd, body = get(self.port, self.url("/form/"))
        self.assertEqual(st, 200, body)
        # the form's action comes from reverse('form')
        action = re.search(rb'action="([^"]*)"', body).group(1)
        self.assertEqual(action.decode(), self.url("/form/"))
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]*)"',
                          body).group(1).decode()
        cookie = http.cookies.SimpleCookie(hd["set-cookie"])
        st, hd, body = get(self.port, action.decode(), "POST",
                           body=urllib.parse.urlencode({
                               "csrfmiddlewaretoken": token,
                               "name": "ada"}).encode(),
                           headers={"Content-Type":
                                    "application/x-www-form-urlencoded",
                                    "Cookie": "csrftoken=%s"
                                    % cookie["csrftoken"].value})
        self.assertEqual((st, body), (200, b"hello ada"))

    def test_django_download(self):
        with open(os.path.join(DJANGO, "files", "hello.txt"), "rb") as f:
            want = f.read()
        st, hd, body = get(self.port, self.url("/download/hello.txt"))
        self.assertEqual((st, body), (200, want))
