"""
Helpers for the end-to-end tests of bridge's HTTP/1.1 front end
(tests/e2e/test_http*.py).  Built on harness.py (process handling, ports,
conf/ templates), which stays front-end neutral.

Contents:
    HttpBridge      bridge with --http listeners (IPv4, optionally [::1])
    RawHttp         a raw HTTP/1.1 client over one socket: send exact
                    bytes, read responses (1xx, Content-Length, chunked,
                    close-delimited), tell EOF from "still open"
    Resp            a parsed response
    NginxProxy      nginx proxy_pass in front of bridge, from
                    conf/nginx-proxy.conf
    worker_pids, vm_rss_kb, raise_nofile
    unescape        the escapes of tests/http_requests.tsv
"""
import os
import re
import resource
import signal
import socket
import subprocess

import harness as h

TIMEOUT = h.TIMEOUT


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port6():
    return h._free_below_ephemeral(socket.AF_INET6, "::1")


class HttpBridge(h.Bridge):
    """bridge serving HTTP on 127.0.0.1:port (and [::1]:port6 if ipv6).

        b = HttpBridge(self, workers=1, extra=["--read-timeout", "2"])
        b.port, b.addr, b.port6
    """

    def __init__(self, testcase, module=None, workers=1, extra=(),
                 ipv6=False, log_level="info", start=True, tmp=None,
                 allow_root=False):
        super().__init__(testcase, module=module, workers=workers,
                         extra=(), log_level=log_level, start=False,
                         tmp=tmp, allow_root=allow_root)
        self.port6 = None
        args = [h.BRIDGE, "--http", self.spec]
        if ipv6:
            self.port6 = free_port6()
            args += ["--http", "[::1]:%d" % self.port6]
        args += ["--module", self.module, "-w", str(workers),
                 "--error-log", self.log_path, "--log-level", log_level]
        self.args = args + list(extra) + self.user_args
        if start:
            self.start()

    def start(self):
        super().start()
        if self.port6 is not None:
            h.wait_port("::1", self.port6, proc=self.proc)

    def connect(self, timeout=TIMEOUT, v6=False):
        return RawHttp(("::1", self.port6) if v6 else self.addr, timeout)

    def workers(self):
        return worker_pids(self.proc.pid)


class Closed(Exception):
    """The peer closed (EOF or reset) before a whole response arrived."""


class Resp:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value), as sent
        self.body = body
        self.raw_head = raw_head
        self.chunked = False

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def tokens(self, name):
        """Comma-separated elements of every line of a field, lower-case."""
        out = []
        for v in self.header_all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def __repr__(self):
        return "Resp(%s %d %r, %d body bytes)" % (
            self.version, self.status, self.headers, len(self.body))


class RawHttp:
    """One TCP connection; exact bytes out, responses parsed in."""

    def __init__(self, addr, timeout=TIMEOUT, rcvbuf=None):
        fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

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

    def _more(self):
        if self.eof:
            raise Closed("connection closed; %d bytes unparsed: %r"
                         % (len(self.buf), self.buf[:200]))
        try:
            chunk = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed("connection closed; %d bytes unparsed: %r"
                         % (len(self.buf), self.buf[:200]))
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = self.buf[:i]
                self.buf = self.buf[i + 2:]
                return line
            self._more()

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        out = self.buf[:n]
        self.buf = self.buf[n:]
        return out

    def read_head(self):
        """Status line and header fields of the next response (1xx
        included).  Returns a Resp without a body."""
        status_line = self._line()
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3}) (.*)$", status_line)
        if not m:
            raise AssertionError("bad status line %r" % status_line)
        headers = []
        raw = [status_line]
        while True:
            line = self._line()
            raw.append(line)
            if line == b"":
                break
            k, sep, v = line.partition(b":")
            if not sep or k != k.strip() or not k:
                raise AssertionError("bad header line %r" % line)
            headers.append((k.decode("latin-1"),
                            v.strip().decode("latin-1")))
        return Resp(m.group(1).decode(), int(m.group(2)),
                    m.group(3).decode("latin-1"), headers, b"",
                    b"\r\n".join(raw) + b"\r\n")

    def read_response(self, head=False, interim=None):
        """The next final response.  1xx responses are skipped and put in
        the interim list if one is given.  head: response to HEAD."""
        while True:
            r = self.read_head()
            if r.status >= 200:
                break
            if interim is not None:
                interim.append(r)
        te = r.tokens("transfer-encoding")
        cl = r.header_all("content-length")
        if head or r.status in (204, 304):
            return r
        if te:
            if te[-1] != "chunked":
                raise AssertionError("response coding %r" % te)
            r.chunked = True
            r.body = self._read_chunked()
        elif cl:
            if len(cl) != 1 or not cl[0].isdigit():
                raise AssertionError("bad response Content-Length %r" % cl)
            r.body = self._take(int(cl[0]))
        else:
            r.body = self.read_to_eof()
        return r

    def _read_chunked(self):
        out = []
        while True:
            line = self._line()
            size = int(line.split(b";")[0], 16)
            if size == 0:
                break
            out.append(self._take(size))
            if self._take(2) != b"\r\n":
                raise AssertionError("chunk not followed by CRLF")
        while self._line() != b"":
            pass
        return b"".join(out)

    def read_to_eof(self, timeout=None):
        self.sock.settimeout(timeout or self.timeout)
        data = self.buf
        self.buf = b""
        while not self.eof:
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.eof = True
                break
            data += chunk
        self.sock.settimeout(self.timeout)
        return data

    def closed_within(self, timeout=TIMEOUT):
        """True when the peer closes within timeout with no further bytes
        (EOF or reset); False if the connection is still open then.
        Bytes arriving instead are an error."""
        if self.buf:
            raise AssertionError("expected close, have %r" % self.buf[:200])
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            raise AssertionError("expected close, got %r" % data[:200])
        self.eof = True
        return True

    def nothing_within(self, timeout):
        """True when no byte and no EOF arrive within timeout."""
        if self.buf or self.eof:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        del data
        return False

    def request(self, target="/", method="GET", headers=(), body=b"",
                version="HTTP/1.1", host="t"):
        hdr = [("Host", host)] if host is not None else []
        hdr += list(headers)
        if body and not any(k.lower() in ("content-length",
                                          "transfer-encoding")
                            for k, _ in hdr):
            hdr.append(("Content-Length", str(len(body))))
        head = "%s %s %s\r\n" % (method, target, version)
        head += "".join("%s: %s\r\n" % kv for kv in hdr) + "\r\n"
        self.send(head.encode("latin-1") + body)
        return self.read_response(head=(method == "HEAD"))


def get_request(target="/", host="t", extra=b""):
    return (b"GET " + target.encode() + b" HTTP/1.1\r\nHost: "
            + host.encode() + b"\r\n" + extra + b"\r\n")


def chunk_encode(data, size=8192):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


# --- escapes of tests/http_requests.tsv and http_chunked.tsv -------------

def unescape(s):
    r"""\r \n \t \0 \\ \" \xHH and \{N}c (N copies of c) to bytes."""
    out = bytearray()
    i = 0
    b = s.encode("latin-1")
    while i < len(b):
        c = b[i]
        if c != 0x5c:
            out.append(c)
            i += 1
            continue
        e = chr(b[i + 1])
        if e in "rnt0\\\"":
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0",
                    "\\": b"\\", "\"": b"\""}[e]
            i += 2
        elif e == "x":
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        elif e == "{":
            j = b.index(b"}", i)
            n = int(b[i + 2:j])
            out += bytes([b[j + 1]]) * n
            i = j + 2
        else:
            raise ValueError("unknown escape \\%s in %r" % (e, s))
    return bytes(out)


def read_tsv(path):
    """Rows of a TAB-separated table (comments and the header skipped) as
    lists of strings."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            rows.append(line.split("\t"))
    return rows


# --- processes ------------------------------------------------------------

def worker_pids(master):
    """Child pids of master (its workers)."""
    pids = set()
    try:
        for tid in os.listdir("/proc/%d/task" % master):
            try:
                with open("/proc/%d/task/%s/children" % (master, tid)) as f:
                    pids.update(int(p) for p in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    if not pids:
        try:
            out = subprocess.run(["pgrep", "-P", str(master)],
                                 capture_output=True, timeout=5).stdout
            pids.update(int(p) for p in out.split())
        except (OSError, subprocess.TimeoutExpired):
            pass
    return sorted(pids)


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def raise_nofile(want):
    """Raise this process's RLIMIT_NOFILE soft limit to want (or the hard
    limit); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- nginx as an HTTP reverse proxy ------------------------------------------

class NginxProxy:
    """nginx (foreground, own prefix) with conf/nginx-proxy.conf rendered:
    proxy_pass to bridge's HTTP port with upstream keepalive."""

    def __init__(self, testcase, bridge_port, tmp=None):
        (self.bin,) = h.require(testcase, "nginx")
        self.tmp = tmp or h.TempDir(testcase, "bridge-nginx-proxy-")
        self.port = h.free_port()
        t = self.tmp
        for d in ("logs", "body", "fastcgi", "proxy", "scgi", "uwsgi"):
            os.makedirs(t.join(d), exist_ok=True)
        self.conf = h.render_conf("nginx-proxy.conf", {
            "server 127.0.0.1:8000;": "server 127.0.0.1:%d;" % bridge_port,
            "listen 127.0.0.1:8080;": "listen 127.0.0.1:%d;" % self.port,
        }, t.join("bridge.conf"))
        with open(os.path.join(h.HERE, "nginx-main.conf.in")) as f:
            main = f.read().replace("@PREFIX@", t.path)
        if os.geteuid() != 0:
            main = re.sub(r"(?m)^user .*$", "", main)
        with open(t.join("nginx.conf"), "w") as f:
            f.write(main)
        self.err = t.join("logs", "error.log")
        self.stderr = open(t.join("stderr"), "wb")
        self.proc = subprocess.Popen(
            [self.bin, "-c", t.join("nginx.conf"), "-p", t.path + "/",
             "-g", "daemon off;"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        testcase.addCleanup(self.stop)
        try:
            h.wait_port("127.0.0.1", self.port, proc=self.proc)
        except AssertionError as e:
            raise AssertionError("%s\n%s\n%s" % (e, h._tail(t.join("stderr")),
                                                 h._tail(self.err)))

    def error_log(self):
        return h._tail(self.err, 1 << 20)

    def stop(self):
        h.stop_process(self.proc, signal.SIGQUIT)
        self.stderr.close()

