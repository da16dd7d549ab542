#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "log.h"

struct config config = {
	.workers = 1,
	.backlog = 1024,
	.max_conns = 4096,
	.fcgi_max_reqs = 64,
	.max_params_bytes = 64 * 1024,
	.max_params = 512,
	.max_body = 100 * 1024 * 1024,
	.body_buffer = 64 * 1024,
	.tmp_dir = "/tmp",
	.socket_mode = -1,
	.read_timeout = 60,
	.idle_timeout = 300,
	.write_timeout = 60,
	.graceful_timeout = 30,
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
"                          'application'), through the Python adapter\n"
"  --pythonpath DIRS       colon-separated directories put on sys.path\n"
"  --venv DIR              use that virtualenv's site-packages\n"
"  --cgi ROOT              run CGI scripts under ROOT (CGI adapter)\n"
"  --cgi-timeout SECS      a CGI script is killed after (default 60)\n"
"  --cgi-ext LIST          only scripts with these extensions (.cgi,.sh)\n"
"  --chdir DIR             change to DIR before loading the application\n"
"\n"
"Processes and limits:\n"
"  -w, --workers N         worker processes (default 1)\n"
"  --backlog N             listen queue length (default 1024)\n"
"  --max-conns N           connections per worker (default 4096)\n"
"  --fastcgi-max-reqs N    requests multiplexed on one FastCGI connection\n"
"                          (default 64; 1 refuses multiplexing)\n"
"  --max-params-bytes SIZE FastCGI PARAMS bytes per request (default 64k)\n"
"  --max-params N          FastCGI params per request (default 512)\n"
"  --max-body SIZE         request body limit, 413 above (default 100m)\n"
"  --body-buffer SIZE      body kept in memory below this (default 64k)\n"
"  --tmp-dir DIR           where larger bodies are spooled (default /tmp)\n"
"  --socket-mode OCTAL     mode of unix sockets bridge creates\n"
"  --socket-owner U[:G]    owner of unix sockets bridge creates\n"
"  --read-timeout SECS     a request must arrive within (default 60)\n"
"  --idle-timeout SECS     idle keep-alive connections close (default 300)\n"
"  --write-timeout SECS    a stalled client is dropped after (default 60)\n"
"  --graceful-timeout SECS TERM waits this long for workers (default 30)\n"
"\n"
"Logging:\n"
"  --error-log PATH        error log file ('-' for stderr, the default)\n"
"  --log-level LEVEL       error, warn, info (default) or debug\n"
"\n"
"  -h, --help              this text\n"
"  -V, --version           version\n";

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("bridge: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see bridge --help)\n", stderr);
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
	OPT_PYTHONPATH,
	OPT_VENV,
	OPT_CGI,
	OPT_CGI_TIMEOUT,
	OPT_CGI_EXT,
	OPT_CHDIR,
	OPT_BACKLOG,
	OPT_MAX_CONNS,
	OPT_FCGI_MAX_REQS,
	OPT_MAX_PARAMS_BYTES,
	OPT_MAX_PARAMS,
	OPT_MAX_BODY,
	OPT_BODY_BUFFER,
	OPT_TMP_DIR,
	OPT_SOCKET_MODE,
	OPT_SOCKET_OWNER,
	OPT_READ_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_WRITE_TIMEOUT,
	OPT_GRACEFUL_TIMEOUT,
	OPT_ERROR_LOG,
	OPT_LOG_LEVEL
};

static const struct option long_options[] = {
	{ "fastcgi", required_argument, NULL, OPT_FASTCGI },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "https", required_argument, NULL, OPT_HTTPS },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "module", required_argument, NULL, OPT_MODULE },
	{ "module-arg", required_argument, NULL, OPT_MODULE_ARG },
	{ "wsgi", required_argument, NULL, OPT_WSGI },
	{ "pythonpath", required_argument, NULL, OPT_PYTHONPATH },
	{ "venv", required_argument, NULL, OPT_VENV },
	{ "cgi", required_argument, NULL, OPT_CGI },
	{ "cgi-timeout", required_argument, NULL, OPT_CGI_TIMEOUT },
	{ "cgi-ext", required_argument, NULL, OPT_CGI_EXT },
	{ "chdir", required_argument, NULL, OPT_CHDIR },
	{ "workers", required_argument, NULL, 'w' },
	{ "backlog", required_argument, NULL, OPT_BACKLOG },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "fastcgi-max-reqs", required_argument, NULL, OPT_FCGI_MAX_REQS },
	{ "max-params-bytes", required_argument, NULL, OPT_MAX_PARAMS_BYTES },
	{ "max-params", required_argument, NULL, OPT_MAX_PARAMS },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "body-buffer", required_argument, NULL, OPT_BODY_BUFFER },
	{ "tmp-dir", required_argument, NULL, OPT_TMP_DIR },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "socket-owner", required_argument, NULL, OPT_SOCKET_OWNER },
	{ "read-timeout", required_argument, NULL, OPT_READ_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT },
	{ "graceful-timeout", required_argument, NULL, OPT_GRACEFUL_TIMEOUT },
	{ "error-log", required_argument, NULL, OPT_ERROR_LOG },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void
add_listen(enum listen_proto proto, const char *addr)
{
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
	if (!https && config.ncerts > 0)
		usage_error("--cert given without an --https listener");
}

void
config_parse_args(int argc, char **argv)
{
	char *end;
	long v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":w:hV", long_options,
	    NULL)) != -1) {
		switch (c) {
		case OPT_FASTCGI:
			add_listen(PROTO_FASTCGI, optarg);
			break;
		case OPT_HTTP:
			add_listen(PROTO_HTTP, optarg);
			break;
		case OPT_HTTPS:
			add_listen(PROTO_HTTPS, optarg);
			break;
		case OPT_CERT:
			if (config.ncerts == CONFIG_CERT_MAX)
				usage_error("--cert: at most %d certificates",
				    CONFIG_CERT_MAX);
			config.certs[config.ncerts++] = optarg;
			break;
		case OPT_KEY:
			if (config.nkeys == CONFIG_CERT_MAX)
				usage_error("--key: at most %d keys",
				    CONFIG_CERT_MAX);
			config.keys[config.nkeys++] = optarg;
			break;
		case OPT_MODULE:
			config.module = optarg;
			break;
		case OPT_MODULE_ARG:
			config.module_arg = optarg;
			break;
		case OPT_WSGI:
			config.wsgi_app = optarg;
			break;
		case OPT_PYTHONPATH:
			config.pythonpath = optarg;
			break;
		case OPT_VENV:
			config.venv = optarg;
			break;
		case OPT_CGI:
			config.cgi_root = optarg;
			break;
		case OPT_CGI_TIMEOUT:
			config.cgi_timeout = (unsigned)number("--cgi-timeout",
			    optarg, 1, 86400);
			break;
		case OPT_CGI_EXT:
			config.cgi_ext = optarg;
			break;
		case OPT_CHDIR:
			config.chdir = optarg;
			break;
		case 'w':
			config.workers = (int)number("--workers", optarg, 1,
			    1024);
			break;
		case OPT_BACKLOG:
			config.backlog = (int)number("--backlog", optarg, 1,
			    65535);
			break;
		case OPT_MAX_CONNS:
			config.max_conns = (int)number("--max-conns", optarg,
			    1, 1000000);
			break;
		case OPT_FCGI_MAX_REQS:
			config.fcgi_max_reqs = (int)number(
			    "--fastcgi-max-reqs", optarg, 1, 65535);
			break;
		case OPT_MAX_PARAMS_BYTES:
			config.max_params_bytes = (size_t)size(
			    "--max-params-bytes", optarg, 1024, 16 << 20);
			break;
		case OPT_MAX_PARAMS:
			config.max_params = (int)number("--max-params", optarg,
			    8, 100000);
			break;
		case OPT_MAX_BODY:
			config.max_body = size("--max-body", optarg, 0,
			    UINT64_MAX >> 1);
			break;
		case OPT_BODY_BUFFER:
			config.body_buffer = (size_t)size("--body-buffer",
			    optarg, 0, 1 << 30);
			break;
		case OPT_TMP_DIR:
			config.tmp_dir = optarg;
			break;
		case OPT_SOCKET_MODE:
			errno = 0;
			v = strtol(optarg, &end, 8);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    v < 0 || v > 0777)
				usage_error("--socket-mode: '%s' is not an "
				    "octal mode like 0660", optarg);
			config.socket_mode = (int)v;
			break;
		case OPT_SOCKET_OWNER:
			config.socket_owner = optarg;
			break;
		case OPT_READ_TIMEOUT:
			config.read_timeout = (unsigned)number(
			    "--read-timeout", optarg, 1, 86400);
			break;
		case OPT_IDLE_TIMEOUT:
			config.idle_timeout = (unsigned)number(
			    "--idle-timeout", optarg, 1, 86400);
			break;
		case OPT_WRITE_TIMEOUT:
			config.write_timeout = (unsigned)number(
			    "--write-timeout", optarg, 1, 86400);
			break;
		case OPT_GRACEFUL_TIMEOUT:
			config.graceful_timeout = (unsigned)number(
			    "--graceful-timeout", optarg, 0, 86400);
			break;
		case OPT_ERROR_LOG:
			config.error_log = optarg;
			break;
		case OPT_LOG_LEVEL:
			if ((config.log_level = log_level_parse(optarg)) < 0)
				usage_error("--log-level: '%s' is not one of "
				    "error, warn, info, debug", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("bridge %s (gateway ABI %d)\n", PACKAGE_VERSION,
			    BG_ABI_VERSION);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	check_tls();
	if ((config.module != NULL) + (config.wsgi_app != NULL) +
	    (config.cgi_root != NULL) > 1)
		usage_error("give one application: --module, --wsgi or --cgi");
	if ((config.venv || config.pythonpath) && config.wsgi_app == NULL)
		usage_error("--venv and --pythonpath go with --wsgi");
	if (config.wsgi_app != NULL && (*config.wsgi_app == '\0' ||
	    *config.wsgi_app == ':' || strchr(config.wsgi_app, '\n')))
		usage_error("--wsgi: '%s' is not MODULE[:CALLABLE]",
		    config.wsgi_app);
}
