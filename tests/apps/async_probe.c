/*
 * Test fixture: an asynchronous module (gateway ABI 2), one behaviour per
 * path, to drive the asynchronous request life cycle end to end.
 *
 *	/now		answered inside handle() (BG_OK), "now\n"
 *	/later?MS	pending; a timer answers "later\n" after MS ms
 *	/echo		pending; the body back as it arrives (chunked),
 *			finished at the body's end
 *	/count		pending; the body's length once it all came
 *	/slowread?MS	pending; reads one 4 KiB piece of the body every MS
 *			ms (backpressure), answers the total
 *	/stream?N	pending; N chunks "chunk I\n", one per 20 ms, each
 *			flushed
 *	/big?MB		pending; MB MiB in 64 KiB writes, waiting for
 *			BG_EV_DRAINED whenever write() says BG_AGAIN;
 *			answers nothing more (the client counts bytes)
 *	/never		pending until the client goes or --timeout
 *	/fail		pending; a timer finishes with BG_ERROR, nothing
 *			sent (500)
 *	/nostart	pending; a timer finishes with BG_OK, nothing sent
 *			(502)
 *	/file?PATH	PATH with its Content-Length through sendfile(),
 *			inside handle() (queued behind the head, zero-copy)
 *	/hints		103 Early Hints with a Link field, then "hints\n"
 *	/trailers	"body\n" with the trailer field X-Checksum: 42
 *	/fields?MS	pending; a timer answers after MS ms with the
 *			header fields as received, "name: value\n" each
 *			(fields()), or "none\n" where the front end has none
 *	/stats		"gone=G drained=D again=A finished=F live=L\n":
 *			events seen by this worker
 *	anything else	"async\n" (BG_OK inside handle())
 *
 * Every pending request keeps a state that is freed from an on_finish
 * hook: LeakSanitizer sees one that is never finished.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bridge/gateway.h>

static const struct bg_server *srv;
static unsigned long n_gone, n_drained, n_again, n_finished, n_live;

struct job {
	bg_request *r;
	bg_timer *timer;
	int kind;
	long arg;
	long left;		/* chunks, MiB pieces, ... */
	long total;
	int done;
};

enum { J_LATER, J_ECHO, J_COUNT, J_SLOWREAD, J_STREAM, J_BIG, J_NEVER,
    J_FAIL, J_NOSTART, J_FIELDS };

static int
ap_init(const struct bg_server *s, const char *arg, void **ctx)
{
	(void)arg;
	srv = s;
	*ctx = NULL;
	if (s->abi_version < 2 || s->size <= offsetof(struct bg_server,
	    on_event)) {
		s->log(NULL, BG_LOG_ERROR, "async_probe: server has no ABI 2");
		return -1;
	}
	return 0;
}

static int
answer(bg_request *r, const char *text, int chunked)
{
	char len[24];
	struct bg_header h[2] = {
		{ "Content-Type", 12, "text/plain", 10 },
		{ "Content-Length", 14, len, 0 },
	};

	h[1].value_len = (size_t)snprintf(len, sizeof(len), "%zu",
	    strlen(text));
	if (srv->start_response(r, 200, NULL, h, chunked ? 1 : 2, 0) == -1)
		return -1;
	return srv->write(r, text, strlen(text)) == -1 ? -1 : 0;
}

static void
job_free(void *arg)
{
	struct job *j = arg;

	if (j->timer != NULL)
		srv->timer_cancel(j->timer);
	n_live--;
	free(j);
}

static void
job_finish(struct job *j, int rc)
{
	if (j->done)
		return;
	j->done = 1;
	n_finished++;
	srv->finish(j->r, rc);	/* runs job_free */
}

static void job_timer(void *arg);

static void
job_arm(struct job *j, long ms)
{
	j->timer = srv->timer((uint64_t)ms, job_timer, j);
}

/* Read what the body has now; 1 at its end, 0 for more to come. */
static int
drain_body(struct job *j, int echo, size_t most)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = srv->read(j->r, buf, most < sizeof(buf) ? most :
		    sizeof(buf));
		if (n == 0)
			return 1;
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		j->total += n;
		if (echo && srv->write(j->r, buf, (size_t)n) == -1)
			return -1;
		if (echo)
			srv->flush(j->r);
		if (most != (size_t)-1)
			return 0;
	}
}

static void
send_big(struct job *j)
{
	static char piece[65536];
	int rc;

	while (j->left > 0) {
		rc = srv->write(j->r, piece, sizeof(piece));
		if (rc == -1) {
			job_finish(j, BG_ERROR);
			return;
		}
		j->left--;
		if (rc == BG_AGAIN) {
			n_again++;
			return;	/* BG_EV_DRAINED brings us back */
		}
	}
	job_finish(j, BG_OK);
}

static void
job_event(bg_request *r, unsigned ev, void *arg)
{
	struct job *j = arg;
	char text[64];
	int end;

	(void)r;
	if (ev & BG_EV_GONE) {
		n_gone++;
		job_finish(j, BG_ERROR);
		return;
	}
	if (ev & BG_EV_DRAINED) {
		n_drained++;
		if (j->kind == J_BIG)
			send_big(j);
	}
	if (!(ev & BG_EV_BODY))
		return;
	if (j->kind == J_ECHO) {
		end = drain_body(j, 1, (size_t)-1);
		if (end != 0)
			job_finish(j, end == 1 ? BG_OK : BG_ERROR);
	} else if (j->kind == J_COUNT) {
		end = drain_body(j, 0, (size_t)-1);
		if (end == 1) {
			snprintf(text, sizeof(text), "%ld\n", j->total);
			answer(j->r, text, 0);
			job_finish(j, BG_OK);
		}
	}
}

/* The header fields as received, one "name: value\n" line each, read
 * long after handle() returned (they live as the request). */
static void
answer_fields(bg_request *r)
{
	const struct bg_header *f;
	char text[8192];
	size_t i, n, o = 0;

	if (srv->size <= offsetof(struct bg_server, fields) ||
	    (f = srv->fields(r, &n)) == NULL) {
		answer(r, "none\n", 0);
		return;
	}
	text[0] = '\0';
	for (i = 0; i < n && o < sizeof(text); i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "%.*s: %.*s\n", (int)f[i].name_len, f[i].name,
		    (int)f[i].value_len, f[i].value);
	answer(r, text, 0);
}

static void
job_timer(void *arg)
{
	struct job *j = arg;
	char text[64];
	int end;

	j->timer = NULL;
	switch (j->kind) {
	case J_LATER:
		answer(j->r, "later\n", 0);
		job_finish(j, BG_OK);
		break;
	case J_FIELDS:
		answer_fields(j->r);
		job_finish(j, BG_OK);
		break;
	case J_FAIL:
		job_finish(j, BG_ERROR);
		break;
	case J_NOSTART:
		job_finish(j, BG_OK);
		break;
	case J_STREAM:
		snprintf(text, sizeof(text), "chunk %ld\n", j->arg - j->left);
		if (srv->write(j->r, text, strlen(text)) == -1 ||
		    srv->flush(j->r) == -1) {
			job_finish(j, BG_ERROR);
			break;
		}
		if (--j->left == 0)
			job_finish(j, BG_OK);
		else
			job_arm(j, 20);
		break;
	case J_SLOWREAD:
		end = drain_body(j, 0, 4096);
		if (end == 1) {
			snprintf(text, sizeof(text), "%ld\n", j->total);
			answer(j->r, text, 0);
			job_finish(j, BG_OK);
		} else if (end == -1)
			job_finish(j, BG_ERROR);
		else
			job_arm(j, j->arg);
		break;
	}
}

static int
send_file(bg_request *r, const char *path)
{
	char len[24];
	struct bg_header h[1] = { { "Content-Length", 14, len, 0 } };
	struct stat st;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		return BG_ERROR;
	}
	h[0].value_len = (size_t)snprintf(len, sizeof(len), "%lld",
	    (long long)st.st_size);
	rc = srv->start_response(r, 200, NULL, h, 1, 0) == -1 ||
	    srv->sendfile(r, fd, 0, (size_t)st.st_size) == -1 ? BG_ERROR :
	    BG_OK;
	close(fd);	/* the server keeps what it needs */
	return rc;
}

static int
ap_handle(void *ctx, bg_request *r)
{
	static const struct {
		const char *path;
		int kind;
	} routes[] = {
		{ "/later", J_LATER }, { "/echo", J_ECHO },
		{ "/count", J_COUNT }, { "/slowread", J_SLOWREAD },
		{ "/stream", J_STREAM }, { "/big", J_BIG },
		{ "/never", J_NEVER }, { "/fail", J_FAIL },
		{ "/nostart", J_NOSTART }, { "/fields", J_FIELDS },
	};
	struct bg_header chunk_h[1] = { { "Content-Type", 12, "text/plain",
	    10 } };
	const char *path = srv->var(r, "PATH_INFO", NULL);
	const char *query = srv->var(r, "QUERY_STRING", NULL);
	char text[128];
	struct job *j;
	size_t i;

	(void)ctx;
	if (path == NULL)
		path = "/";
	if (strcmp(path, "/now") == 0)
		return answer(r, "now\n", 0) == 0 ? BG_OK : BG_ERROR;
	if (strcmp(path, "/file") == 0 && query != NULL)
		return send_file(r, query);
	if (strcmp(path, "/hints") == 0) {
		struct bg_header link[1] = { { "Link", 4,
		    "</style.css>; rel=preload; as=style", 35 } };

		srv->log(r, BG_LOG_INFO, "informational: %d",
		    srv->informational(r, 103, link, 1));
		return answer(r, "hints\n", 0) == 0 ? BG_OK : BG_ERROR;
	}
	if (strcmp(path, "/trailers") == 0) {
		struct bg_header sum[1] = { { "X-Checksum", 10, "42", 2 } };
		struct bg_header th[2] = { { "Content-Type", 12, "text/plain",
		    10 }, { "Trailer", 7, "X-Checksum", 10 } };

		if (srv->start_response(r, 200, NULL, th, 2,
		    BG_TRAILERS) == -1 || srv->write(r, "body\n", 5) == -1 ||
		    srv->trailers(r, sum, 1) == -1)
			return BG_ERROR;
		return BG_OK;
	}
	if (strcmp(path, "/stats") == 0) {
		snprintf(text, sizeof(text), "gone=%lu drained=%lu again=%lu "
		    "finished=%lu live=%lu\n", n_gone, n_drained, n_again,
		    n_finished, n_live);
		return answer(r, text, 0) == 0 ? BG_OK : BG_ERROR;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(path, routes[i].path) == 0)
			break;
	if (i == sizeof(routes) / sizeof(routes[0]))
		return answer(r, "async\n", 0) == 0 ? BG_OK : BG_ERROR;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return BG_ERROR;
	j->r = r;
	j->kind = routes[i].kind;
	j->arg = query != NULL && *query != '\0' ? atol(query) : 0;
	n_live++;
	if (srv->on_finish(r, job_free, j) == -1) {
		job_free(j);
		return BG_ERROR;
	}
	srv->on_event(r, job_event, j);
	switch (j->kind) {
	case J_LATER:
	case J_SLOWREAD:
	case J_FIELDS:
		job_arm(j, j->arg > 0 ? j->arg : 1);
		break;
	case J_FAIL:
	case J_NOSTART:
		job_arm(j, 10);
		break;
	case J_ECHO:
		srv->start_response(r, 200, NULL, chunk_h, 1, 0);
		break;
	case J_STREAM:
		j->left = j->arg > 0 ? j->arg : 3;
		j->arg = j->left;
		srv->start_response(r, 200, NULL, chunk_h, 1, 0);
		job_arm(j, 20);
		break;
	case J_BIG:
		j->left = (j->arg > 0 ? j->arg : 1) * 16;
		srv->start_response(r, 200, NULL, chunk_h, 1, 0);
		send_big(j);
		break;
	}
	return BG_PENDING;
}

static const struct bg_module async_probe = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "async_probe",
	.init = ap_init,
	.handle = ap_handle,
	.flags = BG_MODULE_ASYNC,
};

const struct bg_module *
bg_module_entry(void)
{
	return &async_probe;
}
