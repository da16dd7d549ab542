#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "priv.h"

static uid_t uid;
static gid_t gid;
static char user[256];
static int dropping;

void
priv_resolve(void)
{
	struct passwd *pw;
	struct group *gr;

	if (config.user == NULL)
		return;
	if ((pw = getpwnam(config.user)) == NULL)
		fatal("--user: no user '%s'", config.user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	snprintf(user, sizeof(user), "%s", pw->pw_name);
	if (config.group != NULL) {
		if ((gr = getgrnam(config.group)) == NULL)
			fatal("--group: no group '%s'", config.group);
		gid = gr->gr_gid;
	}
	if (geteuid() != 0 && geteuid() != uid)
		fatal("--user %s: only root can switch users", config.user);
	dropping = 1;
}

void
priv_refuse_root(void)
{
	const char *env = getenv("BRIDGE_ALLOW_ROOT");

	if (geteuid() != 0 || config.allow_root ||
	    (env != NULL && strcmp(env, "1") == 0))
		return;
	/* A hole in the application would be a hole in the machine. */
	if (!dropping)
		fatal("refusing to run the application as root: give --user "
		    "USER (workers switch to it after binding) or "
		    "--allow-root");
	if (config.preload)
		fatal("refusing --preload as root: it loads the application "
		    "in the master, which keeps root; start bridge as --user "
		    "%s instead, drop --preload, or give --allow-root",
		    config.user);
}

void
priv_check_config(void)
{
	const char *env = getenv("BRIDGE_ALLOW_ROOT");

	if (dropping) {
		if (priv_drop() == -1)
			fatal("--check-config: could not become --user %s",
			    user);
		return;
	}
	if (geteuid() != 0 || config.allow_root ||
	    (env != NULL && strcmp(env, "1") == 0))
		return;
	fprintf(stderr, "bridge: note: checked as root without --user: "
	    "fine for a service that starts bridge as its User=, but "
	    "started as root bridge refuses to run the application; to "
	    "check as that user, add --user USER or run it as "
	    "`runuser -u USER -- bridge ... --check-config`\n");
}

int
priv_worker_uid(uid_t *out)
{
	if (!dropping || geteuid() != 0 || uid == 0)
		return -1;
	*out = uid;
	return 0;
}

int
priv_drop(void)
{
	if (!dropping)
		return 0;
	/* Group first: after setuid() it would no longer be allowed. */
	if (setgroups(0, NULL) == -1 && errno != EPERM) {
		log_error("setgroups: %s", strerror(errno));
		return -1;
	}
	if (initgroups(user, gid) == -1 && geteuid() == 0) {
		log_error("initgroups %s: %s", user, strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		log_error("setgid %ld: %s", (long)gid, strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		log_error("setuid %ld: %s", (long)uid, strerror(errno));
		return -1;
	}
	/* setuid() clears it; a worker must still die with its master. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	return 0;
}
