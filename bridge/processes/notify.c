#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static int notify_fd = -1;
static uint64_t watchdog_ms;
static char notify_path[sizeof(notify_addr.sun_path) + 1];

void
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *wd = getenv("WATCHDOG_USEC");
	const char *wdpid = getenv("WATCHDOG_PID");
	size_t n;

	if (wd != NULL && (wdpid == NULL || atol(wdpid) == (long)getpid()))
		watchdog_ms = strtoull(wd, NULL, 10) / 1000;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	snprintf(notify_path, sizeof(notify_path), "%s", path);
	if (n >= sizeof(notify_addr.sun_path)) {
		log_warn("NOTIFY_SOCKET too long; not notifying systemd");
		return;
	}
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	/* '@' names an abstract socket: a leading NUL, no terminator. */
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '@' ? 0 : 1));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsetenv("NOTIFY_SOCKET");
}

int
notify_enabled(void)
{
	return notify_fd != -1;
}

int
notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (notify_fd == -1)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_len) == -1) {
		log_debug("sd_notify: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void
notify_env_restore(void)
{
	char num[32];

	if (notify_path[0] != '\0')
		setenv("NOTIFY_SOCKET", notify_path, 1);
	if (watchdog_ms > 0) {
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)watchdog_ms * 1000);
		setenv("WATCHDOG_USEC", num, 1);
		snprintf(num, sizeof(num), "%ld", (long)getpid());
		setenv("WATCHDOG_PID", num, 1);
	}
}

uint64_t
notify_watchdog_ms(void)
{
	return watchdog_ms;
}
