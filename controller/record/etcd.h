/* etcd: a small client of etcd's v3 API through its JSON gateway (etcd 3.4: POST /v3/kv/range,
 * /v3/kv/put, /v3/kv/txn, /v3/kv/deleterange, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/lease/revoke), over base/httpc, so the controller needs no gRPC library: every request
 * has httpc's timeouts and reply cap, every reply is read by base/jsonparse.
 *
 * What it promises:
 *   - endpoints are tried in turn, starting with the one that answered last: a member that does
 *     not answer (no connection, a timeout) or answers 5xx (no leader, no quorum, a request
 *     that timed out inside etcd) is skipped and the next asked; the error, when none answers,
 *     names each member's failure;
 *   - keys and values are bytes (base64 on the wire, as the gateway wants); a value read is
 *     NUL-terminated beyond value_len for the callers that store text;
 *   - a transaction compares and writes atomically: etcd_txn says which branch ran, so a write
 *     conditioned on holding a key fails, whole, once the key is someone else's;
 *   - nothing blocks longer than timeout_ms per member asked.
 * One struct etcd is one keep-alive HTTP handle: not for two threads at once. */
#ifndef CLAWFLEET_ETCD_H
#define CLAWFLEET_ETCD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define ETCD_MAX_ENDPOINTS 8
/* The most bytes of one reply: etcd refuses requests over 1.5 MiB by default, base64 adds a
 * third, a range of many keys adds their framing. A range that needs more pages with limit. */
#define ETCD_MAX_REPLY (8u << 20)

struct etcd_options {
	/* "http://host:port" or "https://host:port", at least one, at most ETCD_MAX_ENDPOINTS. */
	const char *const *endpoints;
	size_t n_endpoints;
	long timeout_ms; /* > 0: per member asked, connect included */
	/* https: a private CA, and the client certificate and key the cluster asks for (NULL:
	 * the system's CAs, no client certificate). */
	const char *ca_file, *cert_file, *key_file;
};

struct etcd;
/* Copies what opts points at. */
int etcd_new(struct etcd **out, const struct etcd_options *opts, struct cf_err *err);
void etcd_free(struct etcd *e);
/* The endpoint that answered last (the first until one did). */
const char *etcd_endpoint(const struct etcd *e);

struct etcd_kv {
	char *key;
	char *value; /* value_len bytes and a NUL */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};
void etcd_kvs_free(struct etcd_kv *kvs, size_t n);

/* One key: *found false (and *out zeroed) when it does not exist. */
int etcd_get(struct etcd *e, const char *key, struct etcd_kv *out, bool *found,
	     struct cf_err *err);
/* The keys from `from` (inclusive) that start with prefix, in key order, at most limit (0: no
 * limit); *more says whether keys were left out. *revision is the store's revision read at. */
int etcd_range_prefix(struct etcd *e, const char *prefix, const char *from, int64_t limit,
		      struct etcd_kv **out, size_t *n, bool *more, int64_t *revision,
		      struct cf_err *err);
int etcd_put(struct etcd *e, const char *key, const char *value, size_t value_len,
	     int64_t lease, struct cf_err *err);

/* A comparison, always "equal": the key's create revision (0: the key does not exist), its
 * value, or the lease it is attached to. */
enum etcd_cmp_target { ETCD_CMP_CREATE, ETCD_CMP_VALUE, ETCD_CMP_LEASE };
struct etcd_cmp {
	const char *key;
	enum etcd_cmp_target target;
	int64_t number;	   /* CREATE, LEASE */
	const char *value; /* VALUE, a string */
};
enum etcd_op_kind { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_GET };
struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	const char *value; /* PUT: value_len bytes */
	size_t value_len;
	int64_t lease; /* PUT: 0 none */
};
struct etcd_txn_result {
	bool succeeded;	  /* every comparison held: the success branch ran */
	int64_t revision; /* the store's revision after the transaction */
	struct etcd_kv *kvs; /* what the branch's GET operations found, in order */
	size_t n_kvs;
};
void etcd_txn_result_free(struct etcd_txn_result *r);
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, struct etcd_txn_result *out, struct cf_err *err);

/* A lease of ttl_s seconds: its id, and the TTL etcd granted. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_s,
		     struct cf_err *err);
/* One keep-alive: *ttl_s the seconds the lease now has, 0 when it is gone (expired or
 * revoked: its keys were deleted with it). */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s, struct cf_err *err);
/* Revoking a lease that is already gone is not an error. */
int etcd_lease_revoke(struct etcd *e, int64_t id, struct cf_err *err);

#endif
