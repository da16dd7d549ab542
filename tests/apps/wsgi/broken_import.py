"""A WSGI module that fails while it is imported (start-up error test)."""
raise RuntimeError('broken_import: this application cannot start')


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'unreachable\n']
