#!/usr/bin/python3
"""
libfcgi's peers against bridge: cgi-fcgi (the FastCGI client that runs as
a CGI program) and spawn-fcgi (which hands bridge its listening socket on
fd 0).
"""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402


def cgi_env(method, uri, body=None, extra=None):
    path, _, query = uri.partition("?")
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method,
           "REQUEST_URI": uri, "SCRIPT_NAME": path, "QUERY_STRING": query,
           "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost",
           "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1",
           "HTTP_HOST": "localhost", "PATH": "/usr/bin:/bin"}
    if body is not None:
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "application/octet-stream"
    env.update(extra or {})
    return env


def parse_cgi(out):
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError("no CGI header block in %r" % out[:300])
    hd = {}
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        hd[k.strip().decode().lower()] = v.strip().decode()
    return int(hd.get("status", "200").split()[0]), hd, body


def cgi_fcgi(tc, addr, method, uri, body=None, extra=None):
    (prog,) = h.require(tc, "cgi-fcgi")
    conn = addr if isinstance(addr, str) else "%s:%d" % addr
    p = subprocess.run([prog, "-bind", "-connect", conn],
                       env=cgi_env(method, uri, body, extra),
                       input=body or b"", capture_output=True,
                       timeout=h.TIMEOUT)
    tc.assertEqual(p.returncode, 0, p.stderr)
    return parse_cgi(p.stdout)


class CgiFcgiTest(unittest.TestCase):
    def test_tcp_get_env(self):
        h.require(self, "cgi-fcgi")
        b = h.Bridge(self)
        st, hd, body = cgi_fcgi(self, b.addr, "GET", "/env?a=b",
                                extra={"HTTP_PROXY": "http://evil:1"})
        self.assertEqual(st, 200)
        env = h.parse_env(body)
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["QUERY_STRING"], "a=b")
        self.assertNotIn("HTTP_PROXY", env)

    def test_unix_post_echo(self):
        h.require(self, "cgi-fcgi")
        b = h.Bridge(self, unix=True)
        data = os.urandom(200000)
        st, hd, body = cgi_fcgi(self, b.addr, "POST", "/echo", data)
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-length"], str(len(data)))
        self.assertTrue(body == data)

    def test_errors(self):
        h.require(self, "cgi-fcgi")
        b = h.Bridge(self)
        self.assertEqual(cgi_fcgi(self, b.addr, "GET", "/fail")[0], 500)
        self.assertEqual(cgi_fcgi(self, b.addr, "GET", "/nostart")[0], 502)
        st, hd, body = cgi_fcgi(self, b.addr, "GET", "/big?1000000")
        self.assertEqual((st, len(body)), (200, 1000000))


class SpawnFcgiTest(unittest.TestCase):
    def spawn(self, bind_args, addr):
        (spawn,) = h.require(self, "spawn-fcgi")
        tmp = h.TempDir(self)
        log = tmp.join("bridge.log")
        # -n: spawn-fcgi binds, then execs bridge with the socket on fd 0
        p = subprocess.Popen([spawn, "-n"] + bind_args + [
            "--", h.BRIDGE, "--module", h.PROBE_SO, "-w", "2",
            "--error-log", log] + h.user_args(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            rc = h.stop_process(p, signal.SIGTERM, 15)
            p.stderr.close()
            self.assertEqual(rc, 0, "bridge under spawn-fcgi did not stop "
                             "cleanly")
        self.addCleanup(stop)
        if isinstance(addr, str):
            h.wait_unix(addr, proc=p)
        else:
            h.wait_port(*addr, proc=p)
        self.assertTrue(h.wait_for(lambda: "serving on 1 listener" in
                                   h.read_text(log), 5))
        return log

    def test_spawn_tcp(self):
        h.require(self, "cgi-fcgi")
        port = h.free_port()
        log = self.spawn(["-a", "127.0.0.1", "-p", str(port)],
                         ("127.0.0.1", port))
        for i in range(5):
            st, hd, body = cgi_fcgi(self, ("127.0.0.1", port), "POST",
                                    "/echo", b"via spawn-fcgi %d" % i)
            self.assertEqual((st, body), (200, b"via spawn-fcgi %d" % i))
        self.assertNotIn("error", h.read_text(log))

    def test_spawn_unix(self):
        h.require(self, "cgi-fcgi")
        tmp = h.TempDir(self)
        path = tmp.join("s.sock")
        self.spawn(["-s", path], path)
        st, hd, body = cgi_fcgi(self, path, "GET", "/env?u=1")
        self.assertEqual(st, 200)
        self.assertEqual(h.parse_env(body)["QUERY_STRING"], "u=1")


if __name__ == "__main__":
    h.main()
