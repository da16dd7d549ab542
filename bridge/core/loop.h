/*
 * Event loop: epoll for readiness, and timeout queues for deadlines.
 *
 * Every timeout in bridge is one of a few fixed durations (idle, read,
 * write), so each duration has its own queue in deadline order: arming a
 * timer appends to its queue's tail, expiry pops from the head, both O(1).
 *
 * Callbacks must not free the object whose callback is running: mark it
 * and let loop_defer() free it after the current round.
 */
#ifndef BRIDGE_LOOP_H
#define BRIDGE_LOOP_H

#include <stdint.h>

struct loop;
struct loop_io;

typedef void (*loop_io_fn)(struct loop *l, struct loop_io *io,
    uint32_t events);

struct loop_io {
	int fd;
	uint32_t events;	/* EPOLL* mask registered */
	loop_io_fn fn;
};

struct loop_timer;
typedef void (*loop_timer_fn)(struct loop *l, struct loop_timer *t);

struct loop_timer {
	struct loop_timer *prev, *next;
	struct loop_tq *q;	/* NULL when not armed */
	uint64_t deadline;	/* ms, CLOCK_MONOTONIC */
	loop_timer_fn fn;
};

struct loop_tq {
	struct loop_timer *head, *tail;
	uint64_t ms;		/* duration of every timer in the queue */
};

#define LOOP_TQ_MAX 8

struct loop_deferred {
	struct loop_deferred *next;
	void (*fn)(void *);
	void *arg;
	unsigned queued : 1;	/* on the list (loop_defer_node) */
	unsigned owned : 1;	/* the caller's memory: not freed */
};

/* A timer of any duration (a module's, through the gateway ABI): kept
 * in one list in deadline order, fine for the few a module arms. */
struct loop_mtimer {
	struct loop_mtimer *prev, *next;
	uint64_t deadline;
	void (*fn)(void *arg);
	void *arg;
};

struct loop {
	int epfd;
	int stop;
	uint64_t now;		/* ms, updated every round */
	struct loop_tq tq[LOOP_TQ_MAX];
	int ntq;
	struct loop_deferred *deferred;
	struct loop_mtimer *mtimers, *mtimers_tail;
};

int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Register, change, remove an fd.  Return 0 or -1. */
int loop_add(struct loop *l, struct loop_io *io, uint32_t events);
int loop_mod(struct loop *l, struct loop_io *io, uint32_t events);
int loop_del(struct loop *l, struct loop_io *io);

/* A new queue for timers of duration ms; NULL past LOOP_TQ_MAX. */
struct loop_tq *loop_tq_new(struct loop *l, uint64_t ms);
/* Arm t on queue q (re-arms if already armed). */
void loop_timer_arm(struct loop *l, struct loop_tq *q, struct loop_timer *t);
void loop_timer_stop(struct loop_timer *t);

/* Run fn(arg) after the current round of callbacks.  Returns 0 or -1. */
int loop_defer(struct loop *l, void (*fn)(void *), void *arg);

/* The same with the caller's node (d->fn, d->arg set): never fails, and
 * a node already queued stays queued once. */
void loop_defer_node(struct loop *l, struct loop_deferred *d);
/* Take a queued node off the list (its owner goes away first). */
void loop_defer_cancel(struct loop *l, struct loop_deferred *d);

/* Arm t to run t->fn(t->arg) ms from now (t->fn, t->arg set by the
 * caller); loop_mtimer_stop() before it ran.  The loop unlinks t before
 * calling fn, which may arm it again or free it. */
void loop_mtimer_arm(struct loop *l, struct loop_mtimer *t, uint64_t ms);
void loop_mtimer_stop(struct loop *l, struct loop_mtimer *t);

/*
 * Block until fd is ready for events (POLLIN/POLLOUT), for code that runs
 * outside the loop (a module writing more than a client takes).  Returns
 * 0, or -1 with errno (ETIMEDOUT after timeout_s seconds).
 */
int loop_wait_fd(int fd, short events, unsigned timeout_s);

/* Monotonic milliseconds. */
uint64_t loop_clock_ms(void);

/* Run until l->stop is set; returns 0, or -1 if epoll fails. */
int loop_run(struct loop *l);

/*
 * One round: wait up to wait_ms (-1: until an event or timer; 0: not at
 * all) for events, run their callbacks, the timers due and the deferred
 * work.  *next_ms, if not NULL, receives how long the loop may sleep
 * before its next timer (-1: no timer; 0: work is waiting).  Returns 1
 * once l->stop is set, 0 otherwise, -1 if epoll fails.
 */
int loop_run_once(struct loop *l, int wait_ms, int *next_ms);

#endif /* BRIDGE_LOOP_H */
