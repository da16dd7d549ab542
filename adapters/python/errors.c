/*
 * wsgi.errors (PEP 3333, "Input and Error Streams"): a text stream whose
 * lines land in bridge's error log, each carrying the request id, at
 * level error (as mod_wsgi does).  Line-buffered: a line is logged when
 * its newline arrives, on flush(), and when the request ends; a line
 * longer than ERRORS_LINE_MAX is logged in pieces of that size.
 */
#include "python.h"

#include <string.h>

#define ERRORS_LINE_MAX 8192

struct errors {
	PyObject_HEAD
	bg_request *r;	/* NULL once the request has ended */
	char *line;	/* the partial last line */
	size_t len;
};

PyObject *
errors_new(bg_request *r)
{
	struct errors *e;

	if ((e = PyObject_New(struct errors, &py_errors_type)) == NULL)
		return NULL;
	e->r = r;
	e->line = NULL;
	e->len = 0;
	return (PyObject *)e;
}

static void
emit(struct errors *e, const char *s, size_t n)
{
	py.srv->log(e->r, BG_LOG_ERROR, "%.*s", (int)n, s);
}

static void
flush_line(struct errors *e)
{
	if (e->len > 0) {
		emit(e, e->line, e->len);
		e->len = 0;
	}
}

void
errors_end(PyObject *o)
{
	struct errors *e = (struct errors *)o;

	flush_line(e);
	e->r = NULL;
}

static void
errors_dealloc(PyObject *o)
{
	struct errors *e = (struct errors *)o;

	flush_line(e);
	PyMem_Free(e->line);
	Py_TYPE(o)->tp_free(o);
}

/* Append s[0..n) to the partial line, logging every full line. */
static int
append(struct errors *e, const char *s, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		nl = memchr(s, '\n', n);
		k = nl != NULL ? (size_t)(nl - s) : n;
		if (e->len == 0 && nl != NULL && k <= ERRORS_LINE_MAX) {
			emit(e, s, k);		/* a whole line: no copy */
		} else {
			if (e->line == NULL && (e->line =
			    PyMem_Malloc(ERRORS_LINE_MAX)) == NULL) {
				PyErr_NoMemory();
				return -1;
			}
			if (k > ERRORS_LINE_MAX - e->len)
				k = ERRORS_LINE_MAX - e->len;
			memcpy(e->line + e->len, s, k);
			e->len += k;
			if (e->len == ERRORS_LINE_MAX ||
			    (nl != NULL && s + k == nl))
				flush_line(e);
		}
		s += k;
		n -= k;
		if (n > 0 && *s == '\n') {
			s++;
			n--;
		}
	}
	return 0;
}

static PyObject *
errors_write(PyObject *self, PyObject *arg)
{
	const char *s;
	Py_ssize_t n;

	if (!PyUnicode_Check(arg)) {
		PyErr_Format(PyExc_TypeError, "wsgi.errors.write() argument "
		    "must be str, not %.100s", Py_TYPE(arg)->tp_name);
		return NULL;
	}
	if ((s = PyUnicode_AsUTF8AndSize(arg, &n)) == NULL ||
	    append((struct errors *)self, s, (size_t)n) == -1)
		return NULL;
	return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
}

static PyObject *
errors_writelines(PyObject *self, PyObject *seq)
{
	PyObject *it, *item, *res;

	if ((it = PyObject_GetIter(seq)) == NULL)
		return NULL;
	while ((item = PyIter_Next(it)) != NULL) {
		res = errors_write(self, item);
		Py_DECREF(item);
		if (res == NULL) {
			Py_DECREF(it);
			return NULL;
		}
		Py_DECREF(res);
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *
errors_flush(PyObject *self, PyObject *unused)
{
	(void)unused;
	flush_line((struct errors *)self);
	Py_RETURN_NONE;
}

static PyObject *
errors_writable(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	Py_RETURN_TRUE;
}

static PyMethodDef errors_methods[] = {
	{ "write", errors_write, METH_O, "write(str): log complete lines" },
	{ "writelines", errors_writelines, METH_O,
	  "writelines(iterable of str)" },
	{ "flush", errors_flush, METH_NOARGS, "log a partial line" },
	{ "writable", errors_writable, METH_NOARGS, "True" },
	{ NULL, NULL, 0, NULL }
};

PyTypeObject py_errors_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bridge.Errors",
	.tp_basicsize = sizeof(struct errors),
	.tp_dealloc = errors_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.errors: lines to the error log (PEP 3333)",
	.tp_methods = errors_methods,
};
