#!/usr/bin/python3
"""
Slow and stalled HTTP clients (issue 3, part 3; DESIGN.md section 7):
a client that trickles its request, idles, or stops reading must be cut
off by the matching timeout, and must never hold the worker -- every test
runs bridge with ONE worker and checks that another client is served
promptly meanwhile.

Timing bounds are generous against scheduling noise (the suite shares two
cores with the build) but tight enough to tell "the timeout fired" from
"nothing happened".
"""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

PROMPT = 0.5        # a request from a well-behaved client, in seconds


class Prober:
    """Sends GET / on fresh connections from a thread, every interval,
    and records each latency until stopped."""

    def __init__(self, port, interval=0.1):
        self.port = port
        self.interval = interval
        self.latencies = []
        self.errors = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                with hh.RawHttp(("127.0.0.1", self.port), timeout=5) as c:
                    r = c.request("/")
                    if r.status != 200 or r.body != b"probe\n":
                        self.errors.append("got %r" % r)
            except (OSError, hh.Closed) as e:
                self.errors.append(repr(e))
            self.latencies.append(time.monotonic() - t0)
            self.stop_ev.wait(self.interval)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop_ev.set()
        self.t.join(10)

    def check(self, tc, min_count=5):
        tc.assertFalse(self.errors, self.errors[:5])
        tc.assertGreaterEqual(len(self.latencies), min_count)
        # Most of them prompt: a worker blocked on the slow client would
        # hold every one of them; one hiccup of a loaded machine is not
        # that (the worst alone would be a tight bound).
        median = sorted(self.latencies)[len(self.latencies) // 2]
        tc.assertLess(median, PROMPT, "other clients waited (median %.3f s;"
                      " all: %s)" % (median,
                                     ["%.3f" % x for x in self.latencies]))


def wait_eof(sock, timeout):
    """Seconds until the peer closes (EOF or reset), None if it does not
    within timeout.  Returns (seconds, bytes received before)."""
    t0 = time.monotonic()
    got = b""
    sock.settimeout(0.05)
    while time.monotonic() - t0 < timeout:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0, got
        if not data:
            return time.monotonic() - t0, got
        got += data
    return None, got


class Trickle(threading.Thread):
    """Sends data one byte every delay seconds until done or the peer
    goes away."""

    def __init__(self, sock, data, delay):
        super().__init__(daemon=True)
        self.sock, self.data, self.delay = sock, data, delay
        self.sent = 0
        self.stop_ev = threading.Event()

    def run(self):
        for i in range(len(self.data)):
            if self.stop_ev.is_set():
                return
            try:
                self.sock.send(self.data[i:i + 1])
            except OSError:
                return
            self.sent += 1
            self.stop_ev.wait(self.delay)


class ReadTimeout(unittest.TestCase):
    """--header-timeout bounds a whole request head (slowloris);
    --read-timeout bounds a pause in a request body."""
    header_timeout = "2"
    read_timeout = "60"

    def setUp(self):
        self.b = hh.HttpBridge(self, workers=1,
                               extra=["--header-timeout",
                                      self.header_timeout,
                                      "--read-timeout", self.read_timeout,
                                      "--idle-timeout", "30"])

    def slow_client(self, data, first=b"", delay=0.2):
        s = socket.create_connection(self.b.addr, timeout=5)
        self.addCleanup(s.close)
        t0 = time.monotonic()
        if first:
            s.sendall(first)
        tr = Trickle(s, data, delay)
        tr.start()
        self.addCleanup(tr.stop_ev.set)
        return s, t0, tr

    def test_slowloris_header(self):
        """Header bytes one per 200 ms: closed at the header timeout
        (2 s) although bytes keep coming, and the single worker serves
        another client promptly all along."""
        head = (b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
                + b"\r\n\r\n")
        s, t0, tr = self.slow_client(head)
        with Prober(self.b.port) as p:
            took, got = wait_eof(s, 6)
        tr.stop_ev.set()
        self.assertIsNotNone(took, "slow client still connected after 6 s")
        self.assertGreater(took, 1.7, "closed before the header timeout")
        self.assertLess(took, 3.5, "closed long after the header timeout")
        self.assertLess(tr.sent, len(head), "whole head was sent")
        # A 408 is allowed (RFC 9110 15.5.9), nothing else.
        self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 408 "), got)
        p.check(self)
        self.b.wait_log(r"timeout")

    def test_body_pause(self):
        """A body that stops after 10 of 100 bytes: closed after the
        --read-timeout pause (2 s), and the app never ran."""
        self.b.stop()
        self.b = hh.HttpBridge(self, workers=1,
                               extra=["--header-timeout", "20",
                                      "--read-timeout", "2"])
        s = socket.create_connection(self.b.addr, timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100"
                  b"\r\n\r\n" + b"y" * 10)
        with Prober(self.b.port) as p:
            took, got = wait_eof(s, 6)
        self.assertIsNotNone(took, "paused body still connected after 6 s")
        self.assertGreater(took, 1.7)
        self.assertLess(took, 3.5)
        self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 408 "), got)
        p.check(self)

    def test_slow_body_does_not_hold_the_worker(self):
        """A body trickled one byte per 200 ms (never pausing 2 s): the
        one worker serves others meanwhile, and the app runs once, when
        the whole body is in."""
        s, t0, tr = self.slow_client(b"0123456789abcde", first=(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 15"
            b"\r\n\r\n"))
        with Prober(self.b.port) as p:
            tr.join(10)
        p.check(self)
        s.settimeout(5)
        data = b""
        while not data.endswith(b"0123456789abcde"):
            chunk = s.recv(4096)
            self.assertTrue(chunk, "closed: %r" % data)
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)

    def test_header_timer_restarts_for_each_request(self):
        """--header-timeout bounds one request head, not a connection: a
        client that keeps sending requests, each complete within 0.2 s
        but each read ending part-way into the next head, is served past
        several header timeouts."""
        def req(i):
            body = b"%04d" % i
            return (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4"
                    b"\r\n\r\n" + body)
        n = 25
        stream = b"".join(req(i) for i in range(n))
        one = len(req(0))
        with self.b.connect() as c:
            got = []
            t0 = time.monotonic()
            # Send request i's second half with request i+1's first half.
            c.send(stream[:one // 2])
            for i in range(n):
                time.sleep(0.15)
                try:
                    c.send(stream[one * i + one // 2:
                                  one * (i + 1) + one // 2])
                    r = c.read_response()
                except (hh.Closed, OSError) as e:
                    self.fail("closed after %d requests, %.1f s: %s"
                              % (len(got), time.monotonic() - t0, e))
                got.append(r.body)
            self.assertEqual(got, [b"%04d" % i for i in range(n)])
            self.assertGreater(time.monotonic() - t0, 3.0)

    def test_many_slowloris_one_worker(self):
        """Fifty slowloris connections at once on one worker."""
        head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
        trs = []
        socks = []
        for _ in range(50):
            s, t0, tr = self.slow_client(head)
            socks.append(s)
            trs.append(tr)
        with Prober(self.b.port) as p:
            time.sleep(1.5)
        p.check(self)
        t0 = time.monotonic()
        for s in socks:
            took, _ = wait_eof(s, max(0.1, 4 - (time.monotonic() - t0)))
            self.assertIsNotNone(took, "a slow client outlived the timeout")
        for tr in trs:
            tr.stop_ev.set()



class SlowlorisEqualTimeouts(unittest.TestCase):
    def test_slowloris_with_equal_header_and_read_timeouts(self):
        """--header-timeout 2 --read-timeout 2: the head is still bounded
        as a whole, whatever the body's pause timeout is set to."""
        b = hh.HttpBridge(self, workers=1,
                          extra=["--header-timeout", "2",
                                 "--read-timeout", "2"])
        s = socket.create_connection(b.addr, timeout=5)
        self.addCleanup(s.close)
        tr = Trickle(s, b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: "
                     + b"a" * 100, 0.2)
        tr.start()
        self.addCleanup(tr.stop_ev.set)
        took, got = wait_eof(s, 6)
        tr.stop_ev.set()
        self.assertIsNotNone(took, "slowloris still connected after 6 s")
        self.assertLess(took, 3.5)


class IdleTimeout(unittest.TestCase):
    def test_idle_keep_alive_closed(self):
        """An idle keep-alive connection is closed after --idle-timeout
        (RFC 9112 9.5: a server may close idle connections), quietly."""
        b = hh.HttpBridge(self, workers=1,
                          extra=["--idle-timeout", "1",
                                 "--read-timeout", "10"])
        with b.connect() as c:
            self.assertEqual(c.request("/").status, 200)
            t0 = time.monotonic()
            self.assertTrue(c.closed_within(5), "idle connection kept")
            took = time.monotonic() - t0
        self.assertGreater(took, 0.8)
        self.assertLess(took, 2.5)

    def test_idle_timer_restarts_after_each_request(self):
        """Requests every 0.4 s keep a connection alive past several idle
        timeouts: the idle clock restarts with each request."""
        b = hh.HttpBridge(self, workers=1,
                          extra=["--idle-timeout", "1",
                                 "--read-timeout", "10"])
        t0 = time.monotonic()
        with b.connect() as c:
            for i in range(9):
                try:
                    self.assertEqual(c.request("/").status, 200)
                except (hh.Closed, OSError) as e:
                    self.fail("busy connection closed at request %d, "
                              "%.1f s: %s" % (i + 1,
                                              time.monotonic() - t0, e))
                time.sleep(0.4)


class WriteTimeout(unittest.TestCase):
    def start(self, secs):
        self.b = hh.HttpBridge(self, workers=1,
                               extra=["--write-timeout", str(secs)])

    def test_client_that_does_not_read(self):
        """A client asks for 20 MB and never reads: dropped after the
        write timeout, while the one worker keeps serving others
        (issue 3 part 3: the response drains after the app returned).
        A write timeout of 4 s leaves room for the prober's five
        requests on a loaded machine (ASan in CI had three in 2 s)."""
        self.start(4)
        size = 20 * 1000 * 1000
        c = hh.RawHttp(self.b.addr, timeout=10, rcvbuf=4096)
        self.addCleanup(c.close)
        c.send(hh.get_request("/big?%d" % size))
        # Others are served while the worker waits on this client, until
        # it gives up on it (its log line).
        with Prober(self.b.port) as p:
            self.b.wait_log(r"(?i)write timeout|stopped reading", 20)
        # What is left to read ends early, at a close.
        data = c.read_to_eof(10)
        self.assertTrue(c.eof)
        self.assertLess(len(data), size, "the whole response was kept "
                        "for a client that did not read")
        p.check(self)

    def test_slow_reader_within_timeout_gets_everything(self):
        """The write timeout bounds a stall, not the whole response: a
        client that reads steadily but slowly (longer than the timeout in
        total) gets every byte."""
        self.start(2)
        size = 4 * 1000 * 1000
        c = hh.RawHttp(self.b.addr, timeout=10, rcvbuf=65536)
        self.addCleanup(c.close)
        c.send(hh.get_request("/big?%d" % size))
        head = c.read_head()
        self.assertEqual(head.status, 200)
        raw = bytearray(c.buf)
        c.buf = b""
        t0 = time.monotonic()
        while not raw.endswith(b"0\r\n\r\n"):
            data = c.sock.recv(65536)
            self.assertTrue(data, "closed after %d bytes" % len(raw))
            raw += data
            time.sleep(0.05)
        self.assertGreater(time.monotonic() - t0, 2.0, "reader not slow")
        self.assertGreater(len(raw), size)


if __name__ == "__main__":
    h.main()
