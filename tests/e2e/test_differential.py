#!/usr/bin/python3
"""
Differential test: the same FastCGI record streams fed to libfcgi (the
reference implementation, through tests/e2e/libfcgi_dump.c) and to
bridge (probe /env and /echo) must yield the same params, in the same
order, and the same stdin bytes.

The streams vary what the FastCGI spec leaves free: record boundaries
anywhere (even inside a name-value pair), padding, 4-byte lengths for
short names, large values, empty values, repeated names, STDIN without
CONTENT_LENGTH, and the transport's segmentation.
"""
import os
import signal
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
from harness import (fcgi_record, fcgi_stream, begin_body,      # noqa: E402
                     FCGI_BEGIN_REQUEST, FCGI_PARAMS, FCGI_STDIN)


def find_or_build_dump(tc):
    """libfcgi_dump: built by make check, or built here with cc."""
    for p in (os.environ.get("LIBFCGI_DUMP"),
              os.path.join(h.BUILDDIR, "tests", "e2e", "libfcgi_dump")):
        if p and os.access(p, os.X_OK):
            return p
    cc = h.which("cc") or h.which("gcc")
    if cc is None or not os.path.exists("/usr/include/fcgiapp.h"):
        tc.skipTest("libfcgi (libfcgi-dev) not installed")
    tmp = h.TempDir(tc)
    out = tmp.join("libfcgi_dump")
    p = subprocess.run([cc, "-O2", "-o", out,
                        os.path.join(h.HERE, "libfcgi_dump.c"), "-lfcgi"],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("building libfcgi_dump: %s" % p.stderr)
    return out


def long_pair(name, value):
    """A pair with both lengths in the 4-byte form, even when short
    (section 3.4 allows it: B0>>7 == 1 selects the long form)."""
    name, value = name.encode(), value.encode()
    return (struct.pack(">II", len(name) | 0x80000000,
                        len(value) | 0x80000000) + name + value)


def params_for(uri, body, extra=(), content_length=True):
    p = h.request_params(uri, "POST" if body is not None else "GET",
                         body, list(extra), content_length)
    return p


def stream(pdata, body, rid=1, params_chunk=0xffff, stdin_chunk=0xffff,
           padding=0):
    # Padding on PARAMS and STDIN only: libfcgi 2.4.2 does not skip the
    # padding of a BEGIN_REQUEST record and then sees an empty request
    # (bridge's handling of it is in test_fcgi_raw's padding test).
    return (fcgi_record(FCGI_BEGIN_REQUEST, rid, begin_body())
            + fcgi_stream(FCGI_PARAMS, rid, pdata, params_chunk, padding)
            + fcgi_stream(FCGI_STDIN, rid, body or b"", stdin_chunk,
                          padding))


CASES = {
    "plain": dict(extra=[("HTTP_X_A", "1")], body=None),
    "pairs_split_every_byte": dict(
        extra=[("HTTP_X_%d" % i, "v" * i) for i in range(30)],
        body=b"abc" * 50, params_chunk=1, stdin_chunk=1),
    "padding_255": dict(extra=[("HTTP_X_PAD", "p" * 300)],
                        body=os.urandom(70000), padding=255),
    "large_values": dict(extra=[("HTTP_X_BIG", "b" * 60000),
                                ("HTTP_X_BIG2", "c" * 70000)]
                         + [("HTTP_X_N%d" % i, str(i)) for i in range(300)],
                         body=os.urandom(200000), params_chunk=0xffff),
    "odd_chunks": dict(extra=[("HTTP_X_B", "b" * 200)],
                       body=os.urandom(100000), params_chunk=13,
                       stdin_chunk=4093),
    "empty_and_repeated": dict(extra=[("HTTP_X_EMPTY", ""),
                                      ("HTTP_X_REP", "first"),
                                      ("HTTP_X_REP", "second"),
                                      ("HTTP_X_EQ", "a=b=c"),
                                      ("HTTP_X_SP", " lead and trail ")],
                               body=b""),
    "long_form_lengths": dict(extra=[], long_pairs=[("HTTP_X_LONG", "v"),
                                                    ("HTTP_X_L2", "")],
                              body=b"x"),
    "stdin_without_length": dict(extra=[], body=os.urandom(150000),
                                 content_length=False, stdin_chunk=1000),
    "binary_body": dict(extra=[], body=bytes(range(256)) * 300,
                        stdin_chunk=0xffff),
}


def dedup(lines):
    """The one deliberate difference: libfcgi's envp keeps a repeated
    name twice; bridge keeps one variable per name, in the place of the
    first.  A repeated HTTP_* name is a header sent twice (nginx passes
    each line): its values are joined, ", " ("; " for HTTP_COOKIE), as
    on bridge's HTTP front end.  Any other name keeps the last value
    (nginx's "include fastcgi_params; fastcgi_param NAME ...;"
    overriding, as PHP-FPM does)."""
    order, value = [], {}
    for line in lines:
        name, _, v = line.partition("=")
        if name not in value:
            order.append(name)
        elif name.startswith("HTTP_"):
            sep = "; " if name == "HTTP_COOKIE" else ", "
            line = value[name] + sep + v
        value[name] = line
    return [value[n] for n in order]


def no_split(lines):
    """The other deliberate difference: when PATH_INFO is absent or empty
    and SCRIPT_NAME is the request's whole path (nginx's stock
    fastcgi_params), bridge mounts the application at the root:
    SCRIPT_NAME "" and the path as PATH_INFO (bridge/gateway/req_split.c)."""
    env = dict(line.split("=", 1) for line in lines)
    uri = env.get("REQUEST_URI", "").split("?", 1)[0]
    if env.get("PATH_INFO") or not uri or env.get("SCRIPT_NAME") != uri:
        return lines
    out = ["SCRIPT_NAME=" if line.startswith("SCRIPT_NAME=") else line
           for line in lines if not line.startswith("PATH_INFO=")]
    return out + ["PATH_INFO=" + uri]


class DifferentialTest(unittest.TestCase):
    def setUp(self):
        dump = find_or_build_dump(self)
        self.port = h.free_port()
        self.dump = subprocess.Popen([dump, "127.0.0.1:%d" % self.port],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.addCleanup(h.stop_process, self.dump, signal.SIGKILL)
        h.wait_port("127.0.0.1", self.port, proc=self.dump)
        self.b = h.Bridge(self, extra=["--max-params-bytes", "1m",
                                       "--max-params", "10000"])

    def build(self, case, uri):
        c = CASES[case]
        body = c.get("body")
        params = params_for(uri, body, c.get("extra", ()),
                            c.get("content_length", True))
        pdata = h.fcgi_pairs(params)
        for k, v in c.get("long_pairs", ()):
            pdata += long_pair(k, v)
        return stream(pdata, body, params_chunk=c.get("params_chunk",
                                                      0xffff),
                      stdin_chunk=c.get("stdin_chunk", 0xffff),
                      padding=c.get("padding", 0))

    def send(self, addr, data, piece):
        with h.FcgiConn(addr, timeout=20) as conn:
            if piece:
                conn.send_split(data, piece)
            else:
                conn.send(data)
            r = conn.read_response(1)
        self.assertEqual(r.end, (0, 0))
        return r

    def libfcgi(self, data, piece=0):
        r = self.send(("127.0.0.1", self.port), data, piece)
        params, sep, stdin = r.body.partition(b"\0\n")
        self.assertEqual(sep, b"\0\n")
        lines = params.decode().splitlines()
        # libfcgi puts the role it read from BEGIN_REQUEST first in envp;
        # it is not a PARAMS pair
        self.assertEqual(lines[:1], ["FCGI_ROLE=RESPONDER"])
        return no_split(dedup(lines[1:])), stdin

    def bridge(self, data, piece=0):
        r = self.send(self.b.addr, data, piece)
        self.assertEqual(r.status, 200)
        return r.body

    def test_cases(self):
        for case in CASES:
            for piece in (0, 3):
                with self.subTest(case=case, piece=piece):
                    env_stream = self.build(case, "/env")
                    ref_params, ref_stdin = self.libfcgi(env_stream, piece)
                    got = self.bridge(env_stream, piece)
                    self.assertEqual(got.decode().splitlines(), ref_params)

                    echo_stream = self.build(case, "/echo")
                    ref_params, ref_stdin = self.libfcgi(echo_stream, piece)
                    got = self.bridge(echo_stream, piece)
                    self.assertEqual(len(got), len(ref_stdin))
                    self.assertTrue(got == ref_stdin, "stdin differs")
                if piece == 0 and len(self.build(case, "/env")) > 20000:
                    break       # 3-byte writes of large streams: too slow


if __name__ == "__main__":
    h.main()
