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
};

struct loop {
	int epfd;
	int stop;
	uint64_t now;		/* ms, updated every round */
	struct loop_tq tq[LOOP_TQ_MAX];
	int ntq;
	struct loop_deferred *deferred;
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

#endif /* BRIDGE_LOOP_H */
