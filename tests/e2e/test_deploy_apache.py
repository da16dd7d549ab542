#!/usr/bin/python3
"""
The Flask and Django examples behind Apache httpd with
conf/apache-bridge.conf as shipped (ProxyPass "/" "fcgi://...", only the
bridge address replaced), bridge started as root with --user nobody.

mod_proxy_fcgi sends the whole path as SCRIPT_NAME and no PATH_INFO;
before bridge redid that split, Flask answered GET / with a redirect to
/ (forever) and Django routed every path to its root view.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import deploy_harness as d                                      # noqa: E402

MODULES = ("mpm_event", "proxy", "proxy_fcgi")


class ApacheBase(unittest.TestCase):
    app = "flask"

    def setUp(self):
        h.require(self, "apache2")
        self.b = d.UserBridge(self, self.app)
        tmp = h.TempDir(self, "bridge-apache-")
        text = h.render_conf("apache-bridge.conf", {
            "127.0.0.1:9000": "%s:%d" % self.b.addr}, tmp.join("site.conf"))
        self.apache = h.Apache(self, text, tmp=tmp, modules=MODULES)
        self.port = self.apache.port

    def diag(self):
        return "\nbridge:\n%s\napache:\n%s" % (
            self.b.log()[-3000:], self.apache.error_log()[-2000:])


class FlaskApacheTest(ApacheBase, d.FlaskChecks):
    pass


class DjangoApacheTest(ApacheBase, d.DjangoChecks):
    app = "django"


if __name__ == "__main__":
    h.main()
