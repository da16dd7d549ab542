/*
 * The script's environment (RFC 3875 section 4.1).
 *
 * Built from nothing: the meta-variables of the request, its HTTP_*
 * variables (section 4.1.18), and PATH.  Nothing of the worker's own
 * environment reaches the script, and nothing else a front end or web
 * server passes (LD_PRELOAD from a careless fastcgi_param, bridge.*
 * extensions) either.  HTTP_PROXY is never set whatever arrives: a
 * client's "Proxy:" header would otherwise become the proxy setting of
 * every HTTP library the script uses (httpoxy, CVE-2016-5385).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"

#define CGI_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

/* Section 4.1, then what web servers commonly add (Apache, nginx's
 * fastcgi_params, lighttpd). */
static const char *const meta[] = {
	"AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE",
	"PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR",
	"REMOTE_HOST", "REMOTE_IDENT", "REMOTE_USER", "REQUEST_METHOD",
	"SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
	"SERVER_SOFTWARE",
	"DOCUMENT_ROOT", "DOCUMENT_URI", "REQUEST_URI", "REQUEST_SCHEME",
	"SCRIPT_FILENAME", "REMOTE_PORT", "SERVER_ADDR", "HTTPS",
	"REDIRECT_STATUS", "CONTEXT_PREFIX", "CONTEXT_DOCUMENT_ROOT",
};

static int
passed(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_'))
			return 0;
	}
	if (n > 5 && memcmp(name, "HTTP_", 5) == 0)
		return !(n == 10 && memcmp(name, "HTTP_PROXY", 10) == 0);
	for (i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
		if (strlen(meta[i]) == n && memcmp(meta[i], name, n) == 0)
			return 1;
	return 0;
}

static int
is_set(const struct cgi_setvar *set, size_t nset, const char *name,
    size_t n)
{
	size_t i;

	for (i = 0; i < nset; i++)
		if (strlen(set[i].name) == n && memcmp(set[i].name, name, n)
		    == 0)
			return 1;
	return 0;
}

/* A FastCGI peer may send a name twice; the first one counts, as with
 * the gateway's var(). */
static int
seen(char **env, size_t nenv, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < nenv; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return 1;
	return 0;
}

static char *
put(char *p, const char *name, size_t nl, const char *value, size_t vl)
{
	memcpy(p, name, nl);
	p[nl] = '=';
	memcpy(p + nl + 1, value, vl);
	p[nl + 1 + vl] = '\0';
	return p + nl + vl + 2;
}

char **
cgi_env_build(bg_request *r, const struct cgi_setvar *set, size_t nset)
{
	const struct bg_var *v;
	size_t nvars, i, nenv = 0, bytes;
	char **env, *p;

	nvars = cgi_srv->var_count(r);
	bytes = (nvars + nset + 2) * sizeof(char *) + sizeof(CGI_PATH);
	for (i = 0; i < nvars; i++) {
		v = cgi_srv->var_at(r, i);
		bytes += v->name_len + v->value_len + 2;
	}
	for (i = 0; i < nset; i++)
		if (set[i].value != NULL)
			bytes += strlen(set[i].name) + set[i].value_len + 2;
	if ((env = malloc(bytes)) == NULL)
		return NULL;
	p = (char *)(env + nvars + nset + 2);

	for (i = 0; i < nvars; i++) {
		v = cgi_srv->var_at(r, i);
		if (!passed(v->name, v->name_len) ||
		    is_set(set, nset, v->name, v->name_len) ||
		    memchr(v->value, '\0', v->value_len) != NULL ||
		    seen(env, nenv, v->name, v->name_len))
			continue;
		env[nenv++] = p;
		p = put(p, v->name, v->name_len, v->value, v->value_len);
	}
	for (i = 0; i < nset; i++) {
		if (set[i].value == NULL || memchr(set[i].value, '\0',
		    set[i].value_len) != NULL)
			continue;
		env[nenv++] = p;
		p = put(p, set[i].name, strlen(set[i].name), set[i].value,
		    set[i].value_len);
	}
	env[nenv++] = p;
	memcpy(p, CGI_PATH, sizeof(CGI_PATH));
	env[nenv] = NULL;
	return env;
}
