/*
 * Worker process.  Signals arrive through a signalfd on the loop, so no
 * handler ever runs in the middle of a request: TERM stops gracefully
 * (stop accepting, finish what is in flight, close idle connections), INT
 * and QUIT stop at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WORKER_ASAN 1
#endif
#ifdef WORKER_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#include "access_log.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "fcgi_conn.h"
#include "http_conn.h"
#include "listen.h"
#include "log.h"
#include "module.h"
#include "priv.h"
#include "proctitle.h"
#include "proxy_conn.h"
#include "req.h"
#include "scoreboard.h"
#include "watch.h"
#include "worker.h"

struct worker worker;

static struct scoreboard_slot *slot;
static struct loop_tq *tq_heartbeat;
static struct loop_timer heartbeat_timer;
static unsigned long requests_left;	/* before recycling; 0: no limit */
static int reloading;			/* --reload: a source changed */
static int over_memory;			/* --max-worker-memory passed */
static uint64_t rss_read_at;		/* ms: last look at the RSS */

static void stop_gracefully(void);
static void stop_deadline_arm(void);

/*
 * The worker's loop offered to asynchronous modules (gateway ABI 2):
 * their descriptors and timers, and the loop itself for a module that
 * runs its own (asyncio) with ours inside.
 */
struct bg_watch {
	struct loop_io io;	/* first: the loop hands us &io */
	void (*fn)(void *arg, unsigned revents);
	void *arg;
	struct loop_deferred free_node;
	int dead;
};

struct bg_timer {
	struct loop_mtimer t;
	void (*fn)(void *arg);
	void *arg;
};

static void
watch_io(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct bg_watch *w = (struct bg_watch *)io;

	(void)l;
	if (!w->dead)
		w->fn(w->arg, events);
}

static bg_watch *
g_watch(int fd, unsigned events, void (*fn)(void *, unsigned), void *arg)
{
	struct bg_watch *w;

	if (fn == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->io.fd = fd;
	w->io.fn = watch_io;
	w->fn = fn;
	w->arg = arg;
	if (loop_add(&worker.loop, &w->io, events) == -1) {
		free(w);
		return NULL;
	}
	return w;
}

static int
g_watch_set(bg_watch *w, unsigned events)
{
	return loop_mod(&worker.loop, &w->io, events);
}

static void
g_unwatch(bg_watch *w)
{
	if (w == NULL || w->dead)
		return;
	loop_del(&worker.loop, &w->io);
	/* Its event may still be in this round's list: freed after. */
	w->dead = 1;
	w->free_node.fn = free;
	w->free_node.arg = w;
	loop_defer_node(&worker.loop, &w->free_node);
}

static void
timer_fire(void *arg)
{
	struct bg_timer *t = arg;
	void (*fn)(void *) = t->fn;
	void *fn_arg = t->arg;

	free(t);
	fn(fn_arg);
}

static bg_timer *
g_timer(uint64_t ms, void (*fn)(void *), void *arg)
{
	struct bg_timer *t;

	if (fn == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->t.fn = timer_fire;
	t->t.arg = t;
	loop_mtimer_arm(&worker.loop, &t->t, ms);
	return t;
}

static void
g_timer_cancel(bg_timer *t)
{
	if (t == NULL)
		return;
	loop_mtimer_stop(&worker.loop, &t->t);
	free(t);
}

static int
g_loop_fd(void)
{
	return worker.loop.epfd;
}

static int
g_loop_run_once(int *timeout_ms)
{
	int next = -1, rc;

	rc = loop_run_once(&worker.loop, 0, &next);
	if (timeout_ms != NULL)
		*timeout_ms = next;
	/* The loop is done; what the module still runs (an ASGI
	 * lifespan shutdown) is bounded by --graceful-timeout, not by
	 * the heartbeat. */
	if (rc != 0 && slot != NULL)
		slot->loop_turned = 0;
	return rc != 0;
}

/* Resident set size from /proc/self/statm (pages, its second field);
 * 0 when it cannot be read. */
static uint64_t
rss_bytes(void)
{
	unsigned long long size, resident;
	char text[128];
	ssize_t n;
	int fd;

	if ((fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "%llu %llu", &size, &resident) != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * The RSS for the scoreboard and --max-worker-memory, read at most once a
 * second (a read of statm costs a few microseconds).  Past the cap the
 * worker stops as --max-requests stops it: it accepts nothing more,
 * answers what it has, exits, and the master starts another.  At start
 * (starting) a worker already past the cap is only reported: it would
 * be replaced after each request.
 */
static void
memory_check(int starting)
{
	uint64_t rss;

	if (!starting && worker.loop.now - rss_read_at < 1000)
		return;
	/* At start the loop's clock is as old as the application's
	 * loading: read the clock. */
	rss_read_at = starting ? loop_clock_ms() : worker.loop.now;
	rss = rss_bytes();
	if (slot != NULL)
		slot->rss_bytes = rss;
	if (config.max_worker_memory == 0 || rss <= config.max_worker_memory ||
	    conn_host.stopping)
		return;
	if (starting) {
		log_warn("worker %d: RSS %.1fm at start is already above "
		    "--max-worker-memory %.1fm: it will be replaced after "
		    "every request", worker.index, (double)rss / 1048576,
		    (double)config.max_worker_memory / 1048576);
		return;
	}
	log_info("worker %d: RSS %.1fm passed --max-worker-memory %.1fm; "
	    "recycling once its requests are answered", worker.index,
	    (double)rss / 1048576, (double)config.max_worker_memory /
	    1048576);
	over_memory = 1;
	stop_gracefully();
}

/* A response is complete (dispatch_request_done). */
static void
request_done(void)
{
	if (requests_left > 0 && --requests_left == 0 && !conn_host.stopping) {
		log_info("worker %d served its --max-requests; recycling",
		    worker.index);
		stop_gracefully();
	}
	memory_check(0);
}

/*
 * SIGALRM from the master: the request in the module ran past
 * --timeout.  The module's state cannot be trusted any more, so the
 * worker answers 504 if it still can and exits; the master replaces it.
 */
static void
on_timeout(int sig)
{
	(void)sig;
	dispatch_abandon();
	/* Not worker_exit(): in a signal handler, with requests running. */
	_exit(WORKER_EXIT_TIMEOUT);
}

struct listen_io {
	struct loop_io io;
	struct listener *l;
	int active;
};

static struct listen_io lios[LISTEN_MAX];
static struct loop_io sig_io;
static struct loop_timer accept_timer;
static struct loop_tq *tq_accept;

static void accept_enable(int on);

/* Front ends by protocol. */
static int (*const front_accept[])(int fd, const struct listener *l) = {
	[PROTO_FASTCGI] = fcgi_conn_accept,
	[PROTO_HTTP] = http_conn_accept,
	[PROTO_HTTPS] = http_conn_accept,
};

static void
accept_resume(struct loop *l, struct loop_timer *t)
{
	(void)l;
	(void)t;
	if (!conn_host.stopping && conn_host.nconns < config.max_conns)
		accept_enable(1);
}

static void
on_accept(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct listen_io *li = (struct listen_io *)io;
	int fd, i;

	(void)events;
	/* An event of this round for a listener closed by the stop. */
	if (conn_host.stopping || li->io.fd == -1)
		return;
	/* Take a bounded batch so one listener cannot starve the rest. */
	for (i = 0; i < 64; i++) {
		if (conn_host.nconns >= config.max_conns) {
			accept_enable(0);
			return;
		}
		fd = accept4(li->io.fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			if (errno == EINVAL) {
				/* The master stopped the socket listening:
				 * we are about to stop too. */
				accept_enable(0);
				return;
			}
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Back off rather than spin (as slowcgi
				 * does): let connections close first. */
				log_error("accept on %s: %s; pausing accept "
				    "for a second", li->l->name,
				    strerror(errno));
				accept_enable(0);
				loop_timer_arm(l, tq_accept, &accept_timer);
				return;
			}
			log_error("accept on %s: %s", li->l->name,
			    strerror(errno));
			return;
		}
		if (li->l->proto >= sizeof(front_accept) /
		    sizeof(front_accept[0]) || !front_accept[li->l->proto]) {
			close(fd);
			continue;
		}
		/* --proxy-protocol: the header before HTTP or TLS. */
		if (config.proxy_protocol && li->l->proto != PROTO_FASTCGI)
			proxy_conn_accept(fd, li->l);
		else
			front_accept[li->l->proto](fd, li->l);
	}
}

static void
accept_enable(int on)
{
	int i;

	for (i = 0; i < nlisteners; i++) {
		if (lios[i].active == on || lios[i].io.fd == -1)
			continue;
		if (on)
			loop_add(&worker.loop, &lios[i].io,
			    EPOLLIN | EPOLLEXCLUSIVE);
		else
			loop_del(&worker.loop, &lios[i].io);
		lios[i].active = on;
	}
}

/*
 * Stopping with no connection left, an asynchronous module may still
 * have requests whose connection closed under them (told BG_EV_GONE,
 * req_detach): their ends (an ASGI task's finally, the module's
 * finish() that frees them) run before the worker ends, for up to half
 * the drain window.  finish() does not tell the worker, so it looks
 * every 20 ms.
 */
static struct loop_mtimer detached_wait;
static uint64_t detached_until;	/* ms; 0: not waiting yet */

static void
detached_look(void *arg)
{
	(void)arg;
	if (!req_detached() || worker.loop.now >= detached_until) {
		worker.loop.stop = 1;
		return;
	}
	loop_mtimer_arm(&worker.loop, &detached_wait, 20);
}

/* Stopping, and the last connection went: end the loop. */
static void
stop_when_idle(void)
{
	if (detached_until != 0)
		return;
	detached_until = worker.loop.now + CONN_DRAIN_MS / 2;
	detached_wait.fn = detached_look;
	detached_look(NULL);
}

/* A connection closed (conn_host_closed() counted it). */
static void
conn_closed(void)
{
	if (conn_host.stopping) {
		if (conn_host.nconns == 0)
			stop_when_idle();
	} else if (conn_host.nconns == config.max_conns - 1)
		accept_enable(1);
}

/* WORKER_HEARTBEAT_MS: the loop turned. */
static void
heartbeat(struct loop *l, struct loop_timer *t)
{
	slot->loop_turned = loop_clock_ms();
	loop_timer_arm(l, tq_heartbeat, t);
}

/* An asynchronous module's worker with --timeout shows the master its
 * loop turning. */
static void
heartbeat_start(void)
{
	if (!module_async() || config.timeout == 0 || slot == NULL ||
	    (tq_heartbeat = loop_tq_new(&worker.loop,
	    WORKER_HEARTBEAT_MS)) == NULL)
		return;
	heartbeat_timer.fn = heartbeat;
	heartbeat(&worker.loop, &heartbeat_timer);
}

static void
stop_gracefully(void)
{
	int i;

	if (conn_host.stopping)
		return;
	conn_host.stopping = 1;
	proctitle_set("worker %d (stopping)", worker.index);
	accept_enable(0);
	for (i = 0; i < nlisteners; i++) {
		close(lios[i].io.fd);
		lios[i].io.fd = -1;
	}
	fcgi_conn_shutdown();
	http_conn_shutdown();
	proxy_conn_shutdown();
	req_stop_detached();
	/* The master's clock for this stop (a slot a newer worker took
	 * after a reload is that one's). */
	if (slot != NULL && slot->pid == (int32_t)getpid()) {
		slot->stopping_since = loop_clock_ms();
		__atomic_store_n(&slot->stopping_pid, (int32_t)getpid(),
		    __ATOMIC_RELEASE);
	}
	if (conn_host.nconns == 0)
		stop_when_idle();
	stop_deadline_arm();
}

/*
 * A stop's last second.  Whatever began the stop (TERM, the old workers
 * of a reload, TTOU, or the worker itself: --max-requests,
 * --max-worker-memory, --reload), the master KILLs a worker still
 * running --graceful-timeout after it began, and with it the worker's
 * orderly end: no worker_fini(), no ASGI lifespan shutdown.  A request
 * whose body is still arriving would hold the worker that long (it has
 * --read-timeout, 60 s by default), and so would a client that stopped reading its
 * finished response (--write-timeout).  A second before (half-way for a
 * timeout under 2 s) such connections are ended: a request still
 * arriving is answered 503 when nothing of a response has gone (RFC 9110
 * section 15.6.4; the server need not wait for the body, RFC 9112
 * section 9.3), else closed.  Whatever the module is still answering is
 * left alone, as are connections whose peer took output within the last
 * CONN_DRAIN_MS: behind nginx or HAProxy a retiring worker's busy
 * connections are other clients' responses, and cutting them fails
 * those (the master's KILL remains for a module that does not finish).
 * Idle connections and half-sent heads are the drain window's, but from
 * then on (stop_late) a connection closes as soon as it is idle.
 */
static struct loop_mtimer stop_deadline;

static void
stop_deadline_fire(void *arg)
{
	int cut[CONN_CUT_MAX] = { 0 };
	int n;

	(void)arg;
	conn_host.stop_late = 1;
	conn_stop_cut(cut);
	/* A response finished from now on leaves no drain window on its
	 * connection (the connection layer's walk, after the round, closes
	 * the idle ones now). */
	conn_shutdown();
	n = cut[CONN_CUT_REQUEST] + cut[CONN_CUT_READER];
	if (n == 0)
		return;
	log_warn("worker %d: --graceful-timeout %u s nearly over: closed %d "
	    "connection%s waiting on the client (%d with a request still "
	    "arriving, %d not reading its response); %d left to "
	    "finish", worker.index, config.graceful_timeout, n,
	    n == 1 ? "" : "s", cut[CONN_CUT_REQUEST], cut[CONN_CUT_READER],
	    cut[CONN_KEPT]);
}

static void
stop_deadline_arm(void)
{
	uint64_t ms = (uint64_t)config.graceful_timeout * 1000;

	if (ms == 0 || stop_deadline.fn != NULL)
		return;
	stop_deadline.fn = stop_deadline_fire;
	loop_mtimer_arm(&worker.loop, &stop_deadline, ms >= 2000 ?
	    ms - 1000 : ms / 2);
}

static void
on_signal(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
			stop_gracefully();
			break;
		case SIGINT:
		case SIGQUIT:
			l->stop = 1;
			break;
		case SIGUSR1:
			/* logrotate moved the files: open them anew. */
			if (log_reopen() == -1 || access_log_reopen() == -1) {
				log_error("USR1: reopening logs: %s",
				    strerror(errno));
				break;
			}
			if (config.capture_output)
				log_capture_std();
			log_debug("worker %d: logs reopened", worker.index);
			break;
		default:
			break;
		}
	}
}

/* --reload: a file the application was loaded from changed. */
static void
on_source_changed(const char *path)
{
	if (conn_host.stopping)
		return;
	log_info("reload: %s changed; restarting worker %d", path,
	    worker.index);
	reloading = 1;
	stop_gracefully();
}

/*
 * Start the application in this worker.  Without --reload a failure
 * ends the worker (and the master backs off, or stops bridge if the
 * application never started); an application that refused to start
 * (worker_init() said BG_FATAL: an ASGI lifespan.startup.failed) stops
 * bridge whenever it happens, with its reason, which the master finds
 * in this worker's scoreboard slot.  With --reload it is a developer's
 * typo: the worker stays, answers 500 and watches the files it knows
 * about, so that saving the fix brings the application back.
 */
static void
app_start(int index)
{
	char err[512];
	const char *what = NULL;
	int native = config.wsgi_app == NULL && config.cgi_root == NULL;
	int rc = 0;

	if (config.reload && native) {
		/* A rebuilt .so is read anew, and watched. */
		if (module_reopen(config.module, err, sizeof(err)) == -1) {
			log_error("worker %d: %s", index, err);
			what = "load";
		}
		watch_file(module.path);
	}
	if (what == NULL && !config.preload &&
	    module_init(config.module_arg) == -1)
		what = "init";
	else if (what == NULL && (rc = module_worker_init()) != 0) {
		what = "worker_init";
		/* Before the line below replaces it. */
		if (rc == BG_FATAL && slot != NULL)
			snprintf(slot->fatal, sizeof(slot->fatal), "%s",
			    log_last_error());
	}
	if (what == NULL) {
		if (config.wsgi_app != NULL)
			log_info("worker %d (pid %ld): application %s %s",
			    index, (long)getpid(), config.wsgi_app,
			    config.preload ? "ready (preloaded)" : "loaded");
		else if (config.cgi_root != NULL)
			log_info("worker %d (pid %ld): CGI scripts under %s "
			    "ready", index, (long)getpid(), config.cgi_root);
		else
			log_info("worker %d (pid %ld): module %s loaded", index,
			    (long)getpid(), module.path);
		return;
	}
	log_error("worker %d: module %s: %s failed", index,
	    module.m != NULL ? module.m->name : module.path, what);
	if (!config.reload)
		worker_exit(rc == BG_FATAL ? WORKER_EXIT_FATAL :
		    WORKER_EXIT_INIT);
	log_error("worker %d: --reload: answering 500 until a watched file "
	    "changes", index);
	module_fail();
}

int
worker_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

#ifdef BRIDGE_GCOV_DUMP
void __gcov_dump(void);
#endif

void
worker_exit(int status)
{
#ifdef WORKER_ASAN
	/* Reports go where ASAN_OPTIONS' log_path says; the tests fail on
	 * any.  A leak does not change the exit status the master reads. */
	__lsan_do_recoverable_leak_check();
#endif
#ifdef BRIDGE_GCOV_DUMP
	__gcov_dump();
#endif
	_exit(status);
}

void
worker_main(int index)
{
	struct timespec since;
	int i;

	worker.index = index;
	proctitle_set("worker %d", index);
	/* A worker must not outlive its master. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (loop_init(&worker.loop) == -1) {
		log_error("worker: epoll: %s", strerror(errno));
		worker_exit(WORKER_EXIT_INIT);
	}
	conn_host.loop = &worker.loop;
	conn_host.closed = conn_closed;
	conn_host.tq_read = loop_tq_new(&worker.loop,
	    (uint64_t)config.read_timeout * 1000);
	conn_host.tq_header = loop_tq_new(&worker.loop,
	    (uint64_t)config.header_timeout * 1000);
	conn_host.tq_idle = loop_tq_new(&worker.loop,
	    (uint64_t)config.idle_timeout * 1000);
	conn_host.tq_write = loop_tq_new(&worker.loop,
	    (uint64_t)config.write_timeout * 1000);
	tq_accept = loop_tq_new(&worker.loop, 1000);
	conn_host.tq_drain = loop_tq_new(&worker.loop, CONN_DRAIN_MS);
	if (config.timeout > 0)
		conn_host.tq_request = loop_tq_new(&worker.loop,
		    (uint64_t)config.timeout * 1000);
	req_async_init(&worker.loop);
	req_server.watch = g_watch;
	req_server.watch_set = g_watch_set;
	req_server.unwatch = g_unwatch;
	req_server.timer = g_timer;
	req_server.timer_cancel = g_timer_cancel;
	req_server.loop_fd = g_loop_fd;
	req_server.loop_run_once = g_loop_run_once;
	accept_timer.fn = accept_resume;

	if ((sig_io.fd = worker_signalfd()) == -1) {
		log_error("worker: signalfd: %s", strerror(errno));
		worker_exit(WORKER_EXIT_INIT);
	}
	sig_io.fn = on_signal;
	loop_add(&worker.loop, &sig_io, EPOLLIN);
	/* The master ignores SIGPIPE; sockets use MSG_NOSIGNAL anyway. */
	signal(SIGCHLD, SIG_DFL);

	if (priv_drop() == -1)
		worker_exit(WORKER_EXIT_INIT);
	if (config.capture_output)
		log_capture_std();
	slot = scoreboard_slot(index);
	if (slot != NULL) {
		slot->busy_since = 0;
		slot->pid = (int32_t)getpid();
		if (config.stats != NULL)
			scoreboard_attach(slot);
	}
	dispatch_init(slot, request_done);
	signal(SIGALRM, on_timeout);
	if (config.max_requests > 0) {
		requests_left = config.max_requests;
		if (config.max_requests_jitter > 0) {
			srand((unsigned)getpid() ^ (unsigned)loop_clock_ms());
			requests_left += (unsigned long)rand() %
			    (config.max_requests_jitter + 1);
		}
	}

	if (config.reload) {
		req_server.watch_file = watch_file;
		clock_gettime(CLOCK_REALTIME, &since);
	}
	app_start(index);
	if (module_async() && config.threads > 1) {
		/* Its requests live on the loop; threads would idle. */
		log_info("worker %d: module %s is asynchronous: --threads %d "
		    "does not apply", index, module.m->name, config.threads);
		config.threads = 1;
	}
	if (config.reload && watch_start(&worker.loop, on_source_changed,
	    &since) == -1)
		log_error("worker %d: --reload: cannot watch files: %s "
		    "(fs.inotify.max_user_instances?)", index,
		    strerror(errno));

	/* The stats process's, not ours. */
	if (listen_stats.fd != -1) {
		close(listen_stats.fd);
		listen_stats.fd = -1;
	}
	for (i = 0; i < nlisteners; i++) {
		lios[i].io.fd = listeners[i].fd;
		lios[i].io.fn = on_accept;
		lios[i].l = &listeners[i];
	}
	if (dispatch_start(&worker.loop) == -1) {
		log_error("worker %d: starting %d application threads: %s",
		    index, config.threads, strerror(errno));
		worker_exit(WORKER_EXIT_INIT);
	}
	accept_enable(1);
	memory_check(1);
	heartbeat_start();
	/*
	 * Tell the master (sd_notify READY waits for every worker) through
	 * the shared scoreboard, which it reads every 100 ms: a signal
	 * would need the master's credentials, and after --user this
	 * worker no longer has them (kill(2): EPERM).
	 */
	if (slot != NULL)
		__atomic_store_n(&slot->state, SCOREBOARD_READY,
		    __ATOMIC_RELEASE);
	log_debug("worker %d ready", index);
	if (module.m->abi_version >= 2 && module.m->run != NULL) {
		/* The module's loop, with ours embedded in it. */
		if (module.m->run(module.ctx) == -1)
			log_error("worker %d: module %s: its loop failed",
			    index, module.m->name);
	} else
		loop_run(&worker.loop);
	/* What follows (lifespan shutdown) is not the loop's. */
	if (slot != NULL)
		slot->loop_turned = 0;
	module_worker_fini();
	worker_exit(reloading ? WORKER_EXIT_RELOAD : over_memory ?
	    WORKER_EXIT_MEMORY : WORKER_EXIT_OK);
}
