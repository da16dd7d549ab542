#!/usr/bin/python3
"""--threads N: N application threads per worker.  Requests that wait
(sleep, as on I/O) run side by side, wsgi.multithread is true, and under
concurrent load every client gets its own response, whole."""
import os
import sys
import socket
import subprocess
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402

# Workers run LeakSanitizer before they exit; with Python's threads in
# them, clang 14's tracer dies on their dynamic TLS ("Tracer caught
# signal 11").  Without TLS as roots it can only report more, never
# less (tests/lsan.supp has what that adds).
if harness.SANITIZED:
    os.environ["LSAN_OPTIONS"] = os.environ.get("LSAN_OPTIONS", "") + \
        ":use_tls=0"
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
SRCDIR = os.environ.get("SRCDIR", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
APPS = os.path.join(SRCDIR, "tests/apps/wsgi")
ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")


def request(port, path, body=b"", keep=None):
    s = keep or socket.create_connection(("127.0.0.1", port), 30)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n"
              b"Content-Length: %d\r\n%s\r\n" % (
                  len(body), b"" if keep else b"Connection: close\r\n")
              + body)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    if not keep:
        s.close()
    return int(head.split()[1]), rest


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class ThreadsTest(unittest.TestCase):
    def start(self, *args):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(suffix=".log",
                                               delete=False).name
        self.proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--wsgi",
             "threads:app", "--pythonpath", APPS, "--error-log",
             self.log] + list(args) + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(os.unlink, self.log)
        self.addCleanup(harness.stop_bridge, self.proc, self.log)
        deadline = time.monotonic() + 20
        while True:
            try:
                request(self.port, "/?warmup")
                return
            except OSError:
                self.assertIsNone(self.proc.poll())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)

    def parallel(self, n, path):
        results = [None] * n

        def one(i):
            results[i] = request(self.port, path % i)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        return results, time.monotonic() - t0

    def test_waiting_requests_run_side_by_side(self):
        self.start("-w", "1", "--threads", "4")
        results, took = self.parallel(4, "/?id=%d&sleep=0.8")
        for i, (st, body) in enumerate(results):
            self.assertEqual(st, 200)
            qs, multithread, thread, n = body.split(b"\n")[0].split(b"|")
            self.assertEqual(qs, b"id=%d&sleep=0.8" % i)
            self.assertEqual(multithread, b"True")
        # One worker: four 0.8 s waits take about 0.8 s, not 3.2 s.
        self.assertLess(took, 2.4)

    def test_one_thread_is_not_multithread(self):
        self.start("-w", "1")
        st, body = request(self.port, "/?id=x")
        self.assertEqual(body.split(b"|")[1], b"False")

    def test_concurrent_load_no_mixed_bodies(self):
        self.start("-w", "2", "--threads", "4")
        errors = []

        def client(c):
            s = socket.create_connection(("127.0.0.1", self.port), 30)
            try:
                for k in range(40):
                    body = os.urandom(1000 + (c * 977 + k * 131) % 60000)
                    tag = "c=%d&k=%d" % (c, k)
                    st, out = request(self.port, "/?" + tag, body, keep=s)
                    head, _, echoed = out.partition(b"\n")
                    if (st != 200 or not head.startswith(tag.encode())
                            or echoed != body):
                        errors.append((c, k, st, head[:60]))
            except Exception as e:          # noqa: BLE001
                errors.append((c, repr(e)))
            finally:
                s.close()
        ts = [threading.Thread(target=client, args=(c,)) for c in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertIsNone(self.proc.poll(), "bridge died")
        with open(self.log) as f:
            log = f.read()
        self.assertNotIn("killed by signal", log)


if __name__ == "__main__":
    harness.main()
