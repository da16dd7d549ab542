#!/usr/bin/python3
"""HTTPS with real clients (openssl s_client, curl): TLS 1.2 and 1.3 only,
ALPN http/1.1, SNI across two certificate/key pairs (ECDSA and RSA),
session resumption, a key that does not match its certificate refused at
start, plain HTTP to the TLS port closed with a log line, certificates
reloaded on HUP while an open connection keeps working."""
import os
import sys
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
PROBE = os.path.join(BUILDDIR, "tests/apps/.libs/probe.so")


def make_cert(d, name, kind):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    newkey = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
              if kind == "ec" else ["-newkey", "rsa:2048"])
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2"]
                   + newkey + ["-keyout", key, "-out", crt, "-subj",
                               "/CN=" + name, "-addext",
                               "subjectAltName=DNS:" + name],
                   check=True, capture_output=True, timeout=60)
    return crt, key


CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


def s_client(port, *args, data=CLOSE_REQUEST, timeout=15):
    """One s_client session that sends data and reads until the server
    closes (-ign_eof: stdin's end does not end the session)."""
    return subprocess.run(
        ["openssl", "s_client", "-ign_eof", "-connect",
         "127.0.0.1:%d" % port] + list(args), input=data,
        capture_output=True, timeout=timeout)


# Under tests/run-all.sh (BRIDGE_REQUIRE_PEERS=1) a missing tool fails.
@unittest.skipUnless(shutil.which("openssl") or
                     os.environ.get("BRIDGE_REQUIRE_PEERS") == "1",
                     "openssl not installed")
class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.a = make_cert(cls.tmp, "a.test", "ec")
        cls.b = make_cert(cls.tmp, "b.test", "rsa")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.port = free_port()
        self.log = os.path.join(self.tmp, "error-%d.log" % self.port)
        self.cert_a = os.path.join(self.tmp, "live-a.pem")
        self.key_a = os.path.join(self.tmp, "live-a.key")
        shutil.copy(self.a[0], self.cert_a)
        shutil.copy(self.a[1], self.key_a)
        self.proc = subprocess.Popen(
            [BRIDGE, "--https", "127.0.0.1:%d" % self.port,
             "--cert", self.cert_a, "--key", self.key_a,
             "--cert", self.b[0], "--key", self.b[1],
             "--module", PROBE, "-w", "2", "--error-log", self.log]
            + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self):
        harness.stop_bridge(self.proc, self.log)

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def test_versions(self):
        for flag, ok in (("-tls1_2", True), ("-tls1_3", True),
                         ("-tls1_1", False), ("-tls1", False)):
            with self.subTest(flag=flag):
                out = s_client(self.port, flag, "-servername", "a.test")
                text = out.stdout.decode(errors="replace")
                if ok:
                    self.assertRegex(text, r"Protocol\s*: TLSv1\.[23]")
                else:
                    self.assertNotIn("BEGIN CERTIFICATE", text)

    def test_alpn_http11(self):
        out = s_client(self.port, "-alpn", "h2,http/1.1", "-servername",
                       "a.test").stdout.decode()
        self.assertIn("ALPN protocol: http/1.1", out)

    def test_sni_picks_certificate(self):
        for name, kind in (("a.test", "id-ecPublicKey"),
                           ("b.test", "rsaEncryption")):
            with self.subTest(name=name):
                out = s_client(self.port, "-servername", name,
                               "-showcerts").stdout.decode()
                self.assertIn("subject=CN = " + name, out)
        # An unknown name gets the first pair, as a default server.
        out = s_client(self.port, "-servername", "c.test").stdout.decode()
        self.assertIn("subject=CN = a.test", out)

    def test_session_resumption(self):
        sess = os.path.join(self.tmp, "sess-%d" % self.port)
        for version in ("-tls1_2", "-tls1_3"):
            with self.subTest(version=version):
                first = s_client(self.port, version, "-servername", "a.test",
                                 "-sess_out", sess)
                self.assertIn(b"probe", first.stdout)
                again = s_client(self.port, version, "-servername",
                                 "a.test", "-sess_in", sess)
                self.assertIn(b"Reused, TLSv1.", again.stdout)

    def test_curl_get_and_post(self):
        base = "https://a.test:%d" % self.port
        resolve = "a.test:%d:127.0.0.1" % self.port
        out = subprocess.run(["curl", "-sS", "--cacert", self.a[0],
                              "--resolve", resolve, base + "/env"],
                             capture_output=True, timeout=15)
        self.assertIn(b"REQUEST_SCHEME=https", out.stdout)
        self.assertIn(b"HTTPS=on", out.stdout)
        # mod_ssl's names, with the negotiated values.
        self.assertRegex(out.stdout, rb"\nSSL_PROTOCOL=TLSv1\.[23]\n")
        self.assertRegex(out.stdout, rb"\nSSL_CIPHER=[A-Z0-9_-]+\n")
        out12 = subprocess.run(["curl", "-sS", "--tls-max", "1.2",
                                "--cacert", self.a[0], "--resolve", resolve,
                                base + "/env"], capture_output=True,
                               timeout=15)
        self.assertIn(b"\nSSL_PROTOCOL=TLSv1.2\n", out12.stdout)
        body = os.urandom(300000)
        out = subprocess.run(["curl", "-sS", "--cacert", self.a[0],
                              "--resolve", resolve, "--data-binary", "@-",
                              base + "/echo"], input=body,
                             capture_output=True, timeout=15)
        self.assertEqual(out.stdout, body)

    def test_plain_http_to_tls_port(self):
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            s.settimeout(5)
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
        self.assertNotIn(b"200", data)
        deadline = time.monotonic() + 5
        while "plain HTTP request on a TLS port" not in self.log_text():
            self.assertLess(time.monotonic(), deadline, self.log_text())
            time.sleep(0.05)
        # The worker is fine.
        out = s_client(self.port, "-servername", "a.test")
        self.assertIn(b"probe", out.stdout)

    def test_hup_reloads_certificates_open_connection_survives(self):
        ctx = ssl.create_default_context(cafile=self.a[0])
        raw = socket.create_connection(("127.0.0.1", self.port), 5)
        old = ctx.wrap_socket(raw, server_hostname="a.test")
        old.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertIn(b"probe", old.recv(4096))
        # Renew a.test's pair in place, as certbot does, then HUP.
        new_crt, new_key = make_cert(os.path.join(self.tmp), "a.test", "ec")
        shutil.copy(new_crt, self.cert_a)
        shutil.copy(new_key, self.key_a)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "certificates reloaded" not in self.log_text():
            self.assertLess(time.monotonic(), deadline, self.log_text())
            time.sleep(0.05)
        # New connections get the new certificate ...
        with open(self.cert_a) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        deadline = time.monotonic() + 10
        # (Any certificate: until the new workers serve, the old one.)
        any_cert = ssl.create_default_context()
        any_cert.check_hostname = False
        any_cert.verify_mode = ssl.CERT_NONE
        while True:
            c2 = any_cert.wrap_socket(
                socket.create_connection(("127.0.0.1", self.port), 5),
                server_hostname="a.test")
            got = c2.getpeercert(binary_form=True)
            c2.close()
            if got == want:
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        # ... and the connection opened before the reload still works.
        old.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        self.assertIn(b"probe", old.recv(4096))
        old.close()

    def test_key_not_matching_certificate_refused(self):
        out = subprocess.run(
            [BRIDGE, "--https", "127.0.0.1:1", "--cert", self.a[0], "--key",
             self.b[1], "--module", PROBE] + harness.user_args(),
            capture_output=True, timeout=15)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"does not match --cert", out.stderr)


if __name__ == "__main__":
    harness.main()
