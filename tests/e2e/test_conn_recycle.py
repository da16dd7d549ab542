#!/usr/bin/env python3
"""
--max-requests recycling with requests split over several reads: each
request runs exactly once and is answered exactly once.

The request that reaches --max-requests finishes inside the read that
completed it, while the front end is still walking the connection's
input buffer.  Starting the stop there used to update that connection
at once: the unfinished walk was resumed from the start of the buffer,
so an HTTP POST ran (and was answered) twice, and FastCGI sent two
END_REQUESTs for id 1 after reading freed memory (ASan:
heap-use-after-free in fcgi_parse_record).

Bounded load: --max-requests 1, one worker, REQUESTS requests per front
end, each cut at random byte boundaries (seeded RNG, seed in the
failure message).  The probe module appends one line per run to a file
(/count?ID); every ID must appear exactly once there and exactly one
answer must come back on its connection.
"""
import os
import random
import socket
import time
import unittest

import harness as h
import http_harness as hh

REQUESTS = 16
SEED = int(os.environ.get("BRIDGE_TEST_SEED", "1107"))


def cuts_for(rng, n):
    """One to three distinct cut offsets inside a message of n bytes."""
    k = rng.randint(1, 3)
    return sorted(set(rng.randint(1, n - 1) for _ in range(k)))


def send_cut(sock, data, cuts):
    """Send data in pieces, pausing so each piece is its own read (not a
    synchronisation: a piece that shares a read only weakens the case)."""
    last = 0
    for c in cuts + [len(data)]:
        sock.sendall(data[last:c])
        last = c
        if c < len(data):
            time.sleep(0.03)


def read_all_after_shutdown(sock, first):
    """Close our side, then read to EOF: bytes beyond the first answer
    would be a second answer."""
    sock.shutdown(socket.SHUT_WR)
    data = first
    sock.settimeout(h.TIMEOUT)
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


class RecycleSplit(unittest.TestCase):
    def setUp(self):
        self.tmp = h.TempDir(self)
        # The worker runs as nobody and appends to this file.
        self.countdir = self.tmp.join("count")
        os.mkdir(self.countdir)
        os.chmod(self.countdir, 0o777)
        self.countfile = os.path.join(self.countdir, "runs")
        self.rng = random.Random(SEED)

    def extra(self):
        return ["--user", "nobody", "--max-requests", "1",
                "--module-arg", "count=" + self.countfile]

    def runs(self):
        try:
            with open(self.countfile) as f:
                return [line.split()[0] for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def check_runs(self, b, ids):
        runs = self.runs()
        for i in ids:
            self.assertEqual(runs.count(i), 1, "request %s ran %d times "
                             "(seed %d); log:\n%s" % (i, runs.count(i),
                                                      SEED, b.log()))
        self.assertEqual(len(runs), len(ids))
        # Each request was served by a worker of its own.
        self.assertGreaterEqual(b.log().count("served its --max-requests"),
                                len(ids) - 1)
        self.assertNotIn("AddressSanitizer", b.log())

    def test_http_post_split_runs_once(self):
        b = hh.HttpBridge(self, workers=1, extra=self.extra(), tmp=self.tmp)
        ids = []
        for n in range(REQUESTS):
            rid = "h%d" % n
            ids.append(rid)
            body = bytes(self.rng.randrange(256)
                         for _ in range(self.rng.randint(0, 40)))
            req = (b"POST /count?%s HTTP/1.1\r\nHost: t\r\n"
                   b"Content-Type: application/octet-stream\r\n"
                   b"Content-Length: %d\r\n\r\n" % (rid.encode(), len(body))
                   + body)
            cuts = cuts_for(self.rng, len(req))
            with hh.RawHttp(b.addr) as c:
                send_cut(c.sock, req, cuts)
                resp = c.read_response()
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.body, body)
                rest = read_all_after_shutdown(c.sock, c.buf)
                self.assertEqual(rest, b"", "a second answer to %s (cuts "
                                 "%r, seed %d): %r" % (rid, cuts, SEED,
                                                       rest[:200]))
        self.check_runs(b, ids)

    def test_fastcgi_split_keep_conn_ends_once(self):
        b = h.Bridge(self, workers=1, extra=self.extra(), tmp=self.tmp)
        ids = []
        for n in range(REQUESTS):
            rid = "f%d" % n
            ids.append(rid)
            body = bytes(self.rng.randrange(256)
                         for _ in range(self.rng.randint(0, 40)))
            req = h.request_bytes(rid=1, path="/count?" + rid,
                                  method="POST", body=body,
                                  flags=h.FCGI_KEEP_CONN)
            cuts = cuts_for(self.rng, len(req))
            with b.connect() as c:
                send_cut(c.sock, req, cuts)
                resp = c.read_response(1)
                self.assertIn(b"Status: 200", resp.stdout)
                self.assertTrue(resp.stdout.endswith(body) or not body)
                rest = read_all_after_shutdown(c.sock, c.buf)
                recs, tail = h.split_records(rest)
                ends = [r for r in recs if r.type == h.FCGI_END_REQUEST]
                self.assertEqual((ends, tail), ([], b""),
                                 "more after END_REQUEST for %s (cuts %r, "
                                 "seed %d): %r" % (rid, cuts, SEED, recs))
        self.check_runs(b, ids)


if __name__ == "__main__":
    h.main()
