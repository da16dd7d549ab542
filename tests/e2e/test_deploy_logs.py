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
from harness import (BRIDGE, BUILDDIR, PROBE_SO, TempDir,  # noqa: E402
                     free_port, http_request, read_text, render_conf,
                     require, stop_process, wait_for, wait_port,
                     wait_unix)

PYTHON_SO = os.path.join(BUILDDIR, "adapters", "python", ".libs",
                         "python.so")

APP = """\
import logging, os, sys
print("printed while importing")
log = logging.getLogger("app")

def app(environ, start_response):
    h = logging.StreamHandler(environ["wsgi.errors"])
    h.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    log.handlers[:] = [h]
    log.setLevel(logging.DEBUG)
    log.warning("disk almost full")
    log.info("user logged in")
    log.error("payment failed")
    environ["wsgi.errors"].write("[2026-01-01 10:00:00,000] INFO in app: "
                                 "flask style\\n")
    environ["wsgi.errors"].write("a bare line\\n")
    environ["wsgi.errors"].flush()
    print("printed in a request")
    print("to stderr", file=sys.stderr)
    print("WARNING:app:a logging line on stderr", file=sys.stderr)
    os.write(1, b"written to fd 1\\n")
    os.system("echo from a child process")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""

WORKERS = 3


def get(port, path, tag):
    """One request on a connection of its own (so that any worker may
    take it), tagged for the access log; returns the status line."""
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nX-Tag: %s\r\n"
                  b"Connection: close\r\n\r\n" % (path.encode(),
                                                    tag.encode()))
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
             "%(p)s %({X-Tag}i)s %(s)s", "--error-log", self.errors,
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
        pids has logged one; returns the tags sent.  Bounded.  Each
        holds its worker 20 ms (/sleep), so that the others take the
        next connections."""
        sent = []
        lock = threading.Lock()

        def one():
            with lock:
                self.serial += 1
                q = "%s-%d" % (tag, self.serial)
                sent.append(q)
            self.assertIn(b" 200 ", get(self.port, "/sleep?20", q) + b" ")

        for _ in range(100):
            threads = [threading.Thread(target=one) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            logged = set(re.findall(r"^(\d+) %s-" % tag,
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
        return set(re.findall(r"^\d+ (%s-\d+) 200$" % tag,
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


class StartupLog(unittest.TestCase):
    """The start-up log says where bridge listens and when each worker
    has the application, at info level, as Gunicorn's does."""

    def setUp(self):
        self.tmp = TempDir(self)
        self.log = self.tmp.join("error.log")

    def start(self, args):
        out = open(self.tmp.join("stdout"), "wb")
        self.addCleanup(out.close)
        proc = subprocess.Popen(
            [BRIDGE, "--user", "nobody", "--error-log", self.log] + args,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: self.assertEqual(stop_process(proc), 0))
        return proc

    def lines(self, pattern):
        return re.findall(pattern, read_text(self.log), re.M)

    def wait_lines(self, pattern, n):
        ok = wait_for(lambda: len(self.lines(pattern)) >= n)
        self.assertTrue(ok, "fewer than %d %r in:\n%s"
                        % (n, pattern, read_text(self.log)))
        return self.lines(pattern)

    def test_every_listener_and_worker_named(self):
        require(self, "openssl")
        cert, key = self.tmp.join("c.pem"), self.tmp.join("k.pem")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-newkey", "rsa:2048", "-subj", "/CN=localhost",
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        http, https = free_port(), free_port()
        sock = self.tmp.join("app.sock")
        proc = self.start(["--http", "127.0.0.1:%d" % http, "--https",
                           "127.0.0.1:%d" % https, "--cert", cert, "--key",
                           key, "--fastcgi", "unix:" + sock,
                           "--module", PROBE_SO, "-w", "2"])
        wait_port("127.0.0.1", http, proc=proc)
        wait_unix(sock, proc=proc)
        self.wait_lines(r"serving on", 1)
        text = read_text(self.log)
        for where in ("http://127.0.0.1:%d" % http,
                      "https://127.0.0.1:%d" % https,
                      "unix:%s (fastcgi)" % sock):
            self.assertRegex(text, r" info \[%d\] Listening at: %s\n"
                             % (proc.pid, re.escape(where)))
        loaded = self.wait_lines(r" info \[(\d+)\] worker (\d) \(pid (\d+)\): "
                                 r"module %s loaded$" % re.escape(PROBE_SO), 2)
        self.assertEqual(sorted(w for _, w, _ in loaded), ["0", "1"])
        for logged_by, _, pid in loaded:
            self.assertEqual(logged_by, pid)

    def test_wsgi_application_loaded_per_worker(self):
        if not os.path.exists(PYTHON_SO):
            self.skipTest("Python adapter not built")
        with open(self.tmp.join("hello.py"), "w") as f:
            f.write("def app(e, sr):\n    sr('200 OK', [])\n"
                    "    return [b'hi']\n")
        port = free_port()
        proc = self.start(["--http", "127.0.0.1:%d" % port, "--wsgi",
                           "hello:app", "--chdir", self.tmp.path, "-w", "2"])
        wait_port("127.0.0.1", port, proc=proc)
        loaded = self.wait_lines(r" info \[\d+\] worker (\d) \(pid \d+\): "
                                 r"application hello:app loaded$", 2)
        self.assertEqual(sorted(loaded), ["0", "1"])
        self.assertEqual(len(self.lines(r"Listening at: http://127.0.0.1:%d$"
                                        % port)), 1)


class PythonOutput(unittest.TestCase):
    """print() and sys.stdout/sys.stderr reach --error-log with
    --capture-output; logging's levels through wsgi.errors are kept."""

    def setUp(self):
        if not os.path.exists(PYTHON_SO):
            self.skipTest("Python adapter not built")
        self.tmp = TempDir(self)
        self.log = self.tmp.join("error.log")
        with open(self.tmp.join("loud.py"), "w") as f:
            f.write(APP)

    def run_app(self, extra, unbuffered):
        """unbuffered: PYTHONUNBUFFERED=1 (else unset: the captured
        streams must not depend on it)."""
        env = dict(os.environ)
        env.pop("PYTHONUNBUFFERED", None)
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        port = free_port()
        out_path = self.tmp.join("stdout")
        out = open(out_path, "wb")
        self.addCleanup(out.close)
        proc = subprocess.Popen(
            [BRIDGE, "--user", "nobody", "--http", "127.0.0.1:%d" % port,
             "--wsgi", "loud:app", "--chdir", self.tmp.path,
             "--error-log", self.log, "--log-level", "debug"] + extra,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env)
        self.addCleanup(lambda: self.assertEqual(stop_process(proc), 0))
        wait_port("127.0.0.1", port, proc=proc)
        st, _, body = http_request(port, path="/")
        self.assertEqual(st, 200, read_text(self.log))
        self.assertTrue(wait_for(lambda: "a bare line" in read_text(self.log)))
        return out_path

    def level_of(self, text):
        m = re.search(r"^\S+ (\w+) \[\d+\] (?:\[req [^]]+\] )?(.*)$",
                      [ln for ln in read_text(self.log).splitlines()
                       if text in ln][0])
        return m.group(1)

    def test_wsgi_errors_keep_logging_levels(self):
        self.run_app([], False)
        self.assertEqual(self.level_of("WARNING:app:disk almost full"),
                         "warn")
        self.assertEqual(self.level_of("INFO:app:user logged in"), "info")
        self.assertEqual(self.level_of("ERROR:app:payment failed"), "error")
        self.assertEqual(self.level_of("INFO in app: flask style"), "info")
        self.assertEqual(self.level_of("a bare line"), "error")
        # Each carries the request id.
        self.assertRegex(read_text(self.log),
                         r"warn \[\d+\] \[req [^]]+\] WARNING:app:disk")

    def test_capture_output_sends_print_to_the_error_log(self):
        out = self.run_app(["--capture-output"], False)
        self.assertTrue(wait_for(
            lambda: "printed in a request" in read_text(self.log)),
            read_text(self.log))
        self.assertEqual(self.level_of("printed while importing"), "info")
        self.assertEqual(self.level_of("printed in a request"), "info")
        self.assertTrue(wait_for(
            lambda: "to stderr" in read_text(self.log)))
        self.assertEqual(self.level_of("to stderr"), "error")
        self.assertEqual(self.level_of("a logging line on stderr"), "warn")
        # Below Python: the fds themselves, as Gunicorn's option does.
        for text in ("written to fd 1", "from a child process"):
            self.assertTrue(wait_for(lambda: text in read_text(self.log)),
                            read_text(self.log))
        self.assertNotIn("printed", read_text(out))
        self.assertNotIn("child", read_text(out))

    def test_without_capture_output_print_stays_on_stdout(self):
        out = self.run_app([], True)
        self.assertTrue(wait_for(lambda: "printed in a request"
                                 in read_text(out)), read_text(out))
        self.assertTrue(wait_for(lambda: "from a child process"
                                 in read_text(out)), read_text(out))
        self.assertNotIn("printed", read_text(self.log))
        self.assertNotIn("child process", read_text(self.log))


if __name__ == "__main__":
    unittest.main()
