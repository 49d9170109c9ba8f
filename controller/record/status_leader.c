/* /status's "leader" object and the leader's /metrics families (record/status.h). */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/timeparse.h"
#include "record/status.h"

static struct json_object *time_or_null(int64_t ms)
{
	char out[RFC3339_MS_MAX];
	if (!ms)
		return NULL;
	rfc3339_format_ms(ms, out, sizeof(out));
	return json_object_new_string(out);
}

static struct json_object *text_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

struct json_object *status_leader_json(const struct status_leader *l)
{
	if (!l)
		return NULL;
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "self", json_object_new_boolean(l->self));
	json_object_object_add(o, "replica", text_or_null(l->replica));
	json_object_object_add(o, "id", text_or_null(l->id));
	json_object_object_add(o, "address", text_or_null(l->address));
	json_object_object_add(o, "term", json_object_new_int64(l->term));
	json_object_object_add(o, "leaseDeadline", time_or_null(l->self ? l->lease_deadline_ms : 0));
	json_object_object_add(o, "lastFailover", time_or_null(l->last_failover_ms));
	json_object_object_add(o, "failovers", json_object_new_int64((int64_t)l->failovers));
	json_object_object_add(o, "error", text_or_null(l->error));
	return o;
}

/* A label value as the exposition format quotes it. */
static size_t label(char *out, size_t cap, const char *value)
{
	size_t n = 0;
	for (const char *c = value ? value : ""; *c && n + 2 < cap; c++) {
		if (*c == '\\' || *c == '"' || *c == '\n')
			out[n++] = '\\';
		out[n++] = *c == '\n' ? 'n' : *c;
	}
	out[n] = '\0';
	return n;
}

bool status_leader_metrics(const struct status_leader *l, char *out, size_t cap)
{
	char replica[512], leader[512];
	out[0] = '\0';
	if (!l)
		return true;
	label(replica, sizeof(replica), l->replica);
	label(leader, sizeof(leader), l->id);
	int n = snprintf(
		out, cap,
		"# HELP clawfleet_leader Whether this replica leads and may act: 1 or 0.\n"
		"# TYPE clawfleet_leader gauge\n"
		"clawfleet_leader{replica=\"%s\",leader=\"%s\"} %d\n"
		"# HELP clawfleet_leader_term The leader key's create revision in etcd: a new one "
		"per leader.\n"
		"# TYPE clawfleet_leader_term gauge\n"
		"clawfleet_leader_term %" PRId64 "\n"
		"# HELP clawfleet_leader_lease_deadline_seconds When this leader stops acting unless "
		"it renews its lease (Unix time); 0 on a follower.\n"
		"# TYPE clawfleet_leader_lease_deadline_seconds gauge\n"
		"clawfleet_leader_lease_deadline_seconds %.3f\n"
		"# HELP clawfleet_leader_failovers_total Changes of leader this replica has seen.\n"
		"# TYPE clawfleet_leader_failovers_total counter\n"
		"clawfleet_leader_failovers_total %" PRIu64 "\n"
		"# HELP clawfleet_leader_last_failover_seconds When the leader last changed (Unix "
		"time); 0: not since this replica started.\n"
		"# TYPE clawfleet_leader_last_failover_seconds gauge\n"
		"clawfleet_leader_last_failover_seconds %.3f\n"
		"# HELP clawfleet_store_up Whether etcd answers this replica: 1 or 0.\n"
		"# TYPE clawfleet_store_up gauge\n"
		"clawfleet_store_up %d\n",
		replica, leader, l->self, l->term,
		l->self ? (double)l->lease_deadline_ms / 1000.0 : 0.0, l->failovers,
		(double)l->last_failover_ms / 1000.0, !(l->error && *l->error));
	return n >= 0 && (size_t)n < cap;
}
