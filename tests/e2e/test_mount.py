#!/usr/bin/python3
"""HTTP --mount: SCRIPT_NAME is the mount and PATH_INFO the rest
(PEP 3333, RFC 3875 section 4.1.13); paths outside it get 404.
--header-timeout bounds the whole request head, not a pause."""
import os
import sys
import socket
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


class Server:
    def __init__(self, *args):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--module",
             PROBE, "--error-log", self.log.name] + list(args)
            + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get(self, target):
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(b"GET " + target.encode() +
                      b" HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode()

    def stop(self):
        try:
            harness.stop_bridge(self.proc, self.log.name)
        finally:
            os.unlink(self.log.name)


class MountTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--mount", "/app")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def env(self, target):
        status, body = self.srv.get(target)
        self.assertEqual(status, 200, body)
        return dict(l.split("=", 1) for l in body.splitlines())

    def test_split(self):
        e = self.env("/app/env?x=1")
        self.assertEqual(e["SCRIPT_NAME"], "/app")
        self.assertEqual(e["PATH_INFO"], "/env")
        self.assertEqual(e["QUERY_STRING"], "x=1")
        self.assertEqual(e["REQUEST_URI"], "/app/env?x=1")

    def test_mount_itself_has_empty_path_info(self):
        # probe.c answers ?show-env with the environment on any path.
        e = self.env("/app?show-env")
        self.assertEqual(e["SCRIPT_NAME"], "/app")
        self.assertEqual(e.get("PATH_INFO", ""), "")
        self.assertEqual(e["REQUEST_URI"], "/app?show-env")

    def test_outside_mount_is_404(self):
        for target in ("/", "/apple/env", "/ap", "/other/app/env"):
            with self.subTest(target=target):
                self.assertEqual(self.srv.get(target)[0], 404)


class HeaderTimeoutTest(unittest.TestCase):
    def test_slow_head_dropped_whole_head_bounded(self):
        srv = Server("--header-timeout", "1", "-w", "1")
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), 5)
            start = time.monotonic()
            closed = False
            # One byte every 200 ms: progress must not extend the limit.
            for ch in b"GET /env HTTP/1.1\r\nHost: slow\r\nX-Pad: aaaaaaaaaa":
                try:
                    s.sendall(bytes([ch]))
                except OSError:
                    closed = True
                    break
                s.settimeout(0.2)
                try:
                    if s.recv(1024) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
                if time.monotonic() - start > 4:
                    break
            elapsed = time.monotonic() - start
            self.assertTrue(closed, "slow head was not dropped")
            self.assertLess(elapsed, 2.5)
            # Meanwhile and after, the one worker serves others.
            self.assertEqual(srv.get("/env")[0], 200)
            s.close()
        finally:
            srv.stop()


if __name__ == "__main__":
    harness.main()
