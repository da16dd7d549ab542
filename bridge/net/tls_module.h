/*
 * The interface between bridge and its TLS module (tls.so, built from
 * tls_openssl.c), which tls.c loads on demand.  The module runs inside
 * bridge and uses its log and config symbols (bridge is linked with
 * --export-dynamic); it is not an application module.
 */
#ifndef BRIDGE_TLS_MODULE_H
#define BRIDGE_TLS_MODULE_H

#include <stddef.h>

#include "transport.h"

/* Version 3 added cipher_suite; tls.c still loads a version 2 module,
 * whose struct ends before it. */
#define TLS_MODULE_VERSION 3
#define TLS_MODULE_VERSION_MIN 2
#define TLS_MODULE_ENTRY "bridge_tls_module"

struct tls_module {
	int version;
	/* Load every --cert/--key pair; 0, or -1 with a reason in err. */
	int (*configure)(char *err, size_t errlen);
	/* Load them again (HUP); 0, or -1 after logging (old ones stay). */
	int (*reload)(void);
	/* A server-side session for an accepted socket; NULL on error. */
	void *(*new_session)(int fd);
	const struct transport *transport;
	/* The session's protocol ("TLSv1.3") and cipher suite
	 * ("TLS_AES_256_GCM_SHA384"), as mod_ssl's SSL_PROTOCOL and
	 * SSL_CIPHER name them; NULL before the handshake. */
	const char *(*protocol)(void *session);
	const char *(*cipher)(void *session);
	/* Version 3: the cipher suite's number in the TLS protocol (the
	 * IANA registry's, 0x1301 for TLS_AES_128_GCM_SHA256); -1 before
	 * the handshake. */
	int (*cipher_suite)(void *session);
};

const struct tls_module *bridge_tls_module(void);

#endif /* BRIDGE_TLS_MODULE_H */
