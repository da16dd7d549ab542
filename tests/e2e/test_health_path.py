#!/usr/bin/python3
"""
--health-path: a load balancer's probe answered by the worker's loop,
without the application, on HTTP and FastCGI listeners: 200 "ok" while
bridge serves, 503 with "Connection: close" from the moment it is told
to stop (TERM, through --shutdown-delay), and 200 again across a reload
(HUP is not a stop).  --shutdown-delay keeps the listener open and the
application serving while the probe says 503, then stops by itself.
Bad values are refused with a one-line message.

bridge runs as root with --user nobody.
"""
import http.client
import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                       "python.so")
ASYNC_SO = os.path.join(h.BUILDDIR, "tests", "apps", ".libs",
                        "async_probe.so")


class HttpBridge:
    """bridge --http on a fresh port with the probe module (or args)."""

    def __init__(self, tc, extra=(), app=None, workers=1):
        self.tc = tc
        self.tmp = h.TempDir(tc)
        self.port = h.free_port()
        self.log_path = self.tmp.join("bridge.log")
        app = app or ["--module", h.PROBE_SO]
        self.out = open(self.tmp.join("bridge.stdout"), "wb")
        tc.addCleanup(self.out.close)
        self.proc = subprocess.Popen(
            [h.BRIDGE, "--http", "127.0.0.1:%d" % self.port] + app +
            ["-w", str(workers), "--error-log", self.log_path] +
            list(extra) + h.user_args(), stdin=subprocess.DEVNULL,
            stdout=self.out, stderr=subprocess.STDOUT)
        self.delay = "--shutdown-delay" in extra
        tc.addCleanup(self.stop)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)
        self.wait_log("serving on")

    def log(self):
        return h.read_text(self.log_path)

    def stop(self):
        """TERM; with --shutdown-delay a second TERM ends the delay."""
        if self.proc.poll() is not None:
            return
        if self.delay and "(--shutdown-delay)" not in self.log():
            self.proc.send_signal(signal.SIGTERM)
            self.wait_log("(--shutdown-delay)")
        self.tc.assertEqual(h.stop_process(self.proc, signal.SIGTERM, 15),
                            0, self.log())

    def wait_log(self, text, count=1, timeout=15):
        if not h.wait_for(lambda: self.log().count(text) >= count,
                          timeout):
            raise AssertionError("no %r x %d in the log:\n%s"
                                 % (text, count, self.log()))

    def get(self, path, method="GET", conn=None):
        return h.http_request(self.port, method, path, conn=conn)


class HealthHttpTest(unittest.TestCase):

    def test_probe_answers_ok_without_the_module(self):
        b = HttpBridge(self, ["--health-path", "/healthz"])
        st, hd, body = b.get("/healthz")
        self.assertEqual((st, body), (200, b"ok\n"))
        self.assertEqual(hd["content-type"], "text/plain")
        self.assertEqual(hd["cache-control"], "no-store")
        self.assertNotIn("connection", hd)
        # The query is not part of the path; HEAD has no body.
        self.assertEqual(b.get("/healthz?from=haproxy")[::2],
                         (200, b"ok\n"))
        st, hd, body = b.get("/healthz", "HEAD")
        self.assertEqual((st, body, hd["content-length"]), (200, b"", "3"))
        # Other paths, /healthz/ included, are the application's (the
        # probe module answers "probe").
        self.assertEqual(b.get("/healthz/")[::2], (200, b"probe\n"))

    def test_without_the_flag_the_path_is_the_applications(self):
        b = HttpBridge(self)
        self.assertEqual(b.get("/healthz")[::2], (200, b"probe\n"))

    def test_probe_never_reaches_the_application(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        tmp = h.TempDir(self, writable=True)
        calls = tmp.join("calls")
        with open(tmp.join("app.py"), "w") as f:
            f.write(textwrap.dedent("""\
                def application(environ, start_response):
                    with open(%r, "a") as f:
                        f.write(environ["PATH_INFO"] + "\\n")
                    start_response("200 OK", [("Content-Type",
                                               "text/plain")])
                    return [b"app"]
                """ % calls))
        b = HttpBridge(self, ["--health-path", "/healthz"],
                       app=["--wsgi", "app:application", "--chdir",
                            tmp.path])
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
        self.addCleanup(conn.close)
        for _ in range(5):
            self.assertEqual(b.get("/healthz", conn=conn)[::2],
                             (200, b"ok\n"))
        self.assertEqual(b.get("/other", conn=conn)[::2], (200, b"app"))
        self.assertEqual(h.read_text(calls), "/other\n")

    def test_probe_says_503_while_the_shutdown_delay_runs(self):
        b = HttpBridge(self, ["--health-path", "/healthz",
                              "--shutdown-delay", "3"], workers=2)
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
        self.addCleanup(conn.close)
        self.assertEqual(b.get("/healthz", conn=conn)[0], 200)
        t0 = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        b.wait_log("(--shutdown-delay)")
        # A keep-alive connection from before the TERM: 503, and closed.
        st, hd, body = b.get("/healthz", conn=conn)
        self.assertEqual((st, body, hd.get("connection")),
                         (503, b"stopping\n", "close"))
        # The listener is still open and the application still serves,
        # over new connections.
        st, hd, body = b.get("/healthz", "HEAD")
        self.assertEqual((st, body), (503, b""))
        st, hd, body = b.get("/env")
        self.assertEqual(st, 200)
        self.assertIn(b"REQUEST_URI=/env", body)
        # Then it stops by itself, after the delay, cleanly.
        self.assertEqual(b.proc.wait(20), 0, b.log())
        self.assertGreaterEqual(time.monotonic() - t0, 2.5)
        self.assertIn("--shutdown-delay over: stopping gracefully",
                      b.log())

    def test_second_term_ends_the_shutdown_delay(self):
        b = HttpBridge(self, ["--health-path", "/healthz",
                              "--shutdown-delay", "1h"])
        b.proc.send_signal(signal.SIGTERM)
        b.wait_log("(--shutdown-delay)")
        self.assertEqual(b.get("/healthz")[0], 503)
        b.proc.send_signal(signal.SIGTERM)
        self.assertEqual(b.proc.wait(15), 0, b.log())

    def test_hup_during_the_shutdown_delay_is_ignored(self):
        b = HttpBridge(self, ["--health-path", "/healthz",
                              "--shutdown-delay", "1h"])
        b.proc.send_signal(signal.SIGTERM)
        b.wait_log("(--shutdown-delay)")
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log("HUP: stopping (--shutdown-delay); ignored")
        # Still stopping: a reload would have started afresh, saying 200.
        self.assertEqual(b.get("/healthz")[0], 503)

    def test_reload_is_not_a_stop(self):
        b = HttpBridge(self, ["--health-path", "/healthz"], workers=2)
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log("reload done")
        self.assertEqual(b.get("/healthz")[::2], (200, b"ok\n"))

    def test_a_retiring_worker_is_not_a_stop(self):
        # --max-requests 1: the worker begins its graceful stop once the
        # first answer is out, the host serves on (a new worker takes its
        # place): its keep-alive connection gets 200 and is closed.
        b = HttpBridge(self, ["--health-path", "/healthz",
                              "--max-requests", "1"])
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
        self.addCleanup(conn.close)
        st, hd, body = b.get("/healthz", conn=conn)
        self.assertEqual((st, hd.get("connection")), (200, None))
        st, hd, body = b.get("/healthz", conn=conn)
        self.assertEqual((st, body, hd.get("connection")),
                         (200, b"ok\n", "close"))

    def test_probe_under_mount_is_the_full_path(self):
        b = HttpBridge(self, ["--mount", "/app", "--health-path",
                              "/app/healthz"])
        self.assertEqual(b.get("/app/healthz")[::2], (200, b"ok\n"))
        self.assertEqual(b.get("/healthz")[0], 404)


class HealthAsyncModuleTest(unittest.TestCase):
    """An asynchronous module (ABI 2) gets requests as their head
    arrives; the probe is still answered before it."""

    def setUp(self):
        if not os.path.exists(ASYNC_SO):
            self.skipTest("tests/apps/async_probe.so not built")

    def test_probe_over_http(self):
        b = HttpBridge(self, ["--health-path", "/healthz"],
                       app=["--module", ASYNC_SO])
        self.assertEqual(b.get("/healthz")[::2], (200, b"ok\n"))
        self.assertEqual(b.get("/other")[::2], (200, b"async\n"))

    def test_probe_over_fastcgi(self):
        b = h.Bridge(self, module=ASYNC_SO, extra=["--health-path",
                                                   "/healthz"])
        with b.connect() as c:
            r = c.request(path="/healthz", flags=h.FCGI_KEEP_CONN)
            self.assertEqual((r.status, r.body), (200, b"ok\n"))
            r = c.request(path="/other")
            self.assertEqual((r.status, r.body), (200, b"async\n"))


class HealthFastcgiTest(unittest.TestCase):

    def test_probe_over_fastcgi(self):
        b = h.Bridge(self, extra=["--health-path", "/healthz",
                                  "--shutdown-delay", "1h"])
        with b.connect() as c:
            r = c.request(path="/healthz?x=1", flags=h.FCGI_KEEP_CONN)
            self.assertEqual((r.status, r.body), (200, b"ok\n"))
            self.assertEqual(r.headers["cache-control"], "no-store")
            self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
            r = c.request(path="/env")
            self.assertIn(b"REQUEST_URI=/env", r.body)
        b.proc.send_signal(signal.SIGTERM)
        b.wait_log(r"\(--shutdown-delay\)")
        with b.connect() as c:
            r = c.request(path="/healthz")
            self.assertEqual((r.status, r.body), (503, b"stopping\n"))
        # The second TERM ends the delay.
        b.stop(signal.SIGTERM)


class HealthFlagsTest(unittest.TestCase):

    def run_bridge(self, *args):
        return subprocess.run([h.BRIDGE, "--module", h.PROBE_SO] +
                              list(args), capture_output=True, text=True,
                              timeout=15, stdin=subprocess.DEVNULL)

    def test_bad_health_path_is_refused(self):
        for bad in ("healthz", "", "/health?x", "/a%2fb"):
            with self.subTest(bad=bad):
                r = self.run_bridge("--http", "127.0.0.1:1",
                                    "--health-path", bad)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
                self.assertIn("--health-path", r.stderr)

    def test_bad_shutdown_delay_is_refused(self):
        for bad in ("-1", "soon", "2h"):
            with self.subTest(bad=bad):
                r = self.run_bridge("--http", "127.0.0.1:1",
                                    "--shutdown-delay", bad)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
                self.assertIn("--shutdown-delay", r.stderr)

    def test_config_file_keys(self):
        tmp = h.TempDir(self)
        conf = tmp.join("bridge.conf")
        with open(conf, "w") as f:
            f.write("http = 127.0.0.1:1\nhealth-path = /healthz\n"
                    "shutdown-delay = 5s\n")
        r = self.run_bridge("--config", conf, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("health-path = /healthz", r.stdout)
        self.assertIn("shutdown-delay = 5", r.stdout)
        with open(conf, "w") as f:
            f.write("health-path = healthz\n")
        r = self.run_bridge("--config", conf, "--check-config")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("health-path", r.stderr)


if __name__ == "__main__":
    h.main()
