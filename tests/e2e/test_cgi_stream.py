#!/usr/bin/python3
"""
CGI scripts that take their time (issue 11, item 9), through real nginx
(conf/nginx-bridge.conf, fastcgi_keep_conn on and off), over bridge's own
--http front end and over raw FastCGI, with --threads 4 (the --cgi
default) and --threads 1:

  - streaming: a script that prints a line and then waits has that line
    reach the client while it waits, not when it ends;
  - abandoned: a script whose client goes away (the client closes, nginx
    closes its FastCGI connection, or a FastCGI client sends
    ABORT_REQUEST) is stopped, with what it started, while it sleeps
    without writing a byte.

bridge runs as root with --user nobody, as users run it; the scripts and
their directories are readable by nobody, and run/ (pid files, markers)
writable.  No timing bounds: the test waits for files the script writes
and for its pids to go, each wait bounded.
"""
import os
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

CGI_SO = os.environ.get("CGI_ADAPTER") or os.path.join(
    h.BUILDDIR, "adapters", "cgi", ".libs", "cgi.so")
WAIT = 10.0             # bound on each wait for the script

# Prints its pid, a first line, then waits for run/go-TAG (at most 20 s),
# leaves run/late-TAG and prints a last line.  Behind nginx's
# fastcgi_buffering on (the shipped conf), a response streams only if it
# says so: X-Accel-Buffering: no, as conf/nginx-bridge.conf documents.
STREAM_SH = r"""#!/bin/sh
tag=$QUERY_STRING
echo "$$" > run/pid-$tag.tmp && mv run/pid-$tag.tmp run/pid-$tag
printf 'Content-Type: text/plain\r\nX-Accel-Buffering: no\r\n\r\n'
echo first
i=0
while [ ! -e run/go-$tag ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
touch run/late-$tag
echo last
"""

# Starts a child, writes both pids, then sleeps without a byte of output.
SLEEP_SH = r"""#!/bin/sh
tag=$QUERY_STRING
sleep 300 &
echo "$$ $!" > run/pid-$tag.tmp && mv run/pid-$tag.tmp run/pid-$tag
wait
"""


def alive(pid):
    """Running, as opposed to gone or a zombie (an orphaned child's
    zombie waits for PID 1, which in a container may never reap it)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2] != "Z"


class Scripts:
    """DIR/{stream,sleep}.sh and DIR/run/ for what the scripts write."""

    def __init__(self, tc, path):
        self.dir = path
        self.run = os.path.join(path, "run")
        os.makedirs(self.run, exist_ok=True)
        os.chmod(path, 0o755)
        os.chmod(self.run, 0o777)
        for name, text in (("stream.sh", STREAM_SH),
                           ("sleep.sh", SLEEP_SH)):
            p = os.path.join(path, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o755)
        self.n = 0

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def file(self, kind, tag):
        return os.path.join(self.run, "%s-%s" % (kind, tag))

    def pids(self, tag):
        path = self.file("pid", tag)
        if not h.wait_for(lambda: os.path.exists(path), WAIT):
            raise AssertionError("the script never wrote " + path)
        return [int(p) for p in h.read_text(path).split()]

    def kill_leftovers(self):
        """A failed test's scripts, so that nothing outlives it."""
        for name in os.listdir(self.run):
            if name.startswith("pid-"):
                for p in h.read_text(os.path.join(self.run, name)).split():
                    if alive(int(p)):
                        try:
                            os.kill(int(p), signal.SIGKILL)
                        except OSError:
                            pass


def module_arg(root):
    # A long timeout: only the client's going away may stop a script.
    return "root=%s\ntimeout=60\ngrace=1" % root


def bridge_args(threads):
    return ["--threads", str(threads), "--user", "nobody"]


def read_until(sock, data, marker, what):
    """Read from sock until marker is in data; returns data."""
    sock.settimeout(WAIT)
    while marker not in data:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError("%s: no %r within %.0f s; have %r"
                                 % (what, marker, WAIT, data[-300:]))
        if not chunk:
            raise AssertionError("%s: closed before %r; have %r"
                                 % (what, marker, data[-300:]))
        data += chunk
    return data


def read_to_eof(sock):
    sock.settimeout(WAIT)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def get(path, tag):
    return ("GET %s?%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            % (path, tag)).encode()


class Front:
    """bridge with the CGI adapter behind one of: its own --http, nginx
    with the shipped conf (keep-conn on or off), or nothing (FastCGI).
    self.http: (host, port) HTTP clients talk to, the scripts at its
    root."""

    def __init__(self, tc, kind, threads):
        if not os.path.exists(CGI_SO):
            raise AssertionError("CGI adapter %s not built" % CGI_SO)
        tmp = h.TempDir(tc, "bridge-cgi-stream-")
        self.start(tc, tmp, kind, threads)
        # Cleanups run last first: the leftovers go before bridge's
        # graceful stop, which would wait for them.
        tc.addCleanup(self.s.kill_leftovers)

    def start(self, tc, tmp, kind, threads):
        if kind == "http":
            self.s = Scripts(tc, tmp.join("www"))
            self.b = hh.HttpBridge(tc, module=CGI_SO, extra=[
                "--module-arg", module_arg(self.s.dir)]
                + bridge_args(threads))
            self.http = self.b.addr
            return
        # nginx passes DOCUMENT_ROOT (its root, PREFIX/html) and the URL
        # path; the adapter finds the script there, under its root.
        self.s = Scripts(tc, tmp.join("html"))
        self.b = h.Bridge(tc, module=CGI_SO, start=False, extra=[
            "--module-arg", module_arg(self.s.dir)] + bridge_args(threads))
        if kind == "fastcgi":
            self.b.start()
            return
        subs = {} if kind == "nginx-keep" else {
            "fastcgi_keep_conn on;": "fastcgi_keep_conn off;"}
        self.n = h.Nginx(tc, self.b.addr, tmp.join("unused.sock"), tmp=tmp,
                         subs=subs)
        self.b.start()
        self.http = ("127.0.0.1", self.n.port)

    def fcgi_params(self, script, tag):
        return h.request_params("/%s?%s" % (script, tag), extra={
            "PATH_INFO": "", "DOCUMENT_ROOT": self.s.dir})


VARIANTS = [(kind, threads) for kind in ("http", "nginx-keep",
                                         "nginx-close")
            for threads in (4, 1)]


class CgiStreamTest(unittest.TestCase):
    def test_first_line_arrives_while_script_sleeps(self):
        for kind, threads in VARIANTS:
            with self.subTest(front=kind, threads=threads):
                f = Front(self, kind, threads)
                tag = f.s.tag()
                late = f.s.file("late", tag)
                with socket.create_connection(f.http, WAIT) as c:
                    c.sendall(get("/stream.sh", tag))
                    data = read_until(c, b"", b"first\n", kind)
                    # The script is still waiting for go-TAG: what came
                    # is what it flushed, not what it left at its end.
                    self.assertFalse(os.path.exists(late),
                                     "the first line came with the end")
                    self.assertNotIn(b"last", data)
                    with open(f.s.file("go", tag), "w"):
                        pass
                    data += read_to_eof(c)
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
                self.assertIn(b"last\n", data)
                self.assertTrue(os.path.exists(late))

    def test_script_stopped_when_client_goes(self):
        for kind, threads in VARIANTS:
            with self.subTest(front=kind, threads=threads):
                f = Front(self, kind, threads)
                tag = f.s.tag()
                with socket.create_connection(f.http, WAIT) as c:
                    c.sendall(get("/sleep.sh", tag))
                    pids = f.s.pids(tag)
                    self.assertTrue(all(alive(p) for p in pids))
                gone = h.wait_for(
                    lambda: not any(alive(p) for p in pids), WAIT)
                self.assertTrue(gone, "%s: script %s still running after "
                                "the client left" % (kind, pids))
                f.b.wait_log(r"cgi sleep\.sh: client went away")

    def test_script_stopped_by_abort_request(self):
        for threads in (4, 1):
            with self.subTest(threads=threads):
                f = Front(self, "fastcgi", threads)
                tag = f.s.tag()
                with h.FcgiConn(f.b.addr) as c:
                    c.send(h.request_bytes(
                        rid=1, flags=h.FCGI_KEEP_CONN,
                        params=f.fcgi_params("sleep.sh", tag)))
                    pids = f.s.pids(tag)
                    c.send(h.fcgi_record(h.FCGI_ABORT_REQUEST, 1))
                    # Section 5.4: the aborted request ends with
                    # END_REQUEST, and the connection stays.
                    r = c.read_response(1)
                    self.assertIsNotNone(r.end)
                    gone = h.wait_for(
                        lambda: not any(alive(p) for p in pids), WAIT)
                    self.assertTrue(gone, "script %s still running after "
                                    "ABORT_REQUEST" % pids)
                    tag2 = f.s.tag()
                    c.send(h.request_bytes(
                        rid=2, flags=h.FCGI_KEEP_CONN,
                        params=f.fcgi_params("stream.sh", tag2)))
                    with open(f.s.file("go", tag2), "w"):
                        pass
                    r = c.read_response(2)
                    self.assertIn(b"first\nlast\n", r.stdout)


if __name__ == "__main__":
    h.main()
