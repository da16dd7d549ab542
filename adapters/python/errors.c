/*
 * wsgi.errors (PEP 3333, "Input and Error Streams"): a text stream whose
 * lines land in bridge's error log, each carrying the request id.
 * Line-buffered: a line is logged when its newline arrives, on flush(),
 * and when the request ends; a line longer than ERRORS_LINE_MAX is
 * logged in pieces of that size.
 *
 * The level: Python's logging writes here through a StreamHandler, and
 * an operator filtering on warn should not see its INFO lines as errors.
 * A line whose first word is a logging level name followed by ':' or a
 * blank ("WARNING:root:...", logging.basicConfig()'s format), possibly
 * after a bracketed time stamp ("[2026-01-01 10:00:00,000] INFO in app:
 * ...", Flask's default handler), is logged at that level; any other
 * line at error, as mod_wsgi logs everything.  The line is logged as
 * written.
 *
 * The same type, for no request and with another default level, stands
 * for sys.stdout and sys.stderr under --capture-output.
 */
#include "python.h"

#include <string.h>

#define ERRORS_LINE_MAX 8192

struct errors {
	PyObject_HEAD
	bg_request *r;	/* NULL once the request has ended */
	char *line;	/* the partial last line */
	size_t len;
	int level;	/* of a line that names none */
	PyObject *name;	/* the "name" attribute (a stream's) */
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
	e->level = BG_LOG_ERROR;
	e->name = NULL;
	return (PyObject *)e;
}

PyObject *
errors_stream(int level, const char *name)
{
	struct errors *e;

	if ((e = (struct errors *)errors_new(NULL)) == NULL)
		return NULL;
	e->level = level;
	if ((e->name = PyUnicode_FromString(name)) == NULL) {
		Py_DECREF(e);
		return NULL;
	}
	return (PyObject *)e;
}

/* The level a logging line names at its start, or dflt. */
static int
line_level(const char *s, size_t n, int dflt)
{
	static const struct {
		const char *name;
		size_t len;
		int level;
	} names[] = {
		{ "CRITICAL", 8, BG_LOG_ERROR },
		{ "ERROR", 5, BG_LOG_ERROR },
		{ "WARNING", 7, BG_LOG_WARN },
		{ "INFO", 4, BG_LOG_INFO },
		{ "DEBUG", 5, BG_LOG_DEBUG },
	};
	const char *p = s, *end = s + n, *c;
	size_t i;

	if (n > 0 && s[0] == '[' && (c = memchr(s, ']', n)) != NULL &&
	    c + 1 < end && c[1] == ' ')
		p = c + 2;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((size_t)(end - p) > names[i].len &&
		    memcmp(p, names[i].name, names[i].len) == 0 &&
		    (p[names[i].len] == ':' || p[names[i].len] == ' '))
			return names[i].level;
	return dflt;
}

static void
emit(struct errors *e, const char *s, size_t n)
{
	py.srv->log(e->r, line_level(s, n, e->level), "%.*s", (int)n, s);
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
	Py_XDECREF(e->name);
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

/* What code written for a file asks of sys.stdout: not a terminal. */
static PyObject *
errors_isatty(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	Py_RETURN_FALSE;
}

static PyObject *
errors_get_encoding(PyObject *self, void *closure)
{
	(void)self;
	(void)closure;
	return PyUnicode_FromString("utf-8");
}

static PyObject *
errors_get_name(PyObject *self, void *closure)
{
	struct errors *e = (struct errors *)self;

	(void)closure;
	if (e->name == NULL)
		return PyUnicode_FromString("wsgi.errors");
	Py_INCREF(e->name);
	return e->name;
}

static PyGetSetDef errors_getset[] = {
	{ "encoding", errors_get_encoding, NULL, "utf-8", NULL },
	{ "name", errors_get_name, NULL, "what the stream stands for", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyMethodDef errors_methods[] = {
	{ "write", errors_write, METH_O, "write(str): log complete lines" },
	{ "writelines", errors_writelines, METH_O,
	  "writelines(iterable of str)" },
	{ "flush", errors_flush, METH_NOARGS, "log a partial line" },
	{ "writable", errors_writable, METH_NOARGS, "True" },
	{ "isatty", errors_isatty, METH_NOARGS, "False" },
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
	.tp_getset = errors_getset,
};
