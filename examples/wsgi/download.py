"""A file-download WSGI application using wsgi.file_wrapper, which bridge
sends with sendfile() (zero-copy over plain HTTP) when the object wraps a
real file.

    DOWNLOAD_ROOT=/srv/files bridge --http :8000 --wsgi download \\
        --pythonpath examples/wsgi
    curl -O http://127.0.0.1:8000/some/file.tar.gz

Files are served from DOWNLOAD_ROOT (default: this directory); paths that
leave it, hidden files and anything but regular files get 404.
"""
import mimetypes
import os
from urllib.parse import quote

ROOT = os.path.realpath(os.environ.get('DOWNLOAD_ROOT')
                        or os.path.dirname(os.path.abspath(__file__)))


def _not_found(start_response):
    body = b'not found\n'
    start_response('404 Not Found', [('Content-Type', 'text/plain'),
                                     ('Content-Length', str(len(body)))])
    return [body]


def _resolve(path_info):
    # PATH_INFO is bytes-as-latin-1 (PEP 3333); file names are UTF-8.
    try:
        rel = path_info.encode('latin-1').decode('utf-8')
    except UnicodeError:
        return None
    parts = [p for p in rel.split('/') if p]
    if not parts or any(p.startswith('.') for p in parts):
        return None
    full = os.path.realpath(os.path.join(ROOT, *parts))
    if os.path.commonpath([full, ROOT]) != ROOT or not os.path.isfile(full):
        return None
    return full


def application(environ, start_response):
    if environ['REQUEST_METHOD'] not in ('GET', 'HEAD'):
        start_response('405 Method Not Allowed',
                       [('Content-Type', 'text/plain'), ('Allow', 'GET, HEAD'),
                        ('Content-Length', '0')])
        return []
    full = _resolve(environ.get('PATH_INFO', ''))
    if full is None:
        return _not_found(start_response)
    f = open(full, 'rb')
    size = os.fstat(f.fileno()).st_size
    ctype = mimetypes.guess_type(full)[0] or 'application/octet-stream'
    start_response('200 OK', [
        ('Content-Type', ctype),
        ('Content-Length', str(size)),
        # RFC 6266 / 8187: any file name, as ASCII.
        ('Content-Disposition', "attachment; filename*=UTF-8''%s"
         % quote(os.path.basename(full))),
    ])
    wrapper = environ.get('wsgi.file_wrapper')
    if wrapper is not None:
        return wrapper(f, 65536)
    return _blocks(f)


def _blocks(f):
    with f:
        while True:
            block = f.read(65536)
            if not block:
                return
            yield block
