/* nameindex, through the lists that use it: a weight map, a load balancer's servers and its
 * routes of 10,000 names find every name by index, keep the order names were first set in,
 * change a weight in place, and stay right across a clear, a copy and the limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/lbstate.h"
#include "base/nameindex.h"
#include "base/weightmap.h"

#define FLEET 10000

static void name_of(char *dst, size_t size, size_t i)
{
	snprintf(dst, size, "mac-%05zu", i);
}

static void fill(struct weight_map *m, size_t n, int weight)
{
	char name[32];
	for (size_t i = 0; i < n; i++) {
		name_of(name, sizeof(name), i);
		assert_int_equal(weight_map_set(m, name, weight, NULL), 0);
	}
}

static void assert_all(const struct weight_map *m, size_t n, int weight)
{
	char name[32];
	assert_int_equal(m->n, n);
	for (size_t i = 0; i < n; i++) {
		name_of(name, sizeof(name), i);
		const struct weight_entry *e = weight_map_find(m, name);
		assert_non_null(e);
		assert_ptr_equal(e, &m->v[i]); /* the order names were first set in */
		assert_int_equal(e->weight, weight);
	}
	assert_null(weight_map_find(m, "mac-99999"));
}

static void test_map_of_a_fleet(void **state)
{
	(void)state;
	struct weight_map m = {0}, copy = {0};
	fill(&m, FLEET, 100);
	assert_non_null(m.index.slot);
	assert_all(&m, FLEET, 100);
	fill(&m, FLEET, 7); /* every name again: changed in place, none added */
	assert_all(&m, FLEET, 7);

	assert_int_equal(weight_map_copy(&copy, &m, NULL), 0);
	assert_all(&copy, FLEET, 7);
	assert_ptr_not_equal(copy.index.slot, m.index.slot);
	assert_int_equal(weight_map_set(&copy, "extra", 1, NULL), 0);
	assert_null(weight_map_find(&m, "extra"));

	weight_map_clear(&m);
	assert_null(weight_map_find(&m, "mac-00000"));
	fill(&m, 3, 5); /* under the index's threshold: found by a scan */
	assert_all(&m, 3, 5);
	fill(&m, 40, 6);
	assert_all(&m, 40, 6);
	weight_map_free(&m);
	weight_map_free(&copy);
}

static void test_map_limit(void **state)
{
	(void)state;
	struct weight_map m = {0};
	struct cf_err err = {{0}};
	fill(&m, WEIGHTS_MAX_SERVERS, 1);
	assert_int_equal(weight_map_set(&m, "one-too-many", 1, &err), -1);
	assert_string_equal(err.msg, "server one-too-many: more than 16384 servers");
	assert_int_equal(m.n, WEIGHTS_MAX_SERVERS);
	assert_int_equal(weight_map_set(&m, "mac-00000", 2, NULL), 0); /* a change still goes */
	assert_int_equal(weight_map_find(&m, "mac-00000")->weight, 2);
	weight_map_free(&m);
}

static void test_servers_and_routes(void **state)
{
	(void)state;
	struct lb_servers servers = {0};
	struct lb_routes routes = {0};
	char name[32];
	for (size_t i = 0; i < FLEET; i++) {
		struct lb_server s = {.health = LB_HEALTH_UP, .sessions = (int)i};
		name_of(s.server, sizeof(s.server), i);
		assert_int_equal(lb_servers_put(&servers, &s, NULL), 0);
		assert_int_equal(lb_routes_put(&routes, s.server, i % 2 ? "canary" : "stable", NULL),
				 0);
	}
	struct lb_server again = {.server = "mac-00042", .health = LB_HEALTH_DOWN, .sessions = -1};
	assert_int_equal(lb_servers_put(&servers, &again, NULL), 0);
	assert_int_equal(servers.n, FLEET);
	for (size_t i = 0; i < FLEET; i++) {
		name_of(name, sizeof(name), i);
		const struct lb_server *s = lb_servers_find(&servers, name);
		assert_ptr_equal(s, &servers.v[i]);
		assert_int_equal(s->sessions, i == 42 ? -1 : (int)i);
		assert_string_equal(lb_routes_find(&routes, name)->pool, i % 2 ? "canary" : "stable");
	}
	lb_servers_clear(&servers);
	lb_routes_clear(&routes);
	assert_null(lb_servers_find(&servers, "mac-00001"));
	assert_null(lb_routes_find(&routes, "mac-00001"));
	lb_servers_free(&servers);
	lb_routes_free(&routes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_of_a_fleet),
		cmocka_unit_test(test_map_limit),
		cmocka_unit_test(test_servers_and_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
