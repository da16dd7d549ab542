#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define POOL_CHUNK 4096
#define POOL_ALIGN 16

struct chunk {
	struct chunk *next;
	size_t used;
	size_t size;
	_Alignas(POOL_ALIGN) unsigned char mem[];
};

struct cleanup {
	struct cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct pool {
	struct chunk *chunks;
	struct cleanup *cleanups;
};

struct pool *
pool_create(void)
{
	return calloc(1, sizeof(struct pool));
}

void
pool_destroy(struct pool *p)
{
	struct chunk *c, *cn;
	struct cleanup *cl;

	if (p == NULL)
		return;
	/* A cleanup may itself register more; take them one at a time. */
	while ((cl = p->cleanups) != NULL) {
		p->cleanups = cl->next;
		cl->fn(cl->arg);
	}
	for (c = p->chunks; c != NULL; c = cn) {
		cn = c->next;
		free(c);
	}
	free(p);
}

void *
pool_alloc(struct pool *p, size_t n)
{
	struct chunk *c = p->chunks;
	size_t size;
	void *r;

	if (n > SIZE_MAX - POOL_ALIGN - sizeof(*c) - POOL_CHUNK)
		return NULL;	/* rounding up below must not wrap */
	n = (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
	if (n == 0)
		n = POOL_ALIGN;
	if (c == NULL || c->size - c->used < n) {
		size = n > POOL_CHUNK / 2 ? n : POOL_CHUNK - sizeof(*c);
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->used = 0;
		c->size = size;
		/* A big one-off block goes behind the current chunk so the
		 * rest of that chunk stays in use. */
		if (n > POOL_CHUNK / 2 && p->chunks != NULL) {
			c->next = p->chunks->next;
			p->chunks->next = c;
		} else {
			c->next = p->chunks;
			p->chunks = c;
		}
	}
	r = c->mem + c->used;
	c->used += n;
	return r;
}

char *
pool_strndup(struct pool *p, const char *s, size_t n)
{
	char *d;

	if (n == SIZE_MAX || (d = pool_alloc(p, n + 1)) == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

int
pool_cleanup(struct pool *p, void (*fn)(void *), void *arg)
{
	struct cleanup *cl;

	if ((cl = pool_alloc(p, sizeof(*cl))) == NULL)
		return -1;
	cl->fn = fn;
	cl->arg = arg;
	cl->next = p->cleanups;
	p->cleanups = cl;
	return 0;
}
