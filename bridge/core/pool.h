/*
 * Memory pool: one per request.  Allocations are freed together by
 * pool_destroy(), which first runs the registered cleanups in reverse
 * order (close an fd, unlink a temp file, call a module's finish hook).
 */
#ifndef BRIDGE_POOL_H
#define BRIDGE_POOL_H

#include <stddef.h>

struct pool;

/* Returns a new pool, or NULL (ENOMEM). */
struct pool *pool_create(void);
/* Run cleanups (last registered first), then free everything. */
void pool_destroy(struct pool *p);
/* Aligned allocation of n bytes; NULL on ENOMEM. */
void *pool_alloc(struct pool *p, size_t n);
/* Copy of s[0..n) with a NUL after it; NULL on ENOMEM. */
char *pool_strndup(struct pool *p, const char *s, size_t n);
/* Register fn(arg) to run at pool_destroy(); returns 0 or -1. */
int pool_cleanup(struct pool *p, void (*fn)(void *), void *arg);

#endif /* BRIDGE_POOL_H */
