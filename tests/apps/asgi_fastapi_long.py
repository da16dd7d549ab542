"""The FastAPI example (examples/asgi/fastapi_app.py) with what
tests/e2e/test_deploy_asgi_long.py needs besides:

    each lifespan startup and shutdown appends "startup PID" or
    "shutdown PID" to $ASGI_EXAMPLE_STATE/lifespan.log (the example
    notes only its shutdowns);
    GET /slowstream?n=5&gap=0.6  n lines, a pause between each (a
                            response that streams for longer than
                            --timeout and --idle-timeout);
    GET /hold?token=T&s=1   writes the marker hold-T, then sleeps s (a
                            request known to be running);
    GET /block?token=T&s=1  writes the marker block-T, then blocks its
                            worker's event loop for s (time.sleep, on
                            purpose): the worker accepts nothing
                            meanwhile, so new connections go to another.

Needs examples/asgi on sys.path (--chdir) and this directory
(--pythonpath):

    bridge --asgi asgi_fastapi_long:app --chdir examples/asgi \\
        --pythonpath tests/apps
"""
import asyncio
import os
import time

from fastapi.responses import PlainTextResponse, StreamingResponse
from fastapi_app import STATE, TOKEN, app


def note(what):
    with open(os.path.join(STATE, "lifespan.log"), "a") as f:
        f.write("%s %d\n" % (what, os.getpid()))


app.add_event_handler("startup", lambda: note("startup"))
app.add_event_handler("shutdown", lambda: note("shutdown"))


@app.get("/slowstream")
async def slowstream(n: int = 5, gap: float = 0.6):
    async def lines():
        for i in range(n):
            yield "line %d\n" % i
            await asyncio.sleep(gap)
    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/hold", response_class=PlainTextResponse)
async def hold(token: str, s: float = 1.0):
    if TOKEN.fullmatch(token):
        with open(os.path.join(STATE, "hold-" + token), "w") as f:
            f.write("holding")
    await asyncio.sleep(min(s, 5.0))
    return "held %g" % s


@app.get("/block", response_class=PlainTextResponse)
async def block(token: str, s: float = 1.0):
    if TOKEN.fullmatch(token):
        with open(os.path.join(STATE, "block-" + token), "w") as f:
            f.write("blocking")
    time.sleep(min(s, 5.0))
    return "blocked %g" % s
