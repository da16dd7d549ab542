"""
The ASGI compatibility grid's rows and servers, for test_asgi_grid.py.

Each example under examples/asgi/ (Starlette, FastAPI, Quart, Django) has
the same routes; a row is one behaviour checked with the same requests on
every server: uvicorn (Debian's, `/usr/bin/python3 -m uvicorn`, the
reference) and bridge (`--asgi APP`, as root with --user nobody, its HTTP
listener or FastCGI behind nginx).  A row returns None when it passed or
a one-line reason when it did not; rows an application cannot have
(Django 3.2 has no lifespan protocol) are "n/a" for every server.
"""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import harness as h

EXAMPLES = os.path.join(h.SRCDIR, "examples", "asgi")
PYTHON = "/usr/bin/python3"

# name: (APP argument, rows it cannot have, prefix of its marker files)
APPS = {
    "starlette": ("starlette_app:app", (), "starlette"),
    "fastapi": ("fastapi_app:app", (), "fastapi"),
    "quart": ("quart_app:app", (), "quart"),
    "django": ("djangoasgi.asgi:application", ("lifespan", "shutdown"),
               "django"),
}


def bridge_has_asgi():
    """Whether this bridge knows --asgi (the ASGI adapter is merged)."""
    try:
        out = subprocess.run([h.BRIDGE, "--help"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=h.TIMEOUT).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--asgi" in out


# --- servers ---------------------------------------------------------------

class Server:
    """One server running an example; port: where to send the requests;
    state: the directory the example writes its markers in (writable by
    nobody); workers: how many processes run the application."""
    name = "?"
    workers = 1

    def __init__(self, testcase, app):
        self.tc = testcase
        self.app = app
        self.tmp = h.TempDir(testcase, "bridge-asgi-")
        self.state = h.TempDir(testcase, "bridge-asgi-state-", writable=True)
        self.port = h.free_port()
        self.log_path = self.tmp.join("server.log")
        self.proc = None

    def log(self):
        return h.read_text(self.log_path)

    def stop(self):
        """TERM, as a service manager stops it; returns the status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        return h.stop_process(self.proc, signal.SIGTERM, 20)

    def markers(self, prefix):
        return sorted(n for n in os.listdir(self.state.path)
                      if n.startswith(prefix))


class Uvicorn(Server):
    name = "uvicorn"

    def __init__(self, testcase, app, extra=()):
        super().__init__(testcase, app)
        out = open(self.log_path, "wb")
        testcase.addCleanup(out.close)
        env = dict(os.environ, ASGI_EXAMPLE_STATE=self.state.path)
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "--app-dir", EXAMPLES, "--host",
             "127.0.0.1", "--port", str(self.port), "--workers", "1",
             "--log-level", "warning"] + list(extra) + [app],
            cwd=EXAMPLES, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
        testcase.addCleanup(self.stop)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)


class BridgeAsgi(Server):
    """bridge --http (or --fastcgi) --asgi APP --chdir examples/asgi, as
    root with --user nobody; log_level info so a failed row shows why."""
    name = "bridge"
    workers = 2

    def __init__(self, testcase, app, front="--http", extra=()):
        super().__init__(testcase, app)
        self.stdout = open(self.tmp.join("bridge.stdout"), "wb")
        testcase.addCleanup(self.stdout.close)
        env = dict(os.environ)
        # As users run it: as root with --user nobody (harness), never
        # the --allow-root shortcut an outer environment might set.
        env.pop("BRIDGE_ALLOW_ROOT", None)
        self.addr = ("127.0.0.1", self.port)
        self.proc = subprocess.Popen(
            [h.BRIDGE, front, "127.0.0.1:%d" % self.port, "--asgi", app,
             "--chdir", EXAMPLES, "-w", str(self.workers),
             "--env", "ASGI_EXAMPLE_STATE=" + self.state.path,
             "--error-log", self.log_path] + list(extra)
            + h.user_args(), env=env, stdin=subprocess.DEVNULL,
            stdout=self.stdout, stderr=subprocess.STDOUT)
        testcase.addCleanup(self.stop)
        h.wait_port("127.0.0.1", self.port, proc=self.proc)
        if not h.wait_for(lambda: "serving on" in self.log(), 10):
            raise AssertionError("bridge never logged 'serving on':\n"
                                 + self.log())

    def log(self):
        return h.read_text(self.log_path) + h.read_text(
            self.tmp.join("bridge.stdout"))


# --- rows --------------------------------------------------------------------

def get(port, path, method="GET", body=None, headers=None, timeout=30):
    return h.http_request(port, method, path, body=body, headers=headers,
                          timeout=timeout)


def expect(what, want, got):
    if want != got:
        return "%s: want %r, got %r" % (what, want, got)
    return None


def multipart(fields, files):
    boundary = "asgi-grid-%s" % os.urandom(8).hex()
    out = []
    for name, value in fields:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\""
                    "\r\n\r\n%s\r\n" % (boundary, name, value)).encode())
    for name, filename, data in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                    "filename=\"%s\"\r\nContent-Type: "
                    "application/octet-stream\r\n\r\n"
                    % (boundary, name, filename)).encode() + data + b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return "multipart/form-data; boundary=" + boundary, b"".join(out)


def row_hello(port, srv):
    st, hd, body = get(port, "/")
    return expect("GET /", (200, b"hello world"), (st, body))


def row_head(port, srv):
    st, hd, body = get(port, "/", "HEAD")
    return expect("HEAD /", (200, b""), (st, body))


def row_echo(port, srv):
    doc = {"a": [1, 2.5, "caf\u00e9"], "n": None, "t": True}
    st, hd, body = get(port, "/echo", "POST", json.dumps(doc).encode(),
                       {"Content-Type": "application/json"})
    if st != 200:
        return "POST /echo: status %d %r" % (st, body[:200])
    if not hd.get("content-type", "").startswith("application/json"):
        return "POST /echo: Content-Type %r" % hd.get("content-type")
    return expect("POST /echo", {"echo": doc}, json.loads(body))


def row_echo_chunked(port, srv):
    # A request body of unknown length (Transfer-Encoding: chunked),
    # as a streaming client sends it.
    doc = {"chunked": list(range(50))}
    data = json.dumps(doc).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/echo", body=iter([data[:7], data[7:]]),
                     headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200:
        return "chunked POST /echo: status %d %r" % (r.status, body[:200])
    return expect("chunked POST /echo", {"echo": doc}, json.loads(body))


def row_pipelined(port, srv):
    # Three requests in one write: three answers, in order.
    reqs = b"".join(b"GET /headers?q=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i
                    for i in range(3))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(reqs)
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b'"q"') < 3 and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    got = [int(x) for x in re.findall(rb'"q": ?"(\d)"', data)]
    return expect("queries answered", [0, 1, 2], got)


def row_upload(port, srv):
    for n in (0, 1000, 1 << 20):
        data = os.urandom(n)
        ctype, body = multipart([("note", "n%d" % n)],
                                [("file", "data.bin", data)])
        st, hd, out = get(port, "/upload", "POST", body,
                          {"Content-Type": ctype})
        if st != 200:
            return "upload %d bytes: status %d %r" % (n, st, out[:200])
        err = expect("upload %d bytes" % n, {
            "note": "n%d" % n, "filename": "data.bin", "size": n,
            "sha256": hashlib.sha256(data).hexdigest()}, json.loads(out))
        if err:
            return err
    return None


def row_stream(port, srv):
    st, hd, body = get(port, "/stream")
    want = b"".join(b"chunk %d\n" % i for i in range(5))
    err = expect("GET /stream", (200, want), (st, body))
    if err is None and "content-length" in hd:
        # Streamed, not buffered into one response with a length.
        return "GET /stream: Content-Length %s" % hd["content-length"]
    return err


def row_background(port, srv):
    token = os.urandom(6).hex()
    st, hd, body = get(port, "/background?token=" + token, "POST", b"")
    if st != 202:
        return "POST /background: status %d %r" % (st, body[:200])
    done = h.wait_for(lambda: get(port, "/background/" + token)[0] == 200,
                      10, 0.1)
    return None if done else "the background task wrote no marker in 10 s"


def row_lifespan(port, srv):
    # Every worker ran startup: ask more times than there are workers.
    for _ in range(4 * srv.workers):
        st, hd, body = get(port, "/lifespan")
        if st != 200:
            return "GET /lifespan: status %d %r" % (st, body[:200])
        err = expect("GET /lifespan", {"started": "set at startup"},
                     json.loads(body))
        if err:
            return err
    return None


def row_static(port, srv):
    with open(os.path.join(EXAMPLES, "static", "hello.txt"), "rb") as f:
        want = f.read()
    st, hd, body = get(port, "/static/hello.txt")
    err = expect("GET /static/hello.txt", (200, want), (st, body))
    if err:
        return err
    st, hd, body = get(port, "/static/missing.txt")
    return expect("GET /static/missing.txt status", 404, st)


def row_sleep(port, srv):
    st, hd, body = get(port, "/sleep?s=0.2")
    return expect("GET /sleep?s=0.2", (200, b"slept 0.2"), (st, body))


def row_sleep_concurrent(port, srv):
    # 40 requests that each await a one-second sleep, all at once: an
    # event loop answers them together (about a second); a worker that
    # held each request would need 40 / workers seconds.
    n, results = 40, []
    lock = threading.Lock()

    def one():
        try:
            r = get(port, "/sleep?s=1")[0]
        except OSError as e:
            r = repr(e)
        with lock:
            results.append(r)
    threads = [threading.Thread(target=one) for _ in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    took = time.monotonic() - t0
    bad = [r for r in results if r != 200]
    if len(results) != n or bad:
        return "%d of %d answered 200: %r" % (n - len(bad), n, bad[:3])
    if took > 10:
        return "40 concurrent 1 s sleeps took %.1f s" % took
    return None


def row_not_found(port, srv):
    st, hd, body = get(port, "/no/such/route")
    return expect("GET /no/such/route status", 404, st)


def row_headers(port, srv):
    st, hd, body = get(port, "/headers?q=caf%C3%A9&x=1", headers={
        "X-Test": "grid value"})
    if st != 200:
        return "GET /headers: status %d %r" % (st, body[:200])
    return expect("GET /headers", {"x_test": "grid value",
                                   "q": "caf\u00e9"}, json.loads(body))


def row_error(port, srv):
    st, hd, body = get(port, "/error")
    if st != 500:
        return "GET /error: status %d, not 500" % st
    # ... and the server goes on.
    return expect("GET / after the error", (200, b"hello world"),
                  get(port, "/")[::2])


def row_keepalive(port, srv):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for i in range(50):
            conn.request("GET", "/")
            r = conn.getresponse()
            body = r.read()
            if (r.status, body) != (200, b"hello world"):
                return "request %d on one connection: %d %r" % (
                    i, r.status, body[:100])
            if r.will_close:
                return "the server closed the connection after %d" % (i + 1)
    finally:
        conn.close()
    return None


# Run in this order on each server; "shutdown" (the markers lifespan
# shutdown writes) is checked after the server stopped.
ROWS = [
    ("hello", row_hello),
    ("head", row_head),
    ("json echo", row_echo),
    ("chunked body", row_echo_chunked),
    ("upload", row_upload),
    ("stream", row_stream),
    ("background", row_background),
    ("lifespan", row_lifespan),
    ("static", row_static),
    ("sleep", row_sleep),
    ("sleep x40", row_sleep_concurrent),
    ("404", row_not_found),
    ("headers+query", row_headers),
    ("error 500", row_error),
    ("keep-alive", row_keepalive),
    ("pipelined", row_pipelined),
]
ROW_NAMES = [n for n, _ in ROWS] + ["shutdown"]


def run_rows(srv, port, skip=(), only=None):
    """Every row against one running server: {row: None | reason}.
    Stops the server at the end for the shutdown row."""
    out = {}
    for name, fn in ROWS:
        if name in skip or (only is not None and name not in only):
            continue
        try:
            out[name] = fn(port, srv)
        except Exception as e:      # a row's failure, not the test's
            out[name] = "%s: %s" % (type(e).__name__, e)
    return out


def check_shutdown(srv, prefix, workers):
    rc = srv.stop()
    names = srv.markers(prefix + "-shutdown-")
    if rc != 0:
        return "exited with status %s on TERM" % rc
    return expect("shutdown markers (one per worker)", workers, len(names))


def grid_text(title, servers, results, na=()):
    """The grid as text: rows x servers, PASS / FAIL / n/a."""
    w = max(len(n) for n in ROW_NAMES) + 2
    lines = ["", "ASGI grid: " + title,
             "%-*s" % (w, "row") + "".join("%-22s" % s for s in servers)]
    for row in ROW_NAMES:
        cells = []
        for s in servers:
            r = results.get(s, {})
            if row in na:
                cells.append("n/a")
            elif isinstance(r, str):
                cells.append(r[:21])
            elif row not in r:
                cells.append("-")
            else:
                cells.append("PASS" if r[row] is None else "FAIL")
        lines.append("%-*s" % (w, row) + "".join("%-22s" % c for c in cells))
    for s in servers:
        r = results.get(s, {})
        if isinstance(r, dict):
            for row in ROW_NAMES:
                if row not in na and r.get(row):
                    lines.append("  %s / %s: %s" % (s, row, r[row]))
        elif r:
            lines.append("  %s: %s" % (s, r))
    return "\n".join(lines) + "\n"
