/*
 * Scoreboard: one slot per worker in memory shared with the master,
 * written only by its worker without locks (single writer, aligned
 * 64-bit stores).  The master reads it to find hung requests; metrics
 * read it too.
 */
#ifndef BRIDGE_SCOREBOARD_H
#define BRIDGE_SCOREBOARD_H

#include <stdint.h>

struct scoreboard_slot {
	volatile uint64_t busy_since;	/* ms (monotonic) a request began
					 * in the module, 0 when idle */
	volatile uint64_t requests;	/* requests handled */
	volatile int32_t pid;
	int32_t pad;
};

/* Map n slots shared with the children; exits on failure. */
void scoreboard_init(int n);
/* Slot i (0 <= i < n); NULL before scoreboard_init. */
struct scoreboard_slot *scoreboard_slot(int i);

#endif /* BRIDGE_SCOREBOARD_H */
