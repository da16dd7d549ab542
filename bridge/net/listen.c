#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"

struct listener listeners[LISTEN_MAX];
int nlisteners;
struct listener listen_stats = { .fd = -1 };

static const char *const proto_flag[] = {
	[PROTO_FASTCGI] = "--fastcgi",
	[PROTO_HTTP] = "--http",
	[PROTO_HTTPS] = "--https",
	[PROTO_STATS] = "--stats",
};

static void
set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void
resolve_owner(const char *owner, uid_t *uid, gid_t *gid)
{
	char user[256], *colon;
	struct passwd *pw;
	struct group *gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	snprintf(user, sizeof(user), "%s", owner);
	if ((colon = strchr(user, ':')) != NULL) {
		*colon++ = '\0';
		if ((gr = getgrnam(colon)) == NULL)
			fatal("--socket-owner: no group '%s'", colon);
		*gid = gr->gr_gid;
	}
	if (*user != '\0') {
		if ((pw = getpwnam(user)) == NULL)
			fatal("--socket-owner: no user '%s'", user);
		*uid = pw->pw_uid;
		if (colon == NULL)
			*gid = pw->pw_gid;
	}
}

/* A socket file left by a dead process: connect() is refused. */
static int
is_stale_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, stale;

	if (lstat(path, &st) == -1 || !S_ISSOCK(st.st_mode))
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	stale = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
	    errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static void
open_unix(struct listener *l, const char *flag, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	uid_t uid;
	gid_t gid;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		fatal("%s unix:%s: path longer than %zu bytes", flag, path,
		    sizeof(sun.sun_path) - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("%s unix:%s: socket: %s", flag, path, strerror(errno));
	if (is_stale_socket(path))
		unlink(path);
	/* Created closed to others, then opened up to the chosen mode,
	 * so the socket is never reachable with a wider mode. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		fatal("%s unix:%s: bind: %s", flag, path, strerror(errno));
	}
	umask(old);
	if (chmod(path, config.socket_mode >= 0 ? (mode_t)config.socket_mode :
	    (0666 & ~old)) == -1)
		fatal("%s unix:%s: chmod: %s", flag, path, strerror(errno));
	if (config.socket_owner != NULL) {
		resolve_owner(config.socket_owner, &uid, &gid);
		if (chown(path, uid, gid) == -1)
			fatal("%s unix:%s: chown %s: %s", flag, path,
			    config.socket_owner, strerror(errno));
	}
	if (listen(fd, config.backlog) == -1)
		fatal("%s unix:%s: listen: %s", flag, path, strerror(errno));
	l->fd = fd;
	l->unix_path = strdup(path);
	snprintf(l->name, sizeof(l->name), "unix:%s", path);
}

/*
 * Resolve HOST:PORT, [IPV6]:PORT or :PORT (every address: [::], which
 * takes IPv4 too, or 0.0.0.0 without IPv6).  Exits naming the address
 * when it is not one.  *any is set for :PORT.
 */
static struct addrinfo *
resolve_inet(const char *flag, const char *addr, int *any)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char host[256], *port;
	const char *h;
	int rc;

	snprintf(host, sizeof(host), "%s", addr);
	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (close == NULL || close[1] != ':')
			fatal("%s %s: expected [IPV6]:PORT", flag, addr);
		*close = '\0';
		h = host + 1;
		port = close + 2;
		hints.ai_family = AF_INET6;
	} else {
		if ((port = strrchr(host, ':')) == NULL)
			fatal("%s %s: expected HOST:PORT, :PORT or unix:PATH",
			    flag, addr);
		*port++ = '\0';
		h = host[0] != '\0' ? host : NULL;
	}
	if (*port == '\0' || strspn(port, "0123456789") != strlen(port) ||
	    atoi(port) > 65535)
		fatal("%s %s: '%s' is not a port number", flag, addr, port);
	if (h == NULL)
		hints.ai_family = AF_INET6;	/* [::] takes IPv4 too */
	rc = getaddrinfo(h, port, &hints, &res);
	if (rc != 0 && h == NULL) {
		hints.ai_family = AF_INET;
		rc = getaddrinfo(h, port, &hints, &res);
	}
	if (rc != 0)
		fatal("%s %s: %s", flag, addr, gai_strerror(rc));
	*any = h == NULL;
	return res;
}

static void
open_inet(struct listener *l, const char *flag, const char *addr)
{
	struct addrinfo *res;
	int fd, on = 1, off = 0, any, rc, e;

	res = resolve_inet(flag, addr, &any);
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		e = errno;
		freeaddrinfo(res);
		fatal("%s %s: socket: %s", flag, addr, strerror(e));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (res->ai_family == AF_INET6 && any)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	rc = bind(fd, res->ai_addr, res->ai_addrlen);
	e = errno;
	freeaddrinfo(res);
	if (rc == -1)
		fatal("%s %s: bind: %s%s", flag, addr, strerror(e),
		    e == EADDRINUSE && getenv("INVOCATION_ID") != NULL ?
		    " (under systemd: is this address also a ListenStream= "
		    "of a socket unit that did not pass it to bridge?)" : "");
	if (listen(fd, config.backlog) == -1)
		fatal("%s %s: listen: %s", flag, addr, strerror(errno));
	l->fd = fd;
	snprintf(l->name, sizeof(l->name), "%s", addr);
}

/* fd://N (Gunicorn's --bind): a listening socket left open for bridge by
 * whoever started it. */
static void
open_fd(struct listener *l, const char *flag, const char *addr)
{
	int fd = atoi(addr + 5), on = 0;
	socklen_t len = sizeof(on);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1 &&
	    errno != ENOTSOCK)
		fatal("%s %s: %s", flag, addr, strerror(errno));
	if (!on)
		fatal("%s %s: not a listening socket", flag, addr);
	l->fd = fd;
	snprintf(l->name, sizeof(l->name), "%s", addr);
}

/* Listeners handed over by the previous image (listen_import). */
static struct listener inherited[LISTEN_MAX + 1];
static int ninherited;

int
listen_export(void)
{
	char env[(LISTEN_MAX + 1) * 160], *p = env;
	int i, fl;

	env[0] = '\0';
	for (i = 0; i <= nlisteners; i++) {
		const struct listener *l = i < nlisteners ? &listeners[i] :
		    &listen_stats;

		if (l->fd == -1)
			continue;
		if ((fl = fcntl(l->fd, F_GETFD)) == -1 ||
		    fcntl(l->fd, F_SETFD, fl & ~FD_CLOEXEC) == -1)
			return -1;
		p += snprintf(p, sizeof(env) - (size_t)(p - env),
		    "%d %d %d %s\n", l->fd, (int)l->proto, l->external,
		    l->name);
	}
	return setenv("BRIDGE_LISTENERS", env, 1);
}

void
listen_import(void)
{
	const char *env = getenv("BRIDGE_LISTENERS");
	char name[128];
	int fd, proto, ext, n;

	if (env == NULL)
		return;
	while (*env != '\0' && ninherited < LISTEN_MAX + 1) {
		if (sscanf(env, "%d %d %d %127[^\n]%n", &fd, &proto, &ext,
		    name, &n) != 4)
			break;
		env += n;
		if (*env == '\n')
			env++;
		inherited[ninherited].fd = fd;
		inherited[ninherited].proto = (enum listen_proto)proto;
		inherited[ninherited].external = ext;
		snprintf(inherited[ninherited].name,
		    sizeof(inherited[ninherited].name), "%s", name);
		set_nonblock_cloexec(fd);
		ninherited++;
	}
	unsetenv("BRIDGE_LISTENERS");
	/* Sockets from systemd or fd 0 are not in the configuration:
	 * they stay as they are. */
	for (fd = 0; fd < ninherited; fd++) {
		if (!inherited[fd].external)
			continue;
		listeners[nlisteners++] = inherited[fd];
		inherited[fd].fd = -1;
	}
}

/* Is the socket bound to addr (an inet address of the configuration)? */
static int
same_inet(const struct sockaddr *sa, const char *flag, const char *addr)
{
	struct addrinfo *res;
	int any, same = 0;

	res = resolve_inet(flag, addr, &any);
	if (sa->sa_family == AF_INET && res->ai_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa,
		    *b = (const void *)res->ai_addr;

		same = a->sin_port == b->sin_port && (a->sin_addr.s_addr ==
		    b->sin_addr.s_addr || (any && a->sin_addr.s_addr ==
		    htonl(INADDR_ANY)));
	} else if (sa->sa_family == AF_INET6 && res->ai_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa,
		    *b = (const void *)res->ai_addr;

		same = a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr,
		    &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
	} else if (any && sa->sa_family == AF_INET) {
		/* :PORT, and systemd bound 0.0.0.0:PORT */
		const struct sockaddr_in *a = (const void *)sa;
		const struct sockaddr_in6 *b = (const void *)res->ai_addr;

		same = a->sin_port == b->sin6_port &&
		    a->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	freeaddrinfo(res);
	return same;
}

/*
 * A socket systemd passed (or a reload handed over as one) that is bound
 * to a configured address: bridge serves on it instead of binding the
 * address again, which would fail with EADDRINUSE.
 */
static struct listener *
take_external(const struct config_listen *c, const char *flag)
{
	union {
		struct sockaddr sa;
		struct sockaddr_un sun;
		struct sockaddr_storage ss;
	} u;
	socklen_t len;
	int i;

	for (i = 0; i < nlisteners; i++) {
		struct listener *l = &listeners[i];

		len = sizeof(u);
		if (!l->external || l->fd == -1 || l->adopted ||
		    getsockname(l->fd, &u.sa, &len) == -1)
			continue;
		if (strncmp(c->addr, "unix:", 5) == 0 ?
		    u.sa.sa_family == AF_UNIX && len > sizeof(sa_family_t) &&
		    strncmp(u.sun.sun_path, c->addr + 5,
		    sizeof(u.sun.sun_path)) == 0 :
		    (u.sa.sa_family == AF_INET || u.sa.sa_family == AF_INET6) &&
		    same_inet(&u.sa, flag, c->addr))
			return l;
	}
	return NULL;
}

/* The inherited listener for a configured address, or NULL. */
static struct listener *
take_inherited(const struct config_listen *c)
{
	int i;

	for (i = 0; i < ninherited; i++)
		if (inherited[i].fd != -1 && inherited[i].proto == c->proto &&
		    strcmp(inherited[i].name, c->addr) == 0)
			return &inherited[i];
	return NULL;
}

void
listen_open_all(void)
{
	struct listener *old;
	int i;

	for (i = 0; i < config.nlisten; i++) {
		struct listener *l = &listeners[nlisteners];
		const struct config_listen *c = &config.listen[i];
		const char *flag = c->bind ? "--bind" :
		    proto_flag[c->proto];

		if ((old = take_external(c, flag)) != NULL) {
			/* The configuration says which protocol it is. */
			if (old->proto != c->proto)
				log_warn("%s %s: served on %s as %s says",
				    flag, c->addr, old->name, flag);
			old->proto = c->proto;
			old->adopted = 1;
			continue;
		}
		memset(l, 0, sizeof(*l));
		l->proto = c->proto;
		if ((old = take_inherited(c)) != NULL) {
			*l = *old;
			old->fd = -1;
			if (strncmp(c->addr, "unix:", 5) == 0)
				l->unix_path = strdup(c->addr + 5);
		} else if (strncmp(c->addr, "unix:", 5) == 0)
			open_unix(l, flag, c->addr + 5);
		else if (strncmp(c->addr, "fd://", 5) == 0)
			open_fd(l, flag, c->addr);
		else
			open_inet(l, flag, c->addr);
		set_nonblock_cloexec(l->fd);
		nlisteners++;
	}
}

void
listen_open_stats(const char *addr)
{
	struct config_listen c = { .proto = PROTO_STATS, .addr = addr };
	struct listener *l = &listen_stats, *old;

	memset(l, 0, sizeof(*l));
	l->proto = PROTO_STATS;
	if ((old = take_inherited(&c)) != NULL) {
		*l = *old;
		old->fd = -1;
		if (strncmp(addr, "unix:", 5) == 0)
			l->unix_path = strdup(addr + 5);
	} else if (strncmp(addr, "unix:", 5) == 0)
		open_unix(l, "--stats", addr + 5);
	else
		open_inet(l, "--stats", addr);
	set_nonblock_cloexec(l->fd);
}

void
listen_close_inherited(void)
{
	int i;

	/* Addresses no longer configured stop listening. */
	for (i = 0; i < ninherited; i++)
		if (inherited[i].fd != -1) {
			close(inherited[i].fd);
			if (strncmp(inherited[i].name, "unix:", 5) == 0)
				unlink(inherited[i].name + 5);
			inherited[i].fd = -1;
		}
}

int
listen_inherit_fd0(void)
{
	int on = 0;
	socklen_t len = sizeof(on);
	struct listener *l;

	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1 ||
	    !on)
		return 0;
	/* Keep fd 0 occupied by /dev/null so that it is never reused for
	 * something a library might mistake for stdin. */
	l = &listeners[nlisteners++];
	memset(l, 0, sizeof(*l));
	l->proto = PROTO_FASTCGI;
	l->external = 1;
	if ((l->fd = fcntl(0, F_DUPFD_CLOEXEC, 3)) == -1)
		fatal("fd 0: dup: %s", strerror(errno));
	set_nonblock_cloexec(l->fd);
	snprintf(l->name, sizeof(l->name), "fd:0");
	{
		int null = open("/dev/null", O_RDONLY);

		if (null != -1 && null != 0) {
			dup2(null, 0);
			close(null);
		}
	}
	return 1;
}

int
listen_inherit_systemd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char name[64];
	int n, i, on;
	socklen_t len;

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid())
		return 0;
	n = atoi(fds);
	if (n <= 0 || n > LISTEN_MAX - nlisteners)
		fatal("LISTEN_FDS=%s: expected 1..%d sockets", fds,
		    LISTEN_MAX - nlisteners);
	for (i = 0; i < n; i++) {
		struct listener *l = &listeners[nlisteners];
		int fd = 3 + i;
		size_t k = 0;

		/* The i-th colon-separated name. */
		name[0] = '\0';
		if (names != NULL) {
			const char *p = names;
			int j;

			for (j = 0; j < i && p != NULL; j++)
				if ((p = strchr(p, ':')) != NULL)
					p++;
			if (p != NULL) {
				while (p[k] != '\0' && p[k] != ':' &&
				    k < sizeof(name) - 1) {
					name[k] = p[k];
					k++;
				}
				name[k] = '\0';
			}
		}
		on = 0;
		len = sizeof(on);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1
		    || !on)
			fatal("LISTEN_FDS: fd %d (%s) is not a listening socket",
			    fd, name[0] ? name : "unnamed");
		memset(l, 0, sizeof(*l));
		l->fd = fd;
		l->external = 1;
		if (strcmp(name, "http") == 0)
			l->proto = PROTO_HTTP;
		else if (strcmp(name, "https") == 0)
			l->proto = PROTO_HTTPS;
		else if (name[0] == '\0' || strcmp(name, "fastcgi") == 0 ||
		    strcmp(name, "unknown") == 0)
			l->proto = PROTO_FASTCGI;
		else
			fatal("LISTEN_FDNAMES: '%s' for fd %d is not fastcgi, "
			    "http or https", name, fd);
		set_nonblock_cloexec(fd);
		snprintf(l->name, sizeof(l->name), "systemd fd %d (%s)", fd,
		    name[0] ? name : "fastcgi");
		nlisteners++;
	}
	/* Not for our children. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return n;
}

void
listen_close_all(void)
{
	int i;

	listen_unlink_all();
	for (i = 0; i < nlisteners; i++) {
		/* shutdown() stops the socket itself listening, for every
		 * process holding it (a worker busy in the application
		 * holds a copy): new clients are refused at once instead
		 * of waiting in a queue nobody will take. */
		if (listeners[i].fd != -1) {
			shutdown(listeners[i].fd, SHUT_RD);
			close(listeners[i].fd);
		}
		listeners[i].fd = -1;
		free(listeners[i].unix_path);
		listeners[i].unix_path = NULL;
	}
	if (listen_stats.fd != -1) {
		shutdown(listen_stats.fd, SHUT_RD);
		close(listen_stats.fd);
		listen_stats.fd = -1;
	}
	free(listen_stats.unix_path);
	listen_stats.unix_path = NULL;
}

void
listen_release_all(void)
{
	int i;

	/* No shutdown(), no unlink(): another master serves on them. */
	for (i = 0; i < nlisteners; i++) {
		if (listeners[i].fd != -1)
			close(listeners[i].fd);
		listeners[i].fd = -1;
		free(listeners[i].unix_path);
		listeners[i].unix_path = NULL;
	}
}

void
listen_unlink_all(void)
{
	int i;

	for (i = 0; i < nlisteners; i++)
		if (listeners[i].unix_path != NULL)
			unlink(listeners[i].unix_path);
	if (listen_stats.unix_path != NULL)
		unlink(listen_stats.unix_path);
}

void
listen_describe(const struct listener *l, char *out, size_t len)
{
	static const char *const scheme[] = {
		[PROTO_FASTCGI] = "fastcgi",
		[PROTO_HTTP] = "http",
		[PROTO_HTTPS] = "https",
		[PROTO_STATS] = "http",
	};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];
	const char *kind = scheme[l->proto];
	int n;

	memset(&ss, 0, sizeof(ss));
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == -1) {
		snprintf(out, len, "%s (%s)", l->name, kind);
		return;
	}
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

		n = snprintf(out, len, "unix:%s (%s)", sun->sun_path[0] ?
		    sun->sun_path : "(unnamed)", kind);
	} else if (getnameinfo((struct sockaddr *)&ss, sl, host,
	    sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		n = snprintf(out, len, "%s (%s)", l->name, kind);
	} else if (l->proto == PROTO_FASTCGI) {
		n = snprintf(out, len, ss.ss_family == AF_INET6 ?
		    "[%s]:%s (fastcgi)" : "%s:%s (fastcgi)", host, port);
	} else {
		n = snprintf(out, len, ss.ss_family == AF_INET6 ?
		    "%s://[%s]:%s" : "%s://%s:%s", kind, host, port);
	}
	/* Say where a socket bridge did not bind came from. */
	if (l->external && n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, ", from %s", l->name);
}
