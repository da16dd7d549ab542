/*
 * Test fixture module: one behaviour per path, so end-to-end tests can
 * drive every gateway rule through every front end.
 *
 *	/env		variables as NAME=VALUE lines, in arrival order
 *	/echo		the request body back, with Content-Length
 *	/big?N		N bytes in 8 KiB writes, no Content-Length
 *	/crash		the worker dies (SIGSEGV)
 *	/fail		module error before responding (500)
 *	/nostart	returns without start_response (502)
 *	/badheader	a header value with CR LF (refused, then 500)
 *	/replace	200 replaced by 503 before the first byte
 *	/twice		second start_response without replace (refused)
 *	/cut		Content-Length 100, then 10 bytes (cut)
 *	/sleep?MS	sleeps MS milliseconds, then answers
 *	/file?PATH	sendfile of PATH
 *	/log		logs a line through the gateway, answers "logged"
 *	/pid		the worker's process id
 *	/status?N	answers status N (200..999) with a short body
 *	/lenonly?N	Content-Length N and no body when the method is HEAD
 *			(as Flask answers HEAD), else N bytes of 'x'
 *	/notmodified	304 with the Content-Length 1234 of the resource it
 *			stands for, and no body
 *	/date		a response carrying the app's own Date header
 *	/count?ID	appends "ID pid\n" to the file of --module-arg
 *			count=PATH (one line per run: tests count how often
 *			a request ran), then echoes the request body
 *	/leak?MB	keeps MB mebibytes (written: resident) for good, then
 *			answers as /pid (--max-worker-memory)
 *	anything else	"probe\n"
 *
 * A request with the header X-Probe-Env (any path) is answered as /env:
 * for paths that must not be routed on, such as ones with dot-segments.
 *
 * --module-arg init-sleep=MS makes init() take MS milliseconds (a slow
 * application start, for --startup-timeout).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bridge/gateway.h>

static const struct bg_server *srv;
static const char *count_path;	/* --module-arg count=PATH */

static int
probe_init(const struct bg_server *s, const char *arg, void **ctx)
{
	srv = s;
	*ctx = NULL;
	if (arg != NULL && strncmp(arg, "count=", 6) == 0)
		count_path = arg + 6;
	if (arg != NULL && strncmp(arg, "init-sleep=", 11) == 0) {
		long ms = atol(arg + 11);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) == -1)
			;
	}
	return 0;
}

static int
text(bg_request *r, int status, const char *body, size_t n)
{
	char len[24];
	struct bg_header h[2] = {
		{ "Content-Type", 12, "text/plain", 10 },
		{ "Content-Length", 14, len, 0 },
	};

	h[1].value_len = (size_t)snprintf(len, sizeof(len), "%zu", n);
	if (srv->start_response(r, status, NULL, h, 2, 0) == -1)
		return BG_ERROR;
	return srv->write(r, body, n) == 0 ? BG_OK : BG_ERROR;
}

static int
env(bg_request *r)
{
	static const struct bg_header h[] = {
		{ "Content-Type", 12, "text/plain", 10 } };
	size_t i, n = srv->var_count(r);

	if (srv->start_response(r, 200, NULL, h, 1, 0) == -1)
		return BG_ERROR;
	for (i = 0; i < n; i++) {
		const struct bg_var *v = srv->var_at(r, i);

		if (srv->write(r, v->name, v->name_len) == -1 ||
		    srv->write(r, "=", 1) == -1 ||
		    srv->write(r, v->value, v->value_len) == -1 ||
		    srv->write(r, "\n", 1) == -1)
			return BG_ERROR;
	}
	return BG_OK;
}

static int
echo(bg_request *r)
{
	char buf[65536];
	size_t cap = 1 << 16, len = 0;
	char *all = malloc(cap), *p;
	ssize_t n;
	int rc;

	if (all == NULL)
		return BG_ERROR;
	while ((n = srv->read(r, buf, sizeof(buf))) > 0) {
		if (len + (size_t)n > cap) {
			while (len + (size_t)n > cap)
				cap *= 2;
			if ((p = realloc(all, cap)) == NULL) {
				free(all);
				return BG_ERROR;
			}
			all = p;
		}
		memcpy(all + len, buf, (size_t)n);
		len += (size_t)n;
	}
	if (n == -1) {
		free(all);
		return BG_ERROR;
	}
	rc = text(r, 200, all, len);
	free(all);
	return rc;
}

/* One line per run, written whole with O_APPEND (runs in several
 * workers interleave by line, never within one). */
static int
count(bg_request *r, const char *arg)
{
	char line[128];
	int fd, n;

	if (count_path == NULL)
		return text(r, 500, "no count= module argument\n", 26);
	n = snprintf(line, sizeof(line), "%.64s %ld\n", arg ? arg : "",
	    (long)getpid());
	if ((fd = open(count_path, O_WRONLY | O_APPEND | O_CREAT, 0666)) ==
	    -1)
		return BG_ERROR;
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return BG_ERROR;
	}
	close(fd);
	return echo(r);
}

static int
big(bg_request *r, const char *arg)
{
	static const struct bg_header h[] = {
		{ "Content-Type", 12, "application/octet-stream", 24 } };
	char chunk[8192];
	long long n = arg ? atoll(arg) : 0;

	memset(chunk, 'x', sizeof(chunk));
	if (srv->start_response(r, 200, NULL, h, 1, 0) == -1)
		return BG_ERROR;
	while (n > 0) {
		size_t k = n > (long long)sizeof(chunk) ? sizeof(chunk) :
		    (size_t)n;

		if (srv->write(r, chunk, k) == -1)
			return BG_ERROR;
		n -= (long long)k;
	}
	return BG_OK;
}

static int
file(bg_request *r, const char *path)
{
	static const struct bg_header h[] = {
		{ "Content-Type", 12, "application/octet-stream", 24 } };
	struct stat st;
	int fd, rc;

	if (path == NULL || (fd = open(path, O_RDONLY)) == -1)
		return text(r, 404, "no such file\n", 13);
	fstat(fd, &st);
	if (srv->start_response(r, 200, NULL, h, 1, 0) == -1) {
		close(fd);
		return BG_ERROR;
	}
	rc = srv->sendfile(r, fd, 0, (size_t)st.st_size) == 0 ? BG_OK :
	    BG_ERROR;
	close(fd);
	return rc;
}

static int
lenonly(bg_request *r, const char *arg)
{
	const char *method = srv->var(r, "REQUEST_METHOD", NULL);
	long long n = arg ? atoll(arg) : 0;
	char len[24], chunk[4096];
	struct bg_header h = { "Content-Length", 14, len, 0 };

	h.value_len = (size_t)snprintf(len, sizeof(len), "%lld", n);
	if (srv->start_response(r, 200, NULL, &h, 1, 0) == -1)
		return BG_ERROR;
	if (method != NULL && strcmp(method, "HEAD") == 0)
		return BG_OK;
	memset(chunk, 'x', sizeof(chunk));
	while (n > 0) {
		size_t k = n > (long long)sizeof(chunk) ? sizeof(chunk) :
		    (size_t)n;

		if (srv->write(r, chunk, k) == -1)
			return BG_ERROR;
		n -= (long long)k;
	}
	return BG_OK;
}

static int
probe_handle(void *ctx, bg_request *r)
{
	const char *uri = srv->var(r, "REQUEST_URI", NULL);
	const char *script = srv->var(r, "SCRIPT_NAME", NULL);
	char path[256];
	const char *arg = NULL, *q;
	size_t n;

	(void)ctx;
	if (uri == NULL)
		uri = script;
	if (uri == NULL)
		uri = "/";
	/* Mounted under a prefix (bridge --mount /app): route on what
	 * follows it. */
	if (script != NULL && *script != '\0' &&
	    strncmp(uri, script, strlen(script)) == 0 &&
	    uri[strlen(script)] == '/')
		uri += strlen(script);
	q = strchr(uri, '?');
	n = q ? (size_t)(q - uri) : strlen(uri);
	if (n >= sizeof(path))
		n = sizeof(path) - 1;
	memcpy(path, uri, n);
	path[n] = '\0';
	if (q != NULL)
		arg = q + 1;

	/* ?show-env or an X-Probe-Env header: the environment on any path
	 * (the mount itself, dot-segments). */
	if (strcmp(path, "/env") == 0 ||
	    srv->var(r, "HTTP_X_PROBE_ENV", NULL) != NULL ||
	    (arg != NULL && strcmp(arg, "show-env") == 0))
		return env(r);
	if (strcmp(path, "/echo") == 0)
		return echo(r);
	if (strcmp(path, "/big") == 0)
		return big(r, arg);
	if (strcmp(path, "/count") == 0)
		return count(r, arg);
	if (strcmp(path, "/crash") == 0) {
		raise(SIGSEGV);
		return BG_ERROR;
	}
	if (strcmp(path, "/fail") == 0)
		return BG_ERROR;
	if (strcmp(path, "/nostart") == 0)
		return BG_OK;
	if (strcmp(path, "/badheader") == 0) {
		struct bg_header h = { "X-Bad", 5, "a\r\nInjected: 1", 14 };

		if (srv->start_response(r, 200, NULL, &h, 1, 0) == -1)
			return BG_ERROR;
		return text(r, 200, "accepted a bad header\n", 22);
	}
	if (strcmp(path, "/replace") == 0) {
		srv->start_response(r, 200, NULL, NULL, 0, 0);
		return srv->start_response(r, 503, NULL, NULL, 0,
		    BG_REPLACE) == 0 && srv->write(r, "replaced\n", 9) == 0 ?
		    BG_OK : BG_ERROR;
	}
	if (strcmp(path, "/twice") == 0) {
		srv->start_response(r, 200, NULL, NULL, 0, 0);
		if (srv->start_response(r, 201, NULL, NULL, 0, 0) == 0)
			return srv->write(r, "second accepted\n", 16) == 0 ?
			    BG_OK : BG_ERROR;
		return srv->write(r, "second refused\n", 15) == 0 ? BG_OK :
		    BG_ERROR;
	}
	if (strcmp(path, "/cut") == 0) {
		struct bg_header h = { "Content-Length", 14, "100", 3 };

		if (srv->start_response(r, 200, NULL, &h, 1, 0) == -1)
			return BG_ERROR;
		srv->write(r, "0123456789", 10);
		return BG_OK;
	}
	if (strcmp(path, "/sleep") == 0) {
		long ms = arg ? atol(arg) : 100;
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		return text(r, 200, "slept\n", 6);
	}
	if (strcmp(path, "/file") == 0)
		return file(r, arg);
	if (strcmp(path, "/leak") == 0) {
		/* Kept on a list, so that it is reachable: a leak to the
		 * process, not to LeakSanitizer. */
		static void **kept;
		size_t mb = arg ? (size_t)atol(arg) : 1;
		void **p = malloc(sizeof(void *) + (mb << 20));

		if (p == NULL)
			return text(r, 503, "no memory\n", 10);
		memset(p + 1, 1, mb << 20);
		*p = kept;
		kept = p;
	}
	if (strcmp(path, "/pid") == 0 || strcmp(path, "/leak") == 0) {
		char pid[24];
		int k = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		return text(r, 200, pid, (size_t)k);
	}
	if (strcmp(path, "/status") == 0) {
		char body[32];
		int st = arg ? atoi(arg) : 200;
		int k = snprintf(body, sizeof(body), "status %d\n", st);

		return text(r, st, body, (size_t)k);
	}
	if (strcmp(path, "/lenonly") == 0)
		return lenonly(r, arg);
	if (strcmp(path, "/notmodified") == 0) {
		static const struct bg_header h[] = {
			{ "ETag", 4, "\"v1\"", 4 },
			{ "Content-Length", 14, "1234", 4 } };

		return srv->start_response(r, 304, NULL, h, 2, 0) == 0 ?
		    BG_OK : BG_ERROR;
	}
	if (strcmp(path, "/date") == 0) {
		static const struct bg_header h[] = {
			{ "Date", 4, "Mon, 01 Jan 2001 00:00:00 GMT", 29 },
			{ "Content-Length", 14, "5", 1 } };

		if (srv->start_response(r, 200, NULL, h, 2, 0) == -1)
			return BG_ERROR;
		return srv->write(r, "date\n", 5) == 0 ? BG_OK : BG_ERROR;
	}
	if (strcmp(path, "/log") == 0) {
		srv->log(r, BG_LOG_WARN, "probe log line %d", 42);
		return text(r, 200, "logged\n", 7);
	}
	return text(r, 200, "probe\n", 6);
}

static const struct bg_module probe_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "probe",
	.init = probe_init,
	.handle = probe_handle,
};

const struct bg_module *
bg_module_entry(void)
{
	return &probe_module;
}
