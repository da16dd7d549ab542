#!/usr/bin/python3
"""
--stats ADDR (issue "Metrics"): Prometheus metrics at /metrics, a JSON
status at /status.json and a self-refreshing status page at /, served by
a process of the master's own from the shared scoreboard.

Requests of known statuses go through both front ends (HTTP and
FastCGI) to tests/apps/probe.so (/status?N answers N), then the metrics
must count them: by class, in the histogram, in bytes; workers, their
restarts after kill -9, the listen queues; the stats process answers
while every worker is busy and is itself respawned after kill -9.  The
page is loaded in headless Chromium, which must run its script for the
worker rows to appear.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

CHROMIUM = "/usr/bin/chromium"
BODY = len(b"status 200\n")     # every /status?N body is this long


def get(port, path, method="GET", headers=None, timeout=5.0, body=None):
    return h.http_request(port, method=method, path=path, timeout=timeout,
                          headers=headers, body=body)


def parse_metrics(text):
    """{'name{labels}': value} of a text exposition, and the families
    announced by # TYPE."""
    series, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            series[key] = float(value)
    return series, types


class Stats:
    """bridge with an HTTP and a FastCGI listener and --stats."""

    def __init__(self, tc, workers=2, extra=(), unix_fcgi=False):
        self.http_port = h.free_port()
        self.stats_port = h.free_port()
        tmp = h.TempDir(tc)
        self.unix_path = tmp.join("fcgi.sock") if unix_fcgi else None
        more = ["--http", "127.0.0.1:%d" % self.http_port,
                "--stats", "127.0.0.1:%d" % self.stats_port]
        if unix_fcgi:
            more += ["--fastcgi", "unix:" + self.unix_path]
        self.b = h.Bridge(tc, workers=workers, tmp=tmp,
                          extra=more + list(extra))
        h.wait_port("127.0.0.1", self.stats_port, proc=self.b.proc)
        # Every worker ready: the counts below start from there.
        if not h.wait_for(lambda: self.idle() == workers):
            raise AssertionError("workers never idle:\n" + self.metrics_text())

    def metrics_text(self):
        st, hd, body = get(self.stats_port, "/metrics")
        assert st == 200, (st, body)
        return body.decode()

    def metrics(self):
        return parse_metrics(self.metrics_text())[0]

    def status(self):
        st, _, body = get(self.stats_port, "/status.json")
        assert st == 200, (st, body)
        return json.loads(body)

    def idle(self):
        m = self.metrics()
        return sum(v for k, v in m.items()
                   if k.startswith("bridge_worker_state{") and
                   'state="idle"' in k)


class TestStats(unittest.TestCase):

    def wait_metric(self, s, key, want, timeout=5.0):
        """Counters are written when the response is complete, which
        the client may see a moment before: poll."""
        got = h.wait_for(lambda: s.metrics().get(key) == want, timeout)
        if not got:
            self.fail("%s never became %r:\n%s" % (key, want,
                                                   s.metrics_text()))

    def test_counts_requests_of_both_front_ends(self):
        s = Stats(self, extra=["--backlog", "77"])
        sent = {200: 0, 404: 0, 500: 0}
        t_sent = time.monotonic()
        plan = [(200, 15), (404, 3), (500, 2)]
        for status, n in plan:
            for _ in range(n):
                st, _, body = get(s.http_port, "/status?%d" % status)
                self.assertEqual(st, status)
                self.assertEqual(len(body), BODY)
                sent[status] += 1
        plan = [(200, 15), (404, 2), (500, 1)]
        with s.b.connect() as c:
            for status, n in plan:
                for _ in range(n):
                    c.send(h.request_bytes(rid=1, path="/status?%d"
                                           % status,
                                           flags=h.FCGI_KEEP_CONN))
                    r = c.read_response(1)
                    self.assertEqual(r.status, status)
                    sent[status] += 1
        self.assertEqual(sent, {200: 30, 404: 5, 500: 3})
        # One request at a time: their durations add up to less than
        # the time it took to send them all.
        wall = time.monotonic() - t_sent
        total = 38
        self.wait_metric(s, "bridge_request_duration_seconds_count", total)

        st, hd, body = get(s.stats_port, "/metrics")
        self.assertEqual(hd["content-type"], "text/plain; version=0.0.4")
        m, types = parse_metrics(body.decode())
        self.assertEqual(m['bridge_requests_total{code="1xx"}'], 0)
        self.assertEqual(m['bridge_requests_total{code="2xx"}'], 30)
        self.assertEqual(m['bridge_requests_total{code="3xx"}'], 0)
        self.assertEqual(m['bridge_requests_total{code="4xx"}'], 5)
        self.assertEqual(m['bridge_requests_total{code="5xx"}'], 3)
        self.assertNotIn('bridge_requests_total{code="other"}', m)
        # Histogram: cumulative, ending in +Inf == _count.
        les = ["0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
               "0.5", "1", "2.5", "5", "10", "+Inf"]
        counts = [m['bridge_request_duration_seconds_bucket{le="%s"}' % x]
                  for x in les]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(counts[-1], total)
        self.assertEqual(m["bridge_request_duration_seconds_count"], total)
        self.assertGreater(m["bridge_request_duration_seconds_sum"], 0)
        self.assertLess(m["bridge_request_duration_seconds_sum"], wall)
        self.assertEqual(m["bridge_response_bytes_total"], total * BODY)
        self.assertEqual(m["bridge_requests_in_flight"], 0)
        self.assertEqual(m["bridge_workers"], 2)
        self.assertEqual(m["bridge_restarts_total"], 0)
        self.assertEqual(sum(v for k, v in m.items() if k.startswith(
            "bridge_worker_requests_total{")), total)
        # Both TCP listeners report their queue and its limit.
        for port in (s.http_port, s.b.port):
            name = 'listener="127.0.0.1:%d"' % port
            self.assertEqual(m["bridge_listen_queue{%s}" % name], 0)
            self.assertEqual(m["bridge_listen_queue_max{%s}" % name], 77)
        for fam, kind in [("bridge_requests_total", "counter"),
                          ("bridge_request_duration_seconds", "histogram"),
                          ("bridge_response_bytes_total", "counter"),
                          ("bridge_requests_in_flight", "gauge"),
                          ("bridge_workers", "gauge"),
                          ("bridge_worker_state", "gauge"),
                          ("bridge_worker_requests_total", "counter"),
                          ("bridge_worker_restarts_total", "counter"),
                          ("bridge_restarts_total", "counter"),
                          ("bridge_listen_queue", "gauge"),
                          ("bridge_listen_queue_max", "gauge")]:
            self.assertEqual(types.get(fam), kind, fam)
            self.assertIn("# HELP %s " % fam, body.decode())
        js = s.status()
        self.assertEqual(js["requests"], total)
        self.assertEqual(js["classes"]["2xx"], 30)
        p99 = js["latency"]["p99"]
        self.assertIsInstance(p99, (int, float))
        self.assertGreaterEqual(p99, 0)
        self.assertLessEqual(p99, wall)

    def test_counts_with_application_threads(self):
        # --threads: several threads share a worker's slot.
        s = Stats(self, extra=["--threads", "4"])
        errors = []

        def client(status):
            for _ in range(10):
                try:
                    st = get(s.http_port, "/status?%d" % status)[0]
                    if st != status:
                        errors.append(st)
                except OSError as e:
                    errors.append(repr(e))
        ts = [threading.Thread(target=client, args=(st,), daemon=True)
              for st in (200, 200, 200, 200, 200, 200, 404, 503)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(errors, [])
        self.wait_metric(s, "bridge_request_duration_seconds_count", 80)
        m = s.metrics()
        self.assertEqual(m['bridge_requests_total{code="2xx"}'], 60)
        self.assertEqual(m['bridge_requests_total{code="4xx"}'], 10)
        self.assertEqual(m['bridge_requests_total{code="5xx"}'], 10)
        self.assertEqual(m["bridge_response_bytes_total"], 80 * BODY)
        self.assertEqual(m["bridge_requests_in_flight"], 0)

    def test_restarts_after_a_worker_is_killed(self):
        s = Stats(self)
        _, _, body = get(s.http_port, "/pid",
                         headers={"Connection": "close"})
        pid = int(body)
        slot = [w["id"] for w in s.status()["worker_list"]
                if w["pid"] == pid]
        self.assertEqual(len(slot), 1)
        os.kill(pid, signal.SIGKILL)
        self.wait_metric(s, "bridge_restarts_total", 1)
        self.wait_metric(s, 'bridge_worker_restarts_total{worker="%d"}'
                         % slot[0], 1)
        # The replacement starts and serves; the other slot never died.
        self.assertTrue(h.wait_for(lambda: s.idle() == 2),
                        s.metrics_text())
        other = 1 - slot[0]
        self.assertEqual(s.metrics()[
            'bridge_worker_restarts_total{worker="%d"}' % other], 0)
        self.assertNotEqual(s.status()["worker_list"][slot[0]]["pid"], pid)

    def test_stats_process_is_respawned(self):
        s = Stats(self, workers=1)
        old = s.status()["stats_pid"]
        with open("/proc/%d/comm" % old) as f:
            self.assertEqual(f.read().strip(), "bridge-stats")
        os.kill(old, signal.SIGKILL)

        def new_pid():
            try:
                return s.status()["stats_pid"] != old
            except (OSError, AssertionError):
                return False
        self.assertTrue(h.wait_for(new_pid, 5), s.b.log())
        s.b.wait_log(r"stats process killed by signal 9.*; respawning")
        m = s.metrics()
        # Not a worker: no worker restart, the worker count unchanged.
        self.assertEqual(m["bridge_restarts_total"], 0)
        self.assertEqual(m["bridge_workers"], 1)

    def test_answers_while_every_worker_is_busy(self):
        s = Stats(self, workers=1, unix_fcgi=True)
        done = []
        t = threading.Thread(target=lambda: done.append(
            get(s.http_port, "/sleep?3000", timeout=10)), daemon=True)
        t.start()
        self.wait_metric(s, "bridge_requests_in_flight", 1)
        # The only worker is in the application: new connections wait
        # in the listen queues, and the metrics show them.
        waiting = []
        for _ in range(2):
            c = socket.create_connection(("127.0.0.1", s.http_port), 5)
            c.sendall(b"GET /status?200 HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            waiting.append(c)
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            u.settimeout(5)
            u.connect(s.unix_path)
            waiting.append(u)
        m = s.metrics()
        # Answered while the only worker is still in the application.
        self.assertTrue(t.is_alive(), "metrics came only after the busy "
                        "request ended")
        self.assertEqual(m['bridge_worker_state{worker="0",state="busy"}'],
                         1)
        http_q = 'bridge_listen_queue{listener="127.0.0.1:%d"}' % s.http_port
        unix_q = 'bridge_listen_queue{listener="unix:%s"}' % s.unix_path
        self.assertTrue(h.wait_for(lambda: s.metrics()[http_q] >= 2, 2),
                        s.metrics_text())
        self.assertGreaterEqual(s.metrics()[unix_q], 2)
        self.assertEqual(s.metrics()['bridge_listen_queue_max{listener='
                                     '"unix:%s"}' % s.unix_path], 1024)
        st, _, page = get(s.stats_port, "/")
        self.assertEqual(st, 200)
        self.assertIn(b"<title>bridge status</title>", page)
        self.assertTrue(t.is_alive(), "the page came only after the busy "
                        "request ended")
        t.join(10)
        self.assertEqual(done[0][0], 200)
        for c in waiting:
            c.close()
        self.wait_metric(s, "bridge_requests_in_flight", 0)
        self.assertTrue(h.wait_for(lambda: s.metrics()[http_q] == 0))

    def test_paths_and_methods(self):
        s = Stats(self, workers=1)
        st, _, body = get(s.stats_port, "/nope")
        self.assertEqual(st, 404)
        self.assertEqual(get(s.stats_port, "/metrics/x")[0], 404)
        st, hd, _ = get(s.stats_port, "/metrics", method="POST",
                        body=b"x=1")
        self.assertEqual(st, 405)
        self.assertEqual(hd["allow"], "GET, HEAD")
        st, hd, _ = get(s.stats_port, "/", method="DELETE")
        self.assertEqual(st, 405)
        st, hd, body = get(s.stats_port, "/metrics", method="HEAD")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(hd["content-length"]), 0)
        st, hd, body = get(s.stats_port, "/metrics?name=x")
        self.assertEqual(st, 200)
        st, hd, body = get(s.stats_port, "/status.json")
        self.assertEqual(hd["content-type"], "application/json")
        self.assertEqual(json.loads(body)["workers"], 1)
        st, hd, body = get(s.stats_port, "/")
        self.assertEqual(st, 200)
        self.assertTrue(hd["content-type"].startswith("text/html"))
        self.assertNotIn(b"http://", body)      # nothing external
        self.assertNotIn(b"https://", body)
        # A request head beyond the bound is refused, not buffered.
        with socket.create_connection(("127.0.0.1", s.stats_port), 5) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000)
            self.assertIn(b" 431 ", c.recv(4096))
        # A client that sends nothing holds no one up.
        idle = socket.create_connection(("127.0.0.1", s.stats_port), 5)
        self.assertEqual(get(s.stats_port, "/metrics")[0], 200)
        idle.close()

    def test_bad_stats_value(self):
        for bad in ["nope", "", "127.0.0.1:99999", "[::1]9100", "unix:",
                    "127.0.0.1:"]:
            p = subprocess.run([h.BRIDGE, "--http", "127.0.0.1:1",
                                "--module", h.PROBE_SO, "--stats", bad]
                               + h.user_args(),
                               capture_output=True, timeout=10)
            self.assertNotEqual(p.returncode, 0, bad)
            err = p.stderr.decode().strip()
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn("--stats", err)
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("stats = 9100\n")
            f.flush()
            p = subprocess.run([h.BRIDGE, "--config", f.name, "--http",
                                "127.0.0.1:1", "--module", h.PROBE_SO]
                               + h.user_args(),
                               capture_output=True, timeout=10)
            self.assertNotEqual(p.returncode, 0)
            self.assertRegex(p.stderr.decode(), r":1: stats: ")
        # A good one from the file is what --check-config prints.
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("stats = 127.0.0.1:9100\n")
            f.flush()
            p = subprocess.run([h.BRIDGE, "--config", f.name, "--http",
                                "127.0.0.1:1", "--module", h.PROBE_SO,
                                "--check-config"] + h.user_args(),
                               capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(b"stats = 127.0.0.1:9100\n", p.stdout)

    def test_address_already_in_use(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            p = subprocess.run([h.BRIDGE, "--http", "127.0.0.1:%d"
                                % h.free_port(), "--module", h.PROBE_SO,
                                "--stats", "127.0.0.1:%d" % port]
                               + h.user_args(),
                               capture_output=True, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr.decode().strip(),
                         r"^bridge: --stats 127\.0\.0\.1:\d+: bind: ")

    def test_hup_keeps_the_stats_address(self):
        s = Stats(self, workers=1)
        old = s.status()["stats_pid"]
        failures, stop = [], threading.Event()

        def scrape():
            while not stop.is_set():
                try:
                    st, _, _ = get(s.stats_port, "/metrics", timeout=5)
                    if st != 200:
                        failures.append(st)
                except OSError as e:
                    failures.append(repr(e))
                time.sleep(0.02)
        t = threading.Thread(target=scrape, daemon=True)
        t.start()
        s.b.proc.send_signal(signal.SIGHUP)
        # The old stats process retires too, but is no worker.
        s.b.wait_log(r"reload done: 1 old worker retiring")

        def replaced():
            try:
                return s.status()["stats_pid"] != old
            except OSError:
                return False
        self.assertTrue(h.wait_for(replaced, 5))
        # The old one is retired with the old workers.
        self.assertTrue(h.wait_for(
            lambda: not os.path.exists("/proc/%d/comm" % old) or
            open("/proc/%d/stat" % old).read().split()[2] == "Z", 5))
        stop.set()
        t.join(10)
        self.assertEqual(failures, [])
        self.assertEqual(s.metrics()["bridge_workers"], 1)

    def test_status_page_in_chromium(self):
        # deps.sh installs it: a missing browser is a failure, not a skip.
        self.assertTrue(os.access(CHROMIUM, os.X_OK),
                        "%s missing: run tests/deps.sh" % CHROMIUM)
        s = Stats(self)
        for status, n in [(200, 7), (404, 2)]:
            for _ in range(n):
                self.assertEqual(get(s.http_port, "/status?%d"
                                     % status)[0], status)
        self.wait_metric(s, "bridge_request_duration_seconds_count", 9)
        js = s.status()
        tmp = h.TempDir(self)
        p = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-dev-shm-usage",
             "--user-data-dir=" + tmp.join("profile"),
             "--virtual-time-budget=5000", "--dump-dom",
             "http://127.0.0.1:%d/" % s.stats_port],
            capture_output=True, timeout=90, env=dict(os.environ,
                                                      HOME=tmp.path))
        dom = p.stdout.decode()
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        # Rows only the script creates, with the numbers sent.
        rows = re.findall(r'<tr class="worker (\w+)"><td>(\d+)</td>'
                          r'<td>(\d+)</td><td>(\w+)</td><td>(\d+)</td>'
                          r'<td>(\d+)</td><td>([\d.]+ MiB)</td>'
                          r'<td>-</td></tr>', dom)
        self.assertEqual(len(rows), 2, dom)
        self.assertEqual(sorted(int(r[2]) for r in rows),
                         sorted(w["pid"] for w in js["worker_list"]))
        self.assertEqual(sum(int(r[4]) for r in rows), 9)
        self.assertTrue(all(r[0] == "idle" for r in rows), rows)
        self.assertIn('<b id="requests">9</b>', dom)
        self.assertIn('<b id="workers">2</b>', dom)
        self.assertIn('<b id="restarts">0</b>', dom)
        self.assertRegex(dom, r'<b id="p50">[\d.]+ ms</b>')
        self.assertRegex(dom, r'<b id="p99">[\d.]+ m?s</b>')
        self.assertRegex(dom, r'<b id="rate">[\d.]+</b>')
        self.assertIn('<tr id="classes"><td>requests</td><td>0</td>'
                      '<td>7</td><td>0</td><td>2</td><td>0</td><td>0</td>'
                      '</tr>', dom)
        self.assertRegex(dom, r'<tr class="listener"><td>127\.0\.0\.1:%d'
                         r'</td><td>0</td><td>1024</td></tr>'
                         % s.http_port)


if __name__ == "__main__":
    h.main()
