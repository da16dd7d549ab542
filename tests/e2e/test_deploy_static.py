#!/usr/bin/python3
"""conf/nginx-bridge.conf as shipped serves the tutorial's static files
(examples/flask/static) itself, from its location /static/, while the
rest goes to bridge over FastCGI; bridge (root, --user nobody) never sees
a /static/ request."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BRIDGE, HERE, PROBE_SO, SRCDIR, TempDir,  # noqa: E402
                     free_port, http_request, read_text, render_conf,
                     require, stop_process, wait_for, wait_port)


class NginxStatic(unittest.TestCase):
    def setUp(self):
        (self.nginx,) = require(self, "nginx")
        self.tmp = TempDir(self)
        t = self.tmp
        self.static = t.join("srv", "static")
        shutil.copytree(os.path.join(SRCDIR, "examples", "flask", "static"),
                        self.static)
        self.bport = free_port()
        self.access = t.join("access.log")
        out = open(t.join("bridge.out"), "wb")
        self.addCleanup(out.close)
        self.bridge = subprocess.Popen(
            [BRIDGE, "--user", "nobody", "--fastcgi",
             "127.0.0.1:%d" % self.bport, "--module", PROBE_SO,
             "--access-log", self.access, "--access-log-format",
             "%(U)s %(s)s", "--error-log", t.join("error.log")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: self.assertEqual(
            stop_process(self.bridge), 0))
        wait_port("127.0.0.1", self.bport, proc=self.bridge)
        # nginx with its own prefix, the shipped file with only ports,
        # addresses and the static directory replaced.
        for d in ("logs", "body", "fastcgi", "proxy", "scgi", "uwsgi"):
            os.makedirs(t.join(d), exist_ok=True)
        shutil.copy("/etc/nginx/fastcgi_params", t.join("fastcgi_params"))
        self.port = free_port()
        render_conf("nginx-bridge.conf", {
            "127.0.0.1:9000": "127.0.0.1:%d" % self.bport,
            "/run/bridge/bridge.sock": t.join("unused.sock"),
            "listen 127.0.0.1:8080;": "listen 127.0.0.1:%d;" % self.port,
            "listen 127.0.0.1:8081;": "listen 127.0.0.1:%d;" % free_port(),
            "/srv/app/static/": self.static + "/",
        }, t.join("bridge.conf"))
        with open(os.path.join(HERE, "nginx-main.conf.in")) as f:
            main = f.read().replace("@PREFIX@", t.path)
        with open(t.join("nginx.conf"), "w") as f:
            f.write(main)
        err = open(t.join("nginx.err"), "wb")
        self.addCleanup(err.close)
        self.proc = subprocess.Popen(
            [self.nginx, "-c", t.join("nginx.conf"), "-p", t.path + "/",
             "-g", "daemon off;"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err)
        self.addCleanup(stop_process, self.proc)
        wait_port("127.0.0.1", self.port, proc=self.proc)

    def test_static_from_nginx_rest_from_bridge(self):
        st, hdrs, body = http_request(self.port, path="/static/hello.txt")
        with open(os.path.join(self.static, "hello.txt"), "rb") as f:
            self.assertEqual((st, body), (200, f.read()))
        self.assertIn("cache-control", hdrs)
        st, _, body = http_request(self.port, path="/env")
        self.assertEqual(st, 200, body)
        self.assertTrue(wait_for(lambda: "/env 200" in
                                 read_text(self.access)))
        self.assertNotIn("/static", read_text(self.access))


if __name__ == "__main__":
    unittest.main()
