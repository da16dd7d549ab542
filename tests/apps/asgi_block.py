"""An ASGI application that blocks its event loop, as one that calls
time.sleep() (or any call that waits without await) in a coroutine does:
test_asgi_blocking.py.

    GET /block?S   time.sleep(S) on the loop, then 200 "blocked S"
    GET /pid       the worker's pid
"""
import os
import time


async def app(scope, receive, send):
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
