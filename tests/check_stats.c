/*
 * Unit tests of the request counters and their rendering:
 * bridge/gateway/scoreboard.c (what a worker records) and bridge/processes/stats.c (the
 * Prometheus exposition and the JSON of the status page).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "buf.h"
#include "listen.h"
#include "scoreboard.h"
#include "stats.h"

static void
board_setup(void)
{
	scoreboard_init(8);
	scoreboard_head()->workers = 2;
	scoreboard_slot(0)->state = SCOREBOARD_READY;
	scoreboard_slot(1)->state = SCOREBOARD_READY;
	scoreboard_attach(scoreboard_slot(0));
	nlisteners = 0;
}

static void
board_teardown(void)
{
	scoreboard_attach(NULL);
}

/* The rendering as a NUL-terminated string (freed by the caller). */
static char *
render(int (*fn)(struct buf *))
{
	struct buf b = { 0 };
	char *s;

	ck_assert_int_eq(fn(&b), 0);
	s = malloc(b.len + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, b.data + b.off, b.len);
	s[b.len] = '\0';
	buf_free(&b);
	return s;
}

static void
has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		ck_abort_msg("missing \"%s\" in:\n%s", line, text);
}

static void
request(int status, uint64_t bytes, uint64_t us)
{
	scoreboard_request_begin();
	scoreboard_request_end(status, bytes, us);
}

START_TEST(buckets_are_cumulative_with_inclusive_bounds)
{
	char *m;

	request(200, 10, 1000);		/* exactly 1 ms: le="0.001" */
	request(200, 10, 1001);
	request(404, 10, 250000);
	request(500, 10, 20000000);	/* beyond 10 s: +Inf only */
	m = render(stats_metrics);
	has(m, "# TYPE bridge_request_duration_seconds histogram\n");
	has(m, "bridge_request_duration_seconds_bucket{le=\"0.001\"} 1\n");
	has(m, "bridge_request_duration_seconds_bucket{le=\"0.005\"} 2\n");
	has(m, "bridge_request_duration_seconds_bucket{le=\"0.1\"} 2\n");
	has(m, "bridge_request_duration_seconds_bucket{le=\"0.25\"} 3\n");
	has(m, "bridge_request_duration_seconds_bucket{le=\"10\"} 3\n");
	has(m, "bridge_request_duration_seconds_bucket{le=\"+Inf\"} 4\n");
	has(m, "bridge_request_duration_seconds_sum 20.252001\n");
	has(m, "bridge_request_duration_seconds_count 4\n");
	has(m, "bridge_requests_total{code=\"2xx\"} 2\n");
	has(m, "bridge_requests_total{code=\"4xx\"} 1\n");
	has(m, "bridge_requests_total{code=\"5xx\"} 1\n");
	has(m, "bridge_response_bytes_total 40\n");
	has(m, "bridge_requests_in_flight 0\n");
	ck_assert_ptr_null(strstr(m, "code=\"other\""));
	free(m);
}
END_TEST

START_TEST(no_status_counts_as_other)
{
	char *m;

	request(0, 0, 5);
	request(1000, 0, 5);
	m = render(stats_metrics);
	has(m, "bridge_requests_total{code=\"other\"} 2\n");
	has(m, "bridge_request_duration_seconds_count 2\n");
	free(m);
}
END_TEST

START_TEST(in_flight_until_the_end)
{
	char *m;

	scoreboard_request_begin();
	scoreboard_request_begin();
	scoreboard_request_end(200, 1, 1);
	m = render(stats_metrics);
	has(m, "bridge_requests_in_flight 1\n");
	has(m, "bridge_request_duration_seconds_count 1\n");
	free(m);
}
END_TEST

START_TEST(not_counting_when_detached)
{
	char *m;

	scoreboard_attach(NULL);
	ck_assert_int_eq(scoreboard_counting(), 0);
	request(200, 10, 10);
	m = render(stats_metrics);
	has(m, "bridge_request_duration_seconds_count 0\n");
	free(m);
}
END_TEST

START_TEST(workers_states_and_counts)
{
	struct scoreboard_slot *s1 = scoreboard_slot(1);
	char *m;

	request(200, 1, 1);
	s1->busy_since = 12345;
	s1->restarts = 3;
	scoreboard_head()->restarts = 3;
	/* Removed by TTOU but still finishing: shown. */
	scoreboard_slot(3)->state = SCOREBOARD_STARTING;
	m = render(stats_metrics);
	has(m, "bridge_workers 2\n");
	has(m, "bridge_restarts_total 3\n");
	has(m, "bridge_worker_state{worker=\"0\",state=\"idle\"} 1\n");
	has(m, "bridge_worker_state{worker=\"1\",state=\"busy\"} 1\n");
	has(m, "bridge_worker_state{worker=\"1\",state=\"idle\"} 0\n");
	has(m, "bridge_worker_state{worker=\"2\",state=\"starting\"} 1\n");
	has(m, "bridge_worker_state{worker=\"3\",state=\"starting\"} 1\n");
	ck_assert_ptr_null(strstr(m, "worker=\"4\""));
	has(m, "bridge_worker_requests_total{worker=\"0\"} 1\n");
	has(m, "bridge_worker_restarts_total{worker=\"1\"} 3\n");
	free(m);
}
END_TEST

START_TEST(json_quantiles_interpolate)
{
	char *j;
	int i;

	j = render(stats_json);
	has(j, "\"p50\":null,");
	free(j);
	/* Ten in (1 ms, 5 ms]: the median is halfway through it. */
	for (i = 0; i < 10; i++)
		request(200, 0, 3000);
	j = render(stats_json);
	has(j, "\"requests\":10,");
	has(j, "\"p50\":0.003000,");
	has(j, "\"p90\":0.004600,");
	free(j);
	/* Beyond the last bound: the last finite bound, 10 s. */
	for (i = 0; i < 90; i++)
		request(200, 0, 60000000);
	j = render(stats_json);
	has(j, "\"p99\":10.000000,");
	free(j);
}
END_TEST

START_TEST(listener_names_are_escaped)
{
	char *j;

	nlisteners = 1;
	listeners[0].fd = -1;	/* no queue to report */
	snprintf(listeners[0].name, sizeof(listeners[0].name),
	    "unix:/a\"b\\c\nd");
	j = render(stats_json);
	has(j, "\"listeners\":[{\"name\":\"unix:/a\\\"b\\\\c\\nd\"}]");
	free(j);
	j = render(stats_metrics);
	ck_assert_ptr_null(strstr(j, "bridge_listen_queue{"));
	has(j, "# TYPE bridge_listen_queue gauge\n");
	free(j);
}
END_TEST

static Suite *
stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *t = tcase_create("scoreboard");

	tcase_add_checked_fixture(t, board_setup, board_teardown);
	tcase_add_test(t, buckets_are_cumulative_with_inclusive_bounds);
	tcase_add_test(t, no_status_counts_as_other);
	tcase_add_test(t, in_flight_until_the_end);
	tcase_add_test(t, not_counting_when_detached);
	tcase_add_test(t, workers_states_and_counts);
	tcase_add_test(t, json_quantiles_interpolate);
	tcase_add_test(t, listener_names_are_escaped);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
