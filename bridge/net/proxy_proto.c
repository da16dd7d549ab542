/*
 * PROXY protocol header parser.  Section numbers refer to HAProxy's
 * "The PROXY protocol, Versions 1 & 2" (doc/proxy-protocol.txt, 2020).
 *
 * Every length read from the wire is checked against the bytes the
 * header says it holds, and that against the caller's limit, before
 * anything is read under it: a TLV cannot reach past its header, a
 * sub-TLV past its TLV.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

/* Section 2.2: the v2 signature; v1 lines begin with "PROXY ". */
static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[] = "PROXY ";

#define V2_LEN_MAX (PROXY_V2_HEAD + 0xffff)

/* Section 2.2: the command, family and transport nibbles. */
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_AF_UNSPEC	0x0
#define V2_AF_INET	0x1
#define V2_AF_INET6	0x2
#define V2_AF_UNIX	0x3
#define V2_TP_STREAM	0x1

/* Section 2.2.7: TLV types. */
#define PP2_TYPE_ALPN		0x01
#define PP2_TYPE_AUTHORITY	0x02
#define PP2_TYPE_CRC32C		0x03
#define PP2_TYPE_SSL		0x20
#define PP2_CLIENT_SSL		0x01

static ssize_t
invalid(struct proxy_header *h, const char *why)
{
	h->why = why;
	return PROXY_INVALID;
}

static int
bad_tlv(struct proxy_header *h, const char *why)
{
	h->why = why;
	return -1;
}

/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of p[0..n) with
 * the four bytes at zero_at read as zeros (section 2.2.7: the checksum
 * covers the header with its own field zeroed).  Bitwise: headers are
 * small, and the check runs once per connection at most.
 */
static uint32_t
crc32c(const uint8_t *p, size_t n, size_t zero_at)
{
	uint32_t crc = 0xffffffff;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		crc ^= i - zero_at < 4 ? 0 : p[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78 & (0U - (crc & 1)));
	}
	return ~crc;
}

/* A decimal port, 0..65535, without leading zeros (section 2.1). */
static int
v1_port(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int
v1_addr(int family, const char *s, size_t n, union proxy_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(text))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		a->in.sin_family = AF_INET;
		return inet_pton(AF_INET, text, &a->in.sin_addr) == 1 ? 0 : -1;
	}
	a->in6.sin6_family = AF_INET6;
	return inet_pton(AF_INET6, text, &a->in6.sin6_addr) == 1 ? 0 : -1;
}

/* The next space-separated field of [*s, end): one space between. */
static int
v1_field(const char **s, const char *end, const char **f, size_t *n)
{
	const char *sp;

	if (*s >= end)
		return -1;
	*f = *s;
	sp = memchr(*s, ' ', (size_t)(end - *s));
	*n = (size_t)((sp ? sp : end) - *s);
	*s = sp ? sp + 1 : end;
	if (sp != NULL && *s == end)
		return -1;	/* a trailing space */
	return *n > 0 ? 0 : -1;
}

/*
 * Section 2.1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP
 * dport CRLF, or "PROXY UNKNOWN" and anything up to CRLF; 107 bytes at
 * most.
 */
static ssize_t
parse_v1(const char *p, size_t len, struct proxy_header *h)
{
	const char *s, *end, *f, *src, *dst;
	size_t i, n, nsrc, ndst, limit;
	uint16_t sport, dport;
	int family;

	if (memcmp(p, v1_sig, len < 6 ? len : 6) != 0)
		return invalid(h, "not a PROXY protocol header");
	h->version = 1;
	limit = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	for (i = 0; i < limit; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n')
			break;
		if (c == '\r' ? i + 1 < len && p[i + 1] != '\n' :
		    c < 0x20 || c > 0x7e)
			return invalid(h, "v1: control character in the line");
	}
	if (i == limit)
		return len >= PROXY_V1_MAX ? invalid(h, "v1: no CRLF within "
		    "107 bytes") : PROXY_AGAIN;
	if (i == 0 || p[i - 1] != '\r')
		return invalid(h, "v1: LF without CR");
	s = p + 6;
	end = p + i - 1;
	if (end - s >= 7 && memcmp(s, "UNKNOWN", 7) == 0 &&
	    (end - s == 7 || s[7] == ' ')) {
		/* Section 2.1: the rest of the line is to be ignored. */
		h->local = 1;
		return (ssize_t)(i + 1);
	}
	if (v1_field(&s, end, &f, &n) == -1)
		return invalid(h, "v1: no protocol");
	if (n == 4 && memcmp(f, "TCP4", 4) == 0)
		family = AF_INET;
	else if (n == 4 && memcmp(f, "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return invalid(h, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	if (v1_field(&s, end, &src, &nsrc) == -1 ||
	    v1_field(&s, end, &dst, &ndst) == -1)
		return invalid(h, "v1: missing address");
	if (v1_addr(family, src, nsrc, &h->src) == -1 ||
	    v1_addr(family, dst, ndst, &h->dst) == -1)
		return invalid(h, "v1: bad address");
	if (v1_field(&s, end, &f, &n) == -1 || v1_port(f, n, &sport) == -1 ||
	    v1_field(&s, end, &f, &n) == -1 || v1_port(f, n, &dport) == -1)
		return invalid(h, "v1: bad port");
	if (s != end)
		return invalid(h, "v1: extra fields");
	if (family == AF_INET) {
		h->src.in.sin_port = htons(sport);
		h->dst.in.sin_port = htons(dport);
	} else {
		h->src.in6.sin6_port = htons(sport);
		h->dst.in6.sin6_port = htons(dport);
	}
	return (ssize_t)(i + 1);
}

static size_t
be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/*
 * Section 2.2.7: the TLVs in p[off..end), each type, 16-bit length,
 * value.  Unknown types are skipped; each must end within end.  ssl is
 * set inside a PP2_TYPE_SSL value, whose sub-TLVs are only bounded.
 */
static int
v2_tlvs(const uint8_t *p, size_t off, size_t end, size_t total, int ssl,
    struct proxy_header *h)
{
	size_t n;

	while (off < end) {
		if (end - off < 3)
			return bad_tlv(h, "v2: TLV cut short");
		n = be16(p + off + 1);
		if (n > end - off - 3)
			return bad_tlv(h, "v2: TLV longer than the header");
		h->ntlvs++;
		if (ssl)
			;	/* PP2_SUBTYPE_SSL_*: nothing bridge uses */
		else if (p[off] == PP2_TYPE_ALPN) {
			h->alpn = p + off + 3;
			h->alpn_len = n;
		} else if (p[off] == PP2_TYPE_AUTHORITY) {
			h->authority = p + off + 3;
			h->authority_len = n;
		} else if (p[off] == PP2_TYPE_CRC32C) {
			if (n != 4)
				return bad_tlv(h, "v2: CRC32C TLV of a length "
				    "other than 4");
			if (crc32c(p, total, off + 3) != ((uint32_t)p[off + 3]
			    << 24 | (uint32_t)p[off + 4] << 16 |
			    (uint32_t)p[off + 5] << 8 | p[off + 6]))
				return bad_tlv(h, "v2: CRC32C mismatch");
			h->crc_checked = 1;
		} else if (p[off] == PP2_TYPE_SSL) {
			/* client (1), verify (4), then sub-TLVs. */
			if (n < 5)
				return bad_tlv(h, "v2: SSL TLV cut short");
			h->ssl = (p[off + 3] & PP2_CLIENT_SSL) != 0;
			if (v2_tlvs(p, off + 8, off + 3 + n, total, 1, h) == -1)
				return -1;
		}
		off += 3 + n;
	}
	return 0;
}

/* Section 2.2: the binary header. */
static ssize_t
parse_v2(const uint8_t *p, size_t len, size_t max, struct proxy_header *h)
{
	static const size_t addr_len[] = { 0, 12, 36, 216 };
	size_t total, alen;
	int cmd, af, tp;

	if (memcmp(p, v2_sig, len < 12 ? len : 12) != 0)
		return invalid(h, "not a PROXY protocol header");
	h->version = 2;
	if (len > 12) {
		if (p[12] >> 4 != 2)
			return invalid(h, "v2: version other than 2");
		cmd = p[12] & 0x0f;
		if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
			return invalid(h, "v2: unknown command");
	}
	if (len > 13 && (p[13] >> 4 > V2_AF_UNIX || (p[13] & 0x0f) > 2))
		return invalid(h, "v2: unknown address family or transport");
	if (len < PROXY_V2_HEAD)
		return PROXY_AGAIN;
	cmd = p[12] & 0x0f;
	af = p[13] >> 4;
	tp = p[13] & 0x0f;
	total = PROXY_V2_HEAD + be16(p + 14);
	if (total > max)
		return invalid(h, "v2: header longer than bridge accepts");
	if (len < total)
		return PROXY_AGAIN;
	if (cmd == V2_CMD_LOCAL) {
		/* Section 2.2: the proxy speaks for itself (a health
		 * check); its address block and TLVs are discarded. */
		h->local = 1;
		return (ssize_t)total;
	}
	alen = addr_len[af];
	if (total - PROXY_V2_HEAD < alen)
		return invalid(h, "v2: address block cut short");
	p += PROXY_V2_HEAD;
	if (af == V2_AF_INET && tp == V2_TP_STREAM) {
		h->src.in.sin_family = h->dst.in.sin_family = AF_INET;
		memcpy(&h->src.in.sin_addr, p, 4);
		memcpy(&h->dst.in.sin_addr, p + 4, 4);
		memcpy(&h->src.in.sin_port, p + 8, 2);
		memcpy(&h->dst.in.sin_port, p + 10, 2);
	} else if (af == V2_AF_INET6 && tp == V2_TP_STREAM) {
		h->src.in6.sin6_family = h->dst.in6.sin6_family = AF_INET6;
		memcpy(&h->src.in6.sin6_addr, p, 16);
		memcpy(&h->dst.in6.sin6_addr, p + 16, 16);
		memcpy(&h->src.in6.sin6_port, p + 32, 2);
		memcpy(&h->dst.in6.sin6_port, p + 34, 2);
	} else {
		/* UNSPEC, UNIX, datagrams: nothing that is a TCP client's
		 * address; section 2.2 says to use the real endpoints. */
		h->local = 1;
	}
	p -= PROXY_V2_HEAD;
	if (v2_tlvs(p, PROXY_V2_HEAD + alen, total, total, 0, h) == -1)
		return PROXY_INVALID;
	return (ssize_t)total;
}

ssize_t
proxy_parse(const void *buf, size_t len, size_t max, struct proxy_header *h)
{
	const uint8_t *p = buf;

	memset(h, 0, sizeof(*h));
	if (max < PROXY_V1_MAX)
		max = PROXY_V1_MAX;
	if (max > V2_LEN_MAX)
		max = V2_LEN_MAX;
	if (len == 0)
		return PROXY_AGAIN;
	if (p[0] == v1_sig[0])
		return parse_v1(buf, len, h);
	if (p[0] == v2_sig[0])
		return parse_v2(p, len, max, h);
	return invalid(h, "not a PROXY protocol header");
}

/*
 * The allow list.
 */

static int
net_parse(struct proxy_net *net, const char *s, size_t n)
{
	char text[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long prefix;

	if (n == 0 || n >= sizeof(text))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	memset(net, 0, sizeof(*net));
	if ((slash = strchr(text, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, text, net->addr) == 1) {
		net->family = AF_INET;
		net->prefix = 32;
	} else if (inet_pton(AF_INET6, text, net->addr) == 1) {
		net->family = AF_INET6;
		net->prefix = 128;
	} else
		return -1;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > net->prefix)
			return -1;
		net->prefix = (unsigned)prefix;
	}
	return 0;
}

int
proxy_allow_parse(struct proxy_allow *a, const char *list, char *err,
    size_t errlen)
{
	const char *s = list, *e, *b, *t;

	memset(a, 0, sizeof(*a));
	for (;;) {
		e = strchr(s, ',');
		if (e == NULL)
			e = s + strlen(s);
		for (b = s; b < e && (*b == ' ' || *b == '\t'); b++)
			;
		for (t = e; t > b && (t[-1] == ' ' || t[-1] == '\t'); t--)
			;
		if (t - b == 1 && *b == '*')
			a->all = 1;
		else if (t > b) {
			if (a->n == PROXY_ALLOW_MAX) {
				snprintf(err, errlen, "more than %d "
				    "addresses", PROXY_ALLOW_MAX);
				return -1;
			}
			if (net_parse(&a->nets[a->n], b, (size_t)(t - b))
			    == -1) {
				snprintf(err, errlen, "'%.*s' is not an "
				    "address or ADDRESS/PREFIX",
				    (int)(t - b > 64 ? 64 : t - b), b);
				return -1;
			}
			a->n++;
		}
		if (*e == '\0')
			break;
		s = e + 1;
	}
	return 0;
}

static int
net_match(const struct proxy_net *net, int family, const uint8_t *addr)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (net->family != family)
		return 0;
	if (memcmp(net->addr, addr, full) != 0)
		return 0;
	return rest == 0 || ((net->addr[full] ^ addr[full]) &
	    (0xff00 >> rest)) == 0;
}

int
proxy_allowed(const struct proxy_allow *a, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const uint8_t *addr;
	int family = sa->sa_family;
	size_t i;

	if (a->all || family == AF_UNIX)
		return 1;
	if (family == AF_INET)
		addr = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	else if (family == AF_INET6) {
		addr = (const uint8_t *)&((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr;
		if (memcmp(addr, mapped, 12) == 0) {
			family = AF_INET;
			addr += 12;
		}
	} else
		return 0;
	for (i = 0; i < a->n; i++)
		if (net_match(&a->nets[i], family, addr))
			return 1;
	return 0;
}
