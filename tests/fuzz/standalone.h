/*
 * main() for a fuzz target built without libFuzzer (-DFUZZ_STANDALONE):
 * runs LLVMFuzzerTestOneInput once over each file named on the command
 * line, or over standard input when there is none.  Each input gets a
 * buffer of its exact size, so that ASan sees an over-read.  Included by
 * every target under tests/fuzz/ after its LLVMFuzzerTestOneInput.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int
standalone_run(FILE *f, const char *name)
{
	size_t cap = 4096, n = 0, got;
	uint8_t *buf = malloc(cap), *p;

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap && (p = realloc(buf, cap *= 2)) != NULL)
			buf = p;
		else if (n == cap)
			break;
	}
	if (buf == NULL || ferror(f)) {
		perror(name);
		free(buf);
		return 1;
	}
	/* Exact size: a copy that ends where the input ends. */
	if ((p = malloc(n > 0 ? n : 1)) == NULL) {
		free(buf);
		return 1;
	}
	memcpy(p, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(p, n);
	free(p);
	return 0;
}

int
main(int argc, char **argv)
{
	FILE *f;
	int i;

	if (argc == 1)
		return standalone_run(stdin, "stdin");
	for (i = 1; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			return 1;
		}
		if (standalone_run(f, argv[i]) != 0)
			return 1;
		fclose(f);
		printf("%s: ok\n", argv[i]);
	}
	return 0;
}
