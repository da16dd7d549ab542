/*
 * Loads the TLS module on demand (see tls_module.h): OpenSSL is mapped
 * only into a bridge that serves HTTPS.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "config.h"
#include "log.h"
#include "tls.h"
#include "tls_module.h"

static const struct tls_module *tls;

void
tls_configure(void)
{
	typedef const struct tls_module *(*entry_fn)(void);
	char err[512];
	entry_fn entry;
	const char *path;
	void *h;

	if (config.ncerts == 0)
		return;
	path = adapter_path("tls", "bridge");
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		fatal("TLS module %s: %s", path, dlerror());
	*(void **)&entry = dlsym(h, TLS_MODULE_ENTRY);
	if (entry == NULL || (tls = entry()) == NULL ||
	    tls->version < TLS_MODULE_VERSION_MIN ||
	    tls->version > TLS_MODULE_VERSION)
		fatal("TLS module %s: not this bridge's (version mismatch)",
		    path);
	if (tls->configure(err, sizeof(err)) == -1)
		fatal("%s", err);
}

int
tls_reload(void)
{
	return tls != NULL ? tls->reload() : 0;
}

void *
tls_new(int fd)
{
	return tls != NULL ? tls->new_session(fd) : NULL;
}

const char *
tls_protocol(void *session)
{
	return tls != NULL && session != NULL ? tls->protocol(session) : NULL;
}

const char *
tls_cipher(void *session)
{
	return tls != NULL && session != NULL ? tls->cipher(session) : NULL;
}

int
tls_cipher_suite(void *session)
{
	return tls != NULL && session != NULL && tls->version >= 3 ?
	    tls->cipher_suite(session) : -1;
}

int
tls_enabled(void)
{
	return tls != NULL;
}

const struct transport *
tls_transport(void)
{
	return tls != NULL ? tls->transport : NULL;
}
