/*
 * CGI-script adapter: runs classic CGI/1.1 programs (RFC 3875) under a
 * root directory, as a module on the gateway ABI (bridge/gateway.h).  It
 * sees nothing of bridge but that header.
 *
 *	cgi.c		module entry, configuration, one request end to end
 *			(script lookup, local redirects, error answers)
 *	cgi_path.c	request path -> script file under the root
 *	cgi_env.c	the script's environment (RFC 3875 section 4)
 *	cgi_head.c	the script's header block (RFC 3875 section 6)
 *	cgi_proc.c	spawn, the poll loop over stdin/stdout/stderr, kill
 *			and reap
 *
 * Everything here runs on the worker's request thread, one request at a
 * time; nothing is shared between requests but the configuration, which
 * is immutable once init() has returned.
 */
#ifndef CGI_H
#define CGI_H

#include <stddef.h>
#include <sys/types.h>

#include <bridge/gateway.h>

#define CGI_EXT_MAX 16		/* extensions in the allow-list */
#define CGI_HEAD_BYTES_MAX 32768 /* header block of a script */
#define CGI_HEAD_FIELDS_MAX 100	/* header fields of a script */
#define CGI_REDIRECTS_MAX 5	/* local redirects per request */
#define CGI_IO_BUF 65536	/* each of the stdin and stdout buffers */
#define CGI_ERR_LINE_MAX 2048	/* a stderr line longer than this is split */

struct cgi_conf {
	char *root;		/* realpath of the CGI root, no trailing '/' */
	size_t root_len;
	int timeout;		/* seconds a request may run */
	int grace_ms;		/* TERM -> KILL escalation */
	char *ext[CGI_EXT_MAX];	/* allow-list, ".cgi"; none = any name */
	int next;
};

extern const struct bg_server *cgi_srv;

/*
 * cgi.c: s (n bytes) made fit for a log line in buf: control characters
 * and DEL become '?' (the log would otherwise take a newline in a request
 * path as a line of its own), cut to the buffer with "...".  Returns buf.
 */
const char *cgi_printable(char *buf, size_t size, const char *s, size_t n);

/*
 * cgi_path.c
 */
struct cgi_loc {
	char *file;		/* realpath of the script (malloc) */
	char *dir;		/* its directory, the script's cwd (malloc) */
	size_t script_len;	/* bytes of the looked-up path that name the
				 * script; the rest is PATH_INFO */
	int nph;		/* file name starts with "nph-" */
};

/*
 * Find the script that path names: the first component of base + path
 * that is not a directory.  base is an absolute directory without a
 * trailing '/' (may be empty when path is itself absolute), path starts
 * with '/'.  Returns 0 with *loc filled, or the HTTP status to answer
 * (403, 404, 500) with *why set to a static reason for the log.
 */
int cgi_path_locate(const struct cgi_conf *conf, const char *base,
    size_t base_len, const char *path, size_t path_len,
    struct cgi_loc *loc, const char **why);
void cgi_path_free(struct cgi_loc *loc);

/*
 * cgi_env.c
 */

/* A variable the adapter sets itself; value NULL removes the request's. */
struct cgi_setvar {
	const char *name;
	const char *value;
	size_t value_len;
};

/*
 * The script's environment: the request's CGI meta-variables and HTTP_*
 * (never HTTP_PROXY), with set[] replacing or removing same-named ones,
 * and PATH.  Returns a NULL-terminated array in one malloc'd block (free
 * it with free()), or NULL with errno.
 */
char **cgi_env_build(bg_request *r, const struct cgi_setvar *set,
    size_t nset);

/*
 * cgi_head.c
 */
struct cgi_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct cgi_head {
	int nph;		/* in: expect an HTTP status line first */
	int status;		/* Status:, or NPH status; 0 when absent */
	const char *reason;	/* its phrase, or NULL */
	size_t reason_len;
	const char *location;	/* Location: (CGI only), or NULL */
	size_t location_len;
	struct cgi_field fields[CGI_HEAD_FIELDS_MAX];
	size_t nfields;		/* everything else, in order */
	int dropped;		/* hop-by-hop fields left out */
	const char *error;	/* why -1 was returned */
};

#define CGI_HEAD_AGAIN (-2)
#define CGI_HEAD_BAD (-1)

/*
 * Parse the header block at the start of buf (stateless: call again with
 * the same buffer grown).  Returns the bytes the block takes including the
 * empty line, CGI_HEAD_AGAIN when the block is not complete yet, or
 * CGI_HEAD_BAD with h->error set.  The slices in *h point into buf.
 */
ssize_t cgi_head_parse(const char *buf, size_t len, struct cgi_head *h);

/*
 * cgi_proc.c
 */
enum cgi_run {
	CGI_RUN_DONE,		/* response sent whole */
	CGI_RUN_REDIRECT,	/* local redirect; target in run->redirect */
	CGI_RUN_FAILED,		/* failed before the response started */
	CGI_RUN_TIMEOUT,	/* timed out before the response started */
	CGI_RUN_CUT		/* failed after it started, or client gone */
};

struct cgi_job {
	/* in */
	const struct cgi_conf *conf;
	bg_request *r;
	const struct cgi_loc *loc;
	char **envp;
	double deadline;	/* CLOCK_MONOTONIC seconds */
	int feed_body;		/* send the request body to stdin */
	int body_fd;		/* read the body from here (spooled), or -1
				 * for the gateway's read() */
	/* out */
	char *redirect;		/* CGI_RUN_REDIRECT: Location (malloc) */
};

/* Run the script to its end.  Every child is reaped before returning. */
enum cgi_run cgi_proc_run(struct cgi_job *job);

double cgi_now(void);

#endif /* CGI_H */
