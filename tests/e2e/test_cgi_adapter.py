#!/usr/bin/python3
"""
The CGI-script adapter (adapters/cgi, issue 6) end to end: bridge runs
the shell, Perl and Python scripts of tests/apps/cgi-bin

  - standalone, on its own HTTP front end (CgiHttpTest), and
  - behind a real nginx with fastcgi_pass and SCRIPT_FILENAME
    (CgiNginxTest), next to fcgiwrap serving the very same scripts from
    the same nginx, in the same run.

The fcgiwrap side never fails a test: what it does is recorded and
printed as a table at the end ("bridge vs fcgiwrap"), so a reader sees
where the two differ (no timeout, orphaned scripts, deadlock on a large
POST, any SCRIPT_FILENAME run, HTTP_PROXY passed on, ...).  The bridge
side is asserted.

Environment: BRIDGE, BUILDDIR, SRCDIR as for every e2e test; the adapter
is $BUILDDIR/adapters/cgi/.libs/cgi.so unless CGI_ADAPTER names another
build of it.
"""
import ctypes
import http.client
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

CGI_SO = os.environ.get("CGI_ADAPTER") or os.path.join(
    h.BUILDDIR, "adapters", "cgi", ".libs", "cgi.so")
SCRIPTS = os.path.join(h.SRCDIR, "tests", "apps", "cgi-bin")
TIMEOUT_S = 3           # the adapter's timeout in these tests
GRACE_S = 1             # its TERM -> KILL grace
TEN_MIB = 10 << 20
SLACK = 6               # seconds of scheduling slack on a loaded machine

# Variables a script may see: RFC 3875 section 4.1, the extensions the
# adapter passes, PATH, and what the interpreters add themselves.
ALLOWED_VARS = {
    "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE",
    "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR",
    "REMOTE_HOST", "REMOTE_IDENT", "REMOTE_USER", "REQUEST_METHOD",
    "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
    "SERVER_SOFTWARE", "DOCUMENT_ROOT", "DOCUMENT_URI", "REQUEST_URI",
    "REQUEST_SCHEME", "SCRIPT_FILENAME", "REMOTE_PORT", "SERVER_ADDR",
    "HTTPS", "REDIRECT_STATUS", "PATH",
    "PWD", "SHLVL", "_", "OLDPWD",      # sh sets these itself
    "CWD", "ARGC",                      # printed by env.py / env.pl
    "LC_CTYPE",                         # python3 sets it (PEP 538)
}

# --- fcgiwrap comparison table --------------------------------------------

DIFFS = []


def record(case, bridge, fcgiwrap, note=""):
    """One row of the bridge vs fcgiwrap table (never an assertion)."""
    DIFFS.append((case, str(bridge), str(fcgiwrap), note))


def print_diffs():
    if not DIFFS:
        return
    out = ["", "bridge vs fcgiwrap (same nginx, same scripts):"]
    w = max(len(d[0]) for d in DIFFS)
    for case, b, f, note in DIFFS:
        same = "same" if b == f else "DIFFERS"
        out.append("  %-*s  bridge: %-28s fcgiwrap: %-28s %s%s"
                   % (w, case, b, f, same, (" -- " + note) if note else ""))
    sys.stderr.write("\n".join(out) + "\n")


# --- the script tree ---------------------------------------------------------

class Tree:
    """www/cgi-bin with the test scripts, plus what the traversal tests
    need: outside/evil.sh (outside every root; leaves a marker when run),
    symlinks out of the root (a file and a directory), a symlink inside
    it, a subdirectory and a non-executable script."""

    def __init__(self, tc):
        if not os.path.isdir(SCRIPTS):
            raise AssertionError("no scripts in %s" % SCRIPTS)
        self.tc = tc
        self.tmp = h.TempDir(tc, "bridge-cgi-")
        self.www = self.tmp.join("www")
        self.bin = os.path.join(self.www, "cgi-bin")
        self.outside = self.tmp.join("outside")
        os.makedirs(self.bin)
        os.makedirs(self.outside)
        for name in os.listdir(SCRIPTS):
            dst = os.path.join(self.bin, name)
            shutil.copyfile(os.path.join(SCRIPTS, name), dst)
            os.chmod(dst, 0o644 if name == "noexec.sh" else 0o755)
        os.makedirs(os.path.join(self.bin, "sub"))
        if os.geteuid() == 0:
            # The scripts run as nobody (bridge --user nobody) and write
            # their pids-TAG files here.
            nobody = pwd.getpwnam("nobody")
            os.chown(self.bin, nobody.pw_uid, nobody.pw_gid)
        shutil.copy(os.path.join(self.bin, "env.sh"),
                    os.path.join(self.bin, "sub", "env.sh"))
        self.marker = os.path.join(self.outside, "evil-ran")
        self.evil = os.path.join(self.outside, "evil.sh")
        with open(self.evil, "w") as f:
            f.write("#!/bin/sh\ntouch %s\nprintf 'Content-Type: "
                    "text/plain\\r\\n\\r\\nevil ran\\n'\n" % self.marker)
        os.chmod(self.evil, 0o755)
        os.symlink(self.evil, os.path.join(self.bin, "escape.sh"))
        os.symlink(self.outside, os.path.join(self.bin, "linkdir"))
        os.symlink("env.sh", os.path.join(self.bin, "inside-link.sh"))
        tc.addCleanup(self.kill_leftovers)

    def pids(self, tag, timeout=5.0):
        """The pids endless*.sh wrote for tag (script, its child)."""
        path = os.path.join(self.bin, "pids-" + tag)
        ok = h.wait_for(lambda: len(h.read_text(path).split()) == 2,
                        timeout)
        if not ok:
            raise AssertionError("script never wrote %s" % path)
        return [int(p) for p in h.read_text(path).split()]

    def kill_leftovers(self):
        """Whatever a test left running (fcgiwrap's orphans)."""
        for name in os.listdir(self.bin):
            if name.startswith("pids-"):
                for p in h.read_text(os.path.join(self.bin,
                                                  name)).split():
                    if alive(int(p)):
                        try:
                            os.kill(int(p), signal.SIGKILL)
                        except OSError:
                            pass
                    reap_if_ours(int(p))


def proc_state(pid):
    """State letter of pid ('R', 'S', 'Z', ...) or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2]


def alive(pid):
    """Running, as opposed to gone or a zombie.  (An orphan's zombie
    waits for PID 1 to reap it; in a container PID 1 may never do so,
    which is not the adapter's doing.)"""
    st = proc_state(pid)
    return st is not None and st != "Z"


def setUpModule():
    """Become a child subreaper (prctl PR_SET_CHILD_SUBREAPER): what
    fcgiwrap or a script leaves behind is reparented to this process, not
    to PID 1 (which, in a container, may never reap it), and the cleanup
    below reaps it.  Only pids the tests know are waited for, never -1,
    so the harness's own children keep their exit status."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def tearDownModule():
    """Reap the orphans adopted as subreaper that no test knew by pid
    (a script fcgiwrap was running when it was killed).  Every process
    the harness started has been waited for by now."""
    for pid in children(os.getpid()):
        if proc_state(pid) == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def reap_if_ours(pid, timeout=2.0):
    """Wait for pid if it was reparented to us."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return
    if int(data[data.rindex(")") + 2:].split()[1]) != os.getpid():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            return
        time.sleep(0.02)


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    out += [int(p) for p in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def worker_children(bridge):
    """{worker pid: [(child pid, state)]} of a bridge."""
    return {w: [(c, proc_state(c)) for c in children(w)]
            for w in hh.worker_pids(bridge.proc.pid)}


def module_arg(root, timeout=TIMEOUT_S, extra=""):
    return "root=%s\ntimeout=%d\ngrace=%d%s" % (root, timeout, GRACE_S,
                                                extra)


def require_adapter(tc):
    if not os.path.exists(CGI_SO):
        raise AssertionError("CGI adapter %s not built (set CGI_ADAPTER "
                             "to use another build)" % CGI_SO)


def env_of(body):
    return h.parse_env(body)


def extra_vars(env):
    """How many variables beyond the allowed ones, and a few names."""
    extra = sorted(v for v in env if v not in ALLOWED_VARS
                   and not v.startswith("HTTP_"))
    return "%d %s" % (len(extra), ",".join(extra[:3]))


# --- standalone: bridge --http -----------------------------------------------

class CgiHttpTest(unittest.TestCase):
    """bridge --http with the adapter, root = www (URL /cgi-bin/x.sh)."""

    def setUp(self):
        require_adapter(self)
        self.t = Tree(self)
        self.b = self.start_bridge()

    def start_bridge(self, timeout=TIMEOUT_S, extra=""):
        return hh.HttpBridge(self, module=CGI_SO, workers=2, extra=[
            "--module-arg", module_arg(self.t.www, timeout, extra)])

    def get(self, path, method="GET", body=None, headers=None, timeout=30,
            bridge=None):
        return h.http_request((bridge or self.b).port, method, path,
                              body=body, headers=headers, timeout=timeout)

    # environment --------------------------------------------------------

    def check_env(self, env, script, path_info="", query=""):
        self.assertEqual(env["GATEWAY_INTERFACE"], "CGI/1.1")
        self.assertEqual(env["SCRIPT_NAME"], "/cgi-bin/" + script)
        self.assertEqual(env.get("PATH_INFO", ""), path_info)
        self.assertEqual(env["QUERY_STRING"], query)
        self.assertEqual(env["SCRIPT_FILENAME"],
                         os.path.join(os.path.realpath(self.t.bin), script))
        self.assertEqual(env["PATH"], "/usr/local/bin:/usr/bin:/bin")
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertNotIn("HTTP_PROXY", env)
        extra = set(env) - ALLOWED_VARS
        self.assertFalse({v for v in extra if not v.startswith("HTTP_")},
                         "variables beyond RFC 3875: %s" % extra)

    def test_env_shell_perl_python(self):
        for script in ("env.sh", "env.pl", "env.py"):
            with self.subTest(script=script):
                st, hd, body = self.get(
                    "/cgi-bin/%s/a/b%%20c?x=1&y=2" % script,
                    headers={"Proxy": "http://evil.example:3128",
                             "X-Custom": "yes"})
                self.assertEqual(st, 200, body)
                self.assertEqual(hd["content-type"], "text/plain")
                env = env_of(body)
                self.check_env(env, script, "/a/b c", "x=1&y=2")
                self.assertEqual(env["HTTP_X_CUSTOM"], "yes")
                self.assertEqual(env["PATH_TRANSLATED"],
                                 os.path.realpath(self.t.www) + "/a/b c")

    def test_cwd_and_no_command_line(self):
        st, _, body = self.get("/cgi-bin/env.py")
        self.assertEqual(env_of(body)["CWD"], os.path.realpath(self.t.bin))
        # RFC 3875 section 4.4's "indexed query" command line is not
        # built (CVE-2012-1823): no argv from "?-s+x".
        st, _, body = self.get("/cgi-bin/env.pl?-s+x")
        self.assertEqual(env_of(body)["ARGC"], "0")

    def test_worker_environment_not_leaked(self):
        st, _, body = self.get("/cgi-bin/env.sh")
        env = env_of(body)
        for name in ("HOME", "LD_PRELOAD", "BRIDGE", "BUILDDIR", "SRCDIR"):
            self.assertNotIn(name, env)

    def test_subdirectory_path_walk(self):
        st, _, body = self.get("/cgi-bin/sub/env.sh/more/info")
        self.assertEqual(st, 200, body)
        env = env_of(body)
        self.assertEqual(env["SCRIPT_NAME"], "/cgi-bin/sub/env.sh")
        self.assertEqual(env["PATH_INFO"], "/more/info")

    # body both ways -------------------------------------------------------

    def test_post_echo_10mib_no_deadlock(self):
        # A bridge whose timeout cannot cut a slow machine's echo: a
        # deadlock shows as the client's 60 s running out.
        b = self.start_bridge(timeout=60)
        data = os.urandom(TEN_MIB)
        for script in ("echo.sh", "echo.pl", "echo.py"):
            with self.subTest(script=script):
                t0 = time.monotonic()
                st, hd, body = self.get(
                    "/cgi-bin/" + script, "POST", data,
                    {"Content-Type": "application/octet-stream"}, 60,
                    bridge=b)
                self.assertEqual(st, 200)
                want = (b"x" * (1 << 20) + data) if script == "echo.py" \
                    else data
                self.assertEqual(len(body), len(want))
                self.assertTrue(body == want, "body differs")
                self.assertLess(time.monotonic() - t0, 30)

    def test_big_output_script_ignores_body(self):
        # big.sh never reads its stdin: the adapter must stop feeding
        # (EPIPE) without dying or stalling, and still relay 10 MiB.
        b = self.start_bridge(timeout=60)
        st, _, body = self.get("/cgi-bin/big.sh", "POST",
                               os.urandom(TEN_MIB), timeout=60, bridge=b)
        self.assertEqual(st, 200)
        self.assertEqual(body, b"\0" * TEN_MIB)

    def test_chunked_body_gets_content_length(self):
        data = os.urandom(300000)
        with self.b.connect(timeout=30) as c:
            c.send(b"POST /cgi-bin/echo.pl HTTP/1.1\r\nHost: t\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   + hh.chunk_encode(data))
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, data)

    # the CGI response -------------------------------------------------------

    def test_status(self):
        st, hd, body = self.get("/cgi-bin/status.sh?404")
        self.assertEqual(st, 404)
        self.assertEqual(hd["x-script"], "status")
        with self.b.connect() as c:
            r = c.request("/cgi-bin/status.sh?418%20I'm%20a%20teapot")
        self.assertEqual((r.status, r.reason), (418, "I'm a teapot"))
        for bad in ("99", "abc", "1000"):
            with self.subTest(status=bad):
                st, _, _ = self.get("/cgi-bin/status.sh?" + bad)
                self.assertEqual(st, 502)
        self.b.wait_log(r"cgi status\.sh: Status is not 200-999.*: 502")

    def test_local_redirect(self):
        st, hd, body = self.get("/cgi-bin/redirect-local.sh", "POST",
                                b"body for the first script only")
        self.assertEqual(st, 200, body)
        env = env_of(body)
        self.assertEqual(env["SCRIPT_NAME"], "/cgi-bin/env.sh")
        self.assertEqual(env["QUERY_STRING"], "redirected=1")
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertNotIn("CONTENT_LENGTH", env)

    def test_local_redirect_loop_bounded(self):
        st, _, _ = self.get("/cgi-bin/redirect-loop.sh")
        self.assertEqual(st, 500)
        self.b.wait_log(r"more than \d+ local redirects")

    def test_client_redirect(self):
        st, hd, body = self.get("/cgi-bin/redirect-client.sh")
        self.assertEqual(st, 302)
        self.assertEqual(hd["location"], "http://example.com/elsewhere?x=1")

    def test_nph(self):
        st, hd, body = self.get("/cgi-bin/nph-hello.sh")
        self.assertEqual(st, 201)
        self.assertEqual(hd["x-nph"], "yes")
        self.assertEqual(body, b"nph body\n")

    def test_hop_by_hop_fields_left_out(self):
        st, hd, body = self.get("/cgi-bin/hop.sh")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"hop\n")
        self.assertNotIn("keep-alive", hd)

    def test_stderr_in_log_with_request_id(self):
        tag = "t%d" % os.getpid()
        st, _, body = self.get("/cgi-bin/stderr.sh?" + tag)
        self.assertEqual((st, body), (200, b"ok\n"))
        self.b.wait_log(r"\[req [^\]]+\] cgi stderr\.sh: stderr: stderr "
                        r"line from the script tag=%s\n" % tag)

    # failures -----------------------------------------------------------

    def test_crash_before_output_502(self):
        st, _, _ = self.get("/cgi-bin/crash.sh")
        self.assertEqual(st, 502)
        self.b.wait_log(r"\[req [^\]]+\] cgi crash\.sh: no output "
                        r"\(killed by signal 11")
        st, _, _ = self.get("/cgi-bin/crash.py")
        self.assertEqual(st, 502)
        self.b.wait_log(r"cgi crash\.py: stderr: RuntimeError: crash\.py")
        self.b.wait_log(r"cgi crash\.py: no output \(exit status 1\): 502")

    def test_no_output_502(self):
        st, _, _ = self.get("/cgi-bin/nothing.sh")
        self.assertEqual(st, 502)
        self.b.wait_log(r"cgi nothing\.sh: no output \(exit status 0\)")

    def test_bad_header_502(self):
        st, _, _ = self.get("/cgi-bin/badheader.pl")
        self.assertEqual(st, 502)
        self.b.wait_log(r"cgi badheader\.pl: header line without a name")

    def test_exec_failure_502(self):
        # No "#!" line (ENOEXEC: no /bin/sh fallback) and a missing
        # interpreter (ENOENT): the spawn fails, the client gets 502.
        for script, err in (("noshebang.sh", "Exec format error"),
                            ("badinterp.sh", "No such file")):
            with self.subTest(script=script):
                st, _, body = self.get("/cgi-bin/" + script)
                self.assertEqual(st, 502, body)
                self.b.wait_log(r"cgi %s: cannot run: %s.*: 502"
                                % (re.escape(script), err))

    def test_path_with_newline_logged_as_one_line(self):
        st, _, _ = self.get("/cgi-bin/missing%0aFORGED%0d.sh")
        self.assertEqual(st, 404)
        self.b.wait_log(r"missing\?FORGED\?\.sh: no such script: 404")
        self.assertNotRegex(self.b.log(), r"(?m)^FORGED")

    def test_endless_504_process_group_killed(self):
        tag = "e%d" % time.monotonic_ns()
        t0 = time.monotonic()
        st, _, body = self.get("/cgi-bin/endless.sh?" + tag)
        took = time.monotonic() - t0
        self.assertEqual(st, 504, body)
        self.assertGreaterEqual(took, TIMEOUT_S - 0.5)
        self.assertLess(took, TIMEOUT_S + GRACE_S + SLACK)
        # endless.sh ignores TERM, and so does its child: both needed
        # the KILL that follows the grace.  The script is reaped before
        # the answer; its child dies of the KILL a moment later.
        for pid in self.t.pids(tag):
            self.assertTrue(h.wait_for(lambda: not alive(pid), 2),
                            "pid %d left running" % pid)
        self.b.wait_log(r"cgi endless\.sh: timed out after %d s; killing "
                        r"its process group" % TIMEOUT_S)

    def test_timeout_after_start_cuts_response(self):
        tag = "s%d" % time.monotonic_ns()
        with self.b.connect(timeout=30) as c:
            c.send(hh.get_request("/cgi-bin/endless-started.sh?" + tag))
            r = c.read_head()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("transfer-encoding"), "chunked")
            # The connection closes without the last chunk: cut.
            rest = c.read_to_eof(timeout=TIMEOUT_S + GRACE_S + 5)
            self.assertTrue(c.eof)
            self.assertGreater(len(rest), 1 << 20)
            self.assertFalse(rest.endswith(b"\r\n0\r\n\r\n"))
        for pid in self.t.pids(tag):
            self.assertTrue(h.wait_for(lambda: not alive(pid), 5),
                            "pid %d left running" % pid)
        self.b.wait_log(r"cgi endless-started\.sh: timed out .* cutting")

    def test_timeout_fires_while_script_writes_without_pause(self):
        # A script that never stops writing, to a client that keeps up:
        # the copy loop must still come back to the deadline.  --threads
        # 2: the script's thread waits for the client past --max-spool
        # (with one thread the response would be cut there instead, and
        # the deadline never reached); a small spool, so that what is
        # left to read after the cut is small on a loaded machine.
        b = hh.HttpBridge(self, module=CGI_SO, workers=1, extra=[
            "--module-arg", module_arg(self.t.www, TIMEOUT_S, ""),
            "--threads", "2", "--max-spool", "2m"])
        tag = "w%d" % time.monotonic_ns()
        t0 = time.monotonic()
        with b.connect(timeout=30) as c:
            c.send(hh.get_request("/cgi-bin/stream.sh?" + tag))
            self.assertEqual(c.read_head().status, 200)
            c.read_to_eof(timeout=TIMEOUT_S + GRACE_S + 5)
            self.assertTrue(c.eof)
        # Without the deadline the script (yes) never ends; what is
        # left in the spool after the cut takes a loaded machine a few
        # seconds to read (12.6 s in all seen in CI): a loose bound, and
        # the log line says the deadline is what ended it.
        self.assertLess(time.monotonic() - t0, TIMEOUT_S + GRACE_S + 30)
        for pid in self.t.pids(tag):
            self.assertTrue(h.wait_for(lambda: not alive(pid), 5),
                            "pid %d left running" % pid)
        b.wait_log(r"cgi stream\.sh: timed out .* cutting")

    def test_client_abort_kills_script(self):
        b = self.start_bridge(timeout=60)
        tag = "a%d" % time.monotonic_ns()
        c = b.connect(timeout=30)
        c.send(hh.get_request("/cgi-bin/stream.sh?" + tag))
        self.assertEqual(c.read_head().status, 200)
        pids = self.t.pids(tag)
        c.close()
        for pid in pids:
            self.assertTrue(h.wait_for(lambda: not alive(pid), 10),
                            "pid %d still running after the client left"
                            % pid)
        b.wait_log(r"cgi stream\.sh: client went away")

    # bridge's own flags ----------------------------------------------------

    def test_cli_flags(self):
        """--cgi ROOT --cgi-timeout --cgi-ext, which load the adapter from
        the build tree (or BRIDGE_ADAPTER_DIR) with key=value lines."""
        help_text = subprocess.run([h.BRIDGE, "--help"], capture_output=True,
                                   text=True, timeout=10)
        for flag in ("--cgi ", "--cgi-timeout", "--cgi-ext"):
            self.assertIn(flag, help_text.stdout + help_text.stderr)
        b = self.cli_bridge(["--cgi-timeout", "2", "--cgi-ext", ".sh,.pl"])
        st, _, body = self.get("/cgi-bin/env.sh", bridge=b)
        self.assertEqual(st, 200, body)
        self.assertEqual(self.get("/cgi-bin/env.pl", bridge=b)[0], 200)
        self.assertEqual(self.get("/cgi-bin/env.py", bridge=b)[0], 403)
        t0 = time.monotonic()
        self.assertEqual(self.get("/cgi-bin/endless.sh?cli", bridge=b)[0],
                         504)
        self.assertLess(time.monotonic() - t0, 2 + 2 + SLACK)  # default grace
        b.wait_log(r"cgi endless\.sh: timed out after 2 s")

    def cli_bridge(self, extra):
        """bridge --cgi (the adapter found as --cgi finds it), -w 1."""
        env = {}
        if os.path.basename(CGI_SO) == "cgi.so":
            env["BRIDGE_ADAPTER_DIR"] = os.path.dirname(CGI_SO)
        elif not os.path.exists(os.path.join(h.BUILDDIR, "adapters", "cgi",
                                             ".libs", "cgi.so")):
            self.skipTest("--cgi finds only a build named cgi.so")
        b = hh.HttpBridge(self, module=CGI_SO, workers=1, start=False,
                          extra=["--cgi", self.t.www] + extra)
        i = b.args.index("--module")
        del b.args[i:i + 2]
        with mock.patch.dict(os.environ, env):
            b.start()
        return b

    def test_scripts_side_by_side_in_one_worker(self):
        """With --cgi a worker runs several scripts at once (default
        --threads 4): a slow script does not hold a quick one behind it.
        --threads 1 gives fcgiwrap's behaviour back, one at a time."""
        slow = os.path.join(self.t.bin, "slow.sh")
        with open(slow, "w") as f:
            f.write("#!/bin/sh\nsleep 3\nprintf 'Content-Type: text/plain"
                    "\\r\\n\\r\\nslow\\n'\n")
        os.chmod(slow, 0o755)
        for extra, overlap in (([], True), (["--threads", "1"], False)):
            with self.subTest(extra=extra):
                b = self.cli_bridge(extra)
                done = {}

                def fetch():
                    done["slow"] = self.get("/cgi-bin/slow.sh", bridge=b)
                t = threading.Thread(target=fetch)
                t.start()
                # The slow script is running once its request is in.
                time.sleep(0.5)
                t0 = time.monotonic()
                st, _, body = self.get("/cgi-bin/env.sh", bridge=b)
                quick = time.monotonic() - t0
                t.join(30)
                self.assertEqual(st, 200, body)
                self.assertEqual(done["slow"][0], 200)
                if overlap:
                    self.assertLess(quick, 2.0, "the quick script waited "
                                    "for the slow one")
                else:
                    self.assertGreater(quick, 1.5, "--threads 1 ran two "
                                       "scripts at once")
                b.stop()

    def test_check_config_shows_cgi_threads(self):
        out = subprocess.run(
            [h.BRIDGE, "--http", "127.0.0.1:1", "--cgi", self.t.www,
             "--check-config"] + h.user_args(), capture_output=True,
            text=True, timeout=10,
            env=dict(os.environ, BRIDGE_ADAPTER_DIR=os.path.dirname(CGI_SO)))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("threads = 4\n", out.stdout)
        out = subprocess.run(
            [h.BRIDGE, "--http", "127.0.0.1:1", "--cgi", self.t.www,
             "--threads", "2", "--check-config"] + h.user_args(),
            capture_output=True,
            text=True, timeout=10,
            env=dict(os.environ, BRIDGE_ADAPTER_DIR=os.path.dirname(CGI_SO)))
        self.assertIn("threads = 2\n", out.stdout)

    def test_core_timeout_shorter_than_cgi_timeout_leaves_no_orphan(self):
        """bridge's --timeout (default 30) ends the worker when a request
        runs past it, before the adapter's own --cgi-timeout (60): the
        script's process group, which the adapter gave to bridge with
        own_pgid(), is killed with it rather than left running."""
        b = hh.HttpBridge(self, module=CGI_SO, workers=1, extra=[
            "--timeout", "2", "--module-arg", module_arg(self.t.www, 20)])
        tag = "o%d" % time.monotonic_ns()
        st, _, _ = self.get("/cgi-bin/endless.sh?" + tag, bridge=b)
        self.assertEqual(st, 504)
        for pid in self.t.pids(tag):
            self.assertTrue(h.wait_for(lambda: not alive(pid), 5),
                            "pid %d orphaned and still running" % pid)

    # safety -------------------------------------------------------------

    def test_traversal_and_confinement(self):
        cases = [
            ("/cgi-bin/escape.sh", 403, "resolves outside the CGI root"),
            ("/cgi-bin/linkdir/evil.sh", 403,
             "resolves outside the CGI root"),
            ("/cgi-bin/%2e%2e/%2e%2e/outside/evil.sh", 403, r"'\.\.'"),
            ("/cgi-bin/sub/%2E%2E/env.sh", 403, r"'\.\.'"),
            ("/cgi-bin/noexec.sh", 403, "not executable"),
            ("/cgi-bin/missing.sh", 404, "no such script"),
            ("/cgi-bin/", 403, "names a directory"),
            ("/cgi-bin/env.sh%00.txt", 400, None),
        ]
        for path, want, log in cases:
            with self.subTest(path=path):
                with self.b.connect() as c:
                    c.send(hh.get_request(path))
                    r = c.read_response()
                self.assertEqual(r.status, want, r.body)
                if log:
                    self.b.wait_log(r"cgi: .*%s.*: .*%s.*: %d" % (
                        re.escape(path.split("%")[0].rstrip("/")), log,
                        want))
        # A raw "/../" must not get there either (400 from the front end
        # or 403 from the adapter).
        with self.b.connect() as c:
            c.send(hh.get_request("/cgi-bin/../../outside/evil.sh"))
            self.assertIn(c.read_response().status, (400, 403, 404))
        self.assertFalse(os.path.exists(self.t.marker), "evil.sh ran")
        st, _, body = self.get("/cgi-bin/inside-link.sh")
        self.assertEqual(st, 200, body)

    def test_extension_allow_list(self):
        b = self.start_bridge(extra="\nextensions=.pl,.py")
        st, _, _ = self.get("/cgi-bin/env.sh", bridge=b)
        self.assertEqual(st, 403)
        b.wait_log("no allowed extension")
        st, _, _ = self.get("/cgi-bin/env.pl", bridge=b)
        self.assertEqual(st, 200)

    def test_no_zombies_no_children_after_a_run(self):
        paths = ["/cgi-bin/env.sh", "/cgi-bin/crash.sh",
                 "/cgi-bin/nothing.sh", "/cgi-bin/badheader.pl",
                 "/cgi-bin/redirect-local.sh", "/cgi-bin/nph-hello.sh",
                 "/cgi-bin/status.sh?500", "/cgi-bin/crash.py"]
        for _ in range(3):
            for p in paths:
                self.get(p)
        self.get("/cgi-bin/big.sh", "POST", os.urandom(1 << 20))
        left = {w: c for w, c in worker_children(self.b).items() if c}
        self.assertEqual(left, {}, "worker children left: %s" % left)


# --- behind nginx, next to fcgiwrap ------------------------------------------

NGINX_SITE = """
server {
    listen 127.0.0.1:%(port_b)d;
    root %(www)s;
    client_max_body_size 32m;
    location /cgi-bin/ {
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_pass unix:%(bridge_sock)s;
        fastcgi_read_timeout %(read_timeout)ds;
        fastcgi_send_timeout %(read_timeout)ds;
    }
}
server {
    listen 127.0.0.1:%(port_f)d;
    root %(www)s;
    client_max_body_size 32m;
    location /cgi-bin/ {
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_pass unix:%(fcgiwrap_sock)s;
        fastcgi_read_timeout %(read_timeout)ds;
        fastcgi_send_timeout %(read_timeout)ds;
    }
}
"""

NGINX_READ_TIMEOUT = TIMEOUT_S + 4     # longer than bridge's timeout


class NginxPair:
    """nginx with one server for bridge and one for fcgiwrap, both with
    SCRIPT_FILENAME = $document_root$fastcgi_script_name, root www."""

    def __init__(self, tc, www, bridge_sock, fcgiwrap_sock):
        (self.bin,) = h.require(tc, "nginx")
        self.tmp = h.TempDir(tc, "bridge-cgi-nginx-")
        t = self.tmp
        for d in ("logs", "body", "fastcgi", "proxy", "scgi", "uwsgi"):
            os.makedirs(t.join(d))
        self.port_b = h.free_port()
        self.port_f = h.free_port()
        with open(t.join("bridge.conf"), "w") as f:
            f.write(NGINX_SITE % {
                "port_b": self.port_b, "port_f": self.port_f, "www": www,
                "bridge_sock": bridge_sock, "fcgiwrap_sock": fcgiwrap_sock,
                "read_timeout": NGINX_READ_TIMEOUT})
        params = "/etc/nginx/fastcgi_params"
        shutil.copy(params if os.path.exists(params)
                    else os.path.join(h.HERE, "fastcgi_params"),
                    t.join("fastcgi_params"))
        with open(os.path.join(h.HERE, "nginx-main.conf.in")) as f:
            main = f.read().replace("@PREFIX@", t.path)
        with open(t.join("nginx.conf"), "w") as f:
            f.write(main)
        self.err = t.join("logs", "error.log")
        self.stderr = open(t.join("stderr"), "wb")
        tc.addCleanup(self.stderr.close)
        self.proc = subprocess.Popen(
            [self.bin, "-c", t.join("nginx.conf"), "-p", t.path + "/",
             "-g", "daemon off;"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        tc.addCleanup(h.stop_process, self.proc, signal.SIGQUIT)
        h.wait_port("127.0.0.1", self.port_b, proc=self.proc)
        h.wait_port("127.0.0.1", self.port_f, proc=self.proc)

    def error_log(self):
        return h.read_text(self.err)


class Fcgiwrap:
    """fcgiwrap -s unix:PATH in a session of its own, so that cleanup can
    kill it with every script it left behind."""

    def __init__(self, tc, tmp, workers=2):
        (self.bin,) = h.require(tc, "fcgiwrap")
        self.sock = tmp.join("fcgiwrap.sock")
        self.log_path = tmp.join("fcgiwrap.log")
        self.logf = open(self.log_path, "wb")
        tc.addCleanup(self.logf.close)
        self.proc = subprocess.Popen(
            [self.bin, "-c", str(workers), "-s", "unix:" + self.sock],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            start_new_session=True)
        tc.addCleanup(self.stop)
        h.wait_unix(self.sock, proc=self.proc)
        os.chmod(self.sock, 0o666)

    def log(self):
        return h.read_text(self.log_path)

    def stop(self):
        # TERM, then KILL for whatever is still in the session (the
        # scripts it left running); its forked workers end up ours to
        # reap (see setUpModule).
        workers = children(self.proc.pid)
        h.stop_process(self.proc, signal.SIGTERM, 3)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for pid in workers:
            reap_if_ours(pid)


class CgiNginxTest(unittest.TestCase):
    """nginx -> bridge (FastCGI, unix socket, root www/cgi-bin) and
    nginx -> fcgiwrap, same scripts, same requests."""

    @classmethod
    def tearDownClass(cls):
        print_diffs()

    def setUp(self):
        require_adapter(self)
        h.require(self, "nginx", "fcgiwrap")
        self.t = Tree(self)
        btmp = h.TempDir(self)
        self.b = h.Bridge(self, module=CGI_SO, workers=2, unix=True,
                          tmp=btmp, extra=[
                              "--socket-mode", "0666", "--module-arg",
                              module_arg(self.t.bin)])
        self.f = Fcgiwrap(self, h.TempDir(self))
        self.n = NginxPair(self, self.t.www, self.b.addr, self.f.sock)

    def both(self, path, method="GET", body=None, headers=None, timeout=30,
             nginx=None):
        """(bridge answer, fcgiwrap answer), each (status, headers, body,
        seconds) or (exception name, {}, b"", seconds)."""
        out = []
        n = nginx or self.n
        for port in (n.port_b, n.port_f):
            t0 = time.monotonic()
            try:
                r = h.http_request(port, method, path, body=body,
                                   headers=headers, timeout=timeout)
            except (OSError, http.client.HTTPException) as e:
                r = (type(e).__name__, {}, b"")
            out.append(r + (time.monotonic() - t0,))
        return out

    def test_env(self):
        for script in ("env.sh", "env.pl", "env.py"):
            with self.subTest(script=script):
                b, f = self.both("/cgi-bin/%s?q=1" % script,
                                 headers={"Proxy": "http://evil:3128"})
                self.assertEqual(b[0], 200, b[2])
                env = env_of(b[2])
                self.assertEqual(env["SCRIPT_NAME"], "/cgi-bin/" + script)
                self.assertEqual(env["SCRIPT_FILENAME"], os.path.join(
                    os.path.realpath(self.t.bin), script))
                self.assertEqual(env["QUERY_STRING"], "q=1")
                self.assertEqual(env["DOCUMENT_ROOT"], self.t.www)
                self.assertNotIn("HTTP_PROXY", env)
                self.assertNotIn("CONTENT_LENGTH", env)
                if script != "env.sh":
                    continue
                fenv = env_of(f[2]) if f[0] == 200 else {}
                record("HTTP_PROXY from a Proxy: header",
                       "HTTP_PROXY" in env, "HTTP_PROXY" in fenv,
                       "httpoxy")
                record("variables beyond RFC 3875 + HTTP_*",
                       extra_vars(env), extra_vars(fenv),
                       "fcgiwrap passes its own environment on")
                record("empty CONTENT_LENGTH on a GET",
                       "CONTENT_LENGTH" in env, "CONTENT_LENGTH" in fenv,
                       "RFC 3875 4.1.2: unset without a body")

    def test_path_info(self):
        b, f = self.both("/cgi-bin/env.sh/extra/path")
        self.assertEqual(b[0], 200, b[2])
        env = env_of(b[2])
        self.assertEqual(env["SCRIPT_NAME"], "/cgi-bin/env.sh")
        self.assertEqual(env["PATH_INFO"], "/extra/path")
        fenv = env_of(f[2]) if f[0] == 200 else {}
        record("PATH_INFO split (no fastcgi_split_path_info)",
               (b[0], env.get("PATH_INFO")), (f[0], fenv.get("PATH_INFO")))

    def long_bridge(self, timeout=60):
        """A second bridge with a long timeout and an nginx in front of
        it and the same fcgiwrap."""
        b = h.Bridge(self, module=CGI_SO, workers=1, unix=True,
                     tmp=h.TempDir(self), extra=[
                         "--socket-mode", "0666", "--module-arg",
                         module_arg(self.t.bin, timeout=timeout)])
        return b, NginxPair(self, self.t.www, b.addr, self.f.sock)

    def test_post_echo_10mib(self):
        _, n = self.long_bridge()
        data = os.urandom(TEN_MIB)
        for script in ("echo.sh", "echo.pl"):
            with self.subTest(script=script):
                b, f = self.both("/cgi-bin/" + script, "POST", data,
                                 {"Content-Type":
                                  "application/octet-stream"}, nginx=n)
                self.assertEqual(b[0], 200)
                self.assertTrue(b[2] == data, "echo differs")
                record("POST 10 MiB echo %s" % script,
                       "%s ok=%s %.1fs" % (b[0], b[2] == data, b[3]),
                       "%s ok=%s %.1fs" % (f[0], f[2] == data, f[3]),
                       "fcgiwrap writes the whole body before reading")

    def test_status_and_redirects(self):
        b, f = self.both("/cgi-bin/status.sh?404")
        self.assertEqual(b[0], 404)
        record("Status: 404", b[0], f[0])
        b, f = self.both("/cgi-bin/redirect-client.sh")
        self.assertEqual(b[0], 302)
        self.assertEqual(b[1]["location"],
                         "http://example.com/elsewhere?x=1")
        record("client redirect", b[0], f[0])
        b, f = self.both("/cgi-bin/redirect-local.sh")
        self.assertEqual(b[0], 200)
        self.assertEqual(env_of(b[2])["QUERY_STRING"], "redirected=1")
        record("local redirect (Location: /path)", b[0], f[0],
               "fcgiwrap leaves it to nginx")
        b, f = self.both("/cgi-bin/nph-hello.sh")
        self.assertEqual(b[0], 201)
        record("NPH script", b[0], f[0])

    def test_failures(self):
        for script in ("crash.sh", "crash.py", "nothing.sh",
                       "badheader.pl", "noshebang.sh", "badinterp.sh"):
            with self.subTest(script=script):
                b, f = self.both("/cgi-bin/" + script)
                self.assertEqual(b[0], 502)
                record(script, b[0], f[0])
        self.b.wait_log(r"cgi crash\.sh: no output \(killed by signal 11")

    def test_stderr(self):
        tag = "n%d" % time.monotonic_ns()
        b, f = self.both("/cgi-bin/stderr.sh?" + tag)
        self.assertEqual(b[0], 200)
        self.b.wait_log(r"\[req [^\]]+\] cgi stderr\.sh: stderr: .*tag=%s"
                        % tag)
        time.sleep(0.2)
        where = ("fcgiwrap's stderr" if tag in self.f.log() else
                 "nginx error log" if tag in self.n.error_log() else
                 "lost")
        record("script stderr", "bridge log + request id", where)

    def test_endless(self):
        tb, tf = ("b%d" % time.monotonic_ns(), "f%d" % time.monotonic_ns())
        t0 = time.monotonic()
        st, _, _ = h.http_request(self.n.port_b, "GET",
                                  "/cgi-bin/endless.sh?" + tb, timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(st, 504)
        self.assertLess(took, TIMEOUT_S + GRACE_S + SLACK)
        for pid in self.t.pids(tb):
            self.assertTrue(h.wait_for(lambda: not alive(pid), 2),
                            "pid %d left running" % pid)
        t0 = time.monotonic()
        try:
            fst = h.http_request(self.n.port_f, "GET",
                                 "/cgi-bin/endless.sh?" + tf,
                                 timeout=30)[0]
        except (OSError, http.client.HTTPException) as e:
            fst = type(e).__name__
        ftook = time.monotonic() - t0
        fpids = self.t.pids(tf)
        record("endless script: answer", "%s after %.1fs" % (st, took),
               "%s after %.1fs" % (fst, ftook),
               "fcgiwrap has no timeout; nginx's read timeout answers")
        record("endless script: processes left", 0,
               sum(alive(p) for p in fpids), "fcgiwrap leaves them")

    def test_client_abort(self):
        # A bridge with a long timeout, so only the abort can stop the
        # script; nginx drops its FastCGI connection when the client goes.
        b, n = self.long_bridge()
        gone = {}
        for side, port in (("bridge", n.port_b), ("fcgiwrap", n.port_f)):
            tag = "%s%d" % (side[0], time.monotonic_ns())
            with hh.RawHttp(("127.0.0.1", port), timeout=10) as c:
                c.send(hh.get_request("/cgi-bin/stream.sh?" + tag))
                self.assertEqual(c.read_head().status, 200)
                pids = self.t.pids(tag)
            gone[side] = h.wait_for(
                lambda: not any(alive(p) for p in pids), 8)
        self.assertTrue(gone["bridge"], "script outlived the client")
        b.wait_log(r"cgi stream\.sh: client went away")
        record("client abort stops the script", gone["bridge"],
               gone["fcgiwrap"], "within 8 s")

    def test_script_filename_outside_root(self):
        # A raw FastCGI peer (or a careless fastcgi_param) hands over a
        # SCRIPT_FILENAME outside the root.
        params = h.request_params("/cgi-bin/x", extra={
            "SCRIPT_FILENAME": self.t.evil,
            "DOCUMENT_ROOT": self.t.www})
        with h.FcgiConn(self.b.addr) as c:
            r = c.request(params=params)
        self.assertEqual(r.status, 403)
        self.assertFalse(os.path.exists(self.t.marker))
        self.b.wait_log("outside the CGI root: 403")
        with h.FcgiConn(self.f.sock) as c:
            fr = c.request(params=params)
        record("SCRIPT_FILENAME outside the root", r.status,
               "ran it" if os.path.exists(self.t.marker)
               else fr.status or "no answer")

    def test_symlink_out_of_root(self):
        for path in ("/cgi-bin/escape.sh", "/cgi-bin/linkdir/evil.sh"):
            with self.subTest(path=path):
                b = h.http_request(self.n.port_b, "GET", path)
                self.assertEqual(b[0], 403)
                self.assertFalse(os.path.exists(self.t.marker))
                f = h.http_request(self.n.port_f, "GET", path)
                record("symlink out of root %s" % path, b[0],
                       "%s%s" % (f[0], " (ran it)"
                                 if os.path.exists(self.t.marker) else ""))
                try:
                    os.unlink(self.t.marker)
                except FileNotFoundError:
                    pass

    def test_traversal_through_nginx(self):
        for path in ("/cgi-bin/%2e%2e/outside/evil.sh",
                     "/cgi-bin/../../outside/evil.sh",
                     "/cgi-bin/noexec.sh", "/cgi-bin/missing.sh"):
            with self.subTest(path=path):
                b, f = self.both(path)
                self.assertIn(b[0], (400, 403, 404))
                self.assertFalse(os.path.exists(self.t.marker))
                record("GET %s" % path, b[0], f[0])

    def test_no_zombies(self):
        for p in ("/cgi-bin/env.sh", "/cgi-bin/crash.sh",
                  "/cgi-bin/redirect-local.sh", "/cgi-bin/nothing.sh"):
            self.both(p)
        left = {w: c for w, c in worker_children(self.b).items() if c}
        self.assertEqual(left, {}, "worker children left: %s" % left)
        fz = [c for c in children(self.f.proc.pid)
              if proc_state(c) == "Z"]
        record("zombies after a run", 0, len(fz))


if __name__ == "__main__":
    h.main()
