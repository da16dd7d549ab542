#!/usr/bin/python3
"""--user/--group (workers drop privileges after the master bound the
port, checked from /proc), --umask, --pidfile, and their start-up errors."""
import os
import sys
import pwd
import socket
import subprocess
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import free_port                            # noqa: E402

BRIDGE = os.environ.get("BRIDGE", "")
BUILDDIR = os.environ.get("BUILDDIR", "")
PROBE = os.path.join(BUILDDIR, "tests/apps/.libs/probe.so")


def get(port, path):
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: p\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data.partition(b"\r\n\r\n")[2]
            data += chunk


def ids(pid):
    uid = gid = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = [int(x) for x in line.split()[1:]]
            if line.startswith("Gid:"):
                gid = [int(x) for x in line.split()[1:]]
    return uid, gid


@unittest.skipUnless(os.geteuid() == 0, "needs root to switch users")
class PrivilegeTest(unittest.TestCase):
    def test_workers_drop_master_keeps(self):
        nobody = pwd.getpwnam("nobody")
        tmp = tempfile.mkdtemp()
        pidfile = os.path.join(tmp, "bridge.pid")
        log = os.path.join(tmp, "error.log")
        port = free_port()
        proc = subprocess.Popen(
            [BRIDGE, "--http", "127.0.0.1:%d" % port, "--module", PROBE,
             "-w", "2", "--user", "nobody", "--umask", "077",
             "--pidfile", pidfile, "--error-log", log],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 5
            while not os.path.exists(pidfile) or not get(port, "/pid"):
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            with open(pidfile) as f:
                self.assertEqual(int(f.read()), proc.pid)
            worker = int(get(port, "/pid"))
            self.assertNotEqual(worker, proc.pid)
            uid, gid = ids(worker)
            self.assertEqual(uid, [nobody.pw_uid] * 4)
            self.assertEqual(gid, [nobody.pw_gid] * 4)
            self.assertEqual(ids(proc.pid)[0][0], 0)
            # --umask 077: the log bridge created is the owner's only.
            self.assertEqual(os.stat(log).st_mode & 0o777, 0o600)
        finally:
            proc.terminate()
            proc.wait(10)
        self.assertFalse(os.path.exists(pidfile), "pidfile left behind")

    def test_unknown_user_and_group(self):
        for args, msg in ((["--user", "no-such-user-x"],
                           b"--user: no user 'no-such-user-x'"),
                          (["--user", "nobody", "--group", "no-such-grp"],
                           b"--group: no group 'no-such-grp'"),
                          (["--group", "nogroup"],
                           b"--group goes with --user"),
                          (["--umask", "888"],
                           b"--umask: '888' is not an octal mask")):
            with self.subTest(args=args):
                out = subprocess.run([BRIDGE, "--http", "127.0.0.1:1",
                                      "--module", PROBE] + args,
                                     capture_output=True, timeout=10)
                self.assertNotEqual(out.returncode, 0)
                self.assertIn(msg, out.stderr)


if __name__ == "__main__":
    unittest.main()
