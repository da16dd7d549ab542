/*
 * Python WSGI adapter (PEP 3333) on the bridge gateway ABI: declarations
 * shared by the adapter's files.  Nothing here is seen by bridge; the
 * adapter's only contact with bridge is <bridge/gateway.h>.
 *
 *	python.c	module entry, configuration, interpreter start-up
 *	wsgi.c		one request: environ, start_response, write, result
 *	input.c		wsgi.input over bg_server.read()
 *	errors.c	wsgi.errors over bg_server.log()
 *	filewrapper.c	wsgi.file_wrapper
 *	asgi.c		ASGI: the asyncio loop, scope, receive/send, lifespan
 *
 * GIL: every function declared here that takes or returns a PyObject *
 * must be called with the GIL held.  Functions that call the server
 * (read, write, sendfile) release it around that call and take it back
 * before they return.
 */
#ifndef BRIDGE_ADAPTER_PYTHON_H
#define BRIDGE_ADAPTER_PYTHON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <bridge/gateway.h>

/* State of the adapter in one process (one worker).  Set up by init(),
 * read-only while requests run. */
struct py_adapter {
	const struct bg_server *srv;
	PyInterpreterState *interp;
	int preloaded;		 /* started in bridge's master (--preload) */
	PyObject *app;		 /* the WSGI callable or ASGI application */
	int asgi;		 /* app is ASGI: the module is asynchronous */
	PyObject *app_spec;	 /* "module:callable", for messages */
	PyObject *environ_proto; /* constant keys, copied per request */
	PyObject *format_exception; /* traceback.format_exception */
	PyObject *user_files;	 /* --reload: bootstrap's user_files() */
	PyObject *failed_files;	 /* ... and failed_files(), else NULL */
	Py_ssize_t nmodules;	 /* len(sys.modules) when last listed */
	PyObject *s_http;	 /* "http", "https": wsgi.url_scheme */
	PyObject *s_https;
	PyObject *k_url_scheme;	 /* interned environ keys set per request */
	PyObject *k_input;
	PyObject *k_errors;
	PyObject *s_close;	 /* interned method names */
	PyObject *s_fileno;
	PyObject *s_tell;
	PyObject *s_read;
};

extern struct py_adapter py;

/* Log the pending Python exception (and clear it) as a traceback, one
 * error-log line per line, after the line "python: what".  r may be NULL
 * outside a request. */
void py_log_exception(bg_request *r, const char *what);

/* The GIL for the calling thread: py_enter() takes it (creating this
 * thread's thread state on first use), py_leave() releases it.
 * py_enter() returns 0, or -1 if no thread state could be made. */
int py_enter(void);
void py_leave(void);

/* wsgi.c */
int wsgi_init(void);
int wsgi_handle(bg_request *r);

/* asgi.c: asgi_init() once (after the interpreter started),
 * asgi_detect() says whether app is an ASGI application (1, 0, -1 with
 * an exception), asgi_worker_init() starts the loop and lifespan in a
 * worker (0, -1, or BG_FATAL: lifespan.startup.failed), asgi_run() is
 * bg_module.run, asgi_handle() one request (GIL held: called from
 * inside the loop).  asgi_forced(): --asgi given. */
int asgi_init(int forced, const char *loop_kind, unsigned graceful);
int asgi_forced(void);
int asgi_detect(PyObject *app);
/* Load asyncio and the lifespan helpers, once the app is ASGI: 0, or -1
 * with a Python exception set. */
int asgi_runtime(void);
int asgi_worker_init(void);
int asgi_run(void *ctx);
int asgi_handle(bg_request *r);

/* input.c: a new wsgi.input for r, and its detachment once r ends (later
 * calls raise ValueError instead of touching a dead request). */
extern PyTypeObject py_input_type;
PyObject *input_new(bg_request *r);
void input_detach(PyObject *input);

/* errors.c: a new wsgi.errors for r; errors_end() logs a partial last
 * line and detaches it (later writes go to the log without request id). */
extern PyTypeObject py_errors_type;
PyObject *errors_new(bg_request *r);
/* A stream like wsgi.errors for no request, logging lines that name no
 * level at level (sys.stdout and sys.stderr under --capture-output). */
PyObject *errors_stream(int level, const char *name);
void errors_end(PyObject *errors);

/* filewrapper.c: the wsgi.file_wrapper type.  filewrapper_file() says
 * whether an instance can be sent with sendfile(): its file-like object
 * has fileno() giving a regular file.  Returns 0 with *fd, *off (the
 * object's current position) and *n (bytes from there to the end), 1
 * when it cannot (iterate it instead), -1 with a Python exception set. */
extern PyTypeObject py_filewrapper_type;
int filewrapper_file(PyObject *fw, int *fd, off_t *off, size_t *n);

#endif /* BRIDGE_ADAPTER_PYTHON_H */
