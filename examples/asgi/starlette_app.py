"""A Starlette application with the routes every example under
examples/asgi/ has (tests/e2e/test_asgi_grid.py runs each on uvicorn and
on bridge with the same requests):

    GET  /                  hello world
    POST /echo              the JSON body back, as {"echo": ...}
    POST /upload            multipart form: field "note", file "file"
    GET  /stream            five chunks, a small await between them
    POST /background?token=T  answers, then a background task writes
                            the marker GET /background/T reports
    GET  /lifespan          a value set at startup; shutdown writes
                            $ASGI_EXAMPLE_STATE/shutdown-PID
    GET  /static/hello.txt  StaticFiles
    GET  /sleep?s=0.1       awaits asyncio.sleep
    GET  /headers?q=x       a request header and the query
    GET  /error             raises: 500

    bridge --http :8000 --asgi starlette_app:app -w 2
    python3 -m uvicorn starlette_app:app
"""
import asyncio
import contextlib
import hashlib
import os
import re
import tempfile

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import (JSONResponse, PlainTextResponse,
                                 StreamingResponse)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = os.environ.get("ASGI_EXAMPLE_STATE", tempfile.gettempdir())
TOKEN = re.compile(r"[a-z0-9]{1,32}")


def marker(name):
    return os.path.join(STATE, "starlette-" + name)


async def hello(request):
    return PlainTextResponse("hello world")


async def echo(request):
    return JSONResponse({"echo": await request.json()})


async def upload(request):
    form = await request.form()
    f = form.get("file")
    if f is None or isinstance(f, str):
        return PlainTextResponse("no file", status_code=400)
    data = await f.read()
    return JSONResponse({"note": form.get("note"), "filename": f.filename,
                         "size": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()})


async def chunks():
    for i in range(5):
        yield "chunk %d\n" % i
        await asyncio.sleep(0.05)


async def stream(request):
    return StreamingResponse(chunks(), media_type="text/plain")


def write_marker(token):
    with open(marker("bg-" + token), "w") as f:
        f.write("done")


async def background(request):
    token = request.query_params.get("token", "")
    if not TOKEN.fullmatch(token):
        return PlainTextResponse("bad token", status_code=400)
    return PlainTextResponse("queued", status_code=202,
                             background=BackgroundTask(write_marker, token))


async def background_status(request):
    token = request.path_params["token"]
    if TOKEN.fullmatch(token) and os.path.exists(marker("bg-" + token)):
        return PlainTextResponse("done")
    return PlainTextResponse("pending", status_code=404)


async def lifespan_value(request):
    return JSONResponse({"started": request.app.state.started})


async def sleep(request):
    s = min(float(request.query_params.get("s", "0.1")), 5.0)
    await asyncio.sleep(s)
    return PlainTextResponse("slept %g" % s)


async def headers(request):
    return JSONResponse({"x_test": request.headers.get("x-test"),
                         "q": request.query_params.get("q")})


async def error(request):
    raise RuntimeError("the /error route fails on purpose")


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.started = "set at startup"
    yield
    with open(marker("shutdown-%d" % os.getpid()), "w") as f:
        f.write("shut down")


app = Starlette(routes=[
    Route("/", hello),
    Route("/echo", echo, methods=["POST"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/stream", stream),
    Route("/background", background, methods=["POST"]),
    Route("/background/{token}", background_status),
    Route("/lifespan", lifespan_value),
    Route("/sleep", sleep),
    Route("/headers", headers),
    Route("/error", error),
    Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")),
          name="static"),
], lifespan=lifespan)
