/*
 * CGI-script adapter: the module.  See cgi.h for the layout.
 *
 * Argument (the --module-arg, or what bridge's --cgi flags make of
 * themselves): newline-separated key=value lines,
 *
 *	root=/usr/lib/cgi-bin		required; scripts live below it
 *	timeout=30			seconds per request (1..86400)
 *	extensions=.cgi,.sh		optional allow-list of name endings
 *	grace=2				seconds between TERM and KILL
 *
 * A bare path with no '=' is taken as the root.
 *
 * Which file runs (RFC 3875 section 3.3 leaves it to the server):
 *   - SCRIPT_FILENAME from the web server (nginx: $document_root
 *     $fastcgi_script_name) if it is set, honoured only if it resolves
 *     under the root; a tail past the script is PATH_INFO;
 *   - else DOCUMENT_ROOT + SCRIPT_NAME + PATH_INFO, as fcgiwrap does
 *     with Debian's fastcgi_params that lack SCRIPT_FILENAME;
 *   - else (bridge's own HTTP front end) the URL path under the root.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgi.h"

const struct bg_server *cgi_srv;

static struct cgi_conf conf;

const char *
cgi_printable(char *buf, size_t size, const char *s, size_t n)
{
	size_t i, max = size - 1;

	if (n > max && max >= 3) {
		n = max - 3;
		memcpy(buf + n, "...", 4);
	} else
		buf[n] = '\0';
	for (i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' :
		    s[i];
	return buf;
}

static int
conf_error(const char *what, const char *v, size_t n)
{
	cgi_srv->log(NULL, BG_LOG_ERROR, "cgi: %s: '%.*s'", what, (int)n, v);
	return -1;
}

static int
conf_number(const char *v, size_t n, long lo, long hi, long *out)
{
	char buf[24], *end;
	long x;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	errno = 0;
	x = strtol(buf, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int
conf_extensions(const char *v, size_t n)
{
	const char *p = v, *end = v + n, *comma;
	size_t len;

	while (p < end) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		len = (size_t)(comma - p);
		if (len > 0) {
			if (conf.next == CGI_EXT_MAX || p[0] != '.' ||
			    memchr(p, '/', len) != NULL)
				return conf_error("extensions: each must start "
				    "with '.', at most 16", p, len);
			if ((conf.ext[conf.next++] = strndup(p, len)) == NULL)
				return conf_error("out of memory", p, len);
		}
		p = comma + 1;
	}
	return 0;
}

static int
conf_root(const char *v, size_t n)
{
	char *path;
	struct stat st;

	if ((path = strndup(v, n)) == NULL)
		return conf_error("out of memory", v, n);
	conf.root = realpath(path, NULL);
	free(path);
	if (conf.root == NULL || stat(conf.root, &st) == -1 ||
	    !S_ISDIR(st.st_mode))
		return conf_error(conf.root == NULL ? strerror(errno) :
		    "root is not a directory", v, n);
	conf.root_len = strlen(conf.root);
	/* "/" as the root: every resolved path starts with it. */
	if (conf.root_len == 1)
		conf.root_len = 0;
	return 0;
}

static int
conf_parse(const char *arg)
{
	const char *p = arg, *nl, *eq, *end;
	long x;

	if (arg == NULL)
		return conf_error("no argument; give root=DIR", "", 0);
	if (strchr(arg, '=') == NULL && strchr(arg, '\n') == NULL)
		return conf_root(arg, strlen(arg));
	while (*p != '\0') {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		end = nl;
		if (end > p && end[-1] == '\r')
			end--;
		if (end == p || p[0] == '#')
			goto next;
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			return conf_error("not key=value", p,
			    (size_t)(end - p));
#define KEY(k) ((size_t)(eq - p) == sizeof(k) - 1 && \
	    memcmp(p, k, sizeof(k) - 1) == 0)
		if (KEY("root")) {
			if (conf_root(eq + 1, (size_t)(end - eq - 1)) == -1)
				return -1;
		} else if (KEY("timeout")) {
			if (conf_number(eq + 1, (size_t)(end - eq - 1), 1,
			    86400, &x) == -1)
				return conf_error("timeout: 1..86400 s", eq + 1,
				    (size_t)(end - eq - 1));
			conf.timeout = (int)x;
		} else if (KEY("grace")) {
			if (conf_number(eq + 1, (size_t)(end - eq - 1), 0, 60,
			    &x) == -1)
				return conf_error("grace: 0..60 s", eq + 1,
				    (size_t)(end - eq - 1));
			conf.grace_ms = (int)x * 1000;
		} else if (KEY("extensions")) {
			if (conf_extensions(eq + 1, (size_t)(end - eq - 1))
			    == -1)
				return -1;
		} else
			return conf_error("unknown key", p, (size_t)(eq - p));
#undef KEY
next:
		p = *nl != '\0' ? nl + 1 : nl;
	}
	if (conf.root == NULL)
		return conf_error("no root=DIR given", "", 0);
	return 0;
}

static int
cgi_init(const struct bg_server *srv, const char *arg, void **ctx)
{
	cgi_srv = srv;
	conf.timeout = 30;
	conf.grace_ms = 2000;
	if (conf_parse(arg) == -1)
		return -1;
	srv->log(NULL, BG_LOG_INFO, "cgi: root %s, timeout %d s, %d "
	    "extension(s) allowed%s", conf.root, conf.timeout, conf.next,
	    conf.next == 0 ? " (any name)" : "");
	*ctx = &conf;
	return 0;
}

static int
cgi_worker_init(void *ctx)
{
	struct sigaction sa;

	(void)ctx;
	/*
	 * Writing to the stdin of a script that has exited raises SIGPIPE.
	 * bridge's master ignores it and workers inherit that; make sure,
	 * since the default would kill the worker.  Scripts get the default
	 * back at spawn.
	 */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* A short plain-text answer of our own. */
static int
answer(bg_request *r, int status)
{
	static const struct {
		int status;
		const char *text;
	} texts[] = {
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
		{ 504, "Gateway Timeout" },
	};
	struct bg_header hs[2] = {
		{ "Content-Type", 12, "text/plain", 10 },
		{ "Content-Length", 14, NULL, 0 },
	};
	const char *text = "Error";
	char body[64], len[16];
	size_t i;
	int n;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i].status == status)
			text = texts[i].text;
	n = snprintf(body, sizeof(body), "%d %s\n", status, text);
	hs[1].value_len = (size_t)snprintf(len, sizeof(len), "%d", n);
	hs[1].value = len;
	if (cgi_srv->start_response(r, status, NULL, hs, 2, BG_REPLACE) == -1)
		return BG_ERROR;
	return cgi_srv->write(r, body, (size_t)n) == 0 ? BG_OK : BG_ERROR;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode a local redirect's path (RFC 3986 section 2.1) in
 * place; -1 for a broken escape or %00. */
static int
decode_path(char *s)
{
	char *o = s;
	int hi, lo;

	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if ((hi = hexval((unsigned char)s[1])) < 0 ||
		    (lo = hexval((unsigned char)s[2])) < 0 ||
		    (hi == 0 && lo == 0))
			return -1;
		*o++ = (char)(hi << 4 | lo);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/*
 * A body sent without a length (chunked) has to get one: RFC 3875
 * section 4.1.2 makes CONTENT_LENGTH the only way a script knows where
 * the body ends.  The gateway holds it buffered but does not tell its
 * size, so it is spooled to an unlinked file and counted.  Returns the
 * fd (or -1 when there is no body) and *len; -2 on error.
 */
static int
spool_body(bg_request *r, off_t *len)
{
	const char *dir = getenv("TMPDIR");
	char buf[CGI_IO_BUF];
	ssize_t n, w, off;
	int fd;

	*len = 0;
	if ((n = cgi_srv->read(r, buf, sizeof(buf))) <= 0)
		return n == 0 ? -1 : -2;
	if ((fd = open(dir != NULL && dir[0] == '/' ? dir : "/tmp",
	    O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) == -1) {
		cgi_srv->log(r, BG_LOG_ERROR, "cgi: spooling the body: %s",
		    strerror(errno));
		return -2;
	}
	do {
		for (off = 0; off < n; off += w)
			if ((w = write(fd, buf + off, (size_t)(n - off))) ==
			    -1) {
				cgi_srv->log(r, BG_LOG_ERROR, "cgi: spooling "
				    "the body: %s", strerror(errno));
				close(fd);
				return -2;
			}
		*len += n;
	} while ((n = cgi_srv->read(r, buf, sizeof(buf))) > 0);
	if (n == -1 || lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -2;
	}
	return fd;
}

static const char *
var(bg_request *r, const char *name, size_t *len)
{
	const char *v = cgi_srv->var(r, name, len);

	if (v == NULL)
		*len = 0;
	return v != NULL ? v : "";
}

/* One request across its local redirects. */
struct hreq {
	const struct cgi_conf *conf;
	bg_request *r;
	const char *sf, *sn, *pi, *dr;	/* the web server's variables */
	size_t sfl, snl, pil, drl;
	int hop;			/* local redirects followed */
	char *redirect;			/* hop > 0: decoded path (malloc) */
	const char *query;		/* hop > 0: its query, in redirect */
	char *urlpath;			/* SCRIPT_NAME + PATH_INFO (malloc) */
	char *ptrans;			/* PATH_TRANSLATED (malloc) */
	int body_fd;			/* spooled body, or -1 */
	off_t spooled;
	char clen[24];
	double deadline;
	struct cgi_setvar set[16];
	size_t nset;
};

/*
 * Which path names the script, under which base.  The first pass takes
 * the web server's SCRIPT_FILENAME if there is one, else its URL path;
 * a local redirect's path is a URL path.
 */
static int
locate(struct hreq *q, struct cgi_loc *loc)
{
	const struct cgi_conf *c = q->conf;
	const char *base, *path, *why;
	size_t base_len, path_len;
	char b1[256], b2[512];
	int status;

	if (q->hop == 0 && q->sfl > 0) {
		base = "";
		base_len = 0;
		path = q->sf;
		path_len = q->sfl;
	} else {
		base = q->drl > 0 ? q->dr : c->root;
		base_len = q->drl > 0 ? q->drl : c->root_len;
		if (q->hop == 0) {
			if ((q->urlpath = malloc(q->snl + q->pil + 1)) ==
			    NULL) {
				path = "";
				path_len = 0;
				why = "out of memory";
				status = 500;
				goto fail;
			}
			memcpy(q->urlpath, q->sn, q->snl);
			memcpy(q->urlpath + q->snl, q->pi, q->pil);
			q->urlpath[q->snl + q->pil] = '\0';
			path = q->urlpath;
			path_len = q->snl + q->pil;
		} else {
			path = q->redirect;
			path_len = strlen(q->redirect);
		}
	}
	if ((status = cgi_path_locate(c, base, base_len, path, path_len, loc,
	    &why)) == 0)
		return 0;
fail:
	cgi_srv->log(q->r, status == 404 ? BG_LOG_INFO : BG_LOG_ERROR,
	    "cgi: %s%s: %s: %d", cgi_printable(b1, sizeof(b1), base,
	    base_len), cgi_printable(b2, sizeof(b2), path, path_len), why,
	    status);
	return status;
}

static void
setvar(struct hreq *q, const char *name, const char *value, size_t len)
{
	q->set[q->nset].name = name;
	q->set[q->nset].value = value;
	q->set[q->nset].value_len = len;
	q->nset++;
}

/* The variables the adapter sets itself (RFC 3875 section 4.1). */
static int
script_vars(struct hreq *q, const struct cgi_loc *loc)
{
	const struct cgi_conf *c = q->conf;
	const char *path, *tail, *pi;
	size_t path_len, tail_len, snl, pil, n;

	q->nset = 0;
	path = q->hop > 0 ? q->redirect : q->sfl > 0 ? q->sf : q->urlpath;
	path_len = strlen(path);
	if (q->hop == 0 && q->sfl > 0)
		path_len = q->sfl;
	tail = path + loc->script_len;
	tail_len = path_len - loc->script_len;
	if (q->hop == 0 && q->sfl > 0 && tail_len < q->snl + q->pil &&
	    q->snl + q->pil <= q->sfl &&
	    memcmp(q->sf + q->sfl - q->snl - q->pil, q->sn, q->snl) == 0 &&
	    memcmp(q->sf + q->sfl - q->pil, q->pi, q->pil) == 0) {
		/* SCRIPT_FILENAME is the document root and the whole URL
		 * path: the web server split nothing off (nginx without
		 * fastcgi_split_path_info; bridge then moves the path to
		 * PATH_INFO, see bridge/gateway/req_split.c).  The script is what
		 * the file system found, the rest is PATH_INFO. */
		n = q->snl + q->pil;
		setvar(q, "SCRIPT_NAME", q->sf + q->sfl - n, n - tail_len);
		pi = tail;
		pil = tail_len;
	} else if (q->hop == 0 && q->sfl > 0) {
		/* nginx without fastcgi_split_path_info: SCRIPT_NAME and
		 * SCRIPT_FILENAME both carry the tail. */
		snl = q->snl;
		if (tail_len > 0 && snl >= tail_len && memcmp(q->sn + snl -
		    tail_len, tail, tail_len) == 0)
			snl -= tail_len;
		setvar(q, "SCRIPT_NAME", q->sn, snl);
		pi = q->pil > 0 ? q->pi : tail;
		pil = q->pil > 0 ? q->pil : tail_len;
	} else {
		setvar(q, "SCRIPT_NAME", path, loc->script_len);
		pi = tail;
		pil = tail_len;
	}
	setvar(q, "PATH_INFO", pi, pil);
	setvar(q, "SCRIPT_FILENAME", loc->file, strlen(loc->file));
	/* Section 4.1.6: PATH_INFO mapped like a document. */
	free(q->ptrans);
	q->ptrans = NULL;
	if (pil > 0 && asprintf(&q->ptrans, "%.*s%.*s", (int)(q->drl > 0 ?
	    q->drl : c->root_len), q->drl > 0 ? q->dr : c->root, (int)pil,
	    pi) == -1) {
		q->ptrans = NULL;
		return -1;
	}
	setvar(q, "PATH_TRANSLATED", q->ptrans, q->ptrans != NULL ?
	    strlen(q->ptrans) : 0);
	setvar(q, "GATEWAY_INTERFACE", "CGI/1.1", 7);
	if (q->drl == 0)
		setvar(q, "DOCUMENT_ROOT", c->root_len > 0 ? c->root : "/",
		    c->root_len > 0 ? c->root_len : 1);
	if (q->hop > 0) {
		/* Section 6.2.2: the redirect is a GET of its own; the
		 * body went to the first script. */
		setvar(q, "REQUEST_METHOD", "GET", 3);
		setvar(q, "QUERY_STRING", q->query, strlen(q->query));
		setvar(q, "CONTENT_LENGTH", NULL, 0);
		setvar(q, "CONTENT_TYPE", NULL, 0);
		setvar(q, "REDIRECT_STATUS", "200", 3);
	} else if (q->body_fd != -1) {
		snprintf(q->clen, sizeof(q->clen), "%lld",
		    (long long)q->spooled);
		setvar(q, "CONTENT_LENGTH", q->clen, strlen(q->clen));
	} else if (cgi_srv->var(q->r, "CONTENT_LENGTH", &n) != NULL &&
	    n == 0)
		/* Section 4.1.2: unset, not empty, without a body (nginx
		 * sends it empty). */
		setvar(q, "CONTENT_LENGTH", NULL, 0);
	return 0;
}

/* Take a local redirect's Location: path and query, percent-decoded. */
static int
follow(struct hreq *q, char *location)
{
	char *p, b1[512];

	free(q->redirect);
	q->redirect = location;
	q->hop++;
	if (q->hop > CGI_REDIRECTS_MAX) {
		cgi_srv->log(q->r, BG_LOG_ERROR, "cgi: more than %d local "
		    "redirects, the last to %s: 500", CGI_REDIRECTS_MAX,
		    cgi_printable(b1, sizeof(b1), location,
		    strlen(location)));
		return 500;
	}
	cgi_srv->log(q->r, BG_LOG_DEBUG, "cgi: local redirect to %s",
	    cgi_printable(b1, sizeof(b1), location, strlen(location)));
	if ((p = strchr(location, '#')) != NULL)
		*p = '\0';
	if ((p = strchr(location, '?')) != NULL)
		*p++ = '\0';
	else
		p = location + strlen(location);
	q->query = p;
	if (decode_path(location) == -1) {
		cgi_srv->log(q->r, BG_LOG_ERROR, "cgi: local redirect path "
		    "has a broken escape or %%00: 502");
		return 502;
	}
	return 0;
}

static int
cgi_handle(void *ctx, bg_request *r)
{
	struct hreq q = { .conf = ctx, .r = r, .body_fd = -1 };
	struct cgi_loc loc = { 0 };
	struct cgi_job job = { 0 };
	int status, rc;
	size_t n;

	q.sf = var(r, "SCRIPT_FILENAME", &q.sfl);
	q.sn = var(r, "SCRIPT_NAME", &q.snl);
	q.pi = var(r, "PATH_INFO", &q.pil);
	q.dr = var(r, "DOCUMENT_ROOT", &q.drl);
	while (q.drl > 1 && q.dr[q.drl - 1] == '/')
		q.drl--;
	q.deadline = cgi_now() + q.conf->timeout;

	for (;;) {
		if ((status = locate(&q, &loc)) != 0) {
			rc = answer(r, status);
			goto done;
		}
		if (q.hop == 0 && cgi_srv->content_length(r) < 0 &&
		    (cgi_srv->var(r, "CONTENT_LENGTH", &n) == NULL ||
		    n == 0) && (q.body_fd = spool_body(r, &q.spooled)) ==
		    -2) {
			q.body_fd = -1;
			rc = answer(r, 500);
			goto done;
		}
		if (script_vars(&q, &loc) == -1)
			goto oom;
		memset(&job, 0, sizeof(job));
		job.conf = q.conf;
		job.r = r;
		job.loc = &loc;
		job.feed_body = q.hop == 0;
		job.body_fd = q.body_fd;
		job.deadline = q.deadline;
		if ((job.envp = cgi_env_build(r, q.set, q.nset)) == NULL)
			goto oom;
		switch (cgi_proc_run(&job)) {
		case CGI_RUN_DONE:
			rc = BG_OK;
			goto done;
		case CGI_RUN_CUT:
			rc = BG_ERROR;
			goto done;
		case CGI_RUN_FAILED:
			rc = answer(r, 502);
			goto done;
		case CGI_RUN_TIMEOUT:
			rc = answer(r, 504);
			goto done;
		case CGI_RUN_REDIRECT:
			break;
		}
		free(job.envp);
		job.envp = NULL;
		cgi_path_free(&loc);
		if ((status = follow(&q, job.redirect)) != 0) {
			rc = answer(r, status);
			goto done;
		}
	}

oom:
	cgi_srv->log(r, BG_LOG_ERROR, "cgi: out of memory");
	rc = BG_ERROR;
done:
	free(job.envp);
	cgi_path_free(&loc);
	if (q.body_fd >= 0)
		close(q.body_fd);
	free(q.ptrans);
	free(q.urlpath);
	free(q.redirect);
	return rc;
}

static const struct bg_module cgi_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "cgi",
	.init = cgi_init,
	.worker_init = cgi_worker_init,
	.handle = cgi_handle,
};

const struct bg_module *
bg_module_entry(void)
{
	return &cgi_module;
}
