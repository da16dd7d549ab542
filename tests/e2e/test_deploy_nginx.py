#!/usr/bin/python3
"""
The Flask and Django examples behind real nginx with Debian's stock
/etc/nginx/fastcgi_params and conf/nginx-bridge.conf as shipped (only
ports and paths replaced), bridge started as root with --user nobody.

nginx's stock params send the whole path as SCRIPT_NAME and an empty
PATH_INFO; before bridge redid that split, Flask answered GET / with a
redirect to / (forever), Django routed every path to its root view and
url_for built links under the request's own path.  Also: the shipped
/static/ location serves the Flask app's static files from disk, an
explicit split (the conf's fastcgi_split_path_info snippet) is kept, and
--mount puts the application under a prefix.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import deploy_harness as d                                      # noqa: E402


class NginxBase(unittest.TestCase):
    app = "flask"
    mount = ()
    split = False

    def setUp(self):
        self.b = d.UserBridge(self, self.app, extra=self.mount)
        subs = {"/srv/app/static/": os.path.join(d.FLASK, "static") + "/"}
        if self.split:
            # The conf's commented /app/ snippet, uncommented, in a
            # server of its own.
            self.split_port = h.free_port()
            subs.update({
                "#   location /app/ {": "server { listen 127.0.0.1:%d; "
                "location /app/ {" % self.split_port,
                "#       fastcgi_split_path_info":
                "fastcgi_split_path_info",
                "#       include fastcgi_params;": "include fastcgi_params;",
                "#       fastcgi_param PATH_INFO": "fastcgi_param PATH_INFO",
                "#       fastcgi_pass bridge_tcp;": "fastcgi_pass bridge_tcp;",
                "#   }": "} }",
            })
        self.nginx = h.Nginx(self, self.b.addr, "/nonexistent.sock",
                             subs=subs)
        self.port = self.split_port if self.split else self.nginx.port
        if self.split:
            h.wait_port("127.0.0.1", self.port)

    def diag(self):
        return "\nbridge:\n%s\nnginx:\n%s" % (self.b.log()[-3000:],
                                              self.nginx.error_log()[-2000:])


class FlaskNginxTest(NginxBase, d.FlaskChecks):
    def test_static_location_serves_from_disk(self):
        with open(os.path.join(d.FLASK, "static", "hello.txt"), "rb") as f:
            want = f.read()
        st, hd, body = d.get(self.port, "/static/hello.txt")
        self.assertEqual((st, body), (200, want))
        # nginx's "expires 1h", not Flask's static route
        self.assertEqual(hd.get("cache-control"), "max-age=3600", hd)
        st, hd, body = d.get(self.port, "/static/missing.txt")
        self.assertEqual(st, 404)


class DjangoNginxTest(NginxBase, d.DjangoChecks):
    app = "django"


class FlaskNginxMountTest(NginxBase, d.FlaskChecks):
    """bridge --mount /app behind the stock location /."""
    mount = ("--mount", "/app")
    prefix = "/app"

    def test_path_outside_mount_is_404(self):
        st, hd, body = d.get(self.port, "/elsewhere")
        self.assertEqual(st, 404, body)


class FlaskNginxSplitTest(NginxBase, d.FlaskChecks):
    """nginx splits the path itself (fastcgi_split_path_info): kept."""
    split = True
    prefix = "/app"     # static: /app/static/... by Flask's own route


class DjangoNginxSplitTest(NginxBase, d.DjangoChecks):
    app = "django"
    split = True
    prefix = "/app"


if __name__ == "__main__":
    h.main()
