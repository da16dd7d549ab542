/*
 * HTTP/1.1 request parser: a strict, stateless parser of the request line
 * and header section (RFC 9112 sections 2-5) over the caller's buffer, and
 * an incremental, in-place decoder of the chunked transfer coding (RFC 9112
 * section 7.1).  No allocation, no I/O, no locale; every result points into
 * the caller's buffer.  Thread-safe: no global state.
 *
 * Error returns are negated HTTP status codes (-400, -413, -414, -417,
 * -431, -501, -505).  Every error means the framing of the connection can
 * no longer be trusted: the caller answers with that status and closes the
 * connection (RFC 9112 section 6.3 for the framing errors; the parser does
 * not distinguish the others).
 */
#ifndef BRIDGE_HTTP_PARSE_H
#define BRIDGE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_PARSE_AGAIN (-2) /* need more bytes */

/* Empty lines (CRLF) accepted before the request line (RFC 9112 2.2). */
#define HTTP_LEADING_CRLF_MAX 4
/* Longest method; a longer token is answered 501 (RFC 9112 3). */
#define HTTP_METHOD_MAX 32
/* Internal caps on the caller's limits, so that a count fits an int. */
#define HTTP_TARGET_MAX (1U << 26)
#define HTTP_HEADER_BYTES_MAX (1U << 28)
/* Chunked coding: bytes in one chunk-size line, extensions included. */
#define HTTP_CHUNK_LINE_MAX 4096
/* Chunked coding: bytes in the whole trailer section. */
#define HTTP_CHUNK_TRAILER_MAX 8192

/*
 * Limits set by the caller.  max_target bounds the request-target (414);
 * max_header_bytes bounds the header section, i.e. the bytes after the
 * request line's CRLF up to and including the empty line that ends it
 * (431); max_headers bounds the field lines and is the number of elements
 * of req->headers (431); max_body bounds Content-Length (413).  Values
 * above HTTP_TARGET_MAX and HTTP_HEADER_BYTES_MAX are clamped to them.
 */
struct http_limits {
	size_t max_target;
	size_t max_header_bytes;
	size_t max_headers;
	uint64_t max_body;
};

/*
 * One field line.  The name is a token as received (compare it without
 * regard to case); the value has its leading and trailing OWS stripped and
 * may be empty.  Values contain no CTL except HTAB; they may contain
 * obs-text (bytes 0x80-0xff).
 */
struct http_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Values of http_request.target_form (RFC 9112 section 3.2). */
#define HTTP_TARGET_ORIGIN 0   /* "/path?query" */
#define HTTP_TARGET_ABSOLUTE 1 /* "http://authority/path?query" */
#define HTTP_TARGET_ASTERISK 2 /* "*", only with OPTIONS */

struct http_request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor_version; /* 0 or 1 */
	/* Caller provides an array of lim->max_headers; the parser fills. */
	struct http_header *headers;
	size_t nheaders;
	int64_t content_length; /* -1 if none */
	unsigned chunked : 1;   /* Transfer-Encoding: chunked */
	unsigned conn_close : 1; /* close after the response */
	unsigned keep_alive : 1; /* "Connection: keep-alive" was present */
	unsigned expect_continue : 1; /* HTTP/1.1 "Expect: 100-continue" */
	/*
	 * The authority: from an absolute-form target when there is one
	 * (RFC 9112 3.2.2: the Host field is then ignored), else the Host
	 * field value, which may be empty.  NULL only for an HTTP/1.0
	 * request without Host.
	 */
	const char *host;
	size_t host_len;
	/* Fields added beyond the agreed shape. */
	int target_form; /* HTTP_TARGET_* */
	/*
	 * The path and query of the target: the whole target in
	 * origin-form, "*" in asterisk-form, and what follows the authority
	 * in absolute-form -- which may be empty or start with '?', meaning
	 * the path "/" (RFC 9112 3.3).
	 */
	const char *path;
	size_t path_len;
};

/*
 * Parses the request line and header section in buf[0..len).
 *
 * Returns the bytes consumed (> 0) when the header section is complete;
 * the message body, if any, starts at buf + the return value.  Returns
 * HTTP_PARSE_AGAIN when more bytes are needed: the bytes so far are a
 * valid prefix and within the limits.  Returns -STATUS when the request
 * must be rejected; see the .c file for which rule gives which status.
 *
 * The scan is strictly left to right and decides each error at the first
 * byte that proves it, so a prefix of some input yields either
 * HTTP_PARSE_AGAIN or the verdict of the whole input.  Checks that need
 * the whole header section (duplicate fields, Content-Length with
 * Transfer-Encoding, missing Host, ...) are made once it is complete.
 *
 * req->headers must point to lim->max_headers elements (it may be NULL
 * when that is 0).  Every other field of req is written; on error their
 * values are unspecified.  Pointers in req point into buf.  Never reads
 * outside buf[0..len), never allocates.  buf need not be NUL-terminated.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req,
    const struct http_limits *lim);

/*
 * Chunked body decoder (RFC 9112 section 7.1).  Incremental and in place:
 * each call consumes all the bytes it is given (partial chunk-size lines
 * and the like are kept in the state), so the caller never has to keep
 * undecoded bytes around.  The contents are private.
 */
struct http_chunked {
	int state;
	int error;      /* the -status once state is the error state */
	uint64_t size;  /* chunk-size, then bytes left of chunk-data */
	uint64_t total; /* body bytes decoded so far */
	size_t line;    /* bytes of the current chunk-size line */
	size_t trailer; /* bytes of the trailer section */
};

void http_chunked_init(struct http_chunked *d);

/*
 * Decodes buf[0..*len) in place.  On return buf[0..*len) holds the body
 * bytes decoded by this call (chunk-data only, framing removed).
 *
 * Returns:
 *  HTTP_PARSE_AGAIN	the body continues; all the input was consumed.
 *  n >= 0		the last chunk and the trailer section ended in this
 *			call; the n input bytes that followed them (the start
 *			of the next pipelined request) have been moved to
 *			buf[*len .. *len + n), i.e. right after the decoded
 *			bytes.  The trailer fields are validated and skipped.
 *			Further calls return all their input as such bytes.
 *  -400		malformed chunked coding.
 *  -413		the body would exceed max_body bytes in total.
 *  -431		the trailer section exceeds HTTP_CHUNK_TRAILER_MAX.
 * After an error *len is unspecified and every further call fails the
 * same way.
 */
ssize_t http_chunked_decode(struct http_chunked *d, char *buf, size_t *len,
    uint64_t max_body);

#endif /* BRIDGE_HTTP_PARSE_H */
