"""The FastAPI example (examples/asgi/fastapi_app.py) with a line in
$ASGI_EXAMPLE_STATE/lifespan.log for each lifespan startup and shutdown
it runs, with the pid of the process that ran it, for
tests/e2e/test_deploy_asgi_long.py (the example notes only its
shutdowns).  Needs examples/asgi on sys.path (--chdir) and this
directory (--pythonpath).

    bridge --asgi asgi_lifespan_log:app --chdir examples/asgi \\
        --pythonpath tests/apps
"""
import os

from fastapi_app import STATE, app


def note(what):
    with open(os.path.join(STATE, "lifespan.log"), "a") as f:
        f.write("%s %d\n" % (what, os.getpid()))


app.add_event_handler("startup", lambda: note("startup"))
app.add_event_handler("shutdown", lambda: note("shutdown"))
