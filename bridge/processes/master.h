/*
 * Master process: forks the workers, respawns those that die (with a
 * back-off so a crashing application cannot fork-bomb the machine), and
 * stops them on TERM (gracefully, then KILL after --graceful-timeout) or
 * INT/QUIT (at once), and upgrades its own binary on USR2 (a new master
 * takes the listening sockets over).  It never runs application code.
 */
#ifndef BRIDGE_MASTER_H
#define BRIDGE_MASTER_H

/*
 * Run until stopped; returns the process exit status.  argv is bridge's
 * command line: HUP checks it (--check-config) and re-executes it, so
 * that the configuration and a preloaded application are read anew.
 */
int master_run(char **argv);

/*
 * Remember argv[0] as an absolute path and the working directory, before
 * anything changes it (--chdir): USR2 starts the binary found there.
 */
void master_save_origin(const char *argv0);

#endif /* BRIDGE_MASTER_H */
