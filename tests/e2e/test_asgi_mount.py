#!/usr/bin/python3
"""
ASGI applications under --mount /app, as Debian 12 ships their frameworks
(Starlette 0.26, FastAPI 0.92, Quart 0.18, Django 3.2): the examples
(examples/asgi) plus a /where route (tests/apps/asgi_mount.py), served by
bridge as root with --user nobody over --http, and over --fastcgi behind
nginx with the shipped conf/nginx-bridge.conf (location / with bridge's
--mount, and the fastcgi_split_path_info variant its comment shows).

Starlette before 0.33 routes on scope["path"] alone and wants it without
root_path; every route of a Starlette or FastAPI application answered 404
under --mount.  Checked per framework: the routes answer under the mount
(the static files too), paths outside it and the mount doubled
(/app/app/...) answer 404, root_path is the mount, and the links the
framework builds carry the prefix once.  Quart and Django take root_path
off path themselves: they must keep getting the whole path (no double
strip).  bridge logs which rule it took, once.
"""
import json
import os
import sys
import subprocess
import unittest
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

EXAMPLES = os.path.abspath(os.path.join(h.SRCDIR, "examples", "asgi"))
APPS = os.path.abspath(os.path.join(h.SRCDIR, "tests", "apps"))
ADAPTER = os.path.join(h.BUILDDIR, "adapters/python/.libs/python.so")
LOGGED = "python: Starlette 0.26"

# nginx's second server (the unix one in the shipped file) turned into
# the split variant the file's last comment shows, on the same bridge.
SPLIT = {
    "    location / {\n        include fastcgi_params;\n"
    "        fastcgi_pass bridge_unix;\n":
    "    location /app/ {\n"
    "        fastcgi_split_path_info ^(/app)(/.*)$;\n"
    "        include fastcgi_params;\n"
    "        fastcgi_param PATH_INFO $fastcgi_path_info;\n"
    "        fastcgi_pass bridge_tcp;\n",
}


def get(port, path):
    st, _, body = h.http_request(port, "GET", path, timeout=30)
    return st, body


class Bridge:
    """bridge FRONT --asgi asgi_mount:NAME --mount /app, as root with
    --user nobody (harness.user_args)."""

    def __init__(self, tc, name, front):
        self.tmp = h.TempDir(tc, "bridge-asgi-mount-")
        self.state = h.TempDir(tc, "bridge-asgi-state-", writable=True)
        self.port = h.free_port()
        self.log_path = self.tmp.join("bridge.log")
        out = open(self.tmp.join("bridge.stdout"), "wb")
        tc.addCleanup(out.close)
        env = dict(os.environ)
        # No --allow-root shortcut from the environment: as root, the
        # workers run as nobody (--user, user_args()), as users run it.
        env.pop("BRIDGE_ALLOW_ROOT", None)
        self.proc = subprocess.Popen(
            [h.BRIDGE, front, "127.0.0.1:%d" % self.port,
             "--asgi", "asgi_mount:" + name, "--chdir", EXAMPLES,
             "--pythonpath", APPS, "--mount", "/app", "-w", "1",
             "--env", "ASGI_EXAMPLE_STATE=" + self.state.path,
             "--error-log", self.log_path] + h.user_args(),
            env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
        tc.addCleanup(h.stop_bridge, self.proc, self.log_path)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)
        if not h.wait_for(lambda: "serving on" in self.log(), 20):
            raise AssertionError("bridge never logged 'serving on':\n"
                                 + self.log())

    def log(self):
        return h.read_text(self.log_path)


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class AsgiMount(unittest.TestCase):
    def serve(self, name, front="--http"):
        """The port to ask (bridge's, or nginx's in front of it), the
        split variant's port (None over --http), and the bridge."""
        b = Bridge(self, name, front)
        if front == "--http":
            return b.port, None, b
        ng = h.Nginx(self, ("127.0.0.1", b.port), "/nonexistent.sock",
                     subs=SPLIT)
        return ng.port, ng.port_unix, b

    def where(self, port, path="/app/where"):
        st, body = get(port, path)
        self.assertEqual(st, 200, body[:500])
        return json.loads(body)

    def check_mounted(self, port, b, static=True):
        """What every framework must do under --mount /app."""
        paths = ["/app/", "/app/headers?q=x"]
        if static:
            paths.append("/app/static/hello.txt")
        for path in paths:
            with self.subTest(path=path):
                st, body = get(port, path)
                self.assertEqual(st, 200, body[:300])
        self.assertEqual(get(port, "/app/")[1], b"hello world")
        self.assertEqual(json.loads(get(port, "/app/headers?q=x")[1])["q"],
                         "x")
        # Outside the mount, and the mount doubled: no route of the
        # application (the prefix is taken off once).
        for path in ("/", "/where", "/other/where", "/app/app/where",
                     "/app/app/headers"):
            with self.subTest(path=path):
                self.assertEqual(get(port, path)[0], 404, b.log()[-2000:])

    def check_starlette(self, name, front):
        port, split, b = self.serve(name, front)
        self.check_mounted(port, b)
        for p in (port, split) if split else (port,):
            w = self.where(p)
            self.assertEqual(w["root_path"], "/app")
            # Starlette 0.26 routes on path: the part under the mount.
            self.assertEqual(w["path"], "/where")
            self.assertTrue(w["url"].endswith("/app/where"), w)
            self.assertNotIn("/app/app", w["url"])
            self.assertTrue(w["link"].endswith("/app/where"), w)
            self.assertNotIn("/app/app", w["link"])
            self.assertTrue(w["static"].endswith("/app/static/hello.txt"),
                            w)
        # Its slash redirects point under the mount, prefix once: /app
        # itself (path "" for Starlette) to /app/.
        for path, to in (("/app", "/app/"), ("/app/where/", "/app/where"),
                         ("/app/static", "/app/static/")):
            with self.subTest(path=path):
                st, hd, _ = h.http_request(port, "GET", path, timeout=30)
                self.assertIn(st, (301, 302, 307, 308))
                # (Debian's fastcgi_params send HTTP_HOST as $host,
                # without the port: the path is what is checked.)
                self.assertEqual(urlsplit(hd["location"]).path, to)
        # Said once (one worker), naming the version and why.
        self.assertEqual(b.log().count(LOGGED), 1, b.log())

    def check_keeps_whole_path(self, name, front):
        """Quart 0.18 and Django take root_path off path themselves
        (Quart answers 404 when path lacks it): path stays whole, the
        ASGI spec's, and nothing is logged."""
        port, split, b = self.serve(name, front)
        # Django's STATIC_URL /static/ is not under the mount: its
        # static files handler answers /static/ only, on any server.
        self.check_mounted(port, b, static=name != "django")
        for p in (port, split) if split else (port,):
            w = self.where(p)
            self.assertEqual(w["root_path"], "/app")
            self.assertEqual(w["path"], "/app/where")
            self.assertEqual(w["link"], "/app/where")
            # Quart 0.18's request.url is root_path + path, the prefix
            # twice, on any server that routes it (Quart's own).
            if name == "quart":
                self.assertEqual(w["static"], "/app/static/hello.txt")
            else:
                self.assertTrue(w["url"].endswith("/app/where"), w)
                self.assertNotIn("/app/app", w["url"])
        self.assertNotIn(LOGGED, b.log())
        return w

    # --- Starlette and FastAPI: every route answered 404 before ---------

    def test_starlette_routes_answer_under_mount_http(self):
        self.check_starlette("starlette", "--http")

    def test_fastapi_routes_answer_under_mount_http(self):
        self.check_starlette("fastapi", "--http")

    def test_starlette_routes_answer_under_mount_behind_nginx(self):
        self.check_starlette("starlette", "--fastcgi")

    def test_fastapi_routes_answer_under_mount_behind_nginx(self):
        self.check_starlette("fastapi", "--fastcgi")

    def test_fastapi_openapi_under_mount(self):
        # The docs page points at the schema under the mount.
        port, _, b = self.serve("fastapi")
        st, body = get(port, "/app/docs")
        self.assertEqual(st, 200, body[:300])
        self.assertIn(b"/app/openapi.json", body)
        st, body = get(port, "/app/openapi.json")
        self.assertEqual(st, 200, body[:300])
        self.assertIn("/where", json.loads(body)["paths"])

    # --- Quart and Django: no double strip -----------------------------

    def test_quart_under_mount_http(self):
        self.check_keeps_whole_path("quart", "--http")

    def test_quart_under_mount_behind_nginx(self):
        self.check_keeps_whole_path("quart", "--fastcgi")

    def test_django_under_mount_http(self):
        w = self.check_keeps_whole_path("django", "--http")
        self.assertEqual((w["script_name"], w["path_info"]),
                         ("/app", "/where"))

    def test_django_under_mount_behind_nginx(self):
        w = self.check_keeps_whole_path("django", "--fastcgi")
        self.assertEqual((w["script_name"], w["path_info"]),
                         ("/app", "/where"))


if __name__ == "__main__":
    h.main()
