"""Says which process imported it and which one serves, and whether the
collector was frozen: --preload imports in the master and freezes."""
import gc
import os

IMPORT_PID = os.getpid()


def app(environ, start_response):
    body = ("%d %d %d\n" % (IMPORT_PID, os.getpid(),
                            gc.get_freeze_count())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
