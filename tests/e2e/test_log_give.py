"""USR1 under --user must not give an arbitrary file to the workers' user.

On USR1 the root master reopens the logs and gives them to --user so that
the workers can reopen them too (logrotate).  A worker that could write
the log directory might replace error.log by a symbolic or hard link to a
file of root's (/etc/shadow) before the next rotation: the master would
then open that file and give it away (nginx's CVE-2016-1247).  Only a
regular file with one link, named without a symbolic link, is given.
"""
import os
import signal
import subprocess
import unittest

import harness as h
from harness import BRIDGE, HELLO_SO


class LogGive(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            msg = "needs root: the master gives files to --user"
            if os.environ.get("BRIDGE_REQUIRE_PEERS") == "1":
                self.fail(msg)
            self.skipTest(msg)
        self.tmp = h.TempDir(self)
        self.secret = self.tmp.join("secret")
        with open(self.secret, "w") as f:
            f.write("root's\n")
        os.chmod(self.secret, 0o600)
        self.logdir = self.tmp.join("logs")
        os.mkdir(self.logdir)
        self.log = os.path.join(self.logdir, "error.log")
        self.port = h.free_port()
        self.proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % self.port, "--module",
             HELLO_SO, "--user", "nobody", "--error-log", self.log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.addCleanup(h.stop_process, self.proc)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)
        self.assertTrue(h.wait_for(lambda: "serving on" in h.read_text(
            self.log)))

    def rotate_to(self, make_link):
        os.rename(self.log, self.log + ".1")
        make_link(self.secret, self.log)
        self.proc.send_signal(signal.SIGUSR1)
        self.assertTrue(h.wait_for(lambda: "logs reopened" in h.read_text(
            self.secret)), h.read_text(self.log + ".1"))
        st = os.stat(self.secret)
        self.assertEqual(st.st_uid, 0, "the master gave root's file away")
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertIn("not given to the workers' user",
                      h.read_text(self.secret))
        self.assertEqual(h.stop_process(self.proc), 0)

    def test_symlink_in_place_of_the_log_not_given(self):
        self.rotate_to(os.symlink)

    def test_hard_link_in_place_of_the_log_not_given(self):
        self.rotate_to(os.link)


if __name__ == "__main__":
    h.main()
