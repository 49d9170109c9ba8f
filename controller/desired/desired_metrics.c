/* spec.canary.analysis.metrics and spec.canary.analysis.provider of a Promotion. The schema has
 * checked each field's type, pattern and range; this reads them, fills the CRD defaults and
 * reports what a schema cannot say: a metric without a query whose name is not built in, a
 * query naming a placeholder the controller cannot fill (promql_template.h), a thresholdRange
 * whose min is over its max, a name used twice, a provider address that is not an http(s) URL
 * with a host. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"
#include "base/yamltree.h"
#include "desired/desired.h"
#include "desired/desired_internal.h"
#include "desired/promql_template.h"

#define METRICS "spec.canary.analysis.metrics"
#define PROVIDER "spec.canary.analysis.provider"

static void diag_at(struct loader *ld, const struct loaded_object *o, const struct ynode *n,
		    const char *path, const char *msg)
{
	diag_add(ld->diags, o->file, n->line, n->col, o->label, path, "%s", msg);
}

static const struct ynode *member(const struct ynode *map, const char *key)
{
	const struct ynode *n = map ? ynode_get(map, key) : NULL;
	return n && ynode_type(n) != YT_NULL ? n : NULL;
}

/* An http or https URL with a host, without spaces, credentials, a query or a fragment: the
 * controller appends /api/v1/query?query=... to it. */
static const char *address_problem(const char *a)
{
	const char *host = strncmp(a, "http://", 7) == 0	? a + 7
			   : strncmp(a, "https://", 8) == 0 ? a + 8
							    : NULL;
	if (!host)
		return "want an http:// or https:// URL, such as http://127.0.0.1:9090";
	if (!*host || *host == '/' || *host == ':')
		return "the URL names no host";
	for (const char *c = a; *c; c++) {
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return "the URL holds a space or a control character";
		if (*c == '?' || *c == '#')
			return "the URL may not carry a query or a fragment: the controller adds its "
			       "own query";
	}
	for (const char *c = host; *c && *c != '/'; c++)
		if (*c == '@')
			return "the URL may not carry credentials: Git is no place for them";
	return NULL;
}

static bool builtin(const char *name)
{
	return strcmp(name, METRIC_SUCCESS_RATE) == 0 || strcmp(name, METRIC_DURATION) == 0;
}

static bool load_metric(struct loader *ld, const struct loaded_object *o, const struct ynode *n,
			size_t idx, struct promotion_metric *m)
{
	char path[96];
	bool ok = true;
	const char *name = ynode_str(member(n, "name"));
	const char *query = ynode_str(member(n, "query"));
	const char *compare = ynode_str(member(n, "compare"));
	const char *no_data = ynode_str(member(n, "noData"));
	const char *interval = ynode_str(member(n, "interval"));
	const struct ynode *range = member(n, "thresholdRange");
	long long limit = 1;
	if (!name || strlen(name) >= sizeof(m->name))
		return false; /* the schema said so */
	snprintf(m->name, sizeof(m->name), "%s", name);
	if (!query && !builtin(name)) {
		snprintf(path, sizeof(path), METRICS "[%zu].query", idx);
		diag_add(ld->diags, o->file, n->line, n->col, o->label, path,
			 "metric \"%s\" is not built in (" METRIC_SUCCESS_RATE ", " METRIC_DURATION
			 "): give it a query",
			 name);
		ok = false;
	}
	struct promql_placeholder ph;
	if (query && promql_find_unknown(query, &ph)) {
		char msg[160];
		snprintf(path, sizeof(path), METRICS "[%zu].query", idx);
		promql_unknown_message(&ph, msg, sizeof(msg));
		diag_at(ld, o, member(n, "query"), path, msg);
		ok = false;
	}
	m->has_min = ynode_number(member(range, "min"), &m->min) == 0;
	m->has_max = ynode_number(member(range, "max"), &m->max) == 0;
	if (m->has_min && m->has_max && m->min > m->max) {
		char msg[160];
		snprintf(path, sizeof(path), METRICS "[%zu].thresholdRange", idx);
		snprintf(msg, sizeof(msg), "min %g is over max %g: no value could pass", m->min,
			 m->max);
		diag_at(ld, o, range, path, msg);
		ok = false;
	}
	m->compare = compare && strcmp(compare, "stable") == 0 ? METRIC_COMPARE_STABLE
							       : METRIC_COMPARE_NONE;
	m->no_data = no_data && strcmp(no_data, "fail") == 0	   ? METRIC_NO_DATA_FAIL
		     : no_data && strcmp(no_data, "ignore") == 0 ? METRIC_NO_DATA_IGNORE
								   : METRIC_NO_DATA_HOLD;
	if (ynode_int(member(n, "failureLimit"), &limit) < 0 || limit < 1)
		limit = 1;
	m->failure_limit = (int)limit;
	if (interval && duration_parse(interval, &m->interval_ms, NULL) < 0)
		ok = false; /* the schema reported it */
	if (query) {
		m->query = strdup(query);
		if (!m->query) {
			ld->out_of_memory = true;
			ok = false;
		}
	}
	return ok;
}

static bool load_provider(struct loader *ld, const struct loaded_object *o,
			  struct promotion_analysis *a)
{
	const struct ynode *prov = desired_value_at(o->node, PROVIDER);
	const char *address = ynode_str(member(prov, "address"));
	const char *timeout = ynode_str(member(prov, "timeout"));
	if (!prov || !address)
		return true;
	const char *problem = address_problem(address);
	if (problem) {
		diag_at(ld, o, member(prov, "address"), PROVIDER ".address", problem);
		return false;
	}
	if (timeout && duration_parse(timeout, &a->provider_timeout_ms, NULL) < 0)
		return false;
	a->provider_address = strdup(address);
	if (!a->provider_address) {
		ld->out_of_memory = true;
		return false;
	}
	return true;
}

bool desired_load_metrics(struct loader *ld, const struct loaded_object *o,
			  struct promotion_analysis *a)
{
	const struct ynode *list = desired_value_at(o->node, METRICS);
	bool ok = true;
	for (size_t i = 0; list && list->kind == YNODE_SEQ && i < list->n; i++) {
		if (a->nmetrics >= DESIRED_MAX_METRICS)
			break; /* the schema's maxItems */
		struct promotion_metric *m = &a->metrics[a->nmetrics++];
		ok &= load_metric(ld, o, list->items[i], i, m);
		for (size_t k = 0; k + 1 < a->nmetrics; k++) {
			if (strcmp(a->metrics[k].name, m->name) != 0)
				continue;
			char path[96];
			snprintf(path, sizeof(path), METRICS "[%zu].name", i);
			diag_at(ld, o, list->items[i], path,
				"the name is used by an earlier metric: /status and a rollback's "
				"reason name a metric by it");
			ok = false;
			break;
		}
	}
	ok &= load_provider(ld, o, a);
	if (!ok)
		desired_free_metrics(a);
	return ok;
}

void desired_free_metrics(struct promotion_analysis *a)
{
	for (size_t i = 0; i < a->nmetrics; i++) {
		free(a->metrics[i].query);
		a->metrics[i].query = NULL;
	}
	a->nmetrics = 0;
	free(a->provider_address);
	a->provider_address = NULL;
}
