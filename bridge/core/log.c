#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;
static const char *log_path;
static char log_why[256];

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/*
 * syslog: RFC 3164 datagrams on the local syslog socket (what syslog(3)
 * sends, but to a socket of our choosing, and never blocking a worker:
 * a line the daemon cannot take now is dropped).
 */
static struct {
	int on;
	int facility;		/* code << 3 */
	char tag[33];
	struct sockaddr_un sa;
} sl;

/* The severity of each level, RFC 5424 section 6.2.1. */
static const int severities[] = { 3, 4, 6, 7 };

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{ "kern", 0 }, { "user", 1 }, { "mail", 2 }, { "daemon", 3 },
	{ "auth", 4 }, { "syslog", 5 }, { "lpr", 6 }, { "news", 7 },
	{ "uucp", 8 }, { "cron", 9 }, { "authpriv", 10 }, { "ftp", 11 },
	{ "local0", 16 }, { "local1", 17 }, { "local2", 18 },
	{ "local3", 19 }, { "local4", 20 }, { "local5", 21 },
	{ "local6", 22 }, { "local7", 23 },
};

int
log_is_syslog(const char *path)
{
	return path != NULL && strncmp(path, "syslog", 6) == 0 &&
	    (path[6] == '\0' || path[6] == ':');
}

int
log_syslog_parse(const char *spec, char *err, size_t errlen)
{
	const char *p = spec + 6, *end, *eq;
	size_t klen, vlen, i;

	memset(&sl, 0, sizeof(sl));
	sl.facility = 3 << 3;
	strcpy(sl.tag, "bridge");
	sl.sa.sun_family = AF_UNIX;
	strcpy(sl.sa.sun_path, "/dev/log");
	if (*p == ':')
		p++;
	for (; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		end = p + strcspn(p, ",");
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL) {
			snprintf(err, errlen, "'%.*s' is not key=value (server, "
			    "facility, tag)", (int)(end - p), p);
			return -1;
		}
		klen = (size_t)(eq - p);
		vlen = (size_t)(end - eq - 1);
		eq++;
		if (klen == 6 && strncmp(p, "server", 6) == 0) {
			if (vlen <= 5 || strncmp(eq, "unix:", 5) != 0 ||
			    vlen - 5 >= sizeof(sl.sa.sun_path)) {
				snprintf(err, errlen, "server: '%.*s' is not "
				    "unix:PATH", (int)vlen, eq);
				return -1;
			}
			memcpy(sl.sa.sun_path, eq + 5, vlen - 5);
			sl.sa.sun_path[vlen - 5] = '\0';
		} else if (klen == 8 && strncmp(p, "facility", 8) == 0) {
			for (i = 0; i < sizeof(facilities) /
			    sizeof(facilities[0]); i++)
				if (strlen(facilities[i].name) == vlen &&
				    strncmp(facilities[i].name, eq, vlen) == 0)
					break;
			if (i == sizeof(facilities) / sizeof(facilities[0])) {
				snprintf(err, errlen, "facility: no facility "
				    "'%.*s' (daemon, user, local0..local7...)",
				    (int)vlen, eq);
				return -1;
			}
			sl.facility = facilities[i].code << 3;
		} else if (klen == 3 && strncmp(p, "tag", 3) == 0) {
			for (i = 0; i < vlen; i++)
				if (!((eq[i] >= 'a' && eq[i] <= 'z') ||
				    (eq[i] >= 'A' && eq[i] <= 'Z') ||
				    (eq[i] >= '0' && eq[i] <= '9') ||
				    eq[i] == '_' || eq[i] == '-' || eq[i] == '.'))
					break;
			if (vlen == 0 || vlen >= sizeof(sl.tag) || i < vlen) {
				snprintf(err, errlen, "tag: '%.*s' is not 1 to "
				    "32 letters, digits, '_', '-' or '.'",
				    (int)vlen, eq);
				return -1;
			}
			memcpy(sl.tag, eq, vlen);
			sl.tag[vlen] = '\0';
		} else {
			snprintf(err, errlen, "unknown parameter '%.*s' "
			    "(server, facility, tag)", (int)klen, p);
			return -1;
		}
	}
	return 0;
}

static int
syslog_connect(void)
{
	int fd;

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sl.sa, sizeof(sl.sa)) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		snprintf(log_why, sizeof(log_why), "%s: %s", sl.sa.sun_path,
		    strerror(saved));
		return -1;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int
log_open(const char *path)
{
	int fd;

	log_why[0] = '\0';
	if (path == NULL || strcmp(path, "-") == 0) {
		log_fd = STDERR_FILENO;
		return 0;
	}
	if (log_is_syslog(path)) {
		if (log_syslog_parse(path, log_why, sizeof(log_why)) == -1) {
			errno = EINVAL;
			return -1;
		}
		if (syslog_connect() == -1)
			return -1;
		sl.on = 1;
		log_path = path;
		return 0;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(log_why, sizeof(log_why), "%s", strerror(errno));
		return -1;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	log_path = path;
	return 0;
}

const char *
log_open_error(void)
{
	return log_why[0] != '\0' ? log_why : strerror(errno);
}

/* One datagram per line; reconnect once if the daemon restarted. */
static void
syslog_send(int level, const char *msg, size_t len)
{
	char head[96];
	struct iovec iov[2];
	struct msghdr mh;
	struct tm tm;
	time_t now = time(NULL);
	size_t n;
	int tries;

	localtime_r(&now, &tm);
	n = (size_t)snprintf(head, sizeof(head), "<%d>",
	    sl.facility | severities[level]);
	n += strftime(head + n, sizeof(head) - n, "%b %e %H:%M:%S ", &tm);
	n += (size_t)snprintf(head + n, sizeof(head) - n, "%s[%ld]: ",
	    sl.tag, (long)getpid());
	iov[0].iov_base = head;
	iov[0].iov_len = n;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	for (tries = 0; tries < 2; tries++) {
		if (sendmsg(log_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != -1 ||
		    (errno != ECONNREFUSED && errno != ENOTCONN))
			return;
		if (syslog_connect() == -1)
			return;
	}
}

int
log_reopen(void)
{
	if (log_path == NULL)
		return 0;
	return log_open(log_path);
}

void
log_capture_std(void)
{
	if (sl.on)
		return;		/* no stream to hand a child */
	if (log_fd != STDOUT_FILENO)
		dup2(log_fd, STDOUT_FILENO);
	if (log_fd != STDERR_FILENO)
		dup2(log_fd, STDERR_FILENO);
}

/*
 * The master is root and the log's directory may be writable by the
 * workers' user: a worker that replaced the file by a symbolic or hard
 * link to another file (/etc/shadow) before a USR1 would have the master
 * open that file and give it away (nginx's CVE-2016-1247).  Only a
 * regular file with one link, which path names without a symbolic link,
 * is given.
 */
int
log_file_give(int fd, const char *path, uid_t uid)
{
	struct stat st, lst;

	if (fd < 0 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		return 0;
	if (st.st_nlink != 1 || lstat(path, &lst) == -1 ||
	    !S_ISREG(lst.st_mode) || lst.st_dev != st.st_dev ||
	    lst.st_ino != st.st_ino) {
		log_warn("%s: not a regular file with one link; not given "
		    "to the workers' user", path);
		return 0;
	}
	if (st.st_uid != uid && fchown(fd, uid, (gid_t)-1) == -1)
		return -1;
	/* The owner must be able to write it (logrotate's "create" may
	 * have made it 0440). */
	if ((st.st_mode & 0600) != 0600 &&
	    fchmod(fd, (st.st_mode & 07777) | 0600) == -1)
		return -1;
	return 0;
}

int
log_give(uid_t uid)
{
	/* Only a file bridge opened: stderr redirected to a file by
	 * whoever started bridge stays theirs. */
	if (sl.on || log_path == NULL || log_fd == STDERR_FILENO)
		return 0;
	return log_file_give(log_fd, log_path, uid);
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	/* Gunicorn's names (Python's logging levels). */
	if (strcasecmp(s, "warning") == 0)
		return LOG_LEVEL_WARN;
	if (strcasecmp(s, "critical") == 0)
		return LOG_LEVEL_ERROR;
	return -1;
}

/* The last error line's message, for log_last_error(). */
static char last_error[256];

const char *
log_last_error(void)
{
	return last_error;
}

void
log_vmsg(int level, const char *reqid, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n, msg;
	int r, saved = errno;

	if (level > log_level)
		return;
	if (level < 0)
		level = 0;
	n = 0;
	if (!sl.on) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);
		r = snprintf(line + n, sizeof(line) - n, " %s [%ld] ",
		    level_names[level], (long)getpid());
		n += (size_t)r;
	}
	msg = n;
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
	if (level == LOG_LEVEL_ERROR)
		snprintf(last_error, sizeof(last_error), "%.*s",
		    (int)(n - msg), line + msg);
	if (sl.on) {
		syslog_send(level, line, n);
		errno = saved;
		return;
	}
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
