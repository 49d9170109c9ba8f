/* promql: the reply of Prometheus's instant query API (GET /api/v1/query) as one number, read
 * by the one JSON reader (base/jsonparse.h) and nothing else. A reply gives a number when its
 * status is "success" and its data is a scalar, or a vector of exactly one sample, whose value
 * is a finite number. Everything else is no data, with a reason a person can act on: the error
 * Prometheus gives ("bad_data: parse error at char 5: ..."), an empty vector (no series
 * matched: no traffic in the window, or a query naming the wrong labels), a vector of several
 * series (aggregate them), NaN (0/0: no requests) or an infinity, a reply that is not the API's
 * JSON, or one over PROMQL_MAX_REPLY bytes. */
#ifndef CLAWFLEET_PROMQL_H
#define CLAWFLEET_PROMQL_H
#include <stddef.h>

#include "base/err.h"

#define PROMQL_MAX_REPLY (256u << 10)

/* *value from the reply body (len bytes) that came with HTTP status; -1 with the reason in err
 * when the reply gives no number. */
int promql_value(long status, const char *body, size_t len, double *value, struct cf_err *err);

#endif
