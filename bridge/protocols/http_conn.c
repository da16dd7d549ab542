/*
 * HTTP/1.1 front end.  Section numbers refer to RFC 9112 (message syntax)
 * and RFC 9110 (semantics).
 *
 * Reading: bytes are parsed from a per-worker scratch buffer; only an
 * unfinished request head or body remainder is copied into the
 * connection, so an idle keep-alive connection owns no buffer.
 *
 * Writing: the module's response is held back until it returns or passes
 * HTTP_HOLD bytes, so that most responses go out as one write with a
 * Content-Length (no chunked framing, no Nagle interplay); longer ones
 * are sent chunked (HTTP/1.1) or close-delimited (HTTP/1.0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "forwarded.h"
#include "forwarded_req.h"
#include "health.h"
#include "http_conn.h"
#include "http_parse.h"
#include "listen.h"
#include "log.h"
#include "module.h"
#include "req.h"
#include "scoreboard.h"
#include "static.h"
#include "tls.h"
#include "transport.h"

#define HTTP_SCRATCH (64 * 1024)
/* Lingering close after a refusal: at most this long in all, each read
 * re-arming the drain window (CONN_DRAIN_MS) as nginx's
 * lingering_time and lingering_timeout. */
#define HTTP_LINGER_MS 10000
#define HTTP_HOLD (64 * 1024)		/* response held back up to this */
#define HTTP_OUT_HIGH (1024 * 1024)	/* module waits above this */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_TARGET 8192
#define HTTP_MAX_HEADER_BYTES (32 * 1024)

/* An IPv4 or IPv6 address (unix sockets have none to report). */
union sockaddr_in46 {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

enum http_state {
	HTTP_HEAD,	/* waiting for a request head */
	HTTP_BODY,	/* Content-Length body */
	HTTP_CHUNKED	/* chunked body */
};

struct http_conn {
	struct conn base;	/* first: the connection layer's */
	struct dispatch_job job;	/* the request handed to the module */
	enum req_outcome outcome;
	uint64_t start;		/* access log clock, 0 when off */
	const struct listener *l;
	struct buf hold;	/* response body held back */
	int spool_fd;		/* output beyond HTTP_OUT_HIGH, or -1 */
	off_t spool_sent;	/* bytes of the spool already sent */
	off_t spool_len;
	struct req *r;		/* request being received or run */
	const struct static_map *smap;	/* r is for a static file */
	struct static_body sbody;	/* file to send after out */
	struct http_chunked chunked;
	uint64_t body_left;
	uint64_t body_got;	/* body bytes of the request so far */
	uint64_t body_start;	/* ms: when the head arrived (a body follows) */
	uint64_t linger_end;	/* ms: lingering stops then at the latest */
	enum http_state state;
	union sockaddr_in46 peer;	/* small: kept by idle connections */
	union sockaddr_in46 local;
	uint8_t minor;		/* HTTP/1.minor of the current request */
	unsigned keep_alive : 1;
	unsigned head_method : 1;
	unsigned no_body : 1;	/* 204/304/HEAD: send no body */
	unsigned held : 1;	/* head formatted, waiting in hold */
	unsigned resp_chunked : 1;
	unsigned linger : 1;	/* close only after reading what the client
				   still sends (a refused request's body) */
	unsigned lingering : 1;	/* answered and half-closed: reading */
	unsigned had_head : 1;	/* a request head arrived on it */
	unsigned waiting : 1;	/* an async request, whole, in the module */
	unsigned request_timer : 1;	/* the timer is the module's --timeout */
	unsigned in_quiet : 1;	/* held, and input came: EPOLLIN off */
	unsigned client_done : 1;	/* held, and the client closed after
					   the whole response: no abort */
};

static void http_io(struct loop *l, struct loop_io *io, uint32_t events);
static void http_update(struct http_conn *c);
static const struct conn_proto http_proto;
static int sink_head(struct req *r);
static int sink_body(struct req *r, const void *p, size_t n);
static int sink_file(struct req *r, int fd, off_t off, size_t n);
static int sink_flush(struct req *r);
static int sink_discard(struct req *r);
static int sink_gone(struct req *r, struct pollfd *pfd);
static void sink_kick(struct req *r);
static size_t sink_queued(struct req *r);
static int sink_info(struct req *r, int status, const struct req_header *h,
    size_t n);
static void async_account(struct http_conn *c, struct req *r);
static void async_timeout(struct http_conn *c);

static const struct resp_sink http_sink = {
	.head = sink_head,
	.body = sink_body,
	.file = sink_file,
	.flush = sink_flush,
	.discard = sink_discard,
	.gone = sink_gone,
	.kick = sink_kick,
	.queued = sink_queued,
	.info = sink_info,
};

/* RFC 9110 section 6.6.1: the Date header, formatted once a second. */
static const char *
date_header(void)
{
	static __thread char line[48];
	static __thread time_t last;
	time_t now = time(NULL);
	struct tm tm;

	if (now != last) {
		gmtime_r(&now, &tm);
		strftime(line, sizeof(line),
		    "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		last = now;
	}
	return line;
}

static void
http_timeout(struct conn *cb)
{
	struct http_conn *c = (struct http_conn *)cb;

	if (c->lingering || c->client_done) {
		conn_close(&c->base, NULL);
		return;
	}
	/* The module's --timeout, armed while it had the request: output
	 * it queued since (its loop turn came after the deadline) is no
	 * client's fault. */
	if (c->request_timer) {
		async_timeout(c);
		return;
	}
	if (conn_unsent_progress(&c->base))
		return;
	if (conn_pending(&c->base) || c->base.unsent > 0)
		conn_close(&c->base, "write timeout: client does not read");
	else if (c->r != NULL)
		conn_close(&c->base, "read timeout: request incomplete");
	else if (c->base.in.len > 0)
		conn_close(&c->base, conn_host.stopping ? "stopping: request "
		    "head incomplete" : "read timeout: request incomplete");
	else
		conn_close(&c->base, NULL);	/* idle keep-alive: quietly */
}

int
http_conn_accept(int fd, const struct listener *l)
{
	return http_conn_accept_from(fd, l, NULL, NULL);
}

/* A PROXY protocol header's address (proxy_conn.c) over the socket's. */
static void
addr_take(union sockaddr_in46 *a, const struct sockaddr *from)
{
	memset(a, 0, sizeof(*a));
	memcpy(a, from, from->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
}

int
http_conn_accept_from(int fd, const struct listener *l,
    const struct sockaddr *peer, const struct sockaddr *local)
{
	const struct transport *tp;
	struct http_conn *c;
	void *tls = NULL;
	socklen_t len;
	int on = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("http: out of memory for a connection");
		close(fd);
		return -1;
	}
	/* Section 9.3 of RFC 9112 aside, a response split over writes
	 * must not wait for an ACK: no Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	len = sizeof(c->peer);
	if (getpeername(fd, &c->peer.sa, &len) == -1 || len > sizeof(c->peer))
		c->peer.sa.sa_family = AF_UNSPEC;
	len = sizeof(c->local);
	if (getsockname(fd, &c->local.sa, &len) == -1 ||
	    len > sizeof(c->local))
		c->local.sa.sa_family = AF_UNSPEC;
	if (peer != NULL)
		addr_take(&c->peer, peer);
	if (local != NULL)
		addr_take(&c->local, local);
	c->l = l;
	c->spool_fd = -1;
	c->sbody.fd = -1;
	tp = &transport_plain;
	if (l->proto == PROTO_HTTPS) {
		tp = tls_transport();
		if ((tls = tls_new(fd)) == NULL) {
			log_error("http: no TLS session: out of memory");
			close(fd);
			free(c);
			return -1;
		}
	}
	if (conn_open(&c->base, fd, &http_proto, http_io, tp, tls,
	    conn_host.tq_header) == -1) {
		tp->close(fd, tls);
		free(c);
		return -1;
	}
	return 0;
}

/* The connection is done with its request.  One still in an asynchronous
 * module is counted now and lives on for it: the module learns
 * (BG_EV_GONE), and its finish() frees it. */
static void
request_leave(struct http_conn *c)
{
	struct req *r = c->r;

	c->r = NULL;
	c->waiting = 0;
	if (r == NULL)
		return;
	if (!r->pending || r->concluded) {
		req_destroy(r);
		return;
	}
	async_account(c, r);
	dispatch_request_done();
	if (!r->finished)
		req_detach(r);
	else
		req_destroy(r);
}

/* Closing: the request, held output, the spool and the file go. */
static void
http_release(struct conn *cb)
{
	struct http_conn *c = (struct http_conn *)cb;

	request_leave(c);
	buf_free(&c->hold);
	if (c->spool_fd != -1)
		close(c->spool_fd);
	c->spool_fd = -1;
	static_body_close(&c->sbody);
}

/*
 * Output.
 */

/* Output waiting beyond out: spooled to disk, or a file. */
static int
http_more_output(const struct conn *cb)
{
	const struct http_conn *c = (const struct http_conn *)cb;

	return c->spool_fd != -1 || c->sbody.fd != -1;
}

/* No more requests are taken from the input until output drains. */
static int
out_full(const struct http_conn *c)
{
	return c->base.out.len >= HTTP_OUT_HIGH || c->spool_fd != -1 ||
	    c->sbody.fd != -1;
}

/* Nothing more is read: an asynchronous request has the connection (the
 * next request waits for it), or the module has not taken the body
 * bytes it was given (backpressure). */
static int
in_held(const struct http_conn *c)
{
	return c->waiting || (c->r != NULL && c->r->pending &&
	    req_body_room(c->r) == 0);
}

/* Send what the socket takes of the spool (which precedes out). */
static int
spool_flush(struct http_conn *c)
{
	char chunk[16384];
	ssize_t w, n;
	off_t left;

	while (c->spool_fd != -1) {
		left = c->spool_len - c->spool_sent;
		if (left == 0) {
			close(c->spool_fd);
			c->spool_fd = -1;
			c->spool_sent = c->spool_len = 0;
			break;
		}
		if (c->base.tls == NULL) {
			/* Zero-copy from the spool to the socket. */
			w = sendfile(c->base.io.fd, c->spool_fd, &c->spool_sent,
			    (size_t)left);
			if (w > 0) {
				c->base.sent = 1;
				c->base.sent_bytes += (size_t)w;
			}
			if (w == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					c->base.send_want = EPOLLOUT;
					return 0;
				}
				return -1;
			}
			continue;
		}
		n = pread(c->spool_fd, chunk, left < (off_t)sizeof(chunk) ?
		    (size_t)left : sizeof(chunk), c->spool_sent);
		if (n <= 0)
			return -1;
		w = c->base.tp->send(c->base.io.fd, c->base.tls, chunk, (size_t)n,
		    &c->base.send_want);
		if (w == -1)
			return errno == EAGAIN ? 0 : -1;
		c->spool_sent += w;
		c->base.sent = 1;
		c->base.sent_bytes += (size_t)w;
	}
	return 0;
}

/* The connection layer's flush_before: the spool goes first; out waits
 * behind it (1) until it is all sent. */
static int
http_flush_before(struct conn *cb)
{
	struct http_conn *c = (struct http_conn *)cb;

	if (spool_flush(c) == -1)
		return -1;
	return c->spool_fd != -1;
}

/* ... and flush_after: a static or sendfile()d file follows out. */
static int
http_flush_after(struct conn *cb)
{
	struct http_conn *c = (struct http_conn *)cb;
	off_t before;
	int rc;

	if (c->sbody.fd == -1)
		return 0;
	/* Bytes of the file the client took are write progress like any
	 * others (--write-timeout). */
	before = c->sbody.off;
	rc = static_body_send(&c->sbody, c->base.io.fd, c->base.tp,
	    c->base.tls, &c->base.send_want);
	if (c->sbody.fd == -1 || c->sbody.off != before) {
		c->base.sent = 1;
		c->base.sent_bytes += CONN_UNSENT_MIN;	/* a file: ask */
	}
	return rc;
}

/*
 * The spool is bounded (--max-spool, as nginx's proxy_max_temp_file_size)
 * rather than fill the disk.  Past it, an application thread (--threads)
 * waits for the client, bounded by --write-timeout: only its own request
 * waits.  With --threads 1 the module runs on the loop thread, where
 * waiting would stall every other connection of the worker (STYLE.md
 * rule 20): the response is cut instead, as for a client gone.
 */
static int
spool_bound(struct http_conn *c)
{
	while (c->spool_fd != -1 &&
	    (uint64_t)(c->spool_len - c->spool_sent) > config.max_spool) {
		if (conn_flush(&c->base) == -1)
			return -1;
		if (c->spool_fd == -1 || (uint64_t)(c->spool_len -
		    c->spool_sent) <= config.max_spool / 2)
			break;
		if (!c->base.busy) {
			log_msg(LOG_LEVEL_WARN, c->r->id, "http: fd %d: the "
			    "client lags more than --max-spool behind; "
			    "response cut (with --threads the application "
			    "would wait for it)", c->base.io.fd);
			errno = ENOBUFS;
			return -1;
		}
		log_msg(LOG_LEVEL_DEBUG, c->r->id, "http: fd %d: past "
		    "--max-spool; the application waits for the client",
		    c->base.io.fd);
		if (loop_wait_fd(c->base.io.fd, c->base.send_want == EPOLLIN ? POLLIN :
		    POLLOUT, config.write_timeout) == -1)
			return -1;
	}
	return 0;
}

/*
 * The module writes more than the client takes: rather than wait for
 * the client (holding the application), move the output to a spool file
 * that the event loop drains after the module returns.
 */
static int
conn_spool(struct http_conn *c)
{
	const uint8_t *p;
	size_t n;
	ssize_t w;

	if (conn_flush(&c->base) == -1)
		return -1;
	if (c->base.out.len <= HTTP_OUT_HIGH / 2)
		return 0;
	if (c->spool_fd == -1) {
		if ((c->spool_fd = body_tmpfile()) == -1)
			return -1;
		c->spool_sent = c->spool_len = 0;
	}
	p = c->base.out.data + c->base.out.off;
	n = c->base.out.len;
	while (n > 0) {
		w = pwrite(c->spool_fd, p, n, c->spool_len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
		c->spool_len += w;
	}
	buf_free(&c->base.out);
	return spool_bound(c);
}

/* Status line and headers; framing headers follow from the caller. */
static int
put_head(struct http_conn *c, struct req *r, const char *framing)
{
	const char *date = NULL, *end;
	size_t i, n, reason_len, date_len = 0, framing_len, end_len;
	unsigned status = (unsigned)r->status;
	char *p;

	/* RFC 9110 section 6.6.1: one Date; the application's own, when
	 * it gave one (a cached response keeps its date). */
	for (i = 0; i < r->nheaders; i++)
		if (r->headers[i].name_len == 4 &&
		    strncasecmp(r->headers[i].name, "Date", 4) == 0)
			break;
	if (i == r->nheaders) {
		date = date_header();
		date_len = strlen(date);
	}
	/* Answered before the whole request body came: the connection
	 * closes after the rest is read and dropped (async_conclude()),
	 * and the head says so (RFC 9110 section 10.1.1), so that a
	 * client does not send, or pipeline, its next request on it. */
	if (c->state != HTTP_HEAD) {
		c->keep_alive = 0;
		c->linger = 1;
	}
	if (!c->keep_alive)
		end = "Connection: close\r\n\r\n";
	else if (c->minor == 0)
		end = "Connection: keep-alive\r\n\r\n";
	else
		end = "\r\n";
	end_len = strlen(end);
	reason_len = strlen(r->reason);
	framing_len = framing != NULL ? strlen(framing) : 0;
	/* Measured first, then written in one piece. */
	n = 13 + reason_len + 2 + date_len + framing_len + end_len;
	for (i = 0; i < r->nheaders; i++)
		n += r->headers[i].name_len + 2 + r->headers[i].value_len + 2;
	if (status < 100 || status > 999) {
		errno = EINVAL;
		return -1;
	}
	if (buf_reserve(&c->base.out, n) == -1)
		return -1;
	p = (char *)buf_tail(&c->base.out);
	/* Section 4: we answer with our highest version, HTTP/1.1. */
	memcpy(p, "HTTP/1.1 ", 9);
	p[9] = (char)('0' + status / 100);
	p[10] = (char)('0' + status / 10 % 10);
	p[11] = (char)('0' + status % 10);
	p[12] = ' ';
	p += 13;
	memcpy(p, r->reason, reason_len);
	p += reason_len;
	memcpy(p, "\r\n", 2);
	p += 2;
	if (date != NULL) {
		memcpy(p, date, date_len);
		p += date_len;
	}
	for (i = 0; i < r->nheaders; i++) {
		const struct req_header *h = &r->headers[i];

		memcpy(p, h->name, h->name_len);
		p += h->name_len;
		memcpy(p, ": ", 2);
		p += 2;
		memcpy(p, h->value, h->value_len);
		p += h->value_len;
		memcpy(p, "\r\n", 2);
		p += 2;
	}
	if (framing_len > 0) {
		memcpy(p, framing, framing_len);
		p += framing_len;
	}
	memcpy(p, end, end_len);
	c->base.out.len += n;
	return 0;
}

/* RFC 9110 sections 6.4.1, 15.3.5, 15.4.5: no content in 1xx, 204, 304. */
static int
status_has_body(int status)
{
	return !(status < 200 || status == 204 || status == 304);
}

/* Commit the held head with streaming framing: the response is longer
 * than we hold back. */
static int
commit_streaming(struct http_conn *c, struct req *r)
{
	const char *framing = NULL;

	c->held = 0;
	if (r->resp_length < 0 && !c->no_body) {
		if (c->minor >= 1) {
			c->resp_chunked = 1;
			framing = "Transfer-Encoding: chunked\r\n";
		} else
			c->keep_alive = 0;	/* close-delimited */
	}
	return put_head(c, r, framing);
}

static int
put_body(struct http_conn *c, const void *p, size_t n)
{
	char size[24];
	int k;

	if (c->no_body || n == 0)
		return 0;
	if (!c->resp_chunked)
		return buf_append(&c->base.out, p, n);
	/* Section 7.1: chunk-size CRLF chunk-data CRLF. */
	k = snprintf(size, sizeof(size), "%zx\r\n", n);
	if (buf_append(&c->base.out, size, (size_t)k) == -1 ||
	    buf_append(&c->base.out, p, n) == -1 ||
	    buf_append(&c->base.out, "\r\n", 2) == -1)
		return -1;
	return 0;
}

/* Send the held-back body (possibly empty) and release it. */
static int
put_hold(struct http_conn *c)
{
	int rc = 0;

	if (c->hold.len > 0)
		rc = put_body(c, c->hold.data + c->hold.off, c->hold.len);
	buf_free(&c->hold);
	return rc;
}

static int
sink_head(struct req *r)
{
	struct http_conn *c = r->conn;

	c->no_body = c->head_method || !status_has_body(r->status);
	c->resp_chunked = 0;
	if (r->want_trailers && r->resp_length < 0 && !c->no_body &&
	    c->minor >= 1)
		return commit_streaming(c, r);	/* chunked: trailers fit */
	if (r->resp_length >= 0 || c->no_body) {
		/* Length known (or no body at all): send at once. */
		c->held = 0;
		return put_head(c, r, NULL);
	}
	c->held = 1;
	return 0;
}

/* A file an asynchronous module queued (sink_file) that later bytes must
 * follow: its rest goes to out first.  Returns 0 or -1. */
static int
file_to_out(struct http_conn *c)
{
	char chunk[16384];
	ssize_t n;

	while (c->sbody.fd != -1 && c->sbody.off < c->sbody.end) {
		n = pread(c->sbody.fd, chunk, c->sbody.end - c->sbody.off <
		    (off_t)sizeof(chunk) ? (size_t)(c->sbody.end -
		    c->sbody.off) : sizeof(chunk), c->sbody.off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || buf_append(&c->base.out, chunk, (size_t)n) == -1)
			return -1;
		c->sbody.off += n;
	}
	static_body_close(&c->sbody);
	return 0;
}

static int
sink_body(struct req *r, const void *p, size_t n)
{
	struct http_conn *c = r->conn;

	if (c->sbody.fd != -1 && file_to_out(c) == -1)
		return -1;

	if (c->held) {
		if (c->hold.len + n <= HTTP_HOLD)
			return buf_append(&c->hold, p, n);
		if (commit_streaming(c, r) == -1 ||
		    put_hold(c) == -1)
			return -1;
	}
	if (put_body(c, p, n) == -1)
		return -1;
	/* An asynchronous module is told to wait (BG_AGAIN) instead. */
	if (c->base.out.len > HTTP_OUT_HIGH && !r->async && conn_spool(c) == -1) {
		log_msg(LOG_LEVEL_INFO, r->id, "http: client gone, or the "
		    "response could not be spooled: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The gateway's sendfile().  For an asynchronous module with a length
 * known (no chunk framing), the file is queued behind out and sent with
 * sendfile(2) as the client takes it (zero-copy, nothing in memory);
 * otherwise (1) req.c copies its bytes as writes.
 */
static int
sink_file(struct req *r, int fd, off_t off, size_t n)
{
	struct http_conn *c = r->conn;
	int own;

	if (r->async && !c->held && !c->resp_chunked && !c->no_body &&
	    c->sbody.fd == -1 && c->base.tls == NULL &&
	    (own = fcntl(fd, F_DUPFD_CLOEXEC, 0)) != -1) {
		c->sbody.fd = own;
		c->sbody.off = off;
		c->sbody.end = off + (off_t)n;
		return 0;
	}
	return 1;	/* req.c copies it through sink_body */
}

static int
sink_flush(struct req *r)
{
	struct http_conn *c = r->conn;

	if (c->held) {
		if (commit_streaming(c, r) == -1 ||
		    put_hold(c) == -1)
			return -1;
	}
	/* What the socket does not take now, the loop drains later. */
	return conn_flush(&c->base);
}

static int
sink_discard(struct req *r)
{
	struct http_conn *c = r->conn;

	if (!c->held)
		return -1;
	c->held = 0;
	buf_free(&c->hold);
	return 0;
}

/*
 * On the module's thread, which has the connection: the client's FIN (or
 * a reset) while its request runs means it gave the request up -- as
 * nginx takes it (its proxy_ignore_client_abort off).  POLLRDHUP sees the
 * FIN past any pipelined bytes still unread; nothing is read here.
 */
static int
sink_gone(struct req *r, struct pollfd *pfd)
{
	struct http_conn *c = r->conn;

	pfd->fd = c->base.io.fd;
	pfd->events = POLLRDHUP;
	pfd->revents = 0;
	if (poll(pfd, 1, 0) < 1)
		return 0;
	return (pfd->revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* An asynchronous request changed (output, body taken, finished): the
 * connection looks at it after this round, never from inside the
 * module's call. */
static void
sink_kick(struct req *r)
{
	struct http_conn *c = r->conn;

	conn_kick(&c->base);
}

static size_t
sink_queued(struct req *r)
{
	struct http_conn *c = r->conn;

	return c->base.out.len + c->hold.len + (size_t)(c->spool_len -
	    c->spool_sent) + (size_t)(c->sbody.fd != -1 ? c->sbody.end -
	    c->sbody.off : 0);
}

/* An informational response (103 Early Hints): before the final head,
 * and never to an HTTP/1.0 client (RFC 9110 section 15.2). */
static int
sink_info(struct req *r, int status, const struct req_header *h, size_t n)
{
	struct http_conn *c = r->conn;
	char line[64];
	size_t i;
	int k;

	if (c->minor == 0)
		return 0;
	k = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
	    req_status_reason(status));
	if (buf_append(&c->base.out, line, (size_t)k) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (buf_append(&c->base.out, h[i].name, h[i].name_len) == -1 ||
		    buf_append(&c->base.out, ": ", 2) == -1 ||
		    buf_append(&c->base.out, h[i].value, h[i].value_len) == -1 ||
		    buf_append(&c->base.out, "\r\n", 2) == -1)
			return -1;
	if (buf_append(&c->base.out, "\r\n", 2) == -1)
		return -1;
	/* Hints are for now: what the socket takes goes at once. */
	if (conn_flush(&c->base) == -1)
		return -1;
	if (r->async)
		sink_kick(r);
	return 1;
}

/* After the module returned: close the framing. */
static int
finish_response(struct http_conn *c, struct req *r)
{
	char len[48];

	if (c->held) {
		/* The whole body is here: give it a Content-Length. */
		c->held = 0;
		snprintf(len, sizeof(len), "Content-Length: %zu\r\n",
		    c->hold.len);
		if (put_head(c, r, len) == -1 ||
		    put_hold(c) == -1)
			return -1;
		return 0;
	}
	if (c->resp_chunked) {
		size_t i;

		c->resp_chunked = 0;
		/* RFC 9112 section 7.1.2: the trailer section. */
		if (buf_append(&c->base.out, "0\r\n", 3) == -1)
			return -1;
		for (i = 0; i < r->ntrailers; i++) {
			const struct req_header *t = &r->trailers[i];

			if (buf_append(&c->base.out, t->name, t->name_len) == -1 ||
			    buf_append(&c->base.out, ": ", 2) == -1 ||
			    buf_append(&c->base.out, t->value, t->value_len) ==
			    -1 || buf_append(&c->base.out, "\r\n", 2) == -1)
				return -1;
		}
		return buf_append(&c->base.out, "\r\n", 2);
	}
	if (!c->keep_alive)
		c->base.closing = 1;
	return 0;
}

/*
 * Answer an error found before the module ran (parse errors, limits) and
 * close: after a framing error the connection cannot be trusted
 * (section 9.3, 11.2).
 */
static void
reject(struct http_conn *c, int status, const char *why)
{
	char head[256];
	char body[96];
	int n, b;

	log_info("http: fd %d: %s: %d", c->base.io.fd, why, status);
	if (c->r != NULL && c->r->pending && !c->r->concluded &&
	    (c->r->head_sent || c->held)) {
		/* An asynchronous module has begun its answer (a body too
		 * large or too slow found late): no error page can follow,
		 * only the close. */
		conn_close(&c->base, why);
		return;
	}
	b = snprintf(body, sizeof(body), "%d %s\n", status,
	    req_status_reason(status));
	/* Answered by bridge itself, before the module: counted all the
	 * same (FastCGI's refusals go through done_job()). */
	if (c->r == NULL || !c->r->pending) {
		scoreboard_request_begin();
		scoreboard_request_end(status, (uint64_t)b, 0);
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s"
	    "Content-Type: text/plain\r\nContent-Length: %d\r\n"
	    "Connection: close\r\n\r\n", status, req_status_reason(status),
	    date_header(), b);
	if (buf_append(&c->base.out, head, (size_t)n) == -1 ||
	    buf_append(&c->base.out, body, (size_t)b) == -1) {
		conn_close(&c->base, "out of memory");
		return;
	}
	request_leave(c);
	c->base.closing = 1;
	c->linger = 1;
}

/*
 * Request variables (RFC 3875 section 4.1, PEP 3333 environ).
 */

static int
add(struct req *r, const char *name, const char *v, size_t n)
{
	return req_add_var(r, name, strlen(name), v, n);
}

/* The front end's own variables, made before the header fields' and
 * each once (req_put_var()): name a literal, value copied... */
static int
put(struct req *r, const char *name, const char *v, size_t n)
{
	return req_put_var(r, name, strlen(name), v, n);
}

static int
put_str(struct req *r, const char *name, const char *v)
{
	return put(r, name, v, strlen(v));
}

/* ... or a literal too. */
static int
put_literal(struct req *r, const char *name, const char *v)
{
	return req_put_literal(r, name, strlen(name), v, strlen(v));
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode a path (RFC 3986 section 2.1) for PATH_INFO, as CGI
 * and WSGI servers do.  Returns the length, or -1 for %00 or a broken
 * escape. */
static ssize_t
decode_path(const char *s, size_t n, char *out)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		hi = hexval((unsigned char)s[i + 1]);
		lo = hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (ssize_t)o;
}

/* n in decimal at p, without a NUL; returns the end.  No printf: this
 * and put_ipv4() run twice for every request. */
static char *
put_decimal(char *p, unsigned n)
{
	char tmp[10];
	size_t k = 0;

	do
		tmp[k++] = (char)('0' + n % 10);
	while ((n /= 10) != 0);
	while (k > 0)
		*p++ = tmp[--k];
	return p;
}

/* Dotted decimal of the 4 bytes at b; host holds 16 bytes at least. */
static void
put_ipv4(char *host, const uint8_t *b)
{
	char *p = host;
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0)
			*p++ = '.';
		p = put_decimal(p, b[i]);
	}
	*p = '\0';
}

/* host (INET6_ADDRSTRLEN bytes) and port (6) of ss, "" for neither
 * family; a v4-mapped IPv6 address reads as the IPv4 it is. */
static void
addr_string(const union sockaddr_in46 *ss, char *host, size_t hlen,
    char *port)
{
	host[0] = '\0';
	port[0] = '\0';
	if (ss->sa.sa_family == AF_INET) {
		put_ipv4(host, (const uint8_t *)&ss->in.sin_addr);
		*put_decimal(port, ntohs(ss->in.sin_port)) = '\0';
	} else if (ss->sa.sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = &ss->in6;

		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr))
			put_ipv4(host, s->sin6_addr.s6_addr + 12);
		else
			inet_ntop(AF_INET6, &s->sin6_addr, host,
			    (socklen_t)hlen);
		*put_decimal(port, ntohs(s->sin6_port)) = '\0';
	}
}

static int
header_var(struct req *r, const struct http_header *h, char *name)
{
	size_t i, n;

	/* Content-Type and Content-Length are CONTENT_TYPE and
	 * CONTENT_LENGTH (RFC 3875 section 4.1.18). */
	if ((h->name_len == 12 && strncasecmp(h->name, "Content-Type", 12)
	    == 0) || (h->name_len == 14 &&
	    strncasecmp(h->name, "Content-Length", 14) == 0))
		return 0;
	/* A field name with '_' would collide with one with '-' once
	 * mapped: drop it, as nginx and Apache do. */
	if (memchr(h->name, '_', h->name_len) != NULL)
		return 0;
	if (h->name_len > 200)
		return 0;
	memcpy(name, "HTTP_", 5);
	for (i = 0; i < h->name_len; i++) {
		char ch = h->name[i];

		name[5 + i] = ch == '-' ? '_' :
		    (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
	}
	n = 5 + h->name_len;
	name[n] = '\0';
	/* A field sent twice is one list (req_append_var). */
	return req_append_var(r, name, n, h->value, h->value_len);
}

/*
 * The header fields as received, for the gateway's fields() (an ASGI
 * scope's headers): the header section is copied into the request's
 * pool in one piece -- the parse buffer is reused once the head is
 * consumed -- and the fields point into the copy.  A name that only
 * mimics a proxy field with '_' for '-' is left out (header_var()
 * drops every name with '_' from the variables).  Returns 0 or -1.
 */
static int
keep_fields(struct req *r, const struct http_request *h)
{
	const struct http_header *last;
	struct bg_header *f;
	const char *start = NULL;
	char *copy = NULL;
	size_t i, n = 0;

	if ((f = req_fields_new(r, h->nheaders)) == NULL)
		return -1;
	if (h->nheaders > 0) {
		/* The parser scans left to right: the first name starts
		 * the section, the last value ends it. */
		start = h->headers[0].name;
		last = &h->headers[h->nheaders - 1];
		if ((copy = pool_alloc(r->pool, (size_t)(last->value +
		    last->value_len - start))) == NULL)
			return -1;
		memcpy(copy, start, (size_t)(last->value + last->value_len -
		    start));
	}
	for (i = 0; i < h->nheaders; i++) {
		const struct http_header *hf = &h->headers[i];

		if (memchr(hf->name, '_', hf->name_len) != NULL &&
		    forwarded_is_field(hf->name, hf->name_len))
			continue;
		f[n].name = copy + (hf->name - start);
		f[n].name_len = hf->name_len;
		f[n].value = copy + (hf->value - start);
		f[n].value_len = hf->value_len;
		n++;
	}
	r->nfields = n;
	return 0;
}

/* Build the request's variables; returns 0, or an HTTP status. */
static int
build_vars(struct http_conn *c, struct req *r, const struct http_request *h)
{
	char host[INET6_ADDRSTRLEN + 8], port[8], name[256], *path;
	const char *script;
	const char *target = h->path, *q;
	size_t tlen = h->path_len, plen, i;
	ssize_t dlen;
	char num[24];
	const struct bg_var *hv;

	if (put(r, "REQUEST_METHOD", h->method, h->method_len) == -1)
		return 500;
	if (h->target_form == HTTP_TARGET_ABSOLUTE && (tlen == 0 ||
	    target[0] == '?')) {
		/* Section 3.3: an empty path is "/". */
		char *uri = pool_alloc(r->pool, tlen + 1);

		if (uri == NULL)
			return 500;
		uri[0] = '/';
		memcpy(uri + 1, target, tlen);
		target = uri;
		tlen++;
	}
	q = memchr(target, '?', tlen);
	plen = q ? (size_t)(q - target) : tlen;
	if ((path = pool_alloc(r->pool, plen + 2)) == NULL)
		return 500;
	if (h->target_form == HTTP_TARGET_ASTERISK) {
		path[0] = '*';
		dlen = 1;
	} else if (plen == 0) {
		path[0] = '/';
		dlen = 1;
	} else if ((dlen = decode_path(target, plen, path)) < 0)
		return 400;
	script = "";
	if (config.mount != NULL && h->target_form != HTTP_TARGET_ASTERISK &&
	    c->smap == NULL) {
		/* The application lives under the mount: SCRIPT_NAME is the
		 * mount, PATH_INFO the rest (PEP 3333, RFC 3875 4.1.13). */
		size_t m = strlen(config.mount);

		/* Match the path the client means: dot-segments resolved
		 * (RFC 3986 section 5.2.4) after percent-decoding, as nginx
		 * resolves its $uri, so "/app/../x" is "/x" and
		 * "/app/%2e%2e/x" too; above "/" is a 400. */
		if ((dlen = req_remove_dot_segments(path, (size_t)dlen)) < 0)
			return 400;
		if ((size_t)dlen < m || memcmp(path, config.mount, m) != 0 ||
		    ((size_t)dlen > m && path[m] != '/'))
			return 404;
		script = config.mount;
		path += m;
		dlen -= (ssize_t)m;
	}
	/* The path was decoded into the pool, and the mount is config:
	 * neither is copied again (NUL-terminated as every value is). */
	path[dlen] = '\0';
	if (put_literal(r, "SCRIPT_NAME", script) == -1 ||
	    req_put_literal(r, "PATH_INFO", 9, path, (size_t)dlen) == -1 ||
	    put(r, "QUERY_STRING", q ? q + 1 : "", q ? tlen -
		(size_t)(q - target) - 1 : 0) == -1 ||
	    put(r, "REQUEST_URI", target, tlen) == -1 ||
	    put_literal(r, "SERVER_PROTOCOL", c->minor ? "HTTP/1.1" :
		"HTTP/1.0") == -1 ||
	    put_literal(r, "GATEWAY_INTERFACE", "CGI/1.1") == -1 ||
	    put_literal(r, "SERVER_SOFTWARE", "bridge/" PACKAGE_VERSION) ==
	    -1 ||
	    put_literal(r, "REQUEST_SCHEME", c->l->proto == PROTO_HTTPS ?
		"https" : "http") == -1)
		return 500;
	if (c->l->proto == PROTO_HTTPS) {
		char suite[8];
		const char *v;
		int id = tls_cipher_suite(c->base.tls);

		/* As Apache's mod_ssl sets them (an ASGI tls scope reads
		 * its tls_version from SSL_PROTOCOL), and the suite's
		 * number, which the ASGI tls scope's cipher_suite is
		 * (mod_ssl has no variable for it). */
		snprintf(suite, sizeof(suite), "0x%04x", id & 0xffff);
		if (put_literal(r, "HTTPS", "on") == -1 ||
		    ((v = tls_protocol(c->base.tls)) != NULL &&
		    put_str(r, "SSL_PROTOCOL", v) == -1) ||
		    ((v = tls_cipher(c->base.tls)) != NULL &&
		    put_str(r, "SSL_CIPHER", v) == -1) ||
		    (id >= 0 && put_str(r, "SSL_CIPHER_SUITE", suite) == -1))
			return 500;
	}
	if (keep_fields(r, h) == -1)
		return 500;
	for (i = 0; i < h->nheaders; i++) {
		const struct http_header *f = &h->headers[i];

		/* RFC 9112 section 3.2.2: with an absolute-form target the
		 * target's authority is the Host; the field is ignored. */
		if (h->target_form == HTTP_TARGET_ABSOLUTE &&
		    f->name_len == 4 && strncasecmp(f->name, "Host", 4) == 0)
			continue;
		if (f->name_len == 12 &&
		    strncasecmp(f->name, "Content-Type", 12) == 0 &&
		    add(r, "CONTENT_TYPE", f->value, f->value_len) == -1)
			return 500;
		if (header_var(r, f, name) == -1)
			return 500;
	}
	if (h->target_form == HTTP_TARGET_ABSOLUTE && (add(r, "HTTP_HOST",
	    h->host, h->host_len) == -1 || (hv = req_find_var(r, "HTTP_HOST",
	    9)) == NULL || req_field_set(r, "host", 4, hv->value, hv->value_len)
	    == -1))
		return 500;
	if (h->content_length >= 0) {
		snprintf(num, sizeof(num), "%lld",
		    (long long)h->content_length);
		if (put_str(r, "CONTENT_LENGTH", num) == -1)
			return 500;
	}
	/* SERVER_NAME from the authority the client used (Host), without
	 * its port (RFC 3875 section 4.1.14). */
	addr_string(&c->peer, host, sizeof(host), port);
	if (put_str(r, "REMOTE_ADDR", host) == -1 ||
	    put_str(r, "REMOTE_PORT", port) == -1)
		return 500;
	addr_string(&c->local, host, sizeof(host), port);
	if (put_str(r, "SERVER_ADDR", host) == -1 ||
	    put_str(r, "SERVER_PORT", port) == -1)
		return 500;
	if (h->host != NULL && h->host_len > 0) {
		const char *hs = h->host, *end = h->host + h->host_len;
		const char *colon;

		if (hs[0] == '[') {
			colon = memchr(hs, ']', h->host_len);
			end = colon ? colon + 1 : end;
		} else if ((colon = memchr(hs, ':', h->host_len)) != NULL)
			end = colon;
		if (put(r, "SERVER_NAME", hs, (size_t)(end - hs)) == -1)
			return 500;
	} else if (put_str(r, "SERVER_NAME", host) == -1)
		return 500;
	r->content_length = h->content_length;
	/* Proxy headers: believed from --forwarded-allow-ips only. */
	return forwarded_req_apply(r, &c->peer.sa) == -1 ? 500 : 0;
}

/*
 * Requests.
 */

static void run(struct http_conn *c);

/* Parse a request head at p.  Returns bytes used, 0 for "need more",
 * -1 after rejecting. */
static ssize_t
start_request(struct http_conn *c, const char *p, size_t len)
{
	struct http_header headers[HTTP_MAX_HEADERS];
	struct http_request h = { .headers = headers };
	struct http_limits lim = {
		.max_target = config.limit_request_line ?
		    config.limit_request_line : HTTP_MAX_TARGET,
		.max_header_bytes = HTTP_MAX_HEADER_BYTES,
		.max_headers = config.limit_request_fields ?
		    (size_t)config.limit_request_fields : HTTP_MAX_HEADERS,
		.max_body = config.max_body,
	};
	int n, status;
	size_t i;

	n = http_parse_request(p, len, &h, &lim);
	if (n == HTTP_PARSE_AGAIN)
		return 0;
	if (n < 0) {
		reject(c, -n, "malformed or refused request");
		return -1;
	}
	/* Gunicorn's --limit-request-field_size: "name: value" bytes. */
	for (i = 0; config.limit_request_field_size > 0 && i < h.nheaders;
	    i++)
		if (h.headers[i].name_len + h.headers[i].value_len + 2 >
		    config.limit_request_field_size) {
			reject(c, 431, "header line above "
			    "--limit-request-field_size");
			return -1;
		}
	if ((c->r = req_create(&http_sink, c)) == NULL) {
		reject(c, 503, "out of memory");
		return -1;
	}
	c->minor = (uint8_t)h.minor_version;
	c->had_head = 1;
	/* Section 9.3: persistence by version and Connection. */
	c->keep_alive = !h.conn_close && (h.minor_version >= 1 ||
	    h.keep_alive) && !conn_host.stopping;
	c->head_method = h.method_len == 4 && memcmp(h.method, "HEAD", 4)
	    == 0;
	/* --static-map: answered by run_static(), outside any --mount. */
	c->smap = static_enabled() && h.target_form != HTTP_TARGET_ASTERISK ?
	    static_match(h.path, h.path_len) : NULL;
	if ((status = build_vars(c, c->r, &h)) != 0) {
		reject(c, status, status == 400 ? "bad percent-encoding in "
		    "the path, or \"..\" above /" : status == 404 ?
		    "path outside --mount" : "out of memory");
		return -1;
	}
	if (h.chunked) {
		c->state = HTTP_CHUNKED;
		http_chunked_init(&c->chunked);
	} else if (h.content_length > 0) {
		c->state = HTTP_BODY;
		c->body_left = (uint64_t)h.content_length;
	} else
		c->state = HTTP_HEAD;
	c->body_start = conn_host.loop->now;
	c->body_got = 0;
	/* RFC 9110 section 10.1.1: tell the client to send the body,
	 * unless it is already on its way. */
	if (h.expect_continue && c->state != HTTP_HEAD &&
	    (size_t)n == len && buf_append(&c->base.out,
	    "HTTP/1.1 100 Continue\r\n\r\n", 25) == -1) {
		reject(c, 503, "out of memory");
		return -1;
	}
	return n;
}

static int
body_bytes(struct http_conn *c, const char *p, size_t n)
{
	uint64_t elapsed, allowed;

	if ((c->r->pending ? req_body_add(c->r, p, n) :
	    body_append(&c->r->body, p, n)) == -1) {
		log_msg(LOG_LEVEL_ERROR, c->r->id, "http: storing the body: "
		    "%s", strerror(errno));
		reject(c, 500, "body storage failed");
		return -1;
	}
	/* A body trickled in slowly holds a connection and its buffers:
	 * after a --read-timeout grace it must keep --min-body-rate on
	 * average (each byte buys 1/rate s, as Apache's mod_reqtimeout
	 * MinRate).  A pause is --read-timeout's business. */
	c->body_got += n;
	elapsed = conn_host.loop->now - c->body_start;
	allowed = (uint64_t)config.read_timeout * 1000 +
	    c->body_got * 1000 / config.min_body_rate;
	if (elapsed > allowed) {
		reject(c, 408, "body slower than --min-body-rate");
		return -1;
	}
	return 0;
}

/* Body bytes the request takes now: an asynchronous module's window. */
static size_t
body_room(const struct http_conn *c, size_t n)
{
	size_t room;

	if (!c->r->pending)
		return n;
	room = req_body_room(c->r);
	return n < room ? n : room;
}

/* The request's body has all arrived. */
static void
body_end(struct http_conn *c)
{
	c->state = HTTP_HEAD;
	if (!c->r->pending) {
		run(c);
		return;
	}
	req_body_end(c->r);
	if (!c->r->finished)
		c->waiting = 1;
}

/* Consume bytes of p[0..len) (mutable: chunked decoding is in place).
 * Returns bytes used, or -1 when the connection is done with input. */
static ssize_t
process(struct http_conn *c, char *p, size_t len)
{
	size_t used = 0, n, in;
	ssize_t k;

	while (!c->base.closed && !c->base.closing && !c->base.busy && !out_full(c) &&
	    !in_held(c)) {
		switch (c->state) {
		case HTTP_HEAD:
			if (used == len)
				return (ssize_t)used;
			k = start_request(c, p + used, len - used);
			if (k < 0)
				return -1;
			if (k == 0)
				return (ssize_t)used;
			used += (size_t)k;
			if (c->state == HTTP_HEAD || (c->smap == NULL &&
			    module_async()))
				run(c);
			break;
		case HTTP_BODY:
			if (used == len)
				return (ssize_t)used;
			n = body_room(c, len - used);
			if (n > c->body_left)
				n = (size_t)c->body_left;
			if (body_bytes(c, p + used, n) == -1)
				return -1;
			used += n;
			c->body_left -= n;
			if (c->body_left == 0)
				body_end(c);
			break;
		case HTTP_CHUNKED:
			if (used == len)
				return (ssize_t)used;
			in = n = body_room(c, len - used);
			k = http_chunked_decode(&c->chunked, p + used, &n,
			    config.max_body);
			if (k < 0 && k != HTTP_PARSE_AGAIN) {
				reject(c, (int)-k, "bad chunked body");
				return -1;
			}
			if (body_bytes(c, p + used, n) == -1)
				return -1;
			if (k == HTTP_PARSE_AGAIN) {
				used += in;
				break;
			}
			/* The next request's bytes were moved right
			 * after the decoded ones: slide them up to the
			 * input not given to the decoder, where unread
			 * bytes live. */
			memmove(p + used + in - (size_t)k, p + used + n,
			    (size_t)k);
			used += in - (size_t)k;
			body_end(c);
			break;
		}
	}
	return c->base.closed ? -1 : (ssize_t)used;
}

#define HTTP_TIMEOUT "HTTP/1.1 504 Gateway Timeout\r\n" \
	"Content-Type: text/plain\r\nContent-Length: 20\r\n" \
	"Connection: close\r\n\r\n504 Gateway Timeout\n"

static struct http_conn *
conn_of_job(struct dispatch_job *j)
{
	return (struct http_conn *)((char *)j -
	    offsetof(struct http_conn, job));
}

/* On the thread that runs the module (see dispatch_submit). */
static void
run_job(struct dispatch_job *j)
{
	struct http_conn *c = conn_of_job(j);
	struct req *r = c->r;

	/* A plain connection can still be answered 504 from the timeout
	 * handler; a TLS one cannot (no TLS from a signal handler). */
	dispatch_request_begin(r, c->base.io.fd, c->base.out.data ?
	    c->base.out.data + c->base.out.off : NULL, c->base.out.len,
	    c->base.tls ? NULL : HTTP_TIMEOUT, sizeof(HTTP_TIMEOUT) - 1);
	c->outcome = req_run(r, module.m, module.ctx);
	dispatch_request_end();
}

/* Back on the loop thread: close the framing, ready the next request. */
static void
done_job(struct dispatch_job *j)
{
	struct http_conn *c = conn_of_job(j);
	struct req *r = c->r;
	int threaded = c->base.busy;

	if (threaded) {
		c->base.busy = 0;
		if (loop_add(conn_host.loop, &c->base.io,
		    EPOLLIN | EPOLLRDHUP) == -1)
			c->base.closing = 1;
	}
	if (r->async)
		async_account(c, r);
	else {
		if (c->start != 0)
			access_log_request(r, c->start);
		scoreboard_request_end(r->head_sent ? r->status : 0,
		    r->resp_sent, c->start != 0 ? access_log_clock_us() -
		    c->start : 0);
	}
	if (r->failed) {
		c->r = NULL;
		req_destroy(r);
		conn_close(&c->base, "client went away during the response");
		dispatch_request_done();
		return;
	}
	if (c->outcome == REQ_CUT) {
		/* RFC 9112 section 8: an incomplete message is signalled
		 * by closing the connection. */
		c->held = 0;
		buf_free(&c->hold);
		c->base.closing = 1;
	} else if (finish_response(c, r) == -1) {
		c->base.closing = 1;
	}
	c->r = NULL;
	req_destroy(r);
	if (!c->keep_alive)
		c->base.closing = 1;
	/* The next request's head and the idle wait start afresh. */
	loop_timer_stop(&c->base.timer);
	if (threaded) {
		conn_resume(&c->base);
		http_update(c);
	}
	/* Last: reaching --max-requests starts the worker's stop. */
	dispatch_request_done();
}

/* A --static-map request, whole (a body was read and dropped): answered
 * here on the loop, as the access log and scoreboard see any other. */
static void
run_static(struct http_conn *c)
{
	struct req *r = c->r;
	uint64_t start = access_log_enabled() || scoreboard_counting() ?
	    access_log_clock_us() : 0;

	scoreboard_request_begin();
	if (static_respond(c->smap, r, c->head_method, !c->keep_alive ?
	    "Connection: close\r\n" : c->minor == 0 ?
	    "Connection: keep-alive\r\n" : "", &c->base.out, &c->sbody) == -1) {
		c->base.closing = 1;
		c->keep_alive = 0;
	}
	if (start != 0)
		access_log_request(r, start);
	scoreboard_request_end(r->status, r->resp_sent, start != 0 ?
	    access_log_clock_us() - start : 0);
	c->smap = NULL;
	c->r = NULL;
	req_destroy(r);
	if (!c->keep_alive)
		c->base.closing = 1;
	loop_timer_stop(&c->base.timer);
}

/* The access log, the scoreboard and --max-requests count an
 * asynchronous request once, however it ends. */
static void
async_account(struct http_conn *c, struct req *r)
{
	if (c->start != 0)
		access_log_request(r, c->start);
	scoreboard_request_end(r->head_sent ? r->status : 0, r->resp_sent,
	    c->start != 0 ? access_log_clock_us() - c->start : 0);
	dispatch_request_counted();
}

/* The module finished an asynchronous request (inside handle(), or later
 * through finish()): close the framing as done_job() does for one that
 * returned. */
static void
async_conclude(struct http_conn *c)
{
	struct req *r = c->r;

	r->concluded = 1;
	c->waiting = 0;
	c->outcome = r->outcome;
	if (c->state != HTTP_HEAD) {
		/* Answered before the whole body came: the rest is read
		 * and dropped by a lingering close (RFC 9112 9.6). */
		c->keep_alive = 0;
		c->linger = 1;
		c->state = HTTP_HEAD;
	}
	done_job(&c->job);
}

/* An asynchronous request ran past --timeout before its response started:
 * 504, and the module is told (BG_EV_GONE) while the worker lives on. */
static void
async_timeout(struct http_conn *c)
{
	struct req *r = c->r;

	/* The module started its response after the deadline but before
	 * the loop came round to it (an application that blocked the
	 * loop): that response goes out, whole. */
	if (r->started || r->finished) {
		http_update(c);
		return;
	}
	log_msg(LOG_LEVEL_ERROR, r->id, "request ran past --timeout (%us) in "
	    "the module; 504", config.timeout);
	req_cancel(r);
	c->keep_alive = 0;
	if (req_send_error(r, 504) == -1 || finish_response(c, r) == -1) {
		conn_close(&c->base, "timeout");
		return;
	}
	c->base.closing = 1;
	request_leave(c);
	http_update(c);
}

/* The deferred look at a connection whose asynchronous request changed. */
static void
http_kicked(struct conn *cb)
{
	struct http_conn *c = (struct http_conn *)cb;

	if (c->r != NULL && c->r->finished && !c->r->concluded) {
		async_conclude(c);
		if (c->base.closed)
			return;
	}
	conn_resume(&c->base);
	if (!c->base.closed)
		http_update(c);
}

/* Hand an asynchronous request to the module as its head arrived. */
static void
run_async(struct http_conn *c)
{
	struct req *r = c->r;

	if (c->state == HTTP_HEAD)
		req_body_end(r);
	c->outcome = req_start(r, module.m, module.ctx);
	if (c->outcome != REQ_PENDING) {
		/* Answered inside handle(). */
		r->pending = 1;
		r->finished = 1;
		r->outcome = c->outcome;
		async_conclude(c);
		return;
	}
	if (c->state == HTTP_HEAD && !r->finished)
		c->waiting = 1;
	if (conn_host.stopping)
		req_stopping(r);
}

static void
run(struct http_conn *c)
{
	if (c->smap != NULL) {
		run_static(c);
		return;
	}
	c->start = access_log_enabled() || scoreboard_counting() ?
	    access_log_clock_us() : 0;
	scoreboard_request_begin();
	c->job.run = run_job;
	c->job.done = done_job;
	if (c->state == HTTP_HEAD && health_match(c->r)) {
		/* --health-path: on the loop, whatever the app is doing. */
		if (health_stopping())
			c->keep_alive = 0;
		c->outcome = health_respond(c->r);
		done_job(&c->job);
		return;
	}
	if (module_async()) {
		run_async(c);
		return;
	}
	if (config.threads > 1) {
		/* The connection is the application thread's until
		 * done_job(): no events, no timers. */
		c->base.busy = 1;
		loop_timer_stop(&c->base.timer);
		loop_del(conn_host.loop, &c->base.io);
	}
	dispatch_submit(&c->job);
}

/* The connection layer's input(): requests parsed and run, and a head
 * larger than any we accept refused. */
static ssize_t
http_input(struct conn *cb, uint8_t *p, size_t len)
{
	struct http_conn *c = (struct http_conn *)cb;
	ssize_t used;

	if ((used = process(c, (char *)p, len)) == -1)
		return -1;
	if (c->state == HTTP_HEAD && len - (size_t)used >
	    (config.limit_request_line > HTTP_MAX_TARGET ?
	    config.limit_request_line : HTTP_MAX_TARGET) +
	    HTTP_MAX_HEADER_BYTES + 1024) {
		reject(c, 431, "request head too large");
		return -1;
	}
	return used;
}

/* No more input is taken: output is high, or an asynchronous request
 * holds the connection. */
static int
http_held(const struct conn *cb)
{
	const struct http_conn *c = (const struct http_conn *)cb;

	return out_full(c) || in_held(c);
}

static void
http_eof(struct conn *cb, int error)
{
	struct http_conn *c = (struct http_conn *)cb;

	if (error != 0) {
		conn_close(&c->base, c->r != NULL ? strerror(error) : NULL);
		return;
	}
	if (c->r != NULL || c->base.in.len > 0)
		log_info("http: fd %d: client closed mid-request",
		    c->base.io.fd);
	c->base.closing = 1;
}

/*
 * Each state of the connection owns its deadline, and only the progress
 * of that state extends it (STYLE.md rule 18):
 *	write	output waiting, in our buffers or the kernel's:
 *		--write-timeout, re-armed by bytes the client took, never
 *		by bytes it sent (nginx's send_timeout)
 *	body	a request read: --read-timeout, re-armed by bytes read
 *	head	the TLS handshake and the first request head, or a later
 *		head's first byte on: --header-timeout for the whole
 *		head, never re-armed (slowloris, plain or TLS alike)
 *	drain	stopping: the drain window, never re-armed; a head
 *		begun before (or arriving) gets it too, not what is left of
 *		--header-timeout, which may outlast --graceful-timeout (the
 *		master would kill the worker: no lifespan shutdown).  In
 *		the stop's last second (conn_host.stop_late) there is none:
 *		what waits on the client is cut (http_stop_cut) and a
 *		connection closes as soon as it is idle
 *	idle	keep-alive between requests: --idle-timeout from the
 *		last request
 */
static struct loop_tq *
http_timer_state(struct conn *cb, int *progress)
{
	struct http_conn *c = (struct http_conn *)cb;
	struct loop_tq *q;

	c->request_timer = 0;
	if (c->lingering) {
		/* Each read extends it, up to linger_end (linger_read). */
		q = conn_host.tq_drain;
		*progress = c->base.got;
	} else if (conn_pending(&c->base)) {
		q = conn_host.tq_write;
		*progress = c->base.sent;
	} else if (c->base.unsent > 0) {
		/* Handed to the kernel, not taken by the client yet: the
		 * timeout handler measures the progress. */
		q = conn_host.tq_write;
		*progress = c->base.sent;
	} else if (c->client_done) {
		/* The client closed after the whole response: the module
		 * gets a second (the drain window's) to finish, then the
		 * connection closes and the module hears BG_EV_GONE. */
		q = conn_host.tq_drain;
	} else if (c->r != NULL && in_held(c)) {
		/* In an asynchronous module: its --timeout, until the
		 * response starts; then the module's own business. */
		if (c->r->started || conn_host.tq_request == NULL)
			return NULL;
		c->request_timer = 1;
		q = conn_host.tq_request;
	} else if (c->r != NULL) {
		q = conn_host.tq_read;
		*progress = c->base.got;
	} else if (conn_host.stopping)
		q = conn_host.tq_drain;
	else if (c->base.in.len > 0)
		q = conn_host.tq_header;
	else if (!c->had_head)
		q = conn_host.tq_header;
	else {
		/* A request that came and went while idle starts it anew. */
		q = conn_host.tq_idle;
		*progress = c->base.got || c->base.sent;
	}
	return q;
}

/*
 * RFC 9112 section 9.6: a server that closes while the client may still
 * be sending (a body refused with 413, a bad request) half-closes and
 * reads what comes, so that the client's unread bytes do not make the
 * kernel reset the connection and destroy the answer before the client
 * read it (curl: "Send failure: Broken pipe" instead of the 413).
 * Returns 1 once the connection may close: the client closed, an error,
 * or HTTP_LINGER_MS passed; 0 while it is still sending.
 */
static int
linger_read(struct http_conn *c)
{
	static char sink[16384];	/* what the client still sends */
	ssize_t n;
	int reads = 0;

	if (!c->lingering) {
		shutdown(c->base.io.fd, SHUT_WR);
		c->lingering = 1;
		c->linger_end = loop_clock_ms() + HTTP_LINGER_MS;
	}
	for (;;) {
		n = recv(c->base.io.fd, sink, sizeof(sink), 0);
		if (n > 0) {
			c->base.got = 1;
			/* A fast sender does not hold the loop: the rest on
			 * the next turn (level-triggered). */
			if (++reads == 16)
				return loop_clock_ms() >= c->linger_end;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return loop_clock_ms() >= c->linger_end;
		return 1;
	}
}

static void
http_update(struct http_conn *c)
{
	uint32_t ev = 0;

	if (c->base.closed || c->base.busy)
		return;
	/* The stop's last second (worker.c): no drain window is left for
	 * a connection between requests, nor time for a lingering close
	 * to begin; it closes once its output went. */
	if (conn_host.stop_late && c->r == NULL && !c->lingering) {
		c->base.closing = 1;
		c->linger = 0;
	}
	/* Pipelined requests held back while output was high are handled
	 * now: no event would bring them back otherwise. */
	if (conn_drain(&c->base) == -1) {
		conn_close(&c->base, NULL);
		return;
	}
	if (!conn_pending(&c->base) && c->base.closing && c->linger &&
	    c->base.tls == NULL) {
		if (linger_read(c)) {
			conn_close(&c->base, NULL);
			return;
		}
		if (loop_mod(conn_host.loop, &c->base.io, EPOLLIN) == -1) {
			conn_close(&c->base, strerror(errno));
			return;
		}
		conn_timer(&c->base);
		return;
	}
	if (!conn_pending(&c->base) && c->base.closing) {
		/* Section 9.6: half-close, so the client reads our answer
		 * before a reset could destroy it. */
		if (c->base.tls == NULL)
			shutdown(c->base.io.fd, SHUT_WR);
		conn_close(&c->base, NULL);
		return;
	}

	if (c->r != NULL && c->r->above_hw && sink_queued(c->r) <=
	    REQ_HIGH_WATER / 2)
		req_drained(c->r);
	if (conn_pending(&c->base))
		ev |= c->base.send_want ? c->base.send_want : EPOLLOUT;
	/*
	 * While an asynchronous request holds the connection, only the
	 * client's departure matters.  EPOLLIN stays registered until
	 * input actually arrives (in_quiet): the mask, and so epoll_ctl,
	 * does not change twice per request for clients that wait for
	 * their answer, as nearly all do.
	 */
	if (!c->base.closing && in_held(c))
		ev |= c->client_done ? 0 : EPOLLRDHUP |
		    (c->in_quiet ? 0 : EPOLLIN);
	else if (!c->base.closing && !out_full(c)) {
		c->in_quiet = 0;
		ev |= (c->base.recv_want ? c->base.recv_want : EPOLLIN) |
		    (c->base.recv_want == EPOLLOUT ? 0 : EPOLLRDHUP);
	}
	if (loop_mod(conn_host.loop, &c->base.io, ev) == -1) {
		conn_close(&c->base, strerror(errno));
		return;
	}
	conn_timer(&c->base);
}

/* The module's response has gone out whole: every byte its
 * Content-Length promised is out of our buffers. */
static int
answered_whole(const struct http_conn *c)
{
	const struct req *r = c->r;

	return r != NULL && r->head_sent && r->resp_length >= 0 &&
	    r->resp_sent >= (uint64_t)r->resp_length &&
	    !conn_pending(&c->base);
}

static void
http_io(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct http_conn *c = (struct http_conn *)io;

	(void)l;
	if (c->base.closed || c->base.busy)
		return;
	/* TLS may need to read in order to write and the reverse, so any
	 * readiness retries both directions. */
	if (conn_pending(&c->base)) {
		if (conn_flush(&c->base) == -1) {
			conn_close(&c->base, NULL);
			return;
		}
		conn_resume(&c->base);
	}
	if (in_held(c) && (events & EPOLLRDHUP) && !(events & (EPOLLHUP |
	    EPOLLERR)) && answered_whole(c)) {
		/* The client has the whole response and closed, while the
		 * module has yet to finish (Quart sends its last, empty
		 * message a turn later): no abort; the connection closes
		 * once the module is done. */
		c->client_done = 1;
		c->keep_alive = 0;
		http_update(c);
		return;
	}
	if (in_held(c) && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		/* As for a synchronous request (sink_gone): the client's
		 * FIN while the module has its request is an abort. */
		conn_close(&c->base, "client went away during the request");
		return;
	}
	if (in_held(c) && (events & EPOLLIN))
		c->in_quiet = 1;	/* bytes wait: stop hearing of them */
	if (events & (EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLERR))
		conn_read(&c->base);
	http_update(c);
}

/*
 * Called from inside a connection's own event (the request that reached
 * --max-requests finishes in process(), still walking its input):
 * updating that connection now would parse the same bytes again (a
 * second run) or free the buffer under the parser.  The connection
 * layer's walk runs after the round; idle connections get the drain
 * window (a request on its way is answered with "Connection: close":
 * start_request sees conn_host.stopping), then close.
 */
void
http_conn_shutdown(void)
{
	conn_shutdown();
}

/* The stop walk's look at each connection.  A request the module holds
 * open (a stream, a long poll) would keep the worker until
 * --graceful-timeout: it is told to end (BG_EV_STOP). */
static void
http_update_cb(struct conn *cb)
{
	struct http_conn *c = (struct http_conn *)cb;

	if (conn_host.stopping && c->r != NULL && c->r->pending &&
	    !c->r->finished)
		req_stopping(c->r);
	http_update(c);
}

/*
 * The worker's graceful stop is nearly out of time (worker.c): what waits
 * on the client goes, what the module is answering stays.
 *	- a request body still arriving, nothing holding it but the client
 *	  (a synchronous module has not been called; an asynchronous one
 *	  takes the body as it comes): 503 and close, or only the close
 *	  once a response has begun (then only if the client took nothing
 *	  for a while: a response streaming while the body comes is kept);
 *	- a lingering close, or a request head begun (the drain window's,
 *	  unless --graceful-timeout is under its second): closed;
 *	- a finished response the client has not taken any of for
 *	  CONN_DRAIN_MS: closed.
 * A request in the module (whole, or holding back its body) and output
 * it is still producing are left alone; idle connections close in the
 * walk that follows (http_update, conn_host.stop_late).
 */
static enum conn_cut
http_stop_cut(struct conn *cb)
{
	struct http_conn *c = (struct http_conn *)cb;
	struct req *r = c->r;

	if (c->lingering) {
		conn_close(&c->base, "stopping: lingering close cut short");
		return CONN_CUT_REQUEST;
	}
	if (r != NULL && c->state != HTTP_HEAD && !in_held(c)) {
		/* A response under way is the module's unless the client
		 * stopped reading it; a module gone quiet is not cut. */
		if (r->pending && (r->head_sent || c->held) &&
		    !((conn_pending(&c->base) || c->base.unsent > 0) &&
		    conn_quiet(&c->base)))
			return CONN_KEPT;
		/* The answer (or the close, a response having begun)
		 * goes out now, with no lingering: there is no time left
		 * for it (RFC 9112 section 9.6's reset is the risk taken;
		 * the client that stalls its body is not reading much). */
		reject(c, 503, "stopping: request body incomplete");
		if (!c->base.closed) {
			c->linger = 0;
			http_update(c);
		}
		if (!c->base.closed)
			conn_close(&c->base, "stopping: the 503 not taken");
		return CONN_CUT_REQUEST;
	}
	if (r == NULL && c->base.in.len > 0 && !conn_pending(&c->base)) {
		conn_close(&c->base, "stopping: request head incomplete");
		return CONN_CUT_REQUEST;
	}
	if (r == NULL && (conn_pending(&c->base) || c->base.unsent > 0) &&
	    conn_quiet(&c->base)) {
		conn_close(&c->base, "stopping: client does not read");
		return CONN_CUT_READER;
	}
	return CONN_KEPT;
}

static const struct conn_proto http_proto = {
	.name = "http",
	.scratch = HTTP_SCRATCH,
	.close_log_level = LOG_LEVEL_INFO,
	.input = http_input,
	.held = http_held,
	.flush_before = http_flush_before,
	.flush_after = http_flush_after,
	.more_output = http_more_output,
	.eof = http_eof,
	.timer_state = http_timer_state,
	.timeout = http_timeout,
	.update = http_update_cb,
	.kicked = http_kicked,
	.release = http_release,
	.stop_cut = http_stop_cut,
};
