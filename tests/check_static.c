/*
 * Unit tests for the pure parts of --static-map (bridge/gateway/static_parse.c,
 * and the MIME table of bridge/gateway/static.c): path decoding and confinement,
 * Range (RFC 9110 section 14), validators (section 8.8, 13), dates and
 * Accept-Encoding (section 12.5.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "static.h"

#define S(x) (x), strlen(x)

START_TEST(path_decode_refuses_nul_and_broken_escapes)
{
	char out[64];
	int enc;

	/* The query is not decoded. */
	ck_assert_int_eq(static_path_decode(S("/a%2e%2E/b?x=%00"), out, &enc),
	    6);
	ck_assert(memcmp(out, "/a../b", 6) == 0);
	ck_assert_int_eq(enc, 0);
	ck_assert_int_eq(static_path_decode(S("/a%00b"), out, &enc), -1);
	ck_assert_int_eq(static_path_decode(S("/a%2"), out, &enc), -1);
	ck_assert_int_eq(static_path_decode(S("/a%zz"), out, &enc), -1);
	ck_assert_int_eq(static_path_decode(S("/a%2fb"), out, &enc), 4);
	ck_assert_int_eq(enc, 1);
}
END_TEST

START_TEST(path_check_refuses_dot_segments_and_directories)
{
	ck_assert_int_eq(static_path_check(S("a.css")), 0);
	ck_assert_int_eq(static_path_check(S("css/a.min.css")), 0);
	ck_assert_int_eq(static_path_check(S("..a/b..")), 0);
	ck_assert_int_eq(static_path_check(S("..")), -1);
	ck_assert_int_eq(static_path_check(S("a/../b")), -1);
	ck_assert_int_eq(static_path_check(S("a/./b")), -1);
	ck_assert_int_eq(static_path_check(S("a/..")), -1);
	ck_assert_int_eq(static_path_check(S("a/")), -1);
	ck_assert_int_eq(static_path_check(S("a\\..\\b")), -1);
	ck_assert_int_eq(static_path_check("", 0), -1);
}
END_TEST

static enum static_range
range(const char *v, off_t size, off_t *a, off_t *b)
{
	*a = *b = -7;
	return static_range_parse(v, strlen(v), size, a, b);
}

START_TEST(range_single_suffix_open_and_clamped)
{
	off_t a, b;

	ck_assert_int_eq(range("bytes=0-9", 100, &a, &b), STATIC_RANGE_OK);
	ck_assert(a == 0 && b == 9);
	ck_assert_int_eq(range("bytes=90-", 100, &a, &b), STATIC_RANGE_OK);
	ck_assert(a == 90 && b == 99);
	ck_assert_int_eq(range("bytes=90-1000", 100, &a, &b),
	    STATIC_RANGE_OK);
	ck_assert(a == 90 && b == 99);
	ck_assert_int_eq(range("bytes=-10", 100, &a, &b), STATIC_RANGE_OK);
	ck_assert(a == 90 && b == 99);
	ck_assert_int_eq(range("bytes=-1000", 100, &a, &b), STATIC_RANGE_OK);
	ck_assert(a == 0 && b == 99);
	ck_assert_int_eq(range("Bytes = 5-5 ", 100, &a, &b),
	    STATIC_RANGE_OK);
	ck_assert(a == 5 && b == 5);
}
END_TEST

START_TEST(range_unsatisfiable_and_ignored)
{
	off_t a, b;

	ck_assert_int_eq(range("bytes=100-", 100, &a, &b),
	    STATIC_RANGE_UNSATISFIABLE);
	ck_assert_int_eq(range("bytes=-0", 100, &a, &b),
	    STATIC_RANGE_UNSATISFIABLE);
	ck_assert_int_eq(range("bytes=0-", 0, &a, &b),
	    STATIC_RANGE_UNSATISFIABLE);
	/* Ignored: the whole representation is sent (section 14.2). */
	ck_assert_int_eq(range("bytes=0-1,5-6", 100, &a, &b),
	    STATIC_RANGE_NONE);
	ck_assert_int_eq(range("bytes=5-4", 100, &a, &b), STATIC_RANGE_NONE);
	ck_assert_int_eq(range("items=0-1", 100, &a, &b), STATIC_RANGE_NONE);
	ck_assert_int_eq(range("bytes=", 100, &a, &b), STATIC_RANGE_NONE);
	ck_assert_int_eq(range("bytes=-", 100, &a, &b), STATIC_RANGE_NONE);
	ck_assert_int_eq(range("bytes=a-b", 100, &a, &b), STATIC_RANGE_NONE);
	ck_assert_int_eq(range("bytes=99999999999999999999-", 100, &a, &b),
	    STATIC_RANGE_NONE);
}
END_TEST

START_TEST(etag_differs_by_coding_and_matches_weakly)
{
	char plain[64], gz[64];

	static_etag(plain, sizeof(plain), 0x5f000000, 1234, NULL);
	static_etag(gz, sizeof(gz), 0x5f000000, 1234, "gzip");
	ck_assert_str_eq(plain, "\"5f000000-4d2\"");
	ck_assert_str_ne(plain, gz);
	ck_assert(static_etag_match(S("\"5f000000-4d2\""), plain));
	ck_assert(static_etag_match(S("\"x\", W/\"5f000000-4d2\""), plain));
	ck_assert(static_etag_match(S("*"), plain));
	ck_assert(!static_etag_match(S("\"5f000000-4d2\""), gz));
	ck_assert(!static_etag_match(S("\"5f000000-4d"), plain));
	ck_assert(!static_etag_match(S(""), plain));
}
END_TEST

START_TEST(dates_round_trip_and_junk_is_refused)
{
	char out[32];
	time_t t;

	static_date_format(out, 784111777);
	ck_assert_str_eq(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	ck_assert_int_eq(static_date_parse(S(out), &t), 0);
	ck_assert(t == 784111777);
	ck_assert_int_eq(static_date_parse(S("Sunday, 06-Nov-94 08:49:37 GMT"),
	    &t), -1);
	ck_assert_int_eq(static_date_parse(S("Sun, 06 Nov 1994 25:49:37 GMT"),
	    &t), -1);
	ck_assert_int_eq(static_date_parse(S("Sun, 06 Xyz 1994 08:49:37 GMT"),
	    &t), -1);
}
END_TEST

START_TEST(accept_encoding_q_values)
{
	ck_assert(static_accepts(S("gzip, deflate, br"), "gzip"));
	ck_assert(static_accepts(S("deflate, BR;q=0.5"), "br"));
	ck_assert(!static_accepts(S("deflate"), "gzip"));
	ck_assert(!static_accepts(S("gzip;q=0"), "gzip"));
	ck_assert(!static_accepts(S("gzip; q=0.000"), "gzip"));
	ck_assert(static_accepts(S("gzip;q=0.001"), "gzip"));
	ck_assert(static_accepts(S("*"), "br"));
	ck_assert(!static_accepts(S("*, gzip;q=0"), "gzip"));
	ck_assert(!static_accepts(S("gzipx"), "gzip"));
}
END_TEST

START_TEST(mime_table_first_line_wins_and_default)
{
	char path[] = "/tmp/check_static_mime.XXXXXX";
	int fd = mkstemp(path);
	const char *tbl = "# comment\ntext/css css\n"
	    "application/x-one one two\ntext/other css\n";

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, tbl, strlen(tbl)), (ssize_t)strlen(tbl));
	close(fd);
	ck_assert_int_eq(static_mime_load(path), 0);
	unlink(path);
	ck_assert_str_eq(static_mime_type(S("a/b.CSS")), "text/css");
	ck_assert_str_eq(static_mime_type(S("x.two")), "application/x-one");
	ck_assert_str_eq(static_mime_type(S("x.three")),
	    "application/octet-stream");
	ck_assert_str_eq(static_mime_type(S("noext")),
	    "application/octet-stream");
	ck_assert_str_eq(static_mime_type(S("dir.css/file")),
	    "application/octet-stream");
}
END_TEST

static Suite *
static_suite(void)
{
	Suite *s = suite_create("static");
	TCase *t = tcase_create("parse");

	tcase_add_test(t, path_decode_refuses_nul_and_broken_escapes);
	tcase_add_test(t, path_check_refuses_dot_segments_and_directories);
	tcase_add_test(t, range_single_suffix_open_and_clamped);
	tcase_add_test(t, range_unsatisfiable_and_ignored);
	tcase_add_test(t, etag_differs_by_coding_and_matches_weakly);
	tcase_add_test(t, dates_round_trip_and_junk_is_refused);
	tcase_add_test(t, accept_encoding_q_values);
	tcase_add_test(t, mime_table_first_line_wins_and_default);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(static_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
