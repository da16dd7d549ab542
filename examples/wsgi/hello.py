"""The smallest WSGI application (PEP 3333), served by bridge:

    bridge --http :8000 --wsgi hello --pythonpath examples/wsgi
"""


def application(environ, start_response):
    body = b'Hello, world!\n'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
