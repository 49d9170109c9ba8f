/* leader: a table of lease timings (TTL, leading, the last renewal that succeeded, the last
 * request tried, now) with the step the renew thread takes, when it asks again, and whether the
 * replica may act; and the deadline always a third of the lease before etcd can expire it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "record/leader.h"

struct row {
	const char *what;
	struct leader_timing t;
	int64_t now;
	enum leader_step step;
	int64_t at; /* LEADER_WAIT: when to ask again */
	bool may_act;
};

static const struct row rows[] = {
	{"a replica that never asked campaigns at once", {3000, false, 0, 0}, 5, LEADER_CAMPAIGN,
	 0, false},
	{"a follower looks again a third of the lease later", {3000, false, 0, 1000}, 1500,
	 LEADER_WAIT, 2000, false},
	{"and then campaigns", {3000, false, 0, 1000}, 2000, LEADER_CAMPAIGN, 0, false},
	{"a long lease polls at most every 2 s", {60000, false, 0, 1000}, 2500, LEADER_WAIT, 3000,
	 false},
	{"a short lease polls at least every 200 ms", {300, false, 0, 1000}, 1100, LEADER_WAIT,
	 1200, false},
	{"a fresh leader acts and waits to renew", {3000, true, 1000, 1000}, 1500, LEADER_WAIT,
	 2000, true},
	{"it renews a third of the lease after the last renewal", {3000, true, 1000, 1000}, 2000,
	 LEADER_RENEW, 0, true},
	{"a failed renewal is tried again 200 ms later", {3000, true, 1000, 2000}, 2100, LEADER_WAIT,
	 2200, true},
	{"and again", {3000, true, 1000, 2000}, 2200, LEADER_RENEW, 0, true},
	{"a retry never waits past the deadline", {3000, true, 1000, 2950}, 2960, LEADER_WAIT, 3000,
	 true},
	{"one millisecond before the deadline it still acts", {3000, true, 1000, 2900}, 2999,
	 LEADER_WAIT, 3000, true},
	{"at the deadline it steps down and acts no more", {3000, true, 1000, 2900}, 3000,
	 LEADER_STEP_DOWN, 0, false},
	{"a leader stopped past its lease steps down when it runs again", {15000, true, 1000, 1000},
	 60000, LEADER_STEP_DOWN, 0, false},
	{"the default 15 s lease renews every 5 s", {15000, true, 1000, 1000}, 5999, LEADER_WAIT,
	 6000, true},
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		int64_t at = -1;
		enum leader_step step = leader_next(&r->t, r->now, &at);
		print_message("%s\n", r->what);
		assert_int_equal(step, r->step);
		if (step == LEADER_WAIT)
			assert_int_equal(at, r->at);
		assert_int_equal(leader_may_act(&r->t, r->now), r->may_act);
	}
}

static void test_deadline_before_expiry(void **state)
{
	(void)state;
	for (int64_t ttl = 2000; ttl <= 3600000; ttl += 1000) {
		int64_t sent = 12345;
		int64_t deadline = leader_deadline_ms(sent, ttl);
		/* etcd keeps the lease at least ttl after the request was sent */
		assert_true(deadline + ttl / 3 - 1 <= sent + ttl);
		assert_true(deadline < sent + ttl);
		assert_true(leader_poll_ms(ttl) >= LEADER_POLL_MIN_MS);
		assert_true(leader_poll_ms(ttl) <= LEADER_POLL_MAX_MS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_deadline_before_expiry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
