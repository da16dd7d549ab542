/*
 * Signals are blocked in the master and taken with sigtimedwait(): no
 * handler, no race between a flag and the wait (nginx's sigsuspend loop
 * does the same job with handlers that only set flags).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "adapter.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "master.h"
#include "notify.h"
#include "priv.h"
#include "proctitle.h"
#include "scoreboard.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

#define MASTER_WORKERS_MAX 1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define QUICK_DEATH_MS 1000
#define STATUS_EVERY_MS 5000
/* New master to old one: my workers are ready, go (USR2). */
#define SIG_UPGRADED (SIGRTMIN + 1)
/* How often a starting worker's readiness is looked for (collect_ready). */
#define READY_POLL_MS 5

struct child {
	pid_t pid;		/* 0: slot empty or waiting to respawn */
	uint64_t started;
	uint64_t respawn_at;	/* when pid == 0 and slot in use */
	int quick_deaths;	/* deaths within QUICK_DEATH_MS in a row */
	int ready;		/* said it is ready (module started) */
	uint64_t kill_at;	/* SIGKILL due (timed out), 0: none */
	uint64_t stop_by;	/* stopping: SIGKILL then, 0: not */
	enum { KILL_NONE, KILL_TIMEOUT, KILL_STARTUP, KILL_STOP } kill_reason;
};

static struct child children[MASTER_WORKERS_MAX];
static pid_t retiring[MASTER_WORKERS_MAX * 2 + 1];
static uint64_t retiring_stop_by[MASTER_WORKERS_MAX * 2 + 1]; /* 0: not
						   told to stop yet */
static int nretiring;
static int nworkers;
static int ever_ready;		/* some worker ever started the app */
static int retire_when_ready;	/* after a re-exec: old workers wait */
static int announced;		/* READY=1 sent for the current set */
static unsigned long long restarts;
static int stopping;
static uint64_t deadline;	/* while stopping: KILL what is left */
static uint64_t drain_until;	/* TERM with --shutdown-delay: stop then */

/*
 * USR2 upgrades, nginx-style: the old master starts the new binary as
 * its child with the listening sockets; once the new master's workers
 * are all ready it says so (SIG_UPGRADED) and the old one retires.
 * Until then either side may fail and the old master goes on serving.
 */
static pid_t upgrade_pid;	/* old master: the new one, not ready yet */
static pid_t upgrade_from;	/* new master: the old one, until ready */
static int handed_over;		/* old master: the new one serves */
static char origin_exe[PATH_MAX];	/* argv[0] made absolute */
static char origin_cwd[PATH_MAX];	/* before --chdir */
static char pidfile_old[PATH_MAX + 8];	/* <pidfile>.oldbin */
static enum { PIDFILE_NONE, PIDFILE_OURS, PIDFILE_OLDBIN } pidfile_state;

/* The --stats process: supervised like a worker, counted as none. */
static pid_t stats_pid;
static pid_t stats_retiring;	/* the previous image's, after a HUP */
static uint64_t stats_started, stats_respawn_at;

/* Requests the workers of this image served (the scoreboard's). */
static unsigned long long
served(void)
{
	struct scoreboard_slot *s;
	unsigned long long n = 0;
	int i;

	for (i = 0; (s = scoreboard_slot(i)) != NULL; i++)
		n += s->requests;
	return n;
}

static int
ready_workers(void)
{
	int i, n = 0;

	for (i = 0; i < nworkers; i++)
		n += children[i].pid > 0 && children[i].ready;
	return n;
}

static void upgrade_ready(void);

/* When a worker told to stop now, or that began to stop by itself at
 * since (ms), is killed: --graceful-timeout later, as on TERM; 0 (no
 * limit) with --graceful-timeout 0. */
static uint64_t
stop_by(uint64_t since)
{
	if (config.graceful_timeout == 0)
		return 0;
	return since + (uint64_t)config.graceful_timeout * 1000;
}

/* The old workers of a reload stop; returns how many (the stats
 * process's not counted). */
static int
retire_all(void)
{
	uint64_t by = stop_by(loop_clock_ms());
	int i, old = 0;

	for (i = 0; i < nretiring; i++) {
		kill(retiring[i], SIGTERM);
		if (retiring_stop_by[i] == 0)
			retiring_stop_by[i] = by;
		old += retiring[i] != stats_retiring;
	}
	return old;
}

/* Tell systemd once every worker of the current set is ready. */
static void
maybe_announce(void)
{
	int n = ready_workers();

	if (!announced && !stopping && n == nworkers) {
		announced = 1;
		log_debug("all %d workers ready", n);
		if (retire_when_ready) {
			/* The new workers serve: the old image's stop
			 * accepting and finish what they have. */
			int old;

			retire_when_ready = 0;
			old = retire_all();
			log_info("reload done: %d old worker%s retiring",
			    old, old == 1 ? "" : "s");
		}
		if (upgrade_from != 0)
			upgrade_ready();
		else
			notify("READY=1\nSTATUS=%d workers ready, %llu "
			    "requests served, %llu restarts", n, served(),
			    restarts);
	}
}

static pid_t
spawn(int i)
{
	struct scoreboard_slot *s = scoreboard_slot(i);
	pid_t pid;

	/* Before the fork: the child's own writes must come after. */
	s->state = SCOREBOARD_STARTING;
	s->busy_since = 0;
	s->loop_turned = 0;
	s->stopping_since = 0;
	s->stopping_pid = 0;
	s->rss_bytes = 0;
	__atomic_store_n(&s->in_flight, 0, __ATOMIC_RELAXED);
	if ((pid = fork()) == -1) {
		s->state = SCOREBOARD_EMPTY;
		log_error("fork: %s", strerror(errno));
		children[i].respawn_at = loop_clock_ms() + BACKOFF_MAX_MS;
		return -1;
	}
	if (pid == 0)
		worker_main(i);
	s->pid = (int32_t)pid;
	children[i].pid = pid;
	children[i].ready = 0;
	children[i].kill_at = 0;
	children[i].stop_by = 0;
	children[i].kill_reason = KILL_NONE;
	children[i].started = loop_clock_ms();
	children[i].respawn_at = 0;
	log_debug("worker %d started, pid %ld", i, (long)pid);
	return pid;
}

static void describe(int status, char *out, size_t len);

static void
stats_spawn(void)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_error("stats: fork: %s", strerror(errno));
		stats_respawn_at = loop_clock_ms() + BACKOFF_MAX_MS;
		return;
	}
	if (pid == 0)
		stats_server_main();
	stats_pid = pid;
	stats_started = loop_clock_ms();
	log_debug("stats process started, pid %ld", (long)pid);
}

/* The stats process died: another, at once unless it dies young. */
static void
stats_reaped(int status)
{
	char how[128];
	uint64_t now = loop_clock_ms();

	stats_pid = 0;
	if (stopping)
		return;
	describe(status, how, sizeof(how));
	stats_respawn_at = now - stats_started < QUICK_DEATH_MS ?
	    now + QUICK_DEATH_MS : now;
	log_error("stats process %s; respawning", how);
}

static int
live_children(void)
{
	int i, n = nretiring + (upgrade_pid > 0) + (stats_pid > 0);

	for (i = 0; i < MASTER_WORKERS_MAX; i++)
		if (children[i].pid > 0)
			n++;
	return n;
}

static void
signal_all(int sig)
{
	int i;

	for (i = 0; i < MASTER_WORKERS_MAX; i++)
		if (children[i].pid > 0)
			kill(children[i].pid, sig);
	for (i = 0; i < nretiring; i++)
		kill(retiring[i], sig);
	/* A new master still starting stops with this one. */
	if (upgrade_pid > 0)
		kill(upgrade_pid, sig);
	if (stats_pid > 0)
		kill(stats_pid, sig);
}

static void
describe(int status, char *out, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(out, len, "killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(out, len, "exited with status %d",
		    WEXITSTATUS(status));
}

static void upgrade_failed(pid_t pid, int status);

/* A worker is gone: its slot shows it, unless another took the slot. */
static void
slot_vacate(int i, pid_t pid)
{
	struct scoreboard_slot *s = scoreboard_slot(i);

	if (s->pid == (int32_t)pid) {
		s->state = SCOREBOARD_EMPTY;
		s->busy_since = 0;
	}
}

/* Why worker i ended with status, for the scoreboard's counts. */
static enum scoreboard_recycle
recycle_reason(int i, int status)
{
	if (WIFSIGNALED(status))
		return children[i].kill_reason == KILL_TIMEOUT ||
		    children[i].kill_reason == KILL_STOP ?
		    SCOREBOARD_RECYCLE_TIMEOUT : SCOREBOARD_RECYCLE_CRASH;
	switch (WEXITSTATUS(status)) {
	case WORKER_EXIT_OK:
		return SCOREBOARD_RECYCLE_REQUESTS;
	case WORKER_EXIT_MEMORY:
		return SCOREBOARD_RECYCLE_MEMORY;
	case WORKER_EXIT_TIMEOUT:
		return SCOREBOARD_RECYCLE_TIMEOUT;
	case WORKER_EXIT_RELOAD:
		return SCOREBOARD_RECYCLE_RELOAD;
	default:
		return SCOREBOARD_RECYCLE_CRASH;
	}
}

static void
recycle_count(int i, int status)
{
	enum scoreboard_recycle why = recycle_reason(i, status);

	scoreboard_head()->recycles[why]++;
	scoreboard_slot(i)->last_recycle = (int32_t)why + 1;
}

/*
 * Collect every exited worker (all of them: SIGCHLD does not queue).
 * Returns -1 when the application cannot start at all.
 */
static int
reap(void)
{
	char how[128];
	uint64_t now = loop_clock_ms(), delay;
	int status, i, rc = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == upgrade_pid) {
			upgrade_failed(pid, status);
			continue;
		}
		for (i = 0; i < nretiring; i++)
			if (retiring[i] == pid) {
				retiring[i] = retiring[--nretiring];
				retiring_stop_by[i] =
				    retiring_stop_by[nretiring];
				retiring_stop_by[nretiring] = 0;
				break;
			}
		if (pid == stats_pid) {
			stats_reaped(status);
			continue;
		}
		for (i = 0; i < MASTER_WORKERS_MAX; i++)
			if (children[i].pid == pid)
				break;
		if (i == MASTER_WORKERS_MAX)
			continue;
		children[i].pid = 0;
		children[i].ready = 0;
		slot_vacate(i, pid);
		describe(status, how, sizeof(how));
		if (stopping) {
			log_debug("worker %d (pid %ld) %s", i, (long)pid, how);
			continue;
		}
		/* The application refused to start (an ASGI lifespan
		 * startup failed): whenever it happens, trying again
		 * cannot help.  Gunicorn halts on WORKER_BOOT_ERROR. */
		if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
			const char *why = scoreboard_slot(i)->fatal;

			if (rc == 0)
				log_error("worker %d (pid %ld): the "
				    "application failed to start: %s; "
				    "stopping", i, (long)pid, why[0] != '\0' ?
				    why : "(no reason logged)");
			rc = -1;
			continue;
		}
		if (i >= nworkers) {
			log_info("worker %d (pid %ld) %s; not replaced",
			    i, (long)pid, how);
			continue;
		}
		restarts++;
		scoreboard_head()->restarts = restarts;
		scoreboard_slot(i)->restarts++;
		recycle_count(i, status);
		if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_TIMEOUT) {
			/* Not the application failing to start: no
			 * back-off, a fresh worker at once. */
			log_error("worker %d (pid %ld) replaced after a request "
			    "ran past --timeout %u s", i, (long)pid,
			    config.timeout);
			children[i].respawn_at = now;
			continue;
		}
		if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_RELOAD) {
			/* --reload: the developer saved a file.  Not a
			 * crash: no back-off, and no count towards one. */
			log_debug("worker %d (pid %ld) restarted for --reload",
			    i, (long)pid);
			children[i].quick_deaths = 0;
			children[i].respawn_at = now;
			continue;
		}
		if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_OK) {
			/* Recycled (--max-requests): expected. */
			log_info("worker %d (pid %ld) recycled", i, (long)pid);
			children[i].respawn_at = now;
			continue;
		}
		if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_MEMORY) {
			/* Recycled (--max-worker-memory): expected; the
			 * worker logged its RSS. */
			log_info("worker %d (pid %ld) recycled "
			    "(--max-worker-memory)", i, (long)pid);
			children[i].respawn_at = now;
			continue;
		}
		if (WIFSIGNALED(status) &&
		    children[i].kill_reason == KILL_TIMEOUT) {
			log_error("worker %d (pid %ld) killed: it did not "
			    "answer the timeout; replaced", i, (long)pid);
			children[i].respawn_at = now;
			continue;
		}
		if (WIFSIGNALED(status) &&
		    children[i].kill_reason == KILL_STOP) {
			log_info("worker %d (pid %ld) killed at the end of its "
			    "stop; replaced", i, (long)pid);
			children[i].respawn_at = now;
			continue;
		}
		/* An application that never started in any worker will
		 * not start by trying again: say so and stop. */
		if (!ever_ready && ((WIFEXITED(status) &&
		    WEXITSTATUS(status) == WORKER_EXIT_INIT) ||
		    children[i].kill_reason == KILL_STARTUP)) {
			if (rc == 0)
				log_error("worker %d could not start the "
				    "application (see above); stopping", i);
			rc = -1;
			continue;
		}
		if (now - children[i].started < QUICK_DEATH_MS) {
			children[i].quick_deaths++;
			delay = (uint64_t)BACKOFF_MIN_MS <<
			    (children[i].quick_deaths > 7 ? 7 :
			    children[i].quick_deaths - 1);
			if (delay > BACKOFF_MAX_MS)
				delay = BACKOFF_MAX_MS;
			log_error("worker %d (pid %ld) %s %d time%s in a row "
			    "within %d ms of starting; respawning in %llu ms",
			    i, (long)pid, how, children[i].quick_deaths,
			    children[i].quick_deaths > 1 ? "s" : "",
			    QUICK_DEATH_MS, (unsigned long long)delay);
		} else {
			children[i].quick_deaths = 0;
			delay = 0;
			log_error("worker %d (pid %ld) %s; respawning", i,
			    (long)pid, how);
		}
		children[i].respawn_at = now + delay;
	}
	return rc;
}

/*
 * systemd's STATUS= (systemctl status): workers, requests served and
 * restarts, refreshed every STATUS_EVERY_MS while they change.
 */
static long
status_update(long wait_ms)
{
	static uint64_t last;
	static unsigned long long sent_served, sent_restarts;
	uint64_t now = loop_clock_ms();
	unsigned long long n;

	if (!notify_enabled() || !announced)
		return wait_ms;
	if (now - last >= STATUS_EVERY_MS) {
		last = now;
		n = served();
		if (n != sent_served || restarts != sent_restarts) {
			notify("STATUS=%d workers, %llu requests served, %llu "
			    "restarts", ready_workers(), n, restarts);
			sent_served = n;
			sent_restarts = restarts;
		}
	}
	return (long)(last + STATUS_EVERY_MS - now) < wait_ms ?
	    (long)(last + STATUS_EVERY_MS - now) : wait_ms;
}

/*
 * systemd's watchdog: pinged only while every worker is alive and ready,
 * so a master whose workers cannot start or keep dying is restarted.
 * Returns how long the master may wait before the next ping is due.
 */
static long
watchdog(long wait_ms)
{
	static uint64_t last;
	uint64_t every = notify_watchdog_ms() / 2, now = loop_clock_ms();

	if (every == 0)
		return wait_ms;
	if (now - last >= every && ready_workers() == nworkers) {
		notify("WATCHDOG=1");
		last = now;
	}
	return (long)every < wait_ms ? (long)every : wait_ms;
}

/*
 * A worker that has started the application marks its scoreboard slot
 * ready; the master notices here, every READY_POLL_MS while a worker is
 * starting (a reload retires the old workers only then), else at least
 * every 100 ms (the waits of master_run are bounded by check_timeouts),
 * after the signals that came meanwhile.  Shared memory rather than
 * a signal: a worker that switched to --user may not signal a root
 * master.
 */
static int
child_says_ready(int i)
{
	struct scoreboard_slot *s = scoreboard_slot(i);

	return s != NULL && s->pid == children[i].pid &&
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SCOREBOARD_READY;
}

static void
collect_ready(void)
{
	int i, any = 0;

	for (i = 0; i < nworkers; i++) {
		struct child *c = &children[i];

		if (c->pid <= 0 || c->ready || !child_says_ready(i))
			continue;
		c->ready = 1;
		ever_ready = 1;
		any = 1;
	}
	if (any)
		maybe_announce();
}

/* Workers started whose readiness the master has not taken yet. */
static int
starting_workers(void)
{
	int i, n = 0;

	for (i = 0; i < nworkers; i++)
		n += children[i].pid > 0 && !children[i].ready;
	return n;
}

/*
 * A worker that stops by itself (--max-requests, --max-worker-memory,
 * --reload) or is told to (TTOU, the old workers of a reload) is given
 * --graceful-timeout from then, as on TERM: a second before its end it
 * cut what only waits on clients and ended by itself (worker.c's stop
 * deadline), so what still runs then is the module's, and is killed.
 */
static void
check_stops(uint64_t now)
{
	struct scoreboard_slot *s;
	int i;

	for (i = 0; i < MASTER_WORKERS_MAX; i++) {
		struct child *c = &children[i];

		if (c->pid <= 0 || c->kill_at != 0)
			continue;
		s = scoreboard_slot(i);
		if (c->stop_by == 0 && __atomic_load_n(&s->stopping_pid,
		    __ATOMIC_ACQUIRE) == c->pid && s->stopping_since != 0)
			c->stop_by = stop_by(s->stopping_since);
		if (c->stop_by == 0 || now < c->stop_by)
			continue;
		log_warn("worker %d (pid %ld) still stopping after "
		    "--graceful-timeout %u s; killing it", i, (long)c->pid,
		    config.graceful_timeout);
		kill(c->pid, SIGKILL);
		c->kill_reason = KILL_STOP;
		c->kill_at = now + 60000;
	}
	for (i = 0; i < nretiring; i++) {
		if (retiring_stop_by[i] == 0 || now < retiring_stop_by[i])
			continue;
		log_warn("old worker (pid %ld) still stopping after "
		    "--graceful-timeout %u s; killing it", (long)retiring[i],
		    config.graceful_timeout);
		kill(retiring[i], SIGKILL);
		retiring_stop_by[i] = now + 60000;
	}
}

/*
 * Hung requests (--timeout) and workers that do not start
 * (--startup-timeout): the worker is asked to answer 504 and exit
 * (SIGALRM); if it cannot, it is killed two seconds later.
 * Returns how long the master may wait before the next check.
 */
static long
check_timeouts(long wait_ms)
{
	uint64_t now = loop_clock_ms(), busy, turned, limit;
	struct scoreboard_slot *s;
	const char *stuck, *why, *act;
	int i;

	check_stops(now);
	for (i = 0; i < nworkers; i++) {
		struct child *c = &children[i];

		if (c->pid <= 0)
			continue;
		if (c->kill_at != 0) {
			if (now >= c->kill_at) {
				kill(c->pid, SIGKILL);
				c->kill_at = now + 60000;
			}
			continue;
		}
		/* Ready but not taken yet (signals kept the master busy):
		 * not a worker that failed to start. */
		if (!c->ready && now - c->started >
		    (uint64_t)config.startup_timeout * 1000 &&
		    !child_says_ready(i)) {
			log_error("worker %d (pid %ld) did not start the "
			    "application within --startup-timeout %u s; "
			    "killing it", i, (long)c->pid,
			    config.startup_timeout);
			kill(c->pid, SIGKILL);
			c->kill_reason = KILL_STARTUP;
			c->kill_at = now + 60000;
			continue;
		}
		if (config.timeout == 0 || (s = scoreboard_slot(i)) == NULL ||
		    s->pid != c->pid)
			continue;
		/* A request past --timeout, or (an asynchronous module's
		 * worker) a loop that stood still as long: the heartbeat. */
		busy = s->busy_since;
		turned = s->loop_turned;
		limit = (uint64_t)config.timeout * 1000;
		if (busy != 0 && now > busy && now - busy > limit) {
			stuck = "a request has run for";
			why = "";
			act = "answering 504 and ";
		} else if (turned != 0 && now > turned && now - turned >
		    limit + 2 * WORKER_HEARTBEAT_MS) {
			stuck = "its event loop has stood still for";
			why = " (the application blocks it: a call that waits "
			    "without await?)";
			act = "";
		} else
			continue;
		log_error("worker %d (pid %ld): %s more than --timeout %u s%s; "
		    "%sreplacing the worker", i, (long)c->pid, stuck,
		    config.timeout, why, act);
		kill(c->pid, SIGALRM);
		c->kill_reason = KILL_TIMEOUT;
		c->kill_at = now + 2000;
	}
	return wait_ms > 100 ? 100 : wait_ms;
}

/* Respawn the workers that are due; returns ms until the next due
 * respawn, or 1000. */
static long
respawn_due(void)
{
	uint64_t now = loop_clock_ms(), next = now + 1000;
	int i;

	for (i = 0; i < nworkers; i++) {
		struct child *c = &children[i];

		if (c->pid > 0)
			continue;
		if (c->respawn_at <= now)
			spawn(i);
		else if (c->respawn_at < next)
			next = c->respawn_at;
	}
	if (listen_stats.fd != -1 && stats_pid == 0) {
		if (stats_respawn_at <= now)
			stats_spawn();
		else if (stats_respawn_at < next)
			next = stats_respawn_at;
	}
	return (long)(next - now);
}

static char **master_argv;

/*
 * Check what an exec of exe would load: the same command line (with
 * argv0 first) and --check-config, in a child started in cwd (NULL:
 * ours).  Returns 0, or -1 with its first complaint in why.
 */
static int
check_new_config(const char *exe, const char *argv0, const char *cwd,
    char *why, size_t len)
{
	char *argv[256];
	int pfd[2], status, i, devnull;
	size_t got;
	ssize_t n = 0;
	pid_t pid;

	argv[0] = (char *)argv0;
	for (i = 1; master_argv[i] != NULL && i < 253; i++)
		argv[i] = master_argv[i];
	argv[i++] = "--check-config";
	argv[i] = NULL;
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		snprintf(why, len, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(pfd[0]);
		close(pfd[1]);
		snprintf(why, len, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 1);
		dup2(pfd[1], 2);
		/* Sockets the new image will inherit count as listeners. */
		if (nlisteners > 0)
			setenv("BRIDGE_LISTENING", "1", 1);
		if (cwd != NULL && cwd[0] != '\0' && chdir(cwd) == -1) {
			dprintf(2, "chdir %s: %s\n", cwd, strerror(errno));
		} else {
			execv(exe, argv);
			dprintf(2, "exec: %s\n", strerror(errno));
		}
		_exit(127);
	}
	close(pfd[1]);
	/* Until EOF: the child writes its message in pieces. */
	for (got = 0; got < len - 1; got += (size_t)n)
		if ((n = read(pfd[0], why + got, len - 1 - got)) <= 0 &&
		    !(n == -1 && errno == EINTR))
			break;
		else if (n == -1)
			n = 0;
	close(pfd[0]);
	why[got] = '\0';
	why[strcspn(why, "\n")] = '\0';
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (why[0] == '\0')
		describe(status, why, len);	/* it said nothing */
	return -1;
}

/*
 * HUP: execute bridge again, in this process, with the listening sockets
 * and the workers: the new image reads the configuration and (with
 * --preload) imports the application anew, starts its workers, then
 * retires these.  Returns -1 when the new configuration does not load
 * (nothing changes), 0 when the exec itself failed.
 */
static int
reexec(void)
{
	char why[512], pids[MASTER_WORKERS_MAX * 3 * 12], *p = pids;
	char stats[24];
	int i;

	/* In the directory bridge was started in, where the command
	 * line's relative paths (--config live.conf) mean what they did. */
	if (check_new_config(adapter_self_exe(), master_argv[0], origin_cwd,
	    why, sizeof(why)) == -1) {
		log_error("HUP: the new configuration does not load, keeping "
		    "the running one: %s", why);
		return -1;
	}
	*p = '\0';
	for (i = 0; i < MASTER_WORKERS_MAX; i++)
		if (children[i].pid > 0)
			p += sprintf(p, "%ld ", (long)children[i].pid);
	for (i = 0; i < nretiring; i++)
		p += sprintf(p, "%ld ", (long)retiring[i]);
	/* The new image starts its own stats process (on a scoreboard of
	 * its own); this one answers until then. */
	snprintf(stats, sizeof(stats), "%ld", (long)stats_pid);
	if (listen_export() == -1 || setenv("BRIDGE_RETIRE", pids, 1) == -1 ||
	    setenv("BRIDGE_RETIRE_STATS", stats, 1) == -1) {
		log_error("HUP: cannot hand over to a new image: %s",
		    strerror(errno));
		return 0;
	}
	notify_env_restore();
	log_info("HUP: replacing %d workers; configuration and application "
	    "read anew", nworkers);
	if (origin_cwd[0] != '\0' && chdir(origin_cwd) == -1)
		log_error("HUP: chdir %s: %s", origin_cwd, strerror(errno));
	execv(adapter_self_exe(), master_argv);
	log_error("HUP: exec: %s; replacing the workers instead",
	    strerror(errno));
	if (config.chdir != NULL && chdir(config.chdir) == -1)
		log_error("HUP: chdir %s: %s", config.chdir, strerror(errno));
	unsetenv("BRIDGE_RETIRE");
	unsetenv("BRIDGE_RETIRE_STATS");
	return 0;
}

/* Workers of the image before a reload: retire them once ours run. */
static void
adopt_retiring(void)
{
	const char *env = getenv("BRIDGE_RETIRE");
	const char *st = getenv("BRIDGE_RETIRE_STATS");
	char *end;
	long pid;

	/* Retired with the workers: it answers until ours are ready. */
	if (st != NULL && (pid = strtol(st, NULL, 10)) > 0)
		retiring[nretiring++] = stats_retiring = (pid_t)pid;
	unsetenv("BRIDGE_RETIRE_STATS");
	while (env != NULL &&
	    nretiring < (int)(sizeof(retiring) / sizeof(retiring[0]))) {
		pid = strtol(env, &end, 10);
		if (end == env)
			break;
		if (pid > 0)
			retiring[nretiring++] = (pid_t)pid;
		env = end;
	}
	unsetenv("BRIDGE_RETIRE");
	retire_when_ready = nretiring > 0;
}

static void
reload(void)
{
	int i;

	notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)loop_clock_ms() * 1000);
	announced = 0;
	if (reexec() == -1) {
		maybe_announce();	/* READY again: nothing changed */
		return;
	}
	/* Still here: the same configuration, new workers first, then the
	 * old ones stop accepting and finish their requests. */
	log_info("HUP: replacing %d workers", nworkers);
	tls_reload();
	for (i = 0; i < nworkers; i++) {
		if (children[i].pid > 0 &&
		    nretiring < (int)(sizeof(retiring) / sizeof(retiring[0])))
			retiring[nretiring++] = children[i].pid;
		children[i].pid = 0;
		children[i].quick_deaths = 0;
		spawn(i);
	}
	retire_all();
}

/* --pidfile: the master's pid, for init scripts and logrotate. */
static int
pidfile_write(void)
{
	char line[32];
	int fd, n, rc = 0;

	if (config.pidfile == NULL)
		return 0;
	fd = open(config.pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (fd == -1 || write(fd, line, (size_t)n) != n)
		rc = -1;
	if (fd != -1)
		close(fd);
	if (rc == 0)
		pidfile_state = PIDFILE_OURS;
	return rc;
}

/*
 * During an upgrade the old master's pid is in <pidfile>.oldbin (as
 * nginx does it), so that the pidfile names the master that serves once
 * the new one writes it.  to_oldbin 0 puts it back.
 */
static void
pidfile_move(int to_oldbin)
{
	const char *from = config.pidfile, *to = pidfile_old;

	if (pidfile_state == PIDFILE_NONE)
		return;
	if (!to_oldbin) {
		from = pidfile_old;
		to = config.pidfile;
	}
	if (rename(from, to) == -1)
		log_error("--pidfile: rename %s to %s: %s", from, to,
		    strerror(errno));
	pidfile_state = to_oldbin ? PIDFILE_OLDBIN : PIDFILE_OURS;
}

static void
pidfile_remove(void)
{
	if (pidfile_state == PIDFILE_OURS)
		unlink(config.pidfile);
	else if (pidfile_state == PIDFILE_OLDBIN)
		unlink(pidfile_old);
	pidfile_state = PIDFILE_NONE;
}

void
master_save_origin(const char *argv0)
{
	const char *p, *end;
	char cand[PATH_MAX];
	int n;

	if (getcwd(origin_cwd, sizeof(origin_cwd)) == NULL)
		origin_cwd[0] = '\0';
	if (argv0 == NULL || argv0[0] == '\0')
		return;
	n = -1;
	if (argv0[0] == '/')
		n = snprintf(cand, sizeof(cand), "%s", argv0);
	else if (strchr(argv0, '/') != NULL) {
		while (argv0[0] == '.' && argv0[1] == '/')
			argv0 += 2;
		if (origin_cwd[0] != '\0')
			n = snprintf(cand, sizeof(cand), "%s/%s", origin_cwd,
			    argv0);
	} else {
		/* A bare name: the first on $PATH, as the shell found it
		 * (relative entries are left to /proc/self/exe). */
		for (p = getenv("PATH"); p != NULL && *p != '\0'; p = end) {
			end = strchrnul(p, ':');
			if (*p == '/' && (n = snprintf(cand, sizeof(cand),
			    "%.*s/%s", (int)(end - p), p, argv0)) > 0 &&
			    (size_t)n < sizeof(cand) &&
			    access(cand, X_OK) == 0)
				break;
			n = -1;
			if (*end == ':')
				end++;
		}
	}
	if (n > 0 && (size_t)n < sizeof(cand))
		memcpy(origin_exe, cand, (size_t)n + 1);
}

/*
 * The binary USR2 starts: the path bridge was started as, or failing
 * that the one the kernel knows ("... (deleted)" once it was replaced
 * on disk, which names the new file).
 */
static int
upgrade_binary(char *out, size_t len)
{
	static const char del[] = " (deleted)";
	size_t dl = sizeof(del) - 1;
	ssize_t n;

	if (origin_exe[0] != '\0') {
		snprintf(out, len, "%s", origin_exe);
		return 0;
	}
	if ((n = adapter_self_path(out, len)) == -1)
		return -1;
	if ((size_t)n > dl && strcmp(out + n - dl, del) == 0)
		out[n - dl] = '\0';
	return 0;
}

/*
 * USR2: check that the binary on disk starts with our command line, then
 * run it as a new master holding the same listening sockets.  This one
 * serves on until the new one says it is ready (or dies before).
 */
static void
upgrade(void)
{
	char exe[PATH_MAX], why[512], from[32], *argv[256];
	pid_t pid;
	int i;

	if (upgrade_binary(exe, sizeof(exe)) == -1) {
		log_error("USR2: cannot find the binary: %s; keeping this "
		    "one", strerror(errno));
		return;
	}
	if (check_new_config(exe, exe, origin_cwd, why, sizeof(why)) == -1) {
		log_error("USR2: the new binary %s does not start: %s; "
		    "keeping this one", exe, why);
		return;
	}
	argv[0] = exe;
	for (i = 1; master_argv[i] != NULL && i < 255; i++)
		argv[i] = master_argv[i];
	argv[i] = NULL;
	snprintf(from, sizeof(from), "%ld", (long)getpid());
	pidfile_move(1);
	if ((pid = fork()) == -1) {
		log_error("USR2: fork: %s; keeping this one",
		    strerror(errno));
		pidfile_move(0);
		return;
	}
	if (pid == 0) {
		/* Only this child's descriptors lose FD_CLOEXEC. */
		if (listen_export() == -1 ||
		    setenv("BRIDGE_UPGRADE_FROM", from, 1) == -1 ||
		    (origin_cwd[0] != '\0' && chdir(origin_cwd) == -1)) {
			log_error("USR2: starting %s: %s", exe,
			    strerror(errno));
		} else {
			notify_env_restore();
			execv(exe, argv);
			log_error("USR2: exec %s: %s", exe, strerror(errno));
		}
		_exit(127);
	}
	upgrade_pid = pid;
	log_info("USR2: new master %ld starting from %s", (long)pid, exe);
}

/* Old master: the new one did not get ready.  Serve on. */
static void
upgrade_failed(pid_t pid, int status)
{
	char how[128];

	upgrade_pid = 0;
	describe(status, how, sizeof(how));
	if (stopping) {
		log_info("new master %ld %s", (long)pid, how);
		return;
	}
	pidfile_move(0);
	log_error("USR2: the new master %ld %s before it was ready; keeping "
	    "this one", (long)pid, how);
}

/* New master: every worker is ready; the old master may go. */
static void
upgrade_ready(void)
{
	pid_t old = upgrade_from;

	upgrade_from = 0;
	if (pidfile_write() == -1)
		log_error("--pidfile %s: %s", config.pidfile,
		    strerror(errno));
	/* Never signal a pid that is no longer the master that started
	 * us: it may have died and the number been reused. */
	if (getppid() == old)
		kill(old, SIG_UPGRADED);
	log_info("USR2: ready with %d workers; replacing master %ld",
	    nworkers, (long)old);
	/* systemd follows the new main pid (needs NotifyAccess=all: this
	 * process is not the one it started). */
	notify("MAINPID=%ld\nREADY=1\nSTATUS=%d workers ready, %llu "
	    "requests served, %llu restarts", (long)getpid(), nworkers,
	    served(), restarts);
}

/* New master: started by an old one (USR2)? */
static void
adopt_upgrade(void)
{
	const char *env = getenv("BRIDGE_UPGRADE_FROM");

	if (env == NULL)
		return;
	upgrade_from = (pid_t)strtol(env, NULL, 10);
	unsetenv("BRIDGE_UPGRADE_FROM");
	/* Not our parent: that master is gone; start as any other. */
	if (upgrade_from <= 0 || getppid() != upgrade_from)
		upgrade_from = 0;
}

/* Only the master systemd knows of speaks for the service. */
static void
notify_stopping(void)
{
	if (!handed_over && upgrade_from == 0)
		notify("STOPPING=1\nSTATUS=stopping");
}

/* Stop: sig to the workers (and to a new master still starting). */
static void
stop_workers(int sig, uint64_t within_ms)
{
	stopping = 1;
	drain_until = 0;
	deadline = loop_clock_ms() + within_ms;
	/* The host is going: --health-path says 503 from now on. */
	if (!handed_over && upgrade_from == 0)
		scoreboard_head()->stopping = 1;
	signal_all(sig);
	/* New clients are refused now rather than queued on a socket
	 * nobody will accept, unless another master serves them. */
	if (handed_over || upgrade_from != 0)
		listen_release_all();
	else
		listen_close_all();
}

/*
 * TERM with --shutdown-delay: the probe answers 503 at once while the
 * listeners stay open and the workers serve as before, so that a load
 * balancer's next health checks take the host out of rotation before a
 * connection is refused.  Then the graceful stop (drain_check()).
 */
static void
drain_start(void)
{
	notify_stopping();
	scoreboard_head()->stopping = 1;
	drain_until = loop_clock_ms() + (uint64_t)config.shutdown_delay *
	    1000;
	log_info("TERM: %s answers 503; serving on for %u s "
	    "(--shutdown-delay), then stopping gracefully",
	    config.health_path ? config.health_path : "--health-path",
	    config.shutdown_delay);
}

/* The --shutdown-delay window: stop once it is over; else how long the
 * master may wait, at most wait_ms. */
static long
drain_check(long wait_ms)
{
	uint64_t now = loop_clock_ms();

	if (drain_until == 0)
		return wait_ms;
	if (now >= drain_until) {
		log_info("--shutdown-delay over: stopping gracefully (up to "
		    "%u s)", config.graceful_timeout);
		stop_workers(SIGTERM, (uint64_t)config.graceful_timeout *
		    1000);
		return 0;
	}
	return drain_until - now < (uint64_t)wait_ms ?
	    (long)(drain_until - now) : wait_ms;
}

/*
 * USR1 (logrotate's postrotate): the master reopens the log files first,
 * creating them where only root may, gives them to the workers' --user,
 * and only then tells the workers, which reopen them by name (nginx's
 * master does the same).  A worker under --user could not create a file
 * in a directory such as /var/log/bridge, and would log on into the
 * rotated file.
 */
static void
logs_reopen(void)
{
	uid_t uid;

	if (log_reopen() == -1)
		log_error("USR1: reopening the error log %s: %s",
		    config.error_log, log_open_error());
	if (access_log_reopen() == -1)
		log_error("USR1: reopening the access log %s: %s",
		    config.access_log, strerror(errno));
	if (priv_worker_uid(&uid) == 0 &&
	    (log_give(uid) == -1 || access_log_give(uid) == -1))
		log_error("USR1: giving the log files to --user %s: %s",
		    config.user, strerror(errno));
	log_info("USR1: logs reopened");
	signal_all(SIGUSR1);
}

/* "bridge: master" and the arguments, as given. */
static void
title_master(char **argv)
{
	char args[400];
	size_t n = 0;
	int i, k;

	args[0] = '\0';
	for (i = 1; argv[i] != NULL && n < sizeof(args); i++) {
		k = snprintf(args + n, sizeof(args) - n, " %s", argv[i]);
		if (k < 0)
			break;
		n += (size_t)k;
	}
	proctitle_set("master%s", args);
}

int
master_run(char **argv)
{
	sigset_t set;
	siginfo_t si;
	struct timespec ts;
	long wait_ms;
	int i, sig, rc = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTTIN);
	sigaddset(&set, SIGTTOU);
	sigaddset(&set, SIG_UPGRADED);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	master_argv = argv;
	title_master(argv);
	nworkers = config.workers;
	scoreboard_init(MASTER_WORKERS_MAX);
	scoreboard_head()->workers = nworkers;
	scoreboard_head()->master_pid = (int32_t)getpid();
	scoreboard_head()->started_ms = loop_clock_ms();
	if (config.pidfile != NULL)
		snprintf(pidfile_old, sizeof(pidfile_old), "%s.oldbin",
		    config.pidfile);
	adopt_upgrade();
	/* A new master writes it once it serves (upgrade_ready). */
	if (upgrade_from == 0 && pidfile_write() == -1)
		fatal("--pidfile %s: %s", config.pidfile, strerror(errno));
	adopt_retiring();
	if (retire_when_ready && tls_enabled())
		log_info("HUP: certificates reloaded");
	for (i = 0; i < nlisteners; i++) {
		char where[256];

		listen_describe(&listeners[i], where, sizeof(where));
		log_info("Listening at: %s", where);
	}
	if (listen_stats.fd != -1) {
		char where[256];

		listen_describe(&listen_stats, where, sizeof(where));
		log_info("Statistics at: %s (/metrics)", where);
	}
	for (i = 0; i < nworkers; i++)
		spawn(i);
	log_info("bridge %s serving on %d listener%s with %d worker%s",
	    PACKAGE_VERSION, nlisteners, nlisteners == 1 ? "" : "s",
	    nworkers, nworkers == 1 ? "" : "s");

	for (;;) {
		if (stopping) {
			/* Collect here too: a SIGCHLD taken while starting
			 * to stop must not leave a child uncounted. */
			reap();
			if (live_children() == 0)
				break;
			if (loop_clock_ms() >= deadline) {
				log_warn("workers still running after the "
				    "stop timeout; killing them");
				signal_all(SIGKILL);
				deadline = loop_clock_ms() + 60000;
			}
			wait_ms = 100;
		} else {
			wait_ms = respawn_due();
			wait_ms = watchdog(wait_ms);
			wait_ms = status_update(wait_ms);
			wait_ms = check_timeouts(wait_ms);
			if (starting_workers() > 0 && wait_ms > READY_POLL_MS)
				wait_ms = READY_POLL_MS;
			wait_ms = drain_check(wait_ms);
			if (stopping)
				continue;
		}
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000;
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == -1) {
			/* Signals first: a USR2 sent during a start-up is
			 * taken while it is one. */
			collect_ready();
			continue;	/* timeout or EINTR */
		}
		if (sig == SIG_UPGRADED) {
			/* Only from the new master we started. */
			if (upgrade_pid <= 0 || si.si_pid != upgrade_pid ||
			    stopping)
				continue;
			log_info("USR2: new master %ld ready; old master "
			    "exiting", (long)upgrade_pid);
			upgrade_pid = 0;	/* its own now, not our child */
			handed_over = 1;
			stop_workers(SIGTERM,
			    (uint64_t)config.graceful_timeout * 1000);
			continue;
		}
		switch (sig) {
		case SIGCHLD:
			if (reap() == -1 && !stopping) {
				rc = 1;
				notify_stopping();
				stop_workers(SIGTERM,
				    (uint64_t)config.graceful_timeout * 1000);
			}
			break;
		case SIGTERM:
			/* A second TERM ends the --shutdown-delay window. */
			if (!stopping && drain_until == 0 &&
			    config.shutdown_delay > 0 && upgrade_pid == 0 &&
			    upgrade_from == 0) {
				drain_start();
				break;
			}
			if (!stopping) {
				int upgrading = upgrade_pid > 0;

				notify_stopping();
				/* Told first, then logged: once the line is
				 * there, every worker has its signal. */
				stop_workers(SIGTERM,
				    (uint64_t)config.graceful_timeout * 1000);
				log_info("TERM: stopping gracefully (up to %u "
				    "s)%s", config.graceful_timeout, upgrading ?
				    ", with the new master still starting" :
				    "");
			}
			break;
		case SIGINT:
		case SIGQUIT:
			notify_stopping();
			log_info("%s: stopping now", sig == SIGINT ? "INT" :
			    "QUIT");
			stop_workers(SIGINT, 2000);
			break;
		case SIGHUP:
			if (upgrade_pid > 0 || upgrade_from != 0)
				log_warn("HUP: an upgrade (USR2) is in "
				    "progress; ignored");
			else if (drain_until != 0)
				log_warn("HUP: stopping (--shutdown-delay); "
				    "ignored");
			else if (!stopping)
				reload();
			break;
		case SIGUSR2:
			if (stopping || drain_until != 0)
				log_warn("USR2: stopping; not upgrading");
			else if (upgrade_pid > 0)
				log_warn("USR2: new master %ld is still "
				    "starting; ignored", (long)upgrade_pid);
			else if (retire_when_ready || !announced)
				log_warn("USR2: a reload or start-up is in "
				    "progress (not every worker is ready); "
				    "ignored");
			else
				upgrade();
			break;
		case SIGUSR1:
			logs_reopen();
			break;
		case SIGTTIN:
			/* The slot's worker a TTOU stopped still runs: a new
			 * one there would share its scoreboard slot (its
			 * busy_since, its stop). */
			if (!stopping && nworkers < MASTER_WORKERS_MAX &&
			    children[nworkers].pid > 0)
				log_warn("TTIN: worker %d (pid %ld) is still "
				    "stopping after TTOU; not adding one until "
				    "it has", nworkers,
				    (long)children[nworkers].pid);
			else if (!stopping && nworkers < MASTER_WORKERS_MAX) {
				children[nworkers].quick_deaths = 0;
				spawn(nworkers++);
				scoreboard_head()->workers = nworkers;
				log_info("TTIN: %d workers", nworkers);
			}
			break;
		case SIGTTOU:
			if (!stopping && nworkers > 1) {
				nworkers--;
				scoreboard_head()->workers = nworkers;
				if (children[nworkers].pid > 0) {
					kill(children[nworkers].pid, SIGTERM);
					children[nworkers].stop_by =
					    stop_by(loop_clock_ms());
				}
				log_info("TTOU: %d workers", nworkers);
			}
			break;
		}
	}
	/* The socket files are the new master's after an upgrade, or the
	 * old one's when a new master gave up. */
	if (!handed_over && upgrade_from == 0)
		listen_unlink_all();
	pidfile_remove();
	log_info("stopped");
	return rc;
}
