#!/usr/bin/env python3
"""
The asynchronous gateway (ABI 2) through the HTTP and FastCGI front ends,
with tests/apps/async_probe.c: requests that outlive handle(), bodies
delivered as they arrive with backpressure, queued writes with BG_AGAIN
and BG_EV_DRAINED, BG_EV_GONE when the client leaves, --timeout answered
504 without losing the worker, pipelining and requests cut at awkward
byte boundaries.  bridge runs as root with --user nobody (harness).
"""
import os
import random
import re
import socket
import time
import unittest

import harness as h
import http_harness as hh

ASYNC_SO = os.path.join(h.BUILDDIR, "tests", "apps", ".libs",
                        "async_probe.so")
SEED = int(os.environ.get("BRIDGE_TEST_SEED", "2026"))


def get(path, host="127.0.0.1"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def post(path, body, chunked=False):
    if chunked:
        data = b""
        rng = random.Random(len(body))
        i = 0
        while i < len(body):
            n = rng.randint(1, 5000)
            piece = body[i:i + n]
            data += b"%x\r\n%s\r\n" % (len(piece), piece)
            i += n
        data += b"0\r\n\r\n"
        return (b"POST %s HTTP/1.1\r\nHost: t\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" % path.encode()) + data
    return (b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), len(body))) + body


def send_cut(sock, data, rng, pieces=4):
    """Send data in a few pieces cut at random offsets, each its own read
    (the pause only makes that likely; sharing a read weakens nothing)."""
    cuts = sorted(set(rng.randint(1, len(data) - 1)
                      for _ in range(pieces))) if len(data) > 1 else []
    last = 0
    for c in cuts + [len(data)]:
        sock.sendall(data[last:c])
        last = c
        if c < len(data):
            time.sleep(0.02)


def blob(tc, size):
    """A file of size random bytes that the workers (nobody) can read;
    returns (path, bytes)."""
    tmp = h.TempDir(tc)
    os.chmod(tmp.join(), 0o755)
    path = tmp.join("blob")
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return path, data


def stats(port):
    _, _, body = h.http_request(port, path="/stats")
    return dict(kv.split("=") for kv in body.decode().split())


class AsyncHttp(unittest.TestCase):
    def start(self, extra=(), workers=1):
        return hh.HttpBridge(self, module=ASYNC_SO, workers=workers,
                             extra=list(extra))

    def test_answers_now_later_and_errors(self):
        b = self.start()
        self.assertEqual(h.http_request(b.port, path="/now")[2], b"now\n")
        st, hd, body = h.http_request(b.port, path="/later?100")
        self.assertEqual((st, body), (200, b"later\n"))
        self.assertEqual(hd.get("content-length"), "6")
        self.assertEqual(h.http_request(b.port, path="/fail")[0], 500)
        self.assertEqual(h.http_request(b.port, path="/nostart")[0], 502)
        b.wait_log(r"async_probe returned without start_response: 502")

    def test_pipelined_requests_answered_in_order(self):
        """A pending request holds the next one back: answers keep the
        order of the requests, whatever order the module finishes in."""
        b = self.start()
        with b.connect() as c:
            c.send(get("/later?200") + get("/now") + get("/later?50") +
                   get("/stream?3"))
            bodies = [c.read_response().body for _ in range(4)]
        self.assertEqual(bodies, [b"later\n", b"now\n", b"later\n",
                                  b"chunk 0\nchunk 1\nchunk 2\n"])

    def test_streamed_chunks_reach_the_client_before_the_end(self):
        b = self.start()
        with b.connect() as c:
            c.send(get("/stream?20"))
            r = c.read_head()
            self.assertEqual(r.header("transfer-encoding"), "chunked")
            # The first chunk arrives long before the 20th is written
            # (20 ms apart): read it alone.
            t0 = time.monotonic()
            line = c._line()
            self.assertEqual(int(line, 16), len(b"chunk 0\n"))
            self.assertEqual(c._take(len(b"chunk 0\n")), b"chunk 0\n")
            self.assertLess(time.monotonic() - t0, 5.0)

    def test_body_split_at_awkward_boundaries(self):
        b = self.start()
        rng = random.Random(SEED)
        for chunked in (False, True):
            for n in (1, 17, 65535, 65536, 65537, 300000):
                body = bytes(rng.randrange(256) for _ in range(n))
                with b.connect() as c:
                    send_cut(c.sock, post("/echo", body, chunked), rng)
                    r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, body,
                                 "seed %d, n %d, chunked %s"
                                 % (SEED, n, chunked))

    def test_body_backpressure_slow_module(self):
        """A module reading 4 KiB every 5 ms takes a 1 MiB body: the
        server stops reading at its window and resumes as the module
        reads; every byte arrives, once."""
        b = self.start()
        body = os.urandom(1 << 20)
        with b.connect(timeout=60) as c:
            c.send(post("/slowread?5", body))
            r = c.read_response()
        self.assertEqual(r.body, b"%d\n" % len(body))

    def test_big_response_waits_for_drained(self):
        """16 MiB to a client that reads slowly: write() says BG_AGAIN past
        high water, BG_EV_DRAINED brings the module back, all arrives."""
        b = self.start()
        with b.connect(timeout=60, ) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            c.send(get("/big?16"))
            time.sleep(0.5)     # let the queue pass high water
            r = c.read_response()
        self.assertEqual(len(r.body), 16 << 20)
        s = stats(b.port)
        self.assertGreater(int(s["again"]), 0)
        self.assertGreater(int(s["drained"]), 0)

    def test_sendfile_queued_zero_copy(self):
        """sendfile() of an async request is queued behind the head (the
        module closed its fd at once) and keeps the connection's order
        with pipelined requests."""
        path, data = blob(self, 5 << 20)
        b = self.start()
        with b.connect(timeout=30) as c:
            c.send(get("/file?" + path) + get("/now"))
            r1 = c.read_response()
            r2 = c.read_response()
        self.assertEqual(r1.header("content-length"), str(len(data)))
        self.assertTrue(r1.body == data)
        self.assertEqual(r2.body, b"now\n")

    def test_early_hints_and_trailers(self):
        """103 Early Hints go out before the final response on HTTP/1.1
        and not to an HTTP/1.0 client; BG_TRAILERS makes the response
        chunked and its trailer section carries the fields."""
        b = self.start()
        with b.connect() as c:
            c.send(get("/hints"))
            interim = []
            r = c.read_response(interim=interim)
        self.assertEqual([i.status for i in interim], [103])
        self.assertEqual(interim[0].header("link"),
                         "</style.css>; rel=preload; as=style")
        self.assertEqual(r.body, b"hints\n")
        with b.connect() as c:
            c.send(b"GET /hints HTTP/1.0\r\n\r\n")
            raw = c.read_to_eof()
        self.assertTrue(raw.startswith(b"HTTP/1.1 200 "), raw[:40])
        b.wait_log(r"informational: 0")
        # The trailer section, read raw (RawHttp skips it), and the
        # next response after it on the same connection.
        with b.connect() as c:
            c.send(get("/trailers") + b"GET /now HTTP/1.1\r\nHost: t\r\n"
                   b"Connection: close\r\n\r\n")
            data = c.read_to_eof()
        self.assertIn(b"5\r\nbody\n\r\n0\r\nX-Checksum: 42\r\n\r\n", data)
        # The Trailer field announcing them passes with BG_TRAILERS.
        self.assertIn(b"\r\nTrailer: X-Checksum\r\n", data)
        self.assertTrue(data.rstrip().endswith(b"now"), data[-60:])

    def test_client_gone_is_told_and_request_freed(self):
        b = self.start()
        before = stats(b.port)
        c = b.connect()
        c.send(get("/never"))
        # It is in the module once the module counts it live.
        self.assertTrue(h.wait_for(
            lambda: stats(b.port)["live"] == "1", 5))
        c.close()
        self.assertTrue(h.wait_for(
            lambda: stats(b.port)["live"] == "0", 5), stats(b.port))
        self.assertEqual(int(stats(b.port)["gone"]),
                         int(before["gone"]) + 1)

    def test_timeout_answers_504_and_worker_lives(self):
        b = self.start(["--timeout", "2"])
        pids = b.workers()
        t0 = time.monotonic()
        st, _, _ = h.http_request(b.port, path="/never", timeout=15)
        self.assertEqual(st, 504)
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        b.wait_log(r"ran past --timeout \(2s\) in the module; 504")
        self.assertTrue(h.wait_for(
            lambda: stats(b.port)["live"] == "0", 5))
        self.assertEqual(b.workers(), pids)

    def test_threads_do_not_apply(self):
        b = self.start(["--threads", "4"])
        self.assertEqual(h.http_request(b.port, path="/later?10")[2],
                         b"later\n")
        b.wait_log(r"asynchronous: --threads 4 does not apply")

    def test_graceful_stop_waits_for_pending(self):
        b = self.start()
        c = b.connect(timeout=15)
        c.send(get("/later?1500"))
        self.assertTrue(h.wait_for(
            lambda: stats(b.port)["live"] == "1", 5))
        b.proc.send_signal(15)
        r = c.read_response()
        self.assertEqual(r.body, b"later\n")
        c.close()
        self.assertEqual(b.stop(expect=None), 0)

    def test_max_requests_recycles_once_each(self):
        b = self.start(["--max-requests", "2"], workers=1)
        rng = random.Random(SEED)
        for i in range(6):
            with b.connect() as c:
                send_cut(c.sock, post("/echo", b"x%d" % i), rng, 2)
                self.assertEqual(c.read_response().body, b"x%d" % i)


class AsyncFastCGI(unittest.TestCase):
    def start(self, extra=()):
        return h.Bridge(self, module=ASYNC_SO, extra=list(extra))

    def test_keep_conn_requests(self):
        b = self.start()
        with b.connect() as c:
            for path in ("/now", "/later?50", "/stream?3", "/fail"):
                r = c.request(rid=1, path=path, flags=h.FCGI_KEEP_CONN)
                self.assertTrue(r.stdout, path)
            r = c.request(rid=1, path="/later?20", flags=h.FCGI_KEEP_CONN)
        self.assertIn(b"later\n", r.stdout)

    def test_stdin_split_records(self):
        b = self.start()
        rng = random.Random(SEED)
        body = os.urandom(200000)
        with b.connect(timeout=30) as c:
            data = h.request_bytes(rid=1, path="/echo", method="POST",
                                   body=body, flags=h.FCGI_KEEP_CONN)
            send_cut(c.sock, data, rng, 6)
            r = c.read_response(1)
        self.assertTrue(r.stdout.endswith(body))

    def test_sendfile_streams_file_in_order(self):
        """A 5 MiB sendfile() goes out as STDOUT records read as nginx
        takes them, before the request's end records; the next request
        on the connection follows."""
        path, data = blob(self, 5 << 20)
        b = self.start()
        with b.connect(timeout=30) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            r = c.request(rid=1, path="/file?" + path,
                          flags=h.FCGI_KEEP_CONN)
            head, _, body = r.stdout.partition(b"\r\n\r\n")
            self.assertIn(b"Content-Length: %d" % len(data), head)
            self.assertTrue(body == data)
            r = c.request(rid=1, path="/now", flags=h.FCGI_KEEP_CONN)
            self.assertTrue(r.stdout.endswith(b"now\n"))

    def test_abort_request_tells_module(self):
        b = self.start()
        with b.connect() as c:
            c.send(h.request_bytes(rid=1, path="/never",
                                   flags=h.FCGI_KEEP_CONN))
            time.sleep(0.2)
            c.send(h.fcgi_record(h.FCGI_ABORT_REQUEST, 1))
            r = c.read_response(1)
            self.assertIsNotNone(r.end)
        b.wait_log(r"aborted by the web server")

    def test_timeout_504(self):
        b = self.start(["--timeout", "2"])
        with b.connect(timeout=15) as c:
            r = c.request(rid=1, path="/never", flags=h.FCGI_KEEP_CONN)
            self.assertIn(b"504", r.stdout.split(b"\r\n")[0])
            r = c.request(rid=1, path="/now", flags=h.FCGI_KEEP_CONN)
            self.assertTrue(r.stdout.endswith(b"now\n"))


if __name__ == "__main__":
    h.main()
