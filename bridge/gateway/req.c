/*
 * Request model and the server side of the gateway ABI.  The validation
 * here is PEP 3333's (start_response rules, exc_info replacement, never
 * more bytes than Content-Length) applied to C.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "req.h"

#define REQ_VARS_INITIAL 48

static unsigned long long req_counter;
static struct loop *req_loop;	/* the worker's, for async requests */
static struct req *detached;	/* see req_detached(); list by dnext */
static int detached_cancel;	/* the worker is stopping: cancel them */

/* The ABI's opaque handle is our struct req. */
static inline struct req *
R(bg_request *h)
{
	return (struct req *)(void *)h;
}

/* The process id part of request ids, kept from getpid(2) (a system call
 * per request otherwise) and renewed in a forked child. */
static char id_prefix[20];
static size_t id_prefix_len;

static void
id_forget(void)
{
	id_prefix_len = 0;
}

/* "PID-COUNTER" in hex, as the logs have always shown it. */
static void
req_format_id(char *out, unsigned long long n)
{
	static const char hex[] = "0123456789abcdef";
	static int hooked;
	char tmp[20];
	size_t k = 0;

	if (id_prefix_len == 0) {
		if (!hooked && pthread_atfork(NULL, NULL, id_forget) == 0)
			hooked = 1;
		id_prefix_len = (size_t)snprintf(id_prefix, sizeof(id_prefix),
		    "%lx-", (long)getpid());
	}
	memcpy(out, id_prefix, id_prefix_len);
	do
		tmp[k++] = hex[n & 15];
	while ((n >>= 4) != 0);
	out += id_prefix_len;
	while (k > 0)
		*out++ = tmp[--k];
	*out = '\0';
}

struct req *
req_create(const struct resp_sink *sink, void *conn)
{
	struct pool *p;
	struct req *r;

	if ((p = pool_create()) == NULL)
		return NULL;
	if ((r = pool_alloc(p, sizeof(*r))) == NULL) {
		pool_destroy(p);
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	r->pool = p;
	r->sink = sink;
	r->conn = conn;
	r->content_length = -1;
	r->resp_length = -1;
	body_init(&r->body);
	req_format_id(r->id, ++req_counter);
	return r;
}

void
req_destroy(struct req *r)
{
	struct body b;

	if (r == NULL)
		return;
	if (req_loop != NULL)
		loop_defer_cancel(req_loop, &r->ev_node);
	/* A no-op when not armed (loop_mtimer_stop()). */
	if (req_loop != NULL)
		loop_mtimer_stop(req_loop, &r->deadline);
	if (r->abody != NULL)
		buf_free(r->abody);
	/* Finish hooks are pool cleanups: they run before anything of the
	 * request goes away. */
	b = r->body;
	pool_destroy(r->pool);
	body_free(&b);
}

/* A new entry at the end of r->vars (grown by doubling); NULL when
 * the pool is out of memory. */
static struct bg_var *
var_slot(struct req *r)
{
	struct bg_var *v;

	if (r->nvars == r->vars_cap) {
		size_t cap = r->vars_cap ? r->vars_cap * 2 : REQ_VARS_INITIAL;

		if ((v = pool_alloc(r->pool, cap * sizeof(*v))) == NULL)
			return NULL;
		if (r->nvars > 0)
			memcpy(v, r->vars, r->nvars * sizeof(*v));
		r->vars = v;
		r->vars_cap = cap;
	}
	return &r->vars[r->nvars];
}

/* Append name=value, both already in memory that outlives r. */
static int
var_push(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	struct bg_var *v;

	if ((v = var_slot(r)) == NULL)
		return -1;
	v->name = name;
	v->name_len = name_len;
	v->value = value;
	v->value_len = value_len;
	r->nvars++;
	return 0;
}

/* Whether a variable by this name is dropped (see req_add_var()). */
static int
var_refused(const char *name, size_t name_len)
{
	/* httpoxy: a client's Proxy: header must not become the proxy
	 * setting of the application's HTTP client. */
	if (name_len == 10 && memcmp(name, "HTTP_PROXY", 10) == 0)
		return 1;
	/* RFC 3875 section 4.1.18: header fields already carried by
	 * CONTENT_LENGTH and CONTENT_TYPE are not repeated as HTTP_*
	 * (nginx passes them; CGI servers do not). */
	return (name_len == 19 && memcmp(name, "HTTP_CONTENT_LENGTH", 19) ==
	    0) || (name_len == 17 && memcmp(name, "HTTP_CONTENT_TYPE", 17) ==
	    0);
}

/* A name not set yet: both strings copied into the pool. */
static int
var_new(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	const char *n, *v;

	if ((n = pool_strndup(r->pool, name, name_len)) == NULL ||
	    (v = pool_strndup(r->pool, value, value_len)) == NULL)
		return -1;
	return var_push(r, n, name_len, v, value_len);
}

int
req_add_var(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	struct bg_var *v;

	if (var_refused(name, name_len))
		return 0;
	/* A name given again replaces the value, keeping its place: one
	 * variable per name, the last value winning, as PHP-FPM and nginx
	 * users expect of "include fastcgi_params; fastcgi_param X ...". */
	if ((v = (struct bg_var *)req_find_var(r, name, name_len)) != NULL) {
		if ((v->value = pool_strndup(r->pool, value, value_len)) ==
		    NULL)
			return -1;
		v->value_len = value_len;
		return 0;
	}
	return var_new(r, name, name_len, value, value_len);
}

int
req_put_var(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	const char *v;

	if ((v = pool_strndup(r->pool, value, value_len)) == NULL)
		return -1;
	return var_push(r, name, name_len, v, value_len);
}

int
req_put_literal(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	return var_push(r, name, name_len, value, value_len);
}

const struct bg_var *
req_find_var(struct req *r, const char *name, size_t name_len)
{
	size_t i;

	for (i = 0; i < r->nvars; i++)
		if (r->vars[i].name_len == name_len &&
		    memcmp(r->vars[i].name, name, name_len) == 0)
			return &r->vars[i];
	return NULL;
}

struct bg_header *
req_fields_new(struct req *r, size_t n)
{
	struct bg_header *f;

	/* One entry more, in front, for a Host added by req_field_set(). */
	if ((f = pool_alloc(r->pool, (n + 1) * sizeof(*f))) == NULL)
		return NULL;
	r->fields = f + 1;
	r->nfields = n;
	r->field_room = 1;
	return r->fields;
}

int
req_field_set(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	struct bg_header *f;
	size_t i;

	if (r->fields == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < r->nfields; i++) {
		f = &r->fields[i];
		if (f->name_len == name_len &&
		    strncasecmp(f->name, name, name_len) == 0) {
			f->value = value;
			f->value_len = value_len;
			return 0;
		}
	}
	if (!r->field_room) {
		errno = ENOSPC;
		return -1;
	}
	r->field_room = 0;
	f = --r->fields;
	r->nfields++;
	f->name = name;
	f->name_len = name_len;
	f->value = value;
	f->value_len = value_len;
	return 0;
}

const char *
req_status_reason(int status)
{
	switch (status) {
	case 102: return "Processing";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* RFC 9110 section 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr(extra, c) != NULL);
}

/* RFC 9110 section 5.5: field-value is VCHAR, obs-text, SP and HTAB. */
static int
valid_field_value(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* PEP 3333 "Other HTTP Features": hop-by-hop headers are the server's. */
static int
is_hop_by_hop(const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t len;
	} hop[] = {
#define H(s) { s, sizeof(s) - 1 }
		H("Connection"), H("Keep-Alive"), H("Proxy-Authenticate"),
		H("Proxy-Authorization"), H("TE"), H("Trailer"),
		H("Transfer-Encoding"), H("Upgrade"), H("Proxy-Connection")
#undef H
	};
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (hop[i].len == n && strncasecmp(hop[i].name, name, n) == 0)
			return 1;
	return 0;
}

int
req_parse_length(const char *v, size_t n, int64_t *out)
{
	int64_t x = 0;
	size_t i;
	int d;

	/* RFC 9110 section 8.6: Content-Length = 1*DIGIT; a value that
	 * does not fit is as invalid as one that is not a number. */
	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9') {
			errno = EINVAL;
			return -1;
		}
		d = v[i] - '0';
		if (x > (INT64_MAX - d) / 10) {
			errno = ERANGE;
			return -1;
		}
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

int
req_append_var(struct req *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	struct bg_var *v;
	const char *sep;
	char *joined;
	size_t len;

	if (var_refused(name, name_len))
		return 0;
	v = (struct bg_var *)req_find_var(r, name, name_len);
	if (v == NULL)
		return var_new(r, name, name_len, value, value_len);
	/* RFC 9110 section 5.3: a field sent twice is one comma-separated
	 * list; cookies join with "; " (RFC 6265 section 5.4). */
	sep = name_len == 11 && memcmp(name, "HTTP_COOKIE", 11) == 0 ?
	    "; " : ", ";
	len = v->value_len + 2 + value_len;
	if ((joined = pool_alloc(r->pool, len + 1)) == NULL)
		return -1;
	memcpy(joined, v->value, v->value_len);
	memcpy(joined + v->value_len, sep, 2);
	memcpy(joined + v->value_len + 2, value, value_len);
	joined[len] = '\0';
	v->value = joined;
	v->value_len = len;
	return 0;
}

ssize_t
req_remove_dot_segments(char *path, size_t n)
{
	size_t i = 0, o = 0, seg;

	/* RFC 3986 section 5.2.4 on an absolute path, in place: the output
	 * never runs ahead of the input.  Each step takes one segment
	 * ("/" and what follows up to the next "/"). */
	if (n == 0 || path[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	while (i < n) {
		for (seg = 1; i + seg < n && path[i + seg] != '/'; seg++)
			;
		if (seg == 2 && path[i + 1] == '.') {
			/* "/." : dropped; "/." at the end leaves "/". */
			if (i + seg == n)
				path[o++] = '/';
		} else if (seg == 3 && path[i + 1] == '.' &&
		    path[i + 2] == '.') {
			/* "/.." : drop the last output segment.  Above the
			 * root is refused rather than clamped, as nginx
			 * answers 400. */
			if (o == 0) {
				errno = ERANGE;
				return -1;
			}
			while (o > 0 && path[--o] != '/')
				;
			if (i + seg == n)
				path[o++] = '/';
		} else {
			memmove(path + o, path + i, seg);
			o += seg;
		}
		i += seg;
	}
	return (ssize_t)o;
}

/* RFC 9110 sections 9.3.2, 15.3.5, 15.4.5: the answer to HEAD, a 204
 * and a 304 have no content, whatever their Content-Length says. */
static int
bodiless(struct req *r)
{
	const struct bg_var *m = req_find_var(r, "REQUEST_METHOD", 14);

	if (r->status == 204 || r->status == 304)
		return 1;
	return m != NULL && m->value_len == 4 &&
	    memcmp(m->value, "HEAD", 4) == 0;
}

static size_t
g_var_count(bg_request *h)
{
	return R(h)->nvars;
}

static const struct bg_var *
g_var_at(bg_request *h, size_t i)
{
	struct req *r = R(h);

	return i < r->nvars ? &r->vars[i] : NULL;
}

static const char *
g_var(bg_request *h, const char *name, size_t *len)
{
	const struct bg_var *v = req_find_var(R(h), name, strlen(name));

	if (v == NULL)
		return NULL;
	if (len != NULL)
		*len = v->value_len;
	return v->value;
}

static ssize_t
g_read(bg_request *h, void *buf, size_t n)
{
	struct req *r = R(h);
	size_t had;

	if (!r->async)
		return body_read(&r->body, buf, n);
	had = r->abody != NULL ? r->abody->len : 0;
	if (had > 0) {
		if (n > had)
			n = had;
		memcpy(buf, r->abody->data + r->abody->off, n);
		buf_consume(r->abody, n);
		/* A full window stopped the front end reading: resume. */
		if (had >= REQ_BODY_WINDOW && r->conn != NULL)
			r->sink->kick(r);
		return (ssize_t)n;
	}
	if (r->body_done)
		return 0;
	errno = EAGAIN;
	return -1;
}

static int64_t
g_content_length(bg_request *h)
{
	return R(h)->content_length;
}

static const struct bg_header *
g_fields(bg_request *h, size_t *n)
{
	struct req *r = R(h);

	*n = r->nfields;
	return r->fields;
}

static void
g_log(bg_request *h, int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, h != NULL ? R(h)->id : NULL, fmt, ap);
	va_end(ap);
}

static int
g_start_response(bg_request *h, int status, const char *reason,
    const struct bg_header *hs, size_t n, int flags)
{
	struct req *r = R(h);
	struct req_header *copy;
	int64_t clen = -1;
	size_t i, kept;

	if (r->started && !(flags & BG_REPLACE)) {
		log_msg(LOG_LEVEL_ERROR, r->id,
		    "start_response called twice without replace");
		return -1;
	}
	if (r->head_sent) {
		log_msg(LOG_LEVEL_ERROR, r->id,
		    "start_response replace after the response started");
		return -1;
	}
	if (status < 200 || status > 999) {
		log_msg(LOG_LEVEL_ERROR, r->id, "invalid status %d", status);
		return -1;
	}
	if (reason != NULL && !valid_field_value(reason, strlen(reason))) {
		log_msg(LOG_LEVEL_ERROR, r->id,
		    "status reason has control characters");
		return -1;
	}
	if (n > 0 && (hs == NULL || n > 1000)) {
		log_msg(LOG_LEVEL_ERROR, r->id, "invalid header list");
		return -1;
	}
	for (i = 0; i < n; i++) {
		size_t k;

		if (hs[i].name == NULL || hs[i].name_len == 0 ||
		    (hs[i].value == NULL && hs[i].value_len > 0)) {
			log_msg(LOG_LEVEL_ERROR, r->id,
			    "response header %zu has no name", i);
			return -1;
		}
		for (k = 0; k < hs[i].name_len; k++)
			if (!is_tchar((unsigned char)hs[i].name[k]))
				break;
		if (k < hs[i].name_len) {
			log_msg(LOG_LEVEL_ERROR, r->id,
			    "response header name %.*s is not a token",
			    (int)(hs[i].name_len > 64 ? 64 : hs[i].name_len),
			    hs[i].name);
			return -1;
		}
		if (!valid_field_value(hs[i].value, hs[i].value_len)) {
			log_msg(LOG_LEVEL_ERROR, r->id,
			    "response header %.*s has CR, LF, NUL or another "
			    "control character in its value",
			    (int)hs[i].name_len, hs[i].name);
			return -1;
		}
		/* RFC 9110 section 6.6.2: Trailer announces the trailer
		 * fields of a response that has them (BG_TRAILERS). */
		if (is_hop_by_hop(hs[i].name, hs[i].name_len) &&
		    !((flags & BG_TRAILERS) && hs[i].name_len == 7 &&
		    strncasecmp(hs[i].name, "Trailer", 7) == 0)) {
			log_msg(LOG_LEVEL_ERROR, r->id,
			    "response header %.*s is hop-by-hop (PEP 3333)",
			    (int)hs[i].name_len, hs[i].name);
			return -1;
		}
		/* RFC 3875 section 6.3.3: "Status" is the CGI response's
		 * own field; a header of that name would override the
		 * status on the FastCGI and CGI wire. */
		if (hs[i].name_len == 6 &&
		    strncasecmp(hs[i].name, "Status", 6) == 0) {
			log_msg(LOG_LEVEL_ERROR, r->id, "response header "
			    "Status: give the status to start_response");
			return -1;
		}
		if (hs[i].name_len == 14 &&
		    strncasecmp(hs[i].name, "Content-Length", 14) == 0) {
			/* RFC 9110 section 8.6: one length, or framing is
			 * ambiguous. */
			if (clen != -1) {
				log_msg(LOG_LEVEL_ERROR, r->id, "response has "
				    "more than one Content-Length");
				return -1;
			}
			/* Up to 18 digits: a response length beyond an
			 * exabyte is a mistake, not a body. */
			if (hs[i].value_len > 18 || req_parse_length(
			    hs[i].value, hs[i].value_len, &clen) == -1) {
				log_msg(LOG_LEVEL_ERROR, r->id,
				    "invalid Content-Length %.*s",
				    (int)(hs[i].value_len > 32 ? 32 :
					hs[i].value_len), hs[i].value);
				return -1;
			}
		}
	}
	if (n > 0 && (copy = pool_alloc(r->pool, n * sizeof(*copy))) == NULL)
		return -1;
	if (n == 0)
		copy = NULL;
	for (i = 0, kept = 0; i < n; i++) {
		/* RFC 9110 section 8.6: a 204 carries no Content-Length;
		 * the app's is dropped, not passed on. */
		if (status == 204 && hs[i].name_len == 14 &&
		    strncasecmp(hs[i].name, "Content-Length", 14) == 0) {
			clen = -1;
			continue;
		}
		copy[kept].name = pool_strndup(r->pool, hs[i].name,
		    hs[i].name_len);
		copy[kept].value = pool_strndup(r->pool,
		    hs[i].value ? hs[i].value : "", hs[i].value_len);
		if (copy[kept].name == NULL || copy[kept].value == NULL)
			return -1;
		copy[kept].name_len = hs[i].name_len;
		copy[kept].value_len = hs[i].value_len;
		kept++;
	}
	r->status = status;
	r->reason = reason != NULL ? pool_strndup(r->pool, reason,
	    strlen(reason)) : req_status_reason(status);
	if (r->reason == NULL)
		return -1;
	r->headers = copy;
	r->nheaders = kept;
	r->resp_length = clen;
	r->started = 1;
	r->want_trailers = (flags & BG_TRAILERS) != 0;
	return 0;
}

/* Fields of an informational response or of the trailer section: tokens
 * and clean values, and none of the fields that frame, route or
 * authenticate a message (RFC 9110 section 6.5.1). */
static int
extra_fields_ok(struct req *r, const struct bg_header *hs, size_t n,
    const char *what)
{
	static const char *const banned[] = { "content-length",
	    "transfer-encoding", "host", "status", "trailer", "te",
	    "content-encoding", "content-type", "content-range",
	    "authorization", "set-cookie", "cache-control", "expect",
	    "max-forwards", "pragma", "range", NULL };
	size_t i, k;
	int b;

	if (n > 0 && (hs == NULL || n > 100))
		return -1;
	for (i = 0; i < n; i++) {
		if (hs[i].name == NULL || hs[i].name_len == 0 ||
		    (hs[i].value == NULL && hs[i].value_len > 0))
			goto bad;
		for (k = 0; k < hs[i].name_len; k++)
			if (!is_tchar((unsigned char)hs[i].name[k]))
				goto bad;
		if (!valid_field_value(hs[i].value, hs[i].value_len) ||
		    is_hop_by_hop(hs[i].name, hs[i].name_len))
			goto bad;
		for (b = 0; banned[b] != NULL; b++)
			if (strlen(banned[b]) == hs[i].name_len &&
			    strncasecmp(banned[b], hs[i].name,
			    hs[i].name_len) == 0)
				goto bad;
	}
	return 0;
bad:
	log_msg(LOG_LEVEL_ERROR, r->id, "%s field %zu refused (not a token, "
	    "a control character, or a field not allowed there)", what, i);
	return -1;
}

static struct req_header *
extra_fields_copy(struct req *r, const struct bg_header *hs, size_t n)
{
	struct req_header *copy;
	size_t i;

	if ((copy = pool_alloc(r->pool, (n ? n : 1) * sizeof(*copy))) ==
	    NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		copy[i].name = pool_strndup(r->pool, hs[i].name,
		    hs[i].name_len);
		copy[i].value = pool_strndup(r->pool, hs[i].value ?
		    hs[i].value : "", hs[i].value_len);
		if (copy[i].name == NULL || copy[i].value == NULL)
			return NULL;
		copy[i].name_len = hs[i].name_len;
		copy[i].value_len = hs[i].value_len;
	}
	return copy;
}

static int
g_informational(bg_request *h, int status, const struct bg_header *hs,
    size_t n)
{
	struct req *r = R(h);
	struct req_header *copy;

	if (r->head_sent || status < 102 || status > 199 ||
	    extra_fields_ok(r, hs, n, "informational response") == -1)
		return -1;
	if (r->failed)
		return -1;
	if (r->sink->info == NULL)
		return 0;
	if ((copy = extra_fields_copy(r, hs, n)) == NULL)
		return -1;
	return r->sink->info(r, status, copy, n);
}

static int
g_trailers(bg_request *h, const struct bg_header *hs, size_t n)
{
	struct req *r = R(h);

	if (!r->want_trailers || r->finished) {
		log_msg(LOG_LEVEL_ERROR, r->id, "trailers() without "
		    "start_response(BG_TRAILERS), or after the end");
		return -1;
	}
	if (extra_fields_ok(r, hs, n, "trailer") == -1)
		return -1;
	if ((r->trailers = extra_fields_copy(r, hs, n)) == NULL)
		return -1;
	r->ntrailers = n;
	return 0;
}

static int
send_head(struct req *r)
{
	if (r->head_sent)
		return 0;
	r->head_sent = 1;
	if (r->sink->head(r) == -1) {
		r->failed = 1;
		return -1;
	}
	return 0;
}

/* Clip n so that the body never exceeds the app's Content-Length. */
static size_t
clip(struct req *r, size_t n)
{
	uint64_t left;

	if (r->resp_length < 0)
		return n;
	left = (uint64_t)r->resp_length - r->resp_sent;
	if (n > left) {
		log_msg(LOG_LEVEL_WARN, r->id,
		    "app wrote past its Content-Length %lld; extra bytes "
		    "dropped", (long long)r->resp_length);
		return (size_t)left;
	}
	return n;
}

/* After an asynchronous request queued output: the front end sends it
 * on its next turn; above high water the module is asked to wait. */
static int
async_mark(struct req *r)
{
	r->sink->kick(r);
	if (r->sink->queued(r) > req_server.high_water) {
		r->above_hw = 1;
		return BG_AGAIN;
	}
	return BG_OK;
}

static int
g_write(bg_request *h, const void *p, size_t n)
{
	struct req *r = R(h);

	if (!r->started) {
		log_msg(LOG_LEVEL_ERROR, r->id,
		    "write before start_response");
		return -1;
	}
	if (r->failed || send_head(r) == -1)
		return -1;
	if ((n = clip(r, n)) == 0)
		return 0;
	if (r->sink->body(r, p, n) == -1) {
		r->failed = 1;
		return -1;
	}
	r->resp_sent += n;
	return r->async ? async_mark(r) : 0;
}

static int
g_sendfile(bg_request *h, int fd, off_t off, size_t n)
{
	struct req *r = R(h);
	char chunk[16384];
	ssize_t got;
	int rc;

	if (!r->started) {
		log_msg(LOG_LEVEL_ERROR, r->id,
		    "sendfile before start_response");
		return -1;
	}
	if (r->failed || send_head(r) == -1)
		return -1;
	n = clip(r, n);
	if (r->sink->file != NULL && n > 0 &&
	    (rc = r->sink->file(r, fd, off, n)) != 1) {
		if (rc == -1) {
			r->failed = 1;
			return -1;
		}
		r->resp_sent += n;
		return r->async ? async_mark(r) : 0;
	}
	while (n > 0) {
		got = pread(fd, chunk, n < sizeof(chunk) ? n : sizeof(chunk),
		    off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			log_msg(LOG_LEVEL_ERROR, r->id,
			    "sendfile: file ended or failed: %s",
			    got == 0 ? "short file" : strerror(errno));
			return -1;
		}
		if (r->sink->body(r, chunk, (size_t)got) == -1) {
			r->failed = 1;
			return -1;
		}
		r->resp_sent += (size_t)got;
		off += got;
		n -= (size_t)got;
	}
	return r->async ? async_mark(r) : 0;
}

static int
g_on_finish(bg_request *h, void (*fn)(void *), void *arg)
{
	return pool_cleanup(R(h)->pool, fn, arg);
}

static int
g_flush(bg_request *h)
{
	struct req *r = R(h);

	if (!r->started || r->failed || send_head(r) == -1)
		return -1;
	if (r->sink->flush != NULL && r->sink->flush(r) == -1) {
		r->failed = 1;
		return -1;
	}
	return r->async ? async_mark(r) : 0;
}

static int
g_client_gone(bg_request *h, struct pollfd *pfd)
{
	struct req *r = R(h);
	struct pollfd none = { .fd = -1 };

	if (pfd == NULL)
		pfd = &none;
	pfd->fd = -1;
	pfd->events = 0;
	pfd->revents = 0;
	if (r->failed)
		return 1;
	if (r->sink->gone == NULL || r->sink->gone(r, pfd) == 0)
		return 0;
	/* As a failed write: nothing more goes out, the response is cut
	 * (the module says what it stopped; the front end how it closed). */
	if (log_level >= LOG_LEVEL_DEBUG)
		log_msg(LOG_LEVEL_DEBUG, r->id, "client gone; the response "
		    "is dropped");
	r->failed = 1;
	pfd->fd = -1;
	return 1;
}

static const char *
g_request_id(bg_request *h)
{
	return R(h)->id;
}

static int g_on_event(bg_request *h, bg_event_fn fn, void *arg);
static int g_informational(bg_request *h, int status,
    const struct bg_header *hs, size_t n);
static int g_trailers(bg_request *h, const struct bg_header *hs, size_t n);
static void g_finish(bg_request *h, int rc);
static size_t g_queued(bg_request *h);

struct bg_server req_server = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_server),
	.var_count = g_var_count,
	.var_at = g_var_at,
	.var = g_var,
	.read = g_read,
	.content_length = g_content_length,
	.log = g_log,
	.start_response = g_start_response,
	.write = g_write,
	.sendfile = g_sendfile,
	.on_finish = g_on_finish,
	.request_id = g_request_id,
	.multithread = 0,
	.multiprocess = 1,
	.run_once = 0,
	.flush = g_flush,
	.own_pgid = NULL,	/* set by the worker, which can honour it */
	.client_gone = g_client_gone,
	.on_event = g_on_event,
	.finish = g_finish,
	.queued = g_queued,
	.high_water = REQ_HIGH_WATER,
	.informational = g_informational,
	.trailers = g_trailers,
	.fields = g_fields,
	/* watch, timer, loop_fd, loop_run_once: set by the worker */
};

int
req_send_error(struct req *r, int status)
{
	char body[128];
	int n;
	struct bg_header h[2] = {
		{ "Content-Type", 12, "text/plain", 10 },
		{ "Content-Length", 14, NULL, 0 },
	};
	char len[16];

	n = snprintf(body, sizeof(body), "%d %s\n", status,
	    req_status_reason(status));
	h[1].value_len = (size_t)snprintf(len, sizeof(len), "%d", n);
	h[1].value = len;
	if (g_start_response((bg_request *)r, status, NULL, h, 2,
	    BG_REPLACE) == -1)
		return -1;
	r->server_answered = 1;
	return g_write((bg_request *)r, body, (size_t)n);
}

/* How the response ends after the module's rc: fill in a 500 or 502 when
 * nothing was sent, cut what cannot be completed. */
static enum req_outcome
conclude(struct req *r, int rc, const char *name)
{
	if (r->failed)
		return REQ_CUT;
	if (!r->head_sent) {
		if (rc != BG_OK) {
			log_msg(LOG_LEVEL_ERROR, r->id,
			    "module %s failed before responding: 500", name);
			r->started = 0;
			return req_send_error(r, 500) == 0 ? REQ_COMPLETE :
			    REQ_CUT;
		}
		if (!r->started) {
			log_msg(LOG_LEVEL_ERROR, r->id,
			    "module %s returned without start_response: 502",
			    name);
			return req_send_error(r, 502) == 0 ? REQ_COMPLETE :
			    REQ_CUT;
		}
		if (send_head(r) == -1)
			return REQ_CUT;
	}
	if (rc != BG_OK) {
		/* Nothing on the wire yet (the front end held it back):
		 * the client can still get a proper 500. */
		if (r->sink->discard != NULL && r->sink->discard(r) == 0) {
			log_msg(LOG_LEVEL_ERROR, r->id, "module %s failed "
			    "before its response left: 500", name);
			r->started = 0;
			r->head_sent = 0;
			r->resp_sent = 0;
			return req_send_error(r, 500) == 0 ? REQ_COMPLETE :
			    REQ_CUT;
		}
		log_msg(LOG_LEVEL_ERROR, r->id,
		    "module %s failed after the response started; cut",
		    name);
		return REQ_CUT;
	}
	if (r->resp_length >= 0 && r->resp_sent < (uint64_t)r->resp_length &&
	    !bodiless(r)) {
		log_msg(LOG_LEVEL_ERROR, r->id,
		    "module %s sent %llu of its Content-Length %lld; cut",
		    name, (unsigned long long)r->resp_sent,
		    (long long)r->resp_length);
		return REQ_CUT;
	}
	return REQ_COMPLETE;
}

enum req_outcome
req_run(struct req *r, const struct bg_module *m, void *ctx)
{
	return conclude(r, m->handle(ctx, (bg_request *)r), m->name);
}

/*
 * Asynchronous requests.
 */

void
req_async_init(struct loop *l)
{
	req_loop = l;
}

enum req_outcome
req_start(struct req *r, const struct bg_module *m, void *ctx)
{
	int rc;

	r->async = 1;
	r->module_name = m->name;
	r->handed_at = loop_clock_ms();
	rc = m->handle(ctx, (bg_request *)r);
	/* finish() may come from inside handle(): the kick follows. */
	if (rc == BG_PENDING || r->finished) {
		r->pending = 1;
		return REQ_PENDING;
	}
	return conclude(r, rc, m->name);
}

/* Events reach the module from the loop, never from inside a server
 * call, one request at a time. */
static void
deliver(void *arg)
{
	struct req *r = arg;
	unsigned ev = r->ev_pending;

	r->ev_pending = 0;
	if (r->finished || r->ev_fn == NULL || ev == 0)
		return;
	r->ev_fn((bg_request *)r, ev, r->ev_arg);
}

static void
notify(struct req *r, unsigned ev)
{
	r->ev_pending |= ev;
	if (r->finished || r->ev_fn == NULL || req_loop == NULL)
		return;
	r->ev_node.fn = deliver;
	r->ev_node.arg = r;
	loop_defer_node(req_loop, &r->ev_node);
}

static int
g_on_event(bg_request *h, bg_event_fn fn, void *arg)
{
	struct req *r = R(h);

	if (!r->async)
		return -1;
	r->ev_fn = fn;
	r->ev_arg = arg;
	if (r->ev_pending != 0)
		notify(r, 0);
	return 0;
}

static size_t
g_queued(bg_request *h)
{
	struct req *r = R(h);

	return r->conn != NULL && r->sink->queued != NULL ?
	    r->sink->queued(r) : 0;
}

static void
g_finish(bg_request *h, int rc)
{
	struct req *r = R(h);

	if (!r->async || r->finished) {
		log_msg(LOG_LEVEL_ERROR, r->id, "finish() %s; ignored",
		    r->async ? "called twice" : "on a synchronous request");
		return;
	}
	r->finished = 1;
	r->outcome = conclude(r, rc == BG_PENDING ? BG_OK : rc,
	    r->module_name);
	if (r->conn == NULL) {
		/* The front end left it (client gone): nothing waits. */
		if (r->dprev != NULL)
			r->dprev->dnext = r->dnext;
		else
			detached = r->dnext;
		if (r->dnext != NULL)
			r->dnext->dprev = r->dprev;
		req_destroy(r);
		return;
	}
	r->sink->kick(r);
}

int
req_body_add(struct req *r, const void *p, size_t n)
{
	if (r->finished || n == 0)
		return 0;	/* the module is done with it: dropped */
	if (r->abody == NULL) {
		if ((r->abody = pool_alloc(r->pool, sizeof(*r->abody))) ==
		    NULL)
			return -1;
		memset(r->abody, 0, sizeof(*r->abody));
	}
	if (buf_append(r->abody, p, n) == -1)
		return -1;
	notify(r, BG_EV_BODY);
	return 0;
}

void
req_body_end(struct req *r)
{
	r->body_done = 1;
	notify(r, BG_EV_BODY);
}

size_t
req_body_room(const struct req *r)
{
	size_t len = r->abody != NULL ? r->abody->len : 0;

	if (r->finished)
		return SIZE_MAX;
	return len >= REQ_BODY_WINDOW ? 0 : REQ_BODY_WINDOW - len;
}

void
req_gone(struct req *r)
{
	if (r->gone_told)
		return;
	r->failed = 1;
	r->gone_told = 1;
	notify(r, BG_EV_GONE);
}

void
req_cancel(struct req *r)
{
	if (r->finished || r->cancel_told)
		return;
	r->cancel_told = 1;
	notify(r, BG_EV_CANCEL);
}

/* The module began its response (not the server's error answer):
 * --timeout no longer applies. */
static int
module_answering(const struct req *r)
{
	return r->started && !r->server_answered;
}

/* The rest of --timeout of a request whose client left first. */
static void
deadline_passed(void *arg)
{
	struct req *r = arg;

	if (r->finished || r->cancel_told || module_answering(r))
		return;
	log_msg(LOG_LEVEL_ERROR, r->id, "request ran past --timeout (%us) "
	    "in the module after its client left; the module is told to "
	    "stop", config.timeout);
	req_cancel(r);
}

void
req_stopping(struct req *r)
{
	if (r->finished || r->gone_told || r->stop_told)
		return;
	r->stop_told = 1;
	notify(r, BG_EV_STOP);
}

void
req_drained(struct req *r)
{
	if (!r->above_hw)
		return;
	r->above_hw = 0;
	notify(r, BG_EV_DRAINED);
}

void
req_detach(struct req *r)
{
	uint64_t used, limit = (uint64_t)config.timeout * 1000;

	r->conn = NULL;
	r->dprev = NULL;
	r->dnext = detached;
	if (detached != NULL)
		detached->dprev = r;
	detached = r;
	req_gone(r);
	if (detached_cancel) {
		req_cancel(r);
		return;
	}
	/* The connection's --timeout went with it: the module may finish
	 * what the client asked for (BG_EV_GONE), within what is left of
	 * --timeout, as long as its response has not started. */
	if (limit == 0 || r->cancel_told || module_answering(r) ||
	    r->finished || req_loop == NULL)
		return;
	used = loop_clock_ms() - r->handed_at;
	r->deadline.fn = deadline_passed;
	r->deadline.arg = r;
	loop_mtimer_arm(req_loop, &r->deadline, used < limit ? limit - used :
	    0);
}

int
req_detached(void)
{
	return detached != NULL;
}

void
req_stop_detached(void)
{
	struct req *r;

	/* notify() only queues: no finish() runs inside this walk.  Its
	 * client gone (BG_EV_GONE) and the worker stopping, nothing waits
	 * for the request.  One detached later (its leaving may be what
	 * began the stop: --max-requests) hears it from req_detach(). */
	detached_cancel = 1;
	for (r = detached; r != NULL; r = r->dnext)
		req_cancel(r);
}

int
req_format_cgi_head(struct req *r, struct buf *out)
{
	char line[64];
	size_t i;
	int n;

	n = snprintf(line, sizeof(line), "Status: %d ", r->status);
	if (buf_append(out, line, (size_t)n) == -1 ||
	    buf_append(out, r->reason, strlen(r->reason)) == -1 ||
	    buf_append(out, "\r\n", 2) == -1)
		return -1;
	for (i = 0; i < r->nheaders; i++) {
		const struct req_header *h = &r->headers[i];

		if (buf_append(out, h->name, h->name_len) == -1 ||
		    buf_append(out, ": ", 2) == -1 ||
		    buf_append(out, h->value, h->value_len) == -1 ||
		    buf_append(out, "\r\n", 2) == -1)
			return -1;
	}
	return buf_append(out, "\r\n", 2);
}
