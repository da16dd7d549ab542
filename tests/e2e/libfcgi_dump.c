/*
 * The libfcgi oracle of tests/e2e/test_differential.py: a FastCGI
 * responder built on libfcgi (the project's reference implementation,
 * DESIGN.md 5.1) that answers every request with what it received.
 *
 *	libfcgi_dump HOST:PORT | PATH
 *
 * Body of each response (Content-Type: application/octet-stream):
 *
 *	NAME=VALUE\n	every PARAMS pair, in arrival order (libfcgi's envp)
 *	\0\n		separator
 *	bytes		the whole STDIN stream
 *
 * so that the test can compare it with bridge's probe /env (params) and
 * /echo (stdin) for the same record stream.  Serves until killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

int
main(int argc, char **argv)
{
	static const char head[] =
	    "Content-Type: application/octet-stream\r\n\r\n";
	FCGX_Request req;
	char buf[65536], **e;
	int fd, n;

	if (argc != 2) {
		fprintf(stderr, "usage: libfcgi_dump HOST:PORT | PATH\n");
		return EXIT_FAILURE;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "libfcgi_dump: FCGX_Init failed\n");
		return EXIT_FAILURE;
	}
	if ((fd = FCGX_OpenSocket(argv[1], 16)) < 0) {
		fprintf(stderr, "libfcgi_dump: cannot listen on %s\n", argv[1]);
		return EXIT_FAILURE;
	}
	if (FCGX_InitRequest(&req, fd, 0) != 0) {
		fprintf(stderr, "libfcgi_dump: FCGX_InitRequest failed\n");
		return EXIT_FAILURE;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(head, (int)sizeof(head) - 1, req.out);
		for (e = req.envp; e != NULL && *e != NULL; e++) {
			FCGX_PutStr(*e, (int)strlen(*e), req.out);
			FCGX_PutChar('\n', req.out);
		}
		FCGX_PutStr("\0\n", 2, req.out);
		while ((n = FCGX_GetStr(buf, (int)sizeof(buf), req.in)) > 0)
			FCGX_PutStr(buf, n, req.out);
		FCGX_Finish_r(&req);
	}
	return EXIT_SUCCESS;
}
