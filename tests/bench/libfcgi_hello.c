/*
 * libfcgi hello world: the FastCGI peer of tests/bench/run.sh.
 *
 *	cc -O2 -o libfcgi_hello libfcgi_hello.c -lfcgi
 *	spawn-fcgi -F 2 -s /tmp/libfcgi.sock -- ./libfcgi_hello
 *
 * The classic libfcgi serving loop: one blocking FCGX_Accept_r per process,
 * the listening socket inherited on fd 0 from spawn-fcgi. It answers every
 * request with the same body as examples/native/hello.c so that the bytes
 * on the wire match bridge's.
 */
#include <stdio.h>
#include <stdlib.h>

#include <fcgiapp.h>

int
main(void)
{
	static const char resp[] =
	    "Content-Type: text/plain\r\n\r\nHello, world!\n";
	FCGX_Request req;

	if (FCGX_Init() != 0) {
		fprintf(stderr, "libfcgi_hello: FCGX_Init failed\n");
		return EXIT_FAILURE;
	}
	if (FCGX_InitRequest(&req, 0, 0) != 0) {
		fprintf(stderr, "libfcgi_hello: FCGX_InitRequest failed\n");
		return EXIT_FAILURE;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(resp, (int)sizeof(resp) - 1, req.out);
		FCGX_Finish_r(&req);
	}
	return EXIT_SUCCESS;
}
