/*
 * The --stats process: a small HTTP/1.1 server of its own, apart from
 * the workers, so that it answers when they are all busy or hung, which
 * is when someone looks.  One request per connection (Connection:
 * close), GET and HEAD only, the request head bounded in size and time,
 * sockets non-blocking: a slow or stuck scraper holds one of
 * STATS_CONNS_MAX places for STATS_TIMEOUT_MS at most, and never the
 * process.  It reads the scoreboard and changes nothing.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "http_parse.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "priv.h"
#include "proctitle.h"
#include "req.h"
#include "stats.h"
#include "worker.h"

#define STATS_CONNS_MAX 32
#define STATS_HEAD_MAX 8192	/* request line and header section */
#define STATS_HEADERS_MAX 64
#define STATS_TIMEOUT_MS 10000	/* for the whole exchange */
#define STATS_LINGER_MS 1000	/* reading what a client sent after */
#define STATS_DRAIN_MS 2000	/* told to stop: finishing the open ones */

enum sconn_phase { SC_FREE, SC_READ, SC_WRITE, SC_LINGER };

struct sconn {
	int fd;
	enum sconn_phase phase;
	uint64_t deadline;
	size_t inlen;
	char in[STATS_HEAD_MAX];
	struct buf out;
};

static struct sconn conns[STATS_CONNS_MAX];
static int nconns;

static void
sconn_close(struct sconn *c)
{
	close(c->fd);
	buf_free(&c->out);
	c->phase = SC_FREE;
	c->fd = -1;
	nconns--;
}

/* Queue the whole response; bodies are built before the head so that
 * Content-Length is known. */
static void
respond(struct sconn *c, int status, const char *type, const char *extra,
    struct buf *body, int head_only)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n", status,
	    req_status_reason(status), type, body->len, extra);
	if (buf_append(&c->out, head, (size_t)n) == -1 || (!head_only &&
	    buf_append(&c->out, body->data + body->off, body->len) == -1)) {
		sconn_close(c);
		return;
	}
	c->phase = SC_WRITE;
}

static void
respond_error(struct sconn *c, int status, const char *extra, int head_only)
{
	struct buf body = { 0 };
	char text[64];
	int n;

	n = snprintf(text, sizeof(text), "%d %s\n", status,
	    req_status_reason(status));
	if (buf_append(&body, text, (size_t)n) == 0)
		respond(c, status, "text/plain", extra, &body, head_only);
	else
		sconn_close(c);
	buf_free(&body);
}

static void
route(struct sconn *c, const struct http_request *r)
{
	struct buf body = { 0 };
	size_t plen = strcspn(r->path, "?");
	int head = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
	int get = r->method_len == 3 && memcmp(r->method, "GET", 3) == 0;
	int rc, which;

	if (plen > r->path_len)
		plen = r->path_len;
	if (plen == 8 && memcmp(r->path, "/metrics", 8) == 0)
		which = 0;
	else if (plen == 12 && memcmp(r->path, "/status.json", 12) == 0)
		which = 1;
	else if (plen == 1 && r->path[0] == '/')
		which = 2;
	else {
		respond_error(c, 404, "", head);
		return;
	}
	if (!get && !head) {
		respond_error(c, 405, "Allow: GET, HEAD\r\n", 0);
		return;
	}
	if (which == 0)
		rc = stats_metrics(&body);
	else if (which == 1)
		rc = stats_json(&body);
	else
		rc = buf_append(&body, stats_page, stats_page_len);
	if (rc == -1)
		respond_error(c, 503, "", head);
	else
		respond(c, 200, which == 0 ? STATS_METRICS_TYPE : which == 1 ?
		    "application/json" : "text/html; charset=utf-8", "", &body,
		    head);
	buf_free(&body);
}

static void
sconn_read(struct sconn *c)
{
	struct http_header hdrs[STATS_HEADERS_MAX];
	struct http_limits lim = { .max_target = 2048,
		.max_header_bytes = STATS_HEAD_MAX,
		.max_headers = STATS_HEADERS_MAX, .max_body = 1 << 20 };
	struct http_request r = { .headers = hdrs };
	ssize_t n;
	int rc;

	n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen,
	    MSG_DONTWAIT);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		sconn_close(c);
		return;
	}
	if (n == -1)
		return;
	c->inlen += (size_t)n;
	rc = http_parse_request(c->in, c->inlen, &r, &lim);
	if (rc == HTTP_PARSE_AGAIN) {
		if (c->inlen == sizeof(c->in))
			respond_error(c, 431, "", 0);
		return;
	}
	if (rc < 0) {
		respond_error(c, -rc, "", 0);
		return;
	}
	/* A body, if any, is not read: the lingering close drains it. */
	route(c, &r);
}

static void
sconn_write(struct sconn *c)
{
	ssize_t n;

	n = send(c->fd, c->out.data + c->out.off, c->out.len,
	    MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sconn_close(c);
		return;
	}
	buf_consume(&c->out, (size_t)n);
	if (c->out.len > 0)
		return;
	/* Close only once the client has stopped sending: closing with
	 * unread bytes would reset the connection and could lose the
	 * response (RFC 9112 section 9.6). */
	shutdown(c->fd, SHUT_WR);
	c->phase = SC_LINGER;
	c->deadline = loop_clock_ms() + STATS_LINGER_MS;
}

static void
sconn_linger(struct sconn *c)
{
	char sink[1024];
	ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		sconn_close(c);
}

static void
accept_some(void)
{
	struct sconn *c;
	int fd, i;

	while (nconns < STATS_CONNS_MAX) {
		fd = accept4(listen_stats.fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_error("stats: accept on %s: %s",
				    listen_stats.name, strerror(errno));
			return;
		}
		for (i = 0; conns[i].phase != SC_FREE; i++)
			;
		c = &conns[i];
		c->fd = fd;
		c->phase = SC_READ;
		c->inlen = 0;
		c->deadline = loop_clock_ms() + STATS_TIMEOUT_MS;
		nconns++;
	}
}

static int
signals_open(void)
{
	sigset_t set;

	/* The master's mask is inherited: take the stop and reopen
	 * signals through a descriptor, let the rest be. */
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGCHLD, SIG_DFL);
	return worker_signalfd();
}

/* Returns 1 when told to stop. */
static int
signals_take(int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			return 1;
		case SIGUSR1:
			if (log_reopen() == -1)
				log_error("stats: USR1: reopening the error "
				    "log: %s", strerror(errno));
			break;
		default:
			break;
		}
	return 0;
}

/*
 * One round of poll(); returns 1 when told to stop.  While stopping, no
 * new client is taken (the next stats process takes them from the
 * shared listening socket) but the open ones are answered.
 */
static int
serve_once(int sfd, int stopping)
{
	struct pollfd pfd[STATS_CONNS_MAX + 2];
	struct sconn *at[STATS_CONNS_MAX + 2];
	uint64_t now = loop_clock_ms(), next = now + 1000;
	int i, n = 2, wait;

	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	/* A full table leaves new clients in the listen queue. */
	pfd[1].fd = nconns < STATS_CONNS_MAX && !stopping ? listen_stats.fd :
	    -1;
	pfd[1].events = POLLIN;
	for (i = 0; i < STATS_CONNS_MAX; i++) {
		struct sconn *c = &conns[i];

		if (c->phase == SC_FREE)
			continue;
		if (now >= c->deadline) {
			sconn_close(c);
			continue;
		}
		if (c->deadline < next)
			next = c->deadline;
		pfd[n].fd = c->fd;
		pfd[n].events = c->phase == SC_WRITE ? POLLOUT : POLLIN;
		at[n++] = c;
	}
	wait = (int)(next - now);
	if (poll(pfd, (nfds_t)n, wait) <= 0)
		return 0;
	if ((pfd[0].revents & POLLIN) && signals_take(sfd) && !stopping)
		return 1;
	for (i = 2; i < n; i++) {
		struct sconn *c = at[i];

		if (pfd[i].revents == 0 || c->phase == SC_FREE)
			continue;
		if (c->phase == SC_READ)
			sconn_read(c);
		else if (c->phase == SC_WRITE)
			sconn_write(c);
		else
			sconn_linger(c);
		/* Answered at once: try to send without another round. */
		if (c->phase == SC_WRITE)
			sconn_write(c);
	}
	if (pfd[1].revents & POLLIN)
		accept_some();
	return 0;
}

void
stats_server_main(void)
{
	uint64_t until;
	int sfd, i;

	/* Not to outlive the master; "bridge-stats" in ps and top. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_NAME, "bridge-stats");
	proctitle_set("stats");
	if ((sfd = signals_open()) == -1) {
		log_error("stats: signalfd: %s", strerror(errno));
		worker_exit(1);
	}
	/* The master died before PDEATHSIG was set. */
	if (getppid() == 1)
		worker_exit(0);
	if (priv_drop() == -1)
		worker_exit(1);
	for (i = 0; i < STATS_CONNS_MAX; i++)
		conns[i].fd = -1;
	log_debug("stats: serving %s", listen_stats.name);
	while (!serve_once(sfd, 0))
		;
	/* A scrape under way during a HUP or a stop still gets its answer. */
	until = loop_clock_ms() + STATS_DRAIN_MS;
	while (nconns > 0 && loop_clock_ms() < until)
		serve_once(sfd, 1);
	/* _exit: nothing of the master's (a preloaded application) may
	 * run its exit handlers here. */
	worker_exit(0);
}
