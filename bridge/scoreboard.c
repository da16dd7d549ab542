#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "scoreboard.h"

static struct scoreboard_slot *slots;
static int nslots;

void
scoreboard_init(int n)
{
	void *p;

	p = mmap(NULL, (size_t)n * sizeof(*slots), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("scoreboard: mmap: %s", strerror(errno));
	slots = p;
	nslots = n;
}

struct scoreboard_slot *
scoreboard_slot(int i)
{
	if (slots == NULL || i < 0 || i >= nslots)
		return NULL;
	return &slots[i];
}
