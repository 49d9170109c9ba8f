/* forecast: the rest of a rollout if everything stays green, as the steps it would enter and the
 * earliest time it could enter each. Pure, like the planner it sits beside: (desired state,
 * rollout state, now) -> steps; no I/O, no clock.
 *
 * "Earliest" is the rollout's own minimum: a canary step lasts greenWindows windows of
 * analysisInterval (at least one interval) from when its weights read back, and a window counts
 * only when the controller saw the canary green in each of its minSamples parts, so a step ends
 * no sooner than that and later whenever a pass is missed or a node is slow. What depends on the
 * nodes and not on the clock (Shadow's canaries applying their target, Mirroring's gateways
 * draining and restarting, Finalising) is counted as taking no time. A suspended rollout is
 * forecast as if resumed now (time suspended does not count); a Held one as if its canary were
 * green again now (the step's windows start anew); a rollback under way ends RolledBack. Give it
 * the state the next pass would leave (plan()'s out.next), so that a Promotion naming a new build
 * is forecast from Shadow. */
#ifndef CLAWFLEET_FORECAST_H
#define CLAWFLEET_FORECAST_H
#include <stddef.h>
#include <stdint.h>

#include "desired/desired.h"
#include "plan/rollout.h"

/* Every canary step, Mirroring, Finalising and the end. */
#define FORECAST_MAX (DESIRED_MAX_STEPS + 3)

struct forecast_step {
	enum rollout_phase phase; /* Promoting for a canary step */
	int step, percent;	  /* the canary step (1-based) and its percent; 0 for other phases */
	int64_t earliest_ms;	  /* on the rollout clock, as now_ms */
};

struct forecast {
	struct forecast_step v[FORECAST_MAX];
	size_t n; /* 0: nothing is left (no Promotion, or its build finished) */
};

/* The steps after the one s is in, in order, their times never decreasing. */
void plan_forecast(const struct desired_state *desired, const struct rollout_state *s,
		   int64_t now_ms, struct forecast *out);

#endif
