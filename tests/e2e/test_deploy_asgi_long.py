#!/usr/bin/python3
"""An ASGI deployment run the way users run it, for longer than every
timeout it has, with its logs rotated half way.

bridge is started as root with --user nobody (test_deploy_long's
Deployment, which drops BRIDGE_ALLOW_ROOT from the environment: the
production path, no shortcut) serving the FastAPI example
(examples/asgi/fastapi_app.py, through tests/apps/asgi_fastapi_long.py,
which notes each lifespan startup and shutdown with its pid), 2 workers,
every timeout short, --access-log and --error-log in directories of
root's that nobody cannot write.  Once over --http, once over --fastcgi
behind nginx with the shipped conf/nginx-bridge.conf (fastcgi_keep_conn
on, keepalive upstream).

For twice the longest timeout, in two phases around a log rotation
(rename both logs, then the postrotate script of the shipped
conf/bridge.logrotate: USR1 to the pid in --pidfile):
  - a keep-alive connection answers a second request begun after a
    short pause and finished past --idle-timeout, then goes idle past
    --idle-timeout: bridge closes it with a FIN (not a reset), and a new
    connection works (behind nginx: the FastCGI connection with
    FCGI_KEEP_CONN, and nginx's pooled ones, which the next request
    through nginx must survive);
  - a request sleeping past --timeout gets 504 while other requests
    are answered, and the workers are the same processes after it
    (the ASGI task is cancelled, the worker lives on);
  - a streaming response arrives whole (chunked over HTTP);
  - a slow client sends a POST in pieces cut at odd bytes (inside the
    request line, a header, the body; inside FastCGI record headers),
    pausing, for longer than --idle-timeout but within --header-timeout;
  - a request from each worker: one blocks its worker's event loop
    (/block), the others go meanwhile to the other worker.
Then: each request's access line is in the file of its phase and only
there, with its status; every worker logged in both files; no worker was
started after the first two, the workers are the same processes, run as
nobody; the only error lines are the 504s; lifespan startup ran once in
each worker; and TERM, with idle keep-alive connections open, a request
running and (over HTTP) a client that has sent half a request head,
stops bridge with status 0 within --graceful-timeout, each worker having
run lifespan shutdown.
"""
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402
from asgi_grid import EXAMPLES, bridge_has_asgi                 # noqa: E402
from test_deploy_long import (LOADED, REQUEST_TIMEOUT,          # noqa: E402
                              STARTUP_TIMEOUT, Deployment, uid_of)

APPS = os.path.join(h.SRCDIR, "tests", "apps")
ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                       "python.so")
WORKERS = 2
IDLE_TIMEOUT = 2        # s, --idle-timeout (Gunicorn's --keep-alive)
GRACEFUL_TIMEOUT = 4    # s, --graceful-timeout
# --header-timeout, --read-timeout, --write-timeout: longer than
# --graceful-timeout (a client's half-sent head must not hold the stop).
CLIENT_TIMEOUT = 6
LONGEST = max(STARTUP_TIMEOUT, REQUEST_TIMEOUT, IDLE_TIMEOUT,
              GRACEFUL_TIMEOUT, CLIENT_TIMEOUT)
RUN_FOR = 2 * LONGEST
# What /sleep?s= awaits for the 504 (the example caps it at 5 s).
SLEEP_PAST = REQUEST_TIMEOUT + 2
# The slow client's pause between pieces; it sends 8 pieces, for longer
# than --idle-timeout and well within --header-timeout.
SLOW_PAUSE = 0.35
# Lines of the response that streams past --timeout.
STREAM_LINES = 5
ACCESS_FORMAT = "%(p)s %({X-Tag}i)s %(s)s"
ACCESS_LINE = re.compile(r"^(\d+) (\S+) (\d{3})$", re.M)
TIMED_OUT = "request ran past --timeout"


def postrotate(pidfile):
    """Run the postrotate script of the shipped conf/bridge.logrotate for
    a bridge whose --pidfile is pidfile."""
    with open(os.path.join(h.CONF, "bridge.logrotate")) as f:
        text = f.read()
    m = re.search(r"^\s*postrotate\n(.*?)^\s*endscript", text, re.M | re.S)
    if m is None or "/run/bridge/bridge.pid" not in m.group(1):
        raise AssertionError("conf/bridge.logrotate: no postrotate script "
                             "naming /run/bridge/bridge.pid")
    script = m.group(1).replace("/run/bridge/bridge.pid", pidfile)
    r = subprocess.run(["/bin/sh", "-ec", script], capture_output=True,
                       text=True, timeout=10)
    if r.returncode != 0:
        raise AssertionError("postrotate failed: %s" % r.stderr)


def clean_eof(sock, timeout):
    """'eof' when the peer closes sock with a FIN within timeout,
    'reset', 'open', or the bytes it sent instead."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return "open"
    except ConnectionResetError:
        return "reset"
    return "eof" if data == b"" else data


def established_to(port):
    """Established TCP connections to 127.0.0.1:port (their client
    side), from /proc/net/tcp."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == "0100007F:%04X" % port and fields[3] == "01":
                n += 1
    return n


def fcgi_request(path, tag, body=b"", rid=1, flags=0):
    """A FastCGI request as nginx sends it, tagged tag (X-Tag)."""
    method = "POST" if body else "GET"
    params = [kv for kv in h.request_params(path, method, body or None)
              if kv[0] != "CONTENT_TYPE"] + [("HTTP_X_TAG", tag)]
    if body:
        params.append(("CONTENT_TYPE", "application/json"))
    return h.request_bytes(rid=rid, body=body, flags=flags, params=params)


class HttpKeepAlive:
    """A keep-alive HTTP connection straight to bridge's --http."""

    def __init__(self, port):
        self.c = hh.RawHttp(("127.0.0.1", port), timeout=20)

    def request(self, path, tag, body=b""):
        r = self.c.request(path, "POST" if body else "GET",
                           headers=[("X-Tag", tag)] + (
                               [("Content-Type", "application/json")]
                               if body else []), body=body)
        return r.status, r.body

    def request_split(self, path, tag, cut, pause):
        """GET path sent in two pieces, cut bytes first."""
        data = ("GET %s HTTP/1.1\r\nHost: t\r\nX-Tag: %s\r\n\r\n"
                % (path, tag)).encode()
        self.c.send(data[:cut])
        time.sleep(pause)
        self.c.send(data[cut:])
        r = self.c.read_response()
        return r.status, r.body

    def closed(self):
        if self.c.buf:
            return self.c.buf
        return clean_eof(self.c.sock, IDLE_TIMEOUT + 10)

    def close(self):
        self.c.close()


class FcgiKeepAlive:
    """A FastCGI connection straight to bridge's --fastcgi, each request
    with FCGI_KEEP_CONN, as nginx's fastcgi_keep_conn sends them."""

    def __init__(self, addr):
        self.c = h.FcgiConn(addr, timeout=20)
        self.rid = 0

    def bytes(self, path, tag, body=b""):
        self.rid += 1
        return fcgi_request(path, tag, body, self.rid, h.FCGI_KEEP_CONN)

    def request(self, path, tag, body=b""):
        self.c.send(self.bytes(path, tag, body))
        r = self.c.read_response(self.rid)
        return r.status, r.body

    def request_split(self, path, tag, cut, pause):
        data = self.bytes(path, tag)
        self.c.send(data[:cut])
        time.sleep(pause)
        self.c.send(data[cut:])
        r = self.c.read_response(self.rid)
        return r.status, r.body

    def closed(self):
        if self.c.buf:
            return self.c.buf
        return clean_eof(self.c.sock, IDLE_TIMEOUT + 10)

    def close(self):
        self.c.close()


class LongAsgi(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            msg = "needs root: the production path is root with --user"
            if h.REQUIRE_PEERS:
                self.fail(msg)
            self.skipTest(msg)
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        if not bridge_has_asgi():
            self.fail("this bridge has no --asgi")
        self.serial = 0
        self.sent = {}          # tag -> status it was answered with
        self.lock = threading.Lock()

    # --- the deployment ---------------------------------------------

    def start(self, front):
        """bridge FRONT 127.0.0.1:PORT --asgi ..., every timeout short."""
        # As /var/log/bridge: root's, mode 0755, not the workers'.
        self.logs = h.TempDir(self)
        self.state = h.TempDir(self, "bridge-asgi-state-", writable=True)
        self.access = self.logs.join("access.log")
        self.pidfile = self.logs.join("bridge.pid")
        self.port = h.free_port()
        self.d = Deployment(self, [
            front, "127.0.0.1:%d" % self.port,
            "--asgi", "asgi_fastapi_long:app", "--chdir", EXAMPLES,
            "--pythonpath", APPS, "-w", str(WORKERS),
            "--env", "ASGI_EXAMPLE_STATE=" + self.state.path,
            "--idle-timeout", str(IDLE_TIMEOUT),
            "--graceful-timeout", str(GRACEFUL_TIMEOUT),
            "--header-timeout", str(CLIENT_TIMEOUT),
            "--read-timeout", str(CLIENT_TIMEOUT),
            "--write-timeout", str(CLIENT_TIMEOUT),
            "--access-log", self.access,
            "--access-log-format", ACCESS_FORMAT,
            "--pidfile", self.pidfile,
            # Debug: the lines saying each worker started and reopened
            # the logs.
            "--log-level", "debug"])
        self.errors = self.d.log_path
        h.wait_port("127.0.0.1", self.port, proc=self.d.proc)
        if not h.wait_for(lambda: len(LOADED.findall(self.d.log()))
                          >= WORKERS or self.d.proc.poll() is not None,
                          STARTUP_TIMEOUT + 5):
            self.fail("workers never loaded the application:\n"
                      + self.d.log())
        self.loaded_at = time.monotonic()
        self.pids = set(hh.worker_pids(self.d.proc.pid))
        self.assertEqual(len(self.pids), WORKERS, self.d.log())
        for pid in self.pids:
            self.assertEqual(uid_of(pid), pwd.getpwnam("nobody").pw_uid)
        self.assertEqual(uid_of(self.d.proc.pid), 0)

    def diag(self):
        text = "\nerror log:\n" + h.read_text(self.errors)[-4000:]
        if hasattr(self, "nginx"):
            text += "\nnginx:\n" + self.nginx.error_log()[-2000:]
        return text

    def tag(self, phase):
        with self.lock:
            self.serial += 1
            return "%s-%d" % (phase, self.serial)

    def note(self, tag, status):
        with self.lock:
            self.sent[tag] = status

    def get(self, path, phase, timeout=20):
        """One request on a connection of its own, to the front users
        talk to (bridge's --http, or nginx)."""
        tag = self.tag(phase)
        st, hd, body = h.http_request(self.front_port, "GET", path,
                                      headers={"X-Tag": tag},
                                      timeout=timeout)
        self.note(tag, st)
        return st, hd, body

    def same_workers(self, when):
        self.assertEqual(set(hh.worker_pids(self.d.proc.pid)), self.pids,
                         "workers replaced %s%s" % (when, self.diag()))

    # --- what each phase does -----------------------------------------

    def keepalive_open(self, phase, split=False):
        """A keep-alive connection that has answered two requests, the
        second after a pause shorter than --idle-timeout; split: that
        one's first bytes then, the rest past --idle-timeout (the idle
        deadline no longer holds once a request has begun)."""
        k = self.keepalive(phase)
        tag = self.tag(phase)
        st, body = k.request("/", tag)
        self.note(tag, st)
        self.assertEqual((st, body), (200, b"hello world"))
        time.sleep(IDLE_TIMEOUT / 4)
        tag = self.tag(phase)
        if split:
            st, body = k.request_split("/", tag, 5, IDLE_TIMEOUT)
        else:
            st, body = k.request("/", tag)
        self.note(tag, st)
        self.assertEqual((st, body), (200, b"hello world"), self.diag())
        return k

    def keepalive_closed(self, k, phase):
        """k, idle since its last answer, is closed by bridge once past
        --idle-timeout, with a FIN; a new connection works."""
        self.assertEqual(k.closed(), "eof", "an idle keep-alive "
                         "connection was not closed cleanly" + self.diag())
        k.close()
        k = self.keepalive(phase)
        tag = self.tag(phase)
        st, body = k.request("/", tag)
        self.note(tag, st)
        self.assertEqual((st, body), (200, b"hello world"))
        k.close()

    def stream(self, phase):
        st, hd, body = self.get("/stream", phase)
        self.assertEqual((st, body), (200, b"".join(
            b"chunk %d\n" % i for i in range(5))), self.diag())
        if self.front == "--http":
            self.assertEqual(hd.get("transfer-encoding"), "chunked")
            self.assertNotIn("content-length", hd)

    def past_timeout(self, phase):
        """/sleep past --timeout: 504, while the workers answer others
        and a response that streams for longer than --timeout (and
        --idle-timeout) arrives whole; the same workers after."""
        got, streamed = [], []
        t0 = time.monotonic()
        slow = threading.Thread(target=lambda: got.append(self.get(
            "/sleep?s=%d" % SLEEP_PAST, phase, timeout=SLEEP_PAST + 20)))
        slow.start()
        gap = (max(REQUEST_TIMEOUT, IDLE_TIMEOUT) + 1) / (STREAM_LINES - 1)
        stream = threading.Thread(target=lambda: streamed.append(self.get(
            "/slowstream?n=%d&gap=%g" % (STREAM_LINES, gap), phase,
            timeout=30)))
        stream.start()
        n = 0
        while slow.is_alive() and n < 100:
            st, _, body = self.get("/", phase)
            self.assertEqual((st, body), (200, b"hello world"))
            n += 1
            time.sleep(0.1)
        slow.join(SLEEP_PAST + 20)
        stream.join(30)
        self.assertFalse(slow.is_alive() or stream.is_alive())
        self.assertEqual(got[0][0], 504, got[0][2] + self.diag().encode())
        self.assertEqual(streamed[0][0], 200, self.diag())
        self.assertEqual(streamed[0][2], b"".join(
            b"line %d\n" % i for i in range(STREAM_LINES)))
        # Streamed for longer than --timeout, not cut at it.
        self.assertGreater(time.monotonic() - t0, REQUEST_TIMEOUT + 1)
        # Answered at --timeout, not when the sleep would have ended.
        self.assertLess(time.monotonic() - t0, SLEEP_PAST + 10)
        self.assertGreater(n, 0)
        self.same_workers("after a request ran past --timeout")

    def slow_client(self, phase):
        """A POST /echo in 8 pieces cut at odd bytes, a pause between
        each, for longer than --idle-timeout: over HTTP, or over FastCGI
        straight to bridge (nginx in front would buffer a slow client's
        request); then another request on the same connection."""
        doc = {"phase": phase, "odd": "x" * 37}
        body = json.dumps(doc).encode()
        tag = self.tag(phase)
        t0 = time.monotonic()
        if self.front == "--http":
            k = HttpKeepAlive(self.port)
            req = (b"POST /echo HTTP/1.1\r\nHost: t\r\nX-Tag: %s\r\n"
                   b"Content-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % (tag.encode(),
                                                      len(body)) + body)
            cuts = self.odd_cuts(req, [b"/echo", b"X-Tag", b"Length: ",
                                       b"\r\n\r\n", b'"odd"'])
            self.send_pieces(k.c.sock, req, cuts)
            r = k.c.read_response()
            st, out = r.status, r.body
        else:
            k = FcgiKeepAlive(("127.0.0.1", self.port))
            req = k.bytes("/echo", tag, body)
            # Inside the first record header (3), the PARAMS header (13)
            # and its content, the STDIN header and the body.
            stdin = req.rfind(body)
            cuts = [3, 13, 21, 57, stdin - 5, stdin + 7, stdin + 30]
            self.send_pieces(k.c.sock, req, cuts)
            r = k.c.read_response(k.rid)
            st, out = r.status, r.body
        try:
            self.note(tag, st)
            self.assertEqual(st, 200, out + self.diag().encode())
            self.assertEqual(json.loads(out), {"echo": doc})
            self.assertGreater(time.monotonic() - t0, IDLE_TIMEOUT)
            tag = self.tag(phase)
            st, out = k.request("/", tag)
            self.note(tag, st)
            self.assertEqual((st, out), (200, b"hello world"))
        finally:
            k.close()

    @staticmethod
    def odd_cuts(data, marks):
        """Offsets one byte (or three) into each mark: mid-token."""
        cuts = []
        for i, m in enumerate(marks):
            at = data.find(m)
            assert at >= 0, m
            cuts.append(at + (1 if i % 2 == 0 else 3))
        cuts += [len(data) - 2, len(data) - 1]
        return sorted(set(cuts))

    @staticmethod
    def send_pieces(sock, data, cuts):
        last = 0
        for c in cuts + [len(data)]:
            sock.sendall(data[last:c])
            last = c
            if c < len(data):
                time.sleep(SLOW_PAUSE)

    def every_worker(self, phase):
        """A request of phase from every worker: one blocks the event
        loop of the worker that takes it (/block), so that the requests
        sent meanwhile on new connections straight to bridge go to the
        other (EPOLLEXCLUSIVE wakes a worker that waits)."""
        assert WORKERS == 2
        got = []
        token = "every" + phase
        blocker = threading.Thread(target=lambda: got.append(self.get(
            "/block?token=%s&s=1" % token, phase)))
        blocker.start()
        marker = os.path.join(self.state.path, "block-" + token)
        self.assertTrue(h.wait_for(lambda: os.path.exists(marker)))
        for _ in range(3):
            tag = self.tag(phase)
            if self.front == "--http":
                st = h.http_request(self.port, "GET", "/",
                                    headers={"X-Tag": tag}, timeout=20)[0]
            else:
                with h.FcgiConn(("127.0.0.1", self.port), 20) as c:
                    c.send(fcgi_request("/", tag))
                    st = c.read_response(1).status
            self.note(tag, st)
            self.assertEqual(st, 200)
        blocker.join(20)
        self.assertEqual(got[0][0::2], (200, b"blocked 1"))

        def logged():
            return {int(p) for p, tag, _ in ACCESS_LINE.findall(
                h.read_text(self.access)) if tag.startswith(phase + "-")}
        h.wait_for(lambda: logged() == self.pids)
        self.assertEqual(logged(), self.pids, "not every worker logged a "
                         "%s request" % phase)

    def phase(self, name):
        k = self.keepalive_open(name, split=True)
        self.stream(name)
        self.past_timeout(name)
        self.slow_client(name)
        self.every_worker(name)
        if self.front == "--fastcgi":
            self.nginx_pool_idle(name)
        self.keepalive_closed(k, name)

    def nginx_pool_idle(self, phase):
        """nginx keeps the FastCGI connections of the requests just
        made (fastcgi_keep_conn, keepalive 8); bridge closes them once
        idle past --idle-timeout; the next request through nginx gets a
        new one and its answer."""
        self.assertGreater(established_to(self.port), 0,
                           "nginx keeps no FastCGI connection to bridge")
        if not h.wait_for(lambda: established_to(self.port) == 0,
                          IDLE_TIMEOUT + 10):
            self.fail("nginx's idle FastCGI connections still open after "
                      "--idle-timeout" + self.diag())
        st, _, body = self.get("/", phase)
        self.assertEqual((st, body), (200, b"hello world"), self.diag())

    def rotate(self):
        """As logrotate with the shipped file: rename, then postrotate."""
        os.rename(self.access, self.access + ".1")
        os.rename(self.errors, self.errors + ".1")
        postrotate(self.pidfile)
        for pat in [r"USR1: logs reopened"] + [
                r"\[%d\] worker \d+: logs reopened" % p for p in self.pids]:
            if not h.wait_for(lambda: re.search(pat, h.read_text(
                    self.errors)), 10):
                self.fail("no %r in the new error log%s" % (pat,
                                                          self.diag()))

    # --- the run --------------------------------------------------------

    def run_deployment(self, front):
        self.front = front
        self.start(front)
        self.front_port = self.port
        self.keepalive = lambda phase: HttpKeepAlive(self.port)
        if front == "--fastcgi":
            self.nginx = h.Nginx(self, ("127.0.0.1", self.port),
                                 "/nonexistent.sock", subs={
                                     "/srv/app/static/":
                                     os.path.join(EXAMPLES, "static") + "/"})
            self.front_port = self.nginx.port
            self.keepalive = lambda phase: FcgiKeepAlive(
                ("127.0.0.1", self.port))

        self.phase("a")
        self.rotate()
        self.phase("b")
        # Keep serving until twice the longest timeout has passed.
        n = 0
        while time.monotonic() - self.loaded_at < RUN_FOR:
            st, _, _ = self.get("/", "b")
            self.assertEqual(st, 200)
            n += 1
            time.sleep(0.2)
        self.assertIsNone(self.d.proc.poll(), self.diag())
        self.same_workers("during the run")
        self.check_access_logs()
        self.check_error_logs()
        self.stop_with_idle_connections()
        self.check_lifespan()

    def check_access_logs(self):
        """Each request logged once, in its phase's file, with its
        status; each worker in both files."""
        for path, phase in ((self.access + ".1", "a"), (self.access, "b")):
            want = {t: s for t, s in self.sent.items()
                    if t.startswith(phase + "-")}
            # A worker writes the line once the answer is out: the last
            # one may still be on its way.
            h.wait_for(lambda: len(ACCESS_LINE.findall(h.read_text(path)))
                       >= len(want))
            lines = ACCESS_LINE.findall(h.read_text(path))
            tags = [tag for _, tag, _ in lines]
            self.assertEqual(sorted(tags), sorted(want), "%s: the %s "
                             "requests, each once" % (path, phase))
            self.assertEqual({t: int(s) for _, t, s in lines}, want)
            self.assertEqual({int(p) for p, _, _ in lines}, self.pids)
            self.assertEqual(sum(1 for s in want.values() if s == 504), 1)

    def check_error_logs(self):
        """No worker started but the first ones; no error but the
        504s, one in each file."""
        old = h.read_text(self.errors + ".1")
        new = h.read_text(self.errors)
        started = re.findall(r"worker \d+ started, pid (\d+)", old + new)
        self.assertEqual({int(p) for p in started}, self.pids, old + new)
        self.assertEqual(len(started), WORKERS, old + new)
        for text in (old, new):
            for what in ("exited", "respawning", "killed", "replaced",
                         "startup-timeout", "recycled"):
                self.assertNotIn(what, text)
            errors = [ln for ln in text.splitlines()
                      if re.match(r"\S+ (error|warn) ", ln)]
            self.assertEqual(len(errors), 1, "\n".join(errors))
            self.assertIn(TIMED_OUT, errors[0])
        if hasattr(self, "nginx"):
            self.assertNotRegex(self.nginx.error_log(),
                                r"\[(error|crit|alert|emerg)\]")

    def stop_with_idle_connections(self):
        """TERM with idle keep-alive connections open (nginx's pooled
        ones too), a request running and, over HTTP, half a request head
        sent (--header-timeout is longer than --graceful-timeout): status
        0, within --graceful-timeout; the running request answered, the
        other connections closed."""
        k = self.keepalive_open("b")
        half = None
        if self.front == "--http":
            half = hh.RawHttp(("127.0.0.1", self.port), timeout=20)
            half.send(b"GET / HTTP/1.1\r\nHo")
        got = []
        held = threading.Thread(target=lambda: got.append(self.get(
            "/hold?token=atterm&s=1", "b")))
        held.start()
        marker = os.path.join(self.state.path, "hold-atterm")
        self.assertTrue(h.wait_for(lambda: os.path.exists(marker)))
        t0 = time.monotonic()
        rc = h.stop_process(self.d.proc, signal.SIGTERM,
                            GRACEFUL_TIMEOUT + 15)
        took = time.monotonic() - t0
        held.join(20)
        self.assertEqual(rc, 0, "bridge exited %s%s" % (rc, self.diag()))
        self.assertLess(took, GRACEFUL_TIMEOUT, self.diag())
        self.assertEqual(got[0][0::2], (200, b"held 1"))
        self.assertEqual(k.closed(), "eof")
        k.close()
        if half is not None:
            self.assertEqual(half.read_to_eof(5), b"")
            half.close()
        log = h.read_text(self.errors)
        self.assertIn("TERM: stopping gracefully", log)
        self.assertRegex(log, r"info \[\d+\] stopped\n")
        self.assertEqual(len(re.findall(r"worker \d+ \(pid \d+\) exited "
                                        r"with status 0", log)), WORKERS)
        self.assertNotIn("killed", log)

    def check_lifespan(self):
        """Startup once in each worker, shutdown in each on TERM."""
        lines = h.read_text(os.path.join(self.state.path,
                                         "lifespan.log")).split()
        events = sorted(zip(lines[0::2], map(int, lines[1::2])))
        self.assertEqual(events, sorted(
            [("startup", p) for p in self.pids]
            + [("shutdown", p) for p in self.pids]))
        # The example's own shutdown handler ran too.
        self.assertEqual(sorted(n for n in os.listdir(self.state.path)
                                if n.startswith("fastapi-")), sorted(
            "fastapi-shutdown-%d" % p for p in self.pids))

    def test_http_asgi_past_timeouts_with_log_rotation(self):
        self.run_deployment("--http")

    def test_nginx_fastcgi_asgi_past_timeouts_with_log_rotation(self):
        self.run_deployment("--fastcgi")


if __name__ == "__main__":
    h.main()
