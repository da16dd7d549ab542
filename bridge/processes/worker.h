/*
 * Worker process: one event loop holding every connection of every front
 * end, accepting on the shared listeners and handing them to the front
 * ends (protocols/), which run the module for each request through
 * dispatch.h.  The worker decides when to stop (signals, --max-requests,
 * --max-worker-memory, --reload) and tells the connections through
 * conn.h's conn_host.
 */
#ifndef BRIDGE_WORKER_H
#define BRIDGE_WORKER_H

#include "listen.h"
#include "loop.h"

/*
 * This worker: its index and the loop it owns.  Its connections' side of
 * it (the loop pointer, the timer queues, the stop) is conn.h's
 * conn_host; how requests reach the module is dispatch.h's.
 */
struct worker {
	struct loop loop;
	int index;		/* 0..workers-1 */
};

extern struct worker worker;

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
