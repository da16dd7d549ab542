/*
 * Unit tests for bridge/protocols/http_parse.c.
 *
 * Every input is copied so that it ends flush against a PROT_NONE page:
 * a read past the end of the caller's buffer faults.  Every row of
 * tests/http_requests.tsv and tests/http_chunked.tsv is one Check test;
 * each is also fed at every split point, since a stream parser must give
 * the same verdict however the bytes arrive.
 */
#include <sys/mman.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "http_parse.h"

#define TSV_REQUESTS "tests/http_requests.tsv"
#define TSV_CHUNKED "tests/http_chunked.tsv"
#define GUARD_DATA_PAGES 32	/* room before the guard page */
#define FIELD_MAX 65536		/* one decoded table field */
#define NHEADERS 16

/* One table row: its line and the raw (still escaped) fields. */
struct row {
	int line;
	char *f[7];
};

struct table {
	const char *name;
	struct row *rows;
	size_t nrows;
};

static struct table requests = { TSV_REQUESTS, NULL, 0 };
static struct table chunked = { TSV_CHUNKED, NULL, 0 };

static const struct http_limits table_limits = {
	.max_target = 128,
	.max_header_bytes = 512,
	.max_headers = NHEADERS,
	.max_body = 1000000,
};

/* The pages before the guard page, and their size. */
static char *guard_base;
static size_t guard_size;

static void
guard_setup(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *m;

	ck_assert_int_gt(pg, 0);
	guard_size = (size_t)pg * GUARD_DATA_PAGES;
	m = mmap(NULL, guard_size + (size_t)pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(mprotect(m + guard_size, (size_t)pg, PROT_NONE), 0);
	guard_base = m;
}

/* Copy data[0..n) so that it ends at the guard page; return the copy. */
static char *
guard_place(const void *data, size_t n)
{
	char *p;

	ck_assert_uint_le(n, guard_size);
	p = guard_base + guard_size - n;
	if (n > 0)
		memcpy(p, data, n);
	return p;
}

/*
 * Decode the table escapes: \r \n \t \0 \\ \" \xHH, and \{N}c for N
 * copies of c.  Returns the length, or -1.
 */
static ssize_t
unescape(const char *s, char *out, size_t cap)
{
	size_t n = 0, rep;
	char *end;
	int c;

	while (*s != '\0') {
		rep = 1;
		c = (unsigned char)*s++;
		if (c == '\\') {
			c = (unsigned char)*s++;
			switch (c) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case '\\': case '"': break;
			case 'x':
				if (s[0] == '\0' || s[1] == '\0')
					return -1;
				{
					char hex[3] = { s[0], s[1], '\0' };

					c = (int)strtol(hex, &end, 16);
					if (*end != '\0')
						return -1;
				}
				s += 2;
				break;
			case '{':
				rep = strtoul(s, &end, 10);
				if (end == s || *end != '}' || end[1] == '\0')
					return -1;
				s = end + 1;
				c = (unsigned char)*s++;
				break;
			default:
				return -1;
			}
		}
		if (rep > cap - n)
			return -1;
		memset(out + n, c, rep);
		n += rep;
	}
	return (ssize_t)n;
}

/* Decode a field into a new buffer; abort the test if it is malformed. */
static char *
field(const struct row *r, int i, size_t *len)
{
	char *b = malloc(FIELD_MAX);
	ssize_t n;

	ck_assert_ptr_nonnull(b);
	n = unescape(r->f[i], b, FIELD_MAX);
	ck_assert_msg(n >= 0, "line %d: bad escape in field %d", r->line, i);
	*len = (size_t)n;
	return b;
}

static FILE *
open_table(const char *name)
{
	char path[4096], dir[2048], *slash;
	const char *srcdir = getenv("srcdir");
	FILE *f;

	/* automake runs tests with srcdir set to the top source dir. */
	snprintf(path, sizeof(path), "%s/%s", srcdir ? srcdir : ".", name);
	if ((f = fopen(path, "r")) != NULL || srcdir != NULL)
		return f;
	/* Unset srcdir: try next to this source file. */
	if ((size_t)snprintf(dir, sizeof(dir), "%s", __FILE__) >= sizeof(dir))
		return NULL;
	if ((slash = strrchr(dir, '/')) == NULL)
		return NULL;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/../%s", dir, name);
	return fopen(path, "r");
}

static int
load_table(struct table *t)
{
	char *line = NULL, *p, *tab;
	size_t cap = 0, alloc = 0;
	ssize_t n;
	int lineno = 0, i;
	FILE *f;

	if ((f = open_table(t->name)) == NULL) {
		fprintf(stderr, "cannot open %s (srcdir=%s): %s\n", t->name,
		    getenv("srcdir") ? getenv("srcdir") : "(unset)",
		    strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (t->nrows == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			t->rows = realloc(t->rows, alloc * sizeof(*t->rows));
			if (t->rows == NULL)
				return -1;
		}
		p = strdup(line);
		if (p == NULL)
			return -1;
		t->rows[t->nrows].line = lineno;
		for (i = 0; i < 7; i++) {
			t->rows[t->nrows].f[i] = p;
			tab = strchr(p, '\t');
			if (i < 6 && tab == NULL) {
				fprintf(stderr, "%s:%d: want 7 fields\n",
				    t->name, lineno);
				return -1;
			}
			if (tab != NULL) {
				if (i == 6) {
					fprintf(stderr, "%s:%d: extra field\n",
					    t->name, lineno);
					return -1;
				}
				*tab = '\0';
				p = tab + 1;
			}
		}
		t->nrows++;
	}
	free(line);
	fclose(f);
	return 0;
}

static int
parse_at_guard(const char *in, size_t n, struct http_request *req,
    struct http_header *hdrs, const struct http_limits *lim)
{
	req->headers = hdrs;
	return http_parse_request(guard_place(in, n), n, req, lim);
}

/* A status from the table: OK is 0. */
static int
want_status(const char *s)
{
	return strcmp(s, "OK") == 0 ? 0 : -atoi(s);
}

/*
 * Feed a chunked body in pieces: first, then step bytes at a time, each
 * piece against the guard page.  Collects the decoded bytes and what was
 * left after the end.
 */
struct feed {
	ssize_t r;
	char *out;
	size_t outlen;
	char *left;
	size_t leftlen;
};

static void
feed_chunked(const char *in, size_t n, size_t first, size_t step,
    uint64_t max_body, struct feed *fr)
{
	struct http_chunked d;
	size_t off = 0, piece, len;
	char *b;

	fr->out = malloc(n + 1);
	fr->left = malloc(n + 1);
	ck_assert(fr->out != NULL && fr->left != NULL);
	fr->outlen = fr->leftlen = 0;
	http_chunked_init(&d);
	piece = first;
	for (;;) {
		if (piece > n - off)
			piece = n - off;
		b = guard_place(in + off, piece);
		len = piece;
		fr->r = http_chunked_decode(&d, b, &len, max_body);
		off += piece;
		if (fr->r < 0 && fr->r != HTTP_PARSE_AGAIN)
			return;
		ck_assert_uint_le(len, piece);
		memcpy(fr->out + fr->outlen, b, len);
		fr->outlen += len;
		if (fr->r >= 0) {
			ck_assert_uint_le(len + (size_t)fr->r, piece);
			/* The leftovers follow the decoded bytes. */
			memcpy(fr->left, b + len, (size_t)fr->r);
			memcpy(fr->left + fr->r, in + off, n - off);
			fr->leftlen = (size_t)fr->r + (n - off);
			return;
		}
		if (off == n)
			return;
		piece = step;
	}
}

static void
feed_free(struct feed *fr)
{
	free(fr->out);
	free(fr->left);
}

static void
feed_same(const struct feed *a, const struct feed *b, int line,
    const char *how, size_t k)
{
	ck_assert_msg(a->r == b->r || (a->r >= 0 && b->r >= 0),
	    "line %d: %s %zu: result %zd, whole %zd", line, how, k, b->r,
	    a->r);
	if (a->r < 0 && a->r != HTTP_PARSE_AGAIN)
		return;
	ck_assert_msg(a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0,
	    "line %d: %s %zu: decoded bytes differ", line, how, k);
	ck_assert_msg(a->leftlen == b->leftlen &&
	    memcmp(a->left, b->left, a->leftlen) == 0,
	    "line %d: %s %zu: leftovers differ", line, how, k);
}

/* Decode a chunked body whole; fail unless it ends with want. */
static void
check_chunked_body(const char *in, size_t n, const char *want, size_t wlen,
    int line, char **left, size_t *leftlen)
{
	struct feed fr;

	feed_chunked(in, n, n, n, table_limits.max_body, &fr);
	ck_assert_msg(fr.r >= 0, "line %d: chunked body gave %zd", line,
	    fr.r);
	ck_assert_msg(fr.outlen == wlen && memcmp(fr.out, want, wlen) == 0,
	    "line %d: chunked body decoded to %zu bytes, want %zu", line,
	    fr.outlen, wlen);
	*left = malloc(fr.leftlen + 1);
	ck_assert_ptr_nonnull(*left);
	memcpy(*left, fr.left, fr.leftlen);
	*leftlen = fr.leftlen;
	feed_free(&fr);
}

START_TEST(test_request_row)
{
	const struct row *row = &requests.rows[_i];
	struct http_header hdrs[NHEADERS];
	struct http_request req;
	char *in, *body, *left;
	size_t n, blen, k, rest, leftlen;
	int want, r, rk;

	guard_setup();
	in = field(row, 6, &n);
	want = want_status(row->f[1]);
	r = parse_at_guard(in, n, &req, hdrs, &table_limits);
	if (want != 0) {
		ck_assert_msg(r == want, "line %d (%s): got %d, want %d",
		    row->line, row->f[5], r, want);
		ck_assert_str_eq(row->f[2], "close");
	} else {
		ck_assert_msg(r > 0, "line %d (%s): got %d, want OK",
		    row->line, row->f[5], r);
		ck_assert_uint_le((size_t)r, n);
		rest = strtoul(row->f[4], NULL, 10);
		ck_assert_msg(n - (size_t)r == rest,
		    "line %d: %zu bytes left, want %zu", row->line,
		    n - (size_t)r, rest);
		ck_assert_msg(req.conn_close ==
		    (strcmp(row->f[2], "close") == 0),
		    "line %d: conn_close %u, want %s", row->line,
		    req.conn_close, row->f[2]);
		if (strncmp(row->f[3], "cl=", 3) == 0) {
			body = malloc(FIELD_MAX);
			ck_assert_ptr_nonnull(body);
			blen = (size_t)unescape(row->f[3] + 3, body,
			    FIELD_MAX);
			ck_assert(!req.chunked);
			ck_assert_int_eq(req.content_length, (int64_t)blen);
			ck_assert_uint_ge(n - (size_t)r, blen);
			ck_assert_mem_eq(in + r, body, blen);
			free(body);
		} else if (strncmp(row->f[3], "cl#", 3) == 0) {
			/* A length whose bytes are not in the row. */
			ck_assert(!req.chunked);
			ck_assert_int_eq(req.content_length,
			    strtoll(row->f[3] + 3, NULL, 10));
		} else if (strncmp(row->f[3], "chunked=", 8) == 0) {
			body = malloc(FIELD_MAX);
			ck_assert_ptr_nonnull(body);
			blen = (size_t)unescape(row->f[3] + 8, body,
			    FIELD_MAX);
			ck_assert(req.chunked);
			ck_assert_int_eq(req.content_length, -1);
			check_chunked_body(in + r, n - (size_t)r, body, blen,
			    row->line, &left, &leftlen);
			/* A pipelined request after the body parses. */
			if (leftlen > 0)
				ck_assert_int_gt(parse_at_guard(left,
				    leftlen, &req, hdrs, &table_limits), 0);
			free(left);
			free(body);
		} else {
			ck_assert_str_eq(row->f[3], "-");
			ck_assert(!req.chunked);
			ck_assert_int_eq(req.content_length, -1);
		}
	}
	/* Every prefix: need more, or the same verdict. */
	for (k = 0; k < n; k++) {
		rk = parse_at_guard(in, k, &req, hdrs, &table_limits);
		ck_assert_msg(rk == HTTP_PARSE_AGAIN || rk == r,
		    "line %d (%s): prefix %zu gave %d, whole gave %d",
		    row->line, row->f[5], k, rk, r);
	}
	free(in);
}
END_TEST

START_TEST(test_chunked_row)
{
	const struct row *row = &chunked.rows[_i];
	struct feed whole, fr;
	char *in, *body, *left;
	size_t n, blen, leftlen, k;
	uint64_t max_body;
	ssize_t want;

	guard_setup();
	in = field(row, 6, &n);
	body = field(row, 3, &blen);
	left = field(row, 4, &leftlen);
	if (strcmp(row->f[1], "OK") == 0)
		want = 0;
	else if (strcmp(row->f[1], "AGAIN") == 0)
		want = HTTP_PARSE_AGAIN;
	else
		want = -atoi(row->f[1]);
	max_body = strcmp(row->f[2], "max") == 0 ? UINT64_MAX :
	    strtoull(row->f[2], NULL, 10);

	feed_chunked(in, n, n, n, max_body, &whole);
	if (want == 0)
		ck_assert_msg(whole.r >= 0, "line %d (%s): got %zd, want OK",
		    row->line, row->f[5], whole.r);
	else
		ck_assert_msg(whole.r == want,
		    "line %d (%s): got %zd, want %zd", row->line, row->f[5],
		    whole.r, want);
	if (want == 0 || want == HTTP_PARSE_AGAIN) {
		ck_assert_msg(whole.outlen == blen &&
		    memcmp(whole.out, body, blen) == 0,
		    "line %d (%s): decoded %zu bytes, want %zu", row->line,
		    row->f[5], whole.outlen, blen);
		ck_assert_msg(whole.leftlen == leftlen &&
		    memcmp(whole.left, left, leftlen) == 0,
		    "line %d (%s): %zu bytes left, want %zu", row->line,
		    row->f[5], whole.leftlen, leftlen);
	}
	/* Byte by byte, and in two pieces split at every point. */
	feed_chunked(in, n, 1, 1, max_body, &fr);
	feed_same(&whole, &fr, row->line, "byte by byte", 0);
	feed_free(&fr);
	for (k = 0; k <= n; k++) {
		feed_chunked(in, n, k, n, max_body, &fr);
		feed_same(&whole, &fr, row->line, "split at", k);
		feed_free(&fr);
	}
	feed_free(&whole);
	free(in);
	free(body);
	free(left);
}
END_TEST

static const char *
hdr(const struct http_request *req, size_t i, size_t *len)
{
	ck_assert_uint_lt(i, req->nheaders);
	*len = req->headers[i].value_len;
	return req->headers[i].value;
}

static int
parse_str(const char *s, struct http_request *req, struct http_header *h,
    const struct http_limits *lim)
{
	return parse_at_guard(s, strlen(s), req, h, lim);
}

START_TEST(test_fields_point_into_buffer)
{
	static const char in[] = "\r\nPOST /a/b?c=d HTTP/1.1\r\n"
	    "Host:   example.org:81  \r\n"
	    "X-Empty:\r\n"
	    "X-Tab:\t v \t\r\n"
	    "Content-Length: 3\r\n"
	    "Expect: 100-continue\r\n"
	    "\r\nabc";
	struct http_header h[NHEADERS];
	struct http_request req;
	const char *v;
	size_t vl;
	int r;

	guard_setup();
	r = parse_at_guard(in, sizeof(in) - 1, &req, h, &table_limits);
	ck_assert_int_eq(r, (int)(sizeof(in) - 1 - 3));
	ck_assert_uint_eq(req.method_len, 4);
	ck_assert_mem_eq(req.method, "POST", 4);
	ck_assert_uint_eq(req.target_len, 8);
	ck_assert_mem_eq(req.target, "/a/b?c=d", 8);
	ck_assert_int_eq(req.target_form, HTTP_TARGET_ORIGIN);
	ck_assert_ptr_eq(req.path, req.target);
	ck_assert_uint_eq(req.path_len, req.target_len);
	ck_assert_int_eq(req.minor_version, 1);
	ck_assert_uint_eq(req.nheaders, 5);
	ck_assert_uint_eq(req.headers[0].name_len, 4);
	ck_assert_mem_eq(req.headers[0].name, "Host", 4);
	v = hdr(&req, 0, &vl);
	ck_assert_uint_eq(vl, 14);
	ck_assert_mem_eq(v, "example.org:81", 14);
	ck_assert_ptr_eq(req.host, v);
	ck_assert_uint_eq(req.host_len, 14);
	hdr(&req, 1, &vl);
	ck_assert_uint_eq(vl, 0);
	v = hdr(&req, 2, &vl);
	ck_assert_uint_eq(vl, 1);
	ck_assert_mem_eq(v, "v", 1);
	ck_assert_int_eq(req.content_length, 3);
	ck_assert(req.expect_continue);
	ck_assert(!req.conn_close);
	ck_assert(!req.chunked);
}
END_TEST

START_TEST(test_absolute_form_host_and_path)
{
	struct http_header h[NHEADERS];
	struct http_request req;

	guard_setup();
	ck_assert_int_gt(parse_str("GET http://[::1]:8080/p?q HTTP/1.1\r\n"
	    "Host: other\r\n\r\n", &req, h, &table_limits), 0);
	ck_assert_int_eq(req.target_form, HTTP_TARGET_ABSOLUTE);
	ck_assert_uint_eq(req.host_len, 10);
	ck_assert_mem_eq(req.host, "[::1]:8080", 10);
	ck_assert_uint_eq(req.path_len, 4);
	ck_assert_mem_eq(req.path, "/p?q", 4);

	ck_assert_int_gt(parse_str("GET http://h?q HTTP/1.1\r\n"
	    "Host: h\r\n\r\n", &req, h, &table_limits), 0);
	ck_assert_uint_eq(req.host_len, 1);
	ck_assert_uint_eq(req.path_len, 2);
	ck_assert_mem_eq(req.path, "?q", 2);

	ck_assert_int_gt(parse_str("OPTIONS * HTTP/1.0\r\n\r\n", &req, h,
	    &table_limits), 0);
	ck_assert_int_eq(req.target_form, HTTP_TARGET_ASTERISK);
	ck_assert_ptr_null(req.host);
	ck_assert(req.conn_close);
}
END_TEST

/* The header section may fill max_header_bytes exactly, not one more. */
START_TEST(test_header_bytes_limit_exact)
{
	struct http_limits lim = table_limits;
	struct http_header h[NHEADERS];
	struct http_request req;
	char in[1024];
	size_t rl, hl;
	int r, n;

	guard_setup();
	n = snprintf(in, sizeof(in),
	    "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789\r\n\r\n");
	rl = strlen("GET / HTTP/1.1\r\n");
	hl = (size_t)n - rl;
	lim.max_header_bytes = hl;
	r = parse_at_guard(in, (size_t)n, &req, h, &lim);
	ck_assert_int_eq(r, n);
	lim.max_header_bytes = hl - 1;
	r = parse_at_guard(in, (size_t)n, &req, h, &lim);
	ck_assert_int_eq(r, -431);
	/* Still within the limit when short: need more. */
	r = parse_at_guard(in, (size_t)n - 1, &req, h, &lim);
	ck_assert_int_eq(r, HTTP_PARSE_AGAIN);
}
END_TEST

START_TEST(test_max_headers_zero)
{
	struct http_limits lim = table_limits;
	struct http_request req;

	guard_setup();
	lim.max_headers = 0;
	ck_assert_int_gt(parse_str("GET / HTTP/1.0\r\n\r\n", &req, NULL,
	    &lim), 0);
	ck_assert_int_eq(parse_str("GET / HTTP/1.0\r\nX: y\r\n\r\n", &req,
	    NULL, &lim), -431);
	ck_assert_int_eq(parse_str("GET / HTTP/1.0\r\n", &req, NULL, &lim),
	    HTTP_PARSE_AGAIN);
}
END_TEST

START_TEST(test_target_limit_zero)
{
	struct http_limits lim = table_limits;
	struct http_header h[NHEADERS];
	struct http_request req;

	guard_setup();
	lim.max_target = 0;
	ck_assert_int_eq(parse_str("GET /", &req, h, &lim), -414);
	lim.max_target = 1;
	ck_assert_int_eq(parse_str("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &req,
	    h, &lim), 27);
	ck_assert_int_eq(parse_str("GET /a", &req, h, &lim), -414);
}
END_TEST

START_TEST(test_huge_limits_are_clamped)
{
	struct http_limits lim = {
		SIZE_MAX, SIZE_MAX, NHEADERS, UINT64_MAX
	};
	struct http_header h[NHEADERS];
	struct http_request req;

	guard_setup();
	ck_assert_int_eq(parse_str("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775807\r\n\r\n", &req, h, &lim),
	    64);
	ck_assert_int_eq(req.content_length, INT64_MAX);
}
END_TEST

START_TEST(test_empty_input_needs_more)
{
	struct http_header h[NHEADERS];
	struct http_request req;

	guard_setup();
	ck_assert_int_eq(parse_at_guard("", 0, &req, h, &table_limits),
	    HTTP_PARSE_AGAIN);
	ck_assert_int_eq(parse_str("\r\n\r\n", &req, h, &table_limits),
	    HTTP_PARSE_AGAIN);
	ck_assert_int_eq(parse_str("\r", &req, h, &table_limits),
	    HTTP_PARSE_AGAIN);
}
END_TEST

/* A small xorshift so that the random tests repeat. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Requests glued from fragments: never a fault, prefixes consistent. */
START_TEST(test_random_fragments_prefix_consistent)
{
	static const char *frag[] = {
		"GET", "POST", " ", "  ", "/", "*", "http://a", "?x=%41",
		" HTTP/1.1", " HTTP/1.0", " HTTP/2.0", "\r\n", "\r", "\n",
		"Host: a", "Host:", "Content-Length: 5", "Content-Length:",
		"Transfer-Encoding: chunked", "Transfer-Encoding: gzip",
		",", "chunked", "Connection: close", "Expect: 100-continue",
		":", "\t", "\0", "\x7f", "\xc3", "a", "0",
		"99999999999999999999",
		"\r\n\r\n", "X-Y: z", "CONNECT", "OPTIONS",
	};
	struct http_limits lim = { 40, 120, 6, 100 };
	struct http_header h[6];
	struct http_request req;
	char in[512];
	size_t n, k, f, nf = sizeof(frag) / sizeof(frag[0]);
	int i, j, parts, r, rk;

	guard_setup();
	for (i = 0; i < 4000; i++) {
		n = 0;
		parts = 1 + (int)(rng() % 16);
		for (j = 0; j < parts; j++) {
			f = rng() % nf;
			/* "\0" has length one, not zero. */
			k = frag[f][0] == '\0' ? 1 : strlen(frag[f]);
			if (n + k > sizeof(in))
				break;
			memcpy(in + n, frag[f], k);
			n += k;
		}
		r = parse_at_guard(in, n, &req, h, &lim);
		ck_assert(r == HTTP_PARSE_AGAIN || (r > 0 && (size_t)r <= n) ||
		    r == -400 || r == -413 || r == -414 || r == -417 ||
		    r == -431 || r == -501 || r == -505);
		for (k = 0; k < n; k++) {
			rk = parse_at_guard(in, k, &req, h, &lim);
			ck_assert_msg(rk == HTTP_PARSE_AGAIN || rk == r,
			    "iteration %d prefix %zu: %d, whole %d", i, k,
			    rk, r);
		}
	}
}
END_TEST

/* Encode a random body with random chunking and extensions. */
static size_t
encode_chunked(const char *body, size_t n, char *out, size_t cap)
{
	size_t off = 0, w = 0, c;

	while (off < n) {
		c = 1 + rng() % 300;
		if (c > n - off)
			c = n - off;
		w += (size_t)snprintf(out + w, cap - w, "%zx", c);
		switch (rng() % 4) {
		case 0:
			w += (size_t)snprintf(out + w, cap - w, ";a=b");
			break;
		case 1:
			w += (size_t)snprintf(out + w, cap - w,
			    " ; q = \"x\\\"y\"");
			break;
		}
		w += (size_t)snprintf(out + w, cap - w, "\r\n");
		ck_assert_uint_le(w + c + 2, cap);
		memcpy(out + w, body + off, c);
		w += c;
		memcpy(out + w, "\r\n", 2);
		w += 2;
		off += c;
	}
	w += (size_t)snprintf(out + w, cap - w,
	    "0\r\nTrailer-A: 1\r\n\r\nNEXT");
	return w;
}

START_TEST(test_chunked_bytewise_equals_whole)
{
	static char body[20000], wire[40000];
	struct feed whole, fr;
	size_t n, w, i, step;
	int round;

	guard_setup();
	for (round = 0; round < 20; round++) {
		n = rng() % sizeof(body);
		for (i = 0; i < n; i++)
			body[i] = (char)rng();
		w = encode_chunked(body, n, wire, sizeof(wire));
		feed_chunked(wire, w, w, w, UINT64_MAX, &whole);
		ck_assert_int_eq(whole.r, 4);
		ck_assert_uint_eq(whole.outlen, n);
		ck_assert_mem_eq(whole.out, body, n);
		ck_assert_uint_eq(whole.leftlen, 4);
		ck_assert_mem_eq(whole.left, "NEXT", 4);
		feed_chunked(wire, w, 1, 1, UINT64_MAX, &fr);
		feed_same(&whole, &fr, round, "byte by byte", 0);
		feed_free(&fr);
		step = 1 + rng() % 700;
		feed_chunked(wire, w, rng() % 50, step, UINT64_MAX, &fr);
		feed_same(&whole, &fr, round, "steps of", step);
		feed_free(&fr);
		/* One byte less than the body is 413, one more is fine. */
		if (n > 0) {
			feed_chunked(wire, w, w, w, n - 1, &fr);
			ck_assert_int_eq(fr.r, -413);
			feed_free(&fr);
		}
		feed_chunked(wire, w, w, w, n, &fr);
		ck_assert_int_eq(fr.r, 4);
		feed_free(&fr);
		feed_free(&whole);
	}
}
END_TEST

START_TEST(test_chunked_error_is_sticky)
{
	struct http_chunked d;
	char b[16];
	size_t len;

	http_chunked_init(&d);
	memcpy(b, "g\r\n", 3);
	len = 3;
	ck_assert_int_eq(http_chunked_decode(&d, b, &len, 100), -400);
	memcpy(b, "0\r\n\r\n", 5);
	len = 5;
	ck_assert_int_eq(http_chunked_decode(&d, b, &len, 100), -400);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_chunked_after_done_returns_input)
{
	struct http_chunked d;
	char b[16];
	size_t len;

	http_chunked_init(&d);
	memcpy(b, "0\r\n\r\n", 5);
	len = 5;
	ck_assert_int_eq(http_chunked_decode(&d, b, &len, 100), 0);
	ck_assert_uint_eq(len, 0);
	memcpy(b, "GET", 3);
	len = 3;
	ck_assert_int_eq(http_chunked_decode(&d, b, &len, 100), 3);
	ck_assert_uint_eq(len, 0);
	ck_assert_mem_eq(b, "GET", 3);
}
END_TEST

/* A huge chunk-size under a huge limit: the limit applies to the sum. */
START_TEST(test_chunked_total_overflow_is_413)
{
	struct http_chunked d;
	char b[64];
	size_t len;

	http_chunked_init(&d);
	len = (size_t)snprintf(b, sizeof(b), "2\r\nab\r\nffffffffffffffff\r\n");
	ck_assert_int_eq(http_chunked_decode(&d, b, &len, UINT64_MAX), -413);
}
END_TEST

static Suite *
http_parse_suite(void)
{
	Suite *s = suite_create("http_parse");
	TCase *tc;

	tc = tcase_create("requests.tsv");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_request_row, 0, (int)requests.nrows);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked.tsv");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_chunked_row, 0, (int)chunked.nrows);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fields_point_into_buffer);
	tcase_add_test(tc, test_absolute_form_host_and_path);
	tcase_add_test(tc, test_header_bytes_limit_exact);
	tcase_add_test(tc, test_max_headers_zero);
	tcase_add_test(tc, test_target_limit_zero);
	tcase_add_test(tc, test_huge_limits_are_clamped);
	tcase_add_test(tc, test_empty_input_needs_more);
	tcase_add_test(tc, test_random_fragments_prefix_consistent);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_chunked_bytewise_equals_whole);
	tcase_add_test(tc, test_chunked_error_is_sticky);
	tcase_add_test(tc, test_chunked_after_done_returns_input);
	tcase_add_test(tc, test_chunked_total_overflow_is_413);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (load_table(&requests) < 0 || load_table(&chunked) < 0)
		return 99;	/* automake: a hard error */
	printf("%zu request rows, %zu chunked rows\n", requests.nrows,
	    chunked.nrows);
	sr = srunner_create(http_parse_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
