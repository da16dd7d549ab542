/*
 * Fuzz target for the CGI response header parser of the CGI-script
 * adapter (adapters/cgi/cgi_head.c, RFC 3875 section 6).
 * FUZZ_SOURCES: adapters/cgi/cgi_head.c
 * FUZZ_CORPUS: cgi_head
 *
 * Beyond "no crash": a complete result lies within the input, every
 * slice points inside the consumed bytes and carries no CR or LF, and a
 * prefix of a complete block is "need more" or the same verdict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "adapters/cgi/cgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_slice(const char *base, size_t used, const char *p, size_t n)
{
	if (p == NULL)
		return;
	if (p < base || p + n > base + used || memchr(p, '\r', n) != NULL ||
	    memchr(p, '\n', n) != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgi_head h, h2;
	char *buf;
	ssize_t n, m;
	size_t i, cut;

	if (size < 1 || size > 65536)
		return 0;
	if ((buf = malloc(size - 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	memset(&h, 0, sizeof(h));
	h.nph = data[0] & 1;
	n = cgi_head_parse(buf, size - 1, &h);
	if (n >= 0) {
		if ((size_t)n > size - 1)
			abort();
		check_slice(buf, (size_t)n, h.reason, h.reason_len);
		check_slice(buf, (size_t)n, h.location, h.location_len);
		if (h.nfields > CGI_HEAD_FIELDS_MAX)
			abort();
		for (i = 0; i < h.nfields; i++) {
			check_slice(buf, (size_t)n, h.fields[i].name,
			    h.fields[i].name_len);
			check_slice(buf, (size_t)n, h.fields[i].value,
			    h.fields[i].value_len);
		}
		/* A shorter prefix cannot complete differently. */
		cut = (size_t)data[0] % ((size_t)n ? (size_t)n : 1);
		memset(&h2, 0, sizeof(h2));
		h2.nph = h.nph;
		m = cgi_head_parse(buf, cut, &h2);
		if (m >= 0 && m != n)
			abort();
	} else if (n == CGI_HEAD_BAD) {
		if (h.error == NULL)
			abort();
	} else if (n != CGI_HEAD_AGAIN)
		abort();
	free(buf);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <string.h>

#include "standalone.h"
#endif
