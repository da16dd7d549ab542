/*
 * The pure parts of --static-map (static.c): request path, Range,
 * validators, Accept-Encoding.  No allocation, no I/O: fuzzed by
 * tests/fuzz/fuzz_static.c and tested by tests/check_static.c.  Section
 * numbers refer to RFC 9110.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "static.h"
static const char *const wday[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const month[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec"
};

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

ssize_t
static_path_decode(const char *s, size_t n, char *out, int *encslash)
{
	size_t i, o = 0;
	int hi, lo;

	*encslash = 0;
	for (i = 0; i < n && s[i] != '?'; i++) {
		if (s[i] == '\0')
			return -1;
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		hi = hexval((unsigned char)s[i + 1]);
		lo = hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		out[o] = (char)(hi << 4 | lo);
		if (out[o] == '/')
			*encslash = 1;
		o++;
		i += 2;
	}
	return (ssize_t)o;
}

int
static_path_check(const char *p, size_t n)
{
	size_t i = 0, start;

	if (n == 0 || p[n - 1] == '/' || memchr(p, '\\', n) != NULL ||
	    memchr(p, '\0', n) != NULL)
		return -1;
	while (i < n) {
		start = i;
		while (i < n && p[i] != '/')
			i++;
		if ((i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return -1;
		i++;
	}
	return 0;
}

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Digits at *p (at least one), below 2^62.  Returns 0 or -1. */
static int
number(const char **p, const char *end, off_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s == end || *s < '0' || *s > '9')
		return -1;
	while (s < end && *s >= '0' && *s <= '9') {
		if (v > ((uint64_t)1 << 62) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	*p = s;
	*out = (off_t)v;
	return 0;
}

enum static_range
static_range_parse(const char *v, size_t n, off_t size, off_t *first,
    off_t *last)
{
	const char *p = v, *end = v + n;
	off_t a, b;

	/* Section 14.1.1: ranges-specifier = range-unit "=" range-set. */
	if (n < 6 || strncasecmp(v, "bytes", 5) != 0)
		return STATIC_RANGE_NONE;
	p += 5;
	while (p < end && is_space(*p))
		p++;
	if (p == end || *p++ != '=')
		return STATIC_RANGE_NONE;
	while (p < end && is_space(*p))
		p++;
	if (p < end && *p == '-') {
		/* suffix-range: the last b bytes. */
		p++;
		if (number(&p, end, &b) == -1)
			return STATIC_RANGE_NONE;
		while (p < end && is_space(*p))
			p++;
		if (p != end)
			return STATIC_RANGE_NONE;
		if (b == 0 || size == 0)
			return STATIC_RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return STATIC_RANGE_OK;
	}
	if (number(&p, end, &a) == -1 || p == end || *p++ != '-')
		return STATIC_RANGE_NONE;
	b = -1;
	if (p < end && *p >= '0' && *p <= '9') {
		if (number(&p, end, &b) == -1 || b < a)
			return STATIC_RANGE_NONE;
	}
	while (p < end && is_space(*p))
		p++;
	if (p != end)
		return STATIC_RANGE_NONE;	/* several ranges, or junk */
	if (a >= size)
		return STATIC_RANGE_UNSATISFIABLE;
	*first = a;
	*last = b == -1 || b >= size ? size - 1 : b;
	return STATIC_RANGE_OK;
}

void
static_etag(char *out, size_t n, time_t mtime, off_t size,
    const char *coding)
{
	snprintf(out, n, "\"%llx-%llx%s%s\"", (unsigned long long)mtime,
	    (unsigned long long)size, coding ? "-" : "", coding ? coding : "");
}

int
static_etag_match(const char *list, size_t n, const char *etag)
{
	const char *p = list, *end = list + n, *s;
	size_t elen = strlen(etag);

	while (p < end) {
		while (p < end && (is_space(*p) || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p == '*')
			return 1;
		/* Weak comparison (section 8.8.3.2): W/ is ignored. */
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2;
		if (p == end || *p != '"')
			return 0;
		s = p++;
		while (p < end && *p != '"')
			p++;
		if (p == end)
			return 0;
		p++;
		if ((size_t)(p - s) == elen && memcmp(s, etag, elen) == 0)
			return 1;
	}
	return 0;
}

void
static_date_format(char out[32], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    wday[tm.tm_wday % 7], tm.tm_mday, month[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int
digits(const char *s, int n)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + s[i] - '0';
	}
	return v;
}

int
static_date_parse(const char *s, size_t n, time_t *t)
{
	struct tm tm;
	int i, mon = -1;

	/* "Sun, 06 Nov 1994 08:49:37 GMT": only IMF-fixdate; a recipient
	 * may ignore the obsolete forms as invalid (section 13.1.3). */
	while (n > 0 && is_space(s[n - 1]))
		n--;
	if (n != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
	    memcmp(s + 25, " GMT", 4) != 0)
		return -1;
	for (i = 0; i < 12; i++)
		if (memcmp(s + 8, month[i], 3) == 0)
			mon = i;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = digits(s + 5, 2);
	tm.tm_year = digits(s + 12, 4) - 1900;
	tm.tm_hour = digits(s + 17, 2);
	tm.tm_min = digits(s + 20, 2);
	tm.tm_sec = digits(s + 23, 2);
	if (mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_year < 0 ||
	    tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
	    tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
		return -1;
	tm.tm_mon = mon;
	*t = timegm(&tm);
	return 0;
}

/* q-value of one list member's parameters (section 12.4.2): q > 0? */
static int
q_positive(const char *p, const char *end)
{
	while (p < end) {
		while (p < end && (is_space(*p) || *p == ';'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') &&
		    p[1] == '=') {
			p += 2;
			if (p < end && *p == '1')
				return 1;
			/* "0", "0.", "0.000": zero; any non-zero digit not. */
			while (p < end && (*p == '0' || *p == '.'))
				p++;
			return p < end && *p >= '1' && *p <= '9';
		}
		while (p < end && *p != ';')
			p++;
	}
	return 1;
}

int
static_accepts(const char *v, size_t n, const char *coding)
{
	const char *p = v, *end = v + n, *m, *me, *t;
	size_t clen = strlen(coding);
	int star = 0;

	while (p < end) {
		while (p < end && (is_space(*p) || *p == ','))
			p++;
		m = p;
		while (p < end && *p != ',')
			p++;
		me = p;
		for (t = m; t < me && *t != ';' && !is_space(*t); t++)
			;
		if ((size_t)(t - m) == clen && strncasecmp(m, coding,
		    clen) == 0)
			return q_positive(t, me);
		if (t - m == 1 && *m == '*')
			star = q_positive(t, me);
	}
	return star;
}
