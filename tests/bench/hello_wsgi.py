"""Raw PEP 3333 hello world: the uWSGI peer of tests/bench/run.sh.

    uwsgi --plugin python3 --fastcgi-socket /tmp/uwsgi.sock --processes 2 \
          --master --wsgi-file hello_wsgi.py --disable-logging

Same status, header and body as examples/native/hello.c and
libfcgi_hello.c (no Content-Length: framing is left to the server in all
three), and no framework, so the benchmark compares servers, not apps.
"""

BODY = b"Hello, world!\n"
HEADERS = [("Content-Type", "text/plain")]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
