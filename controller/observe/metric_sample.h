/* metric_sample: one window of one Promotion metric as the controller measured it in
 * Prometheus (observe/prom_poll.h), what the planner judges (plan/plan_analysis.c). Plain data.
 * A window ends at taken_ms (the rollout clock of the pass that sent the query) and is
 * interval_ms long. A window without a value carries why ("Prometheus at
 * http://127.0.0.1:9090: Connection refused", "the query gives NaN (no requests in the
 * window?)"); with compare stable, the stable pool's value must be there too. */
#ifndef CLAWFLEET_METRIC_SAMPLE_H
#define CLAWFLEET_METRIC_SAMPLE_H
#include <stdbool.h>
#include <stdint.h>

#include "desired/desired.h"

#define METRIC_WHY_MAX 256

struct metric_sample {
	char metric[DESIRED_METRIC_NAME_MAX];
	int64_t taken_ms;
	int64_t interval_ms;
	bool has_value;
	double value;  /* the canary pool's */
	double stable; /* the stable pool's, with compare stable */
	char why[METRIC_WHY_MAX]; /* no value: why; "" otherwise */
};

#endif
