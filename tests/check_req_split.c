/*
 * Unit tests of the FastCGI split rule (bridge/gateway/req_split.c): a split that
 * carries no information (PATH_INFO absent or empty, SCRIPT_NAME the
 * whole path of REQUEST_URI, as sent or as nginx and Apache normalize
 * it) is redone at the mount; every other split is kept as sent.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "req.h"
#include "req_split.h"

static const struct resp_sink sink;
static struct req *r;

static void
setup(void)
{
	ck_assert_ptr_nonnull(r = req_create(&sink, NULL));
}

static void
teardown(void)
{
	req_destroy(r);
	r = NULL;
}

static void
set(const char *name, const char *value)
{
	ck_assert_int_eq(req_add_var(r, name, strlen(name), value,
	    strlen(value)), 0);
}

static const char *
get(const char *name)
{
	const struct bg_var *v = req_find_var(r, name, strlen(name));

	return v != NULL ? v->value : NULL;
}

/* SCRIPT_NAME sn, PATH_INFO pi (NULL: absent), REQUEST_URI uri, split
 * at mount: expect status and the two variables. */
static void
check(const char *sn, const char *pi, const char *uri, const char *mount,
    int status, const char *want_sn, const char *want_pi)
{
	set("SCRIPT_NAME", sn);
	if (pi != NULL)
		set("PATH_INFO", pi);
	if (uri != NULL)
		set("REQUEST_URI", uri);
	ck_assert_int_eq(req_split(r, mount), status);
	ck_assert_str_eq(get("SCRIPT_NAME"), want_sn);
	if (want_pi == NULL)
		ck_assert_ptr_null(get("PATH_INFO"));
	else
		ck_assert_str_eq(get("PATH_INFO"), want_pi);
}

START_TEST(nginx_stock_params_mounted_at_root)
{
	check("/json", NULL, "/json?q=1", NULL, 0, "", "/json");
}
END_TEST

START_TEST(root_path)
{
	check("/", "", "/", NULL, 0, "", "/");
}
END_TEST

START_TEST(percent_decoded_path)
{
	check("/a b/\xc3\xa9", "", "/a%20b/%C3%A9", NULL, 0, "",
	    "/a b/\xc3\xa9");
}
END_TEST

START_TEST(normalized_path_nginx_apache)
{
	check("/a/c/d", "", "/a//b/../c/./d?x", NULL, 0, "", "/a/c/d");
}
END_TEST

START_TEST(dot_segments_to_root)
{
	check("/", "", "/a/..", NULL, 0, "", "/");
}
END_TEST

START_TEST(absolute_form_uri)
{
	check("/x", NULL, "http://example.org/x?y", NULL, 0, "", "/x");
}
END_TEST

START_TEST(mount_prefix)
{
	check("/app/json", NULL, "/app/json", "/app", 0, "/app", "/json");
}
END_TEST

START_TEST(mount_itself)
{
	check("/app", "", "/app", "/app", 0, "/app", "");
}
END_TEST

START_TEST(outside_mount_404)
{
	check("/application", NULL, "/application", "/app", 404,
	    "/application", NULL);
}
END_TEST

START_TEST(explicit_split_kept)
{
	check("/app", "/json", "/app/json", NULL, 0, "/app", "/json");
}
END_TEST

START_TEST(front_controller_kept)
{
	/* try_files ... /index.php: SCRIPT_NAME is not the request path */
	check("/index.php", "", "/blog/post", NULL, 0, "/index.php", "");
}
END_TEST

START_TEST(no_request_uri_kept)
{
	check("/json", NULL, NULL, NULL, 0, "/json", NULL);
}
END_TEST

START_TEST(broken_escape_kept)
{
	check("/a%zz", NULL, "/a%zz", NULL, 0, "/a%zz", NULL);
}
END_TEST

START_TEST(empty_script_name_kept)
{
	check("", "", "/", NULL, 0, "", "");
}
END_TEST

static Suite *
req_split_suite(void)
{
	Suite *s = suite_create("req_split");
	TCase *tc = tcase_create("split");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nginx_stock_params_mounted_at_root);
	tcase_add_test(tc, root_path);
	tcase_add_test(tc, percent_decoded_path);
	tcase_add_test(tc, normalized_path_nginx_apache);
	tcase_add_test(tc, dot_segments_to_root);
	tcase_add_test(tc, absolute_form_uri);
	tcase_add_test(tc, mount_prefix);
	tcase_add_test(tc, mount_itself);
	tcase_add_test(tc, outside_mount_404);
	tcase_add_test(tc, explicit_split_kept);
	tcase_add_test(tc, front_controller_kept);
	tcase_add_test(tc, no_request_uri_kept);
	tcase_add_test(tc, broken_escape_kept);
	tcase_add_test(tc, empty_script_name_kept);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(req_split_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
