/*
 * Proxy headers, trusted by the address they come from.
 *
 * A reverse proxy (nginx proxy_pass, HAProxy, a load balancer) tells the
 * application who the client is and how it connected in X-Forwarded-For,
 * X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Port or the RFC 7239
 * Forwarded header.  Anyone can send those headers, so they are believed
 * only from the addresses of --forwarded-allow-ips (Gunicorn's option,
 * default 127.0.0.1,::1; "*" for all).
 *
 * This unit is pure and bounded: it reads the request variables an HTTP
 * request became (HTTP_X_FORWARDED_FOR, ...) and says which variables to
 * set (REMOTE_ADDR, REQUEST_SCHEME, HTTPS, HTTP_HOST, SERVER_NAME,
 * SERVER_PORT) or which to drop; it allocates nothing and logs nothing.
 * forwarded_req.c applies the result to a request, for the HTTP front
 * end (http_conn.c, build_vars()).
 * FastCGI requests are left alone: there the web server's own variables
 * already describe the client.
 */
#ifndef BRIDGE_FORWARDED_H
#define BRIDGE_FORWARDED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway.h"

#define FORWARDED_TRUST_MAX 64	/* entries of --forwarded-allow-ips */
#define FORWARDED_DEFAULT "127.0.0.1,::1"
#define FORWARDED_HOPS_MAX 32	/* list elements walked, from the right */
#define FORWARDED_HOST_MAX 255

/* An address or network allowed to speak for its clients. */
struct forwarded_net {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order; 4 used for IPv4 */
	unsigned prefix;	/* leading bits that must match */
};

struct forwarded_trust {
	int all;		/* "*": every peer */
	size_t n;
	struct forwarded_net nets[FORWARDED_TRUST_MAX];
};

/* The trust list of the process, set once at start-up. */
extern struct forwarded_trust forwarded_trust;

/*
 * Parse a comma-separated list of IPv4/IPv6 addresses, with an optional
 * /PREFIX each, or "*", into t.  An empty list trusts nobody.  Returns 0,
 * or -1 with a one-line reason in err.
 */
int forwarded_trust_parse(struct forwarded_trust *t, const char *list,
    char *err, size_t errlen);

/*
 * Whether t trusts the peer address sa.  A peer without an IP address (a
 * unix socket: only local processes, as the socket's mode allows) is
 * trusted, as Gunicorn does.  IPv4-mapped IPv6 addresses match as IPv4.
 */
int forwarded_trusts(const struct forwarded_trust *t,
    const struct sockaddr *sa);

/* Variables to set, with storage for their values. */
#define FORWARDED_SET_MAX 8
struct forwarded {
	struct bg_var set[FORWARDED_SET_MAX];
	size_t nset;
	char addr[64];		/* REMOTE_ADDR */
	char rport[8];		/* REMOTE_PORT */
	char host[FORWARDED_HOST_MAX + 1];	/* HTTP_HOST */
	char name[FORWARDED_HOST_MAX + 1];	/* SERVER_NAME */
	char port[8];		/* SERVER_PORT */
};

enum forwarded_result {
	FORWARDED_NONE,		/* no proxy header: nothing to do */
	FORWARDED_UNTRUSTED,	/* proxy headers from an untrusted peer:
				 * drop them (forwarded_strip()) */
	FORWARDED_USED		/* out->set holds the variables to set */
};

/*
 * Read the proxy headers among vars (as HTTP_* variables) and decide.
 * peer_trusted comes from forwarded_trusts() for the connection's peer.
 * The client is found by walking X-Forwarded-For (or Forwarded's for=)
 * from the right, past addresses t trusts, as nginx's real_ip_recursive
 * does; Forwarded counts only without any X-Forwarded-* header (a proxy
 * that sets those may pass a client's Forwarded on).  A value that does
 * not parse
 * is ignored, leaving the connection's own.  The scheme changing without
 * a port given sets SERVER_PORT to the scheme's default.  Values in
 * out->set point into out.
 */
enum forwarded_result forwarded_resolve(const struct forwarded_trust *t,
    int peer_trusted, const struct bg_var *vars, size_t nvars,
    struct forwarded *out);

/*
 * Remove the proxy header variables from vars in place, keeping the
 * order of the others, so that an application reading them (Django's
 * SECURE_PROXY_SSL_HEADER) is not fooled by an untrusted client.
 * Returns the new count.
 */
size_t forwarded_strip(struct bg_var *vars, size_t nvars);

/*
 * Whether a header field name (as received) is one of the proxy fields
 * forwarded_strip() drops: X-Forwarded-*, Forwarded, X-Real-IP, case
 * aside and '_' read as '-' (the spelling a framework turning names
 * into HTTP_* keys cannot tell apart).
 */
int forwarded_is_field(const char *name, size_t len);

/* forwarded_strip() for header fields as received.  Returns the new
 * count. */
size_t forwarded_strip_fields(struct bg_header *f, size_t n);

#endif /* BRIDGE_FORWARDED_H */
