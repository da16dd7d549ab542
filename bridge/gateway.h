/*
 * bridge gateway ABI: the one seam between bridge and application modules.
 *
 * A module is a shared object that exports one symbol,
 *
 *	const struct bg_module *bg_module_entry(void);
 *
 * bridge dlopen()s the object, calls bg_module_entry() and checks that
 * abi_version equals BG_ABI_VERSION and that size is at least the size of
 * the struct it knows.  A module built against an older header of the same
 * ABI version therefore keeps loading: structs only grow at their end.
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

#define BG_ABI_VERSION 1

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

/* Return values of handle() and of server calls. */
#define BG_OK 0
#define BG_ERROR (-1)

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
	 * Returns 0 or -1 (the worker exits and the master backs off). */
	int (*worker_init)(void *ctx);

	/* Handle one request.  Returns BG_OK, or BG_ERROR when the request
	 * failed: if nothing was sent the client gets 500, otherwise the
	 * response is cut short.  Returning without start_response() gives
	 * the client 502. */
	int (*handle)(void *ctx, bg_request *r);

	/* Once in each worker before it exits.  May be NULL. */
	void (*worker_fini)(void *ctx);
};

/* Symbol every module exports. */
#define BG_MODULE_ENTRY "bg_module_entry"
const struct bg_module *bg_module_entry(void);
typedef const struct bg_module *(*bg_module_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* BRIDGE_GATEWAY_H */
