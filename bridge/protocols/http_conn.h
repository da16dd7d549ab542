/*
 * HTTP/1.1 front end (RFC 9110, RFC 9112): persistent connections,
 * pipelining, chunked bodies both ways, 100-continue.  A request is read
 * whole (headers and body, bounded) before the module runs; the response
 * is queued and drained after it returns, so a slow client never holds
 * the application.
 */
#ifndef BRIDGE_HTTP_CONN_H
#define BRIDGE_HTTP_CONN_H

struct listener;

/* Take an accepted, non-blocking socket.  Returns 0, or -1 (closed). */
int http_conn_accept(int fd, const struct listener *l);

struct sockaddr;

/*
 * The same, for a connection whose endpoints a PROXY protocol header
 * gave (proxy_conn.c): peer and local (IPv4 or IPv6; NULL: the socket's
 * own) become REMOTE_ADDR/REMOTE_PORT and SERVER_ADDR/SERVER_PORT.
 */
int http_conn_accept_from(int fd, const struct listener *l,
    const struct sockaddr *peer, const struct sockaddr *local);

/*
 * Graceful stop (conn_host.stopping set): idle connections get the drain
 * window, busy ones close when done.  Safe to call from inside a
 * connection's own event: the walk runs after the current loop round.
 */
void http_conn_shutdown(void);

#endif /* BRIDGE_HTTP_CONN_H */
