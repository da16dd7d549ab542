#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "module.h"
#include "req.h"

struct module module;

/* Smallest struct bg_module a module may hand us: up to handle(). */
#define MODULE_MIN_SIZE offsetof(struct bg_module, worker_fini)

int
module_load(const char *path, char *err, size_t errlen)
{
	bg_module_entry_fn entry;
	const struct bg_module *m;
	void *h;

	snprintf(module.path, sizeof(module.path), "%s", path);
	/* dlopen() searches the library path for a bare name; a module
	 * is a file the user names, so make it one. */
	if (strchr(path, '/') == NULL) {
		snprintf(module.path, sizeof(module.path), "./%s", path);
		path = module.path;
	}
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "--module %s: %s", path, dlerror());
		return -1;
	}
	*(void **)&entry = dlsym(h, BG_MODULE_ENTRY);
	if (entry == NULL) {
		snprintf(err, errlen, "--module %s: no %s() symbol: not a "
		    "bridge module", path, BG_MODULE_ENTRY);
		dlclose(h);
		return -1;
	}
	if ((m = entry()) == NULL) {
		snprintf(err, errlen, "--module %s: %s() returned NULL", path,
		    BG_MODULE_ENTRY);
		dlclose(h);
		return -1;
	}
	if (m->abi_version < BG_ABI_VERSION_MIN ||
	    m->abi_version > BG_ABI_VERSION) {
		snprintf(err, errlen, "--module %s: built for gateway ABI %u, "
		    "this bridge speaks ABI %d to %d: rebuild it against "
		    "this bridge's gateway.h", path, m->abi_version,
		    BG_ABI_VERSION_MIN, BG_ABI_VERSION);
		dlclose(h);
		return -1;
	}
	if (m->size < MODULE_MIN_SIZE) {
		snprintf(err, errlen, "--module %s: struct bg_module is %u "
		    "bytes, at least %zu expected: corrupt or foreign module",
		    path, m->size, MODULE_MIN_SIZE);
		dlclose(h);
		return -1;
	}
	if (m->handle == NULL) {
		snprintf(err, errlen, "--module %s: module has no handle()",
		    path);
		dlclose(h);
		return -1;
	}
	module.m = m;
	module.handle = h;
	return 0;
}

int
module_init(const char *arg)
{
	if (module.m->init == NULL)
		return 0;
	return module.m->init(&req_server, arg, &module.ctx) == 0 ? 0 : -1;
}

int
module_worker_init(void)
{
	int rc;

	if (module.m->worker_init == NULL)
		return 0;
	rc = module.m->worker_init(module.ctx);
	if (rc == BG_FATAL && module.m->abi_version >= 2)
		return BG_FATAL;
	return rc == 0 ? 0 : -1;
}

void
module_worker_fini(void)
{
	/* Fields past the size the module was built with do not exist. */
	if (module.m->size >= offsetof(struct bg_module, worker_fini) +
	    sizeof(module.m->worker_fini) && module.m->worker_fini != NULL)
		module.m->worker_fini(module.ctx);
}

void
module_unload(void)
{
	if (module.handle != NULL)
		dlclose(module.handle);
	module.handle = NULL;
	module.m = NULL;
	module.ctx = NULL;
}

int
module_reopen(const char *path, char *err, size_t errlen)
{
	/* Closing an inherited copy first unmaps the old code, so that
	 * dlopen() reads the file again instead of handing back the
	 * loaded object of the same name. */
	module_unload();
	return module_load(path, err, errlen);
}

/* Stands in for an application that did not start under --reload. */
static int
failed_handle(void *ctx, bg_request *r)
{
	static const char body[] = "application failed to load; see the "
	    "error log\n";
	static const struct bg_header h[] = {
		{ "Content-Type", 12, "text/plain", 10 },
	};

	(void)ctx;
	if (req_server.start_response(r, 500, NULL, h, 1, 0) == -1)
		return BG_ERROR;
	return req_server.write(r, body, sizeof(body) - 1) == 0 ? BG_OK :
	    BG_ERROR;
}

static const struct bg_module failed_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "(failed to load)",
	.handle = failed_handle,
};

void
module_fail(void)
{
	module.m = &failed_module;
	module.ctx = NULL;
}
