/*
 * Access log: one line per request, in a format of Gunicorn's atoms
 * ("%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"",
 * the combined log format, by default), written with one write(2) so
 * workers sharing the file interleave whole lines.
 *
 * Atoms: h remote address, l "-", u remote user, t time [10/Oct/2000:13:55:36
 * +0000], r request line, m method, U path, q query, H protocol, s status,
 * B body bytes, b body bytes or "-", f referer, a user agent, T seconds,
 * M milliseconds, D microseconds, L seconds with decimals, p pid,
 * rid request id, {name}i request header, {name}o response header,
 * {NAME}e request variable.
 */
#ifndef BRIDGE_ACCESS_LOG_H
#define BRIDGE_ACCESS_LOG_H

#include <stdint.h>
#include <sys/types.h>

struct req;

#define ACCESS_LOG_COMBINED \
	"%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""

/*
 * Compile format (NULL: combined).  Returns 0, or -1 with a message in
 * err naming the bad atom.
 */
int access_log_format(const char *format, char *err, size_t errlen);

/* Open path for appending ("-": stderr).  Returns 0 or -1 (errno). */
int access_log_open(const char *path);

/* Reopen the same path (logrotate, USR1).  Returns 0 or -1. */
int access_log_reopen(void);
/* Give the open file to uid (see log_give()); 0 or -1 (errno). */
int access_log_give(uid_t uid);

/* True when a log is open: front ends skip the clock otherwise. */
int access_log_enabled(void);

/* Log a finished request that entered the module at start_us
 * (monotonic microseconds). */
void access_log_request(struct req *r, uint64_t start_us);

/* Monotonic microseconds. */
uint64_t access_log_clock_us(void);

#endif /* BRIDGE_ACCESS_LOG_H */
