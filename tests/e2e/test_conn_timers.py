#!/usr/bin/env python3
"""
Connection timers follow the connection's state, and only the progress
of that state extends its deadline:

    handshake + first head  --header-timeout, plain and TLS alike
    head                    --header-timeout for the whole head
    body                    --read-timeout, extended by body bytes
    write                   --write-timeout, extended by bytes the client
                            takes, never by bytes it sends
    idle                    --idle-timeout

Each test sets the timer under test short and every other one long, so
that only the timer under test can close the connection within the
test's (generous) bound.

Regressions: a client that never read but sent a byte a second kept a
connection with its output queued forever (every inbound byte re-armed
the write timer); an idle TLS connection got --idle-timeout (300 s)
instead of --header-timeout after its handshake, and a half-sent
ClientHello did too.
"""
import os
import socket
import ssl
import subprocess
import time
import unittest

import harness as h
import http_harness as hh

SHORT = 2          # the timer under test, seconds
LONG = 120         # every other timer
BOUND = 12         # a connection must be gone this long after SHORT
STEADY = 1000000   # bytes a slow client reads steadily


def timer_args(**short):
    args = ["--user", "nobody"]
    for name in ("header", "read", "write", "idle"):
        args += ["--%s-timeout" % name, str(SHORT if name in short
                                             else LONG)]
    return args


def trickle_until_reset(sock, first, limit, byte=b"X"):
    """Send one byte every 0.25 s (after first) until the peer resets the
    connection or limit seconds pass.  Returns the seconds it took, or
    None if the connection outlived the limit."""
    start = time.monotonic()
    sock.sendall(first)
    while time.monotonic() - start < limit:
        time.sleep(0.25)
        try:
            sock.send(byte)
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
    return None


class Timers(unittest.TestCase):
    def http(self, **short):
        return hh.HttpBridge(self, workers=1, extra=timer_args(**short))

    def test_trickling_client_not_reading_dropped_at_write_timeout(self):
        b = self.http(write=1)
        # A small receive window: most of the response stays queued in
        # bridge (under the 1 MiB that would move it to a spool file).
        with hh.RawHttp(b.addr, rcvbuf=4096) as c:
            took = trickle_until_reset(
                c.sock, b"GET /big?800000 HTTP/1.1\r\nHost: t\r\n\r\n"
                b"GET / HTTP/1.1\r\nX-Slow: ", SHORT + BOUND)
        self.assertIsNotNone(took, "a client sending a byte every 0.25 s "
                             "but reading nothing was kept past "
                             "--write-timeout %d:\n%s" % (SHORT, b.log()))
        b.wait_log("write timeout: client does not read")

    def test_fastcgi_trickling_peer_not_reading_dropped_at_write_timeout(
            self):
        b = h.Bridge(self, workers=1, extra=timer_args(write=1))
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(h.TIMEOUT)
        s.connect(b.addr)
        self.addCleanup(s.close)
        # Then a GET_VALUES record of 65535 bytes, a byte at a time.
        took = trickle_until_reset(
            s, h.request_bytes(rid=1, path="/big?800000",
                               flags=h.FCGI_KEEP_CONN)
            + h.fcgi_header(h.FCGI_GET_VALUES, 0, 0xffff), SHORT + BOUND,
            byte=b"\0")
        self.assertIsNotNone(took, "a web server sending a byte every "
                             "0.25 s but reading nothing was kept past "
                             "--write-timeout %d:\n%s" % (SHORT, b.log()))
        b.wait_log("write timeout: peer does not read")

    def test_slow_steady_reader_outlives_write_timeout(self):
        b = self.http(write=1)
        with hh.RawHttp(b.addr, rcvbuf=4096) as c:
            c.send(b"GET /big?%d HTTP/1.1\r\nHost: t\r\n"
                   b"Connection: close\r\n\r\n" % STEADY)
            start = time.monotonic()
            data = b""
            while True:
                time.sleep(0.02)
                try:
                    chunk = c.sock.recv(4096)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not chunk:
                    break
                data += chunk
            took = time.monotonic() - start
        body = data.partition(b"\r\n\r\n")[2]
        # Chunked framing around STEADY bytes of 'x'.
        self.assertEqual(body.count(b"x"), STEADY, b.log())
        self.assertTrue(body.endswith(b"0\r\n\r\n"))
        # 4 KiB per 20 ms at most: the transfer outlasts the timeout.
        self.assertGreater(took, SHORT)

    def test_head_trickle_dropped_at_header_timeout(self):
        b = self.http(header=1)
        with hh.RawHttp(b.addr) as c:
            took = trickle_until_reset(c.sock, b"GET / HTTP/1.1\r\nX-A: ",
                                       SHORT + BOUND)
            if took is None:
                took = None if not c.closed_within(0.1) else 0
        self.assertIsNotNone(took, "a head trickled a byte every 0.25 s "
                             "outlived --header-timeout:\n" + b.log())

    def test_body_pause_dropped_at_read_timeout(self):
        b = self.http(read=1)
        with hh.RawHttp(b.addr) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\n"
                   b"Content-Length: 100\r\n\r\n0123456789")
            self.assertTrue(c.closed_within(SHORT + BOUND),
                            "a paused body outlived --read-timeout:\n"
                            + b.log())
        b.wait_log("read timeout: request incomplete")

    def test_idle_keepalive_closed_at_idle_timeout(self):
        b = self.http(idle=1)
        with hh.RawHttp(b.addr) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            self.assertTrue(c.closed_within(SHORT + BOUND),
                            "idle keep-alive outlived --idle-timeout:\n"
                            + b.log())


class TlsTimers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not h.which("openssl"):
            raise unittest.SkipTest("openssl not installed")
        cls.dir = h.tempfile.mkdtemp(prefix="bridge-tls-timers-")
        cls.crt = os.path.join(cls.dir, "t.pem")
        cls.key = os.path.join(cls.dir, "t.key")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-keyout", cls.key,
                        "-out", cls.crt, "-subj", "/CN=t.test"],
                       check=True, capture_output=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        h.shutil.rmtree(cls.dir, True)

    def https(self, **short):
        b = hh.HttpBridge(self, workers=1, start=False,
                          extra=timer_args(**short)
                          + ["--cert", self.crt, "--key", self.key])
        b.args[1] = "--https"
        b.start()
        return b

    def closed_within(self, sock, timeout):
        sock.settimeout(timeout)
        try:
            return sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
            return True
        except ssl.SSLError:
            return True
        except socket.timeout:
            return False

    def test_idle_tls_connection_dropped_at_header_timeout(self):
        b = self.https(header=1)
        ctx = ssl.create_default_context(cafile=self.crt)
        ctx.check_hostname = False
        raw = socket.create_connection(b.addr, timeout=h.TIMEOUT)
        with ctx.wrap_socket(raw) as s:
            # The handshake is done; no request follows.
            self.assertTrue(self.closed_within(s, SHORT + BOUND),
                            "an idle TLS connection outlived "
                            "--header-timeout:\n" + b.log())

    def test_half_sent_client_hello_dropped_at_header_timeout(self):
        b = self.https(header=1)
        with socket.create_connection(b.addr, timeout=h.TIMEOUT) as s:
            # A TLS record header announcing a handshake, and no more.
            s.sendall(b"\x16\x03\x01\x02\x00\x01")
            self.assertTrue(self.closed_within(s, SHORT + BOUND),
                            "a stalled TLS handshake outlived "
                            "--header-timeout:\n" + b.log())


if __name__ == "__main__":
    h.main()
