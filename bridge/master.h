/*
 * Master process: forks the workers, respawns those that die (with a
 * back-off so a crashing application cannot fork-bomb the machine), and
 * stops them on TERM (gracefully, then KILL after --graceful-timeout) or
 * INT/QUIT (at once).  It never runs application code.
 */
#ifndef BRIDGE_MASTER_H
#define BRIDGE_MASTER_H

/* Run until stopped; returns the process exit status. */
int master_run(void);

#endif /* BRIDGE_MASTER_H */
