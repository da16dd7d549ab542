/*
 * --health-path PATH: a probe a load balancer sends to tell whether this
 * host should get traffic, answered by the worker's loop without the
 * application (HAProxy's "option httpchk GET /healthz", a Kubernetes
 * probe, nginx through fastcgi_pass).
 *
 * The answer is 200 "ok" while bridge serves, and 503 "stopping" from the
 * moment the master is told to stop (TERM, INT, QUIT), through the
 * --shutdown-delay window and the drain that follows, so that a balancer
 * takes the host out of rotation before it goes.  A reload (HUP) or a
 * worker replaced on its own (--max-requests, --max-worker-memory) is not
 * a stop: the host serves on, and the probe says 200.
 *
 * Both front ends call health_match() once a request is whole and, when
 * it claims the request, health_respond() on the loop thread instead of
 * handing the request to the module; the response goes through the
 * request's sink like any other, so the access log and the scoreboard
 * count it as a request.
 */
#ifndef BRIDGE_HEALTH_H
#define BRIDGE_HEALTH_H

#include "req.h"

/*
 * 1 when r is a --health-path probe: its path, SCRIPT_NAME followed by
 * PATH_INFO (percent-decoded, dot-segments removed, as the application
 * would see it), is the configured path; the query is ignored.  0 when
 * --health-path is not set or the path differs.
 */
int health_match(struct req *r);

/* 1 from the moment the master started to stop, else 0. */
int health_stopping(void);

/*
 * Answer the probe r through its sink: 200 "ok\n", or 503 "stopping\n"
 * once health_stopping(), with Cache-Control: no-store.  The front end
 * frames it (and drops the body of a HEAD) as any response.  Returns
 * REQ_COMPLETE, or REQ_CUT when the sink failed.
 */
enum req_outcome health_respond(struct req *r);

#endif /* BRIDGE_HEALTH_H */
