#!/usr/bin/python3
"""ASGI serving driven the way hostile and unlucky clients and careless
applications do (tests/apps/asgi_adversarial.py), over HTTP, as root with
--user nobody: what reaches the client when the application breaks a
rule of asgiref specs/www.rst, and whether the connection stays usable
(or says it will not) after it: a return in the middle of a streamed
body, http.response.start alone, a client leaving a stream it stopped
reading, Connection fields from the application, an answer before the
request body came (Connection: close), unread bodies before pipelined
requests, a full-duplex stream; over FastCGI, an aborted request id
reused while its application goes on, and behind nginx a cut stream,
204/304 with a body and a Connection field.  Each case was run side by
side with uvicorn 0.17 (httptools, uvloop) on the same bytes; where
bridge differs the docstring gives the spec line that decides."""
import json
import os
import socket
import subprocess
import sys
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


class Wire:
    """One client connection reading responses as they come."""

    def __init__(self, port, timeout=20):
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.buf = b""
        self.eof = False

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def _more(self):
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
        self.buf += d

    def head(self):
        """(status, {lower name: value}) of the next response head."""
        while b"\r\n\r\n" not in self.buf and not self.eof:
            self._more()
        h, sep, self.buf = self.buf.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("no response head: %r" % h)
        lines = h.decode("latin-1").split("\r\n")
        fields = {}
        for x in lines[1:]:
            k, _, v = x.partition(":")
            fields[k.strip().lower()] = v.strip()
        return int(lines[0].split()[1]), fields

    def exactly(self, n):
        while len(self.buf) < n and not self.eof:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        """Everything until the server closes (or the timeout)."""
        while not self.eof:
            self._more()
        out, self.buf = self.buf, b""
        return out

    def response(self):
        status, fields = self.head()
        return status, fields, self.exactly(int(fields.get(
            "content-length", "0")))


def chunks_complete(body):
    """Whether a chunked body ends with its last chunk."""
    while True:
        line, sep, body = body.partition(b"\r\n")
        if not sep:
            return False
        n = int(line.split(b";")[0], 16)
        if n == 0:
            return body.startswith(b"\r\n")
        if len(body) < n + 2:
            return False
        body = body[n + 2:]


class AsgiServer:
    """bridge serving asgi_adversarial:app with one worker, EXTRA
    flags added."""
    EXTRA = []

    def setUp(self):
        self.port = free_port()
        self.tmp = harness.TempDir(self, writable=True)
        self.log_path = self.tmp.join("bridge.log")
        argv = [BRIDGE, "--http", "127.0.0.1:%d" % self.port,
                "--chdir", APPS, "--error-log", self.log_path, "-w", "1",
                "--graceful-timeout", "5",
                "--asgi", "asgi_adversarial:app"] + self.EXTRA + \
            harness.user_args()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_bridge, self.proc, self.log_path)
        harness.wait_port("127.0.0.1", self.port, proc=self.proc)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wire(self):
        w = Wire(self.port)
        self.addCleanup(w.close)
        return w

    def events(self):
        w = self.wire()
        w.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body = w.response()
        self.assertEqual(status, 200)
        return [tuple(e) for e in json.loads(body)]

    def leave_during(self, path):
        """A GET of path whose client closes once the application has
        begun it (its "started" event), before any answer."""
        w = Wire(self.port)
        w.send(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
        self.assertTrue(wait_for(lambda: (path, "started") in
                                 self.events(), 10), self.events())
        w.close()


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class AsgiAdversarialTest(AsgiServer, unittest.TestCase):
    # --- the application ends its response wrongly -----------------------

    def test_return_mid_stream_cuts_the_response(self):
        """An application that returns after more_body=True has not sent
        its whole body (www.rst, Response Body: more_body "Signifies if
        there is additional content to come").  Ending the chunked body
        with its last chunk passed a cut response off as complete and
        kept the connection; it is cut and closed, as a raise is (as
        uvicorn does too)."""
        w = self.wire()
        w.send(b"GET /return-mid-stream HTTP/1.1\r\nHost: t\r\n\r\n")
        status, fields = w.head()
        self.assertEqual(status, 200)
        self.assertEqual(fields.get("transfer-encoding"), "chunked")
        body = w.rest()
        self.assertTrue(body.startswith(b"4\r\npart\r\n"), body)
        self.assertFalse(chunks_complete(body), body)
        self.assertTrue(w.eof)
        self.assertTrue(wait_for(lambda: "returned in the middle of its "
                                 "response body" in self.log(), 10),
                        self.log())

    def test_client_leaving_a_stream_is_no_application_error(self):
        """A client that stops reading a long stream, then leaves: the
        application's send() raises the OSError subclass (www.rst,
        Disconnected Client), it returns, and that is no error of its
        (www.rst: "Applications may catch this exception and do cleanup
        work before re-raising it or returning with no exception")."""
        w = self.wire()
        w.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        w.send(b"GET /stream-forever HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(w.head()[0], 200)
        w.close()
        self.assertTrue(wait_for(lambda: ("/stream-forever",
                                          "ClientDisconnected") in
                                 self.events(), 20), self.events())
        self.assertNotIn("returned in the middle", self.log())

    def test_start_without_body_keeps_a_zero_length_response(self):
        """http.response.start and return: the head alone is the whole
        response here (Content-Length: 0), answered as such and the
        connection kept (uvicorn closes it; www.rst asks for a body
        message after the start but the bytes on the wire are whole).
        After a response cut mid-stream on the same worker, whose state
        must not carry over (it did, through a reused object: 500)."""
        cut = self.wire()
        cut.send(b"GET /return-mid-stream HTTP/1.1\r\nHost: t\r\n\r\n")
        cut.rest()
        w = self.wire()
        w.send(b"GET /start-only HTTP/1.1\r\nHost: t\r\n\r\n"
               b"GET /no-read HTTP/1.1\r\nHost: t\r\n\r\n")
        status, fields, body = w.response()
        self.assertEqual((status, fields.get("content-length"), body),
                         (200, "0", b""))
        self.assertEqual(w.response()[::2], (200, b"ok"))

    def test_connection_fields_from_the_application_are_not_a_500(self):
        """sse-starlette's EventSourceResponse (and many SSE examples)
        sends Connection: keep-alive; www.rst forbids no field but
        pseudo-headers, and uvicorn passes them on.  bridge answered 500
        (hop-by-hop, refused as PEP 3333 has it for WSGI).  The server
        owns the connection (RFC 9112 9.3): the fields are left out and
        the response goes out, the connection kept."""
        from urllib.parse import quote
        w = self.wire()
        for pairs in ([["content-type", "text/event-stream"],
                       ["connection", "keep-alive"],
                       ["keep-alive", "timeout=5"]],
                      [["Connection", "close"]],
                      [["proxy-connection", "keep-alive"]]):
            w.send(b"GET /headers?%s HTTP/1.1\r\nHost: t\r\n\r\n"
                   % quote(json.dumps(pairs)).encode())
            status, fields = w.head()
            self.assertEqual(status, 200, pairs)
            self.assertNotIn("keep-alive", fields)
            self.assertNotIn("proxy-connection", fields)
            self.assertNotIn("connection", fields)
            self.assertEqual(w.exactly(int(fields["content-length"])),
                             b"hello")
        self.assertNotIn("hop-by-hop", self.log())

    # --- the application answers before reading the body -----------------

    def test_answer_before_the_body_says_connection_close(self):
        """The application answers while the request body is still
        coming: bridge reads the rest and closes (RFC 9112 9.6).  The
        head did not say so, and a client that sent its next request on
        the connection lost it; RFC 9110 10.1.1: "A server that responds
        with a final status code before reading the entire request
        content SHOULD indicate whether it intends to close the
        connection"."""
        w = self.wire()
        w.send(b"POST /no-read HTTP/1.1\r\nHost: t\r\n"
               b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
        status, fields, body = w.response()
        self.assertEqual((status, body), (200, b"ok"))
        self.assertEqual(fields.get("connection"), "close")
        # The rest of the body is read and dropped, then the close.
        w.send(b"x" * 99000)
        self.assertEqual(w.rest(), b"")
        self.assertTrue(w.eof)

    def test_duplex_stream_whole_then_closed(self):
        """An application that answers each body message as it comes
        starts its response before the body is all there: the response
        is whole, and, as the head says, the connection closes after it
        (uvicorn keeps it; the price of saying so at head time)."""
        w = self.wire()
        w.send(b"POST /duplex HTTP/1.1\r\nHost: t\r\n"
               b"Content-Length: 6\r\n\r\nabc")
        status, fields = w.head()
        self.assertEqual((status, fields.get("connection")), (200, "close"))
        self.assertEqual(w.exactly(8), b"3\r\nabc\r\n")
        w.send(b"def")
        body = w.rest()
        self.assertEqual(body, b"3\r\ndef\r\n0\r\n\r\n")

    def test_unread_small_body_then_pipelined_request(self):
        """The whole body came with the head but the application never
        read it: the next request on the connection is still parsed
        from the right byte (Content-Length and chunked)."""
        w = self.wire()
        w.send(b"POST /no-read HTTP/1.1\r\nHost: t\r\nContent-Length: 5"
               b"\r\n\r\nhelloPOST /no-read HTTP/1.1\r\nHost: t\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\n"
               b"X-Trailer: 1\r\n\r\nGET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(w.response()[::2], (200, b"ok"))
        self.assertEqual(w.response()[::2], (200, b"ok"))
        self.assertEqual(w.response()[::2], (200, b""))



@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class AsgiAdversarialFcgiTest(unittest.TestCase):
    """A raw FastCGI peer (nginx's way: every request id 1, the
    connection kept)."""

    def test_aborted_request_id_reused_while_the_app_goes_on(self):
        """ABORT_REQUEST ends the request (FastCGI 5.4) while its
        application keeps sending (it runs on, as after any client
        leaving; one that ignored a cancellation would too): the
        next requests, on the same connection and with the same id, get
        their own answers and none of the stale bytes (section 3.3)."""
        port = free_port()
        tmp = harness.TempDir(self, writable=True)
        log = tmp.join("bridge.log")
        proc = subprocess.Popen(
            [BRIDGE, "--fastcgi", "127.0.0.1:%d" % port, "--chdir", APPS,
             "--error-log", log, "-w", "1", "--graceful-timeout", "5",
             "--asgi", "asgi_adversarial:app"] + harness.user_args(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_bridge, proc, log)
        harness.wait_port("127.0.0.1", port, proc=proc)
        keep = harness.FCGI_KEEP_CONN
        with harness.FcgiConn(("127.0.0.1", port)) as c:
            c.send(harness.request_bytes(1, "/stubborn", flags=keep))
            rec = c.read_record()        # its first STDOUT: it runs
            self.assertEqual((rec.type, rec.id), (harness.FCGI_STDOUT, 1))
            c.send(harness.fcgi_record(harness.FCGI_ABORT_REQUEST, 1))
            while rec.type != harness.FCGI_END_REQUEST:
                rec = c.read_record()
            for i in range(3):
                r = c.request(1, path="/echo", method="POST",
                              body=b"new%d" % i, flags=keep)
                self.assertEqual((r.status, r.body), (200, b"new%d" % i))
            # The stubborn application is still sending meanwhile (its
            # client gone, it is not cancelled: it runs on, its send()
            # refused).
            def seen():
                r = c.request(1, path="/events", flags=keep)
                return ["/stubborn", "send refused"] in json.loads(
                    r.body)
            self.assertTrue(wait_for(seen, 10))
            r = c.request(1, path="/echo", method="POST", body=b"last",
                          flags=keep)
            self.assertEqual(r.body, b"last")
            # Its end frees the request (a worker stopping sooner would
            # leave it to the exit, which LeakSanitizer reports).
            def ended():
                r = c.request(1, path="/events", flags=keep)
                return ["/stubborn", "ended"] in json.loads(r.body)
            self.assertTrue(wait_for(ended, 20))


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class AfterTheClientLeftTest(AsgiServer, unittest.TestCase):
    """A client that leaves while the application works (a database
    commit, say) does not cut that work short: the application runs on,
    as under uvicorn 0.17 (www.rst: receive() then gives
    http.disconnect, send() raises an OSError; nothing says the server
    cancels).  bridge used to cancel the task at once.  --timeout still
    bounds it: past it the task is cancelled, also after its client
    left."""
    EXTRA = ["--timeout", "3"]

    def test_client_leaving_mid_request_lets_the_work_finish(self):
        self.leave_during("/work-then-answer")
        self.assertTrue(wait_for(lambda: ("/work-then-answer", "work done")
                                 in self.events(), 10), self.events())
        self.assertNotIn(("/work-then-answer", "cancelled"), self.events())
        self.assertNotIn("Traceback", self.log())

    def test_work_past_timeout_after_the_client_left_is_cancelled(self):
        t0 = time.monotonic()
        self.leave_during("/forever")
        self.assertTrue(wait_for(lambda: ("/forever", "cancelled") in
                                 self.events(), 15), self.events())
        # At --timeout from the request, not when the client left.
        self.assertGreater(time.monotonic() - t0, 2)
        self.assertIn("ran past --timeout (3s) in the module after its "
                      "client left", self.log())


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class RecycledAfterTheClientLeftTest(AsgiServer, unittest.TestCase):
    """The request whose end uses up --max-requests is one whose client
    left while its application works: the worker stops (its loop ends
    soon), so that work is cancelled rather than left running at the
    worker's exit (its request was never freed)."""

    def setUp(self):
        self.state = harness.TempDir(self, writable=True)
        self.EXTRA = ["--max-requests", "1", "--env",
                      "EVENTS_FILE=" + self.state.join("events")]
        super().setUp()

    def test_work_of_a_client_gone_is_cancelled_at_the_recycle(self):
        w = Wire(self.port)
        w.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        events = self.state.join("events")
        self.assertTrue(wait_for(lambda: "/forever started" in
                                 harness.read_text(events), 10), self.log())
        w.close()
        self.assertTrue(wait_for(lambda: "/forever cancelled" in
                                 harness.read_text(events), 15), self.log())
        self.assertTrue(wait_for(lambda: "recycled" in self.log(), 15),
                        self.log())


@unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
class AsgiAdversarialNginxTest(unittest.TestCase):
    """The application-side cases over FastCGI, behind nginx with the
    shipped conf/nginx-bridge.conf (fastcgi_keep_conn on)."""

    def setUp(self):
        harness.require(self, "nginx")
        self.bport = free_port()
        self.tmp = harness.TempDir(self, writable=True)
        self.log_path = self.tmp.join("bridge.log")
        argv = [BRIDGE, "--fastcgi", "127.0.0.1:%d" % self.bport,
                "--chdir", APPS, "--error-log", self.log_path, "-w", "1",
                "--graceful-timeout", "5",
                "--asgi", "asgi_adversarial:app"] + harness.user_args()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_bridge, self.proc, self.log_path)
        harness.wait_port("127.0.0.1", self.bport, proc=self.proc)
        self.nginx = harness.Nginx(self, ("127.0.0.1", self.bport),
                                   "/nonexistent.sock")
        harness.wait_port("127.0.0.1", self.nginx.port)

    def wire(self):
        w = Wire(self.nginx.port)
        self.addCleanup(w.close)
        return w

    def test_return_mid_stream_reaches_the_client_cut(self):
        """Over FastCGI a cut is a connection closed without
        END_REQUEST (FastCGI 5.5 has no other way): nginx then cuts its
        client's response too, where END_REQUEST had it end the chunked
        body as if whole."""
        w = self.wire()
        w.send(b"GET /return-mid-stream HTTP/1.1\r\nHost: t\r\n\r\n")
        status, fields = w.head()
        self.assertEqual(status, 200)
        body = w.rest()
        self.assertTrue(body.startswith(b"4\r\npart\r\n"), body)
        self.assertFalse(chunks_complete(body), body)
        self.assertRegex(self.nginx.error_log(), "upstream prematurely "
                         "closed")
        # The next request gets a new FastCGI connection, and its answer.
        w = self.wire()
        w.send(b"GET /no-read HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(w.response()[::2], (200, b"ok"))

    def test_no_content_in_204_and_304_over_fastcgi(self):
        """A 204 or 304 whose application sends a body anyway (as
        /status/N does, with its Content-Length: 2): over --http bridge
        leaves the body out (RFC 9110 15.3.5, 15.4.5); over FastCGI it
        passed it on, and nginx warned "upstream sent more data than
        specified in Content-Length" on each."""
        w = self.wire()
        for n in (204, 304):
            w.send(b"GET /status/%d HTTP/1.1\r\nHost: t\r\n\r\n" % n)
            status, fields = w.head()
            self.assertEqual(status, n)
            w.send(b"GET /no-read HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertEqual(w.response()[::2], (200, b"ok"))
        self.assertNotIn("more data than specified", self.nginx.error_log())

    def test_connection_field_from_the_application(self):
        from urllib.parse import quote
        w = self.wire()
        w.send(b"GET /headers?%s HTTP/1.1\r\nHost: t\r\n\r\n"
               % quote(json.dumps([["connection", "keep-alive"],
                                   ["content-length", "5"]])).encode())
        status, fields, body = w.response()
        self.assertEqual((status, body), (200, b"hello"))


if __name__ == "__main__":
    unittest.main()
