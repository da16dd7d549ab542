#!/usr/bin/python3
"""
The CGI adapter's header-block parser (adapters/cgi/cgi_head.c) called
directly in the built module through ctypes: every case is parsed at
every prefix length, with the input's last byte against a PROT_NONE
guard page, so a read past the caller's length crashes the test.

    cgi_head_parse(buf, len, &head) -> bytes used, -2 need more, -1 bad

Environment: BUILDDIR (module under adapters/cgi/.libs/cgi.so) or
CGI_ADAPTER naming another build of it.
"""
import ctypes
import mmap
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402

CGI_SO = os.environ.get("CGI_ADAPTER") or os.path.join(
    h.BUILDDIR, "adapters", "cgi", ".libs", "cgi.so")
FIELDS_MAX = 100        # CGI_HEAD_FIELDS_MAX
AGAIN, BAD = -2, -1


class Field(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("name_len", ctypes.c_size_t),
                ("value", ctypes.c_void_p), ("value_len", ctypes.c_size_t)]


class Head(ctypes.Structure):
    """struct cgi_head (adapters/cgi/cgi.h)."""
    _fields_ = [("nph", ctypes.c_int), ("status", ctypes.c_int),
                ("reason", ctypes.c_void_p),
                ("reason_len", ctypes.c_size_t),
                ("location", ctypes.c_void_p),
                ("location_len", ctypes.c_size_t),
                ("fields", Field * FIELDS_MAX),
                ("nfields", ctypes.c_size_t), ("dropped", ctypes.c_int),
                ("error", ctypes.c_char_p)]


def cases():
    """(name, input, nph, expected): expected is BAD, or a dict of what
    the parse gives (used = bytes of the block)."""
    many = b"".join(b"X-%d: v\n" % i for i in range(FIELDS_MAX + 1))
    return [
        ("lf", b"Content-Type: text/plain\n\nbody", 0,
         {"used": 26, "fields": [(b"Content-Type", b"text/plain")]}),
        ("crlf", b"Content-Type: text/plain\r\n\r\n", 0,
         {"used": 28, "fields": [(b"Content-Type", b"text/plain")]}),
        ("status phrase", b"Status: 404 Not Found\r\n\r\n", 0,
         {"status": 404, "reason": b"Not Found", "fields": []}),
        ("status bare", b"Status: 201\n\n", 0,
         {"status": 201, "reason": None}),
        ("status 1xx", b"Status: 199\n\n", 0, BAD),
        ("status 4 digits", b"Status: 2000\n\n", 0, BAD),
        ("status letters", b"Status: 20x\n\n", 0, BAD),
        ("status twice", b"Status: 200\nStatus: 200\n\n", 0, BAD),
        ("status lower-case name", b"status: 410 Gone\n\n", 0,
         {"status": 410}),
        ("location", b"Location: /x?y=1\n\n", 0,
         {"location": b"/x?y=1", "fields": []}),
        ("location twice", b"Location: /a\nLocation: /b\n\n", 0, BAD),
        ("empty location", b"Location:\n\n", 0, BAD),
        ("ows trimmed", b"X:   v w \t\n\n", 0,
         {"fields": [(b"X", b"v w")]}),
        ("empty value", b"X:\n\n", 0, {"fields": [(b"X", b"")]}),
        ("obs-text", b"X: caf\xe9\n\n", 0,
         {"fields": [(b"X", b"caf\xe9")]}),
        ("obs-fold", b"X: a\n  b\n\n", 0, BAD),
        ("no colon", b"Content-Type text/plain\n\n", 0, BAD),
        ("empty name", b": v\n\n", 0, BAD),
        ("space in name", b"Bad Name: v\n\n", 0, BAD),
        ("control in value", b"X: a\x01b\n\n", 0, BAD),
        ("bare CR in value", b"X: a\rb\n\n", 0, BAD),
        ("NUL in value", b"X: a\x00b\n\n", 0, BAD),
        ("empty first line", b"\n", 0, BAD),
        ("transfer-encoding", b"Transfer-Encoding: chunked\n\n", 0, BAD),
        ("hop-by-hop dropped",
         b"Connection: close\nKeep-Alive: 5\nX: y\n\n", 0,
         {"dropped": 2, "fields": [(b"X", b"y")]}),
        ("too many fields", many + b"\n", 0, BAD),
        ("exactly the most", many[:many.index(b"X-%d" % FIELDS_MAX)]
         + b"\n", 0, {"nfields": FIELDS_MAX}),
        ("nph", b"HTTP/1.1 201 Created\r\nX: y\r\nStatus: 500\r\n\r\n", 1,
         {"status": 201, "reason": b"Created",
          "fields": [(b"X", b"y"), (b"Status", b"500")]}),
        ("nph no phrase", b"HTTP/1.0 204\r\n\r\n", 1, {"status": 204}),
        ("nph without status line", b"Status: 200\n\n", 1, BAD),
        ("nph bad version", b"HTTP/x.1 200 OK\n\n", 1, BAD),
        ("nph 4 digits", b"HTTP/1.1 2000\n\n", 1, BAD),
        ("nph location is a field", b"HTTP/1.1 302 Found\nLocation: /x\n\n",
         1, {"location": None, "fields": [(b"Location", b"/x")]}),
    ]


# An ASan-built cgi.so needs the ASan runtime in this Python: under the
# sanitizers this file runs again with it preloaded.
h.preload_sanitizer_runtime()


class HeadParseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(CGI_SO):
            raise AssertionError("CGI adapter %s not built" % CGI_SO)
        cls.lib = ctypes.CDLL(CGI_SO)
        cls.parse = cls.lib.cgi_head_parse
        cls.parse.restype = ctypes.c_ssize_t
        cls.parse.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                              ctypes.POINTER(Head)]
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                              ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long]
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                  ctypes.c_int]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        cls.libc = libc
        # Room for the largest case, then one guard page.
        cls.size = 4 * mmap.PAGESIZE
        cls.base = libc.mmap(None, cls.size + mmap.PAGESIZE,
                             mmap.PROT_READ | mmap.PROT_WRITE,
                             mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if cls.base in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        if libc.mprotect(cls.base + cls.size, mmap.PAGESIZE,
                         0) != 0:    # PROT_NONE
            raise OSError(ctypes.get_errno(), "mprotect")

    @classmethod
    def tearDownClass(cls):
        cls.libc.munmap(cls.base, cls.size + mmap.PAGESIZE)

    def run_parse(self, data, nph):
        """Parse data placed so that its last byte touches the guard."""
        self.assertLessEqual(len(data), self.size)
        at = self.base + self.size - len(data)
        ctypes.memmove(at, data, len(data))
        head = Head()
        head.nph = nph
        n = self.parse(at, len(data), ctypes.byref(head))
        return n, head, at

    def slice(self, at, ptr, n):
        return None if not ptr else ctypes.string_at(ptr, n)

    def test_cases(self):
        for name, data, nph, want in cases():
            with self.subTest(case=name):
                # Every proper prefix that ends before the block does
                # must ask for more (or already be bad).
                n, head, at = self.run_parse(data, nph)
                if want == BAD:
                    self.assertEqual(n, BAD, "parsed %r" % data)
                    self.assertTrue(head.error)
                    for k in range(len(data)):
                        self.assertIn(self.run_parse(data[:k], nph)[0],
                                      (AGAIN, BAD))
                    continue
                self.assertGreater(n, 0, head.error)
                self.assertEqual(data[n - 1:n], b"\n")
                for k in range(n):
                    self.assertEqual(self.run_parse(data[:k], nph)[0],
                                     AGAIN, "prefix %d of %r" % (k, data))
                n, head, at = self.run_parse(data, nph)
                if "used" in want:
                    self.assertEqual(n, want["used"])
                if "status" in want:
                    self.assertEqual(head.status, want["status"])
                if "reason" in want:
                    self.assertEqual(self.slice(at, head.reason,
                                                head.reason_len),
                                     want["reason"])
                if "location" in want:
                    self.assertEqual(self.slice(at, head.location,
                                                head.location_len),
                                     want["location"])
                if "dropped" in want:
                    self.assertEqual(head.dropped, want["dropped"])
                if "nfields" in want:
                    self.assertEqual(head.nfields, want["nfields"])
                if "fields" in want:
                    got = [(ctypes.string_at(f.name, f.name_len),
                            ctypes.string_at(f.value, f.value_len)
                            if f.value_len else b"")
                           for f in head.fields[:head.nfields]]
                    self.assertEqual(got, want["fields"])

    def test_no_newline_at_all_needs_more(self):
        self.assertEqual(self.run_parse(b"X: " + b"v" * 9000, 0)[0], AGAIN)
        self.assertEqual(self.run_parse(b"", 0)[0], AGAIN)


if __name__ == "__main__":
    h.main()
