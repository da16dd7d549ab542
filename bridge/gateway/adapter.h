/*
 * Adapters shipped with bridge (Python WSGI, CGI scripts) are modules on
 * the gateway ABI like any user's.  This finds their files and builds
 * their argument from the command line's --wsgi / --cgi settings.
 */
#ifndef BRIDGE_ADAPTER_H
#define BRIDGE_ADAPTER_H

#include <sys/types.h>

/* --threads when --cgi is given without it. */
#define ADAPTER_CGI_THREADS 4

/*
 * When --wsgi or --cgi is given, set config.module to the adapter's
 * shared object and config.module_arg to its key=value lines.  Looks in
 * $BRIDGE_ADAPTER_DIR, then the build tree beside the running binary,
 * then the install directory.  Exits with a message when it is missing.
 * Settles --threads if it was not given (1; ADAPTER_CGI_THREADS for
 * --cgi).
 */
void adapter_select(void);

/*
 * Path of one of bridge's own loadable parts, NAME.so: an adapter or
 * the TLS module.  builddir is where the build tree keeps it ("bridge",
 * "adapters/python").  Exits naming what is missing.
 */
const char *adapter_path(const char *name, const char *builddir);

/*
 * A Python application runs inside Debian's python3.X executable rather
 * than an embedded libpython (--python-exe): the executable's build of
 * the interpreter (static, optimised with profiles) runs Python code
 * about a fifth faster than the shared library.  adapter_host() replaces
 * this process with that executable running bridge again from pyhost.so
 * (same pid, descriptors and environment); it returns when nothing is
 * to be hosted or that cannot be done, and bridge embeds as before.
 */
void adapter_host(int argc, char **argv);

/* How a Python application runs, for the start-up log ("running in
 * /usr/bin/python3.11", "libpython embedded (why)"); NULL without one. */
const char *adapter_python_note(void);

/* Set by pyhost.so: this bridge runs inside python3. */
extern int adapter_hosted;

/*
 * The file that runs this bridge again (a HUP's re-exec, the check of a
 * new configuration): /proc/self/exe, or bridge's binary when hosted.
 */
const char *adapter_self_exe(void);

/* Its path into out (len bytes), as readlink(2): the length, or -1. */
ssize_t adapter_self_path(char *out, size_t len);

/* bridge's main() (main.c), which pyhost.so calls inside python3. */
int bridge_main(int argc, char **argv);

#endif /* BRIDGE_ADAPTER_H */
