/*
 * The PROXY protocol stage of HTTP and HTTPS connections: see
 * proxy_conn.h.  The header's bytes are taken off the socket as they are
 * known to belong to it (proxy_parse() said "need more" over them, or
 * gave the header's length), never one more: the epoll registration is
 * level-triggered, so bytes only peeked at would wake us again at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "http_conn.h"
#include "listen.h"
#include "log.h"
#include "proxy_conn.h"
#include "proxy_proto.h"

struct proxy_conn {
	struct loop_io io;	/* first: the loop hands us &io */
	struct loop_timer timer;
	struct proxy_conn *prev, *next;
	const struct listener *l;
	struct sockaddr_storage peer;	/* the socket's, for logs */
	size_t have;		/* header bytes taken off the socket */
	int closed;
	uint8_t buf[PROXY_HEADER_MAX];
};

static struct proxy_conn *pending;
static struct proxy_allow allow;
static int allow_ready;

/* "1.2.3.4:5678", "[::1]:5678" or "unix", for logs. */
static const char *
peer_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, n, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, n, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else
		snprintf(out, n, "%s", ss->ss_family == AF_UNIX ? "unix" :
		    "?");
	return out;
}

static void
conn_free(void *arg)
{
	free(arg);
}

/* Forget c; the socket is closed unless it was handed on. */
static void
conn_end(struct proxy_conn *c, int close_fd)
{
	c->closed = 1;
	loop_timer_stop(&c->timer);
	loop_del(conn_host.loop, &c->io);
	if (close_fd)
		close(c->io.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		pending = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (loop_defer(conn_host.loop, conn_free, c) == -1)
		log_error("http: leaking a connection: out of memory");
}

static void
refuse(struct proxy_conn *c, int level, const char *why)
{
	char peer[INET6_ADDRSTRLEN + 16];

	log_msg(level, NULL, "http: PROXY protocol from %s on %s: %s; "
	    "connection closed", peer_text(&c->peer, peer, sizeof(peer)),
	    c->l->name, why);
	conn_end(c, 1);
	conn_host_closed();
}

/* The header is in and off the socket: on to the HTTP front end. */
static void
hand_off(struct proxy_conn *c, const struct proxy_header *h)
{
	const struct listener *l = c->l;
	int fd = c->io.fd;

	if (config.log_level >= LOG_LEVEL_DEBUG) {
		char peer[INET6_ADDRSTRLEN + 16], from[INET6_ADDRSTRLEN + 16];
		struct sockaddr_storage ss;

		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, &h->src, sizeof(h->src));
		log_debug("http: PROXY v%d from %s on %s: client %s",
		    h->version, peer_text(&c->peer, peer, sizeof(peer)),
		    l->name, h->local ? "not given (LOCAL/UNKNOWN)" :
		    peer_text(&ss, from, sizeof(from)));
	}
	conn_end(c, 0);
	/* The connection moves, it does not close: no
	 * conn_host_closed(), which could resume accepting or end a
	 * stopping worker's loop. */
	conn_host.nconns--;
	if (http_conn_accept_from(fd, l, h->local ? NULL : &h->src.sa,
	    h->local ? NULL : &h->dst.sa) == -1) {
		conn_host.nconns++;
		conn_host_closed();
	}
}

/* Take exactly n bytes, known to be waiting, off the socket. */
static int
take(struct proxy_conn *c, size_t n)
{
	ssize_t r;

	do
		r = recv(c->io.fd, c->buf + c->have, n, 0);
	while (r == -1 && errno == EINTR);
	if (r != (ssize_t)n)
		return -1;
	c->have += n;
	return 0;
}

static void
conn_io(struct loop *lp, struct loop_io *io, uint32_t events)
{
	struct proxy_conn *c = (struct proxy_conn *)io;
	struct proxy_header h;
	ssize_t n, r;

	(void)lp;
	(void)events;
	while (!c->closed) {
		n = recv(c->io.fd, c->buf + c->have, sizeof(c->buf) -
		    c->have, MSG_PEEK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			refuse(c, LOG_LEVEL_DEBUG, n == 0 ? "closed before "
			    "its header" : strerror(errno));
			return;
		}
		r = proxy_parse(c->buf, c->have + (size_t)n, sizeof(c->buf),
		    &h);
		if (r == PROXY_INVALID) {
			refuse(c, LOG_LEVEL_INFO, h.why);
			return;
		}
		if (r == PROXY_AGAIN) {
			/* All of it is header: take it, look again. */
			if (c->have + (size_t)n == sizeof(c->buf) ||
			    take(c, (size_t)n) == -1)
				refuse(c, LOG_LEVEL_INFO, "header too long");
			continue;
		}
		if (take(c, (size_t)r - c->have) == -1) {
			refuse(c, LOG_LEVEL_INFO, "the header could not be "
			    "read");
			return;
		}
		hand_off(c, &h);
		return;
	}
}

static void
conn_timeout(struct loop *lp, struct loop_timer *t)
{
	struct proxy_conn *c = (struct proxy_conn *)(void *)((char *)t -
	    offsetof(struct proxy_conn, timer));

	(void)lp;
	refuse(c, conn_host.stopping ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
	    conn_host.stopping ? "no header before the worker stopped" :
	    "no header within --header-timeout");
}

int
proxy_conn_accept(int fd, const struct listener *l)
{
	struct sockaddr_storage peer;
	struct proxy_conn *c;
	socklen_t len = sizeof(peer);
	char err[160], text[INET6_ADDRSTRLEN + 16];

	if (!allow_ready) {
		/* Checked by config.c already: cannot fail here. */
		if (proxy_allow_parse(&allow, config.proxy_allow_from ?
		    config.proxy_allow_from : PROXY_ALLOW_DEFAULT, err,
		    sizeof(err)) == -1)
			log_error("--proxy-allow-from: %s", err);
		allow_ready = 1;
	}
	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == -1) {
		close(fd);	/* already reset by the client */
		return -1;
	}
	if (!proxy_allowed(&allow, (struct sockaddr *)&peer)) {
		log_info("http: PROXY protocol from %s on %s: not an address "
		    "of --proxy-allow-from; connection closed",
		    peer_text(&peer, text, sizeof(text)), l->name);
		close(fd);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("http: out of memory for a connection");
		close(fd);
		return -1;
	}
	c->io.fd = fd;
	c->io.fn = conn_io;
	c->timer.fn = conn_timeout;
	c->l = l;
	c->peer = peer;
	if (loop_add(conn_host.loop, &c->io, EPOLLIN) == -1) {
		log_error("http: epoll_ctl: %s", strerror(errno));
		close(fd);
		free(c);
		return -1;
	}
	c->next = pending;
	if (pending)
		pending->prev = c;
	pending = c;
	conn_host.nconns++;
	loop_timer_arm(conn_host.loop, conn_host.tq_header, &c->timer);
	return 0;
}

void
proxy_conn_shutdown(void)
{
	struct proxy_conn *c;

	for (c = pending; c != NULL; c = c->next)
		loop_timer_arm(conn_host.loop, conn_host.tq_drain, &c->timer);
}
