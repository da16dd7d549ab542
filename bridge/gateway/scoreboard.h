/*
 * Scoreboard: memory shared by the master and its children (mapped
 * MAP_SHARED before the first fork), one slot per worker and a head
 * written by the master.  No locks: a field has one writer process
 * (busy_since, pid, state: the worker; restarts: the master) or is a
 * counter updated with relaxed atomic adds (a worker's threads, and an
 * old worker retiring in the same slot, may add at once).  Readers (the
 * master's timeout check, the --stats process) take each field with one
 * aligned 64-bit load; a snapshot is not atomic as a whole.
 */
#ifndef BRIDGE_SCOREBOARD_H
#define BRIDGE_SCOREBOARD_H

#include <stdint.h>

/* Latency histogram upper bounds, in microseconds (the last bin counts
 * the rest: +Inf). */
#define SCOREBOARD_BUCKETS_US \
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, \
	1000000, 2500000, 5000000, 10000000
#define SCOREBOARD_BUCKETS 13	/* 12 bounds + Inf */

/* What a slot's worker is doing (busy is told by busy_since). */
enum scoreboard_state {
	SCOREBOARD_EMPTY = 0,	/* no worker (never started, or exited) */
	SCOREBOARD_STARTING,	/* forked, starting the application */
	SCOREBOARD_READY	/* serving */
};

/* Status classes: 1xx..5xx, then anything else (no status sent). */
#define SCOREBOARD_CLASSES 6

/* Why the master replaced a worker (stats.c names them). */
enum scoreboard_recycle {
	SCOREBOARD_RECYCLE_REQUESTS,	/* --max-requests served */
	SCOREBOARD_RECYCLE_MEMORY,	/* RSS passed --max-worker-memory */
	SCOREBOARD_RECYCLE_TIMEOUT,	/* a request ran past --timeout */
	SCOREBOARD_RECYCLE_RELOAD,	/* --reload: a source file changed */
	SCOREBOARD_RECYCLE_CRASH,	/* died otherwise */
	SCOREBOARD_RECYCLE_MAX
};

struct scoreboard_slot {
	volatile uint64_t busy_since;	/* ms (monotonic) a request began
					 * in the module, 0 when idle */
	volatile uint64_t loop_turned;	/* ms an asynchronous module's
					 * loop last turned (worker.h's
					 * heartbeat), 0: not watched */
	volatile uint64_t requests;	/* module calls (timeouts, tests) */
	volatile uint64_t stopping_since; /* ms it began to stop, by
					 * itself or told (the master
					 * kills it --graceful-timeout
					 * later), 0: serving */
	volatile int32_t pid;
	volatile int32_t state;		/* enum scoreboard_state */
	/* The worker that wrote stopping_since, written after it: a slot
	 * the master re-spawns while its old worker still runs (a fork
	 * under way) must not have the new worker stopping for it. */
	volatile int32_t stopping_pid;
	/* Written by the master: times this slot's worker was replaced. */
	volatile uint64_t restarts;
	/* Written by the worker: its resident memory, read after requests
	 * at most once a second (0: not read yet). */
	volatile uint64_t rss_bytes;
	/* Written by the master: why this slot's last worker was replaced,
	 * an enum scoreboard_recycle + 1 (0: never). */
	volatile int32_t last_recycle;
	/* --stats counters, of finished requests. */
	uint64_t in_flight;		/* taken by the application, not
					 * yet finished */
	uint64_t classes[SCOREBOARD_CLASSES];
	uint64_t buckets[SCOREBOARD_BUCKETS];	/* not cumulative */
	uint64_t duration_us;		/* sum */
	uint64_t bytes;			/* response body bytes */
	/* Written by a worker before it exits WORKER_EXIT_FATAL, read by
	 * the master once it reaped it: the application's reason. */
	char fatal[256];
} __attribute__((aligned(64)));	/* no false sharing between workers */

/* Written by the master only. */
struct scoreboard_head {
	volatile int32_t workers;	/* configured now (TTIN/TTOU) */
	volatile int32_t master_pid;
	volatile uint64_t started_ms;	/* monotonic, this image's start */
	volatile uint64_t restarts;	/* all workers' */
	/* Workers replaced, by enum scoreboard_recycle. */
	volatile uint64_t recycles[SCOREBOARD_RECYCLE_MAX];
	/* 1 from the moment this master began to stop (TERM, INT, QUIT;
	 * not a reload): --health-path answers 503 (health.h). */
	volatile int32_t stopping;
};

/* Map the head and n slots shared with the children; exits on failure. */
void scoreboard_init(int n);
/* The head; NULL before scoreboard_init. */
struct scoreboard_head *scoreboard_head(void);
/* Slot i (0 <= i < n); NULL before scoreboard_init. */
struct scoreboard_slot *scoreboard_slot(int i);
/* Number of slots. */
int scoreboard_size(void);

/*
 * A worker's own slot, which the two calls below update; until it is set
 * (CGI program mode, no --stats) they do nothing.
 */
void scoreboard_attach(struct scoreboard_slot *s);
/* True when requests are counted: front ends take the clock then. */
int scoreboard_counting(void);
/* A request was taken to be answered (on the worker's loop thread). */
void scoreboard_request_begin(void);
/*
 * It finished with status (0: none sent), bytes of body, us after it
 * began.  Exactly once per scoreboard_request_begin().
 */
void scoreboard_request_end(int status, uint64_t bytes, uint64_t us);

#endif /* BRIDGE_SCOREBOARD_H */
