#!/usr/bin/python3
"""Write the seed corpus of the FastCGI fuzz targets (tests/fuzz/corpus/fcgi).

Each seed is what nginx sends to a FastCGI application (FastCGI spec 1.0):
BEGIN_REQUEST, the PARAMS stream padded to 8 bytes as nginx pads it, an
empty PARAMS, the STDIN stream, an empty STDIN.  Byte 0 of every seed is
fuzz_fcgi_conn's delivery byte (bits 0-6: bytes per loop round, 0 = all
at once; bit 7: small send buffer); fuzz_fcgi_records just resynchronises
past it.  FUZZ_MODE and friends drive the in-file module of
fuzz_fcgi_conn.c.

usage: make_fcgi_corpus.py [OUTDIR]   (default: corpus/fcgi next to this file)
"""
import os
import struct
import sys

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN = 1, 2, 3, 4, 5
DATA, GET_VALUES = 8, 9
RESPONDER, AUTHORIZER = 1, 2
KEEP_CONN = 1


def record(rtype, rid, content=b"", pad=None):
    """One record; padding to a multiple of 8, as nginx does."""
    if pad is None:
        pad = -len(content) % 8
    return (struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0)
            + content + b"\0" * pad)


def length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pair(name, value):
    return length(len(name)) + length(len(value)) + name + value


def stream(rtype, rid, data, size=65535):
    """A stream split into records of at most size bytes, then its end."""
    out = b""
    for i in range(0, len(data), size):
        out += record(rtype, rid, data[i:i + size])
    return out + record(rtype, rid)


def nginx_params(method="GET", uri="/index.py?a=1&b=2", body=b"",
                 extra=()):
    path, _, query = uri.partition("?")
    env = [
        (b"SCRIPT_FILENAME", b"/srv/www/app.py"),
        (b"QUERY_STRING", query.encode()),
        (b"REQUEST_METHOD", method.encode()),
        (b"CONTENT_TYPE",
         b"application/x-www-form-urlencoded" if body else b""),
        (b"CONTENT_LENGTH", str(len(body)).encode() if body else b""),
        (b"SCRIPT_NAME", path.encode()),
        (b"REQUEST_URI", uri.encode()),
        (b"DOCUMENT_URI", path.encode()),
        (b"DOCUMENT_ROOT", b"/srv/www"),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"REQUEST_SCHEME", b"http"),
        (b"GATEWAY_INTERFACE", b"CGI/1.1"),
        (b"SERVER_SOFTWARE", b"nginx/1.24.0"),
        (b"REMOTE_ADDR", b"192.0.2.10"),
        (b"REMOTE_PORT", b"51234"),
        (b"SERVER_ADDR", b"192.0.2.1"),
        (b"SERVER_PORT", b"80"),
        (b"SERVER_NAME", b"example.org"),
        (b"REDIRECT_STATUS", b"200"),
        (b"HTTP_HOST", b"example.org"),
        (b"HTTP_USER_AGENT", b"Mozilla/5.0 (X11; Linux x86_64) "
         b"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
         b"Safari/537.36 " + b"x" * 40),
        (b"HTTP_ACCEPT", b"text/html,application/xhtml+xml,"
         b"application/xml;q=0.9,*/*;q=0.8"),
        (b"HTTP_PROXY", b"http://evil.example:3128"),
    ]
    env += list(extra)
    return b"".join(pair(n, v) for n, v in env)


def request(rid=1, keep=False, role=RESPONDER, method="GET",
            uri="/index.py?a=1&b=2", body=b"", extra=(), params_split=None,
            stdin_split=8192):
    flags = KEEP_CONN if keep else 0
    out = record(BEGIN_REQUEST, rid, struct.pack(">HB5x", role, flags))
    params = nginx_params(method, uri, body, extra)
    out += stream(PARAMS, rid, params, params_split or 65535)
    out += stream(STDIN, rid, body, stdin_split)
    return out


def mode(m, **kv):
    extra = [(b"FUZZ_MODE", m.encode())]
    extra += [(k.encode(), v.encode()) for k, v in kv.items()]
    return extra


def seeds():
    body = bytes((i * 7 + 3) % 251 for i in range(3000))
    yield "get", 0, request()
    # The smallest request: no variables, no body.
    yield "empty_params", 0, (
        record(BEGIN_REQUEST, 1, struct.pack(">HB5x", RESPONDER, 0)) +
        record(PARAMS, 1) + record(STDIN, 1))
    yield "get_bytewise", 1, request()
    yield "get_small_sndbuf", 0x80 | 13, request()
    yield "post_spooled_keepalive", 0, (
        request(1, keep=True, method="POST", body=body) +
        request(1, keep=True, uri="/second") +
        request(1, keep=False, uri="/third"))
    yield "post_chunky", 7, request(method="POST", body=body[:700],
                                    params_split=100, stdin_split=64)
    # Two requests multiplexed on one connection, records interleaved.
    a = [record(BEGIN_REQUEST, 1, struct.pack(">HB5x", RESPONDER, 1)),
         record(PARAMS, 1, nginx_params(uri="/a")), record(PARAMS, 1)]
    b = [record(BEGIN_REQUEST, 2, struct.pack(">HB5x", RESPONDER, 1)),
         record(PARAMS, 2, nginx_params(method="POST", uri="/b",
                                        body=b"x=1")),
         record(PARAMS, 2)]
    mux = b"".join(x + y for x, y in zip(a, b))
    mux += record(STDIN, 2, b"x=1") + record(STDIN, 1) + record(STDIN, 2)
    yield "multiplexed", 0, mux
    yield "get_values", 0, (
        record(GET_VALUES, 0, pair(b"FCGI_MAX_CONNS", b"") +
               pair(b"FCGI_MAX_REQS", b"") +
               pair(b"FCGI_MPXS_CONNS", b"") + pair(b"OTHER", b"")) +
        record(42, 0, b"12345678") + record(42, 3) + request())
    yield "abort", 0, (
        record(BEGIN_REQUEST, 1, struct.pack(">HB5x", RESPONDER, 1)) +
        record(PARAMS, 1, nginx_params()) +
        record(ABORT_REQUEST, 1) + request(1))
    yield "authorizer_role", 0, (
        request(1, keep=True, role=AUTHORIZER) + request(2))
    yield "data_and_padding", 0, (
        record(BEGIN_REQUEST, 1, struct.pack(">HB5x", RESPONDER, 0)) +
        record(PARAMS, 1, nginx_params(), pad=255) + record(PARAMS, 1) +
        record(DATA, 1, b"filter data") +
        record(STDIN, 1, b"", pad=7))
    yield "bad_version", 0, request()[:16] + b"\x02" + request()[17:]
    for m, kv in (("e", {}), ("n", {}), ("c", {}), ("l", {}), ("x", {}),
                  ("r", {}), ("b", {"FUZZ_SIZE": "200000"}),
                  ("s", {"FUZZ_SIZE": "70000"}),
                  ("h", {"FUZZ_HNAME": "X-Test", "FUZZ_HVALUE": "ok"}),
                  ("h", {"FUZZ_HNAME": "Transfer-Encoding",
                         "FUZZ_HVALUE": "chunked"}),
                  ("h", {"FUZZ_HNAME": "X-Split",
                         "FUZZ_HVALUE": "a\r\nSet-Cookie: x=1"})):
        name = "mode_" + m + ("_" + kv.get("FUZZ_HNAME", "").lower()
                               if m == "h" else "")
        yield name, 0, (request(1, keep=True, extra=mode(m, **kv)) +
                        request(1, keep=False))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "fcgi")
    os.makedirs(outdir, exist_ok=True)
    for name, delivery, data in seeds():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(bytes([delivery]) + data)


if __name__ == "__main__":
    main()
