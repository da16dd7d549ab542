/*
 * Unit tests of the FastCGI record codec (bridge/fcgi.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

START_TEST(record_roundtrip)
{
	uint8_t buf[8 + 5 + 3];
	struct fcgi_record rec;

	fcgi_put_header(buf, FCGI_STDIN, 0x1234, 5, 3);
	memcpy(buf + 8, "hello", 5);
	memset(buf + 13, 0, 3);
	ck_assert_int_eq(fcgi_parse_record(buf, sizeof(buf), &rec),
	    (int)sizeof(buf));
	ck_assert_int_eq(rec.type, FCGI_STDIN);
	ck_assert_int_eq(rec.id, 0x1234);
	ck_assert_int_eq(rec.content_len, 5);
	ck_assert_int_eq(rec.padding_len, 3);
	ck_assert_mem_eq(rec.content, "hello", 5);
}
END_TEST

START_TEST(record_every_split_needs_more)
{
	uint8_t buf[8 + 300 + 255];
	struct fcgi_record rec;
	size_t i;

	fcgi_put_header(buf, FCGI_PARAMS, 1, 300, 255);
	for (i = 0; i < sizeof(buf); i++)
		ck_assert_int_eq(fcgi_parse_record(buf, i, &rec),
		    FCGI_PARSE_AGAIN);
	ck_assert_int_eq(fcgi_parse_record(buf, sizeof(buf), &rec),
	    (int)sizeof(buf));
}
END_TEST

START_TEST(record_bad_version)
{
	uint8_t buf[8];
	struct fcgi_record rec;

	fcgi_put_header(buf, FCGI_STDIN, 1, 0, 0);
	buf[0] = 2;
	ck_assert_int_eq(fcgi_parse_record(buf, 8, &rec), FCGI_PARSE_BAD);
}
END_TEST

START_TEST(pair_short_and_long_lengths)
{
	uint8_t buf[600];
	char value[300];
	struct fcgi_pair p;
	size_t n, i;

	memset(value, 'v', sizeof(value));
	n = fcgi_put_pair(buf, sizeof(buf), "NAME", 4, value, sizeof(value));
	ck_assert_uint_eq(n, 1 + 4 + 4 + 300);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(fcgi_parse_pair(buf, i, &p, 1 << 20),
		    FCGI_PARSE_AGAIN);
	ck_assert_int_eq(fcgi_parse_pair(buf, n, &p, 1 << 20), (int)n);
	ck_assert_uint_eq(p.name_len, 4);
	ck_assert_uint_eq(p.value_len, 300);
	ck_assert_mem_eq(p.name, "NAME", 4);
}
END_TEST

START_TEST(pair_over_limit_is_bad)
{
	/* A four-byte length of 0x7fffffff must not be waited for. */
	uint8_t buf[] = { 0xff, 0xff, 0xff, 0xff, 0x01, 'a' };
	struct fcgi_pair p;

	ck_assert_int_eq(fcgi_parse_pair(buf, sizeof(buf), &p, 65536),
	    FCGI_PARSE_BAD);
}
END_TEST

static Suite *
fcgi_suite(void)
{
	Suite *s = suite_create("fcgi");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, record_roundtrip);
	tcase_add_test(tc, record_every_split_needs_more);
	tcase_add_test(tc, record_bad_version);
	tcase_add_test(tc, pair_short_and_long_lengths);
	tcase_add_test(tc, pair_over_limit_is_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fcgi_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
