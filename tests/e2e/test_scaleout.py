#!/usr/bin/python3
"""
Scale-out: two bridge hosts behind real HAProxy and real nginx, running
the shipped conf/haproxy-backends.cfg and conf/nginx-upstream.conf (only
addresses, ports and HAProxy's check interval replaced), under load.

Each host is its own bridge (master and two workers, the Flask example,
started as root with --user nobody) with an HTTP and a FastCGI listener
on a loopback port of its own, --health-path /healthz and
--shutdown-delay; the balancer spreads both protocols over the two.  A
load generator (threads with keep-alive connections, half to the HTTP
front, half to the FastCGI front) records every request: a failure is an
error or anything but 200 "hello world".  Phases, each a few seconds of
load:
  HUP one host, then the other   -> no failed request
  TERM one host (graceful)       -> no failed request; it exits 0
  kill -9 one host's master and workers -> failures only among requests
        in flight on it when it died; none once the balancer noticed
The numbers are printed ("scaleout: ...") for the record.

SCALEOUT_SHUTDOWN_DELAY (seconds, default 1) sets the hosts'
--shutdown-delay, to measure what the TERM phase needs (docs/scaling.md).
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import deploy_harness as d                                      # noqa: E402

# HAProxy's check interval in the test (the shipped file says 1s): fall 2
# x 200 ms + one interval is 0.6 s, so --shutdown-delay 1 covers it.
CHECK_INTER = "200ms"
DELAY = os.environ.get("SCALEOUT_SHUTDOWN_DELAY", "1")
CONNS = 4               # load connections per front (HTTP, FastCGI)


class Host:
    """One bridge "host": HTTP and FastCGI listeners on loopback ports of
    its own, the Flask example, as root with --user nobody."""

    def __init__(self, tc, name, ports=None):
        if os.geteuid() != 0:
            tc.skipTest("needs root: bridge runs as root with --user nobody")
        if not os.path.exists(d.ADAPTER):
            tc.skipTest("Python adapter not built")
        self.tc = tc
        self.name = name
        self.http, self.fcgi = ports or (h.free_port(), h.free_port())
        self.tmp = h.TempDir(tc, "bridge-%s-" % name)
        self.log_path = self.tmp.join("bridge.log")
        self.access = self.tmp.join("access.log")
        self.out = open(self.tmp.join("bridge.stdout"), "wb")
        tc.addCleanup(self.out.close)
        self.proc = subprocess.Popen(
            [h.BRIDGE, "--http", "127.0.0.1:%d" % self.http,
             "--fastcgi", "127.0.0.1:%d" % self.fcgi,
             "--wsgi", "main:app", "--chdir", d.FLASK, "-w", "2",
             "--health-path", "/healthz", "--shutdown-delay", DELAY,
             "--graceful-timeout", "10", "--error-log", self.log_path,
             "--access-log", self.access,
             # DOCUMENT_ROOT: "-" for HTTP, the web server's for FastCGI
             "--access-log-format", '%({DOCUMENT_ROOT}e)s "%(r)s" %(s)s',
             "--user", "nobody"],
            stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT)
        self.killed = False
        tc.addCleanup(self.stop)
        h.wait_port("127.0.0.1", self.http, proc=self.proc)
        self.wait_log(r"worker 1 \(pid \d+\): application \S+ loaded", 1)

    def log(self):
        return h.read_text(self.log_path)

    def wait_log(self, pattern, count, timeout=30):
        rx = re.compile(pattern)
        if not h.wait_for(lambda: len(rx.findall(self.log())) >= count,
                          timeout):
            raise AssertionError("%s: no %d x %r in its log:\n%s"
                                 % (self.name, count, pattern, self.log()))

    def served(self, front=None):
        """Requests of the load (not the balancer's probes) it answered,
        of one front ("http", "fastcgi") or both."""
        return sum(1 for line in h.read_text(self.access).splitlines()
                   if "/healthz" not in line and (
                       front is None or
                       line.startswith("- ") == (front == "http")))

    def kill9(self):
        """SIGKILL the master and every worker at once, as a host that
        loses power: nothing drains."""
        pids = [self.proc.pid]
        try:
            with open("/proc/%d/task/%d/children"
                      % (self.proc.pid, self.proc.pid)) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        for p in pids:
            os.kill(p, signal.SIGKILL)
        self.killed = True
        self.proc.wait(timeout=h.TIMEOUT)
        # The workers were ours to kill too: reaped by init; wait until
        # they are gone so the port is free for the next host.
        h.wait_for(lambda: not any(os.path.exists("/proc/%d/stat" % p)
                                   and "Z" not in _state(p)
                                   for p in pids[1:]), h.TIMEOUT)

    def stop(self):
        if self.killed or self.proc.poll() is not None:
            return
        rc = h.stop_process(self.proc, signal.SIGTERM, 20)
        self.tc.assertEqual(rc, 0, "%s did not stop cleanly:\n%s"
                            % (self.name, self.log()))


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


class Load:
    """Keep-alive GET / loops through the balancer, every request
    recorded as (start, end, ok, what)."""

    def __init__(self, ports):
        self.results = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(p,),
                                         daemon=True)
                        for p in ports for _ in range(CONNS)]
        for t in self.threads:
            t.start()

    def run(self, port):
        conn = None
        while not self.done.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=15)
            t0 = time.monotonic()
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
                body = r.read()
                ok = r.status == 200 and body == b"hello world"
                what = "%d %r" % (r.status, body[:60])
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                ok, what = False, repr(e)
                conn.close()
                conn = None
            self.results.append((t0, time.monotonic(), ok, what, port))
        if conn is not None:
            conn.close()

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(h.TIMEOUT + 10)
        return self.results

    def count(self):
        return len(self.results)


class ScaleOut:
    """Mixed into a TestCase; setUp starts the hosts and the balancer and
    sets self.fronts = [(name, port), ...]."""

    def report(self, phase, results, t_action):
        """Print each front's count of requests and failures (failures
        grouped by what went wrong, with their times from the action);
        returns the failures."""
        for name, port in self.fronts:
            mine = [r for r in results if r[4] == port]
            bad = [r for r in mine if not r[2]]
            span = max(r[1] for r in mine) - min(r[0] for r in mine) \
                if mine else 0
            slow = max(mine, key=lambda r: r[1] - r[0]) if mine else None
            nslow = sum(1 for r in mine if r[1] - r[0] > 0.5)
            sys.stderr.write("scaleout: %s %s %s: %d requests in %.1f s, "
                             "%d failed; %d over 0.5 s, the slowest %.2f s "
                             "at %+.2f s\n"
                             % (self.balancer, name, phase, len(mine), span,
                                len(bad), nslow,
                                slow[1] - slow[0] if slow else 0,
                                slow[0] - t_action if slow else 0))
            kinds = {}
            for r in bad:
                kinds.setdefault(r[3], []).append(r[0] - t_action)
            for what, ts in sorted(kinds.items()):
                sys.stderr.write("    %d x %s, from %+.3f s to %+.3f s\n"
                                 % (len(ts), what, min(ts), max(ts)))
        return [r for r in results if not r[2]]

    def diag(self):
        return "\n%s:\n%s\n%s" % (self.balancer, h._tail(self.err),
                                    "".join("\n%s:\n%s" % (x.name,
                                            x.log()[-2000:])
                                            for x in self.hosts))

    def load_until(self, pred, what, timeout=20):
        """Load running until pred(); fails the test after timeout."""
        load = Load([p for _, p in self.fronts])
        try:
            ok = h.wait_for(pred, timeout)
        finally:
            load.stop()
        self.assertTrue(ok, "%s within %d s" % (what, timeout))

    def phase(self, action, settle):
        """Load, action() once requests flow, load for settle s more.
        Returns (results, time of the action)."""
        load = Load([p for _, p in self.fronts])
        try:
            self.assertTrue(h.wait_for(lambda: load.count() >= 200, 20),
                            "no load through %s" % self.balancer)
            t = time.monotonic()
            action()
            time.sleep(settle)      # load goes on: requests after the act
        finally:
            results = load.stop()
        return results, t

    def expect(self, ok, problem):
        """A failed phase is reported at the end: the later phases still
        run and print their numbers."""
        if not ok:
            self.problems.append(problem)

    def test_hup_term_kill(self):
        self.problems = []
        a, b = self.hosts
        # Both hosts get traffic to start with.
        self.load_until(lambda: all(x.served(f) > 20 for x in (a, b)
                                    for f in ("http", "fastcgi")),
                        "both hosts serving both fronts")

        # HUP both in turn: new workers replace the old, no request lost.
        def hup():
            for host in (a, b):
                host.proc.send_signal(signal.SIGHUP)
                host.wait_log(r"reload done", 1)
        results, t = self.phase(hup, 1.0)
        bad = self.report("HUP both in turn", results, t)
        self.expect(len(bad) == 0, "%d failed requests during HUP"
                    % len(bad))

        # TERM a: the probe says 503 for --shutdown-delay, the balancer
        # takes it out, then it stops gracefully.
        def term():
            t0 = time.monotonic()
            a.proc.send_signal(signal.SIGTERM)
            a.proc.wait(float(DELAY) + 20)
            sys.stderr.write("scaleout: %s: TERM to exit %.2f s "
                             "(--shutdown-delay %s)\n"
                             % (self.balancer, time.monotonic() - t0, DELAY))
        before_b = b.served()
        results, t = self.phase(term, 1.0)
        bad = self.report("TERM one host", results, t)
        self.assertEqual(a.proc.returncode, 0, a.log())
        self.assertIn("stopped", a.log())
        self.assertGreater(b.served(), before_b)
        self.expect(len(bad) == 0, "%d failed requests during a graceful "
                    "stop" % len(bad))
        self.check_term()

        # a again, on the same ports, until the balancer sends it traffic.
        a2 = Host(self, "host1-again", (a.http, a.fcgi))
        self.hosts[0] = a2
        # Per front: nginx counts failures per upstream, and an upstream
        # whose hosts are all marked failed answers 502 for fail_timeout.
        self.load_until(lambda: a2.served("http") > 20 and
                        a2.served("fastcgi") > 20, "host1 back in rotation")

        # kill -9 b: what was in flight on it may fail, nothing after the
        # balancer noticed.
        n_before = len(self.fronts) * CONNS
        # Load goes on for a second past the balancer's notice.
        results, t = self.phase(b.kill9, self.notice + 1.0)
        bad = self.report("kill -9 one host", results, t)
        late = [r for r in bad if r[0] > t + self.notice]
        self.expect(len(late) == 0, "%d failures after the balancer's "
                    "check" % len(late))
        # At most one request in flight per load connection at the kill.
        self.expect(len(bad) <= n_before, "%d failures at the kill, more "
                    "than the %d requests in flight" % (len(bad), n_before))
        self.assertTrue(h.wait_for(lambda: a2.served() > 0, 1))
        after = [r for r in results if r[0] > t + self.notice]
        self.assertGreater(len(after), 50, "little load after the kill")
        self.assertEqual(self.problems, [], self.diag())


class HaproxyScaleOut(ScaleOut, unittest.TestCase):
    balancer = "haproxy"
    # fall 2 x inter 200 ms, and the next check: 0.6 s; margin for a
    # loaded machine.
    notice = 2.0

    def check_term(self):
        """With --shutdown-delay, HAProxy took the host out on the 503 of
        --health-path (HTTP, and FastCGI through fcgi-app), not on a
        refused connection."""
        if float(DELAY) == 0:
            return
        log = h._tail(self.err, 1 << 20)
        for backend in ("bridge_http", "bridge_fcgi"):
            self.assertRegex(log, r"Server %s/host1 is DOWN, reason: "
                             r"Layer7 wrong status, code: 503" % backend)

    def setUp(self):
        (bin,) = h.require(self, "haproxy")
        self.hosts = [Host(self, "host1"), Host(self, "host2")]
        a, b = self.hosts
        tmp = h.TempDir(self, "bridge-haproxy-")
        http, fcgi = h.free_port(), h.free_port()
        h.render_conf("haproxy-backends.cfg", {
            "bind 127.0.0.1:8080": "bind 127.0.0.1:%d" % http,
            "bind 127.0.0.1:8081": "bind 127.0.0.1:%d" % fcgi,
            "10.0.0.11:8000": "127.0.0.1:%d" % a.http,
            "10.0.0.12:8000": "127.0.0.1:%d" % b.http,
            "10.0.0.11:9000": "127.0.0.1:%d" % a.fcgi,
            "10.0.0.12:9000": "127.0.0.1:%d" % b.fcgi,
            "inter 1s": "inter " + CHECK_INTER,
        }, tmp.join("haproxy.cfg"))
        self.err = tmp.join("stderr")
        self.proc = subprocess.Popen(
            [bin, "-db", "-f", tmp.join("haproxy.cfg")],
            stdin=subprocess.DEVNULL, stdout=h._logfile(self, tmp.join(
                "stdout")), stderr=h._logfile(self, self.err))
        self.addCleanup(h.stop_process, self.proc, signal.SIGUSR1)
        h.wait_port("127.0.0.1", http, proc=self.proc)
        h.wait_port("127.0.0.1", fcgi, proc=self.proc)
        self.fronts = [("http", http), ("fastcgi", fcgi)]


class NginxScaleOut(ScaleOut, unittest.TestCase):
    balancer = "nginx"
    # Passive: the first failed connection takes the host out for
    # fail_timeout; the request itself goes to the other host.
    notice = 1.0

    def check_term(self):
        pass            # no active checks: nothing of the probe to see

    def setUp(self):
        (bin,) = h.require(self, "nginx")
        self.hosts = [Host(self, "host1"), Host(self, "host2")]
        a, b = self.hosts
        tmp = h.TempDir(self, "bridge-nginx-")
        for sub in ("logs", "body", "fastcgi", "proxy", "scgi", "uwsgi"):
            os.makedirs(tmp.join(sub))
        shutil.copy("/etc/nginx/fastcgi_params"
                    if os.path.exists("/etc/nginx/fastcgi_params")
                    else os.path.join(h.HERE, "fastcgi_params"),
                    tmp.join("fastcgi_params"))
        http, fcgi = h.free_port(), h.free_port()
        h.render_conf("nginx-upstream.conf", {
            "listen 127.0.0.1:8080;": "listen 127.0.0.1:%d;" % http,
            "listen 127.0.0.1:8081;": "listen 127.0.0.1:%d;" % fcgi,
            "10.0.0.11:8000": "127.0.0.1:%d" % a.http,
            "10.0.0.12:8000": "127.0.0.1:%d" % b.http,
            "10.0.0.11:9000": "127.0.0.1:%d" % a.fcgi,
            "10.0.0.12:9000": "127.0.0.1:%d" % b.fcgi,
        }, tmp.join("bridge.conf"))
        with open(os.path.join(h.HERE, "nginx-main.conf.in")) as f:
            main = f.read().replace("@PREFIX@", tmp.path)
        with open(tmp.join("nginx.conf"), "w") as f:
            f.write(main)
        self.err = tmp.join("logs", "error.log")
        self.proc = subprocess.Popen(
            [bin, "-c", tmp.join("nginx.conf"), "-p", tmp.path + "/",
             "-g", "daemon off;"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=h._logfile(self, tmp.join("stderr")))
        self.addCleanup(h.stop_process, self.proc, signal.SIGQUIT)
        h.wait_port("127.0.0.1", http, proc=self.proc)
        h.wait_port("127.0.0.1", fcgi, proc=self.proc)
        self.fronts = [("http", http), ("fastcgi", fcgi)]


if __name__ == "__main__":
    h.main()
