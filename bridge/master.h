/*
 * Master process: forks the workers, respawns those that die (with a
 * back-off so a crashing application cannot fork-bomb the machine), and
 * stops them on TERM (gracefully, then KILL after --graceful-timeout) or
 * INT/QUIT (at once).  It never runs application code.
 */
#ifndef BRIDGE_MASTER_H
#define BRIDGE_MASTER_H

/*
 * Run until stopped; returns the process exit status.  argv is bridge's
 * command line: HUP checks it (--check-config) and re-executes it, so
 * that the configuration and a preloaded application are read anew.
 */
int master_run(char **argv);

#endif /* BRIDGE_MASTER_H */
