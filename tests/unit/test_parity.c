/* parity: the agent's seal and render, the controller's strict read, the parts that differ, and
 * the comparison across peers /status and the planner share (parity_peers_differ). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/canon.h"
#include "contracts/parity.h"
#include "contracts/parity_peers.h"

/* A parity whose parts are 64 copies of the given digits, sealed. */
static struct parity make(char lock, char openclaw, char skills, char tenants)
{
	struct parity p = {0};
	const char fill[PARITY_PARTS] = {lock, openclaw, skills, tenants};
	struct cf_err err;
	for (int i = 0; i < PARITY_PARTS; i++)
		memset(p.parts[i], fill[i], 64);
	assert_int_equal(parity_seal(&p, &err), 0);
	return p;
}

/* The digest is the sha256 of the canonical JSON of the parts object, as the contract says. */
static void test_seal_is_the_canonical_parts(void **state)
{
	(void)state;
	struct parity p = make('1', '2', '3', '4');
	char text[512], want[65];
	snprintf(text, sizeof(text),
		 "{\"lock\":\"%s\",\"openclaw\":\"%s\",\"skills\":\"%s\",\"tenants\":\"%s\"}",
		 p.parts[0], p.parts[1], p.parts[2], p.parts[3]);
	canon_sha256_hex(text, strlen(text), want);
	assert_string_equal(p.digest, want);
}

static void test_render_then_read(void **state)
{
	(void)state;
	struct parity p = make('a', 'b', 'c', 'd'), back, none = {0};
	struct json_object *doc = json_object_new_object();
	struct cf_err err;
	assert_int_equal(parity_render(doc, &none, &err), 0);
	assert_int_equal(json_object_object_length(doc), 0);
	assert_int_equal(parity_render(doc, &p, &err), 0);
	assert_int_equal(parity_read(doc, &back, &err), 0);
	assert_memory_equal(&p, &back, sizeof(p));
	json_object_put(doc);
	doc = json_object_new_object();
	memset(&back, 'x', sizeof(back));
	assert_int_equal(parity_read(doc, &back, &err), 0);
	assert_string_equal(back.digest, "");
	json_object_put(doc);
}

static void test_read_is_strict(void **state)
{
	(void)state;
	static const struct {
		const char *doc, *error;
	} rows[] = {
		{"{\"parity\":\"ABC\"}", "\"parity\" is not 64 lowercase hex digits"},
		{"{\"parity\":\"%s\"}", "\"parity\" comes without a \"parityParts\" object"},
		{"{\"parity\":\"%s\",\"parityParts\":{\"lock\":\"%s\",\"openclaw\":\"%s\","
		 "\"skills\":\"%s\"}}",
		 "\"parityParts.tenants\" is not 64 lowercase hex digits"},
		{"{\"parity\":\"%s\",\"parityParts\":{\"lock\":\"%s\",\"openclaw\":\"%s\","
		 "\"skills\":\"%s\",\"tenants\":\"0\"}}",
		 "\"parityParts.tenants\" is not 64 lowercase hex digits"},
	};
	char hex[65];
	memset(hex, 'e', 64);
	hex[64] = '\0';
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), rows[i].doc, hex, hex, hex, hex);
		struct json_object *doc = json_tokener_parse(text);
		struct parity out;
		struct cf_err err;
		assert_non_null(doc);
		assert_int_equal(parity_read(doc, &out, &err), -1);
		assert_string_equal(err.msg, rows[i].error);
		json_object_put(doc);
	}
}

static void test_differs_names_the_parts(void **state)
{
	(void)state;
	struct parity a = make('1', '2', '3', '4'), b = make('1', '9', '3', '8'), none = {0};
	char parts[64];
	assert_false(parity_differs(&a, &a, parts, sizeof(parts)));
	assert_string_equal(parts, "");
	assert_false(parity_differs(&a, &none, parts, sizeof(parts)));
	assert_true(parity_differs(&a, &b, parts, sizeof(parts)));
	assert_string_equal(parts, "openclaw, tenants");
	assert_true(parity_differs(&a, &b, parts, 10));
	assert_string_equal(parts, "openclaw,");
}

/* The peers: who differs, from whom, in what; other builds, the unreachable, the red (a Mac
 * being changed) and nodes without a parity are no one's peers. */
struct peer_row {
	const char *what;
	struct {
		const char *name, *commit;
		bool reachable;
		char tenants; /* 0: reports no parity */
		bool red;
	} nodes[4];
	size_t want; /* index of the node that differs; 4: none */
	const char *msg;
};

static const struct peer_row peer_rows[] = {
	{"all agree",
	 {{"gw-a", "c1", true, '1', false}, {"gw-b", "c1", true, '1', false}, {"gw-c", "c1", true, '1', false}, {0}},
	 4, ""},
	{"the odd one out is the one that differs, the majority its reference",
	 {{"gw-a", "c1", true, '1', false}, {"gw-b", "c1", true, '2', false}, {"gw-c", "c1", true, '1', false}, {0}},
	 1, "gw-b differs from gw-a, gw-c in tenants"},
	{"a tie goes to the first in order",
	 {{"gw-a", "c1", true, '1', false}, {"gw-b", "c1", true, '2', false}, {0}, {0}},
	 1, "gw-b differs from gw-a in tenants"},
	{"another build is not a peer",
	 {{"gw-a", "c1", true, '1', false}, {"gw-b", "c2", true, '2', false}, {"gw-c", "c1", true, '1', false}, {0}},
	 4, ""},
	{"an unreachable node is not compared",
	 {{"gw-a", "c1", true, '1', false}, {"gw-b", "c1", false, '2', false}, {0}, {0}},
	 4, ""},
	{"a node without a parity is not compared",
	 {{"gw-a", "c1", true, '1', false}, {"gw-b", "c1", true, 0, false}, {0}, {0}},
	 4, ""},
	{"a red node (being changed, its OpenClaw not yet installed) is not compared",
	 {{"gw-a", "c1", true, '1', false}, {"gw-b", "c1", true, '2', true}, {"gw-c", "c1", true, '1', false}, {0}},
	 4, ""},
};

static void test_peers_table(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(peer_rows) / sizeof(peer_rows[0]); r++) {
		const struct peer_row *row = &peer_rows[r];
		struct node_observation obs[4] = {0};
		const struct node_observation *nodes[4];
		size_t n = 0;
		for (; n < 4 && row->nodes[n].name; n++) {
			obs[n].name = row->nodes[n].name;
			obs[n].commit = row->nodes[n].commit;
			obs[n].tag = "v1";
			obs[n].reachable = row->nodes[n].reachable;
			obs[n].status = row->nodes[n].red ? PROBE_RED : PROBE_GREEN;
			if (row->nodes[n].tenants)
				obs[n].parity = make('1', '2', '3', row->nodes[n].tenants);
			nodes[n] = &obs[n];
		}
		char msg[256];
		size_t got = parity_peers_differ(nodes, NULL, n, msg, sizeof(msg));
		if ((row->want == 4 ? n : row->want) != got || strcmp(msg, row->msg) != 0)
			fail_msg("%s: got %zu \"%s\"", row->what, got, msg);
	}
}

/* The order given decides the reference on a tie: the planner passes rollout order. */
static void test_peers_follow_the_order(void **state)
{
	(void)state;
	struct node_observation obs[2] = {
		{.name = "gw-a", .commit = "c1", .reachable = true, .parity = make('1', '2', '3', '1')},
		{.name = "gw-b", .commit = "c1", .reachable = true, .parity = make('1', '2', '3', '2')},
	};
	const struct node_observation *nodes[2] = {&obs[0], &obs[1]};
	const size_t order[2] = {1, 0};
	char msg[256];
	assert_int_equal(parity_peers_differ(nodes, order, 2, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "gw-a differs from gw-b in tenants");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_is_the_canonical_parts),
		cmocka_unit_test(test_render_then_read),
		cmocka_unit_test(test_read_is_strict),
		cmocka_unit_test(test_differs_names_the_parts),
		cmocka_unit_test(test_peers_table),
		cmocka_unit_test(test_peers_follow_the_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
