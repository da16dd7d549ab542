"""For test_stop_body_pending: a WSGI application (run with --threads 2)
whose answers a test can hold across the end of a graceful stop.

/wait   marks STOP_DIR/started, waits until STOP_DIR/go exists, then
        answers "first", 100 kB and "last"
other   reads the whole body, answers its length
"""
import os
import time

DIR = os.environ.get("STOP_DIR", "/nonexistent")


def app(environ, start_response):
    if environ["PATH_INFO"] == "/wait":
        with open(os.path.join(DIR, "started"), "w") as f:
            f.write("started\n")
        while not os.path.exists(os.path.join(DIR, "go")):
            time.sleep(0.02)
        out = b"first\n" + b"x" * 100000 + b"last\n"
    else:
        out = b"%d\n" % len(environ["wsgi.input"].read())
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(out)))])
    return [out]
