/*
 * The plain transport: the socket as it is.  (TLS is in tls_openssl.c.)
 */
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"

static ssize_t
t_plain_recv(int fd, void *tls, void *buf, size_t n, uint32_t *want)
{
	(void)tls;
	*want = EPOLLIN;
	return recv(fd, buf, n, 0);
}

static ssize_t
t_plain_send(int fd, void *tls, const void *buf, size_t n, uint32_t *want)
{
	(void)tls;
	*want = EPOLLOUT;
	return send(fd, buf, n, MSG_NOSIGNAL);
}

static int
t_plain_pending(void *tls)
{
	(void)tls;
	return 0;
}

static void
t_plain_close(int fd, void *tls)
{
	(void)tls;
	close(fd);
}

const struct transport transport_plain = {
	.name = "plain",
	.recv = t_plain_recv,
	.send = t_plain_send,
	.pending = t_plain_pending,
	.close = t_plain_close,
};

size_t
transport_unsent(int fd)
{
	int n;

	/* TCP: bytes not sent yet (in flight ones are on their way, and a
	 * client that does not read closes its window); a unix socket
	 * only knows what the peer has not read. */
	if (ioctl(fd, SIOCOUTQNSD, &n) == -1 &&
	    ioctl(fd, SIOCOUTQ, &n) == -1)
		return 0;
	return n > 0 ? (size_t)n : 0;
}
