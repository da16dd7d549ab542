/*
 * bridge gateway ABI: the one seam between bridge and application modules.
 *
 * A module is a shared object that exports one symbol,
 *
 *	const struct bg_module *bg_module_entry(void);
 *
 * bridge dlopen()s the object, calls bg_module_entry() and checks that
 * abi_version is one it serves (BG_ABI_VERSION_MIN..BG_ABI_VERSION) and
 * that size is at least the size of the struct it knows.  Structs only
 * grow at their end, so a module built against an older header keeps
 * loading: an ABI 1 module runs exactly as before ABI 2 existed.
 *
 * This is PEP 3333 (WSGI) expressed in C:
 *
 *	environ			bg_var(), bg_var_at()	request variables
 *	wsgi.input		read()			streamed request body
 *	wsgi.errors		log()			error log, with request id
 *	start_response()	start_response()	status + headers, replaceable
 *	iterable / write()	write()			body bytes
 *	wsgi.file_wrapper	sendfile()		zero-copy where possible
 *	iterable.close()	on_finish()		always runs
 *
 * Threads: a request is handled by one thread at a time; every server call
 * for a request must come from the thread that is running its handle()
 * (or a thread it hands the request to while handle() waits).  Calls may
 * block (read, write, sendfile); they never call back into the module.
 *
 * Ownership: every pointer the server hands out (variable names and values,
 * the request handle) stays valid until handle() returns and the finish
 * hooks have run; it is read-only to the module.  Every pointer the module
 * hands to the server (status reason, header arrays, write buffers) is
 * copied before the call returns.
 *
 * ABI 2 adds asynchronous requests (the "ABI 2" parts below): a
 * module that sets BG_MODULE_ASYNC is called on the worker's event-loop
 * thread as soon as a request's head has arrived, may return BG_PENDING
 * and finish the request later, reads the body as it arrives, and never
 * blocks in a write.  Such a module can watch its own descriptors and arm
 * timers on the worker's loop, or run its own loop (asyncio) with the
 * worker's loop embedded in it.
 *
 * This header includes only the C library headers it needs and nothing of
 * bridge's internals.
 */
#ifndef BRIDGE_GATEWAY_H
#define BRIDGE_GATEWAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BG_ABI_VERSION 2
#define BG_ABI_VERSION_MIN 1	/* oldest ABI the server still loads */

/* Opaque handle of one request; valid until the finish hooks have run. */
typedef struct bg_request bg_request;

/* One request variable: CGI/1.1 meta-variable (RFC 3875 section 4.1),
 * HTTP_* header, or bridge.* extension.  Neither string is NUL-terminated
 * by contract (they are today, but use the lengths). */
struct bg_var {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* One response header given to start_response(). */
struct bg_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Log levels for log(). */
enum bg_log_level {
	BG_LOG_ERROR = 0,
	BG_LOG_WARN = 1,
	BG_LOG_INFO = 2,
	BG_LOG_DEBUG = 3
};

/* Flags for start_response(). */
#define BG_REPLACE 0x1 /* replace an earlier status/headers (exc_info) */
#define BG_TRAILERS 0x2 /* ABI 2: trailer fields follow the body
			   (trailers()): the body goes out chunked where
			   the protocol carries trailers (HTTP/1.1 without
			   a Content-Length); elsewhere they are dropped */

/* Return values of handle() and of server calls. */
#define BG_OK 0
#define BG_ERROR (-1)
/* ABI 2, asynchronous modules only.  From handle(): the request stays
 * open and the module ends it later with finish().  From write(),
 * sendfile() and flush(): the bytes were taken, but more than
 * high_water bytes now wait for the client; write again after
 * BG_EV_DRAINED. */
#define BG_PENDING 1
#define BG_AGAIN 1

/* ABI 2: what the event callback of an asynchronous request is told
 * (a mask: several can come at once). */
#define BG_EV_BODY 0x1	  /* body bytes, or the body's end, can be read */
#define BG_EV_DRAINED 0x2 /* queued output fell to high_water / 2 or less */
#define BG_EV_GONE 0x4	  /* the client went away, or the request ran past
			     --timeout (then with BG_EV_CANCEL; answered
			     504 if nothing was sent): nothing more reaches
			     the client; finish() is still owed.  Work the
			     client asked for may go on (a write to a
			     database) */
#define BG_EV_STOP 0x8	  /* the worker is stopping (TERM, reload,
			     --max-requests): the client is still there;
			     end the request soon (a last message, then
			     finish()), or it is cut when
			     --graceful-timeout runs out.  A module that
			     ignores it keeps ABI 2's first behaviour */

#define BG_EV_CANCEL 0x10 /* stop working on the request, and finish():
			     it ran past --timeout before its response
			     started (with BG_EV_GONE when its client was
			     still there; alone, later, when the client
			     had left first: the rest of --timeout from
			     then), or its client left and the worker is
			     stopping.  Only ever after or with
			     BG_EV_GONE.  A module that ignores it keeps
			     ABI 2's first behaviour */

/* ABI 2: readiness for watch(), as epoll's EPOLLIN/EPOLLOUT/... */
#define BG_WATCH_IN 0x001
#define BG_WATCH_OUT 0x004
#define BG_WATCH_ERR 0x008
#define BG_WATCH_HUP 0x010

/* ABI 2: a descriptor watched, a timer armed on the worker's loop. */
typedef struct bg_watch bg_watch;
typedef struct bg_timer bg_timer;

/* ABI 2: the event callback of an asynchronous request. */
typedef void (*bg_event_fn)(bg_request *r, unsigned events, void *arg);

/* <poll.h>'s, for client_gone(); a module that calls it includes that. */
struct pollfd;

/*
 * What the server offers a module.  One instance per process, valid from
 * init() until fini() returns.
 */
struct bg_server {
	uint32_t abi_version; /* BG_ABI_VERSION of the server */
	uint32_t size;	      /* sizeof(struct bg_server) of the server */

	/* Number of variables of the request; bg_var_at() takes 0..n-1. */
	size_t (*var_count)(bg_request *r);

	/* The i-th variable, or NULL past the end.  Pointer valid as the
	 * request. */
	const struct bg_var *(*var_at)(bg_request *r, size_t i);

	/* Value of variable `name` (NUL-terminated), or NULL if absent.
	 * *len, if not NULL, receives its length. */
	const char *(*var)(bg_request *r, const char *name, size_t *len);

	/* Read up to n body bytes.  Returns the count, 0 at the end of the
	 * body (also for a chunked body of unknown length), -1 on error.
	 * Never blocks past the end of the body. */
	ssize_t (*read)(bg_request *r, void *buf, size_t n);

	/* Total body length if known, -1 if it was sent without one. */
	int64_t (*content_length)(bg_request *r);

	/* Log one line to the error log, prefixed with the request id.
	 * r may be NULL outside a request (init, worker_init). */
	void (*log)(bg_request *r, int level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

	/*
	 * Start the response.  status is 100..999 (1xx is refused), reason
	 * may be NULL for the standard phrase.  Header names must be tokens
	 * (RFC 9110 section 5.1) and values free of CR, LF and NUL; anything
	 * else is refused with -1 and a log line, nothing is sent.
	 * A second call returns -1 unless flags has BG_REPLACE; with
	 * BG_REPLACE it replaces the first call's status and headers as long
	 * as no byte has been sent, and returns -1 once one has (the module
	 * then gives up: PEP 3333's "re-raise exc_info").
	 * Returns 0 or -1.
	 */
	int (*start_response)(bg_request *r, int status, const char *reason,
	    const struct bg_header *headers, size_t nheaders, int flags);

	/* Send body bytes; start_response() must have succeeded.  May block
	 * until the client takes them.  Returns 0, or -1 when the client has
	 * gone or the write failed (the module should stop and return). */
	int (*write)(bg_request *r, const void *buf, size_t n);

	/* Send n bytes of fd from offset off (zero-copy where the transport
	 * allows).  fd stays the module's.  Returns 0 or -1. */
	int (*sendfile)(bg_request *r, int fd, off_t off, size_t n);

	/* Register fn(arg) to run when the request ends, whatever way it
	 * ends: after handle() returns, also when the client went away.
	 * Hooks run in reverse order of registration.  Returns 0 or -1. */
	int (*on_finish)(bg_request *r, void (*fn)(void *arg), void *arg);

	/* Unique id of the request, as it appears in the logs. */
	const char *(*request_id)(bg_request *r);

	/* Process model, as WSGI's multithread/multiprocess/run_once. */
	int multithread;
	int multiprocess;
	int run_once;

	/*
	 * Send what has been written so far without waiting for more
	 * (PEP 3333 "Buffering and Streaming": a block is transmitted
	 * before the next is asked for).  bridge otherwise holds a small
	 * response back to give it a Content-Length.  Does not wait for a
	 * slow client: output it cannot take is queued or spooled.
	 * Returns 0, or -1 when the client has gone.  Present when
	 * size > offsetof(struct bg_server, flush).
	 */
	int (*flush)(bg_request *r);

	/*
	 * Tell the server about a process group the module started for
	 * this request (a CGI script).  If the server abandons the request
	 * -- it ran past --timeout and the worker is replaced -- it kills
	 * the group (SIGKILL) so nothing outlives the worker.  The module
	 * still kills and reaps its children itself in every other case.
	 * At most 8 groups per request.  Returns 0 or -1.  Present when
	 * size > offsetof(struct bg_server, own_pgid).
	 */
	int (*own_pgid)(bg_request *r, pid_t pgid);

	/*
	 * Name a file the application was loaded from (a script, a
	 * source file it imported, the file an import error points at),
	 * so that bridge --reload restarts the worker when it changes.
	 * path is absolute or relative to the working directory; the
	 * server copies it, and a path named twice counts once.  A native
	 * module's own .so is watched without asking.  May be called from
	 * init() (also when init() then fails: the worker keeps answering
	 * 500 until a named file changes), worker_init() or any thread
	 * while requests run.  NULL unless the server runs with --reload:
	 * check before calling.  Returns 0 or -1.  Present when
	 * size > offsetof(struct bg_server, watch_file).
	 */
	int (*watch_file)(const char *path);

	/*
	 * Has the client gone away?  write() only finds out when it
	 * writes; a module that works for long without writing (a CGI
	 * script that sleeps) asks here, and stops its work when told so.
	 * Gone means: the client closed its connection (also a half-close:
	 * as nginx, bridge takes a client's FIN during a request as an
	 * abort), or the web server gave the request up (closed its
	 * FastCGI connection, or sent FCGI_ABORT_REQUEST for it).  Once
	 * gone, write() and flush() fail and the response is dropped.
	 * Never blocks.  If pfd is not NULL it receives a descriptor and
	 * events to add to the module's own poll(2): when poll reports any
	 * revents on it, ask again.  The descriptor is the server's: only
	 * poll it.  pfd->fd is -1 when the server cannot watch this
	 * request (ask now and then instead, or not at all).  From the
	 * thread running handle().  Returns 1 when gone, 0 otherwise.
	 * Present when size > offsetof(struct bg_server, client_gone).
	 */
	int (*client_gone)(bg_request *r, struct pollfd *pfd);

	/*
	 * ABI 2.  Everything below is present when
	 * size > offsetof(struct bg_server, on_event), and is called from
	 * the worker's loop thread only (init(), worker_init(), handle(),
	 * the module's event, watch and timer callbacks, or its own loop's
	 * callbacks inside run()).  The calls above keep their meaning for
	 * synchronous requests; for a request of a BG_MODULE_ASYNC module:
	 *   read()	never blocks: the count, 0 at the body's end, or -1
	 *		with errno EAGAIN when nothing has arrived yet
	 *		(BG_EV_BODY follows).  The server buffers a bounded
	 *		amount and stops reading from the client until the
	 *		module reads (backpressure).
	 *   write(), sendfile(), flush()
	 *		never block: the bytes are queued (or sent at once),
	 *		and the call returns BG_OK, BG_AGAIN above high_water,
	 *		or -1 once the client has gone.
	 *   client_gone() works as for synchronous requests.
	 * The handle stays valid until finish() has been called (even
	 * after BG_EV_GONE), and not after: finish() runs the on_finish
	 * hooks.  Server calls never call the module back from inside
	 * themselves: callbacks come from the loop, one at a time.
	 */

	/* Set the request's event callback (NULL: none).  Events that
	 * happened before it was set are reported at once (on the next
	 * turn of the loop).  Returns 0 or -1. */
	int (*on_event)(bg_request *r, bg_event_fn fn, void *arg);

	/* End a pending request: rc BG_OK completes the response (a 502
	 * if it never started one), BG_ERROR cuts it (500 if nothing was
	 * sent).  Queued output still drains to the client afterwards.
	 * Call exactly once, also after BG_EV_GONE. */
	void (*finish)(bg_request *r, int rc);

	/* Bytes written and not yet taken by the client. */
	size_t (*queued)(bg_request *r);

	/* write() returns BG_AGAIN once queued() is above this; BG_EV_DRAINED
	 * comes when it is back at high_water / 2. */
	size_t high_water;

	/* Watch fd for events (BG_WATCH_IN | BG_WATCH_OUT) on the worker's
	 * loop; fn(arg, revents) runs on each readiness (level-triggered).
	 * NULL on error.  watch_set() changes the events (0: paused);
	 * unwatch() stops and frees the watch (the fd stays the module's,
	 * and may be closed after). */
	bg_watch *(*watch)(int fd, unsigned events,
	    void (*fn)(void *arg, unsigned revents), void *arg);
	int (*watch_set)(bg_watch *w, unsigned events);
	void (*unwatch)(bg_watch *w);

	/* Run fn(arg) once, ms milliseconds from now, on the worker's
	 * loop.  NULL on error.  timer_cancel() before it ran frees it;
	 * after it ran it is already freed (do not cancel). */
	bg_timer *(*timer)(uint64_t ms, void (*fn)(void *arg), void *arg);
	void (*timer_cancel)(bg_timer *t);

	/*
	 * Embedding, for a module that brings its own event loop and sets
	 * run() (below): loop_fd() is the worker loop's descriptor (an
	 * epoll fd), readable whenever the worker loop has work.  The
	 * module watches it in its own loop (asyncio's add_reader) and
	 * calls loop_run_once() when it is readable, when the timeout
	 * loop_run_once() last gave passes, and soon after any server call
	 * it made from outside a server callback (write, finish, ...: their
	 * effect on the wire happens there).  loop_run_once() never waits;
	 * it sets *timeout_ms to when it wants to run again at the latest
	 * (-1: only when loop_fd is readable) and returns 1 once the worker
	 * is to stop (graceful stop, reload, --max-requests): run() then
	 * returns.  Returns 0 otherwise.
	 */
	int (*loop_fd)(void);
	int (*loop_run_once)(int *timeout_ms);

	/*
	 * An informational (1xx) response before the final one: 103 Early
	 * Hints (RFC 8297) with Link fields, say.  status is 102..199;
	 * fields are checked as start_response()'s.  Sent at once where
	 * the protocol carries it (HTTP/1.1); returns 1 when it went out,
	 * 0 when this front end or client cannot take it (FastCGI, CGI,
	 * HTTP/1.0: dropped, as RFC 9110 section 15.2 asks), -1 on a bad
	 * call (after the response started, invalid fields).
	 */
	int (*informational)(bg_request *r, int status,
	    const struct bg_header *headers, size_t nheaders);

	/*
	 * Trailer fields of a response started with BG_TRAILERS, given
	 * before the request ends (synchronous: before handle() returns;
	 * asynchronous: before finish()).  Checked as start_response()'s
	 * fields, and framing or routing fields (Content-Length,
	 * Transfer-Encoding, Host, ...) are refused.  Returns 0 (sent, or
	 * dropped where the response cannot carry them) or -1.
	 */
	int (*trailers)(bg_request *r, const struct bg_header *headers,
	    size_t nheaders);

	/*
	 * The request's header fields as the client sent them, where the
	 * front end parsed them itself (HTTP, HTTPS): in the order
	 * received, a field sent twice as two entries, names as received
	 * (compare them without regard to case), values without their
	 * leading and trailing whitespace (RFC 9112 section 5).  This is
	 * what ASGI's scope["headers"] wants; the HTTP_* variables keep
	 * CGI's shape (one per name, repetitions joined).  Differences:
	 * "Host" carries the authority the request is for (from an
	 * absolute-form target, RFC 9112 section 3.2.2, or a trusted
	 * proxy's X-Forwarded-Host), added at the front if the client
	 * sent none; proxy fields from an untrusted peer are dropped, as
	 * their variables are, and so are the ones whose name, with '_'
	 * read as '-', only mimics one (X_Forwarded_Proto).  *n receives
	 * the count.  Returns NULL (and *n 0) when the front end has no
	 * such list -- FastCGI and CGI, whose web server already joined
	 * the fields into HTTP_* variables: use those then.  Pointers
	 * valid as the request's variables; read-only.  Present when
	 * size > offsetof(struct bg_server, fields).
	 */
	const struct bg_header *(*fields)(bg_request *r, size_t *n);
};

/*
 * What a module offers the server.  Returned by bg_module_entry(); must
 * stay valid until the module is unloaded.
 */
struct bg_module {
	uint32_t abi_version; /* BG_ABI_VERSION the module was built for */
	uint32_t size;	      /* sizeof(struct bg_module) */
	const char *name;     /* short name for logs, e.g. "hello" */

	/* Once per process that loads the module, before fork (in the
	 * master) or in each worker; arg is the user's --module-arg or
	 * adapter argument (may be NULL).  *ctx receives the module's state.
	 * Returns 0, or -1 after logging why (bridge exits). */
	int (*init)(const struct bg_server *srv, const char *arg, void **ctx);

	/* Once in each worker after fork, before the first request.
	 * Returns 0 or -1 (the worker exits and the master backs off);
	 * ABI 2: or BG_FATAL (below). */
	int (*worker_init)(void *ctx);

	/* Handle one request.  Returns BG_OK, or BG_ERROR when the request
	 * failed: if nothing was sent the client gets 500, otherwise the
	 * response is cut short.  Returning without start_response() gives
	 * the client 502.  An asynchronous module may return BG_PENDING
	 * and end the request later with finish(). */
	int (*handle)(void *ctx, bg_request *r);

	/* Once in each worker before it exits.  May be NULL.  An
	 * asynchronous module may still finish() its pending requests
	 * and cancel its timers and watches here. */
	void (*worker_fini)(void *ctx);

	/*
	 * ABI 2 (present when abi_version >= 2).  Both are read after
	 * init() returned, so init() may set them in its own struct (an
	 * adapter learns only from the application whether it is
	 * asynchronous).
	 */
	uint32_t flags;		/* BG_MODULE_* */

	/* NULL, or the module's own event loop: called in each worker
	 * after worker_init() instead of the worker's loop; it must embed
	 * the worker's loop (loop_fd, loop_run_once) and return once
	 * loop_run_once() returned 1.  Returns 0, or -1 (logged). */
	int (*run)(void *ctx);
};

/* The module is asynchronous: handle() runs on the loop thread as soon as
 * the request head has arrived (the body follows through read() and
 * BG_EV_BODY), must not block, and may return BG_PENDING.  --threads
 * does not apply to it. */
#define BG_MODULE_ASYNC 0x1

/* ABI 2: what worker_init() returns when the application itself refused
 * to start (an ASGI lifespan.startup.failed), after logging why with
 * log(): another try cannot help, so bridge stops, whenever a worker
 * says it (at start, after a reload, in a worker replacing another),
 * and exits 1 with that log line repeated.  From an ABI 1 module it is
 * -1 as any other failure. */
#define BG_FATAL (-2)

/* Symbol every module exports. */
#define BG_MODULE_ENTRY "bg_module_entry"
const struct bg_module *bg_module_entry(void);
typedef const struct bg_module *(*bg_module_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* BRIDGE_GATEWAY_H */
