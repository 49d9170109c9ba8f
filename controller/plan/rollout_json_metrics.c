/* The metrics' part of the rollout state's JSON (rollout_internal.h): written and read here,
 * beside each other, so that what is written is what is read back. One object per metric, in
 * the Promotion's order; value and stable only when known. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/names.h"
#include "plan/rollout.h"
#include "plan/rollout_internal.h"

#define METRIC_FAILURES_LIMIT 1000

static const char *const metric_keys[] = {"name", "takenMs", "intervalMs", "failures",
					  "verdict", "why", "value", "stable"};
#define METRIC_KEYS_REQUIRED 6

const char *rollout_metric_verdict_name(enum rollout_metric_verdict v)
{
	return name_of(metric_verdict_names, COUNT(metric_verdict_names), (int)v);
}

static bool add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static struct json_object *metric_json(const struct rollout_metric *m)
{
	struct json_object *o = json_object_new_object();
	bool ok = o && add(o, "name", json_object_new_string(m->name)) &&
		  add(o, "takenMs", json_object_new_int64(m->taken_ms)) &&
		  add(o, "intervalMs", json_object_new_int64(m->interval_ms)) &&
		  add(o, "failures", json_object_new_int(m->failures)) &&
		  add(o, "verdict", json_object_new_string(rollout_metric_verdict_name(m->verdict))) &&
		  add(o, "why", json_object_new_string(m->why)) &&
		  (!m->has_value || add(o, "value", json_object_new_double(m->value))) &&
		  (!m->has_stable || add(o, "stable", json_object_new_double(m->stable)));
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *rollout_metrics_to_json(const struct rollout_state *s)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < s->nmetrics; i++) {
		struct json_object *m = metric_json(&s->metrics[i]);
		if (!m || json_object_array_add(a, m) < 0) {
			json_object_put(m);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static int get_int(struct json_object *o, const char *where, const char *key, int64_t min,
		   int64_t max, int64_t *out, struct cf_err *err)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < min || json_object_get_int64(v) > max)
		return cf_err_set(err, "%s.%s: want an integer from %lld to %lld", where, key,
				  (long long)min, (long long)max);
	*out = json_object_get_int64(v);
	return 0;
}

/* An optional finite number: *has false when absent. */
static int get_number(struct json_object *o, const char *where, const char *key, bool *has,
		      double *out, struct cf_err *err)
{
	struct json_object *v = NULL;
	*has = false;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
		return cf_err_set(err, "%s.%s: want a number", where, key);
	*out = json_object_get_double(v);
	if (!isfinite(*out))
		return cf_err_set(err, "%s.%s: want a finite number", where, key);
	*has = true;
	return 0;
}

int rollout_json_plain_text(struct json_object *o, const char *where, const char *key, char *out,
		    size_t size, struct cf_err *err)
{
	struct json_object *v = NULL;
	const char *s = NULL;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		s = json_object_get_string(v);
	bool ok = s && (size_t)json_object_get_string_len(v) == strlen(s) && strlen(s) < size;
	for (const char *c = s; ok && *c; c++)
		ok = (unsigned char)*c >= 0x20 && *c != 0x7f;
	if (!ok)
		return cf_err_set(err, "%s.%s: want a string of at most %zu bytes without control "
				       "characters", where, key, size - 1);
	snprintf(out, size, "%s", s);
	return 0;
}

static int metric_from_json(struct json_object *o, const char *where, struct rollout_metric *m,
			    struct cf_err *err)
{
	char verdict[16];
	int64_t failures, v = 0;
	struct cf_err e;
	size_t nkeys = 0;
	if (!json_object_is_type(o, json_type_object))
		return cf_err_set(err, "%s: must be an object", where);
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		size_t i = 0;
		while (i < COUNT(metric_keys) && strcmp(metric_keys[i], key) != 0)
			i++;
		if (i == COUNT(metric_keys))
			return cf_err_set(err, "%s.%.100s: unknown field", where, key);
		nkeys += i < METRIC_KEYS_REQUIRED;
	}
	if (nkeys != METRIC_KEYS_REQUIRED)
		return cf_err_set(err, "%s: must hold name, takenMs, intervalMs, failures, verdict "
				       "and why", where);
	if (rollout_json_plain_text(o, where, "name", m->name, sizeof(m->name), err) < 0)
		return -1;
	if (name_check_dns_label(m->name, &e) < 0)
		return cf_err_set(err, "%s.name: %s", where, e.msg);
	if (get_int(o, where, "takenMs", 0, INT64_MAX, &m->taken_ms, err) < 0 ||
	    get_int(o, where, "intervalMs", 0, INT64_MAX, &m->interval_ms, err) < 0 ||
	    get_int(o, where, "failures", 0, METRIC_FAILURES_LIMIT, &failures, err) < 0 ||
	    rollout_json_plain_text(o, where, "verdict", verdict, sizeof(verdict), err) < 0 ||
	    rollout_json_plain_text(o, where, "why", m->why, sizeof(m->why), err) < 0 ||
	    get_number(o, where, "value", &m->has_value, &m->value, err) < 0 ||
	    get_number(o, where, "stable", &m->has_stable, &m->stable, err) < 0)
		return -1;
	m->failures = (int)failures;
	while ((size_t)v < COUNT(metric_verdict_names) && strcmp(metric_verdict_names[v], verdict))
		v++;
	if ((size_t)v == COUNT(metric_verdict_names))
		return cf_err_set(err, "%s.verdict: want none, pass, fail, noData or ignored", where);
	m->verdict = (enum rollout_metric_verdict)v;
	return 0;
}

int rollout_metrics_from_json(struct json_object *o, struct rollout_state *s, struct cf_err *err)
{
	char where[32];
	s->nmetrics = 0;
	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_array))
		return cf_err_set(err, "metrics: must be an array");
	size_t n = json_object_array_length(o);
	if (n > ROLLOUT_METRICS_MAX)
		return cf_err_set(err, "metrics: at most %d", ROLLOUT_METRICS_MAX);
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "metrics[%zu]", i);
		if (metric_from_json(json_object_array_get_idx(o, i), where, &s->metrics[i], err) < 0)
			return -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(s->metrics[k].name, s->metrics[i].name) == 0)
				return cf_err_set(err, "%s.name: \"%s\" is repeated", where,
						  s->metrics[i].name);
		s->nmetrics = i + 1;
	}
	return 0;
}
