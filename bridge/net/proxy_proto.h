/*
 * PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's
 * "send-proxy" / "send-proxy-v2" and nginx's "proxy_protocol on" send it:
 * a header in front of a connection's first byte that says who the
 * client is, when a proxy that does not speak HTTP (a TCP load balancer,
 * TLS passthrough) sits in front of bridge.
 *
 * The parser is pure and stateless, like http_parse.c: it reads the
 * caller's buffer (the bytes received so far, from the connection's
 * first one), allocates nothing, keeps nothing between calls and is
 * bounded by the caller's limit.  The caller calls it again with more
 * bytes after "need more".  The allow list (--proxy-allow-from) is pure
 * too.  Reading the socket is proxy_conn.c's.
 */
#ifndef BRIDGE_PROXY_PROTO_H
#define BRIDGE_PROXY_PROTO_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PROXY_INVALID	(-1)	/* not a PROXY header, or a bad one */
#define PROXY_AGAIN	(-2)	/* a valid beginning: need more bytes */

#define PROXY_V1_MAX 107	/* a v1 line, CRLF included */
#define PROXY_V2_HEAD 16	/* signature, version/command, family, len */
#define PROXY_HEADER_MAX 2048	/* the largest header bridge accepts */

/* An IPv4 or IPv6 socket address. */
union proxy_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct proxy_header {
	int version;		/* 1 or 2 */
	/*
	 * No client address to take: v2 LOCAL (the proxy's own health
	 * check), v1 UNKNOWN, or an address family other than TCP over
	 * IPv4/IPv6.  The connection's own endpoints stand.
	 */
	int local;
	union proxy_addr src;	/* the client, unless local */
	union proxy_addr dst;	/* the address it connected to */
	/* v2 TLVs of note: slices of the caller's buffer, NULL if absent. */
	const uint8_t *alpn;
	size_t alpn_len;
	const uint8_t *authority;	/* the client's SNI */
	size_t authority_len;
	int ssl;		/* PP2_TYPE_SSL says the client used TLS */
	int crc_checked;	/* a PP2_TYPE_CRC32C was present and matched */
	unsigned ntlvs;		/* TLVs seen (known or skipped) */
	const char *why;	/* PROXY_INVALID: what was wrong, for logs */
};

/*
 * Parse the header at the start of buf[0..len).  Returns the header's
 * length in bytes (the connection's own bytes follow it), PROXY_AGAIN
 * when buf is a valid beginning of a header no longer than max, or
 * PROXY_INVALID (h->why says why) as soon as the bytes cannot begin one:
 * a plain HTTP request or a TLS ClientHello is refused at its first
 * byte.  max is clamped to [PROXY_V1_MAX, 65551].  h is written on every
 * call; its pointers point into buf.
 */
ssize_t proxy_parse(const void *buf, size_t len, size_t max,
    struct proxy_header *h);

/* --proxy-allow-from: the addresses a PROXY header is believed from. */
#define PROXY_ALLOW_MAX 64
#define PROXY_ALLOW_DEFAULT "127.0.0.1,::1"

struct proxy_net {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network order; 4 used for IPv4 */
	unsigned prefix;	/* leading bits that must match */
};

struct proxy_allow {
	int all;		/* "*" */
	size_t n;
	struct proxy_net nets[PROXY_ALLOW_MAX];
};

/*
 * Parse a comma-separated list of ADDR or ADDR/PREFIX (IPv4, IPv6), or
 * "*", into a.  Returns 0, or -1 with a one-line reason in err.
 */
int proxy_allow_parse(struct proxy_allow *a, const char *list, char *err,
    size_t errlen);

/*
 * Whether a allows the peer sa.  A unix-socket peer is allowed (only
 * local processes reach it, as the socket's mode says); an IPv4-mapped
 * IPv6 peer matches as the IPv4 address it is.
 */
int proxy_allowed(const struct proxy_allow *a, const struct sockaddr *sa);

#endif /* BRIDGE_PROXY_PROTO_H */
