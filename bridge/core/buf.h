/*
 * Growable byte buffer with a read offset: bytes live in
 * data[off .. off+len).  An empty buffer owns no memory after buf_free().
 */
#ifndef BRIDGE_BUF_H
#define BRIDGE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off; /* start of unread bytes */
	size_t len; /* count of unread bytes */
	size_t cap;
};

/* Make room for n more bytes at the end; returns 0 or -1 (ENOMEM). */
int buf_reserve(struct buf *b, size_t n);
/* Append n bytes; returns 0 or -1. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Where the next appended byte goes; call buf_reserve() first. */
static inline uint8_t *
buf_tail(struct buf *b)
{
	return b->data + b->off + b->len;
}
/* Drop n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
/* Release the memory. */
void buf_free(struct buf *b);

#endif /* BRIDGE_BUF_H */
