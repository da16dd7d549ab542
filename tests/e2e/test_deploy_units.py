#!/usr/bin/python3
"""
The systemd units in conf/ as shipped, read by this test (not retyped):
each socket unit's ListenStream= and FileDescriptorName= (with systemd's
rules: every ListenStream of a unit adds a socket, FileDescriptorName=
names all of them, the last one given wins) become
systemd-socket-activate's -l and --fdname; bridge.service's ExecStart,
User= and Group= start bridge as systemd would, with a bridge.conf for
the Flask example.  nginx (conf/nginx-bridge.conf) talks FastCGI to the
unix socket, curl HTTP to the TCP one.

Before the fix, conf/bridge.socket had two [Socket] sections in one
unit: both sockets were named "http" and nginx's FastCGI requests got
"400 malformed or refused request".  A bridge.conf naming an address
systemd had passed failed with "bind: Address already in use".
"""
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import deploy_harness as d                                      # noqa: E402


def read_unit(name):
    """conf/NAME as {section: [(key, value), ...]}, sections merged as
    systemd merges them."""
    out, sect = {}, None
    with open(os.path.join(h.CONF, name)) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sect = out.setdefault(line.strip("[]"), [])
                continue
            k, _, v = line.partition("=")
            sect.append((k.strip(), v.strip()))
    return out


def values(unit, section, key):
    return [v for k, v in unit.get(section, []) if k == key]


def socket_units():
    """The socket units bridge.service takes its sockets from."""
    svc = read_unit("bridge.service")
    names = " ".join(values(svc, "Service", "Sockets")).split()
    return names or ["bridge.socket"]


class UnitsTest(unittest.TestCase):
    def setUp(self):
        h.require(self, "systemd-socket-activate", "setpriv", "nginx",
                  "curl")
        if os.geteuid() != 0:
            self.skipTest("needs root: the units' User= is www-data")
        if not os.path.exists(d.ADAPTER):
            self.skipTest("Python adapter not built")
        self.tmp = h.TempDir(self)
        self.sock = self.tmp.join("bridge.sock")
        self.http_port = h.free_port()
        self.listen, self.names = [], []
        for name in socket_units():
            unit = read_unit(name)
            streams = values(unit, "Socket", "ListenStream")
            fdname = (values(unit, "Socket", "FileDescriptorName")
                      or [name])[-1]
            self.assertTrue(streams, "%s has no ListenStream=" % name)
            for s in streams:
                if s == "/run/bridge/bridge.sock":
                    s = self.sock
                elif s == "127.0.0.1:8000":
                    s = "127.0.0.1:%d" % self.http_port
                else:
                    self.fail("%s: ListenStream=%s unknown to the test"
                              % (name, s))
                self.listen.append(s)
                self.names.append(fdname)
        svc = read_unit("bridge.service")
        self.user = values(svc, "Service", "User")[-1]
        self.group = values(svc, "Service", "Group")[-1]
        self.exec_start = shlex.split(values(svc, "Service",
                                             "ExecStart")[-1])
        self.assertEqual(self.exec_start[:3], [
            "/usr/local/bin/bridge", "--config", "/etc/bridge/bridge.conf"])
        pw = pwd.getpwnam(self.user)
        self.log = self.tmp.join("error.log")
        # the log file is the service user's, as under systemd
        open(self.log, "w").close()
        os.chown(self.log, pw.pw_uid, pw.pw_gid)

    def start(self, conf_lines):
        conf = self.tmp.join("bridge.conf")
        with open(conf, "w") as f:
            f.write("\n".join(conf_lines + [
                "wsgi = main:app", "chdir = " + d.FLASK,
                "workers = 2", "error-log = " + self.log]) + "\n")
        argv = [h.BRIDGE if a == "/usr/local/bin/bridge" else
                conf if a == "/etc/bridge/bridge.conf" else a
                for a in self.exec_start]
        cmd = ["systemd-socket-activate"]
        for addr in self.listen:
            cmd += ["-l", addr]
        cmd += ["--fdname=" + ":".join(self.names),
                "setpriv", "--reuid", self.user, "--regid", self.group,
                "--init-groups", "--"] + argv
        env = dict(os.environ)
        env.pop("BRIDGE_ALLOW_ROOT", None)
        err = open(self.tmp.join("stderr"), "wb")
        self.addCleanup(err.close)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=err,
                                     env=env)
        self.addCleanup(h.stop_process, self.proc)
        h.wait_port("127.0.0.1", self.http_port, proc=self.proc)
        # systemd-socket-activate starts bridge on the first connection
        self.nginx = h.Nginx(self, ("127.0.0.1", 9), self.sock)

    def diag(self):
        return "\nbridge:\n%s\n%s" % (h.read_text(self.log)[-3000:],
                                     h.read_text(self.tmp.join("stderr")))

    def curl(self, port, path="/"):
        r = subprocess.run(["curl", "-sS", "-m", "30", "-o", "-", "-w",
                            "\n%{http_code}", "http://127.0.0.1:%d%s"
                            % (port, path)], capture_output=True, timeout=60)
        body, _, code = r.stdout.rpartition(b"\n")
        return int(code or 0), body

    def check_both(self):
        st, body = self.curl(self.http_port, "/")
        self.assertEqual((st, body), (200, b"hello world"), self.diag())
        # nginx's unix-socket server -> the socket named "fastcgi"
        st, body = self.curl(self.nginx.port_unix, "/json?q=u")
        self.assertEqual(st, 200, body + self.diag().encode())
        self.assertIn(b'"query":"u"', body.replace(b" ", b""))

    def test_shipped_units_fastcgi_and_http(self):
        self.start([])
        self.check_both()

    def test_conf_naming_a_passed_address_adopts_it(self):
        self.start(["fastcgi = unix:" + self.sock,
                    "http = 127.0.0.1:%d" % self.http_port])
        self.check_both()
        self.assertNotIn("Address already in use", self.diag())
        # A reload (re-exec) takes the same sockets over again, by
        # address, instead of binding them.
        self.proc.send_signal(signal.SIGHUP)
        self.assertTrue(h.wait_for(lambda: h.read_text(self.log).count(
            "serving on") >= 2, 20), self.diag())
        self.check_both()
        self.assertNotIn("already in use", self.diag())

    def test_systemd_analyze_verify(self):
        (analyze,) = h.require(self, "systemd-analyze")
        d_ = self.tmp.join("units")
        os.makedirs(d_)
        for name in ["bridge.service"] + socket_units():
            with open(os.path.join(h.CONF, name)) as f:
                text = f.read().replace("/usr/local/bin/bridge", h.BRIDGE)
            with open(os.path.join(d_, name), "w") as f:
                f.write(text)
        r = subprocess.run([analyze, "verify"] + [
            os.path.join(d_, n) for n in ["bridge.service"]
            + socket_units()], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        units = ["bridge.service"] + socket_units()
        bad = [l for l in (r.stdout + r.stderr).splitlines()
               if any(u in l for u in units)]
        self.assertEqual(bad, [])


if __name__ == "__main__":
    h.main()
