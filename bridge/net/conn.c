/*
 * The connection layer: see conn.h.  What used to be written twice, in
 * http_conn.c and fcgi_conn.c, is here once: the read loop with its
 * carry-over, the flush, the timer by state, the deferred kick, the
 * close and the stop walk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "conn.h"
#include "log.h"

/* Bytes reserved at once in the carry-over buffer. */
#define CONN_CARRY 16384

struct conn_host conn_host;

static struct conn *conns;	/* every open connection, all protocols */
static int shutdown_queued;	/* shutdown_walk() is deferred */
static unsigned char *scratch;	/* one read at a time, shared */
static size_t scratch_size;

void
conn_host_closed(void)
{
	conn_host.nconns--;
	if (conn_host.closed != NULL)
		conn_host.closed();
}

static void
on_timer(struct loop *l, struct loop_timer *t)
{
	struct conn *c = (struct conn *)((char *)t -
	    offsetof(struct conn, timer));

	(void)l;
	c->proto->timeout(c);
}

static void
on_kick(void *arg)
{
	struct conn *c = arg;

	if (!c->closed)
		c->proto->kicked(c);
}

int
conn_open(struct conn *c, int fd, const struct conn_proto *proto,
    loop_io_fn fn, const struct transport *tp, void *tls,
    struct loop_tq *first)
{
	if (scratch_size < proto->scratch) {
		unsigned char *p = realloc(scratch, proto->scratch);

		if (p == NULL)
			return -1;
		scratch = p;
		scratch_size = proto->scratch;
	}
	c->io.fd = fd;
	c->io.fn = fn;
	c->timer.fn = on_timer;
	c->kick.fn = on_kick;
	c->kick.arg = c;
	c->proto = proto;
	c->tp = tp;
	c->tls = tls;
	c->took_at = conn_host.loop->now;
	if (loop_add(conn_host.loop, &c->io, EPOLLIN) == -1) {
		log_error("%s: epoll_ctl: %s", proto->name, strerror(errno));
		return -1;
	}
	c->prev = NULL;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	conn_host.nconns++;
	loop_timer_arm(conn_host.loop, first, &c->timer);
	return 0;
}

static void
conn_free(void *arg)
{
	struct conn *c = arg;

	loop_defer_cancel(conn_host.loop, &c->kick);
	free(c);
}

void
conn_close(struct conn *c, const char *why)
{
	if (c->closed)
		return;
	if (why != NULL)
		log_msg(c->proto->close_log_level, NULL, "%s: fd %d: %s; "
		    "connection closed", c->proto->name, c->io.fd, why);
	c->closed = 1;
	loop_timer_stop(&c->timer);
	loop_del(conn_host.loop, &c->io);
	c->tp->close(c->io.fd, c->tls);
	c->tls = NULL;
	c->proto->release(c);
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* The loop may still hold an event for this connection in the
	 * current round: the memory goes after the round. */
	if (loop_defer(conn_host.loop, conn_free, c) == -1)
		log_error("%s: leaking a connection: out of memory",
		    c->proto->name);
	conn_host_closed();
}

void
conn_read(struct conn *c)
{
	ssize_t n, used;
	unsigned char *p;
	size_t len, room;

	for (;;) {
		if (c->closing || c->closed || c->busy || c->proto->held(c))
			return;
		if (c->in.len > 0) {
			/* Carry-over: read into the connection's buffer. */
			if (buf_reserve(&c->in, CONN_CARRY) == -1) {
				conn_close(c, "out of memory");
				return;
			}
			p = buf_tail(&c->in);
			room = c->in.cap - c->in.off - c->in.len;
		} else {
			p = scratch;
			room = c->proto->scratch;
		}
		c->recv_want = 0;
		n = c->tp->recv(c->io.fd, c->tls, p, room, &c->recv_want);
		if (n == 0) {
			c->proto->eof(c, 0);
			return;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->proto->eof(c, errno);
			return;
		}
		c->got = 1;
		if (c->in.len > 0) {
			c->in.len += (size_t)n;
			p = c->in.data + c->in.off;
			len = c->in.len;
		} else
			len = (size_t)n;
		if ((used = c->proto->input(c, p, len)) == -1)
			return;
		if (p == scratch) {
			if ((size_t)used < len &&
			    buf_append(&c->in, p + used, len - (size_t)used)
			    == -1) {
				conn_close(c, "out of memory");
				return;
			}
		} else {
			buf_consume(&c->in, (size_t)used);
			if (c->in.len == 0)
				buf_free(&c->in);
		}
		/* Drained: a short read and nothing decrypted waiting. */
		if ((size_t)n < room && !c->tp->pending(c->tls))
			return;
	}
}

void
conn_resume(struct conn *c)
{
	ssize_t used;

	if (c->in.len == 0 || c->closing || c->closed || c->busy ||
	    c->proto->held(c))
		return;
	used = c->proto->input(c, c->in.data + c->in.off, c->in.len);
	if (used == -1)
		return;
	buf_consume(&c->in, (size_t)used);
	if (c->in.len == 0)
		buf_free(&c->in);
}

int
conn_pending(const struct conn *c)
{
	return c->out.len > 0 || (c->proto->more_output != NULL &&
	    c->proto->more_output(c));
}

int
conn_flush(struct conn *c)
{
	ssize_t w;
	int rc;

	c->send_want = 0;
	if (c->proto->flush_before != NULL &&
	    (rc = c->proto->flush_before(c)) != 0)
		return rc < 0 ? -1 : 0;	/* 1: out waits behind it */
	while (c->out.len > 0) {
		w = c->tp->send(c->io.fd, c->tls, c->out.data + c->out.off,
		    c->out.len, &c->send_want);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		buf_consume(&c->out, (size_t)w);
		c->sent = 1;
		if (w > 0)
			c->took_at = conn_host.loop->now;
		c->sent_bytes += (size_t)w;
	}
	buf_free(&c->out);
	if (c->proto->flush_after != NULL)
		return c->proto->flush_after(c);
	return 0;
}

int
conn_drain(struct conn *c)
{
	for (;;) {
		size_t before = c->in.len;

		if (conn_flush(c) == -1)
			return -1;
		/* Input held back while output was high is taken now: no
		 * event would bring it back otherwise. */
		if (before == 0 || c->closing || c->proto->held(c))
			return 0;
		conn_resume(c);
		if (c->closed)
			return -1;
		if (c->in.len == before)
			return 0;	/* only part of a unit left */
	}
}

void
conn_timer(struct conn *c)
{
	struct loop_tq *q;
	int progress = 0;

	/* Again while the kernel still held some: a peer that took it
	 * since moves the connection on (to idle, or to the drain of a
	 * graceful stop, which otherwise waited for --write-timeout). */
	if ((c->sent_bytes >= CONN_UNSENT_MIN || c->unsent > 0) &&
	    !conn_pending(c)) {
		size_t now = transport_unsent(c->io.fd);

		if (now < c->unsent)
			c->took_at = conn_host.loop->now;
		c->unsent = now;
	}
	q = c->proto->timer_state(c, &progress);
	c->sent = c->got = 0;
	c->sent_bytes = 0;
	if (q == NULL) {
		loop_timer_stop(&c->timer);
		return;
	}
	if (c->timer.q != q || progress)
		loop_timer_arm(conn_host.loop, q, &c->timer);
}

int
conn_unsent_progress(struct conn *c)
{
	size_t now;

	if (conn_pending(c) || c->unsent == 0)
		return 0;
	/* Our output is all in the kernel's hands: the write state lasts
	 * while the peer takes it. */
	now = transport_unsent(c->io.fd);
	if (now >= c->unsent)
		return 0;
	c->unsent = now;
	c->took_at = conn_host.loop->now;
	conn_timer(c);
	return 1;
}

int
conn_quiet(struct conn *c)
{
	size_t now;

	if (!conn_pending(c) && c->unsent > 0) {
		/* All of it in the kernel: has the peer taken some since? */
		now = transport_unsent(c->io.fd);
		if (now < c->unsent)
			c->took_at = conn_host.loop->now;
		c->unsent = now;
	}
	return conn_host.loop->now - c->took_at >= CONN_DRAIN_MS;
}

void
conn_kick(struct conn *c)
{
	loop_defer_node(conn_host.loop, &c->kick);
}

static void
shutdown_walk(void *arg)
{
	struct conn *c, *next;

	(void)arg;
	shutdown_queued = 0;
	/* Idle connections get the drain window (a request may be on its
	 * way); busy ones close after their answers. */
	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (!c->busy)
			c->proto->update(c);
	}
}

void
conn_shutdown(void)
{
	if (shutdown_queued)
		return;
	if (loop_defer(conn_host.loop, shutdown_walk, NULL) == -1) {
		log_error("stopping: out of memory; idle connections wait "
		    "for their timeout");
		return;
	}
	shutdown_queued = 1;
}

void
conn_stop_cut(int cut[CONN_CUT_MAX])
{
	struct conn *c, *next;

	/* A closed connection's memory lasts until the round ends, so
	 * next stays readable whatever stop_cut() closes. */
	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (c->closed)
			continue;
		cut[c->busy ? CONN_KEPT : c->proto->stop_cut(c)]++;
	}
}
