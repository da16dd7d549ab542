#!/usr/bin/python3
"""--python-exe: a Python application runs inside Debian's python3.X
executable (the default, auto), or in libpython embedded in bridge
(embed).  Both must look the same to the application: sys.argv, sys.path
(no empty entry, no bridge directory), the same signals ignored and
caught, the process named bridge; and the hosted master must still
reload on HUP and stop on TERM.  A wrong --python-exe is refused in one
line.  The ASan build cannot run inside an executable built without the
sanitizer, so there bridge always embeds (the host tests skip)."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
SRCDIR = os.environ.get("SRCDIR", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
APPS = os.path.join(SRCDIR, "tests/apps/wsgi")
FLASK = os.path.join(SRCDIR, "examples/flask")
PYHOST = os.path.join(BUILDDIR, "adapters/python/.libs/pyhost.so")
PYTHON = "/usr/bin/python%d.%d" % sys.version_info[:2]


def sanitized_build():
    """bridge built with AddressSanitizer (it then always embeds)."""
    try:
        with open(BRIDGE, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = harness.SANITIZED or sanitized_build()


def get(port, path="/"):
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: w\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def workers(master):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@unittest.skipUnless(os.path.exists(PYHOST), "Python adapter not built")
class PythonExeTest(unittest.TestCase):
    def start(self, *args):
        port = free_port()
        self.log = tempfile.NamedTemporaryFile(suffix=".log",
                                               delete=False).name
        os.chmod(self.log, 0o644)
        proc = subprocess.Popen([BRIDGE, "--http", "127.0.0.1:%d" % port,
                                 "--error-log", self.log] + list(args) +
                                harness.user_args(),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.addCleanup(os.unlink, self.log)
        self.addCleanup(harness.stop_bridge, proc, self.log)
        deadline = time.monotonic() + 20
        while True:
            try:
                get(port, "/")
                return proc, port
            except OSError:
                self.assertIsNone(proc.poll(), open(self.log).read())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)

    def info(self, port):
        status, body = get(port, "/")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def check_same_view(self, info):
        """What the application sees either way."""
        self.assertEqual(info["argv"], ["bridge"])
        self.assertNotIn("", info["path"])
        self.assertNotIn(os.path.dirname(PYHOST), info["path"])
        self.assertIn(APPS, info["path"])
        # python3 catches SIGINT; bridge leaves it to its default.
        self.assertFalse(info["sigcgt"] & (1 << (signal.SIGINT - 1)))
        self.assertEqual(info["comm"], "bridge")
        self.assertEqual(os.path.realpath(info["executable"]),
                         os.path.realpath(PYTHON))

    @unittest.skipIf(SANITIZED, "under ASan: bridge embeds "
                     "libpython (an instrumented pyhost.so cannot load "
                     "into python3, which is not)")
    def test_runs_in_python_executable_by_default(self):
        proc, port = self.start("--wsgi", "hostinfo", "--pythonpath", APPS,
                                "-w", "2")
        info = self.info(port)
        self.check_same_view(info)
        self.assertEqual(os.path.realpath(info["exe"]),
                         os.path.realpath(PYTHON))
        # One interpreter: the executable's, not also the shared
        # library python.so links (the adapter comes from pyhost.so).
        self.assertFalse(info["libpython"])
        # The master too: it is the process systemd and the pidfile know.
        self.assertEqual(os.path.realpath("/proc/%d/exe" % proc.pid),
                         os.path.realpath(PYTHON))
        with open("/proc/%d/comm" % proc.pid) as f:
            self.assertEqual(f.read().strip(), "bridge")
        # The start-up log says so.
        self.assertIn("python: running in %s" % os.path.realpath(PYTHON),
                      open(self.log).read())

    def test_embed_runs_in_bridge(self):
        proc, port = self.start("--wsgi", "hostinfo", "--pythonpath", APPS,
                                "--python-exe", "embed")
        info = self.info(port)
        self.check_same_view(info)
        self.assertEqual(os.path.realpath(info["exe"]),
                         os.path.realpath(BRIDGE))
        self.assertFalse(info["environ_host"])
        self.assertTrue(info["libpython"])
        self.assertIn("python: libpython embedded (--python-exe embed)",
                      open(self.log).read())

    @unittest.skipIf(SANITIZED, "under ASan: bridge embeds")
    def test_hosted_master_reloads_on_hup_and_stops_on_term(self):
        proc, port = self.start("--wsgi", "main:app", "--chdir", FLASK,
                                "-w", "2")
        self.assertEqual(get(port, "/"), (200, b"hello world"))
        before = set(workers(proc.pid))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "HUP: replacing" not in open(self.log).read() or \
                open(self.log).read().count("serving on") < 2:
            self.assertLess(time.monotonic(), deadline, open(self.log).read())
            time.sleep(0.1)
        self.assertEqual(get(port, "/"), (200, b"hello world"))
        self.assertIsNone(proc.poll())
        self.assertEqual(os.path.realpath("/proc/%d/exe" % proc.pid),
                         os.path.realpath(PYTHON))
        # The old workers finish and go (graceful).
        while before & set(workers(proc.pid)):
            self.assertLess(time.monotonic(), deadline,
                            open(self.log).read())
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(30), 0, open(self.log).read())

    @unittest.skipIf(SANITIZED, "under ASan: bridge embeds")
    def test_same_signals_either_way(self):
        """The signals the application's process ignores and catches
        (python3 ignores SIGPIPE and SIGXFSZ and catches SIGINT; an
        embedded interpreter touches none)."""
        _, port = self.start("--wsgi", "hostinfo", "--pythonpath", APPS)
        hosted = self.info(port)
        _, port = self.start("--wsgi", "hostinfo", "--pythonpath", APPS,
                             "--python-exe", "embed")
        embedded = self.info(port)
        self.assertNotEqual(hosted["exe"], embedded["exe"])
        self.assertEqual(hex(hosted["sigign"]), hex(embedded["sigign"]))
        self.assertEqual(hex(hosted["sigcgt"]), hex(embedded["sigcgt"]))

    def test_wrong_python_refused_in_one_line(self):
        for exe, why in (("/bin/sh", "not python%d.%d" %
                          sys.version_info[:2]),
                         ("python3", "absolute path"),
                         ("/nonexistent/python3", "absolute path")):
            r = subprocess.run([BRIDGE, "--http", "127.0.0.1:1",
                                "--wsgi", "hostinfo", "--pythonpath", APPS,
                                "--python-exe", exe] + harness.user_args(),
                               capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0, exe)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("--python-exe", lines[0])
            self.assertIn(why, lines[0])

    def test_python_exe_needs_a_python_app(self):
        r = subprocess.run([BRIDGE, "--http", "127.0.0.1:1", "--module",
                            harness.PROBE_SO, "--python-exe", "embed"] +
                           harness.user_args(), capture_output=True,
                           text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--python-exe goes with", r.stderr)


if __name__ == "__main__":
    harness.main()
