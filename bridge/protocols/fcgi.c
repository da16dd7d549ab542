/*
 * FastCGI record codec.  Section numbers refer to the FastCGI
 * Specification 1.0 (Open Market, 1996).
 */
#include <stdio.h>
#include <string.h>

#include "fcgi.h"

ssize_t
fcgi_parse_record(const uint8_t *buf, size_t len, struct fcgi_record *rec)
{
	size_t total;

	if (len < FCGI_HEADER_LEN)
		return FCGI_PARSE_AGAIN;
	/* Section 3.3: only version 1 exists. */
	if (buf[0] != FCGI_VERSION_1)
		return FCGI_PARSE_BAD;
	rec->type = buf[1];
	rec->id = (uint16_t)(buf[2] << 8 | buf[3]);
	rec->content_len = (uint16_t)(buf[4] << 8 | buf[5]);
	rec->padding_len = buf[6];
	rec->content = buf + FCGI_HEADER_LEN;
	total = FCGI_HEADER_LEN + (size_t)rec->content_len + rec->padding_len;
	if (len < total)
		return FCGI_PARSE_AGAIN;
	return (ssize_t)total;
}

/*
 * Section 3.4: a length below 128 takes one byte; otherwise four bytes,
 * big-endian, with the top bit set and masked off.
 */
static ssize_t
get_length(const uint8_t *buf, size_t len, size_t *out)
{
	if (len < 1)
		return FCGI_PARSE_AGAIN;
	if ((buf[0] & 0x80) == 0) {
		*out = buf[0];
		return 1;
	}
	if (len < 4)
		return FCGI_PARSE_AGAIN;
	*out = ((size_t)(buf[0] & 0x7f) << 24) | ((size_t)buf[1] << 16) |
	    ((size_t)buf[2] << 8) | buf[3];
	return 4;
}

ssize_t
fcgi_parse_pair(const uint8_t *buf, size_t len, struct fcgi_pair *p,
    size_t max_len)
{
	ssize_t a, b;
	size_t nlen, vlen, off;

	if ((a = get_length(buf, len, &nlen)) < 0)
		return a;
	/* A name over the bound is bad now, not once more bytes came. */
	if (nlen > max_len)
		return FCGI_PARSE_BAD;
	if ((b = get_length(buf + a, len - (size_t)a, &vlen)) < 0)
		return b;
	/* Checked before the sum so that it cannot overflow. */
	if (nlen > max_len || vlen > max_len || nlen + vlen > max_len)
		return FCGI_PARSE_BAD;
	off = (size_t)a + (size_t)b;
	if (len - off < nlen + vlen)
		return FCGI_PARSE_AGAIN;
	p->name = buf + off;
	p->name_len = nlen;
	p->value = buf + off + nlen;
	p->value_len = vlen;
	return (ssize_t)(off + nlen + vlen);
}

void
fcgi_put_header(uint8_t *out, uint8_t type, uint16_t id, uint16_t content_len,
    uint8_t padding_len)
{
	out[0] = FCGI_VERSION_1;
	out[1] = type;
	out[2] = (uint8_t)(id >> 8);
	out[3] = (uint8_t)id;
	out[4] = (uint8_t)(content_len >> 8);
	out[5] = (uint8_t)content_len;
	out[6] = padding_len;
	out[7] = 0;
}

size_t
fcgi_put_end_request(uint8_t *out, uint16_t id, uint32_t app_status,
    uint8_t protocol_status)
{
	fcgi_put_header(out, FCGI_END_REQUEST, id, 8, 0);
	out[8] = (uint8_t)(app_status >> 24);
	out[9] = (uint8_t)(app_status >> 16);
	out[10] = (uint8_t)(app_status >> 8);
	out[11] = (uint8_t)app_status;
	out[12] = protocol_status;
	memset(out + 13, 0, 3);
	return 16;
}

size_t
fcgi_put_unknown_type(uint8_t *out, uint8_t type)
{
	/* Section 4.2: sent on the management id 0. */
	fcgi_put_header(out, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
	out[8] = type;
	memset(out + 9, 0, 7);
	return 16;
}

static size_t
put_length(uint8_t *out, size_t n)
{
	if (n < 128) {
		out[0] = (uint8_t)n;
		return 1;
	}
	out[0] = (uint8_t)((n >> 24) | 0x80);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	return 4;
}

size_t
fcgi_put_pair(uint8_t *out, size_t cap, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	size_t need, off;

	if (name_len > 0x7fffffff || value_len > 0x7fffffff)
		return 0;
	need = (name_len < 128 ? 1 : 4) + (value_len < 128 ? 1 : 4) +
	    name_len + value_len;
	if (need > cap)
		return 0;
	off = put_length(out, name_len);
	off += put_length(out + off, value_len);
	memcpy(out + off, name, name_len);
	memcpy(out + off + name_len, value, value_len);
	return need;
}

const char *
fcgi_type_name(uint8_t type)
{
	static const char *const names[] = {
		[FCGI_BEGIN_REQUEST] = "BEGIN_REQUEST",
		[FCGI_ABORT_REQUEST] = "ABORT_REQUEST",
		[FCGI_END_REQUEST] = "END_REQUEST",
		[FCGI_PARAMS] = "PARAMS",
		[FCGI_STDIN] = "STDIN",
		[FCGI_STDOUT] = "STDOUT",
		[FCGI_STDERR] = "STDERR",
		[FCGI_DATA] = "DATA",
		[FCGI_GET_VALUES] = "GET_VALUES",
		[FCGI_GET_VALUES_RESULT] = "GET_VALUES_RESULT",
		[FCGI_UNKNOWN_TYPE] = "UNKNOWN_TYPE",
	};
	static __thread char other[16];

	if (type < sizeof(names) / sizeof(names[0]) && names[type] != NULL)
		return names[type];
	snprintf(other, sizeof(other), "type %u", type);
	return other;
}
