"""An ASGI application that blocks its event loop, as one that calls
time.sleep() (or any call that waits without await) in a coroutine does:
test_asgi_blocking.py.

    GET /block?S   time.sleep(S) on the loop, then 200 "blocked S"
    GET /pid       the worker's pid

With ASGI_SLOW_SHUTDOWN=S the lifespan shutdown awaits S seconds (without
blocking), then writes "shutdown PID" to ASGI_SHUTDOWN_MARK.
"""
import asyncio
import os
import time


async def lifespan(receive, send):
    while True:
        m = await receive()
        if m["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif m["type"] == "lifespan.shutdown":
            await asyncio.sleep(float(os.environ.get("ASGI_SLOW_SHUTDOWN",
                                                     "0")))
            mark = os.environ.get("ASGI_SHUTDOWN_MARK")
            if mark:
                with open(mark, "a") as f:
                    f.write("shutdown %d\n" % os.getpid())
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/block":
        s = float(scope["query_string"] or b"1")
        time.sleep(s)
        body = b"blocked %g" % s
    elif path == "/pid":
        body = str(os.getpid()).encode()
    else:
        body = b"hello"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
