/*
 * Test fixture: a module built for a future gateway ABI version.  bridge
 * must refuse it at start with a message naming both versions.
 */
#include <bridge/gateway.h>

static int
badabi_handle(void *ctx, bg_request *r)
{
	(void)ctx;
	(void)r;
	return BG_ERROR;
}

static const struct bg_module badabi_module = {
	.abi_version = BG_ABI_VERSION + 1,
	.size = sizeof(struct bg_module),
	.name = "badabi",
	.handle = badabi_handle,
};

const struct bg_module *
bg_module_entry(void)
{
	return &badabi_module;
}
