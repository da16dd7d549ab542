/*
 * Fuzz target: whole connections through the real connection state
 * machines, HTTP (bridge/protocols/http_conn.c) and FastCGI (bridge/protocols/fcgi_conn.c),
 * with the worker's recycling (--max-requests) and timer expiries
 * interleaved with the reads.  The input is written into one end of a
 * socketpair, cut at pseudo-random boundaries; the other end is served by
 * the real event loop, request model and a small in-file module, one
 * loop round at a time, as a worker with --threads 1 does.
 *
 * Input layout: two control bytes, then the stream the client (HTTP) or
 * web server (FastCGI) sends.
 *	byte 0	bit 0     front end: 0 HTTP, 1 FastCGI
 *		bits 1-2  --max-requests: 0 (off), 1, 2, 3
 *		bit 3     a small send buffer on bridge's socket (output
 *		          drains over many rounds)
 *		bits 4-7  timer rate: 0 never, else one round in
 *		          (17 - n) lets one timer queue expire (header,
 *		          read, write, idle or drain: time passing that
 *		          queue's duration)
 *	byte 1	seed of the cuts: each round sends 1..64 bytes (1..4 when
 *		bit 7 of the seed is set: reads split inside every head);
 *		bit 6 set: the module is asynchronous (gateway ABI 2),
 *		its requests finished later from events and timers
 *
 * Checks beyond ASan/UBSan/LeakSanitizer:
 *	- the module never runs more often than the input holds requests:
 *	  HTTP heads end with CR LF CR LF, FastCGI requests begin with
 *	  BEGIN_REQUEST (a request run twice, as --max-requests recycling
 *	  once did when a head arrived in two reads, exceeds the bound);
 *	- FastCGI: the output is a well-formed record stream, with no more
 *	  END_REQUESTs than BEGIN_REQUESTs were sent;
 *	- HTTP: the output starts with a status line;
 *	- once the peer has closed its side and read everything, the
 *	  connection closes within a bounded number of rounds, and every
 *	  finish hook a request registered has run (an asynchronous
 *	  request the connection left is finished by the module when told
 *	  BG_EV_GONE);
 *	- asynchronous requests: the body read back through the events is
 *	  as long as the front end stored, never more.
 *
 * Recycling is worker.c's stop_gracefully() as far as connections see
 * it: conn_host.stopping set, then fcgi_conn_shutdown() and
 * http_conn_shutdown() called from inside the request's completion.
 *
 * FUZZ_SOURCES: bridge/protocols/http_conn.c bridge/protocols/http_parse.c bridge/protocols/fcgi_conn.c
 * FUZZ_SOURCES: bridge/protocols/fcgi.c bridge/core/buf.c bridge/gateway/body.c bridge/core/pool.c
 * FUZZ_SOURCES: bridge/gateway/req.c bridge/core/loop.c bridge/core/log.c bridge/core/config.c
 * FUZZ_SOURCES: bridge/gateway/module.c bridge/gateway/access_log.c bridge/gateway/scoreboard.c
 * FUZZ_SOURCES: bridge/net/transport.c bridge/net/conn.c bridge/gateway/health.c
 * FUZZ_SOURCES: bridge/net/proxy_proto.c
 * FUZZ_SOURCES: bridge/gateway/forwarded.c bridge/gateway/forwarded_req.c bridge/gateway/req_split.c
 * FUZZ_SOURCES: bridge/gateway/static.c bridge/gateway/static_parse.c
 * FUZZ_LIBS: -ldl
 * FUZZ_CORPUS: conn
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "body.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "fcgi.h"
#include "fcgi_conn.h"
#include "http_conn.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "req.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUND_MAX 100000	/* loop rounds, whatever happens */
#define QUIET_MAX 64		/* rounds without output once the peer is
				 * done: a stall */
#define BIG_SIZE (256 * 1024)
#define HUGE_SIZE (3 * 1024 * 1024)	/* past --max-spool (1 MiB) */

/*
 * What the worker sets up for its connections (conn.h's conn_host);
 * worker.c and dispatch.c are not linked (listeners, signals, module
 * loading, threads).
 */
static struct loop host_loop;
static unsigned long requests_left;

void
dispatch_request_begin(struct req *r, int fd, const void *pending,
    size_t pending_len, const void *answer, size_t answer_len)
{
	(void)r;
	(void)fd;
	(void)pending;
	(void)pending_len;
	(void)answer;
	(void)answer_len;
}

void
dispatch_request_end(void)
{
}

void
dispatch_request_counted(void)
{
}

/* worker.c: the request that reaches --max-requests stops the worker,
 * from inside its own completion. */
void
dispatch_request_done(void)
{
	if (requests_left > 0 && --requests_left == 0 && !conn_host.stopping) {
		conn_host.stopping = 1;
		fcgi_conn_shutdown();
		http_conn_shutdown();
	}
}

void
dispatch_submit(struct dispatch_job *j)
{
	j->run(j);
	j->done(j);
}

/* No TLS here (tls.c loads the TLS module). */
void *
tls_new(int fd)
{
	(void)fd;
	return NULL;
}

const struct transport *
tls_transport(void)
{
	return NULL;
}

const char *
tls_protocol(void *session)
{
	(void)session;
	return NULL;
}

const char *
tls_cipher(void *session)
{
	(void)session;
	return NULL;
}

int
tls_cipher_suite(void *session)
{
	(void)session;
	return -1;
}

static struct listener fz_http = { .fd = -1, .proto = PROTO_HTTP,
	.name = "fuzz-http" };
static struct listener fz_fcgi = { .fd = -1, .proto = PROTO_FASTCGI,
	.name = "fuzz-fcgi" };

static long runs;
static int hooks_pending;

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_conn: %s\n", what);
		abort();
	}
}

/*
 * The module: the first letter after the path's '/' chooses.
 *	b  BIG_SIZE bytes, no Content-Length (held back, then streamed)
 *	h  HUGE_SIZE bytes (spooled; cut past --max-spool)
 *	e  BG_ERROR before any output
 *	c  Content-Length 100, 3 bytes written (cut)
 *	else  the body echoed with a Content-Length
 */

/*
 * The header fields as received (fields()), read whole after the parse
 * buffer has moved on (a field left pointing into it is a use after
 * free under ASan): names non-empty and free of ':' and whitespace,
 * values free of CR, LF and the whitespace around them.
 */
static void
fz_fields(bg_request *r)
{
	const struct bg_header *f;
	size_t i, j, n;
	unsigned sum = 0;

	if ((f = req_server.fields(r, &n)) == NULL) {
		check(n == 0, "no fields but a count");
		return;
	}
	for (i = 0; i < n; i++) {
		check(f[i].name_len > 0, "empty field name");
		for (j = 0; j < f[i].name_len; j++) {
			sum += (unsigned char)f[i].name[j];
			check(f[i].name[j] != ':' && f[i].name[j] != ' ' &&
			    f[i].name[j] != '\t' && f[i].name[j] != '\r' &&
			    f[i].name[j] != '\n', "bad byte in a field name");
		}
		for (j = 0; j < f[i].value_len; j++) {
			sum += (unsigned char)f[i].value[j];
			check(f[i].value[j] != '\r' && f[i].value[j] != '\n',
			    "CR or LF in a field value");
		}
		if (f[i].value_len > 0)
			check(f[i].value[0] != ' ' && f[i].value[0] != '\t' &&
			    f[i].value[f[i].value_len - 1] != ' ' &&
			    f[i].value[f[i].value_len - 1] != '\t',
			    "whitespace around a field value");
	}
	(void)sum;
}

static void
fz_finish(void *arg)
{
	(void)arg;
	hooks_pending--;
	check(hooks_pending >= 0, "finish hook ran twice");
}

static int
fz_handle(void *ctx, bg_request *r)
{
	const struct bg_server *s = &req_server;
	struct req *rq = (struct req *)(void *)r;
	static char big[65536];
	struct bg_header h[1];
	char buf[4096], len[32];
	const char *uri;
	size_t ulen = 0, total = 0, want, n, i;
	ssize_t got;

	(void)ctx;
	runs++;
	if (s->on_finish(r, fz_finish, NULL) == 0)
		hooks_pending++;
	while ((got = s->read(r, buf, sizeof(buf))) > 0)
		total += (size_t)got;
	check(got == 0 && total == rq->body.len, "body read back wrong");
	fz_fields(r);
	uri = s->var(r, "REQUEST_URI", &ulen);
	switch (uri != NULL && ulen > 1 ? uri[1] : 'o') {
	case 'e':
		return BG_ERROR;
	case 'c':
		h[0] = (struct bg_header){ "Content-Length", 14, "100", 3 };
		if (s->start_response(r, 200, NULL, h, 1, 0) == -1)
			return BG_ERROR;
		return s->write(r, "abc", 3) == 0 ? BG_OK : BG_ERROR;
	case 'b':
	case 'h':
		want = uri[1] == 'b' ? BIG_SIZE : HUGE_SIZE;
		if (s->start_response(r, 200, NULL, NULL, 0, 0) == -1)
			return BG_ERROR;
		memset(big, 'x', sizeof(big));
		for (i = 0; i < want; i += n) {
			n = want - i < sizeof(big) ? want - i : sizeof(big);
			if (s->write(r, big, n) == -1)
				return BG_ERROR;
		}
		return BG_OK;
	default:
		n = (size_t)snprintf(len, sizeof(len), "%zu", total);
		h[0] = (struct bg_header){ "Content-Length", 14, len, n };
		if (s->start_response(r, 200, NULL, h, 1, 0) == -1)
			return BG_ERROR;
		rq->body.rpos = 0;
		while ((got = s->read(r, buf, sizeof(buf))) > 0)
			if (s->write(r, buf, (size_t)got) == -1)
				return BG_ERROR;
		return BG_OK;
	}
}

static const struct bg_module fz_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "fuzz",
	.handle = fz_handle,
};

/*
 * The asynchronous module: the same letters, answered from events.
 *	n  answered inside handle() (BG_OK)
 *	b  BIG_SIZE bytes written as BG_EV_DRAINED allows
 *	e  BG_ERROR at the body's end, nothing sent
 *	t  finished from a timer (of 0 ms) at the body's end
 *	else  the body's length once it all came
 * BG_EV_GONE finishes with BG_ERROR.
 */
struct fz_job {
	bg_request *r;
	struct loop_mtimer timer;
	char kind;
	size_t total, left;
	int done;
};

static void
fz_job_free(void *arg)
{
	struct fz_job *j = arg;

	loop_mtimer_stop(conn_host.loop, &j->timer);
	free(j);
	hooks_pending--;
	check(hooks_pending >= 0, "finish hook ran twice");
}

static void
fz_job_finish(struct fz_job *j, int rc)
{
	check(!j->done, "finish twice");
	j->done = 1;
	req_server.finish(j->r, rc);
}

static void
fz_answer_len(struct fz_job *j)
{
	struct bg_header h[1];
	char len[32];
	size_t n;

	fz_fields(j->r);
	n = (size_t)snprintf(len, sizeof(len), "%zu", j->total);
	h[0] = (struct bg_header){ "Content-Length", 14, len, n };
	if (req_server.start_response(j->r, 200, NULL, h, 1, 0) == 0)
		req_server.write(j->r, len, n);
	/* short of its Content-Length: the front end cuts it */
}

static void
fz_big(struct fz_job *j)
{
	static char big[65536];
	size_t n;
	int rc;

	while (j->left > 0) {
		n = j->left < sizeof(big) ? j->left : sizeof(big);
		rc = req_server.write(j->r, big, n);
		if (rc == -1) {
			fz_job_finish(j, BG_ERROR);
			return;
		}
		j->left -= n;
		if (rc == BG_AGAIN)
			return;
	}
	fz_job_finish(j, BG_OK);
}

static void
fz_timer(void *arg)
{
	struct fz_job *j = arg;

	fz_answer_len(j);
	fz_job_finish(j, BG_OK);
}

static void
fz_event(bg_request *r, unsigned ev, void *arg)
{
	struct fz_job *j = arg;
	struct req *rq = (struct req *)(void *)r;
	char buf[4096];
	ssize_t got;

	if (j->done)
		return;
	if (ev & BG_EV_GONE) {
		fz_job_finish(j, BG_ERROR);
		return;
	}
	if ((ev & BG_EV_DRAINED) && j->kind == 'b')
		fz_big(j);
	if (!(ev & BG_EV_BODY) || j->done)
		return;
	while ((got = req_server.read(r, buf, sizeof(buf))) > 0)
		j->total += (size_t)got;
	if (got == -1) {
		check(errno == EAGAIN, "async read failed");
		return;
	}
	check(rq->body_done, "read said end before the body's end");
	if (j->kind == 'b')
		return;		/* already answering */
	if (j->kind == 'e') {
		fz_job_finish(j, BG_ERROR);
		return;
	}
	if (j->kind == 't') {
		loop_mtimer_arm(conn_host.loop, &j->timer, 0);
		return;
	}
	fz_answer_len(j);
	fz_job_finish(j, BG_OK);
}

static int
fz_async_handle(void *ctx, bg_request *r)
{
	const char *uri;
	size_t ulen = 0;
	struct fz_job *j;

	(void)ctx;
	runs++;
	uri = req_server.var(r, "REQUEST_URI", &ulen);
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return BG_ERROR;
	j->r = r;
	j->kind = uri != NULL && ulen > 1 ? uri[1] : 'o';
	j->timer.fn = fz_timer;
	j->timer.arg = j;
	if (req_server.on_finish(r, fz_job_free, j) == -1) {
		free(j);
		return BG_ERROR;
	}
	hooks_pending++;
	if (j->kind == 'n') {
		j->done = 1;
		fz_answer_len(j);
		return BG_OK;
	}
	req_server.on_event(r, fz_event, j);
	if (j->kind == 'b') {
		j->left = BIG_SIZE;
		if (req_server.start_response(r, 200, NULL, NULL, 0, 0) == -1)
			return BG_ERROR;
		fz_big(j);
	}
	return BG_PENDING;
}

static const struct bg_module fz_async_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "fuzz-async",
	.handle = fz_async_handle,
	.flags = BG_MODULE_ASYNC,
};

/*
 * The harness.
 */

/* An always-readable eventfd whose callback stops the loop: one
 * loop_run() call is then exactly one round, deferred work included. */
static struct loop_io stopper;

static void
stop_round(struct loop *l, struct loop_io *io, uint32_t events)
{
	(void)io;
	(void)events;
	l->stop = 1;
}

static void
setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	conn_host.loop = &host_loop;
	check(loop_init(conn_host.loop) == 0, "loop_init");
	/* Real durations: only the harness makes time pass. */
	conn_host.tq_read = loop_tq_new(conn_host.loop, 60000);
	conn_host.tq_header = loop_tq_new(conn_host.loop, 20000);
	conn_host.tq_idle = loop_tq_new(conn_host.loop, 300000);
	conn_host.tq_write = loop_tq_new(conn_host.loop, 60000);
	conn_host.tq_drain = loop_tq_new(conn_host.loop, CONN_DRAIN_MS);
	conn_host.tq_request = loop_tq_new(conn_host.loop, 30000);
	req_async_init(conn_host.loop);
	stopper.fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	stopper.fn = stop_round;
	check(stopper.fd != -1 &&
	    loop_add(conn_host.loop, &stopper, EPOLLIN) == 0, "stopper");

	config.threads = 1;
	config.fcgi_max_reqs = 4;
	config.max_params = 64;
	config.max_params_bytes = 16384;
	config.max_body = 256 * 1024;
	config.max_spool = 1024 * 1024;
	config.read_timeout = 60;
	config.min_body_rate = 1;
	config.write_timeout = 60;
	body_configure(4096, "/tmp");
	module.m = &fz_module;
	module.ctx = NULL;
	if (getenv("FUZZ_LOG") == NULL)
		check(log_open("/dev/null") == 0, "log_open");
	log_level = LOG_LEVEL_DEBUG;
}

/* Time passes for one queue: every timer on it expires next round. */
static void
expire_queue(struct loop_tq *q)
{
	struct loop_timer *t;

	for (t = q->head; t != NULL; t = t->next)
		t->deadline = 0;
}

static uint32_t
prng(uint32_t *s)
{
	/* xorshift32; never 0 */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Upper bounds on the requests the stream holds. */
static long
http_heads(const uint8_t *p, size_t n)
{
	long k = 0;
	size_t i;

	for (i = 0; i + 4 <= n; i++)
		if (memcmp(p + i, "\r\n\r\n", 4) == 0)
			k++;
	return k;
}

static long
fcgi_begins(const uint8_t *p, size_t n)
{
	struct fcgi_record rec;
	size_t off = 0;
	ssize_t k;
	long b = 0;

	while ((k = fcgi_parse_record(p + off, n - off, &rec)) > 0) {
		if (rec.type == FCGI_BEGIN_REQUEST)
			b++;
		off += (size_t)k;
	}
	return b;
}

struct out_state {
	uint8_t *data;
	size_t len, cap;
	size_t total;
	long ends;
};

/* FastCGI output: complete records parsed and dropped. */
static void
fcgi_output(struct out_state *o)
{
	struct fcgi_record rec;
	size_t off = 0;
	ssize_t n;

	while ((n = fcgi_parse_record(o->data + off, o->len - off, &rec)) >
	    0) {
		check(rec.type == FCGI_STDOUT || rec.type == FCGI_END_REQUEST ||
		    rec.type == FCGI_GET_VALUES_RESULT ||
		    rec.type == FCGI_UNKNOWN_TYPE,
		    "record type an application must not send");
		if (rec.type == FCGI_END_REQUEST)
			o->ends++;
		off += (size_t)n;
	}
	check(n != FCGI_PARSE_BAD, "output record has a bad version");
	memmove(o->data, o->data + off, o->len - off);
	o->len -= off;
}

/* Read what bridge sent.  Returns 1 at EOF, else 0; *got counts. */
static int
drain(int fd, struct out_state *o, int fcgi, size_t *got)
{
	ssize_t n;

	for (;;) {
		if (o->cap - o->len < 65536) {
			uint8_t *p = realloc(o->data, o->cap + 262144);

			check(p != NULL, "out of memory");
			o->data = p;
			o->cap += 262144;
		}
		n = recv(fd, o->data + o->len, o->cap - o->len, 0);
		if (n == 0)
			return 1;
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : 1;
		if (o->total == 0 && !fcgi)
			check(n < 9 || memcmp(o->data + o->len, "HTTP/1.1 ",
			    9) == 0, "HTTP output without a status line");
		*got += (size_t)n;
		o->total += (size_t)n;
		o->len += (size_t)n;
		if (fcgi)
			fcgi_output(o);
		else
			o->len = 0;	/* bytes counted, not kept */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out_state o = { 0 };
	struct loop_tq *queues[6];
	int sv[2], eof = 0, shut = 0, fcgi, rate;
	uint32_t seed;
	size_t off = 2, w, got;
	long rounds, quiet = 0, bound;
	ssize_t n;

	if (size < 2)
		return 0;
	setup();
	fcgi = data[0] & 1;
	requests_left = (data[0] >> 1) & 3;
	rate = data[0] >> 4;
	seed = 0x9e3779b9u ^ data[1];
	conn_host.stopping = 0;
	runs = 0;
	queues[0] = conn_host.tq_header;
	queues[1] = conn_host.tq_read;
	queues[2] = conn_host.tq_write;
	queues[3] = conn_host.tq_idle;
	queues[4] = conn_host.tq_drain;
	queues[5] = conn_host.tq_request;
	module.m = (data[1] & 0x40) ? &fz_async_module : &fz_module;
	bound = fcgi ? fcgi_begins(data + 2, size - 2) :
	    http_heads(data + 2, size - 2);

	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) == 0, "socketpair");
	if (data[0] & 8) {
		int sz = 4096;

		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	check(conn_host.nconns == 0, "a connection outlived its run");
	check((fcgi ? fcgi_conn_accept(sv[0], &fz_fcgi) :
	    http_conn_accept(sv[0], &fz_http)) == 0, "accept");

	for (rounds = 0; rounds < ROUND_MAX; rounds++) {
		if (off < size) {
			w = 1 + prng(&seed) % ((data[1] & 0x80) ? 4 : 64);
			if (w > size - off)
				w = size - off;
			n = send(sv[1], data + off, w, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR)
				off = size;	/* bridge closed */
		}
		if (off >= size && !shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
		}
		if (rate > 0 && prng(&seed) % (uint32_t)(17 - rate) == 0)
			expire_queue(queues[prng(&seed) % 6]);
		conn_host.loop->stop = 0;
		check(loop_run(conn_host.loop) == 0, "loop_run");
		check(runs <= bound, "the module ran more often than the "
		    "input holds requests (a request ran twice)");
		got = 0;
		if (!eof)
			eof = drain(sv[1], &o, fcgi, &got);
		if (fcgi)
			check(o.ends <= bound, "more END_REQUESTs than "
			    "BEGIN_REQUESTs");
		if (eof && conn_host.nconns == 0)
			break;
		quiet = shut && got == 0 ? quiet + 1 : 0;
		if (quiet > QUIET_MAX)
			break;
	}
	check(conn_host.nconns == 0,
	    "connection still open after the peer closed and read all");
	check(hooks_pending == 0, "a request's finish hooks never ran");
	close(sv[1]);
	free(o.data);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <string.h>

#include "standalone.h"
#endif
