#!/usr/bin/python3
"""What a new user meets when following the documentation literally:
every flag of `bridge --help` is in the man page and every option the man
page lists is in --help; the messages for a missing or doubled
application name --asgi too; and an application given on the command
line replaces the one a --config file names, as the file's comment and
the man page say flags override the file (it was refused as "give one
application"); Gunicorn's limit-request-field_size is a config key; a
start-up error of a Python app is one line."""
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BRIDGE, BUILDDIR, HELLO_SO, SRCDIR,  # noqa: E402
                     TempDir)

ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")
ASGI_EXAMPLES = os.path.join(SRCDIR, "examples", "asgi")
FLAG = r"(--?[A-Za-z][\w-]*)"


def run(args, cwd=None):
    """bridge as users run it (root, --user nobody); returns (exit
    status, stdout, stderr)."""
    env = dict(os.environ)
    for k in ("BRIDGE_ALLOW_ROOT", "LISTEN_FDS", "LISTEN_PID",
              "GATEWAY_INTERFACE", "WEB_CONCURRENCY", "PORT"):
        env.pop(k, None)
    r = subprocess.run([BRIDGE, "--user", "nobody"] + args,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30, env=env, cwd=cwd)
    return r.returncode, r.stdout, r.stderr


class HelpAndManPage(unittest.TestCase):
    def test_help_and_man_page_list_the_same_flags(self):
        rc, out, _ = run(["--help"])
        self.assertEqual(rc, 0)
        out = out.replace("ps -o comm", "ps")   # ps(1)'s, not bridge's
        helped = set(re.findall(r"(?:^|[\s(,;])" + FLAG, out))
        self.assertIn("--asgi", helped)
        with open(os.path.join(SRCDIR, "bridge", "bridge.1")) as f:
            man = f.read()
        # mdoc: ".It Fl -http Ar addr" is --http, "Fl w" is -w.
        mdoc_flag = r"\bFl (-?[A-Za-z][\w-]*)"
        mentioned = {"-" + t for t in re.findall(mdoc_flag, man)}
        items = set()
        for line in man.splitlines():
            if line.startswith(".It "):
                items |= {"-" + t for t in
                          re.findall(mdoc_flag, line)}
        self.assertEqual(sorted(helped - mentioned), [],
                         "in bridge --help, not in bridge.1")
        self.assertEqual(sorted(items - helped), [],
                         "options of bridge.1 missing from --help")


class Messages(unittest.TestCase):
    def test_no_application_names_asgi(self):
        rc, _, err = run(["--http", "127.0.0.1:1"])
        self.assertEqual(rc, 1, err)
        self.assertIn("--asgi APP", err)

    def test_two_applications_names_asgi(self):
        rc, _, err = run(["--http", "127.0.0.1:1", "--module", HELLO_SO,
                          "--wsgi", "a:b"])
        self.assertEqual(rc, 2, err)
        self.assertEqual(err.strip().splitlines(),
                         ["bridge: give one application: --module, "
                          "--wsgi, --asgi or --cgi (see bridge --help)"])


class StartupErrorOneLine(unittest.TestCase):
    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_port_in_use_with_python_app_is_one_line(self):
        # The "python: running in ..." note came before the error.
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        rc, _, err = run(["--http", addr, "--asgi", "raw:app"],
                         cwd=ASGI_EXAMPLES)
        self.assertEqual(rc, 1, err)
        self.assertEqual(err.strip().splitlines(),
                         ["bridge: --http %s: bind: Address already in use"
                          % addr])


class GunicornKeys(unittest.TestCase):
    def test_gunicorn_long_option_with_underscore_is_a_key(self):
        # bridge.1, -c: "Gunicorn's long option names are keys too";
        # Gunicorn's is --limit-request-field_size.
        tmp = TempDir(self)
        conf = tmp.join("g.conf")
        with open(conf, "w") as f:
            f.write("limit-request-field_size = 200\n")
        rc, out, err = run(["--config", conf, "--check-config", "--http",
                            "127.0.0.1:1", "--module", HELLO_SO])
        self.assertEqual(rc, 0, err)
        self.assertIn("limit-request-field-size = 200", out.splitlines())


class CommandLineAppReplacesFile(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir(self)
        self.conf = self.tmp.join("bridge.conf")
        # The Debian package's bridge.conf ends this way: an application
        # and its directory.
        with open(self.conf, "w") as f:
            f.write("http = 127.0.0.1:1\n"
                    "wsgi = nosuchmodule:app\n")

    def check(self, args, cwd=None):
        rc, out, err = run(["--config", self.conf, "--check-config"] +
                           args, cwd=cwd)
        self.assertEqual(rc, 0, err)
        return [ln for ln in out.splitlines()
                if re.match(r"(module|wsgi|asgi|cgi) = ", ln)]

    def test_module_flag_replaces_file_wsgi(self):
        self.assertEqual(self.check(["--module", HELLO_SO]),
                         ["module = " + HELLO_SO])

    def test_cgi_flag_replaces_file_wsgi(self):
        self.assertEqual(self.check(["--cgi", self.tmp.path]),
                         ["cgi = " + self.tmp.path])

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_asgi_flag_replaces_file_wsgi(self):
        self.assertEqual(self.check(["--asgi", "raw:app"],
                                    cwd=ASGI_EXAMPLES), ["asgi = raw:app"])

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_positional_app_replaces_file_wsgi(self):
        self.assertEqual(self.check(["raw:app"], cwd=ASGI_EXAMPLES),
                         ["wsgi = raw:app"])

    def test_two_on_the_command_line_still_refused(self):
        rc, _, err = run(["--config", self.conf, "--check-config",
                          "--module", HELLO_SO, "--cgi", self.tmp.path])
        self.assertEqual(rc, 2, err)
        self.assertIn("give one application", err)


if __name__ == "__main__":
    unittest.main()
