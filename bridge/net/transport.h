/*
 * Transports: how a connection's bytes cross the socket, plain or TLS.
 * A front end calls through the table and never sees OpenSSL.
 *
 * recv/send return a byte count, 0 for end of stream (recv only), or -1
 * with errno: EAGAIN when the transport waits for the socket (*want then
 * says for which: EPOLLIN or EPOLLOUT; TLS may need to read to write),
 * anything else for a dead connection.
 */
#ifndef BRIDGE_TRANSPORT_H
#define BRIDGE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct transport {
	const char *name;
	ssize_t (*recv)(int fd, void *tls, void *buf, size_t n,
	    uint32_t *want);
	ssize_t (*send)(int fd, void *tls, const void *buf, size_t n,
	    uint32_t *want);
	/* Bytes already decrypted and waiting (epoll will not say). */
	int (*pending)(void *tls);
	/* Orderly close (TLS close_notify, best effort), then free. */
	void (*close)(int fd, void *tls);
};

extern const struct transport transport_plain;

/*
 * Bytes written to fd that the peer has not taken yet (the kernel's send
 * queue: SIOCOUTQNSD for TCP, SIOCOUTQ for unix sockets), 0 when the
 * kernel cannot say.  Output handed to the
 * kernel is still output waiting for a client that does not read.
 */
size_t transport_unsent(int fd);

#endif /* BRIDGE_TRANSPORT_H */
