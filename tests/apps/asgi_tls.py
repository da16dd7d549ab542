"""ASGI app answering the scope's tls extension (asgiref specs/tls.rst)
as JSON: tls_version and cipher_suite with their Python type names."""
import json


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    tls = scope.get("extensions", {}).get("tls")
    body = json.dumps(None if tls is None else {
        k: [type(tls[k]).__name__, tls[k]]
        for k in ("tls_version", "cipher_suite")}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
