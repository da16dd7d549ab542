/*
 * Strict HTTP/1.1 request parser and chunked decoder.  Section numbers
 * refer to RFC 9112 (HTTP/1.1) unless marked as RFC 9110 (HTTP
 * Semantics) or RFC 3986 (URI).
 *
 * Policy: this server is an origin, not a proxy, and it sits behind
 * proxies that may parse differently.  Where the RFCs let a recipient
 * either accept or reject a shape that smuggling is made of, we reject:
 *
 *  400  bare LF as a line terminator (2.2 allows accepting it; we do not),
 *       bare CR anywhere (2.2), CTL bytes other than HTAB in field values
 *       (RFC 9110 5.5), obs-fold and whitespace before the first field
 *       line (5.2, 2.2), whitespace between field name and colon (5.1),
 *       an empty or non-token field name or method, a request line not
 *       made of exactly three parts separated by single SPs (3), a target
 *       outside the RFC 3986 character set, with a bad %-escape or a
 *       fragment, userinfo or an empty host in an absolute-form target
 *       (RFC 9110 4.2.1, 4.2.4), a scheme other than http/https, "*"
 *       with a method other than OPTIONS (3.2.4), authority-form with a
 *       method other than CONNECT (3.2.3), a malformed version (2.3),
 *       Content-Length that is not 1*DIGIT or exceeds INT64_MAX, or that
 *       appears more than once -- even with equal values, which RFC 9110
 *       8.6 would allow us to fold --, Content-Length with
 *       Transfer-Encoding (6.3 item 3 allows rejecting), Transfer-Encoding
 *       whose final coding is not chunked or that applies chunked twice
 *       (6.3 item 4, 7), Transfer-Encoding in an HTTP/1.0 request (6.1
 *       says its framing is faulty), HTTP/1.1 without Host, more than one
 *       Host, or a Host value that is not uri-host [":" port] (3.2), a
 *       Connection element that is not a token (RFC 9110 7.6.1), more than
 *       HTTP_LEADING_CRLF_MAX empty lines before the request line (2.2).
 *  413  Content-Length above max_body (RFC 9110 15.5.14).
 *  414  target longer than max_target (RFC 9110 15.5.15).
 *  417  an expectation other than 100-continue (RFC 9110 10.1.1).
 *  431  header section above max_header_bytes or more than max_headers
 *       field lines (RFC 6585 5).
 *  501  a transfer coding other than chunked (6.1); CONNECT, which an
 *       origin gateway does not implement (RFC 9110 9.3.6); a method
 *       longer than HTTP_METHOD_MAX (3).
 *  505  a major version other than 1 (RFC 9110 15.6.6).  A minor version
 *       above 1 (HTTP/1.2 ... HTTP/1.9) is treated as HTTP/1.1, as RFC
 *       9110 2.5 asks of a recipient.
 */
#include <string.h>

#include "http_parse.h"

#define HTTP_SP 0x20
#define HTTP_HTAB 0x09
#define HTTP_CR 0x0d
#define HTTP_LF 0x0a

/* RFC 9110 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return 1;
	}
	return 0;
}

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Value of a HEXDIG, or -1. */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3986 2.3 unreserved and 2.2 sub-delims. */
static int
is_unreserved_or_sub(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return 1;
	switch (c) {
	case '-': case '.': case '_': case '~':
	case '!': case '$': case '&': case '\'': case '(': case ')':
	case '*': case '+': case ',': case ';': case '=':
		return 1;
	}
	return 0;
}

/*
 * A byte that may appear in a request-target (RFC 3986 3.3, 3.4 and 3.2
 * for the authority of absolute-form); '%' is checked for two HEXDIG by
 * the caller.  '#' is excluded: a fragment is never sent (RFC 9110 4.2.5).
 */
static int
is_target_char(unsigned char c)
{
	if (is_unreserved_or_sub(c))
		return 1;
	switch (c) {
	case ':': case '@': case '/': case '?': case '%': case '[': case ']':
		return 1;
	}
	return 0;
}

/* RFC 9110 5.5: field-vchar, SP, HTAB; obs-text is allowed. */
static int
is_field_char(unsigned char c)
{
	return c == HTTP_SP || c == HTTP_HTAB || (c > 0x20 && c != 0x7f);
}

static int
is_ows(unsigned char c)
{
	return c == HTTP_SP || c == HTTP_HTAB;
}

/* Case-insensitive ASCII compare of s[0..n) with lower-case lit. */
static int
ci_eq(const char *s, size_t n, const char *lit)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0')
			return 0;
		c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)lit[i])
			return 0;
	}
	return lit[n] == '\0';
}

/*
 * Next element of a comma-separated list (RFC 9110 5.6.1) with OWS
 * trimmed.  Empty elements are skipped, as 5.6.1 asks of a recipient.
 * Returns 0 when there are no more.
 */
static int
list_next(const char **pp, const char *end, const char **e, size_t *elen)
{
	const char *p = *pp, *s, *t;

	while (p < end) {
		s = p;
		while (p < end && *p != ',')
			p++;
		t = p;
		if (p < end)
			p++;
		while (s < t && is_ows((unsigned char)*s))
			s++;
		while (t > s && is_ows((unsigned char)t[-1]))
			t--;
		if (s < t) {
			*e = s;
			*elen = (size_t)(t - s);
			*pp = p;
			return 1;
		}
	}
	*pp = p;
	return 0;
}

/* Length of the token at the start of s[0..n). */
static size_t
token_len(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && is_tchar((unsigned char)s[i]); i++)
		;
	return i;
}

/*
 * RFC 3986 3.2: host [":" port] without userinfo, which RFC 9110 4.2.4
 * tells us to treat as an error.  The host is an IP-literal in brackets or
 * a non-empty reg-name (RFC 9110 4.2.1: an empty host is invalid);
 * need_port makes the port mandatory (authority-form, 3.2.3).
 */
static int
authority_ok(const char *a, size_t n, int need_port)
{
	const unsigned char *s = (const unsigned char *)a;
	size_t i = 0, ndig;
	unsigned long port;

	if (n > 0 && s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++)
			if (!is_unreserved_or_sub(s[i]) && s[i] != ':')
				return 0;
		if (i == n || i == 1)
			return 0;
		i++;
	} else {
		while (i < n && s[i] != ':') {
			if (s[i] == '%') {
				if (n - i < 3 || hexval(s[i + 1]) < 0 ||
				    hexval(s[i + 2]) < 0)
					return 0;
				i += 3;
				continue;
			}
			if (!is_unreserved_or_sub(s[i]))
				return 0;
			i++;
		}
		if (i == 0)
			return 0;
	}
	if (i == n)
		return !need_port;
	if (s[i] != ':')
		return 0;
	i++;
	for (ndig = 0, port = 0; i < n; i++, ndig++) {
		if (!is_digit(s[i]) || ndig == 5)
			return 0;
		port = port * 10 + (s[i] - '0');
	}
	if (port > 65535)
		return 0;
	return ndig > 0 || !need_port;
}

/*
 * Classify a complete request-target (3.2) now that the method is known.
 * Its bytes were checked one by one while it was read.  Returns 0 or
 * -400.
 */
static int
check_target(struct http_request *req)
{
	const char *t = req->target, *end = t + req->target_len, *a, *s;
	int connect;

	connect = req->method_len == 7 &&
	    memcmp(req->method, "CONNECT", 7) == 0;
	/* 3.2.4: asterisk-form only with OPTIONS. */
	if (t[0] == '*') {
		if (req->target_len != 1 || req->method_len != 7 ||
		    memcmp(req->method, "OPTIONS", 7) != 0)
			return -400;
		req->target_form = HTTP_TARGET_ASTERISK;
		req->path = t;
		req->path_len = 1;
		return 0;
	}
	/* 3.2.3: CONNECT takes authority-form and nothing else. */
	if (connect)
		return authority_ok(t, req->target_len, 1) ? 0 : -400;
	if (t[0] == '/') {
		/* 3.2.1; brackets belong only to an authority. */
		for (s = t; s < end; s++)
			if (*s == '[' || *s == ']')
				return -400;
		req->target_form = HTTP_TARGET_ORIGIN;
		req->path = t;
		req->path_len = req->target_len;
		return 0;
	}
	/*
	 * 3.2.2 absolute-form.  We serve http and https URIs only (RFC 9110
	 * 4.2); anything else, including an authority-form without
	 * CONNECT, is an invalid request-line.
	 */
	for (s = t; s < end && *s != ':'; s++)
		;
	if (!((s - t == 4 && ci_eq(t, 4, "http")) ||
	    (s - t == 5 && ci_eq(t, 5, "https"))))
		return -400;
	if (end - s < 3 || s[1] != '/' || s[2] != '/')
		return -400;
	a = s + 3;
	for (s = a; s < end && *s != '/' && *s != '?'; s++)
		;
	if (!authority_ok(a, (size_t)(s - a), 0))
		return -400;
	req->host = a;
	req->host_len = (size_t)(s - a);
	req->target_form = HTTP_TARGET_ABSOLUTE;
	req->path = s;
	req->path_len = (size_t)(end - s);
	for (; s < end; s++)
		if (*s == '[' || *s == ']')
			return -400;
	return 0;
}

/* State gathered from the fields while checking them. */
struct fields {
	int ncl;
	int nhost;
	int nte;
	int te_nchunked;    /* times chunked was listed */
	int te_last_chunked; /* the last coding listed was chunked */
	int te_unknown;     /* a coding other than chunked was listed */
	int close;
	int expect_other;
	uint64_t cl;
};

/* RFC 9110 8.6: Content-Length = 1*DIGIT. */
static int
parse_content_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;
	unsigned d;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)v[i]))
			return -1;
		d = (unsigned)(v[i] - '0');
		/* RFC 9110 8.6: guard against conversion overflow. */
		if (x > ((uint64_t)INT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

/* 6.1: Transfer-Encoding = #transfer-coding; see struct fields. */
static int
parse_transfer_encoding(const char *v, size_t n, struct fields *f)
{
	const char *p = v, *end = v + n, *e;
	size_t elen, tlen;
	int any = 0;

	while (list_next(&p, end, &e, &elen)) {
		any = 1;
		tlen = token_len(e, elen);
		if (tlen == 0)
			return -400;
		if (ci_eq(e, tlen, "chunked")) {
			/* chunked has no parameters (7). */
			if (tlen != elen)
				return -400;
			f->te_nchunked++;
			f->te_last_chunked = 1;
		} else {
			f->te_unknown = 1;
			f->te_last_chunked = 0;
		}
	}
	/* An empty value is not a transfer coding at all. */
	return any ? 0 : -400;
}

/* RFC 9110 7.6.1: Connection = #connection-option (a token). */
static int
parse_connection(const char *v, size_t n, struct fields *f,
    struct http_request *req)
{
	const char *p = v, *end = v + n, *e;
	size_t elen;

	while (list_next(&p, end, &e, &elen)) {
		if (token_len(e, elen) != elen)
			return -400;
		if (ci_eq(e, elen, "close"))
			f->close = 1;
		else if (ci_eq(e, elen, "keep-alive"))
			req->keep_alive = 1;
	}
	return 0;
}

/* RFC 9110 10.1.1: only 100-continue is defined. */
static void
parse_expect(const char *v, size_t n, struct fields *f,
    struct http_request *req)
{
	const char *p = v, *end = v + n, *e;
	size_t elen;

	while (list_next(&p, end, &e, &elen)) {
		if (ci_eq(e, elen, "100-continue")) {
			/* RFC 9110 10.1.1: ignored in an HTTP/1.0 request. */
			if (req->minor_version >= 1)
				req->expect_continue = 1;
		} else
			f->expect_other = 1;
	}
}

/*
 * The checks that need the whole header section.  All the 400s come
 * first, then 501, 417 and 413, so that the status does not depend on the
 * order of the fields beyond which malformed field comes first.
 */
static int
check_fields(struct http_request *req, const struct http_limits *lim)
{
	struct fields f;
	const struct http_header *h;
	const char *host = NULL;
	size_t i, host_len = 0;
	int r;

	memset(&f, 0, sizeof(f));
	for (i = 0; i < req->nheaders; i++) {
		h = &req->headers[i];
		switch (h->name_len) {
		case 4:
			if (!ci_eq(h->name, 4, "host"))
				break;
			/* 3.2: exactly one Host, with a valid value. */
			if (++f.nhost > 1)
				return -400;
			if (h->value_len > 0 &&
			    !authority_ok(h->value, h->value_len, 0))
				return -400;
			host = h->value;
			host_len = h->value_len;
			break;
		case 6:
			if (ci_eq(h->name, 6, "expect"))
				parse_expect(h->value, h->value_len, &f, req);
			break;
		case 10:
			if (ci_eq(h->name, 10, "connection") &&
			    (r = parse_connection(h->value, h->value_len, &f,
			    req)) < 0)
				return r;
			break;
		case 14:
			if (!ci_eq(h->name, 14, "content-length"))
				break;
			/*
			 * 6.3 item 5: an invalid Content-Length is
			 * unrecoverable.  We also refuse a second one even
			 * when equal (RFC 9110 8.6 would allow folding).
			 */
			if (++f.ncl > 1)
				return -400;
			if (parse_content_length(h->value, h->value_len,
			    &f.cl) < 0)
				return -400;
			break;
		case 17:
			if (!ci_eq(h->name, 17, "transfer-encoding"))
				break;
			/* 6.1: HTTP/1.0 framing with TE is faulty. */
			if (req->minor_version == 0)
				return -400;
			f.nte++;
			if ((r = parse_transfer_encoding(h->value,
			    h->value_len, &f)) < 0)
				return r;
			break;
		}
	}
	if (f.nte > 0) {
		/* 6.3 item 4 and 7: chunked once, and last. */
		if (f.te_nchunked > 1 ||
		    (f.te_nchunked == 1 && !f.te_last_chunked))
			return -400;
		/* 6.3 item 3: the smuggling shape; we reject it. */
		if (f.ncl > 0)
			return -400;
	}
	if (req->minor_version >= 1 && f.nhost == 0)
		return -400;
	/* 6.1: a transfer coding we do not understand. */
	if (f.te_unknown)
		return -501;
	if (f.expect_other)
		return -417;
	if (f.ncl > 0) {
		if (f.cl > lim->max_body)
			return -413;
		req->content_length = (int64_t)f.cl;
	}
	req->chunked = f.nte > 0;
	if (req->target_form != HTTP_TARGET_ABSOLUTE) {
		req->host = host;
		req->host_len = host_len;
	}
	/* 9.3: HTTP/1.1 persists unless "close"; 1.0 only on keep-alive. */
	req->conn_close = f.close ||
	    (req->minor_version == 0 && !req->keep_alive);
	return 0;
}

int
http_parse_request(const char *buf, size_t len, struct http_request *req,
    const struct http_limits *lim)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	const unsigned char *s, *hend, *name, *vend;
	struct http_header *h;
	size_t i, n, max_target, max_hb, nempty = 0;
	int pct, major, r;

/* The scan stops, valid so far, at the end of the input. */
#define NEED() do {							\
	if (p == end)							\
		return HTTP_PARSE_AGAIN;				\
} while (0)
/* Same within the header section, which may not pass hend. */
#define NEED_H() do {							\
	if (p == hend)							\
		return hend == end ? HTTP_PARSE_AGAIN : -431;		\
} while (0)

	req->method = req->target = req->host = req->path = NULL;
	req->method_len = req->target_len = req->host_len = 0;
	req->path_len = 0;
	req->minor_version = 0;
	req->nheaders = 0;
	req->content_length = -1;
	req->chunked = req->conn_close = req->keep_alive = 0;
	req->expect_continue = 0;
	req->target_form = HTTP_TARGET_ORIGIN;
	max_target = lim->max_target < HTTP_TARGET_MAX ?
	    lim->max_target : HTTP_TARGET_MAX;
	max_hb = lim->max_header_bytes < HTTP_HEADER_BYTES_MAX ?
	    lim->max_header_bytes : HTTP_HEADER_BYTES_MAX;

	/* 2.2: ignore a few empty lines before the request line. */
	for (;;) {
		NEED();
		if (*p != HTTP_CR)
			break;
		if (++nempty > HTTP_LEADING_CRLF_MAX)
			return -400;
		p++;
		NEED();
		if (*p != HTTP_LF)
			return -400;
		p++;
	}

	/* 3: request-line = method SP request-target SP HTTP-version. */
	s = p;
	for (;;) {
		NEED();
		if (*p == HTTP_SP)
			break;
		if (!is_tchar(*p))
			return -400;
		/* 3: a method longer than any we know is 501. */
		if ((size_t)(p - s) == HTTP_METHOD_MAX)
			return -501;
		p++;
	}
	if (p == s)
		return -400;
	req->method = (const char *)s;
	req->method_len = (size_t)(p - s);
	p++;

	/* 3.2: one SP, then the target up to the next SP. */
	s = p;
	pct = 0;
	for (;;) {
		NEED();
		if (*p == HTTP_SP)
			break;
		n = (size_t)(p - s);
		if (pct > 0) {
			/* RFC 3986 2.1: "%" HEXDIG HEXDIG. */
			if (hexval(*p) < 0)
				return -400;
			pct--;
		} else if (*p == '%')
			pct = 2;
		else if (!is_target_char(*p))
			return -400;
		/*
		 * The forms are told apart by their first byte: '/'
		 * origin, '*' asterisk, a letter absolute-form, and a
		 * letter, digit or '[' authority-form.
		 */
		if (n == 0 && *p != '/' && *p != '*' && *p != '[' &&
		    !is_alpha(*p) && !is_digit(*p))
			return -400;
		if (n == 1 && *s == '*')
			return -400;
		if (n == max_target)
			return -414;
		p++;
	}
	if (p == s || pct > 0)
		return -400;
	req->target = (const char *)s;
	req->target_len = (size_t)(p - s);
	p++;

	/* 2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive. */
	for (i = 0; i < 5; i++) {
		NEED();
		if (*p++ != (unsigned char)"HTTP/"[i])
			return -400;
	}
	NEED();
	if (!is_digit(*p))
		return -400;
	major = *p++ - '0';
	NEED();
	if (*p++ != '.')
		return -400;
	NEED();
	if (!is_digit(*p))
		return -400;
	req->minor_version = *p++ != '0';
	NEED();
	if (*p++ != HTTP_CR)
		return -400;
	NEED();
	if (*p++ != HTTP_LF)
		return -400;
	if (major != 1)
		return -505;
	if ((r = check_target(req)) < 0)
		return r;
	if (req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0)
		return -501;

	/* 5: field lines up to an empty line, within max_hb bytes. */
	hend = (size_t)(end - p) > max_hb ? p + max_hb : end;
	for (;;) {
		NEED_H();
		if (*p == HTTP_CR) {
			p++;
			NEED_H();
			if (*p != HTTP_LF)
				return -400;
			p++;
			break;
		}
		/*
		 * 5.2 obs-fold, and 2.2 whitespace before the first field
		 * line: both rejected.
		 */
		if (is_ows(*p))
			return -400;
		if (req->nheaders == lim->max_headers)
			return -431;
		/* 5.1: field-name ":" with no whitespace before the colon. */
		name = p;
		for (;;) {
			NEED_H();
			if (*p == ':')
				break;
			if (!is_tchar(*p))
				return -400;
			p++;
		}
		if (p == name)
			return -400;
		h = &req->headers[req->nheaders];
		h->name = (const char *)name;
		h->name_len = (size_t)(p - name);
		p++;
		/* 5.1: OWS field-value OWS; the OWS is not part of it. */
		for (;;) {
			NEED_H();
			if (!is_ows(*p))
				break;
			p++;
		}
		h->value = (const char *)p;
		vend = p;
		for (;;) {
			NEED_H();
			if (*p == HTTP_CR)
				break;
			/* RFC 9110 5.5: no CTL but HTAB; 2.2: no bare LF. */
			if (!is_field_char(*p))
				return -400;
			if (!is_ows(*p))
				vend = p + 1;
			p++;
		}
		h->value_len = (size_t)(vend - (const unsigned char *)h->value);
		p++;
		NEED_H();
		/* 2.2: a CR not followed by LF is bare. */
		if (*p != HTTP_LF)
			return -400;
		p++;
		req->nheaders++;
	}
#undef NEED
#undef NEED_H

	if ((r = check_fields(req, lim)) < 0)
		return r;
	return (int)(p - (const unsigned char *)buf);
}

/* Decoder states, in wire order. */
enum {
	CH_SIZE_FIRST,	/* first HEXDIG of chunk-size */
	CH_SIZE,	/* more HEXDIG, or what follows them */
	CH_EXT_BWS,	/* BWS before ";" */
	CH_EXT_SEMI,	/* after ";": BWS, then chunk-ext-name */
	CH_EXT_NAME,
	CH_EXT_NAME_BWS, /* BWS after a name: "=" or ";" */
	CH_EXT_EQ,	/* after "=": BWS, then chunk-ext-val */
	CH_EXT_TOKEN,
	CH_EXT_QUOTED,
	CH_EXT_QPAIR,	/* after "\" in a quoted-string */
	CH_EXT_AFTER_Q,	/* after the closing DQUOTE */
	CH_SIZE_LF,	/* CR of the chunk-size line seen */
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TR_START,	/* a trailer field line, or the final CRLF */
	CH_TR_NAME,
	CH_TR_VALUE,
	CH_TR_LF,
	CH_END_LF,
	CH_DONE,
	CH_ERROR
};

void
http_chunked_init(struct http_chunked *d)
{
	memset(d, 0, sizeof(*d));
	d->state = CH_SIZE_FIRST;
}

static ssize_t
chunked_fail(struct http_chunked *d, int status, size_t *len)
{
	d->state = CH_ERROR;
	d->error = -status;
	*len = 0;
	return -status;
}

/*
 * What may follow a chunk-size or a chunk-ext: BWS ";" another extension,
 * or the CRLF.  Returns the next state, or -1.
 */
static int
chunk_ext_next(unsigned char c)
{
	if (is_ows(c))
		return CH_EXT_BWS;
	if (c == ';')
		return CH_EXT_SEMI;
	if (c == HTTP_CR)
		return CH_SIZE_LF;
	return -1;
}

ssize_t
http_chunked_decode(struct http_chunked *d, char *buf, size_t *len,
    uint64_t max_body)
{
	size_t in = 0, out = 0, n, left;
	unsigned char c;
	int v, st;

	if (d->state == CH_ERROR) {
		*len = 0;
		return d->error;
	}
	if (d->state == CH_DONE) {
		n = *len;
		*len = 0;
		return (ssize_t)n;
	}
	while (in < *len) {
		if (d->state == CH_DATA) {
			n = *len - in;
			if (n > d->size)
				n = (size_t)d->size;
			memmove(buf + out, buf + in, n);
			in += n;
			out += n;
			d->size -= n;
			d->total += n;
			if (d->size == 0)
				d->state = CH_DATA_CR;
			continue;
		}
		c = (unsigned char)buf[in++];
		if (d->state <= CH_SIZE_LF &&
		    ++d->line > HTTP_CHUNK_LINE_MAX)
			return chunked_fail(d, 400, len);
		if (d->state >= CH_TR_START && d->state <= CH_END_LF &&
		    ++d->trailer > HTTP_CHUNK_TRAILER_MAX)
			return chunked_fail(d, 431, len);
		switch (d->state) {
		case CH_SIZE_FIRST:
		case CH_SIZE:
			/* 7.1: chunk-size = 1*HEXDIG. */
			if ((v = hexval(c)) >= 0) {
				/* More than 16 significant digits. */
				if (d->size >> 60)
					return chunked_fail(d, 400, len);
				d->size = d->size << 4 | (uint64_t)v;
				/* 7.1: guard the body limit as digits come. */
				if (d->size > max_body ||
				    d->total > max_body - d->size)
					return chunked_fail(d, 413, len);
				d->state = CH_SIZE;
				break;
			}
			if (d->state == CH_SIZE_FIRST ||
			    (st = chunk_ext_next(c)) < 0)
				return chunked_fail(d, 400, len);
			d->state = st;
			break;
		case CH_EXT_BWS:
			/* 7.1.1: BWS ";" -- BWS alone before CRLF is not. */
			if (c == ';')
				d->state = CH_EXT_SEMI;
			else if (!is_ows(c))
				return chunked_fail(d, 400, len);
			break;
		case CH_EXT_SEMI:
			if (is_tchar(c))
				d->state = CH_EXT_NAME;
			else if (!is_ows(c))
				return chunked_fail(d, 400, len);
			break;
		case CH_EXT_NAME:
			if (is_tchar(c))
				break;
			if (c == '=')
				d->state = CH_EXT_EQ;
			else if (is_ows(c))
				d->state = CH_EXT_NAME_BWS;
			else if ((st = chunk_ext_next(c)) >= 0)
				d->state = st;
			else
				return chunked_fail(d, 400, len);
			break;
		case CH_EXT_NAME_BWS:
			if (c == '=')
				d->state = CH_EXT_EQ;
			else if (c == ';')
				d->state = CH_EXT_SEMI;
			else if (!is_ows(c))
				return chunked_fail(d, 400, len);
			break;
		case CH_EXT_EQ:
			/* 7.1.1: chunk-ext-val = token / quoted-string. */
			if (c == '"')
				d->state = CH_EXT_QUOTED;
			else if (is_tchar(c))
				d->state = CH_EXT_TOKEN;
			else if (!is_ows(c))
				return chunked_fail(d, 400, len);
			break;
		case CH_EXT_TOKEN:
			if (is_tchar(c))
				break;
			/* FALLTHROUGH */
		case CH_EXT_AFTER_Q:
			if ((st = chunk_ext_next(c)) < 0)
				return chunked_fail(d, 400, len);
			d->state = st;
			break;
		case CH_EXT_QUOTED:
			/* RFC 9110 5.6.4: qdtext / quoted-pair. */
			if (c == '"')
				d->state = CH_EXT_AFTER_Q;
			else if (c == '\\')
				d->state = CH_EXT_QPAIR;
			else if (!is_field_char(c))
				return chunked_fail(d, 400, len);
			break;
		case CH_EXT_QPAIR:
			if (!is_field_char(c))
				return chunked_fail(d, 400, len);
			d->state = CH_EXT_QUOTED;
			break;
		case CH_SIZE_LF:
			/* 2.2: no bare CR. */
			if (c != HTTP_LF)
				return chunked_fail(d, 400, len);
			d->state = d->size == 0 ? CH_TR_START : CH_DATA;
			break;
		case CH_DATA_CR:
			/* 7.1: chunk-data CRLF. */
			if (c != HTTP_CR)
				return chunked_fail(d, 400, len);
			d->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (c != HTTP_LF)
				return chunked_fail(d, 400, len);
			d->state = CH_SIZE_FIRST;
			d->line = 0;
			break;
		case CH_TR_START:
			/* 7.1.2: field lines as in the header section. */
			if (c == HTTP_CR)
				d->state = CH_END_LF;
			else if (is_tchar(c))
				d->state = CH_TR_NAME;
			else
				return chunked_fail(d, 400, len);
			break;
		case CH_TR_NAME:
			if (c == ':')
				d->state = CH_TR_VALUE;
			else if (!is_tchar(c))
				return chunked_fail(d, 400, len);
			break;
		case CH_TR_VALUE:
			if (c == HTTP_CR)
				d->state = CH_TR_LF;
			else if (!is_field_char(c))
				return chunked_fail(d, 400, len);
			break;
		case CH_TR_LF:
			if (c != HTTP_LF)
				return chunked_fail(d, 400, len);
			d->state = CH_TR_START;
			break;
		case CH_END_LF:
			if (c != HTTP_LF)
				return chunked_fail(d, 400, len);
			d->state = CH_DONE;
			/* The next request's bytes follow the body. */
			left = *len - in;
			memmove(buf + out, buf + in, left);
			*len = out;
			return (ssize_t)left;
		default:
			return chunked_fail(d, 400, len);
		}
	}
	*len = out;
	return HTTP_PARSE_AGAIN;
}
