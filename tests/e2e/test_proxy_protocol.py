#!/usr/bin/python3
"""
PROXY protocol (--proxy-protocol) on HTTP and HTTPS listeners, behind the
real peers that send it, run from the shipped conf/ files with only their
ports replaced:

- HAProxy (conf/haproxy-proxy-protocol.cfg): send-proxy-v2 for HTTP,
  send-proxy (v1), send-proxy-v2 with a CRC32C in front of HTTPS, and its
  health checks (v2 LOCAL: the check is answered as from HAProxy itself);
- nginx's stream module (conf/nginx-stream-proxy-protocol.conf):
  proxy_protocol on, for HTTP and HTTPS.

The client connects from 127.0.0.2; the proxies from 127.0.0.1.  The
application (REMOTE_ADDR, REMOTE_PORT) and the access log must see the
client's address and port.  Without a proxy, a raw client checks what
the proxies do not send: a header split at awkward places, v2 LOCAL, a
connection without a header or from an address not allowed (closed, and
logged with the peer's address), a header that never completes
(--header-timeout), and that FastCGI listeners are left alone.

bridge runs as users run it: as root with --user nobody.
"""
import glob
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

# The production path: workers switch to --user nobody, no shortcut.
os.environ.pop("BRIDGE_ALLOW_ROOT", None)

CLIENT = "127.0.0.2"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
REQUEST = b"GET /env HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def make_cert(d):
    key, crt = os.path.join(d, "pp.key"), os.path.join(d, "pp.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-keyout", key, "-out", crt, "-subj", "/CN=pp"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def connect(port, source=CLIENT):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(h.TIMEOUT)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s):
    """Bytes until the server closes; a reset ends it too."""
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except ConnectionResetError:
        pass
    return out


def env_of(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise AssertionError("not a 200: %r" % resp[:300])
    return h.parse_env(body)


def request(port, pieces=None, tls=False, source=CLIENT):
    """One /env request from source; returns (env, client port).
    pieces: bytes to send first (a PROXY header), as a list sent one
    after the other (each its own segment)."""
    s = connect(port, source)
    try:
        cport = s.getsockname()[1]
        for p in pieces or []:
            s.sendall(p)
            time.sleep(0.05)    # its own segment: not synchronisation
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s, server_hostname="pp")
        s.sendall(REQUEST)
        return env_of(read_all(s)), cport
    finally:
        s.close()


def v2_inet(src, dst, sport, dport, tlvs=b"", cmd=0x21):
    body = (socket.inet_aton(src) + socket.inet_aton(dst)
            + struct.pack(">HH", sport, dport) + tlvs)
    return V2_SIG + bytes([cmd, 0x11]) + struct.pack(">H", len(body)) + body


def tlv(t, v):
    return bytes([t]) + struct.pack(">H", len(v)) + v


class Setup:
    """bridge with --proxy-protocol on an HTTP and an HTTPS listener
    (and the harness's FastCGI one), access log on."""

    def __init__(self, tc, extra=()):
        self.tmp = h.TempDir(tc)
        self.http = h.free_port()
        self.https = h.free_port()
        crt, key = make_cert(self.tmp.path)
        self.access = self.tmp.join("access.log")
        self.b = h.Bridge(tc, tmp=self.tmp, log_level="debug", extra=[
            "--user", "nobody",
            "--http", "127.0.0.1:%d" % self.http,
            "--https", "127.0.0.1:%d" % self.https,
            "--cert", crt, "--key", key,
            "--proxy-protocol", "--access-log", self.access] + list(extra))

    def access_log(self):
        return h.read_text(self.access)


class HaproxyTest(unittest.TestCase):
    def setUp(self):
        (hp,) = h.require(self, "haproxy")
        self.s = Setup(self)
        t = h.TempDir(self, "bridge-haproxy-")
        self.port, self.port_v1, self.port_tls = (h.free_port(),
                                                  h.free_port(),
                                                  h.free_port())
        h.render_conf("haproxy-proxy-protocol.cfg", {
            "127.0.0.1:8000": "127.0.0.1:%d" % self.s.http,
            "127.0.0.1:8444": "127.0.0.1:%d" % self.s.https,
            "bind 127.0.0.1:8080": "bind 127.0.0.1:%d" % self.port,
            "bind 127.0.0.1:8081": "bind 127.0.0.1:%d" % self.port_v1,
            "bind 127.0.0.1:8443": "bind 127.0.0.1:%d" % self.port_tls,
        }, t.join("haproxy.cfg"))
        self.err = t.join("stderr")
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [hp, "-db", "-f", t.join("haproxy.cfg")],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        self.addCleanup(h.stop_process, self.proc, 10)
        for p in (self.port, self.port_v1, self.port_tls):
            h.wait_port("127.0.0.1", p, proc=self.proc)

    def check_client(self, env, cport):
        self.assertEqual(env["REMOTE_ADDR"], CLIENT)
        self.assertEqual(env["REMOTE_PORT"], str(cport))
        # The access log's first field is the client too.
        self.assertTrue(h.wait_for(lambda: re.search(
            r"(?m)^127\.0\.0\.2 .*\"GET /env HTTP/1.1\" 200",
            self.s.access_log())), self.s.access_log())

    def test_send_proxy_v2_gives_the_client_address(self):
        env, cport = request(self.port)
        self.check_client(env, cport)
        self.assertEqual(env["SERVER_PORT"], str(self.port))

    def test_send_proxy_v1_gives_the_client_address(self):
        env, cport = request(self.port_v1)
        self.check_client(env, cport)
        self.assertEqual(env["SERVER_PORT"], str(self.port_v1))

    def test_https_passthrough_with_crc32c(self):
        env, cport = request(self.port_tls, tls=True)
        self.check_client(env, cport)
        self.assertEqual(env.get("HTTPS"), "on")
        self.assertEqual(env["REQUEST_SCHEME"], "https")

    def test_health_check_local_is_answered_as_haproxy(self):
        # HAProxy's check: a v2 header with the LOCAL command, then its
        # HTTP request; no client to speak of, so the peer stands.
        m = h.wait_for(lambda: re.search(
            r"(?m)^(\S+) .*\"GET /haproxy-check HTTP/1.0\" 200",
            self.s.access_log()), 15)
        self.assertTrue(m, self.s.access_log() + h.read_text(self.err))
        self.assertEqual(m.group(1), "127.0.0.1")
        self.assertRegex(self.s.b.log(), r"PROXY v2 from 127\.0\.0\.1:\d+ "
                         r"on 127\.0\.0\.1:%d: client not given"
                         % self.s.http)

    def test_many_clients(self):
        for i in range(20):
            env, cport = request(self.port if i % 2 else self.port_v1)
            self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                             (CLIENT, str(cport)))


class NginxStreamTest(unittest.TestCase):
    def setUp(self):
        (ngx,) = h.require(self, "nginx")
        mods = glob.glob("/usr/lib/nginx/modules/ngx_stream_module.so")
        if not mods:
            if os.environ.get("BRIDGE_REQUIRE_PEERS") == "1":
                self.fail("nginx's stream module not installed "
                          "(libnginx-mod-stream; tests/deps.sh)")
            self.skipTest("libnginx-mod-stream not installed")
        self.s = Setup(self)
        t = h.TempDir(self, "bridge-nginx-")
        self.port, self.port_tls = h.free_port(), h.free_port()
        h.render_conf("nginx-stream-proxy-protocol.conf", {
            "127.0.0.1:8000": "127.0.0.1:%d" % self.s.http,
            "127.0.0.1:8444": "127.0.0.1:%d" % self.s.https,
            "listen 127.0.0.1:8080;": "listen 127.0.0.1:%d;" % self.port,
            "listen 127.0.0.1:8443;": "listen 127.0.0.1:%d;"
                                      % self.port_tls,
        }, t.join("stream.conf"))
        with open(t.join("nginx.conf"), "w") as f:
            f.write("load_module %s;\nworker_processes 1;\n"
                    "error_log %s info;\npid %s;\n"
                    "events { worker_connections 64; }\n"
                    "include %s;\n" % (mods[0], t.join("error.log"),
                                       t.join("nginx.pid"),
                                       t.join("stream.conf")))
        self.err = t.join("stderr")
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [ngx, "-c", t.join("nginx.conf"), "-p", t.path + "/",
                 "-g", "daemon off;"], stdin=subprocess.DEVNULL,
                stdout=err, stderr=err)
        self.addCleanup(h.stop_process, self.proc)
        for p in (self.port, self.port_tls):
            h.wait_port("127.0.0.1", p, proc=self.proc)

    def test_proxy_protocol_on_gives_the_client_address(self):
        env, cport = request(self.port)
        self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                         (CLIENT, str(cport)))
        self.assertTrue(h.wait_for(lambda: re.search(
            r"(?m)^127\.0\.0\.2 .*\"GET /env HTTP/1.1\" 200",
            self.s.access_log())), self.s.access_log())
        self.assertRegex(self.s.b.log(), r"PROXY v1 from 127\.0\.0\.1:\d+ "
                         r"on 127\.0\.0\.1:%d: client 127\.0\.0\.2:%d"
                         % (self.s.http, cport))

    def test_https_passthrough(self):
        env, cport = request(self.port_tls, tls=True)
        self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                         (CLIENT, str(cport)))
        self.assertEqual(env.get("HTTPS"), "on")


class RawClientTest(unittest.TestCase):
    """What the proxies do not send: bridge driven byte by byte."""

    def setUp(self):
        h.require(self, "openssl")
        self.s = Setup(self, extra=["--proxy-allow-from",
                                    "127.0.0.0/8,::1"])

    def assert_closed_unanswered(self, s):
        self.assertEqual(read_all(s), b"")

    def test_v1_split_at_awkward_places(self):
        hdr = b"PROXY TCP4 198.51.100.1 192.0.2.9 40001 8443\r\n"
        msg = hdr + REQUEST
        # Inside "PROXY", after the space, inside an address, between CR
        # and LF, and the header's end with the request's first bytes.
        for cuts in ([3], [6, 14], [len(hdr) - 1], [len(hdr) + 2],
                     [1, 2, 3, 4, 5, 6, 7]):
            pieces, last = [], 0
            for c in cuts + [len(msg)]:
                pieces.append(msg[last:c])
                last = c
            s = connect(self.s.http)
            for p in pieces:
                s.sendall(p)
                time.sleep(0.05)
            env = env_of(read_all(s))
            s.close()
            self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                             ("198.51.100.1", "40001"), cuts)
            self.assertEqual((env["SERVER_ADDR"], env["SERVER_PORT"]),
                             ("192.0.2.9", "8443"))

    def test_v2_split_at_awkward_places(self):
        hdr = v2_inet("203.0.113.5", "192.0.2.1", 4242, 443,
                      tlv(0x02, b"example.com") + tlv(0xe3, b"vendor data")
                      + tlv(0x04, b"\0\0\0"))
        # In the signature, after the fixed part (16), inside the
        # addresses, inside a TLV's length, inside its value, and the
        # header's end with the request's first byte.
        for cut in (5, 12, 13, 16, 20, 29, 30, 34, len(hdr) - 1,
                    len(hdr), len(hdr) + 1):
            msg = hdr + REQUEST
            s = connect(self.s.http)
            s.sendall(msg[:cut])
            time.sleep(0.05)
            s.sendall(msg[cut:])
            env = env_of(read_all(s))
            s.close()
            self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                             ("203.0.113.5", "4242"), cut)

    def test_v2_byte_by_byte_then_tls(self):
        hdr = v2_inet("203.0.113.6", "192.0.2.1", 5151, 443)
        env, _ = request(self.s.https, [hdr[i:i + 1]
                                        for i in range(len(hdr))], tls=True)
        self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                         ("203.0.113.6", "5151"))
        self.assertEqual(env["HTTPS"], "on")

    def test_v2_local_keeps_the_real_peer(self):
        local = V2_SIG + b"\x20\x00\x00\x00"
        env, cport = request(self.s.http, [local])
        self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                         (CLIENT, str(cport)))
        self.assertTrue(h.wait_for(lambda: re.search(
            r"(?m)^127\.0\.0\.2 .*\"GET /env", self.s.access_log())))

    def test_v1_unknown_keeps_the_real_peer(self):
        env, cport = request(self.s.http, [b"PROXY UNKNOWN\r\n"])
        self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                         (CLIENT, str(cport)))

    def test_no_header_is_refused_and_logged(self):
        s = connect(self.s.http)
        cport = s.getsockname()[1]
        s.sendall(REQUEST)
        self.assert_closed_unanswered(s)
        s.close()
        self.s.b.wait_log(r"info .*PROXY protocol from 127\.0\.0\.2:%d on "
                          r"127\.0\.0\.1:%d: not a PROXY protocol header; "
                          r"connection closed" % (cport, self.s.http))
        # The same on HTTPS: a ClientHello is no header either.
        s = connect(self.s.https)
        cport = s.getsockname()[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with self.assertRaises((ssl.SSLError, OSError)):
            ctx.wrap_socket(s, server_hostname="pp")
        s.close()
        self.s.b.wait_log(r"PROXY protocol from 127\.0\.0\.2:%d on "
                          r"127\.0\.0\.1:%d: not a PROXY" % (cport,
                                                            self.s.https))

    def test_bad_header_is_refused(self):
        for bad in (b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
                    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
                    V2_SIG + b"\x21\x11\x00\x0e" + b"\0" * 12 + b"\x04\x00",
                    V2_SIG + b"\x31\x11\x00\x0c" + b"\0" * 12):
            s = connect(self.s.http)
            s.sendall(bad + REQUEST)
            self.assert_closed_unanswered(s)
            s.close()
        self.s.b.wait_log(r"v1: bad port; connection closed")
        self.s.b.wait_log(r"v1: LF without CR")
        self.s.b.wait_log(r"v2: TLV cut short")
        self.s.b.wait_log(r"v2: version other than 2")

    def test_fastcgi_listener_is_left_alone(self):
        with self.s.b.connect() as c:
            r = c.request(path="/env")
        self.assertIn(b"REQUEST_METHOD=GET", r.stdout)


class AllowFromTest(unittest.TestCase):
    """The default --proxy-allow-from: 127.0.0.1 and ::1 only."""

    def setUp(self):
        h.require(self, "openssl")
        self.s = Setup(self)

    def test_header_from_a_source_not_allowed_is_refused(self):
        s = connect(self.s.http, source=CLIENT)
        cport = s.getsockname()[1]
        s.sendall(b"PROXY TCP4 10.1.1.1 10.0.0.1 1 2\r\n" + REQUEST)
        self.assertEqual(read_all(s), b"")
        s.close()
        self.s.b.wait_log(r"info .*PROXY protocol from 127\.0\.0\.2:%d on "
                          r"127\.0\.0\.1:%d: not an address of "
                          r"--proxy-allow-from; connection closed"
                          % (cport, self.s.http))
        self.assertNotIn("10.1.1.1", self.s.access_log())

    def test_header_from_loopback_is_believed(self):
        env, _ = request(self.s.http, [b"PROXY TCP6 2001:db8::9 ::1 7 8\r\n"],
                         source="127.0.0.1")
        self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]),
                         ("2001:db8::9", "7"))


class HeaderTimeoutTest(unittest.TestCase):
    def setUp(self):
        h.require(self, "openssl")
        self.s = Setup(self, extra=["--header-timeout", "1",
                                    "--proxy-allow-from", "*"])

    def test_a_header_that_never_ends_is_dropped(self):
        s = connect(self.s.http)
        cport = s.getsockname()[1]
        s.sendall(b"PROXY TCP4 1.2.3.4 ")
        t0 = time.monotonic()
        self.assertEqual(read_all(s), b"")
        s.close()
        # Dropped by the timer, not by the socket timeout of the client.
        self.assertLess(time.monotonic() - t0, h.TIMEOUT - 1)
        self.s.b.wait_log(r"PROXY protocol from 127\.0\.0\.2:%d on "
                          r"127\.0\.0\.1:%d: no header within "
                          r"--header-timeout" % (cport, self.s.http))


if __name__ == "__main__":
    h.main()
