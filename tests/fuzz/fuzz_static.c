/*
 * libFuzzer target for bridge/gateway/static_parse.c: the request path decoder
 * and confinement check, the Range parser, If-None-Match, dates and
 * Accept-Encoding of --static-map.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -Ibridge \
 *	    bridge/gateway/static_parse.c tests/fuzz/fuzz_static.c -o fuzz
 *
 * Properties beyond "no crash": a decoded path is never longer than its
 * input and has no NUL; a path that passes the check has no "." or ".."
 * segment; a satisfiable range lies within the representation; a date
 * parsed and formatted parses back to the same time.
 * FUZZ_SOURCES: bridge/gateway/static_parse.c
 * FUZZ_CORPUS: static
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_static: property failed: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char *out, date[32];
	off_t first, last, len;
	enum static_range rc;
	ssize_t n;
	size_t i, seg;
	time_t t, t2;
	int enc;

	if ((out = malloc(size + 1)) == NULL)
		return 0;
	n = static_path_decode(s, size, out, &enc);
	must(n <= (ssize_t)size, "decoded path within input");
	if (n > 0) {
		must(memchr(out, '\0', (size_t)n) == NULL, "no NUL decoded");
		if (static_path_check(out, (size_t)n) == 0) {
			for (i = 0, seg = 0; i <= (size_t)n; i++) {
				if (i < (size_t)n && out[i] != '/')
					continue;
				must(!(i - seg == 1 && out[seg] == '.') &&
				    !(i - seg == 2 && out[seg] == '.' &&
				    out[seg + 1] == '.'), "no dot segment");
				seg = i + 1;
			}
		}
	}
	free(out);
	for (len = 0; len < 3; len++) {
		off_t sizes[] = { 0, 1, 1000000 };

		first = last = -1;
		rc = static_range_parse(s, size, sizes[len], &first, &last);
		if (rc == STATIC_RANGE_OK)
			must(first >= 0 && first <= last &&
			    last < sizes[len], "range within the file");
	}
	(void)static_etag_match(s, size, "\"1-2\"");
	(void)static_accepts(s, size, "gzip");
	if (static_date_parse(s, size, &t) == 0 && t >= 0 &&
	    t < (time_t)253402300800LL) {
		static_date_format(date, t);
		must(static_date_parse(date, strlen(date), &t2) == 0 &&
		    t2 == t, "date round trip");
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
#include "standalone.h"
#endif
