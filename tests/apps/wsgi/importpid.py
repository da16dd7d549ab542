"""Says which process imported it and which one serves, and whether the
collector was frozen: --preload imports in the master and freezes."""
import gc
import os

IMPORT_PID = os.getpid()
IMPORTED = os.urandom(4).hex()      # a new value at every import


def app(environ, start_response):
    body = ("%d %d %d %s\n" % (IMPORT_PID, os.getpid(),
                               gc.get_freeze_count(), IMPORTED)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
