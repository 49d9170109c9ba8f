#include "observe/promql.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"

/* A sample is [time, "value"]: Prometheus writes values as strings so that NaN and the
 * infinities survive JSON. */
static int sample_value(struct json_object *pair, double *value, struct cf_err *err)
{
	if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2)
		return cf_err_set(err, "a sample is not [time, \"value\"]");
	struct json_object *v = json_object_array_get_idx(pair, 1);
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "a sample's value is not a string");
	const char *s = json_object_get_string(v);
	char *end;
	double d = strtod(s, &end);
	if (!*s || *end)
		return cf_err_set(err, "a sample's value \"%.32s\" is not a number", s);
	if (isnan(d))
		return cf_err_set(err, "the query gives NaN (no requests in the window?)");
	if (isinf(d))
		return cf_err_set(err, "the query gives %s (a division by zero?)",
				  d > 0 ? "+Inf" : "-Inf");
	*value = d;
	return 0;
}

static int data_value(struct json_object *data, double *value, struct cf_err *err)
{
	const char *type = NULL;
	struct json_object *result = NULL;
	if (jsonparse_get_string(data, "data", "resultType", JSONPARSE_REQUIRED, &type, err) < 0)
		return -1;
	result = json_object_object_get(data, "result");
	if (strcmp(type, "scalar") == 0)
		return sample_value(result, value, err);
	if (strcmp(type, "vector") != 0)
		return cf_err_set(err, "the query gives a %.16s; want a scalar or a vector of one "
				       "series", type);
	if (jsonparse_get_array(data, "data", "result", JSONPARSE_REQUIRED, &result, err) < 0)
		return -1;
	size_t n = json_object_array_length(result);
	if (n == 0)
		return cf_err_set(err, "the query gives no series (no traffic in the window, or "
				       "labels that match nothing)");
	if (n > 1)
		return cf_err_set(err, "the query gives %zu series; want one (aggregate them, with "
				       "sum or avg)", n);
	struct json_object *sample = json_object_array_get_idx(result, 0);
	if (!json_object_is_type(sample, json_type_object))
		return cf_err_set(err, "a series is not an object");
	return sample_value(json_object_object_get(sample, "value"), value, err);
}

int promql_value(long status, const char *body, size_t len, double *value, struct cf_err *err)
{
	struct json_object *doc = NULL, *data = NULL;
	const char *st = NULL, *type = NULL, *msg = NULL;
	int rc = -1;
	if (len > PROMQL_MAX_REPLY)
		return cf_err_set(err, "the reply is over %u bytes", PROMQL_MAX_REPLY);
	if (jsonparse_object(body, len, JSONPARSE_DEPTH, &doc, err) < 0) {
		/* Not the API's reply: a proxy's error page, the wrong address. */
		if (status && (status < 200 || status > 299))
			cf_err_set(err, "HTTP %ld without the API's JSON (is this Prometheus?)",
				   status);
		goto done;
	}
	if (jsonparse_get_string(doc, "reply", "status", JSONPARSE_REQUIRED, &st, err) < 0)
		goto done;
	if (strcmp(st, "success") != 0) {
		jsonparse_get_string(doc, "reply", "errorType", JSONPARSE_OPTIONAL, &type, err);
		jsonparse_get_string(doc, "reply", "error", JSONPARSE_OPTIONAL, &msg, err);
		cf_err_set(err, "Prometheus answers %s: %.200s", type ? type : st,
			   msg ? msg : "(no message)");
		goto done;
	}
	if (jsonparse_get_object(doc, "reply", "data", JSONPARSE_REQUIRED, &data, err) < 0)
		goto done;
	rc = data_value(data, value, err);
done:
	json_object_put(doc);
	return rc;
}
