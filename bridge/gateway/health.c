/*
 * --health-path: the load balancer's probe (see health.h).  RFC 9110
 * section 15.6.4: 503 says the condition is temporary, which is what a
 * draining host is; balancers take any non-2xx/3xx as "down".
 */
#include <string.h>

#include "config.h"
#include "health.h"
#include "req.h"
#include "scoreboard.h"

int
health_match(struct req *r)
{
	const struct bg_var *sn, *pi;
	size_t len, snl, pil;

	if (config.health_path == NULL)
		return 0;
	len = strlen(config.health_path);
	sn = req_find_var(r, "SCRIPT_NAME", 11);
	pi = req_find_var(r, "PATH_INFO", 9);
	snl = sn != NULL ? sn->value_len : 0;
	pil = pi != NULL ? pi->value_len : 0;
	if (snl + pil != len)
		return 0;
	return (snl == 0 || memcmp(sn->value, config.health_path, snl) == 0)
	    && (pil == 0 || memcmp(pi->value, config.health_path + snl, pil)
	    == 0);
}

int
health_stopping(void)
{
	struct scoreboard_head *h = scoreboard_head();

	return h != NULL && h->stopping;
}

enum req_outcome
health_respond(struct req *r)
{
	static const struct bg_header head[] = {
		{ "Content-Type", 12, "text/plain", 10 },
		{ "Content-Length", 14, NULL, 0 },
		{ "Cache-Control", 13, "no-store", 8 },
	};
	struct bg_header h[3];
	const char *body;
	int status;

	memcpy(h, head, sizeof(h));
	if (health_stopping()) {
		status = 503;
		body = "stopping\n";
		h[1].value = "9";
	} else {
		status = 200;
		body = "ok\n";
		h[1].value = "3";
	}
	h[1].value_len = 1;
	if (req_server.start_response((bg_request *)r, status, NULL, h, 3,
	    0) == -1 || req_server.write((bg_request *)r, body,
	    strlen(body)) == -1 || r->failed)
		return REQ_CUT;
	return REQ_COMPLETE;
}
