/*
 * A bare epoll FastCGI responder: the ceiling of tests/bench/run.sh's
 * fastcgi group (issue 2: bridge should come within 0.8x of it).
 *
 *	cc -O2 -o epoll_hello epoll_hello.c
 *	spawn-fcgi -F 2 -s /tmp/epoll.sock -- ./epoll_hello
 *
 * It frames records and nothing else: no parameter is decoded, no
 * request is validated, no application is called.  Every request
 * (BEGIN_REQUEST ... empty STDIN) is answered with the bytes
 * examples/native/hello.c gives bridge, on the listening socket inherited
 * on fd 0, with FCGI_KEEP_CONN honoured.  Not a server: a measuring
 * stick.
 */
#define _GNU_SOURCE		/* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define FCGI_BEGIN_REQUEST 1
#define FCGI_END_REQUEST 3
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_KEEP_CONN 1

#define IN_MAX 65536
#define OUT_MAX 65536

struct conn {
	int fd;
	int keep;		/* FCGI_KEEP_CONN of the current request */
	int closing;		/* close once out is written */
	int want_out;		/* EPOLLOUT asked for: out did not fit */
	size_t inlen, outlen, outoff;
	uint8_t in[IN_MAX];
	uint8_t out[OUT_MAX];
};

static const char body[] = "Content-Type: text/plain\r\n\r\nHello, world!\n";

static void
header(uint8_t *p, int type, unsigned id, size_t len)
{
	p[0] = 1;
	p[1] = (uint8_t)type;
	p[2] = (uint8_t)(id >> 8);
	p[3] = (uint8_t)id;
	p[4] = (uint8_t)(len >> 8);
	p[5] = (uint8_t)len;
	p[6] = 0;
	p[7] = 0;
}

/* STDOUT with the answer, the empty STDOUT, END_REQUEST. */
static int
answer(struct conn *c, unsigned id)
{
	size_t len = sizeof(body) - 1, need = 8 + len + 8 + 16;
	uint8_t *p;

	if (OUT_MAX - c->outlen < need)
		return -1;
	p = c->out + c->outlen;
	header(p, FCGI_STDOUT, id, len);
	memcpy(p + 8, body, len);
	p += 8 + len;
	header(p, FCGI_STDOUT, id, 0);
	header(p + 8, FCGI_END_REQUEST, id, 8);
	memset(p + 16, 0, 8);
	c->outlen += need;
	return 0;
}

/* Frame what arrived; queue an answer per request.  -1: close. */
static int
frame(struct conn *c)
{
	size_t off = 0, clen, rlen;
	unsigned id;
	uint8_t *p;

	while (c->inlen - off >= 8) {
		p = c->in + off;
		clen = (size_t)p[4] << 8 | p[5];
		rlen = 8 + clen + p[6];
		if (c->inlen - off < rlen)
			break;
		id = (unsigned)p[2] << 8 | p[3];
		if (p[1] == FCGI_BEGIN_REQUEST && clen >= 3)
			c->keep = p[8 + 2] & FCGI_KEEP_CONN;
		else if (p[1] == FCGI_STDIN && clen == 0) {
			if (answer(c, id) == -1)
				return -1;
			if (!c->keep)
				c->closing = 1;
		}
		off += rlen;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return c->inlen == IN_MAX ? -1 : 0;
}

/* Write what is queued.  -1: close now. */
static int
flush(struct conn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		c->outoff += (size_t)n;
	}
	c->outoff = c->outlen = 0;
	return c->closing ? -1 : 0;
}

static void
drop(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void
serve(int ep, struct conn *c, uint32_t events)
{
	ssize_t n;

	if (events & EPOLLIN) {
		n = read(c->fd, c->in + c->inlen, IN_MAX - c->inlen);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			drop(ep, c);
			return;
		}
		if (n > 0) {
			c->inlen += (size_t)n;
			if (frame(c) == -1) {
				drop(ep, c);
				return;
			}
		}
	}
	if (flush(c) == -1) {
		drop(ep, c);
		return;
	}
	/* The socket was full: wait for room, then only for input. */
	if ((c->outlen > 0) != c->want_out) {
		struct epoll_event ev;

		c->want_out = c->outlen > 0;
		ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

int
main(void)
{
	struct epoll_event ev, evs[64];
	struct conn *c, lst = { .fd = 0 };
	int ep, n, i, fd;

	fcntl(0, F_SETFL, O_NONBLOCK);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return 1;
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.ptr = &lst;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == -1) {
		perror("epoll_hello: fd 0 is not a listening socket");
		return 1;
	}
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr != &lst) {
				serve(ep, evs[i].data.ptr, evs[i].events);
				continue;
			}
			while ((fd = accept4(0, NULL, NULL, SOCK_NONBLOCK |
			    SOCK_CLOEXEC)) != -1) {
				if ((c = calloc(1, sizeof(*c))) == NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
					close(fd);
					free(c);
				}
			}
		}
	}
}
