/* status_analysis: the Promotion's metrics as /status and /metrics show them, from the rollout
 * state's record of each metric's last window (plan/rollout.h, struct rollout_metric) and the
 * Promotion's spec of it (thresholds, compare, failureLimit).
 *
 * /status "analysis": {"metrics": [{"name", "verdict" (none, pass, fail, noData, ignored),
 * "value" (the canary pool's; null without one), "stable" (with compare stable), "ratio"
 * (value/stable), "threshold": {"min", "max"} (null where unbounded), "compare", "window"
 * ("5m"), "windowEnd" (RFC 3339; null before one), "failures", "failureLimit", "message" (the
 * verdict in words: "request-success-rate 91.2 % < 99 % (canary-gw, 5m)", or why the window
 * has no data)}]}; null when the Promotion has no metrics.
 *
 * /metrics: clawfleet_analysis_metric{promotion,metric} (the last value judged: the ratio with
 * compare stable), clawfleet_analysis_metric_verdict{promotion,metric,verdict} (1 for the
 * current verdict, 0 for the others) and clawfleet_analysis_metric_failures{promotion,metric}. */
#ifndef CLAWFLEET_STATUS_ANALYSIS_H
#define CLAWFLEET_STATUS_ANALYSIS_H
#include <stddef.h>

#include "desired/desired.h"
#include "plan/rollout.h"

struct json_object;

/* NULL (JSON null) when a has no metrics or memory runs out. */
struct json_object *status_analysis_json(const struct rollout_state *s,
					 const struct promotion_analysis *a);
/* The /metrics families, a malloc'd NUL-terminated text (the families declared, without samples,
 * when a has no metrics); NULL when memory runs out. */
char *status_analysis_metrics(const struct rollout_state *s, const struct promotion_analysis *a,
			      const char *promotion);

#endif
