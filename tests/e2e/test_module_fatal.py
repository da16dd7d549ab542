#!/usr/bin/python3
"""worker_init() returning BG_FATAL (gateway.h, ABI 2): a native module
whose application refuses to start in a worker that replaces another
(--max-requests 1) stops bridge with exit status 1 and the module's
message; the same module built as ABI 1 keeps ABI 1's meaning (-2 is a
failure like -1: the worker is restarted with back-off and bridge runs
on).  tests/apps/fatalinit.c refuses while its flag file exists.  bridge
runs as root with --user nobody, as users run it."""
import os
import re
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port, wait_for                  # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
LIBS = os.path.join(BUILDDIR, "tests/apps/.libs")


class FatalWorkerInitTest(unittest.TestCase):
    def start(self, module):
        path = os.path.join(LIBS, module)
        if not os.path.exists(path):
            self.fail("module %s not built" % path)
        self.tmp = harness.TempDir(self)
        self.flag = self.tmp.join("fail")
        self.log_path = self.tmp.join("bridge.log")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--module",
             path, "--module-arg", self.flag, "-w", "1",
             "--max-requests", "1", "--error-log", self.log_path]
            + harness.user_args(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_bridge, self.proc, self.log_path)
        ok = wait_for(lambda: self.proc.poll() is not None or
                      "module %s loaded" % path in self.log(), 30)
        self.assertTrue(ok and self.proc.poll() is None, self.log())
        # The next worker refuses; this request recycles the first.
        with open(self.flag, "w"):
            pass
        url = "http://127.0.0.1:%d/" % self.port
        with urllib.request.urlopen(url, timeout=20) as r:
            self.assertEqual(r.read(), b"fatalinit ok\n")

    def log(self):
        return harness.read_text(self.log_path)

    def test_abi2_fatal_in_replacement_worker_stops_bridge(self):
        self.start("fatalinit.so")
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("bridge kept running:\n" + self.log())
        log = self.log()
        self.assertEqual(rc, 1, log)
        self.assertEqual(len(re.findall(
            r"the application failed to start: fatalinit: the database "
            r"is gone; stopping", log)), 1, log)
        self.assertEqual(log.count("] fatalinit: the database is gone"),
                         1, log)

    def test_abi1_module_is_restarted_as_before(self):
        self.start("fatalinit_abi1.so")
        # Two respawns in a row: the back-off of any failed start.
        self.assertTrue(wait_for(lambda: self.proc.poll() is not None or
                                 self.log().count("respawning") >= 2, 30),
                        self.log())
        self.assertIsNone(self.proc.poll(), self.log())
        self.assertNotIn("the application failed to start", self.log())


if __name__ == "__main__":
    unittest.main()
