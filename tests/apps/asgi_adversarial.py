"""A raw ASGI 3.0 application that misbehaves on purpose, for
tests/e2e/test_asgi_adversarial.py: each path breaks one rule of asgiref
specs/www.rst (or leans on an edge of it) so that the test can check what
reaches the client and whether the connection stays usable after it.
/events answers what the application saw, as JSON."""
import asyncio
import json
import os

EVENTS = []


async def drain(receive):
    """The whole request body."""
    body = b""
    while True:
        m = await receive()
        if m["type"] != "http.request":
            return body
        body += m.get("body", b"")
        if not m.get("more_body", False):
            return body


async def start(send, headers=(), status=200):
    await send({"type": "http.response.start", "status": status,
                "headers": list(headers)})


def note(path, what):
    """An event, also appended to $EVENTS_FILE when set (it outlives
    the worker, and reading it sends no request)."""
    EVENTS.append([path, what])
    if os.environ.get("EVENTS_FILE"):
        with open(os.environ["EVENTS_FILE"], "a") as f:
            f.write("%s %s\n" % (path, what))


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/events":
        body = json.dumps(EVENTS).encode()
        await start(send, [(b"content-length", b"%d" % len(body))])
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/echo":
        body = await drain(receive)
        await start(send, [(b"content-length", b"%d" % len(body))])
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/no-read":
        # Answers without reading the request body at all.
        await start(send, [(b"content-length", b"2")])
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if path == "/read-one":
        # Reads the first body message only, then answers.
        m = await receive()
        got = m.get("body", b"")
        await start(send, [(b"content-length", b"%d" % len(got))])
        await send({"type": "http.response.body", "body": got})
        return
    if path == "/return-mid-stream":
        # Returns with more_body still True: the response is unfinished.
        await start(send)
        await send({"type": "http.response.body", "body": b"part",
                    "more_body": True})
        return
    if path == "/return-mid-stream-cl":
        await start(send, [(b"content-length", b"8")])
        await send({"type": "http.response.body", "body": b"part",
                    "more_body": True})
        return
    if path == "/start-only":
        # http.response.start and nothing after it.
        await start(send, [(b"content-length", b"0")])
        return
    if path == "/cl-short":
        # Content-Length 10, 3 bytes, more_body False.
        await start(send, [(b"content-length", b"10")])
        await send({"type": "http.response.body", "body": b"abc"})
        return
    if path == "/cl-long":
        # Content-Length 2, 6 bytes.
        await start(send, [(b"content-length", b"2")])
        try:
            await send({"type": "http.response.body", "body": b"abcdef"})
        except Exception as e:             # noqa: BLE001
            EVENTS.append([path, type(e).__name__])
        return
    if path == "/header-crlf":
        try:
            await start(send, [(b"x-a", b"1\r\nx-injected: yes"),
                               (b"content-length", b"2")])
        except Exception as e:             # noqa: BLE001
            EVENTS.append([path, type(e).__name__])
            raise
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if path == "/header-name-space":
        try:
            await start(send, [(b"x a", b"1"), (b"content-length", b"2")])
        except Exception as e:             # noqa: BLE001
            EVENTS.append([path, type(e).__name__])
            raise
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if path == "/header-upper":
        await start(send, [(b"X-Upper", b"1"), (b"content-length", b"2")])
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if path.startswith("/status/"):
        status = path[len("/status/"):]
        status = int(status) if status.lstrip("-").isdigit() else status
        try:
            await start(send, [(b"content-length", b"2")], status=status)
        except Exception as e:             # noqa: BLE001
            EVENTS.append([path, type(e).__name__])
            raise
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if path == "/body-str":
        await start(send)
        try:
            await send({"type": "http.response.body", "body": "text"})
        except Exception as e:             # noqa: BLE001
            EVENTS.append([path, type(e).__name__])
            raise
        return
    if path == "/body-after-end":
        await start(send, [(b"content-length", b"2")])
        await send({"type": "http.response.body", "body": b"ok"})
        try:
            await send({"type": "http.response.body", "body": b"EXTRA"})
            EVENTS.append([path, "ignored"])
        except Exception as e:             # noqa: BLE001
            EVENTS.append([path, type(e).__name__])
        return
    if path == "/head-body":
        # A HEAD answered with a body and its Content-Length.
        await start(send, [(b"content-length", b"5")])
        await send({"type": "http.response.body", "body": b"hello"})
        return
    if path == "/head-stream":
        await start(send)
        await send({"type": "http.response.body", "body": b"hel",
                    "more_body": True})
        await send({"type": "http.response.body", "body": b"lo"})
        return
    if path == "/receive-after-body":
        # After the whole body, receive() must wait for the disconnect,
        # not hand out more messages.
        await drain(receive)
        seen = []
        try:
            m = await asyncio.wait_for(receive(), 1.0)
            seen.append(m["type"])
        except asyncio.TimeoutError:
            seen.append("waited")
        await start(send, [(b"content-length", b"%d" % len(seen[0]))])
        await send({"type": "http.response.body",
                    "body": seen[0].encode()})
        return
    if path == "/receive-after-disconnect":
        await drain(receive)
        m = await receive()       # waits for the client to leave
        m2 = await asyncio.wait_for(receive(), 5.0)
        EVENTS.append([path, m["type"], m2["type"]])
        return
    if path == "/stream-forever":
        await start(send)
        chunk = b"x" * 65536
        n = 0
        try:
            while n < 100000:
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": True})
                n += 1
        except Exception as e:             # noqa: BLE001
            EVENTS.append([path, type(e).__name__])
            return
        EVENTS.append([path, "finished"])
        return
    if path == "/headers":
        # The response fields come from the query: a JSON list of
        # [name, value] pairs (latin-1), then body "hello".
        from urllib.parse import unquote
        pairs = json.loads(unquote(scope["query_string"].decode()))
        await start(send, [(k.encode("latin-1"), v.encode("latin-1"))
                           for k, v in pairs])
        await send({"type": "http.response.body", "body": b"hello"})
        return
    if path == "/receive-timeout-then-body":
        # A receive() given up (wait_for) before the body came, then
        # the body read with the next receive() calls.
        seen = []
        try:
            await asyncio.wait_for(receive(), 0.3)
            seen.append("early")
        except asyncio.TimeoutError:
            seen.append("timeout")
        body = await drain(receive)
        seen.append(body.decode())
        out = " ".join(seen).encode()
        await start(send, [(b"content-length", b"%d" % len(out))])
        await send({"type": "http.response.body", "body": out})
        return
    if path == "/work-then-answer":
        # Work that takes a while (a database commit, say), then the
        # answer: what becomes of the work when the client leaves?
        EVENTS.append([path, "started"])
        try:
            await asyncio.sleep(1.5)
        except asyncio.CancelledError:
            EVENTS.append([path, "cancelled"])
            raise
        EVENTS.append([path, "work done"])
        await start(send, [(b"content-length", b"2")])
        try:
            await send({"type": "http.response.body", "body": b"ok"})
        except OSError as e:
            EVENTS.append([path, type(e).__name__])
        return
    if path == "/forever":
        # Work that never ends by itself: --timeout ends it, or the
        # worker's stop.  Its cancellation is also written to
        # $EVENTS_FILE, which outlives the worker.
        note(path, "started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            note(path, "cancelled")
            raise
        return
    if path == "/stubborn":
        # Ignores its cancellation and goes on sending: nothing of it
        # may reach another request.
        await start(send)
        n = 0
        while n < 60:
            try:
                await send({"type": "http.response.body",
                            "body": b"STALE", "more_body": True})
            except OSError:
                if [path, "send refused"] not in EVENTS:
                    EVENTS.append([path, "send refused"])
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                EVENTS.append([path, "cancel ignored"])
            n += 1
        EVENTS.append([path, "ended"])
        return
    if path == "/duplex":
        # Answers each body message as it comes (the response starts
        # before the request body has all arrived).
        await start(send)
        while True:
            m = await receive()
            if m["type"] != "http.request":
                return
            await send({"type": "http.response.body",
                        "body": m.get("body", b""),
                        "more_body": m.get("more_body", False)})
            if not m.get("more_body", False):
                return
    if path == "/early-hint":
        await send({"type": "http.response.early_hint",
                    "links": [b"</a.css>; rel=preload; as=style"]})
        await start(send, [(b"content-length", b"2")])
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if path == "/trailers":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"abc"})
        await send({"type": "http.response.trailers",
                    "headers": [(b"x-sum", b"1")], "more_trailers": False})
        return
    if path == "/trailers-cl":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"3")],
                    "trailers": True})
        await send({"type": "http.response.body", "body": b"abc"})
        await send({"type": "http.response.trailers",
                    "headers": [(b"x-sum", b"1")], "more_trailers": False})
        return
    if path == "/trailers-never":
        # trailers=True, the last body, and no trailers message.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"abc"})
        return
    body = b"not found"
    await start(send, [(b"content-length", b"9")], status=404)
    await send({"type": "http.response.body", "body": body})
