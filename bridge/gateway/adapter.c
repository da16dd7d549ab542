#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "config.h"
#include "log.h"

#ifndef ADAPTERDIR
#define ADAPTERDIR "/usr/local/lib/bridge"
#endif

#ifndef BRIDGE_PYTHON_EXE
#define BRIDGE_PYTHON_EXE "/usr/bin/python3"
#endif

/* Sanitized builds cannot run inside an executable built without. */
#if defined(__SANITIZE_ADDRESS__)
#define HOST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOST_SANITIZED 1
#endif
#endif

int adapter_hosted;
static char host_note[PATH_MAX + 128];	/* adapter_python_note() */

static char found[PATH_MAX];
static char adapter_arg[8192];

const char *
adapter_self_exe(void)
{
	const char *exe = getenv("BRIDGE_SELF_EXE");

	return adapter_hosted && exe != NULL && exe[0] == '/' ? exe :
	    "/proc/self/exe";
}

ssize_t
adapter_self_path(char *out, size_t len)
{
	ssize_t n;

	if (adapter_hosted && strcmp(adapter_self_exe(), "/proc/self/exe"))
		n = snprintf(out, len, "%s", adapter_self_exe());
	else if ((n = readlink("/proc/self/exe", out, len - 1)) >= 0)
		out[n] = '\0';
	return n >= 0 && (size_t)n < len ? n : -1;
}

/* adapter_path() without the exit: NULL when NAME.so is nowhere. */
static const char *
adapter_find(const char *name, const char *builddir)
{
	const char *env = getenv("BRIDGE_ADAPTER_DIR");
	char self[PATH_MAX - 64], *slash;
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(found, sizeof(found), "%s/%s.so", env,
		    name);
		return found;
	}
	/* Running from the build tree (bridge/bridge beside adapters/):
	 * its own adapters, not whatever is installed. */
	if ((n = adapter_self_path(self, sizeof(self))) > 0) {
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		snprintf(found, sizeof(found),
		    "%s/../%s/.libs/%s.so", self, builddir, name);
		if (access(found, R_OK) == 0)
			return found;
	}
	snprintf(found, sizeof(found), "%s/%s.so", ADAPTERDIR,
	    name);
	if (access(found, R_OK) == 0)
		return found;
	return NULL;
}

const char *
adapter_path(const char *name, const char *builddir)
{
	const char *path;

	if ((path = adapter_find(name, builddir)) == NULL)
		fatal("%s.so is not installed (looked in %s and the build "
		    "tree; set BRIDGE_ADAPTER_DIR)", name, ADAPTERDIR);
	return path;
}

/*
 * What python3 runs: pyhost.so, found in the directory that follows,
 * loaded with its symbols global (the TLS module dlopen()ed later uses
 * bridge's), then bridge's main() with the rest of the command line.
 * RTLD_NOW | RTLD_GLOBAL is 0x102 on Linux.
 */
static const char host_boot[] = "import sys; sys.setdlopenflags(0x102); "
    "sys.path.insert(0, sys.argv.pop(1)); import pyhost; pyhost.run()";

void
adapter_host(int argc, char **argv)
{
	const char *exe = config.python_exe, *host;
	char self[PATH_MAX], dir[PATH_MAX], real[PATH_MAX], *slash, **nargv;
	ssize_t n;
	int i;

	if (config.wsgi_app == NULL)
		return;
	if (adapter_hosted) {
		if ((n = readlink("/proc/self/exe", real, sizeof(real) - 1)) >
		    0)
			real[n] = '\0';
		snprintf(host_note, sizeof(host_note), "running in %s",
		    n > 0 ? real : "python3");
		return;
	}
	snprintf(host_note, sizeof(host_note), "libpython embedded "
	    "(--python-exe embed)");
	if (exe == NULL || strcmp(exe, "auto") == 0)
		exe = BRIDGE_PYTHON_EXE;
	else if (strcmp(exe, "embed") == 0)
		return;
	/* pyhost.so runs only in the Python it was built for. */
	if (config.python_exe != NULL && strcmp(config.python_exe, "auto") &&
	    (realpath(exe, real) == NULL || (slash = strrchr(real, '/')) ==
	    NULL || strcmp(slash + 1, strrchr(BRIDGE_PYTHON_EXE, '/') + 1)))
		fatal("--python-exe %s: not %s, the Python bridge was built "
		    "for", exe, strrchr(BRIDGE_PYTHON_EXE, '/') + 1);
#ifdef HOST_SANITIZED
	snprintf(host_note, sizeof(host_note), "libpython embedded (a "
	    "sanitizer build cannot run in %s)", exe);
	return;
#endif
	if (access(exe, X_OK) == -1) {
		snprintf(host_note, sizeof(host_note), "libpython embedded "
		    "(%s: %s)", exe, strerror(errno));
		return;
	}
	if ((host = adapter_find("pyhost", "adapters/python")) == NULL ||
	    access(host, R_OK) == -1 || strlen(host) >= sizeof(dir) ||
	    (n = adapter_self_path(self, sizeof(self))) <= 0) {
		snprintf(host_note, sizeof(host_note), "libpython embedded "
		    "(pyhost.so not found)");
		return;
	}
	memcpy(dir, host, strlen(host) + 1);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if ((nargv = calloc((size_t)argc + 6, sizeof(*nargv))) == NULL ||
	    setenv("BRIDGE_SELF_EXE", self, 1) == -1)
		return;
	nargv[0] = (char *)exe;
	nargv[1] = "-P";
	nargv[2] = "-c";
	nargv[3] = (char *)host_boot;
	nargv[4] = dir;
	for (i = 0; i < argc; i++)
		nargv[5 + i] = argv[i];
	execv(exe, nargv);
	snprintf(host_note, sizeof(host_note), "libpython embedded (exec %s: "
	    "%s)", exe, strerror(errno));
	free(nargv);
}

const char *
adapter_python_note(void)
{
	return host_note[0] != '\0' ? host_note : NULL;
}

static void
line(const char *key, const char *value)
{
	size_t n = strlen(adapter_arg);

	if (value == NULL)
		return;
	if (strchr(value, '\n') != NULL)
		fatal("%s: newline in value", key);
	if ((size_t)snprintf(adapter_arg + n, sizeof(adapter_arg) - n,
	    "%s=%s\n", key, value) >= sizeof(adapter_arg) - n)
		fatal("%s: value too long", key);
}

void
adapter_select(void)
{
	char num[16];

	if (config.wsgi_app != NULL) {
		/* Inside python3, the adapter is in pyhost.so already:
		 * python.so would load a second libpython. */
		config.module = adapter_hosted ?
		    adapter_path("pyhost", "adapters/python") :
		    adapter_path("python", "adapters/python");
		line("app", config.wsgi_app);
		if (config.asgi_app != NULL)
			line("asgi", "1");
		line("asgi-loop", config.asgi_loop);
		snprintf(num, sizeof(num), "%u", config.graceful_timeout);
		line("graceful-timeout", num);
		line("pythonpath", config.pythonpath);
		line("venv", config.venv);
		line("chdir", config.chdir);
		if (config.preload)
			line("preload", "1");
		if (config.capture_output)
			line("capture-output", "1");
	} else if (config.cgi_root != NULL) {
		config.module = adapter_path("cgi", "adapters/cgi");
		line("root", config.cgi_root);
		snprintf(num, sizeof(num), "%u", config.cgi_timeout);
		line("timeout", num);
		line("extensions", config.cgi_ext);
		/* A CGI request waits on its script: scripts of one
		 * worker run side by side (fcgiwrap's process is held by
		 * each in turn). */
		if (!config.threads_given)
			config.threads = ADAPTER_CGI_THREADS;
	}
	if (config.wsgi_app != NULL || config.cgi_root != NULL)
		config.module_arg = adapter_arg;
}
