#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_log.h"
#include "buf.h"
#include "cgi_mode.h"
#include "config.h"
#include "log.h"
#include "module.h"
#include "req.h"
#include "scoreboard.h"

extern char **environ;

/*
 * RFC 3875 section 4.1 meta-variables, and the ones web servers commonly
 * add (Apache, nginx's fastcgi_params).  Anything else in the environment
 * (PATH, LD_*, the server's own settings) is not part of the request and
 * is not passed, which keeps CGI mode's variables those of FastCGI.
 */
static const char *const cgi_names[] = {
	"AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE",
	"PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR",
	"REMOTE_HOST", "REMOTE_IDENT", "REMOTE_USER", "REQUEST_METHOD",
	"SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
	"SERVER_SOFTWARE",
	/* common extensions */
	"DOCUMENT_ROOT", "DOCUMENT_URI", "REQUEST_URI", "REQUEST_SCHEME",
	"SCRIPT_FILENAME", "REMOTE_PORT", "SERVER_ADDR", "HTTPS",
	"REDIRECT_STATUS", "CONTEXT_PREFIX", "CONTEXT_DOCUMENT_ROOT",
	"SERVER_ADMIN", "SERVER_SIGNATURE", "UNIQUE_ID",
};

int
cgi_mode_detect(void)
{
	return getenv("GATEWAY_INTERFACE") != NULL;
}

static int
is_request_var(const char *name, size_t n)
{
	size_t i;

	if (n > 5 && memcmp(name, "HTTP_", 5) == 0)
		return 1;
	for (i = 0; i < sizeof(cgi_names) / sizeof(cgi_names[0]); i++)
		if (strlen(cgi_names[i]) == n &&
		    memcmp(cgi_names[i], name, n) == 0)
			return 1;
	return 0;
}

static int
write_all(const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(STDOUT_FILENO, s, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sink_head(struct req *r)
{
	struct buf head = { 0 };
	int rc;

	if (req_format_cgi_head(r, &head) == -1)
		return -1;
	rc = write_all(head.data + head.off, head.len);
	buf_free(&head);
	return rc;
}

static int
sink_body(struct req *r, const void *p, size_t n)
{
	(void)r;
	return write_all(p, n);
}

static const struct resp_sink cgi_sink = {
	.head = sink_head,
	.body = sink_body,
	.file = NULL,
};

/* RFC 3875 section 4.2: the body is CONTENT_LENGTH bytes of stdin. */
static int
read_body(struct req *r, int *reject)
{
	const char *cl = getenv("CONTENT_LENGTH");
	char chunk[16384];
	uint64_t want, got = 0;
	ssize_t n;

	if (cl == NULL || *cl == '\0')
		return 0;
	if (config_parse_size(cl, &want) == -1 ||
	    strspn(cl, "0123456789") != strlen(cl)) {
		log_msg(LOG_LEVEL_WARN, r->id, "cgi: CONTENT_LENGTH '%.32s' "
		    "is not a number: 400", cl);
		*reject = 400;
		return 0;
	}
	r->content_length = (int64_t)want;
	if (want > config.max_body) {
		log_msg(LOG_LEVEL_WARN, r->id, "cgi: body over --max-body: 413");
		*reject = 413;
		return 0;
	}
	while (got < want) {
		n = read(STDIN_FILENO, chunk, want - got < sizeof(chunk) ?
		    (size_t)(want - got) : sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_msg(LOG_LEVEL_WARN, r->id, "cgi: stdin ended after "
			    "%llu of %llu body bytes", (unsigned long long)got,
			    (unsigned long long)want);
			break;
		}
		if (body_append(&r->body, chunk, (size_t)n) == -1)
			return -1;
		got += (uint64_t)n;
	}
	return 0;
}

int
cgi_mode_run(int dropped)
{
	enum req_outcome out;
	struct req *r;
	char **e;
	int reject = 0;
	uint64_t start;

	signal(SIGPIPE, SIG_IGN);
	req_server.multiprocess = 1;
	req_server.run_once = 1;
	if (dropped == -1 || module_init(config.module_arg) == -1 ||
	    module_worker_init() != 0) {
		log_error("cgi: module %s failed to start", module.m->name);
		fputs("Status: 500 Internal Server Error\r\n"
		    "Content-Type: text/plain\r\n\r\n500 Internal Server "
		    "Error\n", stdout);
		return 1;
	}
	if ((r = req_create(&cgi_sink, NULL)) == NULL) {
		log_error("cgi: out of memory");
		return 1;
	}
	for (e = environ; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');

		if (eq == NULL || !is_request_var(*e, (size_t)(eq - *e)))
			continue;
		if (req_add_var(r, *e, (size_t)(eq - *e), eq + 1,
		    strlen(eq + 1)) == -1) {
			log_error("cgi: out of memory");
			return 1;
		}
	}
	if (read_body(r, &reject) == -1) {
		log_msg(LOG_LEVEL_ERROR, r->id, "cgi: storing the body: %s",
		    strerror(errno));
		reject = 500;
	}
	start = access_log_enabled() || scoreboard_counting() ?
	    access_log_clock_us() : 0;
	scoreboard_request_begin();
	if (reject)
		out = req_send_error(r, reject) == 0 ? REQ_COMPLETE : REQ_CUT;
	else
		out = req_run(r, module.m, module.ctx);
	if (start != 0)
		access_log_request(r, start);
	scoreboard_request_end(r->head_sent ? r->status : 0, r->resp_sent,
	    start != 0 ? access_log_clock_us() - start : 0);
	req_destroy(r);
	module_worker_fini();
	return out == REQ_COMPLETE ? 0 : 1;
}
