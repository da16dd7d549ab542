/*
 * Request dispatch: see dispatch.h.  The application threads take jobs
 * from one queue and hand finished ones back through an eventfd on the
 * loop, oldest first.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "dispatch.h"
#include "loop.h"
#include "req.h"
#include "scoreboard.h"

/*
 * The requests in the module, one slot per thread that runs the module
 * (the loop thread, or each of --threads), for the timeout handler.
 */
struct running {
	struct req *volatile r;
	volatile int fd;
	const void *volatile pending;
	volatile size_t pending_len;
	const void *volatile answer;
	volatile size_t answer_len;
	volatile pid_t pgids[8];
	volatile int npgids;
	volatile uint64_t since;
};

#define DISPATCH_THREADS_MAX 256

static struct running running[DISPATCH_THREADS_MAX];
static __thread struct running *current = &running[0]; /* this thread's */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct scoreboard_slot *slot;
static void (*done_hook)(void);

/* The scoreboard shows the oldest request in the module. */
static void
publish_busy(void)
{
	uint64_t oldest = 0;
	int i;

	for (i = 0; i < config.threads; i++)
		if (running[i].r != NULL && (oldest == 0 ||
		    running[i].since < oldest))
			oldest = running[i].since;
	slot->busy_since = oldest;
}

void
dispatch_request_begin(struct req *r, int fd, const void *pending,
    size_t pending_len, const void *answer, size_t answer_len)
{
	struct running *c = current;

	c->fd = fd;
	c->pending = pending;
	c->pending_len = pending_len;
	c->answer = answer;
	c->answer_len = answer_len;
	c->npgids = 0;
	c->since = loop_clock_ms();
	c->r = r;
	if (slot != NULL) {
		pthread_mutex_lock(&running_lock);
		publish_busy();
		pthread_mutex_unlock(&running_lock);
	}
}

/* The gateway's own_pgid(): a process group of the current request,
 * killed if the request is abandoned.  Returns 0 or -1 (table full). */
static int
own_pgid(bg_request *r, pid_t pgid)
{
	struct running *c = current;

	(void)r;
	if (c == NULL || pgid <= 1 || c->npgids ==
	    (int)(sizeof(c->pgids) / sizeof(c->pgids[0])))
		return -1;
	c->pgids[c->npgids++] = pgid;
	return 0;
}

void
dispatch_request_end(void)
{
	struct running *c = current;

	c->r = NULL;
	c->npgids = 0;
	if (slot != NULL) {
		pthread_mutex_lock(&running_lock);
		publish_busy();
		slot->requests++;
		pthread_mutex_unlock(&running_lock);
	}
}

void
dispatch_request_counted(void)
{
	if (slot != NULL) {
		pthread_mutex_lock(&running_lock);
		slot->requests++;
		pthread_mutex_unlock(&running_lock);
	}
}

void
dispatch_request_done(void)
{
	if (done_hook != NULL)
		done_hook();
}

void
dispatch_init(struct scoreboard_slot *s, void (*done)(void))
{
	slot = s;
	done_hook = done;
	req_server.own_pgid = own_pgid;
}

/*
 * Application threads (--threads N): a queue of jobs to run, and a queue
 * of finished ones that an eventfd hands back to the loop thread.
 */
static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static struct dispatch_job *todo_head, *todo_tail, *done_list;
static struct loop_io done_io;

void
dispatch_submit(struct dispatch_job *j)
{
	if (config.threads == 1) {
		j->run(j);
		j->done(j);
		return;
	}
	j->next = NULL;
	pthread_mutex_lock(&jobs_lock);
	if (todo_tail)
		todo_tail->next = j;
	else
		todo_head = j;
	todo_tail = j;
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
}

static void *
app_thread(void *arg)
{
	struct dispatch_job *j;
	uint64_t one = 1;

	current = arg;
	for (;;) {
		pthread_mutex_lock(&jobs_lock);
		while (todo_head == NULL)
			pthread_cond_wait(&jobs_cond, &jobs_lock);
		j = todo_head;
		if ((todo_head = j->next) == NULL)
			todo_tail = NULL;
		pthread_mutex_unlock(&jobs_lock);
		j->run(j);
		pthread_mutex_lock(&jobs_lock);
		j->next = done_list;
		done_list = j;
		pthread_mutex_unlock(&jobs_lock);
		(void)!write(done_io.fd, &one, sizeof(one));
	}
	return NULL;
}

static void
on_jobs_done(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct dispatch_job *list, *rev = NULL, *j;
	uint64_t n;

	(void)l;
	(void)events;
	(void)!read(io->fd, &n, sizeof(n));
	pthread_mutex_lock(&jobs_lock);
	list = done_list;
	done_list = NULL;
	pthread_mutex_unlock(&jobs_lock);
	while ((j = list) != NULL) {	/* oldest first */
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while ((j = rev) != NULL) {
		rev = j->next;
		j->done(j);
	}
}

int
dispatch_start(struct loop *l)
{
	pthread_t t;
	int i;

	if (config.threads == 1) {
		current = &running[0];
		return 0;
	}
	if ((done_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return -1;
	done_io.fn = on_jobs_done;
	if (loop_add(l, &done_io, EPOLLIN) == -1)
		return -1;
	for (i = 0; i < config.threads; i++) {
		if (pthread_create(&t, NULL, app_thread, &running[i]) != 0)
			return -1;
		pthread_detach(t);
	}
	return 0;
}

/* Blocking write for the timeout handler: async-signal-safe calls only. */
static void
write_fully(int fd, const char *p, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t w;
	int tries = 0;

	while (n > 0 && tries < 50) {
		w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EINTR)
			return;
		tries++;
		poll(&pfd, 1, 100);
	}
}

void
dispatch_abandon(void)
{
	int t, i;

	/* Every request in the module goes with the worker: what they
	 * started must not outlive it, and those that have sent nothing
	 * get their 504. */
	for (t = 0; t < config.threads; t++) {
		struct running *c = &running[t];
		struct req *r = c->r;

		if (r == NULL)
			continue;
		for (i = 0; i < c->npgids; i++)
			kill(-c->pgids[i], SIGKILL);
		if (!r->head_sent && c->answer != NULL) {
			write_fully(c->fd, c->pending, c->pending_len);
			write_fully(c->fd, c->answer, c->answer_len);
		}
	}
}
