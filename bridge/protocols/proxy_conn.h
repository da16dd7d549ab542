/*
 * The PROXY protocol stage of an HTTP or HTTPS connection (--proxy-protocol):
 * before any HTTP byte or TLS handshake, the connection must come from an
 * address of --proxy-allow-from and begin with a PROXY v1 or v2 header,
 * read within --header-timeout; otherwise it is closed.  Then the
 * connection goes to http_conn_accept_from() with the client's address
 * from the header (or its own endpoints for v2 LOCAL and v1 UNKNOWN).
 *
 * The header is read with MSG_PEEK and only its own bytes are taken off
 * the socket, so what follows it (a request, a ClientHello) is read by
 * the HTTP front end and the TLS transport as if nothing came before.
 * Loop thread only.
 */
#ifndef BRIDGE_PROXY_CONN_H
#define BRIDGE_PROXY_CONN_H

struct listener;

/* Take an accepted, non-blocking socket of an HTTP or HTTPS listener.
 * Returns 0, or -1 (closed). */
int proxy_conn_accept(int fd, const struct listener *l);

/* Graceful stop: headers still on their way get the drain window. */
void proxy_conn_shutdown(void);

#endif /* BRIDGE_PROXY_CONN_H */
