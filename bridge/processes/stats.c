/*
 * Rendering of the scoreboard: Prometheus text exposition format 0.0.4
 * (one "# HELP" and "# TYPE" line per metric family, a histogram as
 * cumulative _bucket{le=...} series with _sum and _count), and the JSON
 * and HTML of the status page.  Counters are summed over every slot,
 * whether its worker is configured now or not, so that they only grow
 * while the master lives (a HUP re-exec starts them anew: a counter
 * reset, which Prometheus expects).
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listen.h"
#include "loop.h"
#include "scoreboard.h"
#include "stats.h"

static const uint64_t bounds_us[SCOREBOARD_BUCKETS - 1] = {
	SCOREBOARD_BUCKETS_US
};
static const char *const le[SCOREBOARD_BUCKETS] = {
	"0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "+Inf"
};
static const char *const class_name[SCOREBOARD_CLASSES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx", "other"
};
/* enum scoreboard_recycle, as the flags that cause them are named. */
static const char *const recycle_name[SCOREBOARD_RECYCLE_MAX] = {
	"max-requests", "max-worker-memory", "timeout", "reload", "crash"
};

/* Everything summed over the slots, taken once per rendering. */
struct totals {
	uint64_t classes[SCOREBOARD_CLASSES];
	uint64_t buckets[SCOREBOARD_BUCKETS];
	uint64_t duration_us, bytes, requests;
	int64_t in_flight;
	int workers;		/* configured */
	int shown;		/* slots worth a row: 0..shown-1 */
};

static uint64_t
load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void
totals_take(struct totals *t)
{
	struct scoreboard_head *h = scoreboard_head();
	struct scoreboard_slot *s;
	int i, k;

	memset(t, 0, sizeof(*t));
	t->workers = h != NULL ? h->workers : 0;
	t->shown = t->workers;
	for (i = 0; (s = scoreboard_slot(i)) != NULL; i++) {
		for (k = 0; k < SCOREBOARD_CLASSES; k++)
			t->classes[k] += load(&s->classes[k]);
		for (k = 0; k < SCOREBOARD_BUCKETS; k++)
			t->buckets[k] += load(&s->buckets[k]);
		t->duration_us += load(&s->duration_us);
		t->bytes += load(&s->bytes);
		t->in_flight += (int64_t)load(&s->in_flight);
		/* A worker removed by TTOU still finishing its requests. */
		if (i >= t->workers && s->state != SCOREBOARD_EMPTY)
			t->shown = i + 1;
	}
	for (k = 0; k < SCOREBOARD_BUCKETS; k++)
		t->requests += t->buckets[k];
	if (t->in_flight < 0)	/* a slot reset under a retiring worker */
		t->in_flight = 0;
}

static const char *
slot_state(const struct scoreboard_slot *s)
{
	if (s->state != SCOREBOARD_READY)
		return "starting";	/* or about to be respawned */
	return s->busy_since != 0 ? "busy" : "idle";
}

static uint64_t
slot_requests(const struct scoreboard_slot *s)
{
	uint64_t n = 0;
	int k;

	for (k = 0; k < SCOREBOARD_CLASSES; k++)
		n += load(&s->classes[k]);
	return n;
}

/*
 * The q-quantile of the latency, in seconds, estimated as Prometheus's
 * histogram_quantile() does: linear within the bucket that holds it, the
 * highest finite bound when it falls in +Inf.  -1 when nothing counted.
 */
static double
quantile(const struct totals *t, double q)
{
	double rank = q * (double)t->requests, lo, hi;
	uint64_t below = 0;
	int b;

	if (t->requests == 0)
		return -1;
	for (b = 0; b < SCOREBOARD_BUCKETS - 1; b++) {
		if ((double)(below + t->buckets[b]) >= rank &&
		    t->buckets[b] > 0) {
			lo = b == 0 ? 0 : (double)bounds_us[b - 1];
			hi = (double)bounds_us[b];
			return (lo + (hi - lo) * (rank - (double)below) /
			    (double)t->buckets[b]) / 1e6;
		}
		below += t->buckets[b];
	}
	return (double)bounds_us[SCOREBOARD_BUCKETS - 2] / 1e6;
}

/*
 * Depth and limit of a listening socket's accept queue.  TCP: TCP_INFO
 * on a listener reports them as tcpi_unacked and tcpi_sacked.  Unix:
 * sock_diag (UNIX_DIAG_RQLEN) on the socket's inode.  Returns 0, or -1
 * when the kernel will not tell.
 */
static int
queue_tcp(int fd, uint64_t *len, uint64_t *max)
{
	struct tcp_info ti;
	socklen_t n = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) == -1)
		return -1;
	*len = ti.tcpi_unacked;
	*max = ti.tcpi_sacked;
	return 0;
}

static int
queue_unix(int fd, uint64_t *len, uint64_t *max)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} q;
	union {
		struct nlmsghdr nlh;
		char b[1024];
	} a;
	struct unix_diag_msg *m;
	struct rtattr *at;
	struct stat st;
	ssize_t n;
	int nl, rc = -1, rest;

	if (fstat(fd, &st) == -1)
		return -1;
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_UNIX;
	q.req.udiag_states = ~0U;
	q.req.udiag_ino = (__u32)st.st_ino;
	q.req.udiag_show = UDIAG_SHOW_RQLEN;
	q.req.udiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if ((nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG)) == -1)
		return -1;
	/* The kernel answers while send() runs: the reply is queued by
	 * the time recv() looks, which therefore need not wait. */
	if (send(nl, &q, sizeof(q), 0) != (ssize_t)sizeof(q) ||
	    (n = recv(nl, &a, sizeof(a), MSG_DONTWAIT)) <
	    (ssize_t)NLMSG_LENGTH(sizeof(*m)) ||
	    a.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    a.nlh.nlmsg_len > (size_t)n)
		goto done;
	m = NLMSG_DATA(&a.nlh);
	at = (struct rtattr *)(m + 1);
	rest = (int)(a.nlh.nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (; RTA_OK(at, rest); at = RTA_NEXT(at, rest))
		if (at->rta_type == UNIX_DIAG_RQLEN &&
		    RTA_PAYLOAD(at) >= (int)sizeof(struct unix_diag_rqlen)) {
			struct unix_diag_rqlen *r = RTA_DATA(at);

			/* Of a listener: connections waiting, backlog. */
			*len = r->udiag_rqueue;
			*max = r->udiag_wqueue;
			rc = 0;
		}
done:
	close(nl);
	return rc;
}

static int
listen_queue(const struct listener *l, uint64_t *len, uint64_t *max)
{
	struct sockaddr_storage ss;
	socklen_t n = sizeof(ss);

	if (l->fd == -1 || getsockname(l->fd, (struct sockaddr *)&ss,
	    &n) == -1)
		return -1;
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
		return queue_tcp(l->fd, len, max);
	if (ss.ss_family == AF_UNIX)
		return queue_unix(l->fd, len, max);
	return -1;
}

static int __attribute__((format(printf, 2, 3)))
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (buf_reserve(b, 256) == -1)
			return -1;
		va_start(ap, fmt);
		n = vsnprintf((char *)buf_tail(b), b->cap - b->off - b->len,
		    fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < b->cap - b->off - b->len) {
			b->len += (size_t)n;
			return 0;
		}
		if (buf_reserve(b, (size_t)n + 1) == -1)
			return -1;
	}
}

/*
 * A string inside quotes: exposition format label values escape \, "
 * and newline; JSON escapes those and the other control bytes.  Listener
 * names come from the configuration, but may hold anything a path can.
 */
static int
put_quoted(struct buf *b, const char *s, int json)
{
	int rc = put(b, "\"");

	for (; *s != '\0' && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			rc = put(b, "\\%c", c);
		else if (c == '\n')
			rc = put(b, "\\n");
		else if (json && c < 0x20)
			rc = put(b, "\\u%04x", c);
		else
			rc = put(b, "%c", c);
	}
	return rc == 0 ? put(b, "\"") : -1;
}

static int
family(struct buf *b, const char *name, const char *type, const char *help)
{
	return put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int
metrics_requests(struct buf *b, const struct totals *t)
{
	uint64_t cum = 0;
	int k, rc;

	rc = family(b, "bridge_requests_total", "counter", "Requests "
	    "answered, by status class (other: ended before a status was "
	    "sent).");
	for (k = 0; k < SCOREBOARD_CLASSES && rc == 0; k++)
		if (k < SCOREBOARD_CLASSES - 1 || t->classes[k] > 0)
			rc = put(b, "bridge_requests_total{code=\"%s\"} %llu\n",
			    class_name[k], (unsigned long long)t->classes[k]);
	rc = rc ? rc : family(b, "bridge_request_duration_seconds",
	    "histogram", "Time from a request's start in the application to "
	    "the end of its response.");
	for (k = 0; k < SCOREBOARD_BUCKETS && rc == 0; k++) {
		cum += t->buckets[k];
		rc = put(b, "bridge_request_duration_seconds_bucket{le=\"%s\"} "
		    "%llu\n", le[k], (unsigned long long)cum);
	}
	rc = rc ? rc : put(b, "bridge_request_duration_seconds_sum "
	    "%llu.%06llu\nbridge_request_duration_seconds_count %llu\n",
	    (unsigned long long)(t->duration_us / 1000000),
	    (unsigned long long)(t->duration_us % 1000000),
	    (unsigned long long)cum);
	rc = rc ? rc : family(b, "bridge_response_bytes_total", "counter",
	    "Response body bytes sent.");
	rc = rc ? rc : put(b, "bridge_response_bytes_total %llu\n",
	    (unsigned long long)t->bytes);
	rc = rc ? rc : family(b, "bridge_requests_in_flight", "gauge",
	    "Requests taken by the application and not yet answered.");
	return rc ? rc : put(b, "bridge_requests_in_flight %lld\n",
	    (long long)t->in_flight);
}

static int
metrics_workers(struct buf *b, const struct totals *t)
{
	static const char *const states[] = { "idle", "busy", "starting" };
	struct scoreboard_head *h = scoreboard_head();
	struct scoreboard_slot *s;
	const char *st;
	int i, k, rc;

	rc = family(b, "bridge_workers", "gauge", "Worker processes "
	    "configured.");
	rc = rc ? rc : put(b, "bridge_workers %d\n", t->workers);
	rc = rc ? rc : family(b, "bridge_restarts_total", "counter",
	    "Workers replaced after they died, timed out or were recycled.");
	rc = rc ? rc : put(b, "bridge_restarts_total %llu\n",
	    (unsigned long long)(h != NULL ? h->restarts : 0));
	rc = rc ? rc : family(b, "bridge_worker_state", "gauge",
	    "1 for the state each worker is in (starting: also while it "
	    "waits to be respawned).");
	for (i = 0; i < t->shown && rc == 0; i++) {
		s = scoreboard_slot(i);
		st = slot_state(s);
		for (k = 0; k < 3 && rc == 0; k++)
			rc = put(b, "bridge_worker_state{worker=\"%d\","
			    "state=\"%s\"} %d\n", i, states[k],
			    strcmp(st, states[k]) == 0);
	}
	rc = rc ? rc : family(b, "bridge_worker_requests_total", "counter",
	    "Requests answered by each worker slot.");
	for (i = 0; i < t->shown && rc == 0; i++)
		rc = put(b, "bridge_worker_requests_total{worker=\"%d\"} "
		    "%llu\n", i, (unsigned long long)slot_requests(scoreboard_slot(i)));
	rc = rc ? rc : family(b, "bridge_worker_restarts_total", "counter",
	    "Times each worker slot's process was replaced.");
	for (i = 0; i < t->shown && rc == 0; i++)
		rc = put(b, "bridge_worker_restarts_total{worker=\"%d\"} "
		    "%llu\n", i, (unsigned long long)scoreboard_slot(i)->restarts);
	rc = rc ? rc : family(b, "bridge_worker_rss_bytes", "gauge",
	    "Resident memory of each worker, read after its requests at "
	    "most once a second (0: not read yet).");
	for (i = 0; i < t->shown && rc == 0; i++)
		rc = put(b, "bridge_worker_rss_bytes{worker=\"%d\"} %llu\n", i,
		    (unsigned long long)scoreboard_slot(i)->rss_bytes);
	rc = rc ? rc : family(b, "bridge_worker_recycles_total", "counter",
	    "Workers replaced, by reason (max-requests, max-worker-memory, "
	    "timeout, reload, crash).");
	for (k = 0; k < SCOREBOARD_RECYCLE_MAX && rc == 0; k++)
		rc = put(b, "bridge_worker_recycles_total{reason=\"%s\"} "
		    "%llu\n", recycle_name[k], (unsigned long long)(h != NULL ?
		    h->recycles[k] : 0));
	return rc;
}

/* One gauge family, a sample per listener the kernel reported on. */
static int
listener_gauge(struct buf *b, const char *name, const char *help,
    const int *ok, const uint64_t *v)
{
	int i, rc;

	rc = family(b, name, "gauge", help);
	for (i = 0; i < nlisteners && rc == 0; i++)
		if (ok[i]) {
			rc = put(b, "%s{listener=", name);
			rc = rc ? rc : put_quoted(b, listeners[i].name, 0);
			rc = rc ? rc : put(b, "} %llu\n",
			    (unsigned long long)v[i]);
		}
	return rc;
}

static int
metrics_listeners(struct buf *b)
{
	uint64_t len[LISTEN_MAX], max[LISTEN_MAX];
	int ok[LISTEN_MAX], i, rc;

	for (i = 0; i < nlisteners; i++)
		ok[i] = listen_queue(&listeners[i], &len[i], &max[i]) == 0;
	rc = listener_gauge(b, "bridge_listen_queue", "Connections waiting "
	    "in a listening socket's accept queue.", ok, len);
	return rc ? rc : listener_gauge(b, "bridge_listen_queue_max",
	    "Length limit of that queue (the listen backlog).", ok, max);
}

int
stats_metrics(struct buf *b)
{
	struct totals t;

	totals_take(&t);
	if (metrics_requests(b, &t) == -1 || metrics_workers(b, &t) == -1 ||
	    metrics_listeners(b) == -1)
		return -1;
	return 0;
}

static int
json_quantile(struct buf *b, const char *name, double v)
{
	return v < 0 ? put(b, "\"%s\":null,", name) :
	    put(b, "\"%s\":%.6f,", name, v);
}

static int
json_workers(struct buf *b, const struct totals *t)
{
	struct scoreboard_head *h = scoreboard_head();
	struct scoreboard_slot *s;
	int32_t why;
	int i, rc = put(b, "\"worker_list\":[");

	for (i = 0; i < t->shown && rc == 0; i++) {
		s = scoreboard_slot(i);
		why = s->last_recycle;
		rc = put(b, "%s{\"id\":%d,\"pid\":%d,\"state\":\"%s\","
		    "\"requests\":%llu,\"restarts\":%llu,\"rss\":%llu,"
		    "\"last_recycle\":%s%s%s}", i ? "," : "", i,
		    s->state != SCOREBOARD_EMPTY ? (int)s->pid : 0,
		    slot_state(s), (unsigned long long)slot_requests(s),
		    (unsigned long long)s->restarts,
		    (unsigned long long)s->rss_bytes,
		    why > 0 && why <= SCOREBOARD_RECYCLE_MAX ? "\"" : "",
		    why > 0 && why <= SCOREBOARD_RECYCLE_MAX ?
		    recycle_name[why - 1] : "null",
		    why > 0 && why <= SCOREBOARD_RECYCLE_MAX ? "\"" : "");
	}
	rc = rc ? rc : put(b, "],\"recycles\":{");
	for (i = 0; i < SCOREBOARD_RECYCLE_MAX && rc == 0; i++)
		rc = put(b, "%s\"%s\":%llu", i ? "," : "", recycle_name[i],
		    (unsigned long long)(h != NULL ? h->recycles[i] : 0));
	return rc ? rc : put(b, "},");
}

static int
json_listeners(struct buf *b)
{
	uint64_t len, max;
	int i, rc = put(b, "\"listeners\":["), first = 1;

	for (i = 0; i < nlisteners && rc == 0; i++) {
		rc = put(b, "%s{\"name\":", first ? "" : ",");
		rc = rc ? rc : put_quoted(b, listeners[i].name, 1);
		if (rc == 0 && listen_queue(&listeners[i], &len, &max) == 0)
			rc = put(b, ",\"queue\":%llu,\"queue_max\":%llu",
			    (unsigned long long)len, (unsigned long long)max);
		rc = rc ? rc : put(b, "}");
		first = 0;
	}
	return rc ? rc : put(b, "]");
}

int
stats_json(struct buf *b)
{
	struct scoreboard_head *h = scoreboard_head();
	struct totals t;
	uint64_t now = loop_clock_ms();
	int k, rc;

	totals_take(&t);
	rc = put(b, "{\"master_pid\":%d,\"stats_pid\":%ld,\"uptime_ms\":%llu,"
	    "\"workers\":%d,\"requests\":%llu,\"bytes\":%llu,"
	    "\"in_flight\":%lld,\"restarts\":%llu,\"classes\":{",
	    h != NULL ? (int)h->master_pid : 0, (long)getpid(),
	    (unsigned long long)(h != NULL ? now - h->started_ms : 0),
	    t.workers, (unsigned long long)t.requests,
	    (unsigned long long)t.bytes, (long long)t.in_flight,
	    (unsigned long long)(h != NULL ? h->restarts : 0));
	for (k = 0; k < SCOREBOARD_CLASSES && rc == 0; k++)
		rc = put(b, "%s\"%s\":%llu", k ? "," : "", class_name[k],
		    (unsigned long long)t.classes[k]);
	rc = rc ? rc : put(b, "},\"latency\":{");
	rc = rc ? rc : json_quantile(b, "p50", quantile(&t, 0.5));
	rc = rc ? rc : json_quantile(b, "p90", quantile(&t, 0.9));
	rc = rc ? rc : json_quantile(b, "p99", quantile(&t, 0.99));
	rc = rc ? rc : put(b, "\"mean\":%.6f},", t.requests ?
	    (double)t.duration_us / 1e6 / (double)t.requests : 0.0);
	rc = rc ? rc : json_workers(b, &t);
	rc = rc ? rc : json_listeners(b);
	return rc ? rc : put(b, "}\n");
}

/*
 * The page: no external resource (it must work on a host cut off from
 * the Internet); the script fills it from /status.json every 2 s and
 * says when the data went stale.  Requests/s are the difference between
 * two polls, over the server's own clock.
 */
const char stats_page[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width\">\n"
"<title>bridge status</title>\n"
"<style>\n"
"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
"h1{font-size:1.3em;margin:0 0 .6em}\n"
".cards{display:flex;flex-wrap:wrap;gap:.6em;margin-bottom:1em}\n"
".card{border:1px solid #ccc;border-radius:6px;padding:.4em .8em;"
"min-width:7em}\n"
".card b{display:block;font-size:1.4em}\n"
"table{border-collapse:collapse;margin-bottom:1em}\n"
"th,td{border-bottom:1px solid #ddd;padding:.2em .8em;text-align:right}\n"
"th:first-child,td:first-child{text-align:left}\n"
".idle{color:#2a7}.busy{color:#c60}.starting{color:#888}\n"
"#updated.stale{color:#c00}\n"
"</style></head><body>\n"
"<h1>bridge status</h1>\n"
"<p id=\"updated\">loading&hellip;</p>\n"
"<div class=\"cards\">\n"
"<div class=\"card\">requests<b id=\"requests\">-</b></div>\n"
"<div class=\"card\">requests/s<b id=\"rate\">-</b></div>\n"
"<div class=\"card\">in flight<b id=\"in_flight\">-</b></div>\n"
"<div class=\"card\">p50<b id=\"p50\">-</b></div>\n"
"<div class=\"card\">p90<b id=\"p90\">-</b></div>\n"
"<div class=\"card\">p99<b id=\"p99\">-</b></div>\n"
"<div class=\"card\">workers<b id=\"workers\">-</b></div>\n"
"<div class=\"card\">restarts<b id=\"restarts\">-</b></div>\n"
"</div>\n"
"<table><thead><tr><th>status</th><th>1xx</th><th>2xx</th><th>3xx</th>"
"<th>4xx</th><th>5xx</th><th>other</th></tr></thead>\n"
"<tbody><tr id=\"classes\"><td>requests</td><td>-</td><td>-</td>"
"<td>-</td><td>-</td><td>-</td><td>-</td></tr></tbody></table>\n"
"<table><thead><tr><th>worker</th><th>pid</th><th>state</th>"
"<th>requests</th><th>restarts</th><th>RSS</th><th>last recycled for</th>"
"</tr></thead>\n"
"<tbody id=\"worker_rows\"></tbody></table>\n"
"<table><thead><tr><th>listener</th><th>queue</th><th>backlog</th>"
"</tr></thead>\n"
"<tbody id=\"listener_rows\"></tbody></table>\n"
"<script>\n"
"\"use strict\";\n"
"var last = null;\n"
"function $(id) { return document.getElementById(id); }\n"
"function set(id, v) { $(id).textContent = v; }\n"
"function secs(s) {\n"
"  if (s === null) return \"-\";\n"
"  return s < 1 ? (s * 1000).toFixed(1) + \" ms\" : s.toFixed(2) + \" s\";\n"
"}\n"
"function row(cls, cells) {\n"
"  var tr = document.createElement(\"tr\"), i, td;\n"
"  tr.className = cls;\n"
"  for (i = 0; i < cells.length; i++) {\n"
"    td = document.createElement(\"td\");\n"
"    td.textContent = cells[i];\n"
"    tr.appendChild(td);\n"
"  }\n"
"  return tr;\n"
"}\n"
"function fill(id, rows) {\n"
"  var body = $(id);\n"
"  while (body.firstChild) body.removeChild(body.firstChild);\n"
"  rows.forEach(function (r) { body.appendChild(r); });\n"
"}\n"
"function show(d) {\n"
"  var dt, cells = $(\"classes\").children, k = [\"1xx\", \"2xx\",\n"
"    \"3xx\", \"4xx\", \"5xx\", \"other\"], i;\n"
"  set(\"requests\", d.requests);\n"
"  if (last && d.uptime_ms > last.uptime_ms &&\n"
"      d.requests >= last.requests) {\n"
"    dt = (d.uptime_ms - last.uptime_ms) / 1000;\n"
"    set(\"rate\", ((d.requests - last.requests) / dt).toFixed(1));\n"
"  } else if (d.uptime_ms > 0) {\n"
"    set(\"rate\", (d.requests * 1000 / d.uptime_ms).toFixed(1));\n"
"  }\n"
"  last = d;\n"
"  set(\"in_flight\", d.in_flight);\n"
"  set(\"p50\", secs(d.latency.p50));\n"
"  set(\"p90\", secs(d.latency.p90));\n"
"  set(\"p99\", secs(d.latency.p99));\n"
"  set(\"workers\", d.workers);\n"
"  set(\"restarts\", d.restarts);\n"
"  for (i = 0; i < k.length; i++) cells[i + 1].textContent = d.classes[k[i]];\n"
"  fill(\"worker_rows\", d.worker_list.map(function (w) {\n"
"    return row(\"worker \" + w.state, [w.id, w.pid || \"-\", w.state,\n"
"      w.requests, w.restarts, w.rss ? (w.rss / 1048576).toFixed(1) +\n"
"      \" MiB\" : \"-\", w.last_recycle || \"-\"]);\n"
"  }));\n"
"  fill(\"listener_rows\", d.listeners.map(function (l) {\n"
"    return row(\"listener\", [l.name, \"queue\" in l ? l.queue : \"-\",\n"
"      \"queue_max\" in l ? l.queue_max : \"-\"]);\n"
"  }));\n"
"  set(\"updated\", \"master pid \" + d.master_pid + \", up \" +\n"
"    Math.floor(d.uptime_ms / 1000) + \" s; updated \" +\n"
"    new Date().toLocaleTimeString());\n"
"  $(\"updated\").className = \"\";\n"
"}\n"
"function poll() {\n"
"  fetch(\"status.json\", { cache: \"no-store\" })\n"
"    .then(function (r) {\n"
"      if (!r.ok) throw new Error(\"HTTP \" + r.status);\n"
"      return r.json();\n"
"    })\n"
"    .then(show)\n"
"    .catch(function (e) {\n"
"      set(\"updated\", \"stale: \" + e.message);\n"
"      $(\"updated\").className = \"stale\";\n"
"    })\n"
"    .then(function () { setTimeout(poll, 2000); });\n"
"}\n"
"poll();\n"
"</script>\n"
"</body></html>\n";
const size_t stats_page_len = sizeof(stats_page) - 1;
