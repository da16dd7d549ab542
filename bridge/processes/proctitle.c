/*
 * Process titles (see proctitle.h).  The kernel shows a process's
 * command line from the memory between arg_start and arg_end, the
 * argument strings exec left on the stack; when the byte before arg_end
 * is not NUL it reads on, into the environment strings up to env_end,
 * until the first NUL (fs/proc/base.c, get_mm_cmdline()).  So once the
 * arguments and the environment live elsewhere, all of arg_start ..
 * env_end is ours to write the title into: what nginx and PostgreSQL do.
 * The four addresses come from /proc/self/stat (fields 48 to 51), which
 * also serves when bridge runs inside python3.X and argv is not the
 * process's own.
 */
#include "proctitle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

extern char **environ;

static char *area;		/* arg_start; NULL: no titles */
static size_t area_len;		/* to env_end */
static size_t arg_len;		/* to arg_end */
static char **args_copy;	/* the process's arguments from now on */
static char **env_copy;		/* environ as copied, and its strings,
				   all of them: setenv() may replace the
				   array, unsetenv() drop strings */
static char **env_strings;

/* arg_start, arg_end, env_start, env_end of this process, or -1. */
static int
stat_area(unsigned long *a)
{
	char buf[1024], *p, *end;
	ssize_t n;
	int fd, field;

	if ((fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Fields from the third on follow the last ')' (the name may hold
	 * spaces and parentheses). */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	p++;
	for (field = 3; field <= 51; field++) {
		while (*p == ' ')
			p++;
		if (field >= 48) {
			errno = 0;
			a[field - 48] = strtoul(p, &end, 10);
			if (errno != 0 || end == p)
				return -1;
			p = end;
			continue;
		}
		if ((p = strchr(p, ' ')) == NULL)
			return -1;
	}
	return 0;
}

/*
 * Under valgrind the addresses in /proc/self/stat are valgrind's own
 * command line (the tool's arguments, read again when a child starts or
 * a profile is written), not the program's: writing a title there broke
 * every worker (memcheck: "Invalid write", the worker exiting with 1).
 * Valgrind preloads its vgpreload_*.so into the program it runs.
 */
static int
under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return pre != NULL && strstr(pre, "/vgpreload_") != NULL;
}

/* A copy of the NULL-terminated vector v, strings and all; NULL when
 * memory ran out (nothing is left allocated). */
static char **
vec_dup(char **v)
{
	char **c;
	size_t n, i;

	for (n = 0; v[n] != NULL; n++)
		;
	if ((c = calloc(n + 1, sizeof(*c))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((c[i] = strdup(v[i])) == NULL) {
			while (i > 0)
				free(c[--i]);
			free(c);
			return NULL;
		}
	return c;
}

char **
proctitle_init(int argc, char **argv)
{
	unsigned long a[4];
	char **args, **env;
	char *name, *short_name;
	size_t n;

	(void)argc;
	if (under_valgrind() || stat_area(a) == -1 || a[0] == 0 || a[1] <= a[0] ||
	    a[3] < a[2] || (a[2] != 0 && a[2] < a[1]))
		return argv;
	if ((args = vec_dup(argv)) == NULL)
		return argv;
	args_copy = args;
	if ((env = vec_dup(environ)) == NULL)
		return args;
	env_copy = env;
	for (n = 0; env[n] != NULL; n++)
		;
	if ((env_strings = calloc(n + 1, sizeof(*env_strings))) == NULL)
		return args;
	memcpy(env_strings, env, n * sizeof(*env));
	/* glibc's own pointers into argv[0]. */
	name = strdup(program_invocation_name);
	short_name = strdup(program_invocation_short_name);
	if (name == NULL || short_name == NULL) {
		free(name);
		free(short_name);
		return args;
	}
	program_invocation_name = name;
	program_invocation_short_name = short_name;
	environ = env;
	area = (char *)a[0];
	arg_len = a[1] - a[0];
	/* The environment strings follow the arguments (exec puts them
	 * there); anything else, and the title keeps to the arguments. */
	area_len = a[2] == a[1] && a[3] > a[2] ? a[3] - a[0] : arg_len;
	return args;
}

void
proctitle_set(const char *fmt, ...)
{
	char title[512];
	va_list ap;
	size_t n;
	int k;

	if (area == NULL || area_len < 2)
		return;
	k = snprintf(title, sizeof(title), "%s: ", config.proc_name != NULL ?
	    config.proc_name : "bridge");
	if (k < 0 || (size_t)k >= sizeof(title))
		return;
	va_start(ap, fmt);
	vsnprintf(title + k, sizeof(title) - (size_t)k, fmt, ap);
	va_end(ap);
	n = strlen(title);
	if (n > area_len - 1)
		n = area_len - 1;
	memcpy(area, title, n);
	memset(area + n, '\0', area_len - n);
	/* A NUL before arg_end would show the rest of the arguments' area
	 * as empty arguments: a byte that is not NUL there makes the kernel
	 * stop at the title's end instead. */
	if (n + 1 < arg_len)
		area[arg_len - 1] = ' ';
}
