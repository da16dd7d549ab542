/*
 * pyhost.so: bridge run inside Debian's python3.X executable.
 *
 * That executable is linked with libpython's static build, optimised
 * with profiles; the shared libpython3.X.so an embedding program gets is
 * built without, and runs the same Python code about a fifth slower
 * (measured here: a dict-and-str loop, best of five, 16.5 ms embedded
 * against 13 ms in python3).  uvicorn and Gunicorn run in that
 * executable; so does bridge when it serves a Python application:
 * bridge's binary execs python3 (adapter_host() in bridge/gateway/adapter.c),
 * which imports this module, which is bridge's core with a Python entry
 * point, and runs bridge's main() in the same process.  This file holds
 * the Python adapter too, which bridge then loads from here rather than
 * from python.so (linked with libpython: a second, idle copy of the
 * interpreter, 1.4 MB more per worker).  The interpreter is already
 * running when the adapter starts (python.c: interpreter_adopt()).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bridge/gateway/adapter.h"

/* The signals as an embedded interpreter leaves them: bridge's own. */
static int
signals_default(void)
{
	static const char *names[] = { "SIGINT", "SIGPIPE", "SIGXFSZ" };
	PyObject *m, *dfl, *num, *res;
	size_t i;

	if ((m = PyImport_ImportModule("signal")) == NULL)
		return -1;
	dfl = PyObject_GetAttrString(m, "SIG_DFL");
	for (i = 0; dfl != NULL && i < sizeof(names) / sizeof(names[0]);
	    i++) {
		if ((num = PyObject_GetAttrString(m, names[i])) == NULL)
			break;
		res = PyObject_CallMethod(m, "signal", "OO", num, dfl);
		Py_DECREF(num);
		if (res == NULL)
			break;
		Py_DECREF(res);
	}
	Py_XDECREF(dfl);
	Py_DECREF(m);
	return PyErr_Occurred() ? -1 : 0;
}

/*
 * run(): bridge's main() with the rest of sys.argv (the command line
 * bridge was started with); never returns.  python3 found this module
 * through sys.path[0] with its symbols made global (adapter.c's
 * HOST_BOOT): both are put back first.  The GIL stays with this thread:
 * the master runs no Python, and a worker it forks finds the
 * interpreter as the executable left it.
 */
static PyObject *
pyhost_run(PyObject *self, PyObject *unused)
{
	PyObject *list, *path, *a, *b;
	Py_ssize_t i, n;
	char **argv, pid[24];

	(void)self;
	(void)unused;
	if ((list = PySys_GetObject("argv")) == NULL ||
	    !PyList_Check(list) || (n = PyList_GET_SIZE(list)) < 2 ||
	    (argv = calloc((size_t)n, sizeof(*argv))) == NULL) {
		PyErr_SetString(PyExc_ValueError, "run: no command line");
		return NULL;
	}
	/* sys.argv[0] is "-c"; bridge's argv[0] follows. */
	for (i = 1; i < n; i++) {
		if ((b = PyUnicode_EncodeFSDefault(PyList_GET_ITEM(list,
		    i))) == NULL)
			return NULL;
		argv[i - 1] = strdup(PyBytes_AS_STRING(b));
		Py_DECREF(b);
		if (argv[i - 1] == NULL)
			return PyErr_NoMemory();
	}
	if ((a = Py_BuildValue("[s]", "bridge")) == NULL ||
	    PySys_SetObject("argv", a) == -1)
		return NULL;
	Py_DECREF(a);
	if ((path = PySys_GetObject("path")) == NULL ||
	    PySequence_DelItem(path, 0) == -1)
		return NULL;
	if ((a = PyImport_ImportModule("sys")) == NULL ||
	    (b = PyObject_CallMethod(a, "setdlopenflags", "i", RTLD_NOW)) ==
	    NULL || signals_default() == -1)
		return NULL;
	Py_DECREF(b);
	Py_DECREF(a);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("BRIDGE_PYTHON_HOST_PID", pid, 1);
	/* What ps, top and pgrep show, as for bridge's own binary. */
	prctl(PR_SET_NAME, "bridge", 0, 0, 0);
	adapter_hosted = 1;
	exit(bridge_main((int)n - 1, argv));
}

static PyMethodDef pyhost_methods[] = {
	{ "run", pyhost_run, METH_NOARGS, "bridge's main(); never returns" },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef pyhost_def = {
	PyModuleDef_HEAD_INIT, "pyhost", NULL, -1, pyhost_methods,
	NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit_pyhost(void);

PyMODINIT_FUNC
PyInit_pyhost(void)
{
	return PyModule_Create(&pyhost_def);
}
