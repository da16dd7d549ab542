/*
 * Unit tests of the worker's event loop (bridge/core/loop.c): its timers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "loop.h"

static int fired;

static void
count(void *arg)
{
	(void)arg;
	fired++;
}

/*
 * A timer armed for 0 ms after the round's clock reading (callbacks
 * that took a while, then asked for "as soon as possible": an ASGI
 * module's next asyncio turn) runs in the next round without a wait;
 * the loop used to wait out the time its callbacks had taken.
 */
START_TEST(zero_ms_timer_after_slow_round_runs_without_waiting)
{
	struct loop l;
	struct loop_mtimer t = { 0 };
	uint64_t t0, took;

	ck_assert_int_eq(loop_init(&l), 0);
	/* A slow round: the loop's clock stays where the round began. */
	usleep(1000 * 1000);
	t.fn = count;
	fired = 0;
	loop_mtimer_arm(&l, &t, 0);
	t0 = loop_clock_ms();
	ck_assert_int_eq(loop_run_once(&l, -1, NULL), 0);
	took = loop_clock_ms() - t0;
	ck_assert_int_eq(fired, 1);
	/* It waited a second before; half of that is a loose bound. */
	ck_assert_uint_lt(took, 500);
	loop_fini(&l);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("timers");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, zero_ms_timer_after_slow_round_runs_without_waiting);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
