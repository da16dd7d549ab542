/*
 * Configuration: every setting in one struct, filled from the command
 * line, immutable once bridge starts serving.
 */
#ifndef BRIDGE_CONFIG_H
#define BRIDGE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum listen_proto {
	PROTO_FASTCGI,
	PROTO_HTTP,
	PROTO_HTTPS,
	PROTO_STATS	/* --stats: never in config.listen */
};

struct config_listen {
	enum listen_proto proto;
	const char *addr;	/* as given: unix:PATH, HOST:PORT, [V6]:PORT */
	int bind;		/* from Gunicorn's -b/--bind: HTTPS once
				 * --certfile is given */
};

#define CONFIG_LISTEN_MAX 16
#define CONFIG_STATIC_MAX 16
#define CONFIG_CERT_MAX 16

struct config {
	struct config_listen listen[CONFIG_LISTEN_MAX];
	int nlisten;

	const char *certs[CONFIG_CERT_MAX];	/* PEM chain files, SNI order */
	const char *keys[CONFIG_CERT_MAX];
	int ncerts;
	int nkeys;

	const char *module;	/* path of a native module */
	const char *module_arg;

	/* Adapters: each sets module and module_arg (main.c). */
	const char *wsgi_app;	/* --wsgi module:callable (or --asgi's) */
	const char *asgi_app;	/* --asgi module:app, folded into wsgi_app */
	const char *asgi_loop;	/* --asgi-loop asyncio|uvloop, or NULL */
	const char *python_exe;	/* --python-exe auto|embed|PATH, or NULL */
	const char *venv;
	const char *pythonpath;
	const char *cgi_root;	/* --cgi ROOT */
	unsigned cgi_timeout;
	const char *cgi_ext;
	const char *chdir;
	int preload;		/* --preload: init the module in the master */
	int reload;		/* --reload: restart on a source change */

	/* Privileges and files of the process. */
	const char *user;	/* workers run as this user ... */
	const char *group;	/* ... and group (default: the user's) */
	int allow_root;		/* --allow-root: the application may run as
				 * root */
	int umask;		/* -1: leave as inherited */
	const char *pidfile;

	int workers;
	int threads;		/* application threads per worker */
	int threads_given;	/* --threads was set (else the adapter's
				 * default: adapter_select()) */
	int backlog;
	int max_conns;		/* per worker */
	int fcgi_max_reqs;	/* per connection; 1 = no multiplexing */
	size_t max_params_bytes;
	int max_params;
	uint64_t max_body;
	size_t body_buffer;	/* in memory before spooling to tmp_dir */
	uint64_t max_spool;	/* HTTP response bytes spooled per client */
	const char *tmp_dir;

	int socket_mode;	/* -1: leave as umask gives */
	const char *socket_owner; /* USER[:GROUP] */

	unsigned read_timeout;	/* seconds: a request must arrive in it */
	unsigned header_timeout; /* seconds: an HTTP request head must */
	unsigned min_body_rate;	/* bytes/s an HTTP body must keep up */
	const char *mount;	/* HTTP: SCRIPT_NAME of the application */
	const char *static_map[CONFIG_STATIC_MAX]; /* "/PREFIX=DIR" */
	int nstatic_map;
	unsigned long static_expires; /* s: Cache-Control max-age, 0 none */
	int static_follow_symlinks; /* symlinks may leave DIR */
	unsigned idle_timeout;	/* seconds: idle keep-alive connection */
	unsigned write_timeout; /* seconds: client must take output */
	unsigned graceful_timeout;
	unsigned shutdown_delay; /* seconds TERM serves on, probe saying 503 */
	unsigned timeout;	/* seconds a request may run in the module */
	unsigned startup_timeout; /* seconds a worker may take to start */
	unsigned long max_requests; /* recycle a worker after (0: never) */
	unsigned long max_requests_jitter;

	const char *stats;	/* --stats ADDR: metrics and status page */
	const char *health_path; /* --health-path: the balancer's probe */

	const char *error_log;
	const char *access_log;
	const char *access_log_format;
	int log_level;
	int capture_output;	/* Python's stdout/stderr to the error log */

	const char *config_file;
	int check_config;	/* --check-config: validate, print, exit */

	/* Proxies and Gunicorn's spellings (config.c, gunicorn_*). */
	const char *forwarded_allow_ips; /* NULL: $FORWARDED_ALLOW_IPS or
					 * 127.0.0.1,::1 (forwarded.h) */
	const char *proc_name;	/* -n/--name: the processes' name */
	int venv_from_env;	/* venv is $VIRTUAL_ENV, not --venv */
	size_t limit_request_line; /* request-target bytes (414); 0: 8k */
	int limit_request_fields; /* header lines (431); 0: 100 */
	size_t limit_request_field_size; /* bytes of one header line
					 * (431); 0: only the 32k head */

	/* HTTP and HTTPS listeners behind a TCP proxy (proxy_conn.h). */
	int proxy_protocol;	/* --proxy-protocol: a PROXY header first */
	const char *proxy_allow_from;	/* whose headers; NULL: loopback */
	/* Recycle a worker whose RSS passes this, gracefully (0: never). */
	uint64_t max_worker_memory;
};

#define CONFIG_FIELDS_MAX 100	/* --limit-request-fields at most */

extern struct config config;

/*
 * Fill config from argv.  On a bad flag prints one line naming it and
 * exits 2; --help and --version print and exit 0.
 */
void config_parse_args(int argc, char **argv);

/*
 * Read settings from a file of "key = value" lines (keys are the long
 * flags).  Exits 2 with "FILE:LINE: key: problem" on any error.
 */
void config_load(const char *path);

/*
 * Split one line of a config file in place.  Returns 1 with *key and
 * *value set, 0 for a blank or comment line, -1 with *err set.
 */
int config_parse_line(char *line, char **key, char **value,
    const char **err);

/* Write the effective configuration in config-file form. */
void config_print(FILE *out);

/* "30", "30s", "5m", "1h", "1d": seconds; returns 0 or -1. */
int config_parse_duration(const char *s, unsigned long *out);

/* "64k", "10m", "1g" or bytes; returns 0 or -1. */
int config_parse_size(const char *s, uint64_t *out);

#endif /* BRIDGE_CONFIG_H */
