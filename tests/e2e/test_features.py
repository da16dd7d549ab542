#!/usr/bin/python3
"""
Flags and set-ups the rest of the suite did not exercise end to end
(issue 14 item 6), each against the real binary: --version, the :PORT
form, --access-log -, --log-level filtering, unix sockets with
--socket-mode and --socket-owner, --group, a master that is not root,
--max-conns, --max-spool, --body-buffer with --tmp-dir, LISTEN_FDNAMES=https and
WATCHDOG_USEC under systemd-socket-activate, and lighttpd's mod_fastcgi
in front of bridge.
"""
import grp
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

ROOT = os.geteuid() == 0


def ids(pid):
    """([real, effective, saved, fs] uids, gids) of a process."""
    uid = gid = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = [int(x) for x in line.split()[1:]]
            elif line.startswith("Gid:"):
                gid = [int(x) for x in line.split()[1:]]
    return uid, gid


def get_pid(port, host="127.0.0.1"):
    st, _, body = h.http_request(port, path="/pid", host=host,
                                 headers={"Connection": "close"})
    if st != 200:
        raise AssertionError("/pid answered %d" % st)
    return int(body)


class Cli(unittest.TestCase):
    def test_version(self):
        """--version: one line on stdout, exit 0, nothing started."""
        p = subprocess.run([h.BRIDGE, "--version"], capture_output=True,
                           text=True, timeout=h.TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^bridge \d+\.\d+(\.\d+)?[^\n]*\n$")
        self.assertEqual(p.stderr, "")

    def test_port_only_listens_on_every_address(self):
        """--http :PORT: every IPv4 address (and IPv6 where there is)."""
        port = h.free_port()
        b = hh.HttpBridge(self, start=False)
        b.args[b.args.index(b.spec)] = ":%d" % port
        b.addr = ("127.0.0.1", port)
        b.start()
        st, _, body = h.http_request(port, path="/")
        self.assertEqual((st, body), (200, b"probe\n"))
        self.assertIn("serving on", b.log())
        if hh.have_ipv6_loopback():
            st, _, body = h.http_request(port, path="/", host="::1")
            self.assertEqual((st, body), (200, b"probe\n"))
        b.stop()


class Logging(unittest.TestCase):
    def test_access_log_to_stdout(self):
        """--access-log -: one line per request on standard output."""
        b = hh.HttpBridge(self, extra=["--access-log", "-"])
        st, _, _ = h.http_request(b.port, path="/env?stdout-line")
        self.assertEqual(st, 200)
        out = b.tmp.join("bridge.stdout")
        self.assertTrue(h.wait_for(
            lambda: "GET /env?stdout-line " in h.read_text(out)),
            h.read_text(out))
        self.assertNotIn("stdout-line", b.log())
        b.stop()

    def test_log_level_filters(self):
        """--log-level: lines below it are not written, lines at or
        above are (the application's warning through the gateway)."""
        for level, info, warn in (("error", False, False),
                                  ("warn", False, True),
                                  ("info", True, True)):
            with self.subTest(level=level):
                b = hh.HttpBridge(self, log_level=level, start=False)
                b.proc = subprocess.Popen(b.args, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.STDOUT)
                b.stdout = open(os.devnull, "wb")
                self.addCleanup(b._cleanup)
                h.wait_port(*b.addr, proc=b.proc)
                st, _, body = h.http_request(b.port, path="/log")
                self.assertEqual((st, body), (200, b"logged\n"))
                b.stop()
                log = b.log()
                self.assertEqual("serving on" in log, info, log)
                self.assertEqual("probe log line 42" in log, warn, log)
                self.assertNotIn(" debug ", log)


class UnixSockets(unittest.TestCase):
    def test_socket_mode_and_owner(self):
        """--fastcgi unix:PATH with --socket-mode and --socket-owner: the
        web server's user can connect, others cannot."""
        if not ROOT:
            self.skipTest("--socket-owner needs root")
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrgid(nobody.pw_gid).gr_name
        b = h.Bridge(self, unix=True, extra=[
            "--socket-mode", "660", "--socket-owner", "nobody:" + group])
        st = os.stat(b.addr)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        self.assertEqual((st.st_uid, st.st_gid),
                         (nobody.pw_uid, nobody.pw_gid))
        with b.connect() as c:
            r = c.request(path="/env")
        self.assertEqual(r.status, 200)
        b.stop()
        self.assertFalse(os.path.exists(b.addr))

    def test_http_on_unix_socket(self):
        """--http unix:PATH serves HTTP/1.1 over the socket."""
        tmp = h.TempDir(self)
        path = tmp.join("http.sock")
        b = hh.HttpBridge(self, start=False, tmp=tmp)
        b.args[b.args.index(b.spec)] = "unix:" + path
        b.unix = True
        b.addr = path
        b.start()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(h.TIMEOUT)
            s.connect(path)
            s.sendall(hh.get_request("/pid"))
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        b.stop()


class Privileges(unittest.TestCase):
    def test_user_and_group(self):
        """--user nobody --group GROUP: the workers run with that group
        (and no other), the master stays root."""
        if not ROOT:
            self.skipTest("--user and --group need root")
        nobody = pwd.getpwnam("nobody")
        group = "nogroup" if nobody.pw_gid != grp.getgrnam(
            "nogroup").gr_gid else "daemon"
        gid = grp.getgrnam(group).gr_gid
        b = hh.HttpBridge(self, extra=["--group", group])
        worker = get_pid(b.port)
        uid, gids = ids(worker)
        self.assertEqual(uid, [nobody.pw_uid] * 4)
        self.assertEqual(gids, [gid] * 4)
        with open("/proc/%d/status" % worker) as f:
            groups = re.search(r"\nGroups:([^\n]*)\n", f.read()).group(1)
        self.assertLessEqual({int(g) for g in groups.split()}, {gid})
        self.assertEqual(ids(b.proc.pid)[0][0], 0)
        b.stop()

    def test_master_not_root_serves(self):
        """Started as an ordinary user, bridge needs no --user and
        serves; master and workers are that user."""
        if not ROOT:
            self.skipTest("needs root to start bridge as another user")
        nobody = pwd.getpwnam("nobody")
        tmp = h.TempDir(self, writable=True)     # its error log
        port = h.free_port()
        log = tmp.join("error.log")
        proc = subprocess.Popen(
            [h.BRIDGE, "--http", "127.0.0.1:%d" % port, "--module",
             h.PROBE_SO, "-w", "2", "--error-log", log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, user=nobody.pw_uid,
            group=nobody.pw_gid, extra_groups=[])
        self.addCleanup(h.stop_bridge, proc, log)
        h.wait_port("127.0.0.1", port, proc=proc)
        worker = get_pid(port)
        self.assertNotEqual(worker, proc.pid)
        self.assertEqual(ids(worker)[0][0], nobody.pw_uid)
        self.assertEqual(ids(proc.pid)[0][0], nobody.pw_uid)
        self.assertEqual(h.stop_bridge(proc, log), 0)


class Limits(unittest.TestCase):
    def test_max_conns_enforced(self):
        """--max-conns 2, one worker: a third connection is not served
        while two are open, and is once one closes."""
        b = hh.HttpBridge(self, extra=["--max-conns", "2"])
        held = []
        for _ in range(2):
            c = b.connect()
            self.addCleanup(c.close)
            c.send(hh.get_request("/"))
            self.assertEqual(c.read_response().status, 200)
            held.append(c)
        third = hh.RawHttp(b.addr, timeout=1.0)
        self.addCleanup(third.close)
        third.send(hh.get_request("/pid"))
        # A negative check: nothing to wait for but time.
        with self.assertRaises((socket.timeout, TimeoutError)):
            third.read_response()
        held[0].close()
        third.sock.settimeout(h.TIMEOUT)
        r = third.read_response()
        self.assertEqual(r.status, 200)
        b.stop()

    def test_body_spooled_to_tmp_dir(self):
        """--body-buffer 4k --tmp-dir DIR: a larger body goes through a
        file in DIR (intact); with DIR unusable the request fails and a
        body under the buffer is still served."""
        data = os.urandom(300000)
        spool = h.TempDir(self, writable=True)
        b = hh.HttpBridge(self, extra=["--body-buffer", "4k", "--tmp-dir",
                                       spool.path])
        st, _, body = h.http_request(b.port, "POST", "/echo", body=data,
                                     timeout=20)
        self.assertEqual(st, 200)
        self.assertTrue(body == data, "body changed through the spool")
        b.stop()
        missing = spool.join("no-such-dir")
        b = hh.HttpBridge(self, extra=["--body-buffer", "4k", "--tmp-dir",
                                       missing])
        st, _, _ = h.http_request(b.port, "POST", "/echo", body=data,
                                  timeout=20)
        self.assertGreaterEqual(st, 500)
        st, _, body = h.http_request(b.port, "POST", "/echo",
                                     body=b"x" * 1000)
        self.assertEqual((st, body), (200, b"x" * 1000))
        b.stop()


class MaxSpool(unittest.TestCase):
    """--max-spool: how much of a response bridge spools (to a file in
    --tmp-dir) for a client that does not read, before the application
    waits for it."""
    SIZE = 20 * 1000 * 1000

    def stalled(self, extra):
        """A bridge and a client that asked for SIZE bytes and reads
        nothing yet: (bridge, worker pid, client)."""
        self.spool = h.TempDir(self, writable=True)
        b = hh.HttpBridge(self, extra=["--write-timeout", "60", "--tmp-dir",
                                       self.spool.path] + extra)
        worker = get_pid(b.port)
        c = hh.RawHttp(b.addr, timeout=h.TIMEOUT, rcvbuf=4096)
        self.addCleanup(c.close)
        c.send(hh.get_request("/big?%d" % self.SIZE))
        return b, worker, c

    def spooled(self, worker):
        """Bytes in the worker's open files under --tmp-dir."""
        n = 0
        for fd in os.listdir("/proc/%d/fd" % worker):
            path = "/proc/%d/fd/%s" % (worker, fd)
            try:
                if os.readlink(path).startswith(self.spool.path):
                    n += os.stat(path).st_size
            except OSError:
                pass
        return n

    def read_all(self, c):
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), self.SIZE)

    def test_spool_bounded_then_response_complete(self):
        """A 20 MB response to a client that reads nothing: with the
        default (64m) the spool takes most of it; with --max-spool 1m and
        --threads 2 it stays near 1 MB while the application thread
        waits; either way the client, once it reads, gets every byte."""
        b, worker, c = self.stalled([])
        self.assertTrue(h.wait_for(lambda: self.spooled(worker) > 10 ** 7),
                        "default spool holds %d bytes" % self.spooled(worker))
        self.read_all(c)
        b.stop()
        b, worker, c = self.stalled(["--max-spool", "1m", "--threads", "2"])
        self.assertTrue(h.wait_for(lambda: self.spooled(worker) > 0),
                        "nothing spooled")
        # A negative check: nothing to wait for but time.
        over = h.wait_for(lambda: self.spooled(worker) > 2 * 2 ** 20, 3.0)
        self.assertFalse(over, "spooled %d bytes with --max-spool 1m"
                         % self.spooled(worker))
        self.read_all(c)
        b.stop()

    def test_spool_bound_cuts_response_on_the_loop_thread(self):
        """With --threads 1 the module runs on the loop thread, which
        must not wait for one client (the others would stall): past
        --max-spool the response is cut, and logged."""
        b, worker, c = self.stalled(["--max-spool", "1m"])
        b.wait_log(r"more than --max-spool behind; response cut")
        self.assertLess(self.spooled(worker), 2 * 2 ** 20)
        got = c.read_to_eof(timeout=h.TIMEOUT)
        self.assertLess(len(got), self.SIZE)
        b.stop()


def make_cert(d, name):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-keyout", key, "-out", crt, "-subj", "/CN=" + name],
                   check=True, capture_output=True, timeout=60)
    return crt, key


class Systemd(unittest.TestCase):
    def setUp(self):
        (self.activate,) = h.require(self, "systemd-socket-activate")
        self.tmp = h.TempDir(self)
        self.notify_path = self.tmp.join("notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(h.TIMEOUT)
        self.addCleanup(self.notify.close)
        self.log = self.tmp.join("error.log")

    def start(self, port, fdname, env, extra):
        proc = subprocess.Popen(
            [self.activate, "-l", "127.0.0.1:%d" % port,
             "--fdname=" + fdname]
            + [a for k, v in env.items() for a in ("-E", "%s=%s" % (k, v))]
            + [h.BRIDGE, "--module", h.PROBE_SO, "--error-log", self.log]
            + list(extra) + h.user_args(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.addCleanup(h.stop_bridge, proc, self.log)
        # systemd-socket-activate execs bridge at the first connection.
        h.wait_port("127.0.0.1", port, proc=proc)
        return proc

    def messages(self, until, timeout=h.TIMEOUT):
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got.append(self.notify.recv(4096).decode())
            except socket.timeout:
                break
            if until(got):
                break
        return got

    def test_listen_fdnames_https(self):
        """LISTEN_FDNAMES=https: the inherited socket speaks TLS."""
        (_,) = h.require(self, "openssl")
        crt, key = make_cert(self.tmp.path, "a.test")
        port = h.free_port()
        proc = self.start(port, "https", {"NOTIFY_SOCKET":
                                          self.notify_path},
                          ["--cert", crt, "--key", key])
        got = self.messages(lambda g: any("READY=1" in m for m in g))
        self.assertTrue(any("READY=1" in m for m in got), got)
        ctx = ssl.create_default_context(cafile=crt)
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname="a.test") as s:
                s.sendall(b"GET /pid HTTP/1.1\r\nHost: a\r\n"
                          b"Connection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        self.assertIsNone(proc.poll())

    def test_watchdog_pings(self):
        """WATCHDOG_USEC (with WATCHDOG_PID unset): WATCHDOG=1 at least
        every half period once ready."""
        port = h.free_port()
        self.start(port, "http", {"NOTIFY_SOCKET": self.notify_path,
                                  "WATCHDOG_USEC": "400000"}, [])
        got = self.messages(
            lambda g: sum("WATCHDOG=1" in m for m in g) >= 3, 10)
        self.assertGreaterEqual(sum("WATCHDOG=1" in m for m in got), 3,
                                got)
        self.assertTrue(any("READY=1" in m for m in got), got)


LIGHTTPD_CONF = """\
server.document-root = "%(root)s"
server.port = %(port)d
server.bind = "127.0.0.1"
server.errorlog = "%(root)s/error.log"
server.pid-file = "%(root)s/lighttpd.pid"
server.modules = ("mod_fastcgi")
fastcgi.server = ("/" => ((
    "host" => "127.0.0.1",
    "port" => %(bridge)d,
    "check-local" => "disable",
    "fix-root-scriptname" => "enable"
)))
"""


class Lighttpd(unittest.TestCase):
    """lighttpd's mod_fastcgi in front of bridge (README: any FastCGI
    web server)."""

    def setUp(self):
        (self.bin,) = h.require(self, "lighttpd")
        self.b = h.Bridge(self, workers=2)
        self.tmp = h.TempDir(self, "bridge-lighttpd-")
        self.port = h.free_port()
        conf = self.tmp.join("lighttpd.conf")
        with open(conf, "w") as f:
            f.write(LIGHTTPD_CONF % {"root": self.tmp.path,
                                     "port": self.port,
                                     "bridge": self.b.port})
        self.err = open(self.tmp.join("stderr"), "wb")
        self.addCleanup(self.err.close)
        self.proc = subprocess.Popen([self.bin, "-D", "-f", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        self.addCleanup(h.stop_process, self.proc)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)

    def test_get_post_and_errors(self):
        st, _, body = h.http_request(self.port, path="/env?k=v",
                                     headers={"X-Lt": "1"})
        self.assertEqual(st, 200, body)
        env = h.parse_env(body)
        self.assertEqual(env["QUERY_STRING"], "k=v")
        self.assertEqual(env["HTTP_X_LT"], "1")
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        data = os.urandom(200000)
        st, _, body = h.http_request(self.port, "POST", "/echo",
                                     body=data, timeout=20)
        self.assertEqual(st, 200)
        self.assertTrue(body == data)
        self.assertEqual(h.http_request(self.port, path="/fail")[0], 500)
        st, _, body = h.http_request(self.port, path="/big?1000000",
                                     timeout=20)
        self.assertEqual((st, len(body)), (200, 1000000))
        self.b.stop()


if __name__ == "__main__":
    h.main()
