#!/usr/bin/python3
"""
The ASGI compatibility grid: each example under examples/asgi/
(Starlette 0.26, FastAPI 0.92, Quart 0.18, Django 3.2 from Debian) runs on
uvicorn (Debian's, the reference) and on bridge --asgi (HTTP listener, as
root with --user nobody, 2 workers; once with its default event loop, once
with --asgi-loop uvloop) side by side; the same requests go to
both (asgi_grid.py: hello, HEAD, JSON echo, a chunked request body,
multipart upload, streaming, a background task, lifespan startup and
shutdown, StaticFiles, sleeps, 404, headers and query, a 500, keep-alive,
pipelining).  The grid is printed; every
row uvicorn passes must pass on bridge, and uvicorn must pass every row
the application has (else the example itself is broken).

FastAPI also runs behind nginx over FastCGI (conf/nginx-bridge.conf as
shipped, fastcgi_keep_conn on; /static/ from disk by nginx).

A bridge without --asgi (the adapter not merged yet) fails every case.
Development switch, not for CI: ASGI_GRID_UVICORN_ONLY=1 runs only the
uvicorn column (to work on the examples and rows alone).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import asgi_grid as g                                           # noqa: E402

UVICORN_ONLY = os.environ.get("ASGI_GRID_UVICORN_ONLY") == "1"

def _require_uvicorn(tc):
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        if h.REQUIRE_PEERS:
            tc.fail("python3-uvicorn not installed (tests/deps.sh)")
        tc.skipTest("python3-uvicorn not installed")


class GridBase(unittest.TestCase):
    app = None

    def setUp(self):
        _require_uvicorn(self)
        if os.geteuid() != 0:
            self.skipTest("needs root: bridge is started as root with "
                          "--user nobody")

    def run_server(self, cls, spec, prefix, na, **kw):
        """Start cls, run the rows, stop it: {row: None | reason}, or a
        string when it would not start."""
        try:
            srv = cls(self, spec, **kw)
        except (AssertionError, OSError) as e:
            return "did not start: %s" % str(e).splitlines()[0], None
        port = getattr(srv, "front_port", srv.port)
        res = g.run_rows(srv, port, skip=na)
        if "shutdown" not in na:
            res["shutdown"] = g.check_shutdown(srv, prefix, srv.workers)
        else:
            srv.stop()
        return res, srv

    def grid(self):
        spec, na, prefix = g.APPS[self.app]
        results, logs = {}, {}
        results["uvicorn"], srv = self.run_server(g.Uvicorn, spec, prefix,
                                                  na)
        logs["uvicorn"] = srv.log() if srv else ""
        bridges = {"bridge": ("--asgi-loop", "asyncio"),
                   "bridge uvloop": ("--asgi-loop", "uvloop")}
        for name, extra in bridges.items():
            if UVICORN_ONLY:
                results[name] = "ASGI_GRID_UVICORN_ONLY=1"
            elif not g.bridge_has_asgi():
                results[name] = "--asgi not available"
            else:
                results[name], srv = self.run_server(g.BridgeAsgi, spec,
                                                     prefix, na, extra=extra)
                logs[name] = srv.log() if srv else ""
        sys.stdout.write(g.grid_text(self.app, ["uvicorn"] + list(bridges),
                                     results, na))
        sys.stdout.flush()
        uv = results["uvicorn"]
        self.assertIsInstance(uv, dict, uv)
        broken = {r: why for r, why in uv.items() if why}
        self.assertEqual(broken, {}, "the example fails on uvicorn; its "
                         "log:\n" + logs["uvicorn"][-3000:])
        if UVICORN_ONLY:
            return
        for name in bridges:
            br = results[name]
            self.assertIsInstance(br, dict, "%s: %s" % (name, br))
            failed = {r: br.get(r, "not run") for r in uv
                      if br.get(r, "not run")}
            self.assertEqual(failed, {}, "rows uvicorn passes and %s does "
                             "not; its log:\n%s" % (name,
                                                    logs[name][-4000:]))


class StarletteGrid(GridBase):
    app = "starlette"

    def test_starlette_rows_pass_on_bridge_as_on_uvicorn(self):
        self.grid()


class FastAPIGrid(GridBase):
    app = "fastapi"

    def test_fastapi_rows_pass_on_bridge_as_on_uvicorn(self):
        self.grid()


class QuartGrid(GridBase):
    app = "quart"

    def test_quart_rows_pass_on_bridge_as_on_uvicorn(self):
        self.grid()


class DjangoGrid(GridBase):
    app = "django"

    def test_django_rows_pass_on_bridge_as_on_uvicorn(self):
        self.grid()


class FastCgiAsgi(g.BridgeAsgi):
    """bridge --fastcgi --asgi behind nginx with the shipped
    conf/nginx-bridge.conf (fastcgi_keep_conn on, keepalive upstream);
    nginx serves /static/ from examples/asgi/static itself."""
    name = "bridge+nginx"

    def __init__(self, testcase, app):
        super().__init__(testcase, app, front="--fastcgi")
        self.nginx = h.Nginx(testcase, self.addr, "/nonexistent.sock", subs={
            "/srv/app/static/": os.path.join(g.EXAMPLES, "static") + "/"})
        self.front_port = self.nginx.port

    def log(self):
        return super().log() + "\nnginx:\n" + self.nginx.error_log()[-2000:] \
            if hasattr(self, "nginx") else super().log()


class FastAPINginxFastCgi(GridBase):
    """FastAPI behind nginx over FastCGI: the rows uvicorn passes on its
    own must pass through nginx and bridge (Flask's deploy checks, for an
    ASGI application)."""

    def nginx_grid(self):
        spec, na, prefix = g.APPS["fastapi"]
        results = {}
        results["uvicorn"], srv = self.run_server(g.Uvicorn, spec, prefix,
                                                  na)
        if UVICORN_ONLY:
            self.skipTest("ASGI_GRID_UVICORN_ONLY=1")
        if not g.bridge_has_asgi():
            results["bridge+nginx"] = "--asgi not available"
            log = ""
        else:
            results["bridge+nginx"], srv = self.run_server(
                FastCgiAsgi, spec, prefix, na)
            log = srv.log() if srv else ""
        sys.stdout.write(g.grid_text("fastapi behind nginx (FastCGI)",
                                     ["uvicorn", "bridge+nginx"],
                                     results, na))
        sys.stdout.flush()
        uv, br = results["uvicorn"], results["bridge+nginx"]
        self.assertIsInstance(uv, dict, uv)
        self.assertIsInstance(br, dict, "bridge+nginx: %s" % br)
        failed = {r: br.get(r, "not run") for r in uv
                  if not uv[r] and br.get(r, "not run")}
        self.assertEqual(failed, {}, "rows uvicorn passes and bridge behind "
                         "nginx does not; logs:\n" + log[-4000:])

    def test_fastapi_behind_nginx_fastcgi(self):
        self.nginx_grid()


if __name__ == "__main__":
    h.main()
