#!/usr/bin/python3
"""Relative paths mean what they meant where bridge was started, as
Gunicorn users expect: --chdir, --config, --error-log, --access-log,
across --chdir, USR1 and HUP.  bridge runs as root with --user nobody,
as the README says to."""
import os
import re
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BRIDGE, PROBE_SO, SRCDIR, TempDir,  # noqa: E402
                     free_port, http_request, read_text, stop_process,
                     wait_for, wait_port)

APP = """\
import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("cwd=%s pid=%d" % (os.getcwd(), os.getpid())).encode()]
"""


class RelativePaths(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir(self)
        self.port = free_port()

    def run_bridge(self, args, cwd):
        out = open(self.tmp.join("stdout"), "wb")
        self.addCleanup(out.close)
        proc = subprocess.Popen([BRIDGE] + args + ["--user", "nobody"],
                                cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(stop_process, proc)
        return proc

    def stdout(self):
        return read_text(self.tmp.join("stdout"))

    def get(self):
        st, _, body = http_request(self.port, path="/")
        self.assertEqual(st, 200, body)
        return body.decode()

    def wait_new_workers(self, proc, log, old_pids):
        """After HUP: answers come from workers other than old_pids."""
        seen = wait_for(lambda: not set(
            re.findall(r"pid=(\d+)", self.get())) & old_pids, 20)
        self.assertTrue(seen, "no new worker after HUP; log:\n%s"
                        % read_text(log))
        self.assertIsNone(proc.poll())

    def test_readme_chdir_flask_example(self):
        """README: bridge --http :8000 --wsgi main:app --chdir
        examples/flask, from the source tree.  The directory was entered
        twice (python: chdir examples/flask: No such file...)."""
        src = self.tmp.join("src")
        shutil.copytree(os.path.join(SRCDIR, "examples", "flask"),
                        os.path.join(src, "examples", "flask"))
        for d, _, _ in os.walk(src):
            os.chmod(d, 0o755)
        log = self.tmp.join("error.log")
        proc = self.run_bridge(["--http", "127.0.0.1:%d" % self.port,
                                "--wsgi", "main:app", "--chdir",
                                "examples/flask", "--error-log", log], src)
        wait_port("127.0.0.1", self.port, proc=proc)
        st, _, body = http_request(self.port, path="/")
        self.assertEqual(st, 200, read_text(log))
        self.assertNotIn("No such file", read_text(log))

    def test_relative_config_survives_hup(self):
        """--config live.conf: every HUP after the first start failed
        (--config live.conf: No such file or directory) because bridge
        had changed to --chdir."""
        work = self.tmp.join("work")
        os.mkdir(work)
        os.mkdir(self.tmp.join("work", "app"))
        with open(self.tmp.join("work", "app", "main.py"), "w") as f:
            f.write(APP)
        with open(self.tmp.join("work", "live.conf"), "w") as f:
            f.write("http = 127.0.0.1:%d\nwsgi = main:app\nchdir = app\n"
                    "error-log = error.log\n" % self.port)
        log = self.tmp.join("work", "error.log")
        proc = self.run_bridge(["--config", "live.conf"], work)
        wait_port("127.0.0.1", self.port, proc=proc)
        body = self.get()
        self.assertIn("cwd=%s" % self.tmp.join("work", "app"), body)
        for _ in range(2):
            old = set(re.findall(r"pid=(\d+)", body))
            proc.send_signal(signal.SIGHUP)
            self.wait_new_workers(proc, log, old)
            body = self.get()
        self.assertNotIn("does not load", read_text(log))
        self.assertNotIn("No such file", read_text(log))

    def test_relative_logs_stay_put_after_usr1_and_hup(self):
        """--error-log/--access-log relative, with --chdir elsewhere:
        after USR1 and HUP the files were recreated inside the --chdir
        directory."""
        work = self.tmp.join("work")
        app = self.tmp.join("elsewhere")
        os.mkdir(work)
        os.mkdir(app)
        os.chmod(app, 0o755)
        proc = self.run_bridge(["--http", "127.0.0.1:%d" % self.port,
                                "--module", PROBE_SO, "--chdir", app,
                                "--error-log", "error.log",
                                "--access-log", "access.log"], work)
        wait_port("127.0.0.1", self.port, proc=proc)
        log = os.path.join(work, "error.log")
        access = os.path.join(work, "access.log")
        http_request(self.port, path="/env?before")
        self.assertTrue(wait_for(lambda: "before" in read_text(access)))
        os.rename(access, access + ".1")
        os.rename(log, log + ".1")
        proc.send_signal(signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: "logs reopened" in read_text(log)),
                        self.stdout())
        http_request(self.port, path="/env?after-usr1")
        self.assertTrue(wait_for(
            lambda: "after-usr1" in read_text(access)),
            "access log not reopened in %s: %s" % (work, os.listdir(app)))
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload done" in read_text(log),
                                 20), read_text(log))
        http_request(self.port, path="/env?after-hup")
        self.assertTrue(wait_for(lambda: "after-hup" in read_text(access)))
        self.assertEqual(os.listdir(app), [])


if __name__ == "__main__":
    unittest.main()
