/*
 * TLS for the HTTPS front end: TLS 1.2 and 1.3 only, ALPN http/1.1, SNI
 * across several certificate/key pairs, session tickets shared by the
 * workers.  OpenSSL lives in a module (tls.so) loaded only when an
 * --https listener is configured.
 */
#ifndef BRIDGE_TLS_H
#define BRIDGE_TLS_H

#include "transport.h"

/* Load the TLS module and every --cert/--key pair (when there are any).
 * Exits with a one-line message naming the file on any error (missing
 * module, unreadable file, key not matching its certificate). */
void tls_configure(void);

/* Load them again (SIGHUP).  Returns 0, or -1 after logging why; the
 * previous certificates then stay in use. */
int tls_reload(void);

/* A TLS session for an accepted socket, server side; NULL on error. */
void *tls_new(int fd);

/* A session's protocol and cipher suite (mod_ssl's SSL_PROTOCOL and
 * SSL_CIPHER values); NULL before its handshake or without TLS. */
const char *tls_protocol(void *session);
const char *tls_cipher(void *session);
/* Its cipher suite's number in the TLS protocol (IANA's registry: 0x1301
 * is TLS_AES_128_GCM_SHA256), or -1 (no handshake, no TLS, an older TLS
 * module). */
int tls_cipher_suite(void *session);

/* True when TLS is configured. */
int tls_enabled(void);

/* The TLS transport; NULL unless configured. */
const struct transport *tls_transport(void);

#endif /* BRIDGE_TLS_H */
