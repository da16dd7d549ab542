/*
 * Test fixture: a module built before gateway ABI 2 existed.  Its
 * struct bg_module says abi_version 1 and the ABI 1 size (up to and
 * including worker_fini), and it relies on ABI 1's synchronous
 * contract: write() blocks until the client takes the bytes and returns
 * exactly 0.
 *
 *	GET /		"abi1 ok\n"
 *	GET /big?N	N bytes written 64 KiB at a time; any write() that
 *			does not return 0 ends the response early
 *
 * The bytes after the ABI 1 struct are a trap: they sit where ABI 2's
 * flags and run() would be, saying BG_MODULE_ASYNC and a run() that
 * fails the worker.  A server that reads past the size the module gave
 * it runs this module as asynchronous or calls run(), and the tests see
 * it (test_native_async.py).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bridge/gateway.h>

static const struct bg_server *srv;

static int
abi1_init(const struct bg_server *s, const char *arg, void **ctx)
{
	(void)arg;
	srv = s;
	*ctx = NULL;
	return 0;
}

static int
abi1_big(bg_request *r, const char *arg)
{
	static char chunk[64 * 1024];
	long long n = arg != NULL ? atoll(arg) : 0;
	char len[24];
	struct bg_header h = { "Content-Length", 14, len, 0 };

	h.value_len = (size_t)snprintf(len, sizeof(len), "%lld", n);
	if (srv->start_response(r, 200, NULL, &h, 1, 0) == -1)
		return BG_ERROR;
	memset(chunk, 'a', sizeof(chunk));
	while (n > 0) {
		size_t k = n > (long long)sizeof(chunk) ? sizeof(chunk) :
		    (size_t)n;
		int rc = srv->write(r, chunk, k);

		if (rc != 0) {
			srv->log(r, BG_LOG_ERROR, "abi1: write() returned %d, "
			    "ABI 1 promises 0 or -1", rc);
			return BG_ERROR;
		}
		n -= (long long)k;
	}
	return BG_OK;
}

static int
abi1_handle(void *ctx, bg_request *r)
{
	static const struct bg_header h = { "Content-Type", 12,
	    "text/plain", 10 };
	const char *path = srv->var(r, "PATH_INFO", NULL);
	const char *query = srv->var(r, "QUERY_STRING", NULL);

	(void)ctx;
	if (path != NULL && strcmp(path, "/big") == 0)
		return abi1_big(r, query);
	if (srv->start_response(r, 200, NULL, &h, 1, 0) == -1)
		return BG_ERROR;
	return srv->write(r, "abi1 ok\n", 8) == 0 ? BG_OK : BG_ERROR;
}

static int
abi1_trap_run(void *ctx)
{
	(void)ctx;
	srv->log(NULL, BG_LOG_ERROR, "abi1: run() called on an ABI 1 module "
	    "(the server read past struct bg_module's size)");
	return -1;
}

static const struct bg_module abi1_module = {
	.abi_version = 1,
	.size = offsetof(struct bg_module, flags),	/* ABI 1's size */
	.name = "abi1",
	.init = abi1_init,
	.handle = abi1_handle,
	/* Past .size, so not there for the server: a trap for one that
	 * reads them anyway. */
	.flags = 0xffffffffu,
	.run = abi1_trap_run,
};

const struct bg_module *
bg_module_entry(void)
{
	return &abi1_module;
}
