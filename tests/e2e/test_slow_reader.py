#!/usr/bin/env python3
"""
One slow reader does not freeze its worker (HTTP client or FastCGI
web server).

A client that asks for a large response and stops reading: once more
than --max-spool of it waits, the worker used to wait for that client
on its event loop (up to --write-timeout), and every other connection
of the worker stalled with it.  Now the loop never waits for one client:

    --threads 1   the module runs on the loop thread; past --max-spool
                  the slow client's response is cut (connection closed)
    --threads 2   the application thread that writes waits for its
                  client; the loop and the other thread serve the rest,
                  and the slow client gets its whole response when it
                  reads again

One worker, --write-timeout long (so a stall would outlast every wait
here), --max-spool at its minimum (1 MiB).
"""
import socket
import unittest

import harness as h
import http_harness as hh

BIG = 16 * 1024 * 1024      # the slow client's response
OTHERS = 5                  # requests from another client meanwhile


def stalled_client(b):
    """Ask for BIG bytes with a tiny receive window; read nothing."""
    c = hh.RawHttp(b.addr, rcvbuf=4096)
    c.send(b"GET /big?%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
           % BIG)
    return c


class SlowReader(unittest.TestCase):
    def start(self, threads):
        return hh.HttpBridge(self, workers=1, log_level="debug", extra=[
            "--user", "nobody", "--threads", str(threads),
            "--max-spool", "1m", "--write-timeout", "120"])

    def others_served(self, b):
        """OTHERS requests on fresh connections, each answered in time
        (a frozen worker answers none before --write-timeout)."""
        for i in range(OTHERS):
            with hh.RawHttp(b.addr, timeout=h.TIMEOUT) as c:
                c.send(b"GET /status?200 HTTP/1.1\r\nHost: t\r\n"
                       b"Connection: close\r\n\r\n")
                try:
                    r = c.read_response()
                except socket.timeout:
                    self.fail("request %d not answered in %.0f s while a "
                              "client stalled:\n%s" % (i, h.TIMEOUT,
                                                       b.log()))
                self.assertEqual(r.status, 200)

    def test_threads_1_stalled_reader_cut_others_served(self):
        b = self.start(1)
        slow = stalled_client(b)
        self.addCleanup(slow.close)
        self.others_served(b)
        b.wait_log("lags more than --max-spool behind", timeout=h.TIMEOUT)
        # The slow client's response ends short: it was cut.
        got = slow.read_to_eof(timeout=h.TIMEOUT)
        self.assertLess(got.count(b"x"), BIG)

    def test_threads_2_stalled_reader_waits_others_served(self):
        b = self.start(2)
        slow = stalled_client(b)
        self.addCleanup(slow.close)
        b.wait_log("past --max-spool; the application waits",
                   timeout=h.TIMEOUT)
        self.others_served(b)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        got = slow.read_to_eof(timeout=h.TIMEOUT * 3)
        body = got.partition(b"\r\n\r\n")[2]
        self.assertEqual(body.count(b"x"), BIG, b.log())
        self.assertNotIn("lags more than --max-spool", b.log())


class SlowFastcgiPeer(unittest.TestCase):
    """The same over FastCGI: a web server that stops reading a response
    (nginx with fastcgi_buffering off, behind a slow client)."""

    def start(self, threads):
        return h.Bridge(self, workers=1, log_level="debug", extra=[
            "--user", "nobody", "--threads", str(threads),
            "--max-spool", "1m", "--write-timeout", "120"])

    def stalled_peer(self, b):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(h.TIMEOUT)
        s.connect(b.addr)
        self.addCleanup(s.close)
        s.sendall(h.request_bytes(rid=1, path="/big?%d" % BIG,
                                  flags=h.FCGI_KEEP_CONN))
        return s

    def others_served(self, b):
        for i in range(OTHERS):
            with b.connect(timeout=h.TIMEOUT) as c:
                try:
                    r = c.request(rid=1, path="/status?200")
                except socket.timeout:
                    self.fail("request %d not answered in %.0f s while a "
                              "peer stalled:\n%s" % (i, h.TIMEOUT,
                                                     b.log()))
                self.assertIn(b"Status: 200", r.stdout)

    def test_threads_1_stalled_peer_cut_others_served(self):
        b = self.start(1)
        self.stalled_peer(b)
        self.others_served(b)
        b.wait_log("web server lags more than --max-spool behind",
                   timeout=h.TIMEOUT)

    def test_threads_2_stalled_peer_waits_others_served(self):
        b = self.start(2)
        s = self.stalled_peer(b)
        b.wait_log("application waits for the web server",
                   timeout=h.TIMEOUT)
        self.others_served(b)
        # Read it all now: every byte, then END_REQUEST.
        s.settimeout(h.TIMEOUT * 3)
        data, xs, ended = b"", 0, False
        while not ended:
            chunk = s.recv(1 << 20)
            self.assertTrue(chunk, "closed before END_REQUEST:\n" + b.log())
            recs, data = h.split_records(data + chunk)
            for rec in recs:
                if rec.type == h.FCGI_STDOUT:
                    xs += rec.content.count(b"x")
                ended = ended or rec.type == h.FCGI_END_REQUEST
        self.assertEqual(xs, BIG, b.log())
        self.assertNotIn("lags more than --max-spool", b.log())


if __name__ == "__main__":
    h.main()
