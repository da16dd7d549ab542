#!/usr/bin/python3
"""The Python adapter's ASGI mode against the specs (asgiref
specs/www.rst 2.5, specs/lifespan.rst 2.0, docs/extensions.rst), with raw
ASGI applications (tests/apps/asgi_*.py) served by the real bridge over
HTTP, as root with --user nobody: every scope field and its type,
raw_path and root_path under --mount, header order and repetitions,
request bodies split across messages (chunked and with Content-Length),
http.disconnect when the client leaves mid-response, send() after that
raising OSError, streaming flushed per chunk,
exceptions before and after the response started, 1000 concurrent
sleeping requests on one worker, lifespan startup/state/shutdown/failed/
unsupported, ASGI detected through --wsgi and the positional APP,
--asgi-loop uvloop, --timeout cancelling the task with a 504 while the
worker lives on, and the pathsend and zerocopysend extensions."""
import asyncio
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port, wait_for                  # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
SRCDIR = os.environ.get("SRCDIR", os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
APPS = os.path.abspath(os.path.join(SRCDIR, "tests/apps"))
ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")


def recv_all(s):
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def dechunk(body):
    """A chunked body's data; raises ValueError if it is cut short."""
    out = b""
    while True:
        line, sep, body = body.partition(b"\r\n")
        if not sep:
            raise ValueError("cut in a chunk size")
        n = int(line.split(b";")[0], 16)
        if n == 0:
            return out
        if len(body) < n + 2:
            raise ValueError("cut in a chunk")
        out += body[:n]
        body = body[n + 2:]


def connect(port, timeout=20, tls=False):
    s = socket.create_connection(("127.0.0.1", port), timeout)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    return s


def request(port, path="/", method="GET", body=None, headers=(),
            version="1.1", timeout=20, tls=False):
    """One request on its own connection: (status, headers, body)."""
    with connect(port, timeout, tls) as s:
        head = "%s %s HTTP/%s\r\nHost: t\r\nConnection: close\r\n" % (
            method, path, version)
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        if body is not None:
            head += "Content-Length: %d\r\n" % len(body)
        s.sendall(head.encode() + b"\r\n" + (body or b""))
        data = recv_all(s)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = [tuple(x.split(": ", 1)) for x in lines[1:]]
    if any(k.lower() == "transfer-encoding" for k, _ in hdrs):
        rest = dechunk(rest)
    return status, hdrs, rest


def get_json(port, path, **kw):
    status, _, body = request(port, path, **kw)
    if status != 200:
        raise AssertionError("%s: %d %r" % (path, status, body))
    return json.loads(body)


def untype(t):
    """typed() of tests/apps/asgi_spec.py back to (type, value)."""
    (k, v), = t.items()
    return k, v


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class AsgiTest(unittest.TestCase):
    def start(self, *args, app="--asgi asgi_spec:app", env=None,
              expect_start=True, listen="--http"):
        self.port = free_port()
        self.tmp = harness.TempDir(self, writable=True)
        self.log_path = self.tmp.join("bridge.log")
        self.tls = listen == "--https"
        self.listen = listen
        argv = [BRIDGE, listen, "127.0.0.1:%d" % self.port,
                "--chdir", APPS, "--error-log", self.log_path,
                "--graceful-timeout", "10"]
        argv += app.split() + list(args) + harness.user_args()
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=e)
        if not expect_start:
            return self.proc
        self.addCleanup(harness.stop_bridge, self.proc, self.log_path)
        harness.wait_port("127.0.0.1", self.port, proc=self.proc)
        if not wait_for(self.answers, 20):
            raise AssertionError("no answer:\n" + self.log())
        return self.proc

    def answers(self):
        if self.listen == "--fastcgi":
            try:
                with harness.FcgiConn(("127.0.0.1", self.port)) as c:
                    return c.request(path="/pid").status == 200
            except (OSError, harness.ConnectionClosed):
                return False
        try:
            return request(self.port, "/pid", timeout=5,
                           tls=self.tls)[0] > 0
        except OSError:
            return False

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def events(self):
        return [tuple(e) for e in get_json(self.port, "/events")]

    def wait_event(self, ev, timeout=10):
        if not wait_for(lambda: ev in self.events(), timeout):
            raise AssertionError("event %r never came: %r"
                                 % (ev, self.events()))

    # --- scope ------------------------------------------------------------

    def test_scope_fields_and_types(self):
        self.start()
        s = socket.create_connection(("127.0.0.1", self.port), 10)
        s.sendall(b"GET /scope/a%20b/%C3%A9?x=1&y=%20 HTTP/1.1\r\n"
                  b"Host: example.test:8080\r\nX-B: 1\r\nX-A: 2\r\n"
                  b"X-B: 3\r\nConnection: close\r\n\r\n")
        data = recv_all(s)
        port = s.getsockname()[1]
        s.close()
        out = json.loads(dechunk(data.partition(b"\r\n\r\n")[2])
                         if b"chunked" in data.partition(b"\r\n\r\n")[0]
                         else data.partition(b"\r\n\r\n")[2])
        sc = untype(out["scope"])[1]
        self.assertEqual(untype(sc["type"]), ("str", "http"))
        asgi = untype(sc["asgi"])[1]
        self.assertEqual(untype(asgi["version"]), ("str", "3.0"))
        self.assertEqual(untype(asgi["spec_version"]), ("str", "2.5"))
        self.assertEqual(untype(sc["http_version"]), ("str", "1.1"))
        self.assertEqual(untype(sc["method"]), ("str", "GET"))
        self.assertEqual(untype(sc["scheme"]), ("str", "http"))
        # path: percent escapes and UTF-8 decoded; raw_path as sent.
        self.assertEqual(untype(sc["path"]), ("str", "/scope/a b/\u00e9"))
        self.assertEqual(untype(sc["raw_path"]),
                         ("bytes", "/scope/a%20b/%C3%A9"))
        self.assertEqual(untype(sc["query_string"]), ("bytes", "x=1&y=%20"))
        self.assertEqual(untype(sc["root_path"]), ("str", ""))
        kind, headers = untype(sc["headers"])
        self.assertEqual(kind, "seq")
        pairs = []
        for h in headers["items"]:
            hk, hv = untype(h)
            self.assertEqual(hk, "seq")
            self.assertEqual(len(hv["items"]), 2)
            pairs.append(tuple(untype(x) for x in hv["items"]))
        for n, v in pairs:
            self.assertEqual(n[0], "bytes")
            self.assertEqual(v[0], "bytes")
            self.assertEqual(n[1], n[1].lower())
        names = [n[1] for n, _ in pairs]
        # In the order received; a repeated field as two pairs
        # (test_asgi_headers.py has more).
        self.assertEqual(names, ["host", "x-b", "x-a", "x-b", "connection"])
        self.assertEqual([v[1] for n, v in pairs if n[1] == "x-b"],
                         ["1", "3"])
        self.assertIn((("bytes", "host"), ("bytes", "example.test:8080")),
                      pairs)
        client = untype(sc["client"])[1]["items"]
        self.assertEqual([untype(x) for x in client],
                         [("str", "127.0.0.1"), ("int", port)])
        server = untype(sc["server"])[1]["items"]
        self.assertEqual([untype(x) for x in server],
                         [("str", "127.0.0.1"), ("int", self.port)])
        ext = untype(sc["extensions"])[1]
        self.assertEqual(sorted(ext), ["http.response.early_hint",
                                       "http.response.pathsend",
                                       "http.response.trailers",
                                       "http.response.zerocopysend"])
        self.assertIn("state", out["keys"])
        first = untype(out["first"])[1]
        self.assertEqual(untype(first["type"]), ("str", "http.request"))
        self.assertEqual(untype(first["body"]), ("bytes", ""))
        self.assertEqual(untype(first["more_body"]), ("bool", False))

    def test_scope_http10_post_content_headers(self):
        self.start()
        out = get_json(self.port, "/scope", method="POST", body=b"abc",
                       version="1.0",
                       headers=[("Content-Type", "text/plain")])
        sc = untype(out["scope"])[1]
        self.assertEqual(untype(sc["http_version"]), ("str", "1.0"))
        self.assertEqual(untype(sc["method"]), ("str", "POST"))
        pairs = [tuple(untype(x)[1] for x in untype(h)[1]["items"])
                 for h in untype(sc["headers"])[1]["items"]]
        self.assertIn(("content-type", "text/plain"), pairs)
        self.assertIn(("content-length", "3"), pairs)
        first = untype(out["first"])[1]
        self.assertEqual(untype(first["body"]), ("bytes", "abc"))
        self.assertEqual(untype(first["more_body"]), ("bool", False))

    def test_root_path_under_mount(self):
        self.start("--mount", "/app")
        out = get_json(self.port, "/app/scope/x%2Fy?q")
        sc = untype(out["scope"])[1]
        self.assertEqual(untype(sc["root_path"]), ("str", "/app"))
        # path is the whole path, root_path included (www.rst: "HTTP
        # request target excluding any query string").
        self.assertEqual(untype(sc["path"]), ("str", "/app/scope/x/y"))
        self.assertEqual(untype(sc["raw_path"]), ("bytes",
                                                  "/app/scope/x%2Fy"))
        self.assertEqual(untype(sc["query_string"]), ("bytes", "q"))
        status, _, _ = request(self.port, "/other/scope")
        self.assertEqual(status, 404)

    def test_https_scheme_and_tls_extension(self):
        d = harness.TempDir(self).path
        key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-keyout", key, "-out",
                        crt, "-subj", "/CN=t"], check=True,
                       capture_output=True, timeout=60)
        self.start("--cert", crt, "--key", key, listen="--https")
        status, _, body = request(self.port, "/scope", tls=True)
        self.assertEqual(status, 200)
        sc = untype(json.loads(body)["scope"])[1]
        self.assertEqual(untype(sc["scheme"]), ("str", "https"))
        tls = untype(untype(sc["extensions"])[1]["tls"])[1]
        # Mandatory keys (specs/tls.rst); what bridge does not know is
        # None, an empty chain.
        self.assertEqual(untype(tls["server_cert"]), ("NoneType", None))
        self.assertEqual(untype(tls["client_cert_chain"])[1]["items"], [])
        # bridge's own TLS gives SSL_PROTOCOL (mod_ssl's name): the
        # negotiated version as the spec's number (TLS 1.3 here).
        self.assertEqual(untype(tls["tls_version"]), ("int", 0x0304))
        self.assertIn(untype(tls["cipher_suite"])[0], ("int", "NoneType"))
        self.assertEqual(untype(tls["client_cert_name"]), ("NoneType", None))

    def test_fastcgi(self):
        """Behind a web server: nginx's fastcgi_params, TLS variables,
        a body in STDIN records, the answer as a CGI response."""
        self.start(listen="--fastcgi")
        with harness.FcgiConn(("127.0.0.1", self.port)) as c:
            r = c.request(path="/scope/x?a=b", extra={
                "HTTPS": "on", "SSL_PROTOCOL": "TLSv1.3",
                "HTTP_X_A": "1", "REMOTE_PORT": "4242",
                "SERVER_ADDR": "127.0.0.1"})
            self.assertEqual(r.status, 200)
            sc = untype(json.loads(r.body)["scope"])[1]
            self.assertEqual(untype(sc["scheme"]), ("str", "https"))
            self.assertEqual(untype(sc["path"]), ("str", "/scope/x"))
            self.assertEqual(untype(sc["raw_path"]), ("bytes", "/scope/x"))
            self.assertEqual(untype(sc["query_string"]), ("bytes", "a=b"))
            self.assertEqual([untype(x) for x in
                              untype(sc["client"])[1]["items"]],
                             [("str", "127.0.0.1"), ("int", 4242)])
            tls = untype(untype(sc["extensions"])[1]["tls"])[1]
            self.assertEqual(untype(tls["tls_version"]), ("int", 0x0304))
            pairs = [tuple(untype(x)[1] for x in untype(h)[1]["items"])
                     for h in untype(sc["headers"])[1]["items"]]
            self.assertIn(("x-a", "1"), pairs)
        # nginx's fastcgi_params send CONTENT_TYPE and CONTENT_LENGTH
        # empty on a GET: no such fields, as over HTTP.
        with harness.FcgiConn(("127.0.0.1", self.port)) as c:
            r = c.request(path="/scope/y", extra={"CONTENT_TYPE": "",
                                                  "CONTENT_LENGTH": ""})
            sc = untype(json.loads(r.body)["scope"])[1]
            names = [untype(untype(h)[1]["items"][0])[1]
                     for h in untype(sc["headers"])[1]["items"]]
            self.assertNotIn("content-type", names)
            self.assertNotIn("content-length", names)
        with harness.FcgiConn(("127.0.0.1", self.port)) as c:
            body = bytes(range(256)) * 1024
            r = c.request(path="/echobody", method="POST", body=body,
                          stdin_chunk=8000)
            self.assertEqual((r.status, r.body), (200, body))

    # --- request body -------------------------------------------------------

    def send_split_body(self, framing, first, first_len, rest):
        """POST /echo in two sends; the part before the pause reaches
        the app as a message of its own (more_body true)."""
        self.start()
        s = socket.create_connection(("127.0.0.1", self.port), 20)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  + framing + b"\r\n\r\n" + first)
        self.wait_event(("chunk", first_len))
        s.sendall(rest)
        data = recv_all(s)
        s.close()
        out = json.loads(data.partition(b"\r\n\r\n")[2])
        self.assertEqual(out["total"], 10)
        self.assertEqual(out["chunks"][0], [first_len, True])
        self.assertEqual(out["chunks"][-1][1], False)

    def test_body_split_across_messages_content_length(self):
        self.send_split_body(b"Content-Length: 10", b"hello", 5, b"world")

    def test_body_chunked_split(self):
        self.send_split_body(b"Transfer-Encoding: chunked",
                             b"7\r\nchunk-a\r\n", 7,
                             b"3\r\nbcd\r\n0\r\n\r\n")

    def test_abandoned_receive_keeps_body(self):
        self.start()
        s = socket.create_connection(("127.0.0.1", self.port), 20)
        s.sendall(b"POST /receive-abandoned HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\nContent-Length: 5\r\n\r\n")
        self.wait_event(("abandoned", "timed out"))
        s.sendall(b"hello")
        data = recv_all(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertEqual(data.partition(b"\r\n\r\n")[2], b"hello")

    def test_large_body_echoed(self):
        """3 MB in and out: the server's read window and high water
        (BG_AGAIN, BG_EV_DRAINED) in both directions."""
        self.start()
        body = bytes(range(256)) * (3 * 4096)
        status, _, got = request(self.port, "/echobody", method="POST",
                                 body=body)
        self.assertEqual(status, 200)
        self.assertEqual(got, body)

    # --- response -----------------------------------------------------------

    def test_streaming_flushed_per_chunk(self):
        self.start()
        s = socket.create_connection(("127.0.0.1", self.port), 20)
        s.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while b"chunk-1" not in data:
            chunk = s.recv(65536)
            self.assertTrue(chunk, "closed before chunk 1: %r" % data)
            data += chunk
        # The app has not sent chunk 2: it waits for /release.
        self.assertNotIn(b"chunk-2", data)
        self.assertEqual(get_json(self.port, "/release"), {"released": True})
        data += recv_all(s)
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"chunked", head.lower())
        self.assertEqual(dechunk(body), b"chunk-1\nchunk-2\n")

    def test_response_headers_and_status(self):
        self.start()
        status, hdrs, body = request(self.port, "/headers-out")
        self.assertEqual(status, 201)
        self.assertEqual([v for k, v in hdrs if k.lower() == "set-cookie"],
                         ["a=1", "b=2"])
        self.assertEqual(body, b"ok")

    def test_disconnect_mid_response_and_send_after(self):
        self.start()
        s = socket.create_connection(("127.0.0.1", self.port), 20)
        s.sendall(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"partial" not in data:
            chunk = s.recv(65536)
            self.assertTrue(chunk)
            data += chunk
        s.close()
        self.wait_event(("hold-received", "http.disconnect"))
        # Spec 2.4: send() on a closed connection raises an OSError.
        self.wait_event(("hold-send", "OSError", "ClientDisconnected"))
        self.assertNotIn("ClientDisconnected", self.log())

    def test_client_closing_after_the_whole_response_is_no_abort(self):
        """A client that closes once it has the whole response (its
        Content-Length), while the application has yet to send its last,
        empty message (as Quart does), did not go away during the
        request: the application runs to its end and no log line says
        the client went away (both happened for about half of Quart's
        requests)."""
        self.start()
        for _ in range(5):
            with connect(self.port, 20, False) as s:
                s.sendall(b"GET /linger-after HTTP/1.1\r\nHost: t\r\n\r\n")
                data = b""
                while not data.endswith(b"answered"):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, data)
                    data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertTrue(wait_for(lambda: len([e for e in self.events()
                                              if e[0] == "linger-after"])
                                 == 5, 10), self.events())
        # The application ran to its end, not cancelled as for a client
        # gone mid-request (Quart's after-request handlers run there).
        self.assertEqual([e for e in self.events() if e[0] ==
                          "linger-after"], [("linger-after", "sent")] * 5)
        self.assertNotIn("went away", self.log())

    def test_client_closing_after_the_whole_body_reaches_receive(self):
        """The client closes once it has the whole body (its
        Content-Length) while the application, before its closing
        message, awaits receive(): within the drain window's second the
        connection closes and receive() says http.disconnect (the
        connection was held open until the worker stopped)."""
        self.start()
        with connect(self.port, 20, False) as s:
            s.sendall(b"GET /whole-then-wait HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            while not data.endswith(b"whole"):
                chunk = s.recv(4096)
                self.assertTrue(chunk, data)
                data += chunk
        self.wait_event(("whole-then-wait", "http.disconnect"))

    def test_receive_after_response_is_disconnect(self):
        self.start()
        status, _, body = request(self.port, "/after-response")
        self.assertEqual((status, body), (200, b"done"))
        self.wait_event(("after-response", "http.disconnect"))

    def test_errors(self):
        self.start()
        pid = request(self.port, "/pid")[2]
        status, _, _ = request(self.port, "/raise-before")
        self.assertEqual(status, 500)
        self.assertRegex(self.log(), r"ValueError: boom before start")
        # After the start: the response is cut (no last chunk).
        with socket.create_connection(("127.0.0.1", self.port), 20) as s:
            s.sendall(b"GET /raise-after HTTP/1.1\r\nHost: t\r\n\r\n")
            data = recv_all(s)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        with self.assertRaises(ValueError):
            dechunk(body)
        self.assertRegex(self.log(), r"raised after the response started")
        self.assertEqual(request(self.port, "/no-response")[0], 502)
        self.assertRegex(self.log(), r"returned without starting")
        status, _, body = request(self.port, "/start-twice")
        self.assertEqual(status, 200)
        self.assertTrue(body.startswith(b"RuntimeError"), body)
        status, _, body = request(self.port, "/body-before-start")
        self.assertTrue(body.startswith(b"RuntimeError"), body)
        status, _, body = request(self.port, "/bad-header")
        self.assertEqual(body, b"ValueError")
        # The worker lived through all of it.
        self.assertEqual(request(self.port, "/pid")[2], pid)

    def test_trailers_extension(self):
        self.start()
        with socket.create_connection(("127.0.0.1", self.port), 20) as s:
            s.sendall(b"GET /trailers HTTP/1.1\r\nHost: t\r\nTE: trailers"
                      b"\r\nConnection: close\r\n\r\n")
            data = recv_all(s)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        # Both trailer messages' fields, after the last chunk.
        self.assertTrue(body.endswith(b"0\r\nx-checksum: 123\r\n"
                                      b"x-count: 2\r\n\r\n"), body)
        self.assertEqual(dechunk(body), b"abcdef")
        # Without TE: trailers the client gets none (extensions.rst).
        status, _, body = request(self.port, "/trailers")
        self.assertEqual((status, body), (200, b"abcdef"))

    def test_early_hint_extension(self):
        self.start()
        with socket.create_connection(("127.0.0.1", self.port), 20) as s:
            s.sendall(b"GET /early-hint HTTP/1.1\r\nHost: t\r\n"
                      b"Connection: close\r\n\r\n")
            data = recv_all(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 103 "), data)
        hint, _, rest = data.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nLink: </style.css>; rel=preload; as=style",
                      hint)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), rest)
        self.assertTrue(rest.endswith(b"after hint"), rest)

    def test_pathsend_and_zerocopysend(self):
        self.start()
        name = self.tmp.join("file.txt")
        with open(name, "wb") as f:
            f.write(b"0123456789")
        os.chmod(name, 0o644)
        status, _, body = request(self.port, "/pathsend?" + name)
        self.assertEqual((status, body), (200, b"0123456789"))
        status, _, body = request(self.port, "/zerocopy?" + name)
        self.assertEqual((status, body), (200, b"23456|0123456789"))

    # --- concurrency, timeout ----------------------------------------------

    def test_thousand_sleeping_requests_one_worker(self):
        self.start("-w", "1")
        pid = int(request(self.port, "/pid")[2])
        n = 1000

        async def one():
            r, w = await asyncio.open_connection("127.0.0.1", self.port)
            w.write(b"GET /sleep HTTP/1.1\r\nHost: t\r\n"
                    b"Connection: close\r\n\r\n")
            data = await r.read()
            w.close()
            return data

        async def all_of_them():
            return await asyncio.gather(*[one() for _ in range(n)])

        t0 = time.monotonic()
        results = asyncio.run(all_of_them())
        elapsed = time.monotonic() - t0
        self.assertEqual(sum(1 for d in results
                             if d.startswith(b"HTTP/1.1 200")
                             and d.endswith(b"slept")), n)
        with open("/proc/%d/status" % pid) as f:
            rss = re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)
        sys.stderr.write("\n1000 x sleep(1) on one worker: %.2f s, "
                         "worker peak RSS %s kB\n" % (elapsed, rss))
        # Each sleeps 1 s: together, not one after the other (1000 s).
        self.assertLess(elapsed, 6.0)

    def test_timeout_cancels_task_504(self):
        self.start("--timeout", "2")
        pid = request(self.port, "/pid")[2]
        t0 = time.monotonic()
        status, _, _ = request(self.port, "/forever")
        self.assertEqual(status, 504)
        self.assertLess(time.monotonic() - t0, 10)
        self.wait_event(("forever", "cancelled"))
        self.assertEqual(request(self.port, "/pid")[2], pid)

    # --- lifespan -----------------------------------------------------------

    def test_lifespan_state_and_shutdown(self):
        mark = os.path.join(harness.TempDir(self, writable=True).path,
                            "shutdown")
        self.start("-w", "1", env={"ASGI_SHUTDOWN_MARK": mark})
        a = get_json(self.port, "/state")
        b = get_json(self.port, "/state")
        self.assertEqual(a["lifespan"]["startup"], 1)
        ls = untype(a["lifespan"]["scope"])[1]
        self.assertEqual(untype(ls["type"]), ("str", "lifespan"))
        self.assertEqual(untype(untype(ls["asgi"])[1]["version"]),
                         ("str", "3.0"))
        # A shallow copy per request: the write of one request is not
        # seen by the next, the mutated shared object is.
        self.assertEqual(a["seen"]["counter"], 0)
        self.assertEqual(b["seen"]["counter"], 0)
        self.assertEqual(b["seen"]["db"]["touched"], 1)
        self.assertFalse(os.path.exists(mark))
        self.assertEqual(harness.stop_bridge(self.proc, self.log_path), 0)
        with open(mark) as f:
            self.assertTrue(f.read().startswith("shutdown"))

    def test_graceful_stop_answers_then_lifespan_shutdown(self):
        mark = os.path.join(harness.TempDir(self, writable=True).path,
                            "shutdown")
        self.start("-w", "1", env={"ASGI_SHUTDOWN_MARK": mark})
        got = []
        t = threading.Thread(target=lambda: got.append(
            request(self.port, "/sleep")))
        t.start()
        self.wait_event(("sleep", "start"))
        self.proc.terminate()
        t.join(20)
        self.assertEqual(got[0][0], 200)
        self.assertEqual(got[0][2], b"slept")
        self.assertEqual(self.proc.wait(20), 0)
        with open(mark) as f:
            self.assertTrue(f.read().startswith("shutdown"))

    def test_graceful_stop_ends_stream_waiting_for_disconnect(self):
        """BG_EV_STOP: a stream that waits for http.disconnect is told
        at once and sends its last message; bridge stops well before
        --graceful-timeout (10 s here)."""
        self.start("-w", "1")
        s = socket.create_connection(("127.0.0.1", self.port), 20)
        s.sendall(b"GET /until-disconnect HTTP/1.1\r\nHost: t\r\n\r\n")
        self.wait_event(("until-disconnect", "streaming"))
        t0 = time.monotonic()
        self.proc.terminate()
        data = recv_all(s)
        s.close()
        self.assertEqual(self.proc.wait(20), 0)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(dechunk(data.partition(b"\r\n\r\n")[2]),
                         b"open\nbye\n")

    def test_lifespan_startup_failed_stops_bridge(self):
        proc = self.start(app="--asgi asgi_lifespan_failed:app",
                          expect_start=False)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail("bridge kept running:\n" + self.log())
        self.assertNotEqual(rc, 0)
        self.assertRegex(self.log(), r"lifespan startup failed: database "
                         r"unreachable")

    def test_lifespan_unsupported_class_app_via_wsgi_flag(self):
        """An object with an async __call__ given to --wsgi is served as
        ASGI; its lifespan raising means "not supported"."""
        self.start(app="--wsgi asgi_no_lifespan:app")
        status, _, body = request(self.port, "/")
        self.assertEqual((status, body), (200, b"state={}"))
        self.assertRegex(self.log(), r"does not support ASGI lifespan")

    # --- selection ----------------------------------------------------------

    def test_positional_app_detected(self):
        self.start(app="asgi_spec:app")
        # Served by the ASGI path: an event loop runs the app.
        self.assertIn(request(self.port, "/loop")[2].split(b".")[0],
                      (b"asyncio", b"uvloop"))
        out = get_json(self.port, "/scope")
        self.assertEqual(untype(untype(out["scope"])[1]["type"]),
                         ("str", "http"))

    def test_asgi_flag_with_wsgi_app_refused(self):
        proc = self.start(app="--asgi probe:application --pythonpath "
                          + os.path.join(APPS, "wsgi"), expect_start=False)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.fail("bridge kept running:\n" + self.log())
        self.assertNotEqual(rc, 0)
        self.assertRegex(self.log(), r"--asgi probe:application: not an "
                         r"ASGI application")

    def test_uvloop(self):
        try:
            import uvloop                                 # noqa: F401
        except ImportError:
            self.skipTest("python3-uvloop not installed")
        self.start("--asgi-loop", "uvloop")
        self.assertEqual(request(self.port, "/loop")[2], b"uvloop")
        status, _, body = request(self.port, "/echobody", method="POST",
                                  body=b"x" * 100000)
        self.assertEqual((status, len(body)), (200, 100000))
        status, _, body = request(self.port, "/sleep")
        self.assertEqual((status, body), (200, b"slept"))

    def test_loop_auto_default_and_asyncio(self):
        """Without --asgi-loop, uvloop when it is installed (as uvicorn's
        auto); --asgi-loop asyncio keeps Python's own."""
        try:
            import uvloop                                 # noqa: F401
            want = b"uvloop"
        except ImportError:
            want = b"asyncio"
        self.start()
        self.assertTrue(request(self.port, "/loop")[2].startswith(want))
        self.start("--asgi-loop", "asyncio")
        self.assertTrue(request(self.port, "/loop")[2].startswith(
            b"asyncio"))

    def test_task_named_after_request(self):
        """Each request runs in its own asyncio task, named after the
        request id bridge logs ("request PID-N", the worker's pid in
        hex), on uvloop and on asyncio's loop."""
        for loop in ("uvloop", "asyncio"):
            if loop == "uvloop":
                try:
                    import uvloop                         # noqa: F401
                except ImportError:
                    continue
            self.start("--asgi-loop", loop, "-w", "1")
            pid = int(request(self.port, "/pid")[2])
            names = [request(self.port, "/task")[2].decode()
                     for _ in range(2)]
            for name in names:
                self.assertRegex(name, r"^request %x-[0-9a-f]+$" % pid)
            self.assertNotEqual(names[0], names[1])

    def test_task_factory_honoured(self):
        """A task factory the application installs (here at lifespan
        startup) makes the request tasks."""
        self.start("-w", "1", env={"ASGI_TASK_FACTORY": "1"})
        self.assertEqual(request(self.port, "/task")[:3:2],
                         (200, b"factory-made"))

    def test_asgi_loop_bad_value(self):
        r = subprocess.run([BRIDGE, "--asgi", "x:app", "--asgi-loop",
                            "trio"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("--asgi-loop", r.stderr)


if __name__ == "__main__":
    harness.main()
