/*
 * Adapters shipped with bridge (Python WSGI, CGI scripts) are modules on
 * the gateway ABI like any user's.  This finds their files and builds
 * their argument from the command line's --wsgi / --cgi settings.
 */
#ifndef BRIDGE_ADAPTER_H
#define BRIDGE_ADAPTER_H

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

#endif /* BRIDGE_ADAPTER_H */
