#!/usr/bin/python3
"""
Gunicorn's command line, typed into bridge: the seed's command
"bridge -w 4 -b 127.0.0.1:8000 main:app" serves examples/flask; Gunicorn's
flag names land on bridge's settings (--check-config shows them); -b binds
HOST:PORT, HOST, unix:PATH and fd://N (HTTPS with --certfile); -n names
the processes; --limit-request-* answer 414/431; VIRTUAL_ENV is used as
--venv; every bad flag or value is one line and exit 2.
"""
import json
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

EXAMPLES = os.path.join(h.SRCDIR, "examples")
APPS = os.path.join(h.SRCDIR, "tests", "apps", "wsgi")
ADAPTER = os.path.join(h.BUILDDIR, "adapters", "python", ".libs",
                       "python.so")

# Runs inside a network namespace of its own (unshare -n), where
# 127.0.0.1:8000 is free whatever else runs on this machine, so that the
# seed's command can be typed with its own address.
SEED = r'''
import json, os, subprocess, sys, time, http.client
bridge_dir, flask_dir, log = sys.argv[1:4]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
env = dict(os.environ, PATH=bridge_dir + ":" + os.environ["PATH"])
env.pop("VIRTUAL_ENV", None)
env.pop("BRIDGE_ALLOW_ROOT", None)   # run as users do: as root, --user
out = {}
cmd = "bridge -w 4 -b 127.0.0.1:8000 main:app"
r = subprocess.run(cmd, shell=True, cwd=flask_dir, env=env,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
out["as_root"] = [r.returncode, r.stderr.decode()]
p = subprocess.Popen("exec " + cmd + " -u nobody", shell=True, cwd=flask_dir,
                     env=env, stdin=subprocess.DEVNULL,
                     stdout=open(log, "wb"), stderr=subprocess.STDOUT)
deadline = time.time() + 60
while time.time() < deadline and p.poll() is None:
    try:
        c = http.client.HTTPConnection("127.0.0.1", 8000, timeout=20)
        c.request("GET", "/")
        resp = c.getresponse()
        out["get"] = [resp.status, resp.read().decode()]
        c.close()
        break
    except OSError:
        time.sleep(0.05)
kids = []
for pid in os.listdir("/proc"):
    try:
        with open("/proc/%s/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        if int(st[1]) == p.pid:
            with open("/proc/%s/status" % pid) as f:
                uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
            kids.append(int(uid))
    except (OSError, ValueError, IndexError):
        pass
out["worker_uids"] = kids
p.terminate()
out["rc"] = p.wait(30)
print(json.dumps(out))
'''


def run(args, env=None, cwd=None, timeout=30):
    e = dict(os.environ)
    e.pop("VIRTUAL_ENV", None)
    e.pop("BRIDGE_ALLOW_ROOT", None)
    e.update(env or {})
    return subprocess.run([h.BRIDGE] + args, env=e, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout)


def check_config(tc, args, env=None, cwd=None):
    """--check-config's output as a dict (last value of each key) and
    a list of its (key, value) lines."""
    if os.geteuid() == 0 and "-u" not in args:
        args = args + ["-u", "nobody"]
    r = run(args + ["--check-config"], env, cwd)
    tc.assertEqual(r.returncode, 0, r.stderr.decode())
    pairs = []
    for line in r.stdout.decode().splitlines():
        if " = " in line and not line.startswith("#"):
            k, v = line.split(" = ", 1)
            pairs.append((k, v))
    return dict(pairs), pairs


class Seed(unittest.TestCase):
    def test_seed_command_serves_flask_example(self):
        """The seed's command, word for word, in examples/flask.  As root
        bridge refuses to run the application without --user (Gunicorn
        would run it as root): the first run shows that refusal, the
        second adds -u nobody and must serve Flask's hello world with 4
        workers running as nobody."""
        h.require(self, "unshare", "ip")
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        probe = subprocess.run(["unshare", "-n", "true"],
                               capture_output=True, timeout=10)
        if probe.returncode != 0:
            self.skipTest("unshare -n not permitted here")
        tmp = h.TempDir(self)
        log = tmp.join("seed.log")
        r = subprocess.run(
            ["unshare", "-n", sys.executable, "-c", SEED,
             os.path.dirname(h.BRIDGE), os.path.join(EXAMPLES, "flask"),
             log], capture_output=True, timeout=150)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        out = json.loads(r.stdout.decode().splitlines()[-1])
        logtext = h.read_text(log)
        if os.geteuid() == 0:
            rc, err = out["as_root"]
            self.assertNotEqual(rc, 0)
            self.assertIn("refusing to run the application as root", err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertEqual(out.get("get"), [200, "hello world"], logtext)
        self.assertIn("serving on 1 listener with 4 workers", logtext)
        self.assertEqual(len(out["worker_uids"]), 4, out)
        if os.geteuid() == 0:
            nobody = int(subprocess.run(["id", "-u", "nobody"],
                                        capture_output=True).stdout)
            self.assertEqual(set(out["worker_uids"]), {nobody})
        self.assertEqual(out["rc"], 0, logtext)


class Spellings(unittest.TestCase):
    def test_gunicorn_flags_land_on_bridge_settings(self):
        flask = os.path.join(EXAMPLES, "flask")
        c, _ = check_config(self, [
            "-w", "3", "--threads", "2", "-t", "45", "--graceful-timeout",
            "12", "--keep-alive", "7", "--max-requests", "100",
            "--max-requests-jitter", "10", "--chdir", flask, "--pythonpath",
            "/srv/lib", "-u", "nobody", "-g", "nogroup", "-m", "0o27", "-p",
            "/tmp/g.pid", "--access-logfile", "-", "--error-logfile", "-",
            "--access-logformat", "%(h)s %(r)s", "--log-level", "warning",
            "--forwarded-allow-ips", "10.0.0.0/8,::1",
            "--limit-request-line", "4094", "--limit-request-fields", "50",
            "--limit-request-field_size", "8190", "-n", "shop",
            "--worker-connections", "500", "-k", "gthread",
            "--worker-tmp-dir", "/dev/shm",
            "-b", "127.0.0.1:9001", "--bind", "unix:/tmp/g.sock",
            "-b", "localhost", "main:app"])
        want = {
            "workers": "3", "threads": "2", "timeout": "45",
            "graceful-timeout": "12", "idle-timeout": "7",
            "max-requests": "100", "max-requests-jitter": "10",
            "chdir": flask, "pythonpath": "/srv/lib", "user": "nobody",
            "group": "nogroup", "umask": "027", "pidfile": "/tmp/g.pid",
            "access-log": "-", "error-log": "-",
            "access-log-format": '"%(h)s %(r)s"', "log-level": "warn",
            "forwarded-allow-ips": "10.0.0.0/8,::1",
            "limit-request-line": "4094", "limit-request-fields": "50",
            "limit-request-field-size": "8190", "name": "shop",
            "max-conns": "500", "wsgi": "main:app"}
        for k, v in want.items():
            self.assertEqual(c.get(k), v, k)

    def test_durations_take_suffixes(self):
        """-t, --keep-alive and --graceful-timeout are bridge's duration
        settings: 30 and 30s alike (once config.c parses durations)."""
        probe = run(["--timeout", "1s", "main:app", "-u", "nobody",
                     "--check-config"])
        if probe.returncode != 0:
            self.skipTest("this bridge takes seconds only: %s"
                          % probe.stderr.decode().strip())
        c, _ = check_config(self, ["-t", "30s", "--keep-alive", "5s",
                                   "--graceful-timeout", "1m", "main:app"])
        self.assertEqual((c["timeout"], c["idle-timeout"],
                          c["graceful-timeout"]), ("30", "5", "60"))

    def test_web_concurrency_log_file_print_config_version(self):
        c, _ = check_config(self, ["main:app"],
                            env={"WEB_CONCURRENCY": "3"})
        self.assertEqual(c["workers"], "3")
        c, _ = check_config(self, ["-w", "2", "main:app"],
                            env={"WEB_CONCURRENCY": "3"})
        self.assertEqual(c["workers"], "2")
        r = run(["main:app", "-u", "nobody", "--log-file", "/tmp/g.log",
                 "--print-config"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"\nerror-log = /tmp/g.log\n", r.stdout)
        r = run(["-v"])
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith(b"bridge "), r.stdout)

    def test_binds_are_http_in_order(self):
        _, pairs = check_config(self, [
            "-b", "127.0.0.1:9001", "--bind", "unix:/tmp/g.sock", "-b",
            "localhost", "-b", "[::1]", "-b", "fd://3", "main:app"])
        self.assertEqual([v for k, v in pairs if k in ("http", "https")],
                         ["127.0.0.1:9001", "unix:/tmp/g.sock",
                          "localhost:8000", "[::1]:8000", "fd://3"])
        self.assertEqual({k for k, v in pairs if k in ("http", "https")},
                         {"http"})

    def test_app_without_bind_takes_gunicorns_default(self):
        c, _ = check_config(self, ["main:app"])
        self.assertEqual(c["http"], "127.0.0.1:8000")
        c, _ = check_config(self, ["main:app"], env={"PORT": "9123"})
        self.assertEqual(c["http"], "0.0.0.0:9123")
        # A positional .so is --module.
        so = os.path.join(h.BUILDDIR, "tests", "apps", ".libs", "probe.so")
        c, _ = check_config(self, ["-b", "127.0.0.1:9001", so])
        self.assertEqual(c["module"], so)

    def test_certfile_makes_binds_https(self):
        h.require(self, "openssl")
        tmp = h.TempDir(self)
        crt, key = tmp.join("c.pem"), tmp.join("c.key")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-keyout", key, "-out",
                        crt, "-subj", "/CN=localhost"], check=True,
                       capture_output=True, timeout=60)
        _, pairs = check_config(self, ["-b", "127.0.0.1:9443", "--certfile",
                                       crt, "--keyfile", key, "main:app"])
        self.assertIn(("https", "127.0.0.1:9443"), pairs)
        self.assertNotIn("http", dict(pairs))

    def test_config_file_takes_gunicorn_names(self):
        tmp = h.TempDir(self)
        conf = tmp.join("b.conf")
        with open(conf, "w") as f:
            f.write("bind = 127.0.0.1:9002\nwsgi = main:app\n"
                    "forwarded-allow-ips = *\naccess-logfile = -\n"
                    "limit-request-field-size = 100\n")
        c, _ = check_config(self, ["-c", conf])
        self.assertEqual((c["http"], c["forwarded-allow-ips"],
                          c["access-log"], c["limit-request-field-size"]),
                         ("127.0.0.1:9002", "*", "-", "100"))

    def test_activated_virtualenv_is_used(self):
        """VIRTUAL_ENV (an activated virtualenv) is --venv; a package
        only the virtualenv has is imported by the app."""
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        tmp = h.TempDir(self)
        venv = tmp.join("venv")
        r = subprocess.run(["/usr/bin/python3", "-m", "venv",
                            "--without-pip", venv], capture_output=True,
                           timeout=120)
        if r.returncode != 0:
            self.skipTest("python3 -m venv failed: %s" % r.stderr[-300:])
        c, _ = check_config(self, ["main:app"], env={"VIRTUAL_ENV": venv})
        self.assertEqual(c.get("venv"), venv)
        ver = "%d.%d" % tuple(json.loads(subprocess.run(
            ["/usr/bin/python3", "-c",
             "import sys,json;print(json.dumps(sys.version_info[:2]))"],
            capture_output=True, timeout=30).stdout))
        site = os.path.join(venv, "lib", "python" + ver, "site-packages")
        with open(os.path.join(site, "onlyinvenv.py"), "w") as f:
            f.write("WHERE = 'venv'\n")
        app = tmp.join("app")
        os.makedirs(app)
        with open(os.path.join(app, "vapp.py"), "w") as f:
            f.write("import onlyinvenv\n"
                    "def app(env, start):\n"
                    "    start('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [onlyinvenv.WHERE.encode()]\n")
        for root, dirs, files in os.walk(tmp.path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        port = h.free_port()
        log = tmp.join("err.log")
        e = dict(os.environ, VIRTUAL_ENV=venv)
        p = subprocess.Popen([h.BRIDGE, "-b", "127.0.0.1:%d" % port,
                              "--chdir", app, "vapp:app", "-u", "nobody",
                              "--error-logfile", log], env=e,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(h.stop_process, p)
        h.wait_port("127.0.0.1", port, proc=p)
        st, _, body = h.http_request(port, path="/")
        self.assertEqual((st, body), (200, b"venv"), h.read_text(log))
        self.assertIn("using the activated virtualenv %s (VIRTUAL_ENV)"
                      % venv, h.read_text(log))


class Running(unittest.TestCase):
    def start(self, args):
        tmp = h.TempDir(self)
        self.log = tmp.join("err.log")
        self.port = h.free_port()
        full = [h.BRIDGE] + [a.replace("PORT", str(self.port))
                             for a in args] + [
            "-u", "nobody", "--error-logfile", self.log]
        self.proc = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.addCleanup(h.stop_process, self.proc)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)
        self.assertTrue(h.wait_for(lambda: "serving on" in
                                   h.read_text(self.log), 10))

    def test_fd_bind_serves_an_inherited_socket(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        port = s.getsockname()[1]
        tmp = h.TempDir(self)
        log = tmp.join("err.log")
        p = subprocess.Popen([h.BRIDGE, "-b", "fd://%d" % s.fileno(),
                              hh_probe(), "-u", "nobody", "--error-logfile",
                              log], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             pass_fds=(s.fileno(),))
        self.addCleanup(h.stop_process, p)
        s.close()
        self.assertTrue(h.wait_for(lambda: "serving on" in
                                   h.read_text(log), 10), h.read_text(log))
        st, _, body = h.http_request(port, path="/")
        self.assertEqual((st, body), (200, b"probe\n"))

    def test_fd_bind_refuses_what_is_not_a_listener(self):
        r = run(["-b", "fd://0", hh_probe(), "-u", "nobody"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"--bind fd://0: not a listening socket", r.stderr)

    def test_name_is_the_process_name(self):
        self.start(["-b", "127.0.0.1:PORT", "-w", "2", "-n", "shopfront",
                    hh_probe()])
        pids = [self.proc.pid] + sorted(hh.worker_pids(self.proc.pid))
        self.assertGreaterEqual(len(pids), 3)
        for pid in pids:
            with open("/proc/%d/comm" % pid) as f:
                self.assertEqual(f.read().strip(), "shopfront", pid)

    def test_limits(self):
        self.start(["-b", "127.0.0.1:PORT", "--limit-request-line", "100",
                    "--limit-request-fields", "5",
                    "--limit-request-field_size", "200", hh_probe()])
        st, _, _ = h.http_request(self.port, path="/" + "a" * 90)
        self.assertEqual(st, 200)
        st, _, _ = h.http_request(self.port, path="/" + "a" * 200)
        self.assertEqual(st, 414)
        st, _, _ = h.http_request(self.port, path="/", headers={
            "X-A": "1", "X-B": "2", "X-C": "3", "X-D": "4", "X-E": "5"})
        self.assertEqual(st, 431)
        st, _, _ = h.http_request(self.port, path="/", headers={
            "X-Long": "v" * 180})
        self.assertEqual(st, 200)
        st, _, _ = h.http_request(self.port, path="/", headers={
            "X-Long": "v" * 250})
        self.assertEqual(st, 431)

    def test_limit_request_line_above_the_default_head_bound(self):
        # The head was refused (431) past 8k + 32k of unparsed bytes
        # whatever --limit-request-line allowed.
        self.start(["-b", "127.0.0.1:PORT", "--limit-request-line", "60000",
                    hh_probe()])
        st, _, _ = h.http_request(self.port, path="/" + "a" * 50000)
        self.assertEqual(st, 200)
        st, _, _ = h.http_request(self.port, path="/" + "a" * 61000)
        self.assertEqual(st, 414)


def hh_probe():
    return os.path.join(h.BUILDDIR, "tests", "apps", ".libs", "probe.so")


class Errors(unittest.TestCase):
    """Each: one line on stderr naming the problem, exit 2."""

    CASES = [
        (["-k", "gevent", "main:app"],
         "--worker-class gevent: bridge has no worker classes"),
        (["--worker-class", "uvicorn.workers.UvicornWorker", "main:app"],
         "not ASGI"),
        (["-D", "main:app"], "--daemon: bridge does not detach"),
        (["--daemon", "main:app"], "--daemon: bridge does not detach"),
        (["--module", "main:app"], "did you mean --wsgi main:app\\?"),
        (["--module", "main.py"], "did you mean --wsgi main:app\\?"),
        (["--module", "pkg/main.py"], "did you mean --wsgi pkg.main:app\\?"),
        (["--wsgi", "main.py"], "did you mean --wsgi main:app\\?"),
        (["-b"], "-b needs a value"),
        (["-b", "127.0.0.1:99999", "main:app"], "'99999' is not a port"),
        (["-b", "fd://x", "main:app"], "--bind: 'fd://x' is not fd://N"),
        (["-b", "unix:", "main:app"], "has no socket path"),
        (["-b", "", "main:app"], "empty address"),
        (["-t", "abc", "main:app"],
         "--timeout: 'abc' is not a (number|duration)"),
        (["--keep-alive", "x", "main:app"],
         "--idle-timeout: 'x' is not a (number|duration)"),
        (["-w", "0", "main:app"], "--workers: '0' is not a number"),
        (["-m", "999", "main:app"], "--umask: '999' is not a mask"),
        (["-m", "0o8", "main:app"], "--umask: '0o8' is not a mask"),
        (["-e", "NOEQUALS", "main:app"], "--env: 'NOEQUALS' is not KEY"),
        (["-e", "=x", "main:app"], "--env: '=x' is not KEY=VALUE"),
        (["--log-level", "loud", "main:app"], "--log-level: 'loud'"),
        (["--forwarded-allow-ips", "1.2.3/8", "main:app"],
         "--forwarded-allow-ips: '1.2.3/8' is not an IPv4 or IPv6"),
        (["--forwarded-allow-ips", "10.0.0.0/33", "main:app"],
         "--forwarded-allow-ips: '10.0.0.0/33': prefix too long"),
        (["--limit-request-line", "-1", "main:app"],
         "--limit-request-line: '-1' is not a number"),
        (["--limit-request-fields", "101", "main:app"],
         "--limit-request-fields: '101' is not a number in 0..100"),
        (["--limit-request-field_size", "100000", "main:app"],
         "--limit-request-field_size: '100000' is not a number"),
        (["--keep-alive", "0", "main:app"],
         "--keep-alive: bridge always keeps connections alive"),
        (["-c", "gunicorn.conf.py", "main:app"],
         "not Gunicorn's Python files"),
        (["-n", "", "main:app"], "--name: empty name"),
        (["--certfile", "x.pem", "main:app"], "1 --cert but 0 --key"),
        (["main:app", "other:app"], "unexpected argument 'other:app'"),
        (["--bogus", "main:app"], "unknown option '--bogus'"),
        (["main:app"], "WEB_CONCURRENCY: 'many' is not a number",
         {"WEB_CONCURRENCY": "many"}),
    ]

    def test_bad_flags(self):
        for case in self.CASES:
            args, pattern = case[:2]
            with self.subTest(args=args):
                r = run(args, env=case[2] if len(case) > 2 else None,
                        timeout=15)
                err = r.stderr.decode()
                self.assertEqual(r.returncode, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertRegex(err, pattern)
                self.assertTrue(err.startswith("bridge: "), err)


if __name__ == "__main__":
    h.main()
