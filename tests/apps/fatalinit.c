/*
 * Test fixture: a module whose worker_init() returns BG_FATAL while the
 * file named by its --module-arg exists (the application refuses to
 * start), else starts and answers "fatalinit ok".  Built twice: as an
 * ABI 2 module (bridge stops) and, with FATALINIT_ABI1, as one saying
 * ABI 1 (its -2 is a failure like any other: the worker is restarted
 * with back-off, as before ABI 2).
 */
#include <stddef.h>
#include <unistd.h>

#include <bridge/gateway.h>

static const struct bg_server *srv;
static const char *flag;

static int
fatalinit_init(const struct bg_server *s, const char *arg, void **ctx)
{
	srv = s;
	flag = arg;
	*ctx = NULL;
	return 0;
}

static int
fatalinit_worker_init(void *ctx)
{
	(void)ctx;
	if (flag == NULL || access(flag, F_OK) == -1)
		return 0;
	srv->log(NULL, BG_LOG_ERROR, "fatalinit: the database is gone");
	return BG_FATAL;
}

static int
fatalinit_handle(void *ctx, bg_request *r)
{
	static const struct bg_header h = { "Content-Type", 12,
	    "text/plain", 10 };

	(void)ctx;
	if (srv->start_response(r, 200, NULL, &h, 1, 0) == -1)
		return BG_ERROR;
	return srv->write(r, "fatalinit ok\n", 13) == 0 ? BG_OK : BG_ERROR;
}

static const struct bg_module fatalinit_module = {
#ifdef FATALINIT_ABI1
	.abi_version = 1,
	/* ABI 1's struct ended with worker_fini. */
	.size = offsetof(struct bg_module, worker_fini) +
	    sizeof(void (*)(void *)),
	.name = "fatalinit-abi1",
#else
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "fatalinit",
#endif
	.init = fatalinit_init,
	.worker_init = fatalinit_worker_init,
	.handle = fatalinit_handle,
};

const struct bg_module *
bg_module_entry(void)
{
	return &fatalinit_module;
}
