/*
 * ASGI 3.0 (HTTP spec 2.5, lifespan 2.0; asgiref's specs/www.rst and
 * specs/lifespan.rst) on the gateway's ABI 2: the same embedded CPython
 * as WSGI, switched to this mode by init() when the application is a
 * coroutine function or an object whose __call__ is one, or when --asgi
 * named it.
 *
 * The worker runs asyncio's loop (or uvloop's) as its own: run() watches
 * the worker loop's descriptor with add_reader() and turns it with
 * loop_run_once() from tick(), also when the timeout it gave passes and
 * once after a batch of server calls the application's coroutines made
 * (send() writing, finishing) so their bytes go out in the same turn.
 * Everything happens on the worker's one thread, with the GIL held from
 * run() to its return; handle() and the event callback come from inside
 * loop_run_once(), thus from inside tick().
 *
 * One request: handle() builds the scope from the request variables,
 * calls app(scope, receive, send) and runs the coroutine as a task; the
 * task's done callback finishes the request unless the final
 * http.response.body already did.  receive() and send() are methods of
 * a small object holding the request; what they give back is awaited
 * without suspending (a "ready" awaitable, no Future) unless the body has
 * not arrived, or output is above the server's high water mark: then a
 * Future of the loop, resolved by BG_EV_BODY or BG_EV_DRAINED.
 * BG_EV_GONE (the client left, or --timeout passed) answers a waiting
 * receive() with http.disconnect and a waiting send() with
 * ClientDisconnected (an OSError, spec 2.4); a task busy with anything
 * else runs on, as under uvicorn.  It is cancelled by BG_EV_CANCEL
 * (--timeout passed, also after its client left, or the worker stops
 * with its client gone).
 *
 * Lifespan runs in worker_init(), before the worker accepts: startup,
 * and after run()'s loop ended, shutdown (bounded by --graceful-timeout).
 * That small part is Python (asgi_helpers below).
 */
#include "python.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ASGI_READ_MAX 65536	/* body bytes in one http.request (the
				   server holds 64 KiB at most) */
#define ASGI_READ_CHUNKED 65536	/* a read of a body of unknown size */
#define HEADERS_ON_STACK 32

/* Python side: application detection (inspect only), then, below, the
 * event loop and lifespan. */
static const char asgi_helpers[] =
"import inspect\n"
"\n"
"def is_asgi(app):\n"
"    if inspect.isclass(app):\n"
"        return False\n"
"    if inspect.iscoroutinefunction(app):\n"
"        return True\n"
"    call = getattr(app, '__call__', None)\n"
"    return call is not None and inspect.iscoroutinefunction(call)\n"
"\n";

/* The rest, loaded only for an ASGI application (asgi_runtime): asyncio
 * (and through it ssl) stays out of a WSGI worker. */
static const char asgi_runtime_helpers[] =
"import asyncio, traceback\n"
"\n"
"def new_loop(kind):\n"
"    if kind == 'auto':\n"
"        try:\n"
"            import uvloop\n"
"            kind = 'uvloop'\n"
"        except ImportError:\n"
"            kind = 'asyncio'\n"
"    if kind == 'uvloop':\n"
"        import uvloop\n"
"        loop = uvloop.new_event_loop()\n"
"    else:\n"
"        loop = asyncio.new_event_loop()\n"
"    asyncio.set_event_loop(loop)\n"
"    return loop\n"
"\n"
"class Lifespan:\n"
"    def __init__(self, app, loop):\n"
"        self.app = app\n"
"        self.loop = loop\n"
"        self.state = {}\n"
"        self.inbox = asyncio.Queue()\n"
"        self.started = loop.create_future()\n"
"        self.stopped = loop.create_future()\n"
"        self.task = None\n"
"        self.supported = False\n"
"\n"
"    async def receive(self):\n"
"        return await self.inbox.get()\n"
"\n"
"    async def send(self, message):\n"
"        t = message['type']\n"
"        if t == 'lifespan.startup.complete':\n"
"            fut, res = self.started, ('ok', '')\n"
"        elif t == 'lifespan.startup.failed':\n"
"            fut, res = self.started, ('failed',\n"
"                                      str(message.get('message', '')))\n"
"        elif t == 'lifespan.shutdown.complete':\n"
"            fut, res = self.stopped, ('ok', '')\n"
"        elif t == 'lifespan.shutdown.failed':\n"
"            fut, res = self.stopped, ('failed',\n"
"                                      str(message.get('message', '')))\n"
"        else:\n"
"            raise RuntimeError('unexpected ASGI lifespan message %r' % (t,))\n"
"        if fut.done():\n"
"            raise RuntimeError('%s out of order' % (t,))\n"
"        fut.set_result(res)\n"
"\n"
"    async def main(self):\n"
"        scope = {'type': 'lifespan',\n"
"                 'asgi': {'version': '3.0', 'spec_version': '2.0'},\n"
"                 'state': self.state}\n"
"        try:\n"
"            await self.app(scope, self.receive, self.send)\n"
"            res = ('returned', '')\n"
"        except BaseException as e:\n"
"            res = ('raised', ''.join(traceback.format_exception(e)))\n"
"        for fut in (self.started, self.stopped):\n"
"            if not fut.done():\n"
"                fut.set_result(res)\n"
"                break\n"
"\n"
"    def startup(self):\n"
"        self.task = self.loop.create_task(self.main())\n"
"        self.inbox.put_nowait({'type': 'lifespan.startup'})\n"
"        res = self.loop.run_until_complete(self.started)\n"
"        self.supported = res[0] == 'ok'\n"
"        return res\n"
"\n"
"    def shutdown(self, timeout):\n"
"        if not self.supported:\n"
"            return ('unsupported', '')\n"
"        self.inbox.put_nowait({'type': 'lifespan.shutdown'})\n"
"        async def wait():\n"
"            try:\n"
"                return await asyncio.wait_for(asyncio.shield(self.stopped),\n"
"                                              timeout)\n"
"            except asyncio.TimeoutError:\n"
"                return ('timeout', '')\n"
"        return self.loop.run_until_complete(wait())\n";

/* One request as receive() and send() see it. */
struct areq {
	PyObject_HEAD
	bg_request *r;		/* NULL once finished */
	PyObject *task;		/* the application's, until it is done */
	PyObject *recv_fut;	/* receive() waiting (body or disconnect) */
	PyObject *send_fut;	/* send() waiting for BG_EV_DRAINED */
	int64_t body_left;	/* body bytes still to read, -1 unknown */
	unsigned started : 1;	/* http.response.start accepted */
	unsigned complete : 1;	/* the final body message came */
	unsigned gone : 1;	/* BG_EV_GONE */
	unsigned body_eof : 1;	/* read() said the body ended */
	unsigned pathsent : 1;	/* http.response.pathsend used */
	unsigned owned : 1;	/* the server holds a reference (on_event) */
	unsigned trailers : 1;	/* http.response.start said trailers */
	unsigned te_trailers : 1; /* the client sent TE: trailers */
	unsigned body_done : 1;	/* last body sent, trailers to come */
	unsigned stopping : 1;	/* BG_EV_STOP: the worker is stopping */
	unsigned streaming : 1;	/* a body with more_body went out */
	PyObject *trailer_list;	/* trailer fields gathered so far */
	char rid[48];		/* request id, for logs after finish() */
};

/* An awaitable that is already done: await gives value at once. */
struct ready {
	PyObject_HEAD
	PyObject *value;
};

static struct {
	int forced;		/* --asgi: the app must be ASGI */
	char loop_kind[16];	/* auto, asyncio, uvloop */
	double graceful;	/* lifespan shutdown bound, seconds */
	PyObject *helpers;	/* asgi_helpers' namespace */
	PyObject *loop;
	PyObject *call_soon;	/* bound methods of loop */
	PyObject *call_later;
	PyObject *create_task;
	PyObject *get_task_factory;
	PyObject *task_type;	/* asyncio.Task */
	PyObject *task_kw;	/* ("loop", "name") */
	PyObject *create_future;
	PyObject *tick_fn;	/* C functions asyncio calls */
	PyObject *timer_fn;
	PyObject *timer;	/* armed call_later handle, or NULL */
	uint64_t timer_at;	/* when it fires, ms on CLOCK_MONOTONIC */
	int in_tick;		/* inside loop_run_once() */
	int kick_pending;	/* a tick is already scheduled */
	int stopped;		/* loop_run_once() said stop: no more calls */
	PyObject *lifespan;
	PyObject *state;	/* lifespan's state, copied per request */
	PyObject *disconnected;	/* ClientDisconnected (OSError) */
	PyObject *cancelled_error; /* asyncio.CancelledError */
	PyObject *server;	/* last scope["server"], shared (a tuple) */
	char server_key[80];	/* its "addr port" */
	PyObject *scope_proto;	/* constant scope entries */
	int has_trailers;	/* the server offers trailers() */
	int has_early_hint;	/* ... and informational() */
	int has_fields;		/* ... and fields() */
	int bare_path;		/* path without root_path (path_rule()) */
	PyObject *ext_proto;	/* scope["extensions"] without tls */
	/* interned strings */
	PyObject *k_type, *k_asgi, *k_http_version, *k_method, *k_scheme,
	    *k_path, *k_raw_path, *k_query_string, *k_root_path, *k_headers,
	    *k_client, *k_server, *k_state, *k_extensions, *k_body,
	    *k_more_body, *k_status, *k_trailers, *k_file, *k_offset,
	    *k_count, *k_tls, *k_more_trailers, *k_links;
	PyObject *s_http, *s_https, *s_empty, *s_10, *s_11, *s_2,
	    *s_http_request, *s_http_disconnect, *s_start, *s_body,
	    *s_pathsend, *s_zerocopysend, *s_trailers_msg, *s_add_done,
	    *s_set_result, *s_set_exception, *s_done, *s_cancel, *s_fileno,
	    *s_cancelled, *s_exception, *s_early_hint;
	PyObject *methods[8];	/* GET, POST, ... as str */
} asgi;

static const char *const asgi_method_names[8] = {
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT"
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The ready awaitable.  await calls __await__ (itself), then sends into
 * it: am_send returns the value without raising StopIteration (CPython
 * 3.10+ SEND goes through PyIter_Send); __next__ does the same the
 * classic way for code that iterates (yield from, ensure_future).
 */
static void
ready_dealloc(PyObject *self)
{
	Py_XDECREF(((struct ready *)self)->value);
	PyObject_Free(self);
}

static PyObject *
ready_await(PyObject *self)
{
	Py_INCREF(self);
	return self;
}

static PySendResult
ready_send(PyObject *self, PyObject *arg, PyObject **result)
{
	struct ready *rd = (struct ready *)self;

	(void)arg;
	if (rd->value == NULL) {
		Py_INCREF(Py_None);
		*result = Py_None;
	} else {
		*result = rd->value;
		rd->value = NULL;
	}
	return PYGEN_RETURN;
}

static PyObject *
ready_next(PyObject *self)
{
	struct ready *rd = (struct ready *)self;
	PyObject *exc;

	if (rd->value == NULL)
		return NULL;	/* StopIteration(None) */
	/* Wrapped: a tuple value must not become the exception's args. */
	exc = PyObject_CallOneArg(PyExc_StopIteration, rd->value);
	Py_CLEAR(rd->value);
	if (exc != NULL) {
		PyErr_SetObject(PyExc_StopIteration, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

static PyObject *
ready_send_meth(PyObject *self, PyObject *arg)
{
	(void)arg;
	return ready_next(self);
}

static PyObject *
ready_throw(PyObject *self, PyObject *args)
{
	PyObject *type, *value = NULL, *tb = NULL;

	(void)self;
	if (!PyArg_UnpackTuple(args, "throw", 1, 3, &type, &value, &tb))
		return NULL;
	if (PyExceptionInstance_Check(type))
		PyErr_SetObject((PyObject *)Py_TYPE(type), type);
	else
		PyErr_SetObject(type, value);
	return NULL;
}

static PyObject *
ready_close(PyObject *self, PyObject *unused)
{
	(void)unused;
	Py_CLEAR(((struct ready *)self)->value);
	Py_RETURN_NONE;
}

static PyMethodDef ready_methods[] = {
	{ "send", ready_send_meth, METH_O, NULL },
	{ "throw", ready_throw, METH_VARARGS, NULL },
	{ "close", ready_close, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyAsyncMethods ready_async = {
	.am_await = ready_await,
	.am_send = ready_send,
};

static PyTypeObject ready_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bridge.Ready",
	.tp_basicsize = sizeof(struct ready),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "an ASGI receive()/send() result that is already there",
	.tp_dealloc = ready_dealloc,
	.tp_as_async = &ready_async,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = ready_next,
	.tp_methods = ready_methods,
};

/* A ready awaitable giving value (a new reference, stolen; NULL is
 * None). */
static PyObject *
ready_new(PyObject *value)
{
	struct ready *rd = PyObject_New(struct ready, &ready_type);

	if (rd == NULL) {
		Py_XDECREF(value);
		return NULL;
	}
	rd->value = value;
	return (PyObject *)rd;
}

/*
 * The loop.
 */

/* A server call made from a coroutine takes effect in loop_run_once():
 * make sure one runs in this turn of the asyncio loop. */
static void
kick(void)
{
	PyObject *h;

	if (asgi.in_tick || asgi.kick_pending || asgi.loop == NULL ||
	    asgi.stopped)
		return;
	if ((h = PyObject_CallOneArg(asgi.call_soon, asgi.tick_fn)) == NULL) {
		py_log_exception(NULL, "asgi: loop.call_soon failed");
		return;
	}
	Py_DECREF(h);
	asgi.kick_pending = 1;
}

static PyObject *
tick(PyObject *self, PyObject *unused)
{
	PyObject *delay, *h, *res;
	uint64_t at;
	int timeout = -1, rc;

	(void)self;
	(void)unused;
	asgi.kick_pending = 0;
	if (asgi.stopped)
		Py_RETURN_NONE;
	asgi.in_tick = 1;
	rc = py.srv->loop_run_once(&timeout);
	asgi.in_tick = 0;
	if (PyErr_Occurred())
		py_log_exception(NULL, "asgi: error left by a request");
	if (rc == 1) {
		asgi.stopped = 1;
		if ((res = PyObject_CallMethod(asgi.loop, "stop", NULL)) ==
		    NULL)
			return NULL;
		Py_DECREF(res);
		Py_RETURN_NONE;
	}
	if (timeout < 0)
		Py_RETURN_NONE;
	/* Re-arm only for an earlier deadline: a later one is met by the
	 * armed timer's tick asking again. */
	at = now_ms() + (uint64_t)timeout;
	if (asgi.timer != NULL && asgi.timer_at <= at)
		Py_RETURN_NONE;
	if (asgi.timer != NULL) {
		if ((res = PyObject_CallMethodNoArgs(asgi.timer,
		    asgi.s_cancel)) == NULL)
			return NULL;
		Py_DECREF(res);
		Py_CLEAR(asgi.timer);
	}
	if ((delay = PyFloat_FromDouble(timeout / 1000.0)) == NULL)
		return NULL;
	h = PyObject_CallFunctionObjArgs(asgi.call_later, delay,
	    asgi.timer_fn, NULL);
	Py_DECREF(delay);
	if (h == NULL)
		return NULL;
	asgi.timer = h;
	asgi.timer_at = at;
	Py_RETURN_NONE;
}

static PyObject *
timer_fire(PyObject *self, PyObject *unused)
{
	Py_CLEAR(asgi.timer);
	return tick(self, unused);
}

static PyMethodDef tick_def = { "bridge_tick", tick, METH_NOARGS, NULL };
static PyMethodDef timer_def = { "bridge_timer", timer_fire, METH_NOARGS,
	NULL };

/*
 * Requests.
 */

static PyObject *areq_receive(PyObject *self, PyObject *unused);
static PyObject *areq_send(PyObject *self, PyObject *msg);

static PyMethodDef receive_def = { "receive", areq_receive, METH_NOARGS,
	NULL };
static PyMethodDef send_def = { "send", areq_send, METH_O, NULL };

static void
areq_dealloc(PyObject *self)
{
	struct areq *q = (struct areq *)self;

	Py_XDECREF(q->task);
	Py_XDECREF(q->recv_fut);
	Py_XDECREF(q->send_fut);
	Py_XDECREF(q->trailer_list);
	PyObject_Free(self);
}

static PyTypeObject areq_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bridge.ASGIRequest",
	.tp_basicsize = sizeof(struct areq),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "state of one ASGI request",
	.tp_dealloc = areq_dealloc,
};

/* fut.set_result(v) or set_exception(v) unless it is done (cancelled
 * with its task).  Steals v.  Errors are logged. */
static void
fut_resolve(PyObject *fut, PyObject *how, PyObject *v)
{
	PyObject *res;

	if (v == NULL) {
		py_log_exception(NULL, "asgi: out of memory");
		return;
	}
	res = PyObject_CallMethodNoArgs(fut, asgi.s_done);
	if (res != NULL && !PyObject_IsTrue(res)) {
		Py_DECREF(res);
		res = PyObject_CallMethodOneArg(fut, how, v);
	}
	if (res == NULL)
		py_log_exception(NULL, "asgi: resolving a future failed");
	Py_XDECREF(res);
	Py_DECREF(v);
}

/* Is the future in *slot still waited on?  One the application gave up
 * (cancelled: asyncio.wait_for, Starlette's is_disconnected()) is
 * dropped, so that what it would have carried is kept for the next
 * call. */
static int
fut_waiting(PyObject **slot)
{
	PyObject *res;
	int done;

	if (*slot == NULL)
		return 0;
	if ((res = PyObject_CallMethodNoArgs(*slot, asgi.s_done)) == NULL) {
		py_log_exception(NULL, "asgi: future.done() failed");
		done = 1;
	} else {
		done = PyObject_IsTrue(res);
		Py_DECREF(res);
	}
	if (done)
		Py_CLEAR(*slot);
	return !done;
}

static PyObject *
msg_new(PyObject *type)
{
	PyObject *m = PyDict_New();

	if (m != NULL && PyDict_SetItem(m, asgi.k_type, type) == -1)
		Py_CLEAR(m);
	return m;
}

/* Call finish() once: the handle is gone after it.  A receive() waiting
 * for the disconnect gets it: the response is over. */
static void
areq_finish(struct areq *q, int rc)
{
	bg_request *r = q->r;

	if (r == NULL)
		return;
	strncpy(q->rid, py.srv->request_id(r), sizeof(q->rid) - 1);
	q->r = NULL;
	/* Once run() is over the worker is exiting: its requests are
	 * not the module's to end any more. */
	if (!asgi.stopped) {
		py.srv->finish(r, rc);
		kick();
	}
	if (q->recv_fut != NULL) {
		PyObject *f = q->recv_fut;

		q->recv_fut = NULL;
		fut_resolve(f, asgi.s_set_result,
		    msg_new(asgi.s_http_disconnect));
		Py_DECREF(f);
	}
	if (q->owned) {
		q->owned = 0;
		Py_DECREF(q);	/* the caller holds one more */
	}
}

/*
 * Read what body is there into one http.request message.  Returns the
 * message, Py_None (borrowed, not a message) when nothing has arrived
 * yet, or NULL with an exception.
 */
static PyObject *
body_message(struct areq *q)
{
	PyObject *b, *m;
	size_t cap, got = 0;
	ssize_t n;
	int eof = 0, err = 0;

	if (q->body_left == 0)
		eof = 1;
	cap = q->body_left > 0 ? (q->body_left < ASGI_READ_MAX ?
	    (size_t)q->body_left : ASGI_READ_MAX) : ASGI_READ_CHUNKED;
	if (eof)
		cap = 0;
	if ((b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap)) == NULL)
		return NULL;
	while (!eof && got < cap) {
		n = py.srv->read(q->r, PyBytes_AS_STRING(b) + got, cap - got);
		if (n > 0) {
			got += (size_t)n;
			if (q->body_left > 0 && (q->body_left -= n) == 0)
				eof = 1;
		} else if (n == 0)
			eof = 1;
		else {
			err = errno != EAGAIN;
			break;
		}
	}
	kick();
	if (err) {
		/* The body is broken (client gone mid-body): disconnect. */
		Py_DECREF(b);
		q->body_eof = 1;
		q->gone = 1;
		return msg_new(asgi.s_http_disconnect);
	}
	if (got == 0 && !eof) {
		Py_DECREF(b);
		return Py_None;
	}
	if (got < cap && _PyBytes_Resize(&b, (Py_ssize_t)got) == -1)
		return NULL;
	q->body_eof = eof;
	if ((m = PyDict_New()) == NULL ||
	    PyDict_SetItem(m, asgi.k_type, asgi.s_http_request) == -1 ||
	    PyDict_SetItem(m, asgi.k_body, b) == -1 ||
	    PyDict_SetItem(m, asgi.k_more_body, eof ? Py_False : Py_True) ==
	    -1)
		Py_CLEAR(m);
	Py_DECREF(b);
	return m;
}

static PyObject *
areq_receive(PyObject *self, PyObject *unused)
{
	struct areq *q = (struct areq *)self;
	PyObject *m;

	(void)unused;
	if (fut_waiting(&q->recv_fut)) {
		PyErr_SetString(PyExc_RuntimeError, "receive() called while "
		    "another receive() is waiting");
		return NULL;
	}
	if (q->r == NULL || q->gone || asgi.stopped ||
	    (q->body_eof && (q->complete || q->stopping)))
		return ready_new(msg_new(asgi.s_http_disconnect));
	if (!q->body_eof) {
		if ((m = body_message(q)) == NULL)
			return NULL;
		if (m != Py_None)
			return ready_new(m);
	}
	/* Body not there yet, or all read: wait for the next event. */
	if ((q->recv_fut = PyObject_CallNoArgs(asgi.create_future)) == NULL)
		return NULL;
	Py_INCREF(q->recv_fut);
	return q->recv_fut;
}

/* The bytes of a body-like object; view released by the caller. */
static int
get_buffer(PyObject *o, Py_buffer *view, const char *what)
{
	if (PyObject_GetBuffer(o, view, PyBUF_SIMPLE) == -1) {
		PyErr_Format(PyExc_TypeError, "%s must be bytes, not %.100s",
		    what, Py_TYPE(o)->tp_name);
		return -1;
	}
	return 0;
}

/* Optional key of a message (a dict, or any mapping): borrowed-like
 * new reference, or NULL without exception when missing. */
static PyObject *
msg_get(PyObject *msg, PyObject *key)
{
	PyObject *v;

	if (PyDict_CheckExact(msg)) {
		v = PyDict_GetItemWithError(msg, key);
		Py_XINCREF(v);
		return v;
	}
	v = PyObject_GetItem(msg, key);
	if (v == NULL && PyErr_ExceptionMatches(PyExc_KeyError))
		PyErr_Clear();
	return v;
}

static int
msg_flag(PyObject *msg, PyObject *key)
{
	PyObject *v = msg_get(msg, key);
	int t;

	if (v == NULL)
		return PyErr_Occurred() ? -1 : 0;
	t = PyObject_IsTrue(v);
	Py_DECREF(v);
	return t;
}

static PyObject *
client_gone_error(void)
{
	PyErr_SetString(asgi.disconnected, "the client disconnected");
	return NULL;
}

/* Header fields given by the application, as the server takes them:
 * pointers into the application's bytes, valid until hdrs_free(). */
struct hdrs {
	struct bg_header stack[HEADERS_ON_STACK];
	struct bg_header *h;
	PyObject *seq;		/* the iterable as a sequence */
	PyObject **pairs;	/* each [name, value] as a sequence */
	Py_ssize_t n;		/* pairs */
	size_t count;		/* entries of h */
};

static void
hdrs_free(struct hdrs *hd)
{
	Py_ssize_t i;

	for (i = 0; hd->pairs != NULL && i < hd->n; i++)
		Py_XDECREF(hd->pairs[i]);
	PyMem_Free(hd->pairs);
	if (hd->h != hd->stack)
		PyMem_Free(hd->h);
	Py_XDECREF(hd->seq);
	hd->pairs = NULL;
	hd->h = hd->stack;
	hd->seq = NULL;
	hd->n = 0;
	hd->count = 0;
}

/* Response fields the adapter leaves out: Transfer-Encoding, which
 * www.rst says the server must ignore (bridge frames the body itself);
 * Trailer, which bridge refuses as hop-by-hop although the trailers
 * extension has the application announce its trailers with it; and
 * Connection, Keep-Alive and Proxy-Connection, which www.rst does not
 * forbid (sse-starlette sends Connection: keep-alive) but which are the
 * server's to send: it keeps or closes the connection (RFC 9112 9.3),
 * and the gateway refuses them as hop-by-hop. */
static int
hdrs_skip(const char *name, size_t len)
{
	switch (len) {
	case 7:
		return strncasecmp(name, "trailer", 7) == 0;
	case 10:
		return strncasecmp(name, "connection", 10) == 0 ||
		    strncasecmp(name, "keep-alive", 10) == 0;
	case 16:
		return strncasecmp(name, "proxy-connection", 16) == 0;
	case 17:
		return strncasecmp(name, "transfer-encoding", 17) == 0;
	}
	return 0;
}

/* list: an iterable of [name, value] bytes pairs (NULL: none); with
 * links, an iterable of bytes each a Link field value (early hints).
 * Returns 0, or -1 with an exception naming what. */
static int
hdrs_get(struct hdrs *hd, PyObject *list, const char *what, int links)
{
	struct bg_header *e;
	Py_ssize_t i;

	hd->h = hd->stack;
	hd->seq = NULL;
	hd->pairs = NULL;
	hd->n = 0;
	hd->count = 0;
	if (list == NULL)
		return 0;
	if ((hd->seq = PySequence_Fast(list, what)) == NULL)
		return -1;
	hd->n = PySequence_Fast_GET_SIZE(hd->seq);
	if (hd->n > HEADERS_ON_STACK && (hd->h = PyMem_Malloc((size_t)hd->n *
	    sizeof(*hd->h))) == NULL)
		goto nomem;
	if (hd->n > 0 && (hd->pairs = PyMem_Calloc((size_t)hd->n,
	    sizeof(*hd->pairs))) == NULL)
		goto nomem;
	for (i = 0; i < hd->n; i++) {
		PyObject *it = PySequence_Fast_GET_ITEM(hd->seq, i), *name;
		PyObject *value;

		if (links) {
			if (!PyBytes_Check(it)) {
				PyErr_Format(PyExc_TypeError, "%s: links must "
				    "be bytes, not %.100s", what,
				    Py_TYPE(it)->tp_name);
				goto fail;
			}
			e = &hd->h[hd->count++];
			e->name = "Link";
			e->name_len = 4;
			e->value = PyBytes_AS_STRING(it);
			e->value_len = (size_t)PyBytes_GET_SIZE(it);
			continue;
		}
		if ((hd->pairs[i] = PySequence_Fast(it, what)) == NULL)
			goto fail;
		if (PySequence_Fast_GET_SIZE(hd->pairs[i]) != 2) {
			PyErr_Format(PyExc_ValueError, "%s: a header must be "
			    "[name, value]", what);
			goto fail;
		}
		name = PySequence_Fast_GET_ITEM(hd->pairs[i], 0);
		value = PySequence_Fast_GET_ITEM(hd->pairs[i], 1);
		if (!PyBytes_Check(name) || !PyBytes_Check(value)) {
			PyErr_Format(PyExc_TypeError, "%s: header names and "
			    "values must be bytes, not %.100s", what,
			    Py_TYPE(PyBytes_Check(name) ? value :
			    name)->tp_name);
			goto fail;
		}
		if (hdrs_skip(PyBytes_AS_STRING(name),
		    (size_t)PyBytes_GET_SIZE(name)))
			continue;
		e = &hd->h[hd->count++];
		e->name = PyBytes_AS_STRING(name);
		e->name_len = (size_t)PyBytes_GET_SIZE(name);
		e->value = PyBytes_AS_STRING(value);
		e->value_len = (size_t)PyBytes_GET_SIZE(value);
	}
	return 0;
nomem:
	PyErr_NoMemory();
fail:
	hdrs_free(hd);
	return -1;
}

static PyObject *
response_start(struct areq *q, PyObject *msg)
{
	struct hdrs hd;
	PyObject *st, *hs;
	long status;
	int trailers, rc;

	if (q->started) {
		PyErr_SetString(PyExc_RuntimeError, "http.response.start "
		    "sent twice");
		return NULL;
	}
	if ((st = msg_get(msg, asgi.k_status)) == NULL) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "http.response.start "
			    "without status");
		return NULL;
	}
	status = PyLong_Check(st) ? PyLong_AsLong(st) : -2;
	Py_DECREF(st);
	if (status == -2 || (status == -1 && PyErr_Occurred())) {
		PyErr_Clear();
		PyErr_SetString(PyExc_TypeError, "http.response.start: status "
		    "must be an int");
		return NULL;
	}
	if (status < 200 || status > 999) {
		PyErr_Format(PyExc_ValueError, "http.response.start: status "
		    "%ld is not 200..999", status);
		return NULL;
	}
	if ((trailers = msg_flag(msg, asgi.k_trailers)) == -1)
		return NULL;
	if ((hs = msg_get(msg, asgi.k_headers)) == NULL && PyErr_Occurred())
		return NULL;
	rc = hdrs_get(&hd, hs, "http.response.start: headers", 0);
	Py_XDECREF(hs);
	if (rc == -1)
		return NULL;
	/* Extension http.response.trailers: only what the client asked
	 * for with TE: trailers goes out (docs/extensions.rst). */
	q->trailers = trailers;
	rc = py.srv->start_response(q->r, (int)status, NULL, hd.h,
	    hd.count, trailers && q->te_trailers &&
	    py.srv->trailers != NULL ? BG_TRAILERS : 0);
	hdrs_free(&hd);
	if (rc == -1) {
		/* The server logged which header it refused. */
		PyErr_Format(PyExc_ValueError, "http.response.start: status "
		    "%ld or a header refused (see the log line before)",
		    status);
		return NULL;
	}
	q->started = 1;
	return ready_new(NULL);
}

/* Extension http.response.trailers: fields gathered until
 * more_trailers is false, then sent, and the response is complete. */
static PyObject *
response_trailers(struct areq *q, PyObject *msg)
{
	struct hdrs hd;
	PyObject *hs, *res;
	int more, rc = 0;

	if (!q->trailers || !q->body_done) {
		PyErr_SetString(PyExc_RuntimeError, "http.response.trailers "
		    "without trailers=True in http.response.start, or before "
		    "the last http.response.body");
		return NULL;
	}
	if ((more = msg_flag(msg, asgi.k_more_trailers)) == -1)
		return NULL;
	if ((hs = msg_get(msg, asgi.k_headers)) == NULL && PyErr_Occurred())
		return NULL;
	if (hs != NULL) {
		if (q->trailer_list == NULL &&
		    (q->trailer_list = PyList_New(0)) == NULL) {
			Py_DECREF(hs);
			return NULL;
		}
		res = PyObject_CallMethod(q->trailer_list, "extend", "O", hs);
		Py_DECREF(hs);
		if (res == NULL)
			return NULL;
		Py_DECREF(res);
	}
	if (more)
		return ready_new(NULL);
	if (q->te_trailers && py.srv->trailers != NULL &&
	    q->trailer_list != NULL) {
		if (hdrs_get(&hd, q->trailer_list, "http.response.trailers: "
		    "headers", 0) == -1)
			return NULL;
		rc = py.srv->trailers(q->r, hd.h, hd.count);
		hdrs_free(&hd);
		if (rc == -1) {
			PyErr_SetString(PyExc_ValueError, "http.response."
			    "trailers: a field refused (see the log line "
			    "before)");
			return NULL;
		}
	}
	q->complete = 1;
	areq_finish(q, BG_OK);
	kick();
	return ready_new(NULL);
}

/* Extension http.response.early_hint: a 103 with the links, where the
 * protocol carries it; ignored elsewhere, as the extension allows. */
static PyObject *
response_early_hint(struct areq *q, PyObject *msg)
{
	struct hdrs hd;
	PyObject *links;
	int rc;

	if ((links = msg_get(msg, asgi.k_links)) == NULL) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "http.response."
			    "early_hint without links");
		return NULL;
	}
	rc = hdrs_get(&hd, links, "http.response.early_hint: links", 1);
	Py_DECREF(links);
	if (rc == -1)
		return NULL;
	if (hd.count > 0 && py.srv->informational(q->r, 103, hd.h,
	    hd.count) == -1)
		py.srv->log(q->r, BG_LOG_DEBUG, "python: early hint not sent "
		    "(invalid link, or the response already went out)");
	hdrs_free(&hd);
	kick();
	return ready_new(NULL);
}

/* After a write: BG_AGAIN waits for BG_EV_DRAINED, unless the response
 * is complete (the server drains it on its own). */
static PyObject *
after_write(struct areq *q, int rc, int more)
{
	if (rc == -1) {
		q->gone = 1;
		return client_gone_error();
	}
	if (!more && q->trailers) {
		/* Complete once the trailers came. */
		q->body_done = 1;
		return ready_new(NULL);
	}
	if (!more) {
		q->complete = 1;
		areq_finish(q, BG_OK);
		return ready_new(NULL);
	}
	if (rc == BG_AGAIN) {
		if ((q->send_fut = PyObject_CallNoArgs(asgi.create_future)) ==
		    NULL)
			return NULL;
		Py_INCREF(q->send_fut);
		return q->send_fut;
	}
	return ready_new(NULL);
}

static PyObject *
response_body(struct areq *q, PyObject *msg)
{
	PyObject *b;
	Py_buffer view;
	int more, rc = BG_OK;

	if ((more = msg_flag(msg, asgi.k_more_body)) == -1)
		return NULL;
	if ((b = msg_get(msg, asgi.k_body)) == NULL && PyErr_Occurred())
		return NULL;
	if (b != NULL && PyBytes_CheckExact(b)) {
		if (PyBytes_GET_SIZE(b) > 0)
			rc = py.srv->write(q->r, PyBytes_AS_STRING(b),
			    (size_t)PyBytes_GET_SIZE(b));
	} else if (b != NULL) {
		if (get_buffer(b, &view, "http.response.body: body") == -1) {
			Py_DECREF(b);
			return NULL;
		}
		if (view.len > 0)
			rc = py.srv->write(q->r, view.buf, (size_t)view.len);
		PyBuffer_Release(&view);
	}
	Py_XDECREF(b);
	q->streaming |= more;
	/* Streaming: a chunk goes out before the next is made. */
	if (rc != -1 && more && (rc = py.srv->flush(q->r)) == 0)
		rc = BG_OK;
	kick();
	return after_write(q, rc, more);
}

static PyObject *
response_file(struct areq *q, int fd, off_t off, size_t n, int more)
{
	int rc = n > 0 ? py.srv->sendfile(q->r, fd, off, n) : BG_OK;

	q->streaming |= more;
	if (rc != -1 && more && (rc = py.srv->flush(q->r)) == 0)
		rc = BG_OK;
	kick();
	return after_write(q, rc, more);
}

/* Extension http.response.pathsend: the whole file, then the end. */
static PyObject *
response_pathsend(struct areq *q, PyObject *msg)
{
	PyObject *p, *bytes = NULL, *res = NULL;
	struct stat st;
	int fd = -1;

	if (q->pathsent) {
		PyErr_SetString(PyExc_RuntimeError, "http.response.pathsend "
		    "sent twice");
		return NULL;
	}
	if ((p = msg_get(msg, asgi.k_path)) == NULL) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "http.response."
			    "pathsend without path");
		return NULL;
	}
	if (!PyUnicode_FSConverter(p, &bytes))
		goto out;
	fd = open(PyBytes_AS_STRING(bytes), O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, p);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		PyErr_Format(PyExc_ValueError, "http.response.pathsend: %R is "
		    "not a regular file", p);
		goto out;
	}
	q->pathsent = 1;
	res = response_file(q, fd, 0, (size_t)st.st_size, 0);
out:
	if (fd != -1)
		close(fd);
	Py_XDECREF(bytes);
	Py_DECREF(p);
	return res;
}

/* Extension http.response.zerocopysend: file (an object with fileno(),
 * or a descriptor), offset (else the file's position), count (else to
 * the end). */
static PyObject *
response_zerocopy(struct areq *q, PyObject *msg)
{
	PyObject *f, *v;
	struct stat st;
	long long off, count = -1;
	int fd, more;

	if ((more = msg_flag(msg, asgi.k_more_body)) == -1)
		return NULL;
	if ((f = msg_get(msg, asgi.k_file)) == NULL) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "http.response."
			    "zerocopysend without file");
		return NULL;
	}
	fd = PyObject_AsFileDescriptor(f);
	Py_DECREF(f);
	if (fd == -1)
		return NULL;
	if ((v = msg_get(msg, asgi.k_offset)) != NULL && v != Py_None) {
		off = PyLong_AsLongLong(v);
		Py_DECREF(v);
		if (off == -1 && PyErr_Occurred())
			return NULL;
	} else {
		Py_XDECREF(v);
		if (PyErr_Occurred())
			return NULL;
		if ((off = lseek(fd, 0, SEEK_CUR)) == -1)
			off = 0;
	}
	if ((v = msg_get(msg, asgi.k_count)) != NULL && v != Py_None) {
		count = PyLong_AsLongLong(v);
		Py_DECREF(v);
		if (count == -1 && PyErr_Occurred())
			return NULL;
	} else {
		Py_XDECREF(v);
		if (PyErr_Occurred())
			return NULL;
	}
	if (fstat(fd, &st) == -1)
		return PyErr_SetFromErrno(PyExc_OSError);
	if (off < 0 || (count < 0 && off > st.st_size)) {
		PyErr_SetString(PyExc_ValueError, "http.response.zerocopysend:"
		    " offset outside the file");
		return NULL;
	}
	if (count < 0)
		count = st.st_size - off;
	return response_file(q, fd, (off_t)off, (size_t)count, more);
}

static PyObject *
areq_send(PyObject *self, PyObject *msg)
{
	struct areq *q = (struct areq *)self;
	PyObject *t, *res;

	if ((t = msg_get(msg, asgi.k_type)) == NULL) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "ASGI message "
			    "without type");
		return NULL;
	}
	if (fut_waiting(&q->send_fut)) {
		PyErr_SetString(PyExc_RuntimeError, "send() called while "
		    "another send() is waiting");
		res = NULL;
	} else if (q->gone || (asgi.stopped && q->r != NULL))
		res = client_gone_error();
	else if (q->r == NULL)
		/* Spec: after the final body, messages are ignored. */
		res = ready_new(NULL);
	else if (q->body_done && PyUnicode_Compare(t, asgi.s_trailers_msg))
		res = PyErr_Format(PyExc_RuntimeError, "%U after the last "
		    "body: http.response.trailers expected", t);
	else if (t == asgi.s_body || PyUnicode_Compare(t, asgi.s_body) == 0)
		res = q->started ? response_body(q, msg) : NULL;
	else if (t == asgi.s_start || PyUnicode_Compare(t, asgi.s_start) ==
	    0)
		res = response_start(q, msg);
	else if (PyUnicode_Compare(t, asgi.s_pathsend) == 0)
		res = q->started ? response_pathsend(q, msg) : NULL;
	else if (PyUnicode_Compare(t, asgi.s_zerocopysend) == 0)
		res = q->started ? response_zerocopy(q, msg) : NULL;
	else if (PyUnicode_Compare(t, asgi.s_trailers_msg) == 0 &&
	    asgi.has_trailers)
		res = q->started ? response_trailers(q, msg) : NULL;
	else if (PyUnicode_Compare(t, asgi.s_early_hint) == 0 &&
	    asgi.has_early_hint)
		res = response_early_hint(q, msg);
	else {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_RuntimeError, "unexpected ASGI "
			    "message %R for an HTTP request", t);
		res = NULL;
	}
	if (res == NULL && !PyErr_Occurred())
		PyErr_Format(PyExc_RuntimeError, "%U before "
		    "http.response.start", t);
	Py_DECREF(t);
	return res;
}

/*
 * How the application's coroutine ended: finish the request unless the
 * final body did.  exc: the exception it raised (NULL: returned);
 * cancelled: by its task (--timeout, the client gone).
 */
static void
areq_outcome(struct areq *q, PyObject *exc, int cancelled)
{
	char what[160];

	if (exc != NULL && !cancelled) {
		if (q->gone && PyErr_GivenExceptionMatches(exc,
		    asgi.disconnected)) {
			/* Ours, after the client left: not an error. */
		} else {
			snprintf(what, sizeof(what), "request %s: ASGI "
			    "application raised%s", q->r != NULL ?
			    py.srv->request_id(q->r) : q->rid, q->started ?
			    " after the response started" : "");
			Py_INCREF(Py_TYPE(exc));
			Py_INCREF(exc);
			PyErr_Restore((PyObject *)Py_TYPE(exc), exc,
			    PyException_GetTraceback(exc));
			py_log_exception(q->r, what);
		}
		areq_finish(q, BG_ERROR);
	} else if (cancelled)
		areq_finish(q, BG_ERROR);
	else if (q->r != NULL && q->streaming && !q->body_done &&
	    !q->gone) {
		/* more_body=True promised more: ending the body here would
		 * pass a cut response off as whole, so it is cut.  (After
		 * the client left, returning is how www.rst has the
		 * application end: no error of its.) */
		py.srv->log(q->r, BG_LOG_ERROR, "python: ASGI application "
		    "returned in the middle of its response body");
		areq_finish(q, BG_ERROR);
	} else {
		if (q->r != NULL && !q->started)
			py.srv->log(q->r, BG_LOG_ERROR, "python: ASGI "
			    "application returned without starting a "
			    "response");
		areq_finish(q, BG_OK);
	}
	Py_CLEAR(q->task);
}

/*
 * The coroutine the task runs: the application's, wrapped so that its
 * end is seen where it happens (no done callback, no extra turn of the
 * loop).  A coroutine to asyncio (send, throw, close, __await__:
 * collections.abc.Coroutine); the task steps it through am_send.
 * The application's exceptions are logged here and end the task
 * normally; CancelledError goes on, so the task ends cancelled.
 */
struct apprun {
	PyObject_HEAD
	PyObject *coro;		/* the application's; NULL once ended */
	struct areq *q;
};

/* The application's coroutine gave st: pass a yield on, act on its
 * end.  Returns what am_send returns. */
static PySendResult
apprun_result(struct apprun *a, PySendResult st, PyObject **result)
{
	PyObject *type, *value, *tb;
	struct areq *q = a->q;
	int cancelled;

	if (st == PYGEN_NEXT)
		return st;
	Py_CLEAR(a->coro);
	Py_INCREF(q);
	if (st == PYGEN_RETURN) {
		Py_CLEAR(*result);
		areq_outcome(q, NULL, 0);
		Py_DECREF(q);
		Py_INCREF(Py_None);
		*result = Py_None;
		return PYGEN_RETURN;
	}
	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (tb != NULL && value != NULL)
		PyException_SetTraceback(value, tb);
	cancelled = type != NULL && PyErr_GivenExceptionMatches(type,
	    asgi.cancelled_error);
	areq_outcome(q, value, cancelled);
	Py_DECREF(q);
	if (cancelled) {
		PyErr_Restore(type, value, tb);
		*result = NULL;
		return PYGEN_ERROR;
	}
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	Py_INCREF(Py_None);
	*result = Py_None;
	return PYGEN_RETURN;
}

static PySendResult
apprun_send(PyObject *self, PyObject *arg, PyObject **result)
{
	struct apprun *a = (struct apprun *)self;

	if (a->coro == NULL) {
		PyErr_SetString(PyExc_RuntimeError, "cannot reuse an ended "
		    "ASGI application coroutine");
		*result = NULL;
		return PYGEN_ERROR;
	}
	return apprun_result(a, PyIter_Send(a->coro, arg, result), result);
}

/* send() and __next__ the classic way: a return is StopIteration. */
static PyObject *
apprun_classic(PyObject *self, PyObject *arg)
{
	PyObject *result;

	switch (apprun_send(self, arg, &result)) {
	case PYGEN_NEXT:
		return result;
	case PYGEN_RETURN:
		Py_DECREF(result);	/* None */
		PyErr_SetNone(PyExc_StopIteration);
		return NULL;
	default:
		return NULL;
	}
}

static PyObject *
apprun_next(PyObject *self)
{
	return apprun_classic(self, Py_None);
}

static PyObject *
apprun_throw(PyObject *self, PyObject *args)
{
	struct apprun *a = (struct apprun *)self;
	PyObject *res, *meth, *value;
	PySendResult st;

	if (a->coro == NULL) {
		PyObject *type, *v = NULL, *tb = NULL;

		if (!PyArg_UnpackTuple(args, "throw", 1, 3, &type, &v, &tb))
			return NULL;
		if (PyExceptionInstance_Check(type))
			PyErr_SetObject((PyObject *)Py_TYPE(type), type);
		else
			PyErr_SetObject(type, v);
		return NULL;
	}
	if ((meth = PyObject_GetAttrString(a->coro, "throw")) == NULL)
		return NULL;
	res = PyObject_Call(meth, args, NULL);
	Py_DECREF(meth);
	if (res != NULL)
		st = PYGEN_NEXT;
	else if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
		PyObject *type, *tb;

		PyErr_Fetch(&type, &value, &tb);
		Py_XDECREF(type);
		Py_XDECREF(value);
		Py_XDECREF(tb);
		Py_INCREF(Py_None);
		res = Py_None;
		st = PYGEN_RETURN;
	} else
		st = PYGEN_ERROR;
	switch (apprun_result(a, st, &res)) {
	case PYGEN_NEXT:
		return res;
	case PYGEN_RETURN:
		Py_DECREF(res);
		PyErr_SetNone(PyExc_StopIteration);
		return NULL;
	default:
		return NULL;
	}
}

static PyObject *
apprun_close(PyObject *self, PyObject *unused)
{
	struct apprun *a = (struct apprun *)self;
	PyObject *res;

	(void)unused;
	if (a->coro == NULL)
		Py_RETURN_NONE;
	res = PyObject_CallMethod(a->coro, "close", NULL);
	Py_CLEAR(a->coro);
	return res;
}

static PyObject *
apprun_await(PyObject *self)
{
	Py_INCREF(self);
	return self;
}

static void
apprun_dealloc(PyObject *self)
{
	struct apprun *a = (struct apprun *)self;

	PyObject_GC_UnTrack(self);
	Py_XDECREF(a->coro);
	Py_XDECREF(a->q);
	PyObject_GC_Del(self);
}

static int
apprun_traverse(PyObject *self, visitproc visit, void *arg)
{
	Py_VISIT(((struct apprun *)self)->coro);
	return 0;
}

static PyMethodDef apprun_methods[] = {
	{ "send", apprun_classic, METH_O, NULL },
	{ "throw", apprun_throw, METH_VARARGS, NULL },
	{ "close", apprun_close, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyAsyncMethods apprun_async = {
	.am_await = apprun_await,
	.am_send = apprun_send,
};

static PyTypeObject apprun_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "bridge.ASGIApplicationCall",
	.tp_basicsize = sizeof(struct apprun),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "the application's coroutine for one request",
	.tp_dealloc = apprun_dealloc,
	.tp_traverse = apprun_traverse,
	.tp_as_async = &apprun_async,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = apprun_next,
	.tp_methods = apprun_methods,
};

/* BG_EV_*: the body came, the output drained, the client is gone. */
static void
asgi_event(bg_request *r, unsigned events, void *arg)
{
	struct areq *q = arg;
	PyObject *f, *m, *res;

	(void)r;
	Py_INCREF(q);
	if ((events & BG_EV_GONE) && !q->gone) {
		q->gone = 1;
		if (q->send_fut != NULL) {
			f = q->send_fut;
			q->send_fut = NULL;
			fut_resolve(f, asgi.s_set_exception,
			    PyObject_CallOneArg(asgi.disconnected,
			    asgi.s_http_disconnect));
			Py_DECREF(f);
		}
		if (q->recv_fut != NULL) {
			f = q->recv_fut;
			q->recv_fut = NULL;
			fut_resolve(f, asgi.s_set_result,
			    msg_new(asgi.s_http_disconnect));
			Py_DECREF(f);
		}
		/* Waiting on something else (a sleep, a database): it
		 * runs on, as under uvicorn, and finishes what the client
		 * asked for (a write it began is not cut); its answer
		 * reaches no one.  BG_EV_CANCEL, below, ends it. */
	}
	/* The worker is stopping: an application waiting for the
	 * disconnect to end a stream (server-sent events, long polling)
	 * is told now, and can send its last message while the client is
	 * still there. */
	if ((events & BG_EV_STOP) && !q->stopping) {
		q->stopping = 1;
		if (q->body_eof && fut_waiting(&q->recv_fut)) {
			f = q->recv_fut;
			q->recv_fut = NULL;
			fut_resolve(f, asgi.s_set_result,
			    msg_new(asgi.s_http_disconnect));
			Py_DECREF(f);
		}
	}
	/* Past --timeout (with BG_EV_GONE, or later when the client had
	 * left first), or its client gone while the worker stops: nothing
	 * waits for it any more. */
	/* The gateway says it once (req_cancel()). */
	if ((events & BG_EV_CANCEL) && q->task != NULL) {
		if ((res = PyObject_CallMethodNoArgs(q->task, asgi.s_cancel)) ==
		    NULL)
			py_log_exception(q->r, "asgi: cancel failed");
		Py_XDECREF(res);
	}
	if ((events & BG_EV_BODY) && !q->body_eof && q->r != NULL &&
	    fut_waiting(&q->recv_fut)) {
		m = body_message(q);
		if (m == NULL)
			py_log_exception(q->r, "asgi: reading the body failed");
		else if (m != Py_None) {
			f = q->recv_fut;
			q->recv_fut = NULL;
			fut_resolve(f, asgi.s_set_result, m);
			Py_DECREF(f);
		}
	}
	if ((events & BG_EV_DRAINED) && q->send_fut != NULL) {
		f = q->send_fut;
		q->send_fut = NULL;
		Py_INCREF(Py_None);
		fut_resolve(f, asgi.s_set_result, Py_None);
		Py_DECREF(f);
	}
	Py_DECREF(q);
}

/* Set key to v (stolen) in d; NULL v fails. */
static int
set_steal(PyObject *d, PyObject *key, PyObject *v)
{
	int rc;

	if (v == NULL)
		return -1;
	rc = PyDict_SetItem(d, key, v);
	Py_DECREF(v);
	return rc;
}

/*
 * The variables the scope is made of, found in one pass over the
 * request's (the server's var() searches them all on each call).
 */
enum {
	V_METHOD, V_PROTOCOL, V_HTTPS, V_SCHEME, V_SCRIPT, V_PATH, V_URI,
	V_QUERY, V_RADDR, V_RPORT, V_SADDR, V_SPORT, V_SSL_PROTOCOL,
	V_SSL_CIPHER_SUITE, V_MAX
};

static const struct {
	const char *name;
	size_t len;
} scope_vars[V_MAX] = {
#define N(s) { s, sizeof(s) - 1 }
	N("REQUEST_METHOD"), N("SERVER_PROTOCOL"), N("HTTPS"),
	N("REQUEST_SCHEME"), N("SCRIPT_NAME"), N("PATH_INFO"),
	N("REQUEST_URI"), N("QUERY_STRING"), N("REMOTE_ADDR"),
	N("REMOTE_PORT"), N("SERVER_ADDR"), N("SERVER_PORT"),
	N("SSL_PROTOCOL"), N("SSL_CIPHER_SUITE"),
#undef N
};

struct scope_in {
	const struct bg_var *v[V_MAX];
	int te_trailers;	/* TE: trailers */
};

static int
is_var(const struct bg_var *v, const char *name, size_t len)
{
	return v->name_len == len && memcmp(v->name, name, len) == 0;
}

static int
is_value(const struct bg_var *v, const char *value, size_t len)
{
	return v->value_len == len && memcmp(v->value, value, len) == 0;
}

/* A variable as str (UTF-8, undecodable bytes replaced). */
static PyObject *
var_str(const struct bg_var *v)
{
	if (v == NULL || v->value_len == 0) {
		Py_INCREF(asgi.s_empty);
		return asgi.s_empty;
	}
	return PyUnicode_DecodeUTF8(v->value, (Py_ssize_t)v->value_len,
	    "replace");
}

static PyObject *
var_bytes(const struct bg_var *v)
{
	return PyBytes_FromStringAndSize(v != NULL ? v->value : "",
	    v != NULL ? (Py_ssize_t)v->value_len : 0);
}

/* [host, port] from two variables; None without the host.  A Unix
 * socket (no port) gives [path, None] (spec 2.2). */
static PyObject *
addr_pair(const struct bg_var *h, const struct bg_var *p)
{
	PyObject *hs, *ps = NULL, *t;
	long port = 0;
	size_t i;

	if (h == NULL || h->value_len == 0)
		Py_RETURN_NONE;
	if ((hs = PyUnicode_DecodeUTF8(h->value, (Py_ssize_t)h->value_len,
	    "replace")) == NULL)
		return NULL;
	if (p != NULL && p->value_len > 0 && p->value_len < 7) {
		for (i = 0; i < p->value_len && p->value[i] >= '0' &&
		    p->value[i] <= '9'; i++)
			port = port * 10 + (p->value[i] - '0');
		if (i == p->value_len && (ps = PyLong_FromLong(port)) == NULL) {
			Py_DECREF(hs);
			return NULL;
		}
	}
	if (ps == NULL) {
		Py_INCREF(Py_None);
		ps = Py_None;
	}
	if ((t = PyTuple_New(2)) == NULL) {
		Py_DECREF(hs);
		Py_DECREF(ps);
		return NULL;
	}
	PyTuple_SET_ITEM(t, 0, hs);
	PyTuple_SET_ITEM(t, 1, ps);
	return t;
}

/* scope["server"]: the same for every request on a listener, so the
 * last one's tuple (immutable) is given again. */
static PyObject *
server_pair(const struct scope_in *in)
{
	const struct bg_var *a = in->v[V_SADDR], *p = in->v[V_SPORT];
	size_t an = a != NULL ? a->value_len : 0;
	size_t pn = p != NULL ? p->value_len : 0;
	char *k = asgi.server_key;

	if (an + pn + 2 > sizeof(asgi.server_key))
		return addr_pair(a, p);
	/* The key: addr, NUL, port, NUL. */
	if (asgi.server == NULL || memcmp(k, a != NULL ? a->value : "",
	    an) != 0 || k[an] != '\0' || memcmp(k + an + 1, p != NULL ?
	    p->value : "", pn) != 0 || k[an + 1 + pn] != '\0') {
		Py_CLEAR(asgi.server);
		if ((asgi.server = addr_pair(a, p)) == NULL)
			return NULL;
		if (an > 0)
			memcpy(k, a->value, an);
		k[an] = '\0';
		if (pn > 0)
			memcpy(k + an + 1, p->value, pn);
		k[an + 1 + pn] = '\0';
	}
	Py_INCREF(asgi.server);
	return asgi.server;
}

/* "TLSv1.3" (SSL_PROTOCOL, as nginx passes it) as the spec's number. */
static PyObject *
tls_version(const struct bg_var *v)
{
	static const struct {
		const char *name;
		long v;
	} names[] = {
		{ "TLSv1.3", 0x0304 }, { "TLSv1.2", 0x0303 },
		{ "TLSv1.1", 0x0302 }, { "TLSv1", 0x0301 },
	};
	size_t i;

	for (i = 0; v != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (is_value(v, names[i].name, strlen(names[i].name)))
			return PyLong_FromLong(names[i].v);
	Py_RETURN_NONE;
}

/* "0x1301" (SSL_CIPHER_SUITE, bridge's own HTTPS) as the spec's
 * cipher_suite number; None when absent or not a 16-bit number. */
static PyObject *
tls_cipher_suite(const struct bg_var *v)
{
	char buf[16], *end;
	unsigned long n;

	if (v == NULL || v->value_len == 0 || v->value_len >= sizeof(buf))
		Py_RETURN_NONE;
	memcpy(buf, v->value, v->value_len);
	buf[v->value_len] = '\0';
	errno = 0;
	n = strtoul(buf, &end, 16);
	if (errno != 0 || *end != '\0' || n > 0xffff)
		Py_RETURN_NONE;
	return PyLong_FromUnsignedLong(n);
}

/* scope["extensions"]: pathsend and zerocopysend; tls over HTTPS, with
 * what the server knows (nothing of certificates: None and []). */
static PyObject *
extensions(const struct scope_in *in, int https)
{
	PyObject *e = PyDict_Copy(asgi.ext_proto), *tls = NULL, *chain = NULL;
	PyObject *ver = NULL, *suite = NULL;

	if (e == NULL || !https)
		return e;
	if ((tls = PyDict_New()) == NULL || (chain = PyList_New(0)) == NULL ||
	    (ver = tls_version(in->v[V_SSL_PROTOCOL])) == NULL ||
	    (suite = tls_cipher_suite(in->v[V_SSL_CIPHER_SUITE])) == NULL ||
	    PyDict_SetItemString(tls, "server_cert", Py_None) == -1 ||
	    PyDict_SetItemString(tls, "client_cert_chain", chain) == -1 ||
	    PyDict_SetItemString(tls, "client_cert_name", Py_None) == -1 ||
	    PyDict_SetItemString(tls, "client_cert_error", Py_None) == -1 ||
	    PyDict_SetItemString(tls, "tls_version", ver) == -1 ||
	    PyDict_SetItemString(tls, "cipher_suite", suite) == -1 ||
	    PyDict_SetItem(e, asgi.k_tls, tls) == -1)
		Py_CLEAR(e);
	Py_XDECREF(suite);
	Py_XDECREF(ver);
	Py_XDECREF(chain);
	Py_XDECREF(tls);
	return e;
}

/* One header: the field name back from HTTP_NAME (or CONTENT_TYPE),
 * lower case with '-'. */
static int
header_append(PyObject *list, const char *src, size_t len,
    const struct bg_var *v)
{
	PyObject *name, *value, *pair;
	char *dst;
	size_t j;

	if ((name = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len)) ==
	    NULL)
		return -1;
	dst = PyBytes_AS_STRING(name);
	for (j = 0; j < len; j++)
		dst[j] = src[j] == '_' ? '-' : (src[j] >= 'A' &&
		    src[j] <= 'Z') ? (char)(src[j] + 32) : src[j];
	if ((value = PyBytes_FromStringAndSize(v->value,
	    (Py_ssize_t)v->value_len)) == NULL) {
		Py_DECREF(name);
		return -1;
	}
	if ((pair = PyTuple_New(2)) == NULL) {
		Py_DECREF(name);
		Py_DECREF(value);
		return -1;
	}
	PyTuple_SET_ITEM(pair, 0, name);
	PyTuple_SET_ITEM(pair, 1, value);
	if (PyList_Append(list, pair) == -1) {
		Py_DECREF(pair);
		return -1;
	}
	Py_DECREF(pair);
	return 0;
}

/*
 * scope["headers"] from the fields as the client sent them (the
 * gateway's fields(), bridge's own HTTP front end): in order, a field
 * sent twice as two pairs (www.rst: "Duplicates are possible and must
 * be preserved in the message as received"), names lower-cased.
 */
static PyObject *
fields_list(const struct bg_header *f, size_t n, struct scope_in *in)
{
	PyObject *list, *name, *value, *pair;
	char *dst;
	size_t i, j;

	if ((list = PyList_New((Py_ssize_t)n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((name = PyBytes_FromStringAndSize(NULL,
		    (Py_ssize_t)f[i].name_len)) == NULL)
			goto fail;
		dst = PyBytes_AS_STRING(name);
		for (j = 0; j < f[i].name_len; j++)
			dst[j] = f[i].name[j] >= 'A' && f[i].name[j] <= 'Z' ?
			    (char)(f[i].name[j] + 32) : f[i].name[j];
		if (f[i].name_len == 2 && memcmp(dst, "te", 2) == 0 &&
		    memmem(f[i].value, f[i].value_len, "trailers", 8) != NULL)
			in->te_trailers = 1;
		if ((value = PyBytes_FromStringAndSize(f[i].value,
		    (Py_ssize_t)f[i].value_len)) == NULL) {
			Py_DECREF(name);
			goto fail;
		}
		if ((pair = PyTuple_New(2)) == NULL) {
			Py_DECREF(name);
			Py_DECREF(value);
			goto fail;
		}
		PyTuple_SET_ITEM(pair, 0, name);
		PyTuple_SET_ITEM(pair, 1, value);
		PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
	}
	return list;
fail:
	Py_DECREF(list);
	return NULL;
}

/*
 * One pass over the variables: the scope's inputs into in, and
 * scope["headers"]: from fields() where the front end kept them, else
 * (FastCGI, CGI) HTTP_* back to lower-case field names in the order
 * the web server gave them (a field sent twice arrives joined, RFC 9110
 * section 5.3); CONTENT_TYPE and CONTENT_LENGTH are fields too.
 */
static PyObject *
scan_vars(bg_request *r, struct scope_in *in)
{
	size_t i, k, n = py.srv->var_count(r), nf = 0;
	const struct bg_var *v;
	const struct bg_header *f = NULL;
	PyObject *list;

	memset(in, 0, sizeof(*in));
	if (asgi.has_fields)
		f = py.srv->fields(r, &nf);
	if ((list = f != NULL ? fields_list(f, nf, in) : PyList_New(0)) ==
	    NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((v = py.srv->var_at(r, i)) == NULL)
			break;
		if (v->name_len > 5 && memcmp(v->name, "HTTP_", 5) == 0) {
			if (f != NULL)
				continue;
			if (is_var(v, "HTTP_TE", 7) && memmem(v->value,
			    v->value_len, "trailers", 8) != NULL)
				in->te_trailers = 1;
			if (header_append(list, v->name + 5, v->name_len - 5,
			    v) == -1)
				goto fail;
			continue;
		}
		if (is_var(v, "CONTENT_TYPE", 12) ||
		    is_var(v, "CONTENT_LENGTH", 14)) {
			/* nginx's fastcgi_params pass both on every request,
			 * empty when the client sent no such field: none. */
			if (f == NULL && v->value_len > 0 &&
			    header_append(list, v->name, v->name_len, v) == -1)
				goto fail;
			continue;
		}
		for (k = 0; k < V_MAX; k++)
			if (in->v[k] == NULL && is_var(v, scope_vars[k].name,
			    scope_vars[k].len)) {
				in->v[k] = v;
				break;
			}
	}
	return list;
fail:
	Py_DECREF(list);
	return NULL;
}

static PyObject *
method_str(const struct bg_var *v)
{
	size_t i;

	if (v == NULL)
		return PyUnicode_FromString("GET");
	for (i = 0; i < sizeof(asgi_method_names) /
	    sizeof(asgi_method_names[0]); i++)
		if (is_value(v, asgi_method_names[i],
		    strlen(asgi_method_names[i]))) {
			Py_INCREF(asgi.methods[i]);
			return asgi.methods[i];
		}
	return PyUnicode_DecodeLatin1(v->value, (Py_ssize_t)v->value_len,
	    NULL);
}

/* The HTTP connection scope (www.rst "HTTP Connection Scope"). */
static PyObject *
scope_new(bg_request *r, int *te_trailers)
{
	PyObject *s, *v, *root, *pi, *path, *headers;
	const struct bg_var *proto, *uri, *sc, *hs;
	struct scope_in in;
	const char *q;
	int is_https;

	if ((headers = scan_vars(r, &in)) == NULL)
		return NULL;
	*te_trailers = in.te_trailers;
	if ((s = PyDict_Copy(asgi.scope_proto)) == NULL ||
	    PyDict_SetItem(s, asgi.k_headers, headers) == -1) {
		Py_DECREF(headers);
		Py_XDECREF(s);
		return NULL;
	}
	Py_DECREF(headers);
	proto = in.v[V_PROTOCOL];
	v = proto != NULL && is_value(proto, "HTTP/1.0", 8) ? asgi.s_10 :
	    proto != NULL && proto->value_len >= 6 && proto->value[5] == '2' ?
	    asgi.s_2 : asgi.s_11;
	if (PyDict_SetItem(s, asgi.k_http_version, v) == -1)
		goto fail;
	hs = in.v[V_HTTPS];
	sc = in.v[V_SCHEME];
	is_https = (hs != NULL && hs->value_len == 2 &&
	    strncasecmp(hs->value, "on", 2) == 0) ||
	    (sc != NULL && is_value(sc, "https", 5));
	if (PyDict_SetItem(s, asgi.k_scheme, is_https ? asgi.s_https :
	    asgi.s_http) == -1 ||
	    set_steal(s, asgi.k_method, method_str(in.v[V_METHOD])) == -1)
		goto fail;
	/* path is the whole target's path, root_path included (the spec's
	 * "HTTP request target excluding any query string"), unless the
	 * application wants it without (path_rule()). */
	if ((root = var_str(in.v[V_SCRIPT])) == NULL)
		goto fail;
	if (PyDict_SetItem(s, asgi.k_root_path, root) == -1 ||
	    (pi = var_str(in.v[V_PATH])) == NULL) {
		Py_DECREF(root);
		goto fail;
	}
	if (PyUnicode_GET_LENGTH(root) == 0 || asgi.bare_path) {
		path = pi;
		Py_INCREF(path);
	} else
		path = PyUnicode_Concat(root, pi);
	Py_DECREF(root);
	Py_DECREF(pi);
	if (set_steal(s, asgi.k_path, path) == -1)
		goto fail;
	if ((uri = in.v[V_URI]) == NULL)
		v = var_bytes(in.v[V_PATH]);
	else {
		q = memchr(uri->value, '?', uri->value_len);
		v = PyBytes_FromStringAndSize(uri->value, q != NULL ?
		    q - uri->value : (Py_ssize_t)uri->value_len);
	}
	if (set_steal(s, asgi.k_raw_path, v) == -1 ||
	    set_steal(s, asgi.k_query_string, var_bytes(in.v[V_QUERY])) ==
	    -1 ||
	    set_steal(s, asgi.k_client, addr_pair(in.v[V_RADDR],
	    in.v[V_RPORT])) == -1 ||
	    set_steal(s, asgi.k_server, server_pair(&in)) == -1 ||
	    set_steal(s, asgi.k_state, PyDict_Copy(asgi.state)) == -1 ||
	    set_steal(s, asgi.k_extensions, extensions(&in, is_https)) == -1)
		goto fail;
	return s;
fail:
	Py_DECREF(s);
	return NULL;
}

/*
 * The request's task: what loop.create_task() makes, but named after the
 * request (asyncio's reprs and warnings then say which one) and built
 * here: uvloop's create_task() formats a "Task-N" name first, a sixth of
 * what a task costs.  A task factory the application installed is
 * honoured.
 */
static PyObject *
task_new(bg_request *r, struct apprun *run)
{
	PyObject *factory, *args[3], *task;
	const char *id;
	char name[64];
	size_t n;

	if ((factory = PyObject_CallNoArgs(asgi.get_task_factory)) == NULL)
		return NULL;
	if (factory != Py_None) {
		Py_DECREF(factory);
		return PyObject_CallOneArg(asgi.create_task, (PyObject *)run);
	}
	Py_DECREF(factory);
	args[0] = (PyObject *)run;
	args[1] = asgi.loop;
	id = py.srv->request_id(r);
	n = strlen(id);
	if (n > sizeof(name) - 8)
		n = sizeof(name) - 8;
	memcpy(name, "request ", 8);
	memcpy(name + 8, id, n);
	if ((args[2] = PyUnicode_FromStringAndSize(name, (Py_ssize_t)(8 +
	    n))) == NULL)
		return NULL;
	task = PyObject_Vectorcall(asgi.task_type, args, 1, asgi.task_kw);
	Py_DECREF(args[2]);
	return task;
}

int
asgi_handle(bg_request *r)
{
	struct areq *q;
	PyObject *scope = NULL, *args[3] = { NULL, NULL, NULL }, *coro = NULL;
	struct apprun *run = NULL;
	PyObject *res, *it;
	int64_t cl;
	int te = 0;

	if ((q = PyObject_New(struct areq, &areq_type)) == NULL)
		goto fail;
	q->r = r;
	q->task = q->recv_fut = q->send_fut = NULL;
	q->started = q->complete = q->gone = q->body_eof = q->pathsent = 0;
	q->owned = q->trailers = q->te_trailers = q->body_done = 0;
	q->stopping = q->streaming = 0;
	q->trailer_list = NULL;
	q->rid[0] = '\0';
	cl = py.srv->content_length(r);
	q->body_left = cl;
	if ((scope = scope_new(r, &te)) == NULL ||
	    (args[1] = PyCFunction_New(&receive_def, (PyObject *)q)) == NULL ||
	    (args[2] = PyCFunction_New(&send_def, (PyObject *)q)) == NULL)
		goto fail;
	args[0] = scope;
	q->te_trailers = te;
	if ((coro = PyObject_Vectorcall(py.app, args, 3, NULL)) == NULL)
		goto fail;
	/* Any awaitable, as asyncio takes one: a coroutine is its own
	 * iterator, others give theirs from __await__. */
	if (!PyCoro_CheckExact(coro)) {
		if (Py_TYPE(coro)->tp_as_async == NULL ||
		    Py_TYPE(coro)->tp_as_async->am_await == NULL) {
			PyErr_Format(PyExc_TypeError, "the ASGI application "
			    "returned a %.100s, not an awaitable",
			    Py_TYPE(coro)->tp_name);
			goto fail;
		}
		if ((it = Py_TYPE(coro)->tp_as_async->am_await(coro)) == NULL)
			goto fail;
		Py_DECREF(coro);
		coro = it;
	}
	if ((run = PyObject_GC_New(struct apprun, &apprun_type)) == NULL)
		goto fail;
	run->coro = coro;
	coro = NULL;
	run->q = q;
	Py_INCREF(q);
	PyObject_GC_Track(run);
	if ((q->task = task_new(r, run)) == NULL)
		goto fail_task;
	if (py.srv->on_event(r, asgi_event, q) == -1) {
		PyErr_SetString(PyExc_RuntimeError, "on_event failed");
		goto fail_task;
	}
	/* The server's reference, dropped at finish(). */
	q->owned = 1;
	Py_INCREF(q);
	Py_DECREF(run);
	Py_DECREF(args[2]);
	Py_DECREF(args[1]);
	Py_DECREF(scope);
	Py_DECREF(q);
	return BG_PENDING;
fail_task:
	/* No finish() follows BG_ERROR: the task must not call it. */
	if (q->task != NULL) {
		res = PyObject_CallMethodNoArgs(q->task, asgi.s_cancel);
		Py_XDECREF(res);
	}
fail:
	py_log_exception(r, "calling the ASGI application failed");
	if (q != NULL)
		q->r = NULL;
	Py_XDECREF(run);
	Py_XDECREF(coro);
	Py_XDECREF(args[2]);
	Py_XDECREF(args[1]);
	Py_XDECREF(scope);
	Py_XDECREF(q);
	return BG_ERROR;
}

/*
 * Set-up, lifespan, run().
 */

static PyObject *
intern(const char *s)
{
	return PyUnicode_InternFromString(s);
}

int
asgi_detect(PyObject *app)
{
	PyObject *fn = PyDict_GetItemString(asgi.helpers, "is_asgi"), *res;
	int yes;

	if (fn == NULL || (res = PyObject_CallOneArg(fn, app)) == NULL)
		return -1;
	yes = PyObject_IsTrue(res);
	Py_DECREF(res);
	return yes;
}

/*
 * Whether scope["path"] leaves root_path out.  The ASGI specification
 * has path whole, root_path included (www.rst, "path"; asgiref pull
 * request 229), and so has bridge: Starlette 0.33 and later, Django and
 * Quart take root_path off path themselves when it is there (Quart 0.18
 * answers 404 when it is not).  Starlette before 0.33 (Debian 12 ships
 * 0.26, under FastAPI 0.92) routes on path alone and builds URLs as
 * root_path + path: it was written for uvicorn behind a proxy that takes
 * the prefix off (uvicorn --root-path sets root_path, path is what came),
 * and under --mount every route answered 404.  Such an application gets
 * path without root_path, as there.
 *
 * Keyed on which Starlette is loaded once the application is imported,
 * not on the application's type: middleware of other libraries (Sentry's,
 * OpenTelemetry's) often wraps it and hides it.  Decided once, here;
 * requests pay nothing.
 */
static void
path_rule(void)
{
	PyObject *mod, *ver;
	const char *s;
	unsigned major, minor;

	asgi.bare_path = 0;
	if ((mod = PyDict_GetItemString(PyImport_GetModuleDict(),
	    "starlette")) == NULL)
		return;
	if ((ver = PyObject_GetAttrString(mod, "__version__")) == NULL) {
		PyErr_Clear();
		return;
	}
	if ((s = PyUnicode_AsUTF8(ver)) == NULL)
		PyErr_Clear();
	else if (sscanf(s, "%u.%u", &major, &minor) == 2 && major == 0 &&
	    minor < 33) {
		asgi.bare_path = 1;
		py.srv->log(NULL, BG_LOG_INFO, "python: Starlette %s (before "
		    "0.33) routes on scope path alone: path leaves out "
		    "root_path, the mount", s);
	}
	Py_DECREF(ver);
}

/* What only an ASGI application needs: asyncio and the lifespan helpers;
 * the path rule of the application just imported.
 * Returns 0, or -1 with a Python exception set. */
int
asgi_runtime(void)
{
	PyObject *code, *res;

	path_rule();
	if (asgi.cancelled_error != NULL)
		return 0;
	if ((code = Py_CompileString(asgi_runtime_helpers, "<bridge asgi>",
	    Py_file_input)) == NULL)
		return -1;
	res = PyEval_EvalCode(code, asgi.helpers, asgi.helpers);
	Py_DECREF(code);
	if (res == NULL)
		return -1;
	Py_DECREF(res);
	asgi.cancelled_error = PyRun_String("asyncio.CancelledError",
	    Py_eval_input, asgi.helpers, asgi.helpers);
	return asgi.cancelled_error != NULL ? 0 : -1;
}

int
asgi_init(int forced, const char *loop_kind, unsigned graceful)
{
	PyObject *code = NULL, *res = NULL, *a = NULL, *v;
	size_t i;
	int rc = -1;

	asgi.forced = forced;
	snprintf(asgi.loop_kind, sizeof(asgi.loop_kind), "%s",
	    loop_kind != NULL ? loop_kind : "auto");
	asgi.graceful = graceful > 0 ? graceful : 30;
	if (PyType_Ready(&ready_type) == -1 ||
	    PyType_Ready(&areq_type) == -1 ||
	    PyType_Ready(&apprun_type) == -1)
		return -1;
	if ((asgi.helpers = PyDict_New()) == NULL ||
	    PyDict_SetItemString(asgi.helpers, "__builtins__",
	    PyEval_GetBuiltins()) == -1 ||
	    (code = Py_CompileString(asgi_helpers, "<bridge asgi>",
	    Py_file_input)) == NULL ||
	    (res = PyEval_EvalCode(code, asgi.helpers, asgi.helpers)) == NULL)
		goto out;
#define I(f, s) if ((asgi.f = intern(s)) == NULL) goto out
	I(k_type, "type"); I(k_asgi, "asgi"); I(k_http_version,
	    "http_version"); I(k_method, "method"); I(k_scheme, "scheme");
	I(k_path, "path"); I(k_raw_path, "raw_path"); I(k_query_string,
	    "query_string"); I(k_root_path, "root_path"); I(k_headers,
	    "headers"); I(k_client, "client"); I(k_server, "server");
	I(k_state, "state"); I(k_extensions, "extensions"); I(k_body, "body");
	I(k_more_body, "more_body"); I(k_status, "status"); I(k_trailers,
	    "trailers"); I(k_file, "file"); I(k_offset, "offset");
	I(k_count, "count"); I(k_tls, "tls"); I(k_more_trailers,
	    "more_trailers"); I(k_links, "links");
	I(s_http, "http"); I(s_https, "https"); I(s_empty, "");
	I(s_10, "1.0"); I(s_11, "1.1"); I(s_2, "2");
	I(s_http_request, "http.request"); I(s_http_disconnect,
	    "http.disconnect"); I(s_start, "http.response.start");
	I(s_body, "http.response.body"); I(s_pathsend,
	    "http.response.pathsend"); I(s_zerocopysend,
	    "http.response.zerocopysend"); I(s_trailers_msg,
	    "http.response.trailers"); I(s_add_done, "add_done_callback");
	I(s_set_result, "set_result"); I(s_set_exception, "set_exception");
	I(s_done, "done"); I(s_cancel, "cancel"); I(s_fileno, "fileno");
	I(s_cancelled, "cancelled"); I(s_exception, "exception");
	I(s_early_hint, "http.response.early_hint");
#undef I
	for (i = 0; i < sizeof(asgi.methods) / sizeof(asgi.methods[0]); i++)
		if ((asgi.methods[i] = intern(asgi_method_names[i])) == NULL)
			goto out;
	if ((asgi.disconnected = PyErr_NewExceptionWithDoc(
	    "bridge.ClientDisconnected", "send() after the client went away "
	    "(ASGI HTTP spec 2.4)", PyExc_OSError, NULL)) == NULL)
		goto out;
	/* The constant part of every scope; "asgi" is shared: no
	 * framework writes to it, and a copy per request is measurable.
	 * The other keys are there too, None until scope_new() sets them:
	 * a copy then has room for them all, where adding them one by one
	 * grew the copy's table twice per request.  Their order is
	 * uvicorn's. */
	if ((asgi.scope_proto = PyDict_New()) == NULL ||
	    (a = Py_BuildValue("{s:s,s:s}", "version", "3.0", "spec_version",
	    "2.5")) == NULL ||
	    PyDict_SetItem(asgi.scope_proto, asgi.k_type, asgi.s_http) == -1 ||
	    PyDict_SetItem(asgi.scope_proto, asgi.k_asgi, a) == -1)
		goto out;
	{
		PyObject *const later[] = { asgi.k_http_version,
		    asgi.k_server, asgi.k_client, asgi.k_scheme,
		    asgi.k_method, asgi.k_root_path, asgi.k_path,
		    asgi.k_raw_path, asgi.k_query_string, asgi.k_headers,
		    asgi.k_state, asgi.k_extensions };

		for (i = 0; i < sizeof(later) / sizeof(later[0]); i++)
			if (PyDict_SetItem(asgi.scope_proto, later[i],
			    Py_None) == -1)
				goto out;
	}
	if ((asgi.ext_proto = PyDict_New()) == NULL)
		goto out;
	if ((v = PyDict_New()) == NULL)
		goto out;
	/* Offered only when this bridge's gateway has the calls. */
	asgi.has_trailers = py.srv->size > offsetof(struct bg_server,
	    trailers) && py.srv->trailers != NULL;
	asgi.has_early_hint = py.srv->size > offsetof(struct bg_server,
	    informational) && py.srv->informational != NULL;
	asgi.has_fields = py.srv->size > offsetof(struct bg_server, fields) &&
	    py.srv->fields != NULL;
	if (PyDict_SetItem(asgi.ext_proto, asgi.s_pathsend, v) == -1 ||
	    PyDict_SetItem(asgi.ext_proto, asgi.s_zerocopysend, v) == -1 ||
	    (asgi.has_trailers && PyDict_SetItem(asgi.ext_proto,
	    asgi.s_trailers_msg, v) == -1) ||
	    (asgi.has_early_hint && PyDict_SetItem(asgi.ext_proto,
	    asgi.s_early_hint, v) == -1)) {
		Py_DECREF(v);
		goto out;
	}
	Py_DECREF(v);
	if ((asgi.state = PyDict_New()) == NULL)
		goto out;
	rc = 0;
out:
	Py_XDECREF(a);
	Py_XDECREF(res);
	Py_XDECREF(code);
	return rc;
}

int
asgi_forced(void)
{
	return asgi.forced;
}

/* In each worker: the loop, then lifespan startup.  GIL held.
 * Returns 0, -1 after logging, or BG_FATAL after logging the message of
 * lifespan.startup.failed: the application refused to start, and
 * bridge stops (specs/lifespan.rst: the server should log the message
 * and exit), whenever a worker starts. */
int
asgi_worker_init(void)
{
	PyObject *fn, *cls, *res = NULL;
	const char *kind, *text;
	int rc = -1;

	if (py.srv->size <= offsetof(struct bg_server, loop_run_once) ||
	    py.srv->loop_fd == NULL || py.srv->loop_run_once == NULL ||
	    py.srv->on_event == NULL || py.srv->finish == NULL) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: this bridge cannot "
		    "run ASGI applications (no asynchronous gateway)");
		return -1;
	}
	fn = PyDict_GetItemString(asgi.helpers, "new_loop");
	if ((asgi.loop = PyObject_CallFunction(fn, "s", asgi.loop_kind)) ==
	    NULL) {
		py_log_exception(NULL, strcmp(asgi.loop_kind, "uvloop") == 0 ?
		    "--asgi-loop uvloop: cannot start uvloop (Debian: apt "
		    "install python3-uvloop)" : "cannot start the asyncio "
		    "loop");
		return -1;
	}
	if ((asgi.call_soon = PyObject_GetAttrString(asgi.loop,
	    "call_soon")) == NULL ||
	    (asgi.call_later = PyObject_GetAttrString(asgi.loop,
	    "call_later")) == NULL ||
	    (asgi.create_task = PyObject_GetAttrString(asgi.loop,
	    "create_task")) == NULL ||
	    (asgi.get_task_factory = PyObject_GetAttrString(asgi.loop,
	    "get_task_factory")) == NULL ||
	    (asgi.task_type = PyRun_String("asyncio.Task", Py_eval_input,
	    asgi.helpers, asgi.helpers)) == NULL ||
	    (asgi.task_kw = Py_BuildValue("(ss)", "loop", "name")) == NULL ||
	    (asgi.create_future = PyObject_GetAttrString(asgi.loop,
	    "create_future")) == NULL ||
	    (asgi.tick_fn = PyCFunction_New(&tick_def, NULL)) == NULL ||
	    (asgi.timer_fn = PyCFunction_New(&timer_def, NULL)) == NULL) {
		py_log_exception(NULL, "asgi: setting up the loop failed");
		return -1;
	}
	cls = PyDict_GetItemString(asgi.helpers, "Lifespan");
	if ((asgi.lifespan = PyObject_CallFunctionObjArgs(cls, py.app,
	    asgi.loop, NULL)) == NULL ||
	    (res = PyObject_CallMethod(asgi.lifespan, "startup", NULL)) ==
	    NULL) {
		py_log_exception(NULL, "asgi: lifespan startup failed");
		goto out;
	}
	if (!PyArg_ParseTuple(res, "ss", &kind, &text)) {
		py_log_exception(NULL, "asgi: lifespan startup");
		goto out;
	}
	if (strcmp(kind, "failed") == 0) {
		py.srv->log(NULL, BG_LOG_ERROR, "python: ASGI lifespan "
		    "startup failed: %s", text[0] != '\0' ? text :
		    "(no message)");
		rc = BG_FATAL;
		goto out;
	}
	if (strcmp(kind, "ok") == 0) {
		Py_DECREF(asgi.state);
		if ((asgi.state = PyObject_GetAttrString(asgi.lifespan,
		    "state")) == NULL || !PyDict_Check(asgi.state)) {
			py_log_exception(NULL, "asgi: lifespan state");
			goto out;
		}
		py.srv->log(NULL, BG_LOG_DEBUG, "python: ASGI lifespan "
		    "startup complete");
	} else {
		/* Spec: an application that raises (or returns) instead
		 * of answering does not do lifespan; carry on without. */
		const char *last = text, *p;

		for (p = text; *p != '\0'; p++)
			if (*p == '\n' && p[1] != '\0')
				last = p + 1;
		py.srv->log(NULL, BG_LOG_INFO, "python: the application does "
		    "not support ASGI lifespan (it %s%s%.*s); serving without",
		    kind, last[0] != '\0' ? ": " : "",
		    (int)strcspn(last, "\n"), last);
	}
	rc = 0;
out:
	Py_XDECREF(res);
	return rc;
}

/* After run()'s loop: lifespan shutdown, bounded. */
static void
lifespan_shutdown(void)
{
	PyObject *res;
	const char *kind, *text;

	if (asgi.lifespan == NULL)
		return;
	res = PyObject_CallMethod(asgi.lifespan, "shutdown", "d",
	    asgi.graceful);
	if (res == NULL || !PyArg_ParseTuple(res, "ss", &kind, &text)) {
		py_log_exception(NULL, "asgi: lifespan shutdown failed");
		Py_XDECREF(res);
		return;
	}
	if (strcmp(kind, "failed") == 0 || strcmp(kind, "raised") == 0)
		py.srv->log(NULL, BG_LOG_ERROR, "python: ASGI lifespan "
		    "shutdown failed: %s", text);
	else if (strcmp(kind, "timeout") == 0)
		py.srv->log(NULL, BG_LOG_ERROR, "python: ASGI lifespan "
		    "shutdown did not complete within %.0f s", asgi.graceful);
	Py_DECREF(res);
}

int
asgi_run(void *ctx)
{
	PyObject *res, *fd;
	int rc = -1;

	(void)ctx;
	if (py_enter() == -1)
		return -1;
	if ((fd = PyLong_FromLong(py.srv->loop_fd())) == NULL)
		goto out;
	res = PyObject_CallMethod(asgi.loop, "add_reader", "OO", fd,
	    asgi.tick_fn);
	Py_DECREF(fd);
	if (res == NULL)
		goto out;
	Py_DECREF(res);
	kick();
	if ((res = PyObject_CallMethod(asgi.loop, "run_forever", NULL)) ==
	    NULL)
		goto out;
	Py_DECREF(res);
	if ((res = PyObject_CallMethod(asgi.loop, "remove_reader", "i",
	    py.srv->loop_fd())) != NULL)
		Py_DECREF(res);
	PyErr_Clear();
	if (asgi.timer != NULL) {
		res = PyObject_CallMethodNoArgs(asgi.timer, asgi.s_cancel);
		Py_XDECREF(res);
		Py_CLEAR(asgi.timer);
		PyErr_Clear();
	}
	lifespan_shutdown();
	rc = 0;
out:
	if (rc == -1)
		py_log_exception(NULL, "asgi: the event loop failed");
	py_leave();
	return rc;
}
