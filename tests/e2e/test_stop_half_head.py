#!/usr/bin/python3
"""TERM while an HTTP client has sent only part of a request head.

Such a client used to keep its worker for its whole --header-timeout:
with --graceful-timeout shorter (as deployments set it, e.g. 5 s for a
rolling update and the default 20 s --header-timeout), the master
killed the worker at --graceful-timeout, bridge's stop took all of it,
and an ASGI application's lifespan shutdown never ran.  A half-sent
head is now given the drain window idle connections get on TERM
(about a second), then closed: the worker exits on its own, at once.

Checked for a fresh connection and for a keep-alive one that has had an
answer, with a native module and with an ASGI application (its lifespan
shutdown runs), as root with --user nobody.
"""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

GRACEFUL_TIMEOUT = 4    # s; the worker must be gone well before
HEADER_TIMEOUT = 30     # s; what the half heads used to be given
APPS = os.path.join(h.SRCDIR, "tests", "apps")
ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                       "python.so")


class StopTest:
    """bridge as users run it, to be stopped (also test_stop_body_pending)."""

    def start(self, app_args, env=None, timeout_args=None):
        """bridge with one worker, --graceful-timeout GRACEFUL_TIMEOUT and
        timeout_args (default: a --header-timeout that outlasts it)."""
        if timeout_args is None:
            timeout_args = ["--header-timeout", str(HEADER_TIMEOUT)]
        self.tmp = h.TempDir(self)
        self.log = self.tmp.join("error.log")
        port = h.free_port()
        e = dict(os.environ, **(env or {}))
        # As users run it: root with --user nobody, not --allow-root.
        e.pop("BRIDGE_ALLOW_ROOT", None)
        out = open(self.tmp.join("stdout"), "wb")
        self.addCleanup(out.close)
        self.proc = subprocess.Popen(
            [h.BRIDGE, "--http", "127.0.0.1:%d" % port, "-w", "1",
             "--graceful-timeout", str(GRACEFUL_TIMEOUT)] + timeout_args +
            ["--error-log", self.log] + app_args + h.user_args(),
            env=e, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
        self.addCleanup(h.stop_process, self.proc, signal.SIGKILL)
        h.wait_port("127.0.0.1", port, proc=self.proc)
        return ("127.0.0.1", port)


class HalfHeadAtStop(StopTest, unittest.TestCase):
    def stop_with_half_heads(self, addr, path):
        # A keep-alive connection that has had its answer, then the
        # start of its next request; and a fresh one's first bytes.
        kept = hh.RawHttp(addr, timeout=20)
        self.assertEqual(kept.request(path).status, 200)
        kept.send(b"GET %s HTTP/1.1\r\nHo" % path.encode())
        fresh = hh.RawHttp(addr, timeout=20)
        fresh.send(b"GET / HT")
        t0 = time.monotonic()
        rc = h.stop_process(self.proc, signal.SIGTERM,
                            GRACEFUL_TIMEOUT + HEADER_TIMEOUT)
        took = time.monotonic() - t0
        log = h.read_text(self.log)
        self.assertNotIn("killing", log)
        self.assertEqual(rc, 0, log)
        self.assertLess(took, GRACEFUL_TIMEOUT, log)
        for c in (kept, fresh):
            self.assertEqual(c.read_to_eof(5), b"")
            c.close()
        return log

    def test_native_worker_exits_before_graceful_timeout(self):
        addr = self.start(["--module", h.PROBE_SO])
        self.stop_with_half_heads(addr, "/")

    def test_asgi_lifespan_shutdown_runs(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        state = h.TempDir(self, writable=True)
        mark = state.join("shutdown")
        addr = self.start(["--asgi", "asgi_spec:app", "--pythonpath", APPS,
                           "--env", "ASGI_SHUTDOWN_MARK=" + mark])
        self.stop_with_half_heads(addr, "/state")
        self.assertTrue(os.path.exists(mark), "no lifespan shutdown")


if __name__ == "__main__":
    h.main()
