"""
Async views of the Django ASGI example: the routes every example under
examples/asgi/ has (see starlette_app.py), except /lifespan (Django 3.2
has no lifespan protocol).

/stream is a StreamingHttpResponse over a plain generator: Django 3.2
sends each chunk as its own ASGI message but cannot await between them
(async iterators came with Django 4.2).  /background starts an asyncio
task that outlives the response: Django has no background tasks of its
own.
"""
import asyncio
import hashlib
import json
import os
import re

from django.conf import settings
from django.http import (HttpResponse, HttpResponseBadRequest,
                         HttpResponseNotAllowed, JsonResponse,
                         StreamingHttpResponse)

TOKEN = re.compile(r'[a-z0-9]{1,32}')
_tasks = set()


def marker(name):
    return os.path.join(settings.STATE_DIR, 'django-' + name)


async def hello(request):
    return HttpResponse('hello world', content_type='text/plain')


async def echo(request):
    if request.method != 'POST':
        return HttpResponseNotAllowed(['POST'])
    try:
        payload = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest('not JSON')
    return JsonResponse({'echo': payload})


async def upload(request):
    if request.method != 'POST':
        return HttpResponseNotAllowed(['POST'])
    f = request.FILES.get('file')
    if f is None:
        return HttpResponseBadRequest('no file')
    data = f.read()
    return JsonResponse({'note': request.POST.get('note'),
                         'filename': f.name, 'size': len(data),
                         'sha256': hashlib.sha256(data).hexdigest()})


def chunks():
    for i in range(5):
        yield 'chunk %d\n' % i


async def stream(request):
    return StreamingHttpResponse(chunks(), content_type='text/plain')


async def write_marker(token):
    await asyncio.sleep(0)
    with open(marker('bg-' + token), 'w') as f:
        f.write('done')


async def background(request):
    if request.method != 'POST':
        return HttpResponseNotAllowed(['POST'])
    token = request.GET.get('token', '')
    if not TOKEN.fullmatch(token):
        return HttpResponseBadRequest('bad token')
    task = asyncio.get_running_loop().create_task(write_marker(token))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return HttpResponse('queued', status=202, content_type='text/plain')


async def background_status(request, token):
    if TOKEN.fullmatch(token) and os.path.exists(marker('bg-' + token)):
        return HttpResponse('done', content_type='text/plain')
    return HttpResponse('pending', status=404, content_type='text/plain')


async def sleep(request):
    s = min(float(request.GET.get('s', '0.1')), 5.0)
    await asyncio.sleep(s)
    return HttpResponse('slept %g' % s, content_type='text/plain')


async def headers(request):
    return JsonResponse({'x_test': request.headers.get('X-Test'),
                         'q': request.GET.get('q')})


async def error(request):
    raise RuntimeError('the /error route fails on purpose')
