"""ASGI app without lifespan support: it raises on the lifespan scope,
which per specs/lifespan.rst the server takes as "not supported" and
serves on.  As a class instance with an async __call__ (as Django's
ASGIHandler and Starlette's apps are)."""


class App:
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise RuntimeError("only http, not %s" % scope["type"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body",
                    "body": b"state=%r" % (scope.get("state"),)})


app = App()
