#!/usr/bin/python3
"""
bridge's HTTP/1.1 front end on the wire: raw requests, byte for byte, over
a plain socket.

Section numbers: "9112:6.3" is RFC 9112 section 6.3, "9110:x" RFC 9110,
"3986:x" RFC 3986, "6585:x" RFC 6585.

Three tables are run against one live bridge (probe.so, -w 2,
--max-body 1000000):

  ROWS                  this file: valid requests, smuggling shapes, the
                        limits of the live server (8 KiB target, 100 field
                        lines, 32 KiB header section, --max-body), pipelining
                        and persistence.
  tests/http_requests.tsv, tests/http_chunked.tsv
                        the parser's own tables (tests/check_http_parse.c),
                        replayed live: where the server disagrees with the
                        parser's documented decision, the server is wrong.

Every row states the expected status of each response and whether the
connection stays open afterwards.  "keep" is checked by sending one more
request on the same connection and getting its own answer (so a smuggled
request hidden in the row would show up as a wrong answer); "close" by
reading EOF (or a reset) with no further bytes, and the last response must
say "Connection: close" (RFC 9112 9.6).
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

MAX_BODY = 1000000
# The live server's limits (bridge/protocols/http_conn.c).
TARGET_MAX = 8192
HEADERS_MAX = 100
HEADER_BYTES_MAX = 32 * 1024

FOLLOWUP = hh.get_request("/env?followup")

KEEP = "keep"
CLOSE = "close"

def post(target, headers, body=b""):
    return (b"POST " + target + b" HTTP/1.1\r\nHost: t\r\n" + headers
            + b"\r\n" + body)


def te(value, body, target=b"/echo"):
    return post(target, b"Transfer-Encoding: " + value + b"\r\n", body)


def cl(value, body, target=b"/echo"):
    return post(target, b"Content-Length: " + value + b"\r\n", body)


def fields(n, size=1):
    return b"".join(b"X-F%d: %s\r\n" % (i, b"v" * size) for i in range(n))


# (rfc, description, request, expected statuses, keep/close, options)
# options: body= the last 2xx response's body; contains= bytes in it;
#          heads= indexes of responses to HEAD requests.
ROWS = [
    # --- valid requests ---------------------------------------------------
    ("9112:3", "minimal GET", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
     [200], KEEP, {"body": b"probe\n"}),
    ("9112:3.2", "Host with port", b"GET / HTTP/1.1\r\nHost: t:8080\r\n\r\n",
     [200], KEEP, {}),
    ("9112:3.2", "Host IPv6 literal",
     b"GET /env HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", [200], KEEP,
     {"contains": b"SERVER_NAME=[::1]\n"}),
    ("9112:3.2", "empty Host value", b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
     [200], KEEP, {}),
    ("9110:9.3.2", "HEAD has no body", b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n",
     [200], KEEP, {"heads": {0}}),
    ("9112:3", "extension method", b"M-SEARCH / HTTP/1.1\r\nHost: t\r\n\r\n",
     [200], KEEP, {}),
    ("9112:2.2", "leading empty line ignored",
     b"\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", [200], KEEP, {}),
    ("9110:2.5", "HTTP/1.2 handled as HTTP/1.1",
     b"GET / HTTP/1.2\r\nHost: t\r\n\r\n", [200], KEEP, {}),
    ("9112:3.2.2", "absolute-form: authority from the target",
     b"GET http://example.com/env?x=1 HTTP/1.1\r\nHost: other\r\n\r\n",
     [200], KEEP, {"contains": b"SERVER_NAME=example.com\n"}),
    ("9112:3.3", "absolute-form with empty path is /",
     b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
     [200], KEEP, {"body": b"probe\n"}),
    ("9112:3.2.4", "OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
     [200], KEEP, {}),
    ("9112:3.2.1", "percent-escapes and query",
     b"GET /env?a=%20b HTTP/1.1\r\nHost: t\r\n\r\n", [200], KEEP,
     {"contains": b"QUERY_STRING=a=%20b\n"}),
    ("9110:5.5", "HTAB and obs-text in a field value",
     b"GET / HTTP/1.1\r\nHost: t\r\nX: a\tcaf\xc3\xa9\r\n\r\n", [200], KEEP,
     {}),
    ("9112:3", "target just under the server's limit",
     b"GET /" + b"a" * (TARGET_MAX - 200) + b" HTTP/1.1\r\nHost: t\r\n\r\n",
     [200], KEEP, {}),
    ("6585:5", "90 field lines", b"GET / HTTP/1.1\r\nHost: t\r\n"
     + fields(90) + b"\r\n", [200], KEEP, {}),
    ("6585:5", "24 KiB header section", b"GET / HTTP/1.1\r\nHost: t\r\n"
     + fields(3, 8000) + b"\r\n", [200], KEEP, {}),
    ("9112:6.2", "Content-Length body", cl(b"5", b"hello"), [200], KEEP,
     {"body": b"hello"}),
    ("9112:6.2", "Content-Length zero", cl(b"0", b""), [200], KEEP,
     {"body": b""}),
    ("9110:8.6", "Content-Length with leading zeros",
     cl(b"007", b"abcdefg"), [200], KEEP, {"body": b"abcdefg"}),
    ("9110:5.5", "Content-Length OWS stripped", cl(b"\t5 ", b"hello"),
     [200], KEEP, {"body": b"hello"}),
    ("9110:15.5.14", "Content-Length equal to --max-body",
     cl(b"%d" % MAX_BODY, b"z" * MAX_BODY), [200], KEEP,
     {"body": b"z" * MAX_BODY}),
    ("9112:7.1", "chunked body",
     te(b"chunked", b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), [200], KEEP,
     {"body": b"hello world"}),
    ("9112:7", "coding name is case-insensitive",
     te(b"Chunked", b"5\r\nhello\r\n0\r\n\r\n"), [200], KEEP,
     {"body": b"hello"}),
    ("9110:5.5", "\"chunked \": trailing OWS is not part of the value",
     te(b"chunked ", b"5\r\nhello\r\n0\r\n\r\n"), [200], KEEP,
     {"body": b"hello"}),
    ("9112:7.1.1", "chunk extensions ignored",
     te(b"chunked", b"5;a=b;c=\"d;e\"\r\nhello\r\n0;z\r\n\r\n"), [200],
     KEEP, {"body": b"hello"}),
    ("9112:7.1.2", "trailer section skipped",
     te(b"chunked", b"2\r\nhi\r\n0\r\nX-T: 1\r\n\r\n"), [200], KEEP,
     {"body": b"hi"}),
    ("9112:7.1", "chunked body equal to --max-body",
     te(b"chunked", hh.chunk_encode(b"c" * MAX_BODY, 65536)), [200], KEEP,
     {"body": b"c" * MAX_BODY}),
    ("9112:6.3", "GET with a body: the body is not a request",
     b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\n\r\n"
     b"GET /env?smuggled HTTP/1.1\r\n\r\n", [200], KEEP, {}),
    ("9110:10.1.1", "Expect: 100-continue without a body",
     b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
     b"Content-Length: 0\r\n\r\n", [200], KEEP, {"body": b""}),
    # --- persistence ------------------------------------------------------
    ("9112:9.3", "HTTP/1.0 defaults to close", b"GET / HTTP/1.0\r\n\r\n",
     [200], CLOSE, {}),
    ("9112:9.3", "HTTP/1.0 with keep-alive persists",
     b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", [200], KEEP, {}),
    ("9112:9.6", "Connection: close honoured",
     b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", [200],
     CLOSE, {}),
    ("9110:7.6.1", "close is case-insensitive, in a list",
     b"GET / HTTP/1.1\r\nHost: t\r\nConnection: te, CLOSE\r\n\r\n", [200],
     CLOSE, {}),
    ("9110:7.6.1", "close wins over keep-alive in HTTP/1.0",
     b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", [200],
     CLOSE, {}),
    ("9110:10.1.1", "Expect ignored in HTTP/1.0",
     b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", [200], CLOSE, {}),
    ("9112:9.3", "three pipelined GETs answered in order",
     hh.get_request("/env?n=1") + hh.get_request("/env?n=2")
     + hh.get_request("/env?n=3"), [200, 200, 200], KEEP,
     {"contains": b"QUERY_STRING=n=3\n"}),
    ("9112:9.3", "pipelined POST then GET",
     cl(b"5", b"hello") + hh.get_request("/"), [200, 200], KEEP,
     {"body": b"probe\n"}),
    ("9112:9.3", "pipelined chunked POST then GET",
     te(b"chunked", b"2\r\nhi\r\n0\r\n\r\n") + hh.get_request("/"),
     [200, 200], KEEP, {"body": b"probe\n"}),
    ("9112:9.3", "pipelined HEAD then GET",
     b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + hh.get_request("/"),
     [200, 200], KEEP, {"heads": {0}, "body": b"probe\n"}),
    ("9112:9.6", "nothing after Connection: close is answered",
     b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
     + hh.get_request("/"), [200], CLOSE, {}),
    ("9112:9.3", "nothing after an HTTP/1.0 request is answered",
     b"GET / HTTP/1.0\r\n\r\n" + hh.get_request("/"), [200], CLOSE, {}),
    ("9112:9.3", "a bad request after a good one: both answered, closed",
     hh.get_request("/") + b"GET / HTTP/1.1\r\n\r\n", [200, 400], CLOSE,
     {}),
    # --- request line -----------------------------------------------------
    ("9110:15.6.6", "HTTP/2.0 is 505", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
     [505], CLOSE, {}),
    ("9110:15.6.6", "HTTP/3.0 is 505", b"GET / HTTP/3.0\r\nHost: t\r\n\r\n",
     [505], CLOSE, {}),
    ("9110:15.6.6", "HTTP/0.9 version string is 505",
     b"GET / HTTP/0.9\r\n\r\n", [505], CLOSE, {}),
    ("9112:2.3", "lower-case http/1.1", b"GET / http/1.1\r\nHost: t\r\n\r\n",
     [400], CLOSE, {}),
    ("9112:2.3", "garbage after the version",
     b"GET / HTTP/1.1x\r\nHost: t\r\n\r\n", [400], CLOSE, {}),
    ("9112:3", "HTTP/0.9 request line", b"GET /\r\n\r\n", [400], CLOSE, {}),
    ("9112:3", "two spaces after the method",
     b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", [400], CLOSE, {}),
    ("9112:3", "method with a non-token byte",
     b"GE(T / HTTP/1.1\r\nHost: t\r\n\r\n", [400], CLOSE, {}),
    ("9112:3", "method longer than 32 bytes is 501",
     b"A" * 40 + b" / HTTP/1.1\r\nHost: t\r\n\r\n", [501], CLOSE, {}),
    ("9110:9.3.6", "CONNECT is not implemented",
     b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
     [501], CLOSE, {}),
    ("9112:3.2.4", "asterisk-form with GET", b"GET * HTTP/1.1\r\nHost: t\r\n"
     b"\r\n", [400], CLOSE, {}),
    ("9110:4.2", "absolute-form with a non-http scheme",
     b"GET ftp://example.com/ HTTP/1.1\r\nHost: t\r\n\r\n", [400], CLOSE,
     {}),
    ("9110:4.2.5", "fragment in the target",
     b"GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n", [400], CLOSE, {}),
    ("3986:2.1", "bad percent-escape", b"GET /a%zz HTTP/1.1\r\nHost: t\r\n"
     b"\r\n", [400], CLOSE, {}),
    ("3986:7.3", "%00 in the path (PATH_INFO would hold a NUL)",
     b"GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n", [400], CLOSE, {}),
    ("9110:15.5.15", "target over the server's limit is 414",
     b"GET /" + b"a" * (TARGET_MAX + 100) + b" HTTP/1.1\r\nHost: t\r\n\r\n",
     [414], CLOSE, {}),
    ("9112:2.2", "five leading empty lines",
     b"\r\n" * 5 + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", [400], CLOSE, {}),
    # --- line endings, control bytes --------------------------------------
    ("9112:2.2", "bare LF ending the request line",
     b"GET / HTTP/1.1\nHost: t\r\n\r\n", [400], CLOSE, {}),
    ("9112:2.2", "bare LF everywhere", b"GET / HTTP/1.1\nHost: t\n\n", [400],
     CLOSE, {}),
    ("9112:2.2", "bare LF ending a field line",
     b"GET / HTTP/1.1\r\nHost: t\nX: 1\r\n\r\n", [400], CLOSE, {}),
    ("9112:2.2", "bare CR ending the request line",
     b"GET / HTTP/1.1\rHost: t\r\n\r\n", [400], CLOSE, {}),
    ("9112:2.2", "bare CR inside a field value",
     b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", [400], CLOSE, {}),
    ("9110:5.5", "NUL in a field value",
     b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", [400], CLOSE, {}),
    ("9110:5.5", "NUL in a field name",
     b"GET / HTTP/1.1\r\nHost: t\r\nX\0Y: 1\r\n\r\n", [400], CLOSE, {}),
    ("9110:5.5", "DEL in a field value",
     b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x7fb\r\n\r\n", [400], CLOSE, {}),
    # --- field lines ------------------------------------------------------
    ("9112:5.2", "obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n"
     b"\r\n", [400], CLOSE, {}),
    ("9112:5.2", "obs-fold with HTAB hiding Transfer-Encoding",
     post(b"/echo", b"X: a\r\n\tTransfer-Encoding: chunked\r\n"
          b"Content-Length: 5\r\n", b"hello"), [400], CLOSE, {}),
    ("9112:2.2", "whitespace before the first field line",
     b"GET / HTTP/1.1\r\n Host: t\r\n\r\n", [400], CLOSE, {}),
    ("9112:5.1", "space before the colon",
     b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", [400], CLOSE, {}),
    ("9112:5.1", "space before the colon of Transfer-Encoding",
     post(b"/echo", b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n",
          b"hello"), [400], CLOSE, {}),
    ("9112:5.1", "empty field name", b"GET / HTTP/1.1\r\nHost: t\r\n: x\r\n"
     b"\r\n", [400], CLOSE, {}),
    ("9110:5.1", "field line without a colon",
     b"GET / HTTP/1.1\r\nHost: t\r\nXY\r\n\r\n", [400], CLOSE, {}),
    ("9112:3.2", "HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n",
     [400], CLOSE, {}),
    ("9112:3.2", "two Host lines", b"GET / HTTP/1.1\r\nHost: t\r\nHost: u"
     b"\r\n\r\n", [400], CLOSE, {}),
    ("9110:4.2.4", "Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@t\r\n"
     b"\r\n", [400], CLOSE, {}),
    ("9110:7.6.1", "Connection option not a token",
     b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close x\r\n\r\n", [400],
     CLOSE, {}),
    ("9110:10.1.1", "unknown expectation is 417",
     b"GET / HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n", [417], CLOSE,
     {}),
    ("6585:5", "more field lines than the server's limit",
     b"GET / HTTP/1.1\r\nHost: t\r\n" + fields(HEADERS_MAX + 50) + b"\r\n",
     [431], CLOSE, {}),
    ("6585:5", "header section over the server's limit",
     b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * (HEADER_BYTES_MAX + 8000)
     + b"\r\n\r\n", [431], CLOSE, {}),
    # --- Content-Length ---------------------------------------------------
    ("9112:6.3", "Content-Length with Transfer-Encoding (CL.TE)",
     post(b"/echo", b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
          b"0\r\n\r\nG"), [400], CLOSE, {}),
    ("9112:6.3", "Transfer-Encoding with Content-Length (TE.CL)",
     post(b"/echo", b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
          b"8\r\nSMUGGLED\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9110:8.6", "duplicate equal Content-Length",
     post(b"/echo", b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
     [400], CLOSE, {}),
    ("9110:8.6", "duplicate different Content-Length",
     post(b"/echo", b"Content-Length: 5\r\nContent-Length: 6\r\n",
          b"hello!"), [400], CLOSE, {}),
    ("9110:8.6", "Content-Length as a list", cl(b"5, 5", b"hello"), [400],
     CLOSE, {}),
    ("9110:8.6", "Content-Length with a comma list of one",
     cl(b"5,", b"hello"), [400], CLOSE, {}),
    ("9110:8.6", "Content-Length with a plus sign", cl(b"+5", b"hello"),
     [400], CLOSE, {}),
    ("9110:8.6", "negative Content-Length", cl(b"-1", b""), [400], CLOSE,
     {}),
    ("9110:8.6", "Content-Length with an inner space", cl(b"1 2", b""),
     [400], CLOSE, {}),
    ("9110:8.6", "hex Content-Length", cl(b"0x5", b"hello"), [400], CLOSE,
     {}),
    ("9110:8.6", "empty Content-Length", cl(b"", b""), [400], CLOSE, {}),
    ("9110:8.6", "Content-Length overflowing 64 bits",
     cl(b"99999999999999999999", b""), [400], CLOSE, {}),
    ("9110:15.5.14", "Content-Length over --max-body is 413",
     cl(b"%d" % (MAX_BODY + 1), b""), [413], CLOSE, {}),
    # --- Transfer-Encoding ------------------------------------------------
    ("9112:6.3", "chunked, gzip: chunked not final",
     te(b"chunked, gzip", b"0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:6.1", "gzip alone is 501", te(b"gzip", b""), [501], CLOSE, {}),
    ("9112:6.1", "gzip, chunked is 501",
     te(b"gzip, chunked", b"0\r\n\r\n"), [501], CLOSE, {}),
    ("9112:6.1", "xchunked is an unknown coding",
     te(b"xchunked", b"0\r\n\r\n"), [501], CLOSE, {}),
    ("9112:6.1", "identity is no longer a transfer coding",
     te(b"identity", b""), [501], CLOSE, {}),
    ("9112:7", "chunked applied twice",
     te(b"chunked, chunked", b"0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:6.3", "chunked then another coding on a second line",
     post(b"/echo", b"Transfer-Encoding: chunked\r\n"
          b"Transfer-Encoding: x\r\n", b"0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:7", "parameter on chunked", te(b"chunked;q=1", b"0\r\n\r\n"),
     [400], CLOSE, {}),
    ("9110:5.5", "vertical tab before chunked",
     te(b"\x0bchunked", b"0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:6.1", "Transfer-Encoding in HTTP/1.0",
     b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     [400], CLOSE, {}),
    # --- chunked framing --------------------------------------------------
    ("9112:7.1", "non-hex chunk size", te(b"chunked", b"x\r\nhello\r\n0\r\n"
                                          b"\r\n"), [400], CLOSE, {}),
    ("9112:7.1", "negative chunk size",
     te(b"chunked", b"-5\r\nhello\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:7.1", "0x prefix on a chunk size",
     te(b"chunked", b"0x5\r\nhello\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:7.1", "empty chunk size", te(b"chunked", b"\r\nhello\r\n0\r\n"
                                        b"\r\n"), [400], CLOSE, {}),
    ("9112:7.1.1", "space after a chunk size",
     te(b"chunked", b"5 \r\nhello\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9110:15.5.14", "chunk size of 17 HEXDIG: over --max-body first",
     te(b"chunked", b"10000000000000000\r\n"), [413], CLOSE, {}),
    ("9110:15.5.14", "chunked body over --max-body is 413",
     te(b"chunked", b"f4241\r\n"), [413], CLOSE, {}),
    ("9112:2.2", "bare CR after a chunk size",
     te(b"chunked", b"5\rhello\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:2.2", "bare LF after a chunk size",
     te(b"chunked", b"5\nhello\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:7.1.1", "bare CR in a quoted chunk extension",
     te(b"chunked", b"5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n"), [400], CLOSE,
     {}),
    ("9112:7.1.1", "bare CR ending a chunk extension",
     te(b"chunked", b"5;a=b\rhello\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:7.1.1", "control byte in a chunk extension",
     te(b"chunked", b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:7.1", "chunk-data longer than its size",
     te(b"chunked", b"5\r\nhelloX\r\n0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:7.1", "chunk-data without its CRLF",
     te(b"chunked", b"5\r\nhello0\r\n\r\n"), [400], CLOSE, {}),
    ("9112:5.2", "obs-fold in the trailer",
     te(b"chunked", b"0\r\nX: 1\r\n y\r\n\r\n"), [400], CLOSE, {}),
    ("9112:2.2", "bare LF ending the chunked body",
     te(b"chunked", b"0\r\n\n"), [400], CLOSE, {}),
]


def expect_from_tsv(word):
    return 200 if word == "OK" else int(word)


class WireBase(unittest.TestCase):
    bridge_args = ["--max-body", str(MAX_BODY)]

    @classmethod
    def setUpClass(cls):
        # One bridge for the class: started and stopped by a helper
        # TestCase whose cleanups run at tearDownClass.
        cls.owner = unittest.TestCase()
        cls.b = hh.HttpBridge(cls.owner, workers=2,
                              extra=cls.bridge_args)

    @classmethod
    def tearDownClass(cls):
        cls.owner.doCleanups()

    def run_row(self, request, statuses, conn, opts=None, addr=None):
        """Send request; check each response's status, then persistence."""
        opts = opts or {}
        heads = opts.get("heads", set())
        with hh.RawHttp(addr or self.b.addr, timeout=10) as c:
            try:
                c.send(request)
            except (BrokenPipeError, ConnectionResetError):
                # A large request refused early: the answer may still be
                # readable.
                pass
            got = []
            last = None
            for i, want in enumerate(statuses):
                try:
                    r = c.read_response(head=i in heads)
                except hh.Closed as e:
                    self.fail("response %d of %s: %s (got %s)"
                              % (i + 1, statuses, e, got))
                got.append(r.status)
                self.assertEqual(r.status, want, "statuses so far %s, "
                                 "response %r %r" % (got, r, r.body[:300]))
                self.assertEqual(r.version, "HTTP/1.1")
                self.assertIsNotNone(r.header("Date"), r)
                if r.status >= 400:
                    # an error answer is whole and says it closes
                    self.assertIn("close", r.tokens("connection"), r)
                last = r
            if "body" in opts:
                self.assertEqual(last.body, opts["body"],
                                 "body %r" % last.body[:300])
            if "contains" in opts:
                self.assertIn(opts["contains"], last.body)
            if conn == CLOSE:
                self.assertIn("close", last.tokens("connection"),
                              "RFC 9112 9.6: a server that closes says so")
                self.assertTrue(c.closed_within(5),
                                "connection still open after %s" % got)
            else:
                self.assertNotIn("close", last.tokens("connection"), last)
                try:
                    c.send(FOLLOWUP)
                    r = c.read_response()
                except (hh.Closed, BrokenPipeError,
                        ConnectionResetError) as e:
                    self.fail("connection not kept open: %s" % e)
                self.assertEqual(r.status, 200)
                self.assertIn(b"QUERY_STRING=followup\n", r.body,
                              "the follow-up got another request's answer")


class OwnTable(WireBase):
    def test_table_size(self):
        self.assertGreaterEqual(len(ROWS), 60)
        for row in ROWS:
            self.assertRegex(row[0], r"^(9112|9110|3986|6585):[0-9.]+$")

    def test_rows(self):
        for rfc, desc, req, statuses, conn, opts in ROWS:
            with self.subTest(rfc=rfc, desc=desc):
                self.run_row(req, statuses, conn, opts)


class ParserTables(WireBase):
    """tests/http_requests.tsv and tests/http_chunked.tsv, live."""

    def test_request_table(self):
        path = os.path.join(h.SRCDIR, "tests", "http_requests.tsv")
        if not os.path.exists(path):
            self.skipTest("no tests/http_requests.tsv")
        n = 0
        for rfc, expect, conn, body, rest, desc, raw in hh.read_tsv(path):
            # The table's limits are not the server's (max_target 128,
            # max_header_bytes 512, max_headers 16 there): the rows that
            # test them are in ROWS at the server's limits.
            if expect in ("414", "431"):
                continue
            req = hh.unescape(raw)
            status = expect_from_tsv(expect)
            opts = {}
            nreq = 1
            if expect == "OK":
                nreq = req.count(b" HTTP/1.")
            if body != "-" and expect == "OK":
                # Route the body to /echo and check it arrives decoded.
                for m in (b"POST / ", b"POST /f "):
                    if req.startswith(m):
                        req = b"POST /echo " + req[len(m):]
                        break
                if body.startswith("cl#"):
                    want = b"b" * int(body[3:])
                    req += want
                else:
                    want = hh.unescape(body.split("=", 1)[1])
                if nreq == 1:
                    opts["body"] = want
            if req.startswith(b"HEAD "):
                opts["heads"] = {0}
            with self.subTest(rfc=rfc, desc=desc):
                n += 1
                self.run_row(req, [status] * nreq, conn, opts)
        self.assertGreater(n, 100)

    def test_chunked_table(self):
        path = os.path.join(h.SRCDIR, "tests", "http_chunked.tsv")
        if not os.path.exists(path):
            self.skipTest("no tests/http_chunked.tsv")
        servers = {}
        n = 0
        head = (b"POST /echo HTTP/1.1\r\nHost: t\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        for rfc, expect, max_body, body, left, desc, raw in hh.read_tsv(
                path):
            # AGAIN rows are incomplete bodies (nothing to answer yet);
            # "max" rows depend on an unlimited max_body.
            if expect == "AGAIN" or max_body == "max":
                continue
            if max_body not in servers:
                if int(max_body) == MAX_BODY:
                    servers[max_body] = self.b
                else:
                    servers[max_body] = hh.HttpBridge(
                        self, workers=1, extra=["--max-body", max_body])
            addr = servers[max_body].addr
            req = head + hh.unescape(raw)
            if expect != "OK":
                statuses, conn, opts = [int(expect)], CLOSE, {}
            elif not left:
                statuses, conn = [200], KEEP
                opts = {"body": hh.unescape(body)}
            elif left.startswith("GET "):
                # The start of a pipelined request: complete it.
                req += b"Host: t\r\n\r\n"
                statuses, conn, opts = [200, 200], KEEP, {}
            else:
                # Bytes after the body are a (bad) request of their own.
                statuses, conn, opts = [200, 400], CLOSE, {}
            with self.subTest(rfc=rfc, desc=desc):
                n += 1
                self.run_row(req, statuses, conn, opts, addr=addr)
        self.assertGreater(n, 40)


class Flows(WireBase):
    """Exchanges that need a conversation, not one write."""

    def test_expect_100_continue(self):
        """RFC 9110 10.1.1: an interim 100 before the body is sent, then
        the final answer to the whole request."""
        with self.b.connect() as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue"
                   b"\r\nContent-Length: 11\r\n\r\n")
            interim = c.read_head()
            self.assertEqual(interim.status, 100)
            self.assertEqual(interim.version, "HTTP/1.1")
            c.send(b"hello world")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"hello world"))
            # and the connection goes on
            self.assertEqual(c.request("/").status, 200)

    def test_expect_100_continue_chunked(self):
        with self.b.connect() as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue"
                   b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.assertEqual(c.read_head().status, 100)
            c.send(b"3\r\nabc\r\n0\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"abc"))

    def test_expect_100_continue_body_already_sent(self):
        """A client that sends the body without waiting: a 100 is
        optional (RFC 9110 10.1.1), the final answer is not."""
        with self.b.connect() as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue"
                   b"\r\nContent-Length: 5\r\n\r\nhello")
            interim = []
            r = c.read_response(interim=interim)
            self.assertEqual((r.status, r.body), (200, b"hello"))
            self.assertTrue(all(i.status == 100 for i in interim))
            self.assertEqual(c.request("/").status, 200)

    def test_expect_100_continue_refused_body(self):
        """RFC 9110 10.1.1: a server that will refuse the request answers
        with the final status instead of 100 (413 here, --max-body)."""
        with self.b.connect() as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue"
                   b"\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
            r = c.read_head()
            self.assertEqual(r.status, 413)
            c.read_to_eof(5)
            self.assertTrue(c.eof)

    def test_no_100_for_http10(self):
        """RFC 9110 10.1.1: no 100 to an HTTP/1.0 client."""
        with self.b.connect() as c:
            c.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\n"
                   b"Content-Length: 5\r\n\r\n")
            self.assertTrue(c.nothing_within(0.5))
            c.send(b"hello")
            r = c.read_head()
            self.assertEqual(r.status, 200)

    def test_http10_keep_alive_says_so(self):
        """An HTTP/1.0 client keeps the connection only if the response
        says keep-alive (RFC 9112 9.3, appendix C.2.2)."""
        with self.b.connect() as c:
            for i in range(3):
                c.send(b"GET /env?i=%d HTTP/1.0\r\nConnection: keep-alive"
                       b"\r\n\r\n" % i)
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertIn("keep-alive", r.tokens("connection"))
                self.assertIsNotNone(r.header("Content-Length"),
                                     "HTTP/1.0 keep-alive needs a length")
                self.assertIn(b"SERVER_PROTOCOL=HTTP/1.0\n", r.body)
            c.send(b"GET / HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertIn("close", r.tokens("connection"))
            self.assertTrue(c.closed_within(5))

    def test_pipelined_in_order_many(self):
        """RFC 9112 9.3.2: responses in the order of the requests, here
        50 of them in one write, mixing methods and bodies."""
        reqs = b""
        want = []
        for i in range(50):
            if i % 3 == 0:
                reqs += cl(b"%d" % len(b"%d" % i), b"%d" % i)
                want.append(b"%d" % i)
            elif i % 3 == 1:
                reqs += te(b"chunked", hh.chunk_encode(b"c%d" % i))
                want.append(b"c%d" % i)
            else:
                reqs += hh.get_request("/env?i=%d" % i)
                want.append(b"QUERY_STRING=i=%d\n" % i)
        with self.b.connect() as c:
            c.send(reqs)
            for i, w in enumerate(want):
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertIn(w, r.body, "response %d out of order" % i)
            self.assertTrue(c.nothing_within(0.2))

    def test_request_split_one_byte_at_a_time(self):
        """The head and a chunked body split at every byte (RFC 9112 2.2:
        a message is a byte stream; segments mean nothing)."""
        req = te(b"chunked", b"5;e=\"v\"\r\nhello\r\n0\r\nT: 1\r\n\r\n")
        with self.b.connect() as c:
            for i in range(len(req)):
                c.send(req[i:i + 1])
                time.sleep(0.001)
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"hello"))

    def test_body_split_across_writes(self):
        body = bytes(range(256)) * 2048            # 512 KiB
        with self.b.connect() as c:
            c.send(cl(b"%d" % len(body), b""))
            for i in range(0, len(body), 50000):
                c.send(body[i:i + 50000])
                time.sleep(0.005)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body)

    def test_absolute_form_without_path_is_not_500(self):
        """RFC 9112 3.3: "http://host" has the path "/" -- an ordinary
        request, not a server error (the same row is in ROWS and in
        tests/http_requests.tsv; this names the symptom)."""
        for target in (b"http://example.com", b"HTTPS://example.com"):
            with self.b.connect() as c:
                c.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                r = c.read_response()
                self.assertEqual(r.status, 200, (target, r.body))

    def test_pipelined_big_responses(self):
        """Pipelined requests whose responses pass the output high-water
        mark: answered in order, whole, the later requests resumed once
        the output drained (RFC 9112 9.3.2)."""
        sizes = [3000000, 10, 2500000, 70000]
        with self.b.connect() as c:
            c.send(b"".join(hh.get_request("/big?%d" % n) for n in sizes)
                   + hh.get_request("/env?last"))
            for n in sizes:
                r = c.read_response()
                self.assertEqual((r.status, len(r.body)), (200, n))
            r = c.read_response()
            self.assertIn(b"QUERY_STRING=last\n", r.body)

    def test_http10_keep_alive_streamed_response_closes(self):
        """An HTTP/1.0 response too long to hold back has no chunked
        coding to frame it: it is close-delimited, says so, and ends the
        keep-alive connection (RFC 9112 6.3 item 8, 9.3)."""
        with self.b.connect() as c:
            c.send(b"GET /big?300000 HTTP/1.0\r\nConnection: keep-alive"
                   b"\r\n\r\n")
            r = c.read_response()
            self.assertEqual(len(r.body), 300000)
            self.assertIn("close", r.tokens("connection"))
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertTrue(c.eof)

    def test_error_response_is_whole(self):
        """A rejection is a complete message with a length, then EOF."""
        with self.b.connect() as c:
            c.send(b"GET / HTTP/1.1\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 400)
            self.assertEqual(len(r.body), int(r.header("Content-Length")))
            self.assertTrue(c.closed_within(5))

    def test_head_of_big_response_has_no_body(self):
        """RFC 9110 9.3.2: HEAD of a streamed (chunked) response sends no
        body, and the next response on the connection is intact."""
        with self.b.connect() as c:
            c.send(b"HEAD /big?300000 HTTP/1.1\r\nHost: t\r\n\r\n"
                   + hh.get_request("/"))
            r = c.read_response(head=True)
            self.assertEqual(r.status, 200)
            r2 = c.read_response()
            self.assertEqual((r2.status, r2.body), (200, b"probe\n"))


if __name__ == "__main__":
    h.main()
