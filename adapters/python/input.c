/*
 * wsgi.input (PEP 3333, "Input and Error Streams"): read(size),
 * readline(size), readlines(hint) and iteration over bg_server.read().
 *
 * The server's read() returns 0 at the end of the body, whatever its
 * framing (Content-Length, chunked, unknown length), so reading to EOF is
 * safe and wsgi.input_terminated is true: no call here blocks past the end
 * of the body.  read(n) returns n bytes unless the body ends first, as
 * applications that call read(int(CONTENT_LENGTH)) expect.
 *
 * readline() needs to look ahead for the newline: bytes read past it are
 * kept in a buffer that later calls consume first.
 */
#include "python.h"

#include <string.h>

#define INPUT_CHUNK 65536

struct input {
	PyObject_HEAD
	bg_request *r;	/* NULL once the request has ended */
	char *buf;	/* read-ahead: buf[off .. off+len) */
	size_t cap, off, len;
	uint64_t taken;	/* bytes taken from the server */
	int eof;
	int busy;	/* a call is reading with the GIL released */
};

PyObject *
input_new(bg_request *r)
{
	struct input *in;

	if ((in = PyObject_New(struct input, &py_input_type)) == NULL)
		return NULL;
	in->r = r;
	in->buf = NULL;
	in->cap = in->off = in->len = 0;
	in->taken = 0;
	in->eof = 0;
	in->busy = 0;
	return (PyObject *)in;
}

void
input_detach(PyObject *o)
{
	((struct input *)o)->r = NULL;
}

static void
input_dealloc(PyObject *o)
{
	PyMem_Free(((struct input *)o)->buf);
	Py_TYPE(o)->tp_free(o);
}

/* Usable now?  Sets an exception and returns -1 if not. */
static int
input_check(struct input *in)
{
	if (in->r == NULL) {
		PyErr_SetString(PyExc_ValueError, "wsgi.input used after its "
		    "request ended");
		return -1;
	}
	if (in->busy) {
		PyErr_SetString(PyExc_RuntimeError, "wsgi.input used by two "
		    "threads at once");
		return -1;
	}
	return 0;
}

/* Up to n bytes from the server into dst, the GIL released meanwhile.
 * Returns the count, 0 at the end of the body, -1 with OSError set. */
static Py_ssize_t
server_read(struct input *in, char *dst, size_t n)
{
	ssize_t got;

	if (in->eof || n == 0)
		return 0;
	in->busy = 1;
	Py_BEGIN_ALLOW_THREADS
	got = py.srv->read(in->r, dst, n);
	Py_END_ALLOW_THREADS
	in->busy = 0;
	if (got == -1) {
		PyErr_SetString(PyExc_OSError, "reading the request body "
		    "failed (client gone or timed out)");
		return -1;
	}
	if (got == 0)
		in->eof = 1;
	in->taken += (uint64_t)got;
	return got;
}

/* Bytes of the body not yet taken from the server, -1 if unknown. */
static int64_t
remaining(struct input *in)
{
	int64_t cl = py.srv->content_length(in->r);

	if (cl < 0)
		return -1;
	return (uint64_t)cl > in->taken ? cl - (int64_t)in->taken : 0;
}

/* size < 0: "size" absent, None or negative, meaning all. */
static int
size_arg(PyObject *const *args, Py_ssize_t nargs, const char *fn,
    Py_ssize_t *size)
{
	*size = -1;
	if (nargs > 1) {
		PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument "
		    "(%zd given)", fn, nargs);
		return -1;
	}
	if (nargs == 0 || args[0] == Py_None)
		return 0;
	if ((*size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError)) ==
	    -1 && PyErr_Occurred())
		return -1;
	if (*size < 0)
		*size = -1;
	return 0;
}

/* Take k buffered bytes as a bytes object. */
static PyObject *
take(struct input *in, size_t k)
{
	/* No buffer yet when nothing was read: "" without an offset. */
	PyObject *b = PyBytes_FromStringAndSize(k > 0 ? in->buf + in->off :
	    "", (Py_ssize_t)k);

	if (b != NULL) {
		in->off += k;
		in->len -= k;
		if (in->len == 0)
			in->off = 0;
	}
	return b;
}

static PyObject *
input_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct input *in = (struct input *)self;
	Py_ssize_t size, got, n;
	size_t cap, want;
	int64_t left;
	PyObject *out;

	if (input_check(in) == -1 ||
	    size_arg(args, nargs, "read", &size) == -1)
		return NULL;
	if (size >= 0 && (size_t)size <= in->len)
		return take(in, (size_t)size);
	/* Size the result for the whole remaining body when the server
	 * knows it, so read(CONTENT_LENGTH) allocates once. */
	left = remaining(in);
	want = left >= 0 ? in->len + (size_t)left : in->len + INPUT_CHUNK;
	if (size >= 0 && want > (size_t)size)
		want = (size_t)size;
	cap = want > 0 ? want : 1;
	if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap)) == NULL)
		return NULL;
	if (in->len > 0)
		memcpy(PyBytes_AS_STRING(out), in->buf + in->off, in->len);
	got = (Py_ssize_t)in->len;
	in->off = in->len = 0;
	while (size < 0 || got < size) {
		if ((size_t)got == cap) {
			if (in->eof || remaining(in) == 0)
				break;
			cap *= 2;
			if (size >= 0 && cap > (size_t)size)
				cap = (size_t)size;
			if (_PyBytes_Resize(&out, (Py_ssize_t)cap) == -1)
				return NULL;
		}
		n = server_read(in, PyBytes_AS_STRING(out) + got,
		    cap - (size_t)got);
		if (n == -1) {
			Py_DECREF(out);
			return NULL;
		}
		if (n == 0)
			break;
		got += n;
	}
	if ((size_t)got != cap && _PyBytes_Resize(&out, got) == -1)
		return NULL;
	return out;
}

/* Make room for at least INPUT_CHUNK more bytes after the buffered ones. */
static int
reserve(struct input *in)
{
	size_t cap;
	char *p;

	if (in->off > 0) {
		memmove(in->buf, in->buf + in->off, in->len);
		in->off = 0;
	}
	if (in->cap - in->len >= INPUT_CHUNK)
		return 0;
	cap = in->cap ? in->cap * 2 : INPUT_CHUNK;
	while (cap - in->len < INPUT_CHUNK)
		cap *= 2;
	if ((p = PyMem_Realloc(in->buf, cap)) == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	in->buf = p;
	in->cap = cap;
	return 0;
}

/* One line (up to and with its newline), at most size bytes if
 * size >= 0; b"" at the end of the body. */
static PyObject *
readline(struct input *in, Py_ssize_t size)
{
	size_t scanned = 0, limit;
	Py_ssize_t n;
	char *nl;

	for (;;) {
		limit = size >= 0 && (size_t)size < in->len ? (size_t)size :
		    in->len;
		nl = limit > scanned ? memchr(in->buf + in->off + scanned,
		    '\n', limit - scanned) : NULL;
		if (nl != NULL)
			return take(in, (size_t)(nl - (in->buf + in->off)) + 1);
		if ((size >= 0 && in->len >= (size_t)size) || in->eof)
			return take(in, limit);
		scanned = limit;
		if (reserve(in) == -1)
			return NULL;
		n = server_read(in, in->buf + in->len, in->cap - in->len);
		if (n == -1)
			return NULL;
		in->len += (size_t)n;
	}
}

static PyObject *
input_readline(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct input *in = (struct input *)self;
	Py_ssize_t size;

	if (input_check(in) == -1 ||
	    size_arg(args, nargs, "readline", &size) == -1)
		return NULL;
	if (size == 0)
		return PyBytes_FromStringAndSize(NULL, 0);
	return readline(in, size);
}

static PyObject *
input_readlines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct input *in = (struct input *)self;
	Py_ssize_t hint, total = 0;
	PyObject *list, *line;

	if (input_check(in) == -1 ||
	    size_arg(args, nargs, "readlines", &hint) == -1)
		return NULL;
	if ((list = PyList_New(0)) == NULL)
		return NULL;
	for (;;) {
		if ((line = readline(in, -1)) == NULL) {
			Py_DECREF(list);
			return NULL;
		}
		if (PyBytes_GET_SIZE(line) == 0) {
			Py_DECREF(line);
			break;
		}
		total += PyBytes_GET_SIZE(line);
		if (PyList_Append(list, line) == -1) {
			Py_DECREF(line);
			Py_DECREF(list);
			return NULL;
		}
		Py_DECREF(line);
		if (hint > 0 && total >= hint)
			break;
	}
	return list;
}

static PyObject *
input_next(PyObject *self)
{
	struct input *in = (struct input *)self;
	PyObject *line;

	if (input_check(in) == -1 || (line = readline(in, -1)) == NULL)
		return NULL;
	if (PyBytes_GET_SIZE(line) == 0) {
		Py_DECREF(line);
		return NULL;	/* StopIteration */
	}
	return line;
}

static PyObject *
input_readable(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	Py_RETURN_TRUE;
}

static PyMethodDef input_methods[] = {
	{ "read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL,
	  "read(size=-1) -> up to size bytes of the body, all if absent" },
	{ "readline", (PyCFunction)(void (*)(void))input_readline,
	  METH_FASTCALL, "readline(size=-1) -> one line of the body" },
	{ "readlines", (PyCFunction)(void (*)(void))input_readlines,
	  METH_FASTCALL, "readlines(hint=-1) -> list of lines" },
	{ "readable", input_readable, METH_NOARGS, "True" },
	{ NULL, NULL, 0, NULL }
};

PyTypeObject py_input_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bridge.Input",
	.tp_basicsize = sizeof(struct input),
	.tp_dealloc = input_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.input: the request body (PEP 3333)",
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = input_next,
	.tp_methods = input_methods,
};
