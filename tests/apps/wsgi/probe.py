"""
Probe WSGI application: one PEP 3333 rule per path, so that
tests/e2e/test_wsgi.py can drive each rule over HTTP through bridge's
Python adapter.  validated.py serves the conforming paths again wrapped in
wsgiref.validate.validator with warnings turned into errors.

    /env                environ as JSON: str values, and the type and
                        value of every wsgi.* key
    /echo               the body back (read(-1))
    /read?N             the body read N bytes at a time; JSON of sizes
    /readline?N         the body line by line, readline(N) (N absent: no
                        limit); JSON list of lines
    /readlines?H        readlines(H); JSON list
    /iter               for line in wsgi.input; JSON list
    /overread           read(CONTENT_LENGTH + 1000) then read(10): EOF,
                        no hang
    /errors             lines to wsgi.errors (write, writelines, a line
                        in two writes, a partial line flushed)
    /write              body through start_response's write() callable
    /lazy               generator that calls start_response lazily
    /lazy-empty-first   ... after yielding b"" (PEP 3333 allows it;
                        wsgiref.validate does not)
    /empty              200, no body
    /twice              start_response twice without exc_info: the second
                        call must raise
    /replace            200 then exc_info before any byte: 500 replaces it
    /excinfo-after?N    a body chunk (N padding bytes) out, then exc_info:
                        must re-raise (response cut)
    /raise              exception before start_response (500)
    /raise-mid?N        a body chunk (N padding bytes), then an exception
                        (response cut)
    /str-body           str instead of bytes in the body (500)
    /bytes-result       bytes returned instead of [bytes] (500)
    /str-write          str given to write() (500)
    /bad-status         status without a code (500)
    /bad-status-type    status as bytes (500)
    /bad-header-type    header value an int (500)
    /bad-header-crlf    header value with CR LF (500)
    /bad-headers-tuple  headers as a tuple, not a list (500)
    /hop                a hop-by-hop header (500)
    /no-start           returns without calling start_response (500)
    /clen               Content-Length 5 then b"hello world" and one more
                        item: 5 bytes sent, iteration stopped
    /close?PATH         iterable whose close() appends "closed" to PATH
    /stream?PATH        endless 64 KiB chunks until the client goes;
                        close() appends "closed N" to PATH
    /file?PATH[&off]    wsgi.file_wrapper over open(PATH), seeked to off
    /file-counted?PATH  wsgi.file_wrapper over an io.FileIO subclass that
                        counts read() calls: sendfile makes none
    /file-reads         that count
    /file-bytesio       wsgi.file_wrapper over a BytesIO (no fileno)
    /file-nofileno      wsgi.file_wrapper over an object with read() only
    /pid                the worker's pid
    /count              requests served by this worker so far
    anything else       b"probe\\n"
"""
import io
import json
import os
import sys

COUNT = [0]
READS = [0]


def _qs(environ):
    return environ.get('QUERY_STRING', '')


def _text(start_response, body, status='200 OK', ctype='text/plain'):
    if isinstance(body, str):
        body = body.encode('utf-8')
    start_response(status, [('Content-Type', ctype),
                            ('Content-Length', str(len(body)))])
    return [body]


def _json(start_response, obj):
    return _text(start_response, json.dumps(obj), ctype='application/json')


def _body_len(environ):
    try:
        return int(environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        return 0


class Closing:
    """An iterable with close(), which records that it was called."""

    def __init__(self, items, path):
        self.items = items
        self.path = path
        self.served = 0

    def __iter__(self):
        for item in self.items:
            self.served += 1
            yield item

    def close(self):
        with open(self.path, 'a') as f:
            f.write('closed %d\n' % self.served)


def env(environ, start_response):
    out = {}
    for k, v in environ.items():
        if k.startswith('wsgi.'):
            out[k] = [type(v).__name__,
                      v if isinstance(v, (str, bool, int, tuple)) else None]
        else:
            out[k] = v if isinstance(v, str) else ['NOT STR', repr(v)]
    out['wsgi.file_wrapper'] = [type(environ['wsgi.file_wrapper']).__name__,
                                environ['wsgi.file_wrapper'].__name__]
    out['sys.executable'] = sys.executable
    out['sys.prefix'] = sys.prefix
    out['sys.path'] = sys.path
    out['cwd'] = os.getcwd()
    return _json(start_response, out)


def app(environ, start_response):
    COUNT[0] += 1
    path = environ.get('PATH_INFO', '')
    inp = environ['wsgi.input']
    q = _qs(environ)

    if path.startswith('/env'):
        return env(environ, start_response)
    if path == '/echo':
        return _text(start_response, inp.read(-1),
                     ctype='application/octet-stream')
    if path == '/read':
        n = int(q or 1000)
        sizes = []
        total = b''
        while True:
            chunk = inp.read(n)
            sizes.append(len(chunk))
            if not chunk:
                break
            total += chunk
        return _json(start_response, {'sizes': sizes,
                                      'body': total.decode('latin-1')})
    if path == '/readline':
        lines = []
        while True:
            line = inp.readline(int(q)) if q else inp.readline()
            if not line:
                break
            lines.append(line.decode('latin-1'))
        return _json(start_response, lines)
    if path == '/readlines':
        lines = inp.readlines(int(q)) if q else inp.readlines()
        rest = inp.read(-1)
        return _json(start_response,
                     {'lines': [x.decode('latin-1') for x in lines],
                      'rest': rest.decode('latin-1')})
    if path == '/iter':
        return _json(start_response,
                     [x.decode('latin-1') for x in inp])
    if path == '/overread':
        n = _body_len(environ)
        first = inp.read(n + 1000)
        again = inp.read(10)
        line = inp.readline()
        return _json(start_response, [len(first), len(again), len(line)])
    if path == '/errors':
        err = environ['wsgi.errors']
        err.write('probe error line one\n')
        err.writelines(['probe error line two\n', 'probe error line three\n'])
        err.write('probe error in ')
        err.write('two writes\n')
        err.write('probe error partial')
        err.flush()
        err.write('probe error at end of request')
        return _text(start_response, 'logged\n')
    if path == '/write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'written ')
        write(b'')
        write(b'by write()\n')
        return [b'and returned\n']
    if path == '/lazy':
        def gen():
            start_response('201 Created', [('Content-Type', 'text/plain')])
            yield b'lazy '
            yield b''
            yield b'generator\n'
        return gen()
    if path == '/lazy-empty-first':
        def gen():
            yield b''
            start_response('201 Created', [('Content-Type', 'text/plain')])
            yield b'lazy after an empty item\n'
        return gen()
    if path == '/empty':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return []
    if path == '/twice':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            start_response('201 Created', [('Content-Type', 'text/plain')])
        except Exception as e:
            return [('second refused: %s\n' % type(e).__name__).encode()]
        return [b'second accepted\n']
    if path == '/replace':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            raise ValueError('probe failure to report')
        except ValueError:
            start_response('500 Internal Server Error',
                           [('Content-Type', 'text/plain'),
                            ('X-Replaced', 'yes')], sys.exc_info())
            return [b'replaced\n']
    if path == '/excinfo-after':
        def gen():
            start_response('200 OK', [('Content-Type', 'text/plain')])
            yield b'first chunk\n' + b'.' * int(q or 0)
            try:
                raise ValueError('probe late failure')
            except ValueError:
                start_response('500 Internal Server Error',
                               [('Content-Type', 'text/plain')],
                               sys.exc_info())
            yield b'must not be sent\n'
        return gen()
    if path == '/raise':
        raise RuntimeError('probe exception before the response')
    if path == '/raise-mid':
        def gen():
            start_response('200 OK', [('Content-Type', 'text/plain')])
            yield b'partial ' + b'.' * int(q or 0)
            raise RuntimeError('probe exception in the middle')
        return gen()
    if path == '/str-body':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return ['a str, not bytes']
    if path == '/bytes-result':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return b'bytes, not a list of bytes'
    if path == '/str-write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write('a str, not bytes')
        return []
    if path == '/bad-status':
        start_response('OK', [('Content-Type', 'text/plain')])
        return [b'bad status accepted\n']
    if path == '/bad-status-type':
        start_response(b'200 OK', [('Content-Type', 'text/plain')])
        return [b'bytes status accepted\n']
    if path == '/bad-header-type':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('X-Number', 42)])
        return [b'int header accepted\n']
    if path == '/bad-header-crlf':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('X-Bad', 'a\r\nInjected: 1')])
        return [b'crlf header accepted\n']
    if path == '/bad-headers-tuple':
        start_response('200 OK', (('Content-Type', 'text/plain'),))
        return [b'tuple headers accepted\n']
    if path == '/hop':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Connection', 'close')])
        return [b'hop-by-hop accepted\n']
    if path == '/no-start':
        return []
    if path == '/clen':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', '5')])
        record = q

        def gen():
            try:
                yield b'hello world'
                yield b'never asked for'
            finally:
                if record:
                    with open(record, 'a') as f:
                        f.write('generator closed\n')
        return gen()
    if path == '/close':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Closing([b'one ', b'two\n'], q)
    if path == '/stream':
        start_response('200 OK', [('Content-Type',
                                   'application/octet-stream')])

        def endless():
            chunk = b'x' * 65536
            while True:
                yield chunk
        return Closing(endless(), q)
    if path == '/file':
        name, _, off = q.partition('&')
        f = open(name, 'rb')
        if off:
            f.seek(int(off))
        start_response('200 OK', [('Content-Type',
                                   'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 4096)
    if path == '/file-counted':
        class CountingFile(io.FileIO):
            def read(self, n=-1):
                READS[0] += 1
                return super().read(n)
        READS[0] = 0
        start_response('200 OK', [('Content-Type',
                                   'application/octet-stream')])
        return environ['wsgi.file_wrapper'](CountingFile(q, 'r'), 4096)
    if path == '/file-reads':
        return _text(start_response, str(READS[0]))
    if path == '/file-bytesio':
        start_response('200 OK', [('Content-Type',
                                   'application/octet-stream')])
        return environ['wsgi.file_wrapper'](io.BytesIO(b'y' * 10000), 1000)
    if path == '/file-nofileno':
        class Reader:
            def __init__(self):
                self.left = 3

            def read(self, n):
                if self.left == 0:
                    return b''
                self.left -= 1
                return b'block\n'
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return environ['wsgi.file_wrapper'](Reader())
    if path == '/pid':
        return _text(start_response, str(os.getpid()))
    if path == '/count':
        return _text(start_response, str(COUNT[0]))
    return _text(start_response, 'probe\n')


application = app
