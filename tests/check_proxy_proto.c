/*
 * Unit tests for bridge/net/proxy_proto.c: the PROXY protocol v1/v2 parser
 * and the --proxy-allow-from list.
 *
 * Every input is copied so that it ends flush against a PROT_NONE page:
 * a read past the end of the caller's buffer faults.  Each valid header
 * is also fed as every one of its prefixes, which must all say "need
 * more", since the header may arrive a byte at a time.
 */
#include <sys/mman.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "proxy_proto.h"

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static uint8_t *guard_base;
static size_t guard_size;

static void
guard_setup(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m;

	ck_assert_int_gt(pg, 0);
	guard_size = (size_t)pg * 32;
	m = mmap(NULL, guard_size + (size_t)pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(mprotect(m + guard_size, (size_t)pg, PROT_NONE), 0);
	guard_base = m;
}

static ssize_t
parse_at_guard(const void *data, size_t n, size_t max, struct proxy_header *h)
{
	uint8_t *p;

	ck_assert_uint_le(n, guard_size);
	p = guard_base + guard_size - n;
	if (n > 0)
		memcpy(p, data, n);
	return proxy_parse(p, n, max, h);
}

static ssize_t
parse(const void *data, size_t n, struct proxy_header *h)
{
	return parse_at_guard(data, n, PROXY_HEADER_MAX, h);
}

/* Every proper prefix of data[0..n) must need more. */
static void
prefixes_need_more(const void *data, size_t n, size_t max)
{
	struct proxy_header h;
	size_t k;

	for (k = 0; k < n; k++)
		ck_assert_msg(parse_at_guard(data, k, max, &h) == PROXY_AGAIN,
		    "prefix of %zu bytes of %zu: not 'need more' (%s)", k, n,
		    h.why ? h.why : "-");
}

/* Every prefix of an invalid input: need more, then invalid for good. */
static void
prefixes_then_invalid(const void *data, size_t n)
{
	struct proxy_header h;
	ssize_t r;
	size_t k;
	int seen = 0;

	for (k = 0; k <= n; k++) {
		r = parse(data, k, &h);
		ck_assert_msg(r == PROXY_AGAIN || r == PROXY_INVALID,
		    "prefix of %zu: %zd", k, r);
		if (seen)
			ck_assert_msg(r == PROXY_INVALID, "prefix %zu: "
			    "invalid, then need more", k);
		seen |= r == PROXY_INVALID;
	}
	ck_assert_msg(seen, "never invalid");
}

static const char *
addr_text(const union proxy_addr *a, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof(host));
		snprintf(out, n, "%s:%u", host, ntohs(a->in.sin_port));
	} else if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof(host));
		snprintf(out, n, "[%s]:%u", host, ntohs(a->in6.sin6_port));
	} else
		snprintf(out, n, "none");
	return out;
}

static void
expect_addrs(const struct proxy_header *h, const char *src, const char *dst)
{
	char a[80], b[80];

	ck_assert_int_eq(h->local, 0);
	ck_assert_str_eq(addr_text(&h->src, a, sizeof(a)), src);
	ck_assert_str_eq(addr_text(&h->dst, b, sizeof(b)), dst);
}

/*
 * v1.
 */

START_TEST(test_v1_tcp4_leaves_the_request)
{
	static const char hdr[] = "PROXY TCP4 203.0.113.7 192.0.2.1 56324 443"
	    "\r\n";
	char in[256];
	struct proxy_header h;

	snprintf(in, sizeof(in), "%sGET / HTTP/1.1\r\n\r\n", hdr);
	ck_assert_int_eq(parse(in, strlen(in), &h), (ssize_t)strlen(hdr));
	ck_assert_int_eq(h.version, 1);
	expect_addrs(&h, "203.0.113.7:56324", "192.0.2.1:443");
	/* Exactly the header: nothing after it is needed or taken. */
	ck_assert_int_eq(parse(hdr, strlen(hdr), &h), (ssize_t)strlen(hdr));
	prefixes_need_more(hdr, strlen(hdr), PROXY_HEADER_MAX);
}
END_TEST

START_TEST(test_v1_tcp6)
{
	static const char hdr[] = "PROXY TCP6 2001:db8::7 ::1 65535 0\r\n";
	struct proxy_header h;

	ck_assert_int_eq(parse(hdr, strlen(hdr), &h), (ssize_t)strlen(hdr));
	expect_addrs(&h, "[2001:db8::7]:65535", "[::1]:0");
	prefixes_need_more(hdr, strlen(hdr), PROXY_HEADER_MAX);
}
END_TEST

START_TEST(test_v1_longest_line_is_accepted)
{
	/* Section 2.1's worst case: 107 bytes with CRLF. */
	static const char hdr[] = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:"
	    "ffff 65535 65535\r\n";
	char in[PROXY_V1_MAX + 1];
	struct proxy_header h;

	memset(in, 'x', sizeof(in));
	memcpy(in, "PROXY UNKNOWN ", 14);
	memcpy(in + PROXY_V1_MAX - 2, "\r\n", 2);
	ck_assert_int_eq(parse(in, PROXY_V1_MAX, &h), PROXY_V1_MAX);
	ck_assert_int_eq(h.local, 1);
	ck_assert_int_eq(parse(hdr, strlen(hdr), &h), (ssize_t)strlen(hdr));
	ck_assert_int_eq(h.local, 1);
	/* One more byte before the CRLF is one too many. */
	in[PROXY_V1_MAX - 2] = 'x';
	in[PROXY_V1_MAX - 1] = '\r';
	in[PROXY_V1_MAX] = '\n';
	ck_assert_int_eq(parse(in, PROXY_V1_MAX + 1, &h), PROXY_INVALID);
	ck_assert_int_eq(parse(in, PROXY_V1_MAX - 1, &h), PROXY_AGAIN);
}
END_TEST

START_TEST(test_v1_unknown_keeps_the_peer)
{
	struct proxy_header h;

	ck_assert_int_eq(parse("PROXY UNKNOWN\r\n", 15, &h), 15);
	ck_assert_int_eq(h.local, 1);
	ck_assert_int_eq(h.version, 1);
	ck_assert_int_eq(parse("PROXY UNKNOWN 1.2.3.4 x y z\r\nGET", 32, &h),
	    29);
	ck_assert_int_eq(h.local, 1);
}
END_TEST

static const char *const v1_bad[] = {
	"GET / HTTP/1.1\r\n\r\n",
	"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	/* ClientHello */
	"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
	"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
	"PROXY TCP4\r\n",
	"PROXY\r\n",
	"PROXY \r\n",
	"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP4 ::1 ::1 1 2\r\n",
	"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
	"PROXY TCP4 1.2.3.4 5.6.7.8 1 \t2\r\n",
	"PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n",
	"PROXY TCP6 2001:db8::1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
};

START_TEST(test_v1_bad)
{
	const char *in = v1_bad[_i];
	struct proxy_header h;
	size_t n = strlen(in);

	if (_i == 24)
		n = 33;		/* the one with a NUL */
	ck_assert_msg(parse(in, n, &h) == PROXY_INVALID, "accepted: %s", in);
	ck_assert_ptr_nonnull(h.why);
	prefixes_then_invalid(in, n);
}
END_TEST

START_TEST(test_v1_refused_at_first_byte)
{
	struct proxy_header h;

	/* A client that speaks HTTP or TLS at once is told at once. */
	ck_assert_int_eq(parse("G", 1, &h), PROXY_INVALID);
	ck_assert_int_eq(parse("\x16", 1, &h), PROXY_INVALID);
	ck_assert_int_eq(parse("PRI * HTTP/2.0", 14, &h), PROXY_INVALID);
	ck_assert_int_eq(parse("", 0, &h), PROXY_AGAIN);
	ck_assert_int_eq(parse("PROX", 4, &h), PROXY_AGAIN);
}
END_TEST

START_TEST(test_v1_no_crlf_within_107_bytes)
{
	char in[200];
	struct proxy_header h;

	memset(in, '1', sizeof(in));
	memcpy(in, "PROXY TCP4 ", 11);
	ck_assert_int_eq(parse(in, PROXY_V1_MAX - 1, &h), PROXY_AGAIN);
	ck_assert_int_eq(parse(in, PROXY_V1_MAX, &h), PROXY_INVALID);
	ck_assert_int_eq(parse(in, sizeof(in), &h), PROXY_INVALID);
}
END_TEST

/*
 * v2.
 */

struct v2 {
	uint8_t b[70000];
	size_t n;
};

static void
v2_start(struct v2 *v, uint8_t ver_cmd, uint8_t fam)
{
	memcpy(v->b, sig, 12);
	v->b[12] = ver_cmd;
	v->b[13] = fam;
	v->n = 16;
}

static void
v2_put(struct v2 *v, const void *p, size_t n)
{
	ck_assert_uint_le(v->n + n, sizeof(v->b));
	memcpy(v->b + v->n, p, n);
	v->n += n;
}

static void
v2_tlv(struct v2 *v, uint8_t type, const void *p, size_t n)
{
	uint8_t t[3] = { type, (uint8_t)(n >> 8), (uint8_t)n };

	v2_put(v, t, 3);
	v2_put(v, p, n);
}

/* Set the length field from what was put. */
static void
v2_end(struct v2 *v)
{
	size_t len = v->n - 16;

	v->b[14] = (uint8_t)(len >> 8);
	v->b[15] = (uint8_t)len;
}

static void
v2_inet(struct v2 *v, const char *src, const char *dst, uint16_t sp,
    uint16_t dport)
{
	uint8_t a[12];

	ck_assert_int_eq(inet_pton(AF_INET, src, a), 1);
	ck_assert_int_eq(inet_pton(AF_INET, dst, a + 4), 1);
	a[8] = (uint8_t)(sp >> 8);
	a[9] = (uint8_t)sp;
	a[10] = (uint8_t)(dport >> 8);
	a[11] = (uint8_t)dport;
	v2_put(v, a, 12);
}

/* The reference CRC-32C, table-driven (the parser's is bitwise). */
static uint32_t
ref_crc32c(const uint8_t *p, size_t n)
{
	static uint32_t table[256];
	uint32_t c;
	size_t i;
	int k;

	if (table[1] == 0)
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
			table[i] = c;
		}
	c = 0xffffffff;
	for (i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

START_TEST(test_v2_inet_leaves_the_request)
{
	static struct v2 v;
	struct proxy_header h;
	size_t hn;

	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "198.51.100.9", "10.0.0.2", 5555, 80);
	v2_end(&v);
	hn = v.n;
	v2_put(&v, "\x16\x03\x01", 3);	/* a ClientHello follows */
	ck_assert_int_eq(parse(v.b, v.n, &h), (ssize_t)hn);
	ck_assert_int_eq(h.version, 2);
	expect_addrs(&h, "198.51.100.9:5555", "10.0.0.2:80");
	prefixes_need_more(v.b, hn, PROXY_HEADER_MAX);
}
END_TEST

START_TEST(test_v2_inet6)
{
	static struct v2 v;
	struct proxy_header h;
	uint8_t a[36] = { 0 };

	inet_pton(AF_INET6, "2001:db8::42", a);
	inet_pton(AF_INET6, "::1", a + 16);
	a[32] = 0x1f;
	a[33] = 0x90;
	a[35] = 1;
	v2_start(&v, 0x21, 0x21);
	v2_put(&v, a, sizeof(a));
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), (ssize_t)v.n);
	expect_addrs(&h, "[2001:db8::42]:8080", "[::1]:1");
}
END_TEST

START_TEST(test_v2_local_keeps_the_peer)
{
	static struct v2 v;
	struct proxy_header h;

	/* HAProxy's health checks: LOCAL, UNSPEC, no address. */
	v2_start(&v, 0x20, 0x00);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), 16);
	ck_assert_int_eq(h.local, 1);
	/* LOCAL with an address block: discarded, even a short one. */
	v2_start(&v, 0x20, 0x11);
	v2_put(&v, "abcd", 4);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), 20);
	ck_assert_int_eq(h.local, 1);
}
END_TEST

START_TEST(test_v2_unspec_and_unix_keep_the_peer)
{
	static struct v2 v;
	struct proxy_header h;
	uint8_t un[216] = { '/', 'x' };

	v2_start(&v, 0x21, 0x00);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), 16);
	ck_assert_int_eq(h.local, 1);
	v2_start(&v, 0x21, 0x31);
	v2_put(&v, un, sizeof(un));
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), (ssize_t)v.n);
	ck_assert_int_eq(h.local, 1);
	/* A UDP client is no TCP client either. */
	v2_start(&v, 0x21, 0x12);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), 28);
	ck_assert_int_eq(h.local, 1);
}
END_TEST

START_TEST(test_v2_tlvs_known_and_skipped)
{
	static struct v2 v;
	struct proxy_header h;
	uint8_t ssl[5 + 3 + 7 + 3 + 3] = { 0x07, 0, 0, 0, 0 };

	/* SSL: client flags, verify, sub-TLVs VERSION and CN. */
	memcpy(ssl + 5, "\x21\x00\x07TLSv1.3", 10);
	memcpy(ssl + 15, "\x22\x00\x03" "abc", 6);
	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&v, 0x01, "h2", 2);
	v2_tlv(&v, 0x02, "example.com", 11);
	v2_tlv(&v, 0x04, "\0\0\0\0\0", 5);		/* NOOP */
	v2_tlv(&v, 0xe0, "vendor", 6);		/* unknown */
	v2_tlv(&v, 0x05, "", 0);			/* empty UNIQUE_ID */
	v2_tlv(&v, 0x20, ssl, sizeof(ssl));
	v2_tlv(&v, 0x30, "netns", 5);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), (ssize_t)v.n);
	expect_addrs(&h, "1.2.3.4:1", "5.6.7.8:2");
	ck_assert_uint_eq(h.alpn_len, 2);
	ck_assert_int_eq(memcmp(h.alpn, "h2", 2), 0);
	ck_assert_uint_eq(h.authority_len, 11);
	ck_assert_int_eq(memcmp(h.authority, "example.com", 11), 0);
	ck_assert_int_eq(h.ssl, 1);
	ck_assert_uint_eq(h.ntlvs, 9);
	prefixes_need_more(v.b, v.n, PROXY_HEADER_MAX);
}
END_TEST

START_TEST(test_v2_tlv_past_the_header)
{
	static struct v2 v;
	struct proxy_header h;

	/* A TLV that claims more than the header holds. */
	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_put(&v, "\xe0\x00\x05" "abcd", 7);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
	ck_assert_str_eq(h.why, "v2: TLV longer than the header");
	/* One or two bytes where a TLV should start. */
	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_put(&v, "\x04\x00", 2);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
	ck_assert_str_eq(h.why, "v2: TLV cut short");
	/* A sub-TLV past the end of its SSL TLV, though within the
	 * header. */
	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_put(&v, "\x20\x00\x08" "\x01\0\0\0\0" "\x21\x00\x04", 11);
	v2_put(&v, "\x04\x00\x01" "x", 4);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
	ck_assert_str_eq(h.why, "v2: TLV longer than the header");
	/* An SSL TLV too short for its fixed part. */
	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&v, 0x20, "\x01\0\0\0", 4);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
	/* An address block longer than the header. */
	v2_start(&v, 0x21, 0x21);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
}
END_TEST

START_TEST(test_v2_crc32c)
{
	static struct v2 v;
	struct proxy_header h;
	uint32_t crc;
	size_t at;

	ck_assert_uint_eq(ref_crc32c((const uint8_t *)"123456789", 9),
	    0xe3069283);
	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&v, 0x02, "host", 4);
	at = v.n + 3;
	v2_tlv(&v, 0x03, "\0\0\0\0", 4);
	v2_end(&v);
	crc = ref_crc32c(v.b, v.n);
	v.b[at] = (uint8_t)(crc >> 24);
	v.b[at + 1] = (uint8_t)(crc >> 16);
	v.b[at + 2] = (uint8_t)(crc >> 8);
	v.b[at + 3] = (uint8_t)crc;
	ck_assert_int_eq(parse(v.b, v.n, &h), (ssize_t)v.n);
	ck_assert_int_eq(h.crc_checked, 1);
	v.b[20] ^= 1;		/* an address changed in transit */
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
	ck_assert_str_eq(h.why, "v2: CRC32C mismatch");
	v.b[20] ^= 1;
	v.b[at + 3] ^= 0x80;
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
	/* A CRC32C TLV must hold four bytes. */
	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&v, 0x03, "\0\0\0", 3);
	v2_end(&v);
	ck_assert_int_eq(parse(v.b, v.n, &h), PROXY_INVALID);
}
END_TEST

START_TEST(test_v2_bad_fixed_part)
{
	static const uint8_t bytes[][2] = {
		{ 0x11, 0x11 },	/* version 1 in binary */
		{ 0x31, 0x11 },	/* version 3 */
		{ 0x22, 0x11 },	/* command 2 */
		{ 0x2f, 0x11 },
		{ 0x21, 0x41 },	/* family 4 */
		{ 0x21, 0x13 },	/* transport 3 */
	};
	static struct v2 v;
	struct proxy_header h;
	size_t i;

	for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		v2_start(&v, bytes[i][0], bytes[i][1]);
		v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
		v2_end(&v);
		ck_assert_msg(parse(v.b, v.n, &h) == PROXY_INVALID,
		    "%02x %02x accepted", bytes[i][0], bytes[i][1]);
		/* Known as soon as the byte is there. */
		ck_assert_int_eq(parse(v.b, 14, &h), PROXY_INVALID);
	}
	/* A signature wrong in its last byte. */
	v2_start(&v, 0x21, 0x11);
	v.b[11] = 0x0b;
	ck_assert_int_eq(parse(v.b, 12, &h), PROXY_INVALID);
	ck_assert_int_eq(parse(v.b, 11, &h), PROXY_AGAIN);
}
END_TEST

START_TEST(test_v2_length_bounded_by_max)
{
	static struct v2 v;
	static uint8_t big[3000];
	struct proxy_header h;

	v2_start(&v, 0x21, 0x11);
	v2_inet(&v, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&v, 0xe1, big, sizeof(big));
	v2_end(&v);
	/* Refused from the fixed part alone, before the rest arrives. */
	ck_assert_int_eq(parse(v.b, 16, &h), PROXY_INVALID);
	ck_assert_str_eq(h.why, "v2: header longer than bridge accepts");
	ck_assert_int_eq(parse_at_guard(v.b, v.n, 65551, &h), (ssize_t)v.n);
	ck_assert_int_eq(parse_at_guard(v.b, v.n, v.n, &h), (ssize_t)v.n);
	ck_assert_int_eq(parse_at_guard(v.b, v.n, v.n - 1, &h),
	    PROXY_INVALID);
	/* The largest length the field can say, with a huge max. */
	v2_start(&v, 0x21, 0x00);
	memset(v.b + 16, 0x04, 65535);	/* NOOPs of 0x0404 bytes... */
	v.n = 16 + 65535;
	v2_end(&v);
	ck_assert_int_eq(parse_at_guard(v.b, v.n, SIZE_MAX, &h),
	    PROXY_INVALID);	/* ... which overrun the end */
	ck_assert_int_eq(parse_at_guard(v.b, v.n - 1, SIZE_MAX, &h),
	    PROXY_AGAIN);
	/* A tiny max is raised to a v1 line's. */
	ck_assert_int_eq(parse_at_guard("PROXY UNKNOWN\r\n", 15, 0, &h), 15);
}
END_TEST

/*
 * The allow list.
 */

static int
allowed(const struct proxy_allow *a, const char *text)
{
	union proxy_addr s;

	memset(&s, 0, sizeof(s));
	if (inet_pton(AF_INET, text, &s.in.sin_addr) == 1)
		s.sa.sa_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &s.in6.sin6_addr),
		    1);
		s.sa.sa_family = AF_INET6;
	}
	return proxy_allowed(a, &s.sa);
}

START_TEST(test_allow_default_is_loopback)
{
	struct proxy_allow a;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char err[128];

	ck_assert_int_eq(proxy_allow_parse(&a, PROXY_ALLOW_DEFAULT, err,
	    sizeof(err)), 0);
	ck_assert(allowed(&a, "127.0.0.1"));
	ck_assert(allowed(&a, "::1"));
	ck_assert(allowed(&a, "::ffff:127.0.0.1"));
	ck_assert(!allowed(&a, "127.0.0.2"));
	ck_assert(!allowed(&a, "10.0.0.1"));
	ck_assert(!allowed(&a, "::2"));
	ck_assert(proxy_allowed(&a, (struct sockaddr *)&un));
}
END_TEST

START_TEST(test_allow_networks)
{
	struct proxy_allow a;
	char err[128];

	ck_assert_int_eq(proxy_allow_parse(&a, " 10.0.0.0/8 , 172.16.0.0/12,"
	    "2001:db8::/33,192.0.2.7", err, sizeof(err)), 0);
	ck_assert_uint_eq(a.n, 4);
	ck_assert(allowed(&a, "10.255.1.2"));
	ck_assert(allowed(&a, "172.31.255.255"));
	ck_assert(!allowed(&a, "172.32.0.0"));
	ck_assert(allowed(&a, "2001:db8:7fff::1"));
	ck_assert(!allowed(&a, "2001:db8:8000::1"));
	ck_assert(allowed(&a, "192.0.2.7"));
	ck_assert(!allowed(&a, "192.0.2.8"));
	ck_assert(!allowed(&a, "11.0.0.0"));
	ck_assert_int_eq(proxy_allow_parse(&a, "0.0.0.0/0", err, sizeof(err)),
	    0);
	ck_assert(allowed(&a, "203.0.113.1"));
	ck_assert(!allowed(&a, "2001:db8::1"));
	ck_assert_int_eq(proxy_allow_parse(&a, "*", err, sizeof(err)), 0);
	ck_assert(allowed(&a, "2001:db8::1"));
	ck_assert_int_eq(proxy_allow_parse(&a, "", err, sizeof(err)), 0);
	ck_assert(!allowed(&a, "127.0.0.1"));
}
END_TEST

START_TEST(test_allow_bad_lists)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "::/129", "localhost", "1.2.3.4/", "1.2.3.4/x",
		"1.2.3.4/-1", "1.2.3.4/ 8", "1.2.3", "127.0.0.1,foo",
		"[::1]", "1.2.3.4:80",
	};
	struct proxy_allow a;
	char err[128], many[64 * 16 + 32];
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(proxy_allow_parse(&a, bad[i], err, sizeof(err))
		    == -1, "accepted %s", bad[i]);
		ck_assert_msg(strstr(err, "is not an address") != NULL, "%s",
		    err);
	}
	for (i = 0; i <= PROXY_ALLOW_MAX; i++)
		n += snprintf(many + n, sizeof(many) - (size_t)n,
		    "%s10.0.0.%zu", i ? "," : "", i);
	ck_assert_int_eq(proxy_allow_parse(&a, many, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
}
END_TEST

static Suite *
proxy_suite(void)
{
	Suite *s = suite_create("proxy_proto");
	TCase *tc;

	tc = tcase_create("v1");
	tcase_add_unchecked_fixture(tc, guard_setup, NULL);
	tcase_add_test(tc, test_v1_tcp4_leaves_the_request);
	tcase_add_test(tc, test_v1_tcp6);
	tcase_add_test(tc, test_v1_longest_line_is_accepted);
	tcase_add_test(tc, test_v1_unknown_keeps_the_peer);
	tcase_add_loop_test(tc, test_v1_bad, 0,
	    (int)(sizeof(v1_bad) / sizeof(v1_bad[0])));
	tcase_add_test(tc, test_v1_refused_at_first_byte);
	tcase_add_test(tc, test_v1_no_crlf_within_107_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("v2");
	tcase_add_unchecked_fixture(tc, guard_setup, NULL);
	tcase_add_test(tc, test_v2_inet_leaves_the_request);
	tcase_add_test(tc, test_v2_inet6);
	tcase_add_test(tc, test_v2_local_keeps_the_peer);
	tcase_add_test(tc, test_v2_unspec_and_unix_keep_the_peer);
	tcase_add_test(tc, test_v2_tlvs_known_and_skipped);
	tcase_add_test(tc, test_v2_tlv_past_the_header);
	tcase_add_test(tc, test_v2_crc32c);
	tcase_add_test(tc, test_v2_bad_fixed_part);
	tcase_add_test(tc, test_v2_length_bounded_by_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("allow");
	tcase_add_test(tc, test_allow_default_is_loopback);
	tcase_add_test(tc, test_allow_networks);
	tcase_add_test(tc, test_allow_bad_lists);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(proxy_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
