"""Leaks on purpose, for --max-worker-memory: each request to /leak?MB
keeps MB mebibytes (written, so resident) for the life of the process.
/sleep?MS answers after MS milliseconds (a request in flight while
another one passes the cap).  Every answer is "PID KEPT_MB\\n"."""
import os
import time

KEPT = []


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    arg = environ.get("QUERY_STRING", "")
    if path == "/leak":
        KEPT.append(b"\x01" * ((int(arg or "1")) << 20))
    elif path == "/sleep":
        time.sleep(int(arg or "0") / 1000)
    body = ("%d %d\n" % (os.getpid(), sum(len(k) for k in KEPT) >> 20)
            ).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
