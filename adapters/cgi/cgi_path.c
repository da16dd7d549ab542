/*
 * From a request path to the script that runs it.
 *
 * RFC 3875 section 3.3 leaves the mapping to the server; this one walks
 * the path one component at a time from its base directory, and the
 * first component that is not a directory is the script: what precedes
 * it and it is SCRIPT_NAME, what follows is PATH_INFO (section 4.1.5).
 *
 * The file then has to pass, in this order: its real path (every symlink
 * resolved) lies under the CGI root, it is a regular file, it is
 * executable by us, and its name is on the extension allow-list if there
 * is one.  A path with a ".." segment is refused before anything is
 * looked at, whatever it would resolve to.  "Not found" is only told for
 * paths that end inside the root, so the answer never reveals whether a
 * file exists elsewhere.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgi.h"

static int
has_dotdot(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (p[i] == '.' && p[i + 1] == '.' &&
		    (i == 0 || p[i - 1] == '/') &&
		    (i + 2 == n || p[i + 2] == '/'))
			return 1;
	return 0;
}

static int
inside_root(const struct cgi_conf *conf, const char *real)
{
	return strncmp(real, conf->root, conf->root_len) == 0 &&
	    (real[conf->root_len] == '/' || real[conf->root_len] == '\0');
}

static int
ext_allowed(const struct cgi_conf *conf, const char *name, size_t n)
{
	size_t el;
	int i;

	if (conf->next == 0)
		return 1;
	for (i = 0; i < conf->next; i++) {
		el = strlen(conf->ext[i]);
		if (n > el && memcmp(name + n - el, conf->ext[i], el) == 0)
			return 1;
	}
	return 0;
}

int
cgi_path_locate(const struct cgi_conf *conf, const char *base,
    size_t base_len, const char *path, size_t path_len,
    struct cgi_loc *loc, const char **why)
{
	char *full = NULL, *real = NULL, *slash, save;
	size_t flen, i, end, dir_end, name_at;
	struct stat st;
	int status;

	memset(loc, 0, sizeof(*loc));
	if (path_len == 0 || path[0] != '/') {
		*why = "script path is not absolute";
		return 404;
	}
	if (memchr(path, '\0', path_len) != NULL) {
		*why = "NUL byte in the script path";
		return 403;
	}
	if (has_dotdot(path, path_len)) {
		*why = "'..' segment in the script path";
		return 403;
	}
	flen = base_len + path_len;
	if ((full = malloc(flen + 1)) == NULL)
		goto oom;
	memcpy(full, base, base_len);
	memcpy(full + base_len, path, path_len);
	full[flen] = '\0';

	dir_end = base_len;
	for (i = base_len; i < flen; i = end) {
		while (i < flen && full[i] == '/')
			i++;
		if (i == flen)
			break;
		for (end = i; end < flen && full[end] != '/'; end++)
			;
		save = full[end];
		full[end] = '\0';
		if (stat(full, &st) == -1) {
			full[end] = save;
			status = errno == EACCES ? 403 : 404;
			*why = errno == EACCES ? "permission denied on the "
			    "way to the script" : "no such script";
			goto missing;
		}
		full[end] = save;
		if (S_ISDIR(st.st_mode)) {
			dir_end = end;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			*why = "not a regular file";
			status = 403;
			goto missing;
		}
		name_at = i;
		goto found;
	}
	*why = "path names a directory, not a script";
	status = 403;
	goto missing;

found:
	full[end] = '\0';
	if ((real = realpath(full, NULL)) == NULL) {
		*why = "script vanished while being looked up";
		status = 404;
		goto fail;
	}
	if (!inside_root(conf, real)) {
		*why = "script resolves outside the CGI root";
		status = 403;
		goto fail;
	}
	if (stat(real, &st) == -1 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		status = 403;
		goto fail;
	}
	if ((st.st_mode & 0111) == 0 || access(real, X_OK) == -1) {
		*why = "script is not executable";
		status = 403;
		goto fail;
	}
	if (!ext_allowed(conf, full + name_at, end - name_at)) {
		*why = "script name has no allowed extension";
		status = 403;
		goto fail;
	}
	loc->nph = end - name_at > 4 && memcmp(full + name_at, "nph-", 4)
	    == 0;
	loc->script_len = end - base_len;
	slash = strrchr(real, '/');
	if ((loc->dir = strndup(real, slash == real ? 1 :
	    (size_t)(slash - real))) == NULL)
		goto oom;
	loc->file = real;
	free(full);
	return 0;

missing:
	/* Only say "not found" below the root. */
	full[dir_end > 0 ? dir_end : 1] = '\0';
	if ((real = realpath(full, NULL)) == NULL || !inside_root(conf,
	    real)) {
		*why = "script path leads outside the CGI root";
		status = 403;
	}
	goto fail;
oom:
	*why = "out of memory";
	status = 500;
fail:
	free(real);
	free(full);
	return status;
}

void
cgi_path_free(struct cgi_loc *loc)
{
	free(loc->file);
	free(loc->dir);
	loc->file = NULL;
	loc->dir = NULL;
}
