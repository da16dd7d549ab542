#!/usr/bin/python3
"""Access log (format atoms, combined by default, escaping), error log
with request ids, and USR1 reopening both after logrotate moves them;
the error log to syslog (a datagram socket standing in for the daemon)."""
import glob
import os
import pwd
import sys
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
import http_harness as hh                                # noqa: E402
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
PROBE = os.path.join(BUILDDIR, "tests/apps/.libs/probe.so")


def request(port, raw):
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def wait_for(path, pattern, timeout=5):
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        if re.search(pattern, text, re.M):
            return text
        time.sleep(0.05)
    raise AssertionError("no %r in %s:\n%s" % (pattern, path, text))


class LogTest(unittest.TestCase):
    def start(self, *args):
        self.tmp = tempfile.mkdtemp()
        if os.geteuid() == 0:
            # The log directory belongs to the user the workers run as
            # (--user nobody): on USR1 each worker opens the files anew.
            nobody = pwd.getpwnam("nobody")
            os.chown(self.tmp, nobody.pw_uid, nobody.pw_gid)
        self.access = os.path.join(self.tmp, "access.log")
        self.errors = os.path.join(self.tmp, "error.log")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--module", PROBE,
             "-w", "2", "--access-log", self.access, "--error-log",
             self.errors] + list(args) + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        harness.stop_bridge(self.proc, self.errors)

    def test_combined_by_default(self):
        self.start()
        request(self.port, b"GET /env?a=1 HTTP/1.1\r\nHost: x\r\n"
                b"Referer: http://ref/\r\nUser-Agent: agent/1.0\r\n"
                b"Connection: close\r\n\r\n")
        text = wait_for(self.access, r"GET /env")
        self.assertRegex(
            text, r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d '
            r'[+-]\d{4}\] "GET /env\?a=1 HTTP/1\.1" 200 \d+ '
            r'"http://ref/" "agent/1\.0"$')

    def test_atoms_and_escaping(self):
        self.start("--access-log-format",
                   '%(m)s %(U)s %(q)s %(s)s %(B)s %(D)s %(rid)s '
                   '%({x-test}i)s %({content-type}o)s')
        request(self.port, b"GET /nostart?q HTTP/1.1\r\nHost: x\r\n"
                b'X-Test: a"b\\c\xff\r\nConnection: close\r\n\r\n')
        text = wait_for(self.access, r"nostart")
        m = re.match(r'^GET /nostart q 502 (\d+) (\d+) ([0-9a-f]+-[0-9a-f]+) '
                     r'(\S+) text/plain$', text.strip())
        self.assertIsNotNone(m, text)
        self.assertGreater(int(m.group(1)), 0)
        # Quotes, backslashes and controls cannot forge fields or lines.
        self.assertEqual(m.group(4), r"a\x22b\x5Cc\xFF")
        # The error log names the same request id.
        errors = wait_for(self.errors, r"without start_response")
        self.assertIn("[req %s]" % m.group(3), errors)

    def test_usr1_reopens_after_rotation(self):
        self.start()
        request(self.port, b"GET /first HTTP/1.1\r\nHost: x\r\n"
                b"Connection: close\r\n\r\n")
        wait_for(self.access, r"GET /first")
        os.rename(self.access, self.access + ".1")
        os.rename(self.errors, self.errors + ".1")
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(self.errors, r"USR1: logs reopened")
        # Both workers have reopened: each holds the new file open.
        self.assertTrue(harness.wait_for(self.workers_reopened),
                        "workers' open files: %s" % self.worker_files())
        # Both workers write to the new file. Which worker accepts a
        # connection is the kernel's choice (one worker may take 200 in a
        # row), so one is kept busy: /sleep blocks the worker that took
        # it, and /pid sent meanwhile is answered by the other one.
        sleeper = threading.Thread(target=request, args=(
            self.port, b"GET /sleep?1500 HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n"))
        sleeper.start()
        time.sleep(0.3)
        raw = request(self.port, b"GET /pid?second HTTP/1.1\r\n"
                      b"Host: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(sleeper.is_alive(),
                        "/pid waited for /sleep: one worker served both")
        other = int(raw.partition(b"\r\n\r\n")[2])
        sleeper.join()
        text = wait_for(self.access, r"GET /sleep\?1500 ")
        self.assertIn("GET /pid?second ", text)
        self.assertNotIn("/first", text)
        self.assertIn(other, hh.worker_pids(self.proc.pid))
        with open(self.access + ".1") as f:
            old = f.read()
        self.assertNotIn("/second", old)
        self.assertNotIn("/sleep", old)

    def worker_files(self):
        """{worker pid: the files it has open}."""
        out = {}
        for pid in hh.worker_pids(self.proc.pid):
            files = set()
            for fd in glob.glob("/proc/%d/fd/*" % pid):
                try:
                    files.add(os.readlink(fd))
                except OSError:
                    pass
            out[pid] = files
        return out

    def workers_reopened(self):
        files = self.worker_files()
        return len(files) == 2 and all(self.access in f and
                                       self.access + ".1" not in f
                                       for f in files.values())

    def test_bad_format_refused(self):
        out = subprocess.run([BRIDGE, "--http", "127.0.0.1:1", "--module",
                              PROBE, "--access-log-format", "%(nope)s"]
                             + harness.user_args(),
                             capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"unknown atom %(nope)s", out.stderr)


class SyslogTest(unittest.TestCase):
    """--error-log syslog:server=unix:PATH: RFC 3164 datagrams whose
    priority is facility * 8 + the level's severity."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        # Workers (nobody) send to the socket, as to /dev/log.
        os.chmod(self.tmp, 0o755)
        self.path = os.path.join(self.tmp, "log.sock")
        self.daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.daemon.bind(self.path)
        os.chmod(self.path, 0o666)
        self.daemon.settimeout(5)
        self.addCleanup(self.daemon.close)

    def receive_until(self, needle):
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = self.daemon.recv(4096).decode()
            got.append(line)
            if needle in line:
                return line, got
        self.fail("no %r in %r" % (needle, got))

    def test_lines_to_syslog(self):
        port = free_port()
        proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % port, "--module", PROBE,
             "--error-log", "syslog:server=unix:%s,facility=local3,"
             "tag=myapp" % self.path] + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # local3 = 19, info = 6: <158>; the start-up line.
            line, _ = self.receive_until("serving on")
            self.assertRegex(line, r"^<158>[A-Z][a-z]{2} [ \d]\d "
                             r"\d\d:\d\d:\d\d myapp\[%d\]: bridge "
                             % proc.pid)
            self.assertNotIn("\n", line)
            # A module's warning (severity 4: <156>) keeps its request id.
            deadline = time.monotonic() + 5
            while True:
                try:
                    body = request(port, b"GET /log HTTP/1.1\r\nHost: x"
                                   b"\r\nConnection: close\r\n\r\n")
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
            self.assertIn(b"logged", body)
            line, _ = self.receive_until("probe log line 42")
            self.assertRegex(line, r"^<156>.* myapp\[\d+\]: \[req "
                             r"[0-9a-f]+-[0-9a-f]+\] .*probe log line 42$")
            # The daemon restarts (a new socket at the path): bridge
            # reconnects and goes on.
            self.daemon.close()
            os.unlink(self.path)
            self.daemon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.daemon.bind(self.path)
            os.chmod(self.path, 0o666)
            self.daemon.settimeout(5)
            request(port, b"GET /log HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")
            self.receive_until("probe log line 42")
        finally:
            try:
                harness.stop_bridge(proc)
            finally:
                proc.stderr.close()

    def test_bad_specs_refused(self):
        for spec, msg in (
                ("syslog:facility=nope", b"no facility 'nope'"),
                ("syslog:colour=red", b"unknown parameter 'colour'"),
                ("syslog:server=/dev/log", b"is not unix:PATH"),
                ("syslog:tag=a b", b"tag: 'a b'"),
                ("syslog:server=unix:%s/none" % self.tmp,
                 b"No such file or directory")):
            with self.subTest(spec=spec):
                out = subprocess.run(
                    [BRIDGE, "--http", "127.0.0.1:1", "--module", PROBE,
                     "--error-log", spec] + harness.user_args(),
                    capture_output=True, timeout=10)
                self.assertNotEqual(out.returncode, 0)
                self.assertIn(msg, out.stderr)
                self.assertEqual(len(out.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    harness.main()
