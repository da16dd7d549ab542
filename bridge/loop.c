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
	d->next = l->deferred;
	l->deferred = d;
	return 0;
}

static void
run_deferred(struct loop *l)
{
	struct loop_deferred *d;

	while ((d = l->deferred) != NULL) {
		l->deferred = d->next;
		d->fn(d->arg);
		free(d);
	}
}

static int
next_timeout(struct loop *l)
{
	uint64_t min = UINT64_MAX;
	int i;

	for (i = 0; i < l->ntq; i++)
		if (l->tq[i].head != NULL && l->tq[i].head->deadline < min)
			min = l->tq[i].head->deadline;
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
	struct loop_timer *t;
	int i;

	for (i = 0; i < l->ntq; i++) {
		while ((t = l->tq[i].head) != NULL && t->deadline <= l->now) {
			loop_timer_stop(t);
			t->fn(l, t);
		}
	}
}

int
loop_run(struct loop *l)
{
	struct epoll_event ev[LOOP_EVENTS];
	struct loop_io *io;
	int i, n;

	while (!l->stop) {
		n = epoll_wait(l->epfd, ev, LOOP_EVENTS, next_timeout(l));
		l->now = loop_clock_ms();
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			io = ev[i].data.ptr;
			io->fn(l, io, ev[i].events);
		}
		expire(l);
		run_deferred(l);
	}
	run_deferred(l);
	return 0;
}
