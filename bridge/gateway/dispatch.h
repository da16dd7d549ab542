/*
 * Request dispatch: how a front end hands a request to the module, and
 * the bookkeeping of the requests in it.  With --threads 1 a job runs
 * at once on the loop thread; otherwise on an application thread, and
 * its done() comes back on the loop thread.  Each thread that runs the
 * module has a slot saying which request it runs, for the worker's
 * --timeout handler (dispatch_abandon) and the scoreboard.
 *
 * The worker sets it up (dispatch_init, dispatch_start); the front ends
 * (http_conn.c, fcgi_conn.c) call the rest.  Nothing here knows of
 * processes: what a finished request means to the worker (--max-requests,
 * --max-worker-memory) is the done hook it gives dispatch_init.
 */
#ifndef BRIDGE_DISPATCH_H
#define BRIDGE_DISPATCH_H

#include <stddef.h>

struct loop;
struct req;
struct scoreboard_slot;

/*
 * A request handed to the application.  run() calls the module; done()
 * finishes the response.  With --threads 1 both run at once on the loop
 * thread; otherwise run() runs on an application thread and done() back
 * on the loop thread, and until then the front end leaves the
 * connection alone (it is the application thread's).
 */
struct dispatch_job {
	void (*run)(struct dispatch_job *j);
	void (*done)(struct dispatch_job *j);
	struct dispatch_job *next;
};

/*
 * Before the first request: slot is the scoreboard slot that shows the
 * oldest request in the module and counts module calls (NULL: none);
 * done runs on the loop thread each time a response is complete (NULL:
 * nothing).  Installs the gateway's own_pgid().
 */
void dispatch_init(struct scoreboard_slot *slot, void (*done)(void));

/* Start config.threads application threads whose finished jobs come
 * back on l (none with --threads 1).  Returns 0, or -1 and errno. */
int dispatch_start(struct loop *l);

/* Run j as above. */
void dispatch_submit(struct dispatch_job *j);

/*
 * Front ends bracket every module call.  If the master finds the request
 * running past --timeout it signals the worker, which (when nothing of
 * the response has gone out yet) writes pending[0..pending_len), then
 * answer[0..answer_len) to fd, and exits: the client gets 504 and the
 * worker is replaced.  answer may be NULL (TLS: no plaintext answer).
 * All buffers must stay valid until dispatch_request_end().
 */
void dispatch_request_begin(struct req *r, int fd, const void *pending,
    size_t pending_len, const void *answer, size_t answer_len);
void dispatch_request_end(void);
/* An asynchronous request ended (it never ran on a thread the timeout
 * handler watches): counted in the scoreboard. */
void dispatch_request_counted(void);

/* On the loop thread once a request's response is complete: runs the
 * done hook of dispatch_init(). */
void dispatch_request_done(void);

/*
 * The --timeout handler's part (a signal handler: async-signal-safe
 * calls only): every request in the module is abandoned, the process
 * groups it owns are killed, and those that have sent nothing get their
 * answer (504).  The caller then exits.
 */
void dispatch_abandon(void);

#endif /* BRIDGE_DISPATCH_H */
