#!/usr/bin/python3
"""Logs as deployed: Debian's logrotate with the shipped
conf/bridge.logrotate rotates the logs of a bridge started as root with
--user nobody, and every request line lands in the right file, from
every worker, across USR1 and HUP."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BRIDGE, PROBE_SO, TempDir, free_port,  # noqa: E402
                     read_text, render_conf, require, stop_process,
                     wait_for, wait_port)

WORKERS = 3


def get(port, path):
    """One request on a connection of its own (so that any worker may
    take it); returns the status line."""
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close"
                  b"\r\n\r\n" % path.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


class LogRotation(unittest.TestCase):
    def setUp(self):
        self.logrotate, = require(self, "logrotate")
        self.tmp = TempDir(self)
        # As /var/log/bridge: root's, not writable by the workers' user.
        self.logdir = self.tmp.join("log")
        os.mkdir(self.logdir, 0o755)
        self.access = os.path.join(self.logdir, "access.log")
        self.errors = os.path.join(self.logdir, "error.log")
        self.pidfile = self.tmp.join("bridge.pid")
        self.conf = self.tmp.join("logrotate.conf")
        render_conf("bridge.logrotate", {
            "/var/log/bridge": self.logdir,
            "/run/bridge/bridge.pid": self.pidfile}, self.conf)
        self.port = free_port()
        out = open(self.tmp.join("stdout"), "wb")
        self.addCleanup(out.close)
        self.proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--module",
             PROBE_SO, "-w", str(WORKERS), "--user", "nobody",
             "--access-log", self.access, "--access-log-format",
             "%(p)s %(U)s?%(q)s %(s)s", "--error-log", self.errors,
             "--log-level", "debug", "--pidfile", self.pidfile],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop)
        wait_port("127.0.0.1", self.port, proc=self.proc)
        self.wait_error_log(r"serving on")
        self.serial = 0

    def stop(self):
        self.assertEqual(stop_process(self.proc), 0)

    def wait_error_log(self, pattern, timeout=10):
        ok = wait_for(lambda: re.search(pattern, read_text(self.errors)),
                      timeout)
        self.assertTrue(ok, "no %r in the error log:\n%s"
                        % (pattern, read_text(self.errors)))

    def workers(self):
        """The master's children: its workers."""
        with open("/proc/%d/task/%d/children" % (self.proc.pid,
                                                 self.proc.pid)) as f:
            return set(f.read().split())

    def drive(self, tag, pids):
        """Requests tagged tag (several at once) until each worker of
        pids has logged one; returns the tags sent.  Bounded."""
        sent = []
        lock = threading.Lock()

        def one():
            with lock:
                self.serial += 1
                q = "%s-%d" % (tag, self.serial)
                sent.append(q)
            self.assertIn(b" 200 ", get(self.port, "/env?" + q) + b" ")

        for _ in range(100):
            threads = [threading.Thread(target=one) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            logged = set(re.findall(r"^(\d+) /env\?%s-" % tag,
                                    read_text(self.access), re.M))
            if pids <= logged:
                return sent
        self.fail("workers %s never served a %s request; logged: %s"
                  % (pids, tag, logged))

    def rotate(self):
        """Debian's logrotate, forced, with the shipped file."""
        r = subprocess.run([self.logrotate, "-f", "-s",
                            self.tmp.join("state"), self.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def lines(self, path, tag):
        return set(re.findall(r"^\d+ /env\?(%s-\d+) 200$" % tag,
                              read_text(path), re.M))

    def wait_workers_reopened(self, pids):
        for pid in pids:
            self.wait_error_log(r"\[%s\] worker \d+: logs reopened" % pid)

    def test_logrotate_with_user(self):
        pids = self.workers()
        self.assertEqual(len(pids), WORKERS)
        before = self.drive("before", pids)
        self.rotate()
        self.assertTrue(os.path.exists(self.access + ".1"))
        # The new error log shows the master and then every worker
        # reopened it: the workers could open the files the master made.
        self.wait_error_log(r"USR1: logs reopened")
        self.wait_workers_reopened(pids)
        after = self.drive("after", pids)
        self.assertEqual(self.lines(self.access + ".1", "before"),
                         set(before))
        self.assertEqual(self.lines(self.access, "after"), set(after))
        self.assertEqual(self.lines(self.access + ".1", "after"), set())
        self.assertEqual(self.lines(self.access, "before"), set())
        for path in (self.errors, self.errors + ".1"):
            self.assertNotIn("Permission denied", read_text(path))

        # HUP after a rotation: the new image opens the new files.
        os.rename(self.access, self.access + ".hup")
        os.rename(self.errors, self.errors + ".hup")
        self.proc.send_signal(signal.SIGHUP)
        self.wait_error_log(r"reload done")
        self.assertTrue(wait_for(lambda: not (self.workers() & pids), 20))
        pids = self.workers()
        hup = self.drive("hup", pids)
        self.assertEqual(self.lines(self.access, "hup"), set(hup))

        # And logrotate again, for the workers of the new image.
        self.rotate()
        self.wait_error_log(r"USR1: logs reopened")
        self.wait_workers_reopened(pids)
        last = self.drive("last", pids)
        self.assertEqual(self.lines(self.access, "last"), set(last))
        self.assertEqual(self.lines(self.access + ".1", "hup"), set(hup))
        self.assertNotIn("Permission denied", read_text(self.errors))


if __name__ == "__main__":
    unittest.main()
