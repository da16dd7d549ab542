"""A FastAPI application with the routes every example under
examples/asgi/ has (listed in starlette_app.py; tests/e2e/test_asgi_grid.py
runs each on uvicorn and on bridge with the same requests).  FastAPI 0.92
(Debian's) has no lifespan= argument yet: startup and shutdown are
on_event handlers.

    bridge --http :8000 --asgi fastapi_app:app -w 2
    python3 -m uvicorn fastapi_app:app
"""
import asyncio
import hashlib
import os
import re
import tempfile
from typing import Any, Optional

from fastapi import (BackgroundTasks, Body, FastAPI, File, Form, Header,
                     HTTPException, Request, UploadFile)
from fastapi.responses import PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = os.environ.get("ASGI_EXAMPLE_STATE", tempfile.gettempdir())
TOKEN = re.compile(r"[a-z0-9]{1,32}")

app = FastAPI()
app.mount("/static", StaticFiles(directory=os.path.join(HERE, "static")),
          name="static")


def marker(name):
    return os.path.join(STATE, "fastapi-" + name)


@app.on_event("startup")
async def startup():
    app.state.started = "set at startup"


@app.on_event("shutdown")
async def shutdown():
    with open(marker("shutdown-%d" % os.getpid()), "w") as f:
        f.write("shut down")


# FastAPI's @app.get answers GET only; HEAD / (load balancers' health
# checks) is asked for.
@app.api_route("/", methods=["GET", "HEAD"],
               response_class=PlainTextResponse)
async def hello():
    return "hello world"


@app.post("/echo")
async def echo(payload: Any = Body(...)):
    return {"echo": payload}


@app.post("/upload")
async def upload(file: UploadFile = File(...),
                 note: Optional[str] = Form(None)):
    data = await file.read()
    return {"note": note, "filename": file.filename, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


async def chunks():
    for i in range(5):
        yield "chunk %d\n" % i
        await asyncio.sleep(0.05)


@app.get("/stream")
async def stream():
    return StreamingResponse(chunks(), media_type="text/plain")


def write_marker(token: str):
    with open(marker("bg-" + token), "w") as f:
        f.write("done")


@app.post("/background", status_code=202,
          response_class=PlainTextResponse)
async def background(token: str, tasks: BackgroundTasks):
    if not TOKEN.fullmatch(token):
        raise HTTPException(status_code=400, detail="bad token")
    tasks.add_task(write_marker, token)
    return "queued"


@app.get("/background/{token}", response_class=PlainTextResponse)
async def background_status(token: str):
    if TOKEN.fullmatch(token) and os.path.exists(marker("bg-" + token)):
        return "done"
    raise HTTPException(status_code=404, detail="pending")


@app.get("/lifespan")
async def lifespan_value(request: Request):
    return {"started": request.app.state.started}


@app.get("/sleep", response_class=PlainTextResponse)
async def sleep(s: float = 0.1):
    s = min(s, 5.0)
    await asyncio.sleep(s)
    return "slept %g" % s


@app.get("/headers")
async def headers(q: Optional[str] = None,
                  x_test: Optional[str] = Header(None)):
    return {"x_test": x_test, "q": q}


@app.get("/error")
async def error():
    raise RuntimeError("the /error route fails on purpose")
