#!/usr/bin/python3
"""
The Flask and Django examples behind HAProxy's own FastCGI client with
conf/haproxy-bridge.cfg as shipped (only ports replaced), bridge started
as root with --user nobody.

HAProxy's fcgi-app sends the whole (decoded, not normalized) path as
SCRIPT_NAME and an empty PATH_INFO; before bridge redid that split,
Flask answered GET / with a redirect to / and Django routed every path
to its root view.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import deploy_harness as d                                      # noqa: E402


class HaproxyBase(unittest.TestCase):
    app = "flask"

    def setUp(self):
        h.require(self, "haproxy")
        self.b = d.UserBridge(self, self.app)
        self.haproxy = h.Haproxy(self, self.b.addr)
        self.port = self.haproxy.port

    def diag(self):
        return "\nbridge:\n%s" % self.b.log()[-3000:]


class FlaskHaproxyTest(HaproxyBase, d.FlaskChecks):
    pass


class DjangoHaproxyTest(HaproxyBase, d.DjangoChecks):
    app = "django"


if __name__ == "__main__":
    h.main()
