/*
 * Static files for the HTTP front end (--static-map PREFIX=DIR, uWSGI's
 * name): a request whose path falls under PREFIX is answered from DIR by
 * the worker's event loop, without the application.
 *
 * The front end asks static_match() once a request head is parsed; a
 * claimed request is answered by static_respond(), which formats the
 * whole response head into the caller's buffer and leaves the file (if
 * any body goes out) in a struct static_body that the front end drains
 * with static_body_send() whenever the socket is writable.  Nothing here
 * blocks on a peer: files are regular files, opened O_NONBLOCK and read
 * from the page cache or disk in bounded pieces.
 *
 * The pure helpers below (path, ranges, validators, Accept-Encoding, MIME)
 * are exported for tests/check_static.c and the fuzz target.
 */
#ifndef BRIDGE_STATIC_H
#define BRIDGE_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct buf;
struct req;
struct static_map;
struct transport;

/* A response body still to send: fd from off to end; fd -1 when none. */
struct static_body {
	int fd;
	off_t off;
	off_t end;
};

/* At most this many body bytes go out per call of static_body_send(), so
 * one large download does not starve the loop's other connections. */
#define STATIC_TURN (512 * 1024)

/*
 * Start-up (master, after --chdir): open every map's directory and read
 * the MIME table.  Exits with a one-line message naming a bad DIR.
 */
void static_init(void);

/* True when at least one --static-map is configured. */
int static_enabled(void);

/*
 * The map serving target (the request-target's path, query allowed), or
 * NULL when the request is the application's.  Matching is done on the
 * percent-decoded path, before any dot-segment removal, so that
 * "/static/../x" is refused by the map rather than silently routed.
 */
const struct static_map *static_match(const char *target, size_t len);

/*
 * Answer r (whose variables are built: REQUEST_METHOD, REQUEST_URI and
 * the HTTP_* fields) from map m.  The status line and head go to out,
 * ending with conn_line (the Connection field, "" for none) and the
 * blank line; a body to send is left in *body (body->fd -1 if none).
 * Sets r->status, r->reason and r->resp_sent (body bytes) for the access
 * log.  Returns 0, or -1 (ENOMEM: the caller closes).
 */
int static_respond(const struct static_map *m, struct req *r, int head,
    const char *conn_line, struct buf *out, struct static_body *body);

/*
 * Send up to STATIC_TURN bytes of body through tp.  Returns 0 (done when
 * body->fd is -1; otherwise *want says what to wait for), or -1 for a
 * dead connection.  Closes the file once sent.
 */
int static_body_send(struct static_body *body, int fd,
    const struct transport *tp, void *tls, uint32_t *want);

/* Close a body not sent (connection gone). */
void static_body_close(struct static_body *body);

/*
 * Pure helpers.
 */

/* Percent-decode a path up to '?' into out (n bytes of room suffice).
 * Returns the length, or -1 for a broken escape or a NUL (raw or %00).
 * *encslash is set when an escaped '/' was decoded. */
ssize_t static_path_decode(const char *s, size_t n, char *out,
    int *encslash);

/* A path below the root ("a/b.css", no leading '/'): 0 when every
 * segment is a name, -1 for "." or ".." segments, empty names at the end
 * (a directory), or a backslash. */
int static_path_check(const char *p, size_t n);

enum static_range {
	STATIC_RANGE_NONE,	/* no usable single range: send it all */
	STATIC_RANGE_OK,	/* *first..*last inclusive */
	STATIC_RANGE_UNSATISFIABLE	/* 416 */
};

/* RFC 9110 section 14.1.2: a Range field value against a representation
 * of size bytes.  Several ranges give NONE (answered 200, section 14.2). */
enum static_range static_range_parse(const char *v, size_t n, off_t size,
    off_t *first, off_t *last);

/* RFC 9110 section 8.8.3: "mtime-size" with a suffix per coding. */
void static_etag(char *out, size_t n, time_t mtime, off_t size,
    const char *coding);

/* RFC 9110 section 13.1.2: weak comparison of If-None-Match's list. */
int static_etag_match(const char *list, size_t n, const char *etag);

/* RFC 9110 section 5.6.7: IMF-fixdate to time_t; 0 or -1. */
int static_date_parse(const char *s, size_t n, time_t *t);

/* Format t as IMF-fixdate (29 bytes and a NUL). */
void static_date_format(char out[32], time_t t);

/* RFC 9110 section 12.5.3: does Accept-Encoding allow coding (q > 0)? */
int static_accepts(const char *v, size_t n, const char *coding);

/* Read a mime.types file (0 or -1); and the type for a file name. */
int static_mime_load(const char *path);
const char *static_mime_type(const char *name, size_t n);

#endif /* BRIDGE_STATIC_H */
