#!/usr/bin/python3
"""systemd integration, with systemd's own tools and a NOTIFY_SOCKET
listener: socket activation with named fds for two protocols, and the
notify messages (READY, RELOADING with MONOTONIC_USEC, STOPPING) in order.
Run by make check with BRIDGE and BUILDDIR set."""
import os
import re
import sys
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
PROBE = os.path.join(BUILDDIR, "tests/apps/.libs/probe.so")


def connect(port, timeout=5):
    """Connect, retrying while the activator has not bound yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port),
                                            timeout=timeout)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def http_get(port, path="/", timeout=5):
    with connect(port, timeout) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def fcgi_get(port, uri="/", timeout=5):
    """One FastCGI request; returns the STDOUT stream."""
    def rec(rtype, content, rid=1):
        return struct.pack("!BBHHBx", 1, rtype, rid, len(content), 0) + content

    def pair(k, v):
        return bytes([len(k), len(v)]) + k + v
    params = pair(b"REQUEST_METHOD", b"GET") + pair(b"REQUEST_URI", uri.encode())
    msg = (rec(1, struct.pack("!HB5x", 1, 0)) + rec(4, params) + rec(4, b"")
           + rec(5, b""))
    with connect(port, timeout) as s:
        s.sendall(msg)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    out, off = b"", 0
    while off + 8 <= len(data):
        _, rtype, _, clen, plen = struct.unpack("!BBHHB", data[off:off + 7])
        if rtype == 6:
            out += data[off + 8:off + 8 + clen]
        off += 8 + clen + plen
    return out


# Under tests/run-all.sh (BRIDGE_REQUIRE_PEERS=1) a missing tool fails.
@unittest.skipUnless(shutil.which("systemd-socket-activate") or
                     os.environ.get("BRIDGE_REQUIRE_PEERS") == "1",
                     "systemd-socket-activate not installed")
class SystemdTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.notify_path = os.path.join(self.tmp, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(10)
        self.log = os.path.join(self.tmp, "error.log")
        self.http_port = free_port()
        self.fcgi_port = free_port()
        self.proc = subprocess.Popen(
            ["systemd-socket-activate",
             "-l", "127.0.0.1:%d" % self.http_port,
             "-l", "127.0.0.1:%d" % self.fcgi_port,
             "--fdname=http:fastcgi",
             "-E", "NOTIFY_SOCKET=" + self.notify_path,
             BRIDGE, "--module", PROBE, "-w", "2",
             "--error-log", self.log, "--graceful-timeout", "5"]
            + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def tearDown(self):
        try:
            harness.stop_bridge(self.proc, self.log)
        finally:
            self.notify.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def messages_until(self, key):
        """Notify datagrams until one with key; returns them all."""
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = self.notify.recv(4096).decode()
            got.append(msg)
            if key in msg.split("\n"):
                return got
        self.fail("no %s in %r" % (key, got))

    def test_status_counts_requests(self):
        """STATUS= (what systemctl status shows) follows the requests
        served, refreshed every few seconds."""
        self.assertIn(b"200 OK", http_get(self.http_port, "/env"))
        ready = self.messages_until("READY=1")
        self.assertTrue(any(re.search(r"STATUS=2 workers ready, \d+ "
                                      r"requests served, 0 restarts", m)
                            for m in ready), ready)
        for _ in range(5):
            self.assertIn(b"200 OK", http_get(self.http_port, "/env"))
        got = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = self.notify.recv(4096).decode()
            got.append(msg)
            m = re.search(r"^STATUS=2 workers, (\d+) requests served, "
                          r"0 restarts$", msg, re.M)
            if m and int(m.group(1)) == 6:
                return
        self.fail("no STATUS with 6 requests served in %r" % got)

    def test_activation_and_notify_order(self):
        # systemd-socket-activate binds first and only starts bridge on
        # the first connection: make it, then wait for READY.
        body = http_get(self.http_port, "/env")
        self.assertIn(b"200 OK", body)
        ready = self.messages_until("READY=1")
        self.assertTrue(any("STATUS=2 workers ready" in m for m in ready),
                        ready)

        # The fd named "fastcgi" speaks FastCGI, the "http" one HTTP.
        out = fcgi_get(self.fcgi_port, "/env")
        self.assertIn(b"Status: 200 OK", out)
        self.assertIn(b"REQUEST_URI=/env", out)
        # The variables systemd set are not passed to the application.
        self.assertNotIn(b"LISTEN_FDS", http_get(self.http_port, "/env"))

        # HUP: RELOADING with a monotonic timestamp, then READY again.
        self.proc.send_signal(signal.SIGHUP)  # reaches bridge: exec'd
        reload_msgs = self.messages_until("READY=1")
        # STATUS= refreshes may come between; RELOADING comes first of
        # the rest, READY last.
        rest = [m.split("\n") for m in reload_msgs
                if not m.startswith("STATUS=")]
        first = rest[0]
        self.assertIn("RELOADING=1", first)
        usec = [l for l in first if l.startswith("MONOTONIC_USEC=")]
        self.assertEqual(len(usec), 1, first)
        self.assertGreater(int(usec[0].split("=")[1]), 0)
        self.assertIn(b"200 OK", http_get(self.http_port, "/"))

        # TERM: STOPPING, then a clean exit.
        self.proc.send_signal(signal.SIGTERM)
        self.messages_until("STOPPING=1")
        self.assertEqual(self.proc.wait(10), 0)

    def test_unknown_fd_name_refused(self):
        self.proc.kill()
        self.proc.wait(5)
        port = free_port()
        proc = subprocess.Popen(
            ["systemd-socket-activate", "-l", "127.0.0.1:%d" % port,
             "--fdname=gopher",
             BRIDGE, "--module", PROBE] + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            try:
                connect(port, 5).close()
            except OSError:
                pass
            _, err = proc.communicate(timeout=10)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn(b"LISTEN_FDNAMES: 'gopher'", err)
        finally:
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    harness.main()
