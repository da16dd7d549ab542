#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;
static const char *log_path;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int
log_open(const char *path)
{
	int fd;

	if (path == NULL || strcmp(path, "-") == 0) {
		log_fd = STDERR_FILENO;
		return 0;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	log_path = path;
	return 0;
}

int
log_reopen(void)
{
	if (log_path == NULL)
		return 0;
	return log_open(log_path);
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void
log_vmsg(int level, const char *reqid, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r, saved = errno;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);
	r = snprintf(line + n, sizeof(line) - n, " %s [%ld] ",
	    level_names[level < 0 ? 0 : level > 3 ? 3 : level], (long)getpid());
	n += (size_t)r;
	if (reqid != NULL) {
		r = snprintf(line + n, sizeof(line) - n, "[req %s] ", reqid);
		n += (size_t)r;
	}
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* One line per event: a message's own newlines would forge lines. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* One write(2) per line so that processes sharing the fd interleave
	 * whole lines (O_APPEND). */
	(void)!write(log_fd, line, n);
	errno = saved;
}

void
log_msg(int level, const char *reqid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, reqid, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("bridge: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}
