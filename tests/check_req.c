/*
 * Unit tests of the request model and the gateway's validation
 * (bridge/gateway/req.c): variables, start_response's rules (PEP 3333 applied to
 * C), Content-Length enforcement, req_run's 500/502 answers, finish
 * hooks, the sendfile fallback, body reads and the CGI head.
 *
 * The front end is a test resp_sink that records what reaches it: the
 * head as req_format_cgi_head() formats it, and the body bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "body.h"
#include "buf.h"
#include "log.h"
#include "req.h"

/* What the sink saw. */
struct seen {
	int heads;
	int bodies;
	int files;
	struct buf head;
	struct buf body;
	int fail_head;
	int fail_body;
	int flushes;
	int held;	/* t_discard succeeds: nothing reached the wire */
	off_t file_off;
	size_t file_n;
};

static struct seen seen;
static struct req *r;
static const struct bg_server *S = &req_server;

#define H ((bg_request *)(void *)r)

static int
t_head(struct req *rq)
{
	seen.heads++;
	if (seen.fail_head)
		return -1;
	return req_format_cgi_head(rq, &seen.head);
}

static int
t_body(struct req *rq, const void *p, size_t n)
{
	(void)rq;
	seen.bodies++;
	if (seen.fail_body)
		return -1;
	return buf_append(&seen.body, p, n);
}

static int
t_file(struct req *rq, int fd, off_t off, size_t n)
{
	(void)rq;
	(void)fd;
	seen.files++;
	seen.file_off = off;
	seen.file_n = n;
	return 0;
}

static int
t_flush(struct req *rq)
{
	(void)rq;
	seen.flushes++;
	seen.held = 0;
	return seen.fail_body ? -1 : 0;
}

static int
t_discard(struct req *rq)
{
	(void)rq;
	if (!seen.held)
		return -1;
	buf_free(&seen.head);
	buf_free(&seen.body);
	return 0;
}

static const struct resp_sink test_sink = {
	.head = t_head,
	.body = t_body,
	.file = NULL,
};

/* A front end that holds output back until flushed (as HTTP does). */
static const struct resp_sink holding_sink = {
	.head = t_head,
	.body = t_body,
	.file = NULL,
	.flush = t_flush,
	.discard = t_discard,
};

static const struct resp_sink file_sink = {
	.head = t_head,
	.body = t_body,
	.file = t_file,
};

static void
setup(void)
{
	memset(&seen, 0, sizeof(seen));
	log_level = getenv("CHECK_LOG") != NULL ? LOG_LEVEL_DEBUG : -1;
	r = req_create(&test_sink, &seen);
	ck_assert_ptr_nonnull(r);
}

static void
teardown(void)
{
	req_destroy(r);
	r = NULL;
	buf_free(&seen.head);
	buf_free(&seen.body);
	body_configure(64 * 1024, "/tmp");
}

/* The head the sink got, as a NUL-terminated string. */
static const char *
head_str(void)
{
	static char s[4096];
	size_t n = seen.head.len < sizeof(s) - 1 ? seen.head.len :
	    sizeof(s) - 1;

	memcpy(s, seen.head.data + seen.head.off, n);
	s[n] = '\0';
	return s;
}

static int
body_is(const char *want)
{
	return seen.body.len == strlen(want) &&
	    memcmp(seen.body.data + seen.body.off, want, seen.body.len) == 0;
}

static int
start1(int status, const char *name, const char *value, int flags)
{
	struct bg_header h = { name, strlen(name), value, strlen(value) };

	return S->start_response(H, status, NULL, &h, 1, flags);
}

/*
 * Variables.
 */

START_TEST(add_var_copies)
{
	char name[] = "REQUEST_METHOD", value[] = "POST\0tail";
	const struct bg_var *v;

	ck_assert_int_eq(req_add_var(r, name, 14, value, 9), 0);
	memset(name, 'x', sizeof(name));
	memset(value, 'y', sizeof(value));
	v = req_find_var(r, "REQUEST_METHOD", 14);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->name_len, 14);
	ck_assert_uint_eq(v->value_len, 9);
	ck_assert_mem_eq(v->value, "POST\0tail", 9);
	ck_assert_int_eq(v->name[14], '\0');
	ck_assert_int_eq(v->value[9], '\0');
}
END_TEST

/* The front end's own variables: the value copied (put_var) or kept
 * (put_literal), the name kept; found, replaced and listed as any. */
START_TEST(put_var_copies_value_keeps_name)
{
	static const char name[] = "REMOTE_ADDR";
	char value[] = "192.0.2.1";
	const struct bg_var *v;

	ck_assert_int_eq(req_put_var(r, name, 11, value, 9), 0);
	ck_assert_int_eq(req_put_literal(r, "GATEWAY_INTERFACE", 17,
	    "CGI/1.1", 7), 0);
	memset(value, 'y', sizeof(value) - 1);
	v = req_find_var(r, "REMOTE_ADDR", 11);
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_eq(v->name, name);
	ck_assert_uint_eq(v->value_len, 9);
	ck_assert_mem_eq(v->value, "192.0.2.1", 10);
	ck_assert_str_eq(S->var(H, "GATEWAY_INTERFACE", NULL), "CGI/1.1");
	ck_assert_uint_eq(S->var_count(H), 2);
	/* A later add_var() of the same name replaces the value in place,
	 * as for any variable (--forwarded-allow-ips rewriting it). */
	ck_assert_int_eq(req_add_var(r, "REMOTE_ADDR", 11, "198.51.100.7",
	    12), 0);
	ck_assert_uint_eq(S->var_count(H), 2);
	ck_assert_str_eq(S->var(H, "REMOTE_ADDR", NULL), "198.51.100.7");
}
END_TEST

START_TEST(add_var_drops_httpoxy)
{
	ck_assert_int_eq(req_add_var(r, "HTTP_PROXY", 10, "http://evil", 11),
	    0);
	ck_assert_uint_eq(r->nvars, 0);
	ck_assert_ptr_null(req_find_var(r, "HTTP_PROXY", 10));
	ck_assert_ptr_null(S->var(H, "HTTP_PROXY", NULL));
	/* Only that name. */
	ck_assert_int_eq(req_add_var(r, "HTTP_PROXY_X", 12, "1", 1), 0);
	ck_assert_int_eq(req_add_var(r, "HTTP_PROX", 9, "1", 1), 0);
	ck_assert_uint_eq(r->nvars, 2);
}
END_TEST

START_TEST(add_var_many_grows)
{
	char name[32], value[32];
	const struct bg_var *v;
	int i, n;

	for (i = 0; i < 1000; i++) {
		n = snprintf(name, sizeof(name), "V%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		ck_assert_int_eq(req_add_var(r, name, (size_t)n, value,
		    strlen(value)), 0);
	}
	ck_assert_uint_eq(S->var_count(H), 1000);
	for (i = 0; i < 1000; i++) {
		n = snprintf(name, sizeof(name), "V%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		v = req_find_var(r, name, (size_t)n);
		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(v->value, value);
		ck_assert_ptr_eq(S->var_at(H, (size_t)i), v);
	}
}
END_TEST

START_TEST(find_var_exact_name)
{
	const struct bg_var *v;

	ck_assert_int_eq(req_add_var(r, "HTTP_HOST", 9, "a", 1), 0);
	ck_assert_int_eq(req_add_var(r, "HTTP_HOST", 9, "b", 1), 0);
	ck_assert_int_eq(req_add_var(r, "EMPTY", 5, "", 0), 0);
	ck_assert_ptr_null(req_find_var(r, "HTTP", 4));
	ck_assert_ptr_null(req_find_var(r, "HTTP_HOSTX", 10));
	ck_assert_ptr_null(req_find_var(r, "http_host", 9));
	/* One variable per name, the last value, as PHP-FPM and nginx
	 * users expect ("include fastcgi_params; fastcgi_param X ...;"). */
	v = req_find_var(r, "HTTP_HOST", 9);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->value, "b");
	ck_assert_uint_eq(S->var_count(H), 2);
	ck_assert_str_eq(S->var_at(H, 0)->name, "HTTP_HOST");
	v = req_find_var(r, "EMPTY", 5);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->value_len, 0);
}
END_TEST

START_TEST(append_var_joins_repeated_field)
{
	const struct bg_var *v;

	ck_assert_int_eq(req_append_var(r, "HTTP_X_DUP", 10, "one", 3), 0);
	ck_assert_int_eq(req_append_var(r, "HTTP_X_DUP", 10, "two", 3), 0);
	ck_assert_int_eq(req_append_var(r, "HTTP_X_DUP", 10, "", 0), 0);
	ck_assert_int_eq(req_append_var(r, "HTTP_COOKIE", 11, "a=1", 3), 0);
	ck_assert_int_eq(req_append_var(r, "HTTP_COOKIE", 11, "b=2", 3), 0);
	ck_assert_int_eq(req_append_var(r, "HTTP_PROXY", 10, "x", 1), 0);
	ck_assert_uint_eq(r->nvars, 2);
	v = req_find_var(r, "HTTP_X_DUP", 10);
	ck_assert_str_eq(v->value, "one, two, ");
	ck_assert_uint_eq(v->value_len, 10);
	v = req_find_var(r, "HTTP_COOKIE", 11);
	ck_assert_str_eq(v->value, "a=1; b=2");
	ck_assert_ptr_null(req_find_var(r, "HTTP_PROXY", 10));
}
END_TEST

START_TEST(remove_dot_segments_cases)
{
	static const struct {
		const char *in, *out;	/* out NULL: refused */
	} t[] = {
		{ "/", "/" }, { "/a/b", "/a/b" }, { "/a/./b", "/a/b" },
		{ "/a/../b", "/b" }, { "/a/b/..", "/a/" },
		{ "/a/b/.", "/a/b/" },
		{ "/.", "/" }, { "/a/..", "/" }, { "/a/../", "/" },
		{ "/a/b/../../c", "/c" }, { "//a/../b", "//b" },
		{ "/a/.../b", "/a/.../b" }, { "/a/..b/.c", "/a/..b/.c" },
		{ "/./../a", NULL }, { "/..", NULL }, { "/a/../../b", NULL },
		{ "a/b", NULL }, { "", NULL },
	};
	char buf[64];
	size_t i, n;
	ssize_t k;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = strlen(t[i].in);
		memcpy(buf, t[i].in, n);
		k = req_remove_dot_segments(buf, n);
		if (t[i].out == NULL) {
			ck_assert_msg(k == -1, "%s: accepted", t[i].in);
			continue;
		}
		ck_assert_msg(k >= 0 && (size_t)k == strlen(t[i].out) &&
		    memcmp(buf, t[i].out, (size_t)k) == 0, "%s: got %.*s",
		    t[i].in, k < 0 ? 0 : (int)k, buf);
	}
}
END_TEST

START_TEST(server_var_var_at_var_count)
{
	const struct bg_var *v;
	const char *s;
	size_t len = 99;

	ck_assert_uint_eq(S->var_count(H), 0);
	ck_assert_ptr_null(S->var_at(H, 0));
	ck_assert_int_eq(req_add_var(r, "QUERY_STRING", 12, "a=1", 3), 0);
	ck_assert_int_eq(req_add_var(r, "PATH_INFO", 9, "", 0), 0);
	ck_assert_uint_eq(S->var_count(H), 2);
	s = S->var(H, "QUERY_STRING", &len);
	ck_assert_str_eq(s, "a=1");
	ck_assert_uint_eq(len, 3);
	ck_assert_str_eq(S->var(H, "PATH_INFO", NULL), "");
	len = 99;
	ck_assert_ptr_null(S->var(H, "NOPE", &len));
	ck_assert_uint_eq(len, 99);
	v = S->var_at(H, 1);
	ck_assert_str_eq(v->name, "PATH_INFO");
	ck_assert_ptr_null(S->var_at(H, 2));
	ck_assert_ptr_null(S->var_at(H, (size_t)-1));
	ck_assert_int_eq(S->content_length(H), -1);
	r->content_length = 42;
	ck_assert_int_eq(S->content_length(H), 42);
}
END_TEST

START_TEST(fields_none_then_set_and_host_in_front)
{
	const struct bg_header *f;
	struct bg_header *w;
	size_t n = 99;

	/* A front end without fields (FastCGI): NULL, count 0. */
	ck_assert_ptr_null(S->fields(H, &n));
	ck_assert_uint_eq(n, 0);
	errno = 0;
	ck_assert_int_eq(req_field_set(r, "host", 4, "h", 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* Zero fields is a list too (HTTP/1.0 without any). */
	ck_assert_ptr_nonnull(req_fields_new(r, 0));
	ck_assert_ptr_nonnull(S->fields(H, &n));
	ck_assert_uint_eq(n, 0);
	w = req_fields_new(r, 2);
	ck_assert_ptr_nonnull(w);
	w[0] = (struct bg_header){ "X-A", 3, "1", 1 };
	w[1] = (struct bg_header){ "HOST", 4, "t", 1 };
	/* The Host field, whatever its case, takes the value in place. */
	ck_assert_int_eq(req_field_set(r, "host", 4, "abs", 3), 0);
	f = S->fields(H, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(memcmp(f[1].name, "HOST", 4), 0);
	ck_assert_uint_eq(f[1].value_len, 3);
	ck_assert_int_eq(memcmp(f[1].value, "abs", 3), 0);
	/* Absent: added in front, once. */
	ck_assert_int_eq(req_field_set(r, "x-new", 5, "v", 1), 0);
	f = S->fields(H, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(f[0].name, "x-new", 5), 0);
	ck_assert_int_eq(memcmp(f[1].name, "X-A", 3), 0);
	errno = 0;
	ck_assert_int_eq(req_field_set(r, "x-other", 7, "v", 1), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(req_field_set(r, "X-NEW", 5, "w", 1), 0);
	f = S->fields(H, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(f[0].value, "w", 1), 0);
}
END_TEST

START_TEST(request_ids_unique)
{
	struct req *other = req_create(&test_sink, NULL);

	ck_assert_ptr_nonnull(other);
	ck_assert_str_ne(S->request_id(H), "");
	ck_assert_str_ne(S->request_id(H),
	    S->request_id((bg_request *)(void *)other));
	req_destroy(other);
	S->log(NULL, BG_LOG_ERROR, "outside a request %d", 1);
	S->log(H, BG_LOG_DEBUG, "inside %s", "a request");
}
END_TEST

/*
 * start_response.
 */

START_TEST(status_out_of_range_refused)
{
	static const int bad[] = { -1, 0, 1, 99, 100, 101, 103, 199, 1000,
		1001, 99999 };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(S->start_response(H, bad[i], NULL, NULL, 0, 0),
		    -1);
	ck_assert(!r->started);
	ck_assert_int_eq(S->write(H, "x", 1), -1);
	ck_assert_int_eq(seen.heads, 0);
}
END_TEST

START_TEST(status_edges_accepted)
{
	ck_assert_int_eq(S->start_response(H, 200, NULL, NULL, 0, 0), 0);
	ck_assert_int_eq(S->start_response(H, 999, NULL, NULL, 0, BG_REPLACE),
	    0);
	ck_assert_int_eq(S->write(H, "", 0), 0);
	ck_assert_str_eq(head_str(), "Status: 999 Unknown\r\n\r\n");
}
END_TEST

START_TEST(header_name_not_token_refused)
{
	static const char *const bad[] = { "X Y", "X:Y", "X\tY", "X\r",
		"X\n", "(x)", "X,Y", "X/Y", "X@", "[x]", "X\"", "X=Y", "X;",
		"X{", "X\\", "\xc3\xa4", "X\x7f", "X\x01", ":status" };
	struct bg_header h;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h = (struct bg_header){ bad[i], strlen(bad[i]), "v", 1 };
		ck_assert_msg(S->start_response(H, 200, NULL, &h, 1, 0) == -1,
		    "header name %zu accepted", i);
	}
	/* NUL inside the name, by length. */
	h = (struct bg_header){ "X\0Y", 3, "v", 1 };
	ck_assert_int_eq(S->start_response(H, 200, NULL, &h, 1, 0), -1);
	/* Empty or missing name; missing value with a length. */
	h = (struct bg_header){ "", 0, "v", 1 };
	ck_assert_int_eq(S->start_response(H, 200, NULL, &h, 1, 0), -1);
	h = (struct bg_header){ NULL, 3, "v", 1 };
	ck_assert_int_eq(S->start_response(H, 200, NULL, &h, 1, 0), -1);
	h = (struct bg_header){ "X", 1, NULL, 3 };
	ck_assert_int_eq(S->start_response(H, 200, NULL, &h, 1, 0), -1);
	ck_assert_int_eq(S->start_response(H, 200, NULL, NULL, 1, 0), -1);
	ck_assert(!r->started);
	/* Every tchar is fine. */
	ck_assert_int_eq(start1(200, "!#$%&'*+-.^_`|~09azAZ", "v", 0), 0);
}
END_TEST

START_TEST(header_value_controls_refused)
{
	static const char *const bad[] = { "a\rb", "a\nb", "a\r\nSet-Cookie: x",
		"\r", "\n", "a\x01", "a\x1f", "a\x7f", "\x0b", "\x0c" };
	struct bg_header h;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(start1(200, "X-V", bad[i], 0) == -1,
		    "value %zu accepted", i);
	h = (struct bg_header){ "X-V", 3, "a\0b", 3 };
	ck_assert_int_eq(S->start_response(H, 200, NULL, &h, 1, 0), -1);
	/* The reason phrase too. */
	ck_assert_int_eq(S->start_response(H, 200, "OK\r\nX: y", NULL, 0, 0),
	    -1);
	ck_assert_int_eq(S->start_response(H, 200, "O\nK", NULL, 0, 0), -1);
	ck_assert(!r->started);
	/* HTAB, SP and obs-text are field-value characters. */
	ck_assert_int_eq(start1(200, "X-V", "a\tb c \x80\xff", 0), 0);
	h = (struct bg_header){ "X-Empty", 7, NULL, 0 };
	ck_assert_int_eq(S->start_response(H, 200, "Fine", &h, 1, BG_REPLACE),
	    0);
	ck_assert_int_eq(S->write(H, "", 0), 0);
	ck_assert_str_eq(head_str(), "Status: 200 Fine\r\nX-Empty: \r\n\r\n");
}
END_TEST

START_TEST(hop_by_hop_refused)
{
	static const char *const hop[] = { "Connection", "connection",
		"CONNECTION", "Keep-Alive", "keep-alive", "Transfer-Encoding",
		"transfer-encoding", "Upgrade", "TE", "te", "Trailer",
		"Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection" };
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		ck_assert_msg(start1(200, hop[i], "x", 0) == -1,
		    "%s accepted", hop[i]);
	ck_assert(!r->started);
	/* Names that only begin like one are end-to-end. */
	ck_assert_int_eq(start1(200, "Connection-Id", "1", 0), 0);
	ck_assert_int_eq(start1(200, "Tea", "1", BG_REPLACE), 0);
	ck_assert_int_eq(start1(200, "Upgrade-Insecure-Requests", "1",
	    BG_REPLACE), 0);
}
END_TEST

START_TEST(too_many_headers_refused)
{
	struct bg_header *h = calloc(1001, sizeof(*h));
	size_t i;

	ck_assert_ptr_nonnull(h);
	for (i = 0; i < 1001; i++)
		h[i] = (struct bg_header){ "X", 1, "y", 1 };
	ck_assert_int_eq(S->start_response(H, 200, NULL, h, 1001, 0), -1);
	ck_assert_int_eq(S->start_response(H, 200, NULL, h, 1000, 0), 0);
	free(h);
}
END_TEST

START_TEST(second_start_without_replace_refused)
{
	ck_assert_int_eq(start1(200, "X-A", "1", 0), 0);
	ck_assert_int_eq(start1(404, "X-B", "2", 0), -1);
	ck_assert_int_eq(S->write(H, "ok", 2), 0);
	ck_assert_str_eq(head_str(), "Status: 200 OK\r\nX-A: 1\r\n\r\n");
}
END_TEST

START_TEST(replace_before_first_byte_works)
{
	ck_assert_int_eq(start1(200, "X-A", "1", 0), 0);
	ck_assert_int_eq(start1(500, "X-B", "2", BG_REPLACE), 0);
	/* An invalid replacement leaves the last good one. */
	ck_assert_int_eq(start1(500, "Connection", "close", BG_REPLACE), -1);
	ck_assert_int_eq(S->write(H, "err", 3), 0);
	ck_assert_str_eq(head_str(),
	    "Status: 500 Internal Server Error\r\nX-B: 2\r\n\r\n");
	ck_assert(body_is("err"));
	ck_assert_int_eq(seen.heads, 1);
}
END_TEST

START_TEST(replace_first_call_works)
{
	ck_assert_int_eq(start1(201, "X-A", "1", BG_REPLACE), 0);
	ck_assert_int_eq(S->write(H, "", 0), 0);
	ck_assert_str_eq(head_str(), "Status: 201 Created\r\nX-A: 1\r\n\r\n");
}
END_TEST

START_TEST(replace_after_first_byte_refused)
{
	ck_assert_int_eq(start1(200, "X-A", "1", 0), 0);
	ck_assert_int_eq(S->write(H, "a", 1), 0);
	ck_assert_int_eq(start1(500, "X-B", "2", BG_REPLACE), -1);
	ck_assert_int_eq(start1(500, "X-B", "2", 0), -1);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(seen.heads, 1);
}
END_TEST

START_TEST(write_before_start_refused)
{
	int fd = open("/dev/null", O_RDONLY);

	ck_assert_int_eq(S->write(H, "x", 1), -1);
	ck_assert_int_eq(S->sendfile(H, fd, 0, 1), -1);
	close(fd);
	ck_assert_int_eq(seen.heads, 0);
	ck_assert_int_eq(seen.bodies, 0);
}
END_TEST

START_TEST(headers_copied)
{
	char name[] = "X-Copy", value[] = "before", reason[] = "Fine";
	struct bg_header h = { name, 6, value, 6 };

	ck_assert_int_eq(S->start_response(H, 200, reason, &h, 1, 0), 0);
	memset(name, 'z', 6);
	memset(value, 'z', 6);
	memset(reason, 'z', 4);
	ck_assert_int_eq(S->write(H, "", 0), 0);
	ck_assert_str_eq(head_str(), "Status: 200 Fine\r\nX-Copy: before\r\n\r\n");
}
END_TEST

/*
 * Content-Length.
 */

START_TEST(content_length_extra_bytes_dropped)
{
	ck_assert_int_eq(start1(200, "Content-Length", "5", 0), 0);
	ck_assert_int_eq(S->write(H, "hello world", 11), 0);
	ck_assert_int_eq(S->write(H, "more", 4), 0);
	ck_assert(body_is("hello"));
	ck_assert_uint_eq(r->resp_sent, 5);
}
END_TEST

START_TEST(content_length_header_name_any_case)
{
	ck_assert_int_eq(start1(200, "content-LENGTH", "2", 0), 0);
	ck_assert_int_eq(S->write(H, "abc", 3), 0);
	ck_assert(body_is("ab"));
}
END_TEST

START_TEST(content_length_invalid_refused)
{
	static const char *const bad[] = { "", "abc", "-1", "+1", " 1", "1 ",
		"1,1", "0x10", "1234567890123456789" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(start1(200, "Content-Length", bad[i], 0) == -1,
		    "Content-Length \"%s\" accepted", bad[i]);
	ck_assert_int_eq(start1(200, "Content-Length", "000", 0), 0);
	ck_assert_int_eq(S->write(H, "x", 1), 0);
	ck_assert_uint_eq(seen.body.len, 0);
}
END_TEST

/*
 * Two Content-Length headers that disagree reach the web server as they
 * are, and the body is clipped only to the last: the first one is then
 * a lie about the body that follows (RFC 9110 section 8.6: a recipient
 * must treat differing values as an error).
 */
START_TEST(two_different_content_lengths_refused)
{
	struct bg_header h[2] = {
		{ "Content-Length", 14, "5", 1 },
		{ "Content-Length", 14, "10", 2 },
	};

	ck_assert_int_eq(S->start_response(H, 200, NULL, h, 2, 0), -1);
}
END_TEST

START_TEST(content_length_of_204_dropped)
{
	struct bg_header h[3] = {
		{ "X-A", 3, "1", 1 },
		{ "content-length", 14, "10", 2 },
		{ "X-B", 3, "2", 1 },
	};

	/* RFC 9110 section 8.6: no Content-Length in a 204. */
	ck_assert_int_eq(S->start_response(H, 204, NULL, h, 3, 0), 0);
	ck_assert_uint_eq(r->nheaders, 2);
	ck_assert_int_eq(r->resp_length, -1);
	ck_assert_int_eq(S->write(H, "", 0), 0);
	ck_assert_str_eq(head_str(), "Status: 204 No Content\r\n"
	    "X-A: 1\r\nX-B: 2\r\n\r\n");
}
END_TEST

START_TEST(parse_length_bounds)
{
	int64_t x = -5;

	ck_assert_int_eq(req_parse_length("0", 1, &x), 0);
	ck_assert_int_eq(x, 0);
	ck_assert_int_eq(req_parse_length("9223372036854775807", 19, &x), 0);
	ck_assert(x == INT64_MAX);
	ck_assert_int_eq(req_parse_length("007", 3, &x), 0);
	ck_assert_int_eq(x, 7);
	x = 42;
	errno = 0;
	ck_assert_int_eq(req_parse_length("9223372036854775808", 19, &x), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(req_parse_length("99999999999999999999999999", 26,
	    &x), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(req_parse_length("", 0, &x), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(req_parse_length("1a", 2, &x), -1);
	ck_assert_int_eq(req_parse_length("-1", 2, &x), -1);
	ck_assert_int_eq(req_parse_length("+1", 2, &x), -1);
	ck_assert_int_eq(req_parse_length(" 1", 2, &x), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(x, 42);
}
END_TEST

START_TEST(content_length_replaced_with_none)
{
	ck_assert_int_eq(start1(200, "Content-Length", "1", 0), 0);
	ck_assert_int_eq(S->start_response(H, 200, NULL, NULL, 0, BG_REPLACE),
	    0);
	ck_assert_int_eq(S->write(H, "abc", 3), 0);
	ck_assert(body_is("abc"));
}
END_TEST

/*
 * req_run.
 */

static char hook_log[64];

static void
hook(void *arg)
{
	size_t n = strlen(hook_log);

	hook_log[n] = *(const char *)arg;
	hook_log[n + 1] = '\0';
}

/* What the test module does, set per test. */
static enum { M_ERROR_EARLY, M_START_THEN_ERROR, M_NO_START, M_START_ONLY,
	M_ERROR_LATE, M_SHORT, M_EXACT, M_HOOKS_FAIL,
	M_FLUSH_THEN_ERROR, M_LENGTH_ONLY, M_304_LENGTH_ONLY } mode;

static int
t_handle(void *ctx, bg_request *h)
{
	(void)ctx;
	switch (mode) {
	case M_ERROR_EARLY:
		return BG_ERROR;
	case M_START_THEN_ERROR:
		S->start_response(h, 200, NULL, NULL, 0, 0);
		return BG_ERROR;
	case M_NO_START:
		return BG_OK;
	case M_START_ONLY:
		return S->start_response(h, 204, NULL, NULL, 0, 0);
	case M_ERROR_LATE:
		S->start_response(h, 200, NULL, NULL, 0, 0);
		S->write(h, "partial", 7);
		return BG_ERROR;
	case M_FLUSH_THEN_ERROR:
		S->start_response(h, 200, NULL, NULL, 0, 0);
		S->write(h, "partial", 7);
		S->flush(h);
		return BG_ERROR;
	case M_SHORT:
	case M_EXACT:
		S->start_response(h, 200, NULL, &(struct bg_header){
		    "Content-Length", 14, "4", 1 }, 1, 0);
		S->write(h, mode == M_SHORT ? "abc" : "abcd",
		    mode == M_SHORT ? 3 : 4);
		return BG_OK;
	case M_LENGTH_ONLY:
	case M_304_LENGTH_ONLY:
		/* Content-Length and no body: how a HEAD or 304 answer
		 * looks. */
		return S->start_response(h, mode == M_LENGTH_ONLY ? 200 : 304,
		    NULL, &(struct bg_header){ "Content-Length", 14, "17", 2 },
		    1, 0);
	case M_HOOKS_FAIL:
		S->on_finish(h, hook, (void *)"A");
		S->on_finish(h, hook, (void *)"B");
		S->on_finish(h, hook, (void *)"C");
		return BG_ERROR;
	}
	return BG_ERROR;
}

static const struct bg_module test_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "test",
	.handle = t_handle,
};

START_TEST(run_error_before_output_sends_500)
{
	mode = M_ERROR_EARLY;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_str_eq(head_str(), "Status: 500 Internal Server Error\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 26\r\n\r\n");
	ck_assert(body_is("500 Internal Server Error\n"));
}
END_TEST

START_TEST(run_started_then_error_sends_500)
{
	mode = M_START_THEN_ERROR;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_int_eq(r->status, 500);
	ck_assert_int_eq(seen.heads, 1);
}
END_TEST

START_TEST(run_without_start_sends_502)
{
	mode = M_NO_START;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_str_eq(head_str(), "Status: 502 Bad Gateway\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 16\r\n\r\n");
	ck_assert(body_is("502 Bad Gateway\n"));
}
END_TEST

START_TEST(run_start_only_sends_head)
{
	mode = M_START_ONLY;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_str_eq(head_str(), "Status: 204 No Content\r\n\r\n");
	ck_assert_uint_eq(seen.body.len, 0);
}
END_TEST

START_TEST(run_error_after_output_cuts)
{
	mode = M_ERROR_LATE;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_CUT);
	ck_assert(body_is("partial"));
	ck_assert_int_eq(seen.heads, 1);
}
END_TEST

START_TEST(run_short_body_cuts)
{
	mode = M_SHORT;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_CUT);
	ck_assert(body_is("abc"));
}
END_TEST

START_TEST(run_head_without_body_completes)
{
	/* RFC 9110 section 9.3.2: HEAD's answer may give the GET's length
	 * and no content: not a cut response. */
	ck_assert_int_eq(req_add_var(r, "REQUEST_METHOD", 14, "HEAD", 4), 0);
	mode = M_LENGTH_ONLY;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_int_eq(seen.heads, 1);
	ck_assert_uint_eq(seen.body.len, 0);
}
END_TEST

START_TEST(run_get_without_body_still_cuts)
{
	ck_assert_int_eq(req_add_var(r, "REQUEST_METHOD", 14, "GET", 3), 0);
	mode = M_LENGTH_ONLY;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_CUT);
}
END_TEST

START_TEST(run_304_without_body_completes)
{
	/* RFC 9110 section 15.4.5: a 304 never has content. */
	ck_assert_int_eq(req_add_var(r, "REQUEST_METHOD", 14, "GET", 3), 0);
	mode = M_304_LENGTH_ONLY;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_str_eq(head_str(), "Status: 304 Not Modified\r\n"
	    "Content-Length: 17\r\n\r\n");
}
END_TEST

START_TEST(run_exact_body_completes)
{
	mode = M_EXACT;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert(body_is("abcd"));
}
END_TEST

START_TEST(run_sink_failure_cuts)
{
	mode = M_EXACT;
	seen.fail_body = 1;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_CUT);
	ck_assert(r->failed);
	ck_assert_int_eq(S->write(H, "x", 1), -1);
}
END_TEST

START_TEST(run_late_error_while_held_gives_500)
{
	/* Output written but still held back: the client gets a clean 500
	 * instead of an empty or truncated reply. */
	r->sink = &holding_sink;
	seen.held = 1;
	mode = M_ERROR_LATE;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_ptr_nonnull(strstr(head_str(), "Status: 500 "));
	ck_assert(body_is("500 Internal Server Error\n"));
}
END_TEST

START_TEST(run_late_error_after_flush_cuts)
{
	/* Once flushed, the bytes may be on the wire: cut, no 500. */
	r->sink = &holding_sink;
	seen.held = 1;
	mode = M_FLUSH_THEN_ERROR;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_CUT);
	ck_assert_int_eq(seen.flushes, 1);
	ck_assert_ptr_nonnull(strstr(head_str(), "Status: 200 "));
	ck_assert(body_is("partial"));
}
END_TEST

START_TEST(flush_before_start_refused_and_failure_marks_gone)
{
	r->sink = &holding_sink;
	ck_assert_int_eq(S->flush(H), -1);
	ck_assert_int_eq(seen.flushes, 0);
	ck_assert_int_eq(S->start_response(H, 200, NULL, NULL, 0, 0), 0);
	seen.fail_body = 1;
	ck_assert_int_eq(S->flush(H), -1);
	ck_assert(r->failed);
	ck_assert_int_eq(S->write(H, "x", 1), -1);
}
END_TEST

START_TEST(run_head_failure_cuts)
{
	mode = M_ERROR_EARLY;
	seen.fail_head = 1;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_CUT);
	ck_assert(r->failed);
}
END_TEST

START_TEST(finish_hooks_reverse_order_after_failure)
{
	hook_log[0] = '\0';
	mode = M_HOOKS_FAIL;
	ck_assert_int_eq(req_run(r, &test_module, NULL), REQ_COMPLETE);
	ck_assert_str_eq(hook_log, "");
	req_destroy(r);
	r = NULL;
	ck_assert_str_eq(hook_log, "CBA");
}
END_TEST

START_TEST(finish_hooks_run_without_req_run)
{
	hook_log[0] = '\0';
	ck_assert_int_eq(S->on_finish(H, hook, (void *)"1"), 0);
	ck_assert_int_eq(S->on_finish(H, hook, (void *)"2"), 0);
	req_destroy(r);
	r = NULL;
	ck_assert_str_eq(hook_log, "21");
	req_destroy(NULL);
}
END_TEST

START_TEST(send_error_page)
{
	ck_assert_int_eq(req_send_error(r, 413), 0);
	ck_assert_str_eq(head_str(), "Status: 413 Content Too Large\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 22\r\n\r\n");
	ck_assert(body_is("413 Content Too Large\n"));
	ck_assert_str_eq(req_status_reason(299), "Unknown");
	ck_assert_str_eq(req_status_reason(431),
	    "Request Header Fields Too Large");
}
END_TEST

/*
 * sendfile.
 */

static int
temp_file(size_t n, unsigned char **copy)
{
	char path[] = "/tmp/check_req-XXXXXX";
	unsigned char *d = malloc(n);
	size_t i;
	int fd;

	ck_assert_ptr_nonnull(d);
	for (i = 0; i < n; i++)
		d[i] = (unsigned char)(i * 131 + i / 256);
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	unlink(path);
	ck_assert_int_eq(write(fd, d, n), (ssize_t)n);
	*copy = d;
	return fd;
}

START_TEST(sendfile_fallback_preads)
{
	unsigned char *d;
	int fd = temp_file(100000, &d);

	ck_assert_int_eq(S->start_response(H, 200, NULL, NULL, 0, 0), 0);
	ck_assert_int_eq(S->sendfile(H, fd, 1000, 50000), 0);
	ck_assert_uint_eq(seen.body.len, 50000);
	ck_assert(memcmp(seen.body.data + seen.body.off, d + 1000, 50000) ==
	    0);
	ck_assert_uint_eq(r->resp_sent, 50000);
	/* The module's file offset is not moved. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 100000);
	/* Past the end of the file: an error, not a hang. */
	ck_assert_int_eq(S->sendfile(H, fd, 99990, 20), -1);
	ck_assert_int_eq(S->sendfile(H, -1, 0, 1), -1);
	ck_assert_int_eq(S->sendfile(H, fd, 0, 0), 0);
	close(fd);
	free(d);
}
END_TEST

START_TEST(sendfile_fallback_clipped)
{
	unsigned char *d;
	int fd = temp_file(1000, &d);

	ck_assert_int_eq(start1(200, "Content-Length", "10", 0), 0);
	ck_assert_int_eq(S->sendfile(H, fd, 5, 500), 0);
	ck_assert_uint_eq(seen.body.len, 10);
	ck_assert(memcmp(seen.body.data + seen.body.off, d + 5, 10) == 0);
	close(fd);
	free(d);
}
END_TEST

START_TEST(sendfile_through_sink)
{
	req_destroy(r);
	r = req_create(&file_sink, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(start1(200, "Content-Length", "100", 0), 0);
	ck_assert_int_eq(S->sendfile(H, 0, 7, 1000), 0);
	ck_assert_int_eq(seen.files, 1);
	ck_assert_int_eq(seen.file_off, 7);
	ck_assert_uint_eq(seen.file_n, 100);
	ck_assert_uint_eq(r->resp_sent, 100);
}
END_TEST

/*
 * Body reads.
 */

static void
read_back(const unsigned char *want, size_t n, size_t step)
{
	unsigned char *got = malloc(n + 64);
	size_t have = 0;
	ssize_t k;

	ck_assert_ptr_nonnull(got);
	memset(got, 0x5a, n + 64);
	while ((k = S->read(H, got + have, step)) > 0) {
		have += (size_t)k;
		ck_assert_uint_le(have, n);
	}
	ck_assert_int_eq(k, 0);
	ck_assert_uint_eq(have, n);
	ck_assert(memcmp(got, want, n) == 0);
	/* Nothing written past the body, and the end stays the end. */
	ck_assert_uint_eq(got[n], 0x5a);
	ck_assert_int_eq(S->read(H, got, 64), 0);
	ck_assert_uint_eq(got[0], want[0]);
	free(got);
}

START_TEST(body_read_in_memory)
{
	static const unsigned char b[] = "name=value&other=1";

	ck_assert_int_eq(body_append(&r->body, b, 10), 0);
	ck_assert_int_eq(body_append(&r->body, b + 10, sizeof(b) - 10), 0);
	ck_assert_int_eq(r->body.fd, -1);
	read_back(b, sizeof(b), 3);
}
END_TEST

START_TEST(body_read_spooled)
{
	unsigned char *b = malloc(10000);
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < 10000; i++)
		b[i] = (unsigned char)rand();
	body_configure(100, "/tmp");
	for (i = 0; i < 10000; i += 700)
		ck_assert_int_eq(body_append(&r->body, b + i,
		    i + 700 > 10000 ? 10000 - i : 700), 0);
	ck_assert_int_ne(r->body.fd, -1);
	read_back(b, 10000, 4096);
	free(b);
}
END_TEST

START_TEST(body_read_empty)
{
	char c = 'q';

	ck_assert_int_eq(S->read(H, &c, 1), 0);
	ck_assert_int_eq(c, 'q');
	ck_assert_int_eq(S->read(H, &c, 0), 0);
}
END_TEST

/*
 * The CGI head.
 */

START_TEST(format_cgi_head_exact)
{
	struct bg_header h[3] = {
		{ "Content-Type", 12, "text/html; charset=utf-8", 24 },
		{ "X-Empty", 7, "", 0 },
		{ "Set-Cookie", 10, "a=1", 3 },
	};
	struct buf out = { 0 };

	ck_assert_int_eq(S->start_response(H, 302, NULL, h, 3, 0), 0);
	ck_assert_int_eq(req_format_cgi_head(r, &out), 0);
	ck_assert_uint_eq(out.len, strlen("Status: 302 Found\r\n"
	    "Content-Type: text/html; charset=utf-8\r\nX-Empty: \r\n"
	    "Set-Cookie: a=1\r\n\r\n"));
	ck_assert_mem_eq(out.data + out.off, "Status: 302 Found\r\n"
	    "Content-Type: text/html; charset=utf-8\r\nX-Empty: \r\n"
	    "Set-Cookie: a=1\r\n\r\n", out.len);
	buf_free(&out);

	ck_assert_int_eq(S->start_response(H, 599, "Custom Reason", NULL, 0,
	    BG_REPLACE), 0);
	ck_assert_int_eq(req_format_cgi_head(r, &out), 0);
	ck_assert_mem_eq(out.data + out.off,
	    "Status: 599 Custom Reason\r\n\r\n", out.len);
	buf_free(&out);
}
END_TEST

static Suite *
req_suite(void)
{
	Suite *s = suite_create("req");
	TCase *vars = tcase_create("vars");
	TCase *start = tcase_create("start_response");
	TCase *len = tcase_create("content_length");
	TCase *run = tcase_create("run");
	TCase *io = tcase_create("io");

	tcase_add_checked_fixture(vars, setup, teardown);
	tcase_add_test(vars, add_var_copies);
	tcase_add_test(vars, put_var_copies_value_keeps_name);
	tcase_add_test(vars, add_var_drops_httpoxy);
	tcase_add_test(vars, add_var_many_grows);
	tcase_add_test(vars, find_var_exact_name);
	tcase_add_test(vars, server_var_var_at_var_count);
	tcase_add_test(vars, fields_none_then_set_and_host_in_front);
	tcase_add_test(vars, append_var_joins_repeated_field);
	tcase_add_test(vars, remove_dot_segments_cases);
	tcase_add_test(vars, request_ids_unique);
	suite_add_tcase(s, vars);

	tcase_add_checked_fixture(start, setup, teardown);
	tcase_add_test(start, status_out_of_range_refused);
	tcase_add_test(start, status_edges_accepted);
	tcase_add_test(start, header_name_not_token_refused);
	tcase_add_test(start, header_value_controls_refused);
	tcase_add_test(start, hop_by_hop_refused);
	tcase_add_test(start, too_many_headers_refused);
	tcase_add_test(start, second_start_without_replace_refused);
	tcase_add_test(start, replace_before_first_byte_works);
	tcase_add_test(start, replace_first_call_works);
	tcase_add_test(start, replace_after_first_byte_refused);
	tcase_add_test(start, write_before_start_refused);
	tcase_add_test(start, headers_copied);
	suite_add_tcase(s, start);

	tcase_add_checked_fixture(len, setup, teardown);
	tcase_add_test(len, content_length_extra_bytes_dropped);
	tcase_add_test(len, content_length_header_name_any_case);
	tcase_add_test(len, content_length_invalid_refused);
	tcase_add_test(len, two_different_content_lengths_refused);
	tcase_add_test(len, content_length_replaced_with_none);
	tcase_add_test(len, content_length_of_204_dropped);
	tcase_add_test(len, parse_length_bounds);
	suite_add_tcase(s, len);

	tcase_add_checked_fixture(run, setup, teardown);
	tcase_add_test(run, run_error_before_output_sends_500);
	tcase_add_test(run, run_started_then_error_sends_500);
	tcase_add_test(run, run_without_start_sends_502);
	tcase_add_test(run, run_start_only_sends_head);
	tcase_add_test(run, run_error_after_output_cuts);
	tcase_add_test(run, run_short_body_cuts);
	tcase_add_test(run, run_exact_body_completes);
	tcase_add_test(run, run_head_without_body_completes);
	tcase_add_test(run, run_get_without_body_still_cuts);
	tcase_add_test(run, run_304_without_body_completes);
	tcase_add_test(run, run_sink_failure_cuts);
	tcase_add_test(run, run_late_error_while_held_gives_500);
	tcase_add_test(run, run_late_error_after_flush_cuts);
	tcase_add_test(run, flush_before_start_refused_and_failure_marks_gone);
	tcase_add_test(run, run_head_failure_cuts);
	tcase_add_test(run, finish_hooks_reverse_order_after_failure);
	tcase_add_test(run, finish_hooks_run_without_req_run);
	tcase_add_test(run, send_error_page);
	suite_add_tcase(s, run);

	tcase_add_checked_fixture(io, setup, teardown);
	tcase_add_test(io, sendfile_fallback_preads);
	tcase_add_test(io, sendfile_fallback_clipped);
	tcase_add_test(io, sendfile_through_sink);
	tcase_add_test(io, body_read_in_memory);
	tcase_add_test(io, body_read_spooled);
	tcase_add_test(io, body_read_empty);
	tcase_add_test(io, format_cgi_head_exact);
	suite_add_tcase(s, io);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(req_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
