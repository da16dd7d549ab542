/*
 * TLS transport on OpenSSL 3, built as its own shared object (tls.so)
 * and loaded by tls.c only when an --https listener is configured: a
 * bridge serving FastCGI or plain HTTP never maps OpenSSL (which would
 * add about 1.7 MB to every worker's resident set).
 *
 * Contexts are built in the master before the workers fork, so every
 * worker shares the same session-ticket keys and a client resumes on any
 * of them.  SIGHUP builds new contexts in the master; new workers use
 * them while the old ones finish their connections on the old ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "tls_module.h"
#include "transport.h"

/* Mozilla "intermediate" suites for TLS 1.2: ECDHE with AEAD only. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls_cert {
	SSL_CTX *ctx;
	X509 *leaf;
};

static struct tls_cert certs[CONFIG_CERT_MAX];
static int ncerts;

static const char *
ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* RFC 7301: we speak only http/1.1; a client offering nothing we speak
 * goes on without ALPN rather than failing the handshake. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* RFC 6066 section 3: pick the certificate that matches the name. */
static int
sni_select(SSL *ssl, int *alert, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int i;

	(void)alert;
	(void)arg;
	if (name == NULL || ncerts < 2)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < ncerts; i++) {
		if (X509_check_host(certs[i].leaf, name, 0, 0, NULL) == 1) {
			if (SSL_get_SSL_CTX(ssl) != certs[i].ctx)
				SSL_set_SSL_CTX(ssl, certs[i].ctx);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	/* No match: the first certificate, as nginx's default server. */
	return SSL_TLSEXT_ERR_OK;
}

/* Does OpenSSL's error queue hold reason (of library lib)?  Clears it. */
static int
ssl_reason(int lib, int reason)
{
	unsigned long e;
	int found = 0;

	while ((e = ERR_get_error()) != 0)
		if (ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason)
			found = 1;
	return found;
}

/* The file can be read (as the master, which reads keys). */
static int
file_check(const char *flag, const char *path, char *err, size_t errlen)
{
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s %s: %s", flag, path,
		    errno == ENOENT ? "no such file" : strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* A key with a passphrase fails at once instead of prompting. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/*
 * Load cert and key into ctx, saying in err which file is wrong and how
 * (OpenSSL's "error:0480006C:PEM routines::no start line" names
 * neither).  Returns 0 or -1.
 */
static int
load_files(SSL_CTX *ctx, const char *cert, const char *key, char *err,
    size_t errlen)
{
	if (file_check("--cert", cert, err, errlen) == -1 ||
	    file_check("--key", key, err, errlen) == -1)
		return -1;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		if (ssl_reason(ERR_LIB_PEM, PEM_R_NO_START_LINE))
			snprintf(err, errlen, "--cert %s: not a PEM "
			    "certificate (no -----BEGIN CERTIFICATE----- line)",
			    cert);
		else
			snprintf(err, errlen, "--cert %s: a damaged or "
			    "truncated PEM certificate", cert);
		return -1;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			snprintf(err, errlen, "--key %s does not match --cert "
			    "%s", key, cert);
		else if (ssl_reason(ERR_LIB_PEM, PEM_R_BAD_PASSWORD_READ))
			snprintf(err, errlen, "--key %s: the key is "
			    "encrypted; bridge needs it without a passphrase",
			    key);
		else
			snprintf(err, errlen, "--key %s: not a PEM private "
			    "key", key);
		ERR_clear_error();
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "--key %s does not match --cert %s",
		    key, cert);
		return -1;
	}
	return 0;
}

/* Build one context; returns 0 or -1 with a reason in err. */
static int
load_pair(const char *cert, const char *key, struct tls_cert *out,
    char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s", ssl_error());
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* A client that closes without close_notify is common (and
	 * harmless: HTTP frames its own messages): an ordinary EOF. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		snprintf(err, errlen, "TLS ciphers: %s", ssl_error());
		goto fail;
	}
	if (load_files(ctx, cert, key, err, errlen) == -1)
		goto fail;
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
	/* Stateless resumption (tickets); keys are made here, before the
	 * fork, so all workers accept each other's tickets. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_num_tickets(ctx, 2);
	out->ctx = ctx;
	out->leaf = SSL_CTX_get0_certificate(ctx);
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -1;
}

static int
load_all(struct tls_cert *out, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < config.ncerts; i++) {
		if (load_pair(config.certs[i], config.keys[i], &out[i], err,
		    errlen) == -1) {
			while (i-- > 0)
				SSL_CTX_free(out[i].ctx);
			return -1;
		}
	}
	return 0;
}

static int
m_configure(char *err, size_t errlen)
{
	if (load_all(certs, err, errlen) == -1)
		return -1;
	ncerts = config.ncerts;
	return 0;
}

static int
m_reload(void)
{
	struct tls_cert fresh[CONFIG_CERT_MAX];
	char err[512];
	int i;

	if (ncerts == 0)
		return 0;
	if (load_all(fresh, err, sizeof(err)) == -1) {
		log_error("HUP: certificates not reloaded: %s", err);
		return -1;
	}
	/* Workers already running hold their own references through
	 * their copies of the old process image; the master's go. */
	for (i = 0; i < ncerts; i++)
		SSL_CTX_free(certs[i].ctx);
	memcpy(certs, fresh, sizeof(fresh));
	log_info("HUP: %d certificate%s reloaded", ncerts,
	    ncerts == 1 ? "" : "s");
	return 0;
}

static void *
m_new_session(int fd)
{
	SSL *ssl;

	if ((ssl = SSL_new(certs[0].ctx)) == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

/* Map an SSL_get_error() result to the transport contract. */
static ssize_t
tls_result(SSL *ssl, int rc, uint32_t *want)
{
	int e = SSL_get_error(ssl, rc);
	unsigned long err;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want = EPOLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = EPOLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			errno = ECONNRESET;
		ERR_clear_error();
		return -1;
	default:
		err = ERR_peek_error();
		if (ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST ||
		    ERR_GET_REASON(err) == SSL_R_HTTPS_PROXY_REQUEST)
			log_info("tls: fd %d: plain HTTP request on a TLS "
			    "port", SSL_get_fd(ssl));
		else
			log_info("tls: fd %d: %s", SSL_get_fd(ssl),
			    ssl_error());
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

static ssize_t
t_tls_recv(int fd, void *tls, void *buf, size_t n, uint32_t *want)
{
	size_t got = 0;
	int rc;

	(void)fd;
	ERR_clear_error();
	rc = SSL_read_ex(tls, buf, n, &got);
	if (rc == 1)
		return (ssize_t)got;
	return tls_result(tls, rc, want);
}

static ssize_t
t_tls_send(int fd, void *tls, const void *buf, size_t n, uint32_t *want)
{
	size_t put = 0;
	int rc;

	(void)fd;
	ERR_clear_error();
	rc = SSL_write_ex(tls, buf, n, &put);
	if (rc == 1)
		return (ssize_t)put;
	return tls_result(tls, rc, want);
}

static int
t_tls_pending(void *tls)
{
	return SSL_pending(tls) > 0;
}

static void
t_tls_close(int fd, void *tls)
{
	if (tls != NULL) {
		/* One close_notify, without waiting for the peer's. */
		if (SSL_is_init_finished(tls))
			SSL_shutdown(tls);
		ERR_clear_error();
		SSL_free(tls);
	}
	close(fd);
}

static const struct transport transport_tls = {
	.name = "tls",
	.recv = t_tls_recv,
	.send = t_tls_send,
	.pending = t_tls_pending,
	.close = t_tls_close,
};

static const char *
m_protocol(void *tls)
{
	return SSL_is_init_finished(tls) ? SSL_get_version(tls) : NULL;
}

static const char *
m_cipher(void *tls)
{
	return SSL_is_init_finished(tls) ? SSL_get_cipher_name(tls) : NULL;
}

static int
m_cipher_suite(void *tls)
{
	const SSL_CIPHER *c;

	if (!SSL_is_init_finished(tls) ||
	    (c = SSL_get_current_cipher(tls)) == NULL)
		return -1;
	return SSL_CIPHER_get_protocol_id(c);
}

static const struct tls_module tls_openssl = {
	.version = TLS_MODULE_VERSION,
	.configure = m_configure,
	.reload = m_reload,
	.new_session = m_new_session,
	.transport = &transport_tls,
	.protocol = m_protocol,
	.cipher = m_cipher,
	.cipher_suite = m_cipher_suite,
};

const struct tls_module *
bridge_tls_module(void)
{
	return &tls_openssl;
}
