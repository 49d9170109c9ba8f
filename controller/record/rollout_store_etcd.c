/* The etcd store of record/rollout_store.h: every write one transaction fenced on the leader
 * key, the audit lines in the same transaction as the state that records them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/rollout.h"
#include "record/etcd.h"
#include "record/rollout_store.h"
#include "record/rollout_store_internal.h"

#define PREFIX_MAX 256
#define HOLDER_MAX 256
/* A key: the prefix, "/audit/" and 20 digits. */
#define KEY_MAX (PREFIX_MAX + 64)
/* The audit lines one commit may carry: etcd's default limit is 128 operations a transaction,
 * the state and the anchor take two. A pass appends a handful. */
#define COMMIT_LINES_MAX 120
/* Audit lines read a page at a time: 64 KiB lines at most, within ETCD_MAX_REPLY. */
#define AUDIT_PAGE 64

struct etcd_store {
	struct etcd *etcd;
	char prefix[PREFIX_MAX];
	char state_key[PREFIX_MAX + 16], anchor_key[PREFIX_MAX + 16], leader_key[PREFIX_MAX + 16];
	char audit_prefix[PREFIX_MAX + 16];
	char holder[HOLDER_MAX];
	int64_t term; /* 0: no fence, every write refused */
};

static int load_key(struct etcd_store *es, const char *key, struct etcd_kv *kv, bool *found,
		    struct cf_err *err)
{
	if (etcd_get(es->etcd, key, kv, found, err) < 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	return 0;
}

static int es_load(void *ctx, struct rollout_state *out, bool *found, struct cf_err *err)
{
	struct etcd_store *es = ctx;
	struct etcd_kv kv;
	rollout_state_init(out);
	if (load_key(es, es->state_key, &kv, found, err) < 0)
		return -1;
	if (!*found)
		return 0;
	int rc = rollout_state_from_json(kv.value, kv.value_len, out, err);
	free(kv.key);
	free(kv.value);
	if (rc < 0) {
		*found = false;
		return cf_err_prefix(err, "rollout state in etcd at %s", es->state_key);
	}
	return 0;
}

static int es_load_anchor(void *ctx, struct audit_anchor *out, bool *found, struct cf_err *err)
{
	struct etcd_store *es = ctx;
	struct etcd_kv kv;
	memcpy(out->head, AUDIT_GENESIS, sizeof(out->head));
	out->lines = 0;
	if (load_key(es, es->anchor_key, &kv, found, err) < 0)
		return -1;
	if (!*found)
		return 0;
	int rc = rollout_store_parse_anchor(kv.value, kv.value_len, out, err);
	free(kv.key);
	free(kv.value);
	if (rc < 0) {
		*found = false;
		return cf_err_prefix(err, "audit anchor in etcd at %s", es->anchor_key);
	}
	return 0;
}

static void audit_key(const struct etcd_store *es, uint64_t seq, char *out, size_t cap)
{
	snprintf(out, cap, "%s%020" PRIu64, es->audit_prefix, seq);
}

/* One transaction: the state (when s), the anchor (when a) and the lines, if the fence holds
 * and the first line's key is not taken (a chain never rewritten). */
static int es_commit(void *ctx, const struct rollout_state *s, const struct audit_anchor *a,
		     const char *const *lines, size_t nlines, struct cf_err *err)
{
	struct etcd_store *es = ctx;
	struct etcd_op ops[COMMIT_LINES_MAX + 2];
	char keys[COMMIT_LINES_MAX][KEY_MAX];
	char anchor[ANCHOR_MAX_BYTES];
	struct etcd_txn_result r;
	char *json = NULL;
	size_t n = 0, len = 0;
	int rc = -1;

	if (!es->term) {
		errno = ESTALE;
		return cf_err_set(err, "not the leader: this replica holds no lease on %s, so it "
				       "writes nothing",
				  es->leader_key);
	}
	if (nlines > COMMIT_LINES_MAX || (nlines && (!a || a->lines < nlines))) {
		errno = EINVAL;
		return cf_err_set(err, "etcd store: %zu audit lines in one commit (at most %d, and "
				       "an anchor that counts them)",
				  nlines, COMMIT_LINES_MAX);
	}
	if (s && rollout_state_to_json(s, &json, &len, err) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (s)
		ops[n++] = (struct etcd_op){ETCD_OP_PUT, es->state_key, json, len, 0};
	if (a)
		ops[n++] = (struct etcd_op){ETCD_OP_PUT, es->anchor_key, anchor,
					    rollout_store_format_anchor(a, anchor), 0};
	for (size_t i = 0; i < nlines; i++) {
		audit_key(es, a->lines - nlines + 1 + i, keys[i], sizeof(keys[i]));
		ops[n++] = (struct etcd_op){ETCD_OP_PUT, keys[i], lines[i], strlen(lines[i]), 0};
	}
	struct etcd_cmp cmp[] = {
		{.key = es->leader_key, .target = ETCD_CMP_CREATE, .number = es->term},
		{.key = es->leader_key, .target = ETCD_CMP_VALUE, .value = es->holder},
		{.key = nlines ? keys[0] : "", .target = ETCD_CMP_CREATE, .number = 0},
	};
	if (etcd_txn(es->etcd, cmp, nlines ? 3 : 2, ops, n, NULL, 0, &r, err) < 0) {
		errno = EHOSTUNREACH;
		goto done;
	}
	bool ok = r.succeeded;
	etcd_txn_result_free(&r);
	if (!ok) {
		errno = ESTALE;
		cf_err_set(err, "not the leader any more: %s is no longer this replica's (term %" PRId64
				") or the audit chain moved on at %s; nothing was written",
			   es->leader_key, es->term, nlines ? keys[0] : es->anchor_key);
		goto done;
	}
	rc = 0;
done:
	free(json);
	return rc;
}

static int es_save(void *ctx, const struct rollout_state *s, struct cf_err *err)
{
	return es_commit(ctx, s, NULL, NULL, 0, err);
}

static int es_save_anchor(void *ctx, const struct audit_anchor *a, struct cf_err *err)
{
	return es_commit(ctx, NULL, a, NULL, 0, err);
}

static int es_set_fence(void *ctx, const char *holder, int64_t term, struct cf_err *err)
{
	struct etcd_store *es = ctx;
	if (term && (!holder || snprintf(es->holder, sizeof(es->holder), "%s", holder) >=
					       (int)sizeof(es->holder)))
		return cf_err_set(err, "etcd store: the leader's name must be 1 to %d bytes",
				  HOLDER_MAX - 1);
	es->term = term;
	if (!term)
		es->holder[0] = '\0';
	return 0;
}

static int es_read_audit(void *ctx, uint64_t after, rollout_store_line_fn *line, void *line_ctx,
			 struct cf_err *err)
{
	struct etcd_store *es = ctx;
	char from[KEY_MAX];
	bool more = true;
	audit_key(es, after + 1, from, sizeof(from));
	while (more) {
		struct etcd_kv *kvs = NULL;
		size_t n = 0;
		int64_t rev = 0;
		int rc = 0;
		if (etcd_range_prefix(es->etcd, es->audit_prefix, from, AUDIT_PAGE, &kvs, &n, &more,
				      &rev, err) < 0)
			return -1;
		for (size_t i = 0; i < n && rc == 0; i++) {
			const char *digits = kvs[i].key + strlen(es->audit_prefix);
			char *end = NULL;
			uint64_t seq = strtoull(digits, &end, 10);
			if (strlen(digits) != 20 || *end)
				rc = cf_err_set(err, "etcd store: %s is not an audit line's key",
						kvs[i].key);
			else
				rc = line(line_ctx, seq, kvs[i].value, kvs[i].value_len);
			if (i + 1 == n)
				audit_key(es, seq + 1, from, sizeof(from));
		}
		etcd_kvs_free(kvs, n);
		if (rc != 0)
			return rc;
		if (n == 0)
			more = false;
	}
	return 0;
}

static void es_close(void *ctx)
{
	struct etcd_store *es = ctx;
	etcd_free(es->etcd);
	free(es);
}

static const struct rollout_store_ops etcd_store_ops = {
	.name = "etcd",
	.load = es_load,
	.save = es_save,
	.load_anchor = es_load_anchor,
	.save_anchor = es_save_anchor,
	.commit = es_commit,
	.set_fence = es_set_fence,
	.read_audit = es_read_audit,
	.close = es_close,
};

int rollout_store_open_etcd(struct rollout_store *out, const struct rollout_store_etcd_config *cfg,
			    struct cf_err *err)
{
	size_t plen = cfg->prefix ? strlen(cfg->prefix) : 0;
	if (plen < 2 || cfg->prefix[0] != '/' || cfg->prefix[plen - 1] == '/' ||
	    plen >= PREFIX_MAX)
		return cf_err_set(err, "etcd store: the prefix must start with / and not end with "
				       "one, at most %d bytes, such as /clawfleet/prod",
				  PREFIX_MAX - 1);
	struct etcd_store *es = calloc(1, sizeof(*es));
	if (!es)
		return cf_err_set(err, "out of memory");
	struct etcd_options opts = {
		.endpoints = cfg->endpoints,
		.n_endpoints = cfg->n_endpoints,
		.timeout_ms = cfg->timeout_ms,
		.ca_file = cfg->ca_file,
		.cert_file = cfg->cert_file,
		.key_file = cfg->key_file,
	};
	if (etcd_new(&es->etcd, &opts, err) < 0) {
		free(es);
		return -1;
	}
	memcpy(es->prefix, cfg->prefix, plen + 1);
	snprintf(es->state_key, sizeof(es->state_key), "%s%s", es->prefix,
		 ROLLOUT_STORE_KEY_STATE);
	snprintf(es->anchor_key, sizeof(es->anchor_key), "%s%s", es->prefix,
		 ROLLOUT_STORE_KEY_ANCHOR);
	snprintf(es->leader_key, sizeof(es->leader_key), "%s%s", es->prefix,
		 ROLLOUT_STORE_KEY_LEADER);
	snprintf(es->audit_prefix, sizeof(es->audit_prefix), "%s%s", es->prefix,
		 ROLLOUT_STORE_KEY_AUDIT);
	out->ops = &etcd_store_ops;
	out->ctx = es;
	return 0;
}
