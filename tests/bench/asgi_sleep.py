"""The "1,000 sleepers" probe of tests/bench/run.sh --group asgi
(standard library only).

    asgi_sleep.py HOST PORT PATH N BODY PID...

Opens N connections to HOST:PORT at once, sends one `GET PATH` on each
(the raw ASGI example's /sleep: `await asyncio.sleep(1)`, then "hello
world") and waits for every response, with a bound of 60 s.  Meanwhile it
samples the VmRSS of PID... (the server's worker) every 20 ms.  Prints one
tab-separated line:

    wanted ok failed seconds rss_before_kb rss_peak_kb rss_after_kb

seconds: from the first connect to the last response.  A response that is
not "200" ending in BODY, a reset or a timeout counts as failed (the first
few reasons go to stderr).  BODY takes Python escapes.
"""

import asyncio
import resource
import sys
import time

BOUND = 60.0


def unescape(s):
    return s.encode().decode("unicode_escape").encode("latin-1")


def rss_kb(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


async def one(host, port, path, body, errors):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        errors.append(f"connect: {e}")
        return False
    try:
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      "Connection: close\r\n\r\n").encode())
        data = await reader.read()      # to EOF: Connection: close
    except OSError as e:
        errors.append(f"read: {e}")
        return False
    finally:
        writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or not rest.endswith(body):
        # A chunked body ends in its terminator, not in BODY.
        if not (b"chunked" in head.lower() and body in rest):
            errors.append(f"answer: {data[:120]!r}")
            return False
    return True


async def main():
    host, port, path, n, body = sys.argv[1:6]
    n, body = int(n), unescape(body)
    pids = sys.argv[6:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024),
                                                    hard))
    before = peak = rss_kb(pids)
    errors = []
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(one(host, port, path, body, errors))
             for _ in range(n)]
    done = asyncio.gather(*tasks)
    while not done.done() and time.monotonic() - t0 < BOUND:
        await asyncio.wait([done], timeout=0.02)
        peak = max(peak, rss_kb(pids))
    took = time.monotonic() - t0
    if not done.done():
        for t in tasks:
            t.cancel()
        errors.append(f"not all answered in {BOUND:.0f} s")
    await asyncio.gather(*tasks, return_exceptions=True)
    ok = sum(1 for t in tasks if not t.cancelled() and t.result() is True)
    after = rss_kb(pids)
    for e in errors[:5]:
        print(e, file=sys.stderr)
    print(f"{n}\t{ok}\t{n - ok}\t{took:.3f}\t{before}\t{peak}\t{after}")


if __name__ == "__main__":
    asyncio.run(main())
