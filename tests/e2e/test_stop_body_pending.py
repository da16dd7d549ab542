#!/usr/bin/python3
"""TERM while a request body is still arriving.

Such a request kept its connection for --read-timeout (60 s by default),
longer than --graceful-timeout (30 s by default, 5 s in many rolling
updates): the master KILLed the worker at --graceful-timeout, so the
stop took all of it, the worker never ended in order and an ASGI
application's lifespan shutdown never ran.  A second before
--graceful-timeout the worker now ends the requests still arriving (503,
Connection: close; FastCGI: 503 and END_REQUEST), says so in the log and
exits on its own.

BodyPendingAtStop: a client that sent the head and a tenth of its body,
over HTTP with a native module (the body is read by bridge before
handle()) and with an ASGI application reading it as it arrives, and
over FastCGI with a native module.  ClientNotReading: a finished
response the client stopped taking (--write-timeout would hold it) is
closed then too.

AnsweredAcrossTheDeadline: what the application is still answering when
that second comes is left alone (an earlier attempt closed everything,
and behind nginx the busy connections of workers retiring after HUP were
other clients' requests): a response held by the application until the
deadline has passed (the warning is in the log) arrives whole, over HTTP
and over a FastCGI keep-conn connection, with an ASGI application and a
WSGI one on --threads 2, while a body still arriving on another
connection is cut.

All as root with --user nobody.
"""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402
from test_stop_half_head import (ADAPTER, APPS,                 # noqa: E402
                                 GRACEFUL_TIMEOUT, StopTest)

READ_TIMEOUT = 30       # s; what the pending body used to be given
WARNING = "--graceful-timeout %d s nearly over" % GRACEFUL_TIMEOUT
WAIT_BODY = b"first\n" + b"x" * 100000 + b"last\n"


class PendingStart(StopTest):
    """The same bridge as for half heads, with a --read-timeout that
    outlasts --graceful-timeout, and a FastCGI listener too."""

    def start(self, app_args, env=None):
        self.fcgi = ("127.0.0.1", h.free_port())
        return StopTest.start(self, app_args, env, timeout_args=[
            "--read-timeout", str(READ_TIMEOUT),
            "--fastcgi", "%s:%d" % self.fcgi])

    def send_body_part(self, addr, path):
        """An HTTP request whose head the worker has parsed (its 100
        Continue came) and a tenth of whose body was sent."""
        c = hh.RawHttp(addr, timeout=20)
        self.addCleanup(c.close)
        c.send(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
               b"Expect: 100-continue\r\n"
               b"Content-Type: application/octet-stream\r\n\r\n"
               % path.encode())
        self.assertEqual(c.read_head().status, 100)
        c.send(b"x" * 100)
        return c

    def fcgi_body_part(self, path):
        """A FastCGI POST (keep-conn) a tenth of whose body was sent; the
        GET_VALUES answer shows the worker read up to there."""
        params = h.request_params(path, "POST", b"x" * 1000)
        c = h.FcgiConn(self.fcgi, timeout=20)
        self.addCleanup(c.close)
        c.send(h.fcgi_record(h.FCGI_BEGIN_REQUEST, 1,
                             h.begin_body(flags=h.FCGI_KEEP_CONN)) +
               h.fcgi_stream(h.FCGI_PARAMS, 1, h.fcgi_pairs(params)) +
               h.fcgi_record(h.FCGI_STDIN, 1, b"x" * 100) +
               h.fcgi_record(h.FCGI_GET_VALUES, 0,
                             h.fcgi_pairs([("FCGI_MPXS_CONNS", "")])))
        self.assertEqual(c.read_record().type, h.FCGI_GET_VALUES_RESULT)
        return c

    def assert_503(self, c):
        """The client got 503 with Connection: close, then the close."""
        r = c.read_response()
        self.assertEqual(r.status, 503, r)
        self.assertIn("close", r.tokens("connection"))
        self.assertEqual(c.read_to_eof(10), b"")

    def stopped(self, t0):
        """bridge exited 0 on its own well before --graceful-timeout
        (nothing killed); returns the log."""
        rc = self.proc.wait(GRACEFUL_TIMEOUT + READ_TIMEOUT)
        took = time.monotonic() - t0
        log = h.read_text(self.log)
        self.assertNotIn("killing", log)
        self.assertEqual(rc, 0, log)
        self.assertLess(took, GRACEFUL_TIMEOUT, log)
        return log


class BodyPendingAtStop(PendingStart, unittest.TestCase):
    def stop_with_body_pending(self, addr, path):
        c = self.send_body_part(addr, path)
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.assert_503(c)
        log = self.stopped(t0)
        self.assertIn(WARNING + ": closed 1 connection waiting on the "
                      "client (1 with a request still arriving", log)
        return log

    def test_native_worker_ends_before_graceful_timeout(self):
        addr = self.start(["--module", h.PROBE_SO])
        self.stop_with_body_pending(addr, "/echo")

    def test_asgi_lifespan_shutdown_runs(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        state = h.TempDir(self, writable=True)
        mark = state.join("shutdown")
        addr = self.start(["--asgi", "asgi_spec:app", "--pythonpath", APPS,
                           "--env", "ASGI_SHUTDOWN_MARK=" + mark])
        self.stop_with_body_pending(addr, "/echo")
        self.assertTrue(os.path.exists(mark), "no lifespan shutdown")

    def test_fastcgi_request_ended_503(self):
        self.start(["--module", h.PROBE_SO])
        c = self.fcgi_body_part("/echo")
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        r = c.read_response(1)
        self.assertEqual(r.status, 503, r.stdout)
        self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
        self.assertTrue(c.is_closed(10))
        log = self.stopped(t0)
        self.assertIn(WARNING + ": closed 1 connection", log)


class ClientNotReading(PendingStart, unittest.TestCase):
    """A finished response the client stopped taking (--write-timeout
    outlasts --graceful-timeout) is closed at the deadline too."""

    def test_stalled_reader_closed(self):
        addr = self.start(["--module", h.PROBE_SO, "--write-timeout",
                           str(READ_TIMEOUT)])
        c = hh.RawHttp(addr, timeout=20, rcvbuf=4096)
        self.addCleanup(c.close)
        # 8 MB, far more than the sockets hold; the head read shows the
        # module ran (on the loop: it returned before TERM is seen).
        c.send(b"GET /big?8000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.read_head().status, 200)
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        log = self.stopped(t0)
        self.assertIn(WARNING + ": closed 1 connection waiting on the "
                      "client (0 with a request still arriving, 1 not "
                      "reading its response)", log)
        self.assertLess(len(c.read_to_eof(10)), 8000000)


class AnsweredAcrossTheDeadline(PendingStart, unittest.TestCase):
    def answered_whole(self, app_args, fastcgi, env=None):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        state = h.TempDir(self, writable=True)
        addr = self.start(app_args + ["--env", "STOP_DIR=" + state.path],
                          env)
        if fastcgi:
            busy = h.FcgiConn(self.fcgi, timeout=20)
            busy.send(h.request_bytes(rid=1, path="/wait",
                                      flags=h.FCGI_KEEP_CONN))
        else:
            busy = hh.RawHttp(addr, timeout=20)
            busy.send(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        self.addCleanup(busy.close)
        self.assertTrue(h.wait_for(
            lambda: os.path.exists(state.join("started"))), "not started")
        pending = self.send_body_part(addr, "/echo")
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        # The deadline passed with the response still held (the body
        # still arriving was cut, which the warning says); let it go.
        self.assertTrue(h.wait_for(lambda: WARNING in h.read_text(
            self.log), GRACEFUL_TIMEOUT), h.read_text(self.log))
        with open(state.join("go"), "w") as f:
            f.write("go\n")
        if fastcgi:
            r = busy.read_response(1)
            self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
            self.assertEqual((r.status, r.body), (200, WAIT_BODY))
            self.assertTrue(busy.is_closed(10))
        else:
            r = busy.read_response()
            self.assertEqual((r.status, r.body), (200, WAIT_BODY))
            self.assertEqual(busy.read_to_eof(10), b"")
        self.assert_503(pending)
        log = self.stopped(t0)
        self.assertIn(WARNING + ": closed 1 connection waiting on the "
                      "client (1 with a request still arriving, 0 not "
                      "reading its response); 1 left to finish", log)
        return state

    def asgi(self, fastcgi):
        state = self.answered_whole(["--asgi", "asgi_stop_wait:app",
                                     "--pythonpath", APPS], fastcgi)
        self.assertTrue(os.path.exists(state.join("shutdown")),
                        "no lifespan shutdown")

    def wsgi(self, fastcgi):
        env = None
        if h.SANITIZED:
            # Workers run LeakSanitizer before they exit; with Python's
            # threads in them, clang 14's tracer dies on their dynamic
            # TLS ("Tracer caught signal 11"), as in test_wsgi_threads.py
            # (only here: OpenSSL, which ASGI's event loop loads, keeps
            # per-thread state there).
            env = {"LSAN_OPTIONS": os.environ.get("LSAN_OPTIONS", "") +
                   ":use_tls=0"}
        self.answered_whole(["--wsgi", "stop_wait:app", "--threads", "2",
                             "--pythonpath", os.path.join(APPS, "wsgi")],
                            fastcgi, env)

    def test_asgi_http(self):
        self.asgi(False)

    def test_asgi_fastcgi_keep_conn(self):
        self.asgi(True)

    def test_wsgi_threads_http(self):
        self.wsgi(False)

    def test_wsgi_threads_fastcgi_keep_conn(self):
        self.wsgi(True)


class ProgressAcrossTheDeadline(PendingStart, unittest.TestCase):
    def test_quiet_module_keeps_its_response(self):
        """An upload whose response began at once ("started"), the
        application then quiet while the body arrives: at the deadline
        the client is reading all there is, so the connection is the
        application's, not cut (it was, for having taken no output for a
        second); the rest of the body, sent after the deadline, gets its
        answer, while a body still arriving elsewhere gets 503."""
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        addr = self.start(["--asgi", "asgi_spec:app", "--pythonpath", APPS])
        up = hh.RawHttp(addr, timeout=20)
        self.addCleanup(up.close)
        up.send(b"POST /progress HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 1000\r\n\r\n" + b"x" * 100)
        self.assertEqual(up.read_head().status, 200)
        while b"started" not in up.buf:
            up._more()
        pending = self.send_body_part(addr, "/echo")
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.assertTrue(h.wait_for(lambda: WARNING in h.read_text(
            self.log), GRACEFUL_TIMEOUT), h.read_text(self.log))
        up.send(b"x" * 900)
        self.assertIn(b"got 1000", up.read_to_eof(10))
        self.assert_503(pending)
        log = self.stopped(t0)
        self.assertIn(WARNING + ": closed 1 connection waiting on the "
                      "client (1 with a request still arriving, 0 not "
                      "reading its response); 1 left to finish", log)


if __name__ == "__main__":
    h.main()
