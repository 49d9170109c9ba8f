/* plan_forecast: the rest of a rollout if everything stays green, as a table of rollout states
 * and the steps and earliest times expected. A Promotion of steps 10, 50, 100 %, analysisInterval
 * 1 minute, two green windows: a canary step lasts at least 2 minutes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "plan/forecast.h"

#define NOW 1000000LL
#define MIN 60000LL

struct want {
	enum rollout_phase phase;
	int step, percent;
	int64_t at;
};

struct row {
	const char *name;
	enum rollout_phase phase, held_from;
	int step, percent, green_windows;
	int64_t step_started, window_started, suspended_since;
	struct want want[FORECAST_MAX];
	size_t nwant;
};

static const struct row rows[] = {
	{"nothing left after Succeeded", ROLLOUT_SUCCEEDED, ROLLOUT_IDLE, 3, 100, 0, 0, 0, 0,
	 {{0}}, 0},
	{"nothing left after RolledBack", ROLLOUT_ROLLED_BACK, ROLLOUT_IDLE, 1, 10, 0, 0, 0, 0,
	 {{0}}, 0},
	{"Shadow: every step, each two windows after the one before", ROLLOUT_SHADOW,
	 ROLLOUT_IDLE, 0, 0, 0, 0, 0, 0,
	 {{ROLLOUT_PROMOTING, 1, 10, NOW},
	  {ROLLOUT_PROMOTING, 2, 50, NOW + 2 * MIN},
	  {ROLLOUT_PROMOTING, 3, 100, NOW + 4 * MIN},
	  {ROLLOUT_MIRRORING, 0, 0, NOW + 6 * MIN},
	  {ROLLOUT_FINALISING, 0, 0, NOW + 6 * MIN},
	  {ROLLOUT_SUCCEEDED, 0, 0, NOW + 6 * MIN}},
	 6},
	{"Analysing step 1, one window counted: the next step one window on", ROLLOUT_ANALYSING,
	 ROLLOUT_IDLE, 1, 10, 1, NOW - 90000, NOW - 30000, 0,
	 {{ROLLOUT_PROMOTING, 2, 50, NOW + 30000},
	  {ROLLOUT_PROMOTING, 3, 100, NOW + 30000 + 2 * MIN},
	  {ROLLOUT_MIRRORING, 0, 0, NOW + 30000 + 4 * MIN},
	  {ROLLOUT_FINALISING, 0, 0, NOW + 30000 + 4 * MIN},
	  {ROLLOUT_SUCCEEDED, 0, 0, NOW + 30000 + 4 * MIN}},
	 5},
	{"Analysing the last step: Mirroring when its windows end", ROLLOUT_ANALYSING,
	 ROLLOUT_IDLE, 3, 100, 0, NOW - 10000, NOW - 10000, 0,
	 {{ROLLOUT_MIRRORING, 0, 0, NOW + 110000},
	  {ROLLOUT_FINALISING, 0, 0, NOW + 110000},
	  {ROLLOUT_SUCCEEDED, 0, 0, NOW + 110000}},
	 3},
	{"suspended 5 minutes: the time suspended does not count", ROLLOUT_ANALYSING,
	 ROLLOUT_IDLE, 3, 100, 0, NOW - 10000, NOW - 10000, NOW - 5 * MIN,
	 {{ROLLOUT_MIRRORING, 0, 0, NOW + 110000 + 5 * MIN},
	  {ROLLOUT_FINALISING, 0, 0, NOW + 110000 + 5 * MIN},
	  {ROLLOUT_SUCCEEDED, 0, 0, NOW + 110000 + 5 * MIN}},
	 3},
	{"Held at step 2: its windows start anew", ROLLOUT_HELD, ROLLOUT_ANALYSING, 2, 50, 1,
	 NOW - 10 * MIN, NOW - MIN, 0,
	 {{ROLLOUT_PROMOTING, 3, 100, NOW + 2 * MIN},
	  {ROLLOUT_MIRRORING, 0, 0, NOW + 4 * MIN},
	  {ROLLOUT_FINALISING, 0, 0, NOW + 4 * MIN},
	  {ROLLOUT_SUCCEEDED, 0, 0, NOW + 4 * MIN}},
	 4},
	{"Promoting step 1, its weights not read back yet", ROLLOUT_PROMOTING, ROLLOUT_IDLE, 1, 10,
	 0, 0, 0, 0,
	 {{ROLLOUT_PROMOTING, 2, 50, NOW + 2 * MIN},
	  {ROLLOUT_PROMOTING, 3, 100, NOW + 4 * MIN},
	  {ROLLOUT_MIRRORING, 0, 0, NOW + 6 * MIN},
	  {ROLLOUT_FINALISING, 0, 0, NOW + 6 * MIN},
	  {ROLLOUT_SUCCEEDED, 0, 0, NOW + 6 * MIN}},
	 5},
	{"Mirroring: Finalising and the end", ROLLOUT_MIRRORING, ROLLOUT_IDLE, 3, 100, 0, 0, 0, 0,
	 {{ROLLOUT_FINALISING, 0, 0, NOW}, {ROLLOUT_SUCCEEDED, 0, 0, NOW}},
	 2},
	{"a rollback under way ends RolledBack", ROLLOUT_ROLLING_BACK, ROLLOUT_IDLE, 2, 50, 0, 0,
	 0, 0,
	 {{ROLLOUT_ROLLED_BACK, 0, 0, NOW}},
	 1},
};

static void test_forecast_table(void **unused)
{
	(void)unused;
	struct promotion promo = {
		.name = "gateway",
		.tag = "v2",
		.skill_semver = "1.5.0",
		.steps = {10, 50, 100},
		.nsteps = 3,
		.analysis_interval_ms = MIN,
		.green_windows = 2,
		.analysis = {.min_samples = 3},
	};
	struct desired_state ds = {.promotions = &promo, .npromotions = 1};
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const struct row *row = &rows[r];
		struct rollout_state s;
		struct forecast f;
		rollout_state_init(&s);
		s.phase = row->phase;
		s.held_from = row->held_from;
		s.step = row->step;
		s.percent = row->percent;
		s.green_windows = row->green_windows;
		s.step_started_ms = row->step_started;
		s.window_started_ms = row->window_started;
		s.suspended_since_ms = row->suspended_since;
		plan_forecast(&ds, &s, NOW, &f);
		if (f.n != row->nwant)
			fail_msg("%s: %zu steps, want %zu", row->name, f.n, row->nwant);
		for (size_t i = 0; i < f.n; i++) {
			const struct forecast_step *g = &f.v[i];
			const struct want *w = &row->want[i];
			if (g->phase != w->phase || g->step != w->step || g->percent != w->percent ||
			    g->earliest_ms != w->at)
				fail_msg("%s: step %zu is %s %d (%d %%) at %lld, want %s %d (%d %%) "
					 "at %lld",
					 row->name, i, rollout_phase_name(g->phase), g->step,
					 g->percent, (long long)g->earliest_ms,
					 rollout_phase_name(w->phase), w->step, w->percent,
					 (long long)w->at);
		}
		rollout_state_free(&s);
	}
}

static void test_forecast_without_promotion(void **unused)
{
	(void)unused;
	struct desired_state ds = {0};
	struct rollout_state s;
	struct forecast f;
	rollout_state_init(&s);
	s.phase = ROLLOUT_SHADOW;
	plan_forecast(&ds, &s, NOW, &f);
	assert_int_equal(f.n, 0);
	rollout_state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forecast_table),
		cmocka_unit_test(test_forecast_without_promotion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
