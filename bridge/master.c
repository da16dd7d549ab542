/*
 * Signals are blocked in the master and taken with sigtimedwait(): no
 * handler, no race between a flag and the wait (nginx's sigsuspend loop
 * does the same job with handlers that only set flags).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "master.h"
#include "notify.h"
#include "scoreboard.h"
#include "tls.h"
#include "worker.h"

#define MASTER_WORKERS_MAX 1024
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define QUICK_DEATH_MS 1000

struct child {
	pid_t pid;		/* 0: slot empty or waiting to respawn */
	uint64_t started;
	uint64_t respawn_at;	/* when pid == 0 and slot in use */
	int quick_deaths;	/* deaths within QUICK_DEATH_MS in a row */
	int ready;		/* said it is ready (module started) */
	uint64_t kill_at;	/* SIGKILL due (timed out), 0: none */
	enum { KILL_NONE, KILL_TIMEOUT, KILL_STARTUP } kill_reason;
};

static struct child children[MASTER_WORKERS_MAX];
static pid_t retiring[MASTER_WORKERS_MAX * 2];
static int nretiring;
static int nworkers;
static int ever_ready;		/* some worker ever started the app */
static int retire_when_ready;	/* after a re-exec: old workers wait */
static int announced;		/* READY=1 sent for the current set */
static unsigned long long restarts;

static int
ready_workers(void)
{
	int i, n = 0;

	for (i = 0; i < nworkers; i++)
		n += children[i].pid > 0 && children[i].ready;
	return n;
}

/* Tell systemd once every worker of the current set is ready. */
static void
maybe_announce(void)
{
	int n = ready_workers();

	if (!announced && n == nworkers) {
		announced = 1;
		if (retire_when_ready) {
			/* The new workers serve: the old image's stop
			 * accepting and finish what they have. */
			int i;

			retire_when_ready = 0;
			for (i = 0; i < nretiring; i++)
				kill(retiring[i], SIGTERM);
			log_info("reload done: %d old worker%s retiring",
			    nretiring, nretiring == 1 ? "" : "s");
		}
		notify("READY=1\nSTATUS=%d workers ready, %llu restarts", n,
		    restarts);
	}
}

static pid_t
spawn(int i)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_error("fork: %s", strerror(errno));
		children[i].respawn_at = loop_clock_ms() + BACKOFF_MAX_MS;
		return -1;
	}
	if (pid == 0)
		worker_main(i);
	children[i].pid = pid;
	children[i].ready = 0;
	children[i].kill_at = 0;
	children[i].kill_reason = KILL_NONE;
	children[i].started = loop_clock_ms();
	children[i].respawn_at = 0;
	log_debug("worker %d started, pid %ld", i, (long)pid);
	return pid;
}

static int
live_children(void)
{
	int i, n = nretiring;

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

/*
 * Collect every exited worker (all of them: SIGCHLD does not queue).
 * Returns -1 when the application cannot start at all.
 */
static int
reap(int stopping)
{
	char how[128];
	uint64_t now = loop_clock_ms(), delay;
	int status, i, rc = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < nretiring; i++)
			if (retiring[i] == pid) {
				retiring[i] = retiring[--nretiring];
				break;
			}
		for (i = 0; i < MASTER_WORKERS_MAX; i++)
			if (children[i].pid == pid)
				break;
		if (i == MASTER_WORKERS_MAX)
			continue;
		children[i].pid = 0;
		children[i].ready = 0;
		describe(status, how, sizeof(how));
		if (stopping) {
			log_debug("worker %d (pid %ld) %s", i, (long)pid, how);
			continue;
		}
		if (i >= nworkers) {
			log_info("worker %d (pid %ld) %s; not replaced",
			    i, (long)pid, how);
			continue;
		}
		restarts++;
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
		if (WIFSIGNALED(status) &&
		    children[i].kill_reason == KILL_TIMEOUT) {
			log_error("worker %d (pid %ld) killed: it did not "
			    "answer the timeout; replaced", i, (long)pid);
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
 * Hung requests (--timeout) and workers that do not start
 * (--startup-timeout): the worker is asked to answer 504 and exit
 * (SIGALRM); if it cannot, it is killed two seconds later.
 * Returns how long the master may wait before the next check.
 */
static long
check_timeouts(long wait_ms)
{
	uint64_t now = loop_clock_ms(), busy;
	struct scoreboard_slot *s;
	int i;

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
		if (!c->ready && now - c->started >
		    (uint64_t)config.startup_timeout * 1000) {
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
		busy = s->busy_since;
		if (busy != 0 && now > busy &&
		    now - busy > (uint64_t)config.timeout * 1000) {
			log_error("worker %d (pid %ld): a request has run for "
			    "more than --timeout %u s; answering 504 and "
			    "replacing the worker", i, (long)c->pid,
			    config.timeout);
			kill(c->pid, SIGALRM);
			c->kill_reason = KILL_TIMEOUT;
			c->kill_at = now + 2000;
		}
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
	return (long)(next - now);
}

static char **master_argv;

/*
 * Check the configuration a re-exec would load: the same command line
 * with --check-config, in a child.  Returns 0, or -1 with its first
 * complaint in why.
 */
static int
check_new_config(char *why, size_t len)
{
	char *argv[256];
	int pfd[2], status, i, devnull;
	size_t got;
	ssize_t n = 0;
	pid_t pid;

	for (i = 0; master_argv[i] != NULL && i < 253; i++)
		argv[i] = master_argv[i];
	argv[i++] = "--check-config";
	argv[i] = NULL;
	if (pipe2(pfd, O_CLOEXEC) == -1)
		return -1;
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
		execv("/proc/self/exe", argv);
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
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
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
	char why[512], pids[MASTER_WORKERS_MAX * 12], *p = pids;
	int i;

	if (check_new_config(why, sizeof(why)) == -1) {
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
	if (listen_export() == -1 || setenv("BRIDGE_RETIRE", pids, 1) == -1) {
		log_error("HUP: cannot hand over to a new image: %s",
		    strerror(errno));
		return 0;
	}
	notify_env_restore();
	log_info("HUP: replacing %d workers; configuration and application "
	    "read anew", nworkers);
	execv("/proc/self/exe", master_argv);
	log_error("HUP: exec: %s; replacing the workers instead",
	    strerror(errno));
	unsetenv("BRIDGE_RETIRE");
	return 0;
}

/* Workers of the image before a reload: retire them once ours run. */
static void
adopt_retiring(void)
{
	const char *env = getenv("BRIDGE_RETIRE");
	char *end;
	long pid;

	if (env == NULL)
		return;
	while (nretiring < (int)(sizeof(retiring) / sizeof(retiring[0]))) {
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
	for (i = 0; i < nretiring; i++)
		kill(retiring[i], SIGTERM);
}

/* --pidfile: the master's pid, for init scripts and logrotate. */
static void
pidfile_write(void)
{
	char line[32];
	int fd, n;

	if (config.pidfile == NULL)
		return;
	fd = open(config.pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (fd == -1 || write(fd, line, (size_t)n) != n)
		fatal("--pidfile %s: %s", config.pidfile, strerror(errno));
	close(fd);
}

int
master_run(char **argv)
{
	sigset_t set;
	siginfo_t si;
	struct timespec ts;
	uint64_t deadline = 0;
	long wait_ms;
	int i, sig, stopping = 0, rc = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTTIN);
	sigaddset(&set, SIGTTOU);
	sigaddset(&set, SIGRTMIN);	/* a worker is ready */
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	master_argv = argv;
	nworkers = config.workers;
	scoreboard_init(MASTER_WORKERS_MAX);
	pidfile_write();
	adopt_retiring();
	if (retire_when_ready && tls_enabled())
		log_info("HUP: certificates reloaded");
	for (i = 0; i < nworkers; i++)
		spawn(i);
	log_info("bridge %s serving on %d listener%s with %d worker%s",
	    PACKAGE_VERSION, nlisteners, nlisteners == 1 ? "" : "s",
	    nworkers, nworkers == 1 ? "" : "s");

	for (;;) {
		if (stopping) {
			/* Collect here too: a SIGCHLD taken while starting
			 * to stop must not leave a child uncounted. */
			reap(1);
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
			wait_ms = check_timeouts(wait_ms);
		}
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000;
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == -1)
			continue;	/* timeout or EINTR */
		if (sig == SIGRTMIN) {
			i = si.si_value.sival_int;
			if (i >= 0 && i < MASTER_WORKERS_MAX &&
			    children[i].pid == si.si_pid) {
				children[i].ready = 1;
				ever_ready = 1;
				maybe_announce();
			}
			continue;
		}
		switch (sig) {
		case SIGCHLD:
			if (reap(stopping) == -1 && !stopping) {
				rc = 1;
				stopping = 1;
				listen_close_all();
				signal_all(SIGTERM);
				deadline = loop_clock_ms() +
				    (uint64_t)config.graceful_timeout * 1000;
			}
			break;
		case SIGTERM:
			if (!stopping) {
				notify("STOPPING=1\nSTATUS=stopping");
				log_info("TERM: stopping gracefully (up to %u "
				    "s)", config.graceful_timeout);
				stopping = 1;
				deadline = loop_clock_ms() +
				    (uint64_t)config.graceful_timeout * 1000;
				signal_all(SIGTERM);
				/* New clients are refused now rather than
				 * queued on a socket nobody will accept. */
				listen_close_all();
			}
			break;
		case SIGINT:
		case SIGQUIT:
			notify("STOPPING=1\nSTATUS=stopping");
			log_info("%s: stopping now", sig == SIGINT ? "INT" :
			    "QUIT");
			stopping = 1;
			listen_close_all();
			signal_all(SIGINT);
			deadline = loop_clock_ms() + 2000;
			break;
		case SIGHUP:
			if (!stopping)
				reload();
			break;
		case SIGUSR1:
			if (log_reopen() == -1)
				log_error("USR1: reopening the error log: %s",
				    strerror(errno));
			log_info("USR1: logs reopened");
			signal_all(SIGUSR1);
			break;
		case SIGTTIN:
			if (!stopping && nworkers < MASTER_WORKERS_MAX) {
				children[nworkers].quick_deaths = 0;
				spawn(nworkers++);
				log_info("TTIN: %d workers", nworkers);
			}
			break;
		case SIGTTOU:
			if (!stopping && nworkers > 1) {
				nworkers--;
				if (children[nworkers].pid > 0)
					kill(children[nworkers].pid, SIGTERM);
				log_info("TTOU: %d workers", nworkers);
			}
			break;
		}
	}
	listen_unlink_all();
	if (config.pidfile != NULL)
		unlink(config.pidfile);
	log_info("stopped");
	return rc;
}
