#!/usr/bin/python3
"""Start-up mistakes get one line that names the file or flag and what is
wrong with it, and a non-zero exit: certificate and key files (instead of
OpenSSL's "error:80000002:system library::No such file or directory",
"no start line", "key values mismatch"), nothing to serve, a
configuration without a listener under --check-config, durations."""
import os
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BRIDGE, PROBE_SO, TempDir, read_text,  # noqa: E402
                     require, stop_process, wait_for)


class Messages(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir(self)

    def bridge(self, args, env=None, cwd=None):
        """bridge as users run it (root, --user nobody); returns
        (exit status, stdout, stderr lines)."""
        e = dict(os.environ)
        for k in ("BRIDGE_ALLOW_ROOT", "LISTEN_FDS", "LISTEN_PID",
                  "GATEWAY_INTERFACE"):
            e.pop(k, None)
        e.update(env or {})
        r = subprocess.run([BRIDGE, "--user", "nobody"] + args,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=20, env=e, cwd=cwd)
        return r.returncode, r.stdout, r.stderr.strip().splitlines()

    def one_line(self, args, expect, **kw):
        rc, _, lines = self.bridge(args, **kw)
        self.assertNotEqual(rc, 0, lines)
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0], "bridge: " + expect)

    # --- certificates ---------------------------------------------------

    def pair(self, name):
        require(self, "openssl")
        cert, key = self.tmp.join(name + ".crt"), self.tmp.join(name + ".key")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-newkey", "rsa:2048", "-subj", "/CN=" + name,
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        return cert, key

    def https(self, cert, key):
        return ["--https", "127.0.0.1:1", "--cert", cert, "--key", key,
                "--module", PROBE_SO, "--check-config"]

    def test_cert_missing_says_no_such_file(self):
        _, key = self.pair("a")
        self.one_line(self.https("/nonexistent/x.pem", key),
                      "--cert /nonexistent/x.pem: no such file")

    def test_key_missing_says_no_such_file(self):
        cert, _ = self.pair("a")
        self.one_line(self.https(cert, "/nonexistent/k.pem"),
                      "--key /nonexistent/k.pem: no such file")

    def test_cert_not_pem_says_so(self):
        _, key = self.pair("a")
        junk = self.tmp.join("junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        self.one_line(self.https(junk, key), "--cert %s: not a PEM "
                      "certificate (no -----BEGIN CERTIFICATE----- line)"
                      % junk)

    def test_cert_truncated_says_so(self):
        cert, key = self.pair("a")
        cut = self.tmp.join("cut.pem")
        with open(cert) as f, open(cut, "w") as g:
            g.write(f.read()[:300])
        self.one_line(self.https(cut, key), "--cert %s: a damaged or "
                      "truncated PEM certificate" % cut)

    def test_key_not_pem_says_so(self):
        cert, _ = self.pair("a")
        # A certificate given as the key: the classic swap.
        self.one_line(self.https(cert, cert),
                      "--key %s: not a PEM private key" % cert)

    def test_key_of_another_cert_says_which(self):
        cert, _ = self.pair("a")
        _, other = self.pair("b")
        self.one_line(self.https(cert, other),
                      "--key %s does not match --cert %s" % (other, cert))

    def test_relative_cert_named_as_resolved(self):
        """Relative names are read from the start directory, and the
        message says which file that was."""
        _, key = self.pair("a")
        self.one_line(self.https("missing.pem", key),
                      "--cert %s: no such file"
                      % self.tmp.join("missing.pem"), cwd=self.tmp.path)

    # --- nothing to serve -----------------------------------------------

    def test_nothing_to_serve_names_the_listener_flags(self):
        rc, _, lines = self.bridge(["--module", PROBE_SO])
        self.assertEqual(rc, 1)
        self.assertEqual(len(lines), 1, lines)
        for flag in ("--http", "--https", "--fastcgi"):
            self.assertIn(flag, lines[0])

    def test_check_config_without_listener_fails(self):
        conf = self.tmp.join("b.conf")
        with open(conf, "w") as f:
            f.write("module = %s\nworkers = 2\n" % PROBE_SO)
        rc, out, lines = self.bridge(["--config", conf, "--check-config"])
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("nothing to serve", lines[0])
        self.assertIn("--http", lines[0])
        # The same file with a listener passes, and so does a file for
        # systemd's sockets, checked as the man page says.
        rc, out, lines = self.bridge(["--config", conf, "--http",
                                      "127.0.0.1:1", "--check-config"])
        self.assertEqual(rc, 0, lines)
        rc, out, lines = self.bridge(["--config", conf, "--check-config"],
                                     env={"LISTEN_FDS": "1"})
        self.assertEqual(rc, 0, lines)

    def test_reload_with_listener_on_fd0_still_checks_ok(self):
        """A bridge whose socket came on fd 0 (spawn-fcgi) has no
        listener in its configuration: the --check-config a HUP runs
        first must not refuse it as serving nothing."""
        log = self.tmp.join("error.log")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        proc = subprocess.Popen(
            [BRIDGE, "--user", "nobody", "--module", PROBE_SO,
             "--error-log", log], stdin=sock.fileno(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_process, proc)
        self.assertTrue(wait_for(lambda: "serving on" in read_text(log)),
                        read_text(log))
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload done" in read_text(log)
                                 or "does not load" in read_text(log), 20),
                        read_text(log))
        self.assertNotIn("does not load", read_text(log))

    # --- durations ------------------------------------------------------

    def effective(self, args):
        rc, out, lines = self.bridge(["--http", "127.0.0.1:1", "--module",
                                      PROBE_SO, "--check-config"] + args)
        self.assertEqual(rc, 0, lines)
        return out

    def test_timeouts_take_units(self):
        out = self.effective(["--timeout", "30s", "--graceful-timeout",
                              "5m", "--idle-timeout", "1h",
                              "--startup-timeout", "90"])
        self.assertIn("\ntimeout = 30\n", out)
        self.assertIn("\ngraceful-timeout = 300\n", out)
        self.assertIn("\nidle-timeout = 3600\n", out)
        self.assertIn("\nstartup-timeout = 90\n", out)

    def test_timeouts_take_units_in_config(self):
        conf = self.tmp.join("t.conf")
        with open(conf, "w") as f:
            f.write("timeout = 45s\nread-timeout = 2m\nwrite-timeout = 10\n")
        out = self.effective(["--config", conf])
        self.assertIn("\ntimeout = 45\n", out)
        self.assertIn("\nread-timeout = 120\n", out)
        self.assertIn("\nwrite-timeout = 10\n", out)

    def test_bad_duration_one_line(self):
        rc, _, lines = self.bridge(["--http", "127.0.0.1:1", "--module",
                                    PROBE_SO, "--timeout", "30x"])
        self.assertEqual(rc, 2)
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("--timeout: '30x' is not a duration", lines[0])


if __name__ == "__main__":
    unittest.main()
