/*
 * --stats: what the scoreboard says, rendered for a scraper and for a
 * person.  The rendering (stats.c) only reads the scoreboard and the
 * listening sockets; the process that serves it is stats_server.c.
 *
 *	GET /metrics		Prometheus text exposition format 0.0.4
 *	GET /status.json	the same for the status page's script
 *	GET /			the status page (HTML, refreshes itself)
 */
#ifndef BRIDGE_STATS_H
#define BRIDGE_STATS_H

#include <stddef.h>

#include "buf.h"

#define STATS_METRICS_TYPE "text/plain; version=0.0.4"

/* Append the metrics, or the JSON status, to b; 0 or -1 (ENOMEM). */
int stats_metrics(struct buf *b);
int stats_json(struct buf *b);

/* The status page: a constant document whose script polls /status.json
 * every 2 s. */
extern const char stats_page[];
extern const size_t stats_page_len;

/*
 * The --stats process, forked by the master: serves listen_stats until
 * TERM, INT or QUIT (or the master's death); never returns.
 */
void stats_server_main(void) __attribute__((noreturn));

#endif /* BRIDGE_STATS_H */
