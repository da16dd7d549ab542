/*
 * FastCGI front end (Responder role, FastCGI spec 1.0): a non-blocking
 * connection state machine on the worker's event loop.  Requests are
 * buffered whole (PARAMS and STDIN) before the module runs, several may
 * be multiplexed on one connection, and the response is queued and
 * drained after the module returns.
 */
#ifndef BRIDGE_FCGI_CONN_H
#define BRIDGE_FCGI_CONN_H

/* Take an accepted, non-blocking socket.  Returns 0, or -1 (closed). */
struct listener;
int fcgi_conn_accept(int fd, const struct listener *l);

/*
 * Graceful stop (conn_host.stopping set): idle connections get the drain
 * window, busy ones close when done.  Safe to call from inside a
 * connection's own event: the walk runs after the current loop round.
 */
void fcgi_conn_shutdown(void);

#endif /* BRIDGE_FCGI_CONN_H */
