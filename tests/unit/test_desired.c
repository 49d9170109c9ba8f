/* desired_load: typed objects, CRD defaults, cross-object rules and fragment merges, from
 * in-memory files (the golden tests in tests/validate cover the printed errors). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "source/treefiles.h"

static struct schema_set *schemas;

static int setup(void **state)
{
	(void)state;
	struct cf_err err;
	if (schema_set_load_embedded(&schemas, &err) < 0) {
		fprintf(stderr, "schemas: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	schema_set_free(schemas);
	return 0;
}

static void add(struct treefiles *tf, const char *path, const char *text)
{
	struct cf_err err;
	assert_int_equal(treefiles_add(tf, path, text, strlen(text), &err), 0);
}

static const char node_fmt[] = "apiVersion: fleet.openclaw.io/v1alpha1\n"
			       "kind: MacNode\n"
			       "metadata:\n  name: %s\n"
			       "spec:\n"
			       "  address: http://127.0.0.1:%d\n"
			       "  role: gateway\n"
			       "  canary: %s\n"
			       "  loadBalancer:\n    server: %s\n";

static void add_node(struct treefiles *tf, const char *name, int port, bool canary)
{
	char path[128], text[512];
	snprintf(path, sizeof(path), "openclaw/nodes/%s.yaml", name);
	snprintf(text, sizeof(text), node_fmt, name, port, canary ? "true" : "false", name);
	add(tf, path, text);
}

static const char promotion_min[] = "apiVersion: fleet.openclaw.io/v1alpha1\n"
				    "kind: Promotion\n"
				    "metadata: {name: gateway}\n"
				    "spec:\n"
				    "  tag: v1.0.0\n"
				    "  skillSemver: 1.4.2\n";

static const char lock_ok[] = "{\"openclaw\":{\"version\":\"2026.7.1\",\"commit\":\"3f9c2ab\"},"
			      "\"plugins\":[{\"name\":\"@openclaw/a\",\"version\":\"1.0.0\"}],"
			      "\"skills\":{\"semver\":\"1.4.2\"}}";

static struct desired_state *load_ok(struct treefiles *tf)
{
	struct desired_state *ds = NULL;
	struct diag_list diags = {0};
	treefiles_sort(tf);
	int rc = desired_load(tf, schemas, NULL, &ds, &diags);
	if (rc != 0)
		diag_list_print(&diags, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(diags.n, 0);
	diag_list_free(&diags);
	return ds;
}

/* Loads files expected to fail and returns the printed diagnostics. */
static char *load_fail(struct treefiles *tf)
{
	struct desired_state *ds = NULL;
	struct diag_list diags = {0};
	treefiles_sort(tf);
	assert_int_equal(desired_load(tf, schemas, NULL, &ds, &diags), -1);
	assert_null(ds);
	assert_true(diags.n > 0);
	diag_list_sort(&diags);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	diag_list_print(&diags, f);
	fclose(f);
	diag_list_free(&diags);
	return buf;
}

static void test_promotion_defaults_from_crd(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml", promotion_min);
	add(&tf, "openclaw.lock", lock_ok);
	struct desired_state *ds = load_ok(&tf);
	assert_int_equal(ds->npromotions, 1);
	const struct promotion *p = &ds->promotions[0];
	assert_string_equal(p->tag, "v1.0.0");
	assert_string_equal(p->skill_semver, "1.4.2");
	assert_int_equal(p->green_windows, 2);
	assert_true(p->rollback_automatic);
	assert_false(p->suspend);
	assert_false(p->abort);
	assert_int_equal(p->analysis_interval_ms, 10 * 60 * 1000);
	assert_int_equal(p->max_hold_ms, 30 * 60 * 1000);
	int want[] = {5, 20, 40, 60, 80, 100};
	assert_int_equal(p->nsteps, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(p->steps[i], want[i]);
	assert_null(p->ticket);
	const struct promotion_analysis *a = &p->analysis;
	assert_true(a->max_p95_ratio == 5.0);
	assert_int_equal(a->max_p95_ms, 0);
	assert_true(a->max_synthetic_failure_percent == 5.0);
	assert_int_equal(a->max_restarts_5m, 3);
	assert_true(a->min_disk_free_percent == 10.0);
	assert_false(a->has_max_digest_failures);
	assert_int_equal(a->failure_limit, 1);
	assert_int_equal(a->min_samples, 3);
	desired_free(ds);
	treefiles_free(&tf);
}

static void test_promotion_explicit_values(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: release/2026.7\n  skillSemver: 1.4.2\n  ticket: OPS-1\n"
	    "  canary: {steps: [10, 50], analysisInterval: 90s, greenWindows: 3, maxHold: 1h}\n"
	    "  rollback: {automatic: false}\n  suspend: true\n");
	add(&tf, "openclaw.lock", lock_ok);
	struct desired_state *ds = load_ok(&tf);
	const struct promotion *p = &ds->promotions[0];
	assert_string_equal(p->tag, "release/2026.7");
	assert_string_equal(p->ticket, "OPS-1");
	assert_int_equal(p->nsteps, 2);
	assert_int_equal(p->steps[1], 50);
	assert_int_equal(p->analysis_interval_ms, 90000);
	assert_int_equal(p->green_windows, 3);
	assert_int_equal(p->max_hold_ms, 3600000);
	assert_false(p->rollback_automatic);
	assert_true(p->suspend);
	desired_free(ds);
	treefiles_free(&tf);
}

static void test_promotion_analysis_values(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v1\n  skillSemver: 1.4.2\n  canary:\n    analysis:\n"
	    "      maxP95Ratio: 2.5\n      maxP95: 800ms\n      maxSyntheticFailurePercent: 0.5\n"
	    "      maxRestarts5m: 6\n      minDiskFreePercent: 4\n      maxDigestFailures: 0\n"
	    "      failureLimit: 3\n      minSamples: 5\n");
	add(&tf, "openclaw.lock", lock_ok);
	struct desired_state *ds = load_ok(&tf);
	const struct promotion_analysis *a = &ds->promotions[0].analysis;
	assert_true(a->max_p95_ratio == 2.5);
	assert_int_equal(a->max_p95_ms, 800);
	assert_true(a->max_synthetic_failure_percent == 0.5);
	assert_int_equal(a->max_restarts_5m, 6);
	assert_true(a->min_disk_free_percent == 4.0);
	assert_true(a->has_max_digest_failures);
	assert_int_equal(a->max_digest_failures, 0);
	assert_int_equal(a->failure_limit, 3);
	assert_int_equal(a->min_samples, 5);
	desired_free(ds);
	treefiles_free(&tf);
}

/* Gates, an approval, a retry and the rollback window; without them, no gate, no approval, no
 * retry and a window of 3. */
static void test_promotion_gates_and_controls(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v2\n  skillSemver: 1.4.2\n"
	    "  canary: {steps: [10, 50], gates: [50, 100]}\n"
	    "  approval: {tag: v2, through: 50}\n"
	    "  retry: {tag: v1, quarantinedAt: \"2026-12-07T05:10:00.123Z\"}\n"
	    "  rollback: {window: 0}\n");
	add(&tf, "openclaw.lock", lock_ok);
	struct desired_state *ds = load_ok(&tf);
	const struct promotion *p = &ds->promotions[0];
	assert_int_equal(p->ngates, 2);
	assert_int_equal(p->gates[0], 50);
	assert_int_equal(p->gates[1], 100);
	assert_string_equal(p->approval_tag, "v2");
	assert_int_equal(p->approval_through, 50);
	assert_false(p->approval_full);
	assert_string_equal(p->retry_tag, "v1");
	assert_int_equal(p->retry_at_ms, 1796620200123LL);
	assert_int_equal(p->rollback_window, 0);
	desired_free(ds);
	treefiles_free(&tf);

	memset(&tf, 0, sizeof(tf));
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v2\n  skillSemver: 1.4.2\n  approval: {tag: v2, through: full}\n");
	add(&tf, "openclaw.lock", lock_ok);
	ds = load_ok(&tf);
	p = &ds->promotions[0];
	assert_int_equal(p->ngates, 0);
	assert_true(p->approval_full);
	assert_null(p->retry_tag);
	assert_int_equal(p->rollback_window, 3);
	desired_free(ds);
	treefiles_free(&tf);
}

/* A gate that is not a step would never hold anything. */
static void test_promotion_gate_not_a_step(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v2\n  skillSemver: 1.4.2\n  canary: {steps: [10, 50], gates: [30]}\n");
	add(&tf, "openclaw.lock", lock_ok);
	char *out = load_fail(&tf);
	assert_string_equal(out, "clawfleet/promotion.yaml:7:37: Promotion/p: "
				 "spec.canary.gates[0]: 30 is not a step of spec.canary.steps "
				 "(10, 50): a gate holds before a step, or before Mirroring as 100\n");
	free(out);
	treefiles_free(&tf);
}

/* analysis.metrics and provider: the values with their defaults, and what validate refuses. */
static void test_promotion_metrics(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v1\n  skillSemver: 1.4.2\n  canary:\n    analysis:\n      metrics:\n"
	    "        - name: request-success-rate\n          thresholdRange: {min: 99}\n"
	    "        - name: errors\n          query: sum(x{s=~\"{{canary}}\"})\n"
	    "          thresholdRange: {min: 0, max: 5}\n          compare: stable\n"
	    "          interval: 30s\n          failureLimit: 2\n          noData: ignore\n"
	    "      provider: {address: \"http://prom:9090/\", timeout: 2s}\n");
	add(&tf, "openclaw.lock", lock_ok);
	struct desired_state *ds = load_ok(&tf);
	const struct promotion_analysis *a = &ds->promotions[0].analysis;
	assert_int_equal(a->nmetrics, 2);
	assert_string_equal(a->metrics[0].name, "request-success-rate");
	assert_null(a->metrics[0].query);
	assert_true(a->metrics[0].has_min && a->metrics[0].min == 99 && !a->metrics[0].has_max);
	assert_int_equal(a->metrics[0].compare, METRIC_COMPARE_NONE);
	assert_int_equal(a->metrics[0].interval_ms, 0);
	assert_int_equal(a->metrics[0].failure_limit, 1);
	assert_int_equal(a->metrics[0].no_data, METRIC_NO_DATA_HOLD);
	assert_string_equal(a->metrics[1].query, "sum(x{s=~\"{{canary}}\"})");
	assert_int_equal(a->metrics[1].compare, METRIC_COMPARE_STABLE);
	assert_int_equal(a->metrics[1].interval_ms, 30000);
	assert_int_equal(a->metrics[1].failure_limit, 2);
	assert_int_equal(a->metrics[1].no_data, METRIC_NO_DATA_IGNORE);
	assert_string_equal(a->provider_address, "http://prom:9090/");
	assert_int_equal(a->provider_timeout_ms, 2000);
	desired_free(ds);
	treefiles_free(&tf);

	struct treefiles bad = {0};
	add_node(&bad, "canary-gw", 18081, true);
	add(&bad, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v1\n  skillSemver: 1.4.2\n  canary:\n    analysis:\n      metrics:\n"
	    "        - name: error-ratio\n"
	    "        - name: request-duration\n          thresholdRange: {min: 3, max: 1}\n"
	    "        - name: request-duration\n"
	    "      provider: {address: \"http://user:pw@prom:9090\"}\n");
	add(&bad, "openclaw.lock", lock_ok);
	char *out = load_fail(&bad);
	assert_string_equal(
		out, "clawfleet/promotion.yaml:10:11: Promotion/p: "
		     "spec.canary.analysis.metrics[0].query: metric \"error-ratio\" is not built in "
		     "(request-success-rate, request-duration): give it a query\n"
		     "clawfleet/promotion.yaml:12:27: Promotion/p: "
		     "spec.canary.analysis.metrics[1].thresholdRange: min 3 is over max 1: no value "
		     "could pass\n"
		     "clawfleet/promotion.yaml:13:11: Promotion/p: spec.canary.analysis.metrics[2].name: "
		     "the name is used by an earlier metric: /status and a rollback's reason name a "
		     "metric by it\n"
		     "clawfleet/promotion.yaml:14:27: Promotion/p: spec.canary.analysis.provider.address: "
		     "the URL may not carry credentials: Git is no place for them\n");
	free(out);
	treefiles_free(&bad);
}

/* A query naming a placeholder the controller cannot fill is refused where it is written, not
 * found at a canary step as a window without data; the four known ones load. */
static void test_promotion_metric_placeholders(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v1\n  skillSemver: 1.4.2\n  canary:\n    analysis:\n      metrics:\n"
	    "        - name: all-four\n"
	    "          query: sum(rate(x{s=~\"{{canary}}|{{stable}}\",b=\"{{backend}}\"}"
	    "[{{interval}}]))\n");
	add(&tf, "openclaw.lock", lock_ok);
	struct desired_state *ds = load_ok(&tf);
	assert_int_equal(ds->promotions[0].analysis.nmetrics, 1);
	desired_free(ds);
	treefiles_free(&tf);

	struct treefiles bad = {0};
	add_node(&bad, "canary-gw", 18081, true);
	add(&bad, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v1\n  skillSemver: 1.4.2\n  canary:\n    analysis:\n      metrics:\n"
	    "        - name: typo\n          query: sum(x{s=~\"{{canaries}}\"})\n"
	    "        - name: spaced\n          query: 'sum(x{s=~\"{{ canary }}\"})'\n"
	    "        - name: unclosed\n          query: sum(x[{{interval])\n"
	    "        - name: after-a-good-one\n"
	    "          query: sum(x{s=~\"{{canary}}\"}[{{window}}])\n");
	add(&bad, "openclaw.lock", lock_ok);
	char *out = load_fail(&bad);
	assert_string_equal(
		out, "clawfleet/promotion.yaml:11:18: Promotion/p: "
		     "spec.canary.analysis.metrics[0].query: unknown placeholder {{canaries}}: the "
		     "query may use {{canary}}, {{stable}}, {{backend}} and {{interval}}\n"
		     "clawfleet/promotion.yaml:13:18: Promotion/p: "
		     "spec.canary.analysis.metrics[1].query: unknown placeholder {{ canary }}: the "
		     "query may use {{canary}}, {{stable}}, {{backend}} and {{interval}}\n"
		     "clawfleet/promotion.yaml:15:18: Promotion/p: "
		     "spec.canary.analysis.metrics[2].query: unknown placeholder {{interval])...: the "
		     "query may use {{canary}}, {{stable}}, {{backend}} and {{interval}}\n"
		     "clawfleet/promotion.yaml:17:18: Promotion/p: "
		     "spec.canary.analysis.metrics[3].query: unknown placeholder {{window}}: the "
		     "query may use {{canary}}, {{stable}}, {{backend}} and {{interval}}\n");
	free(out);
	treefiles_free(&bad);
}

/* A maxP95 of zero would judge every canary red: the schema's duration refuses it. */
static void test_promotion_max_p95_zero(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: Promotion\nmetadata: {name: p}\n"
	    "spec:\n  tag: v1\n  skillSemver: 1.4.2\n  canary:\n    analysis: {maxP95: 0s}\n");
	add(&tf, "openclaw.lock", lock_ok);
	char *out = load_fail(&tf);
	assert_string_equal(out, "clawfleet/promotion.yaml:8:24: Promotion/p: "
				 "spec.canary.analysis.maxP95: \"0s\": a duration must be at least "
				 "1ms\n");
	free(out);
	treefiles_free(&tf);
}

static void test_nodes_and_lock(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add_node(&tf, "stable-gw-a", 18082, false);
	add(&tf, "openclaw/nodes/worker-1.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: MacNode\nmetadata: {name: worker-1}\n"
	    "spec: {address: 'http://127.0.0.1:18090', role: worker, zone: zone-b}\n");
	add(&tf, "openclaw.lock", lock_ok);
	struct desired_state *ds = load_ok(&tf);
	assert_int_equal(ds->nnodes, 3);
	const struct mac_node *c = desired_node(ds, "canary-gw");
	assert_non_null(c);
	assert_true(c->canary);
	assert_int_equal(c->role, NODE_GATEWAY);
	assert_int_equal(c->lb_weight, 100);
	assert_string_equal(c->lb_server, "canary-gw");
	const struct mac_node *w = desired_node(ds, "worker-1");
	assert_int_equal(w->role, NODE_WORKER);
	assert_null(w->lb_server);
	assert_string_equal(w->zone, "zone-b");
	assert_true(ds->lock.present);
	assert_string_equal(ds->lock.version, "2026.7.1");
	assert_string_equal(ds->lock.commit, "3f9c2ab");
	assert_string_equal(ds->lock.skills_semver, "1.4.2");
	assert_int_equal(ds->lock.nplugins, 1);
	assert_string_equal(ds->lock.plugins[0].name, "@openclaw/a");
	char sha[65];
	canon_sha256_hex(lock_ok, strlen(lock_ok), sha);
	assert_string_equal(ds->lock.file_sha256, sha);
	desired_free(ds);
	treefiles_free(&tf);
}

static void test_fragments_merge_in_name_order(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add(&tf, "clawfleet/tenants.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: TenantSlice\nmetadata: {name: acme}\n"
	    "spec: {channel: canary, profile: acme, "
	    "maintenance: {until: '2026-01-15T06:00:00Z'}}\n");
	/* Added out of order on purpose: the loader must sort by file name. */
	add(&tf, "tenants/acme/gateway.d/20-canary.yaml", "quota: {diskMiB: 4096}\ntools: [a]\n");
	add(&tf, "tenants/acme/gateway.d/10-base.yaml",
	    "quota: {diskMiB: 2048, files: 10}\ntools: [a, b, c]\nmodel: x\n");
	struct desired_state *ds = load_ok(&tf);
	const struct tenant_slice *t = desired_tenant(ds, "acme");
	assert_non_null(t);
	assert_int_equal(t->channel, CHANNEL_CANARY);
	assert_string_equal(t->profile, "acme");
	assert_int_equal(t->maintenance_until, 1768456800);
	const struct tenant_fragments *g = &t->fragments[FRAG_GATEWAY];
	assert_int_equal(g->nfiles, 2);
	char *json = NULL;
	size_t len;
	struct cf_err err;
	assert_int_equal(canon_json(g->merged, &json, &len, &err), 0);
	assert_string_equal(json, "{\"model\":\"x\",\"quota\":{\"diskMiB\":4096,\"files\":10},"
				  "\"tools\":[\"a\"]}");
	char sha[65];
	canon_sha256_hex(json, len, sha);
	assert_string_equal(g->sha256, sha);
	assert_null(t->fragments[FRAG_DOCTOR].merged);
	free(json);
	desired_free(ds);
	treefiles_free(&tf);
}

static void test_load_balancer_blocks(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add(&tf, "clawfleet/lb.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: LoadBalancer\nmetadata: {name: lb}\n"
	    "spec:\n  driver: command\n  command:\n    argv: [/usr/local/bin/lbctl, set-weight]\n");
	struct desired_state *ds = load_ok(&tf);
	assert_int_equal(ds->nlbs, 1);
	assert_int_equal(ds->lbs[0].driver, LB_COMMAND);
	/* minServing defaults to 50 %. */
	assert_int_equal(ds->lbs[0].min_serving.value, 50);
	assert_true(ds->lbs[0].min_serving.percent);
	assert_int_equal(ds->lbs[0].command.argc, 2);
	assert_string_equal(ds->lbs[0].command.argv[1], "set-weight");
	assert_null(ds->lbs[0].command.argv[2]);
	assert_int_equal(ds->lbs[0].drain_timeout_ms, 30 * 1000); /* the CRD's default */
	desired_free(ds);
	treefiles_free(&tf);
}

static struct min_serving load_min_serving(const char *value)
{
	struct treefiles tf = {0};
	char text[512];
	snprintf(text, sizeof(text),
		 "apiVersion: fleet.openclaw.io/v1alpha1\nkind: LoadBalancer\nmetadata: {name: lb}\n"
		 "spec:\n  driver: file\n  minServing: %s\n  file: {path: /tmp/w.json}\n", value);
	add(&tf, "clawfleet/lb.yaml", text);
	struct desired_state *ds = load_ok(&tf);
	struct min_serving ms = ds->lbs[0].min_serving;
	desired_free(ds);
	treefiles_free(&tf);
	return ms;
}

/* minServing: a count or a percent of the gateways, rounded up and never more than all. */
static void test_min_serving(void **state)
{
	(void)state;
	struct min_serving ms = load_min_serving("2");
	assert_int_equal(ms.value, 2);
	assert_false(ms.percent);
	ms = load_min_serving("\"75%\"");
	assert_int_equal(ms.value, 75);
	assert_true(ms.percent);
	ms = load_min_serving("0%");
	assert_int_equal(ms.value, 0);
	assert_true(ms.percent);

	const struct min_serving half = {50, true}, two = {2, false}, all = {100, true};
	assert_int_equal(min_serving_count(&half, 3), 2);
	assert_int_equal(min_serving_count(&half, 4), 2);
	assert_int_equal(min_serving_count(NULL, 3), 2);
	assert_int_equal(min_serving_count(&two, 5), 2);
	assert_int_equal(min_serving_count(&two, 1), 1);
	assert_int_equal(min_serving_count(&all, 3), 3);
	assert_int_equal(min_serving_count(&half, 0), 0);

	struct treefiles tf = {0};
	add(&tf, "clawfleet/lb.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: LoadBalancer\nmetadata: {name: lb}\n"
	    "spec:\n  driver: file\n  minServing: half\n  file: {path: /tmp/w.json}\n");
	char *out = load_fail(&tf);
	assert_non_null(strstr(out, "clawfleet/lb.yaml:6:15: LoadBalancer/lb: spec.minServing: must "
				    "match ^(100|[1-9]?[0-9])%$, got \"half\""));
	free(out);
	treefiles_free(&tf);
}

static void test_drain_timeout(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add(&tf, "clawfleet/lb.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: LoadBalancer\nmetadata: {name: lb}\n"
	    "spec:\n  driver: file\n  drainTimeout: 1m30s\n  file: {path: /tmp/w.json}\n");
	struct desired_state *ds = load_ok(&tf);
	assert_int_equal(ds->lbs[0].drain_timeout_ms, 90 * 1000);
	desired_free(ds);
	treefiles_free(&tf);

	tf = (struct treefiles){0};
	add(&tf, "clawfleet/lb.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: LoadBalancer\nmetadata: {name: lb}\n"
	    "spec:\n  driver: file\n  drainTimeout: 2h\n  file: {path: /tmp/w.json}\n");
	char *out = load_fail(&tf);
	assert_non_null(strstr(out, "clawfleet/lb.yaml:6:17: LoadBalancer/lb: spec.drainTimeout: 2h "
				    "is longer than 1h"));
	free(out);
	treefiles_free(&tf);
}

static void test_driver_block_required(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add(&tf, "clawfleet/lb.yaml",
	    "apiVersion: fleet.openclaw.io/v1alpha1\nkind: LoadBalancer\nmetadata: {name: lb}\n"
	    "spec:\n  driver: haproxy\n  file: {path: /tmp/w.json}\n");
	char *out = load_fail(&tf);
	assert_non_null(strstr(out, "clawfleet/lb.yaml:5:11: LoadBalancer/lb: spec.driver: driver "
				    "haproxy needs its settings in spec.haproxy"));
	free(out);
	treefiles_free(&tf);
}

static void test_promotion_needs_canary_and_lock(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "stable-gw-a", 18082, false);
	add(&tf, "clawfleet/promotion.yaml", promotion_min);
	char *out = load_fail(&tf);
	assert_non_null(strstr(out, "mark one gateway MacNode with spec.canary: true"));
	assert_non_null(strstr(out, "a Promotion needs openclaw.lock"));
	free(out);
	treefiles_free(&tf);
}

static bool no_tags(void *ctx, const char *tag)
{
	(void)ctx;
	(void)tag;
	return false;
}

static void test_tag_must_exist(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	add_node(&tf, "canary-gw", 18081, true);
	add(&tf, "clawfleet/promotion.yaml", promotion_min);
	add(&tf, "openclaw.lock", lock_ok);
	treefiles_sort(&tf);
	struct desired_hooks hooks = {.tag_exists = no_tags};
	struct desired_state *ds = NULL;
	struct diag_list diags = {0};
	assert_int_equal(desired_load(&tf, schemas, &hooks, &ds, &diags), -1);
	assert_int_equal(diags.n, 1);
	assert_string_equal(diags.v[0].field, "spec.tag");
	assert_string_equal(diags.v[0].msg,
			    "tag \"v1.0.0\" does not exist in the repository (push it first)");
	assert_int_equal(diags.v[0].line, 5);
	diag_list_free(&diags);
	treefiles_free(&tf);
}

static void test_lock_skills_sha256(void **state)
{
	(void)state;
	static const char sha[] =
		"9c15582087b12a24848b96530ae83a66c558a34c048e0a3c791b93060860ec30";
	char lock[512];
	struct treefiles tf = {0};
	snprintf(lock, sizeof(lock),
		 "{\"openclaw\": {\"version\": \"2026.7.1\"},\n"
		 " \"skills\": {\"semver\": \"1.4.2\", \"sha256\": \"%s\"}}\n",
		 sha);
	add(&tf, "openclaw.lock", lock);
	struct desired_state *ds = load_ok(&tf);
	assert_string_equal(ds->lock.skills_sha256, sha);
	desired_free(ds);
	treefiles_free(&tf);

	/* Upper case, short, or not a string: located at the value, named by the field. */
	static const char *const bad[] = {
		"\"9C15582087B12A24848B96530AE83A66C558A34C048E0A3C791B93060860EC30\"",
		"\"9c1558\"", "42"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct treefiles t2 = {0};
		snprintf(lock, sizeof(lock),
			 "{\"openclaw\": {\"version\": \"2026.7.1\"},\n"
			 " \"skills\": {\"semver\": \"1.4.2\",\n   \"sha256\": %s}}\n",
			 bad[i]);
		add(&t2, "openclaw.lock", lock);
		char *out = load_fail(&t2);
		assert_string_equal(out, "openclaw.lock:3:14: -: skills.sha256: must be 64 lower-case "
					 "hex digits: the sha256 of what `find . -type f ! -name "
					 "'.clawfleet-*' -print0 | LC_ALL=C sort -z | xargs -0 "
					 "sha256sum` prints in the pack\n");
		free(out);
		treefiles_free(&t2);
	}
	/* null is as good as absent */
	struct treefiles t3 = {0};
	add(&t3, "openclaw.lock",
	    "{\"openclaw\": {\"version\": \"2026.7.1\"}, \"skills\": {\"semver\": \"1.4.2\", "
	    "\"sha256\": null}}");
	ds = load_ok(&t3);
	assert_null(ds->lock.skills_sha256);
	desired_free(ds);
	treefiles_free(&t3);
}

static void test_empty_repository_is_valid(void **state)
{
	(void)state;
	struct treefiles tf = {0};
	struct desired_state *ds = load_ok(&tf);
	assert_int_equal(ds->nnodes + ds->npromotions + ds->ntenants, 0);
	assert_false(ds->lock.present);
	desired_free(ds);
}

/* A fleet large enough for node files to be parsed on worker threads, past the 256 files they
 * may run ahead of the loader: every MacNode loads, in file order, and the errors of files far
 * apart are all reported, each against its file. */
static void test_many_node_files(void **state)
{
	(void)state;
	enum { NODES = 700 };
	struct treefiles tf = {0};
	char name[32];
	for (int i = 0; i < NODES; i++) {
		snprintf(name, sizeof(name), "mac-%04d", i);
		add_node(&tf, name, 20000 + i, i == 0);
	}
	struct desired_state *ds = load_ok(&tf);
	assert_int_equal(ds->nnodes, NODES);
	for (int i = 0; i < NODES; i++) {
		snprintf(name, sizeof(name), "mac-%04d", i);
		assert_string_equal(ds->nodes[i].name, name);
	}
	desired_free(ds);

	for (size_t i = 0; i < tf.n; i++) {
		const char *path = tf.v[i].path;
		if (strstr(path, "mac-0003") || strstr(path, "mac-0300") || strstr(path, "mac-0650"))
			tf.v[i].data[0] = '[';
		else if (strstr(path, "mac-0500"))
			memcpy(strstr(tf.v[i].data, "name: mac-0500") + 6, "mac-9999", 8);
	}
	char *out = load_fail(&tf);
	const char *at3 = strstr(out, "openclaw/nodes/mac-0003.yaml:");
	const char *at300 = strstr(out, "openclaw/nodes/mac-0300.yaml:");
	const char *at500 = strstr(out, "openclaw/nodes/mac-0500.yaml:");
	const char *at650 = strstr(out, "openclaw/nodes/mac-0650.yaml:");
	if (!at3 || !at300 || !at500 || !at650)
		fprintf(stderr, "%s", out);
	assert_true(at3 && at300 && at500 && at650);
	assert_true(at3 < at300 && at300 < at500 && at500 < at650);
	assert_non_null(strstr(at500, "disagrees with the file name"));
	size_t lines = 0;
	for (const char *c = out; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 4);
	free(out);
	treefiles_free(&tf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_promotion_defaults_from_crd),
		cmocka_unit_test(test_lock_skills_sha256),
		cmocka_unit_test(test_promotion_explicit_values),
		cmocka_unit_test(test_promotion_analysis_values),
		cmocka_unit_test(test_promotion_gates_and_controls),
		cmocka_unit_test(test_promotion_gate_not_a_step),
		cmocka_unit_test(test_promotion_max_p95_zero),
		cmocka_unit_test(test_promotion_metrics),
		cmocka_unit_test(test_promotion_metric_placeholders),
		cmocka_unit_test(test_nodes_and_lock),
		cmocka_unit_test(test_many_node_files),
		cmocka_unit_test(test_fragments_merge_in_name_order),
		cmocka_unit_test(test_load_balancer_blocks),
		cmocka_unit_test(test_min_serving),
		cmocka_unit_test(test_drain_timeout),
		cmocka_unit_test(test_driver_block_required),
		cmocka_unit_test(test_promotion_needs_canary_and_lock),
		cmocka_unit_test(test_tag_must_exist),
		cmocka_unit_test(test_empty_repository_is_valid),
	};
	return cmocka_run_group_tests_name("desired", tests, setup, teardown);
}
