/* etcd: the v3 JSON gateway client against a real single-member etcd the test starts on free
 * loopback ports with its own data directory (skipped when etcd is not installed): bytes round
 * trip through base64, a prefix range pages with limit, a transaction runs the branch its
 * comparisons choose (create-if-absent once, a write fenced on a key's value), a lease's keys go
 * with it and a keep-alive then says 0, and a dead member is skipped for the next one while a
 * cluster where none answers gives an error naming each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/httpc.h"
#include "record/etcd.h"
#include "etcd_member.h"

static void test_bytes_round_trip(void **state)
{
	(void)state;
	NEED_ETCD();
	const char *eps[] = {client_url};
	struct etcd *e = client(eps, 1, 2000);
	struct cf_err err = {{0}};
	static const char value[] = {'a', '\0', '\xff', 'z', '='};
	for (size_t len = 0; len <= sizeof(value); len++) {
		struct etcd_kv kv;
		bool found = false;
		assert_int_equal(etcd_put(e, "/t/bytes", value, len, 0, &err), 0);
		assert_int_equal(etcd_get(e, "/t/bytes", &kv, &found, &err), 0);
		assert_true(found);
		assert_string_equal(kv.key, "/t/bytes");
		assert_int_equal(kv.value_len, len);
		assert_memory_equal(kv.value, value, len);
		assert_int_equal(kv.value[len], '\0');
		assert_true(kv.create_revision > 0 && kv.mod_revision >= kv.create_revision);
		free(kv.key);
		free(kv.value);
	}
	struct etcd_kv none;
	bool found = true;
	assert_int_equal(etcd_get(e, "/t/absent", &none, &found, &err), 0);
	assert_false(found);
	assert_null(none.key);
	etcd_free(e);
}

static void test_range_pages(void **state)
{
	(void)state;
	NEED_ETCD();
	const char *eps[] = {client_url};
	struct etcd *e = client(eps, 1, 2000);
	struct cf_err err = {{0}};
	char key[32];
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "/t/page/%02d", i);
		assert_int_equal(etcd_put(e, key, key, strlen(key), 0, &err), 0);
	}
	/* Outside the prefix on both sides. */
	assert_int_equal(etcd_put(e, "/t/pagf", "x", 1, 0, &err), 0);
	assert_int_equal(etcd_put(e, "/t/pag", "x", 1, 0, &err), 0);

	struct etcd_kv *kvs = NULL;
	size_t n = 0;
	bool more = false;
	int64_t rev = 0;
	assert_int_equal(etcd_range_prefix(e, "/t/page/", NULL, 3, &kvs, &n, &more, &rev, &err), 0);
	assert_int_equal(n, 3);
	assert_true(more);
	assert_true(rev > 0);
	assert_string_equal(kvs[0].key, "/t/page/00");
	assert_string_equal(kvs[2].key, "/t/page/02");
	etcd_kvs_free(kvs, n);
	assert_int_equal(
		etcd_range_prefix(e, "/t/page/", "/t/page/03", 3, &kvs, &n, &more, &rev, &err), 0);
	assert_int_equal(n, 2);
	assert_false(more);
	assert_string_equal(kvs[1].key, "/t/page/04");
	assert_string_equal(kvs[1].value, "/t/page/04");
	etcd_kvs_free(kvs, n);
	etcd_free(e);
}

static void test_txn_branches(void **state)
{
	(void)state;
	NEED_ETCD();
	const char *eps[] = {client_url};
	struct etcd *e = client(eps, 1, 2000);
	struct cf_err err = {{0}};
	struct etcd_txn_result r;

	/* Create if absent: the first wins, the second reads who holds it. */
	struct etcd_cmp absent = {.key = "/t/lock", .target = ETCD_CMP_CREATE, .number = 0};
	struct etcd_op take_a = {.kind = ETCD_OP_PUT, .key = "/t/lock", .value = "a", .value_len = 1};
	struct etcd_op take_b = {.kind = ETCD_OP_PUT, .key = "/t/lock", .value = "b", .value_len = 1};
	struct etcd_op read = {.kind = ETCD_OP_GET, .key = "/t/lock"};
	assert_int_equal(etcd_txn(e, &absent, 1, &take_a, 1, &read, 1, &r, &err), 0);
	assert_true(r.succeeded);
	assert_int_equal(r.n_kvs, 0);
	int64_t created = r.revision;
	etcd_txn_result_free(&r);
	assert_int_equal(etcd_txn(e, &absent, 1, &take_b, 1, &read, 1, &r, &err), 0);
	assert_false(r.succeeded);
	assert_int_equal(r.n_kvs, 1);
	assert_string_equal(r.kvs[0].value, "a");
	assert_int_equal(r.kvs[0].create_revision, created);
	etcd_txn_result_free(&r);

	/* A write fenced on the holder: a's goes through, b's does not, whole. */
	struct etcd_cmp held_a[] = {
		{.key = "/t/lock", .target = ETCD_CMP_VALUE, .value = "a"},
		{.key = "/t/lock", .target = ETCD_CMP_CREATE, .number = created},
	};
	struct etcd_cmp held_b = {.key = "/t/lock", .target = ETCD_CMP_VALUE, .value = "b"};
	struct etcd_op writes[] = {
		{.kind = ETCD_OP_PUT, .key = "/t/state", .value = "1", .value_len = 1},
		{.kind = ETCD_OP_PUT, .key = "/t/audit/1", .value = "l1", .value_len = 2},
	};
	assert_int_equal(etcd_txn(e, held_a, 2, writes, 2, NULL, 0, &r, &err), 0);
	assert_true(r.succeeded);
	etcd_txn_result_free(&r);
	writes[0].value = "2";
	assert_int_equal(etcd_txn(e, &held_b, 1, writes, 2, NULL, 0, &r, &err), 0);
	assert_false(r.succeeded);
	etcd_txn_result_free(&r);
	struct etcd_kv kv;
	bool found = false;
	assert_int_equal(etcd_get(e, "/t/state", &kv, &found, &err), 0);
	assert_string_equal(kv.value, "1");
	free(kv.key);
	free(kv.value);

	struct etcd_op del = {.kind = ETCD_OP_DELETE, .key = "/t/lock"};
	assert_int_equal(etcd_txn(e, NULL, 0, &del, 1, NULL, 0, &r, &err), 0);
	assert_true(r.succeeded);
	etcd_txn_result_free(&r);
	assert_int_equal(etcd_get(e, "/t/lock", &kv, &found, &err), 0);
	assert_false(found);
	etcd_free(e);
}

static void test_lease_life(void **state)
{
	(void)state;
	NEED_ETCD();
	const char *eps[] = {client_url};
	struct etcd *e = client(eps, 1, 2000);
	struct cf_err err = {{0}};
	int64_t id = 0, granted = 0, ttl = 0;
	assert_int_equal(etcd_lease_grant(e, 5, &id, &granted, &err), 0);
	assert_true(id != 0);
	assert_int_equal(granted, 5);
	assert_int_equal(etcd_put(e, "/t/leased", "x", 1, id, &err), 0);
	assert_int_equal(etcd_lease_keepalive(e, id, &ttl, &err), 0);
	assert_int_equal(ttl, 5);

	struct etcd_kv kv;
	bool found = false;
	assert_int_equal(etcd_get(e, "/t/leased", &kv, &found, &err), 0);
	assert_true(found);
	assert_int_equal(kv.lease, id);
	free(kv.key);
	free(kv.value);

	assert_int_equal(etcd_lease_revoke(e, id, &err), 0);
	assert_int_equal(etcd_get(e, "/t/leased", &kv, &found, &err), 0);
	assert_false(found);
	assert_int_equal(etcd_lease_keepalive(e, id, &ttl, &err), 0);
	assert_int_equal(ttl, 0);
	assert_int_equal(etcd_lease_revoke(e, id, &err), 0);
	assert_int_equal(etcd_lease_grant(e, 0, &id, &granted, &err), -1);
	etcd_free(e);
}

static void test_dead_member_skipped(void **state)
{
	(void)state;
	NEED_ETCD();
	const char *eps[] = {dead_url, client_url};
	struct etcd *e = client(eps, 2, 1000);
	struct cf_err err = {{0}};
	struct etcd_kv kv;
	bool found = false;
	assert_string_equal(etcd_endpoint(e), dead_url);
	assert_int_equal(etcd_get(e, "/t/anything", &kv, &found, &err), 0);
	assert_string_equal(etcd_endpoint(e), client_url);
	etcd_free(e);

	const char *none[] = {dead_url, dead_url};
	e = client(none, 2, 500);
	assert_int_equal(etcd_get(e, "/t/anything", &kv, &found, &err), -1);
	assert_non_null(strstr(err.msg, "etcd: no member answered /v3/kv/range"));
	assert_non_null(strstr(err.msg, dead_url));
	etcd_free(e);
}

static void test_options_checked(void **state)
{
	(void)state;
	struct etcd *e = NULL;
	struct cf_err err = {{0}};
	const char *bad[] = {"127.0.0.1:2379"};
	struct etcd_options opts = {.endpoints = bad, .n_endpoints = 1, .timeout_ms = 1000};
	assert_int_equal(etcd_new(&e, &opts, &err), -1);
	assert_non_null(strstr(err.msg, "want http://HOST:PORT"));
	opts.n_endpoints = 0;
	assert_int_equal(etcd_new(&e, &opts, &err), -1);
	const char *good[] = {"http://127.0.0.1:2379/"};
	opts.endpoints = good;
	opts.n_endpoints = 1;
	opts.timeout_ms = 0;
	assert_int_equal(etcd_new(&e, &opts, &err), -1);
	opts.timeout_ms = 100;
	assert_int_equal(etcd_new(&e, &opts, &err), 0);
	assert_string_equal(etcd_endpoint(e), "http://127.0.0.1:2379");
	etcd_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_checked),
		cmocka_unit_test(test_bytes_round_trip),
		cmocka_unit_test(test_range_pages),
		cmocka_unit_test(test_txn_branches),
		cmocka_unit_test(test_lease_life),
		cmocka_unit_test(test_dead_member_skipped),
	};
	return cmocka_run_group_tests(tests, start_etcd, stop_etcd);
}
