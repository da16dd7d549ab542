#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_EVENTS 256

int
loop_wait_fd(int fd, short events, unsigned timeout_s)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, (int)timeout_s * 1000);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

uint64_t
loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	l->now = loop_clock_ms();
	return 0;
}

void
loop_fini(struct loop *l)
{
	if (l->epfd != -1)
		close(l->epfd);
	l->epfd = -1;
}

int
loop_add(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	io->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int
loop_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (io->events == events)
		return 0;
	io->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

int
loop_del(struct loop *l, struct loop_io *io)
{
	io->events = 0;
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

struct loop_tq *
loop_tq_new(struct loop *l, uint64_t ms)
{
	/* One queue per purpose, even for equal durations: a queue tells
	 * the connection which timer it is on. */
	if (l->ntq == LOOP_TQ_MAX)
		return NULL;
	l->tq[l->ntq].ms = ms;
	return &l->tq[l->ntq++];
}

void
loop_timer_stop(struct loop_timer *t)
{
	struct loop_tq *q = t->q;

	if (q == NULL)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		q->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		q->tail = t->prev;
	t->prev = t->next = NULL;
	t->q = NULL;
}

void
loop_timer_arm(struct loop *l, struct loop_tq *q, struct loop_timer *t)
{
	loop_timer_stop(t);
	t->deadline = l->now + q->ms;
	t->q = q;
	t->prev = q->tail;
	t->next = NULL;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
}

int
loop_defer(struct loop *l, void (*fn)(void *), void *arg)
{
	struct loop_deferred *d;

	if ((d = malloc(sizeof(*d))) == NULL)
		return -1;
	d->fn = fn;
	d->arg = arg;
	d->queued = 1;
	d->owned = 0;
	d->next = l->deferred;
	l->deferred = d;
	return 0;
}

void
loop_defer_node(struct loop *l, struct loop_deferred *d)
{
	if (d->queued)
		return;
	d->queued = 1;
	d->owned = 1;
	d->next = l->deferred;
	l->deferred = d;
}

void
loop_defer_cancel(struct loop *l, struct loop_deferred *d)
{
	struct loop_deferred **pp;

	if (!d->queued)
		return;
	for (pp = &l->deferred; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	d->queued = 0;
}

static void
run_deferred(struct loop *l)
{
	struct loop_deferred *d;

	while ((d = l->deferred) != NULL) {
		l->deferred = d->next;
		d->queued = 0;
		if (d->owned) {
			/* The node may be freed by its own callback. */
			d->fn(d->arg);
			continue;
		}
		d->fn(d->arg);
		free(d);
	}
}

void
loop_mtimer_stop(struct loop *l, struct loop_mtimer *t)
{
	if (t->prev == NULL && l->mtimers != t)
		return;		/* not armed */
	if (t->prev)
		t->prev->next = t->next;
	else
		l->mtimers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		l->mtimers_tail = t->prev;
	t->prev = t->next = NULL;
}

void
loop_mtimer_arm(struct loop *l, struct loop_mtimer *t, uint64_t ms)
{
	struct loop_mtimer *at;

	loop_mtimer_stop(l, t);
	t->deadline = loop_clock_ms() + ms;
	/* From the tail: timers of one module mostly share a duration. */
	for (at = l->mtimers_tail; at != NULL && at->deadline > t->deadline;
	    at = at->prev)
		;
	t->prev = at;
	if (at != NULL) {
		t->next = at->next;
		at->next = t;
	} else {
		t->next = l->mtimers;
		l->mtimers = t;
	}
	if (t->next != NULL)
		t->next->prev = t;
	else
		l->mtimers_tail = t;
}

static int
next_timeout(struct loop *l)
{
	uint64_t min = UINT64_MAX;
	int i;

	if (l->deferred != NULL)
		return 0;
	for (i = 0; i < l->ntq; i++)
		if (l->tq[i].head != NULL && l->tq[i].head->deadline < min)
			min = l->tq[i].head->deadline;
	if (l->mtimers != NULL && l->mtimers->deadline < min)
		min = l->mtimers->deadline;
	if (min == UINT64_MAX)
		return -1;
	if (min <= l->now)
		return 0;
	/* Coarse timers: wake at most every few ms past the deadline. */
	return min - l->now > 60000 ? 60000 : (int)(min - l->now);
}

static void
expire(struct loop *l)
{
	struct loop_mtimer *m;
	struct loop_timer *t;
	int i;

	for (i = 0; i < l->ntq; i++) {
		while ((t = l->tq[i].head) != NULL && t->deadline <= l->now) {
			loop_timer_stop(t);
			t->fn(l, t);
		}
	}
	while ((m = l->mtimers) != NULL && m->deadline <= l->now) {
		loop_mtimer_stop(l, m);
		m->fn(m->arg);
	}
}

int
loop_run_once(struct loop *l, int wait_ms, int *next_ms)
{
	struct epoll_event ev[LOOP_EVENTS];
	struct loop_io *io;
	int i, n, t;

	if (l->stop)
		return 1;
	/* The round's callbacks took time: a timer that fell due meanwhile
	 * (one armed for 0 ms among them) is run without waiting. */
	l->now = loop_clock_ms();
	t = next_timeout(l);
	if (wait_ms >= 0 && (t == -1 || wait_ms < t))
		t = wait_ms;
	n = epoll_wait(l->epfd, ev, LOOP_EVENTS, t);
	l->now = loop_clock_ms();
	if (n == -1 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		io = ev[i].data.ptr;
		io->fn(l, io, ev[i].events);
	}
	expire(l);
	run_deferred(l);
	if (next_ms != NULL)
		*next_ms = next_timeout(l);
	return l->stop ? 1 : 0;
}

int
loop_run(struct loop *l)
{
	int rc;

	while ((rc = loop_run_once(l, -1, NULL)) == 0)
		;
	run_deferred(l);
	return rc == -1 ? -1 : 0;
}
