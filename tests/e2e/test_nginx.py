#!/usr/bin/python3
"""
nginx -> bridge over FastCGI, using conf/nginx-bridge.conf as shipped:
fastcgi_pass over TCP (port A) and a unix socket (port B), both with
fastcgi_keep_conn on and upstream keepalive 8.
"""
import http.client
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402


def tcp_states(port):
    """Counts of TCP states of sockets whose local port is port."""
    counts = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    lport = int(fields[1].rsplit(":", 1)[1], 16)
                    if lport == port:
                        counts[fields[3]] = counts.get(fields[3], 0) + 1
        except OSError:
            pass
    return counts


class NginxTest(unittest.TestCase):
    workers = 2

    def setUp(self):
        h.require(self, "nginx")
        tmp = h.TempDir(self)
        self.tcp = h.Bridge(self, workers=self.workers, tmp=tmp)
        utmp = h.TempDir(self)
        # nginx's workers are not bridge's user: open the socket to them
        self.unix = h.Bridge(self, workers=self.workers, unix=True,
                             tmp=utmp, extra=["--socket-mode", "0666"])
        self.ngx = h.Nginx(self, self.tcp.addr, self.unix.addr)
        self.ports = {"tcp": self.ngx.port, "unix": self.ngx.port_unix}

    def each(self):
        for name, port in self.ports.items():
            with self.subTest(front=name):
                yield name, port

    def test_env(self):
        for name, port in self.each():
            st, hd, body = h.http_request(port, "GET", "/env?a=1&b=%20x",
                                          headers={"X-Custom": "yes"})
            self.assertEqual(st, 200, body)
            env = h.parse_env(body)
            self.assertEqual(env["REQUEST_METHOD"], "GET")
            self.assertEqual(env["QUERY_STRING"], "a=1&b=%20x")
            # conf/nginx-bridge.conf mounts the app at "/" (the last of
            # repeated params wins): SCRIPT_NAME "" and the path in
            # PATH_INFO, as WSGI apps route.
            self.assertEqual(env["SCRIPT_NAME"], "")
            self.assertEqual(env["PATH_INFO"], "/env")
            self.assertEqual(env["REQUEST_URI"], "/env?a=1&b=%20x")
            self.assertEqual(env["HTTP_HOST"], "127.0.0.1")
            self.assertEqual(env["HTTP_X_CUSTOM"], "yes")
            self.assertEqual(env["GATEWAY_INTERFACE"], "CGI/1.1")
            self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
            self.assertEqual(env["SERVER_PORT"], str(port))
            names = [l.split("=", 1)[0]
                     for l in body.decode().splitlines()]
            self.assertEqual(len(names), len(set(names)),
                             "a variable arrived twice: %s" % names)

    def test_post_echo_1mib(self):
        data = os.urandom(1 << 20)
        for name, port in self.each():
            st, hd, body = h.http_request(
                port, "POST", "/echo", body=data,
                headers={"Content-Type": "application/octet-stream"},
                timeout=30)
            self.assertEqual(st, 200)
            self.assertEqual(hd.get("content-length"), str(len(data)))
            self.assertTrue(body == data, "1 MiB body changed on the way")

    def test_big_response(self):
        for name, port in self.each():
            st, hd, body = h.http_request(port, "GET", "/big?3000000",
                                          timeout=30)
            self.assertEqual(st, 200)
            self.assertEqual(len(body), 3000000)

    def test_proxy_header_not_http_proxy(self):
        for name, port in self.each():
            st, hd, body = h.http_request(port, "GET", "/env", headers={
                "Proxy": "http://evil.example:3128"})
            self.assertEqual(st, 200)
            self.assertNotIn(b"HTTP_PROXY", body)
            self.assertNotIn(b"evil.example", body)

    def test_app_errors_through_nginx(self):
        for name, port in self.each():
            self.assertEqual(h.http_request(port, "GET", "/fail")[0], 500)
            self.assertEqual(h.http_request(port, "GET", "/nostart")[0],
                             502)
            self.assertEqual(h.http_request(port, "GET", "/replace")[0],
                             503)
            st, hd, body = h.http_request(port, "GET", "/badheader")
            self.assertEqual(st, 500)
            self.assertNotIn("injected", hd)

    def test_200_sequential_keep_conn(self):
        for name, port in self.each():
            conn = http.client.HTTPConnection("127.0.0.1", port,
                                              timeout=h.TIMEOUT)
            try:
                for i in range(200):
                    st, hd, body = h.http_request(
                        port, "POST", "/echo?%d" % i, conn=conn,
                        body=("request %d" % i).encode())
                    self.assertEqual((st, body),
                                     (200, ("request %d" % i).encode()))
            finally:
                conn.close()
        # Keep-conn means bridge never closed those connections: no
        # TIME_WAIT piles up on bridge's port (bridge would close first
        # without FCGI_KEEP_CONN).
        states = tcp_states(self.tcp.port)
        self.assertLess(states.get("06", 0), 10,
                        "bridge closed its FastCGI connections: %s" % states)
        self.assertFalse("connection closed" in self.tcp.log(),
                         self.tcp.log())

    def test_crash_502_others_served(self):
        port = self.ports["tcp"]
        time.sleep(1.1)          # past the master's quick-death window
        results = {}

        def sleeper(i):
            try:
                results[i] = h.http_request(port, "GET", "/sleep?800",
                                            timeout=10)[0]
            except Exception as e:              # noqa: B902
                results[i] = repr(e)
        t = threading.Thread(target=sleeper, args=(0,))
        t.start()
        # worker 1 is now busy sleeping: the crash lands on the other one
        time.sleep(0.3)
        st, hd, body = h.http_request(port, "GET", "/crash", timeout=10)
        t.join(10)
        self.assertEqual(st, 502)
        self.assertEqual(results[0], 200)
        self.tcp.wait_log(r"killed by signal 11")
        # after the respawn, concurrent requests are all served
        time.sleep(0.3)
        ts = [threading.Thread(target=sleeper, args=(i,))
              for i in range(1, 5)]
        for x in ts:
            x.start()
        for x in ts:
            x.join(15)
        self.assertEqual([results[i] for i in range(1, 5)], [200] * 4)


if __name__ == "__main__":
    h.main()
