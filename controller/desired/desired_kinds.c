#include "desired/desired.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/names.h"
#include "base/timeparse.h"
#include "base/yamltree.h"
#include "desired/desired_internal.h"
#include "desired/schema.h"

/* ---- field access: the object's value, else the CRD default ---- */

static const struct ynode *field(const struct loaded_object *o, const char *path)
{
	const struct ynode *n = desired_value_at(o->node, path);
	if (n && ynode_type(n) != YT_NULL)
		return n;
	return schema_default(o->kind, path);
}

static const char *field_str(const struct loaded_object *o, const char *path)
{
	return ynode_str(field(o, path));
}

static bool field_bool(const struct loaded_object *o, const char *path, bool fallback)
{
	bool v;
	return ynode_bool(field(o, path), &v) == 0 ? v : fallback;
}

static long long field_int(const struct loaded_object *o, const char *path, long long fallback)
{
	long long v;
	return ynode_int(field(o, path), &v) == 0 ? v : fallback;
}

static double field_number(const struct loaded_object *o, const char *path, double fallback)
{
	double v;
	return ynode_number(field(o, path), &v) == 0 ? v : fallback;
}

/* Objects are located by their name: that is what a duplicate or a cross-object rule is about. */
static void set_origin(struct loader *ld, struct origin *org, const struct loaded_object *o)
{
	const struct ynode *n = desired_value_at(o->node, "metadata.name");
	if (!n)
		n = o->node;
	org->file = desired_strdup(ld, o->file);
	org->line = n->line;
	org->col = n->col;
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool check_name(struct loader *ld, const struct loaded_object *o, const char *path,
		       int (*check)(const char *, struct cf_err *))
{
	const char *s = field_str(o, path);
	struct cf_err err;
	if (!s || check(s, &err) == 0)
		return true;
	/* metadata.name already failed the schema's subdomain rule: one message is enough. */
	if (strcmp(path, "metadata.name") == 0 && name_check_dns_subdomain(s, NULL) < 0)
		return false;
	desired_object_diag(ld, o, path, "%s", err.msg);
	return false;
}

static bool parse_duration_field(const struct loaded_object *o, const char *path, int64_t *out)
{
	/* The schema reports a missing or malformed duration; this only converts it. */
	const char *s = field_str(o, path);
	return s && duration_parse(s, out, NULL) == 0;
}

/* ---- kinds ---- */

static void load_macnode(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	if (!check_name(ld, o, "metadata.name", name_check_dns_label))
		return;
	struct mac_node *nodes = desired_grow(ld, ds->nodes, ds->nnodes, sizeof(*nodes));
	if (!nodes)
		return;
	ds->nodes = nodes;
	struct mac_node *m = &ds->nodes[ds->nnodes++];
	m->name = desired_strdup(ld, name);
	m->address = desired_strdup(ld, field_str(o, "spec.address"));
	const char *role = field_str(o, "spec.role");
	m->role = streq(role, "worker") ? NODE_WORKER : streq(role, "notifier") ? NODE_NOTIFIER
									    : NODE_GATEWAY;
	m->zone = desired_strdup(ld, field_str(o, "spec.zone"));
	m->canary = field_bool(o, "spec.canary", false);
	m->lb_server = desired_strdup(ld, field_str(o, "spec.loadBalancer.server"));
	m->lb_weight = (int)field_int(o, "spec.loadBalancer.weight", 100);
	set_origin(ld, &m->origin, o);
	if (m->role == NODE_GATEWAY && streq(role, "gateway") && !m->lb_server)
		desired_object_diag(ld, o, "spec",
				    "a gateway needs spec.loadBalancer.server: the load balancer "
				    "routes traffic to it by that name");
}

/* spec.canary.analysis; the schema has checked every bound (a duration is at least 1ms), and
 * the fallbacks are the CRD's defaults. */
#define ANALYSIS "spec.canary.analysis."
static bool load_analysis(const struct loaded_object *o, struct promotion_analysis *a)
{
	long long digest;
	a->max_p95_ratio = field_number(o, ANALYSIS "maxP95Ratio", 5);
	a->max_synthetic_failure_percent = field_number(o, ANALYSIS "maxSyntheticFailurePercent", 5);
	a->max_restarts_5m = (int)field_int(o, ANALYSIS "maxRestarts5m", 3);
	a->min_disk_free_percent = field_number(o, ANALYSIS "minDiskFreePercent", 10);
	a->has_max_digest_failures = ynode_int(field(o, ANALYSIS "maxDigestFailures"), &digest) == 0;
	a->max_digest_failures = a->has_max_digest_failures ? digest : 0;
	a->failure_limit = (int)field_int(o, ANALYSIS "failureLimit", 1);
	a->min_samples = (int)field_int(o, ANALYSIS "minSamples", 3);
	a->max_synthetic_p95_ms = 5000;
	return (!field_str(o, ANALYSIS "maxP95") ||
		parse_duration_field(o, ANALYSIS "maxP95", &a->max_p95_ms)) &&
	       (!field_str(o, ANALYSIS "maxSyntheticP95") ||
		parse_duration_field(o, ANALYSIS "maxSyntheticP95", &a->max_synthetic_p95_ms));
}

/* An RFC 3339 time as milliseconds: the quarantine a retry names was recorded to the
 * millisecond, and /status shows it so. The schema checked the shape; digits past the third of
 * the fraction do not count. */
static bool parse_time_ms(const char *s, int64_t *out)
{
	time_t t;
	if (!s || rfc3339_parse(s, &t, NULL) < 0)
		return false;
	int64_t ms = 0;
	const char *frac = strlen(s) > 19 && s[19] == '.' ? s + 20 : "";
	for (int i = 0; i < 3; i++)
		ms = ms * 10 + (frac[0] >= '0' && frac[0] <= '9' ? *frac++ - '0' : 0);
	*out = (int64_t)t * 1000 + ms;
	return true;
}

/* spec.canary.gates: each a step of the Promotion, or 100 (Mirroring) when the steps end below
 * it; a gate anywhere else would never hold anything. */
static bool load_gates(struct loader *ld, const struct loaded_object *o, struct promotion *p)
{
	const struct ynode *gates = field(o, "spec.canary.gates");
	bool ok = true;
	for (size_t i = 0; gates && gates->kind == YNODE_SEQ && i < gates->n; i++) {
		long long v = 0;
		if (i >= DESIRED_MAX_STEPS || ynode_int(gates->items[i], &v) < 0)
			break;
		bool is_step = v == 100 || v < 1 || v > 100; /* the schema reports the range */
		for (size_t k = 0; k < p->nsteps && !is_step; k++)
			is_step = p->steps[k] == v;
		if (!is_step) {
			char path[64], steps[DESIRED_MAX_STEPS * 5] = "";
			size_t used = 0;
			for (size_t k = 0; k < p->nsteps && used < sizeof(steps); k++)
				used += (size_t)snprintf(steps + used, sizeof(steps) - used, "%s%d",
							 k ? ", " : "", p->steps[k]);
			snprintf(path, sizeof(path), "spec.canary.gates[%zu]", i);
			diag_add(ld->diags, o->file, gates->items[i]->line, gates->items[i]->col,
				 o->label, path,
				 "%lld is not a step of spec.canary.steps (%s): a gate holds before a "
				 "step, or before Mirroring as 100",
				 v, steps);
			ok = false;
		}
		p->gates[p->ngates++] = (int)v;
	}
	return ok;
}

/* spec.approval and spec.retry; the schema checked their shapes. */
static bool load_controls(const struct loaded_object *o, struct promotion *p)
{
	long long through = 0;
	const char *at = field_str(o, "spec.retry.quarantinedAt");
	if (field_str(o, "spec.approval.tag")) {
		p->approval_full = streq(field_str(o, "spec.approval.through"), "full");
		if (!p->approval_full && ynode_int(field(o, "spec.approval.through"), &through) < 0)
			return false;
		p->approval_through = (int)through;
	}
	if (field_str(o, "spec.retry.tag") && !parse_time_ms(at, &p->retry_at_ms))
		return false;
	return true;
}

static void load_promotion(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	const char *semver = field_str(o, "spec.skillSemver");
	const char *tag = field_str(o, "spec.tag");
	struct promotion p = {0};
	bool ok = semver && tag;
	ok &= parse_duration_field(o, "spec.canary.analysisInterval", &p.analysis_interval_ms);
	ok &= parse_duration_field(o, "spec.canary.maxHold", &p.max_hold_ms);
	ok &= load_analysis(o, &p.analysis);
	if (semver && ds->lock.skills_semver && !streq(semver, ds->lock.skills_semver))
		desired_object_diag(ld, o, "spec.skillSemver",
				    "%s differs from skills.semver %s in openclaw.lock: the probe "
				    "would report every node red",
				    semver, ds->lock.skills_semver);
	const struct ynode *steps = field(o, "spec.canary.steps");
	for (size_t i = 0; steps && steps->kind == YNODE_SEQ && i < steps->n; i++) {
		long long v = 0;
		if (i >= DESIRED_MAX_STEPS || ynode_int(steps->items[i], &v) < 0)
			break;
		if (p.nsteps && v <= p.steps[p.nsteps - 1]) {
			char path[64];
			snprintf(path, sizeof(path), "spec.canary.steps[%zu]", i);
			diag_add(ld->diags, o->file, steps->items[i]->line, steps->items[i]->col,
				 o->label, path, "steps must strictly increase: %lld follows %d", v,
				 p.steps[p.nsteps - 1]);
			ok = false;
		}
		p.steps[p.nsteps++] = (int)v;
	}
	ok &= load_gates(ld, o, &p);
	ok &= load_controls(o, &p);
	ok &= desired_load_webhooks(ld, o, &p);
	if (!ok || !desired_load_metrics(ld, o, &p.analysis)) {
		desired_free_webhooks(&p);
		desired_free_metrics(&p.analysis);
		return;
	}
	if (ld->hooks && ld->hooks->tag_exists && !ld->hooks->tag_exists(ld->hooks->ctx, tag))
		desired_object_diag(ld, o, "spec.tag",
				    "tag \"%s\" does not exist in the repository (push it first)",
				    tag);
	struct promotion *promotions =
		desired_grow(ld, ds->promotions, ds->npromotions, sizeof(*promotions));
	if (!promotions) {
		desired_free_webhooks(&p);
		desired_free_metrics(&p.analysis);
		return;
	}
	ds->promotions = promotions;
	p.name = desired_strdup(ld, name);
	p.tag = desired_strdup(ld, tag);
	p.image_ref = desired_strdup(ld, field_str(o, "spec.imageRef"));
	p.skill_semver = desired_strdup(ld, semver);
	p.ticket = desired_strdup(ld, field_str(o, "spec.ticket"));
	p.approval_tag = desired_strdup(ld, field_str(o, "spec.approval.tag"));
	p.retry_tag = desired_strdup(ld, field_str(o, "spec.retry.tag"));
	p.green_windows = (int)field_int(o, "spec.canary.greenWindows", 2);
	p.rollback_automatic = field_bool(o, "spec.rollback.automatic", true);
	p.rollback_window = (int)field_int(o, "spec.rollback.window", 3);
	p.suspend = field_bool(o, "spec.suspend", false);
	p.abort = field_bool(o, "spec.abort", false);
	set_origin(ld, &p.origin, o);
	ds->promotions[ds->npromotions++] = p;
}

static void load_tenant_slice(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	if (!check_name(ld, o, "metadata.name", name_check_dns_label))
		return;
	/* The schema reports a malformed timestamp; this only converts it. */
	time_t until = 0;
	const char *until_s = field_str(o, "spec.maintenance.until");
	if (until_s && rfc3339_parse(until_s, &until, NULL) < 0)
		return;
	struct tenant_slice *tenants = desired_grow(ld, ds->tenants, ds->ntenants, sizeof(*tenants));
	if (!tenants)
		return;
	ds->tenants = tenants;
	struct tenant_slice *t = &ds->tenants[ds->ntenants++];
	t->name = desired_strdup(ld, name);
	const char *channel = field_str(o, "spec.channel");
	t->channel = channel && strcmp(channel, "canary") == 0 ? CHANNEL_CANARY : CHANNEL_STABLE;
	t->profile = desired_strdup(ld, field_str(o, "spec.profile"));
	t->maintenance_until = until;
	set_origin(ld, &t->origin, o);
}

static bool driver_from_name(const char *s, enum lb_driver *out)
{
	static const enum lb_driver all[] = {LB_HAPROXY, LB_HTTP, LB_FILE, LB_COMMAND};
	for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, lb_driver_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

static void load_lb_blocks(struct loader *ld, struct load_balancer *lb,
			   const struct loaded_object *o)
{
	lb->haproxy.socket = desired_strdup(ld, field_str(o, "spec.haproxy.socket"));
	lb->haproxy.address = desired_strdup(ld, field_str(o, "spec.haproxy.address"));
	lb->haproxy.backend = desired_strdup(ld, field_str(o, "spec.haproxy.backend"));
	lb->haproxy.tenant_map = desired_strdup(ld, field_str(o, "spec.haproxy.tenantMap"));
	lb->http.url = desired_strdup(ld, field_str(o, "spec.http.url"));
	const struct ynode *h = field(o, "spec.http.headers");
	for (size_t i = 0; h && h->kind == YNODE_MAP && i < h->n; i++) {
		struct header_kv *headers =
			desired_grow(ld, lb->http.headers, lb->http.nheaders, sizeof(*headers));
		if (!headers)
			return;
		lb->http.headers = headers;
		lb->http.headers[lb->http.nheaders].name = desired_strdup(ld, h->pairs[i].key->str);
		lb->http.headers[lb->http.nheaders].value = desired_strdup(ld, ynode_str(h->pairs[i].value));
		lb->http.nheaders++;
	}
	lb->file.path = desired_strdup(ld, field_str(o, "spec.file.path"));
	const struct ynode *argv = field(o, "spec.command.argv");
	if (argv && argv->kind == YNODE_SEQ) {
		lb->command.argv = calloc(argv->n + 1, sizeof(char *));
		if (!lb->command.argv) {
			ld->out_of_memory = true;
			return;
		}
		for (size_t i = 0; i < argv->n; i++)
			lb->command.argv[i] = desired_strdup(ld, ynode_str(argv->items[i]));
		lb->command.argc = argv->n;
	}
}

/* The schema checked the value (an integer 0..4096 or "N%" with N 0..100); this converts it. */
static struct min_serving parse_min_serving(const struct loaded_object *o)
{
	const struct ynode *n = field(o, "spec.minServing");
	struct min_serving ms = {50, true};
	long long v;
	if (ynode_int(n, &v) == 0)
		return (struct min_serving){(int)v, false};
	const char *s = ynode_str(n);
	if (s && sscanf(s, "%lld%%", &v) == 1)
		ms = (struct min_serving){(int)v, true};
	return ms;
}

size_t min_serving_count(const struct min_serving *ms, size_t ngateways)
{
	struct min_serving fallback = {50, true};
	if (!ms)
		ms = &fallback;
	size_t want = ms->percent ? ((size_t)ms->value * ngateways + 99) / 100 : (size_t)ms->value;
	return want < ngateways ? want : ngateways;
}

static void load_load_balancer(struct loader *ld, const struct loaded_object *o, const char *name)
{
	struct desired_state *ds = ld->ds;
	enum lb_driver driver;
	if (!driver_from_name(field_str(o, "spec.driver"), &driver))
		return;
	const char *block = lb_driver_name(driver);
	char path[64];
	snprintf(path, sizeof(path), "spec.%s", block);
	if (!desired_value_at(o->node, path)) {
		desired_object_diag(ld, o, "spec.driver", "driver %s needs its settings in spec.%s",
				    block, block);
		return;
	}
	if (driver == LB_HAPROXY && !field_str(o, "spec.haproxy.socket") &&
	    !field_str(o, "spec.haproxy.address")) {
		desired_object_diag(ld, o, "spec.haproxy",
				    "haproxy needs socket (a UNIX socket path) or address "
				    "(host:port) for its runtime API");
		return;
	}
	int64_t drain_timeout = 0;
	if (!parse_duration_field(o, "spec.drainTimeout", &drain_timeout))
		return;
	if (drain_timeout > DESIRED_MAX_DRAIN_TIMEOUT_MS) {
		desired_object_diag(ld, o, "spec.drainTimeout", "%s is longer than 1h: a restart "
				    "would wait that long for sessions",
				    field_str(o, "spec.drainTimeout"));
		return;
	}
	struct load_balancer *lbs = desired_grow(ld, ds->lbs, ds->nlbs, sizeof(*lbs));
	if (!lbs)
		return;
	ds->lbs = lbs;
	struct load_balancer *lb = &ds->lbs[ds->nlbs++];
	lb->name = desired_strdup(ld, name);
	lb->driver = driver;
	lb->min_serving = parse_min_serving(o);
	lb->drain_timeout_ms = drain_timeout;
	load_lb_blocks(ld, lb, o);
	set_origin(ld, &lb->origin, o);
}

static const struct kind_loader kind_loaders[] = {
	{"MacNode", true, load_macnode},
	{"Promotion", false, load_promotion},
	{"TenantSlice", false, load_tenant_slice},
	{"LoadBalancer", false, load_load_balancer},
};

const struct kind_loader *desired_kind_loader(const char *kind)
{
	for (size_t i = 0; i < sizeof(kind_loaders) / sizeof(kind_loaders[0]); i++)
		if (strcmp(kind_loaders[i].kind, kind) == 0)
			return &kind_loaders[i];
	return NULL;
}
