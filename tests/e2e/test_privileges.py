#!/usr/bin/python3
"""--user/--group (workers drop privileges after the master bound the
port, checked from /proc), --umask, --pidfile, and their start-up errors;
the refusal to run the application as root without --user or
--allow-root."""
import os
import sys
import pwd
import socket
import subprocess
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
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
            harness.stop_bridge(proc, log)
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


def without_allow_root():
    """The environment without the suite's BRIDGE_ALLOW_ROOT=1."""
    env = dict(os.environ)
    env.pop("BRIDGE_ALLOW_ROOT", None)
    return env


@unittest.skipUnless(os.geteuid() == 0, "the refusal applies to root only")
class RootRefusalTest(unittest.TestCase):
    def run_bridge(self, args, env=None, timeout=10):
        return subprocess.run([BRIDGE, "--http", "127.0.0.1:1",
                               "--module", PROBE] + args,
                              capture_output=True, timeout=timeout,
                              env=env if env is not None
                              else without_allow_root())

    def test_root_without_user_refused(self):
        out = self.run_bridge([])
        self.assertEqual(out.returncode, 1, out.stderr)
        lines = out.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("refusing to run the application as root", lines[0])
        self.assertIn("--user", lines[0])
        self.assertIn("--allow-root", lines[0])

    def test_check_config_as_root_checks_and_says_root_is_refused(self):
        # A configuration for a systemd unit's User=, checked by root:
        # checked, with a note that starting it as root is refused
        # (issue 10; test_deploy_install.sh checks --user too).
        out = self.run_bridge(["--check-config"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"bridge refuses to run the application", out.stderr)
        self.assertIn(b"--user", out.stderr)

    def test_preload_as_root_refused_even_with_user(self):
        out = self.run_bridge(["--user", "nobody", "--preload"])
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(b"refusing --preload as root", out.stderr)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1)

    def test_told_to(self):
        """--allow-root, the config key and BRIDGE_ALLOW_ROOT=1 all let the
        application run as root; so does --user without --preload."""
        tmp = tempfile.mkdtemp()
        conf = os.path.join(tmp, "bridge.conf")
        with open(conf, "w") as f:
            f.write("allow-root = yes\n")
        env_told = without_allow_root()
        env_told["BRIDGE_ALLOW_ROOT"] = "1"
        for args, env in ((["--allow-root"], None),
                          (["--config", conf], None),
                          ([], env_told),
                          (["--user", "nobody"], None)):
            with self.subTest(args=args, env=env is not None):
                port = free_port()
                proc = subprocess.Popen(
                    [BRIDGE, "--http", "127.0.0.1:%d" % port,
                     "--module", PROBE] + args,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    env=env if env is not None else without_allow_root())
                try:
                    deadline = time.monotonic() + 10
                    while True:
                        try:
                            worker = int(get(port, "/pid"))
                            break
                        except (OSError, ValueError):
                            if proc.poll() is not None:
                                self.fail(proc.stderr.read())
                            self.assertLess(time.monotonic(), deadline)
                            time.sleep(0.05)
                    uid = ids(worker)[0][0]
                    self.assertEqual(uid, pwd.getpwnam("nobody").pw_uid
                                     if "--user" in args else 0)
                finally:
                    try:
                        harness.stop_bridge(proc)
                    finally:
                        proc.stderr.close()

    def test_not_root_needs_nothing(self):
        """Started as an ordinary user, bridge needs no flag."""
        nobody = pwd.getpwnam("nobody")
        out = subprocess.run(
            [BRIDGE, "--http", "127.0.0.1:1", "--module", PROBE,
             "--check-config"],
            capture_output=True, timeout=10, env=without_allow_root(),
            user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(b"root", out.stderr)


if __name__ == "__main__":
    harness.main()
