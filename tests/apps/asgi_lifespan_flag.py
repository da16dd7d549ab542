"""ASGI app whose lifespan startup fails while a flag file exists: the
file named by $LIFESPAN_FAIL_FLAG, whose text is the failure's message
(lifespan.startup.failed).  GET answers the worker's pid."""
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        m = await receive()
        assert m["type"] == "lifespan.startup"
        try:
            with open(os.environ["LIFESPAN_FAIL_FLAG"]) as f:
                why = f.read().strip()
        except FileNotFoundError:
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.startup.failed",
                        "message": why})
            return
        m = await receive()
        assert m["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body",
                "body": str(os.getpid()).encode()})
