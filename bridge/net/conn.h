/*
 * The connection layer under every front end (HTTP/1.1, FastCGI; next
 * WebSocket and HTTP/2): one socket on the worker's loop with its
 * transport (plain or TLS), input read into a scratch buffer and the
 * unfinished part carried over, output queued and flushed as the peer
 * takes it, one timer whose queue the protocol picks from its explicit
 * state, a deferred "look again" for asynchronous requests, the list of
 * open connections walked (after the round) when the worker stops, and a
 * close that frees the memory only after the loop's round.
 *
 * The protocol (http_conn.c, fcgi_conn.c) embeds struct conn first in its
 * own and supplies a struct conn_proto: what to do with input, when input
 * is held back, output beyond c->out (a spool, a file), the timer's state,
 * and its update policy.  Nothing here calls the protocol from inside a
 * protocol call: input() returns before anything else runs, and kicked()
 * and the shutdown walk are deferred to the end of the round (STYLE.md
 * rules 18-20).  Near the end of a graceful stop the worker asks each
 * protocol to cut what only waits on its peer (conn_stop_cut).
 */
#ifndef BRIDGE_CONN_H
#define BRIDGE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"
#include "transport.h"

struct conn;

/*
 * A stopping worker keeps idle connections this long: a request already
 * on its way (a keep-alive client, nginx's upstream connection) is still
 * answered, with the connection closed after it, rather than reset.
 */
#define CONN_DRAIN_MS 1000

/*
 * What the connections of this process live in: the loop, their count,
 * one timer queue per connection state, and the stop.  The worker (or a
 * test) fills it in before the first connection and sets stopping and
 * stop_late; the connection layer and the front ends read it.
 */
struct conn_host {
	struct loop *loop;
	int nconns;		/* open connections, all front ends */
	int stopping;		/* graceful stop: finish, accept nothing */
	int stop_late;		/* its last second: what waits on a client
				   was cut, idle connections close at once */
	struct loop_tq *tq_read;
	struct loop_tq *tq_header;
	struct loop_tq *tq_idle;
	struct loop_tq *tq_write;
	struct loop_tq *tq_drain;	/* idle connections while stopping */
	struct loop_tq *tq_request;	/* an async request in the module
					   (--timeout); NULL: no limit */
	/* Called once a connection closed and was counted out: the
	 * worker resumes accepting, or ends once stopping and idle.  NULL:
	 * nothing to do. */
	void (*closed)(void);
};

extern struct conn_host conn_host;

/* A connection is gone (any front end's): count it out, then tell the
 * host (closed()). */
void conn_host_closed(void);

/* Output smaller than this leaves the kernel at once on any live
 * connection; after it, the kernel is not asked what it still holds
 * (SIOCOUTQNSD, a system call per response otherwise). */
#define CONN_UNSENT_MIN 16384

/* What the stop deadline did with a connection (conn_stop_cut). */
enum conn_cut {
	CONN_KEPT,		/* being answered, or idle (the drain
				   window's) */
	CONN_CUT_REQUEST,	/* a request still arriving: ended (503
				   where no response had begun) or closed */
	CONN_CUT_READER,	/* a finished response the peer stopped
				   taking: closed */
	CONN_CUT_MAX
};

struct conn_proto {
	const char *name;		/* log prefix: "http", "fcgi" */
	size_t scratch;			/* bytes read at once */
	int close_log_level;		/* of conn_close()'s line */
	/* Consume p[0..len) (mutable: decoding in place is allowed).
	 * Returns bytes used, or -1 when the connection is done with input
	 * (closed, or closing). */
	ssize_t (*input)(struct conn *c, uint8_t *p, size_t len);
	/* 1 while no more input may be taken (output high, a request in
	 * an application, a full body window). */
	int (*held)(const struct conn *c);
	/* Output queued beyond c->out: sent before c->out (a spool) and
	 * after it (a file); NULL when there is none.  Return 0, -1 (the
	 * peer is gone), or for flush_before 1 when c->out must wait
	 * behind what is still queued; set c->send_want when the socket
	 * is full. */
	int (*flush_before)(struct conn *c);
	int (*flush_after)(struct conn *c);
	/* 1 while output beyond c->out waits. */
	int (*more_output)(const struct conn *c);
	/* The peer closed its sending side (error 0), or reading failed
	 * (error: errno). */
	void (*eof)(struct conn *c, int error);
	/* The timer's queue for the state the connection is in, and
	 * whether that state progressed since the timer was set (which
	 * re-arms it); NULL: no timer in this state. */
	struct loop_tq *(*timer_state)(struct conn *c, int *progress);
	/* The state's deadline passed. */
	void (*timeout)(struct conn *c);
	/* Look at the connection again (events, output, the next request):
	 * the protocol's update policy.  Called after input, after output,
	 * by kicks and by the shutdown walk. */
	void (*update)(struct conn *c);
	/* A kick came (conn_kick): an asynchronous request changed. */
	void (*kicked)(struct conn *c);
	/* Closing: free what the protocol holds (its requests). */
	void (*release)(struct conn *c);
	/* The worker's graceful stop is nearly out of time: end or close
	 * the connection if it only waits on its peer, never while the
	 * module is answering it.  Not called for busy connections. */
	enum conn_cut (*stop_cut)(struct conn *c);
};

struct conn {
	struct loop_io io;	/* first: the loop hands us &io */
	struct loop_timer timer;
	struct loop_deferred kick;
	struct conn *prev, *next;
	const struct conn_proto *proto;
	const struct transport *tp;
	void *tls;
	uint32_t recv_want;	/* what the transport waits for to read */
	uint32_t send_want;	/* ... and to write */
	struct buf in;		/* unfinished input carried over */
	struct buf out;
	size_t unsent;		/* in the kernel, not taken by the peer */
	size_t sent_bytes;	/* handed to the kernel since the timer was
				   set (conn_timer asks it for unsent bytes
				   only after CONN_UNSENT_MIN of them) */
	uint64_t took_at;	/* ms: the peer last took output (a send,
				   or the kernel's queue shrank) */
	unsigned closing : 1;	/* close once output is drained */
	unsigned closed : 1;
	unsigned busy : 1;	/* an application thread has it: no events,
				   no timers until it is given back */
	unsigned sent : 1;	/* write progress since the timer was set */
	unsigned got : 1;	/* read progress since the timer was set */
};

/*
 * Put fd on the loop (EPOLLIN) as connection c (zeroed by the caller, of
 * the protocol's size) with the timer on queue first.  io.fn is the
 * protocol's event callback.  Returns 0, or -1 (fd not taken: the caller
 * closes it and frees c).
 */
int conn_open(struct conn *c, int fd, const struct conn_proto *proto,
    loop_io_fn fn, const struct transport *tp, void *tls,
    struct loop_tq *first);

/* Close now (logged when why is not NULL): release, loop and socket
 * gone, memory freed after the round.  Idempotent. */
void conn_close(struct conn *c, const char *why);

/* Read what the transport has and hand it to input() until the socket is
 * drained or input is held; EOF calls eof(). */
void conn_read(struct conn *c);

/* Hand input carried over to input() again (after output drained or a
 * hold ended). */
void conn_resume(struct conn *c);

/* Send what the transport takes: flush_before, c->out, flush_after.
 * Returns 0, or -1 when the peer is gone. */
int conn_flush(struct conn *c);

/* Output waiting anywhere (ours; not the kernel's). */
int conn_pending(const struct conn *c);

/* Flush and resume until neither moves (pipelined input held back while
 * output was high).  Returns 0, or -1 after closing the connection. */
int conn_drain(struct conn *c);

/* Arm the timer for the state timer_state() names; the kernel's unsent
 * bytes are re-read first while output was in flight. */
void conn_timer(struct conn *c);

/* In a timeout: when all our output is in the kernel and the peer took
 * some of it since, re-arm the timer and return 1 (write progress);
 * else 0. */
int conn_unsent_progress(struct conn *c);

/* 1 when the peer has taken no output for CONN_DRAIN_MS (what the
 * kernel still holds is looked at again): it is not reading, or nothing
 * was written to it lately. */
int conn_quiet(struct conn *c);

/* Run kicked() after this round (once, however often kicked). */
void conn_kick(struct conn *c);

/* After the round, update() every open connection (the worker began to
 * stop).  Safe to call from inside a connection's event: nothing runs
 * before the round ends. */
void conn_shutdown(void);

/* The worker's graceful stop is nearly out of time: stop_cut() every
 * open connection not busy with an application thread, counting in
 * cut[] what each did.  Not from inside a connection's event. */
void conn_stop_cut(int cut[CONN_CUT_MAX]);

#endif /* BRIDGE_CONN_H */
