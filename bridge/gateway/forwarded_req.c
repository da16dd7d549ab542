/*
 * Proxy headers applied to a request (forwarded_req.h).  The decisions
 * are forwarded.c's, a pure unit; this file only carries them out on the
 * request model, so that the HTTP front end calls one function.
 */
#include "forwarded.h"
#include "forwarded_req.h"
#include "log.h"

int
forwarded_req_apply(struct req *r, const struct sockaddr *peer)
{
	const struct bg_var *addr, *host;
	struct forwarded fw;
	size_t i;

	switch (forwarded_resolve(&forwarded_trust, forwarded_trusts(
	    &forwarded_trust, peer), r->vars, r->nvars, &fw)) {
	case FORWARDED_NONE:
		break;
	case FORWARDED_UNTRUSTED:
		/* Dropped, so that an application reading them (Django's
		 * SECURE_PROXY_SSL_HEADER) is not fooled either. */
		r->nvars = forwarded_strip(r->vars, r->nvars);
		r->nfields = forwarded_strip_fields(r->fields, r->nfields);
		if (log_level >= LOG_LEVEL_DEBUG &&
		    (addr = req_find_var(r, "REMOTE_ADDR", 11)) != NULL)
			log_msg(LOG_LEVEL_DEBUG, r->id, "http: proxy headers "
			    "from %.*s ignored (not in --forwarded-allow-ips)",
			    (int)addr->value_len, addr->value);
		break;
	case FORWARDED_USED:
		for (i = 0; i < fw.nset; i++)
			if (req_add_var(r, fw.set[i].name, fw.set[i].name_len,
			    fw.set[i].value, fw.set[i].value_len) == -1)
				return -1;
		/* The fields as received keep the proxy's fields (as
		 * uvicorn's ProxyHeadersMiddleware does), but Host names
		 * the authority the client asked for, as HTTP_HOST. */
		if (r->fields != NULL && (host = req_find_var(r, "HTTP_HOST",
		    9)) != NULL && req_field_set(r, "host", 4, host->value,
		    host->value_len) == -1)
			return -1;
		break;
	}
	return 0;
}
