"""The ASGI examples (examples/asgi) with one more route each, for
tests/e2e/test_asgi_mount.py:

    GET /where   what the application learnt of its mount, as JSON:
                 scope["root_path"] and scope["path"] as it got them,
                 the URL the framework thinks it answers (url) and the
                 links it builds to /where (link) and, where it has
                 one, to static/hello.txt (static).

One attribute per framework, imported only when bridge asks for it (PEP
562 __getattr__), so that the process running one framework has not
loaded another (bridge looks at which Starlette is loaded):

    bridge --asgi asgi_mount:starlette --chdir examples/asgi \\
        --pythonpath tests/apps --mount /app

and likewise asgi_mount:fastapi, asgi_mount:quart, asgi_mount:django.
"""
import os


def _starlette():
    from starlette.responses import JSONResponse
    from starlette_app import app

    async def where(request):
        return JSONResponse({
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
            "url": str(request.url),
            "link": str(request.url_for("where")),
            "static": str(request.url_for("static", path="/hello.txt")),
        })

    app.add_route("/where", where, name="where")
    return app


def _fastapi():
    from fastapi import Request
    from fastapi_app import app

    @app.get("/where", name="where")
    async def where(request: Request):
        return {
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
            "url": str(request.url),
            "link": str(request.url_for("where")),
            "static": str(request.url_for("static", path="/hello.txt")),
        }

    return app


def _quart():
    from quart import jsonify, request, url_for
    from quart_app import app

    @app.route("/where")
    async def where():
        return jsonify({
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
            "url": request.url,
            "link": url_for("where"),
            "static": url_for("static", filename="hello.txt"),
        })

    return app


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoasgi.settings")
    from django.http import JsonResponse
    from django.urls import path, reverse
    from djangoasgi import urls
    from djangoasgi.asgi import application

    async def where(request):
        return JsonResponse({
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
            "url": request.build_absolute_uri(),
            "link": reverse("where"),
            "script_name": request.META["SCRIPT_NAME"],
            "path_info": request.path_info,
        })

    urls.urlpatterns.append(path("where", where, name="where"))
    return application


_BUILD = {"starlette": _starlette, "fastapi": _fastapi, "quart": _quart,
          "django": _django}


def __getattr__(name):
    if name not in _BUILD:
        raise AttributeError(name)
    app = _BUILD[name]()
    globals()[name] = app
    return app
