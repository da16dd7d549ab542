#!/usr/bin/python3
"""An ASGI scope's headers over bridge's own HTTP front end are the
request's header fields as received (asgiref specs/www.rst, HTTP
connection scope, headers: "Duplicates are possible and must be
preserved in the message as received"): in order, a field sent twice as
two pairs, two Cookie lines as two pairs, names lower-cased bytes,
values bytes without the whitespace around them (RFC 9112 section 5),
a name with '_' apart from the same name with '-', Proxy as any field
(httpoxy is about an environment variable HTTP_PROXY: WSGI's environ
still drops it).  The same bytes go to
uvicorn (Debian's, the reference) and to bridge --http/--https --asgi
(as root with --user nobody), with tests/apps/asgi_headers.py answering
its scope; whole and split at awkward bytes, many fields, pipelined.

Where bridge differs from uvicorn, on purpose: trailing whitespace is
trimmed (httptools keeps it); with an absolute-form target, Host is the
target's authority (RFC 9112 section 3.2.2); proxy fields from a peer
outside --forwarded-allow-ips are dropped, and a name that mimics one
with '_' (X_Forwarded_Proto) is always dropped; from a trusted proxy the
X-Forwarded-* fields stay in the list (as uvicorn leaves them) and Host
is the forwarded host, as HTTP_HOST.  scope client, scheme and server
come from the proxy fields as before.

For contrast, FastCGI behind nginx: there the web server has turned the
fields into HTTP_* parameters (dropping the one with '_'; a field sent
twice arrives joined, by nginx from 1.23 on, by bridge from nginx 1.22's
repeated parameters), and the scope is built from those.

The gateway call behind it, fields(), to a native module
(tests/apps/async_probe.c /fields): still the request's fields when read
long after other heads were parsed in the same worker (the test fails
if they point into the parse buffer); NULL over FastCGI.

Before the change bridge built the list from the HTTP_* variables over
HTTP too: X-Dup came as one "a, b", the cookies as "a=1; b=2", x_y was
missing.
"""
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

PYTHON = "/usr/bin/python3"
APPS = os.path.abspath(os.path.join(h.SRCDIR, "tests", "apps"))
APP = "asgi_headers:app"

# One head with everything the spec's sentence is about.
MIXED = (b"GET /h?q=1 HTTP/1.1\r\n"
         b"Host: t\r\n"
         b"X-Dup: a\r\n"
         b"Cookie: a=1\r\n"
         b"x-dup: b\r\n"
         b"Cookie: b=2\r\n"
         b"X-MiXeD-CaSe: M v\r\n"
         b"X_Y: under\r\n"
         b"X-Y: dash\r\n"
         b"Accept:\t*/*\r\n"
         b"Proxy: p\r\n"
         b"Connection: close\r\n\r\n")
MIXED_FIELDS = [["host", "t"], ["x-dup", "a"], ["cookie", "a=1"],
                ["x-dup", "b"], ["cookie", "b=2"], ["x-mixed-case", "M v"],
                ["x_y", "under"], ["x-y", "dash"], ["accept", "*/*"],
                ["proxy", "p"], ["connection", "close"]]


def many_head():
    """90 fields: names of every case, repeats spread out, a body."""
    lines = [b"POST /many HTTP/1.1", b"Host: many.test"]
    want = [["host", "many.test"]]
    for i in range(86):
        name = ("X-Field-%d" % (i % 29)) if i % 3 else "X-Rep"
        name = name.upper() if i % 2 else name
        value = "v%d \xe9\tend" % i
        lines.append(("%s: %s" % (name, value)).encode("latin-1"))
        want.append([name.lower(), value])
    lines += [b"Content-Type: text/plain", b"Content-Length: 5",
              b"Connection: close"]
    want += [["content-type", "text/plain"], ["content-length", "5"],
             ["connection", "close"]]
    return b"\r\n".join(lines) + b"\r\n\r\nhello", want


def answer(data):
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status:
        raise AssertionError("not 200: %r" % data[:300])
    return body


def send(port, pieces, tls=False, pause=0.0, count=1, raw=False):
    """Send pieces on one connection (pausing between them, so that they
    arrive in separate reads), read to EOF; the answers' JSON bodies,
    count of them (pipelined, each with a Content-Length), or with raw
    the bytes read."""
    s = socket.create_connection(("127.0.0.1", port), 20)
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    with s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, p in enumerate(pieces):
            if i and pause:
                time.sleep(pause)   # pacing, not synchronisation
            s.sendall(p)
        data = b""
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            data += c
    if raw:
        return data
    out = []
    for _ in range(count):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("answer cut short: %r" % data[:300])
        n = [int(x.split(b":")[1]) for x in head.split(b"\r\n")
             if x.lower().startswith(b"content-length:")]
        out.append(json.loads(answer(head + sep + rest[:n[0]])))
        data = rest[n[0]:]
    return out


def split_at(data, cuts):
    pieces, last = [], 0
    for c in cuts:
        pieces.append(data[last:c])
        last = c
    return pieces + [data[last:]]


class Server:
    """A server process on port; is_bridge: its stop must be clean (exit
    0 on TERM, h.stop_bridge)."""

    def __init__(self, tc, args, port, log, is_bridge=False):
        self.port = port
        self.log_path = log
        self.is_bridge = is_bridge
        out = open(log, "ab")
        tc.addCleanup(out.close)
        self.proc = subprocess.Popen(args, cwd=APPS, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT)
        tc.addCleanup(self.stop)
        h.wait_port("127.0.0.1", port, proc=self.proc)

    def log(self):
        return h.read_text(self.log_path)

    def stop(self):
        if self.is_bridge:
            h.stop_bridge(self.proc, self.log_path)
        else:
            h.stop_process(self.proc)


class AsgiHeadersTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: bridge runs as root with --user "
                          "nobody")
        self.tmp = h.TempDir(self)

    def bridge(self, *extra, front="--http", tls=False):
        port = h.free_port()
        env_args = []
        if tls:
            key, crt = self.tmp.join("k.pem"), self.tmp.join("c.pem")
            subprocess.run(["openssl", "req", "-x509", "-nodes", "-days",
                            "2", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-keyout", key,
                            "-out", crt, "-subj", "/CN=t"], check=True,
                           capture_output=True, timeout=60)
            os.chmod(key, 0o644)
            env_args = ["--cert", crt, "--key", key]
            front = "--https"
        log = self.tmp.join("bridge-%d.log" % port)
        srv = Server(self, [h.BRIDGE, front, "127.0.0.1:%d" % port,
                            "--asgi", APP, "--chdir", APPS, "-w", "1",
                            "--error-log", log] + env_args + list(extra)
                     + h.user_args(), port, log, is_bridge=True)
        if not h.wait_for(lambda: "serving on" in srv.log(), 10):
            raise AssertionError("bridge never logged 'serving on':\n"
                                 + srv.log())
        return srv

    def uvicorn(self):
        try:
            import uvicorn  # noqa: F401
        except ImportError:
            if h.REQUIRE_PEERS:
                self.fail("python3-uvicorn not installed (tests/deps.sh)")
            self.skipTest("python3-uvicorn not installed")
        port = h.free_port()
        return Server(self, [PYTHON, "-m", "uvicorn", "--app-dir", APPS,
                             "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--log-level", "warning",
                             APP], port, self.tmp.join("uvicorn.log"))

    def same_as_uvicorn(self, pieces, want, count=1, pause=0.0):
        uv, br = self.uvicorn(), self.bridge()
        got_uv = send(uv.port, pieces, pause=pause, count=count)
        got_br = send(br.port, pieces, pause=pause, count=count)
        for i in range(count):
            self.assertEqual(got_uv[i]["bad"], [])
            self.assertEqual(got_uv[i]["headers"], want[i],
                             "uvicorn, the reference, differs")
            self.assertEqual(got_br[i]["bad"], [])
            self.assertEqual(got_br[i]["headers"], got_uv[i]["headers"],
                             "bridge differs from uvicorn")
        return got_br

    def test_repeated_fields_as_separate_pairs_like_uvicorn(self):
        self.same_as_uvicorn([MIXED], [MIXED_FIELDS])

    def test_fields_split_at_awkward_bytes_like_uvicorn(self):
        # Inside a name, right after a colon, between CR and LF, inside
        # the empty line that ends the head.
        cuts = [MIXED.index(b"Dup") + 1, MIXED.index(b"Cookie: a") + 7,
                MIXED.index(b"dash\r") + 5, len(MIXED) - 3,
                len(MIXED) - 1]
        self.same_as_uvicorn(split_at(MIXED, cuts), [MIXED_FIELDS],
                             pause=0.05)

    def test_many_fields_pipelined_like_uvicorn(self):
        head, want = many_head()
        two = head.replace(b"Connection: close\r\n", b"") + MIXED
        self.same_as_uvicorn([two], [want[:-1], MIXED_FIELDS], count=2)
        # And byte by byte up to the body, to bridge alone (uvicorn's
        # answer to the same bytes is the one above).
        br = self.bridge()
        end = head.index(b"\r\n\r\n") + 4
        got = send(br.port, [head[i:i + 1] for i in range(end)] +
                   [head[end:]])
        self.assertEqual(got[0]["headers"], want)

    def test_https_fields_as_received(self):
        br = self.bridge(tls=True)
        got = send(br.port, [MIXED], tls=True)[0]
        self.assertEqual(got["headers"], MIXED_FIELDS)
        self.assertEqual(got["scheme"], "https")

    def test_trailing_whitespace_trimmed(self):
        # RFC 9112 section 5: the OWS around a value is not part of it
        # (uvicorn's httptools keeps the trailing one).
        br = self.bridge()
        got = send(br.port, [b"GET / HTTP/1.1\r\nHost: t\r\nX-Sp: \t v w "
                             b"\t\r\nX-Sp:  \r\nConnection: close\r\n\r\n"])
        self.assertEqual(got[0]["headers"], [
            ["host", "t"], ["x-sp", "v w"], ["x-sp", ""],
            ["connection", "close"]])

    def test_absolute_form_host_is_the_targets_authority(self):
        # RFC 9112 section 3.2.2: the Host field is ignored for the
        # target's authority; HTTP/1.0 without Host gets one in front.
        br = self.bridge()
        got = send(br.port, [b"GET http://abs.example:8080/p HTTP/1.1\r\n"
                             b"X-A: 1\r\nHost: t\r\nConnection: close\r\n"
                             b"\r\n"])
        self.assertEqual(got[0]["headers"], [
            ["x-a", "1"], ["host", "abs.example:8080"],
            ["connection", "close"]])
        got = send(br.port, [b"GET http://abs.example/p HTTP/1.0\r\n"
                             b"X-A: 1\r\n\r\n"])
        self.assertEqual(got[0]["headers"], [["host", "abs.example"],
                                             ["x-a", "1"]])

    FORWARDED = (b"GET /f HTTP/1.1\r\nHost: internal:8000\r\n"
                 b"X_Forwarded_Proto: http\r\n"
                 b"X-Forwarded-For: 203.0.113.7\r\n"
                 b"X-Forwarded-Proto: https\r\n"
                 b"X-Forwarded-Host: public.example\r\n"
                 b"X-Real-IP: 203.0.113.7\r\nX-Dup: a\r\nX-Dup: b\r\n"
                 b"Connection: close\r\n\r\n")

    def test_trusted_proxy_fields_stay_host_is_forwarded(self):
        # 127.0.0.1 is in the default --forwarded-allow-ips.
        br = self.bridge()
        got = send(br.port, [self.FORWARDED])[0]
        self.assertEqual(got["headers"], [
            ["host", "public.example"],
            ["x-forwarded-for", "203.0.113.7"],
            ["x-forwarded-proto", "https"],
            ["x-forwarded-host", "public.example"],
            ["x-real-ip", "203.0.113.7"], ["x-dup", "a"], ["x-dup", "b"],
            ["connection", "close"]])
        self.assertEqual(got["scheme"], "https")
        self.assertEqual(got["client"][0], "203.0.113.7")
        # scope["server"] is the listener's address, with the port the
        # proxy's scheme implies (SERVER_ADDR, SERVER_PORT), as before.
        self.assertEqual(got["server"], ["127.0.0.1", 443])

    def test_untrusted_proxy_fields_dropped(self):
        br = self.bridge("--forwarded-allow-ips", "")
        s = send(br.port, [self.FORWARDED])[0]
        self.assertEqual(s["headers"], [
            ["host", "internal:8000"], ["x-dup", "a"], ["x-dup", "b"],
            ["connection", "close"]])
        self.assertEqual(s["scheme"], "http")
        self.assertEqual(s["client"][0], "127.0.0.1")
        self.assertEqual(s["server"], ["127.0.0.1", br.port])

    def test_nginx_fastcgi_gives_joined_fields(self):
        br = self.bridge(front="--fastcgi")
        ngx = h.Nginx(self, ("127.0.0.1", br.port), "/nonexistent.sock")
        got = send(ngx.port, [MIXED])[0]["headers"]
        # nginx's fastcgi_params: the client's fields as HTTP_*, the one
        # with '_' dropped (underscores_in_headers off), repetitions one
        # value (CONTENT_TYPE and CONTENT_LENGTH come too, empty for a
        # GET, and nginx keeps a leading tab: not looked at here).
        self.assertEqual([p for p in got if p[0] in (
            "x-dup", "cookie", "x-mixed-case", "x_y", "x-y", "host")], [
            ["host", "t"], ["x-dup", "a, b"], ["cookie", "a=1; b=2"],
            ["x-mixed-case", "M v"], ["x-y", "dash"]], got)



ASYNC_SO = os.path.join(h.BUILDDIR, "tests", "apps", ".libs",
                        "async_probe.so")


class NativeFieldsTest(unittest.TestCase):
    """The gateway's fields() to a native module (tests/apps/async_probe.c
    /fields?MS): read 200 ms after handle() returned, with pipelined
    requests read in between, they are still the first request's (they
    were copied out of the buffer the head was parsed in).  Over FastCGI
    there are none."""

    def test_fields_outlive_the_parse_buffer(self):
        import http_harness as hh
        b = hh.HttpBridge(self, module=ASYNC_SO)
        a = socket.create_connection(("127.0.0.1", b.port), 20)
        self.addCleanup(a.close)
        a.sendall(b"GET /fields?300 HTTP/1.1\r\nHost: t\r\nX-Dup: a\r\n"
                  b"x_y: u\r\nX-Dup:  b \r\nConnection: close\r\n\r\n")
        time.sleep(0.05)    # pacing: the first head parsed, pending
        # Other heads parsed in the same worker meanwhile, on the same
        # connection (pipelined behind it) and on another one.
        fill = b"GET /now HTTP/1.1\r\nHost: other\r\n%s\r\n" % b"".join(
            b"X-Fill-%d: %s\r\n" % (i, b"z" * 200) for i in range(40))
        other = send(b.port, [fill * 3 + fill.replace(
            b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")], raw=True)
        self.assertEqual(other.count(b"now\n"), 4, other[:300])
        got = b""
        while True:
            c = a.recv(65536)
            if not c:
                break
            got += c
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
        self.assertEqual(got.split(b"\r\n\r\n", 1)[1],
                         b"Host: t\nX-Dup: a\nx_y: u\nX-Dup: b\n"
                         b"Connection: close\n")

    def test_fastcgi_has_none(self):
        b = h.Bridge(self, module=ASYNC_SO)
        with b.connect() as c:
            r = c.request(path="/fields?1")
        self.assertIn(b"none\n", r.stdout)


if __name__ == "__main__":
    h.main()
