/*
 * Request model: the protocol-neutral request every front end builds
 * (variables + body) and the response state behind the gateway ABI.
 *
 * Flow: a front end creates a req, adds variables and body bytes, then
 * calls req_run(), which hands it to the module.  The module's
 * start_response/write/sendfile calls are validated here and passed to
 * the front end through its resp_sink.  req_destroy() runs the finish
 * hooks and frees everything.
 */
#ifndef BRIDGE_REQ_H
#define BRIDGE_REQ_H

#include <stdint.h>
#include <sys/types.h>

#include "gateway.h"
#include "body.h"
#include "pool.h"
#include "loop.h"

struct req;
struct req_header;

/* How a front end puts a response on its wire.  Each returns 0 or -1
 * (client gone, write failed). */
struct resp_sink {
	/* Send status and headers (r->status, r->reason, r->headers). */
	int (*head)(struct req *r);
	/* Send body bytes. */
	int (*body)(struct req *r, const void *p, size_t n);
	/* Send bytes of a file: 0 (taken), -1, or 1 when the front end
	 * leaves it to req, which reads the file and calls body() (as
	 * when this is NULL). */
	int (*file)(struct req *r, int fd, off_t off, size_t n);
	/* Push held output towards the client now; NULL: nothing held. */
	int (*flush)(struct req *r);
	/* Drop the response if none of it has reached the wire yet and
	 * return 0 (a 500 can still be sent), else -1; may be NULL. */
	int (*discard)(struct req *r);
	/* On the module's thread: 1 when the client (or the web server)
	 * has given the request up, else 0 with *pfd set to what to poll
	 * for a change (fd -1: nothing).  Never blocks.  May be NULL. */
	int (*gone)(struct req *r, struct pollfd *pfd);
	/* Asynchronous requests (ABI 2), on the loop thread: the module
	 * wrote, read body bytes or finished; the front end looks at the
	 * request again after the current round (never from inside this
	 * call).  NULL: the front end has no asynchronous requests. */
	void (*kick)(struct req *r);
	/* Bytes written and not yet taken by the client. */
	size_t (*queued)(struct req *r);
	/* Send an informational response (r->info_*) now: 1 sent, 0 the
	 * front end or client cannot, -1 failed.  NULL: cannot. */
	int (*info)(struct req *r, int status, const struct req_header *h,
	    size_t n);
};

/* What req_run() reports to the front end. */
enum req_outcome {
	REQ_COMPLETE,	/* whole response sent through the sink */
	REQ_CUT,	/* response cut short: close the connection */
	REQ_PENDING	/* an asynchronous module answers later */
};

/* Body bytes an asynchronous request buffers before the front end stops
 * reading from the client (backpressure). */
#define REQ_BODY_WINDOW 65536
/* Output an asynchronous request queues before write() says BG_AGAIN
 * (the gateway's high_water). */
#define REQ_HIGH_WATER 262144

struct req_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct req {
	struct pool *pool;
	char id[32];

	struct bg_var *vars;
	size_t nvars;
	size_t vars_cap;
	struct bg_header *fields;	/* as received (fields()), or NULL */
	size_t nfields;
	unsigned field_room : 1;	/* fields[-1] is free */

	struct body body;
	int64_t content_length;	/* request body length, -1 unknown */

	/* response */
	int status;
	const char *reason;
	struct req_header *headers;
	size_t nheaders;
	int64_t resp_length;	/* app's Content-Length, -1 if none */
	uint64_t resp_sent;	/* body bytes passed to the sink */
	unsigned started : 1;	/* start_response() succeeded */
	unsigned head_sent : 1;
	unsigned failed : 1;	/* the sink failed: client gone */
	unsigned want_trailers : 1;	/* BG_TRAILERS */
	struct req_header *trailers;	/* from trailers(), or NULL */
	size_t ntrailers;

	const struct resp_sink *sink;
	void *conn;		/* front end's connection, for the sink;
				   NULL once it left an async request */

	/* ABI 2: an asynchronous request */
	unsigned async : 1;	/* the module is BG_MODULE_ASYNC */
	unsigned pending : 1;	/* handle() returned BG_PENDING */
	unsigned finished : 1;	/* finish() was called */
	unsigned concluded : 1;	/* the front end saw it finished */
	unsigned body_done : 1;	/* every body byte is in abody */
	unsigned above_hw : 1;	/* a write returned BG_AGAIN */
	unsigned gone_told : 1;	/* BG_EV_GONE was raised */
	unsigned stop_told : 1;	/* BG_EV_STOP was raised */
	unsigned cancel_told : 1;	/* BG_EV_CANCEL was raised */
	unsigned server_answered : 1;	/* req_send_error()'s response */
	uint64_t handed_at;	/* ms: handle() was called (async) */
	struct loop_mtimer deadline;	/* --timeout once detached */
	struct req *dprev, *dnext;	/* the detached requests' list */
	enum req_outcome outcome;	/* of finish() */
	const char *module_name;
	struct buf *abody;	/* body bytes not read yet (async) */
	unsigned ev_pending;	/* BG_EV_* not delivered yet */
	bg_event_fn ev_fn;
	void *ev_arg;
	struct loop_deferred ev_node;
};

/* The server side of the gateway ABI, given to modules. */
extern struct bg_server req_server;

/* New request with its own pool; NULL on ENOMEM. */
struct req *req_create(const struct resp_sink *sink, void *conn);
/* Run finish hooks, free pool and body. */
void req_destroy(struct req *r);

/*
 * Add a variable (copied); a name added again replaces its value (the
 * last one wins).  Drops HTTP_PROXY (httpoxy) and HTTP_CONTENT_LENGTH/
 * TYPE (RFC 3875 section 4.1.18).
 * Returns 0 or -1.
 */
int req_add_var(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len);
/*
 * The front end's own variables (REQUEST_METHOD, REMOTE_ADDR, ...), made
 * before any that could carry the same name: appended without looking
 * for it (it must not be set yet), and name not copied (a literal, or
 * memory that outlives r).  req_put_var() copies the value;
 * req_put_literal() keeps it too (a literal).  No filtering.
 * Returns 0 or -1.
 */
int req_put_var(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len);
int req_put_literal(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len);
/*
 * Add a variable carrying a request header field (HTTP_*): a name added
 * again is the same field repeated, and its values are joined into one
 * list (RFC 9110 section 5.3): ", " between them, "; " for HTTP_COOKIE.
 * Same filtering as req_add_var().  Returns 0 or -1.
 */
int req_append_var(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len);
/*
 * The header fields as received, for the gateway's fields(): room for n
 * of them in the pool, which the front end fills (names and values in
 * the pool too), as r->fields and r->nfields.  Returns r->fields, or
 * NULL on ENOMEM.
 */
struct bg_header *req_fields_new(struct req *r, size_t n);
/*
 * Set the value of the first field named name (case aside) to value;
 * or, when there is none, add the field at the front (once per
 * request).  name and value must live as long as the request (they are
 * not copied).  For the Host field, when the request is for another
 * authority than the one it named (Host is never repeated: the parser
 * refuses that).  Returns 0, or -1 with errno ENOSPC (no room left in
 * front) or EINVAL (r has no fields).
 */
int req_field_set(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len);
/* Look a variable up by name; NULL if absent. */
const struct bg_var *req_find_var(struct req *r, const char *name,
    size_t name_len);

/*
 * Hand the request to the module and complete the response: 500 when the
 * module failed before sending anything, 502 when it returned without
 * starting a response.  Returns how the response ended.
 */
enum req_outcome req_run(struct req *r, const struct bg_module *m,
    void *ctx);

/*
 * Asynchronous modules (ABI 2).  req_async_init() gives req the worker's
 * loop, once.  req_start() hands an async request to the module when its
 * head has arrived: REQ_PENDING while the module answers later (the
 * front end's kick() learns when it finished: r->finished, r->outcome),
 * else as req_run().  The front end reports body bytes with
 * req_body_add() / req_body_end(), the client's departure with
 * req_gone(), and drained output with req_drained().  A front end that
 * closes with the request still in the module calls req_detach(): the
 * request lives on until the module's finish(), which destroys it.
 */
struct loop;
void req_async_init(struct loop *l);
enum req_outcome req_start(struct req *r, const struct bg_module *m,
    void *ctx);
int req_body_add(struct req *r, const void *p, size_t n);
void req_body_end(struct req *r);
/* Room for body bytes before the window is full. */
size_t req_body_room(const struct req *r);
void req_gone(struct req *r);
/* The module is to stop working on the request (BG_EV_CANCEL, once): it
 * ran past --timeout (the front end answers 504, or cuts, and calls this
 * before it lets the request go), or, detached, the worker stops. */
void req_cancel(struct req *r);
/* The worker is stopping: the module hears BG_EV_STOP (once). */
void req_stopping(struct req *r);
void req_drained(struct req *r);
void req_detach(struct req *r);
/* Whether requests are detached and not yet finished by their module. */
int req_detached(void);
/* The worker is stopping: each detached request still in its module,
 * and each detached from now on, hears BG_EV_CANCEL (its client gone,
 * nothing waits for it). */
void req_stop_detached(void);

/*
 * Content-Length value (RFC 9110 section 8.6, 1*DIGIT) into *out.
 * Returns 0, or -1 with errno EINVAL (not digits, empty) or ERANGE
 * (above INT64_MAX).
 */
int req_parse_length(const char *v, size_t n, int64_t *out);

/*
 * RFC 3986 section 5.2.4 remove_dot_segments on the absolute path
 * path[0..n), in place.  Returns the new length, or -1 with errno
 * ERANGE when ".." climbs above "/" (nginx answers that 400) or EINVAL
 * when the path does not start with "/".
 */
ssize_t req_remove_dot_segments(char *path, size_t n);

/* Answer with a short plain-text error page of the given status. */
int req_send_error(struct req *r, int status);

/* Standard reason phrase of a status ("Unknown" if none). */
const char *req_status_reason(int status);

/* Format status and headers as a CGI response head (RFC 3875 section 6:
 * "Status: 200 OK", headers, blank line) into out.  Returns 0 or -1. */
struct buf;
int req_format_cgi_head(struct req *r, struct buf *out);

#endif /* BRIDGE_REQ_H */
