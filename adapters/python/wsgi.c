/*
 * One WSGI request (PEP 3333) on the gateway ABI: build environ, call the
 * application, validate what it gives start_response(), send its body,
 * always call close().
 *
 * Who answers what when things go wrong:
 *  - an exception (or an invalid status, header or body item) before any
 *    body byte went out: traceback logged, BG_ERROR, bridge answers 500;
 *  - after a byte went out: traceback logged, BG_ERROR, bridge cuts the
 *    connection so the client sees a truncated response;
 *  - the client went away (write() failed): logged at info, no traceback,
 *    the iterable's close() still runs.
 *
 * start_response() is handed to the server at once; the server sends
 * nothing until the first body byte (PEP 3333 "Buffering and Streaming"),
 * which is why exc_info can still replace status and headers until then.
 */
#include "python.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The request as the application's callables see it: start_response
 * and write are builtins bound to this object.  It may outlive the
 * request (an application can keep start_response); r is NULL then. */
struct request {
	PyObject_HEAD
	bg_request *r;
	int started;		/* start_response() accepted */
	int head_sent;		/* a body byte was handed to the server */
	int client_gone;	/* the server's write() or sendfile() failed */
	int clipped;		/* body cut at the app's Content-Length */
	int64_t resp_length;	/* the app's Content-Length, -1 if none */
	uint64_t sent;		/* body bytes handed to the server */
};

static PyTypeObject request_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bridge.Request",
	.tp_basicsize = sizeof(struct request),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "state of one WSGI request",
};

#define HEADERS_ON_STACK 32

/* RFC 9110 section 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 9110 section 5.5: field-value is VCHAR, obs-text, SP and HTAB. */
static int
is_field_text(const char *s, Py_ssize_t n)
{
	Py_ssize_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * The bytes of a native string (PEP 3333 "A Note On String Types"): a
 * str whose code points are all below 256 is latin-1, and CPython keeps
 * exactly those as one byte per character, NUL-terminated.  Returns
 * NULL with TypeError or ValueError naming what.
 */
static const char *
native(PyObject *o, Py_ssize_t *len, const char *what)
{
	if (!PyUnicode_Check(o)) {
		PyErr_Format(PyExc_TypeError, "start_response(): %s must be "
		    "str, not %.100s", what, Py_TYPE(o)->tp_name);
		return NULL;
	}
#if PY_VERSION_HEX < 0x030c0000
	if (PyUnicode_READY(o) == -1)
		return NULL;
#endif
	if (PyUnicode_KIND(o) != PyUnicode_1BYTE_KIND) {
		PyErr_Format(PyExc_ValueError, "start_response(): %s %R has "
		    "characters outside latin-1", what, o);
		return NULL;
	}
	*len = PyUnicode_GET_LENGTH(o);
	return (const char *)PyUnicode_1BYTE_DATA(o);
}

/* Content-Length value -> length, -1 if not a plain decimal. */
static int64_t
parse_length(const char *s, Py_ssize_t n)
{
	int64_t x = 0;
	Py_ssize_t i;

	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	return x;
}

static int
request_alive(struct request *req, const char *fn)
{
	if (req->r == NULL) {
		PyErr_Format(PyExc_RuntimeError, "%s() called after its "
		    "request ended", fn);
		return 0;
	}
	return 1;
}

/* Hand n body bytes to the server, the GIL released meanwhile.
 * Returns 0, or -1 with OSError set when the client is gone. */
static int
send_bytes(struct request *req, const char *p, size_t n)
{
	int rc;

	if (req->resp_length >= 0 &&
	    (uint64_t)req->resp_length - req->sent < n) {
		n = (size_t)((uint64_t)req->resp_length - req->sent);
		if (!req->clipped)
			py.srv->log(req->r, BG_LOG_WARN, "python: the "
			    "application sent more than its Content-Length "
			    "%lld; the rest is dropped",
			    (long long)req->resp_length);
		req->clipped = 1;
	}
	if (n == 0)
		return 0;
	req->head_sent = 1;
	Py_BEGIN_ALLOW_THREADS
	rc = py.srv->write(req->r, p, n);
	Py_END_ALLOW_THREADS
	if (rc == -1) {
		req->client_gone = 1;
		PyErr_SetString(PyExc_OSError, "the response could not be "
		    "sent (client gone or write timeout)");
		return -1;
	}
	req->sent += n;
	return 0;
}

/* Push what was written to the client now (the server's flush, if this
 * server has one).  Returns 0, or -1 with OSError set. */
static int
py_flush(struct request *req)
{
	int rc;

	if (py.srv->size <= offsetof(struct bg_server, flush) ||
	    py.srv->flush == NULL)
		return 0;
	Py_BEGIN_ALLOW_THREADS
	rc = py.srv->flush(req->r);
	Py_END_ALLOW_THREADS
	if (rc == -1) {
		req->client_gone = 1;
		PyErr_SetString(PyExc_OSError, "the response could not be "
		    "sent (client gone)");
		return -1;
	}
	return 0;
}

/* True once the app's Content-Length has been sent in full: PEP 3333
 * says to stop iterating then. */
static int
length_reached(struct request *req)
{
	return req->resp_length >= 0 &&
	    req->sent >= (uint64_t)req->resp_length;
}

/* write(data), the callable start_response() returns (PEP 3333 "The
 * write() Callable"). */
static PyObject *
wsgi_write(PyObject *self, PyObject *data)
{
	struct request *req = (struct request *)self;

	if (!request_alive(req, "write"))
		return NULL;
	if (!req->started) {
		PyErr_SetString(PyExc_RuntimeError, "write() called before "
		    "start_response()");
		return NULL;
	}
	if (!PyBytes_Check(data)) {
		PyErr_Format(PyExc_TypeError, "write() argument must be "
		    "bytes, not %.100s", Py_TYPE(data)->tp_name);
		return NULL;
	}
	if (send_bytes(req, PyBytes_AS_STRING(data),
	    (size_t)PyBytes_GET_SIZE(data)) == -1)
		return NULL;
	Py_RETURN_NONE;
}

static PyMethodDef write_def = {
	"write", wsgi_write, METH_O, "write(data: bytes): send body bytes"
};

/* exc_info given after the first body byte: re-raise it (PEP 3333). */
static PyObject *
reraise(PyObject *exc_info)
{
	PyObject *t, *v, *tb;

	if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
		PyErr_SetString(PyExc_TypeError, "start_response(): exc_info "
		    "must be a (type, value, traceback) tuple");
		return NULL;
	}
	t = PyTuple_GET_ITEM(exc_info, 0);
	v = PyTuple_GET_ITEM(exc_info, 1);
	tb = PyTuple_GET_ITEM(exc_info, 2);
	if (!PyExceptionClass_Check(t)) {
		PyErr_SetString(PyExc_TypeError, "start_response(): exc_info "
		    "holds no exception");
		return NULL;
	}
	Py_INCREF(t);
	Py_INCREF(v);
	if (tb == Py_None)
		tb = NULL;
	Py_XINCREF(tb);
	PyErr_Restore(t, v, tb);
	return NULL;
}

/* Validate status and headers and give them to the server.  Returns 0,
 * or -1 with an exception naming the problem. */
static int
give_response(struct request *req, PyObject *status, PyObject *headers,
    int flags)
{
	struct bg_header stack[HEADERS_ON_STACK], *hs = stack;
	const char *s, *reason;
	char what[128];
	Py_ssize_t slen, i, n;
	int64_t clen = -1;
	int code, rc = -1;

	if ((s = native(status, &slen, "status")) == NULL)
		return -1;
	/* "200 OK": three digits, one space, a reason phrase. */
	if (slen < 4 || s[0] < '1' || s[0] > '9' || s[1] < '0' ||
	    s[1] > '9' || s[2] < '0' || s[2] > '9' || s[3] != ' ' ||
	    !is_field_text(s, slen)) {
		PyErr_Format(PyExc_ValueError, "start_response(): status %R "
		    "is not \"NNN Reason\"", status);
		return -1;
	}
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (code < 200) {
		PyErr_Format(PyExc_ValueError, "start_response(): status %R: "
		    "an application cannot send 1xx", status);
		return -1;
	}
	reason = slen > 4 ? s + 4 : NULL;
	if (!PyList_Check(headers)) {
		PyErr_Format(PyExc_TypeError, "start_response(): response "
		    "headers must be a list, not %.100s",
		    Py_TYPE(headers)->tp_name);
		return -1;
	}
	n = PyList_GET_SIZE(headers);
	if (n > HEADERS_ON_STACK && (hs = PyMem_Calloc((size_t)n,
	    sizeof(*hs))) == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	for (i = 0; i < n; i++) {
		PyObject *t = PyList_GET_ITEM(headers, i);
		Py_ssize_t k;

		if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2) {
			PyErr_Format(PyExc_TypeError, "start_response(): "
			    "response header %zd must be a (name, value) "
			    "tuple, not %R", i, t);
			goto out;
		}
		snprintf(what, sizeof(what), "header %zd name", i);
		if ((hs[i].name = native(PyTuple_GET_ITEM(t, 0), &slen,
		    what)) == NULL)
			goto out;
		hs[i].name_len = (size_t)slen;
		for (k = 0; k < slen; k++)
			if (!is_tchar((unsigned char)hs[i].name[k]))
				break;
		if (slen == 0 || k < slen) {
			PyErr_Format(PyExc_ValueError, "start_response(): "
			    "header name %R is not a token",
			    PyTuple_GET_ITEM(t, 0));
			goto out;
		}
		snprintf(what, sizeof(what), "header %.*s value",
		    (int)(hs[i].name_len > 100 ? 100 : hs[i].name_len),
		    hs[i].name);
		if ((hs[i].value = native(PyTuple_GET_ITEM(t, 1), &slen,
		    what)) == NULL)
			goto out;
		hs[i].value_len = (size_t)slen;
		if (!is_field_text(hs[i].value, slen)) {
			PyErr_Format(PyExc_ValueError, "start_response(): "
			    "header %R has CR, LF or another control "
			    "character in its value", PyTuple_GET_ITEM(t, 0));
			goto out;
		}
		if (hs[i].name_len == 14 &&
		    strncasecmp(hs[i].name, "Content-Length", 14) == 0 &&
		    (clen = parse_length(hs[i].value, slen)) == -1) {
			PyErr_Format(PyExc_ValueError, "start_response(): "
			    "invalid Content-Length %R",
			    PyTuple_GET_ITEM(t, 1));
			goto out;
		}
	}
	if (py.srv->start_response(req->r, code, reason, hs, (size_t)n,
	    flags) == -1) {
		PyErr_Format(PyExc_ValueError, "start_response(): bridge "
		    "refused status %R or its headers (see the log line "
		    "above)", status);
		goto out;
	}
	req->started = 1;
	req->resp_length = clen;
	rc = 0;
out:
	if (hs != stack)
		PyMem_Free(hs);
	return rc;
}

/* start_response(status, response_headers, exc_info=None) */
static PyObject *
wsgi_start_response(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "status", "response_headers", "exc_info",
		NULL };
	struct request *req = (struct request *)self;
	PyObject *status, *headers, *exc_info = Py_None;
	int flags = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:start_response",
	    kwlist, &status, &headers, &exc_info))
		return NULL;
	if (!request_alive(req, "start_response"))
		return NULL;
	if (exc_info != Py_None) {
		/* PEP 3333: replace status and headers if nothing has gone
		 * out yet, re-raise the application's error otherwise. */
		if (req->head_sent)
			return reraise(exc_info);
		if (req->started)
			flags = BG_REPLACE;
	} else if (req->started) {
		PyErr_SetString(PyExc_RuntimeError, "start_response() called "
		    "a second time without exc_info (PEP 3333)");
		return NULL;
	}
	if (give_response(req, status, headers, flags) == -1)
		return NULL;
	return PyCFunction_New(&write_def, self);
}

static PyMethodDef start_response_def = {
	"start_response", (PyCFunction)(void (*)(void))wsgi_start_response,
	METH_VARARGS | METH_KEYWORDS,
	"start_response(status, response_headers, exc_info=None) -> write"
};

/* Log the pending exception the way its moment calls for; BG_ERROR. */
static int
fail(struct request *req, const char *what)
{
	char msg[256];

	if (req->client_gone) {
		PyErr_Clear();
		py.srv->log(req->r, BG_LOG_INFO, "python: client gone after "
		    "%llu body bytes; response abandoned",
		    (unsigned long long)req->sent);
		return BG_ERROR;
	}
	if (!req->head_sent)
		snprintf(msg, sizeof(msg), "%s; answering 500", what);
	else
		snprintf(msg, sizeof(msg), "%s after %llu body bytes were "
		    "sent; cutting the response", what,
		    (unsigned long long)req->sent);
	py_log_exception(req->r, msg);
	return BG_ERROR;
}

static PyObject *
environ_build(bg_request *r, PyObject *input, PyObject *errors)
{
	PyObject *env, *k, *v;
	size_t i, n = py.srv->var_count(r);
	int https = 0, scheme_set = 0;

	if ((env = PyDict_Copy(py.environ_proto)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct bg_var *var = py.srv->var_at(r, i);

		if (var == NULL)
			break;
		/* RFC 3875 section 4.1.18: these two are CONTENT_*. */
		if ((var->name_len == 17 && memcmp(var->name,
		    "HTTP_CONTENT_TYPE", 17) == 0) || (var->name_len == 19 &&
		    memcmp(var->name, "HTTP_CONTENT_LENGTH", 19) == 0))
			continue;
		if (var->name_len == 14 &&
		    memcmp(var->name, "REQUEST_SCHEME", 14) == 0) {
			https = var->value_len == 5 &&
			    strncasecmp(var->value, "https", 5) == 0;
			scheme_set = 1;
		} else if (!scheme_set && var->name_len == 5 &&
		    memcmp(var->name, "HTTPS", 5) == 0) {
			https = (var->value_len == 2 &&
			    strncasecmp(var->value, "on", 2) == 0) ||
			    (var->value_len == 1 && var->value[0] == '1');
		}
		/* Native strings: the bytes as latin-1 (PEP 3333). */
		if ((k = PyUnicode_DecodeLatin1(var->name,
		    (Py_ssize_t)var->name_len, NULL)) == NULL)
			goto fail;
		if ((v = PyUnicode_DecodeLatin1(var->value,
		    (Py_ssize_t)var->value_len, NULL)) == NULL) {
			Py_DECREF(k);
			goto fail;
		}
		if (PyDict_SetItem(env, k, v) == -1) {
			Py_DECREF(k);
			Py_DECREF(v);
			goto fail;
		}
		Py_DECREF(k);
		Py_DECREF(v);
	}
	if (PyDict_SetItem(env, py.k_url_scheme, https ? py.s_https :
	    py.s_http) == -1 ||
	    PyDict_SetItem(env, py.k_input, input) == -1 ||
	    PyDict_SetItem(env, py.k_errors, errors) == -1)
		goto fail;
	return env;
fail:
	Py_DECREF(env);
	return NULL;
}

/* Send what the application returned; BG_OK or BG_ERROR (logged). */
static int
send_result(struct request *req, PyObject *result)
{
	PyObject *it, *item;
	int streaming;
	int fd, rc;
	off_t off;
	size_t n;

	if (Py_IS_TYPE(result, &py_filewrapper_type)) {
		if ((rc = filewrapper_file(result, &fd, &off, &n)) == -1)
			return fail(req, "wsgi.file_wrapper failed");
		if (rc == 0) {
			if (!req->started) {
				PyErr_SetString(PyExc_RuntimeError, "the "
				    "application returned a file_wrapper "
				    "without calling start_response()");
				return fail(req, "invalid response");
			}
			if (req->resp_length >= 0 &&
			    (uint64_t)req->resp_length - req->sent < n)
				n = (size_t)((uint64_t)req->resp_length -
				    req->sent);
			if (n == 0)
				return BG_OK;
			req->head_sent = 1;
			Py_BEGIN_ALLOW_THREADS
			rc = py.srv->sendfile(req->r, fd, off, n);
			Py_END_ALLOW_THREADS
			if (rc == -1) {
				req->client_gone = 1;
				PyErr_SetString(PyExc_OSError, "sendfile");
				return fail(req, "sendfile failed");
			}
			req->sent += n;
			return BG_OK;
		}
	}
	/* A common slip: bytes and str iterate, but not into bytes. */
	if (PyBytes_Check(result) || PyUnicode_Check(result)) {
		PyErr_Format(PyExc_TypeError, "the application returned "
		    "%.100s; it must return an iterable of bytes, e.g. "
		    "[body]", Py_TYPE(result)->tp_name);
		return fail(req, "invalid response");
	}
	if ((it = PyObject_GetIter(result)) == NULL)
		return fail(req, "the application's result is not iterable");
	streaming = !PyList_Check(result) && !PyTuple_Check(result);
	while (!length_reached(req) && (item = PyIter_Next(it)) != NULL) {
		if (!PyBytes_Check(item)) {
			PyErr_Format(PyExc_TypeError, "the response body must "
			    "be bytes, the application gave %.100s: %.200R",
			    Py_TYPE(item)->tp_name, item);
			Py_DECREF(item);
			Py_DECREF(it);
			return fail(req, "invalid response body");
		}
		if (PyBytes_GET_SIZE(item) > 0) {
			if (!req->started) {
				Py_DECREF(item);
				Py_DECREF(it);
				PyErr_SetString(PyExc_RuntimeError, "the "
				    "application gave body bytes before "
				    "calling start_response()");
				return fail(req, "invalid response");
			}
			rc = send_bytes(req, PyBytes_AS_STRING(item),
			    (size_t)PyBytes_GET_SIZE(item));
			/* PEP 3333 "Buffering and Streaming": each block
			 * goes out before the next is asked for, unless the
			 * result is a list or tuple (no waiting between its
			 * blocks). */
			if (rc == 0 && streaming && py_flush(req) == -1)
				rc = -1;
			if (rc == -1) {
				Py_DECREF(item);
				Py_DECREF(it);
				return fail(req, "write failed");
			}
		}
		Py_DECREF(item);
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return fail(req, "the application raised while iterating "
		    "its response");
	if (!req->started) {
		PyErr_SetString(PyExc_RuntimeError, "the application "
		    "returned without calling start_response()");
		return fail(req, "invalid response");
	}
	return BG_OK;
}

/* PEP 3333: close() of the result, if it has one, whatever happened. */
static int
close_result(struct request *req, PyObject *result)
{
	PyObject *close, *res;

	if ((close = PyObject_GetAttr(result, py.s_close)) == NULL) {
		if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
			PyErr_Clear();
			return 0;
		}
	} else {
		res = PyObject_CallNoArgs(close);
		Py_DECREF(close);
		if (res != NULL) {
			Py_DECREF(res);
			return 0;
		}
	}
	req->client_gone = 0;	/* close() raising is worth a traceback */
	fail(req, "close() of the application's result raised");
	return -1;
}

int
wsgi_handle(bg_request *r)
{
	struct request *req;
	PyObject *input = NULL, *errors = NULL, *env = NULL, *start = NULL;
	PyObject *result, *args[2];
	int rc;

	if ((req = PyObject_New(struct request, &request_type)) == NULL) {
		py_log_exception(r, "out of memory");
		return BG_ERROR;
	}
	req->r = r;
	req->started = req->head_sent = req->client_gone = 0;
	req->clipped = 0;
	req->resp_length = -1;
	req->sent = 0;
	if ((input = input_new(r)) == NULL ||
	    (errors = errors_new(r)) == NULL ||
	    (env = environ_build(r, input, errors)) == NULL ||
	    (start = PyCFunction_New(&start_response_def,
	    (PyObject *)req)) == NULL) {
		rc = fail(req, "cannot build the WSGI environ");
		goto out;
	}
	args[0] = env;
	args[1] = start;
	result = PyObject_Vectorcall(py.app, args, 2, NULL);
	if (result == NULL) {
		rc = fail(req, "the application raised");
		goto out;
	}
	rc = send_result(req, result);
	if (close_result(req, result) == -1)
		rc = BG_ERROR;
	Py_DECREF(result);
out:
	if (errors != NULL)
		errors_end(errors);
	if (input != NULL)
		input_detach(input);
	req->r = NULL;
	Py_XDECREF(start);
	Py_XDECREF(env);
	Py_XDECREF(errors);
	Py_XDECREF(input);
	Py_DECREF(req);
	return rc;
}

/* Interned str or -1. */
static int
intern(PyObject **slot, const char *s)
{
	return (*slot = PyUnicode_InternFromString(s)) == NULL ? -1 : 0;
}

/* Types, interned names, and the environ keys that never change within
 * a worker (copied per request, as NGINX Unit does). */
int
wsgi_init(void)
{
	PyObject *proto, *v;

	if (PyType_Ready(&request_type) == -1 ||
	    PyType_Ready(&py_input_type) == -1 ||
	    PyType_Ready(&py_errors_type) == -1 ||
	    PyType_Ready(&py_filewrapper_type) == -1)
		return -1;
	if (intern(&py.s_http, "http") == -1 ||
	    intern(&py.s_https, "https") == -1 ||
	    intern(&py.k_url_scheme, "wsgi.url_scheme") == -1 ||
	    intern(&py.k_input, "wsgi.input") == -1 ||
	    intern(&py.k_errors, "wsgi.errors") == -1 ||
	    intern(&py.s_close, "close") == -1 ||
	    intern(&py.s_fileno, "fileno") == -1 ||
	    intern(&py.s_tell, "tell") == -1 ||
	    intern(&py.s_read, "read") == -1)
		return -1;
	if ((proto = PyDict_New()) == NULL)
		return -1;
	if ((v = Py_BuildValue("(ii)", 1, 0)) == NULL ||
	    PyDict_SetItemString(proto, "wsgi.version", v) == -1)
		goto fail;
	Py_DECREF(v);
	v = NULL;
	if (PyDict_SetItemString(proto, "wsgi.multithread",
	    py.srv->multithread ? Py_True : Py_False) == -1 ||
	    PyDict_SetItemString(proto, "wsgi.multiprocess",
	    py.srv->multiprocess ? Py_True : Py_False) == -1 ||
	    PyDict_SetItemString(proto, "wsgi.run_once",
	    py.srv->run_once ? Py_True : Py_False) == -1 ||
	    PyDict_SetItemString(proto, "wsgi.input_terminated",
	    Py_True) == -1 ||
	    PyDict_SetItemString(proto, "wsgi.file_wrapper",
	    (PyObject *)&py_filewrapper_type) == -1)
		goto fail;
	/* Defaults for the CGI variables PEP 3333 requires, in case a
	 * front end leaves one out; the request's own replace them. */
	if ((v = PyUnicode_FromStringAndSize("", 0)) == NULL ||
	    PyDict_SetItemString(proto, "SCRIPT_NAME", v) == -1 ||
	    PyDict_SetItemString(proto, "PATH_INFO", v) == -1 ||
	    PyDict_SetItemString(proto, "QUERY_STRING", v) == -1)
		goto fail;
	Py_DECREF(v);
	py.environ_proto = proto;
	return 0;
fail:
	Py_XDECREF(v);
	Py_DECREF(proto);
	return -1;
}
