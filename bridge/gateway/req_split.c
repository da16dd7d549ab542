/*
 * Where a FastCGI request's application is mounted when the web server
 * does not say.
 *
 * RFC 3875 section 4.1.13 and PEP 3333 split the request path into
 * SCRIPT_NAME (where the application is mounted) and PATH_INFO (the
 * path inside it).  A web server that hands every path to one
 * application has no script to split at: with Debian's stock
 * fastcgi_params nginx sends SCRIPT_NAME = $fastcgi_script_name, the
 * whole path, and an empty PATH_INFO; Apache's mod_proxy_fcgi
 * ("ProxyPass / fcgi://...") and HAProxy's fcgi-app do the same.  A
 * WSGI framework then sees every request as the root of an application
 * mounted at the request's own path: Flask answers "GET /" with a
 * redirect to "/", forever.
 *
 * Such a split carries no information, so bridge makes the one --mount
 * makes over HTTP: SCRIPT_NAME is the mount ("" by default), PATH_INFO
 * the rest.  A split that does say something (a non-empty PATH_INFO,
 * or a SCRIPT_NAME that is not the request's path, as after a rewrite
 * to a front controller) is the web server's to make and is kept.
 */
#include <string.h>

#include "req.h"
#include "req_split.h"

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

/*
 * The path of REQUEST_URI (origin or absolute form, RFC 9112 section
 * 3.2), percent-decoded into out (room for len bytes).  Returns its
 * length, or -1 when it has no path or a broken escape.
 */
static ssize_t
uri_path(const char *s, size_t len, char *out)
{
	const char *end = s + len, *p;
	size_t o = 0;
	int hi, lo;

	if (len > 0 && s[0] != '/') {
		if ((p = memmem(s, len, "://", 3)) == NULL ||
		    (s = memchr(p + 3, '/', (size_t)(end - p - 3))) == NULL)
			return -1;
	}
	for (; s < end && *s != '?' && *s != '#'; s++) {
		if (*s != '%') {
			out[o++] = *s;
			continue;
		}
		if (end - s < 3 || (hi = hexval((unsigned char)s[1])) < 0 ||
		    (lo = hexval((unsigned char)s[2])) < 0)
			return -1;
		out[o++] = (char)(hi << 4 | lo);
		s += 2;
	}
	return (ssize_t)o;
}

/*
 * The path as nginx and Apache hand it on: "//" merged and "." and
 * ".." segments removed (RFC 3986 section 5.2.4), in place.  Returns
 * the new length.
 */
static size_t
normalize(char *p, size_t n)
{
	size_t i = 0, o = 0, seg;

	while (i < n) {
		/* p[i] is '/': a segment runs to the next '/' or the end */
		while (i + 1 < n && p[i + 1] == '/')
			i++;
		seg = 1;
		while (i + seg < n && p[i + seg] != '/')
			seg++;
		if (seg == 2 && p[i + 1] == '.') {
			if (i + seg == n)
				p[o++] = '/';
		} else if (seg == 3 && p[i + 1] == '.' && p[i + 2] == '.') {
			while (o > 0 && p[--o] != '/')
				;
			if (i + seg == n)
				p[o++] = '/';
		} else {
			memmove(p + o, p + i, seg);
			o += seg;
		}
		i += seg;
	}
	return o;
}

/* Is SCRIPT_NAME the request's whole path, as the web server saw it? */
static int
whole_path(struct req *r, const struct bg_var *sn, const struct bg_var *uri)
{
	char *path;
	ssize_t n;

	if ((path = pool_alloc(r->pool, uri->value_len + 1)) == NULL ||
	    (n = uri_path(uri->value, uri->value_len, path)) <= 0 ||
	    path[0] != '/')
		return 0;
	if ((size_t)n == sn->value_len &&
	    memcmp(path, sn->value, sn->value_len) == 0)
		return 1;
	n = (ssize_t)normalize(path, (size_t)n);
	return (size_t)n == sn->value_len &&
	    memcmp(path, sn->value, sn->value_len) == 0;
}

int
req_split(struct req *r, const char *mount)
{
	const struct bg_var *sn, *pi, *uri;
	const char *path;
	size_t m = mount != NULL ? strlen(mount) : 0, n;

	if ((pi = req_find_var(r, "PATH_INFO", 9)) != NULL &&
	    pi->value_len > 0)
		return 0;
	if ((sn = req_find_var(r, "SCRIPT_NAME", 11)) == NULL ||
	    sn->value_len == 0 || sn->value[0] != '/' ||
	    (uri = req_find_var(r, "REQUEST_URI", 11)) == NULL ||
	    !whole_path(r, sn, uri))
		return 0;
	path = sn->value;
	n = sn->value_len;
	if (m > 0 && (n < m || memcmp(path, mount, m) != 0 ||
	    (n > m && path[m] != '/')))
		return 404;
	/* The old value stays in the request's pool: path is still good
	 * after SCRIPT_NAME is replaced. */
	if (req_add_var(r, "PATH_INFO", 9, path + m, n - m) == -1 ||
	    req_add_var(r, "SCRIPT_NAME", 11, m > 0 ? mount : "", m) == -1)
		return 500;
	return 0;
}
