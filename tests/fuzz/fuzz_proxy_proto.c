/*
 * libFuzzer target for bridge/net/proxy_proto.c: the PROXY protocol v1/v2
 * header parser and the --proxy-allow-from list parser.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -Ibridge \
 *	    bridge/net/proxy_proto.c tests/fuzz/fuzz_proxy_proto.c -o fuzz
 *	./fuzz -max_total_time=120 tests/fuzz/corpus/proxy
 *
 * With -DFUZZ_STANDALONE (and without -fsanitize=fuzzer) it is a plain
 * program that runs each file named on the command line, or stdin, once.
 *
 * The first byte chooses the limit; the rest is the connection's first
 * bytes.  Beyond "no crash", it checks properties: the verdict is in
 * range and within the limit; the slices of a parsed header lie within
 * it; the verdict over growing prefixes goes "need more", then one final
 * verdict that later bytes do not change (the caller may see the header
 * in any number of reads, and bytes after it are not its business); a
 * client address is IPv4 or IPv6.  Every buffer handed to the parser is
 * a heap block of exactly its length, so AddressSanitizer catches any
 * read past its end.  The same bytes, as a string, go to the allow list
 * parser.
 * FUZZ_SOURCES: bridge/net/proxy_proto.c
 * FUZZ_CORPUS: proxy
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_proxy_proto: property failed: %s\n",
		    what);
		abort();
	}
}

static ssize_t
parse_copy(const uint8_t *p, size_t n, size_t max, struct proxy_header *h)
{
	/* malloc(0) may return NULL; keep one block per call anyway. */
	uint8_t *b = malloc(n ? n : 1);
	ssize_t r;

	must(b != NULL, "malloc");
	if (n > 0)
		memcpy(b, p, n);
	r = proxy_parse(b, n, max, h);
	/* Slices into b must lie within the header: check before free. */
	if (r > 0) {
		must(h->alpn == NULL || (h->alpn >= b && h->alpn_len <=
		    (size_t)r && (size_t)(h->alpn - b) <= (size_t)r -
		    h->alpn_len), "ALPN within the header");
		must(h->authority == NULL || (h->authority >= b &&
		    h->authority_len <= (size_t)r && (size_t)(h->authority -
		    b) <= (size_t)r - h->authority_len),
		    "authority within the header");
	}
	free(b);
	return r;
}

static void
fuzz_header(const uint8_t *in, size_t n, size_t max)
{
	struct proxy_header h;
	size_t eff = max < PROXY_V1_MAX ? PROXY_V1_MAX : max > 65551 ? 65551 :
	    max, k, step;
	ssize_t r, rk, first = PROXY_AGAIN;

	r = parse_copy(in, n, max, &h);
	must(r == PROXY_AGAIN || r == PROXY_INVALID ||
	    (r > 0 && (size_t)r <= n && (size_t)r <= eff), "verdict");
	must(r != PROXY_INVALID || h.why != NULL, "a reason");
	if (r > 0) {
		must(h.version == 1 || h.version == 2, "version");
		must(h.local || h.src.sa.sa_family == AF_INET ||
		    h.src.sa.sa_family == AF_INET6, "client family");
		must(h.local || h.dst.sa.sa_family == h.src.sa.sa_family,
		    "same families");
		must(h.version == 2 || (size_t)r <= PROXY_V1_MAX, "v1 size");
	}
	if (r == PROXY_AGAIN)
		must(n < eff, "need more past the limit");
	/* Prefixes: every one for short inputs, else a sample. */
	step = n <= 128 ? 1 : n / 128;
	for (k = 0; k <= n; k += step) {
		rk = parse_copy(in, k, max, &h);
		if (first != PROXY_AGAIN)
			must(rk == first, "a final verdict changed");
		else if (rk != PROXY_AGAIN) {
			first = rk;
			must(rk == r, "prefix verdict differs from the whole");
		}
	}
}

static void
fuzz_allow(const uint8_t *in, size_t n)
{
	struct proxy_allow a;
	union proxy_addr s;
	char *text = malloc(n + 1), err[200];
	size_t i;

	must(text != NULL, "malloc");
	memcpy(text, in, n);
	text[n] = '\0';
	err[0] = '\0';
	if (proxy_allow_parse(&a, text, err, sizeof(err)) == 0) {
		must(a.n <= PROXY_ALLOW_MAX, "allow count");
		for (i = 0; i < a.n; i++)
			must((a.nets[i].family == AF_INET &&
			    a.nets[i].prefix <= 32) ||
			    (a.nets[i].family == AF_INET6 &&
			    a.nets[i].prefix <= 128), "allow entry");
		/* An entry allows its own address. */
		for (i = 0; i < a.n; i++) {
			memset(&s, 0, sizeof(s));
			s.sa.sa_family = (sa_family_t)a.nets[i].family;
			if (a.nets[i].family == AF_INET)
				memcpy(&s.in.sin_addr, a.nets[i].addr, 4);
			else
				memcpy(&s.in6.sin6_addr, a.nets[i].addr, 16);
			must(proxy_allowed(&a, &s.sa), "own address");
		}
	} else
		must(err[0] != '\0', "allow error message");
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[4] = { 0, PROXY_HEADER_MAX, 300, 65551 };

	if (size == 0)
		return 0;
	fuzz_header(data + 1, size - 1, maxes[data[0] & 3]);
	if (size <= 4096)
		fuzz_allow(data + 1, size - 1);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include "standalone.h"
#endif
