/*
 * FastCGI front end.  Section numbers refer to the FastCGI Specification
 * 1.0.
 *
 * Reading: records are parsed from a per-worker scratch buffer; only the
 * unfinished tail of a read is copied into the connection, so an idle
 * connection owns no buffer.  A request (BEGIN_REQUEST, PARAMS, STDIN) is
 * collected whole before the module runs: a slow web server or client
 * never holds the application.
 *
 * Writing: the module's output is framed into STDOUT records in the
 * connection's output buffer, drained by the event loop after the module
 * returns; past FCGI_OUT_HIGH bytes an application thread waits for the
 * peer (bounded by --write-timeout), and with --threads 1 the output
 * queues up to --max-spool (see conn_flush_blocking).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access_log.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "fcgi.h"
#include "fcgi_conn.h"
#include "health.h"
#include "log.h"
#include "module.h"
#include "req.h"
#include "req_split.h"
#include "scoreboard.h"
#include "static.h"
#include "transport.h"

#define FCGI_SCRATCH (FCGI_RECORD_MAX * 2)
#define FCGI_OUT_HIGH (1024 * 1024)	/* module waits above this */
#define FCGI_PEEK 4096		/* looked at for an ABORT_REQUEST */

struct fcgi_conn;

struct fcgi_req {
	struct dispatch_job job;	/* first: the job is the request */
	enum req_outcome outcome;
	uint64_t start;		/* access log clock, 0 when off */
	struct fcgi_req *next;
	struct fcgi_conn *conn;
	struct req *r;
	struct buf params;
	uint64_t stdin_len;
	uint16_t id;
	uint8_t keep_conn;
	uint8_t aborted;	/* ABORT_REQUEST seen while it ran */
	unsigned params_done : 1;
	unsigned stdin_done : 1;
	unsigned started : 1;	/* in an asynchronous module */
	int reject;		/* status to answer instead of running */
	struct static_body file;	/* async sendfile() still to go out */
	struct loop_timer timer;	/* async: --timeout until the response
					   starts */
};

struct fcgi_conn {
	struct conn base;	/* first: the connection layer's */
	struct fcgi_req *reqs;
	int nreqs;
	ssize_t open_rec;	/* offset in out of an extendable STDOUT */
	uint16_t open_id;
	unsigned served : 1;	/* answered a request since stopping */
	unsigned cut : 1;	/* a response was cut: close when the
				   requests still arriving are answered */
};


static void fcgi_io(struct loop *l, struct loop_io *io, uint32_t events);
static void fcgi_update(struct fcgi_conn *c);
static const struct conn_proto fcgi_proto;

static int sink_head(struct req *r);
static int sink_body(struct req *r, const void *p, size_t n);
static int sink_file(struct req *r, int fd, off_t off, size_t n);
static int sink_flush(struct req *r);
static int sink_gone(struct req *r, struct pollfd *pfd);
static void sink_kick(struct req *r);
static size_t sink_queued(struct req *r);

static const struct resp_sink fcgi_sink = {
	.head = sink_head,
	.body = sink_body,
	.file = sink_file,
	.flush = sink_flush,
	.discard = NULL,
	.gone = sink_gone,
	.kick = sink_kick,
	.queued = sink_queued,
};

static void
fcgi_on_timeout(struct conn *cb)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;

	if (conn_unsent_progress(&c->base))
		return;
	if (c->base.out.len > 0 || c->base.unsent > 0)
		conn_close(&c->base, "write timeout: peer does not read");
	else if (c->nreqs > 0)
		conn_close(&c->base, "read timeout: request incomplete");
	else
		conn_close(&c->base, NULL);	/* idle keep-alive: quietly */
}

int
fcgi_conn_accept(int fd, const struct listener *l)
{
	struct fcgi_conn *c;
	int on = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("fcgi: out of memory for a connection");
		close(fd);
		return -1;
	}
	(void)l;
	/* A response goes out in several writes (the head and what the
	 * application flushed, then END_REQUEST): none may wait for the
	 * web server's delayed ACK (40 ms each on Linux).  No Nagle; a
	 * unix socket refuses the option, harmlessly. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	c->open_rec = -1;
	if (conn_open(&c->base, fd, &fcgi_proto, fcgi_io, &transport_plain,
	    NULL, conn_host.tq_read) == -1) {
		close(fd);
		free(c);
		return -1;
	}
	return 0;
}

static void async_account(struct fcgi_req *fr);

/* A request leaves its connection.  One still in an asynchronous module
 * stays alive for it: told (BG_EV_GONE), and freed by its finish(). */
static void
req_free(struct fcgi_req *fr)
{
	loop_timer_stop(&fr->timer);
	static_body_close(&fr->file);
	if (fr->started && fr->r != NULL && !fr->r->concluded) {
		async_account(fr);
		dispatch_request_done();
		if (!fr->r->finished)
			req_detach(fr->r);
		else
			req_destroy(fr->r);
	} else
		req_destroy(fr->r);
	buf_free(&fr->params);
	free(fr);
}

/* Closing: its requests go (one still in an asynchronous module lives on
 * for it, see req_free). */
static void
fcgi_release(struct conn *cb)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;
	struct fcgi_req *fr;

	while ((fr = c->reqs) != NULL) {
		c->reqs = fr->next;
		req_free(fr);
	}
	c->nreqs = 0;
}

/*
 * Output framing.
 */

static int
put_record(struct fcgi_conn *c, uint8_t type, uint16_t id, const void *p,
    size_t n)
{
	if (buf_reserve(&c->base.out, FCGI_HEADER_LEN + n) == -1)
		return -1;
	fcgi_put_header(buf_tail(&c->base.out), type, id, (uint16_t)n, 0);
	c->base.out.len += FCGI_HEADER_LEN;
	if (n > 0)
		memcpy(buf_tail(&c->base.out), p, n);
	c->base.out.len += n;
	return 0;
}

/* Append a stream's bytes as records of at most 65535 content bytes;
 * a STDOUT record still open at the end of out is extended rather than a
 * new header written (the head and a small body share one record). */
static int
put_stream(struct fcgi_conn *c, uint8_t type, uint16_t id, const uint8_t *p,
    size_t n)
{
	size_t take;

	while (n > 0) {
		if (type == FCGI_STDOUT && c->open_rec >= 0 &&
		    c->open_id == id) {
			uint8_t *h = c->base.out.data + c->base.out.off + c->open_rec;
			size_t have = (size_t)(h[4] << 8 | h[5]);

			take = 0xffff - have;
			if (take > n)
				take = n;
			if (take > 0) {
				if (buf_append(&c->base.out, p, take) == -1)
					return -1;
				/* buf_append may move the data */
				h = c->base.out.data + c->base.out.off + c->open_rec;
				have += take;
				h[4] = (uint8_t)(have >> 8);
				h[5] = (uint8_t)have;
				p += take;
				n -= take;
				continue;
			}
		}
		take = n > 0xffff ? 0xffff : n;
		if (type == FCGI_STDOUT) {
			c->open_rec = (ssize_t)c->base.out.len;
			c->open_id = id;
		}
		if (put_record(c, type, id, p, take) == -1)
			return -1;
		p += take;
		n -= take;
	}
	return 0;
}

static int files_fill(struct fcgi_conn *c);

/* The connection layer's flush_before: STDOUT records of queued files are
 * read into out while the peer keeps up; once out is being sent, a record
 * in it is no longer extended (open_rec). */
static int
fcgi_flush_before(struct conn *cb)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;

	c->open_rec = -1;
	return files_fill(c) == -1 ? -1 : 0;
}

/*
 * The module is producing more than the peer takes.  An application
 * thread (--threads) waits for the peer, bounded by --write-timeout: only
 * its own request waits.  With --threads 1 the module runs on the loop
 * thread, where waiting would stall every other connection of the worker
 * (STYLE.md rule 20): the output stays queued for the loop to drain, up
 * to --max-spool, past which the response is cut.
 */
static int
conn_flush_blocking(struct fcgi_conn *c, struct req *r)
{
	while (c->base.out.len > FCGI_OUT_HIGH / 2) {
		if (conn_flush(&c->base) == -1)
			return -1;
		if (c->base.out.len <= FCGI_OUT_HIGH / 2)
			break;
		if (!c->base.busy) {
			if (c->base.out.len <= config.max_spool)
				break;
			log_msg(LOG_LEVEL_WARN, r->id, "fcgi: fd %d: the web "
			    "server lags more than --max-spool behind; "
			    "response cut (with --threads the application "
			    "would wait for it)", c->base.io.fd);
			errno = ENOBUFS;
			return -1;
		}
		log_msg(LOG_LEVEL_DEBUG, r->id, "fcgi: fd %d: the "
		    "application waits for the web server to read",
		    c->base.io.fd);
		if (loop_wait_fd(c->base.io.fd, POLLOUT, config.write_timeout) == -1)
			return -1;
	}
	return 0;
}

static int
sink_head(struct req *r)
{
	struct fcgi_req *fr = r->conn;
	struct fcgi_conn *c = fr->conn;
	struct buf head = { 0 };
	int rc;

	/* The response started: --timeout no longer applies to it. */
	loop_timer_stop(&fr->timer);
	if (req_format_cgi_head(r, &head) == -1)
		return -1;
	rc = put_stream(c, FCGI_STDOUT, fr->id, head.data + head.off,
	    head.len);
	buf_free(&head);
	return rc;
}

/*
 * A file an asynchronous module gave to sendfile() goes out as STDOUT
 * records read from it while the peer takes them (file_fill), not read
 * into memory at once.  Returns 0 or -1.
 */
static int
file_fill(struct fcgi_conn *c, struct fcgi_req *fr, size_t most)
{
	uint8_t chunk[16384];
	off_t left;
	ssize_t n;

	while (fr->file.fd != -1 && most > 0) {
		left = fr->file.end - fr->file.off;
		if (left == 0) {
			static_body_close(&fr->file);
			/* The request may be waiting for it to finish. */
			conn_kick(&c->base);
			break;
		}
		n = pread(fr->file.fd, chunk, left < (off_t)sizeof(chunk) ?
		    (size_t)left : sizeof(chunk), fr->file.off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || put_stream(c, FCGI_STDOUT, fr->id, chunk,
		    (size_t)n) == -1)
			return -1;
		fr->file.off += n;
		most = (size_t)n < most ? most - (size_t)n : 0;
	}
	return 0;
}

static int
files_pending(const struct fcgi_conn *c)
{
	const struct fcgi_req *fr;

	for (fr = c->reqs; fr != NULL; fr = fr->next)
		if (fr->file.fd != -1)
			return 1;
	return 0;
}

/* Refill out from queued files while the peer keeps up. */
static int
files_fill(struct fcgi_conn *c)
{
	struct fcgi_req *fr;

	for (fr = c->reqs; fr != NULL; fr = fr->next)
		if (fr->file.fd != -1 && c->base.out.len < FCGI_OUT_HIGH / 4 &&
		    file_fill(c, fr, FCGI_OUT_HIGH / 4 - c->base.out.len) == -1)
			return -1;
	return 0;
}

/* RFC 9110 sections 15.3.5 and 15.4.5: a 204 or a 304 has no content,
 * whatever the module wrote (the HTTP front end drops it too; nginx would
 * drop it and warn that the upstream sent more than its length). */
static int
bodiless(const struct req *r)
{
	return r->status == 204 || r->status == 304;
}

static int
sink_file(struct req *r, int fd, off_t off, size_t n)
{
	struct fcgi_req *fr = r->conn;
	int own;

	if (bodiless(r))
		return 0;
	if (r->async && fr->file.fd == -1 &&
	    (own = fcntl(fd, F_DUPFD_CLOEXEC, 0)) != -1) {
		fr->file.fd = own;
		fr->file.off = off;
		fr->file.end = off + (off_t)n;
		return 0;
	}
	return 1;	/* req.c copies it through sink_body (after the
			   queued file, which sink_body sends first) */
}

static int
sink_body(struct req *r, const void *p, size_t n)
{
	struct fcgi_req *fr = r->conn;
	struct fcgi_conn *c = fr->conn;

	if (bodiless(r))
		return 0;
	/* Bytes after a queued file follow all of it. */
	if (fr->file.fd != -1 && file_fill(c, fr, SIZE_MAX) == -1)
		return -1;

	if (put_stream(c, FCGI_STDOUT, fr->id, p, n) == -1)
		return -1;
	/* An asynchronous module is told to wait (BG_AGAIN) instead. */
	if (c->base.out.len > FCGI_OUT_HIGH && !r->async &&
	    conn_flush_blocking(c, r) == -1) {
		log_msg(LOG_LEVEL_WARN, r->id, "fcgi: peer stopped reading: "
		    "%s", strerror(errno));
		return -1;
	}
	return 0;
}

static int
sink_flush(struct req *r)
{
	struct fcgi_req *fr = r->conn;

	return conn_flush(&fr->conn->base);
}

/*
 * On the module's thread, which has the connection while the request
 * runs: has the web server given the request up?  It closed the
 * connection (nginx does when its client goes, keep-conn or not), or
 * sent ABORT_REQUEST for it (section 5.4).  Bytes are only peeked at;
 * the loop reads them once the module has returned.  Not seen: records
 * the loop already holds, and an ABORT_REQUEST behind FCGI_PEEK bytes of
 * other records (nginx sends nothing while a request runs).
 */
static int
sink_gone(struct req *r, struct pollfd *pfd)
{
	struct fcgi_req *fr = r->conn;
	uint8_t peek[FCGI_PEEK];
	struct fcgi_record rec;
	size_t off = 0;
	ssize_t n, k;

	pfd->fd = fr->conn->base.io.fd;
	pfd->events = POLLIN | POLLRDHUP;
	pfd->revents = 0;
	if (poll(pfd, 1, 0) < 1)
		return 0;
	if (pfd->revents & (POLLRDHUP | POLLHUP | POLLERR))
		return 1;
	if ((n = recv(pfd->fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT))
	    == 0)
		return 1;
	while (n > 0 && (k = fcgi_parse_record(peek + off, (size_t)n - off,
	    &rec)) > 0) {
		if (rec.type == FCGI_ABORT_REQUEST && rec.id == fr->id) {
			log_msg(LOG_LEVEL_INFO, r->id, "fcgi: request "
			    "aborted by the web server");
			fr->aborted = 1;
			return 1;
		}
		off += (size_t)k;
	}
	/* Records for the loop: poll for the close, not on them. */
	pfd->events = POLLRDHUP;
	return 0;
}

/* An asynchronous request changed: the connection looks at it after this
 * round (conn_kicked), never from inside the module's call. */
static void
sink_kick(struct req *r)
{
	struct fcgi_req *fr = r->conn;

	conn_kick(&fr->conn->base);
}

static size_t
sink_queued(struct req *r)
{
	struct fcgi_req *fr = r->conn;

	return fr->conn->base.out.len + (size_t)(fr->file.fd != -1 ?
	    fr->file.end - fr->file.off : 0);
}

static int
put_end_request(struct fcgi_conn *c, uint16_t id, uint8_t proto_status)
{
	uint8_t rec[16];

	fcgi_put_end_request(rec, id, 0, proto_status);
	c->open_rec = -1;
	return buf_append(&c->base.out, rec, sizeof(rec));
}

/*
 * Requests.
 */

static struct fcgi_req *
find_req(struct fcgi_conn *c, uint16_t id)
{
	struct fcgi_req *fr;

	for (fr = c->reqs; fr != NULL; fr = fr->next)
		if (fr->id == id)
			return fr;
	return NULL;
}

static void
unlink_req(struct fcgi_conn *c, struct fcgi_req *fr)
{
	struct fcgi_req **pp;

	for (pp = &c->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == fr) {
			*pp = fr->next;
			c->nreqs--;
			return;
		}
}

/* Section 3.4: the PARAMS stream is a sequence of name-value pairs. */
static int
decode_params(struct fcgi_req *fr)
{
	const uint8_t *p = fr->params.data;
	size_t left = fr->params.len;
	struct fcgi_pair pair;
	ssize_t n;
	int count = 0, rc, status;

	if (left > 0)
		p += fr->params.off;	/* no offset on an empty buffer */
	while (left > 0) {
		n = fcgi_parse_pair(p, left, &pair, config.max_params_bytes);
		if (n < 0) {
			log_msg(LOG_LEVEL_WARN, fr->r->id,
			    "fcgi: malformed name-value pair in PARAMS");
			return -1;
		}
		if (++count > config.max_params) {
			log_msg(LOG_LEVEL_WARN, fr->r->id,
			    "fcgi: more than %d PARAMS: 431",
			    config.max_params);
			fr->reject = 431;
			return 0;
		}
		/* nginx passes a request header sent twice as two HTTP_*
		 * params of one name: one field, its values joined as the
		 * HTTP front end joins them.  Other names given again
		 * ("fastcgi_param SCRIPT_NAME" after fastcgi_params) are
		 * overrides: the last one wins. */
		if (pair.name_len > 5 && memcmp(pair.name, "HTTP_", 5) == 0)
			rc = req_append_var(fr->r, (const char *)pair.name,
			    pair.name_len, (const char *)pair.value,
			    pair.value_len);
		else
			rc = req_add_var(fr->r, (const char *)pair.name,
			    pair.name_len, (const char *)pair.value,
			    pair.value_len);
		if (rc == -1)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	buf_free(&fr->params);
	/* A split the web server made without knowing where the
	 * application is mounted (see req_split.c). */
	if ((status = req_split(fr->r, config.mount)) != 0) {
		log_msg(LOG_LEVEL_INFO, fr->r->id, "fcgi: %s: %d", status ==
		    404 ? "path outside --mount" : "out of memory", status);
		fr->reject = status;
	}
	return 0;
}

/* RFC 3875 section 4.1.2: CONTENT_LENGTH empty or absent means no body;
 * anything else must be a length that fits, or the request is refused
 * (400), as the HTTP front end refuses such a Content-Length.  Returns 0
 * or -1. */
static int
set_content_length(struct fcgi_req *fr)
{
	const struct bg_var *v = req_find_var(fr->r, "CONTENT_LENGTH", 14);

	if (v == NULL || v->value_len == 0)
		return 0;
	if (req_parse_length(v->value, v->value_len,
	    &fr->r->content_length) == -1) {
		log_msg(LOG_LEVEL_WARN, fr->r->id, "fcgi: CONTENT_LENGTH "
		    "%.*s%s is %s: 400", (int)(v->value_len > 32 ? 32 :
		    v->value_len), v->value, v->value_len > 32 ? "..." : "",
		    errno == ERANGE ? "too large" : "not a number");
		return -1;
	}
	return 0;
}

/*
 * What a request that runs past --timeout gets (see dispatch.h): a 504,
 * the end of STDOUT and END_REQUEST, for the request id in hand.
 */
#define FCGI_TIMEOUT_BODY \
	"Status: 504 Gateway Timeout\r\nContent-Type: text/plain\r\n\r\n" \
	"504 Gateway Timeout\n"
static __thread uint8_t fcgi_timeout[3 * FCGI_HEADER_LEN +
    sizeof(FCGI_TIMEOUT_BODY) - 1 + 8];

static void
timeout_answer(uint16_t id)
{
	size_t n = sizeof(FCGI_TIMEOUT_BODY) - 1;

	fcgi_put_header(fcgi_timeout, FCGI_STDOUT, id, (uint16_t)n, 0);
	memcpy(fcgi_timeout + FCGI_HEADER_LEN, FCGI_TIMEOUT_BODY, n);
	fcgi_put_header(fcgi_timeout + FCGI_HEADER_LEN + n, FCGI_STDOUT, id,
	    0, 0);
	fcgi_put_end_request(fcgi_timeout + 2 * FCGI_HEADER_LEN + n, id, 0,
	    FCGI_REQUEST_COMPLETE);
}

/* On the thread that runs the module (see dispatch_submit). */
static void
run_job(struct dispatch_job *j)
{
	struct fcgi_req *fr = (struct fcgi_req *)j;
	struct fcgi_conn *c = fr->conn;

	timeout_answer(fr->id);
	dispatch_request_begin(fr->r, c->base.io.fd,
	    c->base.out.data ? c->base.out.data + c->base.out.off : NULL, c->base.out.len,
	    fcgi_timeout, sizeof(fcgi_timeout));
	fr->outcome = req_run(fr->r, module.m, module.ctx);
	dispatch_request_end();
}

/* Queue the end of the response.  Returns 0, or -1 when the connection
 * must close now. */
static int
finish_req(struct fcgi_conn *c, struct fcgi_req *fr)
{
	uint16_t id = fr->id;
	int keep = fr->keep_conn, failed = fr->r->failed;
	int aborted = fr->aborted;
	enum req_outcome out = fr->outcome;

	/* An asynchronous request is counted by async_account(). */
	if (!fr->started) {
		if (fr->start != 0)
			access_log_request(fr->r, fr->start);
		scoreboard_request_end(fr->r->head_sent ? fr->r->status : 0,
		    fr->r->resp_sent, fr->start != 0 ?
		    access_log_clock_us() - fr->start : 0);
	}
	req_free(fr);
	if (aborted) {
		/* Section 5.4: ended by END_REQUEST; its ABORT_REQUEST,
		 * still unread, is then one for an inactive request. */
		if (put_end_request(c, id, FCGI_REQUEST_COMPLETE) == -1)
			return -1;
		if (!keep && c->nreqs == 0)
			c->base.closing = 1;
		return 0;
	}
	if (failed)
		return -1;
	if (out == REQ_CUT) {
		/* Section 5.5 has no way to say "failed midway": closing
		 * without END_REQUEST makes the web server see it (nginx
		 * then drops its client's connection too).  Requests still
		 * arriving on this connection are answered first; no new
		 * ones are taken (see begin_request). */
		c->cut = 1;
		if (c->nreqs == 0)
			c->base.closing = 1;
		return 0;
	}
	/* Section 5.5: an empty STDOUT ends the stream, then END_REQUEST. */
	c->open_rec = -1;
	if (put_record(c, FCGI_STDOUT, id, NULL, 0) == -1 ||
	    put_end_request(c, id, FCGI_REQUEST_COMPLETE) == -1)
		return -1;
	/* Section 5.1: without FCGI_KEEP_CONN the application closes the
	 * connection after the request. */
	if ((!keep || c->cut) && c->nreqs == 0)
		c->base.closing = 1;
	if (conn_host.stopping)
		c->served = 1;
	return 0;
}

/* Back on the loop thread. */
static void
done_job(struct dispatch_job *j)
{
	struct fcgi_req *fr = (struct fcgi_req *)j;
	struct fcgi_conn *c = fr->conn;
	int threaded = c->base.busy;

	if (threaded) {
		c->base.busy = 0;
		if (loop_add(conn_host.loop, &c->base.io, EPOLLIN) == -1)
			c->base.closing = 1;
	}
	if (finish_req(c, fr) == -1)
		conn_close(&c->base, "peer went away while the response was written");
	else if (threaded) {
		conn_resume(&c->base);
		fcgi_update(c);
	}
	/* Last: reaching --max-requests starts the worker's stop. */
	dispatch_request_done();
}

/* Hand a complete request to the module. */
static void
run_req(struct fcgi_conn *c, struct fcgi_req *fr)
{
	fr->start = access_log_enabled() || scoreboard_counting() ?
	    access_log_clock_us() : 0;
	scoreboard_request_begin();
	unlink_req(c, fr);
	fr->job.run = run_job;
	fr->job.done = done_job;
	if (fr->reject == 0 && set_content_length(fr) == -1)
		fr->reject = 400;
	if (fr->reject) {
		fr->outcome = req_send_error(fr->r, fr->reject) == 0 ?
		    REQ_COMPLETE : REQ_CUT;
		done_job(&fr->job);
		return;
	}
	if (health_match(fr->r)) {
		/* --health-path: on the loop, whatever the app is doing. */
		fr->outcome = health_respond(fr->r);
		done_job(&fr->job);
		return;
	}
	if (fr->r->content_length >= 0 &&
	    (uint64_t)fr->r->content_length != fr->stdin_len)
		log_msg(LOG_LEVEL_WARN, fr->r->id, "fcgi: CONTENT_LENGTH %lld "
		    "but STDIN carried %llu bytes",
		    (long long)fr->r->content_length,
		    (unsigned long long)fr->stdin_len);
	if (config.threads > 1) {
		/* The connection is the application thread's until
		 * done_job(): no events, no timers. */
		c->base.busy = 1;
		loop_timer_stop(&c->base.timer);
		loop_del(conn_host.loop, &c->base.io);
	}
	dispatch_submit(&fr->job);
}

/*
 * Asynchronous modules (gateway ABI 2): a request goes to the module as
 * its PARAMS end; STDIN follows through req_body_add() while the request
 * stays on the connection's list (its records must find it), until the
 * module's finish() is seen by conn_kicked().
 */

/* The access log, the scoreboard and the stats count it once. */
static void
async_account(struct fcgi_req *fr)
{
	struct req *r = fr->r;

	if (fr->start != 0)
		access_log_request(r, fr->start);
	scoreboard_request_end(r->head_sent ? r->status : 0, r->resp_sent,
	    fr->start != 0 ? access_log_clock_us() - fr->start : 0);
	dispatch_request_counted();
}

/* The module finished it: the end of its streams, as for one that ran. */
static void
async_conclude(struct fcgi_conn *c, struct fcgi_req *fr)
{
	fr->r->concluded = 1;
	fr->outcome = fr->r->outcome;
	async_account(fr);
	unlink_req(c, fr);
	if (finish_req(c, fr) == -1)
		conn_close(&c->base, "peer went away while the response was written");
	dispatch_request_done();
}

/* Answer status for a request the module still has (its --timeout, a
 * body over --max-body), or cut it when its response has begun; the
 * module is told (BG_EV_GONE) and finishes it on its own time. */
static void
async_abandon(struct fcgi_conn *c, struct fcgi_req *fr, int status)
{
	fr->outcome = REQ_CUT;
	if (!fr->r->head_sent && req_send_error(fr->r, status) == 0)
		fr->outcome = REQ_COMPLETE;
	unlink_req(c, fr);
	if (finish_req(c, fr) == -1)
		conn_close(&c->base, "peer went away while the response was written");
}

static void
async_timeout(struct loop *l, struct loop_timer *t)
{
	struct fcgi_req *fr = (struct fcgi_req *)((char *)t -
	    offsetof(struct fcgi_req, timer));
	struct fcgi_conn *c = fr->conn;

	(void)l;
	/* Answered after the deadline, before the loop came round to it
	 * (an application that blocked the loop): the answer goes out. */
	if (fr->r->started || fr->r->finished)
		return;
	log_msg(LOG_LEVEL_ERROR, fr->r->id, "request ran past --timeout "
	    "(%us) in the module; 504", config.timeout);
	req_cancel(fr->r);
	async_abandon(c, fr, 504);
	if (!c->base.closed)
		fcgi_update(c);
}

/* The deferred look at a connection whose asynchronous requests changed. */
static void
fcgi_kicked(struct conn *cb)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;
	struct fcgi_req *fr, *next;

	for (fr = c->reqs; fr != NULL && !c->base.closed; fr = next) {
		next = fr->next;
		/* Its end records follow a queued file's last bytes. */
		if (fr->started && fr->r->finished && !fr->r->concluded &&
		    fr->file.fd == -1)
			async_conclude(c, fr);
	}
	if (c->base.closed)
		return;
	conn_resume(&c->base);
	if (!c->base.closed)
		fcgi_update(c);
}

static void
run_async(struct fcgi_conn *c, struct fcgi_req *fr)
{
	struct req *r = fr->r;
	enum req_outcome out;

	fr->start = access_log_enabled() || scoreboard_counting() ?
	    access_log_clock_us() : 0;
	scoreboard_request_begin();
	fr->started = 1;
	fr->timer.fn = async_timeout;
	if (conn_host.tq_request != NULL)
		loop_timer_arm(conn_host.loop, conn_host.tq_request, &fr->timer);
	if (fr->stdin_done)
		req_body_end(r);
	out = req_start(r, module.m, module.ctx);
	if (out != REQ_PENDING) {
		/* Answered inside handle(); a file it queued goes out
		 * before the end records (conn_kicked). */
		r->pending = 1;
		r->finished = 1;
		r->outcome = out;
		if (fr->file.fd == -1)
			async_conclude(c, fr);
	} else if (conn_host.stopping)
		req_stopping(r);
}

/* Requests of this connection in the module with a full body window:
 * no more records are read until it takes some (backpressure). */
static int
body_held(const struct fcgi_conn *c)
{
	const struct fcgi_req *fr;

	for (fr = c->reqs; fr != NULL; fr = fr->next)
		if (fr->started && !fr->stdin_done &&
		    req_body_room(fr->r) == 0)
			return 1;
	return 0;
}

/* Anything of a request still to arrive (the read state's business)? */
static int
receiving(const struct fcgi_conn *c)
{
	const struct fcgi_req *fr;

	if (c->base.in.len > 0)
		return 1;
	for (fr = c->reqs; fr != NULL; fr = fr->next)
		if (!fr->started || (!fr->stdin_done &&
		    req_body_room(fr->r) > 0))
			return 1;
	return 0;
}

static void
maybe_run(struct fcgi_conn *c, struct fcgi_req *fr)
{
	if (fr->started)
		return;
	if (fr->params_done && fr->reject == 0 && module_async() &&
	    !health_match(fr->r)) {
		if (set_content_length(fr) == -1)
			fr->reject = 400;	/* answered below */
		else {
			run_async(c, fr);
			return;
		}
	}
	if (!fr->params_done || !fr->stdin_done)
		return;
	run_req(c, fr);
}

/* Section 4.1: answer the variables we know, with the truth. */
static int
get_values(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	uint8_t out[256];
	size_t off = 0, left = rec->content_len;
	const uint8_t *p = rec->content;
	struct fcgi_pair pair;
	char val[32];
	long long nconns = (long long)config.max_conns * config.workers;
	ssize_t n;

	while (left > 0) {
		if ((n = fcgi_parse_pair(p, left, &pair, 1024)) < 0)
			return -1;
		p += n;
		left -= (size_t)n;
		val[0] = '\0';
		if (pair.name_len == 14 &&
		    memcmp(pair.name, FCGI_MAX_CONNS, 14) == 0)
			snprintf(val, sizeof(val), "%lld", nconns);
		else if (pair.name_len == 13 &&
		    memcmp(pair.name, FCGI_MAX_REQS, 13) == 0)
			snprintf(val, sizeof(val), "%lld",
			    nconns * config.fcgi_max_reqs);
		else if (pair.name_len == 15 &&
		    memcmp(pair.name, FCGI_MPXS_CONNS, 15) == 0)
			snprintf(val, sizeof(val), "%d",
			    config.fcgi_max_reqs > 1);
		else
			continue;	/* unknown names are left out */
		off += fcgi_put_pair(out + off, sizeof(out) - off,
		    (const char *)pair.name, pair.name_len, val, strlen(val));
	}
	c->open_rec = -1;
	return put_record(c, FCGI_GET_VALUES_RESULT, 0, out, off);
}

/* Answer a BEGIN_REQUEST with END_REQUEST at once (section 5.5). */
static int
refuse(struct fcgi_conn *c, const struct fcgi_record *rec, uint8_t status)
{
	if (put_end_request(c, rec->id, status) == -1)
		return -1;
	if (!(rec->content[2] & FCGI_KEEP_CONN) && c->nreqs == 0)
		c->base.closing = 1;
	return 0;
}

static int
begin_request(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	struct fcgi_req *fr;
	int role;

	if (rec->content_len != 8) {
		log_warn("fcgi: fd %d: BEGIN_REQUEST of %u bytes, 8 expected",
		    c->base.io.fd, rec->content_len);
		return -1;
	}
	if (find_req(c, rec->id) != NULL) {
		log_warn("fcgi: fd %d: BEGIN_REQUEST for active request %u",
		    c->base.io.fd, rec->id);
		return -1;
	}
	role = rec->content[0] << 8 | rec->content[1];
	c->open_rec = -1;
	if (role != FCGI_RESPONDER) {
		/* Section 5.1: reject the role; the request is over, so
		 * without FCGI_KEEP_CONN the connection closes. */
		log_warn("fcgi: fd %d: request %u asks for role %d; only the "
		    "Responder role is served", c->base.io.fd, rec->id, role);
		return refuse(c, rec, FCGI_UNKNOWN_ROLE);
	}
	if (c->cut) {
		/* This connection closes once its requests are answered:
		 * the web server retries elsewhere (section 5.5). */
		return refuse(c, rec, FCGI_OVERLOADED);
	}
	if (c->nreqs >= config.fcgi_max_reqs) {
		/* Section 5.5: CANT_MPX_CONN when we do not multiplex,
		 * OVERLOADED when this connection carries enough. */
		return refuse(c, rec, config.fcgi_max_reqs == 1 ?
		    FCGI_CANT_MPX_CONN : FCGI_OVERLOADED);
	}
	if ((fr = calloc(1, sizeof(*fr))) == NULL ||
	    (fr->r = req_create(&fcgi_sink, fr)) == NULL) {
		free(fr);
		log_error("fcgi: out of memory for a request");
		return refuse(c, rec, FCGI_OVERLOADED);
	}
	fr->conn = c;
	fr->id = rec->id;
	fr->file.fd = -1;
	fr->keep_conn = rec->content[2] & FCGI_KEEP_CONN;
	fr->next = c->reqs;
	c->reqs = fr;
	c->nreqs++;
	return 0;
}

static int
params(struct fcgi_conn *c, struct fcgi_req *fr,
    const struct fcgi_record *rec)
{
	if (fr->params_done) {
		log_warn("fcgi: fd %d: PARAMS after the end of request %u's "
		    "PARAMS stream", c->base.io.fd, fr->id);
		return -1;
	}
	if (rec->content_len == 0) {
		fr->params_done = 1;
		if (fr->reject == 0 && decode_params(fr) == -1)
			return -1;
		buf_free(&fr->params);
		maybe_run(c, fr);
		return 0;
	}
	if (fr->reject)
		return 0;
	if (fr->params.len + rec->content_len > config.max_params_bytes) {
		log_msg(LOG_LEVEL_WARN, fr->r->id, "fcgi: PARAMS over %zu "
		    "bytes: 431", config.max_params_bytes);
		fr->reject = 431;
		buf_free(&fr->params);
		return 0;
	}
	return buf_append(&fr->params, rec->content, rec->content_len);
}

static int
stdin_record(struct fcgi_conn *c, struct fcgi_req *fr,
    const struct fcgi_record *rec)
{
	if (fr->stdin_done) {
		log_warn("fcgi: fd %d: STDIN after the end of request %u's "
		    "STDIN stream", c->base.io.fd, fr->id);
		return -1;
	}
	if (rec->content_len == 0) {
		fr->stdin_done = 1;
		if (fr->started)
			req_body_end(fr->r);
		maybe_run(c, fr);
		return 0;
	}
	fr->stdin_len += rec->content_len;
	if (fr->started) {
		if (fr->stdin_len > config.max_body) {
			log_msg(LOG_LEVEL_WARN, fr->r->id, "fcgi: body over "
			    "--max-body %llu bytes: 413",
			    (unsigned long long)config.max_body);
			async_abandon(c, fr, 413);
		} else if (req_body_add(fr->r, rec->content,
		    rec->content_len) == -1) {
			log_msg(LOG_LEVEL_ERROR, fr->r->id, "fcgi: keeping "
			    "the body: %s: 500", strerror(errno));
			async_abandon(c, fr, 500);
		}
		return 0;
	}
	if (fr->reject)
		return 0;	/* drained, not kept */
	if (fr->stdin_len > config.max_body) {
		log_msg(LOG_LEVEL_WARN, fr->r->id, "fcgi: body over --max-body "
		    "%llu bytes: 413", (unsigned long long)config.max_body);
		fr->reject = 413;
		body_free(&fr->r->body);
		return 0;
	}
	if (body_append(&fr->r->body, rec->content, rec->content_len) == -1) {
		log_msg(LOG_LEVEL_ERROR, fr->r->id, "fcgi: storing the body: "
		    "%s: 500", strerror(errno));
		fr->reject = 500;
		body_free(&fr->r->body);
	}
	return 0;
}

static int
abort_request(struct fcgi_conn *c, struct fcgi_req *fr)
{
	uint16_t id = fr->id;
	int keep = fr->keep_conn;

	/* Section 5.4: the request ends with END_REQUEST. */
	log_msg(LOG_LEVEL_INFO, fr->r->id, "fcgi: request aborted by the "
	    "web server");
	unlink_req(c, fr);
	req_free(fr);
	c->open_rec = -1;
	if (put_end_request(c, id, FCGI_REQUEST_COMPLETE) == -1)
		return -1;
	if ((!keep || c->cut) && c->nreqs == 0)
		c->base.closing = 1;
	return 0;
}

/* Handle one record.  Returns 0, or -1 for a protocol fault (the caller
 * closes the connection; the fault was logged). */
static int
record(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	struct fcgi_req *fr;
	uint8_t unk[16];

	if (rec->id == FCGI_NULL_REQUEST_ID) {
		/* Section 4: management records. */
		if (rec->type == FCGI_GET_VALUES)
			return get_values(c, rec);
		if (rec->type <= FCGI_MAXTYPE) {
			log_warn("fcgi: fd %d: %s record on request id 0",
			    c->base.io.fd, fcgi_type_name(rec->type));
			return -1;
		}
		c->open_rec = -1;
		fcgi_put_unknown_type(unk, rec->type);
		return buf_append(&c->base.out, unk, sizeof(unk));
	}
	switch (rec->type) {
	case FCGI_BEGIN_REQUEST:
		return begin_request(c, rec);
	case FCGI_ABORT_REQUEST:
	case FCGI_PARAMS:
	case FCGI_STDIN:
	case FCGI_DATA:
		/* Section 3.3: records of inactive requests are ignored. */
		if ((fr = find_req(c, rec->id)) == NULL)
			return 0;
		if (rec->type == FCGI_ABORT_REQUEST)
			return abort_request(c, fr);
		if (rec->type == FCGI_PARAMS)
			return params(c, fr, rec);
		if (rec->type == FCGI_STDIN)
			return stdin_record(c, fr, rec);
		return 0;	/* DATA belongs to the Filter role */
	case FCGI_END_REQUEST:
	case FCGI_STDOUT:
	case FCGI_STDERR:
	case FCGI_GET_VALUES_RESULT:
	case FCGI_UNKNOWN_TYPE:
		log_warn("fcgi: fd %d: %s record sent to the application",
		    c->base.io.fd, fcgi_type_name(rec->type));
		return -1;
	default:
		c->open_rec = -1;
		fcgi_put_unknown_type(unk, rec->type);
		return buf_append(&c->base.out, unk, sizeof(unk));
	}
}

/* Handle every complete record in p[0..len); returns bytes used, or -1
 * after closing the connection. */
static ssize_t
records(struct fcgi_conn *c, const uint8_t *p, size_t len)
{
	struct fcgi_record rec;
	size_t used = 0;
	ssize_t n;

	while (!c->base.closed && !c->base.closing && !c->base.busy &&
	    c->base.out.len < FCGI_OUT_HIGH && !body_held(c)) {
		n = fcgi_parse_record(p + used, len - used, &rec);
		if (n == FCGI_PARSE_AGAIN)
			break;
		if (n == FCGI_PARSE_BAD) {
			log_warn("fcgi: fd %d: record with version %u: not a "
			    "FastCGI stream", c->base.io.fd, p[used]);
			conn_close(&c->base, "protocol error");
			return -1;
		}
		if (record(c, &rec) == -1) {
			if (!c->base.closed)
				conn_close(&c->base, "protocol error");
			return -1;
		}
		used += (size_t)n;
	}
	return c->base.closed ? -1 : (ssize_t)used;
}

/* The connection layer's input(): records handled. */
static ssize_t
fcgi_input(struct conn *cb, uint8_t *p, size_t len)
{
	return records((struct fcgi_conn *)cb, p, len);
}

/* No more records are read while output is high or an asynchronous
 * module has not taken a body window. */
static int
fcgi_held(const struct conn *cb)
{
	const struct fcgi_conn *c = (const struct fcgi_conn *)cb;

	return c->base.out.len >= FCGI_OUT_HIGH || body_held(c);
}

static void
fcgi_eof(struct conn *cb, int error)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;

	if (error != 0) {
		conn_close(&c->base, c->nreqs > 0 || c->base.in.len > 0 ?
		    strerror(error) : NULL);
		return;
	}
	/* Peer closed its side: answers already queued still go out; a
	 * half-received request is void. */
	if (c->nreqs > 0 || c->base.in.len > 0)
		log_info("fcgi: fd %d: peer closed mid-request",
		    c->base.io.fd);
	c->base.closing = 1;
}

static int
fcgi_more_output(const struct conn *cb)
{
	return files_pending((const struct fcgi_conn *)cb);
}

/*
 * Each state owns its deadline and only its own progress extends it:
 * output waiting, in our buffer or the kernel's (--write-timeout), by
 * bytes the peer took, never by bytes it sent; a request arriving
 * (--read-timeout) by bytes read; the drain window by nothing; idle
 * (--idle-timeout) from the last request.
 */
static struct loop_tq *
fcgi_timer_state(struct conn *cb, int *progress)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;

	if (conn_pending(&c->base) || c->base.unsent > 0) {
		*progress = c->base.sent;
		return conn_host.tq_write;
	}
	if (receiving(c)) {
		*progress = c->base.got;
		return conn_host.tq_read;
	}
	/* Every request in an asynchronous module, whole or held back by
	 * it: each has its own --timeout. */
	if (c->nreqs > 0)
		return NULL;
	if (conn_host.stopping)
		return conn_host.tq_drain;
	/* A request that came and went while idle starts it anew. */
	*progress = c->base.got || c->base.sent;
	return conn_host.tq_idle;
}

static void
fcgi_update(struct fcgi_conn *c)
{
	struct fcgi_req *fr;
	uint32_t ev = 0;

	if (c->base.closed || c->base.busy)
		return;
	/* Records held back while output was high are handled now: no
	 * event would bring them back otherwise. */
	if (conn_drain(&c->base) == -1) {
		if (!c->base.closed)
			conn_close(&c->base, c->nreqs > 0 ? "peer went away" :
			    NULL);
		return;
	}
	if (!conn_pending(&c->base) && c->base.closing) {
		conn_close(&c->base, NULL);
		return;
	}
	if (conn_host.stopping && c->nreqs == 0 && c->base.in.len == 0 &&
	    c->base.out.len == 0 && (c->served || conn_host.stop_late)) {
		/* Stopping: a connection that has had its answer closes, and
		 * in the stop's last second (worker.c) any idle one. */
		conn_close(&c->base, NULL);
		return;
	}
	for (fr = c->reqs; fr != NULL; fr = fr->next)
		if (fr->started && fr->r->above_hw &&
		    c->base.out.len <= REQ_HIGH_WATER / 2)
			req_drained(fr->r);
	if (conn_pending(&c->base))
		ev |= EPOLLOUT;
	if (!c->base.closing && body_held(c))
		ev |= EPOLLRDHUP;	/* only to learn that the peer left */
	else if (!c->base.closing && c->base.out.len < FCGI_OUT_HIGH)
		ev |= EPOLLIN;
	if (loop_mod(conn_host.loop, &c->base.io, ev) == -1) {
		conn_close(&c->base, strerror(errno));
		return;
	}
	conn_timer(&c->base);
}

static void
fcgi_io(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct fcgi_conn *c = (struct fcgi_conn *)io;

	(void)l;
	if (c->base.closed || c->base.busy)
		return;
	if (events & EPOLLOUT) {
		if (conn_flush(&c->base) == -1) {
			conn_close(&c->base, "peer went away");
			return;
		}
		conn_resume(&c->base);
	}
	if (body_held(c) && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		conn_close(&c->base, "peer went away during a request");
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(&c->base);
	fcgi_update(c);
}

/*
 * Called from inside a connection's own event (the request that reached
 * --max-requests finishes in records(), still walking the input):
 * updating that connection now would run its records again and free the
 * input under the parser.  The connection layer's walk runs after the
 * round: idle connections get the drain window (a request may be on its
 * way), busy ones close after their answers.
 */
void
fcgi_conn_shutdown(void)
{
	conn_shutdown();
}

/* The stop walk's look at each connection: requests the module holds
 * open are told to end (BG_EV_STOP), as in http_conn.c. */
static void
fcgi_update_cb(struct conn *cb)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;
	struct fcgi_req *fr;

	if (conn_host.stopping)
		for (fr = c->reqs; fr != NULL; fr = fr->next)
			if (fr->started && !fr->r->finished)
				req_stopping(fr->r);
	fcgi_update(c);
}

/*
 * The worker's graceful stop is nearly out of time (worker.c): requests
 * still arriving end, the rest stay.  One not yet in the module (PARAMS
 * or STDIN still coming) is answered 503 and ended with END_REQUEST, as
 * refused requests are (run_req); one an asynchronous module takes the
 * body of as it comes is abandoned with 503 (cut, if its response has
 * begun and the web server took nothing lately).  The connection then
 * takes no new request and closes once the rest are answered (c->cut).
 * A web server that has taken nothing of a finished response for
 * CONN_DRAIN_MS is closed on; requests in the module are left alone,
 * and idle connections close in the walk that follows (fcgi_update,
 * conn_host.stop_late).
 */
static enum conn_cut
fcgi_stop_cut(struct conn *cb)
{
	struct fcgi_conn *c = (struct fcgi_conn *)cb;
	struct fcgi_req *fr, *next;
	int ended = 0, answering = 0;

	for (fr = c->reqs; fr != NULL && !c->base.closed; fr = next) {
		next = fr->next;
		/* A response under way is the module's unless the peer
		 * stopped reading it. */
		if (fr->started && (fr->stdin_done ||
		    req_body_room(fr->r) == 0 || (fr->r->head_sent &&
		    !((conn_pending(&c->base) || c->base.unsent > 0) &&
		    conn_quiet(&c->base))))) {
			answering += !fr->r->finished;
			continue;
		}
		if (ended++ == 0) {
			c->cut = 1;
			log_info("fcgi: fd %d: stopping: ending the requests "
			    "still arriving: 503", c->base.io.fd);
		}
		if (fr->started)
			async_abandon(c, fr, 503);
		else {
			if (fr->reject == 0)
				fr->reject = 503;
			run_req(c, fr);
		}
	}
	if (c->base.closed)
		return CONN_CUT_REQUEST;
	if (ended == 0 && c->nreqs == 0 && c->base.in.len > 0 &&
	    !conn_pending(&c->base)) {
		/* A record begun, no request to answer. */
		conn_close(&c->base, "stopping: record incomplete");
		return CONN_CUT_REQUEST;
	}
	if (ended > 0) {
		fcgi_update(c);
		if (!c->base.closed && c->base.closing)
			conn_close(&c->base, "stopping: peer does not read");
		return CONN_CUT_REQUEST;
	}
	if (answering == 0 && (conn_pending(&c->base) ||
	    c->base.unsent > 0) && conn_quiet(&c->base)) {
		conn_close(&c->base, "stopping: peer does not read");
		return CONN_CUT_READER;
	}
	return CONN_KEPT;
}

static const struct conn_proto fcgi_proto = {
	.name = "fcgi",
	.scratch = FCGI_SCRATCH,
	.close_log_level = LOG_LEVEL_WARN,
	.input = fcgi_input,
	.held = fcgi_held,
	.flush_before = fcgi_flush_before,
	.flush_after = NULL,
	.more_output = fcgi_more_output,
	.eof = fcgi_eof,
	.timer_state = fcgi_timer_state,
	.timeout = fcgi_on_timeout,
	.update = fcgi_update_cb,
	.kicked = fcgi_kicked,
	.release = fcgi_release,
	.stop_cut = fcgi_stop_cut,
};
