/*
 * Fuzz target for the config file line parser (bridge/core/config.c) and the
 * --error-log syslog:... spec parser (bridge/core/log.c).
 * FUZZ_SOURCES: bridge/core/config.c bridge/core/log.c bridge/gateway/forwarded.c
 * FUZZ_SOURCES: bridge/net/proxy_proto.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "syslog:" + the input: accepted, or refused with a reason. */
static void
syslog_spec(const uint8_t *data, size_t size)
{
	char *spec, err[200];

	if ((spec = malloc(size + 8)) == NULL)
		return;
	memcpy(spec, "syslog:", 7);
	memcpy(spec + 7, data, size);
	spec[size + 7] = '\0';
	err[0] = '\0';
	if (!log_is_syslog(spec))
		abort();
	if (log_syslog_parse(spec, err, sizeof(err)) == -1 && err[0] == '\0')
		abort();
	free(spec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, *key, *value;
	const char *err;
	int rc;

	/* A line as fgets() gives it: NUL-terminated, no NUL inside. */
	if (size > 8192 || memchr(data, '\0', size) != NULL)
		return 0;
	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	rc = config_parse_line(line, &key, &value, &err);
	if (rc == 1) {
		/* Both point inside the line, NUL-terminated, key non-empty
		 * and made of the key alphabet ('_' for Gunicorn's
		 * limit-request-field_size). */
		if (key < line || key > line + size || value < line ||
		    value > line + size || *key == '\0' ||
		    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789-_") !=
		    strlen(key))
			abort();
	} else if (rc == -1) {
		if (err == NULL || *err == '\0')
			abort();
	} else if (rc != 0)
		abort();
	free(line);
	syslog_spec(data, size);
	return 0;
}

#ifdef FUZZ_STANDALONE
#include <string.h>

#include "standalone.h"
#endif
