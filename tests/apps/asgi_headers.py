"""A raw ASGI application for tests/e2e/test_asgi_headers.py: answers
scope["headers"] exactly as it came (each name and value as latin-1
text, with the types of the list and its pairs), and scope["scheme"],
["client"] and ["server"].  The same file runs on uvicorn and bridge."""
import json


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif m["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        m = await receive()
        more = m.get("more_body", False)
    bad = [repr(p) for p in scope["headers"]
           if len(p) != 2 or not isinstance(p[0], bytes)
           or not isinstance(p[1], bytes)]
    out = {
        "headers": [[n.decode("latin-1"), v.decode("latin-1")]
                    for n, v in scope["headers"]] if not bad else None,
        "bad": bad,
        "scheme": scope["scheme"],
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
    }
    body = json.dumps(out).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
