/*
 * Privileges: the master resolves --user/--group at start (so a typo is a
 * start-up error, not a worker respawn loop) and each worker drops to
 * them after fork, before the application is loaded.  The master keeps
 * its privileges, as nginx's does, for the listening sockets it holds
 * and the keys it rereads on HUP.
 */
#ifndef BRIDGE_PRIV_H
#define BRIDGE_PRIV_H

#include <sys/types.h>

/* Resolve --user/--group; exits with a message naming the unknown one. */
void priv_resolve(void);

/*
 * Exit with a one-line message when the application would run as root:
 * bridge is root without --user, or --preload would load the
 * application in the master, which stays root.  --allow-root (or
 * BRIDGE_ALLOW_ROOT=1 in the environment, for containers that run
 * everything as root) says the operator means it.
 */
void priv_refuse_root(void);

/*
 * --check-config: with --user, become that user now, so that the
 * application is loaded and its files read as a worker would; as root
 * without --user (a configuration for a systemd unit's User=, checked
 * by root), say on stderr what starting it as root would do instead of
 * refusing.  Exits with a message when the switch fails.
 */
void priv_check_config(void);

/*
 * The uid workers switch to when a root master drops them to --user;
 * -1 when workers keep the master's (no --user, not root, or root).
 */
int priv_worker_uid(uid_t *uid);

/* In a worker: become --user/--group for good.  Returns 0, or -1 after
 * logging why. */
int priv_drop(void);

#endif /* BRIDGE_PRIV_H */
