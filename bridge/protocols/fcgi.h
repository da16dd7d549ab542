/*
 * FastCGI record codec: stateless parsing and encoding of records and
 * name-value pairs over the caller's buffers (FastCGI spec 1.0, sections 3
 * and 8).  No allocation, no I/O.  The wire constants come from libfcgi's
 * <fastcgi.h>.
 */
#ifndef BRIDGE_FCGI_H
#define BRIDGE_FCGI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <fastcgi.h>

#define FCGI_PARSE_BAD (-1)   /* malformed: close the connection */
#define FCGI_PARSE_AGAIN (-2) /* need more bytes */

/* Largest record on the wire: header, 65535 content, 255 padding. */
#define FCGI_RECORD_MAX (FCGI_HEADER_LEN + 0xffff + 0xff)

/* One record as found in the buffer; content points into it. */
struct fcgi_record {
	uint8_t type;
	uint16_t id;
	uint16_t content_len;
	uint8_t padding_len;
	const uint8_t *content;
};

/* One name-value pair (section 3.4); both point into the buffer. */
struct fcgi_pair {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

/*
 * Parse the record at buf.  Returns its whole length (header + content +
 * padding) when it is complete, FCGI_PARSE_AGAIN when more bytes are
 * needed, FCGI_PARSE_BAD when the version is not 1.
 */
ssize_t fcgi_parse_record(const uint8_t *buf, size_t len,
    struct fcgi_record *rec);

/*
 * Parse one name-value pair at buf.  Returns the bytes consumed,
 * FCGI_PARSE_AGAIN when the pair continues past len, FCGI_PARSE_BAD when a
 * length exceeds max_len (a bound the caller sets on one pair).
 */
ssize_t fcgi_parse_pair(const uint8_t *buf, size_t len, struct fcgi_pair *p,
    size_t max_len);

/* Write a record header into out[8]. */
void fcgi_put_header(uint8_t *out, uint8_t type, uint16_t id,
    uint16_t content_len, uint8_t padding_len);

/* Write a whole FCGI_END_REQUEST record into out[16]; returns 16. */
size_t fcgi_put_end_request(uint8_t *out, uint16_t id, uint32_t app_status,
    uint8_t protocol_status);

/* Write a whole FCGI_UNKNOWN_TYPE record into out[16]; returns 16. */
size_t fcgi_put_unknown_type(uint8_t *out, uint8_t type);

/*
 * Encode a name-value pair into out (cap bytes).  Returns the bytes written,
 * or 0 when it does not fit.
 */
size_t fcgi_put_pair(uint8_t *out, size_t cap, const char *name,
    size_t name_len, const char *value, size_t value_len);

/* Name of a record type for log lines ("PARAMS", "type 42"). */
const char *fcgi_type_name(uint8_t type);

#endif /* BRIDGE_FCGI_H */
