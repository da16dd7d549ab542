/*
 * libFuzzer target for bridge/gateway/forwarded.c: the --forwarded-allow-ips list
 * parser and what X-Forwarded-* / Forwarded (RFC 7239) headers make of a
 * request.
 *
 * Input: lines; the first is a trust list, the next ones the values of
 * Forwarded, X-Forwarded-For, -Proto, -Host, -Port, -Ssl (a missing line:
 * no such header).  Each value is a heap block of exactly its length and
 * not NUL-terminated, as request variables are slices, so AddressSanitizer
 * sees a read past its end.
 *
 * Beyond "no crash": a bad trust list has a reason; the variables set are
 * at most FORWARDED_SET_MAX, NUL-terminated inside the result; an address
 * set is one inet_pton() reads back, ports are 1..65535, the scheme is
 * http or https; stripping leaves no proxy header and keeps the others.
 * FUZZ_SOURCES: bridge/gateway/forwarded.c
 * FUZZ_CORPUS: forwarded
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forwarded.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "HTTP_FORWARDED",
	"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
	"HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
	"HTTP_X_FORWARDED_SSL" };
#define NNAMES (sizeof(names) / sizeof(names[0]))

static void
check_port(const char *s)
{
	long v;
	char *end;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		abort();
}

static void
check_result(const struct forwarded *fw)
{
	const char *base = (const char *)fw, *top = base + sizeof(*fw);
	unsigned char bin[16];
	size_t i;

	if (fw->nset > FORWARDED_SET_MAX)
		abort();
	for (i = 0; i < fw->nset; i++) {
		const struct bg_var *v = &fw->set[i];

		if (strlen(v->name) != v->name_len)
			abort();
		/* Values are static strings or live inside fw. */
		if (v->value >= base && v->value < top &&
		    (v->value + v->value_len >= top ||
		    v->value[v->value_len] != '\0'))
			abort();
		if (strlen(v->value) != v->value_len)
			abort();
		if (strcmp(v->name, "REMOTE_ADDR") == 0 &&
		    inet_pton(AF_INET, v->value, bin) != 1 &&
		    inet_pton(AF_INET6, v->value, bin) != 1)
			abort();
		if (strcmp(v->name, "SERVER_PORT") == 0 ||
		    strcmp(v->name, "REMOTE_PORT") == 0)
			check_port(v->value);
		if (strcmp(v->name, "REQUEST_SCHEME") == 0 &&
		    strcmp(v->value, "http") != 0 &&
		    strcmp(v->value, "https") != 0)
			abort();
		if (strcmp(v->name, "SERVER_NAME") == 0 &&
		    (v->value_len == 0 || strpbrk(v->value, "/@ ,\r\n")))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct forwarded_trust t;
	struct forwarded fw;
	struct bg_var vars[NNAMES + 2];
	char *list, *vals[NNAMES] = { NULL }, err[200];
	const uint8_t *p = data, *end = data + size, *nl;
	size_t nvars = 0, i, n, kept;

	if (size > 16384)
		return 0;
	nl = memchr(p, '\n', size);
	n = nl ? (size_t)(nl - p) : size;
	if ((list = malloc(n + 1)) == NULL)
		return 0;
	memcpy(list, p, n);
	list[n] = '\0';
	err[0] = '\0';
	if (memchr(list, '\0', n) != NULL ||
	    forwarded_trust_parse(&t, list, err, sizeof(err)) == -1) {
		if (memchr(list, '\0', n) == NULL && err[0] == '\0')
			abort();
		forwarded_trust_parse(&t, "*", err, sizeof(err));
	}
	free(list);
	vars[nvars++] = (struct bg_var){ "REQUEST_SCHEME", 14, "http", 4 };
	vars[nvars++] = (struct bg_var){ "HTTP_ACCEPT", 11, "*/*", 3 };
	p = nl ? nl + 1 : end;
	for (i = 0; i < NNAMES && p < end; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if ((vals[i] = malloc(n ? n : 1)) == NULL)
			goto out;
		memcpy(vals[i], p, n);
		vars[nvars++] = (struct bg_var){ names[i], strlen(names[i]),
		    vals[i], n };
		p = nl ? nl + 1 : end;
	}
	if (forwarded_resolve(&t, 0, vars, nvars, &fw) != (nvars > 2 ?
	    FORWARDED_UNTRUSTED : FORWARDED_NONE))
		abort();
	if (forwarded_resolve(&t, 1, vars, nvars, &fw) == FORWARDED_USED)
		check_result(&fw);
	kept = forwarded_strip(vars, nvars);
	if (kept != 2 || strcmp(vars[1].name, "HTTP_ACCEPT") != 0)
		abort();
out:
	for (i = 0; i < NNAMES; i++)
		free(vals[i]);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <string.h>

#include "standalone.h"
#endif
