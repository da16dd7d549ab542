#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "forwarded.h"
#include "gateway.h"
#include "log.h"
#include "proxy_proto.h"

struct config config = {
	.workers = 1,
	.threads = 1,
	.backlog = 1024,
	.max_conns = 16384,
	.fcgi_max_reqs = 64,
	.max_params_bytes = 64 * 1024,
	.max_params = 512,
	.max_body = 100 * 1024 * 1024,
	.body_buffer = 64 * 1024,
	.max_spool = 64 * 1024 * 1024,
	.tmp_dir = "/tmp",
	.socket_mode = -1,
	.umask = -1,
	.read_timeout = 60,
	.header_timeout = 20,
	.min_body_rate = 500,
	.idle_timeout = 300,
	.write_timeout = 60,
	.graceful_timeout = 30,
	.timeout = 30,
	.startup_timeout = 60,
	.cgi_timeout = 60,
	.log_level = LOG_LEVEL_INFO,
};

static const char usage_text[] =
"usage: bridge [options]\n"
"\n"
"Front ends (repeatable; with none, bridge serves a FastCGI listener\n"
"inherited on fd 0, or one CGI request when started as a CGI program):\n"
"  --fastcgi ADDR          FastCGI on unix:PATH, HOST:PORT, [IPV6]:PORT, :PORT\n"
"  --http ADDR             HTTP/1.1 on the same kinds of address\n"
"  --https ADDR            HTTP/1.1 over TLS 1.2/1.3\n"
"  --cert FILE             PEM certificate chain for --https (repeatable:\n"
"                          several pairs are chosen by SNI, first is default)\n"
"  --key FILE              PEM private key of the preceding --cert\n"
"\n"
"Application:\n"
"  --module PATH           native module (.so) implementing the gateway ABI\n"
"  --module-arg STRING     argument passed to the module's init\n"
"  --wsgi MODULE:CALLABLE  a Python WSGI app (callable defaults to\n"
"                          'application'), through the Python adapter;\n"
"                          an ASGI app given here is served as ASGI\n"
"  --asgi MODULE:APP       a Python ASGI app (HTTP and lifespan), on the\n"
"                          worker's event loop\n"
"  --asgi-loop LOOP        auto (default: uvloop if installed), asyncio,\n"
"                          uvloop\n"
"  --python-exe EXE        auto (default: run in Debian's python3.X\n"
"                          executable, the faster build), embed\n"
"                          (libpython inside bridge), or a path\n"
"  --pythonpath DIRS       colon-separated directories put on sys.path\n"
"  --venv DIR              use that virtualenv's site-packages\n"
"  --cgi ROOT              run CGI scripts under ROOT (CGI adapter)\n"
"  --cgi-timeout SECS      a CGI script is killed after (default 60)\n"
"  --cgi-ext LIST          only scripts with these extensions (.cgi,.sh)\n"
"  --chdir DIR             change to DIR before loading the application\n"
"  --preload               load the application in the master, before the\n"
"                          workers fork (memory shared copy-on-write; an\n"
"                          error stops bridge before any worker starts)\n"
"  --reload                development: restart a worker when a source file\n"
"                          of the application changes (off by default)\n"
"\n"
"Processes and limits:\n"
"  -w, --workers N         worker processes (default 1)\n"
"  --threads N             application threads per worker (default 1: the\n"
"                          worker's event loop runs the application; 4\n"
"                          with --cgi, whose requests wait on scripts)\n"
"  --backlog N             listen queue length (default 1024)\n"
"  --max-conns N           connections per worker (default 16384, within\n"
"                          the open-file limit, which bridge raises to its\n"
"                          hard limit)\n"
"  --fastcgi-max-reqs N    requests multiplexed on one FastCGI connection\n"
"                          (default 64; 1 refuses multiplexing)\n"
"  --max-params-bytes SIZE FastCGI PARAMS bytes per request (default 64k)\n"
"  --max-params N          FastCGI params per request (default 512)\n"
"  --max-body SIZE         request body limit, 413 above (default 100m)\n"
"  --body-buffer SIZE      body kept in memory below this (default 64k)\n"
"  --tmp-dir DIR           where larger bodies are spooled (default /tmp)\n"
"  --max-spool SIZE        HTTP response bytes spooled for a slow client\n"
"                          before the application waits for it (64m)\n"
"  --user USER             workers run as USER (the master keeps root to\n"
"                          bind ports and read keys, as nginx's does)\n"
"  --group GROUP           workers' group (default: USER's group)\n"
"  --allow-root            let the application run as root (refused\n"
"                          without --user otherwise)\n"
"  --umask OCTAL           file mode creation mask of bridge\n"
"  --pidfile PATH          write the master's pid there\n"
"  --socket-mode OCTAL     mode of unix sockets bridge creates\n"
"  --socket-owner U[:G]    owner of unix sockets bridge creates\n"
"  --read-timeout SECS     a request must arrive within (default 60); for\n"
"                          HTTP bodies: the longest pause between reads\n"
"  --header-timeout SECS   an HTTP request head must arrive within\n"
"                          (default 20; slow-header clients are dropped)\n"
"  --min-body-rate BYTES   an HTTP body must arrive at this rate on average,\n"
"                          after a --read-timeout grace (default 500/s)\n"
"  --static-map /PREFIX=DIR  HTTP(S): serve files under PREFIX from DIR\n"
"                          in the worker, without the application\n"
"                          (repeatable)\n"
"  --static-expires SECS   Cache-Control max-age of static files\n"
"  --static-follow-symlinks  symlinks may lead out of a static DIR\n"
"  --mount PREFIX          the application's SCRIPT_NAME (HTTP, and FastCGI\n"
"                          when the web server splits nothing); paths\n"
"                          outside it get 404\n"
"  --idle-timeout SECS     idle keep-alive connections close (default 300)\n"
"  --write-timeout SECS    a stalled client is dropped after (default 60)\n"
"  --graceful-timeout SECS TERM waits this long for workers (default 30)\n"
"  --shutdown-delay SECS   on TERM, serve on this long with --health-path\n"
"                          answering 503, so that a load balancer stops\n"
"                          sending requests, then stop (default 0)\n"
"  --timeout SECS          a request running longer in the application is\n"
"                          answered 504 and its worker replaced (default 30,\n"
"                          0 disables)\n"
"  --startup-timeout SECS  a worker must start the application within\n"
"                          (default 60)\n"
"  --max-requests N        recycle a worker after N requests (0: never)\n"
"  --max-requests-jitter N add up to N at random, per worker\n"
"  --max-worker-memory SIZE  recycle a worker whose resident memory (RSS)\n"
"                          passes SIZE (k, m, g), once its requests are\n"
"                          answered; a new one takes its place (default 0:\n"
"                          no cap)\n"
"  (SECS: seconds, or a duration such as 30s, 5m, 1h)\n"
"\n"
"Monitoring:\n"
"  --stats ADDR            serve Prometheus metrics (/metrics) and a status\n"
"                          page (/) on ADDR, from a process of its own (off\n"
"                          by default)\n"
"  --health-path PATH      answer PATH (e.g. /healthz) in the worker, without\n"
"                          the application: 200 \"ok\", 503 once stopping\n"
"                          (for a load balancer's health check)\n"
"\n"
"Logging:\n"
"  --error-log PATH        error log file ('-' for stderr, the default), or\n"
"                          syslog[:server=unix:PATH,facility=F,tag=T]\n"
"  --log-level LEVEL       error, warn, info (default) or debug\n"
"  --capture-output        the Python application's stdout and stderr\n"
"                          (print(), child processes) to the error log\n"
"  --access-log PATH       one line per request ('-' for stderr; off by\n"
"                          default)\n"
"  --access-log-format FMT Gunicorn atoms: %(h)s %(t)s \"%(r)s\" %(s)s %(b)s\n"
"                          %(D)s %(rid)s %({header}i)s %({header}o)s ...\n"
"                          (default: the combined log format)\n"
"\n"
"Configuration:\n"
"  --config FILE           read settings from FILE first ('key = value'\n"
"                          lines, keys named as these flags); flags override\n"
"  --check-config          validate, print the effective configuration, exit\n"
"\n"
"Behind a proxy (HTTP and HTTPS listeners):\n"
"  --forwarded-allow-ips LIST  addresses (ADDR[/PREFIX], or *) whose\n"
"                          X-Forwarded-For/-Proto/-Host/-Port and Forwarded\n"
"                          headers are believed: the app sees the client's\n"
"                          address, scheme and host (default 127.0.0.1,::1,\n"
"                          or $FORWARDED_ALLOW_IPS); from others they are\n"
"                          dropped\n"
"  --limit-request-line N  request-target bytes, 414 above (default 8192)\n"
"  --limit-request-fields N  header lines, 431 above (default and most 100)\n"
"  --limit-request-field_size N  bytes of one header line, 431 above\n"
"                          (default 0: only the 32k header section)\n"
"  --proxy-protocol        HTTP and HTTPS connections begin with a PROXY\n"
"                          protocol v1 or v2 header (HAProxy send-proxy,\n"
"                          nginx stream proxy_protocol), whose client\n"
"                          address the app sees; others are closed\n"
"  --proxy-allow-from LIST addresses (ADDR[/PREFIX], or *) allowed to\n"
"                          connect with a PROXY header (default\n"
"                          127.0.0.1,::1); others are closed\n"
"\n"
"Gunicorn's command line, as typed: bridge -w 4 -b 127.0.0.1:8000 main:app\n"
"  APP                     MODULE:CALLABLE is --wsgi, PATH.so is --module;\n"
"                          no address: HTTP on 127.0.0.1:8000 (or $PORT)\n"
"  -b, --bind ADDR         --http ADDR: HOST:PORT, HOST, unix:PATH, fd://N\n"
"                          (--https with --certfile; repeatable)\n"
"  --certfile, --keyfile   --cert, --key\n"
"  -t, --timeout SECS      --timeout\n"
"  --keep-alive SECS       --idle-timeout\n"
"  -u, --user; -g, --group --user, --group\n"
"  -m, --umask MASK        --umask (022 and 0o22 octal, 18 decimal)\n"
"  -p, --pid PATH          --pidfile\n"
"  -c, --config FILE       --config (key = value lines, not Python)\n"
"  --access-logfile PATH   --access-log\n"
"  --error-logfile, --log-file PATH  --error-log\n"
"  --access-logformat FMT  --access-log-format\n"
"  --log-level LEVEL       also warning (warn) and critical (error)\n"
"  --worker-connections N  --max-conns\n"
"  --print-config          --check-config\n"
"  -v, --version           -V, --version\n"
"  -e, --env KEY=VALUE     set an environment variable for the application\n"
"  -n, --name NAME         the processes' name (ps -o comm, top, pgrep)\n"
"  -k, --worker-class      sync and gthread (bridge has no others)\n"
"  -D, --daemon            refused: bridge stays in the foreground\n"
"  --worker-tmp-dir DIR    accepted, unused (heartbeats are in memory)\n"
"  -w, --threads, --graceful-timeout, --max-requests[-jitter], --preload,\n"
"  --reload, --chdir, --pythonpath, --check-config: as bridge's own.\n"
"  $WEB_CONCURRENCY        the default of --workers\n"
"  An activated virtualenv ($VIRTUAL_ENV) is used as --venv is.\n"
"\n"
"  -h, --help              this text\n"
"  -V, --version           version\n";

/* Where a setting comes from: the command line, or a file and line. */
static int from_file;
static const char *file_name;
static unsigned file_line;
static const char *file_key;
/* Listeners and certificates from the file are replaced, not added to,
 * by the command line's. */
static int listen_from_file, certs_from_file, keys_from_file;
/* So is the application: --module, --wsgi, --asgi, --cgi or APP. */
static int app_from_file;

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	if (from_file)
		fprintf(stderr, "bridge: %s:%u: %s: ", file_name, file_line,
		    file_key);
	else
		fputs("bridge: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(from_file ? "\n" : " (see bridge --help)\n", stderr);
	exit(2);
}

int
config_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static long
number(const char *flag, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage_error("%s: '%s' is not a number in %ld..%ld", flag, s,
		    min, max);
	return v;
}

/*
 * A duration in whole seconds: "30", "30s", "5m", "1h" (as systemd and
 * Gunicorn's users write them).
 */
int
config_parse_duration(const char *s, unsigned long *out)
{
	unsigned long long v;
	unsigned long mul = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (strcmp(end, "s") == 0 || strcmp(end, "sec") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mul = 60;
	else if (strcmp(end, "h") == 0)
		mul = 3600;
	else if (strcmp(end, "d") == 0)
		mul = 86400;
	else if (*end != '\0')
		return -1;
	if (v > ULONG_MAX / mul)
		return -1;
	*out = (unsigned long)v * mul;
	return 0;
}

static long
duration(const char *flag, const char *s, long min, long max)
{
	unsigned long v;

	if (config_parse_duration(s, &v) == -1 || v < (unsigned long)min ||
	    v > (unsigned long)max)
		usage_error("%s: '%s' is not a duration in %ld..%ld seconds "
		    "(30, 30s, 5m, 1h)", flag, s, min, max);
	return (long)v;
}

static uint64_t
size(const char *flag, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (config_parse_size(s, &v) == -1 || v < min || v > max)
		usage_error("%s: '%s' is not a size in %llu..%llu bytes "
		    "(suffixes k, m, g)", flag, s, (unsigned long long)min,
		    (unsigned long long)max);
	return v;
}

enum {
	OPT_FASTCGI = 256,
	OPT_HTTP,
	OPT_HTTPS,
	OPT_CERT,
	OPT_KEY,
	OPT_MODULE,
	OPT_MODULE_ARG,
	OPT_WSGI,
	OPT_ASGI,
	OPT_ASGI_LOOP,
	OPT_PYTHONPATH,
	OPT_PYTHON_EXE,
	OPT_VENV,
	OPT_CGI,
	OPT_CGI_TIMEOUT,
	OPT_CGI_EXT,
	OPT_CHDIR,
	OPT_PRELOAD,
	OPT_RELOAD,
	OPT_BACKLOG,
	OPT_THREADS,
	OPT_MAX_CONNS,
	OPT_FCGI_MAX_REQS,
	OPT_MAX_PARAMS_BYTES,
	OPT_MAX_PARAMS,
	OPT_MAX_BODY,
	OPT_BODY_BUFFER,
	OPT_TMP_DIR,
	OPT_MAX_SPOOL,
	OPT_SOCKET_MODE,
	OPT_USER,
	OPT_GROUP,
	OPT_ALLOW_ROOT,
	OPT_UMASK,
	OPT_PIDFILE,
	OPT_SOCKET_OWNER,
	OPT_READ_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_GRACEFUL_TIMEOUT,
	OPT_ERROR_LOG,
	OPT_LOG_LEVEL,
	OPT_ACCESS_LOG,
	OPT_ACCESS_LOG_FORMAT,
	OPT_HEADER_TIMEOUT,
	OPT_MIN_BODY_RATE,
	OPT_MOUNT,
	OPT_STATIC_MAP,
	OPT_STATIC_EXPIRES,
	OPT_STATIC_FOLLOW_SYMLINKS,
	OPT_TIMEOUT,
	OPT_STARTUP_TIMEOUT,
	OPT_MAX_REQUESTS,
	OPT_MAX_REQUESTS_JITTER,
	OPT_STATS,
	OPT_CAPTURE_OUTPUT,
	OPT_CONFIG,
	OPT_CHECK_CONFIG,
	OPT_PROXY_PROTOCOL,
	OPT_PROXY_ALLOW_FROM,
	OPT_MAX_WORKER_MEMORY,
	OPT_HEALTH_PATH,
	OPT_SHUTDOWN_DELAY
};

/* Gunicorn's spellings that are not bridge's own (apply_gunicorn()). */
enum {
	OPT_G_CERTFILE = 512,
	OPT_G_KEEP_ALIVE,
	OPT_G_FORWARDED_ALLOW_IPS,
	OPT_G_LIMIT_REQUEST_LINE,
	OPT_G_LIMIT_REQUEST_FIELDS,
	OPT_G_LIMIT_REQUEST_FIELD_SIZE,
	OPT_G_WORKER_CONNECTIONS,
	OPT_G_WORKER_TMP_DIR
};

static void apply_gunicorn(int c, char *arg);

static const struct option long_options[] = {
	{ "fastcgi", required_argument, NULL, OPT_FASTCGI },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "https", required_argument, NULL, OPT_HTTPS },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "module", required_argument, NULL, OPT_MODULE },
	{ "module-arg", required_argument, NULL, OPT_MODULE_ARG },
	{ "wsgi", required_argument, NULL, OPT_WSGI },
	{ "asgi", required_argument, NULL, OPT_ASGI },
	{ "asgi-loop", required_argument, NULL, OPT_ASGI_LOOP },
	{ "pythonpath", required_argument, NULL, OPT_PYTHONPATH },
	{ "python-exe", required_argument, NULL, OPT_PYTHON_EXE },
	{ "venv", required_argument, NULL, OPT_VENV },
	{ "cgi", required_argument, NULL, OPT_CGI },
	{ "cgi-timeout", required_argument, NULL, OPT_CGI_TIMEOUT },
	{ "cgi-ext", required_argument, NULL, OPT_CGI_EXT },
	{ "chdir", required_argument, NULL, OPT_CHDIR },
	{ "preload", no_argument, NULL, OPT_PRELOAD },
	{ "reload", no_argument, NULL, OPT_RELOAD },
	{ "workers", required_argument, NULL, 'w' },
	/* Gunicorn's names: the same settings, or apply_gunicorn(). */
	{ "bind", required_argument, NULL, 'b' },
	{ "pid", required_argument, NULL, 'p' },
	{ "env", required_argument, NULL, 'e' },
	{ "name", required_argument, NULL, 'n' },
	{ "worker-class", required_argument, NULL, 'k' },
	{ "daemon", no_argument, NULL, 'D' },
	{ "certfile", required_argument, NULL, OPT_G_CERTFILE },
	{ "keyfile", required_argument, NULL, OPT_KEY },
	{ "access-logfile", required_argument, NULL, OPT_ACCESS_LOG },
	{ "access-logformat", required_argument, NULL,
	    OPT_ACCESS_LOG_FORMAT },
	{ "error-logfile", required_argument, NULL, OPT_ERROR_LOG },
	{ "log-file", required_argument, NULL, OPT_ERROR_LOG },
	{ "print-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "keep-alive", required_argument, NULL, OPT_G_KEEP_ALIVE },
	{ "worker-connections", required_argument, NULL,
	    OPT_G_WORKER_CONNECTIONS },
	{ "worker-tmp-dir", required_argument, NULL, OPT_G_WORKER_TMP_DIR },
	{ "forwarded-allow-ips", required_argument, NULL,
	    OPT_G_FORWARDED_ALLOW_IPS },
	{ "limit-request-line", required_argument, NULL,
	    OPT_G_LIMIT_REQUEST_LINE },
	{ "limit-request-fields", required_argument, NULL,
	    OPT_G_LIMIT_REQUEST_FIELDS },
	{ "limit-request-field_size", required_argument, NULL,
	    OPT_G_LIMIT_REQUEST_FIELD_SIZE },
	{ "limit-request-field-size", required_argument, NULL,
	    OPT_G_LIMIT_REQUEST_FIELD_SIZE },
	{ "backlog", required_argument, NULL, OPT_BACKLOG },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "fastcgi-max-reqs", required_argument, NULL, OPT_FCGI_MAX_REQS },
	{ "max-params-bytes", required_argument, NULL, OPT_MAX_PARAMS_BYTES },
	{ "max-params", required_argument, NULL, OPT_MAX_PARAMS },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "body-buffer", required_argument, NULL, OPT_BODY_BUFFER },
	{ "tmp-dir", required_argument, NULL, OPT_TMP_DIR },
	{ "max-spool", required_argument, NULL, OPT_MAX_SPOOL },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "user", required_argument, NULL, OPT_USER },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
	{ "umask", required_argument, NULL, OPT_UMASK },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "socket-owner", required_argument, NULL, OPT_SOCKET_OWNER },
	{ "read-timeout", required_argument, NULL, OPT_READ_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT },
	{ "graceful-timeout", required_argument, NULL, OPT_GRACEFUL_TIMEOUT },
	{ "shutdown-delay", required_argument, NULL, OPT_SHUTDOWN_DELAY },
	{ "health-path", required_argument, NULL, OPT_HEALTH_PATH },
	{ "error-log", required_argument, NULL, OPT_ERROR_LOG },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "access-log", required_argument, NULL, OPT_ACCESS_LOG },
	{ "access-log-format", required_argument, NULL,
	    OPT_ACCESS_LOG_FORMAT },
	{ "header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT },
	{ "min-body-rate", required_argument, NULL, OPT_MIN_BODY_RATE },
	{ "mount", required_argument, NULL, OPT_MOUNT },
	{ "static-map", required_argument, NULL, OPT_STATIC_MAP },
	{ "static-expires", required_argument, NULL, OPT_STATIC_EXPIRES },
	{ "static-follow-symlinks", no_argument, NULL,
	    OPT_STATIC_FOLLOW_SYMLINKS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "startup-timeout", required_argument, NULL, OPT_STARTUP_TIMEOUT },
	{ "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
	{ "max-requests-jitter", required_argument, NULL,
	    OPT_MAX_REQUESTS_JITTER },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "capture-output", no_argument, NULL, OPT_CAPTURE_OUTPUT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
	{ "proxy-protocol", no_argument, NULL, OPT_PROXY_PROTOCOL },
	{ "proxy-allow-from", required_argument, NULL, OPT_PROXY_ALLOW_FROM },
	{ "max-worker-memory", required_argument, NULL,
	    OPT_MAX_WORKER_MEMORY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Called before an application setting is stored: the first one the
 * command line gives drops the one the file gave. */
static void
app_replace(void)
{
	if (from_file)
		app_from_file = 1;
	else if (app_from_file) {
		app_from_file = 0;
		config.module = NULL;
		config.wsgi_app = NULL;
		config.asgi_app = NULL;
		config.cgi_root = NULL;
	}
}

static void
add_listen(enum listen_proto proto, const char *addr)
{
	if (from_file)
		listen_from_file = 1;
	else if (listen_from_file) {
		listen_from_file = 0;
		config.nlisten = 0;
	}
	if (config.nlisten == CONFIG_LISTEN_MAX)
		usage_error("too many listeners (at most %d)",
		    CONFIG_LISTEN_MAX);
	if (*addr == '\0')
		usage_error("%s: empty address", proto == PROTO_FASTCGI ?
		    "--fastcgi" : proto == PROTO_HTTP ? "--http" : "--https");
	config.listen[config.nlisten].proto = proto;
	config.listen[config.nlisten].addr = addr;
	config.nlisten++;
}

static void
check_tls(void)
{
	int i, https = 0;

	for (i = 0; i < config.nlisten; i++)
		https |= config.listen[i].proto == PROTO_HTTPS;
	if (config.ncerts != config.nkeys)
		usage_error("%d --cert but %d --key: give them in pairs",
		    config.ncerts, config.nkeys);
	if (https && config.ncerts == 0)
		usage_error("--https needs --cert FILE and --key FILE");
	if (!https && config.ncerts > 0 && getenv("LISTEN_FDS") == NULL)
		usage_error("--cert given without an --https listener");
}

/*
 * The shape of a listening address, checked here so that --check-config
 * (and a reload) refuses it: unix:PATH, HOST:PORT, [IPV6]:PORT, :PORT.
 * Whether it can be bound is found when it is.
 */
static void
check_addr(const char *flag, const char *addr)
{
	const char *port;
	size_t n;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] == '\0')
			usage_error("%s: '%s' has no socket path", flag, addr);
		return;
	}
	if (addr[0] == '[') {
		port = strchr(addr, ']');
		if (port == NULL || port[1] != ':')
			usage_error("%s: '%s' is not [IPV6]:PORT", flag, addr);
		port += 2;
	} else if ((port = strrchr(addr, ':')) == NULL)
		usage_error("%s: '%s' is not HOST:PORT, :PORT or unix:PATH",
		    flag, addr);
	else
		port++;
	n = strlen(port);
	if (n == 0 || n > 5 || strspn(port, "0123456789") != n ||
	    atol(port) > 65535)
		usage_error("%s: '%s': '%s' is not a port number", flag, addr,
		    port);
}

/* Apply one setting, from the command line or the config file. */
static void
apply(int c, char *arg)
{
	char *end;
	long v;

	switch (c) {
	case OPT_FASTCGI:
		add_listen(PROTO_FASTCGI, arg);
		break;
	case OPT_HTTP:
		add_listen(PROTO_HTTP, arg);
		break;
	case OPT_HTTPS:
		add_listen(PROTO_HTTPS, arg);
		break;
	case OPT_CERT:
		if (from_file)
			certs_from_file = 1;
		else if (certs_from_file) {
			certs_from_file = 0;
			config.ncerts = 0;
		}
		if (config.ncerts == CONFIG_CERT_MAX)
			usage_error("--cert: at most %d certificates",
			    CONFIG_CERT_MAX);
		config.certs[config.ncerts++] = arg;
		break;
	case OPT_KEY:
		if (from_file)
			keys_from_file = 1;
		else if (keys_from_file) {
			keys_from_file = 0;
			config.nkeys = 0;
		}
		if (config.nkeys == CONFIG_CERT_MAX)
			usage_error("--key: at most %d keys",
			    CONFIG_CERT_MAX);
		config.keys[config.nkeys++] = arg;
		break;
	case OPT_MODULE:
		app_replace();
		config.module = arg;
		break;
	case OPT_MODULE_ARG:
		config.module_arg = arg;
		break;
	case OPT_WSGI:
		app_replace();
		config.wsgi_app = arg;
		break;
	case OPT_ASGI:
		app_replace();
		config.asgi_app = arg;
		break;
	case OPT_ASGI_LOOP:
		if (strcmp(arg, "auto") != 0 && strcmp(arg, "asyncio") != 0 &&
		    strcmp(arg, "uvloop") != 0)
			usage_error("--asgi-loop: '%s' is not auto, asyncio "
			    "or uvloop", arg);
		config.asgi_loop = arg;
		break;
	case OPT_PYTHON_EXE:
		if (strcmp(arg, "auto") != 0 && strcmp(arg, "embed") != 0 &&
		    (arg[0] != '/' || access(arg, X_OK) == -1))
			usage_error("--python-exe: '%s' is not auto, embed or "
			    "the absolute path of a python3 executable", arg);
		config.python_exe = arg;
		break;
	case OPT_PYTHONPATH:
		config.pythonpath = arg;
		break;
	case OPT_VENV:
		config.venv = arg;
		break;
	case OPT_CGI:
		app_replace();
		config.cgi_root = arg;
		break;
	case OPT_CGI_TIMEOUT:
		config.cgi_timeout = (unsigned)duration("--cgi-timeout",
		    arg, 1, 86400);
		break;
	case OPT_CGI_EXT:
		config.cgi_ext = arg;
		break;
	case OPT_CHDIR:
		config.chdir = arg;
		break;
	case OPT_PRELOAD:
		config.preload = 1;
		break;
	case OPT_RELOAD:
		config.reload = 1;
		break;
	case 'w':
		config.workers = (int)number("--workers", arg, 1,
		    1024);
		break;
	case OPT_THREADS:
		config.threads = (int)number("--threads", arg, 1, 256);
		config.threads_given = 1;
		break;
	case OPT_BACKLOG:
		config.backlog = (int)number("--backlog", arg, 1,
		    65535);
		break;
	case OPT_MAX_CONNS:
		config.max_conns = (int)number("--max-conns", arg,
		    1, 1000000);
		break;
	case OPT_FCGI_MAX_REQS:
		config.fcgi_max_reqs = (int)number(
		    "--fastcgi-max-reqs", arg, 1, 65535);
		break;
	case OPT_MAX_PARAMS_BYTES:
		config.max_params_bytes = (size_t)size(
		    "--max-params-bytes", arg, 1024, 16 << 20);
		break;
	case OPT_MAX_PARAMS:
		config.max_params = (int)number("--max-params", arg,
		    8, 100000);
		break;
	case OPT_MAX_BODY:
		config.max_body = size("--max-body", arg, 0,
		    UINT64_MAX >> 1);
		break;
	case OPT_BODY_BUFFER:
		config.body_buffer = (size_t)size("--body-buffer",
		    arg, 0, 1 << 30);
		break;
	case OPT_MAX_SPOOL:
		config.max_spool = size("--max-spool", arg, 1 << 20,
		    UINT64_MAX >> 1);
		break;
	case OPT_TMP_DIR:
		config.tmp_dir = arg;
		break;
	case OPT_SOCKET_MODE:
		errno = 0;
		v = strtol(arg, &end, 8);
		if (errno != 0 || end == arg || *end != '\0' ||
		    v < 0 || v > 0777)
			usage_error("--socket-mode: '%s' is not an "
			    "octal mode like 0660", arg);
		config.socket_mode = (int)v;
		break;
	case OPT_USER:
		config.user = arg;
		break;
	case OPT_GROUP:
		config.group = arg;
		break;
	case OPT_ALLOW_ROOT:
		config.allow_root = 1;
		break;
	case OPT_UMASK:
		errno = 0;
		v = strtol(arg, &end, 8);
		if (errno != 0 || end == arg || *end != '\0' || v < 0 ||
		    v > 0777)
			usage_error("--umask: '%s' is not an octal mask like "
			    "022", arg);
		config.umask = (int)v;
		break;
	case OPT_PIDFILE:
		config.pidfile = arg;
		break;
	case OPT_SOCKET_OWNER:
		config.socket_owner = arg;
		break;
	case OPT_READ_TIMEOUT:
		config.read_timeout = (unsigned)duration(
		    "--read-timeout", arg, 1, 86400);
		break;
	case OPT_IDLE_TIMEOUT:
		config.idle_timeout = (unsigned)duration(
		    "--idle-timeout", arg, 1, 86400);
		break;
	case OPT_WRITE_TIMEOUT:
		config.write_timeout = (unsigned)duration(
		    "--write-timeout", arg, 1, 86400);
		break;
	case OPT_GRACEFUL_TIMEOUT:
		config.graceful_timeout = (unsigned)duration(
		    "--graceful-timeout", arg, 0, 86400);
		break;
	case OPT_SHUTDOWN_DELAY:
		config.shutdown_delay = (unsigned)duration(
		    "--shutdown-delay", arg, 0, 3600);
		break;
	case OPT_HEALTH_PATH:
		/* Compared with SCRIPT_NAME + PATH_INFO: decoded, no
		 * query, no dot-segments (health.c). */
		if (arg[0] != '/' || strpbrk(arg, "?#%") != NULL ||
		    strstr(arg, "/./") != NULL || strstr(arg, "/../") != NULL)
			usage_error("--health-path: '%s' is not a path like "
			    "/healthz", arg);
		config.health_path = arg;
		break;
	case OPT_HEADER_TIMEOUT:
		config.header_timeout = (unsigned)duration("--header-timeout",
		    arg, 1, 86400);
		break;
	case OPT_MIN_BODY_RATE:
		config.min_body_rate = (unsigned)number("--min-body-rate", arg,
		    1, 1 << 30);
		break;
	case OPT_MOUNT:
		/* RFC 3875 4.1.13: SCRIPT_NAME is "" or starts with '/'
		 * and does not end with one. */
		if (arg[0] != '/' || arg[strlen(arg) - 1] == '/' ||
		    strstr(arg, "//") != NULL)
			usage_error("--mount: '%s' is not a path like /app", arg);
		config.mount = arg;
		break;
	case OPT_STATIC_MAP:
		/* uWSGI's form: /PREFIX=DIR. */
		end = strchr(arg, '=');
		if (arg[0] != '/' || end == NULL || end[1] == '\0' ||
		    memchr(arg, '?', (size_t)(end - arg)) != NULL ||
		    memchr(arg, '%', (size_t)(end - arg)) != NULL)
			usage_error("--static-map: '%s' is not /PREFIX=DIR",
			    arg);
		if (config.nstatic_map == CONFIG_STATIC_MAX)
			usage_error("--static-map: more than %d maps",
			    CONFIG_STATIC_MAX);
		config.static_map[config.nstatic_map++] = arg;
		break;
	case OPT_STATIC_EXPIRES:
		config.static_expires = (unsigned long)duration(
		    "--static-expires", arg, 0, 10L * 365 * 86400);
		break;
	case OPT_STATIC_FOLLOW_SYMLINKS:
		config.static_follow_symlinks = 1;
		break;
	case OPT_TIMEOUT:
		config.timeout = (unsigned)duration("--timeout", arg, 0, 86400);
		break;
	case OPT_STARTUP_TIMEOUT:
		config.startup_timeout = (unsigned)duration("--startup-timeout",
		    arg, 1, 86400);
		break;
	case OPT_MAX_REQUESTS:
		config.max_requests = (unsigned long)number("--max-requests",
		    arg, 0, 1000000000);
		break;
	case OPT_MAX_REQUESTS_JITTER:
		config.max_requests_jitter = (unsigned long)number(
		    "--max-requests-jitter", arg, 0, 1000000000);
		break;
	case OPT_STATS:
		check_addr("--stats", arg);
		config.stats = arg;
		break;
	case OPT_ACCESS_LOG:
		config.access_log = arg;
		break;
	case OPT_ACCESS_LOG_FORMAT:
		config.access_log_format = arg;
		break;
	case OPT_ERROR_LOG:
		if (log_is_syslog(arg)) {
			char why[200];

			if (log_syslog_parse(arg, why, sizeof(why)) == -1)
				usage_error("--error-log: %s", why);
		}
		config.error_log = arg;
		break;
	case OPT_CAPTURE_OUTPUT:
		config.capture_output = 1;
		break;
	case OPT_LOG_LEVEL:
		if ((config.log_level = log_level_parse(arg)) < 0)
			usage_error("--log-level: '%s' is not one of "
			    "error, warn, info, debug", arg);
		break;
	case OPT_PROXY_PROTOCOL:
		config.proxy_protocol = 1;
		break;
	case OPT_PROXY_ALLOW_FROM: {
		struct proxy_allow a;
		char why[160];

		if (proxy_allow_parse(&a, arg, why, sizeof(why)) == -1)
			usage_error("--proxy-allow-from: %s", why);
		config.proxy_allow_from = arg;
		break;
	}
	case OPT_MAX_WORKER_MEMORY:
		config.max_worker_memory = size("--max-worker-memory", arg, 0,
		    UINT64_MAX >> 1);
		if (config.max_worker_memory != 0 &&
		    config.max_worker_memory < 1 << 20)
			usage_error("--max-worker-memory: '%s' is below 1m "
			    "(0: no cap)", arg);
		break;
	default:
		apply_gunicorn(c, arg);
		break;
	}
}

/*
 * Gunicorn's command line, as its users type it: "bridge -w 4 -b
 * 127.0.0.1:8000 main:app" does what "gunicorn ..." did.  Settings bridge
 * has under another name are applied as those; the few that make no
 * sense here say what bridge does instead.
 */

/* -b/--bind: HTTP (HTTPS once --certfile is given), on HOST:PORT, HOST
 * (port 8000, as Gunicorn), unix:PATH or fd://N, a listening socket the
 * caller left open. */
static void
gunicorn_bind(char *arg)
{
	size_t n = strlen(arg);
	char *addr = arg;

	if (strncmp(arg, "fd://", 5) == 0) {
		if (n == 5 || n > 12 || strspn(arg + 5, "0123456789") !=
		    n - 5 || atol(arg + 5) > 65535)
			usage_error("--bind: '%s' is not fd://N", arg);
	} else if (strncmp(arg, "unix:", 5) != 0 && n > 0 &&
	    ((arg[0] == '[' && arg[n - 1] == ']') || (arg[0] != '[' &&
	    strchr(arg, ':') == NULL))) {
		if ((addr = malloc(n + 6)) == NULL)
			usage_error("out of memory");
		snprintf(addr, n + 6, "%s:8000", arg);
	} else if (n > 0)
		check_addr("--bind", arg);
	add_listen(PROTO_HTTP, addr);
	config.listen[config.nlisten - 1].bind = 1;
}

static void
apply_gunicorn(int c, char *arg)
{
	static char why[200];
	struct forwarded_trust t;
	char *eq, *end;
	long v;

	switch (c) {
	case 'b':
		gunicorn_bind(arg);
		break;
	case 't':
		apply(OPT_TIMEOUT, arg);
		break;
	case 'p':
		apply(OPT_PIDFILE, arg);
		break;
	case 'u':
		apply(OPT_USER, arg);
		break;
	case 'g':
		apply(OPT_GROUP, arg);
		break;
	case 'm':
		/* Gunicorn reads the mask as Python's int(x, 0): 0o22,
		 * 0x12 and 18 too. */
		errno = 0;
		v = strtol(strncmp(arg, "0o", 2) == 0 ? arg + 2 : arg, &end,
		    strncmp(arg, "0x", 2) == 0 ? 16 : arg[0] == '0' ||
		    strncmp(arg, "0o", 2) == 0 ? 8 : 10);
		if (errno != 0 || end == arg || *end != '\0' || v < 0 ||
		    v > 0777 || strcmp(arg, "0o") == 0)
			usage_error("--umask: '%s' is not a mask like 022, "
			    "0o22 or 18", arg);
		config.umask = (int)v;
		break;
	case 'e':
		if ((eq = strchr(arg, '=')) == NULL || eq == arg)
			usage_error("--env: '%s' is not KEY=VALUE", arg);
		*eq = '\0';
		if (setenv(arg, eq + 1, 1) == -1) {
			*eq = '=';
			usage_error("--env: '%s': %s", arg, strerror(errno));
		}
		*eq = '=';
		break;
	case 'n':
		if (*arg == '\0')
			usage_error("--name: empty name");
		config.proc_name = arg;
		break;
	case 'k':
		if (strcmp(arg, "sync") == 0 || strcmp(arg, "gthread") == 0)
			break;
		if (strstr(arg, "uvicorn") != NULL ||
		    strstr(arg, "asgi") != NULL || strstr(arg, "ASGI") != NULL)
			usage_error("--worker-class %s: bridge serves WSGI "
			    "applications, not ASGI ones", arg);
		usage_error("--worker-class %s: bridge has no worker classes: "
		    "each worker's event loop holds every connection (a slow "
		    "client never holds the application); for an application "
		    "that waits on I/O give --threads N", arg);
	case 'D':
		usage_error("--daemon: bridge does not detach; run it under "
		    "systemd (conf/bridge.service) or another supervisor");
	case OPT_G_CERTFILE:
		apply(OPT_CERT, arg);
		break;
	case OPT_G_KEEP_ALIVE:
		if (strcmp(arg, "0") == 0)
			usage_error("--keep-alive: bridge always keeps "
			    "connections alive; --idle-timeout 1 (seconds) "
			    "is the shortest");
		apply(OPT_IDLE_TIMEOUT, arg);
		break;
	case OPT_G_WORKER_CONNECTIONS:
		apply(OPT_MAX_CONNS, arg);
		break;
	case OPT_G_WORKER_TMP_DIR:
		/* Where Gunicorn's workers touch their heartbeat files;
		 * bridge's heartbeat is in shared memory: nothing to do. */
		break;
	case OPT_G_FORWARDED_ALLOW_IPS:
		if (forwarded_trust_parse(&t, arg, why, sizeof(why)) == -1)
			usage_error("--forwarded-allow-ips: %s", why);
		config.forwarded_allow_ips = arg;
		break;
	case OPT_G_LIMIT_REQUEST_LINE:
		/* Gunicorn's 0 is "no limit": the largest bridge takes. */
		config.limit_request_line = (size_t)number(
		    "--limit-request-line", arg, 0, 65536);
		if (config.limit_request_line == 0)
			config.limit_request_line = 65536;
		break;
	case OPT_G_LIMIT_REQUEST_FIELDS:
		config.limit_request_fields = (int)number(
		    "--limit-request-fields", arg, 0, CONFIG_FIELDS_MAX);
		if (config.limit_request_fields == 0)
			config.limit_request_fields = CONFIG_FIELDS_MAX;
		break;
	case OPT_G_LIMIT_REQUEST_FIELD_SIZE:
		config.limit_request_field_size = (size_t)number(
		    "--limit-request-field_size", arg, 0, 32768);
		break;
	default:
		break;
	}
}

static int app_positional;	/* APP given as an argument */

/* The positional APP: module:callable (or a module) is --wsgi, a .so
 * --module, as "gunicorn main:app" or "bridge ./hello.so". */
static void
gunicorn_app(const char *app)
{
	size_t n = strlen(app);

	app_positional = 1;
	app_replace();
	if (n > 3 && strcmp(app + n - 3, ".so") == 0)
		config.module = app;
	else
		config.wsgi_app = app;
}

/* "main.py", "pkg/main.py", "main:app" as the WSGI app they name. */
static void
wsgi_suggestion(const char *s, char *out, size_t len)
{
	size_t n = strlen(s), i;

	if (n > 3 && strcmp(s + n - 3, ".py") == 0) {
		n -= 3;
		while (n > 2 && strncmp(s, "./", 2) == 0) {
			s += 2;
			n -= 2;
		}
		snprintf(out, len, "%.*s:app", (int)n, s);
		for (i = 0; i < n && i < len; i++)
			if (out[i] == '/')
				out[i] = '.';
	} else
		snprintf(out, len, "%s", s);
}

/* Before config_validate()'s own checks. */
static void
gunicorn_validate(void)
{
	static char suggest[256], bind[32];
	const char *m = config.module, *list, *env;
	size_t n = m != NULL ? strlen(m) : 0;
	char why[200];
	int i, https = 0, on = 0;
	socklen_t len = sizeof(on);

	/* uWSGI's --module is a Python module: bridge's loads a .so. */
	if (m != NULL && (n < 3 || strcmp(m + n - 3, ".so") != 0) &&
	    (strchr(m, ':') != NULL || (n > 3 &&
	    strcmp(m + n - 3, ".py") == 0))) {
		wsgi_suggestion(m, suggest, sizeof(suggest));
		usage_error("--module %s: --module loads a native module "
		    "(.so); did you mean --wsgi %s?", m, suggest);
	}
	m = config.wsgi_app;
	n = m != NULL ? strlen(m) : 0;
	if (m != NULL && n > 3 && strcmp(m + n - 3, ".py") == 0 &&
	    strchr(m, ':') == NULL) {
		wsgi_suggestion(m, suggest, sizeof(suggest));
		usage_error("--wsgi %s: a WSGI app is MODULE:CALLABLE; did you "
		    "mean --wsgi %s?", m, suggest);
	}
	/* An activated virtualenv is the one the application expects. */
	if (config.wsgi_app != NULL && config.venv == NULL &&
	    (env = getenv("VIRTUAL_ENV")) != NULL && *env == '/') {
		config.venv = env;
		config.venv_from_env = 1;
	}
	/* Gunicorn's --certfile makes its binds HTTPS. */
	for (i = 0; i < config.nlisten; i++)
		https |= config.listen[i].proto == PROTO_HTTPS;
	if (config.ncerts > 0 && !https)
		for (i = 0; i < config.nlisten; i++)
			if (config.listen[i].bind)
				config.listen[i].proto = PROTO_HTTPS;
	/* "bridge main:app" with no address binds where Gunicorn would:
	 * 127.0.0.1:8000, or 0.0.0.0:$PORT; unless a socket is inherited
	 * (systemd, spawn-fcgi on fd 0) or bridge runs as a CGI program. */
	if (app_positional && config.nlisten == 0 &&
	    getenv("LISTEN_FDS") == NULL &&
	    getenv("GATEWAY_INTERFACE") == NULL &&
	    (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1 ||
	    !on)) {
		env = getenv("PORT");
		if (env != NULL && *env != '\0' && strlen(env) <= 5 &&
		    strspn(env, "0123456789") == strlen(env))
			snprintf(bind, sizeof(bind), "0.0.0.0:%s", env);
		else
			snprintf(bind, sizeof(bind), "127.0.0.1:8000");
		add_listen(PROTO_HTTP, bind);
		config.listen[config.nlisten - 1].bind = 1;
		if (config.ncerts > 0 && !https)
			config.listen[config.nlisten - 1].proto = PROTO_HTTPS;
	}
	list = config.forwarded_allow_ips;
	if (list == NULL && (list = getenv("FORWARDED_ALLOW_IPS")) == NULL)
		list = FORWARDED_DEFAULT;
	if (forwarded_trust_parse(&forwarded_trust, list, why,
	    sizeof(why)) == -1)
		usage_error("--forwarded-allow-ips: %s", why);
}

int
config_parse_line(char *line, char **key, char **value, const char **err)
{
	char *p, *k, *v, *e;

	/* A comment runs from '#' at the start or after blank space. */
	for (p = line; *p != '\0'; p++)
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t'))
			break;
	*p = '\0';
	for (k = line; *k == ' ' || *k == '\t'; k++)
		;
	for (e = k + strlen(k); e > k && (e[-1] == ' ' || e[-1] == '\t' ||
	    e[-1] == '\r' || e[-1] == '\n'); e--)
		;
	*e = '\0';
	if (*k == '\0')
		return 0;
	if ((v = strchr(k, '=')) == NULL) {
		*err = "expected 'key = value'";
		return -1;
	}
	for (p = v; p > k && (p[-1] == ' ' || p[-1] == '\t'); p--)
		;
	*p = '\0';
	for (v++; *v == ' ' || *v == '\t'; v++)
		;
	if (*k == '\0') {
		*err = "missing key before '='";
		return -1;
	}
	/* '_': Gunicorn's limit-request-field_size is a key too. */
	for (p = k; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_')) {
			*err = "keys are lower-case words joined by '-'";
			return -1;
		}
	/* "value" in double quotes keeps its '#' and blank ends. */
	e = v + strlen(v);
	if (*v == '"') {
		if (e - v < 2 || e[-1] != '"') {
			*err = "unterminated quoted value";
			return -1;
		}
		*--e = '\0';
		v++;
	}
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			*err = "control character in value";
			return -1;
		}
	*key = k;
	*value = v;
	return 1;
}

/* Values read from a file live as long as the process: settings keep
 * pointers to them. */
struct kept {
	struct kept *next;
	char s[];
};
static struct kept *kept;
static FILE *config_fp;	/* open while loading (reachable at exit) */

static char *
keep(const char *s)
{
	size_t n = strlen(s) + 1;
	struct kept *k = malloc(sizeof(*k) + n);

	if (k == NULL)
		return NULL;
	memcpy(k->s, s, n);
	k->next = kept;
	kept = k;
	return k->s;
}

void
config_load(const char *path)
{
	const struct option *o;
	char line[4096], *key, *value;
	const char *err = NULL;
	FILE *f;
	int rc;

	if ((f = config_fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "bridge: --config %s: %s\n", path,
		    strerror(errno));
		exit(2);
	}
	from_file = 1;
	file_name = path;
	file_line = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		file_line++;
		file_key = "line";
		if (strchr(line, '\n') == NULL && !feof(f))
			usage_error("line longer than %zu bytes",
			    sizeof(line) - 2);
		if ((rc = config_parse_line(line, &key, &value, &err)) == 0)
			continue;
		if (rc == -1)
			usage_error("%s", err);
		file_key = key;
		for (o = long_options; o->name != NULL; o++)
			if (strcmp(o->name, key) == 0)
				break;
		if (o->name == NULL || o->val == OPT_CONFIG ||
		    o->val == 'h' || o->val == 'V')
			usage_error("unknown key (keys are the long flags, "
			    "see bridge --help)");
		if (o->has_arg == no_argument) {
			if (strcmp(value, "yes") != 0 &&
			    strcmp(value, "true") != 0)
				usage_error("'%s': this key takes yes or true",
				    value);
			if (o->val == OPT_CHECK_CONFIG)
				config.check_config = 1;
			else
				apply(o->val, NULL);
			continue;
		}
		if ((value = keep(value)) == NULL)
			usage_error("out of memory");
		apply(o->val, value);
	}
	fclose(f);
	config_fp = NULL;
	from_file = 0;
}

static const char *
proto_key(enum listen_proto p)
{
	return p == PROTO_FASTCGI ? "fastcgi" : p == PROTO_HTTP ? "http" :
	    "https";
}

void
config_print(FILE *out)
{
	static const char *const levels[] = { "error", "warn", "info",
		"debug" };
	int i;

#define STR(k, v) fprintf(out, "%s = %s\n", k, (v) ? (v) : "")
#define NUM(k, v) fprintf(out, "%s = %llu\n", k, (unsigned long long)(v))
	fprintf(out, "# effective configuration%s%s\n",
	    config.config_file ? " from " : "",
	    config.config_file ? config.config_file : "");
	for (i = 0; i < config.nlisten; i++)
		STR(proto_key(config.listen[i].proto), config.listen[i].addr);
	for (i = 0; i < config.ncerts; i++) {
		STR("cert", config.certs[i]);
		STR("key", config.keys[i]);
	}
	if (config.module_arg != NULL && config.wsgi_app == NULL &&
	    config.cgi_root == NULL)
		STR("module-arg", config.module_arg);
	if (config.wsgi_app != NULL) {
		STR(config.asgi_app != NULL ? "asgi" : "wsgi",
		    config.wsgi_app);
		if (config.asgi_loop)
			STR("asgi-loop", config.asgi_loop);
		if (config.python_exe)
			STR("python-exe", config.python_exe);
		if (config.pythonpath)
			STR("pythonpath", config.pythonpath);
		if (config.venv)
			STR("venv", config.venv);
	} else if (config.cgi_root != NULL) {
		STR("cgi", config.cgi_root);
		NUM("cgi-timeout", config.cgi_timeout);
		if (config.cgi_ext)
			STR("cgi-ext", config.cgi_ext);
	} else if (config.module != NULL)
		STR("module", config.module);
	if (config.chdir)
		STR("chdir", config.chdir);
	if (config.preload)
		STR("preload", "yes");
	if (config.reload)
		STR("reload", "yes");
	NUM("workers", config.workers);
	NUM("threads", config.threads);
	NUM("backlog", config.backlog);
	NUM("max-conns", config.max_conns);
	NUM("fastcgi-max-reqs", config.fcgi_max_reqs);
	NUM("max-params-bytes", config.max_params_bytes);
	NUM("max-params", config.max_params);
	NUM("max-body", config.max_body);
	NUM("body-buffer", config.body_buffer);
	STR("tmp-dir", config.tmp_dir);
	NUM("max-spool", config.max_spool);
	if (config.socket_mode >= 0)
		fprintf(out, "socket-mode = %04o\n", config.socket_mode);
	if (config.socket_owner)
		STR("socket-owner", config.socket_owner);
	if (config.user)
		STR("user", config.user);
	if (config.group)
		STR("group", config.group);
	if (config.allow_root)
		STR("allow-root", "yes");
	if (config.umask >= 0)
		fprintf(out, "umask = %03o\n", config.umask);
	if (config.pidfile)
		STR("pidfile", config.pidfile);
	NUM("read-timeout", config.read_timeout);
	NUM("header-timeout", config.header_timeout);
	NUM("min-body-rate", config.min_body_rate);
	if (config.mount)
		STR("mount", config.mount);
	for (i = 0; i < config.nstatic_map; i++)
		STR("static-map", config.static_map[i]);
	if (config.static_expires)
		NUM("static-expires", config.static_expires);
	if (config.static_follow_symlinks)
		STR("static-follow-symlinks", "yes");
	NUM("idle-timeout", config.idle_timeout);
	NUM("write-timeout", config.write_timeout);
	NUM("graceful-timeout", config.graceful_timeout);
	if (config.shutdown_delay)
		NUM("shutdown-delay", config.shutdown_delay);
	NUM("timeout", config.timeout);
	NUM("startup-timeout", config.startup_timeout);
	NUM("max-requests", config.max_requests);
	NUM("max-requests-jitter", config.max_requests_jitter);
	if (config.max_worker_memory)
		NUM("max-worker-memory", config.max_worker_memory);
	if (config.proxy_protocol) {
		STR("proxy-protocol", "yes");
		STR("proxy-allow-from", config.proxy_allow_from ?
		    config.proxy_allow_from : PROXY_ALLOW_DEFAULT);
	}
	STR("forwarded-allow-ips", config.forwarded_allow_ips ?
	    config.forwarded_allow_ips : getenv("FORWARDED_ALLOW_IPS") ?
	    getenv("FORWARDED_ALLOW_IPS") : FORWARDED_DEFAULT);
	if (config.limit_request_line)
		NUM("limit-request-line", config.limit_request_line);
	if (config.limit_request_fields)
		NUM("limit-request-fields", config.limit_request_fields);
	if (config.limit_request_field_size)
		NUM("limit-request-field-size",
		    config.limit_request_field_size);
	if (config.proc_name)
		STR("name", config.proc_name);
	if (config.stats)
		STR("stats", config.stats);
	if (config.health_path)
		STR("health-path", config.health_path);
	STR("error-log", config.error_log ? config.error_log : "-");
	STR("log-level", levels[config.log_level]);
	if (config.capture_output)
		STR("capture-output", "yes");
	if (config.access_log)
		STR("access-log", config.access_log);
	if (config.access_log_format)
		fprintf(out, "access-log-format = \"%s\"\n",
		    config.access_log_format);
#undef STR
#undef NUM
}

/* Checks across settings, once all are in. */
static void
config_validate(void)
{
	/* --asgi is the Python adapter told the app must be ASGI: from
	 * here on it is the Python application like --wsgi's. */
	if (config.asgi_app != NULL) {
		if (config.wsgi_app != NULL)
			usage_error("give one application: --asgi %s or "
			    "--wsgi/APP %s", config.asgi_app, config.wsgi_app);
		if (*config.asgi_app == '\0' || *config.asgi_app == ':' ||
		    strchr(config.asgi_app, '\n'))
			usage_error("--asgi: '%s' is not MODULE[:APP]",
			    config.asgi_app);
		config.wsgi_app = config.asgi_app;
	}
	if (config.asgi_loop != NULL && config.wsgi_app == NULL)
		usage_error("--asgi-loop goes with --asgi (or a Python app)");
	if (config.python_exe != NULL && config.wsgi_app == NULL)
		usage_error("--python-exe goes with --wsgi or --asgi");
	gunicorn_validate();
	check_tls();
	if ((config.module != NULL) + (config.wsgi_app != NULL) +
	    (config.cgi_root != NULL) > 1)
		usage_error("give one application: --module, --wsgi, --asgi "
		    "or --cgi");
	/* A worker restarted by --reload forks from the master: with
	 * --preload it would get the code it was meant to read anew. */
	if (config.reload && config.preload)
		usage_error("--reload cannot go with --preload (the master "
		    "holds the loaded application; use HUP to reload it)");
	if (config.group != NULL && config.user == NULL)
		usage_error("--group goes with --user");
	if ((config.venv || config.pythonpath) && config.wsgi_app == NULL)
		usage_error("--venv and --pythonpath go with --wsgi or --asgi");
	if (config.capture_output && config.wsgi_app == NULL)
		usage_error("--capture-output goes with --wsgi or --asgi (a "
		    "native module or CGI script writes to the error log "
		    "itself)");
	if (config.wsgi_app != NULL && (*config.wsgi_app == '\0' ||
	    *config.wsgi_app == ':' || strchr(config.wsgi_app, '\n')))
		usage_error("--wsgi: '%s' is not MODULE[:CALLABLE]",
		    config.wsgi_app);
}

/*
 * A relative path given to bridge names a file relative to the directory
 * bridge was started in, as Gunicorn's users expect, however often bridge
 * later changes directory (--chdir) or reads its configuration again
 * (HUP re-executes it there).  Resolved once, here, before any chdir().
 */
static const char *start_dir;

static const char *
absolute(const char *path)
{
	char *abs;

	if (path == NULL || path[0] == '/' || path[0] == '\0')
		return path;
	while (path[0] == '.' && path[1] == '/' && path[2] != '\0')
		path += 2;
	if (start_dir == NULL)
		usage_error("cannot resolve '%s': the current directory is "
		    "unknown (getcwd failed)", path);
	if (strcmp(path, ".") == 0)
		return start_dir;
	if (asprintf(&abs, "%s/%s", strcmp(start_dir, "/") == 0 ? "" :
	    start_dir, path) == -1)
		usage_error("out of memory");
	return abs;
}

/* A log destination: "-" and syslog are not files. */
static const char *
absolute_log(const char *path)
{
	if (path == NULL || strcmp(path, "-") == 0 || log_is_syslog(path))
		return path;
	return absolute(path);
}

static void
resolve_paths(void)
{
	static char cwd[PATH_MAX];
	const char *dir;
	char *addr;
	int i;

	if (getcwd(cwd, sizeof(cwd)) != NULL)
		start_dir = cwd;
	config.config_file = absolute(config.config_file);
	config.chdir = absolute(config.chdir);
	config.error_log = absolute_log(config.error_log);
	config.access_log = absolute_log(config.access_log);
	config.pidfile = absolute(config.pidfile);
	config.tmp_dir = absolute(config.tmp_dir);
	config.cgi_root = absolute(config.cgi_root);
	config.venv = absolute(config.venv);
	/* "hello.so" is looked for by dlopen(3); "./hello.so" is a file. */
	if (config.module != NULL && strchr(config.module, '/') != NULL)
		config.module = absolute(config.module);
	for (i = 0; i < config.nstatic_map; i++) {
		const char *m = config.static_map[i], *eq = strchr(m, '=');

		if (eq[1] == '/')
			continue;
		dir = absolute(eq + 1);
		if (asprintf(&addr, "%.*s=%s", (int)(eq - m), m, dir) == -1)
			usage_error("out of memory");
		if (dir != eq + 1 && dir != start_dir)
			free((char *)dir);
		config.static_map[i] = addr;
	}
	for (i = 0; i < config.ncerts; i++)
		config.certs[i] = absolute(config.certs[i]);
	for (i = 0; i < config.nkeys; i++)
		config.keys[i] = absolute(config.keys[i]);
	for (i = 0; i < config.nlisten; i++) {
		const char *a = config.listen[i].addr;

		if (strncmp(a, "unix:", 5) != 0 || a[5] == '/')
			continue;
		if (asprintf(&addr, "unix:%s", absolute(a + 5)) == -1)
			usage_error("out of memory");
		config.listen[i].addr = addr;
	}
	if (config.stats != NULL && strncmp(config.stats, "unix:", 5) == 0 &&
	    config.stats[5] != '/') {
		if (asprintf(&addr, "unix:%s", absolute(config.stats + 5)) ==
		    -1)
			usage_error("out of memory");
		config.stats = addr;
	}
}

void
config_parse_args(int argc, char **argv)
{
	int c, i;

	/* Gunicorn's default number of workers, below the file's and the
	 * flags'. */
	if (getenv("WEB_CONCURRENCY") != NULL)
		config.workers = (int)number("WEB_CONCURRENCY",
		    getenv("WEB_CONCURRENCY"), 1, 1024);
	/* The config file first, so that flags override it. */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config.config_file = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config.config_file = argv[i] + 9;
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			config.config_file = argv[i + 1]; /* Gunicorn */
		else if (strcmp(argv[i], "--") == 0)
			break;
	}
	if (config.config_file != NULL && strlen(config.config_file) > 3 &&
	    strcmp(config.config_file + strlen(config.config_file) - 3,
	    ".py") == 0)
		usage_error("--config %s: bridge reads 'key = value' lines "
		    "named as its long flags, not Gunicorn's Python files "
		    "(README: Gunicorn -> bridge)", config.config_file);
	if (config.config_file != NULL)
		config_load(config.config_file);
	from_file = 0;

	opterr = 0;
	optind = 1;
	/* After w, h and V: Gunicorn's short options. */
	while ((c = getopt_long(argc, argv, ":w:hVb:c:e:g:k:m:n:p:t:u:Dv",
	    long_options, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			break;
		case OPT_CHECK_CONFIG:
			config.check_config = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
		case 'v':	/* Gunicorn's */
			printf("bridge %s (gateway ABI %d)\n", PACKAGE_VERSION,
			    BG_ABI_VERSION);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		case '?':
			usage_error("unknown option '%s'", argv[optind - 1]);
		default:
			apply(c, optarg);
			break;
		}
	}
	if (optind < argc && (app_from_file || (config.module == NULL &&
	    config.wsgi_app == NULL && config.cgi_root == NULL)))
		gunicorn_app(argv[optind++]);
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	config_validate();
	resolve_paths();
}
