"""Connection probes for tests/bench/run.sh (standard library only).

    conns.py idle HOST PORT PATH N BODY PID...
        Measure the memory N idle keep-alive connections cost a server:
        read the VmRSS (and Pss) of PID... (the server's workers), open N
        connections, send one GET PATH on each and read its response
        (ending in BODY), leave them idle for SETTLE s (env, default 2),
        read the memory again, count how many the server still holds open,
        close them all. Prints one tab-separated line:
            wanted held failed rss_before_kb rss_after_kb
            pss_before_kb pss_after_kb open_seconds
        Connections are opened at most INFLIGHT (env, default 256) at a
        time, so the listen queue never overflows.

    conns.py pipeline HOST PORT PATH DEPTH BODY
        Send DEPTH GET requests in one write on one connection and check
        that DEPTH "200" responses ending in BODY come back on it (what
        pipeline.lua makes wrk do). Prints "ok" or the problem; exit 0/1.

BODY is given with Python escapes (e.g. 'Hello, world!\\n').
"""

import errno
import os
import resource
import selectors
import socket
import sys
import time


def unescape(s):
    return s.encode().decode("unicode_escape").encode("latin-1")


def request(host, port, path):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: bridge-bench\r\n\r\n").encode()


def memory(pids):
    """(sum VmRSS kB, sum Pss kB) of PIDS; Pss is 0 where unreadable."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def complete(buf, body):
    """A whole response: headers, then BODY last (or BODY then the
    chunked end)."""
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    return rest.endswith(body) or (body in rest and
                                   rest.endswith(b"0\r\n\r\n"))


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def idle(host, port, path, n, body, pids):
    settle = float(os.environ.get("SETTLE", "2"))
    inflight = int(os.environ.get("INFLIGHT", "256"))
    limit = raise_nofile(n)
    if limit < n + 16:
        sys.exit(f"conns.py: open-file limit {limit} is below {n} + 16")
    req = request(host, port, path)
    before = memory(pids)
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    held, failed, started, pending = [], 0, 0, 0
    deadline = t0 + 120
    while len(held) + failed < n and time.monotonic() < deadline:
        while started < n and pending < inflight:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            err = s.connect_ex((host, port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            sel.register(s, selectors.EVENT_WRITE, [b"", False])
            pending += 1
        for key, _ in sel.select(timeout=1):
            s, st = key.fileobj, key.data
            try:
                if not st[1]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.send(req)
                    st[1] = True
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                data = s.recv(65536)
                if not data:
                    raise OSError(errno.ECONNRESET, "closed by the server")
                st[0] += data
                if complete(st[0], body):
                    sel.unregister(s)
                    held.append(s)
                    pending -= 1
            except OSError:
                sel.unregister(s)
                s.close()
                failed += 1
                pending -= 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
        failed += 1
    opened = time.monotonic() - t0
    time.sleep(settle)
    after = memory(pids)
    # Still open: nothing to read yet (EAGAIN); closed: b"" or an error.
    still = 0
    for s in held:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                still += 1  # unexpected data, but open
        except BlockingIOError:
            still += 1
        except OSError:
            pass
    for s in held:
        s.close()
    print(f"{n}\t{still}\t{failed}\t{before[0]}\t{after[0]}\t"
          f"{before[1]}\t{after[1]}\t{opened:.2f}")


def pipeline(host, port, path, depth, body):
    req = request(host, port, path)
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(req * depth)
        buf = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if (buf.count(b"HTTP/1.1 200 ") >= depth
                    and buf.count(body) >= depth and complete(buf, body)):
                break
            data = s.recv(65536)
            if not data:
                break
            buf += data
        s.close()
    except OSError as e:
        print(f"pipeline: {e}")
        return 1
    n200, nbody = buf.count(b"HTTP/1.1 200 "), buf.count(body)
    if n200 == depth and nbody >= depth:
        print("ok")
        return 0
    first = buf[:120].decode("latin-1").replace("\r\n", " | ")
    print(f"pipeline: {n200} of {depth} responses were 200, {nbody} bodies "
          f"({len(buf)} bytes; starts: {first})")
    return 1


def main():
    a = sys.argv[1:]
    if len(a) >= 6 and a[0] == "idle":
        idle(a[1], int(a[2]), a[3], int(a[4]), unescape(a[5]),
             [int(p) for p in a[6:]])
        return 0
    if len(a) == 6 and a[0] == "pipeline":
        return pipeline(a[1], int(a[2]), a[3], int(a[4]), unescape(a[5]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
