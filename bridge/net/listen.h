/*
 * Listening sockets: parsed from addresses, bound by the master (or
 * inherited on fd 0 from spawn-fcgi / mod_fcgid), shared by all workers.
 */
#ifndef BRIDGE_LISTEN_H
#define BRIDGE_LISTEN_H

#include "config.h"

struct listener {
	int fd;
	enum listen_proto proto;
	char name[128];		/* for logs: "unix:/run/b.sock", "[::1]:9000" */
	char *unix_path;	/* set when bridge created the socket file */
	int external;		/* from systemd or fd 0, not from config */
	int adopted;		/* external, and its address is configured */
};

#define LISTEN_MAX CONFIG_LISTEN_MAX

extern struct listener listeners[LISTEN_MAX];
extern int nlisteners;
/* --stats: served by the stats process, never by workers (fd -1: off). */
extern struct listener listen_stats;

/* Bind every configured address; exits with a one-line message naming
 * the address on failure.  An address systemd already passed (call
 * listen_inherit_systemd() first) is served on that socket, with the
 * configuration's protocol. */
void listen_open_all(void);
/* The same for --stats ADDR, into listen_stats. */
void listen_open_stats(const char *addr);

/* If fd 0 is a listening socket, adopt it as a FastCGI listener and
 * return 1; otherwise return 0. */
int listen_inherit_fd0(void);

/*
 * systemd socket activation: adopt fds 3.. from LISTEN_FDS when
 * LISTEN_PID is ours, each as the protocol LISTEN_FDNAMES names
 * ("fastcgi", "http", "https"; unnamed ones serve FastCGI).  Returns the
 * number adopted; exits naming the fd when one is unusable.
 */
int listen_inherit_systemd(void);

/*
 * The address l listens on, for people: "http://127.0.0.1:8000",
 * "https://[::]:8443", "127.0.0.1:9000 (fastcgi)",
 * "unix:/run/app.sock (fastcgi)", followed by ", from systemd fd 3
 * (http)" or ", from fd:0" for a socket bridge was given.
 */
void listen_describe(const struct listener *l, char *out, size_t len);

/* Remove the socket files bridge created. */
void listen_unlink_all(void);

/*
 * Reload by re-exec (HUP): listen_export() keeps the listening sockets
 * open across exec and describes them in $BRIDGE_LISTENERS; the new image
 * calls listen_import() first, listen_open_all() and listen_open_stats()
 * then take over the ones whose address is still configured instead of
 * binding them again (no connection is refused meanwhile), and
 * listen_close_inherited() closes the others.
 */
int listen_export(void);
void listen_import(void);
void listen_close_inherited(void);

/* Stop listening on every socket, for all processes, and remove the
 * socket files (the master, when it stops). */
void listen_close_all(void);

/*
 * Close this process's copies only, leaving the sockets listening and
 * their files in place: during an upgrade (USR2) the other master
 * shares them and goes on serving.
 */
void listen_release_all(void);

#endif /* BRIDGE_LISTEN_H */
