#!/usr/bin/python3
"""
HAProxy fcgi-app -> bridge, using conf/haproxy-bridge.cfg as shipped
(option get-values, option mpxs-conns, option keep-conn): 50 concurrent
requests all answered, with bridge multiplexing and with
--fastcgi-max-reqs 1.
"""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

N = 50


class HaproxyTest(unittest.TestCase):
    extra = []

    def setUp(self):
        h.require(self, "haproxy")
        self.b = h.Bridge(self, workers=2, extra=self.extra)
        self.hp = h.Haproxy(self, self.b.addr)

    def test_get_env(self):
        st, hd, body = h.http_request(self.hp.port, "GET", "/env?k=v",
                                      headers={"X-Hp": "1",
                                               "Proxy": "http://evil:1"})
        self.assertEqual(st, 200, body)
        env = h.parse_env(body)
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["QUERY_STRING"], "k=v")
        self.assertEqual(env["HTTP_X_HP"], "1")
        self.assertNotIn("HTTP_PROXY", env)

    def test_concurrent(self):
        results = [None] * N

        def one(i):
            try:
                path = "/sleep?50" if i % 5 == 0 else "/echo"
                body = ("request %d " % i).encode() * 100
                st, hd, got = h.http_request(self.hp.port, "POST", path,
                                             body=body, timeout=20)
                want = b"slept\n" if i % 5 == 0 else body
                results[i] = (st, got == want)
            except Exception as e:              # noqa: B902
                results[i] = repr(e)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(N)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(results, [(200, True)] * N)

    def test_big(self):
        st, hd, body = h.http_request(self.hp.port, "GET", "/big?2000000",
                                      timeout=30)
        self.assertEqual((st, len(body)), (200, 2000000))

    def test_errors(self):
        self.assertEqual(h.http_request(self.hp.port, "GET", "/fail")[0],
                         500)
        self.assertEqual(h.http_request(self.hp.port, "GET", "/replace")[0],
                         503)


class HaproxyNoMpxTest(HaproxyTest):
    """bridge answers FCGI_MPXS_CONNS=0: HAProxy must not multiplex (a
    second request on a busy connection would get FCGI_CANT_MPX_CONN,
    seen by the client as a 5xx)."""
    extra = ["--fastcgi-max-reqs", "1"]


if __name__ == "__main__":
    h.main()
