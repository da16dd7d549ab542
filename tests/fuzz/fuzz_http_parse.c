/*
 * libFuzzer target for bridge/protocols/http_parse.c: the request parser and the
 * chunked decoder.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -Ibridge \
 *	    bridge/protocols/http_parse.c tests/fuzz/fuzz_http_parse.c -o fuzz
 *	./fuzz -max_total_time=120 tests/fuzz/corpus/http
 *
 * With -DFUZZ_STANDALONE (and without -fsanitize=fuzzer) it is a plain
 * program that runs each file named on the command line, or stdin, once.
 *
 * Beyond "no crash", it checks properties: results are in range, the
 * request's pointers stay within the bytes consumed, every prefix of an
 * input yields "need more" or the verdict of the whole, and the chunked
 * decoder gives the same output whole, byte by byte and in pieces.  Every
 * buffer handed to the code under test is a heap block of exactly its
 * length, so AddressSanitizer catches any read past its end.
 * FUZZ_SOURCES: bridge/protocols/http_parse.c
 * FUZZ_CORPUS: http
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

#define NHEADERS_MAX 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_http_parse: property failed: %s\n", what);
		abort();
	}
}

static int
status_ok(long r)
{
	return r == -400 || r == -413 || r == -414 || r == -417 ||
	    r == -431 || r == -501 || r == -505;
}

static char *
dup_exact(const uint8_t *p, size_t n)
{
	/* malloc(0) may return NULL; keep one block per call anyway. */
	char *b = malloc(n ? n : 1);

	must(b != NULL, "malloc");
	if (n > 0)
		memcpy(b, p, n);
	return b;
}

static int
within(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static int
parse_copy(const uint8_t *p, size_t n, const struct http_limits *lim,
    struct http_header *h)
{
	struct http_request req;
	char *b = dup_exact(p, n);
	int r;

	req.headers = h;
	r = http_parse_request(b, n, &req, lim);
	free(b);
	return r;
}

/* Feed a chunked body in pieces of the given sizes (cycled). */
struct feed {
	long r;
	char *out;
	size_t outlen;
	char *left;
	size_t leftlen;
};

static void
feed(const uint8_t *in, size_t n, const uint8_t *sizes, size_t nsizes,
    uint64_t max_body, struct feed *fr)
{
	struct http_chunked d;
	size_t off = 0, piece, len, i = 0;
	ssize_t r;
	char *b;

	fr->out = malloc(n + 1);
	fr->left = malloc(n + 1);
	must(fr->out != NULL && fr->left != NULL, "malloc");
	fr->outlen = fr->leftlen = 0;
	http_chunked_init(&d);
	for (;;) {
		piece = nsizes == 0 ? n : sizes[i++ % nsizes];
		if (piece > n - off)
			piece = n - off;
		b = dup_exact(in + off, piece);
		len = piece;
		r = http_chunked_decode(&d, b, &len, max_body);
		off += piece;
		fr->r = r;
		if (r < 0 && r != HTTP_PARSE_AGAIN) {
			must(r == -400 || r == -413 || r == -431,
			    "chunked status");
			free(b);
			return;
		}
		must(len <= piece, "decoded more than given");
		memcpy(fr->out + fr->outlen, b, len);
		fr->outlen += len;
		if (r >= 0) {
			must((size_t)r <= piece - len, "leftover count");
			memcpy(fr->left, b + len, (size_t)r);
			memcpy(fr->left + r, in + off, n - off);
			fr->leftlen = (size_t)r + n - off;
			free(b);
			return;
		}
		free(b);
		if (off == n)
			return;
	}
}

static void
feed_same(const struct feed *a, const struct feed *b)
{
	must(a->r == b->r || (a->r >= 0 && b->r >= 0), "chunked verdict");
	if (a->r < 0 && a->r != HTTP_PARSE_AGAIN)
		return;
	must(a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0, "chunked output");
	must(a->leftlen == b->leftlen &&
	    memcmp(a->left, b->left, a->leftlen) == 0, "chunked leftover");
}

static void
fuzz_chunked(const uint8_t *in, size_t n, uint64_t max_body,
    const uint8_t *sizes, size_t nsizes)
{
	static const uint8_t one = 1;
	struct feed whole, fr;

	feed(in, n, NULL, 0, max_body, &whole);
	must(whole.outlen <= n && whole.outlen <= max_body, "chunked size");
	feed(in, n, &one, 1, max_body, &fr);
	feed_same(&whole, &fr);
	free(fr.out);
	free(fr.left);
	if (nsizes > 0) {
		feed(in, n, sizes, nsizes, max_body, &fr);
		feed_same(&whole, &fr);
		free(fr.out);
		free(fr.left);
	}
	free(whole.out);
	free(whole.left);
}

static void
fuzz_request(const uint8_t *in, size_t n, const struct http_limits *lim)
{
	struct http_header h[NHEADERS_MAX];
	struct http_request req;
	const char *b = (const char *)in;
	size_t i, k, nprefix;
	int r, rk;

	req.headers = h;
	r = http_parse_request(b, n, &req, lim);
	must(r == HTTP_PARSE_AGAIN || status_ok(r) ||
	    (r > 0 && (size_t)r <= n), "request verdict");
	if (r > 0) {
		must(req.minor_version == 0 || req.minor_version == 1,
		    "minor version");
		must(within(req.method, req.method_len, b, (size_t)r) &&
		    req.method_len > 0, "method");
		must(within(req.target, req.target_len, b, (size_t)r) &&
		    req.target_len > 0 && req.target_len <= lim->max_target,
		    "target");
		must(within(req.path, req.path_len, req.target,
		    req.target_len), "path");
		must(req.host == NULL ||
		    within(req.host, req.host_len, b, (size_t)r), "host");
		must(req.minor_version == 0 || req.host != NULL, "Host");
		must(req.nheaders <= lim->max_headers, "nheaders");
		for (i = 0; i < req.nheaders; i++) {
			must(within(h[i].name, h[i].name_len, b, (size_t)r) &&
			    h[i].name_len > 0, "field name");
			must(within(h[i].value, h[i].value_len, b, (size_t)r),
			    "field value");
			must(memchr(h[i].value, '\r', h[i].value_len) == NULL &&
			    memchr(h[i].value, '\n', h[i].value_len) == NULL,
			    "CR/LF in value");
		}
		must(!(req.chunked && req.content_length >= 0), "CL and TE");
		must(req.content_length < 0 ||
		    (uint64_t)req.content_length <= lim->max_body, "CL limit");
		if (req.chunked)
			fuzz_chunked(in + r, n - (size_t)r, lim->max_body,
			    NULL, 0);
	}
	/* Prefixes: all of them for short inputs, else a sample. */
	nprefix = n <= 96 ? n : 96;
	for (i = 0; i < nprefix; i++) {
		k = n <= 96 ? i : i * n / 96;
		rk = parse_copy(in, k, lim, h);
		must(rk == HTTP_PARSE_AGAIN || rk == r, "prefix verdict");
	}
}

/*
 * The first byte chooses the limits and the piece sizes of the chunked
 * run; the rest is the input, tried both as a request and as a chunked
 * body.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits small = { 32, 128, 4, 64 };
	static const struct http_limits big = {
		8192, 16384, NHEADERS_MAX, UINT64_MAX
	};
	const struct http_limits *lim;
	uint8_t sel, sizes[4];
	size_t i;

	if (size == 0)
		return 0;
	sel = data[0];
	data++;
	size--;
	lim = sel & 1 ? &big : &small;
	fuzz_request(data, size, lim);
	for (i = 0; i < 4; i++)
		sizes[i] = (uint8_t)(1 + ((sel >> (2 * i)) & 3) * 5);
	fuzz_chunked(data, size, sel & 2 ? UINT64_MAX : 64, sizes, 4);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <string.h>

#include "standalone.h"
#endif
