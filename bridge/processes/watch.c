/*
 * --reload's file watch.  One inotify descriptor per worker, on the
 * worker's loop; one watch per directory, shared by the files in it
 * (inotify_add_watch() gives the same descriptor for the same
 * directory).  The files are few (an application's own sources), so a
 * linear search per event is enough.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "watch.h"

/* What a save looks like: written in place (CLOSE_WRITE), renamed over
 * (MOVED_TO), made anew or removed by a linker (CREATE, DELETE), or
 * touched (ATTRIB). */
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | \
	IN_DELETE | IN_ATTRIB | IN_ONLYDIR)

/* File status times come from a clock that lags by up to a tick. */
#define WATCH_CLOCK_SLACK_NS 10000000LL

struct watched {
	char *path;		/* absolute */
	const char *name;	/* its last component, within path */
	int wd;			/* -1: not watched (yet) */
};

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watched *files;
static size_t nfiles, cap;
static struct loop_io watch_io = { .fd = -1 };
static struct loop_timer quiet;
static struct loop_tq *tq_quiet;
static void (*changed_fn)(const char *);
static char first_changed[PATH_MAX];
static uint64_t burst_start;
static int fired;

/* path made absolute, with symbolic links resolved while it exists (an
 * edit goes to the link's target).  Returns a new string or NULL. */
static char *
resolve(const char *path)
{
	char buf[PATH_MAX], cwd[PATH_MAX];

	if (realpath(path, buf) != NULL)
		return strdup(buf);
	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    (size_t)snprintf(buf, sizeof(buf), "%s/%s", cwd, path) >=
	    sizeof(buf)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return strdup(buf);
}

/* Put w's directory under watch; watch_lock held. */
static int
add_watch(struct watched *w)
{
	char dir[PATH_MAX];
	size_t n = (size_t)(w->name - w->path);

	/* "/app.py" lives in "/"; otherwise drop the slash. */
	if (n > 1)
		n--;
	memcpy(dir, w->path, n);
	dir[n] = '\0';
	if ((w->wd = inotify_add_watch(watch_io.fd, dir, WATCH_EVENTS)) ==
	    -1) {
		log_warn("reload: cannot watch %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
watch_file(const char *path)
{
	struct watched *w;
	char *abs;
	size_t i;
	int rc = 0;

	if (path == NULL || *path == '\0' || (abs = resolve(path)) == NULL)
		return -1;
	pthread_mutex_lock(&watch_lock);
	for (i = 0; i < nfiles; i++)
		if (strcmp(files[i].path, abs) == 0)
			goto out;
	if (nfiles == WATCH_FILES_MAX) {
		log_warn("reload: more than %d files to watch; %s is not",
		    WATCH_FILES_MAX, abs);
		rc = -1;
		goto out;
	}
	if (nfiles == cap) {
		size_t ncap = cap ? cap * 2 : 64;

		if ((w = realloc(files, ncap * sizeof(*w))) == NULL) {
			rc = -1;
			goto out;
		}
		files = w;
		cap = ncap;
	}
	w = &files[nfiles++];
	w->path = abs;
	w->name = strrchr(abs, '/') + 1;
	w->wd = -1;
	abs = NULL;
	log_debug("reload: watching %s", w->path);
	if (watch_io.fd != -1)
		rc = add_watch(w);
out:
	pthread_mutex_unlock(&watch_lock);
	free(abs);
	return rc;
}

/* A change to path: (re)start the quiet period.  Loop thread. */
static void
note(struct loop *l, const char *path)
{
	if (fired)
		return;
	if (first_changed[0] == '\0') {
		snprintf(first_changed, sizeof(first_changed), "%s", path);
		burst_start = l->now;
	}
	/* A file written without pause must still take effect. */
	if (quiet.q == NULL || l->now - burst_start < WATCH_BURST_MS)
		loop_timer_arm(l, tq_quiet, &quiet);
}

static void
on_quiet(struct loop *l, struct loop_timer *t)
{
	(void)l;
	(void)t;
	fired = 1;
	changed_fn(first_changed);
}

static void
on_events(struct loop *l, struct loop_io *io, uint32_t events)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *e;
	ssize_t n, off;
	size_t i;

	(void)events;
	while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n; off += (ssize_t)sizeof(*e) + e->len) {
			e = (const struct inotify_event *)(buf + off);
			if (e->mask & IN_Q_OVERFLOW) {
				/* Events were lost: one may have been ours. */
				note(l, "(inotify queue overflowed; a file)");
				continue;
			}
			if (e->len == 0)
				continue;
			pthread_mutex_lock(&watch_lock);
			for (i = 0; i < nfiles; i++)
				if (files[i].wd == e->wd &&
				    strcmp(files[i].name, e->name) == 0) {
					note(l, files[i].path);
					break;
				}
			pthread_mutex_unlock(&watch_lock);
		}
	}
}

/* Changed since the application started to read it? */
static int
changed_since(const char *path, const struct timespec *since)
{
	struct timespec now;
	struct stat st;
	long long c, s;

	if (stat(path, &st) == -1)
		return errno == ENOENT;	/* gone while loading */
	clock_gettime(CLOCK_REALTIME, &now);
	c = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
	s = (long long)since->tv_sec * 1000000000LL + since->tv_nsec;
	/* A time in the future is a clock that was set back, not an
	 * edit: restarting for it would never end. */
	return c >= s - WATCH_CLOCK_SLACK_NS &&
	    c <= (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

int
watch_start(struct loop *l, void (*changed)(const char *path),
    const struct timespec *since)
{
	size_t i;
	int fd;

	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return -1;
	if ((tq_quiet = loop_tq_new(l, WATCH_QUIET_MS)) == NULL) {
		close(fd);
		errno = ENOSPC;
		return -1;
	}
	changed_fn = changed;
	l->now = loop_clock_ms();	/* loading took a while */
	quiet.fn = on_quiet;
	watch_io.fn = on_events;
	pthread_mutex_lock(&watch_lock);
	watch_io.fd = fd;
	for (i = 0; i < nfiles; i++) {
		add_watch(&files[i]);
		if (changed_since(files[i].path, since))
			note(l, files[i].path);
	}
	pthread_mutex_unlock(&watch_lock);
	if (loop_add(l, &watch_io, EPOLLIN) == -1)
		return -1;
	return 0;
}
