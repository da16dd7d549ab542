"""The smallest ASGI application: hello world, with the lifespan
protocol answered (servers that send it wait for the reply).

    bridge --http :8000 --asgi raw:app -w 2
    python3 -m uvicorn raw:app

The benchmark (tests/bench/run.sh --group asgi) measures it against
uvicorn and hypercorn; /sleep waits a second without holding the worker,
for the "1,000 requests that each sleep" scenario.
"""
import asyncio

BODY = b"hello world"
HEADERS = [(b"content-type", b"text/plain"),
           (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/sleep":
        await asyncio.sleep(1)
    await send({"type": "http.response.start", "status": 200,
                "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
