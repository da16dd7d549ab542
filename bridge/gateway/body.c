#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "body.h"

static size_t body_mem_max = 64 * 1024;
static const char *body_tmpdir = "/tmp";

void
body_configure(size_t mem_max, const char *tmpdir)
{
	body_mem_max = mem_max;
	if (tmpdir != NULL)
		body_tmpdir = tmpdir;
}

void
body_init(struct body *b)
{
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *s = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
body_tmpfile(void)
{
	int fd;

	fd = open(body_tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1) {
		char path[4096];

		/* Filesystems without O_TMPFILE: create, then unlink. */
		snprintf(path, sizeof(path), "%s/bridge-spool-XXXXXX",
		    body_tmpdir);
		if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
			return -1;
		unlink(path);
	}
	return fd;
}

/* Move the in-memory bytes to an anonymous file in the spool directory. */
static int
spill(struct body *b)
{
	int fd;

	if ((fd = body_tmpfile()) == -1)
		return -1;
	if (b->mem.len > 0 &&
	    write_all(fd, b->mem.data + b->mem.off, b->mem.len) == -1) {
		close(fd);
		return -1;
	}
	buf_free(&b->mem);
	b->fd = fd;
	return 0;
}

int
body_append(struct body *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (b->fd == -1 && b->mem.len + n > body_mem_max && spill(b) == -1)
		return -1;
	if (b->fd != -1) {
		if (write_all(b->fd, p, n) == -1)
			return -1;
	} else if (buf_append(&b->mem, p, n) == -1)
		return -1;
	b->len += n;
	return 0;
}

ssize_t
body_read(struct body *b, void *p, size_t n)
{
	ssize_t r;

	if (b->rpos >= b->len)
		return 0;
	if (n > b->len - b->rpos)
		n = (size_t)(b->len - b->rpos);
	if (b->fd == -1) {
		memcpy(p, b->mem.data + b->mem.off + b->rpos, n);
		r = (ssize_t)n;
	} else {
		do
			r = pread(b->fd, p, n, (off_t)b->rpos);
		while (r == -1 && errno == EINTR);
		if (r == -1)
			return -1;
	}
	b->rpos += (uint64_t)r;
	return r;
}

void
body_free(struct body *b)
{
	buf_free(&b->mem);
	if (b->fd != -1)
		close(b->fd);
	body_init(b);
}
