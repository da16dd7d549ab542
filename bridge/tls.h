/*
 * TLS with OpenSSL 3: TLS 1.2 and 1.3 only, ALPN http/1.1, SNI across
 * several certificate/key pairs, session tickets shared by the workers.
 */
#ifndef BRIDGE_TLS_H
#define BRIDGE_TLS_H

/* Load every --cert/--key pair.  Exits with a one-line message naming
 * the file on any error (unreadable, key not matching its certificate). */
void tls_configure(void);

/* Load them again (SIGHUP).  Returns 0, or -1 after logging why; the
 * previous certificates then stay in use. */
int tls_reload(void);

/* A TLS session for an accepted socket, server side; NULL on error. */
void *tls_new(int fd);

/* True when any TLS listener is configured. */
int tls_enabled(void);

#endif /* BRIDGE_TLS_H */
