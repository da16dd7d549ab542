#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "scoreboard.h"

static struct scoreboard_head *head;
static struct scoreboard_slot *slots;
static int nslots;
static struct scoreboard_slot *self;	/* this worker's, when counting */

_Static_assert(sizeof(struct scoreboard_head) <= sizeof(struct scoreboard_slot),
    "the head lives in the room of one slot");

static const uint64_t bounds_us[SCOREBOARD_BUCKETS - 1] = {
	SCOREBOARD_BUCKETS_US
};

void
scoreboard_init(int n)
{
	/* The head takes a slot's room: the slots stay aligned. */
	size_t off = sizeof(struct scoreboard_slot);
	void *p;

	p = mmap(NULL, off + (size_t)n * sizeof(*slots),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("scoreboard: mmap: %s", strerror(errno));
	head = p;
	slots = (struct scoreboard_slot *)((char *)p + off);
	nslots = n;
}

struct scoreboard_head *
scoreboard_head(void)
{
	return head;
}

struct scoreboard_slot *
scoreboard_slot(int i)
{
	if (slots == NULL || i < 0 || i >= nslots)
		return NULL;
	return &slots[i];
}

int
scoreboard_size(void)
{
	return nslots;
}

void
scoreboard_attach(struct scoreboard_slot *s)
{
	self = s;
}

int
scoreboard_counting(void)
{
	return self != NULL;
}

void
scoreboard_request_begin(void)
{
	if (self != NULL)
		__atomic_fetch_add(&self->in_flight, 1, __ATOMIC_RELAXED);
}

void
scoreboard_request_end(int status, uint64_t bytes, uint64_t us)
{
	int c, b;

	if (self == NULL)
		return;
	c = status >= 100 && status < 600 ? status / 100 - 1 :
	    SCOREBOARD_CLASSES - 1;
	for (b = 0; b < SCOREBOARD_BUCKETS - 1 && us > bounds_us[b]; b++)
		;
	/* Counters first, in_flight last: a scrape in between sees the
	 * request at most twice, never lost. */
	__atomic_fetch_add(&self->classes[c], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&self->buckets[b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&self->duration_us, us, __ATOMIC_RELAXED);
	__atomic_fetch_add(&self->bytes, bytes, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&self->in_flight, 1, __ATOMIC_RELAXED);
}
