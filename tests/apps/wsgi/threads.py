"""For --threads: sleeps (as an app waiting on I/O does, the GIL
released), reads the whole body, and answers with what identifies the
request, so that mixed-up responses show."""
import threading
import time


def app(environ, start_response):
    qs = environ.get("QUERY_STRING", "")
    delay = float(dict(p.split("=", 1) for p in qs.split("&")
                       if "=" in p).get("sleep", "0"))
    body = environ["wsgi.input"].read()
    time.sleep(delay)
    out = ("%s|%s|%s|%d\n" % (qs, environ["wsgi.multithread"],
                              threading.current_thread().name,
                              len(body))).encode() + body
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(out)))])
    return [out]
