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

static char found[PATH_MAX];
static char adapter_arg[8192];

const char *
adapter_path(const char *name, const char *builddir)
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
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
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
	fatal("%s.so is not installed (looked in %s and the build tree; set "
	    "BRIDGE_ADAPTER_DIR)", name, ADAPTERDIR);
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
		config.module = adapter_path("python", "adapters/python");
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
