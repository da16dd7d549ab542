#!/usr/bin/python3
"""
Workers that die, hang or wear out (issue 5 part 2), with the error log
line the master writes for each:

    kill -9 under load  only that worker's in-flight requests fail; a
                        replacement serves within a second
                        ("killed by signal 9")
    /crash              replaced, the next request succeeds
    quick deaths        back-off that grows ("respawning in N ms")
    --timeout           504 over HTTP and FastCGI after ~1 s, worker
                        replaced ("ran past --timeout"), the other
                        worker keeps answering
    --max-requests      the worker is recycled ("recycled"); with
                        --max-requests-jitter after N..N+jitter requests
    --startup-timeout   a module slow to start (probe init-sleep=MS):
                        killed past it, bridge stops with one line;
                        a slow start within it is not a hung request
                        for --timeout

Load and the small clients come from test_process.py.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402
import test_process as tp                                       # noqa: E402


class Deaths(unittest.TestCase):
    def test_kill_9_under_load(self):
        nthreads = 6
        b = hh.HttpBridge(self, workers=2, extra=["--backlog", "4096"])
        old = b.workers()
        self.assertEqual(len(old), 2)
        load = tp.Load(b.port, threads=nthreads).start()
        self.addCleanup(load.done.set)
        # Past the quick-death window: a plain respawn, no back-off.
        time.sleep(1.2)
        victim = old[0]
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        served = h.wait_for(lambda: load.pids(since=t_kill) - set(old),
                            h.TIMEOUT, 0.01)
        self.assertTrue(served, "no replacement answered after the kill; "
                        "workers %s" % b.workers())
        # The load goes on against the new set for a while.
        t_new = time.monotonic()
        h.wait_for(lambda: len([t for t, _ in load.ok if t > t_new]) >= 20)
        load.stop()
        new = (set(b.workers()) - set(old))
        self.assertEqual(len(new), 1, b.workers())
        self.assertIn(old[1], b.workers())
        # Only what was in flight on the killed worker: at most one
        # request per client thread, all of them at the moment of the
        # kill.
        sys.stderr.write("\nkill -9 under load: %d ok, %d failed: %s\n"
                         % (len(load.ok), len(load.failed),
                            [f for _, f in load.failed][:3]))
        self.assertLessEqual(len(load.failed), nthreads, load.failed)
        for t, what in load.failed:
            self.assertLess(abs(t - t_kill), 3.0,
                            "a failure away from the kill: %s" % what)
        self.assertGreater(len([t for t, _ in load.ok if t > t_new]), 0)
        # A plain respawn, no back-off ("respawning in N ms").
        b.wait_log(r"worker \d \(pid %d\) killed by signal 9 \(Killed\); "
                   r"respawning\n" % victim)
        b.stop()

    def test_crash_replaced_next_request_succeeds(self):
        b = hh.HttpBridge(self, workers=1)
        old = tp.get_pid(b.port)
        with self.assertRaises(Exception):
            h.http_request(b.port, path="/crash", timeout=5)
        new = tp.get_pid(b.port)
        self.assertNotEqual(new, old)
        self.assertEqual(tp.get_pid(b.port), new)
        b.wait_log(r"worker 0 \(pid %d\) killed by signal 11 "
                   r"\(Segmentation fault\)" % old)
        b.stop()

    def crash_fresh_worker(self, b):
        """Crash the worker as soon as it answers; returns the seconds
        from the crash until a new one answered."""
        with self.assertRaises(Exception):
            h.http_request(b.port, path="/crash", timeout=5)
        t0 = time.monotonic()
        tp.get_pid(b.port, timeout=15)
        return time.monotonic() - t0

    def test_quick_deaths_back_off(self):
        b = hh.HttpBridge(self, workers=1)
        tp.get_pid(b.port)
        waits = [self.crash_fresh_worker(b) for _ in range(5)]
        delays = [int(d) for d in re.findall(r"respawning in (\d+) ms",
                                             b.log())]
        sys.stderr.write("\nback-off delays logged %s, waited %s\n"
                         % (delays, ["%.2f" % w for w in waits]))
        self.assertGreaterEqual(len(delays), 4, b.log())
        for a, c in zip(delays, delays[1:]):
            self.assertGreater(c, a, "back-off did not grow: %s" % delays)
        # The master really waits that long before the next worker.
        self.assertGreater(waits[-1], delays[-1] / 1000.0 - 0.05)
        self.assertRegex(b.log(), r"killed by signal 11 \(Segmentation "
                         r"fault\) \d+ times in a row within 1000 ms of "
                         r"starting; respawning in \d+ ms")
        # A worker that lived past the window starts the count afresh.
        time.sleep(1.2)
        tp.get_pid(b.port)
        n = len(delays)
        with self.assertRaises(Exception):
            h.http_request(b.port, path="/crash", timeout=5)
        tp.get_pid(b.port)
        b.wait_log(r"\(Segmentation fault\); respawning\n")
        self.assertEqual(len(re.findall(r"respawning in (\d+) ms",
                                        b.log())), n)
        b.stop()


class Timeouts(unittest.TestCase):
    def others_answer_meanwhile(self, b, slow):
        """Fast requests, one at a time, answered while slow is running
        (so not queued behind it).

        They start once the slow request is in the application: a
        connection accepted by the same worker in the same wakeup as the
        slow request would wait behind it (one event loop per worker),
        which is not what this checks."""
        tp.in_flight(b)
        answered = 0
        while slow.is_alive() and answered < 20:
            tp.get_pid(b.port)
            if slow.is_alive():
                answered += 1
            time.sleep(0.05)
        self.assertGreater(answered, 1, "fast requests were answered only "
                           "after the stuck one")

    def test_http_504_after_timeout(self):
        b = hh.HttpBridge(self, workers=2, extra=["--timeout", "1"])
        old = set(b.workers())
        slow = tp.Slow(b.port, "/sleep?3000")
        self.others_answer_meanwhile(b, slow)
        res = slow.get()
        self.assertIsInstance(res, tuple, repr(res))
        st, body, took = res
        self.assertEqual(st, 504, body)
        # 504, not the app's 200 after 3 s: the timeout answered.
        self.assertGreater(took, 0.9)
        m = b.wait_log(r"worker (\d) \(pid (\d+)\) replaced after a "
                       r"request ran past --timeout 1 s")
        stuck = int(m.group(2))
        self.assertIn(stuck, old)
        self.assertRegex(b.log(), r"worker %s \(pid %d\): a request has "
                         r"run for more than --timeout 1 s; answering 504"
                         % (m.group(1), stuck))
        now = h.wait_for(lambda: len(b.workers()) == 2 and
                         stuck not in b.workers() and b.workers(), 2)
        self.assertTrue(now, b.workers())
        self.assertEqual(len(set(now) & old), 1)
        # No back-off for a timed-out worker: both serve at once.
        self.assertNotIn("respawning in", b.log())
        b.stop()

    def test_fastcgi_504_after_timeout(self):
        b = h.Bridge(self, workers=2, extra=["--timeout", "1"])
        c = b.connect()
        self.addCleanup(c.close)
        t0 = time.monotonic()
        c.send(h.request_bytes(path="/sleep?3000"))
        fast = []
        answered = threading.Event()

        def others():
            tp.in_flight(b)     # see others_answer_meanwhile
            while not answered.is_set() and len(fast) < 20:
                with b.connect(timeout=5) as f:
                    r = f.request(path="/pid")
                if not answered.is_set():
                    fast.append((r.status, 0))
                time.sleep(0.05)
        th = threading.Thread(target=others, daemon=True)
        th.start()
        r = c.read_response()
        answered.set()
        took = time.monotonic() - t0
        th.join(10)
        self.assertEqual(r.status, 504, r.stdout)
        self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
        # 504, not the app's 200 after 3 s: the timeout answered.
        self.assertGreater(took, 0.9)
        self.assertGreater(len(fast), 1)
        self.assertEqual({s for s, _ in fast}, {200})
        m = b.wait_log(r"worker \d \(pid (\d+)\) replaced after a request "
                       r"ran past --timeout 1 s")
        self.assertTrue(h.wait_for(
            lambda: int(m.group(1)) not in hh.worker_pids(b.proc.pid) and
            len(hh.worker_pids(b.proc.pid)) == 2, 2))
        b.stop()

    def test_timeout_zero_means_none(self):
        b = hh.HttpBridge(self, workers=1, extra=["--timeout", "0"])
        st, _, body = h.http_request(b.port, path="/sleep?1500")
        self.assertEqual((st, body), (200, b"slept\n"))
        self.assertNotIn("--timeout", b.log())
        b.stop()

    def test_startup_timeout(self):
        tmp = h.TempDir(self)
        log = tmp.join("bridge.log")
        port = h.free_port()
        t0 = time.monotonic()
        out = subprocess.run(
            [h.BRIDGE, "--http", "127.0.0.1:%d" % port, "--module",
             h.PROBE_SO, "--module-arg", "init-sleep=20000", "-w", "1",
             "--startup-timeout", "1", "--error-log", log] + h.user_args(),
            capture_output=True, timeout=30)
        took = time.monotonic() - t0
        text = h.read_text(log)
        self.assertEqual(out.returncode, 1, text)
        self.assertLess(took, 10, "the start-up timeout did not fire")
        self.assertRegex(text, r"worker 0 \(pid \d+\) did not start the "
                         r"application within --startup-timeout 1 s; "
                         r"killing it")
        self.assertIn("could not start the application (see above); "
                      "stopping", text)
        # Stopped, not respawned over and over.
        self.assertEqual(len(re.findall("did not start", text)), 1, text)

    def test_slow_start_is_not_a_hung_request(self):
        """A start-up longer than --timeout is the start-up timeout's
        business: the worker is not killed for it and then serves."""
        b = hh.HttpBridge(self, workers=1, extra=[
            "--module-arg", "init-sleep=2000", "--timeout", "1",
            "--startup-timeout", "10"])
        t0 = time.monotonic()
        st, _, body = h.http_request(b.port, path="/", timeout=15)
        self.assertEqual((st, body), (200, b"probe\n"))
        self.assertGreater(time.monotonic() - t0, 1.0)
        self.assertNotIn("--timeout", b.log())
        self.assertNotIn("killing it", b.log())
        b.stop()


class Recycle(unittest.TestCase):
    def test_max_requests(self):
        b = hh.HttpBridge(self, workers=1, extra=["--max-requests", "5"])
        pids = [tp.get_pid(b.port) for _ in range(12)]
        self.assertEqual(len(set(pids[:5])), 1, pids)
        self.assertEqual(len(set(pids[5:10])), 1, pids)
        self.assertNotEqual(pids[4], pids[5], pids)
        self.assertNotEqual(pids[9], pids[10], pids)
        b.wait_log(r"worker 0 served its --max-requests; recycling")
        b.wait_log(r"worker 0 \(pid %d\) recycled" % pids[0])
        self.assertNotIn("respawning", b.log())
        b.stop()

    def test_max_requests_jitter(self):
        b = hh.HttpBridge(self, workers=1, extra=[
            "--max-requests", "5", "--max-requests-jitter", "3"])
        pids = [tp.get_pid(b.port) for _ in range(90)]
        runs = []
        for p in pids:
            if runs and runs[-1][0] == p:
                runs[-1][1] += 1
            else:
                runs.append([p, 1])
        complete = [n for _, n in runs[:-1]]
        self.assertGreaterEqual(len(complete), 10, runs)
        for n in complete:
            self.assertTrue(5 <= n <= 8, "a worker served %d requests "
                            "with --max-requests 5 and jitter 3: %s"
                            % (n, complete))
        # The jitter is applied: not every worker stopped at exactly 5
        # (each does with probability 1/4; all of 10 or more: < 1e-6).
        self.assertGreater(len(set(complete)), 1,
                           "every worker served exactly %s" % complete)
        b.stop()

    def test_jitter_alone_accepted(self):
        b = hh.HttpBridge(self, workers=1, extra=["--max-requests-jitter",
                                                  "10"])
        pids = {tp.get_pid(b.port) for _ in range(20)}
        self.assertEqual(len(pids), 1)
        b.stop()


if __name__ == "__main__":
    h.main()
