/*
 * One script run: spawn it, move bytes between it and the request in a
 * single poll loop, and make sure it and its process group are gone
 * before returning.
 *
 * Deadlock: the request body goes to the script's stdin while its stdout
 * and stderr are read, all in the same loop and each only as far as the
 * other side takes it, so a script that writes before it has read all
 * its input (or never reads it) cannot stall us, at any size.  Buffers
 * are fixed: CGI_IO_BUF each way and one stderr line.  The one call that
 * blocks is the gateway's write() to a slow client; meanwhile the
 * script's pipes fill and it waits, which is back-pressure, not deadlock.
 *
 * Streaming: what the script writes goes to the gateway as it is read,
 * and the gateway is asked to flush it to the client at most FLUSH_MS
 * after its first unflushed byte, or once CGI_IO_BUF bytes wait: output
 * is never held longer, whatever the script does next.  A script done
 * within FLUSH_MS of its first output has its answer sent whole, which
 * the HTTP front end gives a Content-Length (flushing as soon as the
 * pipe runs dry, as Apache's mod_cgi does, would chunk nearly every
 * answer of a shell script: it pauses between its commands).
 *
 * The client going away is noticed while the script writes (write()
 * fails) and while it is silent: the gateway's client_gone() hands over
 * a descriptor polled with the pipes.
 *
 * Processes: the script gets a process group of its own, so a timeout or
 * a client abort can signal everything it started (TERM, then KILL after
 * a grace).  Only the script's own pid is waited for (never waitpid(-1):
 * other modules may have children), and its exit is first observed with
 * WNOWAIT so that the zombie keeps the group id reserved while the group
 * is signalled.  After the script's output ends it gets a short while to
 * exit, then it is terminated like a timed-out one, as Apache's mod_cgi
 * does (its kill_after_timeout).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"

#define LINGER_MS 3000		/* after output ends, before TERM */
#define POLL_FALLBACK_MS 20	/* exit polling without a pidfd */
#define FLUSH_MS 50		/* output waits at most this for more */

enum mode { HEAD, BODY, DISCARD };

struct run {
	struct cgi_job *job;
	pid_t pid;
	int pidfd;		/* -1 without pidfd_open (Linux < 5.3) */
	int in, out, err;	/* our ends, -1 once closed */
	int exited;		/* exit seen (WNOWAIT), maybe not reaped */
	int reaped;
	int killed;		/* we signalled it */
	int wstatus;
	enum mode mode;
	size_t unflushed;	/* body bytes (or the head) not yet flushed */
	double flush_at;	/* when they go at the latest */
	struct pollfd client;	/* client_gone()'s to poll; fd -1: none */
	int body_eof;
	char *ibuf;		/* body bytes waiting for the script's stdin */
	size_t ilen, ioff;
	char *obuf;		/* stdout: header block, then body chunks */
	size_t olen;
	char ebuf[CGI_ERR_LINE_MAX];
	size_t elen;
	const char *fail;	/* why the run failed (static) */
	char name[128];		/* file name, for the log */
};

double
cgi_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
script_name(const struct run *u)
{
	return u->name;
}

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* The child's ends of the pipes must not be 0-2 already, or dup2 onto
 * themselves would leave them close-on-exec. */
static int
above_stdio(int *fd)
{
	int nfd;

	if (*fd > 2)
		return 0;
	if ((nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

static int
spawn(struct run *u)
{
	const struct cgi_loc *loc = u->job->loc;
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[2];
	sigset_t none, all;
	int rc, saved;

	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1 || above_stdio(&pin[0]) == -1 ||
	    above_stdio(&pout[1]) == -1 || above_stdio(&perr[1]) == -1)
		goto fail;
	if (fcntl(pin[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(pout[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(perr[0], F_SETFL, O_NONBLOCK) == -1)
		goto fail;

	/*
	 * The worker blocks the signals it reads from its signalfd and
	 * ignores SIGPIPE; the script must start with neither, or it would
	 * ignore our TERM and never die of a closed pipe.
	 */
	sigemptyset(&none);
	sigfillset(&all);
	if ((rc = posix_spawnattr_init(&attr)) != 0) {
		errno = rc;
		goto fail;
	}
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
		posix_spawnattr_destroy(&attr);
		errno = rc;
		goto fail;
	}
	if ((rc = posix_spawn_file_actions_adddup2(&fa, pin[0], 0)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, pout[1], 1)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, perr[1], 2)) != 0 ||
	    (rc = posix_spawn_file_actions_addchdir_np(&fa, loc->dir)) != 0)
		goto spawn_done;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* Belt and braces: the worker's fds should all be close-on-exec. */
	if ((rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0)
		goto spawn_done;
#endif
	/*
	 * argv is the script alone.  RFC 3875 section 4.4's command line
	 * from an "indexed" query is not built: it is how php-cgi took
	 * "?-s" as an option (CVE-2012-1823), and nginx+fcgiwrap never
	 * built it either.
	 */
	argv[0] = loc->file;
	argv[1] = NULL;
	rc = posix_spawn(&u->pid, loc->file, &fa, &attr, argv, u->job->envp);
spawn_done:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		goto fail;
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	u->in = pin[1];
	u->out = pout[0];
	u->err = perr[0];
	/* If bridge abandons the request (its --timeout), it kills the
	 * script's group rather than leave it running. */
	if (cgi_srv->size > offsetof(struct bg_server, own_pgid) &&
	    cgi_srv->own_pgid != NULL)
		cgi_srv->own_pgid(u->job->r, u->pid);
	u->pidfd = (int)syscall(SYS_pidfd_open, u->pid, 0);
	if (u->pidfd != -1)
		fcntl(u->pidfd, F_SETFD, FD_CLOEXEC);
	return 0;

fail:
	saved = errno;
	close_fd(&pin[0]);
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&perr[0]);
	close_fd(&perr[1]);
	errno = saved;
	return -1;
}

/* Has the script exited?  Leaves the zombie in place (WNOWAIT). */
static void
check_exit(struct run *u)
{
	siginfo_t si;

	if (u->exited)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)u->pid, &si, WEXITED | WNOHANG | WNOWAIT)
	    == 0 && si.si_pid == u->pid)
		u->exited = 1;
}

static void
reap(struct run *u)
{
	pid_t got;

	if (u->reaped)
		return;
	do
		got = waitpid(u->pid, &u->wstatus, 0);
	while (got == -1 && errno == EINTR);
	u->reaped = 1;
	u->exited = 1;
}

/* Wait up to ms for the script to exit; returns whether it has. */
static int
wait_exit(struct run *u, int ms)
{
	double end = cgi_now() + ms / 1000.0, left;
	struct pollfd pfd;

	for (;;) {
		check_exit(u);
		if (u->exited || (left = end - cgi_now()) <= 0)
			return u->exited;
		if (u->pidfd != -1) {
			pfd.fd = u->pidfd;
			pfd.events = POLLIN;
			poll(&pfd, 1, (int)(left * 1000) + 1);
		} else
			poll(NULL, 0, left * 1000 < POLL_FALLBACK_MS ?
			    (int)(left * 1000) + 1 : POLL_FALLBACK_MS);
	}
}

/*
 * Stop the script and everything in its group: TERM (and CONT, in case
 * it was stopped), up to the grace for the script to go, then KILL for
 * whatever is left.  The script is reaped only after the KILL, so its
 * pid cannot have become another group's in between.
 */
static void
terminate(struct run *u)
{
	if (u->reaped)
		return;
	u->killed = 1;
	kill(-u->pid, SIGTERM);
	kill(-u->pid, SIGCONT);
	wait_exit(u, u->job->conf->grace_ms);
	kill(-u->pid, SIGKILL);
	reap(u);
}

/* stderr: one log line per line the script writes, with the request id
 * (the gateway adds it).  Control characters would let a script forge
 * log lines or terminal escapes; they are shown as '?'. */
static void
log_line(struct run *u, char *p, size_t n)
{
	size_t i;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	for (i = 0; i < n; i++)
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') ||
		    p[i] == 0x7f)
			p[i] = '?';
	cgi_srv->log(u->job->r, BG_LOG_ERROR, "cgi %s: stderr: %.*s",
	    script_name(u), (int)n, p);
}

static void
read_err(struct run *u)
{
	ssize_t n;
	char *nl, *p;
	size_t left;

	do
		n = read(u->err, u->ebuf + u->elen, sizeof(u->ebuf) - u->elen);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		if (u->elen > 0)
			log_line(u, u->ebuf, u->elen);
		u->elen = 0;
		close_fd(&u->err);
		return;
	}
	u->elen += (size_t)n;
	p = u->ebuf;
	left = u->elen;
	while ((nl = memchr(p, '\n', left)) != NULL) {
		log_line(u, p, (size_t)(nl - p));
		left -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	if (left == sizeof(u->ebuf)) {
		log_line(u, p, left);
		left = 0;
	}
	memmove(u->ebuf, p, left);
	u->elen = left;
}

/* Request body -> script.  The gateway has the body buffered already, so
 * read() does not wait on the network. */
static void
feed(struct run *u)
{
	ssize_t n;

	while (u->in != -1) {
		if (u->ioff == u->ilen) {
			if (u->body_eof) {
				close_fd(&u->in);
				return;
			}
			if (u->job->body_fd != -1)
				n = read(u->job->body_fd, u->ibuf, CGI_IO_BUF);
			else
				n = cgi_srv->read(u->job->r, u->ibuf,
				    CGI_IO_BUF);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == -1)
					cgi_srv->log(u->job->r, BG_LOG_ERROR,
					    "cgi %s: reading the request "
					    "body failed; script gets EOF",
					    script_name(u));
				u->body_eof = 1;
				continue;
			}
			u->ilen = (size_t)n;
			u->ioff = 0;
		}
		n = write(u->in, u->ibuf + u->ioff, u->ilen - u->ioff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1) {
			/* EPIPE: the script closed its stdin; it need not
			 * read a body it has no use for. */
			cgi_srv->log(u->job->r, BG_LOG_DEBUG, "cgi %s: stdin "
			    "closed by the script: %s", script_name(u),
			    strerror(errno));
			close_fd(&u->in);
			return;
		}
		u->ioff += (size_t)n;
	}
}

/* RFC 3986 section 3.1: scheme ":" ... */
static int
is_absolute_uri(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || !((p[0] >= 'a' && p[0] <= 'z') ||
	    (p[0] >= 'A' && p[0] <= 'Z')))
		return 0;
	for (i = 1; i < n; i++) {
		char c = p[i];

		if (c == ':')
			return 1;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		    c == '.'))
			return 0;
	}
	return 0;
}

/*
 * The header block is complete: answer it.  Returns 0 with the mode set
 * (BODY, or DISCARD for a local redirect), or -1 with u->fail set.
 */
static int
commit(struct run *u, struct cgi_head *h)
{
	struct bg_header hs[CGI_HEAD_FIELDS_MAX + 1];
	const char *loc = h->location;
	size_t n, i, ll = h->location_len;
	char reason[128];
	int status;

	/* Section 6.2.2: a local path without a Status is the server's to
	 * fetch; "//host" is a network-path reference, not local. */
	if (loc != NULL && h->status == 0 && loc[0] == '/' && (ll == 1 ||
	    loc[1] != '/')) {
		if ((u->job->redirect = strndup(loc, ll)) == NULL) {
			u->fail = "out of memory";
			return -1;
		}
		u->mode = DISCARD;
		return 0;
	}
	/* Section 6.2.3-6.2.4: client redirect, 302 unless the script
	 * chose; a path is only fine if the script chose the status. */
	if (loc != NULL && !is_absolute_uri(loc, ll) && !(loc[0] == '/' &&
	    h->status != 0)) {
		u->fail = "Location is neither a local path nor an absolute "
		    "URI";
		return -1;
	}
	status = h->status != 0 ? h->status : loc != NULL ? 302 : 200;
	for (n = 0; n < h->nfields; n++) {
		hs[n].name = h->fields[n].name;
		hs[n].name_len = h->fields[n].name_len;
		hs[n].value = h->fields[n].value;
		hs[n].value_len = h->fields[n].value_len;
	}
	if (loc != NULL) {
		hs[n].name = "Location";
		hs[n].name_len = 8;
		hs[n].value = loc;
		hs[n].value_len = ll;
		n++;
	}
	if (h->dropped > 0)
		cgi_srv->log(u->job->r, BG_LOG_DEBUG, "cgi %s: %d hop-by-hop "
		    "header field(s) left out", script_name(u), h->dropped);
	if (h->reason != NULL) {
		i = h->reason_len < sizeof(reason) - 1 ? h->reason_len :
		    sizeof(reason) - 1;
		memcpy(reason, h->reason, i);
		reason[i] = '\0';
	}
	if (cgi_srv->start_response(u->job->r, status, h->reason != NULL ?
	    reason : NULL, hs, n, 0) == -1) {
		u->fail = "the gateway refused the script's header (logged "
		    "above)";
		return -1;
	}
	u->mode = BODY;
	u->unflushed = 1;	/* the head, until a flush */
	u->flush_at = cgi_now() + FLUSH_MS / 1000.0;
	return 0;
}

/* Send body bytes; -1 when the client has gone. */
static int
send_body(struct run *u, const char *p, size_t n)
{
	if (n == 0 || u->mode != BODY)
		return 0;
	if (cgi_srv->write(u->job->r, p, n) == -1) {
		cgi_srv->log(u->job->r, BG_LOG_INFO, "cgi %s: client went "
		    "away; stopping the script", script_name(u));
		return -1;
	}
	if (u->unflushed == 0)
		u->flush_at = cgi_now() + FLUSH_MS / 1000.0;
	u->unflushed += n;
	return 0;
}

/* Push what the script wrote to the client now; -1 when it has gone. */
static int
flush_out(struct run *u)
{
	u->unflushed = 0;
	if (cgi_srv->size <= offsetof(struct bg_server, flush) ||
	    cgi_srv->flush == NULL || cgi_srv->flush(u->job->r) == 0)
		return 0;
	cgi_srv->log(u->job->r, BG_LOG_INFO, "cgi %s: client went away; "
	    "stopping the script", script_name(u));
	return -1;
}

/*
 * Ask the gateway whether the client is still there, and for the
 * descriptor to poll for a change (u->client).  Returns 1 when gone,
 * after logging what then happens to the script.
 */
static int
client_gone(struct run *u, const char *then)
{
	u->client.fd = -1;
	if (cgi_srv->size <= offsetof(struct bg_server, client_gone) ||
	    cgi_srv->client_gone == NULL ||
	    cgi_srv->client_gone(u->job->r, &u->client) == 0)
		return 0;
	cgi_srv->log(u->job->r, BG_LOG_INFO, "cgi %s: client went away; %s",
	    script_name(u), then);
	return 1;
}

/*
 * stdout, one read per call so that the loop gets back to the deadline,
 * stdin and stderr even when a script writes without pause.  Returns 0,
 * or -1 with the run's outcome decided: u->fail set for a bad header, or
 * the client gone (mode BODY).
 */
static int
read_out(struct run *u)
{
	struct cgi_head *h;
	ssize_t n, used;

	do
		n = read(u->out, u->obuf + u->olen, CGI_IO_BUF - u->olen);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n <= 0) {
		close_fd(&u->out);
		return 0;
	}
	if (u->mode == DISCARD)
		return 0;
	if (u->mode == BODY)
		return send_body(u, u->obuf, (size_t)n);
	u->olen += (size_t)n;
	if ((h = malloc(sizeof(*h))) == NULL) {
		u->fail = "out of memory";
		return -1;
	}
	h->nph = u->job->loc->nph;
	used = cgi_head_parse(u->obuf, u->olen, h);
	if (used == CGI_HEAD_AGAIN) {
		free(h);
		if (u->olen >= CGI_HEAD_BYTES_MAX) {
			u->fail = "header block larger than 32 KiB";
			return -1;
		}
		return 0;
	}
	if (used == CGI_HEAD_BAD) {
		u->fail = h->error;
		free(h);
		return -1;
	}
	if (commit(u, h) == -1) {
		free(h);
		return -1;
	}
	free(h);
	/* NPH: ask for the head to go out now rather than with the first
	 * body bytes (a front end may still hold it). */
	if (u->job->loc->nph && cgi_srv->write(u->job->r, "", 0) == -1)
		return -1;
	if (send_body(u, u->obuf + used, u->olen - (size_t)used) == -1)
		return -1;
	u->olen = 0;
	return 0;
}

static void
describe_exit(struct run *u, char *buf, size_t len)
{
	if (u->killed)
		snprintf(buf, len, "script stopped");
	else if (WIFEXITED(u->wstatus))
		snprintf(buf, len, "exit status %d",
		    WEXITSTATUS(u->wstatus));
	else if (WIFSIGNALED(u->wstatus))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(u->wstatus), strsignal(WTERMSIG(u->wstatus)),
		    WCOREDUMP(u->wstatus) ? ", core dumped" : "");
	else
		snprintf(buf, len, "status 0x%x", u->wstatus);
}

/* The outcome once stdout has ended. */
static enum cgi_run
outcome(const struct run *u)
{
	return u->mode == HEAD ? CGI_RUN_FAILED : u->mode == DISCARD ?
	    CGI_RUN_REDIRECT : CGI_RUN_DONE;
}

static enum cgi_run
loop(struct run *u)
{
	struct pollfd pfd[5];
	int n, ms, i, out_i, err_i, in_i, pid_i, cl_i;
	double left, now, linger_end = 0;

	for (;;) {
		if (u->in != -1 && u->ioff == u->ilen)
			feed(u);
		now = cgi_now();
		if (u->out == -1) {
			/*
			 * stdout has ended, and with it the response.  The
			 * script gets LINGER_MS to exit (and whatever holds
			 * its stderr to let go), then goes like a timed-out
			 * one; the response stands.
			 */
			check_exit(u);
			if (u->exited && u->err == -1)
				return outcome(u);
			if (linger_end == 0)
				linger_end = now + LINGER_MS / 1000.0;
			if (now >= linger_end || now >= u->job->deadline) {
				cgi_srv->log(u->job->r, BG_LOG_WARN, "cgi %s: "
				    "%s after its output ended; terminating",
				    script_name(u), u->exited ? "stderr "
				    "still open" : "still running");
				terminate(u);
				if (u->err != -1)
					read_err(u);
				return outcome(u);
			}
		}
		left = u->job->deadline - now;
		if (left <= 0) {
			cgi_srv->log(u->job->r, BG_LOG_ERROR, "cgi %s: timed "
			    "out after %d s; killing its process group%s",
			    script_name(u), u->job->conf->timeout,
			    u->mode == BODY ? " and cutting the response" :
			    "");
			terminate(u);
			return u->mode == BODY ? CGI_RUN_CUT :
			    CGI_RUN_TIMEOUT;
		}
		if (linger_end != 0 && linger_end - cgi_now() < left)
			left = linger_end - cgi_now();
		/* Output due (once stdout has ended, the response is
		 * complete anyway). */
		if (u->unflushed > 0 && u->mode == BODY && u->out != -1) {
			if (u->unflushed >= CGI_IO_BUF ||
			    cgi_now() >= u->flush_at) {
				if (flush_out(u) == -1) {
					terminate(u);
					return CGI_RUN_CUT;
				}
			} else if (u->flush_at - cgi_now() < left)
				left = u->flush_at - cgi_now();
		}
		ms = left > 0 ? (int)(left * 1000) + 1 : 0;
		n = 0;
		in_i = out_i = err_i = pid_i = cl_i = -1;
		if (u->in != -1) {
			pfd[n].fd = u->in;
			pfd[n].events = POLLOUT;
			in_i = n++;
		}
		if (u->out != -1) {
			pfd[n].fd = u->out;
			pfd[n].events = POLLIN;
			out_i = n++;
		}
		if (u->err != -1) {
			pfd[n].fd = u->err;
			pfd[n].events = POLLIN;
			err_i = n++;
		}
		if (!u->exited && u->out == -1) {
			if (u->pidfd != -1) {
				pfd[n].fd = u->pidfd;
				pfd[n].events = POLLIN;
				pid_i = n++;
			} else if (ms > POLL_FALLBACK_MS)
				ms = POLL_FALLBACK_MS;
		}
		if (u->client.fd != -1) {
			pfd[n] = u->client;
			cl_i = n++;
		}
		if (poll(pfd, (nfds_t)n, ms) == -1 && errno != EINTR) {
			u->fail = "poll failed";
			terminate(u);
			return u->mode == BODY ? CGI_RUN_CUT : CGI_RUN_FAILED;
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (i == in_i)
				feed(u);
			else if (i == err_i)
				read_err(u);
			else if (i == out_i && read_out(u) == -1) {
				terminate(u);
				return u->mode == BODY ? CGI_RUN_CUT :
				    CGI_RUN_FAILED;
			} else if (i == pid_i)
				check_exit(u);
			else if (i == cl_i &&
			    client_gone(u, "stopping the script")) {
				terminate(u);
				return CGI_RUN_CUT;
			}
		}
	}
}

enum cgi_run
cgi_proc_run(struct cgi_job *job)
{
	struct run *u;
	enum cgi_run rc;
	const char *p;
	char how[96];

	if ((u = calloc(1, sizeof(*u))) == NULL)
		goto oom;
	u->job = job;
	u->in = u->out = u->err = u->pidfd = u->client.fd = -1;
	if ((p = strrchr(job->loc->file, '/')) == NULL)
		p = job->loc->file;
	else
		p++;
	cgi_printable(u->name, sizeof(u->name), p, strlen(p));
	u->mode = HEAD;
	if ((u->ibuf = malloc(CGI_IO_BUF)) == NULL ||
	    (u->obuf = malloc(CGI_IO_BUF)) == NULL) {
		free(u->ibuf);
		free(u);
		goto oom;
	}
	/* A client gone while the request waited for a thread. */
	if (client_gone(u, "the script is not run")) {
		rc = CGI_RUN_CUT;
		goto done;
	}
	if (spawn(u) == -1) {
		cgi_srv->log(job->r, BG_LOG_ERROR, "cgi %s: cannot run: %s: "
		    "502", u->name, strerror(errno));
		rc = CGI_RUN_FAILED;
		goto done;
	}
	if (!job->feed_body)
		close_fd(&u->in);
	rc = loop(u);
	reap(u);
	describe_exit(u, how, sizeof(how));
	if (rc == CGI_RUN_FAILED) {
		cgi_srv->log(job->r, BG_LOG_ERROR, "cgi %s: %s (%s): 502",
		    script_name(u), u->fail != NULL ? u->fail : u->olen == 0 ?
		    "no output" : "output ended inside the header block",
		    how);
	} else if (rc == CGI_RUN_DONE && !(WIFEXITED(u->wstatus) &&
	    WEXITSTATUS(u->wstatus) == 0))
		cgi_srv->log(job->r, BG_LOG_WARN, "cgi %s: %s after its "
		    "response", script_name(u), how);
done:
	close_fd(&u->in);
	close_fd(&u->out);
	close_fd(&u->err);
	close_fd(&u->pidfd);
	free(u->ibuf);
	free(u->obuf);
	free(u);
	return rc;
oom:
	cgi_srv->log(job->r, BG_LOG_ERROR, "cgi: out of memory");
	return CGI_RUN_FAILED;
}
