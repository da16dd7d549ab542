"""Views of the example project: hello, JSON, a form POST and a file
upload (both CSRF-protected, as Django projects are), and a download
through FileResponse, which Django hands to the server's
wsgi.file_wrapper."""
import hashlib
import html

from django.conf import settings
from django.http import (FileResponse, Http404, HttpResponse,
                         HttpResponseBadRequest, JsonResponse)
from django.middleware.csrf import get_token
from django.urls import reverse
from django.views.decorators.http import require_http_methods

FORM = """<!doctype html>
<title>%(title)s</title>
<form method="post" action="%(action)s" enctype="%(enctype)s">
<input type="hidden" name="csrfmiddlewaretoken" value="%(token)s">
%(fields)s
<button>Send</button>
</form>
"""


def _form_page(request, title, action, enctype, fields):
    return HttpResponse(FORM % {
        'title': title, 'action': action, 'enctype': enctype,
        'token': html.escape(get_token(request)), 'fields': fields})


def hello(request):
    return HttpResponse('hello world', content_type='text/plain')


def json_view(request):
    return JsonResponse({'message': 'hello', 'items': [1, 2, 3],
                         'query': request.GET.get('q', ''),
                         'secure': request.is_secure()})


@require_http_methods(['GET', 'POST'])
def form(request):
    if request.method == 'GET':
        return _form_page(request, 'form', reverse('form'),
                          'application/x-www-form-urlencoded',
                          '<input name="name">')
    name = request.POST.get('name', '')
    return HttpResponse('hello %s' % name, content_type='text/plain')


@require_http_methods(['GET', 'POST'])
def upload(request):
    if request.method == 'GET':
        return _form_page(request, 'upload', reverse('upload'),
                          'multipart/form-data',
                          '<input type="file" name="file">')
    f = request.FILES.get('file')
    if f is None:
        return HttpResponseBadRequest('no file\n')
    digest = hashlib.sha256()
    for chunk in f.chunks():
        digest.update(chunk)
    return JsonResponse({'filename': f.name, 'size': f.size,
                         'sha256': digest.hexdigest()})


def download(request, name):
    path = settings.FILES_DIR / name
    if name.startswith('.') or '/' in name or not path.is_file():
        raise Http404('no such file')
    return FileResponse(open(path, 'rb'), as_attachment=True)
