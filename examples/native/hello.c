/*
 * The smallest bridge module: answers every request with "Hello, world!".
 *
 *	make -C examples/native
 *	bridge --fastcgi 127.0.0.1:9000 --module ./examples/native/hello.so
 *
 * It needs nothing but the installed <bridge/gateway.h>.
 */
#include <bridge/gateway.h>

static const struct bg_server *srv;

static int
hello_init(const struct bg_server *s, const char *arg, void **ctx)
{
	(void)arg;
	srv = s;
	*ctx = NULL;
	return 0;
}

static int
hello_handle(void *ctx, bg_request *r)
{
	static const char body[] = "Hello, world!\n";
	static const struct bg_header headers[] = {
		{ "Content-Type", 12, "text/plain", 10 },
	};

	(void)ctx;
	if (srv->start_response(r, 200, NULL, headers, 1, 0) == -1)
		return BG_ERROR;
	return srv->write(r, body, sizeof(body) - 1) == 0 ? BG_OK : BG_ERROR;
}

static const struct bg_module hello_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "hello",
	.init = hello_init,
	.handle = hello_handle,
};

const struct bg_module *
bg_module_entry(void)
{
	return &hello_module;
}
