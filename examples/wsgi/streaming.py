"""A streaming WSGI application: the body is a generator, sent as it is
produced (chunked over HTTP/1.1, since there is no Content-Length).

    bridge --http :8000 --wsgi streaming --pythonpath examples/wsgi
    curl -N 'http://127.0.0.1:8000/?n=5&delay=0.5'

?n=COUNT lines (default 10, at most 10000), ?delay=SECONDS between them
(default 0.2, at most 5).  The generator's finally: runs when bridge
closes the iterable, also when the client leaves early (PEP 3333: the
server always calls close()).
"""
import time
from urllib.parse import parse_qs


def _param(qs, name, default, conv, limit):
    try:
        return max(0, min(conv(qs[name][0]), limit))
    except (KeyError, ValueError):
        return default


def application(environ, start_response):
    qs = parse_qs(environ.get('QUERY_STRING', ''))
    n = _param(qs, 'n', 10, int, 10000)
    delay = _param(qs, 'delay', 0.2, float, 5.0)
    errors = environ['wsgi.errors']

    def lines():
        sent = 0
        try:
            for i in range(n):
                if i and delay:
                    time.sleep(delay)
                yield ('line %d of %d\n' % (i + 1, n)).encode()
                sent += 1
        finally:
            if sent < n:
                errors.write('streaming: client left after %d of %d '
                             'lines\n' % (sent, n))

    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8'),
                              ('Cache-Control', 'no-cache')])
    return lines()
