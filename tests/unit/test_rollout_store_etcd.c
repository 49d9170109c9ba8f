/* rollout_store_open_etcd against a real single-member etcd (etcd_member.h; skipped without
 * etcd): nothing is written without a fence; the leader's commit puts the state, the anchor and
 * its audit lines in one transaction and reads them back; a replica whose leader key was taken
 * over writes nothing, whole, with errno ESTALE, and the new leader's lines continue the chain;
 * a commit that would rewrite a line of the chain is refused; the file store's commit is its
 * anchor then its state. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "plan/rollout.h"
#include "record/etcd.h"
#include "record/rollout_store.h"
#include "etcd_member.h"

#define PREFIX "/clawfleet/test"
#define LEADER PREFIX ROLLOUT_STORE_KEY_LEADER

static struct rollout_store open_store(void)
{
	const char *eps[] = {dead_url, client_url};
	struct rollout_store_etcd_config cfg = {
		.endpoints = eps, .n_endpoints = 2, .prefix = PREFIX, .timeout_ms = 2000};
	struct rollout_store st;
	struct cf_err err = {{0}};
	assert_int_equal(rollout_store_open_etcd(&st, &cfg, &err), 0);
	return st;
}

/* Makes holder the leader key's value (a new key, so a new create revision): the term. */
static int64_t take_leader(const char *holder)
{
	const char *eps[] = {client_url};
	struct etcd *e = client(eps, 1, 2000);
	struct cf_err err = {{0}};
	struct etcd_txn_result r;
	struct etcd_op del = {.kind = ETCD_OP_DELETE, .key = LEADER};
	assert_int_equal(etcd_txn(e, NULL, 0, &del, 1, NULL, 0, &r, &err), 0);
	etcd_txn_result_free(&r);
	assert_int_equal(etcd_put(e, LEADER, holder, strlen(holder), 0, &err), 0);
	struct etcd_kv kv;
	bool found = false;
	assert_int_equal(etcd_get(e, LEADER, &kv, &found, &err), 0);
	assert_true(found);
	int64_t term = kv.create_revision;
	free(kv.key);
	free(kv.value);
	etcd_free(e);
	return term;
}

struct seen {
	uint64_t seq[8];
	char text[8][64];
	size_t n;
};

static int collect(void *ctx, uint64_t seq, const char *text, size_t len)
{
	struct seen *s = ctx;
	assert_true(s->n < 8);
	s->seq[s->n] = seq;
	snprintf(s->text[s->n], sizeof(s->text[0]), "%.*s", (int)len, text);
	s->n++;
	return 0;
}

static void anchor_at(struct audit_anchor *a, char fill, uint64_t lines)
{
	memset(a->head, fill, 64);
	a->head[64] = '\0';
	a->lines = lines;
}

static void test_fenced_commits(void **state)
{
	(void)state;
	NEED_ETCD();
	struct rollout_store st = open_store();
	struct rollout_state s, back;
	struct audit_anchor a, got;
	struct cf_err err = {{0}};
	bool found = true;
	rollout_state_init(&s);
	assert_true(rollout_store_shared(&st));

	/* Nothing saved: an empty state and the empty log's anchor. */
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), 0);
	assert_false(found);
	rollout_state_free(&back);
	assert_int_equal(rollout_store_load_anchor(&st, &got, &found, &err), 0);
	assert_false(found);
	assert_string_equal(got.head, AUDIT_GENESIS);

	/* No fence: refused, nothing written. */
	s.phase = ROLLOUT_PROMOTING;
	s.step = 1;
	errno = 0;
	assert_int_equal(rollout_store_save(&st, &s, &err), -1);
	assert_int_equal(errno, ESTALE);
	assert_non_null(strstr(err.msg, "not the leader"));

	/* The leader: state, anchor and two lines in one commit. */
	int64_t term1 = take_leader("r1");
	assert_int_equal(rollout_store_set_fence(&st, "r1", term1, &err), 0);
	const char *lines1[] = {"{\"n\":1}", "{\"n\":2}"};
	anchor_at(&a, 'a', 2);
	assert_int_equal(rollout_store_commit(&st, &s, &a, lines1, 2, &err), 0);
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), 0);
	assert_true(found);
	assert_int_equal(back.phase, ROLLOUT_PROMOTING);
	assert_int_equal(back.step, 1);
	rollout_state_free(&back);
	assert_int_equal(rollout_store_load_anchor(&st, &got, &found, &err), 0);
	assert_true(found);
	assert_string_equal(got.head, a.head);
	assert_int_equal(got.lines, 2);

	/* Another replica takes the key: r1 writes nothing, not the state, not the line. */
	int64_t term2 = take_leader("r2");
	assert_true(term2 > term1);
	const char *stale[] = {"{\"n\":\"stale\"}"};
	s.step = 2;
	anchor_at(&a, 'b', 3);
	errno = 0;
	assert_int_equal(rollout_store_commit(&st, &s, &a, stale, 1, &err), -1);
	assert_int_equal(errno, ESTALE);
	assert_non_null(strstr(err.msg, "nothing was written"));
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), 0);
	assert_int_equal(back.step, 1);
	rollout_state_free(&back);
	/* The same holder name in a new term is not the old fence either. */
	assert_int_equal(rollout_store_set_fence(&st, "r2", term1, &err), 0);
	assert_int_equal(rollout_store_commit(&st, &s, &a, stale, 1, &err), -1);

	/* r2 continues the chain at line 3. */
	struct rollout_store st2 = open_store();
	assert_int_equal(rollout_store_set_fence(&st2, "r2", term2, &err), 0);
	const char *lines2[] = {"{\"n\":3}"};
	assert_int_equal(rollout_store_commit(&st2, &s, &a, lines2, 1, &err), 0);
	/* A commit that would write line 3 again is refused. */
	const char *again[] = {"{\"n\":\"again\"}"};
	assert_int_equal(rollout_store_commit(&st2, &s, &a, again, 1, &err), -1);
	assert_int_equal(errno, ESTALE);

	struct seen seen = {0};
	assert_int_equal(rollout_store_read_audit(&st, 0, collect, &seen, &err), 0);
	assert_int_equal(seen.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(seen.seq[i], i + 1);
	assert_string_equal(seen.text[0], "{\"n\":1}");
	assert_string_equal(seen.text[2], "{\"n\":3}");
	seen.n = 0;
	assert_int_equal(rollout_store_read_audit(&st, 2, collect, &seen, &err), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.seq[0], 3);

	/* Clearing the fence refuses writes again. */
	assert_int_equal(rollout_store_set_fence(&st2, NULL, 0, &err), 0);
	assert_int_equal(rollout_store_save(&st2, &s, &err), -1);
	rollout_store_close(&st);
	rollout_store_close(&st2);
	rollout_state_free(&s);
}

static void test_prefix_checked(void **state)
{
	(void)state;
	const char *eps[] = {"http://127.0.0.1:1"};
	struct rollout_store_etcd_config cfg = {.endpoints = eps, .n_endpoints = 1,
						.timeout_ms = 100};
	struct rollout_store st;
	struct cf_err err = {{0}};
	const char *bad[] = {NULL, "", "/", "clawfleet/x", "/clawfleet/x/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.prefix = bad[i];
		assert_int_equal(rollout_store_open_etcd(&st, &cfg, &err), -1);
		assert_non_null(strstr(err.msg, "the prefix must start with /"));
	}
	/* No member answers: a load fails and says so, errno EHOSTUNREACH. */
	cfg.prefix = "/clawfleet/x";
	assert_int_equal(rollout_store_open_etcd(&st, &cfg, &err), 0);
	struct rollout_state back;
	bool found = true;
	errno = 0;
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), -1);
	assert_int_equal(errno, EHOSTUNREACH);
	assert_false(found);
	rollout_state_free(&back);
	rollout_store_close(&st);
}

static void test_file_store_commit(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-store-XXXXXX", path[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/rollout.json", dir);
	struct rollout_store st;
	struct rollout_state s, back;
	struct audit_anchor a, got;
	struct cf_err err = {{0}};
	bool found = false;
	assert_int_equal(rollout_store_open_file(&st, path, &err), 0);
	assert_false(rollout_store_shared(&st));
	assert_int_equal(rollout_store_set_fence(&st, "x", 1, &err), 0);
	rollout_state_init(&s);
	s.step = 4;
	anchor_at(&a, 'c', 7);
	const char *lines[] = {"ignored"};
	assert_int_equal(rollout_store_commit(&st, &s, &a, lines, 1, &err), 0);
	assert_int_equal(rollout_store_load_anchor(&st, &got, &found, &err), 0);
	assert_true(found);
	assert_int_equal(got.lines, 7);
	assert_int_equal(rollout_store_load(&st, &back, &found, &err), 0);
	assert_int_equal(back.step, 4);
	rollout_state_free(&back);
	assert_int_equal(rollout_store_read_audit(&st, 0, collect, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "promotions.jsonl"));
	rollout_store_close(&st);
	rollout_state_free(&s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_checked),
		cmocka_unit_test(test_file_store_commit),
		cmocka_unit_test(test_fenced_commits),
	};
	return cmocka_run_group_tests(tests, start_etcd, stop_etcd);
}
