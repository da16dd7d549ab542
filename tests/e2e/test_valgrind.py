#!/usr/bin/python3
"""bridge under valgrind, as a module's author runs it to find the
module's memory errors: `valgrind --trace-children=yes bridge ...`.

The process titles (bridge/processes/proctitle.c) used to be written
over the memory /proc/self/stat names as the command line, which under
valgrind is valgrind's own: memcheck reported "Invalid write" in
proctitle_set() and every worker exited with status 1 before serving.
Under valgrind bridge now leaves the titles alone."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")


@unittest.skipIf(harness.SANITIZED,
                 "under ASan: an ASan build does not run under valgrind")
class UnderValgrind(unittest.TestCase):
    def setUp(self):
        self.valgrind, self.curl = harness.require(self, "valgrind",
                                                   "curl")
        self.dir = tempfile.mkdtemp(prefix="bridge-vg-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.proc = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def start(self, *args):
        self.log = os.path.join(self.dir, "vg.%p.log")
        self.err = open(os.path.join(self.dir, "bridge.log"), "w+")
        self.addCleanup(self.err.close)
        self.proc = subprocess.Popen(
            [self.valgrind, "-q", "--trace-children=yes",
             "--log-file=" + self.log, "--error-exitcode=99", BRIDGE,
             "--http", "127.0.0.1:%d" % self.port, "-w", "1"]
            + list(args) + harness.user_args(),
            stdout=subprocess.DEVNULL, stderr=self.err)

    def get(self):
        """GET / until a worker answers (valgrind starts slowly)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.assertIsNone(self.proc.poll(), self.output())
            r = subprocess.run(
                [self.curl, "-s", "-m", "5", "-o", "-", "-w",
                 "\n%{http_code}", "http://127.0.0.1:%d/" % self.port],
                capture_output=True, text=True)
            if r.stdout.endswith("200"):
                return r.stdout
            time.sleep(0.5)
        self.fail("no 200 within 60 s under valgrind\n" + self.output())

    def output(self):
        self.err.seek(0)
        text = self.err.read()
        for name in sorted(os.listdir(self.dir)):
            if name.startswith("vg."):
                with open(os.path.join(self.dir, name)) as f:
                    text += "\n--- %s\n%s" % (name, f.read())
        return text

    def test_native_module_serves_and_stops_clean(self):
        self.start("--module", harness.HELLO_SO)
        self.assertIn("Hello", self.get())
        # The worker stays: no "exited with status 1" respawn loop.
        self.assertNotRegex(self.output(), r"exited with status")
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("bridge did not stop under valgrind\n"
                      + self.output())
        out = self.output()
        # --error-exitcode=99: memcheck found nothing in the master.
        self.assertEqual(rc, 0, out)
        self.assertNotIn("Invalid write", out)
        self.assertNotIn("proctitle", out)
        self.assertFalse(re.search(r"worker 0 \(pid \d+\) exited", out),
                         out)


if __name__ == "__main__":
    unittest.main()
