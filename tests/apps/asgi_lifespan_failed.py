"""ASGI app whose lifespan startup fails (lifespan.startup.failed): per
specs/lifespan.rst the server logs the message and exits."""


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        m = await receive()
        assert m["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed",
                    "message": "database unreachable"})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": []})
    await send({"type": "http.response.body", "body": b"never"})
