#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (b->cap - b->off - b->len >= n)
		return 0;
	/* Slide unread bytes to the front before growing. */
	if (b->off > 0 && b->cap - b->len >= n) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		return 0;
	}
	if (n > SIZE_MAX / 2 - b->len) {
		errno = ENOMEM;
		return -1;
	}
	need = b->len + n;
	cap = b->cap ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if ((p = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(buf_tail(b), p, n);
	b->len += n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = 0;
		b->len = 0;
		return;
	}
	b->off += n;
	b->len -= n;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
