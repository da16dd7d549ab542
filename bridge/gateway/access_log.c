#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "log.h"
#include "req.h"

#define ACCESS_LINE_MAX 4096
#define ACCESS_ATOMS_MAX 64

enum atom_kind {
	ATOM_TEXT,	/* literal text */
	ATOM_VAR,	/* a request variable, "-" when absent */
	ATOM_RESP,	/* a response header */
	ATOM_LINE,	/* r: request line */
	ATOM_STATUS,
	ATOM_BYTES,	/* B */
	ATOM_BYTES_DASH, /* b */
	ATOM_TIME,	/* t */
	ATOM_SECS,	/* T */
	ATOM_MSECS,	/* M */
	ATOM_USECS,	/* D */
	ATOM_DSECS,	/* L */
	ATOM_PID,
	ATOM_RID
};

struct atom {
	enum atom_kind kind;
	char *text;	/* literal, or variable/header name */
	size_t len;
};

static struct atom atoms[ACCESS_ATOMS_MAX];
static int natoms;
static int log_fd = -1;
static char *log_path;

uint64_t
access_log_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
add(enum atom_kind kind, const char *text, size_t len)
{
	if (natoms == ACCESS_ATOMS_MAX)
		return -1;
	atoms[natoms].kind = kind;
	atoms[natoms].len = len;
	atoms[natoms].text = NULL;
	if (text != NULL && (atoms[natoms].text = strndup(text, len)) == NULL)
		return -1;
	natoms++;
	return 0;
}

/* A header name as its variable: "User-Agent" -> "HTTP_USER_AGENT". */
static int
add_header_var(const char *name, size_t len)
{
	char var[128];
	size_t i;

	if (len == 0 || len + 5 >= sizeof(var))
		return -1;
	if (len == 12 && strncasecmp(name, "content-type", 12) == 0)
		return add(ATOM_VAR, "CONTENT_TYPE", 12);
	if (len == 14 && strncasecmp(name, "content-length", 14) == 0)
		return add(ATOM_VAR, "CONTENT_LENGTH", 14);
	memcpy(var, "HTTP_", 5);
	for (i = 0; i < len; i++)
		var[5 + i] = name[i] == '-' ? '_' :
		    (char)toupper((unsigned char)name[i]);
	return add(ATOM_VAR, var, len + 5);
}

int
access_log_format(const char *f, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum atom_kind kind;
		const char *var;
	} simple[] = {
		{ "h", ATOM_VAR, "REMOTE_ADDR" },
		{ "l", ATOM_TEXT, "-" },
		{ "u", ATOM_VAR, "REMOTE_USER" },
		{ "t", ATOM_TIME, NULL },
		{ "r", ATOM_LINE, NULL },
		{ "m", ATOM_VAR, "REQUEST_METHOD" },
		{ "U", ATOM_VAR, "PATH_INFO" },
		{ "q", ATOM_VAR, "QUERY_STRING" },
		{ "H", ATOM_VAR, "SERVER_PROTOCOL" },
		{ "s", ATOM_STATUS, NULL },
		{ "B", ATOM_BYTES, NULL },
		{ "b", ATOM_BYTES_DASH, NULL },
		{ "f", ATOM_VAR, "HTTP_REFERER" },
		{ "a", ATOM_VAR, "HTTP_USER_AGENT" },
		{ "T", ATOM_SECS, NULL },
		{ "M", ATOM_MSECS, NULL },
		{ "D", ATOM_USECS, NULL },
		{ "L", ATOM_DSECS, NULL },
		{ "p", ATOM_PID, NULL },
		{ "rid", ATOM_RID, NULL },
	};
	const char *p, *start, *close;
	size_t i, n;
	int rc;

	if (f == NULL)
		f = ACCESS_LOG_COMBINED;
	natoms = 0;
	for (p = f; *p != '\0';) {
		start = p;
		while (*p != '\0' && !(p[0] == '%' && p[1] == '('))
			p++;
		if (p > start && add(ATOM_TEXT, start, (size_t)(p - start)))
			goto toolong;
		if (*p == '\0')
			break;
		p += 2;
		if ((close = strstr(p, ")s")) == NULL) {
			snprintf(err, errlen, "--access-log-format: '%%(' "
			    "without ')s' at \"%.20s\"", p - 2);
			return -1;
		}
		n = (size_t)(close - p);
		rc = 1;
		if (n > 2 && p[0] == '{' && memchr(p, '}', n) == p + n - 2) {
			/* {name}i, {name}o, {NAME}e */
			const char *name = p + 1;
			size_t len = n - 3;

			switch (p[n - 1]) {
			case 'i':
				rc = add_header_var(name, len);
				break;
			case 'o':
				rc = len ? add(ATOM_RESP, name, len) : -1;
				break;
			case 'e':
				rc = len ? add(ATOM_VAR, name, len) : -1;
				break;
			}
		} else {
			for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
				if (strlen(simple[i].name) == n &&
				    memcmp(simple[i].name, p, n) == 0) {
					const char *t = simple[i].var;

					rc = add(simple[i].kind, t,
					    t ? strlen(t) : 0);
					break;
				}
		}
		if (rc != 0) {
			snprintf(err, errlen, "--access-log-format: unknown "
			    "atom %%(%.*s)s", (int)(n > 40 ? 40 : n), p);
			return -1;
		}
		p = close + 2;
	}
	return 0;
toolong:
	snprintf(err, errlen, "--access-log-format: more than %d parts",
	    ACCESS_ATOMS_MAX);
	return -1;
}

int
access_log_open(const char *path)
{
	int fd;

	if (strcmp(path, "-") == 0)
		fd = dup(STDERR_FILENO);
	else
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
	if (fd == -1)
		return -1;
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	if (log_path != path) {
		free(log_path);
		log_path = strdup(path);
	}
	return 0;
}

int
access_log_reopen(void)
{
	if (log_fd == -1 || log_path == NULL || strcmp(log_path, "-") == 0)
		return 0;
	return access_log_open(log_path);
}

int
access_log_give(uid_t uid)
{
	if (log_fd == -1 || log_path == NULL || strcmp(log_path, "-") == 0)
		return 0;
	return log_file_give(log_fd, log_path, uid);
}

int
access_log_enabled(void)
{
	return log_fd != -1;
}

/* Append s, escaping what would forge or break a line (as nginx: \xHH). */
static size_t
put(char *line, size_t n, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len && n < ACCESS_LINE_MAX - 5; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
			line[n++] = '\\';
			line[n++] = 'x';
			line[n++] = hex[c >> 4];
			line[n++] = hex[c & 15];
		} else
			line[n++] = (char)c;
	}
	return n;
}

static size_t
put_var(char *line, size_t n, struct req *r, const char *name, size_t len)
{
	const struct bg_var *v = req_find_var(r, name, len);

	if (v == NULL || v->value_len == 0)
		return put(line, n, "-", 1);
	return put(line, n, v->value, v->value_len);
}

static size_t
put_num(char *line, size_t n, const char *fmt, unsigned long long x)
{
	char num[32];
	int k = snprintf(num, sizeof(num), fmt, x);

	return put(line, n, num, (size_t)k);
}

void
access_log_request(struct req *r, uint64_t start_us)
{
	char line[ACCESS_LINE_MAX], t[40];
	uint64_t us = access_log_clock_us() - start_us;
	struct tm tm;
	time_t now;
	size_t n = 0, i;
	int j, k;

	if (log_fd == -1)
		return;
	for (j = 0; j < natoms; j++) {
		const struct atom *a = &atoms[j];

		switch (a->kind) {
		case ATOM_TEXT:
			if (n + a->len < ACCESS_LINE_MAX - 2) {
				memcpy(line + n, a->text, a->len);
				n += a->len;
			}
			break;
		case ATOM_VAR:
			n = put_var(line, n, r, a->text, a->len);
			break;
		case ATOM_RESP:
			for (i = 0; i < r->nheaders; i++)
				if (r->headers[i].name_len == a->len &&
				    strncasecmp(r->headers[i].name, a->text,
				    a->len) == 0)
					break;
			n = i < r->nheaders ? put(line, n,
			    r->headers[i].value, r->headers[i].value_len) :
			    put(line, n, "-", 1);
			break;
		case ATOM_LINE:
			n = put_var(line, n, r, "REQUEST_METHOD", 14);
			n = put(line, n, " ", 1);
			n = put_var(line, n, r, "REQUEST_URI", 11);
			n = put(line, n, " ", 1);
			n = put_var(line, n, r, "SERVER_PROTOCOL", 15);
			break;
		case ATOM_STATUS:
			n = put_num(line, n, "%llu", (unsigned long long)
			    (r->head_sent ? r->status : 0));
			break;
		case ATOM_BYTES:
			n = put_num(line, n, "%llu", r->resp_sent);
			break;
		case ATOM_BYTES_DASH:
			n = r->resp_sent ? put_num(line, n, "%llu",
			    r->resp_sent) : put(line, n, "-", 1);
			break;
		case ATOM_TIME:
			now = time(NULL);
			localtime_r(&now, &tm);
			strftime(t, sizeof(t), "[%d/%b/%Y:%H:%M:%S %z]", &tm);
			n = put(line, n, t, strlen(t));
			break;
		case ATOM_SECS:
			n = put_num(line, n, "%llu", us / 1000000);
			break;
		case ATOM_MSECS:
			n = put_num(line, n, "%llu", us / 1000);
			break;
		case ATOM_USECS:
			n = put_num(line, n, "%llu", us);
			break;
		case ATOM_DSECS:
			k = snprintf(t, sizeof(t), "%llu.%06llu",
			    (unsigned long long)(us / 1000000),
			    (unsigned long long)(us % 1000000));
			n = put(line, n, t, (size_t)k);
			break;
		case ATOM_PID:
			n = put_num(line, n, "%llu", (unsigned long long)
			    getpid());
			break;
		case ATOM_RID:
			n = put(line, n, r->id, strlen(r->id));
			break;
		}
	}
	line[n++] = '\n';
	(void)!write(log_fd, line, n);
}
