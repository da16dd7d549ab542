#!/usr/bin/python3
"""
Asynchronous native modules (gateway ABI 2, issue 13) end to end, and
the ABI 1 modules that must keep working beside them.

examples/native/sse.c streams Server-Sent Events from one timer to every
client of a worker; these tests run it under bridge --http -w 1 (as root
with --user nobody) and read the streams with raw sockets:

- the stream's head and event format (id:, data:, blank line), events
  arriving one interval apart with consecutive ids, also through nginx;
- the small synchronous routes (/, /stats) beside the pending streams;
- a client that closes is noticed (BG_EV_GONE): /stats counts it gone;
- a graceful stop (TERM) ends the open streams at once (BG_EV_STOP);
- Last-Event-ID replays the events a reconnecting client missed;
- a client that does not read is skipped, not buffered without bound:
  events are dropped for it (ids jump) and it resumes after draining;
- 10,000 concurrent streams on one worker each get two events within a
  bound, and the worker's RSS for them is reported.

tests/apps/abi1.c is a module built for ABI 1 (abi_version 1, the ABI 1
struct size, with a trap past it): it loads, serves, and its write()
keeps ABI 1's blocking contract.
"""
import os
import re
import resource
import select
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

SSE_SO = os.path.join(h.BUILDDIR, "examples", "native", ".libs", "sse.so")
ABI1_SO = os.path.join(h.BUILDDIR, "tests", "apps", ".libs", "abi1.so")

INTERVAL_MS = 200
# BRIDGE_SSE_CONNS: the scale case's client count (the 10,000).
NCONN = int(os.environ.get("BRIDGE_SSE_CONNS", "10000"))
EVENT_RX = re.compile(rb"id: (\d+)\ndata: (\{[^\n]*\})\n\n")


class Closed(Exception):
    pass


class SseStream:
    """GET /events on one socket; events() decodes the chunked body and
    splits it into events (lists of (field, value))."""

    def __init__(self, port, path="/events", headers=(), rcvbuf=None,
                 timeout=h.TIMEOUT):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        req = "GET %s HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n" \
            % path
        for k, v in headers:
            req += "%s: %s\r\n" % (k, v)
        self.s.sendall(req.encode() + b"\r\n")
        self.raw = b""
        self.text = b""
        self.eof = False
        self.status = None
        self.headers = {}

    def close(self):
        self.s.close()

    def _recv(self, deadline):
        self.s.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.s.recv(65536)
        if not data:
            raise Closed("stream closed; undecoded %r" % self.raw[:200])
        self.raw += data

    def head(self, timeout=h.TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            self._recv(deadline)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "")
        return self.status

    def _decode(self):
        if not self.chunked:
            self.text += self.raw
            self.raw = b""
            return
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self.raw[:i].split(b";")[0], 16)
            if size == 0:
                self.eof = True
                return
            if len(self.raw) < i + 2 + size + 2:
                return
            self.text += self.raw[i + 2:i + 2 + size]
            self.raw = self.raw[i + 2 + size + 2:]

    def event(self, timeout=h.TIMEOUT):
        """The next event that has an id (comments skipped), as a dict
        of its fields, with the raw text under "raw"."""
        deadline = time.monotonic() + timeout
        if self.status is None:
            self.head(timeout)
        while True:
            self._decode()
            while b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                fields = {"raw": block + b"\n\n"}
                for line in block.split(b"\n"):
                    if line.startswith(b":"):
                        continue
                    k, _, v = line.partition(b":")
                    fields[k.decode()] = v[1:] if v.startswith(b" ") else v
                if "id" in fields:
                    return fields
            if self.eof:
                raise Closed("stream ended")
            self._recv(deadline)


def stats(port):
    st, _, body = h.http_request(port, path="/stats")
    if st != 200:
        raise AssertionError("/stats: %d %r" % (st, body))
    return {k: int(v) for k, v in
            (line.split() for line in body.decode().splitlines())}


def sse_bridge(tc, interval_ms=INTERVAL_MS, pad=0, extra=(), start=True):
    """sse.so on bridge --http -w 1."""
    arg = "interval_ms=%d" % interval_ms
    if pad:
        arg += ",pad=%d" % pad
    return hh.HttpBridge(tc, module=SSE_SO, workers=1,
                         extra=["--module-arg", arg] + list(extra),
                         start=start)


class SseEvents(unittest.TestCase):

    def setUp(self):
        self.b = sse_bridge(self)
        self.port = self.b.port

    def stream(self, **kw):
        s = SseStream(self.port, **kw)
        self.addCleanup(s.close)
        return s

    def test_event_stream_head_and_format(self):
        s = self.stream()
        self.assertEqual(s.head(), 200)
        self.assertEqual(s.headers.get("content-type"), "text/event-stream")
        self.assertEqual(s.headers.get("cache-control"), "no-cache")
        self.assertNotIn("content-length", s.headers)
        evs = [s.event() for _ in range(3)]
        for ev in evs:
            self.assertRegex(ev["raw"], EVENT_RX)
        ids = [int(ev["id"]) for ev in evs]
        self.assertEqual(ids, list(range(ids[0], ids[0] + 3)), evs)

    def test_events_arrive_periodically(self):
        # Five consecutive events span four intervals from the first,
        # which went out after t0 (however late each is read).
        t0 = time.monotonic()
        s = self.stream()
        ids = [int(s.event()["id"]) for _ in range(5)]
        took = time.monotonic() - t0
        self.assertEqual(ids, list(range(ids[0], ids[0] + 5)))
        # Not before 0.8 s (minus timer slack); the upper bound is only
        # a loaded machine's.
        self.assertGreaterEqual(took, 4 * INTERVAL_MS / 1000.0 * 0.9)
        self.assertLess(took, 10.0)

    def test_stream_outlives_timeout(self):
        """--timeout bounds a request until its response starts; a
        stream that has started goes on past it."""
        self.b.stop()
        self.b = sse_bridge(self, extra=["--timeout", "1"])
        self.port = self.b.port
        s = self.stream()
        t0 = time.monotonic()
        first = int(s.event()["id"])
        while time.monotonic() - t0 < 2.5:
            last = int(s.event()["id"])
        self.assertGreater(last, first)
        self.assertEqual(stats(self.port)["clients"], 1)
        self.assertNotIn("timeout", self.b.log())

    def test_events_pass_nginx_proxy(self):
        """Through nginx (conf/nginx-proxy.conf, keep-alive upstream),
        each event reaches the client as it is sent: nothing on the way
        holds the stream back for a Content-Length."""
        ng = hh.NginxProxy(self, self.port)
        s = SseStream(ng.port)
        self.addCleanup(s.close)
        self.assertEqual(s.head(), 200)
        ids = [int(s.event(5)["id"]) for _ in range(3)]
        self.assertEqual(ids, list(range(ids[0], ids[0] + 3)))

    def test_sync_routes_beside_pending_streams(self):
        s = self.stream()
        s.event()
        st, hd, body = h.http_request(self.port, path="/")
        self.assertEqual(st, 200)
        self.assertTrue(hd["content-type"].startswith("text/html"))
        self.assertIn(b"EventSource", body)
        self.assertEqual(stats(self.port)["clients"], 1)
        s.event()   # the stream goes on

    def test_client_disconnect_noticed(self):
        streams = [self.stream() for _ in range(3)]
        for s in streams:
            s.event()
        self.assertEqual(stats(self.port)["clients"], 3)
        streams[0].close()
        streams[1].close()
        got = h.wait_for(lambda: stats(self.port)["clients"] == 1, 10)
        st = stats(self.port)
        self.assertTrue(got, st)
        self.assertEqual(st["gone"], 2, st)
        a = int(streams[2].event()["id"])
        self.assertEqual(int(streams[2].event()["id"]), a + 1)

    def test_last_event_id_replays_missed_events(self):
        s = self.stream()
        first = int(s.event()["id"])
        s.close()
        # The timer runs only while a client is there: keep one.
        keeper = self.stream()
        keeper.event()
        h.wait_for(lambda: stats(self.port)["ticks"] >= first + 3, 10)
        r = self.stream(headers=[("Last-Event-ID", str(first))])
        ids = [int(r.event()["id"]) for _ in range(3)]
        self.assertEqual(ids, [first + 1, first + 2, first + 3])

    def test_non_reading_client_skipped_then_resumes(self):
        """A client that stops reading costs the worker at most
        high_water: events are dropped for it (counted in /stats), and
        once it reads again and its queue drains it gets events again,
        with a gap in the ids.  A reading client misses nothing."""
        self.b.stop()
        # 16 kB events every 10 ms: 1.6 MB/s, more than the socket
        # buffers and high_water hold within a few seconds.
        self.b = sse_bridge(self, interval_ms=10, pad=16000)
        self.port = self.b.port
        good = self.stream()
        slow = self.stream(rcvbuf=4096)
        slow.head()
        got = h.wait_for(lambda: stats(self.port)["dropped"] > 20, 30)
        self.assertTrue(got, stats(self.port))
        ids = [int(good.event()["id"]) for _ in range(50)]
        self.assertEqual(ids, list(range(ids[0], ids[0] + 50)))
        # Reading again: the queue drains, events come once more.
        last, gap = None, False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not gap:
            i = int(slow.event()["id"])
            gap = last is not None and i > last + 1
            last = i
        self.assertTrue(gap, "no event was skipped for the slow client")
        a = int(slow.event()["id"])
        self.assertGreater(int(slow.event()["id"]), a)


class SseStop(unittest.TestCase):

    def test_graceful_stop_ends_open_streams(self):
        """TERM with streams open: the module hears BG_EV_STOP, ends
        them (each stream gets its last chunk), and the worker exits
        at once instead of holding the stop for --graceful-timeout and
        being killed (streams cut, worker_fini never run)."""
        b = sse_bridge(self)
        streams = [SseStream(b.port) for _ in range(3)]
        for s in streams:
            self.addCleanup(s.close)
            s.event()
        t0 = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        for s in streams:
            with self.assertRaisesRegex(Closed, "stream ended"):
                while True:
                    s.event(15)
        # The default --graceful-timeout is 30 s.
        rc = b.proc.wait(20)
        took = time.monotonic() - t0
        b.stopped = True
        b.stdout.close()
        self.assertEqual(rc, 0, b.log())
        self.assertLess(took, 15, b.log())
        self.assertNotIn("killing", b.log())


class SseFastcgi(unittest.TestCase):

    def test_stream_over_fastcgi_ends_on_graceful_stop(self):
        """The same stream through the FastCGI front end (as nginx's
        fastcgi_pass would carry it); TERM ends it with END_REQUEST."""
        b = h.Bridge(self, module=SSE_SO, extra=[
            "--module-arg", "interval_ms=%d" % INTERVAL_MS])
        c = b.connect()
        self.addCleanup(c.close)
        params = [p for p in h.request_params("/events")
                  if p[0] != "SCRIPT_NAME"]
        c.send(h.request_bytes(1, params=params + [("SCRIPT_NAME", ""),
                                                   ("PATH_INFO", "/events")]))
        out = b""
        while len(EVENT_RX.findall(out)) < 2:
            rec = c.read_record()
            self.assertEqual((rec.type, rec.id), (h.FCGI_STDOUT, 1), out)
            out += rec.content
        self.assertIn(b"Content-Type: text/event-stream\r\n", out)
        ids = [int(i) for i, _ in EVENT_RX.findall(out)]
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))))
        t0 = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        rec = c.read_record()
        while rec.type == h.FCGI_STDOUT and rec.content:
            rec = c.read_record()
        if rec.type == h.FCGI_STDOUT:   # the empty one ending STDOUT
            rec = c.read_record()
        self.assertEqual((rec.type, rec.end_request()),
                         (h.FCGI_END_REQUEST, (0, 0)))
        rc = b.proc.wait(20)
        b.stopped = True
        b.stdout.close()
        self.assertEqual(rc, 0, b.log())
        self.assertLess(time.monotonic() - t0, 15, b.log())
        self.assertNotIn("killing", b.log())


class SseScale(unittest.TestCase):
    """NCONN concurrent streams on one worker."""

    def test_10000_clients_each_get_two_events(self):
        need = NCONN + 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < need and \
                os.geteuid() == 0:
            # Root may raise the hard limit; bridge inherits it (and
            # takes the soft limit up to it itself).
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
        if hh.raise_nofile(need) < need:
            self.skipTest("RLIMIT_NOFILE below %d" % need)
        # bridge's default --max-conns (16384) is above NCONN; the
        # listen queue is raised for the connection burst.
        b = sse_bridge(self, interval_ms=500, extra=["--backlog", "4096"],
                       start=False)
        # Started with the usual soft limit of 1024 (a login shell's,
        # systemd's): bridge raises its soft limit to the hard one.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        try:
            b.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        (worker,) = h.wait_for(lambda: b.workers(), 5)
        self.assertGreaterEqual(open_files_limit(worker), need)
        rss0 = hh.vm_rss_kb(worker)
        t0 = time.monotonic()
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        ok, err = run_clients(b.port, NCONN, 2, 45, socks)
        took = time.monotonic() - t0
        st = stats(b.port)
        rss1 = hh.vm_rss_kb(worker)
        for s in socks:
            s.close()
        sys.stderr.write("\n%d SSE clients on one worker: all had 2 events "
                         "after %.1f s; worker RSS %d -> %d kB (%.1f kB "
                         "per client); stats %s\n"
                         % (NCONN, took, rss0, rss1,
                            (rss1 - rss0) / float(NCONN), st))
        self.assertEqual(ok, NCONN, err)
        self.assertEqual(st["clients"], NCONN, st)
        self.assertEqual(b.workers(), [worker], "the worker was replaced")
        # They closed: every one is noticed.
        got = h.wait_for(lambda: stats(b.port)["clients"] == 0, 30, 0.5)
        self.assertTrue(got, stats(b.port))
        if not h.SANITIZED:
            # A client costs its connection and request state, not
            # buffers: far under 32 kB each.
            self.assertLess((rss1 - rss0) / float(NCONN), 32.0)


def open_files_limit(pid):
    """The soft RLIMIT_NOFILE of a process (/proc/PID/limits)."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()[3]
                return float("inf") if v == "unlimited" else int(v)
    raise AssertionError("no open-files limit for %d" % pid)


def run_clients(port, n, events, timeout, socks):
    """Open n streams (at most 512 connecting at once) and read until
    each has had `events` events; the sockets, still open, are appended
    to socks.  Returns (number that did, errors)."""
    req = b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n"
    ep = select.epoll()
    conns = {}      # fd -> [socket, state, count, tail]
    done = 0
    started = 0
    pending = 0     # connecting or waiting for the head
    errors = []
    deadline = time.monotonic() + timeout
    try:
        while done < n and time.monotonic() < deadline:
            while started < n and pending < 512:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                rc = s.connect_ex(("127.0.0.1", port))
                if rc not in (0, 115):  # EINPROGRESS
                    errors.append("connect: %s" % os.strerror(rc))
                    s.close()
                    return done, errors
                conns[s.fileno()] = [s, 0, 0, b""]
                socks.append(s)
                ep.register(s.fileno(), select.EPOLLOUT)
                started += 1
                pending += 1
            for fd, ev in ep.poll(1.0):
                c = conns[fd]
                s = c[0]
                if c[1] == 0:
                    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if e:
                        errors.append("connect: %s" % os.strerror(e))
                        return done, errors
                    s.send(req)
                    c[1] = 1
                    ep.modify(fd, select.EPOLLIN)
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    errors.append("closed after %d events: %r"
                                  % (c[2], c[3][-200:]))
                    ep.unregister(fd)
                    return done, errors
                if c[1] == 1:
                    if not data.startswith(b"HTTP/1.1 200"):
                        errors.append("head: %r" % data[:200])
                        return done, errors
                    c[1] = 2
                    pending -= 1
                buf = c[3] + data
                before = c[2]
                c[2] += buf.count(b"\ndata: ")
                c[3] = buf[-8:]
                if before < events <= c[2]:
                    done += 1
        if done < n:
            errors.append("%d of %d had %d events after %d s (%d started)"
                          % (done, n, events, timeout, started))
        return done, errors
    finally:
        ep.close()


class Abi1Module(unittest.TestCase):
    """A module built for ABI 1 (abi_version 1, size up to worker_fini)
    loads into this bridge and serves over HTTP and FastCGI."""

    def test_abi1_module_loads_and_serves(self):
        b = hh.HttpBridge(self, module=ABI1_SO, workers=1)
        workers = b.workers()
        st, _, body = h.http_request(b.port, path="/")
        self.assertEqual((st, body), (200, b"abi1 ok\n"))
        # write() keeps ABI 1's contract (blocks, returns 0): 4 MB in
        # 64 kB writes all arrive, and none returned anything else.
        st, hd, body = h.http_request(b.port, path="/big?4000000",
                                      timeout=30)
        self.assertEqual((st, len(body)), (200, 4000000))
        self.assertEqual(b.workers(), workers, "the worker was replaced")
        self.assertNotIn("abi1:", b.log())

    def test_abi1_module_over_fastcgi(self):
        b = h.Bridge(self, module=ABI1_SO, workers=1)
        with b.connect() as c:
            r = c.request(1, path="/", extra={"PATH_INFO": "/"})
        self.assertEqual((r.status, r.body, r.end), (200, b"abi1 ok\n",
                                                      (0, 0)))
        self.assertNotIn("abi1:", b.log())


if __name__ == "__main__":
    h.main()
