/*
 * wsgi.file_wrapper (PEP 3333, "Optional Platform-Specific File
 * Handling").  An instance is an iterable over filelike.read(blksize), so
 * that middleware sees an ordinary iterable; when the application returns
 * one unwrapped, wsgi.c asks filewrapper_file() whether it is a real
 * regular file and, if so, sends it with the server's sendfile() from the
 * file's current position to its end.
 */
#include "python.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILEWRAPPER_BLKSIZE 8192

struct filewrapper {
	PyObject_HEAD
	PyObject *filelike;
	Py_ssize_t blksize;
};

static PyObject *
fw_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "filelike", "block_size", NULL };
	struct filewrapper *fw;
	PyObject *filelike;
	Py_ssize_t blksize = FILEWRAPPER_BLKSIZE;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper",
	    kwlist, &filelike, &blksize))
		return NULL;
	if (blksize <= 0) {
		PyErr_SetString(PyExc_ValueError, "file_wrapper block_size "
		    "must be positive");
		return NULL;
	}
	if ((fw = (struct filewrapper *)type->tp_alloc(type, 0)) == NULL)
		return NULL;
	Py_INCREF(filelike);
	fw->filelike = filelike;
	fw->blksize = blksize;
	return (PyObject *)fw;
}

static int
fw_traverse(PyObject *o, visitproc visit, void *arg)
{
	Py_VISIT(((struct filewrapper *)o)->filelike);
	return 0;
}

static int
fw_clear(PyObject *o)
{
	Py_CLEAR(((struct filewrapper *)o)->filelike);
	return 0;
}

static void
fw_dealloc(PyObject *o)
{
	PyObject_GC_UnTrack(o);
	fw_clear(o);
	Py_TYPE(o)->tp_free(o);
}

static PyObject *
fw_next(PyObject *o)
{
	struct filewrapper *fw = (struct filewrapper *)o;
	PyObject *data;

	if (fw->filelike == NULL)
		return NULL;
	data = PyObject_CallMethod(fw->filelike, "read", "n", fw->blksize);
	if (data == NULL)
		return NULL;
	if (!PyBytes_Check(data)) {
		PyErr_Format(PyExc_TypeError, "file_wrapper: read() of the "
		    "file-like object returned %.100s, not bytes",
		    Py_TYPE(data)->tp_name);
		Py_DECREF(data);
		return NULL;
	}
	if (PyBytes_GET_SIZE(data) == 0) {
		Py_DECREF(data);
		return NULL;	/* StopIteration */
	}
	return data;
}

/* PEP 3333: close() closes the file-like object if it has close(). */
static PyObject *
fw_close(PyObject *o, PyObject *unused)
{
	struct filewrapper *fw = (struct filewrapper *)o;
	PyObject *close, *res;

	(void)unused;
	if (fw->filelike == NULL)
		Py_RETURN_NONE;
	if ((close = PyObject_GetAttr(fw->filelike, py.s_close)) == NULL) {
		if (!PyErr_ExceptionMatches(PyExc_AttributeError))
			return NULL;
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	res = PyObject_CallNoArgs(close);
	Py_DECREF(close);
	return res;
}

int
filewrapper_file(PyObject *o, int *fd, off_t *off, size_t *n)
{
	struct filewrapper *fw = (struct filewrapper *)o;
	PyObject *res;
	struct stat st;
	long v;

	if (fw->filelike == NULL)
		return 1;
	/* No fileno(), or one that raises (io.UnsupportedOperation for
	 * BytesIO): not a real file. */
	if ((res = PyObject_CallMethodNoArgs(fw->filelike,
	    py.s_fileno)) == NULL) {
		if (!PyErr_ExceptionMatches(PyExc_Exception))
			return -1;
		PyErr_Clear();
		return 1;
	}
	v = PyLong_Check(res) ? PyLong_AsLong(res) : -1;
	Py_DECREF(res);
	if (v == -1 && PyErr_Occurred())
		PyErr_Clear();
	if (v < 0 || v > INT32_MAX)
		return 1;
	*fd = (int)v;
	if (fstat(*fd, &st) == -1 || !S_ISREG(st.st_mode))
		return 1;
	/* The object's position, not the descriptor's: a buffered
	 * reader has read ahead of what it handed out. */
	if ((res = PyObject_CallMethodNoArgs(fw->filelike, py.s_tell)) ==
	    NULL) {
		if (!PyErr_ExceptionMatches(PyExc_Exception))
			return -1;
		PyErr_Clear();
		*off = lseek(*fd, 0, SEEK_CUR);
	} else {
		*off = PyLong_Check(res) ? (off_t)PyLong_AsLongLong(res) : -1;
		Py_DECREF(res);
		if (*off == -1 && PyErr_Occurred())
			PyErr_Clear();
	}
	if (*off < 0)
		return 1;
	*n = st.st_size > *off ? (size_t)(st.st_size - *off) : 0;
	return 0;
}

static PyMethodDef fw_methods[] = {
	{ "close", fw_close, METH_NOARGS, "close the file-like object" },
	{ NULL, NULL, 0, NULL }
};

PyTypeObject py_filewrapper_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bridge.FileWrapper",
	.tp_basicsize = sizeof(struct filewrapper),
	.tp_dealloc = fw_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "wsgi.file_wrapper(filelike, block_size=8192)",
	.tp_traverse = fw_traverse,
	.tp_clear = fw_clear,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = fw_next,
	.tp_methods = fw_methods,
	.tp_new = fw_new,
};
