/*
 * Python WSGI adapter: module entry, configuration and interpreter
 * start-up.  bridge loads this object like any module (DESIGN.md section
 * 2) and hands init() newline-separated key=value lines:
 *
 *	app=module:callable	the WSGI application (callable defaults to
 *				"application", as Gunicorn takes it), or
 *				an ASGI one (asgi.c), told apart by
 *				inspect.iscoroutinefunction()
 *	asgi=1			--asgi: the application must be ASGI
 *	asgi-loop=uvloop	the ASGI event loop (default auto: uvloop if installed)
 *	graceful-timeout=30	bound of ASGI lifespan shutdown, seconds
 *	pythonpath=/a:/b	directories put on sys.path after the cwd
 *	venv=/srv/venv		a virtualenv of this Python version
 *	chdir=/srv/project	working directory (bridge changes to it
 *				too); the cwd is always sys.path[0]
 *
 * With bridge --reload (the server offers watch_file()) the adapter
 * names the application's own source files: the __file__ of every module
 * in sys.modules outside the standard library and site-packages or
 * dist-packages -- the user's code, not all of sys.modules as Gunicorn
 * watches, since installed packages change by installs, not by edits.
 * It names them once the application is loaded and again after a request
 * that imported more.  When the application fails to import, it names
 * the files of the traceback, the SyntaxError's file and the --wsgi
 * module's file (MODULE.py in the working directory, sys.path[0], when
 * it does not exist yet), so that fixing them restarts the worker.
 *
 * The interpreter is CPython's main interpreter, started in each worker
 * after fork.  Its prefix is Debian's (BRIDGE_PYTHON_PREFIX, /usr): the
 * program name is set to that prefix's python3.X so that the standard
 * library and dist-packages are found whatever "python3" is first on
 * PATH.
 */
/* Python.h first: it sets feature macros the C library headers read. */
#include "python.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef BRIDGE_PYTHON_PREFIX
#define BRIDGE_PYTHON_PREFIX "/usr"
#endif
#define PY_VERSION_MM Py_STRINGIFY(PY_MAJOR_VERSION) "." \
	Py_STRINGIFY(PY_MINOR_VERSION)
#define PY_PROGRAM BRIDGE_PYTHON_PREFIX "/bin/python" PY_VERSION_MM

struct py_adapter py;

/* This thread's thread state; the event-loop thread's is the one
 * Py_InitializeFromConfig() made. */
static __thread PyThreadState *py_tstate;

/* What init() was told. */
struct py_config {
	char *app;		/* module:callable */
	char *pythonpath;	/* colon-separated */
	char *venv;
	char *chdir;
	char *preload;		/* "1": init runs in bridge's master */
	char *capture;		/* "1": sys.stdout/stderr to the log */
	char *asgi;		/* "1": --asgi */
	char *asgi_loop;	/* asyncio, uvloop */
	char *graceful;		/* seconds */
};

/*
 * Path set-up, run once after the interpreter starts.  A virtualenv gets
 * what site.py gives one started from its own bin/python: its
 * site-packages (with .pth files) ahead of the system's, the system's
 * dropped unless pyvenv.cfg says include-system-site-packages = true,
 * and sys.prefix pointing at it.  Then the cwd and pythonpath go in
 * front, as Gunicorn does.
 */
static const char py_bootstrap[] =
"def setup(cwd, pythonpath, venv, sitepackages, include_system):\n"
"    import site, sys\n"
"    if venv:\n"
"        if not include_system:\n"
"            drop = set(site.getsitepackages())\n"
"            drop.add(site.getusersitepackages())\n"
"            sys.path[:] = [p for p in sys.path if p not in drop]\n"
"        before = list(sys.path)\n"
"        site.addsitedir(sitepackages)\n"
"        added = [p for p in sys.path if p not in before]\n"
"        sys.path[:] = added + before\n"
"        sys.prefix = sys.exec_prefix = venv\n"
"    front = [cwd] + [p for p in pythonpath.split(':') if p]\n"
"    sys.path[:] = front + [p for p in sys.path if p not in front]\n"
"\n"
"def _installed():\n"
"    import site, sys, sysconfig\n"
"    dirs = {sysconfig.get_path(k) for k in\n"
"            ('stdlib', 'platstdlib', 'purelib', 'platlib')}\n"
"    dirs.update(site.getsitepackages())\n"
"    dirs.add(site.getusersitepackages())\n"
"    return tuple(d.rstrip('/') + '/' for d in dirs if d)\n"
"\n"
"def _is_user(f, installed):\n"
"    import os\n"
"    if not isinstance(f, str) or not f.startswith('/'):\n"
"        return False\n"
"    parts = f.split('/')\n"
"    return (not f.startswith(installed) and 'site-packages' not in parts\n"
"            and 'dist-packages' not in parts)\n"
"\n"
"def user_files():\n"
"    import os, sys\n"
"    installed = _installed()\n"
"    out = []\n"
"    for m in list(sys.modules.values()):\n"
"        f = getattr(m, '__file__', None)\n"
"        if isinstance(f, str):\n"
"            f = os.path.abspath(f)\n"
"            if _is_user(f, installed):\n"
"                out.append(f)\n"
"    return out\n"
"\n"
"def failed_files(modname, exc):\n"
"    import importlib.util, os\n"
"    out = set(user_files())\n"
"    try:\n"
"        spec = importlib.util.find_spec(modname)\n"
"    except Exception:\n"
"        spec = None\n"
"    if spec is not None and spec.origin:\n"
"        out.add(os.path.abspath(spec.origin))\n"
"    elif spec is None:\n"
"        out.add(os.path.abspath(modname.replace('.', '/') + '.py'))\n"
"    if isinstance(exc, SyntaxError) and exc.filename:\n"
"        out.add(os.path.abspath(exc.filename))\n"
"    tb = getattr(exc, '__traceback__', None)\n"
"    while tb is not None:\n"
"        out.add(tb.tb_frame.f_code.co_filename)\n"
"        tb = tb.tb_next\n"
"    installed = _installed()\n"
"    return sorted(f for f in out if _is_user(f, installed))\n";

static void
config_free(struct py_config *c)
{
	free(c->app);
	free(c->pythonpath);
	free(c->venv);
	free(c->chdir);
	free(c->preload);
	free(c->capture);
	free(c->asgi);
	free(c->asgi_loop);
	free(c->graceful);
	memset(c, 0, sizeof(*c));
}

/* Parse init()'s argument; logs and returns -1 on a bad line. */
static int
config_parse(const char *arg, struct py_config *c)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "app", offsetof(struct py_config, app) },
		{ "pythonpath", offsetof(struct py_config, pythonpath) },
		{ "venv", offsetof(struct py_config, venv) },
		{ "chdir", offsetof(struct py_config, chdir) },
		{ "preload", offsetof(struct py_config, preload) },
		{ "capture-output", offsetof(struct py_config, capture) },
		{ "asgi", offsetof(struct py_config, asgi) },
		{ "asgi-loop", offsetof(struct py_config, asgi_loop) },
		{ "graceful-timeout", offsetof(struct py_config, graceful) },
	};
	const char *line, *end, *eq;
	size_t i, klen;
	char **slot;

	memset(c, 0, sizeof(*c));
	for (line = arg; line != NULL && *line != '\0'; line = end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		if (end == line) {
			end++;
			continue;
		}
		eq = memchr(line, '=', (size_t)(end - line));
		if (eq == NULL) {
			py.srv->log(NULL, BG_LOG_ERROR, "python: bad argument "
			    "line \"%.*s\": key=value expected",
			    (int)(end - line), line);
			return -1;
		}
		klen = (size_t)(eq - line);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strlen(keys[i].key) == klen &&
			    memcmp(keys[i].key, line, klen) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			py.srv->log(NULL, BG_LOG_ERROR, "python: unknown "
			    "argument \"%.*s\" (app, pythonpath, venv, chdir, "
			    "preload, capture-output, asgi, asgi-loop, "
			    "graceful-timeout)",
			    (int)klen, line);
			return -1;
		}
		slot = (char **)(void *)((char *)c + keys[i].off);
		free(*slot);
		if ((*slot = strndup(eq + 1, (size_t)(end - eq - 1))) ==
		    NULL) {
			py.srv->log(NULL, BG_LOG_ERROR, "python: %s",
			    strerror(errno));
			return -1;
		}
		if (*end == '\n')
			end++;
	}
	if (c->app == NULL || c->app[0] == '\0' || c->app[0] == ':') {
		py.srv->log(NULL, BG_LOG_ERROR, "python: no application: "
		    "app=module:callable expected (e.g. --wsgi main:app)");
		return -1;
	}
	return 0;
}

/*
 * Read a virtualenv's pyvenv.cfg: refuse one made by another Python
 * version (its compiled packages would not load), tell whether system
 * site-packages are included.  Returns 0 or -1 after logging.
 */
static int
venv_check(const char *venv, char *sitepackages, size_t len,
    int *include_system)
{
	char path[PATH_MAX], line[512], version[64] = "";
	struct stat st;
	FILE *f;

	*include_system = 0;
	snprintf(path, sizeof(path), "%s/pyvenv.cfg", venv);
	if ((f = fopen(path, "r")) == NULL) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: venv %s: cannot "
		    "read %s: %s (not a virtualenv?)", venv, path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k = line, *v = strchr(line, '='), *e;

		if (v == NULL)
			continue;
		*v++ = '\0';
		for (e = v + strlen(v); e > v && (e[-1] == '\n' ||
		    e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		for (e = k + strlen(k); e > k && (e[-1] == ' ' ||
		    e[-1] == '\t'); e--)
			;
		*e = '\0';
		/* venv writes "version", virtualenv and uv "version_info". */
		if ((strcmp(k, "version") == 0 ||
		    strcmp(k, "version_info") == 0) && version[0] == '\0')
			snprintf(version, sizeof(version), "%s", v);
		else if (strcmp(k, "include-system-site-packages") == 0)
			*include_system = strcasecmp(v, "true") == 0;
	}
	fclose(f);
	if (version[0] == '\0') {
		py.srv->log(NULL, BG_LOG_ERROR, "python: venv %s: %s names no "
		    "Python version", venv, path);
		return -1;
	}
	/* "3.11" must be followed by the end or by ".": 3.1 is not 3.11. */
	if (strncmp(version, PY_VERSION_MM, strlen(PY_VERSION_MM)) != 0 ||
	    (version[strlen(PY_VERSION_MM)] != '\0' &&
	    version[strlen(PY_VERSION_MM)] != '.')) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: venv %s was made "
		    "by Python %s, but bridge embeds Python %s: recreate it "
		    "with %s -m venv %s", venv, version, PY_VERSION_MM,
		    PY_PROGRAM, venv);
		return -1;
	}
	snprintf(sitepackages, len, "%s/lib/python%s/site-packages", venv,
	    PY_VERSION_MM);
	if (stat(sitepackages, &st) == -1 || !S_ISDIR(st.st_mode)) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: venv %s has no %s",
		    venv, sitepackages);
		return -1;
	}
	return 0;
}

void
py_log_exception(bg_request *r, const char *what)
{
	PyObject *type, *value, *tb, *lines = NULL, *text = NULL, *sep;
	const char *s, *nl, *end;
	Py_ssize_t len;

	PyErr_Fetch(&type, &value, &tb);
	if (type == NULL) {
		py.srv->log(r, BG_LOG_ERROR, "python: %s", what);
		return;
	}
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb != NULL && value != NULL)
		PyException_SetTraceback(value, tb);
	py.srv->log(r, BG_LOG_ERROR, "python: %s", what);
	if (py.format_exception != NULL)
		lines = PyObject_CallFunctionObjArgs(py.format_exception, type,
		    value != NULL ? value : Py_None, tb != NULL ? tb : Py_None,
		    NULL);
	if (lines != NULL && (sep = PyUnicode_FromStringAndSize("", 0)) !=
	    NULL) {
		text = PyUnicode_Join(sep, lines);
		Py_DECREF(sep);
	}
	if (text == NULL) {
		/* Formatting failed: say at least what it was. */
		PyErr_Clear();
		text = value != NULL ? PyObject_Str(value) : NULL;
		if (text == NULL)
			PyErr_Clear();
		py.srv->log(r, BG_LOG_ERROR, "%s: %s",
		    ((PyTypeObject *)type)->tp_name, text != NULL &&
		    (s = PyUnicode_AsUTF8(text)) != NULL ? s : "?");
		PyErr_Clear();
		goto out;
	}
	if ((s = PyUnicode_AsUTF8AndSize(text, &len)) == NULL) {
		PyErr_Clear();
		goto out;
	}
	/* One log line per line of the traceback. */
	for (end = s + len; s < end; s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		if (nl > s)
			py.srv->log(r, BG_LOG_ERROR, "%.*s", (int)(nl - s), s);
	}
out:
	Py_XDECREF(text);
	Py_XDECREF(lines);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
}

int
py_enter(void)
{
	if (py_tstate == NULL &&
	    (py_tstate = PyThreadState_New(py.interp)) == NULL)
		return -1;
	PyEval_RestoreThread(py_tstate);
	return 0;
}

void
py_leave(void)
{
	(void)PyEval_SaveThread();
}

/*
 * bridge dlopen()s modules RTLD_LOCAL, which leaves libpython's symbols
 * invisible to the extension modules Python itself dlopen()s later
 * (Debian builds them without a libpython dependency): _json, _ssl and
 * every C extension would fail with "undefined symbol".  Make the
 * already-loaded libpython global.
 */
static int
libpython_global(void)
{
	Dl_info info;

	if (dladdr((void *)Py_InitializeFromConfig, &info) == 0 ||
	    info.dli_fname == NULL) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: cannot locate "
		    "libpython: %s", dlerror());
		return -1;
	}
	if (dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) ==
	    NULL) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: cannot make %s "
		    "global: %s", info.dli_fname, dlerror());
		return -1;
	}
	return 0;
}

static int
interpreter_start(void)
{
	static char *argv[] = { "bridge", NULL };
	PyConfig config;
	PyStatus st;

	PyConfig_InitPythonConfig(&config);
	/* bridge owns the signals; a worker blocks them and reads a
	 * signalfd. */
	config.install_signal_handlers = 0;
	config.parse_argv = 0;
	st = PyConfig_SetBytesString(&config, &config.program_name,
	    PY_PROGRAM);
	if (!PyStatus_Exception(st))
		st = PyConfig_SetBytesArgv(&config, 1, argv);
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st)) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: cannot start the "
		    "interpreter (%s): %s%s%s", PY_PROGRAM,
		    st.func != NULL ? st.func : "",
		    st.func != NULL ? ": " : "",
		    st.err_msg != NULL ? st.err_msg : "unknown error");
		return -1;
	}
	py_tstate = PyThreadState_Get();
	py.interp = PyThreadState_GetInterpreter(py_tstate);
	return 0;
}

/*
 * bridge runs inside the python3 executable (bridge/gateway/adapter.h,
 * pyhost.c): the interpreter is already running, started in the master
 * by the executable, with the GIL held by this thread.  A worker the
 * master forked tells it so first (locks, threads).
 */
static int
interpreter_adopt(void)
{
	const char *host = getenv("BRIDGE_PYTHON_HOST_PID");

	if (host == NULL) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: interpreter already "
		    "started in this process");
		return -1;
	}
	if (strtol(host, NULL, 10) != (long)getpid())
		PyOS_AfterFork_Child();
	py_tstate = PyThreadState_Get();
	py.interp = PyThreadState_GetInterpreter(py_tstate);
	return 0;
}

/* Run py_bootstrap's setup(); GIL held.  Returns 0 or -1 (logged). */
static int
paths_setup(const struct py_config *c)
{
	char cwd[PATH_MAX], sitepackages[PATH_MAX] = "";
	PyObject *code = NULL, *ns = NULL, *res = NULL, *fn;
	int include_system = 0, rc = -1;

	if (c->chdir != NULL && chdir(c->chdir) == -1) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: chdir %s: %s",
		    c->chdir, strerror(errno));
		return -1;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: getcwd: %s",
		    strerror(errno));
		return -1;
	}
	if (c->venv != NULL && venv_check(c->venv, sitepackages,
	    sizeof(sitepackages), &include_system) == -1)
		return -1;
	if ((ns = PyDict_New()) == NULL ||
	    PyDict_SetItemString(ns, "__builtins__",
	    PyEval_GetBuiltins()) == -1 ||
	    (code = Py_CompileString(py_bootstrap, "<bridge>",
	    Py_file_input)) == NULL ||
	    (res = PyEval_EvalCode(code, ns, ns)) == NULL)
		goto out;
	Py_DECREF(res);
	res = NULL;
	if (py.srv->watch_file != NULL) {
		py.user_files = PyDict_GetItemString(ns, "user_files");
		py.failed_files = PyDict_GetItemString(ns, "failed_files");
		Py_XINCREF(py.user_files);
		Py_XINCREF(py.failed_files);
	}
	if ((fn = PyDict_GetItemString(ns, "setup")) == NULL) {
		PyErr_SetString(PyExc_RuntimeError, "bootstrap has no setup()");
		goto out;
	}
	if ((res = PyObject_CallFunction(fn, "ssssi", cwd,
	    c->pythonpath != NULL ? c->pythonpath : "",
	    c->venv != NULL ? c->venv : "", sitepackages,
	    include_system)) != NULL)
		rc = 0;
out:
	if (rc == -1)
		py_log_exception(NULL, "setting up sys.path failed");
	Py_XDECREF(res);
	Py_XDECREF(code);
	Py_XDECREF(ns);
	return rc;
}

/* Name each path of list (a list of str) to the server; GIL held. */
static void
watch_list(PyObject *list)
{
	const char *path;
	Py_ssize_t i;

	for (i = 0; PyList_Check(list) && i < PyList_GET_SIZE(list); i++) {
		if ((path = PyUnicode_AsUTF8(PyList_GET_ITEM(list, i))) ==
		    NULL) {
			PyErr_Clear();	/* not UTF-8: cannot be named */
			continue;
		}
		py.srv->watch_file(path);
	}
}

/* --reload: name the user's modules now in sys.modules; GIL held.
 * A failure is logged: the application runs, unwatched. */
static void
watch_loaded(void)
{
	PyObject *list;

	if (py.user_files == NULL)
		return;
	py.nmodules = PyDict_Size(PyImport_GetModuleDict());
	if ((list = PyObject_CallObject(py.user_files, NULL)) == NULL) {
		py_log_exception(NULL, "--reload: listing the application's "
		    "files failed");
		return;
	}
	watch_list(list);
	Py_DECREF(list);
}

/* --reload: the application did not import; name the files that can
 * fix it (see the top of this file).  GIL held. */
static void
watch_failed(PyObject *modname, PyObject *exc)
{
	PyObject *list;

	if ((list = PyObject_CallFunctionObjArgs(py.failed_files, modname,
	    exc, NULL)) == NULL) {
		py_log_exception(NULL, "--reload: listing the files of the "
		    "import error failed");
		return;
	}
	watch_list(list);
	Py_DECREF(list);
}

/* "module:callable" -> the callable; GIL held.  Returns 0 or -1
 * (logged with the traceback). */
static int
app_load(const char *spec)
{
	char what[PATH_MAX + 256], cwd[PATH_MAX];
	const char *colon = strchr(spec, ':');
	PyObject *mod = NULL, *obj = NULL, *next, *name = NULL, *exc = NULL;
	const char *attr = colon != NULL && colon[1] != '\0' ? colon + 1 :
	    "application";
	const char *p, *dot;

	if ((name = colon != NULL ? PyUnicode_FromStringAndSize(spec,
	    colon - spec) : PyUnicode_FromString(spec)) == NULL)
		goto fail;
	if ((mod = PyImport_Import(name)) == NULL)
		goto fail;
	obj = mod;
	Py_INCREF(obj);
	for (p = attr; *p != '\0'; p = *dot != '\0' ? dot + 1 : dot) {
		PyObject *a;

		if ((dot = strchr(p, '.')) == NULL)
			dot = p + strlen(p);
		if ((a = PyUnicode_FromStringAndSize(p, dot - p)) == NULL)
			goto fail;
		next = PyObject_GetAttr(obj, a);
		Py_DECREF(a);
		if (next == NULL)
			goto fail;
		Py_DECREF(obj);
		obj = next;
	}
	if (!PyCallable_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s is a %.100s, not a %s "
		    "callable", spec, Py_TYPE(obj)->tp_name, asgi_forced() ?
		    "ASGI" : "WSGI");
		goto fail;
	}
	py.app = obj;
	Py_DECREF(mod);
	Py_DECREF(name);
	return 0;
fail:
	snprintf(what, sizeof(what), "cannot load the %s application "
	    "%s (Python %s, cwd %s):", asgi_forced() ? "ASGI" : "WSGI", spec,
	    PY_VERSION_MM,
	    getcwd(cwd, sizeof(cwd)) != NULL ? cwd : "?");
	if (py.failed_files != NULL && name != NULL && PyErr_Occurred()) {
		/* Keep the exception past the log line, which clears it. */
		PyObject *type, *tb;

		PyErr_Fetch(&type, &exc, &tb);
		PyErr_NormalizeException(&type, &exc, &tb);
		if (tb != NULL && exc != NULL)
			PyException_SetTraceback(exc, tb);
		Py_XINCREF(exc);
		PyErr_Restore(type, exc, tb);
	}
	py_log_exception(NULL, what);
	if (exc != NULL) {
		watch_failed(name, exc);
		Py_DECREF(exc);
	}
	Py_XDECREF(obj);
	Py_XDECREF(mod);
	Py_XDECREF(name);
	return -1;
}

/*
 * --capture-output (Gunicorn's name): print() and whatever else writes to
 * sys.stdout or sys.stderr goes to the error log, a line at a time:
 * stdout at info, stderr at error, unless the line starts with a
 * logging level name (errors.c).  Set before the application is
 * imported, so that what it prints while loading is caught too.
 */
static int
capture_output(void)
{
	PyObject *out, *err;
	int rc = -1;

	out = errors_stream(BG_LOG_INFO, "<bridge stdout>");
	err = errors_stream(BG_LOG_ERROR, "<bridge stderr>");
	if (out != NULL && err != NULL &&
	    PySys_SetObject("stdout", out) == 0 &&
	    PySys_SetObject("stderr", err) == 0)
		rc = 0;
	else
		py_log_exception(NULL, "--capture-output");
	Py_XDECREF(out);
	Py_XDECREF(err);
	return rc;
}

static struct bg_module py_module;

/*
 * WSGI or ASGI: an ASGI application is served as ASGI whichever flag
 * named it (as uvicorn and Granian users expect of "APP"); --asgi with a
 * WSGI callable is a mistake said in one line.  ASGI makes this module
 * asynchronous: bridge reads flags and run after init() returns.
 */
static int
app_mode(const char *spec)
{
	int yes = asgi_detect(py.app);

	if (yes == -1) {
		py_log_exception(NULL, "telling WSGI from ASGI failed");
		return -1;
	}
	if (!yes && asgi_forced()) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: --asgi %s: not an "
		    "ASGI application (neither a coroutine function nor an "
		    "object whose __call__ is one); a WSGI app goes with "
		    "--wsgi", spec);
		return -1;
	}
	if (!yes)
		return 0;
	if (py.srv->size <= offsetof(struct bg_server, loop_run_once)) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: %s is an ASGI "
		    "application, but this bridge's gateway has no "
		    "asynchronous requests", spec);
		return -1;
	}
	if (asgi_runtime() == -1) {
		py_log_exception(NULL, "loading asyncio for the ASGI "
		    "application failed");
		return -1;
	}
	py.asgi = 1;
	py_module.flags = BG_MODULE_ASYNC;
	py_module.run = asgi_run;
	return 0;
}

static int
py_init(const struct bg_server *srv, const char *arg, void **ctx)
{
	struct py_config c;
	PyObject *tb;
	int rc = -1;

	*ctx = &py;
	py.srv = srv;
	if (srv->abi_version != BG_ABI_VERSION ||
	    srv->size < sizeof(struct bg_server)) {
		srv->log(NULL, BG_LOG_ERROR, "python: server ABI %u size %u, "
		    "adapter built for ABI %d size %zu", srv->abi_version,
		    srv->size, BG_ABI_VERSION, sizeof(struct bg_server));
		return -1;
	}
	if (config_parse(arg, &c) == -1) {
		config_free(&c);
		return -1;
	}
	if (Py_IsInitialized() ? interpreter_adopt() == -1 :
	    libpython_global() == -1 || interpreter_start() == -1) {
		config_free(&c);
		return -1;
	}
	if ((tb = PyImport_ImportModule("traceback")) != NULL) {
		py.format_exception = PyObject_GetAttrString(tb,
		    "format_exception");
		Py_DECREF(tb);
	}
	if (py.format_exception == NULL) {
		py_log_exception(NULL, "cannot import traceback");
		goto out;
	}
	if ((py.app_spec = PyUnicode_FromString(c.app)) == NULL) {
		py_log_exception(NULL, "out of memory");
		goto out;
	}
	if (wsgi_init() == -1) {
		py_log_exception(NULL, "cannot set up the WSGI types");
		goto out;
	}
	if (asgi_init(c.asgi != NULL && strcmp(c.asgi, "1") == 0,
	    c.asgi_loop, c.graceful != NULL ? (unsigned)atoi(c.graceful) :
	    0) == -1) {
		py_log_exception(NULL, "cannot set up ASGI");
		goto out;
	}
	if (c.capture != NULL && strcmp(c.capture, "1") == 0 &&
	    capture_output() == -1)
		goto out;
	if (paths_setup(&c) == -1 || app_load(c.app) == -1)
		goto out;
	if (app_mode(c.app) == -1)
		goto out;
	srv->log(NULL, BG_LOG_DEBUG, "python: %s %s loaded (Python %s)",
	    py.asgi ? "ASGI" : "WSGI", c.app, PY_VERSION_MM);
	watch_loaded();
	if (c.preload != NULL && strcmp(c.preload, "1") == 0) {
		/* Loaded in the master before the fork: move what exists
		 * now out of the collector's reach, so that collections in
		 * the workers do not write to (and unshare) those pages. */
		PyObject *gc = PyImport_ImportModule("gc"), *res = NULL;

		if (gc != NULL)
			res = PyObject_CallMethod(gc, "freeze", NULL);
		Py_XDECREF(res);
		Py_XDECREF(gc);
		if (res == NULL) {
			py_log_exception(NULL, "gc.freeze() failed");
			goto out;
		}
		py.preloaded = 1;
	}
	rc = 0;
out:
	config_free(&c);
	/* Requests take the GIL back in handle(); until then threads the
	 * application started may run. */
	py_leave();
	return rc;
}

/* In each worker.  After a preload the interpreter was started in the
 * master: tell it it is now in a forked child (locks, threads).  An ASGI
 * application's lifespan startup runs here; its BG_FATAL is passed on. */
static int
py_worker_init(void *ctx)
{
	int rc = 0;

	(void)ctx;
	if (!py.preloaded && !py.asgi)
		return 0;
	if (py_enter() == -1)
		return -1;
	if (py.preloaded)
		PyOS_AfterFork_Child();
	if (py.asgi)
		rc = asgi_worker_init();
	py_leave();
	return rc;
}

static int
py_handle(void *ctx, bg_request *r)
{
	int rc;

	(void)ctx;
	/* ASGI: called from inside the loop, the GIL already held. */
	if (py.asgi) {
		rc = asgi_handle(r);
		if (py.user_files != NULL &&
		    PyDict_Size(PyImport_GetModuleDict()) != py.nmodules)
			watch_loaded();
		return rc;
	}
	if (py_enter() == -1) {
		py.srv->log(r, BG_LOG_ERROR, "python: no thread state for "
		    "this thread");
		return BG_ERROR;
	}
	rc = wsgi_handle(r);
	/* The request may have imported more of the application. */
	if (py.user_files != NULL &&
	    PyDict_Size(PyImport_GetModuleDict()) != py.nmodules)
		watch_loaded();
	py_leave();
	return rc;
}

/*
 * The worker exits with _exit() after this: run the application's
 * atexit handlers and flush its streams, but do not finalize the
 * interpreter, which would wait for every non-daemon thread the
 * application started and could hold up a graceful stop.
 */
static void
py_worker_fini(void *ctx)
{
	PyObject *m, *res;

	(void)ctx;
	if (!Py_IsInitialized() || py_enter() == -1)
		return;
	if ((m = PyImport_ImportModule("atexit")) != NULL) {
		res = PyObject_CallMethod(m, "_run_exitfuncs", NULL);
		Py_XDECREF(res);
		Py_DECREF(m);
	}
	if (PyErr_Occurred())
		py_log_exception(NULL, "atexit handlers failed");
	if ((m = PySys_GetObject("stdout")) != NULL &&
	    (res = PyObject_CallMethod(m, "flush", NULL)) != NULL)
		Py_DECREF(res);
	PyErr_Clear();
	if ((m = PySys_GetObject("stderr")) != NULL &&
	    (res = PyObject_CallMethod(m, "flush", NULL)) != NULL)
		Py_DECREF(res);
	PyErr_Clear();
	py_leave();
}

/* Not const: init() sets flags and run for an ASGI application. */
static struct bg_module py_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "python",
	.init = py_init,
	.worker_init = py_worker_init,
	.handle = py_handle,
	.worker_fini = py_worker_fini,
};

const struct bg_module *
bg_module_entry(void)
{
	return &py_module;
}
