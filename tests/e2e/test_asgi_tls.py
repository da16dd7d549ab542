#!/usr/bin/python3
"""The ASGI tls extension (asgiref specs/tls.rst) over bridge's own
--https: cipher_suite is the number of the suite the client negotiated
(IANA's TLS Cipher Suites registry), not None, and tls_version the
protocol's; checked against what real clients saw -- Python's ssl
(TLS 1.3, and TLS 1.2 with one suite forced) and openssl s_client with
one TLS 1.3 suite forced -- and against the numbers the RFCs give.  Also
the SSL_CIPHER_SUITE request variable this comes from.  bridge runs as
root with --user nobody, as users run it."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port, wait_for                  # noqa: E402

# Under ASan, clang <= 16's __tls_get_addr interceptor can take a dynamic
# TLS block of an ASGI worker over HTTPS for glibc 2.19's layout, and
# LeakSanitizer's tracer then dies at the worker's exit ("Tracer caught
# signal 11", with main's bridge too); test_wsgi_threads.py meets the
# same and sets use_tls=0.  Not intercepting it keeps the leak check.
if harness.SANITIZED:
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + \
        ":intercept_tls_get_addr=0"

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
SRCDIR = os.environ.get("SRCDIR", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
APPS = os.path.abspath(os.path.join(SRCDIR, "tests/apps"))
ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")
PROBE = os.path.join(BUILDDIR, "tests/apps/.libs/probe.so")

# RFC 8446 appendix B.4 and RFC 5289 section 3.2.
TLS_CHACHA20_POLY1305_SHA256 = 0x1303
TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
REQUEST = b"GET /env HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def body_of(data):
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise AssertionError("not a 200: %r" % data[:200])
    return body


def suite_number(name):
    """What the client's own OpenSSL numbers the suite it negotiated: the
    low 16 bits of get_ciphers()'s id are the protocol's number."""
    for c in ssl.create_default_context().get_ciphers():
        if c["name"] == name:
            return c["id"] & 0xFFFF
    raise AssertionError("suite %s unknown to the client" % name)


class HttpsBridge(unittest.TestCase):
    """bridge over --https with app's arguments, one per test."""
    app = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.key = os.path.join(cls.tmp, "k.pem")
        cls.crt = os.path.join(cls.tmp, "c.pem")
        # RSA: the TLS 1.2 suite forced below is an ECDHE_RSA one.
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-newkey", "rsa:2048", "-keyout", cls.key, "-out",
                        cls.crt, "-subj", "/CN=t"], check=True,
                       capture_output=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.port = free_port()
        self.log = os.path.join(self.tmp, "error-%d.log" % self.port)
        argv = [BRIDGE, "--https", "127.0.0.1:%d" % self.port,
                "--cert", self.crt, "--key", self.key, "--chdir", APPS,
                "--error-log", self.log] + list(self.app)
        self.proc = subprocess.Popen(argv + harness.user_args(),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_bridge, self.proc, self.log)
        harness.wait_port("127.0.0.1", self.port, proc=self.proc)
        # The worker has started the application.
        self.assertTrue(wait_for(lambda: self.proc.poll() is not None or
                                 " loaded" in harness.read_text(self.log),
                                 30), harness.read_text(self.log))

    def s_client(self, *args):
        """One openssl s_client session sending REQUEST (-ign_eof: it
        reads until bridge closes); the response's body."""
        out = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port,
             "-quiet", "-ign_eof"] + list(args),
            input=REQUEST, capture_output=True, timeout=30)
        return body_of(out.stdout)


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class AsgiTlsCipherSuiteTest(HttpsBridge):
    app = ("--asgi", "asgi_tls:app")

    def python_client(self, ctx):
        """One request: (the app's tls dict, the suite's name, the
        protocol the client negotiated)."""
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), 20) as raw:
            with ctx.wrap_socket(raw) as s:
                name, proto, _ = s.cipher()
                s.sendall(REQUEST)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        return json.loads(body_of(data)), name, proto

    def test_tls13_suite_is_the_one_python_negotiated(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        tls, name, proto = self.python_client(ctx)
        self.assertEqual(proto, "TLSv1.3")
        self.assertEqual(tls["tls_version"], ["int", 0x0304])
        self.assertEqual(tls["cipher_suite"], ["int", suite_number(name)])

    def test_tls12_forced_suite(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
        tls, name, proto = self.python_client(ctx)
        self.assertEqual((proto, name),
                         ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))
        self.assertEqual(tls["tls_version"], ["int", 0x0303])
        self.assertEqual(tls["cipher_suite"],
                         ["int", TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256])

    def test_openssl_s_client_forced_tls13_suite(self):
        tls = json.loads(self.s_client(
            "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"))
        self.assertEqual(tls["tls_version"], ["int", 0x0304])
        self.assertEqual(tls["cipher_suite"],
                         ["int", TLS_CHACHA20_POLY1305_SHA256])


@unittest.skipUnless(os.path.exists(PROBE), "probe module not built")
class CipherSuiteVariableTest(HttpsBridge):
    """The request variable, as a native module sees it (the probe's
    /env lists them)."""
    app = ("--module", PROBE)

    def test_variable_names_the_forced_suites(self):
        env = self.s_client("-tls1_3", "-ciphersuites",
                            "TLS_CHACHA20_POLY1305_SHA256")
        self.assertIn(b"\nSSL_CIPHER_SUITE=0x1303\n", env)
        env = self.s_client("-tls1_2", "-cipher",
                            "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertIn(b"\nSSL_CIPHER_SUITE=0xc02f\n", env)
        self.assertIn(b"\nSSL_CIPHER=ECDHE-RSA-AES128-GCM-SHA256\n", env)


if __name__ == "__main__":
    unittest.main()
