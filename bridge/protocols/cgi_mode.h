/*
 * CGI program mode (RFC 3875): a web server started bridge for one
 * request.  Variables come from the environment, the body from stdin,
 * the response goes to stdout in CGI form ("Status:" + headers).
 */
#ifndef BRIDGE_CGI_MODE_H
#define BRIDGE_CGI_MODE_H

/* True when the environment says a web server runs us as CGI. */
int cgi_mode_detect(void);

/* Serve the one request; returns the process exit status.  dropped is
 * what dropping privileges (--user) returned, priv_drop()'s 0 or -1 (then
 * the answer is 500). */
int cgi_mode_run(int dropped);

#endif /* BRIDGE_CGI_MODE_H */
