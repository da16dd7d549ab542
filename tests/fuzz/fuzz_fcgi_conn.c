/*
 * Fuzz target: the FastCGI connection state machine (bridge/protocols/fcgi_conn.c)
 * driven end to end.  The input is written into one end of a socketpair;
 * the other end is handed to fcgi_conn_accept() and served by the real
 * event loop, request model and a small in-file module, exactly as a
 * worker does.  What the bridge sends back is read and checked.
 *
 * Input layout: byte 0 chooses the delivery, the rest is the stream the
 * "web server" sends.
 *	bits 0-6  bytes written per loop round (0: as much as fits)
 *	bit 7     a small send buffer on the bridge's socket, so that output
 *	          drains over many rounds (EAGAIN paths)
 *
 * Checks beyond ASan/UBSan/LeakSanitizer:
 *	- the output is a well-formed record stream of types an application
 *	  may send (STDOUT, END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE),
 *	  END_REQUEST and UNKNOWN_TYPE 8 bytes long, management answers on
 *	  id 0;
 *	- every response starts with a CGI head ("Status: ");
 *	- no STDOUT for a request after its empty end-of-stream STDOUT;
 *	- once the peer has closed its side and read everything, the
 *	  connection closes within a bounded number of rounds;
 *	- every finish hook a request registered has run by then.
 *
 * The module's behaviour comes from the request's own PARAMS, so the
 * fuzzer reaches the gateway's error paths too: FUZZ_MODE (first letter)
 *	o  echo: 200, the body length and the body (default)
 *	e  BG_ERROR before any output (500)
 *	n  return without start_response (502)
 *	c  Content-Length larger than what is written (cut)
 *	l  Content-Length smaller than what is written (clipped)
 *	b  FUZZ_SIZE body bytes (at most 4 MiB) in FUZZ_SIZE/7 writes
 *	x  BG_ERROR after output
 *	r  start_response, then again with BG_REPLACE
 *	h  one header FUZZ_HNAME: FUZZ_HVALUE (validation)
 *	s  sendfile of FUZZ_SIZE bytes of a memfd (pread fallback)
 *
 * FUZZ_SOURCES: bridge/protocols/fcgi_conn.c bridge/protocols/fcgi.c bridge/core/buf.c bridge/gateway/body.c
 * FUZZ_SOURCES: bridge/core/pool.c bridge/gateway/req.c bridge/core/loop.c bridge/core/log.c
 * FUZZ_SOURCES: bridge/core/config.c bridge/gateway/module.c bridge/gateway/access_log.c
 * FUZZ_SOURCES: bridge/gateway/scoreboard.c bridge/net/transport.c bridge/net/conn.c
 * FUZZ_SOURCES: bridge/gateway/health.c
 * FUZZ_SOURCES: bridge/net/proxy_proto.c
 * FUZZ_SOURCES: bridge/gateway/forwarded.c bridge/gateway/forwarded_req.c bridge/gateway/req_split.c
 * FUZZ_SOURCES: bridge/gateway/static.c bridge/gateway/static_parse.c
 * FUZZ_LIBS: -ldl
 * FUZZ_CORPUS: fcgi
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
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
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUND_MAX 200000	/* loop rounds, whatever happens */
#define QUIET_MAX 64		/* rounds without output once the peer is
				 * done: a stall */
#define BIG_MAX (4 * 1024 * 1024)
#define FILE_SIZE (256 * 1024)

/*
 * What the worker sets up for its connections (conn.h's conn_host);
 * worker.c and dispatch.c are not linked (listeners, signals, module
 * loading, threads).
 */
static struct loop host_loop;

/* No master here to enforce --timeout: the brackets do nothing. */
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

void
dispatch_request_done(void)
{
}

/* As the worker does with --threads 1: run, then finish, at once. */
void
dispatch_submit(struct dispatch_job *j)
{
	j->run(j);
	j->done(j);
}

/* The listener the connection came from, as far as it matters here. */
static struct listener fz_listener = {
	.fd = -1,
	.proto = PROTO_FASTCGI,
	.name = "fuzz",
};

static int hooks_pending;
static int file_fd = -1;

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_fcgi_conn: %s\n", what);
		abort();
	}
}

/*
 * The module.
 */

static void
fz_finish(void *arg)
{
	(void)arg;
	hooks_pending--;
	check(hooks_pending >= 0, "finish hook ran twice");
}

static size_t
var_size(bg_request *r, const char *name, size_t max)
{
	size_t len = 0, i, x = 0;
	const char *v = req_server.var(r, name, &len);

	for (i = 0; v != NULL && i < len && i < 9; i++)
		if (v[i] >= '0' && v[i] <= '9')
			x = x * 10 + (size_t)(v[i] - '0');
	return x > max ? max : x;
}

static int
fz_handle(void *ctx, bg_request *r)
{
	const struct bg_server *s = &req_server;
	struct req *rq = (struct req *)(void *)r;
	static uint8_t big[65536];
	struct bg_header h[2];
	char buf[4096], len[32];
	const char *mode, *hn, *hv;
	size_t mlen = 0, hnl = 0, hvl = 0, total = 0, i, n, want, step;
	uint64_t vbytes = 0;
	ssize_t got;

	(void)ctx;
	if (s->on_finish(r, fz_finish, NULL) == 0)
		hooks_pending++;
	/* Touch every variable the front end decoded. */
	for (i = 0; i < s->var_count(r); i++) {
		const struct bg_var *v = s->var_at(r, i);

		check(v != NULL && v->name[v->name_len] == '\0' &&
		    v->value[v->value_len] == '\0', "variable not terminated");
		vbytes += v->name_len + v->value_len;
	}
	check(s->var_at(r, i) == NULL, "var_at past the end");
	(void)vbytes;
	/* The whole body, in odd-sized reads. */
	while ((got = s->read(r, buf, 1 + total % sizeof(buf))) > 0)
		total += (size_t)got;
	check(got == 0, "body read failed");
	check(total == rq->body.len, "body read back short or long");
	check(s->read(r, buf, sizeof(buf)) == 0, "read past the end");

	mode = s->var(r, "FUZZ_MODE", &mlen);
	switch (mode != NULL && mlen > 0 ? mode[0] : 'o') {
	case 'e':
		return BG_ERROR;
	case 'n':
		return BG_OK;
	case 'c':
	case 'l':
		h[0] = (struct bg_header){ "Content-Length", 14,
		    mode[0] == 'c' ? "100" : "2", mode[0] == 'c' ? 3 : 1 };
		if (s->start_response(r, 200, NULL, h, 1, 0) == -1)
			return BG_ERROR;
		return s->write(r, "abc", 3) == 0 ? BG_OK : BG_ERROR;
	case 'b':
		want = var_size(r, "FUZZ_SIZE", BIG_MAX);
		step = want / 7 + 1;
		if (s->start_response(r, 200, NULL, NULL, 0, 0) == -1)
			return BG_ERROR;
		for (i = 0; i < want; i += n) {
			n = want - i < step ? want - i : step;
			if (n > sizeof(big))
				n = sizeof(big);
			memset(big, 'a' + (int)(i % 26), n);
			if (s->write(r, big, n) == -1)
				return BG_ERROR;
		}
		return BG_OK;
	case 'x':
		if (s->start_response(r, 200, NULL, NULL, 0, 0) == -1 ||
		    s->write(r, "partial", 7) == -1)
			return BG_ERROR;
		return BG_ERROR;
	case 'r':
		h[0] = (struct bg_header){ "X-First", 7, "1", 1 };
		if (s->start_response(r, 200, NULL, h, 1, 0) == -1)
			return BG_ERROR;
		check(s->start_response(r, 404, NULL, NULL, 0, 0) == -1,
		    "second start_response without replace accepted");
		if (s->start_response(r, 500, "Oops", NULL, 0, BG_REPLACE)
		    == -1)
			return BG_ERROR;
		if (s->write(r, "replaced", 8) == -1)
			return BG_ERROR;
		check(s->start_response(r, 200, NULL, NULL, 0, BG_REPLACE) ==
		    -1, "replace after the first byte accepted");
		return BG_OK;
	case 'h':
		hn = s->var(r, "FUZZ_HNAME", &hnl);
		hv = s->var(r, "FUZZ_HVALUE", &hvl);
		h[0] = (struct bg_header){ hn != NULL ? hn : "X", hn != NULL ?
		    hnl : 1, hv, hvl };
		if (s->start_response(r, 200, NULL, h, 1, 0) == -1)
			return BG_ERROR;
		return s->write(r, "h", 1) == 0 ? BG_OK : BG_ERROR;
	case 's':
		want = var_size(r, "FUZZ_SIZE", FILE_SIZE);
		if (s->start_response(r, 200, NULL, NULL, 0, 0) == -1)
			return BG_ERROR;
		return s->sendfile(r, file_fd, (off_t)(FILE_SIZE - want),
		    want) == 0 ? BG_OK : BG_ERROR;
	default:
		n = (size_t)snprintf(len, sizeof(len), "%zu", total + 6);
		h[0] = (struct bg_header){ "Content-Type", 12, "text/plain",
		    10 };
		h[1] = (struct bg_header){ "Content-Length", 14, len, n };
		if (s->start_response(r, 200, NULL, h, 2, 0) == -1 ||
		    s->write(r, "body: ", 6) == -1)
			return BG_ERROR;
		/* Echo the body back, read a second time from the start. */
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
 * The harness.
 */

/* An always-readable eventfd whose callback stops the loop: one
 * loop_run() call is then exactly one round, deferred frees included. */
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
	uint8_t chunk[4096];
	size_t i;

	if (done)
		return;
	done = 1;
	conn_host.loop = &host_loop;
	check(loop_init(conn_host.loop) == 0, "loop_init");
	conn_host.tq_read = loop_tq_new(conn_host.loop, 60000);
	conn_host.tq_idle = loop_tq_new(conn_host.loop, 300000);
	conn_host.tq_write = loop_tq_new(conn_host.loop, 120000);
	stopper.fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	stopper.fn = stop_round;
	check(stopper.fd != -1 &&
	    loop_add(conn_host.loop, &stopper, EPOLLIN) == 0, "stopper");

	/* Limits low enough for the fuzzer to reach 413, 431, OVERLOADED. */
	config.fcgi_max_reqs = 4;
	config.max_params = 32;
	config.max_params_bytes = 8192;
	config.max_body = 256 * 1024;
	config.write_timeout = 0;	/* nobody reads while a module runs */
	body_configure(2048, "/tmp");
	module.m = &fz_module;
	module.ctx = NULL;
	if (getenv("FUZZ_LOG") == NULL) {
		/* Format every line (the paths are worth fuzzing), keep
		 * none. */
		check(log_open("/dev/null") == 0, "log_open");
	}
	log_level = LOG_LEVEL_DEBUG;

	file_fd = memfd_create("fuzz-sendfile", MFD_CLOEXEC);
	check(file_fd != -1, "memfd_create");
	for (i = 0; i < FILE_SIZE; i += sizeof(chunk)) {
		memset(chunk, 'A' + (int)(i / sizeof(chunk) % 26),
		    sizeof(chunk));
		check(write(file_fd, chunk, sizeof(chunk)) ==
		    (ssize_t)sizeof(chunk), "memfd write");
	}
}

/* What the harness knows of the output stream so far. */
struct out_state {
	uint8_t *data;
	size_t len, cap;
	size_t parsed;
	uint8_t ended[65536 / 8];	/* empty STDOUT seen, END not yet */
	uint8_t started[65536 / 8];	/* some STDOUT seen */
};

#define BIT(a, i) ((a)[(i) >> 3] & (1u << ((i) & 7)))
#define SET(a, i) ((a)[(i) >> 3] |= (uint8_t)(1u << ((i) & 7)))
#define CLR(a, i) ((a)[(i) >> 3] &= (uint8_t) ~(1u << ((i) & 7)))

static void
check_output(struct out_state *o)
{
	struct fcgi_record rec;
	ssize_t n;

	for (;;) {
		n = fcgi_parse_record(o->data + o->parsed, o->len - o->parsed,
		    &rec);
		if (n == FCGI_PARSE_AGAIN)
			break;
		check(n != FCGI_PARSE_BAD, "output record has a bad version");
		switch (rec.type) {
		case FCGI_STDOUT:
			check(rec.id != 0, "STDOUT on id 0");
			if (rec.content_len == 0) {
				SET(o->ended, rec.id);
				break;
			}
			check(!BIT(o->ended, rec.id),
			    "STDOUT after the end of the stream");
			if (!BIT(o->started, rec.id)) {
				check(rec.content_len >= 8 &&
				    memcmp(rec.content, "Status: ", 8) == 0,
				    "response does not start with its head");
				SET(o->started, rec.id);
			}
			break;
		case FCGI_END_REQUEST:
			check(rec.id != 0 && rec.content_len == 8,
			    "malformed END_REQUEST");
			CLR(o->ended, rec.id);
			CLR(o->started, rec.id);
			break;
		case FCGI_GET_VALUES_RESULT:
			check(rec.id == 0, "GET_VALUES_RESULT not on id 0");
			break;
		case FCGI_UNKNOWN_TYPE:
			check(rec.id == 0 && rec.content_len == 8,
			    "malformed UNKNOWN_TYPE");
			break;
		default:
			check(0, "record type an application must not send");
		}
		o->parsed += (size_t)n;
	}
	/* Keep only the unparsed tail. */
	if (o->parsed > 0) {
		memmove(o->data, o->data + o->parsed, o->len - o->parsed);
		o->len -= o->parsed;
		o->parsed = 0;
	}
}

/* Read what the bridge sent.  Returns 1 at EOF, else 0; *got counts the
 * bytes read. */
static int
drain(int fd, struct out_state *o, size_t *got)
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
		if (n == -1) {
			if (errno == EINTR)
				continue;
			/* EAGAIN; ECONNRESET counts as the end */
			return errno == EAGAIN ? 0 : 1;
		}
		*got += (size_t)n;
		o->len += (size_t)n;
		check_output(o);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct out_state o;
	int sv[2], eof = 0, shut = 0, small;
	size_t off = 1, chunk, w, got;
	long rounds, quiet = 0;
	ssize_t n;

	if (size < 1)
		return 0;
	setup();
	chunk = data[0] & 0x7f;
	small = data[0] & 0x80;
	memset(&o, 0, sizeof(o));
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) == 0, "socketpair");
	if (small) {
		int sz = 4096;

		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	check(conn_host.nconns == 0, "a connection outlived its run");
	check(fcgi_conn_accept(sv[0], &fz_listener) == 0, "fcgi_conn_accept");

	for (rounds = 0; rounds < ROUND_MAX; rounds++) {
		if (off < size) {
			w = chunk == 0 || chunk > size - off ? size - off :
			    chunk;
			n = send(sv[1], data + off, w, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR)
				off = size;	/* the bridge closed */
		}
		if (off >= size && !shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
		}
		conn_host.loop->stop = 0;
		check(loop_run(conn_host.loop) == 0, "loop_run");
		got = 0;
		if (!eof)
			eof = drain(sv[1], &o, &got);
		if (eof && conn_host.nconns == 0)
			break;
		/* Input all sent and the peer's side shut: the bridge has
		 * everything, so it must keep sending or close. */
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
