/*
 * Application modules: load a shared object that implements the gateway
 * ABI (gateway.h), check its ABI version and struct size, and drive its
 * life cycle.  The native adapter is this file: a user's .so is run as
 * it is; the Python and CGI adapters are modules loaded the same way.
 */
#ifndef BRIDGE_MODULE_H
#define BRIDGE_MODULE_H

#include "gateway.h"

struct module {
	const struct bg_module *m;
	void *ctx;
	void *handle;		/* dlopen() handle */
	char path[4096];
};

extern struct module module;

/*
 * dlopen path and check the ABI.  Returns 0, or -1 with a one-line
 * reason in err (naming the file and what is wrong).
 */
int module_load(const char *path, char *err, size_t errlen);
/* Call init() with arg.  Returns 0 or -1 (the module logged why). */
int module_init(const char *arg);
/* Call worker_init() if the module has one.  Returns 0, -1, or BG_FATAL
 * (an ABI 2 module's application refused to start: do not retry). */
int module_worker_init(void);
/* Call worker_fini() if the module has one. */
void module_worker_fini(void);

/* dlclose() the module (its init() must not have run in this
 * process); module.m is NULL until the next module_load(). */
void module_unload(void);

/*
 * --reload in a worker: drop any loaded copy and load path again, so
 * that a rebuilt .so is what runs.  Returns as module_load(); on -1
 * module.m is NULL until module_fail().
 */
int module_reopen(const char *path, char *err, size_t errlen);

/*
 * --reload in a worker whose application did not start: from now on
 * every request is answered 500 "application failed to load; see the
 * error log", until a watched file changes and the worker is replaced.
 */
void module_fail(void);

/* The module is asynchronous (ABI 2, BG_MODULE_ASYNC, read after its
 * init()): requests go to it as their head arrives (req_start). */
static inline int
module_async(void)
{
	return module.m != NULL && module.m->abi_version >= 2 &&
	    (module.m->flags & BG_MODULE_ASYNC) != 0;
}

#endif /* BRIDGE_MODULE_H */
