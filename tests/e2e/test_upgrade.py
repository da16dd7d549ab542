#!/usr/bin/python3
"""USR2 upgrades the binary in place: the master starts the file on disk
(here replaced by rename, a new inode) as a new master holding the same
listening sockets; once the new one's workers are ready the old master
stops, without shutting the shared sockets or removing the unix socket
file.  Clients see no failure meanwhile.  A new binary that does not
start, or a new master that dies before it is ready, leaves the old one
serving with its pidfile.  Run by make check with BRIDGE and BUILDDIR."""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import (BRIDGE, BUILDDIR, HELLO_SO, PROBE_SO, FcgiConn,  # noqa
                     TempDir, free_port, http_request, read_text,
                     wait_for)

FAILINIT_SO = os.path.join(BUILDDIR, "tests", "apps", ".libs",
                           "failinit.so")
BOUND = 15.0


def gone(pid):
    """pid has exited (a zombie counts: not ours to reap)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(x) for x in f.read().split())
    except FileNotFoundError:
        return []


def http_get(port):
    try:
        status, _, body = http_request(port, timeout=5)
    except http.client.HTTPException as e:
        raise AssertionError("bad answer: %r" % e)
    if status != 200 or b"Hello" not in body:
        raise AssertionError("bad answer %d %r" % (status, body[:200]))


def fcgi_get(path):
    with FcgiConn(path, timeout=5) as c:
        r = c.request(path="/")
    if r.status != 200 or b"Hello" not in r.body:
        raise AssertionError("bad FastCGI answer %r" % r.stdout[:200])


def accept_queue(port):
    """Connections waiting for accept() on 127.0.0.1:port."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fld = line.split()
            if fld[3] == "0A" and int(fld[1].split(":")[1], 16) == port:
                return int(fld[4].split(":")[1], 16)
    return -1


class SlowRequest:
    """GET /sleep?MS (probe module) in a thread, once a worker took it."""

    def __init__(self, port, ms):
        self.sock = socket.create_connection(("127.0.0.1", port), BOUND)
        self.sock.sendall(b"GET /sleep?%d HTTP/1.1\r\nHost: u\r\n"
                          b"Connection: close\r\n\r\n" % ms)
        if not wait_for(lambda: accept_queue(port) == 0, BOUND):
            raise AssertionError("the request was never accepted")
        self.data = b""
        self.thread = threading.Thread(target=self.read)
        self.thread.start()

    def read(self):
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.data += chunk
        except OSError as e:
            self.data += repr(e).encode()
        self.sock.close()

    def answer(self):
        self.thread.join(BOUND)
        return self.data


class Load:
    """Requests in a loop, HTTP and FastCGI over the unix socket, each on
    a new connection; every failure is kept."""

    def __init__(self, port, unix):
        self.port, self.unix = port, unix
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop.is_set() and n < 100000:
            n += 1
            try:
                if n % 2:
                    http_get(self.port)
                else:
                    fcgi_get(self.unix)
                self.ok += 1
            except (OSError, AssertionError) as e:
                self.failures.append(repr(e))

    def finish(self):
        self.stop.set()
        self.thread.join(BOUND)


class UpgradeTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(BRIDGE) or not os.path.exists(HELLO_SO):
            self.fail("bridge or examples/native hello.so not built")
        self.tmp = TempDir(self, "bridge-upgrade-")
        self.bin = self.tmp.join("bridge")
        shutil.copy(BRIDGE, self.bin)
        self.real = self.tmp.join("real-bridge")    # for wrappers
        shutil.copy(BRIDGE, self.real)
        self.port = free_port()
        self.unix = self.tmp.join("fcgi.sock")
        self.pidfile = self.tmp.join("bridge.pid")
        self.log_path = self.tmp.join("error.log")
        self.notify = None
        self.new_pids = []

    def start(self, env=None, module=HELLO_SO):
        self.proc = subprocess.Popen(
            [self.bin, "--http", "127.0.0.1:%d" % self.port,
             "--fastcgi", "unix:" + self.unix, "--module", module,
             "-w", "2", "--pidfile", self.pidfile,
             "--error-log", self.log_path, "--graceful-timeout", "5",
             "--log-level", "debug"] + harness.user_args(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env)
        self.addCleanup(self.cleanup)
        # Every worker ready: what USR2 waits for.
        ok = wait_for(lambda: self.pid_in_file() == self.proc.pid and
                      "all 2 workers ready" in self.log() and
                      (module != HELLO_SO or self.serves()), BOUND)
        self.assertTrue(ok, self.log())

    def cleanup(self):
        for pid in self.new_pids:
            if not gone(pid):
                os.kill(pid, signal.SIGTERM)
                if not wait_for(lambda: gone(pid), BOUND):
                    os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(BOUND)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(BOUND)
        if self.notify is not None:
            self.notify.close()

    def log(self):
        return read_text(self.log_path)

    def wait_log(self, pattern):
        rx = re.compile(pattern)
        m = wait_for(lambda: rx.search(self.log()), BOUND)
        self.assertTrue(m, "no %r in:\n%s" % (pattern, self.log()))
        return m

    def pid_in_file(self):
        try:
            return int(read_text(self.pidfile).strip() or 0)
        except ValueError:
            return 0

    def serves(self):
        try:
            http_get(self.port)
            fcgi_get(self.unix)
            return True
        except (OSError, AssertionError):
            return False

    def replace_binary(self, text=None):
        """Put a new file at self.bin by rename: a copy of bridge, or a
        script.  Returns its inode."""
        tmp = self.bin + ".new"
        if text is None:
            shutil.copy(BRIDGE, tmp)
        else:
            with open(tmp, "w") as f:
                f.write(text.replace("REAL", self.real))
            os.chmod(tmp, 0o755)
        os.rename(tmp, self.bin)
        return os.stat(self.bin).st_ino

    def assert_old_master_serves(self, workers):
        self.assertIsNone(self.proc.poll(), self.log())
        self.assertEqual(self.pid_in_file(), self.proc.pid)
        self.assertFalse(os.path.exists(self.pidfile + ".oldbin"))
        self.assertEqual(children(self.proc.pid), workers, self.log())
        self.assertTrue(self.serves(), self.log())

    def upgrade(self):
        """USR2 with a new copy of bridge; returns (new pid, inode)."""
        inode = self.replace_binary()
        old = self.proc.pid
        self.proc.send_signal(signal.SIGUSR2)
        new = wait_for(lambda: self.pid_in_file() not in (0, old) and
                       self.pid_in_file(), BOUND)
        self.assertTrue(new, self.log())
        self.new_pids.append(new)
        self.assertEqual(self.proc.wait(BOUND), 0, self.log())
        return new, inode

    def test_upgrade_without_a_failed_request(self):
        self.start()
        old_workers = children(self.proc.pid)
        # wrk's keep-alive connections too (tests/deps.sh installs it;
        # harness.require skips without it, a failure under
        # BRIDGE_REQUIRE_PEERS).
        (wrk_bin,) = harness.require(self, "wrk")
        load = Load(self.port, self.unix)
        wrk = subprocess.Popen(
            [wrk_bin, "-t1", "-c4", "-d3s",
             "http://127.0.0.1:%d/" % self.port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            self.assertTrue(wait_for(lambda: load.ok >= 20, BOUND))
            new, inode = self.upgrade()
            # Old workers finish and go with their master.
            self.assertTrue(wait_for(
                lambda: all(gone(p) for p in old_workers), BOUND))
            before = load.ok
            self.assertTrue(wait_for(lambda: load.ok >= before + 20,
                                     BOUND), load.failures)
        finally:
            load.finish()
            out = wrk.communicate(timeout=BOUND)[0].decode()
        self.assertEqual(load.failures, [], self.log())
        self.assertEqual(wrk.returncode, 0, out)
        self.assertRegex(out, r"\d+ requests in")
        self.assertNotIn("Non-2xx", out)
        m = re.search(r"Socket errors: connect (\d+)", out)
        self.assertTrue(m is None or m.group(1) == "0", out)

        # The new master runs the new file, not a deleted one.
        exe = os.readlink("/proc/%d/exe" % new)
        self.assertEqual(exe, self.bin)
        self.assertEqual(os.stat("/proc/%d/exe" % new).st_ino, inode)
        self.assertEqual(len(children(new)), 2)
        self.assertTrue(os.path.exists(self.unix))
        self.assertTrue(self.serves())
        self.assertFalse(os.path.exists(self.pidfile + ".oldbin"))
        self.assertIn("USR2: new master %d ready; old master exiting"
                      % new, self.log())
        self.assertNotIn("error", self.log())

        # The new master owns the sockets and the pidfile now: a TERM
        # removes them as a stop always does.
        os.kill(new, signal.SIGTERM)
        self.assertTrue(wait_for(lambda: gone(new), BOUND), self.log())
        self.assertFalse(os.path.exists(self.pidfile))
        self.assertFalse(os.path.exists(self.unix))

    def test_binary_that_does_not_start_is_refused(self):
        self.start()
        workers = children(self.proc.pid)
        self.replace_binary("#!/bin/sh\necho 'broken build' >&2\nexit 1\n")
        self.proc.send_signal(signal.SIGUSR2)
        self.wait_log(r"USR2: the new binary %s does not start: broken "
                      r"build; keeping this one" % re.escape(self.bin))
        self.assert_old_master_serves(workers)

        # Silent failure: the status is the reason.
        self.replace_binary("#!/bin/sh\nexit 1\n")
        self.proc.send_signal(signal.SIGUSR2)
        self.wait_log(r"does not start: exited with status 1; keeping")
        self.assert_old_master_serves(workers)

    def test_new_master_dying_before_ready_rolls_back(self):
        self.start()
        workers = children(self.proc.pid)
        # Passes --check-config, then exits 3 instead of serving.
        self.replace_binary(
            "#!/bin/sh\nfor a; do [ \"$a\" = --check-config ] && "
            "exec REAL \"$@\"; done\nexit 3\n")
        self.proc.send_signal(signal.SIGUSR2)
        self.wait_log(r"USR2: the new master \d+ exited with status 3 "
                      r"before it was ready; keeping this one")
        self.assert_old_master_serves(workers)

        # A real new master whose application cannot start: it stops by
        # itself, and must leave the shared sockets and their files.
        self.replace_binary(
            "#!/bin/sh\nfor a; do [ \"$a\" = --check-config ] && "
            "exec REAL \"$@\"; done\nexec REAL \"$@\" --module %s\n"
            % FAILINIT_SO)
        self.proc.send_signal(signal.SIGUSR2)
        self.wait_log(r"USR2: the new master \d+ exited with status 1 "
                      r"before it was ready; keeping this one")
        self.assertIn("failinit: cannot start", self.log())
        self.assertTrue(os.path.exists(self.unix))
        self.assert_old_master_serves(workers)

        # Still able to upgrade afterwards.
        new, _ = self.upgrade()
        self.assertTrue(self.serves())

    def test_signals_while_an_upgrade_is_pending(self):
        self.start()
        # A new master that takes a while to start.
        self.replace_binary(
            "#!/bin/sh\nfor a; do [ \"$a\" = --check-config ] && "
            "exec REAL \"$@\"; done\nsleep 1\nexec REAL \"$@\"\n")
        self.proc.send_signal(signal.SIGUSR2)
        m = self.wait_log(r"USR2: new master (\d+) starting from")
        self.new_pids.append(int(m.group(1)))
        self.proc.send_signal(signal.SIGUSR2)
        self.proc.send_signal(signal.SIGHUP)
        self.wait_log(r"USR2: new master %s is still starting; ignored"
                      % m.group(1))
        self.wait_log(r"HUP: an upgrade \(USR2\) is in progress; ignored")
        self.assertEqual(self.proc.wait(BOUND), 0, self.log())
        self.assertEqual(self.pid_in_file(), int(m.group(1)))
        self.assertTrue(self.serves())

    def test_term_during_a_pending_upgrade_stops_both(self):
        self.start()
        self.replace_binary(
            "#!/bin/sh\nfor a; do [ \"$a\" = --check-config ] && "
            "exec REAL \"$@\"; done\nexec sleep 30\n")
        self.proc.send_signal(signal.SIGUSR2)
        m = self.wait_log(r"USR2: new master (\d+) starting from")
        new = int(m.group(1))
        self.new_pids.append(new)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(BOUND), 0, self.log())
        self.assertTrue(gone(new))
        self.assertIn("with the new master still starting", self.log())
        self.assertFalse(os.path.exists(self.pidfile))
        self.assertFalse(os.path.exists(self.pidfile + ".oldbin"))

    def test_old_workers_finish_in_flight_requests(self):
        self.start(module=PROBE_SO)
        slow = SlowRequest(self.port, 1500)
        inode = self.replace_binary()
        self.proc.send_signal(signal.SIGUSR2)
        self.wait_log(r"USR2: new master \d+ ready; old master exiting")
        self.new_pids.append(self.pid_in_file())
        # Its worker is still answering: the old master waits.
        self.assertIsNone(self.proc.poll())
        self.assertIn(b"HTTP/1.1 200 ", slow.answer())
        self.assertEqual(self.proc.wait(BOUND), 0, self.log())
        self.assertEqual(os.stat("/proc/%d/exe" % self.new_pids[0]).st_ino,
                         inode)

    def test_usr2_during_reload_or_stop_is_ignored(self):
        self.start(module=PROBE_SO)
        # HUP is taken first (lower signal number); the re-executed
        # master then finds its workers not ready yet.
        self.proc.send_signal(signal.SIGHUP)
        self.proc.send_signal(signal.SIGUSR2)
        self.wait_log(r"USR2: a reload or start-up is in progress")
        self.assertTrue(wait_for(lambda: self.log().count(
            "all 2 workers ready") == 2, BOUND), self.log())
        slow = SlowRequest(self.port, 1500)
        self.proc.send_signal(signal.SIGTERM)
        self.wait_log(r"TERM: stopping gracefully")
        self.proc.send_signal(signal.SIGUSR2)
        self.wait_log(r"USR2: stopping; not upgrading")
        self.assertIn(b"HTTP/1.1 200 ", slow.answer())
        self.assertEqual(self.proc.wait(BOUND), 0, self.log())
        self.assertNotIn("new master", self.log())

    def test_systemd_follows_the_new_main_pid(self):
        path = self.tmp.join("notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(path)
        self.notify.settimeout(BOUND)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        self.start(env)
        self.assertIn("READY=1", self.messages_until("READY=1")[-1])
        new, _ = self.upgrade()
        msgs = self.messages_until("READY=1")
        self.assertIn("MAINPID=%d" % new, msgs[-1].split("\n"))
        # The old master exits quietly: STOPPING=1 would stop the unit.
        self.notify.setblocking(False)
        rest = []
        try:
            while True:
                rest.append(self.notify.recv(4096).decode())
        except BlockingIOError:
            pass
        self.assertFalse([m for m in msgs + rest if "STOPPING=1" in m],
                         msgs + rest)

    def messages_until(self, key):
        got = []
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            got.append(self.notify.recv(4096).decode())
            if key in got[-1].split("\n"):
                return got
        self.fail("no %s in %r" % (key, got))


if __name__ == "__main__":
    harness.main()
