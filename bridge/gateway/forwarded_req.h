/*
 * Proxy headers applied to a request: the HTTP front end's one call into
 * forwarded.h, after it has built a request's variables.
 */
#ifndef BRIDGE_FORWARDED_REQ_H
#define BRIDGE_FORWARDED_REQ_H

#include <sys/socket.h>

#include "req.h"

/*
 * If r carries X-Forwarded-* or Forwarded headers (as HTTP_* variables)
 * and peer is in --forwarded-allow-ips (forwarded_trust), set
 * REMOTE_ADDR, REQUEST_SCHEME, HTTPS, HTTP_HOST, SERVER_NAME and
 * SERVER_PORT from them, and the Host of r->fields as HTTP_HOST; from
 * any other peer, remove them, from the variables and r->fields (logged
 * at debug).  Returns 0, or -1 when out of memory.
 */
int forwarded_req_apply(struct req *r, const struct sockaddr *peer);

#endif /* BRIDGE_FORWARDED_REQ_H */
