/*
 * Error log: one line per event, to stderr, a file or syslog, with a
 * level.
 * Lines look like
 *	2026-11-24T08:00:00Z error [1234] fcgi: bad version 2 from fd 7
 * and, inside a request, carry its id: "... [1234] [req 4d2-1a] ...".
 * Formatting happens only when the level is enabled.
 */
#ifndef BRIDGE_LOG_H
#define BRIDGE_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3
};

extern int log_level;

/*
 * Open path for appending ("-" or NULL: stderr), or the syslog socket
 * when path is "syslog[:server=unix:PATH,facility=NAME,tag=NAME]"
 * (defaults /dev/log, daemon, bridge).  Returns 0, or -1 with the reason
 * in log_open_error().
 */
int log_open(const char *path);
const char *log_open_error(void);
/* path names syslog rather than a file. */
int log_is_syslog(const char *path);
/* Check (and take) a syslog spec; -1 with the reason in err. */
int log_syslog_parse(const char *spec, char *err, size_t errlen);
/* Reopen the file given to log_open() (logrotate, USR1); 0 or -1. */
int log_reopen(void);
/*
 * Give the open error log file to uid (the workers' --user), so that a
 * worker can reopen it by name after the master, which may create it,
 * has: fchown(2) when uid does not own it, and owner read-write.  0 or
 * -1 (errno).  Not a file (stderr as a tty, syslog): nothing to do.
 */
int log_give(uid_t uid);
/*
 * --capture-output: make fds 1 and 2 the error log (a file, or stderr
 * itself), so that what the application's children and C code write
 * there lands in it, as Gunicorn's option does.  Again after each
 * reopen.  Nothing with syslog.
 */
void log_capture_std(void);
/* The same for any log file descriptor fd (the access log's). */
int log_file_give(int fd, const char *path, uid_t uid);
/* Parse "error", "warn", "info", "debug" (and Gunicorn's "warning",
 * "critical"); returns -1 when unknown. */
int log_level_parse(const char *s);

/* The message of the last error line this process logged (without time
 * and pid, cut to 255 bytes); "" before any. */
const char *log_last_error(void);

void log_msg(int level, const char *reqid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *reqid, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)                                                  \
	do {                                                           \
		if (log_level >= LOG_LEVEL_WARN)                       \
			log_msg(LOG_LEVEL_WARN, NULL, __VA_ARGS__);    \
	} while (0)
#define log_info(...)                                                  \
	do {                                                           \
		if (log_level >= LOG_LEVEL_INFO)                       \
			log_msg(LOG_LEVEL_INFO, NULL, __VA_ARGS__);    \
	} while (0)
#define log_debug(...)                                                 \
	do {                                                           \
		if (log_level >= LOG_LEVEL_DEBUG)                      \
			log_msg(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__);   \
	} while (0)

/* Start-up failure: log "bridge: <message>" to stderr and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* BRIDGE_LOG_H */
