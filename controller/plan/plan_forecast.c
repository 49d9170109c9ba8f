/* The rest of a rollout if everything stays green (forecast.h). The times follow the rules of
 * plan_steps.c: a step moves on at the first pass after its greenWindows-th window ended and at
 * least analysisInterval after its weights read back; the next step starts at that pass. */
#include "plan/forecast.h"

static void add(struct forecast *out, enum rollout_phase phase, int step, int percent, int64_t at)
{
	if (out->n == FORECAST_MAX)
		return;
	out->v[out->n++] = (struct forecast_step){phase, step, percent, at};
}

/* The steps from index first on (each one step_ms after the one before, the first at t), then
 * Mirroring, Finalising and Succeeded when the last ends. */
static void from_step(const struct promotion *promo, size_t first, int64_t t, int64_t step_ms,
		      struct forecast *out)
{
	for (size_t i = first; i < promo->nsteps; i++) {
		add(out, ROLLOUT_PROMOTING, (int)i + 1, promo->steps[i], t);
		t += step_ms;
	}
	add(out, ROLLOUT_MIRRORING, 0, 0, t);
	add(out, ROLLOUT_FINALISING, 0, 0, t);
	add(out, ROLLOUT_SUCCEEDED, 0, 0, t);
}

/* The index of the first step past percent, as the planner moves on (nsteps: none is left). */
static size_t step_after(const struct promotion *promo, int percent)
{
	size_t i = 0;
	while (i < promo->nsteps && promo->steps[i] <= percent)
		i++;
	return i;
}

/* When the Analysing step s is in can end: its windows still to count after the one under way
 * began, and never before an interval since its weights read back; moved on by the time it has
 * been suspended, which does not count. */
static int64_t analysing_ends(const struct rollout_state *s, int64_t interval, int need,
			      int64_t now)
{
	int left = need - s->green_windows;
	int64_t end = s->window_started_ms + (int64_t)(left > 0 ? left : 0) * interval;
	if (end < s->step_started_ms + interval)
		end = s->step_started_ms + interval;
	if (s->suspended_since_ms > 0 && now > s->suspended_since_ms)
		end += now - s->suspended_since_ms;
	return end > now ? end : now;
}

void plan_forecast(const struct desired_state *desired, const struct rollout_state *s,
		   int64_t now_ms, struct forecast *out)
{
	const struct promotion *promo = desired && desired->npromotions ? &desired->promotions[0]
									 : NULL;
	out->n = 0;
	if (!promo)
		return;
	int64_t interval = promo->analysis_interval_ms > 0 ? promo->analysis_interval_ms : 1;
	int need = promo->green_windows > 0 ? promo->green_windows : 1;
	int64_t step_ms = interval * need;
	enum rollout_phase phase = s->phase == ROLLOUT_HELD ? s->held_from : s->phase;
	switch (phase) {
	case ROLLOUT_SHADOW:
		from_step(promo, 0, now_ms, step_ms, out);
		break;
	case ROLLOUT_PROMOTING:
	case ROLLOUT_ANALYSING: {
		/* A held step counts its windows anew once the canary is green again; one whose
		 * weights have not read back starts analysing at that pass. */
		int64_t end = phase == ROLLOUT_ANALYSING && s->phase != ROLLOUT_HELD
				      ? analysing_ends(s, interval, need, now_ms)
				      : now_ms + step_ms;
		from_step(promo, step_after(promo, s->percent), end, step_ms, out);
		break;
	}
	case ROLLOUT_MIRRORING:
		add(out, ROLLOUT_FINALISING, 0, 0, now_ms);
		add(out, ROLLOUT_SUCCEEDED, 0, 0, now_ms);
		break;
	case ROLLOUT_FINALISING:
		add(out, ROLLOUT_SUCCEEDED, 0, 0, now_ms);
		break;
	case ROLLOUT_ROLLING_BACK:
		add(out, ROLLOUT_ROLLED_BACK, 0, 0, now_ms);
		break;
	case ROLLOUT_IDLE:
	case ROLLOUT_SUCCEEDED:
	case ROLLOUT_HELD:
	case ROLLOUT_ROLLED_BACK:
		break;
	}
}
