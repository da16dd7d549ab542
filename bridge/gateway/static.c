/*
 * Static files (--static-map).  Section numbers refer to RFC 9110.
 *
 * Confinement: a request's path is percent-decoded once, matched against
 * the maps, and refused (400) when what follows the prefix has a "." or
 * ".." segment or an escaped '/', so no name the client sends can climb.
 * The file is then opened relative to the map's directory descriptor
 * with openat2(RESOLVE_BENEATH): a symlink may point within DIR but the
 * kernel refuses one that leads out (EXDEV), unless
 * --static-follow-symlinks.  Where openat2 is missing every component is
 * opened O_NOFOLLOW, so no symlink is followed at all.
 *
 * Bodies: a small file is read into the response with its head (one
 * write); a larger one is sent by sendfile(2) on plain connections, or
 * read and written through the TLS transport, STATIC_TURN bytes per
 * loop turn.
 */
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "req.h"
#include "static.h"
#include "transport.h"

#define STATIC_INLINE (16 * 1024)	/* bodies sent with their head */
#define STATIC_PATH_MAX 8192

struct static_map {
	const char *prefix;	/* without a trailing '/' ("" for "/") */
	size_t prefix_len;
	const char *dir;
	int dirfd;
};

struct mime {
	char *ext;
	char *type;
	size_t order;
};

static struct static_map maps[CONFIG_STATIC_MAX];
static int nmaps;
static struct mime *mimes;
static size_t nmimes;
static int no_openat2;

/* Used when /etc/mime.types is missing (package media-types). */
static const char *const mime_fallback[][2] = {
	{ "css", "text/css" }, { "gif", "image/gif" },
	{ "htm", "text/html" }, { "html", "text/html" },
	{ "ico", "image/vnd.microsoft.icon" }, { "jpeg", "image/jpeg" },
	{ "jpg", "image/jpeg" }, { "js", "text/javascript" },
	{ "json", "application/json" }, { "pdf", "application/pdf" },
	{ "png", "image/png" }, { "svg", "image/svg+xml" },
	{ "txt", "text/plain" }, { "wasm", "application/wasm" },
	{ "webp", "image/webp" }, { "woff2", "font/woff2" },
	{ "xml", "application/xml" },
};

static int
mime_cmp(const void *a, const void *b)
{
	const struct mime *x = a, *y = b;
	int c = strcasecmp(x->ext, y->ext);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
mime_add(const char *ext, size_t elen, const char *type, size_t tlen,
    size_t *cap)
{
	struct mime *m;

	if (nmimes == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		if ((m = realloc(mimes, *cap * sizeof(*m))) == NULL)
			return -1;
		mimes = m;
	}
	m = &mimes[nmimes];
	if ((m->ext = strndup(ext, elen)) == NULL ||
	    (m->type = strndup(type, tlen)) == NULL) {
		free(m->ext);
		return -1;
	}
	m->order = nmimes++;
	return 0;
}

int
static_mime_load(const char *path)
{
	char line[1024], *p, *type;
	size_t cap = nmimes, tlen, i, j;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	/* "type ext ext ..." lines; '#' starts a comment. */
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = line + strspn(line, " \t\r\n");
		type = p;
		tlen = strcspn(p, " \t\r\n");
		if (tlen == 0)
			continue;
		p += tlen;
		for (;;) {
			p += strspn(p, " \t\r\n");
			if (*p == '\0')
				break;
			i = strcspn(p, " \t\r\n");
			if (mime_add(p, i, type, tlen, &cap) == -1) {
				fclose(f);
				return -1;
			}
			p += i;
		}
	}
	fclose(f);
	qsort(mimes, nmimes, sizeof(*mimes), mime_cmp);
	/* The first line naming an extension wins. */
	for (i = j = 0; i < nmimes; i++) {
		if (j > 0 && strcasecmp(mimes[j - 1].ext, mimes[i].ext) == 0) {
			free(mimes[i].ext);
			free(mimes[i].type);
			continue;
		}
		mimes[j++] = mimes[i];
	}
	nmimes = j;
	return 0;
}

const char *
static_mime_type(const char *name, size_t n)
{
	char ext[32];
	size_t i, lo, hi, mid;
	int c;

	for (i = n; i > 0 && name[i - 1] != '.' && name[i - 1] != '/'; i--)
		;
	if (i == 0 || name[i - 1] != '.' || n - i == 0 || n - i >= sizeof(ext))
		return "application/octet-stream";
	memcpy(ext, name + i, n - i);
	ext[n - i] = '\0';
	lo = 0;
	hi = nmimes;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcasecmp(ext, mimes[mid].ext)) == 0)
			return mimes[mid].type;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (i = 0; i < sizeof(mime_fallback) / sizeof(mime_fallback[0]);
	    i++)
		if (nmimes == 0 && strcasecmp(ext, mime_fallback[i][0]) == 0)
			return mime_fallback[i][1];
	return "application/octet-stream";
}

/*
 * Start-up.
 */

void
static_init(void)
{
	struct static_map *m;
	const char *arg, *eq;
	size_t plen;
	int i;

	for (i = 0; i < config.nstatic_map; i++) {
		arg = config.static_map[i];
		eq = strchr(arg, '=');
		plen = (size_t)(eq - arg);
		while (plen > 0 && arg[plen - 1] == '/')
			plen--;
		m = &maps[nmaps];
		m->prefix = arg;
		m->prefix_len = plen;
		m->dir = eq + 1;
		m->dirfd = open(m->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (m->dirfd == -1)
			fatal("--static-map %s: %s: %s", arg, m->dir,
			    strerror(errno));
		nmaps++;
	}
	if (nmaps > 0 && nmimes == 0 &&
	    static_mime_load("/etc/mime.types") == -1)
		log_warn("static: /etc/mime.types: %s; using a few built-in "
		    "types (install media-types)", strerror(errno));
}

int
static_enabled(void)
{
	return nmaps > 0;
}

const struct static_map *
static_match(const char *target, size_t len)
{
	char path[STATIC_PATH_MAX];
	ssize_t n;
	int i, encslash;

	if (len > sizeof(path) ||
	    (n = static_path_decode(target, len, path, &encslash)) < 0)
		return NULL;	/* the application's 400 */
	for (i = 0; i < nmaps; i++) {
		const struct static_map *m = &maps[i];

		if ((size_t)n >= m->prefix_len &&
		    memcmp(path, m->prefix, m->prefix_len) == 0 &&
		    ((size_t)n == m->prefix_len || path[m->prefix_len] == '/'))
			return m;
	}
	return NULL;
}

/*
 * Answering.
 */

/* Open rel below m's directory; -1 with errno (EXDEV, ELOOP: a symlink
 * out of the root). */
static int
open_beneath(const struct static_map *m, const char *rel)
{
	struct open_how how;
	char part[STATIC_PATH_MAX];
	const char *p, *slash;
	int fd, next;
	long rc;

	if (config.static_follow_symlinks)
		return openat(m->dirfd, rel, O_RDONLY | O_NONBLOCK |
		    O_CLOEXEC | O_NOCTTY);
	if (!no_openat2) {
		memset(&how, 0, sizeof(how));
		how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		rc = syscall(SYS_openat2, m->dirfd, rel, &how, sizeof(how));
		if (rc >= 0 || (errno != ENOSYS && errno != EPERM))
			return (int)rc;
		no_openat2 = 1;
	}
	/* No openat2 (before Linux 5.6, or a seccomp filter): follow no
	 * symlink at all, one component at a time. */
	fd = m->dirfd;
	for (p = rel;; p = slash + 1) {
		if ((slash = strchr(p, '/')) == NULL)
			break;
		if ((size_t)(slash - p) >= sizeof(part)) {
			errno = ENAMETOOLONG;
			next = -1;
		} else {
			memcpy(part, p, (size_t)(slash - p));
			part[slash - p] = '\0';
			next = openat(fd, part, O_PATH | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd != m->dirfd)
			close(fd);
		if (next == -1)
			return -1;
		fd = next;
	}
	next = openat(fd, p, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
	    O_NOFOLLOW);
	if (fd != m->dirfd) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return next;
}

/* A regular file at rel: its fd and stat, or -1 with errno (EISDIR for
 * a directory, EACCES for other non-regular files). */
static int
open_file(const struct static_map *m, const char *rel, struct stat *st)
{
	int fd;

	if ((fd = open_beneath(m, rel)) == -1)
		return -1;
	if (fstat(fd, st) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		errno = S_ISDIR(st->st_mode) ? EISDIR : EACCES;
		close(fd);
		return -1;
	}
	return fd;
}

static const struct bg_var *
var(struct req *r, const char *name)
{
	return req_find_var(r, name, strlen(name));
}

static int
put(struct buf *out, const char *s)
{
	return buf_append(out, s, strlen(s));
}

static int
put_field(struct buf *out, const char *name, const char *value)
{
	return put(out, name) == -1 || put(out, ": ") == -1 ||
	    put(out, value) == -1 || put(out, "\r\n") == -1 ? -1 : 0;
}

static int
status_line(struct buf *out, struct req *r, int status)
{
	char line[128], date[32];

	r->status = status;
	r->reason = req_status_reason(status);
	r->head_sent = 1;
	static_date_format(date, time(NULL));
	snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\nDate: %s\r\n",
	    status, r->reason, date);
	return put(out, line);
}

/* A short text answer: errors, 405. */
static int
answer_error(struct req *r, int head, const char *conn_line,
    struct buf *out, int status, const char *why)
{
	char fields[128], body[64];
	int n;

	log_msg(LOG_LEVEL_INFO, r->id, "static: %d: %s", status, why);
	n = snprintf(body, sizeof(body), "%d %s\n", status,
	    req_status_reason(status));
	snprintf(fields, sizeof(fields), "Content-Type: text/plain\r\n"
	    "Content-Length: %d\r\n", n);
	if (status_line(out, r, status) == -1 ||
	    (status == 405 && put(out, "Allow: GET, HEAD\r\n") == -1) ||
	    put(out, fields) == -1 || put(out, conn_line) == -1 ||
	    put(out, "\r\n") == -1)
		return -1;
	if (head)
		return 0;
	r->resp_sent = (uint64_t)n;
	return buf_append(out, body, (size_t)n);
}

/* The validators and caching fields of a 200, 206 or 304. */
static int
put_validators(struct buf *out, const char *etag, time_t mtime,
    const char *coding, int vary)
{
	char date[32], cc[64];

	static_date_format(date, mtime);
	if (put_field(out, "Last-Modified", date) == -1 ||
	    put_field(out, "ETag", etag) == -1 ||
	    (coding && put_field(out, "Content-Encoding", coding) == -1) ||
	    (vary && put(out, "Vary: Accept-Encoding\r\n") == -1))
		return -1;
	if (config.static_expires > 0) {
		snprintf(cc, sizeof(cc), "max-age=%lu", config.static_expires);
		if (put_field(out, "Cache-Control", cc) == -1)
			return -1;
	}
	return 0;
}

/* Section 13.1.5: If-Range names this representation (strong match of
 * the ETag, or exactly its Last-Modified)? */
static int
if_range_holds(const struct bg_var *v, const char *etag, time_t mtime)
{
	time_t t;

	if (v == NULL)
		return 1;
	if (v->value_len > 0 && v->value[0] == '"')
		return v->value_len == strlen(etag) &&
		    memcmp(v->value, etag, v->value_len) == 0;
	return static_date_parse(v->value, v->value_len, &t) == 0 &&
	    t == mtime;
}

static int
respond(const struct static_map *m, struct req *r, int head,
    const char *conn_line, struct buf *out, struct static_body *body)
{
	static const char *const codings[][2] = {
		{ "br", ".br" }, { "gzip", ".gz" }
	};
	char path[STATIC_PATH_MAX + 8], etag[64], num[96];
	const struct bg_var *method, *uri, *v;
	const char *rel, *type, *coding = NULL;
	struct stat st, cst;
	off_t first, last;
	ssize_t n;
	size_t rlen, i;
	time_t t;
	int fd, cfd, encslash, vary = 0, not_modified = 0;
	enum static_range range = STATIC_RANGE_NONE;

	body->fd = -1;
	method = var(r, "REQUEST_METHOD");
	uri = var(r, "REQUEST_URI");
	/* Section 9.3: a file answers GET and HEAD only. */
	if (method == NULL || uri == NULL || !((method->value_len == 3 &&
	    memcmp(method->value, "GET", 3) == 0) || head))
		return answer_error(r, head, conn_line, out, 405,
		    "method not allowed on a static file");
	if (uri->value_len > STATIC_PATH_MAX || (n = static_path_decode(
	    uri->value, uri->value_len, path, &encslash)) < 0)
		return answer_error(r, head, conn_line, out, 400,
		    "bad percent-encoding");
	path[n] = '\0';
	rel = path + m->prefix_len;
	while (*rel == '/')
		rel++;
	rlen = strlen(rel);
	if (rlen == 0 || rel[rlen - 1] == '/')
		return answer_error(r, head, conn_line, out, 403,
		    "a directory (no listings)");
	if (encslash || static_path_check(rel, rlen) == -1)
		return answer_error(r, head, conn_line, out, 400,
		    "\".\", \"..\" or an escaped '/' in a static path");
	if ((fd = open_file(m, rel, &st)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR ||
		    errno == ENAMETOOLONG)
			return answer_error(r, head, conn_line, out, 404,
			    "no such file");
		return answer_error(r, head, conn_line, out, 403,
		    errno == EXDEV || errno == ELOOP ? "a symlink leads out "
		    "of the static directory" : strerror(errno));
	}
	type = static_mime_type(rel, rlen);
	/* Section 12.5.3: a precompressed sibling the client accepts. */
	if ((v = var(r, "HTTP_ACCEPT_ENCODING")) != NULL) {
		for (i = 0; i < 2; i++) {
			if (!static_accepts(v->value, v->value_len,
			    codings[i][0]))
				continue;
			memcpy(path + n, codings[i][1], 4);
			cfd = open_file(m, rel, &cst);
			path[n] = '\0';
			if (cfd == -1)
				continue;
			close(fd);
			fd = cfd;
			st = cst;
			coding = codings[i][0];
			vary = 1;
			break;
		}
	}
	static_etag(etag, sizeof(etag), st.st_mtime, st.st_size, coding);
	/* Section 13.2.2: If-None-Match first; If-Modified-Since only
	 * without it. */
	if ((v = var(r, "HTTP_IF_NONE_MATCH")) != NULL)
		not_modified = static_etag_match(v->value, v->value_len, etag);
	else if ((v = var(r, "HTTP_IF_MODIFIED_SINCE")) != NULL &&
	    static_date_parse(v->value, v->value_len, &t) == 0)
		not_modified = st.st_mtime <= t;
	if (not_modified) {
		close(fd);
		return status_line(out, r, 304) == -1 ||
		    put_validators(out, etag, st.st_mtime, coding, vary) ==
		    -1 || put(out, conn_line) == -1 ||
		    put(out, "\r\n") == -1 ? -1 : 0;
	}
	first = 0;
	last = st.st_size - 1;
	if ((v = var(r, "HTTP_RANGE")) != NULL && if_range_holds(var(r,
	    "HTTP_IF_RANGE"), etag, st.st_mtime))
		range = static_range_parse(v->value, v->value_len, st.st_size,
		    &first, &last);
	if (range == STATIC_RANGE_UNSATISFIABLE) {
		close(fd);
		/* Section 15.5.17: the current length in Content-Range. */
		snprintf(num, sizeof(num), "bytes */%lld",
		    (long long)st.st_size);
		return status_line(out, r, 416) == -1 ||
		    put_field(out, "Content-Range", num) == -1 ||
		    put(out, "Content-Length: 0\r\n") == -1 ||
		    put(out, conn_line) == -1 || put(out, "\r\n") == -1 ?
		    -1 : 0;
	}
	if (status_line(out, r, range == STATIC_RANGE_OK ? 206 : 200) == -1 ||
	    put_field(out, "Content-Type", type) == -1 ||
	    put_validators(out, etag, st.st_mtime, coding, vary) == -1 ||
	    put(out, "Accept-Ranges: bytes\r\n") == -1)
		goto fail;
	if (range == STATIC_RANGE_OK) {
		snprintf(num, sizeof(num), "bytes %lld-%lld/%lld",
		    (long long)first, (long long)last, (long long)st.st_size);
		if (put_field(out, "Content-Range", num) == -1)
			goto fail;
	}
	snprintf(num, sizeof(num), "%lld", (long long)(last - first + 1));
	if (put_field(out, "Content-Length", num) == -1 ||
	    put(out, conn_line) == -1 || put(out, "\r\n") == -1)
		goto fail;
	if (head || last < first) {
		close(fd);
		return 0;
	}
	r->resp_sent = (uint64_t)(last - first + 1);
	if (last - first + 1 <= STATIC_INLINE) {
		/* With its head, in one write. */
		size_t len = (size_t)(last - first + 1);

		if (buf_reserve(out, len) == -1)
			goto fail;
		do
			n = pread(fd, buf_tail(out), len, first);
		while (n == -1 && errno == EINTR);
		close(fd);
		if (n != (ssize_t)len) {
			/* Shrunk since fstat: the promised length cannot be
			 * kept; the caller closes the connection. */
			errno = EIO;
			return -1;
		}
		out->len += len;
		return 0;
	}
	body->fd = fd;
	body->off = first;
	body->end = last + 1;
	return 0;
fail:
	close(fd);
	return -1;
}

int
static_respond(const struct static_map *m, struct req *r, int head,
    const char *conn_line, struct buf *out, struct static_body *body)
{
	size_t mark = out->len;

	if (respond(m, r, head, conn_line, out, body) == -1) {
		/* No half a head goes out: the caller closes. */
		out->len = mark;
		return -1;
	}
	return 0;
}

int
static_body_send(struct static_body *b, int fd, const struct transport *tp,
    void *tls, uint32_t *want)
{
	char chunk[16384];
	off_t budget = STATIC_TURN, left;
	ssize_t n, w;

	while (b->fd != -1) {
		left = b->end - b->off;
		if (left == 0) {
			static_body_close(b);
			break;
		}
		if (budget <= 0) {
			/* Come back on the next loop turn. */
			*want = EPOLLOUT;
			return 0;
		}
		if (tls == NULL) {
			w = sendfile(fd, b->fd, &b->off,
			    (size_t)(left < budget ? left : budget));
			if (w == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					*want = EPOLLOUT;
					return 0;
				}
				return -1;
			}
			if (w == 0)
				return -1;	/* the file shrank */
			budget -= w;
			continue;
		}
		/* Through TLS: the same offset is always retried with the
		 * same length, as SSL_write wants after a short write. */
		n = pread(b->fd, chunk, left < (off_t)sizeof(chunk) ?
		    (size_t)left : sizeof(chunk), b->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		w = tp->send(fd, tls, chunk, (size_t)n, want);
		if (w == -1)
			return errno == EAGAIN ? 0 : -1;
		b->off += w;
		budget -= w;
	}
	return 0;
}

void
static_body_close(struct static_body *b)
{
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
}
