#!/usr/bin/python3
"""
--max-worker-memory SIZE: a worker whose resident memory (RSS) passes
SIZE is recycled once its requests are answered, and a new one takes its
place, with no request lost.

Driven with applications that leak on purpose: the WSGI app
tests/apps/wsgi/leak.py (/leak?MB keeps MB mebibytes) and the native probe
module (/leak?MB).  Checked: under a loop of requests from several
clients every answer is a 200 while workers are replaced; the worker logs
one line with its RSS and the cap, the master says it recycled it; --stats
shows each worker's RSS (bridge_worker_rss_bytes) and the recycles by
reason (bridge_worker_recycles_total, status.json's last_recycle); a
request in flight when the cap is passed is answered before the worker
goes.  Bad values are refused with one line.

bridge runs as users run it: as root with --user nobody.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
# Workers run LeakSanitizer before they exit; with Python's threads in
# them, clang 14's tracer dies on their dynamic TLS ("Tracer caught
# signal 11"), as in test_wsgi_threads.py.  No TLS (OpenSSL keeps its
# per-thread state there) in these tests.
if h.SANITIZED:
    os.environ["LSAN_OPTIONS"] = os.environ.get("LSAN_OPTIONS", "") + \
        ":use_tls=0"

APPS = os.path.join(h.SRCDIR, "tests", "apps", "wsgi")
PYTHON_ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                              "python.so")
MB = 1 << 20


def env():
    e = dict(os.environ)
    # The production path: workers switch to --user nobody, no shortcut.
    e.pop("BRIDGE_ALLOW_ROOT", None)
    return e


class Server:
    """bridge --http with --stats, as root with --user nobody."""

    def __init__(self, tc, app_args, workers, cap, extra=()):
        self.tc = tc
        self.tmp = h.TempDir(tc)
        self.port = h.free_port()
        self.stats = h.free_port()
        self.log_path = self.tmp.join("error.log")
        self.proc = subprocess.Popen(
            [h.BRIDGE, "--http", "127.0.0.1:%d" % self.port,
             "--stats", "127.0.0.1:%d" % self.stats, "--user", "nobody",
             "-w", str(workers), "--max-worker-memory", cap,
             "--error-log", self.log_path] + app_args + list(extra),
            env=env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        tc.addCleanup(self.stop)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)
        h.wait_port("127.0.0.1", self.stats, proc=self.proc)
        # Every worker publishes its RSS once ready.
        if not h.wait_for(lambda: all(v > 0 for v in self.rss().values())
                          and len(self.rss()) == workers):
            raise AssertionError("no RSS for the workers:\n"
                                 + self.metrics_text())

    def log(self):
        return h.read_text(self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            rc = h.stop_process(self.proc, timeout=20)
            self.tc.assertEqual(rc, 0, self.log())

    def get(self, path, timeout=h.TIMEOUT):
        return h.http_request(self.port, "GET", path, timeout=timeout)

    def metrics_text(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics"
                                    % self.stats, timeout=h.TIMEOUT) as r:
            return r.read().decode()

    def metrics(self):
        m = {}
        for line in self.metrics_text().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                m[k] = float(v)
        return m

    def status(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/status.json"
                                    % self.stats, timeout=h.TIMEOUT) as r:
            return json.loads(r.read())

    def rss(self):
        return {k: v for k, v in self.metrics().items()
                if k.startswith("bridge_worker_rss_bytes{")}

    def recycles(self, reason):
        return self.metrics().get(
            'bridge_worker_recycles_total{reason="%s"}' % reason, 0)


class LeakLoop:
    """Clients in threads, each asking for path in a loop (paced, so
    that the once-a-second RSS check sees the growth) until stop()."""

    def __init__(self, srv, path, clients):
        self.srv = srv
        self.path = path
        self.results = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run)
                        for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.done.is_set():
            try:
                st, _, body = self.srv.get(self.path, timeout=30)
                r = (st, body.split()[0].decode() if st == 200 else body)
            except Exception as e:              # noqa: B902
                r = ("error", repr(e))
            with self.lock:
                self.results.append(r)
            time.sleep(0.02)

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(60)
        return self.results


class Checks:
    """What every leaky application must show."""

    cap_mb = 0

    def check_recycled_under_load(self, srv, path, clients, want):
        loop = LeakLoop(srv, path, clients)
        try:
            got = h.wait_for(lambda: srv.recycles("max-worker-memory")
                             >= want, 90, 0.2)
        finally:
            results = loop.stop()
        self.assertTrue(got, "never recycled %d times:\n%s\n%s"
                        % (want, srv.metrics_text(), srv.log()))
        failed = [r for r in results if r[0] != 200]
        self.assertEqual(failed, [], "requests failed while workers were "
                         "recycled")
        pids = {r[1] for r in results}
        self.assertGreater(len(pids), 2, "no replacement ever answered")
        # One line per recycle from the worker, with its RSS and the cap.
        lines = re.findall(r"worker \d+: RSS ([0-9.]+)m passed "
                           r"--max-worker-memory ([0-9.]+)m; recycling once "
                           r"its requests are answered", srv.log())
        self.assertGreaterEqual(len(lines), want, srv.log())
        for rss, cap in lines:
            self.assertEqual(float(cap), float(self.cap_mb))
            self.assertGreater(float(rss), float(self.cap_mb))
        self.assertGreaterEqual(len(re.findall(
            r"worker \d+ \(pid \d+\) recycled \(--max-worker-memory\)",
            srv.log())), want)
        # The scoreboard: recycles by reason, and nothing else counted.
        m = srv.metrics()
        self.assertEqual(m['bridge_worker_recycles_total{reason="crash"}'],
                         0)
        self.assertEqual(
            m['bridge_worker_recycles_total{reason="max-requests"}'], 0)
        self.assertEqual(m["bridge_restarts_total"],
                         m['bridge_worker_recycles_total{reason='
                           '"max-worker-memory"}'])
        st = srv.status()
        self.assertIn("max-worker-memory",
                      [w["last_recycle"] for w in st["worker_list"]])
        self.assertGreaterEqual(st["recycles"]["max-worker-memory"], want)
        # Each worker shows its RSS once started (a replacement may still
        # be starting: wait for it).
        self.assertTrue(h.wait_for(lambda: all(
            w["rss"] > 0 for w in srv.status()["worker_list"])),
            srv.status())


@unittest.skipUnless(os.path.exists(PYTHON_ADAPTER),
                     "the Python adapter is not built")
class WsgiLeakTest(unittest.TestCase, Checks):
    cap_mb = 48

    def start(self, workers, extra=()):
        return Server(self, ["--wsgi", "leak:app", "--pythonpath", APPS],
                      workers, "%dm" % self.cap_mb, extra)

    def test_leaky_workers_are_replaced_without_a_failed_request(self):
        srv = self.start(2)
        self.check_recycled_under_load(srv, "/leak?2", 4, 2)

    def test_the_rss_gauge_follows_the_leak(self):
        srv = self.start(1)
        before = max(srv.rss().values())
        self.assertLess(before, self.cap_mb * MB)
        # A second later, the next request's check reads the RSS anew.
        _, _, body = srv.get("/leak?20")
        pid = body.split()[0]
        ok = h.wait_for(lambda: (srv.get("/")[2].split()[0] == pid and
                                 max(srv.rss().values()) >=
                                 before + 15 * MB), 10, 0.3)
        self.assertTrue(ok, srv.metrics_text())
        self.assertEqual(srv.recycles("max-worker-memory"), 0)

    def test_a_request_in_flight_is_answered_before_the_worker_goes(self):
        srv = self.start(1, ["--threads", "4"])
        slow = {}

        def sleeper():
            slow["resp"] = srv.get("/sleep?4000", timeout=30)
        t = threading.Thread(target=sleeper)
        t.start()
        try:
            _, _, body = srv.get("/leak?%d" % (self.cap_mb + 8))
            first = body.split()[0]
            # The check runs after a request, at most once a second:
            # ask until the worker says it goes (then the next request
            # waits for the new worker: look at the log first).
            seen_alive = None
            deadline = time.monotonic() + 10
            while seen_alive is None and time.monotonic() < deadline:
                if "recycling once its requests are answered" in srv.log():
                    seen_alive = t.is_alive()
                else:
                    self.assertEqual(srv.get("/")[0], 200)
                    time.sleep(0.2)
        finally:
            t.join(30)
        self.assertTrue(seen_alive, "the cap was not passed while the slow "
                        "request ran:\n" + srv.log())
        st, _, body = slow["resp"]
        self.assertEqual(st, 200)
        self.assertEqual(body.split()[0], first)
        # And the replacement answers.
        self.assertTrue(h.wait_for(
            lambda: srv.get("/")[2].split()[0] != first, 15, 0.2))
        self.assertEqual(srv.recycles("max-worker-memory"), 1)


class NativeLeakTest(unittest.TestCase, Checks):
    cap_mb = 24

    def test_leaky_native_module_is_recycled(self):
        srv = Server(self, ["--module", h.PROBE_SO], 2, "%dm" % self.cap_mb)
        self.check_recycled_under_load(srv, "/leak?1", 3, 2)


class ConfigTest(unittest.TestCase):
    def run_bridge(self, *args):
        return subprocess.run([h.BRIDGE, "--http", "127.0.0.1:1", "--user",
                               "nobody", "--module", h.PROBE_SO]
                              + list(args),
                              capture_output=True, text=True, timeout=30,
                              env=env())

    def test_sizes(self):
        r = self.run_bridge("--max-worker-memory", "1g", "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("max-worker-memory = 1073741824\n", r.stdout)
        r = self.run_bridge("--check-config")
        self.assertNotIn("max-worker-memory", r.stdout)

    def test_config_file_key(self):
        t = h.TempDir(self)
        with open(t.join("b.conf"), "w") as f:
            f.write("max-worker-memory = 300m\n")
        r = self.run_bridge("--config", t.join("b.conf"), "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("max-worker-memory = 314572800\n", r.stdout)

    def test_bad_values_say_one_line(self):
        for v, why in (("12q", "is not a size"), ("-1", "is not a size"),
                       ("512k", "is below 1m"), ("", "is not a size")):
            r = self.run_bridge("--max-worker-memory", v)
            self.assertEqual(r.returncode, 2, (v, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1,
                             r.stderr)
            self.assertIn("--max-worker-memory", r.stderr)
            self.assertIn(why, r.stderr)


if __name__ == "__main__":
    h.main()
