/*
 * Proxy headers, trusted by address: see forwarded.h for the contract.
 *
 * Forwarded is RFC 7239 (section 4: a list of elements, each pairs
 * "name=value" joined by ';', values tokens or quoted-strings, RFC 9110
 * section 5.6); X-Forwarded-* are the de facto headers nginx, HAProxy and
 * load balancers send.  Lists are walked from the right, the end the
 * nearest proxy wrote, and never further than FORWARDED_HOPS_MAX
 * elements; every value is copied into a bounded buffer before use.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forwarded.h"

struct forwarded_trust forwarded_trust;

/* A slice of a header value. */
struct slice {
	const char *p;
	size_t n;
};

static void
set_err(char *err, size_t errlen, const char *fmt, const char *what,
    size_t n)
{
	if (errlen > 0)
		snprintf(err, errlen, fmt, (int)(n > 80 ? 80 : n), what);
}

/* Parse an address (no brackets, no port) into family and bytes. */
static int
parse_ip(const char *s, size_t n, int *family, uint8_t bin[16])
{
	char tmp[64];

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(bin, 0, 16);
	if (inet_pton(AF_INET, tmp, bin) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, bin) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 it is. */
static void
unmap(int *family, uint8_t bin[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };

	if (*family == AF_INET6 && memcmp(bin, prefix, 12) == 0) {
		memmove(bin, bin + 12, 4);
		memset(bin + 4, 0, 12);
		*family = AF_INET;
	}
}

int
forwarded_trust_parse(struct forwarded_trust *t, const char *list,
    char *err, size_t errlen)
{
	const char *p = list, *e, *slash;
	struct forwarded_net *net;
	size_t n, plen;
	unsigned long prefix;
	char *end, num[8];

	memset(t, 0, sizeof(*t));
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ','; e++)
			;
		n = (size_t)(e - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 1 && *p == '*') {
			t->all = 1;
			p = e;
			continue;
		}
		if (t->n == FORWARDED_TRUST_MAX) {
			set_err(err, errlen, "more than 64 addresses (at "
			    "'%.*s')", p, n);
			return -1;
		}
		net = &t->nets[t->n];
		slash = memchr(p, '/', n);
		plen = slash != NULL ? (size_t)(slash - p) : n;
		if (parse_ip(p, plen, &net->family, net->addr) == -1) {
			set_err(err, errlen, "'%.*s' is not an IPv4 or IPv6 "
			    "address (or ADDRESS/PREFIX, or *)", p, n);
			return -1;
		}
		unmap(&net->family, net->addr);
		net->prefix = net->family == AF_INET ? 32 : 128;
		if (slash != NULL) {
			size_t dn = n - plen - 1;

			if (dn == 0 || dn >= sizeof(num) ||
			    strspn(slash + 1, "0123456789") < dn) {
				set_err(err, errlen, "'%.*s': the prefix is "
				    "not a number", p, n);
				return -1;
			}
			memcpy(num, slash + 1, dn);
			num[dn] = '\0';
			prefix = strtoul(num, &end, 10);
			if (prefix > net->prefix) {
				set_err(err, errlen, "'%.*s': prefix too "
				    "long for the address", p, n);
				return -1;
			}
			net->prefix = (unsigned)prefix;
		}
		t->n++;
		p = e;
	}
	return 0;
}

static int
net_match(const struct forwarded_net *net, int family, const uint8_t *bin)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	uint8_t mask;

	if (net->family != family || memcmp(net->addr, bin, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (bin[full] & mask);
}

static int
trusts_bin(const struct forwarded_trust *t, int family, uint8_t bin[16])
{
	size_t i;

	if (t->all)
		return 1;
	unmap(&family, bin);
	for (i = 0; i < t->n; i++)
		if (net_match(&t->nets[i], family, bin))
			return 1;
	return 0;
}

int
forwarded_trusts(const struct forwarded_trust *t, const struct sockaddr *sa)
{
	uint8_t bin[16] = { 0 };

	if (sa->sa_family == AF_INET) {
		memcpy(bin, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
		return trusts_bin(t, AF_INET, bin);
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(bin, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
		return trusts_bin(t, AF_INET6, bin);
	}
	return 1;
}

/*
 * Request variables.
 */

static const struct bg_var *
find(const struct bg_var *vars, size_t n, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++)
		if (vars[i].name_len == len &&
		    memcmp(vars[i].name, name, len) == 0)
			return &vars[i];
	return NULL;
}

/* A header variable this unit reads, or one an application might read
 * for the same purpose (X-Real-IP, X-Forwarded-Ssl, ...). */
static int
is_proxy_var(const struct bg_var *v)
{
	static const char xf[] = "HTTP_X_FORWARDED_";

	return (v->name_len > sizeof(xf) - 1 &&
	    memcmp(v->name, xf, sizeof(xf) - 1) == 0) ||
	    (v->name_len == 14 && memcmp(v->name, "HTTP_FORWARDED", 14) ==
	    0) || (v->name_len == 14 && memcmp(v->name, "HTTP_X_REAL_IP",
	    14) == 0);
}

size_t
forwarded_strip(struct bg_var *vars, size_t nvars)
{
	size_t i, o = 0;

	for (i = 0; i < nvars; i++)
		if (!is_proxy_var(&vars[i]))
			vars[o++] = vars[i];
	return o;
}

/* name[0..n) equals the lower-case lit, case aside and '_' as '-'. */
static int
field_eq(const char *name, size_t n, const char *lit)
{
	size_t i;
	char ch;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0')
			return 0;
		ch = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] + 32) :
		    name[i] == '_' ? '-' : name[i];
		if (ch != lit[i])
			return 0;
	}
	return lit[i] == '\0';
}

int
forwarded_is_field(const char *name, size_t len)
{
	return (len > 12 && field_eq(name, 12, "x-forwarded-")) ||
	    field_eq(name, len, "forwarded") || field_eq(name, len,
	    "x-real-ip");
}

size_t
forwarded_strip_fields(struct bg_header *f, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++)
		if (!forwarded_is_field(f[i].name, f[i].name_len))
			f[o++] = f[i];
	return o;
}

/*
 * Lists and values.
 */

static int
ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static struct slice
trim(const char *p, size_t n)
{
	struct slice s;

	while (n > 0 && ows(*p)) {
		p++;
		n--;
	}
	while (n > 0 && ows(p[n - 1]))
		n--;
	s.p = p;
	s.n = n;
	return s;
}

/*
 * Split a comma-separated list (commas inside a quoted-string do not
 * count) into at most max elements, the rightmost ones.  Returns the
 * number stored, in order, left to right.
 */
static size_t
split_list(const char *p, size_t n, struct slice *out, size_t max)
{
	struct slice all[FORWARDED_HOPS_MAX];
	size_t i, start = 0, count = 0, k;
	int quoted = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && quoted) {
			if (p[i] == '\\' && i + 1 < n)
				i++;
			else if (p[i] == '"')
				quoted = 0;
			continue;
		}
		if (i < n && p[i] == '"') {
			quoted = 1;
			continue;
		}
		if (i < n && p[i] != ',')
			continue;
		/* Keep the last max elements: a ring over all[]. */
		all[count % FORWARDED_HOPS_MAX] = trim(p + start, i - start);
		count++;
		start = i + 1;
	}
	if (max > FORWARDED_HOPS_MAX)
		max = FORWARDED_HOPS_MAX;
	k = count < max ? count : max;
	for (i = 0; i < k; i++)
		out[i] = all[(count - k + i) % FORWARDED_HOPS_MAX];
	return k;
}

/* The rightmost element of a list, or an empty slice. */
static struct slice
rightmost(const struct bg_var *v)
{
	struct slice s[1] = { { "", 0 } };

	if (v == NULL || split_list(v->value, v->value_len, s, 1) == 0)
		s[0].n = 0;
	return s[0];
}

static int
is_port(struct slice s)
{
	unsigned long v = 0;
	size_t i;

	if (s.n == 0 || s.n > 5)
		return 0;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s.p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

static void
copy(char *dst, size_t dlen, struct slice s)
{
	size_t n = s.n < dlen - 1 ? s.n : dlen - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/*
 * A node (X-Forwarded-For element, Forwarded for=): an IPv4 address, an
 * IPv6 one bare or in brackets, either with ":PORT".  RFC 7239 section 6
 * also allows "unknown" and "_obfuscated" names: those are not addresses.
 */
static int
parse_node(struct slice s, int *family, uint8_t bin[16], struct slice *addr,
    struct slice *port)
{
	const char *close, *colon;

	port->n = 0;
	if (s.n > 0 && s.p[0] == '[') {
		if ((close = memchr(s.p, ']', s.n)) == NULL)
			return -1;
		addr->p = s.p + 1;
		addr->n = (size_t)(close - s.p) - 1;
		if (close + 1 < s.p + s.n) {
			if (close[1] != ':')
				return -1;
			port->p = close + 2;
			port->n = s.n - (size_t)(close + 2 - s.p);
			if (!is_port(*port))
				return -1;
		}
		if (parse_ip(addr->p, addr->n, family, bin) == -1 ||
		    *family != AF_INET6)
			return -1;
		return 0;
	}
	colon = memchr(s.p, ':', s.n);
	if (colon != NULL && memchr(colon + 1, ':', s.n - (size_t)(colon -
	    s.p) - 1) == NULL) {
		/* One colon: IPv4:PORT. */
		addr->p = s.p;
		addr->n = (size_t)(colon - s.p);
		port->p = colon + 1;
		port->n = s.n - addr->n - 1;
		if (!is_port(*port) || parse_ip(addr->p, addr->n, family,
		    bin) == -1 || *family != AF_INET)
			return -1;
		return 0;
	}
	*addr = s;
	return parse_ip(s.p, s.n, family, bin);
}

/* A Host value (RFC 9110 section 7.2: uri-host [":" port]; names kept
 * to letters, digits and "-._~%"), with the
 * name split off for SERVER_NAME and the port for SERVER_PORT. */
static int
parse_host(struct slice s, struct slice *name, struct slice *port)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%";
	const char *close, *colon;
	size_t i;

	port->n = 0;
	if (s.n == 0 || s.n > FORWARDED_HOST_MAX)
		return -1;
	if (s.p[0] == '[') {
		if ((close = memchr(s.p, ']', s.n)) == NULL)
			return -1;
		for (i = 1; s.p + i < close; i++)
			if (strchr("0123456789abcdefABCDEF:.", s.p[i]) ==
			    NULL || s.p[i] == '\0')
				return -1;
		name->p = s.p;
		name->n = (size_t)(close - s.p) + 1;
		if (name->n < s.n) {
			if (close[1] != ':')
				return -1;
			port->p = close + 2;
			port->n = s.n - name->n - 1;
			if (!is_port(*port))
				return -1;
		}
		return name->n > 2 ? 0 : -1;
	}
	name->p = s.p;
	name->n = s.n;
	if ((colon = memchr(s.p, ':', s.n)) != NULL) {
		name->n = (size_t)(colon - s.p);
		port->p = colon + 1;
		port->n = s.n - name->n - 1;
		if (!is_port(*port))
			return -1;
	}
	if (name->n == 0)
		return -1;
	for (i = 0; i < name->n; i++)
		if (name->p[i] == '\0' || strchr(ok, name->p[i]) == NULL)
			return -1;
	return 0;
}

static int
is_scheme(struct slice s)
{
	return (s.n == 4 && strncasecmp(s.p, "http", 4) == 0) ||
	    (s.n == 5 && strncasecmp(s.p, "https", 5) == 0);
}

static int
tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* One Forwarded element's for, proto and host, unquoted into bufs. */
struct fwd_elem {
	char for_[64];
	char proto[8];
	char host[FORWARDED_HOST_MAX + 1];
	int has_for, has_proto, has_host;
};

/* Parse "name=value;name=value" (RFC 7239 section 4).  Returns 0 or -1
 * for a syntax error or a value too long to be right. */
static int
parse_element(struct slice s, struct fwd_elem *e)
{
	size_t i = 0, nlen, vlen, cap;
	const char *name;
	char *dst;
	int *has;

	memset(e, 0, sizeof(*e));
	while (i < s.n) {
		while (i < s.n && ows(s.p[i]))
			i++;
		name = s.p + i;
		while (i < s.n && tchar(s.p[i]))
			i++;
		nlen = (size_t)(s.p + i - name);
		if (nlen == 0 || i == s.n || s.p[i] != '=')
			return -1;
		i++;
		dst = NULL;
		cap = 0;
		has = NULL;
		if (nlen == 3 && strncasecmp(name, "for", 3) == 0) {
			dst = e->for_;
			cap = sizeof(e->for_);
			has = &e->has_for;
		} else if (nlen == 5 && strncasecmp(name, "proto", 5) == 0) {
			dst = e->proto;
			cap = sizeof(e->proto);
			has = &e->has_proto;
		} else if (nlen == 4 && strncasecmp(name, "host", 4) == 0) {
			dst = e->host;
			cap = sizeof(e->host);
			has = &e->has_host;
		}
		vlen = 0;
		if (i < s.n && s.p[i] == '"') {
			for (i++; i < s.n && s.p[i] != '"'; i++) {
				if (s.p[i] == '\\' && ++i == s.n)
					return -1;
				if ((unsigned char)s.p[i] < 0x20 &&
				    s.p[i] != '\t')
					return -1;
				if (dst != NULL && vlen + 1 >= cap)
					return -1;
				if (dst != NULL)
					dst[vlen] = s.p[i];
				vlen++;
			}
			if (i == s.n)
				return -1;
			i++;
		} else {
			/* Tokens; brackets and ':' taken too, as proxies
			 * that forget to quote an IPv6 node send them. */
			for (; i < s.n && (tchar(s.p[i]) || s.p[i] == '[' ||
			    s.p[i] == ']' || s.p[i] == ':'); i++) {
				if (dst != NULL && vlen + 1 >= cap)
					return -1;
				if (dst != NULL)
					dst[vlen] = s.p[i];
				vlen++;
			}
			if (vlen == 0)
				return -1;
		}
		if (dst != NULL) {
			if (*has)	/* section 4: each name once */
				return -1;
			dst[vlen] = '\0';
			*has = 1;
		}
		while (i < s.n && ows(s.p[i]))
			i++;
		if (i < s.n && s.p[i] != ';')
			return -1;
		i++;
	}
	return 0;
}

static struct slice
str(const char *s)
{
	struct slice sl = { s, strlen(s) };

	return sl;
}

/* What the proxies said, before it becomes variables. */
struct claim {
	char addr[64];		/* client address, "" unknown */
	char rport[8];
	char proto[8];		/* "" unknown */
	char host[FORWARDED_HOST_MAX + 1];
	char port[8];
};

/*
 * Walk nodes from the right: past trusted addresses, stopping at the
 * first untrusted one (the client) or at one that is not an address.
 * Returns the index of the element where the walk ended, with the last
 * address seen in c.
 */
static size_t
walk(const struct forwarded_trust *t, const struct slice *nodes, size_t n,
    struct claim *c)
{
	struct slice addr, port;
	uint8_t bin[16];
	char text[64];
	int family;
	size_t i = n;

	while (i > 0) {
		i--;
		if (nodes[i].n == 0 || parse_node(nodes[i], &family, bin,
		    &addr, &port) == -1)
			return i;
		unmap(&family, bin);	/* ::ffff:a.b.c.d reads as IPv4 */
		if (inet_ntop(family, bin, text, sizeof(text)) == NULL)
			return i;
		snprintf(c->addr, sizeof(c->addr), "%s", text);
		c->rport[0] = '\0';
		if (port.n > 0)
			copy(c->rport, sizeof(c->rport), port);
		if (!trusts_bin(t, family, bin))
			return i;
	}
	return 0;
}

/* From the Forwarded header; -1 if it does not parse. */
static int
claim_forwarded(const struct forwarded_trust *t, const struct bg_var *v,
    struct claim *c)
{
	struct slice elems[FORWARDED_HOPS_MAX], nodes[FORWARDED_HOPS_MAX];
	struct fwd_elem e[FORWARDED_HOPS_MAX];
	size_t n, i, at;

	n = split_list(v->value, v->value_len, elems, FORWARDED_HOPS_MAX);
	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (parse_element(elems[i], &e[i]) == -1)
			return -1;
		nodes[i] = e[i].has_for ? str(e[i].for_) : str("");
	}
	at = walk(t, nodes, n, c);
	if (e[at].has_proto)
		snprintf(c->proto, sizeof(c->proto), "%s", e[at].proto);
	if (e[at].has_host)
		snprintf(c->host, sizeof(c->host), "%s", e[at].host);
	return 0;
}

static void
claim_x_forwarded(const struct forwarded_trust *t, const struct bg_var *vars,
    size_t nvars, struct claim *c)
{
	struct slice nodes[FORWARDED_HOPS_MAX], s;
	const struct bg_var *v;
	size_t n;

	if ((v = find(vars, nvars, "HTTP_X_FORWARDED_FOR")) != NULL) {
		n = split_list(v->value, v->value_len, nodes,
		    FORWARDED_HOPS_MAX);
		walk(t, nodes, n, c);
	}
	/* Gunicorn's secure_scheme_headers: X-Forwarded-Proto: https,
	 * X-Forwarded-Ssl: on, X-Forwarded-Protocol: ssl. */
	if ((v = find(vars, nvars, "HTTP_X_FORWARDED_PROTO")) != NULL)
		copy(c->proto, sizeof(c->proto), rightmost(v));
	else if ((v = find(vars, nvars, "HTTP_X_FORWARDED_SSL")) != NULL) {
		s = rightmost(v);
		if (s.n == 2 && strncasecmp(s.p, "on", 2) == 0)
			snprintf(c->proto, sizeof(c->proto), "https");
	} else if ((v = find(vars, nvars, "HTTP_X_FORWARDED_PROTOCOL")) !=
	    NULL) {
		s = rightmost(v);
		if (s.n == 3 && strncasecmp(s.p, "ssl", 3) == 0)
			snprintf(c->proto, sizeof(c->proto), "https");
	}
	if ((v = find(vars, nvars, "HTTP_X_FORWARDED_HOST")) != NULL) {
		s = rightmost(v);
		if (s.n < sizeof(c->host))
			copy(c->host, sizeof(c->host), s);
	}
	if ((v = find(vars, nvars, "HTTP_X_FORWARDED_PORT")) != NULL) {
		s = rightmost(v);
		if (is_port(s))
			copy(c->port, sizeof(c->port), s);
	}
}

static void
put(struct forwarded *out, const char *name, const char *value)
{
	struct bg_var *v = &out->set[out->nset++];

	v->name = name;
	v->name_len = strlen(name);
	v->value = value;
	v->value_len = strlen(value);
}

enum forwarded_result
forwarded_resolve(const struct forwarded_trust *t, int peer_trusted,
    const struct bg_var *vars, size_t nvars, struct forwarded *out)
{
	const struct bg_var *v, *scheme_var;
	struct slice name, port, s;
	struct claim c;
	size_t i;
	int https_now, https;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < nvars; i++)
		if (is_proxy_var(&vars[i]))
			break;
	if (i == nvars)
		return FORWARDED_NONE;
	if (!peer_trusted)
		return FORWARDED_UNTRUSTED;
	/* X-Forwarded-* first: nginx sets them (conf/nginx-proxy.conf) and
	 * passes a client's Forwarded on unless told to clear it. */
	memset(&c, 0, sizeof(c));
	for (i = 0; i < nvars; i++)
		if (vars[i].name_len > 17 &&
		    memcmp(vars[i].name, "HTTP_X_FORWARDED_", 17) == 0)
			break;
	if (i < nvars)
		claim_x_forwarded(t, vars, nvars, &c);
	else if ((v = find(vars, nvars, "HTTP_FORWARDED")) != NULL &&
	    claim_forwarded(t, v, &c) == -1)
		memset(&c, 0, sizeof(c));

	if (c.addr[0] != '\0') {
		memcpy(out->addr, c.addr, sizeof(out->addr));
		put(out, "REMOTE_ADDR", out->addr);
		if (c.rport[0] != '\0') {
			memcpy(out->rport, c.rport, sizeof(out->rport));
			put(out, "REMOTE_PORT", out->rport);
		}
	}
	scheme_var = find(vars, nvars, "REQUEST_SCHEME");
	https_now = scheme_var != NULL && scheme_var->value_len == 5;
	https = https_now;
	if (is_scheme(str(c.proto))) {
		https = c.proto[4] != '\0';
		put(out, "REQUEST_SCHEME", https ? "https" : "http");
		if (https)
			put(out, "HTTPS", "on");
		else if (find(vars, nvars, "HTTPS") != NULL)
			put(out, "HTTPS", "off");
	}
	s = str(c.host);
	port.n = 0;
	if (s.n > 0 && parse_host(s, &name, &port) == 0) {
		copy(out->host, sizeof(out->host), s);
		copy(out->name, sizeof(out->name), name);
		put(out, "HTTP_HOST", out->host);
		put(out, "SERVER_NAME", out->name);
	} else
		port.n = 0;
	if (c.port[0] != '\0')
		memcpy(out->port, c.port, sizeof(out->port));
	else if (port.n > 0)
		copy(out->port, sizeof(out->port), port);
	else if (https != https_now)
		snprintf(out->port, sizeof(out->port), "%s", https ? "443" :
		    "80");
	if (out->port[0] != '\0')
		put(out, "SERVER_PORT", out->port);
	return FORWARDED_USED;
}
