/*
 * Unit tests of bridge/gateway/forwarded.c: the --forwarded-allow-ips list, which
 * peers it trusts, and what X-Forwarded-* and Forwarded (RFC 7239) make
 * of a request's variables.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <check.h>

#include "forwarded.h"

static struct forwarded_trust t;
static struct bg_var vars[16];
static size_t nvars;
static struct forwarded fw;

static void
trust(const char *list)
{
	char err[200];

	ck_assert_msg(forwarded_trust_parse(&t, list, err, sizeof(err)) == 0,
	    "%s: %s", list, err);
}

static void
var(const char *name, const char *value)
{
	ck_assert_uint_lt(nvars, 16);
	vars[nvars].name = name;
	vars[nvars].name_len = strlen(name);
	vars[nvars].value = value;
	vars[nvars].value_len = strlen(value);
	nvars++;
}

/* A request as the HTTP front end built it, from 127.0.0.1 on http. */
static void
setup(void)
{
	nvars = 0;
	trust(FORWARDED_DEFAULT);
	var("REQUEST_SCHEME", "http");
	var("REMOTE_ADDR", "127.0.0.1");
	var("REMOTE_PORT", "40000");
	var("SERVER_PORT", "8000");
	var("SERVER_NAME", "localhost");
	var("HTTP_HOST", "localhost");
}

/* The value resolve() set for name, or NULL. */
static const char *
got(const char *name)
{
	static char buf[300];
	size_t i;

	for (i = 0; i < fw.nset; i++)
		if (strcmp(fw.set[i].name, name) == 0) {
			snprintf(buf, sizeof(buf), "%.*s",
			    (int)fw.set[i].value_len, fw.set[i].value);
			return buf;
		}
	return NULL;
}

static enum forwarded_result
resolve(int trusted)
{
	return forwarded_resolve(&t, trusted, vars, nvars, &fw);
}

static int
trusts(const char *ip)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, ip, &in.sin_addr) == 1)
		return forwarded_trusts(&t, (struct sockaddr *)&in);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
	return forwarded_trusts(&t, (struct sockaddr *)&in6);
}

START_TEST(default_trusts_loopback_only)
{
	ck_assert(trusts("127.0.0.1"));
	ck_assert(trusts("::1"));
	ck_assert(trusts("::ffff:127.0.0.1"));
	ck_assert(!trusts("127.0.0.2"));
	ck_assert(!trusts("10.0.0.1"));
	ck_assert(!trusts("::2"));
}
END_TEST

START_TEST(networks_and_star)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	trust("10.0.0.0/8, 192.168.1.0/25,2001:db8::/32");
	ck_assert(trusts("10.255.1.2"));
	ck_assert(!trusts("11.0.0.1"));
	ck_assert(trusts("192.168.1.127"));
	ck_assert(!trusts("192.168.1.128"));
	ck_assert(trusts("2001:db8:1::5"));
	ck_assert(!trusts("2001:db9::5"));
	ck_assert(!trusts("127.0.0.1"));
	/* A unix socket peer is local, as Gunicorn trusts it. */
	ck_assert(forwarded_trusts(&t, (struct sockaddr *)&un));
	trust("*");
	ck_assert(trusts("203.0.113.9"));
	trust("");
	ck_assert(!trusts("127.0.0.1"));
}
END_TEST

START_TEST(bad_lists_are_refused_with_a_reason)
{
	static const char *const bad[] = { "localhost", "1.2.3", "10.0.0.0/33",
		"::1/129", "10.0.0.0/", "10.0.0.0/x", "1.2.3.4 5.6.7.8",
		"*x" };
	char err[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(forwarded_trust_parse(&t, bad[i], err,
		    sizeof(err)) == -1, "%s accepted", bad[i]);
		ck_assert_msg(err[0] != '\0', "%s: no reason", bad[i]);
	}
}
END_TEST

START_TEST(no_headers_nothing_to_do)
{
	ck_assert_int_eq(resolve(1), FORWARDED_NONE);
	ck_assert_int_eq(resolve(0), FORWARDED_NONE);
}
END_TEST

START_TEST(untrusted_peer_headers_dropped)
{
	var("HTTP_X_FORWARDED_PROTO", "https");
	var("HTTP_ACCEPT", "*/*");
	var("HTTP_X_FORWARDED_FOR", "1.2.3.4");
	var("HTTP_FORWARDED", "for=1.2.3.4");
	var("HTTP_X_REAL_IP", "1.2.3.4");
	ck_assert_int_eq(resolve(0), FORWARDED_UNTRUSTED);
	nvars = forwarded_strip(vars, nvars);
	ck_assert_uint_eq(nvars, 7);
	ck_assert_str_eq(vars[6].name, "HTTP_ACCEPT");
}
END_TEST

START_TEST(proxy_fields_by_name_and_mimics)
{
	struct bg_header f[] = {
		{ "Accept", 6, "", 0 },
		{ "X-Forwarded-For", 15, "", 0 },
		{ "x_forwarded_proto", 17, "", 0 },
		{ "FORWARDED", 9, "", 0 },
		{ "X-Real-Ip", 9, "", 0 },
		{ "X_REAL_IP", 9, "", 0 },
		{ "X-Forwarded-", 12, "", 0 },
		{ "Forwarded-X", 11, "", 0 },
		{ "X-Real-IPs", 10, "", 0 },
		{ "x-y", 3, "", 0 },
	};
	size_t n = sizeof(f) / sizeof(f[0]);

	ck_assert(forwarded_is_field("X_Forwarded_Host", 16));
	ck_assert(!forwarded_is_field("X-Forwarded", 11));
	n = forwarded_strip_fields(f, n);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(f[0].name, "Accept");
	ck_assert_str_eq(f[1].name, "X-Forwarded-");
	ck_assert_str_eq(f[2].name, "Forwarded-X");
	ck_assert_str_eq(f[3].name, "X-Real-IPs");
	ck_assert_str_eq(f[4].name, "x-y");
}
END_TEST

START_TEST(nginx_proxy_pass_https)
{
	/* conf/nginx-proxy.conf: X-Forwarded-For $proxy_add_x_forwarded_for,
	 * X-Forwarded-Proto $scheme, Host $host. */
	var("HTTP_X_FORWARDED_FOR", "203.0.113.7");
	var("HTTP_X_FORWARDED_PROTO", "https");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "203.0.113.7");
	ck_assert_ptr_null(got("REMOTE_PORT"));
	ck_assert_str_eq(got("REQUEST_SCHEME"), "https");
	ck_assert_str_eq(got("HTTPS"), "on");
	/* The scheme changed and no port was said: its default. */
	ck_assert_str_eq(got("SERVER_PORT"), "443");
	ck_assert_ptr_null(got("HTTP_HOST"));
}
END_TEST

START_TEST(same_scheme_keeps_port)
{
	var("HTTP_X_FORWARDED_PROTO", "http");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REQUEST_SCHEME"), "http");
	ck_assert_ptr_null(got("HTTPS"));
	ck_assert_ptr_null(got("SERVER_PORT"));
	ck_assert_ptr_null(got("REMOTE_ADDR"));
}
END_TEST

START_TEST(xff_walks_past_trusted_proxies)
{
	trust("127.0.0.1, 10.0.0.0/8");
	/* The client forged the first element; the nearest untrusted
	 * address is the one a trusted proxy saw. */
	var("HTTP_X_FORWARDED_FOR", "6.6.6.6, 198.51.100.2, 10.1.1.1");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "198.51.100.2");
}
END_TEST

START_TEST(xff_all_trusted_takes_leftmost)
{
	trust("*");
	var("HTTP_X_FORWARDED_FOR", "198.51.100.2,10.1.1.1 , 10.2.2.2");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "198.51.100.2");
}
END_TEST

START_TEST(xff_forms)
{
	static const char *const in[][2] = {
		{ "2001:db8::1", "2001:db8::1" },
		{ "[2001:db8::1]:4711", "2001:db8::1" },
		{ "192.0.2.1:1234", "192.0.2.1" },
		{ "::ffff:192.0.2.7", "192.0.2.7" },
		{ "  192.0.2.1  ", "192.0.2.1" },
	};
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		setup();
		var("HTTP_X_FORWARDED_FOR", in[i][0]);
		ck_assert_int_eq(resolve(1), FORWARDED_USED);
		ck_assert_str_eq(got("REMOTE_ADDR"), in[i][1]);
	}
	ck_assert_str_eq(got("REMOTE_ADDR"), "192.0.2.1");
}
END_TEST

START_TEST(xff_garbage_keeps_peer)
{
	static const char *const bad[] = { "unknown", "", "1.2.3.4.5",
		"1.2.3.4:99999", "[::1", "<script>", "1.2.3.4:", ",,," };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup();
		var("HTTP_X_FORWARDED_FOR", bad[i]);
		ck_assert_int_eq(resolve(1), FORWARDED_USED);
		ck_assert_msg(got("REMOTE_ADDR") == NULL, "%s gave %s",
		    bad[i], got("REMOTE_ADDR"));
	}
}
END_TEST

START_TEST(xff_garbage_behind_trusted_stops_there)
{
	trust("127.0.0.1, 10.0.0.0/8");
	var("HTTP_X_FORWARDED_FOR", "198.51.100.2, bogus, 10.1.1.1");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "10.1.1.1");
}
END_TEST

START_TEST(x_forwarded_host_and_port)
{
	var("HTTP_X_FORWARDED_HOST", "example.com:8443");
	var("HTTP_X_FORWARDED_PROTO", "https");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("HTTP_HOST"), "example.com:8443");
	ck_assert_str_eq(got("SERVER_NAME"), "example.com");
	ck_assert_str_eq(got("SERVER_PORT"), "8443");
	setup();
	var("HTTP_X_FORWARDED_HOST", "a.example, b.example");
	var("HTTP_X_FORWARDED_PORT", "9000");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("SERVER_NAME"), "b.example");
	ck_assert_str_eq(got("SERVER_PORT"), "9000");
	setup();
	var("HTTP_X_FORWARDED_HOST", "[2001:db8::1]:81");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("SERVER_NAME"), "[2001:db8::1]");
	ck_assert_str_eq(got("SERVER_PORT"), "81");
}
END_TEST

START_TEST(bad_host_port_proto_ignored)
{
	static const char *const hosts[] = { "evil.com/path", "a b",
		"user@host", "host:0", "host:x", "[zz]", "a:1:2", "" };
	size_t i;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		setup();
		var("HTTP_X_FORWARDED_HOST", hosts[i]);
		var("HTTP_X_FORWARDED_PORT", "65536");
		var("HTTP_X_FORWARDED_PROTO", "ftp");
		ck_assert_int_eq(resolve(1), FORWARDED_USED);
		ck_assert_msg(fw.nset == 0, "%s: %zu set", hosts[i], fw.nset);
	}
}
END_TEST

START_TEST(gunicorn_secure_scheme_headers)
{
	var("HTTP_X_FORWARDED_SSL", "on");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REQUEST_SCHEME"), "https");
	setup();
	var("HTTP_X_FORWARDED_PROTOCOL", "ssl");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REQUEST_SCHEME"), "https");
}
END_TEST

START_TEST(https_listener_told_http)
{
	vars[0].value = "https";
	vars[0].value_len = 5;
	var("HTTPS", "on");
	var("HTTP_X_FORWARDED_PROTO", "http");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REQUEST_SCHEME"), "http");
	ck_assert_str_eq(got("HTTPS"), "off");
	ck_assert_str_eq(got("SERVER_PORT"), "80");
}
END_TEST

START_TEST(rfc7239_forwarded)
{
	/* Section 7.1's examples, the nearest proxy trusted. */
	var("HTTP_FORWARDED", "for=\"_gazonk\"");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_ptr_null(got("REMOTE_ADDR"));
	setup();
	var("HTTP_FORWARDED", "For=\"[2001:db8:cafe::17]:4711\"");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "2001:db8:cafe::17");
	ck_assert_str_eq(got("REMOTE_PORT"), "4711");
	setup();
	var("HTTP_FORWARDED", "for=192.0.2.60;proto=https;by=203.0.113.43;"
	    "host=\"example.com\"");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "192.0.2.60");
	ck_assert_str_eq(got("REQUEST_SCHEME"), "https");
	ck_assert_str_eq(got("SERVER_NAME"), "example.com");
	ck_assert_str_eq(got("SERVER_PORT"), "443");
}
END_TEST

START_TEST(forwarded_chain_uses_the_client_element)
{
	trust("127.0.0.1, 10.0.0.0/8");
	var("HTTP_FORWARDED", "for=198.51.100.9;proto=https;host=shop.example,"
	    " for=10.0.0.5;proto=http;host=internal");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "198.51.100.9");
	ck_assert_str_eq(got("REQUEST_SCHEME"), "https");
	ck_assert_str_eq(got("HTTP_HOST"), "shop.example");
	/* The CDN not trusted: its word about the client is not taken. */
	setup();
	trust("127.0.0.1");
	var("HTTP_FORWARDED", "for=198.51.100.9;proto=https;host=shop.example,"
	    " for=10.0.0.5;proto=http;host=internal");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "10.0.0.5");
	ck_assert_str_eq(got("HTTP_HOST"), "internal");
	ck_assert_ptr_null(got("HTTPS"));
}
END_TEST

START_TEST(x_forwarded_wins_bad_forwarded_ignored)
{
	static const char *const bad[] = { "for", "for=", "for=\"1.2.3.4",
		"for=1.2.3.4;for=5.6.7.8", "=x", "for=a b", "for=1.2.3.4 x",
		"host=\"", "for=1.2.3.4;proto=https;host=a.example,=" };
	size_t i;

	/* nginx sets X-Forwarded-For and passes the client's Forwarded
	 * on: the client's word must not win. */
	var("HTTP_FORWARDED", "for=192.0.2.60;proto=https;host=evil.example");
	var("HTTP_X_FORWARDED_FOR", "192.0.2.99");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "192.0.2.99");
	ck_assert_ptr_null(got("REQUEST_SCHEME"));
	ck_assert_ptr_null(got("HTTP_HOST"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup();
		var("HTTP_FORWARDED", bad[i]);
		ck_assert_int_eq(resolve(1), FORWARDED_USED);
		ck_assert_msg(fw.nset == 0, "%s: %zu set", bad[i], fw.nset);
	}
}
END_TEST

START_TEST(quoted_values_and_long_lists)
{
	char list[4096], *p = list;
	int i;

	var("HTTP_FORWARDED", "for=\"192.0.2.\\61\";host=\"a,b.example\"");
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	ck_assert_str_eq(got("REMOTE_ADDR"), "192.0.2.61");
	/* host with a comma is not a host name: ignored. */
	ck_assert_ptr_null(got("HTTP_HOST"));
	/* 100 trusted hops: the walk stops after FORWARDED_HOPS_MAX. */
	setup();
	trust("*");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "%s10.0.%d.%d", i ? ", " : "", i / 256, i % 256);
	var("HTTP_X_FORWARDED_FOR", list);
	ck_assert_int_eq(resolve(1), FORWARDED_USED);
	snprintf(list, sizeof(list), "10.0.0.%d", 100 - FORWARDED_HOPS_MAX);
	ck_assert_str_eq(got("REMOTE_ADDR"), list);
}
END_TEST

static Suite *
forwarded_suite(void)
{
	Suite *s = suite_create("forwarded");
	TCase *tc = tcase_create("trust");
	TCase *r = tcase_create("resolve");

	tcase_add_test(tc, default_trusts_loopback_only);
	tcase_add_test(tc, networks_and_star);
	tcase_add_test(tc, bad_lists_are_refused_with_a_reason);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_checked_fixture(r, setup, NULL);
	tcase_add_test(r, no_headers_nothing_to_do);
	tcase_add_test(r, untrusted_peer_headers_dropped);
	tcase_add_test(r, nginx_proxy_pass_https);
	tcase_add_test(r, same_scheme_keeps_port);
	tcase_add_test(r, xff_walks_past_trusted_proxies);
	tcase_add_test(r, xff_all_trusted_takes_leftmost);
	tcase_add_test(r, xff_forms);
	tcase_add_test(r, xff_garbage_keeps_peer);
	tcase_add_test(r, xff_garbage_behind_trusted_stops_there);
	tcase_add_test(r, x_forwarded_host_and_port);
	tcase_add_test(r, bad_host_port_proto_ignored);
	tcase_add_test(r, gunicorn_secure_scheme_headers);
	tcase_add_test(r, https_listener_told_http);
	tcase_add_test(r, rfc7239_forwarded);
	tcase_add_test(r, proxy_fields_by_name_and_mimics);
	tcase_add_test(r, forwarded_chain_uses_the_client_element);
	tcase_add_test(r, x_forwarded_wins_bad_forwarded_ignored);
	tcase_add_test(r, quoted_values_and_long_lists);
	suite_add_tcase(s, r);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(forwarded_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
