/*
 * Worker process: one event loop holding every connection of every front
 * end, accepting on the shared listeners, running the module for each
 * request once the request has fully arrived.
 */
#ifndef BRIDGE_WORKER_H
#define BRIDGE_WORKER_H

#include "listen.h"
#include "loop.h"

struct worker {
	struct loop loop;
	int index;		/* 0..workers-1 */
	int nconns;
	int stopping;		/* graceful stop: finish, accept nothing */
	int stop_late;		/* its last second: what waits on a client
				   was cut, idle connections close at once */
	struct loop_tq *tq_read;
	struct loop_tq *tq_header;
	struct loop_tq *tq_idle;
	struct loop_tq *tq_write;
	struct loop_tq *tq_drain;	/* idle connections while stopping */
	struct loop_tq *tq_request;	/* an async request in the module
					   (--timeout); NULL: no limit */
};

extern struct worker worker;

/* A connection closed: lets the worker resume accepting, or exit once
 * stopping and idle. */
void worker_conn_closed(void);

struct req;

/*
 * Front ends bracket every module call.  If the master finds the request
 * running past --timeout it signals the worker, which (when nothing of
 * the response has gone out yet) writes pending[0..pending_len), then
 * answer[0..answer_len) to fd, and exits: the client gets 504 and the
 * worker is replaced.  answer may be NULL (TLS: no plaintext answer).
 * All buffers must stay valid until worker_request_end().
 */
void worker_request_begin(struct req *r, int fd, const void *pending,
    size_t pending_len, const void *answer, size_t answer_len);
void worker_request_end(void);
/* An asynchronous request ended (it never ran on a thread the timeout
 * handler watches): counted in the scoreboard. */
void worker_request_counted(void);

/* On the loop thread once a request's response is complete: counts it
 * for --max-requests. */
void worker_request_done(void);

/*
 * A request handed to the application.  run() calls the module; done()
 * finishes the response.  With --threads 1 both run at once on the loop
 * thread; otherwise run() runs on an application thread and done() back
 * on the loop thread, and until then the front end leaves the
 * connection alone (it is the application thread's).
 */
struct worker_job {
	void (*run)(struct worker_job *j);
	void (*done)(struct worker_job *j);
	struct worker_job *next;
};

void worker_dispatch(struct worker_job *j);



/* Run a worker until told to stop; never returns. */
void worker_main(int index) __attribute__((noreturn));

/*
 * The master's stop and reopen signals (TERM, INT, QUIT, HUP, USR1,
 * USR2) blocked and read through a non-blocking signalfd, which is
 * returned (-1 on failure).  Workers and the --stats process alike.
 */
int worker_signalfd(void);

/*
 * Leave a forked child (a worker, the --stats process) with _exit(), so
 * that nothing of the master's (a preloaded application) runs its exit
 * handlers, but first do what exit() would have done for the tools: the
 * LeakSanitizer check in an ASan build, the gcov dump in a coverage
 * build (CFLAGS -DBRIDGE_GCOV_DUMP).  Not async-signal-safe.
 */
void worker_exit(int status) __attribute__((noreturn));

/*
 * A stopping worker keeps idle connections this long: a request already
 * on its way (a keep-alive client, nginx's upstream connection) is still
 * answered, with the connection closed after it, rather than reset.
 */
#define WORKER_DRAIN_MS 1000

/*
 * The heartbeat of a worker running an asynchronous module: its
 * requests share the loop thread, so an application that blocks the
 * loop (a coroutine calling time.sleep()) stalls them all, and no
 * request's timer can fire.  The loop records in the scoreboard that it
 * turned, this often; the master replaces a worker whose loop stood
 * still for longer than --timeout and two of these.
 */
#define WORKER_HEARTBEAT_MS 1000

/* Exit codes a worker uses to tell the master why it ended. */
#define WORKER_EXIT_OK 0
#define WORKER_EXIT_INIT 3	/* module init failed: back off */
#define WORKER_EXIT_TIMEOUT 4	/* a request ran past --timeout */
#define WORKER_EXIT_RELOAD 5	/* --reload: a source file changed */
#define WORKER_EXIT_MEMORY 6	/* RSS passed --max-worker-memory */
#define WORKER_EXIT_FATAL 7	/* the application refused to start
				   (BG_FATAL): stop bridge; the reason is
				   in the scoreboard slot's fatal */

#endif /* BRIDGE_WORKER_H */
