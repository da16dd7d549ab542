#!/usr/bin/python3
"""TERM while a request body is still arriving.

Such a request keeps its connection for --read-timeout (60 s by
default), longer than --graceful-timeout (30 s by default, 5 s in many
rolling updates): the master used to KILL the worker at
--graceful-timeout, so the worker never ended in order and an ASGI
application's lifespan shutdown never ran.  The worker now closes what
is left a second before --graceful-timeout and ends as a stopping worker
does, saying so in the log.

A client that sent the head and a tenth of its body, over HTTP, with a
native module (the body is read by bridge before handle()) and with an
ASGI application reading it as it arrives; as root with --user nobody.
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


class BodyPendingAtStop(StopTest, unittest.TestCase):
    """The same bridge as for half heads, with a --read-timeout that
    outlasts --graceful-timeout."""

    def start(self, app_args):
        return StopTest.start(self, app_args, timeout_args=[
            "--read-timeout", str(READ_TIMEOUT)])

    def stop_with_body_pending(self, addr, path):
        c = hh.RawHttp(addr, timeout=20)
        self.addCleanup(c.close)
        c.send(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
               b"Content-Type: application/octet-stream\r\n\r\n"
               % path.encode() + b"x" * 100)
        # The worker has the request (its body partly read) before TERM.
        time.sleep(0.5)
        t0 = time.monotonic()
        rc = h.stop_process(self.proc, signal.SIGTERM,
                            GRACEFUL_TIMEOUT + READ_TIMEOUT)
        took = time.monotonic() - t0
        log = h.read_text(self.log)
        self.assertNotIn("killing", log)
        self.assertEqual(rc, 0, log)
        self.assertLess(took, GRACEFUL_TIMEOUT, log)
        self.assertIn("--graceful-timeout %d s nearly over with 1 "
                      "connection open; closing it" % GRACEFUL_TIMEOUT, log)
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


if __name__ == "__main__":
    h.main()
