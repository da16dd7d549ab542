#!/usr/bin/python3
"""A worker that stops by itself, with a request body still arriving.

On TERM a worker cuts, a second before --graceful-timeout, what only
waits on its client (test_stop_body_pending.py) and ends in order.  A
worker that decided to stop by itself (--max-requests here; also
--max-worker-memory and --reload, which stop the same way) did not: a
client still sending its body kept the worker for its whole
--read-timeout, and with one worker nothing accepted meanwhile.  Now
every stop has the same deadline.

BodyPendingAtRecycle: --max-requests 1; a request whose body is still
arriving on one connection, then a request on another ends the worker's
quota.  The first client gets 503 with Connection: close (FastCGI: 503
and END_REQUEST) before --graceful-timeout, the worker exits on its own
(the master logs it recycled, nothing is killed; an ASGI application's
lifespan shutdown runs) and the next worker answers.

HeldPastGracefulTimeout: what the module still answers is never cut by
the worker; the master kills such a worker --graceful-timeout after it
began to stop, as on TERM (it used to wait for it as long as the
module took), and starts another.  The same for the old worker of a
reload (HUP), counted from when it was told to stop.

All as root with --user nobody.
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
from test_stop_body_pending import PendingStart                 # noqa: E402
from test_stop_half_head import ADAPTER, APPS, GRACEFUL_TIMEOUT  # noqa: E402

WARNING = "--graceful-timeout %d s nearly over" % GRACEFUL_TIMEOUT
RECYCLE = ["--max-requests", "1"]
WSGI_APPS = os.path.join(h.SRCDIR, "tests", "apps", "wsgi")


class SelfStop(PendingStart):
    def quota_used(self, addr):
        """A request on a connection of its own: the worker's one."""
        r = hh.RawHttp(addr, timeout=20)
        self.addCleanup(r.close)
        self.assertEqual(r.request("/echo", method="POST",
                                   body=b"abc").status, 200)

    def log_has(self, text, timeout):
        return h.wait_for(lambda: text in h.read_text(self.log), timeout)

    def recycled_in_order(self, addr):
        """The worker ended by itself, the master says so and killed
        nothing, and the next worker answers; returns the log."""
        self.assertTrue(self.log_has(") recycled", 2 * GRACEFUL_TIMEOUT),
                        h.read_text(self.log))
        log = h.read_text(self.log)
        self.assertNotIn("killing", log)
        self.assertNotIn("killed", log)
        self.quota_used(addr)
        return log


class BodyPendingAtRecycle(SelfStop, unittest.TestCase):
    def body_pending(self, app_args):
        addr = self.start(app_args + RECYCLE)
        pending = self.send_body_part(addr, "/echo")
        self.quota_used(addr)
        self.assert_503(pending)
        log = self.recycled_in_order(addr)
        self.assertIn(WARNING + ": closed 1 connection waiting on the "
                      "client (1 with a request still arriving", log)

    def test_native_http(self):
        self.body_pending(["--module", h.PROBE_SO])

    def test_asgi_http_lifespan_shutdown_runs(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        state = h.TempDir(self, writable=True)
        mark = state.join("shutdown")
        self.body_pending(["--asgi", "asgi_spec:app", "--pythonpath", APPS,
                           "--env", "ASGI_SHUTDOWN_MARK=" + mark])
        self.assertTrue(os.path.exists(mark), "no lifespan shutdown")

    def test_native_fastcgi(self):
        addr = self.start(["--module", h.PROBE_SO] + RECYCLE)
        c = self.fcgi_body_part("/echo")
        self.quota_used(addr)
        r = c.read_response(1)
        self.assertEqual(r.status, 503, r.stdout)
        self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
        self.assertTrue(c.is_closed(10))
        log = self.recycled_in_order(addr)
        self.assertIn(WARNING + ": closed 1 connection", log)


class HeldPastGracefulTimeout(SelfStop, unittest.TestCase):
    def test_master_kills_at_graceful_timeout(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        state = h.TempDir(self, writable=True)
        addr = self.start(["--asgi", "asgi_stop_wait:app", "--pythonpath",
                           APPS, "--env", "STOP_DIR=" + state.path] +
                          RECYCLE)
        held = hh.RawHttp(addr, timeout=20)
        self.addCleanup(held.close)
        held.send(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(h.wait_for(
            lambda: os.path.exists(state.join("started"))), "not started")
        t0 = time.monotonic()
        self.quota_used(addr)
        self.assertTrue(self.log_has("still stopping after "
                                     "--graceful-timeout %d s; killing it"
                                     % GRACEFUL_TIMEOUT,
                                     4 * GRACEFUL_TIMEOUT),
                        h.read_text(self.log))
        # Not before the graceful timeout (a whole second of margin
        # below it, for the clocks of two processes).
        self.assertGreater(time.monotonic() - t0, GRACEFUL_TIMEOUT - 1)
        self.assertTrue(self.log_has("killed at the end of its stop; "
                                     "replaced", 10), h.read_text(self.log))
        # Its response was cut with the worker: never finished.
        self.assertNotIn(b"last\n", held.read_to_eof(10))
        self.quota_used(addr)

    def test_reload_old_worker_killed_at_graceful_timeout(self):
        """Told to stop by a reload (HUP), the old worker is given as
        long, counted from then (the master used to wait for it as long
        as the module took)."""
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        state = h.TempDir(self, writable=True)
        addr = self.start(["--asgi", "asgi_stop_wait:app", "--pythonpath",
                           APPS, "--env", "STOP_DIR=" + state.path])
        held = hh.RawHttp(addr, timeout=20)
        self.addCleanup(held.close)
        held.send(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(h.wait_for(
            lambda: os.path.exists(state.join("started"))), "not started")
        self.proc.send_signal(signal.SIGHUP)
        t0 = time.monotonic()
        self.assertTrue(self.log_has("reload done: 1 old worker retiring",
                                     20), h.read_text(self.log))
        self.assertTrue(self.log_has("still stopping after "
                                     "--graceful-timeout %d s; killing it"
                                     % GRACEFUL_TIMEOUT,
                                     4 * GRACEFUL_TIMEOUT),
                        h.read_text(self.log))
        # Not at once: counted from when the old worker was told, which
        # comes after the HUP (t0 is taken before it is sent).
        self.assertGreater(time.monotonic() - t0, GRACEFUL_TIMEOUT - 1)
        self.assertNotIn(b"last\n", held.read_to_eof(10))
        self.quota_used(addr)


class TtinAfterTtou(SelfStop, unittest.TestCase):
    """TTIN while the worker a TTOU stopped still finishes a request: a
    new worker in its slot would share its scoreboard entry (its stop,
    its --timeout clock), so none is added until it has ended, and
    TTIN says so; then TTIN adds one."""

    def test_ttin_waits_for_the_ttou_worker(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        addr = self.start(["--wsgi", "threads:app", "--pythonpath",
                           WSGI_APPS, "-w", "2"])
        self.assertTrue(self.log_has("serving on", 20),
                        h.read_text(self.log))
        # A synchronous worker holds one request at a time: two held
        # requests, the second sent once the first is held (a worker
        # accepts what is waiting before it runs any), hold both
        # workers, the TTOU one among them.
        for n in (1, 2):
            c = hh.RawHttp(addr, timeout=30)
            self.addCleanup(c.close)
            c.send(b"GET /?sleep=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                   % (4 * GRACEFUL_TIMEOUT))
            self.assertTrue(h.wait_for(
                lambda: len(self.busy_workers()) == n, 20),
                "%d workers not busy: %s" % (n, subprocess.run(
                    ["ps", "-o", "pid=,args=,wchan=", "--ppid",
                     str(self.proc.pid)], capture_output=True,
                    text=True).stdout))
        self.proc.send_signal(signal.SIGTTOU)
        self.assertTrue(self.log_has("TTOU: 1 workers", 10))
        self.proc.send_signal(signal.SIGTTIN)
        self.assertTrue(self.log_has("is still stopping after TTOU; not "
                                     "adding one until it has", 10),
                        h.read_text(self.log))
        self.assertNotIn("TTIN: 2 workers", h.read_text(self.log))
        # Its stop has TTOU's deadline: killed --graceful-timeout on.
        self.assertTrue(self.log_has("still stopping after "
                                     "--graceful-timeout %d s; killing it"
                                     % GRACEFUL_TIMEOUT,
                                     4 * GRACEFUL_TIMEOUT),
                        h.read_text(self.log))
        self.assertTrue(self.log_has("not replaced", 10),
                        h.read_text(self.log))
        self.proc.send_signal(signal.SIGTTIN)
        self.assertTrue(self.log_has("TTIN: 2 workers", 10),
                        h.read_text(self.log))

    def busy_workers(self):
        """The master's children asleep in the application's
        time.sleep() (clock_nanosleep, 230 on x86-64; nanosleep, 35)
        rather than waiting for connections."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid",
                              str(self.proc.pid)], capture_output=True,
                             text=True).stdout.split()
        busy = []
        for pid in out:
            try:
                with open("/proc/%s/syscall" % pid) as f:
                    nr = f.read().split()[0]
            except (OSError, IndexError):
                continue
            if nr in ("230", "35"):
                busy.append(pid)
        return busy

if __name__ == "__main__":
    h.main()
