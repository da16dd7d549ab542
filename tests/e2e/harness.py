"""
Shared helpers for bridge's end-to-end tests.

Every test here starts the real bridge binary (and, where it needs one,
a real web server) on loopback, in a temporary directory of its own, and
talks to it with a real client.  Nothing is left running: each helper
registers its own cleanup, every socket has a timeout, every subprocess
wait is bounded.

Environment (set by automake's AM_TESTS_ENVIRONMENT):
    BRIDGE      the bridge binary
    BUILDDIR    top build directory (modules under */.libs/*.so)
    SRCDIR      top source directory (conf/ templates)
    BRIDGE_REQUIRE_PEERS=1  (tests/run-all.sh) a skip is a failure,
                unless its reason starts with "under ASan"

How bridge runs: as root (CI) with --user nobody, the README's
production path (user_args()); only a test that passes allow_root=True
(and says why) runs the application as root.

Sanitizers (when ASAN_OPTIONS is set, as tests/run-all.sh does for
the ASan build): every process started from here inherits ASAN_OPTIONS,
UBSAN_OPTIONS and LSAN_OPTIONS with log_path in a report directory of
this file's own (SANITIZER_DIR, writable by nobody).  A report that
appears while a test runs fails that test with the report's text; one
that appears later (a class-wide bridge stopping) fails the file.
main() prints "# cases: pass=N fail=N skip=N" for tests/run-all.sh and
exits 77 when every case skipped.

Contents:
    Bridge          start/stop bridge, its error log
    FcgiConn        raw FastCGI client: records byte by byte, any split
    Nginx, Apache, Haproxy   web servers from the conf/ templates
    render_conf     conf/ file -> test config (checked substitutions)
    http_request    one HTTP/1.1 request with http.client
"""
import atexit
import glob
import http.client
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("BUILDDIR") or SRCDIR
BRIDGE = os.environ.get("BRIDGE") or os.path.join(BUILDDIR, "bridge",
                                                  "bridge")
CONF = os.path.join(SRCDIR, "conf")

PROBE_SO = os.path.join(BUILDDIR, "tests", "apps", ".libs", "probe.so")
HELLO_SO = os.path.join(BUILDDIR, "examples", "native", ".libs", "hello.so")

TIMEOUT = 10.0          # default bound on any single wait

REQUIRE_PEERS = os.environ.get("BRIDGE_REQUIRE_PEERS") == "1"
# The ASan suite (tests/run-all.sh) sets ASAN_OPTIONS.
SANITIZED = "ASAN_OPTIONS" in os.environ
# Reasons a skip may have under BRIDGE_REQUIRE_PEERS: what the sanitizers
# make meaningless, said per test ("under ASan: <why>").
ASAN_SKIP = "under ASan"


def user_args(allow_root=False):
    """bridge's flags for the user the application runs as: as root,
    --user nobody (README: the production setup); --allow-root only
    for a test that asks (allow_root=True, with a comment saying why).
    An ordinary user needs neither."""
    if os.geteuid() != 0:
        return []
    return ["--allow-root"] if allow_root else ["--user", "nobody"]


# --- sanitizer reports --------------------------------------------------

def _sanitizer_dir():
    if not SANITIZED:
        return None
    d = tempfile.mkdtemp(prefix="bridge-san-%s-"
                         % os.path.basename(sys.argv[0] or "py"))
    # Workers write their reports after --user nobody.
    os.chmod(d, 0o1777)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        opts = os.environ.get(var, "")
        if "log_path=" not in opts:
            os.environ[var] = (opts + ":" if opts else "") + \
                "log_path=" + os.path.join(d, "report")
    return d


_SANITIZER_ENV = {v: os.environ.get(v) for v in
                  ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")}
SANITIZER_DIR = _sanitizer_dir()


def preload_sanitizer_runtime():
    """Under ASan: run this test file again with the ASan runtime
    preloaded (never returns), so that a sanitizer-built module can be
    loaded into this Python with ctypes.  The interpreter's own leaks are
    not checked (detect_leaks=0); any other report fails the tests as
    usual.  Does nothing otherwise."""
    if not SANITIZED or os.environ.get("BRIDGE_ASAN_PRELOADED") == "1":
        return
    rt = subprocess.run(["clang", "-print-file-name=libclang_rt.asan-%s.so"
                         % os.uname().machine], capture_output=True,
                        text=True, timeout=TIMEOUT).stdout.strip()
    if not os.path.isabs(rt) or not os.path.exists(rt):
        raise AssertionError("ASan runtime not found (clang said %r)" % rt)
    env = dict(os.environ, LD_PRELOAD=rt, BRIDGE_ASAN_PRELOADED="1")
    for var, val in _SANITIZER_ENV.items():
        if val is None:
            env.pop(var, None)
        else:
            env[var] = val
    env["ASAN_OPTIONS"] += ":detect_leaks=0"
    _cleanup_sanitizer_dir()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


_reports_seen = set()
# Reports of no test's (a class-wide bridge stopping between tests):
# main() fails the file with them.
_between_reports = []


def sanitizer_reports():
    """Reports written since the last call: [(path, text)]."""
    out = []
    if SANITIZER_DIR is None:
        return out
    for path in sorted(glob.glob(os.path.join(SANITIZER_DIR, "*"))):
        if path in _reports_seen:
            continue
        _reports_seen.add(path)
        out.append((path, read_text(path)))
    return out


def _sanitizer_message(reports):
    return "\n".join("sanitizer report %s:\n%s" % (p, t[-8000:])
                     for p, t in reports)


def _cleanup_sanitizer_dir():
    if SANITIZER_DIR is not None and os.path.isdir(SANITIZER_DIR) and \
            not os.listdir(SANITIZER_DIR):
        os.rmdir(SANITIZER_DIR)


atexit.register(_cleanup_sanitizer_dir)

_unittest_run = unittest.TestCase.run


def _run_checked(self, result=None):
    """TestCase.run, then fail the test if a sanitizer report appeared
    while it ran (its bridges are stopped by then: cleanups ran)."""
    _between_reports.extend(sanitizer_reports())
    ret = _unittest_run(self, result)
    reports = sanitizer_reports()
    if reports and result is not None:
        try:
            raise AssertionError(_sanitizer_message(reports))
        except AssertionError:
            result.addFailure(self, sys.exc_info())
    return ret


unittest.TestCase.run = _run_checked

# --- FastCGI wire constants (FastCGI Specification 1.0, section 8) -------
FCGI_VERSION_1 = 1
FCGI_BEGIN_REQUEST = 1
FCGI_ABORT_REQUEST = 2
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_DATA = 8
FCGI_GET_VALUES = 9
FCGI_GET_VALUES_RESULT = 10
FCGI_UNKNOWN_TYPE = 11

FCGI_KEEP_CONN = 1
FCGI_RESPONDER = 1
FCGI_AUTHORIZER = 2
FCGI_FILTER = 3

FCGI_REQUEST_COMPLETE = 0
FCGI_CANT_MPX_CONN = 1
FCGI_OVERLOADED = 2
FCGI_UNKNOWN_ROLE = 3


def which(name):
    """Path of an installed program, looking in sbin too (root tests)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/local/sbin"
    return shutil.which(name, path=path)


def require(testcase, *programs):
    """Skip testcase unless every program is installed; returns paths.
    With BRIDGE_REQUIRE_PEERS=1 (tests/run-all.sh, after tests/deps.sh
    installed them) a missing program fails the test instead."""
    paths = []
    for p in programs:
        full = which(p)
        if full is None and os.environ.get("BRIDGE_REQUIRE_PEERS") == "1":
            testcase.fail("%s not installed (tests/deps.sh installs it)"
                          % p)
        if full is None:
            testcase.skipTest("%s not installed" % p)
        paths.append(full)
    return paths


# Ports for servers under test come from below the kernel's ephemeral
# range (ip_local_port_range, 32768-60999 by default): a port the kernel
# handed out as "free" could be taken as the local port of some client's
# connection before bridge bound it ("bind: Address already in use", seen
# in CI with two test files running side by side).
_PORT_LOW, _PORT_HIGH = 20000, 32768
_port_rng = random.Random(os.getpid() ^ time.monotonic_ns())


def _free_below_ephemeral(family, host):
    for _ in range(200):
        port = _port_rng.randrange(_PORT_LOW, _PORT_HIGH)
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in %d-%d" % (_PORT_LOW, _PORT_HIGH))


def free_port():
    """A loopback port that was free a moment ago, outside the range
    the kernel gives clients' connections."""
    return _free_below_ephemeral(socket.AF_INET, "127.0.0.1")


def wait_port(host, port, timeout=TIMEOUT, proc=None):
    """Wait until something accepts on host:port (or proc dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited with %s before listening "
                                 "on %s:%d" % (proc.returncode, host, port))
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listening on %s:%d after %.0f s"
                         % (host, port, timeout))


def wait_unix(path, timeout=TIMEOUT, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited with %s before listening "
                                 "on %s" % (proc.returncode, path))
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listening on %s after %.0f s"
                         % (path, timeout))


def wait_for(pred, timeout=TIMEOUT, interval=0.05):
    """Poll pred() until it is true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def stop_process(proc, sig=signal.SIGTERM, timeout=TIMEOUT):
    """Signal proc and reap it; KILL after timeout.  Returns its status
    (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(sig)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=TIMEOUT)
        return None


def stop_bridge(proc, log=None, sig=signal.SIGTERM):
    """Stop a bridge a test started by hand (TERM) and assert that it
    exited 0: a clean stop is part of every test.  log: its error log,
    shown on failure.  If it has exited already, the test that stopped it
    checked how; returns the status either way."""
    if proc.poll() is not None:
        return proc.returncode
    rc = stop_process(proc, sig, 15)
    if rc != 0:
        raise AssertionError("bridge exited with status %s on signal %d, "
                             "not 0%s" % (rc, sig, "; log:\n" + read_text(log)
                                          if log else ""))
    return rc


class TempDir:
    """A directory removed at cleanup, readable by nobody (the user the
    application runs as); writable=True: writable by it too (sticky, as
    /tmp), for the files an application or a CGI script writes."""

    def __init__(self, testcase, prefix="bridge-e2e-", writable=False):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.path, 0o1777 if writable else 0o755)
        testcase.addCleanup(shutil.rmtree, self.path, True)

    def join(self, *parts):
        return os.path.join(self.path, *parts)


# --- bridge -------------------------------------------------------------

class Bridge:
    """One bridge process on a fresh TCP port or unix socket.

        b = Bridge(self, module=PROBE_SO, workers=2, extra=[...])
        b.addr -> ("127.0.0.1", port) or "/tmp/.../bridge.sock"

    Stopped at test cleanup with TERM; the test fails if bridge did not
    exit 0 within the bound (a graceful stop is part of every test).

    As root the application runs as nobody (--user nobody, appended to
    args) unless allow_root=True (--allow-root instead).
    """

    def __init__(self, testcase, module=None, workers=1, unix=False,
                 extra=(), log_level="info", start=True, tmp=None,
                 allow_root=False):
        self.tc = testcase
        self.tmp = tmp or TempDir(testcase)
        self.module = module or PROBE_SO
        if not os.path.exists(BRIDGE):
            raise AssertionError("bridge binary %s not built" % BRIDGE)
        if not os.path.exists(self.module):
            raise AssertionError("module %s not built" % self.module)
        self.log_path = self.tmp.join("bridge.log")
        self.unix = unix
        if unix:
            self.addr = self.tmp.join("bridge.sock")
            self.spec = "unix:" + self.addr
        else:
            self.port = free_port()
            self.addr = ("127.0.0.1", self.port)
            self.spec = "127.0.0.1:%d" % self.port
        self.user_args = user_args(allow_root)
        self.args = [BRIDGE, "--fastcgi", self.spec, "--module", self.module,
                     "-w", str(workers), "--error-log", self.log_path,
                     "--log-level", log_level] + list(extra) + \
            self.user_args
        self.proc = None
        self.stopped = False
        if start:
            self.start()

    def start(self):
        self.stdout = open(self.tmp.join("bridge.stdout"), "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self.stdout,
                                     stderr=subprocess.STDOUT)
        self.tc.addCleanup(self._cleanup)
        if self.unix:
            wait_unix(self.addr, proc=self.proc)
        else:
            wait_port(*self.addr, proc=self.proc)
        # The master logs this once its workers are forked.
        if not wait_for(lambda: "serving on" in self.log(), 5):
            raise AssertionError("bridge never logged 'serving on':\n"
                                 + self.log())

    def connect(self, timeout=TIMEOUT):
        return FcgiConn(self.addr, timeout=timeout)

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0):
        """Wait for a log line matching the regex; returns the match."""
        rx = re.compile(pattern)
        m = wait_for(lambda: rx.search(self.log()), timeout)
        if not m:
            raise AssertionError("no log line matching %r in:\n%s"
                                 % (pattern, self.log()))
        return m

    def stop(self, sig=signal.SIGTERM, expect=0):
        """Signal (TERM) and assert that bridge exited with status expect
        (None: do not check).  Returns the status."""
        if self.stopped or self.proc is None:
            return None
        self.stopped = True
        rc = stop_process(self.proc, sig, 15)
        self.stdout.close()
        if expect is not None and rc != expect:
            raise AssertionError("bridge exited with status %s on signal %d"
                                 ", not %s; log:\n%s"
                                 % (rc, sig, expect, self.log()))
        return rc

    def _cleanup(self):
        if not self.stopped:
            self.stop()


# --- raw FastCGI client ---------------------------------------------------

def fcgi_header(rtype, rid, clen, plen=0, version=FCGI_VERSION_1):
    return struct.pack(">BBHHBB", version, rtype, rid, clen, plen, 0)


def fcgi_record(rtype, rid, content=b"", padding=0, version=FCGI_VERSION_1,
                pad_byte=b"\0"):
    if len(content) > 0xffff:
        raise ValueError("record content over 65535 bytes")
    return (fcgi_header(rtype, rid, len(content), padding, version)
            + content + pad_byte * padding)


def fcgi_stream(rtype, rid, data, chunk=0xffff, padding=0, end=True):
    """data as records of at most chunk bytes, then the empty record that
    ends the stream (section 3.3) unless end is False."""
    out = b""
    for i in range(0, len(data), chunk):
        out += fcgi_record(rtype, rid, data[i:i + chunk], padding)
    if end:
        out += fcgi_record(rtype, rid, b"")
    return out


def fcgi_length(n):
    if n < 128:
        return bytes([n])
    return struct.pack(">I", n | 0x80000000)


def fcgi_pair(name, value):
    if isinstance(name, str):
        name = name.encode()
    if isinstance(value, str):
        value = value.encode()
    return fcgi_length(len(name)) + fcgi_length(len(value)) + name + value


def fcgi_pairs(params):
    """Name-value pairs (section 3.4) from a dict or a list of pairs."""
    items = params.items() if isinstance(params, dict) else params
    return b"".join(fcgi_pair(k, v) for k, v in items)


def parse_pairs(data):
    out = []
    i = 0
    while i < len(data):
        lens = []
        for _ in range(2):
            if data[i] & 0x80:
                lens.append(struct.unpack(">I", data[i:i + 4])[0]
                            & 0x7fffffff)
                i += 4
            else:
                lens.append(data[i])
                i += 1
        name = data[i:i + lens[0]]
        i += lens[0]
        value = data[i:i + lens[1]]
        i += lens[1]
        out.append((name.decode(), value.decode()))
    return out


def begin_body(role=FCGI_RESPONDER, flags=0):
    return struct.pack(">HB5x", role, flags)


def request_params(path="/env", method="GET", body=None, extra=None,
                   content_length=True):
    """CGI variables as nginx's fastcgi_params would send them."""
    uri = path
    query = ""
    if "?" in path:
        path, query = path.split("?", 1)
    p = [("REQUEST_METHOD", method), ("REQUEST_URI", uri),
         ("SCRIPT_NAME", path), ("QUERY_STRING", query),
         ("SERVER_PROTOCOL", "HTTP/1.1"), ("GATEWAY_INTERFACE", "CGI/1.1"),
         ("SERVER_NAME", "localhost"), ("SERVER_PORT", "80"),
         ("REMOTE_ADDR", "127.0.0.1"), ("HTTP_HOST", "localhost")]
    if body is not None and content_length:
        p.append(("CONTENT_LENGTH", str(len(body))))
        p.append(("CONTENT_TYPE", "application/octet-stream"))
    if extra:
        p.extend(extra.items() if isinstance(extra, dict) else extra)
    return p


def request_bytes(rid=1, path="/env", method="GET", body=None, flags=0,
                  params=None, extra=None, role=FCGI_RESPONDER,
                  params_chunk=0xffff, stdin_chunk=0xffff, padding=0,
                  content_length=True):
    """A whole request: BEGIN_REQUEST, PARAMS stream, STDIN stream."""
    if params is None:
        params = request_params(path, method, body, extra, content_length)
    pdata = fcgi_pairs(params)
    return (fcgi_record(FCGI_BEGIN_REQUEST, rid, begin_body(role, flags),
                        padding)
            + fcgi_stream(FCGI_PARAMS, rid, pdata, params_chunk, padding)
            + fcgi_stream(FCGI_STDIN, rid, body or b"", stdin_chunk,
                          padding))


class Record:
    __slots__ = ("version", "type", "id", "content", "padding")

    def __init__(self, version, rtype, rid, content, padding):
        self.version = version
        self.type = rtype
        self.id = rid
        self.content = content
        self.padding = padding

    def end_request(self):
        """(appStatus, protocolStatus) of an END_REQUEST body."""
        app, proto = struct.unpack(">IB3x", self.content)
        return app, proto

    def __repr__(self):
        return "Record(type=%d, id=%d, %d bytes)" % (self.type, self.id,
                                                     len(self.content))


class Response:
    """One request's answer: STDOUT bytes parsed as a CGI response."""

    def __init__(self, rid, stdout, stderr, end):
        self.id = rid
        self.stdout = stdout
        self.stderr = stderr
        self.end = end          # (appStatus, protocolStatus) or None
        head, sep, self.body = stdout.partition(b"\r\n\r\n")
        self.headers = {}
        self.status = None
        if sep:
            for line in head.split(b"\r\n"):
                k, _, v = line.partition(b":")
                self.headers[k.strip().decode().lower()] = v.strip().decode()
            st = self.headers.get("status", "200")
            self.status = int(st.split()[0])

    def env(self):
        """The /env body as a dict (last value of a repeated name wins)
        and as the list of lines."""
        lines = self.body.decode().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        d = {}
        for line in lines:
            k, _, v = line.partition("=")
            d[k] = v
        return d


class ConnectionClosed(Exception):
    pass


class FcgiConn:
    """A raw FastCGI connection to bridge (TCP address or unix path)."""

    def __init__(self, addr, timeout=TIMEOUT):
        if isinstance(addr, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
        else:
            self.sock = socket.create_connection(addr, timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pending = []       # records read but not yet claimed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_split(self, data, size=1, delay=0.0):
        """Send data in pieces of size bytes (each its own segment)."""
        for i in range(0, len(data), size):
            self.sock.sendall(data[i:i + size])
            if delay:
                time.sleep(delay)

    def send_at(self, data, cuts, delay=0.02):
        """Send data split at the given offsets, pausing between."""
        last = 0
        for c in sorted(cuts) + [len(data)]:
            if c > last:
                self.sock.sendall(data[last:c])
                time.sleep(delay)
            last = c

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionClosed("peer closed with %d bytes pending"
                                       % len(self.buf))
            self.buf += chunk

    def read_record(self):
        if self.pending:
            return self.pending.pop(0)
        self._fill(8)
        version, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB",
                                                          self.buf[:8])
        self._fill(8 + clen + plen)
        content = self.buf[8:8 + clen]
        self.buf = self.buf[8 + clen + plen:]
        return Record(version, rtype, rid, content, plen)

    def read_response(self, rid=1):
        """Collect STDOUT/STDERR of rid until its END_REQUEST.  Records of
        other ids are kept for later calls."""
        stdout, stderr = [], []
        skipped = []
        try:
            while True:
                rec = self.read_record()
                if rec.version != FCGI_VERSION_1:
                    raise AssertionError("bridge sent version %d"
                                         % rec.version)
                if rec.id != rid:
                    skipped.append(rec)
                    continue
                if rec.type == FCGI_STDOUT:
                    stdout.append(rec.content)
                elif rec.type == FCGI_STDERR:
                    stderr.append(rec.content)
                elif rec.type == FCGI_END_REQUEST:
                    return Response(rid, b"".join(stdout), b"".join(stderr),
                                    rec.end_request())
                else:
                    raise AssertionError("unexpected record %r" % rec)
        finally:
            self.pending = skipped + self.pending

    def request(self, rid=1, **kw):
        self.send(request_bytes(rid=rid, **kw))
        return self.read_response(rid)

    def get_values(self, names):
        self.send(fcgi_record(FCGI_GET_VALUES, 0,
                              fcgi_pairs([(n, "") for n in names])))
        rec = self.read_record()
        if rec.type != FCGI_GET_VALUES_RESULT or rec.id != 0:
            raise AssertionError("expected GET_VALUES_RESULT, got %r" % rec)
        return dict(parse_pairs(rec.content))

    def is_closed(self, timeout=TIMEOUT):
        """True when the peer closes (EOF or reset) within timeout with no
        further bytes; raises if bytes arrive instead."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if data:
            raise AssertionError("expected close, got %r" % data[:200])
        return True

    def drain_until_closed(self, timeout=TIMEOUT):
        """Read everything until EOF; returns the bytes."""
        self.sock.settimeout(timeout)
        data = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
            data += chunk
        return data


def split_records(data):
    """Records of a byte string (for checking what bridge sent)."""
    out = []
    while len(data) >= 8:
        version, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB",
                                                          data[:8])
        if len(data) < 8 + clen + plen:
            break
        out.append(Record(version, rtype, rid, data[8:8 + clen], plen))
        data = data[8 + clen + plen:]
    return out, data


# --- HTTP client ------------------------------------------------------------

def http_request(port, method="GET", path="/", body=None, headers=None,
                 timeout=TIMEOUT, conn=None, host="127.0.0.1"):
    """One request; returns (status, headers dict lower-case, body)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            conn.close()


def read_text(path):
    """A whole file as text ('' if it does not exist yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def parse_env(body):
    d = {}
    for line in body.decode().split("\n"):
        if line:
            k, _, v = line.partition("=")
            d[k] = v
    return d


# --- configuration templates ------------------------------------------------

def render_conf(name, subs, dest):
    """Copy conf/NAME to dest, replacing each key of subs by its value.

    The shipped files under conf/ are what users copy; the tests run the
    very same text with only these documented values swapped for the
    test's (ports, socket paths, directories).  Every key must occur, so
    a change to a shipped file that the tests no longer exercise fails
    here rather than silently testing something else."""
    with open(os.path.join(CONF, name)) as f:
        text = f.read()
    for k, v in subs.items():
        if k not in text:
            raise AssertionError("conf/%s no longer contains %r" % (name, k))
        text = text.replace(k, str(v))
    with open(dest, "w") as f:
        f.write(text)
    return text


def _logfile(testcase, path):
    """A file for a child's output, closed at cleanup."""
    f = open(path, "wb")
    testcase.addCleanup(f.close)
    return f


def _tail(path, n=4000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return "(no %s)" % path


class Nginx:
    """nginx in the foreground with its own prefix, pid and logs.

    main: the test's main config (tests/e2e/nginx-main.conf.in) which
    includes the rendered conf/nginx-bridge.conf; subs: further
    render_conf substitutions (e.g. fastcgi_keep_conn off)."""

    def __init__(self, testcase, bridge_tcp, bridge_unix, tmp=None,
                 subs=None):
        (self.bin,) = require(testcase, "nginx")
        self.tc = testcase
        self.tmp = tmp or TempDir(testcase, "bridge-nginx-")
        self.port = free_port()
        self.port_unix = free_port()
        t = self.tmp
        for d in ("logs", "body", "fastcgi", "proxy", "scgi", "uwsgi"):
            os.makedirs(t.join(d), exist_ok=True)
        params = "/etc/nginx/fastcgi_params"
        if os.path.exists(params):
            shutil.copy(params, t.join("fastcgi_params"))
        else:
            shutil.copy(os.path.join(HERE, "fastcgi_params"),
                        t.join("fastcgi_params"))
        render_conf("nginx-bridge.conf", {
            "127.0.0.1:9000": "%s:%d" % bridge_tcp,
            "/run/bridge/bridge.sock": bridge_unix,
            "listen 127.0.0.1:8080;": "listen 127.0.0.1:%d;" % self.port,
            "listen 127.0.0.1:8081;": "listen 127.0.0.1:%d;"
                                      % self.port_unix,
            **(subs or {}),
        }, t.join("bridge.conf"))
        with open(os.path.join(HERE, "nginx-main.conf.in")) as f:
            main = f.read().replace("@PREFIX@", t.path)
        with open(t.join("nginx.conf"), "w") as f:
            f.write(main)
        self.err = t.join("logs", "error.log")
        self.proc = subprocess.Popen(
            [self.bin, "-c", t.join("nginx.conf"), "-p", t.path + "/",
             "-g", "daemon off;"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=_logfile(testcase, t.join("stderr")))
        testcase.addCleanup(self.stop)
        try:
            wait_port("127.0.0.1", self.port, proc=self.proc)
            wait_port("127.0.0.1", self.port_unix, proc=self.proc)
        except AssertionError as e:
            raise AssertionError("%s\n%s\n%s" % (e, _tail(t.join("stderr")),
                                                 _tail(self.err)))

    def error_log(self):
        return _tail(self.err, 1 << 20)

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT)


APACHE_MODULES = "/usr/lib/apache2/modules"


class Apache:
    """apache2 -DFOREGROUND with the test's main config
    (tests/e2e/apache-main.conf.in) including a rendered conf/ file."""

    def __init__(self, testcase, include_text, tmp=None, modules=()):
        (self.bin,) = require(testcase, "apache2")
        if not os.path.isdir(APACHE_MODULES):
            testcase.skipTest("apache2 modules not installed")
        self.tc = testcase
        self.tmp = tmp or TempDir(testcase, "bridge-apache-")
        self.port = free_port()
        t = self.tmp
        os.makedirs(t.join("logs"), exist_ok=True)
        os.makedirs(t.join("htdocs"), exist_ok=True)
        with open(t.join("site.conf"), "w") as f:
            f.write(include_text)
        load = "".join("LoadModule %s_module %s/mod_%s.so\n"
                       % (m, APACHE_MODULES, m) for m in modules)
        with open(os.path.join(HERE, "apache-main.conf.in")) as f:
            main = (f.read().replace("@PREFIX@", t.path)
                    .replace("@PORT@", str(self.port))
                    .replace("@MODULES@", APACHE_MODULES)
                    .replace("@LOADMODULES@", load))
        with open(t.join("httpd.conf"), "w") as f:
            f.write(main)
        self.err = t.join("logs", "error.log")
        env = dict(os.environ, APACHE_RUN_DIR=t.path, APACHE_LOG_DIR=t.join(
            "logs"), APACHE_PID_FILE=t.join("httpd.pid"),
            APACHE_LOCK_DIR=t.path)
        self.proc = subprocess.Popen(
            [self.bin, "-d", t.path, "-f", t.join("httpd.conf"),
             "-DFOREGROUND"], stdin=subprocess.DEVNULL,
            # prefork signals its whole process group when it stops
            start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=_logfile(testcase, t.join("stderr")),
            env=env)
        testcase.addCleanup(self.stop)
        try:
            wait_port("127.0.0.1", self.port, proc=self.proc)
        except AssertionError as e:
            raise AssertionError("%s\n%s\n%s" % (e, _tail(t.join("stderr")),
                                                 _tail(self.err)))

    def error_log(self):
        return _tail(self.err, 1 << 20)

    def stop(self):
        # WINCH = graceful-stop; TERM = stop now.  Either ends -DFOREGROUND.
        stop_process(self.proc, signal.SIGTERM)


class Haproxy:
    """haproxy -db with a rendered conf/haproxy-bridge.cfg."""

    def __init__(self, testcase, bridge_tcp, tmp=None):
        (self.bin,) = require(testcase, "haproxy")
        self.tc = testcase
        self.tmp = tmp or TempDir(testcase, "bridge-haproxy-")
        self.port = free_port()
        t = self.tmp
        render_conf("haproxy-bridge.cfg", {
            "127.0.0.1:9000": "%s:%d" % bridge_tcp,
            "bind 127.0.0.1:8080": "bind 127.0.0.1:%d" % self.port,
        }, t.join("haproxy.cfg"))
        self.err_path = t.join("stderr")
        self.proc = subprocess.Popen(
            [self.bin, "-db", "-f", t.join("haproxy.cfg")],
            stdin=subprocess.DEVNULL, stdout=_logfile(testcase, t.join("stdout")),
            stderr=_logfile(testcase, self.err_path))
        testcase.addCleanup(self.stop)
        try:
            wait_port("127.0.0.1", self.port, proc=self.proc)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, _tail(self.err_path)))

    def stop(self):
        stop_process(self.proc, signal.SIGUSR1)


# --- running a test file ---------------------------------------------------

def _case_id(test):
    return getattr(test, "test_case", test).id()


class _Result(unittest.TextTestResult):
    """Skips under BRIDGE_REQUIRE_PEERS are failures, except those the
    sanitizers make meaningless."""

    def addSkip(self, test, reason):
        if REQUIRE_PEERS and not reason.startswith(ASAN_SKIP):
            try:
                raise AssertionError("skipped under BRIDGE_REQUIRE_PEERS=1"
                                     ": %s" % reason)
            except AssertionError:
                self.addFailure(test, sys.exc_info())
            return
        super().addSkip(test, reason)


def main():
    """unittest.main() that also prints "# cases: pass=N fail=N skip=N"
    (counted per test case; a case with several failing subtests is one
    failure) and exits 77 (automake SKIP) when every case skipped."""
    prog = unittest.main(verbosity=2, exit=False,
                         testRunner=unittest.TextTestRunner(
                             resultclass=_Result, verbosity=2))
    r = prog.result
    failed = {_case_id(t) for t, _ in r.failures + r.errors}
    failed |= {_case_id(t) for t in r.unexpectedSuccesses}
    late = _between_reports + sanitizer_reports()
    if late:
        sys.stderr.write("FAIL: sanitizer reports after the last test "
                         "(a class-wide process):\n%s\n"
                         % _sanitizer_message(late))
        failed.add("<sanitizer report after the tests>")
    # An expected failure (a known defect, said where it is marked) is
    # neither a pass nor a failure: it counts with the skips.
    skipped = {_case_id(t) for t, _ in r.skipped + r.expectedFailures} \
        - failed
    passed = r.testsRun - len(failed & _run_ids(r)) - len(skipped)
    passed = max(passed, 0)
    print("# cases: pass=%d fail=%d skip=%d"
          % (passed, len(failed), len(skipped)))
    sys.stdout.flush()
    if failed:
        sys.exit(1)
    if skipped and passed == 0:
        sys.exit(77)
    sys.exit(0)


def _run_ids(result):
    """Ids of failed cases that counted in testsRun (not class fixtures
    or the after-the-tests check)."""
    out = set()
    for t, _ in result.failures + result.errors:
        if not isinstance(t, unittest.case._SubTest) and \
                type(t).__name__ == "_ErrorHolder":
            continue
        out.add(_case_id(t))
    out |= {_case_id(t) for t in result.unexpectedSuccesses}
    return out
