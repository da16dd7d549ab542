"""For test_stop_body_pending: an ASGI application whose answers a test
can hold across the end of a graceful stop.

/wait   marks STOP_DIR/started, sends the first part of its answer, waits
        until STOP_DIR/go exists, then sends the rest (100 kB and "last")
/echo   reads the whole body, answers its length
The lifespan shutdown writes STOP_DIR/shutdown.
"""
import asyncio
import os

DIR = os.environ.get("STOP_DIR", "/nonexistent")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif m["type"] == "lifespan.shutdown":
                with open(os.path.join(DIR, "shutdown"), "w") as f:
                    f.write("shutdown %d\n" % os.getpid())
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/wait":
        with open(os.path.join(DIR, "started"), "w") as f:
            f.write("started\n")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first\n",
                    "more_body": True})
        while not os.path.exists(os.path.join(DIR, "go")):
            await asyncio.sleep(0.02)
        await send({"type": "http.response.body",
                    "body": b"x" * 100000 + b"last\n"})
        return
    n = 0
    while True:
        m = await receive()
        if m["type"] != "http.request":
            return
        n += len(m.get("body", b""))
        if not m.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"%d\n" % n})
