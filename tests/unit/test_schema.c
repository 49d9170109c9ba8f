#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/embedded.h"
#include "desired/schema.h"

#define API "fleet.openclaw.io/v1alpha1"

/* Objects below start with one of these, so spec's fields begin on line 6, column 3. */
#define HEAD(kind) "apiVersion: " API "\nkind: " kind "\nmetadata:\n  name: obj-1\nspec:\n"
#define NODE HEAD("MacNode")
#define NODE_OK "  address: https://mac-01.fleet.internal:8443\n  role: gateway\n"
#define PROMO HEAD("Promotion")
#define PROMO_OK "  tag: v2026.11.1\n  skillSemver: 1.4.0\n"
/* A MacNode whose metadata (from line 4) is written by the case. */
#define META "apiVersion: " API "\nkind: MacNode\nmetadata:\n"

static struct schema_set *schemas;

static int setup(void **state)
{
	struct cf_err err = {{0}};
	(void)state;
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

static const struct schema_kind *kind_of(const char *kind)
{
	const struct schema_kind *k = schema_set_find(schemas, API, kind);
	assert_non_null(k);
	return k;
}

/* Validates the first document of text as kind; diags come back sorted. */
static void validate(const char *kind, const char *text, struct diag_list *dl)
{
	struct yfile *f = NULL;
	struct yerr yerr;
	if (yfile_parse(&f, text, strlen(text), NULL, &yerr) != 0)
		fail_msg("%d:%d: %s", yerr.line, yerr.col, yerr.msg);
	assert_true(f->ndocs >= 1);
	schema_validate(kind_of(kind), f->docs[0].root, "x.yaml", "Obj/obj-1", dl);
	diag_list_sort(dl);
	yfile_free(f);
}

static void print_diags(const struct diag_list *dl)
{
	diag_list_print(dl, stderr);
}

static void expect_valid(const char *kind, const char *text)
{
	struct diag_list dl = {0};
	validate(kind, text, &dl);
	if (dl.n)
		print_diags(&dl);
	assert_int_equal(dl.n, 0);
	diag_list_free(&dl);
}

static void expect_diag(const struct diag *d, const char *field, int line, int col,
			const char *msg, bool prefix)
{
	if (field)
		assert_string_equal(d->field, field);
	else
		assert_null(d->field);
	assert_int_equal(d->line, line);
	assert_int_equal(d->col, col);
	if (prefix)
		assert_int_equal(strncmp(d->msg, msg, strlen(msg)), 0);
	else
		assert_string_equal(d->msg, msg);
	assert_string_equal(d->file, "x.yaml");
	assert_string_equal(d->object, "Obj/obj-1");
}

static void test_load_embedded(void **state)
{
	(void)state;
	assert_string_equal(schema_set_kinds(schemas),
			    "LoadBalancer, MacNode, Promotion, TenantSlice");
	const char *kinds[] = {"LoadBalancer", "MacNode", "Promotion", "TenantSlice"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		assert_non_null(schema_set_find(schemas, API, kinds[i]));
	assert_null(schema_set_find(schemas, API, "Macnode"));
	assert_null(schema_set_find(schemas, API, "Deployment"));
	assert_null(schema_set_find(schemas, "fleet.openclaw.io/v1", "MacNode"));
	assert_null(schema_set_find(schemas, "other.example.com/v1alpha1", "MacNode"));
	/* The notifier's channel is its own configuration's, never Git's. */
	assert_null(schema_set_find(schemas, API, "Notifier"));
	assert_null(schema_set_find(schemas, "v1alpha1", "MacNode"));
}

static void test_valid_objects(void **state)
{
	(void)state;
	expect_valid("MacNode", NODE NODE_OK);
	expect_valid("MacNode",
		     "apiVersion: " API "\nkind: MacNode\n"
		     "metadata:\n  name: mac-01.fleet\n  namespace: fleet\n"
		     "  labels: {tier: gateway}\n  annotations: {note: \"first\"}\n"
		     "spec:\n  address: http://[fd00::1]:8443/agent\n  role: worker\n"
		     "  zone: rack-2\n  canary: true\n"
		     "  loadBalancer: {server: \"mac_01:a.b-c\", weight: 0}\n");
	expect_valid("Promotion", PROMO PROMO_OK);
	expect_valid("Promotion",
		     PROMO "  tag: release/2026.11\n  skillSemver: 2.0.0-rc.1+build.5\n"
		     "  imageRef: ghcr.io/openclaw/openclaw:2026.11.1\n  ticket: OPS-42\n"
		     "  canary:\n    steps: [10, 50, 100]\n    analysisInterval: 1h30m\n"
		     "    greenWindows: 3\n    maxHold: 250ms\n"
		     "  rollback: {automatic: false}\n  suspend: true\n  abort: false\n");
	expect_valid("TenantSlice", HEAD("TenantSlice") "  channel: stable\n");
	expect_valid("TenantSlice",
		     HEAD("TenantSlice") "  channel: canary\n  profile: acme\n"
		     "  maintenance: {until: \"2026-11-21T03:00:00Z\"}\n");
	expect_valid("LoadBalancer",
		     HEAD("LoadBalancer") "  driver: haproxy\n"
		     "  haproxy: {socket: /run/haproxy/admin.sock, backend: gateways, "
		     "tenantMap: /etc/haproxy/tenants.map}\n");
	expect_valid("LoadBalancer",
		     HEAD("LoadBalancer") "  driver: file\n  drainTimeout: 1m30s\n"
		     "  file: {path: /var/lib/lb/state.json}\n");
	expect_valid("LoadBalancer",
		     HEAD("LoadBalancer") "  driver: http\n"
		     "  http:\n    url: https://lb.internal/api\n"
		     "    headers: {X-Fleet: prod, Content-Type: application/json}\n"
		     "  haproxy: {address: \"10.0.0.5:9999\", backend: gw}\n"
		     "  file: {path: /var/lib/lb/state.json}\n"
		     "  command: {argv: [/usr/local/bin/lbctl, set-weight]}\n");
	/* A null optional field is pruned, as the API server does. */
	expect_valid("MacNode", NODE NODE_OK "  zone: ~\n");
}

struct bad_case {
	const char *kind;
	const char *text;
	const char *field;
	int line, col;
	const char *msg;
	bool prefix; /* msg is only the start: timeparse words the rest */
};

static const struct bad_case bad_cases[] = {
	{"MacNode", NODE NODE_OK "  loadBalancer:\n    wieght: 10\n", "spec.loadBalancer.wieght",
	 9, 5, "unknown field \"wieght\"; did you mean \"weight\"?", false},
	{"MacNode", NODE NODE_OK "  loadBalancer: {weihgt: 10}\n", "spec.loadBalancer.weihgt", 8,
	 18, "unknown field \"weihgt\"; did you mean \"weight\"?", false},
	{"MacNode", NODE NODE_OK "  loadBalancer:\n    port: 10\n", "spec.loadBalancer.port", 9, 5,
	 "unknown field \"port\" (known: server, weight)", false},
	{"MacNode", NODE NODE_OK "  colour: blue\n", "spec.colour", 8, 3,
	 "unknown field \"colour\" (known: address, canary, loadBalancer, role, zone)", false},
	{"MacNode", NODE NODE_OK "  canary: \"yes\"\n", "spec.canary", 8, 11,
	 "must be a boolean, got string \"yes\"", false},
	{"MacNode", NODE NODE_OK "  loadBalancer: {weight: \"100\"}\n", "spec.loadBalancer.weight",
	 8, 26, "must be an integer, got string \"100\"", false},
	{"MacNode", NODE NODE_OK "  loadBalancer: {weight: 1.5}\n", "spec.loadBalancer.weight", 8,
	 26, "must be an integer, got number 1.5", false},
	{"MacNode", NODE NODE_OK "  loadBalancer: [a]\n", "spec.loadBalancer", 8, 17,
	 "must be an object, got array", false},
	{"MacNode", NODE "  address: https://x\n  role: gatway\n", "spec.role", 7, 9,
	 "must be one of gateway, worker, notifier; got \"gatway\"", false},
	{"MacNode", NODE NODE_OK "  loadBalancer: {weight: 300}\n", "spec.loadBalancer.weight", 8,
	 26, "must be <= 256, got 300", false},
	{"MacNode", NODE NODE_OK "  loadBalancer: {weight: -1}\n", "spec.loadBalancer.weight", 8,
	 26, "must be >= 0, got -1", false},
	{"MacNode", NODE NODE_OK "  zone: Rack_1\n", "spec.zone", 8, 9,
	 "must match ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$, got \"Rack_1\"", false},
	{"MacNode", NODE NODE_OK "  zone: \"a\\tb\\\"\"\n", "spec.zone", 8, 9,
	 "must match ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$, got \"a\\x09b\\\"\"", false},
	{"MacNode", NODE "  address: ftp://mac-01\n  role: worker\n", "spec.address", 6, 12,
	 "must match ^https?://([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\])"
	 "(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$, got \"ftp://mac-01\"", false},
	{"MacNode", NODE "  role: worker\n", "spec.address", 6, 3,
	 "required field \"address\" is missing", false},
	{"MacNode", NODE "  address: ~\n  role: worker\n", "spec.address", 6, 12,
	 "required field \"address\" is null", false},
	{"MacNode", META "  name: obj-1\n", "spec", 1, 1,
	 "required field \"spec\" is missing", false},
	{"MacNode", META "  name: obj-1\nspec: 5\n",
	 "spec", 5, 7, "must be an object, got integer 5", false},
	{"MacNode", NODE NODE_OK "specs: {}\n", "specs", 8, 1,
	 "unknown field \"specs\"; did you mean \"spec\"?", false},
	{"MacNode", NODE NODE_OK "extra: 1\n", "extra", 8, 1,
	 "unknown field \"extra\" (known: apiVersion, kind, metadata, spec)", false},
	{"MacNode", NODE NODE_OK "status:\n  phase: Ready\n", "status", 8, 1,
	 "status is written by clawfleet, not Git", false},
	{"MacNode", "apiVersion: fleet.openclaw.io/v1\nkind: MacNode\nmetadata: {name: a}\n"
		    "spec: {address: \"http://a\", role: worker}\n",
	 "apiVersion", 1, 13,
	 "must be \"fleet.openclaw.io/v1alpha1\", got \"fleet.openclaw.io/v1\"", false},
	{"MacNode",
	 "kind: MacNode\nmetadata: {name: a}\nspec: {address: \"http://a\", role: worker}\n",
	 "apiVersion", 1, 1, "required field \"apiVersion\" is missing", false},
	{"MacNode", "- a\n- b\n", NULL, 1, 1,
	 "must be an object with apiVersion, kind, metadata and spec, got array", false},
	/* metadata */
	{"MacNode", META "  name: Canary_GW\nspec:\n" NODE_OK,
	 "metadata.name", 4, 9,
	 "must be an RFC 1123 subdomain: lower-case letters, digits, \"-\" and \".\", starting and "
	 "ending with a letter or digit; got \"Canary_GW\"", false},
	{"MacNode", META "  name: a..b\nspec:\n" NODE_OK,
	 "metadata.name", 4, 9,
	 "must be an RFC 1123 subdomain: lower-case letters, digits, \"-\" and \".\", starting and "
	 "ending with a letter or digit; got \"a..b\"", false},
	{"MacNode", META "  name: 42\nspec:\n" NODE_OK,
	 "metadata.name", 4, 9, "must be a string, got integer 42", false},
	{"MacNode", META "  namespace: fleet\nspec:\n" NODE_OK,
	 "metadata.name", 4, 3, "required field \"name\" is missing", false},
	{"MacNode", META "  name: a\n  namespace: a.b\n"
		    "spec:\n" NODE_OK,
	 "metadata.namespace", 5, 14,
	 "must be an RFC 1123 label: lower-case letters, digits, \"-\", starting and ending with "
	 "a letter or digit; got \"a.b\"", false},
	{"MacNode", META "  name: a\n  uid: 1234\n"
		    "spec:\n" NODE_OK,
	 "metadata.uid", 5, 3, "not allowed in desired state (set by the API server)", false},
	{"MacNode", META "  name: a\n"
		    "  resourceVersion: \"7\"\nspec:\n" NODE_OK,
	 "metadata.resourceVersion", 5, 3, "not allowed in desired state (set by the API server)",
	 false},
	{"MacNode", META "  name: a\n  lables: {}\n"
		    "spec:\n" NODE_OK,
	 "metadata.lables", 5, 3, "unknown field \"lables\"; did you mean \"labels\"?", false},
	{"MacNode", META "  name: a\n"
		    "  labels: {app.kubernetes.io/tier: 1}\nspec:\n" NODE_OK,
	 "metadata.labels[app.kubernetes.io/tier]", 5, 36, "must be a string, got integer 1",
	 false},
	{"MacNode", "apiVersion: " API "\nkind: MacNode\nmetadata: [a]\nspec:\n" NODE_OK,
	 "metadata", 3, 11, "must be an object, got array", false},
	/* Promotion: arrays, strings, durations */
	{"Promotion", PROMO PROMO_OK "  canary: {steps: [5, 20, 101]}\n", "spec.canary.steps[2]", 8,
	 27, "must be <= 100, got 101", false},
	{"Promotion", PROMO PROMO_OK "  canary: {steps: [0]}\n", "spec.canary.steps[0]", 8, 20,
	 "must be >= 1, got 0", false},
	{"Promotion", PROMO PROMO_OK "  canary: {steps: []}\n", "spec.canary.steps", 8, 19,
	 "must not be empty", false},
	{"Promotion",
	 PROMO PROMO_OK
	 "  canary: {steps: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,"
	 " 20, 21]}\n",
	 "spec.canary.steps", 8, 19, "must have at most 20 items, got 21", false},
	{"Promotion", PROMO PROMO_OK "  canary: {steps: 50}\n", "spec.canary.steps", 8, 19,
	 "must be an array, got integer 50", false},
	{"Promotion", PROMO "  tag: \"\"\n  skillSemver: 1.0.0\n", "spec.tag", 6, 8,
	 "must not be empty", false},
	{"Promotion", PROMO "  tag: \"-rf\"\n  skillSemver: 1.0.0\n", "spec.tag", 6, 8,
	 "\"-rf\": a tag must not start with \"-\"", false},
	{"Promotion", PROMO "  tag: v1..2\n  skillSemver: 1.0.0\n", "spec.tag", 6, 8,
	 "\"v1..2\": a tag must not contain \"..\"", false},
	{"Promotion", PROMO "  tag: v1\n  skillSemver: 1.02.0\n", "spec.skillSemver", 7, 16,
	 "\"1.02.0\": leading zero in minor version", false},
	{"Promotion", PROMO "  tag: v1\n", "spec.skillSemver", 6, 3,
	 "required field \"skillSemver\" is missing", false},
	{"Promotion", PROMO PROMO_OK "  canary: {analysisInterval: 10 minutes}\n",
	 "spec.canary.analysisInterval", 8, 30,
	 "\"10 minutes\": no whitespace in a duration", false},
	{"Promotion", PROMO PROMO_OK "  canary: {analysisInterval: 10}\n",
	 "spec.canary.analysisInterval", 8, 30, "must be a string, got integer 10", false},
	{"Promotion", PROMO PROMO_OK "  canary: {maxHold: 0s}\n", "spec.canary.maxHold", 8, 21,
	 "\"0s\": ", true},
	{"Promotion", PROMO PROMO_OK "  canary: {maxHold: 800h}\n", "spec.canary.maxHold", 8, 21,
	 "\"800h\": ", true},
	{"Promotion", PROMO PROMO_OK "  canary: {greenWindows: 0}\n", "spec.canary.greenWindows", 8,
	 26, "must be >= 1, got 0", false},
	{"Promotion", PROMO PROMO_OK "  rollback: {automatic: yes}\n", "spec.rollback.automatic", 8,
	 25, "must be a boolean, got string \"yes\"", false},
	{"Promotion", PROMO PROMO_OK "  imageRef: openclaw\n", "spec.imageRef", 8, 13,
	 "must match ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-]+"
	 "[a-z0-9]+)*)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[a-f0-9]{64})?$, "
	 "got \"openclaw\"", false},
	/* TenantSlice */
	{"TenantSlice", HEAD("TenantSlice") "  channel: beta\n", "spec.channel", 6, 12,
	 "must be one of canary, stable; got \"beta\"", false},
	/* The tenant header is the load balancer's configuration, not the slice's. */
	{"TenantSlice", HEAD("TenantSlice") "  channel: stable\n  routing: {header: X-Tenant}\n",
	 "spec.routing", 7, 3, "unknown field \"routing\" (known: channel, maintenance, profile)",
	 false},
	{"TenantSlice", HEAD("TenantSlice") "  channel: stable\n  maintenance: {until: tomorrow}\n",
	 "spec.maintenance.until", 7, 24,
	 "\"tomorrow\": ", true},
	{"TenantSlice",
	 HEAD("TenantSlice") "  channel: stable\n"
			     "  maintenance: {until: \"2026-13-01T00:00:00Z\"}\n",
	 "spec.maintenance.until", 7, 24, "\"2026-13-01T00:00:00Z\": ", true},
	{"TenantSlice", HEAD("TenantSlice") "  channel: stable\n  profile: Acme\n", "spec.profile",
	 7,
	 12, "must match ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$, got \"Acme\"", false},
	/* LoadBalancer */
	{"LoadBalancer",
	 HEAD("LoadBalancer") "  driver: file\n  drainTimeout: 0s\n  file: {path: /x}\n",
	 "spec.drainTimeout", 7, 17, "\"0s\": ", true},
	{"LoadBalancer",
	 HEAD("LoadBalancer") "  driver: file\n  drainTimeout: 30\n  file: {path: /x}\n",
	 "spec.drainTimeout", 7, 17, "must be a string, got integer 30", false},
	{"LoadBalancer", HEAD("LoadBalancer") "  driver: nginx\n", "spec.driver", 6, 11,
	 "must be one of haproxy, http, file, command; got \"nginx\"", false},
	{"LoadBalancer",
	 HEAD("LoadBalancer") "  driver: haproxy\n  haproxy: {socket: /run/a.sock}\n",
	 "spec.haproxy.backend", 7, 12, "required field \"backend\" is missing", false},
	{"LoadBalancer",
	 HEAD("LoadBalancer") "  driver: haproxy\n  haproxy: {socket: run/a.sock, backend: gw}\n",
	 "spec.haproxy.socket", 7, 21, "must match ^/, got \"run/a.sock\"", false},
	{"LoadBalancer",
	 HEAD("LoadBalancer") "  driver: http\n  http:\n    url: https://lb\n"
			      "    headers: {X-Retries: 3}\n",
	 "spec.http.headers[X-Retries]", 9, 26, "must be a string, got integer 3", false},
	{"LoadBalancer", HEAD("LoadBalancer") "  driver: command\n  command: {argv: []}\n",
	 "spec.command.argv", 7, 19, "must not be empty", false},
	{"LoadBalancer", HEAD("LoadBalancer") "  driver: command\n  command: {argv: [lbctl, 2]}\n",
	 "spec.command.argv[1]", 7, 27, "must be a string, got integer 2", false},
};

static bool diag_matches(const struct diag *d, const struct bad_case *c)
{
	bool field = c->field ? d->field && strcmp(d->field, c->field) == 0 : !d->field;
	bool msg = c->prefix ? strncmp(d->msg, c->msg, strlen(c->msg)) == 0
			     : strcmp(d->msg, c->msg) == 0;
	return field && msg && d->line == c->line && d->col == c->col;
}

/* Reports every case that differs before failing, so one run shows them all. */
static void test_invalid_objects(void **state)
{
	(void)state;
	size_t failed = 0;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct diag_list dl = {0};
		validate(c->kind, c->text, &dl);
		if (dl.n != 1 || !diag_matches(&dl.v[0], c)) {
			fprintf(stderr, "case %zu: want %d:%d: %s: %s\n got:\n", i, c->line, c->col,
				c->field ? c->field : "-", c->msg);
			print_diags(&dl);
			failed++;
		}
		diag_list_free(&dl);
	}
	assert_int_equal(failed, 0);
}

static void test_long_strings(void **state)
{
	(void)state;
	char text[1024], ticket[130], name[300];
	memset(ticket, 'T', 129);
	ticket[129] = '\0';
	snprintf(text, sizeof(text), PROMO PROMO_OK "  ticket: %s\n", ticket);
	struct diag_list dl = {0};
	validate("Promotion", text, &dl);
	assert_int_equal(dl.n, 1);
	expect_diag(&dl.v[0], "spec.ticket", 8, 11, "must be at most 128 characters long, got 129",
		    false);
	diag_list_free(&dl);

	memset(name, 'a', 254);
	name[254] = '\0';
	snprintf(text, sizeof(text), META "  name: %s\n"
		 "spec:\n" NODE_OK, name);
	validate("MacNode", text, &dl);
	assert_int_equal(dl.n, 1);
	expect_diag(&dl.v[0], "metadata.name", 4, 9, "must be at most 253 characters long, got 254",
		    false);
	diag_list_free(&dl);
}

/* Every problem of one object is reported, each where it is. */
static void test_many_problems(void **state)
{
	(void)state;
	struct diag_list dl = {0};
	validate("MacNode",
		 "apiVersion: " API "\n"		   /* 1 */
		 "kind: MacNode\n"			   /* 2 */
		 "metadata:\n"				   /* 3 */
		 "  name: Bad_Name\n"			   /* 4 */
		 "  uid: 0b1e\n"			   /* 5 */
		 "spec:\n"				   /* 6 */
		 "  role: gatway\n"			   /* 7 */
		 "  canary: 1\n"			   /* 8 */
		 "  loadBalancer:\n"			   /* 9 */
		 "    wieght: 10\n"			   /* 10 */
		 "    weight: 999\n"			   /* 11 */
		 "status: {}\n",			   /* 12 */
		 &dl);
	if (dl.n != 8)
		print_diags(&dl);
	assert_int_equal(dl.n, 8);
	expect_diag(&dl.v[0], "metadata.name", 4, 9, "must be an RFC 1123 subdomain", true);
	expect_diag(&dl.v[1], "metadata.uid", 5, 3,
		    "not allowed in desired state (set by the API server)", false);
	expect_diag(&dl.v[2], "spec.address", 7, 3, "required field \"address\" is missing", false);
	expect_diag(&dl.v[3], "spec.role", 7, 9, "must be one of gateway, worker, notifier", true);
	expect_diag(&dl.v[4], "spec.canary", 8, 11, "must be a boolean, got integer 1", false);
	expect_diag(&dl.v[5], "spec.loadBalancer.wieght", 10, 5, "unknown field \"wieght\"", true);
	expect_diag(&dl.v[6], "spec.loadBalancer.weight", 11, 13, "must be <= 256, got 999", false);
	expect_diag(&dl.v[7], "status", 12, 1, "status is written by clawfleet, not Git", false);
	diag_list_free(&dl);

	validate("Promotion", PROMO PROMO_OK "  canary: {steps: [0, 50, 200]}\nstatus: {}\n", &dl);
	assert_int_equal(dl.n, 3);
	expect_diag(&dl.v[0], "spec.canary.steps[0]", 8, 20, "must be >= 1, got 0", false);
	expect_diag(&dl.v[1], "spec.canary.steps[2]", 8, 27, "must be <= 100, got 200", false);
	expect_diag(&dl.v[2], "status", 9, 1, "status is written by clawfleet, not Git", false);
	diag_list_free(&dl);
}

static void test_defaults(void **state)
{
	(void)state;
	const struct schema_kind *promo = kind_of("Promotion");
	long long i;
	bool b;
	assert_int_equal(ynode_int(schema_default(promo, "spec.canary.greenWindows"), &i), 0);
	assert_int_equal(i, 2);
	assert_int_equal(ynode_bool(schema_default(promo, "spec.rollback.automatic"), &b), 0);
	assert_true(b);
	assert_int_equal(ynode_bool(schema_default(promo, "spec.suspend"), &b), 0);
	assert_false(b);
	assert_string_equal(ynode_str(schema_default(promo, "spec.canary.analysisInterval")),
			    "10m");
	assert_string_equal(ynode_str(schema_default(promo, "spec.canary.maxHold")), "30m");
	const struct ynode *steps = schema_default(promo, "spec.canary.steps");
	assert_int_equal(ynode_type(steps), YT_SEQ);
	assert_int_equal(steps->n, 6);
	assert_int_equal(ynode_int(steps->items[5], &i), 0);
	assert_int_equal(i, 100);
	assert_null(schema_default(promo, "spec.tag"));
	assert_null(schema_default(promo, "spec.canary"));
	assert_null(schema_default(promo, "spec.canary.nope"));
	assert_null(schema_default(promo, "spec.tag.deeper"));
	assert_null(schema_default(NULL, "spec.suspend"));

	assert_string_equal(ynode_str(schema_default(kind_of("LoadBalancer"), "spec.drainTimeout")),
			    "30s");

	const struct schema_kind *node = kind_of("MacNode");
	assert_int_equal(ynode_int(schema_default(node, "spec.loadBalancer.weight"), &i), 0);
	assert_int_equal(i, 100);
	assert_int_equal(ynode_bool(schema_default(node, "spec.canary"), &b), 0);
	assert_false(b);
}

/* A minimal CRD whose spec properties are the given YAML (indented for spec.properties). */
static const char crd_fmt[] =
	"apiVersion: apiextensions.k8s.io/v1\n"
	"kind: CustomResourceDefinition\n"
	"metadata: {name: things.example.com}\n"
	"spec:\n"
	"  group: example.com\n"
	"  names: {kind: Thing, plural: things, singular: thing}\n"
	"  scope: Namespaced\n"
	"  versions:\n"
	"    - name: v1\n"
	"      served: true\n"
	"      storage: true\n"
	"      schema:\n"
	"        openAPIV3Schema:\n"
	"          type: object\n"
	"          properties:\n"
	"            spec:\n"
	"              type: object\n"
	"              properties:\n"
	"%s";

static int load_crd(const char *props, struct schema_set **out, struct cf_err *err)
{
	char text[4096];
	snprintf(text, sizeof(text), crd_fmt, props);
	const char *names[] = {"crds/thing.yaml"};
	const char *texts[] = {text};
	return schema_set_load(out, names, texts, 1, err);
}

/* Where a broken CRD's error points: "crds/thing.yaml:LINE:COL: <path of spec's properties>". */
#define AT(pos) \
	"crds/thing.yaml:" pos ": spec.versions[0].schema.openAPIV3Schema.properties.spec." \
	"properties."

static const struct {
	const char *props;
	const char *want;
} broken_crds[] = {
	{"                zone: {type: string, pattern: \"^[a-z\"}\n",
	 AT("19:47") "zone.pattern: invalid regular expression: "},
	{"                n: {type: integer, maxItem: 3}\n",
	 AT("19:36") "n: unsupported schema keyword \"maxItem\""},
	{"                n: {type: integer, pattern: \"^1$\"}\n",
	 AT("19:36") "n: pattern does not apply to type integer"},
	{"                n: {type: integr}\n",
	 AT("19:27") "n.type: unsupported type (use object, array, string, integer, number or "
		     "boolean)"},
	{"                n: {description: no type}\n",
	 AT("19:20") "n: type is required"},
	{"                n: {type: integer, maximum: 5, default: 6}\n",
	 AT("19:57") "n.default: default is not valid: must be <= 5, got 6"},
	{"                n: {type: string, enum: [a, 1]}\n",
	 AT("19:45") "n.enum[1]: enum value is not valid: must be a string, got integer 1"},
	{"                m:\n                  type: object\n                  properties: {a: "
	 "{type: string}}\n                  additionalProperties: {type: string}\n",
	 AT("20:19") "m: properties and additionalProperties are mutually exclusive"},
	{"                a: {type: array}\n",
	 AT("19:20") "a: items is required for type array"},
	{"                o: {type: object, required: [b], properties: {a: {type: string}}}\n",
	 AT("19:46") "o.required[0]: required field \"b\" is not in properties"},
	{"                d: {type: string, format: uuid}\n",
	 AT("19:43") "d.format: unsupported format (use date-time, duration, semver or git-tag)"},
	{"                c: {type: integer, minLength: -1}\n",
	 AT("19:36") "c: minLength does not apply to type integer"},
	{"                c: {type: string, minLength: -1}\n",
	 AT("19:46") "c.minLength: must be a non-negative integer"},
	{"                c: {type: string, x-kubernetes-int-or-string: true}\n",
	 AT("19:63") "c.x-kubernetes-int-or-string: x-kubernetes-int-or-string: true takes no "
		     "type (it is one)"},
	{"                c: {x-kubernetes-int-or-string: true, minItems: 1}\n",
	 AT("19:55") "c: minItems does not apply to type int-or-string"},
};

static void test_broken_crds(void **state)
{
	(void)state;
	size_t failed = 0;
	for (size_t i = 0; i < sizeof(broken_crds) / sizeof(broken_crds[0]); i++) {
		struct schema_set *s = (struct schema_set *)&s; /* any non-NULL: must be reset */
		struct cf_err err = {{0}};
		assert_int_equal(load_crd(broken_crds[i].props, &s, &err), -1);
		assert_null(s);
		if (strncmp(err.msg, broken_crds[i].want, strlen(broken_crds[i].want)) != 0) {
			fprintf(stderr, "case %zu: want %s\n got %s\n", i, broken_crds[i].want,
				err.msg);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void test_custom_crd(void **state)
{
	(void)state;
	struct schema_set *s = NULL;
	struct cf_err err = {{0}};
	int rc = load_crd("                ratio: {type: number, minimum: 0, maximum: 1, "
			  "exclusiveMaximum: true, description: a ratio}\n"
			  "                tags: {type: array, uniqueItems: true, maxItems: 3, "
			  "items: {type: string, minLength: 2}}\n"
			  "                extra: {type: object, "
			  "x-kubernetes-preserve-unknown-fields: true}\n"
			  "                opt: {type: string, nullable: true}\n",
			  &s, &err);
	if (rc)
		fail_msg("%s", err.msg);
	assert_string_equal(schema_set_kinds(s), "Thing");
	const struct schema_kind *k = schema_set_find(s, "example.com/v1", "Thing");
	assert_non_null(k);
	struct yfile *f = NULL;
	struct yerr yerr;
	const char *text = "apiVersion: example.com/v1\n"		 /* 1 */
			   "kind: Thing\n"			 /* 2 */
			   "metadata: {name: t}\n"		 /* 3 */
			   "spec:\n"				 /* 4 */
			   "  ratio: 1.0\n"			 /* 5 */
			   "  tags: [ab, x, ab, cd]\n"		 /* 6 */
			   "  extra: {anything: [1, {b: 2}]}\n"	 /* 7 */
			   "  opt: null\n";			 /* 8 */
	assert_int_equal(yfile_parse(&f, text, strlen(text), NULL, &yerr), 0);
	struct diag_list dl = {0};
	schema_validate(k, f->docs[0].root, "x.yaml", "Obj/obj-1", &dl);
	diag_list_sort(&dl);
	if (dl.n != 4)
		print_diags(&dl);
	assert_int_equal(dl.n, 4);
	expect_diag(&dl.v[0], "spec.ratio", 5, 10, "must be < 1, got 1.0", false);
	expect_diag(&dl.v[1], "spec.tags", 6, 9, "must have at most 3 items, got 4", false);
	expect_diag(&dl.v[2], "spec.tags[1]", 6, 14, "must be at least 2 characters long, got 1",
		    false);
	expect_diag(&dl.v[3], "spec.tags[2]", 6, 17, "must be unique: same as item 0", false);
	diag_list_free(&dl);
	yfile_free(f);
	schema_set_free(s);

	/* x-kubernetes-int-or-string: an integer or a string, the number keywords for the one and
	 * the string keywords for the other. */
	rc = load_crd("                n: {x-kubernetes-int-or-string: true, minimum: 0, "
		      "pattern: '^[0-9]+%$', default: 50%, description: a count or a percent}\n",
		      &s, &err);
	if (rc)
		fail_msg("%s", err.msg);
	k = schema_set_find(s, "example.com/v1", "Thing");
	static const char *const int_or_string[][2] = {
		{"3", NULL},
		{"\"30%\"", NULL},
		{"-1", "must be >= 0, got -1"},
		{"thirty", "must match ^[0-9]+%$, got \"thirty\""},
		{"0.5", "must be an integer or a string, got number 0.5"},
		{"true", "must be an integer or a string, got boolean true"},
	};
	for (size_t i = 0; i < sizeof(int_or_string) / sizeof(int_or_string[0]); i++) {
		char doc[256];
		snprintf(doc, sizeof(doc), "apiVersion: example.com/v1\nkind: Thing\n"
					   "metadata: {name: t}\nspec: {n: %s}\n",
			 int_or_string[i][0]);
		assert_int_equal(yfile_parse(&f, doc, strlen(doc), NULL, &yerr), 0);
		schema_validate(k, f->docs[0].root, "x.yaml", "Obj/obj-1", &dl);
		if (!int_or_string[i][1]) {
			if (dl.n)
				print_diags(&dl);
			assert_int_equal(dl.n, 0);
		} else {
			assert_int_equal(dl.n, 1);
			assert_string_equal(dl.v[0].msg, int_or_string[i][1]);
		}
		diag_list_free(&dl);
		yfile_free(f);
	}
	schema_set_free(s);

	/* A second CRD of the same kind and version is a mistake, not an override. */
	char text2[4096];
	snprintf(text2, sizeof(text2), crd_fmt, "                a: {type: string}\n");
	const char *names[] = {"crds/a.yaml", "crds/b.yaml"};
	const char *texts[] = {text2, text2};
	assert_int_equal(schema_set_load(&s, names, texts, 2, &err), -1);
	assert_string_equal(err.msg,
			    "crds/b.yaml:9:13: spec.versions[0]: Thing v1 is defined twice");
	const char *not_crd[] = {"apiVersion: v1\nkind: ConfigMap\n"};
	assert_int_equal(schema_set_load(&s, names, not_crd, 1, &err), -1);
	assert_string_equal(err.msg, "crds/a.yaml:1:1: -: not an apiextensions.k8s.io/v1 "
				     "CustomResourceDefinition");
	const char *bad_yaml[] = {"a: [\n"};
	assert_int_equal(schema_set_load(&s, names, bad_yaml, 1, &err), -1);
	assert_memory_equal(err.msg, "crds/a.yaml:", 12);
}

/* Walks a CRD schema node: every property has a description (except metadata at the root,
 * where Kubernetes allows nothing but the type) and none mixes properties with
 * additionalProperties. */
static void check_schema_node(const char *file, const struct ynode *n, bool root)
{
	const struct ynode *props = ynode_get(n, "properties");
	if (props && ynode_get(n, "additionalProperties"))
		fail_msg("%s:%d: properties and additionalProperties together", file, n->line);
	for (size_t i = 0; props && i < props->n; i++) {
		const struct ynode *p = props->pairs[i].value;
		bool is_meta = root && strcmp(props->pairs[i].key->str, "metadata") == 0;
		if (is_meta) {
			assert_int_equal(p->n, 1);
			assert_string_equal(ynode_str(ynode_get(p, "type")), "object");
			continue;
		}
		const char *d = ynode_str(ynode_get(p, "description"));
		if (!d || !*d)
			fail_msg("%s:%d: %s has no description", file, p->line,
				 props->pairs[i].key->str);
		check_schema_node(file, p, false);
	}
	const struct ynode *pat = ynode_get(n, "pattern");
	if (pat) {
		/* Patterns must mean the same to RE2 (Kubernetes) and POSIX ERE (clawfleet). */
		const char *forbidden[] = {"\\d", "\\w", "\\s", "(?", "*?", "+?", "[[:"};
		for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
			if (strstr(pat->str, forbidden[i]))
				fail_msg("%s:%d: pattern uses %s", file, pat->line, forbidden[i]);
	}
	const struct ynode *items = ynode_get(n, "items");
	if (items)
		check_schema_node(file, items, false);
	const struct ynode *addl = ynode_get(n, "additionalProperties");
	if (addl && addl->kind == YNODE_MAP)
		check_schema_node(file, addl, false);
}

static const char *get_str(const struct ynode *n, const char *path)
{
	char key[64];
	while (n && *path) {
		size_t len = strcspn(path, ".");
		assert_true(len < sizeof(key));
		memcpy(key, path, len);
		key[len] = '\0';
		n = ynode_get(n, key);
		path += len + (path[len] == '.');
	}
	return ynode_str(n);
}

static void test_crd_files(void **state)
{
	(void)state;
	size_t count = 0;
	for (const struct embedded_file *f = crd_files; f->path; f++, count++) {
		struct yfile *y = NULL;
		struct yerr yerr;
		if (yfile_parse(&y, f->data, f->len, NULL, &yerr))
			fail_msg("%s:%d:%d: %s", f->path, yerr.line, yerr.col, yerr.msg);
		assert_int_equal(y->ndocs, 1);
		const struct ynode *crd = y->docs[0].root;
		assert_string_equal(get_str(crd, "apiVersion"), "apiextensions.k8s.io/v1");
		assert_string_equal(get_str(crd, "kind"), "CustomResourceDefinition");
		assert_string_equal(get_str(crd, "spec.group"), "fleet.openclaw.io");
		assert_string_equal(get_str(crd, "spec.scope"), "Namespaced");
		const char *plural = get_str(crd, "spec.names.plural");
		const char *singular = get_str(crd, "spec.names.singular");
		const char *kind = get_str(crd, "spec.names.kind");
		assert_non_null(plural);
		assert_non_null(singular);
		assert_non_null(kind);
		const struct ynode *names = ynode_get(ynode_get(crd, "spec"), "names");
		assert_int_equal(ynode_type(ynode_get(names, "shortNames")), YT_SEQ);
		char name[128];
		snprintf(name, sizeof(name), "%s.fleet.openclaw.io", plural);
		assert_string_equal(get_str(crd, "metadata.name"), name);
		/* The file is named after the kind: crds/macnode.yaml holds MacNode. */
		char path[128];
		snprintf(path, sizeof(path), "crds/%s.yaml", singular);
		assert_string_equal(f->path, path);
		const struct ynode *versions = ynode_get(ynode_get(crd, "spec"), "versions");
		assert_int_equal(versions->n, 1);
		const struct ynode *v = versions->items[0];
		bool served = false, storage = false;
		assert_string_equal(get_str(v, "name"), "v1alpha1");
		assert_int_equal(ynode_bool(ynode_get(v, "served"), &served), 0);
		assert_int_equal(ynode_bool(ynode_get(v, "storage"), &storage), 0);
		assert_true(served && storage);
		const struct ynode *root = ynode_get(ynode_get(v, "schema"), "openAPIV3Schema");
		assert_non_null(root);
		assert_non_null(ynode_str(ynode_get(root, "description")));
		check_schema_node(f->path, root, true);
		yfile_free(y);
	}
	assert_int_equal(count, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_embedded),
		cmocka_unit_test(test_valid_objects),
		cmocka_unit_test(test_invalid_objects),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_many_problems),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_broken_crds),
		cmocka_unit_test(test_custom_crd),
		cmocka_unit_test(test_crd_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
