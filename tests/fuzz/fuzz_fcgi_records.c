/*
 * Fuzz target: the FastCGI record and name-value pair parsers
 * (bridge/protocols/fcgi.c) walked over a byte stream the way the front end walks
 * what it reads, with the encoders checked against them.
 *
 * Checks beyond "does not crash": a complete record must be reported as
 * FCGI_PARSE_AGAIN at every shorter length; every pair parsed must
 * re-encode (fcgi_put_pair) to the same bytes, and parsing those gives
 * the same pair back.  libFuzzer hands over an exact-size heap copy, so
 * ASan sees any read past the input.
 *
 * FUZZ_SOURCES: bridge/protocols/fcgi.c
 * FUZZ_CORPUS: fcgi
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAIR_MAX (64 * 1024)	/* the front end's max_params_bytes */

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_fcgi_records: %s\n", what);
		abort();
	}
}

/* Walk the pairs of one PARAMS or GET_VALUES content. */
static void
walk_pairs(const uint8_t *p, size_t len, size_t max_len)
{
	static uint8_t enc[2 * PAIR_MAX + 8];
	struct fcgi_pair pair, again;
	ssize_t n;
	size_t e;

	while (len > 0) {
		n = fcgi_parse_pair(p, len, &pair, max_len);
		if (n == FCGI_PARSE_AGAIN || n == FCGI_PARSE_BAD)
			return;
		check(n > 0 && (size_t)n <= len, "pair length out of range");
		check(pair.name_len <= max_len && pair.value_len <= max_len &&
		    pair.name_len + pair.value_len <= max_len,
		    "pair over max_len accepted");
		check(pair.name >= p && pair.value + pair.value_len <= p + n,
		    "pair points outside its bytes");
		/* Re-encode: the shortest form must not be longer. */
		e = fcgi_put_pair(enc, sizeof(enc), (const char *)pair.name,
		    pair.name_len, (const char *)pair.value, pair.value_len);
		check(e > 0 && e <= (size_t)n, "re-encoding failed or grew");
		/* Same length means the same length forms: same bytes (a
		 * four-byte form of a length below 128 is the only other
		 * spelling, and it is longer). */
		if (e == (size_t)n)
			check(memcmp(enc, p, e) == 0, "re-encoding differs");
		check(fcgi_parse_pair(enc, e, &again, max_len) == (ssize_t)e,
		    "re-encoded pair does not parse");
		check(again.name_len == pair.name_len &&
		    again.value_len == pair.value_len &&
		    memcmp(again.name, pair.name, pair.name_len) == 0 &&
		    memcmp(again.value, pair.value, pair.value_len) == 0,
		    "re-encoded pair differs");
		/* One byte short is never complete. */
		check(fcgi_parse_pair(enc, e - 1, &again, max_len) ==
		    FCGI_PARSE_AGAIN, "truncated pair accepted");
		p += n;
		len -= (size_t)n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fcgi_record rec;
	const uint8_t *p = data;
	size_t left = size, max_len;
	ssize_t n, k;
	uint8_t hdr[FCGI_HEADER_LEN];

	/* The first byte picks the pair bound so that small bounds, where
	 * BAD is reachable, get explored as well. */
	max_len = size > 0 ? (size_t)1 << (data[0] % 17) : PAIR_MAX;
	while (left > 0) {
		n = fcgi_parse_record(p, left, &rec);
		if (n == FCGI_PARSE_BAD) {
			check(p[0] != FCGI_VERSION_1, "version 1 refused");
			/* Resynchronise on the next byte, like a fuzzer
			 * stream would: it keeps the walk going. */
			p++;
			left--;
			continue;
		}
		if (n == FCGI_PARSE_AGAIN) {
			check(left < FCGI_HEADER_LEN || left <
			    FCGI_HEADER_LEN + (size_t)(p[4] << 8 | p[5]) + p[6],
			    "complete record reported incomplete");
			break;
		}
		check((size_t)n == FCGI_HEADER_LEN + rec.content_len +
		    rec.padding_len && (size_t)n <= left &&
		    (size_t)n <= FCGI_RECORD_MAX, "record length wrong");
		check(rec.content == p + FCGI_HEADER_LEN, "content pointer");
		/* Every shorter view of a complete record needs more. */
		for (k = (ssize_t)n - 1; k >= 0 && k > (ssize_t)n - 24; k--)
			check(fcgi_parse_record(p, (size_t)k, &rec) ==
			    FCGI_PARSE_AGAIN, "short record accepted");
		fcgi_parse_record(p, (size_t)n, &rec);
		/* The header encoder agrees with the parser. */
		fcgi_put_header(hdr, rec.type, rec.id, rec.content_len,
		    rec.padding_len);
		check(memcmp(hdr, p, 7) == 0, "header re-encoding differs");
		if (rec.type == FCGI_PARAMS || rec.type == FCGI_GET_VALUES)
			walk_pairs(rec.content, rec.content_len, max_len);
		(void)fcgi_type_name(rec.type);
		p += n;
		left -= (size_t)n;
	}
	/* The whole input as one PARAMS stream, as decode_params sees it. */
	walk_pairs(data, size, max_len);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <string.h>

#include "standalone.h"
#endif
