/*
 * Test fixture: a module whose init fails, as an application that cannot
 * start.  bridge must stop with a message, not respawn workers forever.
 */
#include <bridge/gateway.h>

static int
failinit_init(const struct bg_server *srv, const char *arg, void **ctx)
{
	(void)arg;
	(void)ctx;
	srv->log(NULL, BG_LOG_ERROR, "failinit: cannot start (as asked)");
	return -1;
}

static int
failinit_handle(void *ctx, bg_request *r)
{
	(void)ctx;
	(void)r;
	return BG_ERROR;
}

static const struct bg_module failinit_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "failinit",
	.init = failinit_init,
	.handle = failinit_handle,
};

const struct bg_module *
bg_module_entry(void)
{
	return &failinit_module;
}
