/*
 * Request body store.  Front ends append the body as it arrives, before the
 * application runs; the application then reads it back.  Bodies stay in
 * memory up to a threshold and move to an unlinked temp file above it, so a
 * large upload costs disk, not worker memory.
 */
#ifndef BRIDGE_BODY_H
#define BRIDGE_BODY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct body {
	struct buf mem;
	int fd;		/* spool file, or -1 while in memory */
	uint64_t len;	/* bytes stored */
	uint64_t rpos;	/* next byte read() returns */
};

/* An anonymous read-write file in the spool directory (already
 * unlinked), or -1 with errno.  Also used to spool responses. */
int body_tmpfile(void);

/* Process-wide settings, from the configuration. */
void body_configure(size_t mem_max, const char *tmpdir);

void body_init(struct body *b);
/* Append n bytes.  Returns 0, or -1 with errno (disk or memory). */
int body_append(struct body *b, const void *p, size_t n);
/* Read up to n bytes; returns the count, 0 at the end, -1 on error. */
ssize_t body_read(struct body *b, void *p, size_t n);
/* Release memory and spool file. */
void body_free(struct body *b);

#endif /* BRIDGE_BODY_H */
