/*
 * Unit tests of the per-request memory: bridge/core/pool.c (arena and
 * cleanups), bridge/core/buf.c (growable buffer with a read offset) and
 * bridge/gateway/body.c (request body, spooled to a temp file above a threshold).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "body.h"
#include "buf.h"
#include "pool.h"

/*
 * pool
 */

START_TEST(pool_alloc_aligned)
{
	struct pool *p = pool_create();
	size_t n;
	void *a;

	ck_assert_ptr_nonnull(p);
	for (n = 0; n < 3000; n++) {
		a = pool_alloc(p, n % 97);
		ck_assert_ptr_nonnull(a);
		ck_assert_uint_eq((uintptr_t)a % 16, 0);
		memset(a, 0x11, n % 97);
	}
	pool_destroy(p);
}
END_TEST

START_TEST(pool_allocations_disjoint)
{
	struct pool *p = pool_create();
	unsigned char *a[200];
	size_t sz[200], i, k;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < 200; i++) {
		sz[i] = 1 + (i * 37) % 3000;
		a[i] = pool_alloc(p, sz[i]);
		ck_assert_ptr_nonnull(a[i]);
		memset(a[i], (int)i, sz[i]);
	}
	for (i = 0; i < 200; i++)
		for (k = 0; k < sz[i]; k++)
			ck_assert_uint_eq(a[i][k], (unsigned char)i);
	pool_destroy(p);
}
END_TEST

START_TEST(pool_big_allocations)
{
	struct pool *p = pool_create();
	unsigned char *small1, *big, *small2;

	ck_assert_ptr_nonnull(p);
	small1 = pool_alloc(p, 10);
	big = pool_alloc(p, 1 << 20);
	ck_assert_ptr_nonnull(big);
	ck_assert_uint_eq((uintptr_t)big % 16, 0);
	memset(big, 0xab, 1 << 20);
	/* The chunk in use keeps serving small requests after a big one. */
	small2 = pool_alloc(p, 10);
	ck_assert_ptr_nonnull(small2);
	ck_assert_ptr_eq(small2, small1 + 16);
	ck_assert_uint_eq(big[(1 << 20) - 1], 0xab);
	/* Exactly around the chunk size. */
	ck_assert_ptr_nonnull(pool_alloc(p, 2048));
	ck_assert_ptr_nonnull(pool_alloc(p, 2049));
	ck_assert_ptr_nonnull(pool_alloc(p, 4096));
	ck_assert_ptr_nonnull(pool_alloc(p, 4097));
	pool_destroy(p);
}
END_TEST

/*
 * A request for close to SIZE_MAX bytes must fail: rounding it up to
 * the alignment wraps to 0, which is then served as a 16-byte block.
 */
START_TEST(pool_alloc_huge_fails)
{
	struct pool *p = pool_create();

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(pool_alloc(p, SIZE_MAX / 2));
	ck_assert_ptr_null(pool_alloc(p, SIZE_MAX - 4096));
	ck_assert_ptr_null(pool_alloc(p, SIZE_MAX - 8));
	ck_assert_ptr_null(pool_alloc(p, SIZE_MAX));
	ck_assert_ptr_null(pool_strndup(p, "x", SIZE_MAX));
	pool_destroy(p);
}
END_TEST

START_TEST(pool_strndup_copies)
{
	struct pool *p = pool_create();
	char src[] = "hello\0world";
	char *d;

	ck_assert_ptr_nonnull(p);
	d = pool_strndup(p, src, 11);
	ck_assert_ptr_nonnull(d);
	ck_assert_mem_eq(d, "hello\0world", 11);
	ck_assert_int_eq(d[11], '\0');
	d = pool_strndup(p, src, 3);
	ck_assert_str_eq(d, "hel");
	d = pool_strndup(p, "", 0);
	ck_assert_str_eq(d, "");
	memset(src, 'x', sizeof(src));
	pool_destroy(p);
}
END_TEST

static char order[32];

static void
note(void *arg)
{
	size_t n = strlen(order);

	order[n] = *(const char *)arg;
	order[n + 1] = '\0';
}

static struct pool *again_pool;

static void
register_more(void *arg)
{
	note(arg);
	pool_cleanup(again_pool, note, (void *)"z");
}

START_TEST(pool_cleanups_reverse_order)
{
	struct pool *p = pool_create();

	ck_assert_ptr_nonnull(p);
	order[0] = '\0';
	ck_assert_int_eq(pool_cleanup(p, note, (void *)"a"), 0);
	ck_assert_int_eq(pool_cleanup(p, note, (void *)"b"), 0);
	/* Allocations between cleanups do not disturb them. */
	ck_assert_ptr_nonnull(pool_alloc(p, 100000));
	ck_assert_ptr_nonnull(pool_alloc(p, 3000));
	ck_assert_int_eq(pool_cleanup(p, note, (void *)"c"), 0);
	ck_assert_str_eq(order, "");
	pool_destroy(p);
	ck_assert_str_eq(order, "cba");
	pool_destroy(NULL);
}
END_TEST

START_TEST(pool_cleanup_registering_cleanup_runs_it)
{
	struct pool *p = pool_create();

	ck_assert_ptr_nonnull(p);
	order[0] = '\0';
	again_pool = p;
	ck_assert_int_eq(pool_cleanup(p, note, (void *)"a"), 0);
	ck_assert_int_eq(pool_cleanup(p, register_more, (void *)"m"), 0);
	pool_destroy(p);
	ck_assert_str_eq(order, "mza");
}
END_TEST

/*
 * buf
 */

static int
buf_is(const struct buf *b, const void *want, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->data + b->off, want, n) ==
	    0);
}

START_TEST(buf_append_consume)
{
	struct buf b = { 0 };

	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_ptr_null(b.data);
	ck_assert_int_eq(buf_append(&b, "hello ", 6), 0);
	ck_assert_int_eq(buf_append(&b, "world", 5), 0);
	ck_assert(buf_is(&b, "hello world", 11));
	buf_consume(&b, 6);
	ck_assert(buf_is(&b, "world", 5));
	ck_assert_uint_eq(b.off, 6);
	buf_consume(&b, 100);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.off, 0);
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.cap, 0);
	buf_free(&b);
}
END_TEST

START_TEST(buf_reserve_gives_room)
{
	struct buf b = { 0 };
	size_t n;

	for (n = 1; n < 100000; n = n * 3 + 1) {
		ck_assert_int_eq(buf_reserve(&b, n), 0);
		ck_assert_uint_ge(b.cap - b.off - b.len, n);
		memset(buf_tail(&b), 'r', n);
		b.len += n;
	}
	buf_free(&b);
	/* Impossible sizes fail cleanly. */
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -1);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX / 2), -1);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(buf_slide_before_grow)
{
	struct buf b = { 0 };
	uint8_t *data;
	size_t cap;

	ck_assert_int_eq(buf_reserve(&b, 1000), 0);
	cap = b.cap;
	memset(buf_tail(&b), 'x', cap);
	b.len = cap;
	memcpy(b.data + cap - 4, "tail", 4);
	buf_consume(&b, cap - 4);
	data = b.data;
	/* Room exists once the unread bytes slide to the front. */
	ck_assert_int_eq(buf_reserve(&b, cap - 4), 0);
	ck_assert_ptr_eq(b.data, data);
	ck_assert_uint_eq(b.cap, cap);
	ck_assert_uint_eq(b.off, 0);
	ck_assert(buf_is(&b, "tail", 4));
	/* Then it has to grow, and keeps the bytes. */
	ck_assert_int_eq(buf_reserve(&b, cap), 0);
	ck_assert_uint_gt(b.cap, cap);
	ck_assert(buf_is(&b, "tail", 4));
	buf_free(&b);
}
END_TEST

START_TEST(buf_random_ops_match_model)
{
	struct buf b = { 0 };
	static uint8_t model[1 << 20], tmp[5000];
	size_t mlen = 0, n, i;
	int step;

	srand(12345);
	for (step = 0; step < 20000; step++) {
		if (rand() % 3 != 0 && mlen + sizeof(tmp) < sizeof(model)) {
			n = (size_t)rand() % sizeof(tmp);
			for (i = 0; i < n; i++)
				tmp[i] = (uint8_t)rand();
			ck_assert_int_eq(buf_append(&b, tmp, n), 0);
			memcpy(model + mlen, tmp, n);
			mlen += n;
		} else {
			n = (size_t)rand() % (mlen + 10);
			buf_consume(&b, n);
			if (n >= mlen)
				mlen = 0;
			else {
				memmove(model, model + n, mlen - n);
				mlen -= n;
			}
		}
		ck_assert(buf_is(&b, model, mlen));
		ck_assert_uint_le(b.off + b.len, b.cap);
	}
	buf_free(&b);
}
END_TEST

/*
 * body
 */

#define THRESHOLD 4096

static void
body_reset(void)
{
	body_configure(THRESHOLD, "/tmp");
}

static void
body_restore(void)
{
	body_configure(64 * 1024, "/tmp");
}

/* Sizes around the threshold, appended in pieces of the given size. */
static const size_t body_sizes[] = { 0, 1, THRESHOLD - 1, THRESHOLD,
	THRESHOLD + 1, 2 * THRESHOLD, 100000 };
static const size_t body_pieces[] = { 1, 7, 1000, THRESHOLD, 65536 };
#define NPIECES (sizeof(body_pieces) / sizeof(body_pieces[0]))

START_TEST(body_spill_and_read_back)
{
	size_t size = body_sizes[_i / NPIECES], piece = body_pieces[_i %
	    NPIECES], i, n, have = 0;
	unsigned char *data = malloc(size + 1), *got = malloc(size + 100);
	struct body b;
	ssize_t k;

	ck_assert(data != NULL && got != NULL);
	srand((unsigned)_i);
	for (i = 0; i < size; i++)
		data[i] = (unsigned char)rand();
	body_init(&b);
	for (i = 0; i < size; i += n) {
		n = size - i < piece ? size - i : piece;
		ck_assert_int_eq(body_append(&b, data + i, n), 0);
		/* In memory up to the threshold, on disk past it. */
		if (i + n <= THRESHOLD)
			ck_assert_int_eq(b.fd, -1);
		else
			ck_assert_int_ne(b.fd, -1);
	}
	ck_assert_uint_eq(b.len, size);
	if (b.fd != -1)
		ck_assert_ptr_null(b.mem.data);
	/* Read back in odd sizes; never past the end. */
	memset(got, 0x77, size + 100);
	while ((k = body_read(&b, got + have, 1 + have % 3000)) > 0)
		have += (size_t)k;
	ck_assert_int_eq(k, 0);
	ck_assert_uint_eq(have, size);
	ck_assert(size == 0 || memcmp(got, data, size) == 0);
	ck_assert_uint_eq(got[size], 0x77);
	ck_assert_int_eq(body_read(&b, got, 100), 0);
	body_free(&b);
	ck_assert_int_eq(b.fd, -1);
	ck_assert_uint_eq(b.len, 0);
	free(data);
	free(got);
}
END_TEST

START_TEST(body_spill_file_is_anonymous)
{
	static unsigned char big[THRESHOLD + 1];
	struct body b;
	char path[64], link[4096];
	ssize_t n;

	body_init(&b);
	ck_assert_int_eq(body_append(&b, big, sizeof(big)), 0);
	ck_assert_int_ne(b.fd, -1);
	/* Unlinked or O_TMPFILE: nothing left behind in the spool dir. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b.fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		ck_assert_msg(strstr(link, "(deleted)") != NULL,
		    "spool file %s still has a name", link);
	}
	body_free(&b);
}
END_TEST

START_TEST(body_spill_fails_on_bad_dir)
{
	static unsigned char big[THRESHOLD + 1];
	struct body b;

	body_configure(THRESHOLD, "/nonexistent/spool");
	body_init(&b);
	ck_assert_int_eq(body_append(&b, big, 10), 0);
	ck_assert_int_eq(body_append(&b, big, sizeof(big)), -1);
	/* What was stored is still there. */
	ck_assert_uint_eq(b.len, 10);
	ck_assert_int_eq(b.fd, -1);
	body_free(&b);
}
END_TEST

static Suite *
pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *pool = tcase_create("pool");
	TCase *buf = tcase_create("buf");
	TCase *body = tcase_create("body");

	tcase_add_test(pool, pool_alloc_aligned);
	tcase_add_test(pool, pool_allocations_disjoint);
	tcase_add_test(pool, pool_big_allocations);
	tcase_add_test(pool, pool_alloc_huge_fails);
	tcase_add_test(pool, pool_strndup_copies);
	tcase_add_test(pool, pool_cleanups_reverse_order);
	tcase_add_test(pool, pool_cleanup_registering_cleanup_runs_it);
	suite_add_tcase(s, pool);

	tcase_add_test(buf, buf_append_consume);
	tcase_add_test(buf, buf_reserve_gives_room);
	tcase_add_test(buf, buf_slide_before_grow);
	tcase_add_test(buf, buf_random_ops_match_model);
	/* Check's default 4 s is short for the random walk under ASan on
	 * a loaded 2-core machine. */
	tcase_set_timeout(buf, 60);
	suite_add_tcase(s, buf);

	tcase_add_checked_fixture(body, body_reset, body_restore);
	tcase_add_loop_test(body, body_spill_and_read_back, 0,
	    (int)(sizeof(body_sizes) / sizeof(body_sizes[0]) * NPIECES));
	tcase_add_test(body, body_spill_file_is_anonymous);
	tcase_add_test(body, body_spill_fails_on_bad_dir);
	suite_add_tcase(s, body);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
