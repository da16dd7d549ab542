/*
 * The header block a CGI script prints before its body (RFC 3875 section
 * 6.2-6.3), or the status line and header of an NPH script (section 5).
 *
 * Stateless over the caller's buffer, in the manner of picohttpparser:
 * nothing is allocated and the caller calls again with the buffer grown
 * until the block is complete.  Lines end in LF or CRLF (section 6.3 says
 * NL, which scripts write either way).
 */
#include <string.h>
#include <strings.h>

#include "cgi.h"

/* RFC 9110 section 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr(extra, c) != NULL);
}

/* RFC 9110 section 5.5: VCHAR, obs-text, SP and HTAB. */
static int
valid_value(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/*
 * Fields that describe one connection (RFC 9110 section 7.6.1) belong to
 * the server's side of it; the gateway refuses them, so they are left
 * out.  Transfer-Encoding is not on the list: a script that frames its own
 * body cannot be re-framed and is refused by the caller.
 */
static int
is_hop_by_hop(const char *name, size_t len)
{
	static const char *const hop[] = { "Connection", "Keep-Alive",
		"Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
		"Upgrade", "Proxy-Connection" };
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (name_is(name, len, hop[i]))
			return 1;
	return 0;
}

/* "200 OK", "404", "HTTP/1.1 200 OK": three digits, optional phrase. */
static int
parse_status(const char *p, size_t n, struct cgi_head *h)
{
	size_t i;

	if (n < 3 || (n > 3 && p[3] != ' '))
		return -1;
	for (i = 0; i < 3; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	h->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	/* 1xx is interim (RFC 9110 section 15.2), not a final answer. */
	if (h->status < 200)
		return -1;
	if (n > 4) {
		h->reason = p + 4;
		h->reason_len = n - 4;
		if (!valid_value(h->reason, h->reason_len))
			return -1;
	}
	return 0;
}

static int
nph_status_line(const char *p, size_t n, struct cgi_head *h)
{
	/* HTTP-version SP status-code [SP reason] (RFC 9112 section 4) */
	if (n < 9 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' ||
	    p[5] > '9' || p[6] != '.' || p[7] < '0' || p[7] > '9' ||
	    p[8] != ' ')
		return -1;
	return parse_status(p + 9, n - 9, h);
}

static ssize_t
bad(struct cgi_head *h, const char *why)
{
	h->error = why;
	return CGI_HEAD_BAD;
}

ssize_t
cgi_head_parse(const char *buf, size_t len, struct cgi_head *h)
{
	const char *p = buf, *end = buf + len, *nl, *colon, *v, *ve;
	size_t n;
	int first = 1;

	h->status = 0;
	h->reason = NULL;
	h->reason_len = 0;
	h->location = NULL;
	h->location_len = 0;
	h->nfields = 0;
	h->dropped = 0;
	h->error = NULL;
	for (;;) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return CGI_HEAD_AGAIN;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0) {
			if (first)
				return bad(h, "no header before the empty "
				    "line");
			return (ssize_t)(nl + 1 - buf);
		}
		if (first && h->nph) {
			if (nph_status_line(p, n, h) == -1)
				return bad(h, "NPH output does not start "
				    "with an HTTP status line");
			first = 0;
			p = nl + 1;
			continue;
		}
		first = 0;
		if (p[0] == ' ' || p[0] == '\t')
			return bad(h, "folded header line (obs-fold)");
		if ((colon = memchr(p, ':', n)) == NULL || colon == p)
			return bad(h, "header line without a name and ':'");
		for (v = p; v < colon; v++)
			if (!is_tchar((unsigned char)*v))
				return bad(h, "header name is not a token");
		v = colon + 1;
		ve = p + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (!valid_value(v, (size_t)(ve - v)))
			return bad(h, "control character in a header value");
		n = (size_t)(colon - p);
		if (!h->nph && name_is(p, n, "Status")) {
			if (h->status != 0)
				return bad(h, "Status given twice");
			if (parse_status(v, (size_t)(ve - v), h) == -1)
				return bad(h, "Status is not 200-999 with an "
				    "optional phrase");
		} else if (!h->nph && name_is(p, n, "Location")) {
			if (h->location != NULL)
				return bad(h, "Location given twice");
			if (v == ve)
				return bad(h, "empty Location");
			h->location = v;
			h->location_len = (size_t)(ve - v);
		} else if (name_is(p, n, "Transfer-Encoding")) {
			return bad(h, "Transfer-Encoding from a script");
		} else if (is_hop_by_hop(p, n)) {
			h->dropped++;
		} else {
			if (h->nfields == CGI_HEAD_FIELDS_MAX)
				return bad(h, "too many header fields");
			h->fields[h->nfields].name = p;
			h->fields[h->nfields].name_len = n;
			h->fields[h->nfields].value = v;
			h->fields[h->nfields].value_len = (size_t)(ve - v);
			h->nfields++;
		}
		p = nl + 1;
	}
}
