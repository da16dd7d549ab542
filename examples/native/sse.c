/*
 * Server-Sent Events from one timer to every client of a worker: an
 * asynchronous (gateway ABI 2) bridge module.
 *
 *	make -C examples/native
 *	bridge --http :8000 --module ./examples/native/sse.so \
 *	    --module-arg interval_ms=1000
 *	curl -N http://127.0.0.1:8000/events
 *
 *	GET /events	text/event-stream: one event per tick,
 *			"id: N" and "data: {...}" (WHATWG HTML, section
 *			9.2 "Server-sent events")
 *	GET /stats	counters of this worker, as text
 *	anything else	a small page that listens to /events
 *
 * handle() starts the stream, puts the request on the worker's client
 * list and returns BG_PENDING: the request stays open without a thread
 * and without blocking the worker.  One timer on the worker's loop
 * writes each event to every client.  write() never blocks; it says
 * BG_AGAIN once a client has more than high_water bytes waiting, and
 * that client then misses events (counted as dropped) until
 * BG_EV_DRAINED says it has caught up: a slow reader costs at most
 * high_water bytes, never an unbounded queue.  BG_EV_GONE (the client
 * closed) takes it off the list and finishes the request; so does
 * BG_EV_STOP (the worker is stopping), which ends the stream cleanly.
 *
 * --module-arg takes comma-separated settings: interval_ms=N between
 * events (default 1000), pad=N bytes of filler in each event's data
 * (default 0; for load tests).
 *
 * Event ids count this worker's ticks.  A client that reconnects with
 * Last-Event-ID gets the events it missed again, as far as the last
 * SSE_RING ticks reach and as long as it lands on the same worker.
 * --timeout bounds an asynchronous request only until its response
 * starts, which handle() does at once: a stream lives as long as its
 * client.
 *
 * It needs nothing but the installed <bridge/gateway.h>.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bridge/gateway.h>

#define SSE_RING 64		/* past events kept for Last-Event-ID */
#define SSE_EVENT_MAX 128	/* bytes of one event, without its pad */
#define SSE_PAD_MAX 65536

struct sse;

struct sse_client {
	bg_request *r;
	struct sse *st;
	struct sse_client *prev, *next;
	int blocked;		/* above high_water: skip until DRAINED */
	unsigned long long sent, dropped;
};

/* What an event said: its text is made again from this. */
struct sse_event {
	unsigned long long id, clients;
};

struct sse {
	unsigned long long interval_ms;
	size_t pad;
	bg_timer *timer;	/* armed while there are clients */
	struct sse_client *clients;
	unsigned long long nclients, ticks, sent, dropped, gone;
	struct sse_event ring[SSE_RING];	/* event id % SSE_RING */
	char *text;		/* SSE_EVENT_MAX + pad bytes */
};

static const struct bg_server *srv;

static void sse_tick(void *);

/* One setting "name=N" of --module-arg, N in lo..hi.  Returns 1 if arg
 * starts with name=, 0 if not, -1 if N is wrong (logged). */
static int
sse_setting(const char *arg, size_t len, const char *name,
    unsigned long long lo, unsigned long long hi, unsigned long long *v)
{
	size_t n = strlen(name);
	char num[24], *end;

	if (len <= n || strncmp(arg, name, n) != 0 || arg[n] != '=')
		return 0;
	len -= n + 1;
	arg += n + 1;
	if (len == 0 || len >= sizeof(num))
		goto bad;
	memcpy(num, arg, len);
	num[len] = '\0';
	errno = 0;
	*v = strtoull(num, &end, 10);
	if (errno != 0 || *end != '\0' || num[0] == '-' || *v < lo ||
	    *v > hi)
		goto bad;
	return 1;
bad:
	srv->log(NULL, BG_LOG_ERROR, "sse: --module-arg %s: a number from %llu "
	    "to %llu expected", name, lo, hi);
	return -1;
}

static int
sse_init(const struct bg_server *s, const char *arg, void **ctx)
{
	unsigned long long ms = 1000, pad = 0;
	struct sse *st;
	const char *p;
	size_t len;
	int rc;

	srv = s;
	if (s->abi_version < 2 ||
	    s->size <= offsetof(struct bg_server, on_event) ||
	    s->on_event == NULL || s->finish == NULL) {
		s->log(NULL, BG_LOG_ERROR, "sse: this bridge does not offer "
		    "asynchronous requests (gateway ABI 2)");
		return -1;
	}
	for (p = arg; p != NULL && *p != '\0'; p += len + (p[len] == ',')) {
		len = strcspn(p, ",");
		if ((rc = sse_setting(p, len, "interval_ms", 1, 3600000,
		    &ms)) == 0)
			rc = sse_setting(p, len, "pad", 0, SSE_PAD_MAX, &pad);
		if (rc == -1)
			return -1;
		if (rc == 0) {
			s->log(NULL, BG_LOG_ERROR, "sse: --module-arg '%.*s': "
			    "expected interval_ms=N or pad=N", (int)len, p);
			return -1;
		}
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->text = malloc(SSE_EVENT_MAX + pad)) == NULL) {
		free(st);
		s->log(NULL, BG_LOG_ERROR, "sse: out of memory");
		return -1;
	}
	st->interval_ms = ms;
	st->pad = (size_t)pad;
	*ctx = st;
	return 0;
}

/* An event's text in st->text; returns its length. */
static size_t
sse_format(struct sse *st, const struct sse_event *ev)
{
	int n;

	n = snprintf(st->text, SSE_EVENT_MAX,
	    "id: %llu\ndata: {\"tick\":%llu,\"clients\":%llu,\"pad\":\"",
	    ev->id, ev->id, ev->clients);
	if (n < 0 || n >= SSE_EVENT_MAX - 8)
		return 0;
	memset(st->text + n, '.', st->pad);
	memcpy(st->text + n + st->pad, "\"}\n\n", 4);
	return (size_t)n + st->pad + 4;
}

static void
sse_unlink(struct sse *st, struct sse_client *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		st->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	st->nclients--;
}

/* The stream ends here, whatever the reason. */
static void
sse_drop(struct sse *st, struct sse_client *c, int rc)
{
	sse_unlink(st, c);
	st->gone++;
	srv->log(c->r, BG_LOG_DEBUG, "sse: stream ended after %llu events "
	    "(%llu dropped)", c->sent, c->dropped);
	srv->finish(c->r, rc);
	free(c);
}

/* Queue bytes for one client and push them out now (bridge otherwise
 * holds a short response back).  Returns 0, or -1 when the client has
 * gone (the caller drops it). */
static int
sse_send(struct sse_client *c, const char *buf, size_t n)
{
	int rc;

	if ((rc = srv->write(c->r, buf, n)) == -1 ||
	    (rc == BG_OK && (rc = srv->flush(c->r)) == -1))
		return -1;
	if (rc == BG_AGAIN)
		c->blocked = 1;
	return 0;
}

static void
sse_on_event(bg_request *r, unsigned events, void *arg)
{
	struct sse_client *c = arg;
	char buf[512];

	/* Gone: the client left.  Stop: the worker is stopping; ending
	 * the stream now lets it exit at once, and EventSource
	 * reconnects (to a worker that stays) after its retry delay. */
	if (events & (BG_EV_GONE | BG_EV_STOP)) {
		sse_drop(c->st, c, BG_OK);
		return;
	}
	if (events & BG_EV_DRAINED)
		c->blocked = 0;
	if (events & BG_EV_BODY) {
		/* A GET has no body; discard whatever comes. */
		while (srv->read(r, buf, sizeof(buf)) > 0)
			;
	}
}

static void
sse_arm(struct sse *st)
{
	if (st->timer != NULL || st->clients == NULL)
		return;
	if ((st->timer = srv->timer(st->interval_ms, sse_tick, st)) == NULL)
		srv->log(NULL, BG_LOG_ERROR, "sse: cannot arm the timer");
}

static void
sse_tick(void *arg)
{
	struct sse *st = arg;
	struct sse_client *c, *next;
	struct sse_event *ev;
	size_t n;

	st->timer = NULL;	/* it ran: freed by the server */
	st->ticks++;
	ev = &st->ring[st->ticks % SSE_RING];
	ev->id = st->ticks;
	ev->clients = st->nclients;
	n = sse_format(st, ev);
	for (c = st->clients; c != NULL; c = next) {
		next = c->next;
		if (c->blocked) {
			c->dropped++;
			st->dropped++;
			continue;
		}
		if (sse_send(c, st->text, n) == -1) {
			sse_drop(st, c, BG_ERROR);
			continue;
		}
		c->sent++;
		st->sent++;
	}
	sse_arm(st);
}

/* Text answers, synchronous: the request ends when handle() returns. */
static int
sse_text(bg_request *r, int status, const char *type, const char *body,
    size_t n)
{
	char len[24];
	struct bg_header h[3] = {
		{ "Content-Type", 12, type, strlen(type) },
		{ "Content-Length", 14, len, 0 },
		{ "Cache-Control", 13, "no-cache", 8 },
	};

	h[1].value_len = (size_t)snprintf(len, sizeof(len), "%zu", n);
	if (srv->start_response(r, status, NULL, h, 3, 0) == -1)
		return BG_ERROR;
	return srv->write(r, body, n) == -1 ? BG_ERROR : BG_OK;
}

static int
sse_stats(struct sse *st, bg_request *r)
{
	char body[256];
	int n;

	n = snprintf(body, sizeof(body), "clients %llu\nticks %llu\n"
	    "sent %llu\ndropped %llu\ngone %llu\ninterval_ms %llu\n",
	    st->nclients, st->ticks, st->sent, st->dropped, st->gone,
	    st->interval_ms);
	return sse_text(r, 200, "text/plain", body, (size_t)n);
}

/* Replay the events after Last-Event-ID that the ring still holds. */
static int
sse_replay(struct sse *st, struct sse_client *c, const char *last)
{
	unsigned long long id, from;
	char *end;

	errno = 0;
	id = strtoull(last, &end, 10);
	if (errno != 0 || end == last || *end != '\0' || id >= st->ticks)
		return 0;
	from = st->ticks - id > SSE_RING ? st->ticks - SSE_RING + 1 :
	    id + 1;
	for (; from <= st->ticks; from++) {
		const struct sse_event *ev = &st->ring[from % SSE_RING];

		if (ev->id == from &&
		    sse_send(c, st->text, sse_format(st, ev)) == -1)
			return -1;
	}
	return 0;
}

static int
sse_stream(struct sse *st, bg_request *r)
{
	static const struct bg_header h[] = {
		{ "Content-Type", 12, "text/event-stream", 17 },
		{ "Cache-Control", 13, "no-cache", 8 },
		/* nginx in front: pass events through unbuffered. */
		{ "X-Accel-Buffering", 17, "no", 2 },
	};
	static const char hello[] = ": connected\n\n";
	struct sse_client *c;
	const char *last;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		srv->log(r, BG_LOG_ERROR, "sse: out of memory");
		return BG_ERROR;
	}
	c->r = r;
	c->st = st;
	if (srv->on_event(r, sse_on_event, c) == -1) {
		/* The front end ran handle() as a synchronous request. */
		srv->log(r, BG_LOG_ERROR, "sse: this front end has no "
		    "asynchronous requests");
		free(c);
		return BG_ERROR;
	}
	last = srv->var(r, "HTTP_LAST_EVENT_ID", NULL);
	if (srv->start_response(r, 200, NULL, h, 3, 0) == -1 ||
	    sse_send(c, hello, sizeof(hello) - 1) == -1 ||
	    (last != NULL && sse_replay(st, c, last) == -1)) {
		srv->on_event(r, NULL, NULL);
		free(c);
		return BG_ERROR;
	}
	if ((c->next = st->clients) != NULL)
		c->next->prev = c;
	st->clients = c;
	st->nclients++;
	sse_arm(st);
	return BG_PENDING;
}

static int
sse_handle(void *ctx, bg_request *r)
{
	static const char page[] =
	    "<!doctype html>\n<title>bridge SSE</title>\n<pre id=e></pre>\n"
	    "<script>\nnew EventSource('events').onmessage = function (m) "
	    "{\n  document.getElementById('e').textContent = m.lastEventId"
	    " + ' ' + m.data;\n};\n</script>\n";
	struct sse *st = ctx;
	const char *path = srv->var(r, "PATH_INFO", NULL);

	if (path != NULL && strcmp(path, "/events") == 0)
		return sse_stream(st, r);
	if (path != NULL && strcmp(path, "/stats") == 0)
		return sse_stats(st, r);
	return sse_text(r, 200, "text/html; charset=utf-8", page,
	    sizeof(page) - 1);
}

/* The worker is stopping: end the streams still open. */
static void
sse_worker_fini(void *ctx)
{
	struct sse *st = ctx;

	if (st->timer != NULL)
		srv->timer_cancel(st->timer);
	st->timer = NULL;
	while (st->clients != NULL)
		sse_drop(st, st->clients, BG_OK);
}

static const struct bg_module sse_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "sse",
	.init = sse_init,
	.handle = sse_handle,
	.worker_fini = sse_worker_fini,
	.flags = BG_MODULE_ASYNC,
};

const struct bg_module *
bg_module_entry(void)
{
	return &sse_module;
}
