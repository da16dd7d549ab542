"""A raw ASGI 3.0 application for tests/e2e/test_asgi.py: each path
exercises one part of the HTTP and lifespan specs (asgiref specs/www.rst,
specs/lifespan.rst, docs/extensions.rst) and answers what it saw as JSON,
or records it in EVENTS, read back through /events."""
import asyncio
import json
import os

EVENTS = []
GATES = {}
LIFESPAN = {"startup": 0}


def typed(v):
    """A scope value with its Python type, as JSON."""
    if isinstance(v, bytes):
        return {"bytes": v.decode("latin-1")}
    if isinstance(v, (list, tuple)):
        return {"seq": {"type": type(v).__name__,
                        "items": [typed(x) for x in v]}}
    if isinstance(v, dict):
        return {"dict": {k: typed(x) for k, x in v.items()}}
    if v is None or isinstance(v, (bool, int, str)):
        return {type(v).__name__: v}
    return {"other": type(v).__name__}


async def whole_body(receive):
    """Every http.request body chunk, joined."""
    body = b""
    more = True
    while more:
        m = await receive()
        body += m.get("body", b"")
        more = m.get("more_body", False)
    return body

async def answer(send, status=200, body=b"", headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")] +
                list(headers)})
    await send({"type": "http.response.body", "body": body})


async def answer_json(send, obj, status=200):
    await answer(send, status, json.dumps(obj).encode())


def gate(name):
    if name not in GATES:
        GATES[name] = asyncio.Event()
    return GATES[name]


def factory(loop, coro, context=None):
    """A task factory, as an application may install (the tasks it
    makes are named so that /task shows it ran)."""
    return asyncio.Task(coro, loop=loop, name="factory-made",
                        context=context)


async def lifespan(scope, receive, send):
    while True:
        m = await receive()
        if m["type"] == "lifespan.startup":
            LIFESPAN["startup"] += 1
            if os.environ.get("ASGI_TASK_FACTORY"):
                asyncio.get_running_loop().set_task_factory(factory)
            LIFESPAN["scope"] = typed(scope)
            scope["state"]["db"] = {"connected": True}
            scope["state"]["counter"] = 0
            await send({"type": "lifespan.startup.complete"})
        elif m["type"] == "lifespan.shutdown":
            mark = os.environ.get("ASGI_SHUTDOWN_MARK")
            if mark:
                with open(mark, "w") as f:
                    f.write("shutdown %d\n" % os.getpid())
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    assert scope["type"] == "http"
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]

    if path == "/scope" or path.startswith("/scope/"):
        first = await receive()
        return await answer_json(send, {
            "scope": typed({k: v for k, v in scope.items()
                            if k != "state"}),
            "keys": sorted(scope),
            "first": typed(first)})

    if path == "/state":
        st = scope["state"]
        seen = dict(counter=st.get("counter"), db=dict(st.get("db")))
        # A shallow copy: this write is lost, the mutation of the
        # shared object is not.
        st["counter"] = 99
        st["db"]["touched"] = st["db"].get("touched", 0) + 1
        return await answer_json(send, {"seen": seen,
                                        "lifespan": LIFESPAN})

    if path == "/echo":
        chunks = []
        while True:
            m = await receive()
            assert m["type"] == "http.request", m
            chunks.append([len(m.get("body", b"")),
                           m.get("more_body", False)])
            body = b"".join([body for body in [m.get("body", b"")]])
            EVENTS.append(("chunk", len(body)))
            if not m.get("more_body", False):
                break
        total = sum(c[0] for c in chunks)
        return await answer_json(send, {"chunks": chunks, "total": total})

    if path == "/echobody":
        return await answer(send, 200, await whole_body(receive))

    if path == "/receive-abandoned":
        # A receive() given up (as Starlette's is_disconnected() and
        # asyncio.wait_for do) must not lose the body nor block the next.
        try:
            m = await asyncio.wait_for(receive(), 0.05)
            EVENTS.append(("abandoned", "got", m["type"]))
        except asyncio.TimeoutError:
            EVENTS.append(("abandoned", "timed out"))
        return await answer(send, 200, await whole_body(receive))

    if path == "/stream":
        # Chunk 2 only once the client said it saw chunk 1 (/release).
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"chunk-1\n",
                    "more_body": True})
        await asyncio.wait_for(gate("stream").wait(), 20)
        await send({"type": "http.response.body", "body": b"chunk-2\n",
                    "more_body": True})
        await send({"type": "http.response.body", "body": b"",
                    "more_body": False})
        return

    if path == "/release":
        gate("stream").set()
        return await answer_json(send, {"released": True})

    if path == "/hold":
        # Response started, then wait for the client to leave: receive()
        # must give http.disconnect; send() after it must raise OSError.
        await send({"type": "http.response.start", "status": 200,
                    "headers": []})
        await send({"type": "http.response.body", "body": b"partial",
                    "more_body": True})
        m = await receive()
        while m["type"] == "http.request":
            m = await receive()
        EVENTS.append(("hold-received", m["type"]))
        try:
            await send({"type": "http.response.body", "body": b"more",
                        "more_body": True})
            EVENTS.append(("hold-send", "no error"))
        except OSError as e:
            EVENTS.append(("hold-send", "OSError", type(e).__name__))
        except Exception as e:
            EVENTS.append(("hold-send", "other", type(e).__name__))
        return

    if path == "/until-disconnect":
        # A stream that ends when receive() says disconnect: on a
        # graceful stop bridge says so while the client is still there,
        # so the last message reaches it.
        await send({"type": "http.response.start", "status": 200,
                    "headers": []})
        await send({"type": "http.response.body", "body": b"open\n",
                    "more_body": True})
        EVENTS.append(("until-disconnect", "streaming"))
        m = await receive()
        while m["type"] == "http.request":
            m = await receive()
        await send({"type": "http.response.body", "body": b"bye\n"})
        return

    if path == "/after-response":
        # The response complete, receive() says disconnect at once.
        await answer(send, 200, b"done")
        m = await receive()
        EVENTS.append(("after-response", m["type"]))
        return

    if path == "/whole-then-wait":
        # The whole body (its Content-Length) with more_body, then a
        # wait for the client: its close must reach receive().
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"whole",
                    "more_body": True})
        m = await receive()             # the (empty) request body
        m = await receive()
        EVENTS.append(("whole-then-wait", m["type"]))
        return

    if path == "/progress":
        # A response begun at once, then silence while the body
        # arrives (an upload with a progress page), then the count.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"started\n",
                    "more_body": True})
        n, more = 0, True
        while more:
            m = await receive()
            if m["type"] != "http.request":
                return
            n += len(m.get("body", b""))
            more = m.get("more_body", False)
        await send({"type": "http.response.body", "body": b"got %d" % n})
        return

    if path == "/linger-after":
        # As Quart does: the whole body (its Content-Length) with
        # more_body, and the closing empty message a loop turn or more
        # later (Quart cancels its receiver task in between).
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"8")]})
        await send({"type": "http.response.body", "body": b"answered",
                    "more_body": True})
        await asyncio.sleep(0.5)
        try:
            await send({"type": "http.response.body", "body": b""})
            EVENTS.append(("linger-after", "sent"))
        except OSError:
            # The client closed meanwhile (spec 2.4: send() raises).
            EVENTS.append(("linger-after", "closed"))
        return

    if path == "/raise-before":
        raise ValueError("boom before start")

    if path == "/raise-after":
        await send({"type": "http.response.start", "status": 200,
                    "headers": []})
        await send({"type": "http.response.body", "body": b"x" * 10,
                    "more_body": True})
        raise ValueError("boom after start")

    if path == "/no-response":
        return

    if path == "/start-twice":
        await send({"type": "http.response.start", "status": 200,
                    "headers": []})
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": []})
        except RuntimeError as e:
            return await send({"type": "http.response.body",
                               "body": b"RuntimeError: " + str(e).encode()})
        return await send({"type": "http.response.body", "body": b"none"})

    if path == "/body-before-start":
        try:
            await send({"type": "http.response.body", "body": b"x"})
        except RuntimeError as e:
            return await answer(send, 200,
                                b"RuntimeError: " + str(e).encode())
        return await answer(send, 200, b"none")

    if path == "/bad-header":
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"x-bad", b"a\r\nb")]})
        except (ValueError, RuntimeError) as e:
            return await answer(send, 200,
                                type(e).__name__.encode())
        return await send({"type": "http.response.body", "body": b"none"})

    if path == "/headers-out":
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"set-cookie", b"a=1"),
                                (b"set-cookie", b"b=2"),
                                (b"x-order", b"1"),
                                # www.rst: the server must ignore it.
                                (b"transfer-encoding", b"gzip")]})
        return await send({"type": "http.response.body", "body": b"ok"})

    if path == "/trailers":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"trailer", b"x-checksum, x-count")],
                    "trailers": True})
        await send({"type": "http.response.body", "body": b"abc",
                    "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})
        await send({"type": "http.response.trailers",
                    "headers": [(b"x-checksum", b"123")],
                    "more_trailers": True})
        await send({"type": "http.response.trailers",
                    "headers": [(b"x-count", b"2")]})
        return

    if path == "/early-hint":
        await send({"type": "http.response.early_hint",
                    "links": [b"</style.css>; rel=preload; as=style"]})
        return await answer(send, 200, b"after hint")

    if path == "/sleep":
        EVENTS.append(("sleep", "start"))
        await asyncio.sleep(1)
        return await answer(send, 200, b"slept")

    if path == "/forever":
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            EVENTS.append(("forever", "cancelled"))
            raise
        return await answer(send, 200, b"woke")

    if path == "/pathsend":
        name = scope["query_string"].decode()
        size = os.path.getsize(name)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % size)]})
        return await send({"type": "http.response.pathsend", "path": name})

    if path == "/zerocopy":
        name = scope["query_string"].decode()
        with open(name, "rb") as f:
            await send({"type": "http.response.start", "status": 200,
                        "headers": []})
            await send({"type": "http.response.zerocopysend", "file": f,
                        "offset": 2, "count": 5, "more_body": True})
            await send({"type": "http.response.body", "body": b"|",
                        "more_body": True})
            f.seek(0)
            await send({"type": "http.response.zerocopysend",
                        "file": f.fileno()})
        return

    if path == "/events":
        return await answer_json(send, EVENTS)

    if path == "/loop":
        loop = asyncio.get_running_loop()
        return await answer(send, 200, type(loop).__module__.encode())

    if path == "/task":
        return await answer(send, 200,
                            asyncio.current_task().get_name().encode())

    if path == "/pid":
        return await answer(send, 200, str(os.getpid()).encode())

    return await answer(send, 404, b"not found")
