"""A Quart application with the routes every example under examples/asgi/
has (listed in starlette_app.py; tests/e2e/test_asgi_grid.py runs each on
uvicorn and on bridge with the same requests).  /static/ is Quart's own
static route (static/ next to this file); the background task is
app.add_background_task, which Quart awaits before it shuts down.

    bridge --http :8000 --asgi quart_app:app -w 2
    python3 -m uvicorn quart_app:app
"""
import asyncio
import hashlib
import os
import re
import tempfile

from quart import Quart, abort, jsonify, request

STATE = os.environ.get("ASGI_EXAMPLE_STATE", tempfile.gettempdir())
TOKEN = re.compile(r"[a-z0-9]{1,32}")

app = Quart(__name__)


def marker(name):
    return os.path.join(STATE, "quart-" + name)


@app.before_serving
async def startup():
    app.config["STARTED"] = "set at startup"


@app.after_serving
async def shutdown():
    with open(marker("shutdown-%d" % os.getpid()), "w") as f:
        f.write("shut down")


@app.route("/")
async def hello():
    return "hello world", 200, {"Content-Type": "text/plain"}


@app.route("/echo", methods=["POST"])
async def echo():
    return jsonify(echo=await request.get_json(force=True))


@app.route("/upload", methods=["POST"])
async def upload():
    files = await request.files
    form = await request.form
    f = files.get("file")
    if f is None:
        return "no file", 400
    data = f.read()
    return jsonify(note=form.get("note"), filename=f.filename,
                   size=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.route("/stream")
async def stream():
    async def chunks():
        for i in range(5):
            yield ("chunk %d\n" % i).encode()
            await asyncio.sleep(0.05)
    return chunks(), 200, {"Content-Type": "text/plain"}


async def write_marker(token):
    await asyncio.sleep(0)
    with open(marker("bg-" + token), "w") as f:
        f.write("done")


@app.route("/background", methods=["POST"])
async def background():
    token = request.args.get("token", "")
    if not TOKEN.fullmatch(token):
        abort(400)
    app.add_background_task(write_marker, token)
    return "queued", 202


@app.route("/background/<token>")
async def background_status(token):
    if TOKEN.fullmatch(token) and os.path.exists(marker("bg-" + token)):
        return "done"
    return "pending", 404


@app.route("/lifespan")
async def lifespan_value():
    return jsonify(started=app.config.get("STARTED"))


@app.route("/sleep")
async def sleep():
    s = min(float(request.args.get("s", "0.1")), 5.0)
    await asyncio.sleep(s)
    return "slept %g" % s


@app.route("/headers")
async def headers():
    return jsonify(x_test=request.headers.get("X-Test"),
                   q=request.args.get("q"))


@app.route("/error")
async def error():
    raise RuntimeError("the /error route fails on purpose")
