#include "record/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/httpc.h"
#include "base/jsonparse.h"

/* The gateway's replies nest a few levels (txn: responses, response_range, kvs). */
#define REPLY_DEPTH 12
#define CONNECT_TIMEOUT_MS 1000L
/* A reply that is an error: HTTP 404 for gRPC's NotFound (a lease that is gone). */
#define CALL_NOT_FOUND (-2)

struct etcd {
	char *endpoints[ETCD_MAX_ENDPOINTS];
	size_t n_endpoints;
	size_t current; /* the endpoint asked first */
	long timeout_ms;
	char *ca_file, *cert_file, *key_file;
	struct httpc *http;
};

static char *dup_or_null(const char *s, bool *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

int etcd_new(struct etcd **out, const struct etcd_options *opts, struct cf_err *err)
{
	*out = NULL;
	if (opts->n_endpoints == 0 || opts->n_endpoints > ETCD_MAX_ENDPOINTS)
		return cf_err_set(err, "etcd: want 1 to %d endpoints, have %zu", ETCD_MAX_ENDPOINTS,
				  opts->n_endpoints);
	if (opts->timeout_ms <= 0)
		return cf_err_set(err, "etcd: the timeout must be positive");
	for (size_t i = 0; i < opts->n_endpoints; i++) {
		const char *ep = opts->endpoints[i];
		if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
			return cf_err_set(err, "etcd endpoint %s: want http://HOST:PORT or "
					       "https://HOST:PORT", ep);
	}
	struct etcd *e = calloc(1, sizeof(*e));
	if (!e)
		return cf_err_set(err, "out of memory");
	bool oom = false;
	for (size_t i = 0; i < opts->n_endpoints; i++) {
		/* Without the trailing slash, so a path appends cleanly. */
		size_t len = strlen(opts->endpoints[i]);
		while (len > 0 && opts->endpoints[i][len - 1] == '/')
			len--;
		if (!(e->endpoints[i] = strndup(opts->endpoints[i], len)))
			oom = true;
	}
	e->n_endpoints = opts->n_endpoints;
	e->timeout_ms = opts->timeout_ms;
	e->ca_file = dup_or_null(opts->ca_file, &oom);
	e->cert_file = dup_or_null(opts->cert_file, &oom);
	e->key_file = dup_or_null(opts->key_file, &oom);
	if (oom) {
		etcd_free(e);
		return cf_err_set(err, "out of memory");
	}
	if (httpc_new(&e->http, err) < 0) {
		etcd_free(e);
		return -1;
	}
	*out = e;
	return 0;
}

void etcd_free(struct etcd *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	httpc_free(e->http);
	free(e);
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->endpoints[e->current];
}

/* base64 ------------------------------------------------------------------------------------ */

static struct json_object *b64_string(const void *data, size_t len)
{
	if (len > INT_MAX / 2)
		return NULL;
	size_t out_len = 4 * ((len + 2) / 3) + 1;
	unsigned char *out = malloc(out_len);
	if (!out)
		return NULL;
	int n = EVP_EncodeBlock(out, data, (int)len);
	struct json_object *s = json_object_new_string_len((const char *)out, n);
	free(out);
	return s;
}

/* *out is malloc'd, *out_len bytes and a NUL. */
static int b64_decode(const char *text, char **out, size_t *out_len, struct cf_err *err)
{
	size_t len = strlen(text);
	if (len % 4 != 0 || len > INT_MAX)
		return cf_err_set(err, "etcd: a key or value that is not base64");
	unsigned char *buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return cf_err_set(err, "out of memory");
	int n = len ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len) : 0;
	if (n < 0) {
		free(buf);
		return cf_err_set(err, "etcd: a key or value that is not base64");
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	for (size_t i = len; i > 0 && text[i - 1] == '=' && n > 0; i--)
		n--;
	buf[n] = '\0';
	*out = (char *)buf;
	*out_len = (size_t)n;
	return 0;
}

/* The gateway writes int64 fields as JSON strings ("create_revision":"12") and leaves out the
 * ones that are zero. */
static int get_i64(struct json_object *obj, const char *key, int64_t *out, struct cf_err *err)
{
	struct json_object *v = NULL;
	*out = 0;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 0;
	}
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
	char *end = NULL;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (!s[0] || *end || errno)
		return cf_err_set(err, "etcd: %s: want an integer", key);
	*out = n;
	return 0;
}

static int add(struct json_object *obj, const char *key, struct json_object *v)
{
	if (!v)
		return -1;
	return json_object_object_add(obj, key, v);
}

static struct json_object *i64_string(int64_t n)
{
	char text[24];
	snprintf(text, sizeof(text), "%" PRId64, n);
	return json_object_new_string(text);
}

/* The request ---------------------------------------------------------------------------------- */

static void error_of(const struct httpc_reply *reply, char *out, size_t size)
{
	struct json_object *o = NULL;
	const char *msg = NULL;
	snprintf(out, size, "HTTP %ld", reply->status);
	if (jsonparse_object(buf_str(&reply->body), reply->body.len, REPLY_DEPTH, &o, NULL) == 0 &&
	    jsonparse_get_string(o, "error", "error", JSONPARSE_REQUIRED, &msg, NULL) == 0)
		snprintf(out, size, "%s", msg);
	json_object_put(o);
}

/* POSTs body to path on each member in turn until one answers; *reply the parsed answer. */
static int call(struct etcd *e, const char *path, struct json_object *body,
		struct json_object **reply, struct cf_err *err)
{
	char failures[CF_ERR_MSG / 2] = "";
	size_t used = 0;
	size_t len = 0;
	const char *text = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, &len);
	*reply = NULL;
	if (!text)
		return cf_err_set(err, "out of memory");
	for (size_t tried = 0; tried < e->n_endpoints; tried++) {
		size_t i = (e->current + tried) % e->n_endpoints;
		char url[512];
		struct httpc_reply r = {0};
		struct cf_err one = {{0}};
		snprintf(url, sizeof(url), "%s%s", e->endpoints[i], path);
		static const char *const headers[] = {"Content-Type: application/json", NULL};
		struct httpc_request req = {
			.method = "POST",
			.url = url,
			.headers = headers,
			.body = text,
			.body_len = len,
			.connect_timeout_ms = CONNECT_TIMEOUT_MS < e->timeout_ms ? CONNECT_TIMEOUT_MS
										  : e->timeout_ms,
			.timeout_ms = e->timeout_ms,
			.max_reply = ETCD_MAX_REPLY,
			.ca_file = e->ca_file,
			.cert_file = e->cert_file,
			.key_file = e->key_file,
		};
		int rc = httpc_do(e->http, &req, &r, &one);
		if (rc == 0 && r.status == 200) {
			e->current = i;
			rc = jsonparse_object(buf_str(&r.body), r.body.len, REPLY_DEPTH, reply, err);
			httpc_reply_free(&r);
			return rc < 0 ? cf_err_prefix(err, "etcd %s%s", e->endpoints[i], path) : 0;
		}
		if (rc == 0 && r.status < 500) {
			/* The member answered and refused: another one would say the same. */
			char why[256];
			error_of(&r, why, sizeof(why));
			long status = r.status;
			httpc_reply_free(&r);
			e->current = i;
			cf_err_set(err, "etcd %s%s: %s", e->endpoints[i], path, why);
			return status == 404 ? CALL_NOT_FOUND : -1;
		}
		if (rc == 0) {
			char why[256];
			error_of(&r, why, sizeof(why));
			snprintf(one.msg, sizeof(one.msg), "%s: %s", e->endpoints[i], why);
		}
		httpc_reply_free(&r);
		int n = snprintf(failures + used, sizeof(failures) - used, "%s%s",
				 used ? "; " : "", one.msg);
		if (n > 0)
			used = used + (size_t)n < sizeof(failures) ? used + (size_t)n
								   : sizeof(failures) - 1;
	}
	return cf_err_set(err, "etcd: no member answered %s (%s)", path, failures);
}

/* Reading key-values ---------------------------------------------------------------------------- */

void etcd_kvs_free(struct etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

static int read_kv(struct json_object *o, struct etcd_kv *kv, struct cf_err *err)
{
	const char *key = NULL, *value = "";
	size_t key_len = 0;
	memset(kv, 0, sizeof(*kv));
	if (jsonparse_get_string(o, "etcd kv", "key", JSONPARSE_REQUIRED, &key, err) < 0 ||
	    jsonparse_get_string(o, "etcd kv", "value", JSONPARSE_OPTIONAL, &value, err) < 0 ||
	    get_i64(o, "create_revision", &kv->create_revision, err) < 0 ||
	    get_i64(o, "mod_revision", &kv->mod_revision, err) < 0 ||
	    get_i64(o, "version", &kv->version, err) < 0 || get_i64(o, "lease", &kv->lease, err) < 0)
		return -1;
	if (b64_decode(key, &kv->key, &key_len, err) < 0)
		return -1;
	if (b64_decode(value, &kv->value, &kv->value_len, err) < 0) {
		free(kv->key);
		kv->key = NULL;
		return -1;
	}
	return 0;
}

/* Appends the "kvs" of a range reply to *kvs. */
static int read_kvs(struct json_object *range, struct etcd_kv **kvs, size_t *n,
		    struct cf_err *err)
{
	struct json_object *arr = NULL;
	if (jsonparse_get_array(range, "etcd range", "kvs", JSONPARSE_OPTIONAL, &arr, err) < 0)
		return -1;
	size_t count = arr ? json_object_array_length(arr) : 0;
	if (count == 0)
		return 0;
	struct etcd_kv *grown = realloc(*kvs, (*n + count) * sizeof(**kvs));
	if (!grown)
		return cf_err_set(err, "out of memory");
	*kvs = grown;
	for (size_t i = 0; i < count; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(o, json_type_object))
			return cf_err_set(err, "etcd: a kv that is not an object");
		if (read_kv(o, &grown[*n], err) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static int header_revision(struct json_object *reply, int64_t *revision, struct cf_err *err)
{
	struct json_object *h = NULL;
	*revision = 0;
	if (jsonparse_get_object(reply, "etcd", "header", JSONPARSE_OPTIONAL, &h, err) < 0)
		return -1;
	return h ? get_i64(h, "revision", revision, err) : 0;
}

/* The first key after every key that starts with prefix: the prefix with its last byte that is
 * not 0xff incremented, the bytes after it dropped ("\0" when there is none: to the end). */
static struct json_object *prefix_end(const char *prefix)
{
	size_t len = strlen(prefix);
	char *end = strdup(prefix);
	if (!end)
		return NULL;
	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	struct json_object *s = NULL;
	if (len == 0) {
		s = b64_string("", 1);
	} else {
		end[len - 1] = (char)((unsigned char)end[len - 1] + 1);
		s = b64_string(end, len);
	}
	free(end);
	return s;
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kv *out, bool *found,
	     struct cf_err *err)
{
	struct json_object *body = json_object_new_object(), *reply = NULL;
	struct etcd_kv *kvs = NULL;
	size_t n = 0;
	int rc = -1;
	memset(out, 0, sizeof(*out));
	*found = false;
	if (!body || add(body, "key", b64_string(key, strlen(key))) < 0) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (call(e, "/v3/kv/range", body, &reply, err) < 0 || read_kvs(reply, &kvs, &n, err) < 0)
		goto done;
	if (n > 0) {
		*out = kvs[0];
		kvs[0] = (struct etcd_kv){0};
		*found = true;
	}
	rc = 0;
done:
	etcd_kvs_free(kvs, n);
	json_object_put(body);
	json_object_put(reply);
	return rc;
}

int etcd_range_prefix(struct etcd *e, const char *prefix, const char *from, int64_t limit,
		      struct etcd_kv **out, size_t *n, bool *more, int64_t *revision,
		      struct cf_err *err)
{
	struct json_object *body = json_object_new_object(), *reply = NULL;
	const char *start = from && from[0] ? from : prefix;
	int rc = -1;
	*out = NULL;
	*n = 0;
	*more = false;
	*revision = 0;
	if (!body || add(body, "key", b64_string(start, strlen(start))) < 0 ||
	    add(body, "range_end", prefix_end(prefix)) < 0 ||
	    (limit > 0 && add(body, "limit", i64_string(limit)) < 0)) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (call(e, "/v3/kv/range", body, &reply, err) < 0 || read_kvs(reply, out, n, err) < 0 ||
	    header_revision(reply, revision, err) < 0 ||
	    jsonparse_get_bool(reply, "etcd range", "more", JSONPARSE_OPTIONAL, more, err) < 0)
		goto done;
	rc = 0;
done:
	if (rc < 0) {
		etcd_kvs_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	json_object_put(body);
	json_object_put(reply);
	return rc;
}

/* Writing --------------------------------------------------------------------------------------- */

static struct json_object *put_request(const char *key, const char *value, size_t value_len,
				       int64_t lease)
{
	struct json_object *o = json_object_new_object();
	if (!o || add(o, "key", b64_string(key, strlen(key))) < 0 ||
	    add(o, "value", b64_string(value, value_len)) < 0 ||
	    (lease && add(o, "lease", i64_string(lease)) < 0)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int etcd_put(struct etcd *e, const char *key, const char *value, size_t value_len,
	     int64_t lease, struct cf_err *err)
{
	struct json_object *body = put_request(key, value, value_len, lease), *reply = NULL;
	if (!body)
		return cf_err_set(err, "out of memory");
	int rc = call(e, "/v3/kv/put", body, &reply, err);
	json_object_put(body);
	json_object_put(reply);
	return rc < 0 ? -1 : 0;
}

static struct json_object *compare_json(const struct etcd_cmp *c)
{
	static const char *const targets[] = {
		[ETCD_CMP_CREATE] = "CREATE", [ETCD_CMP_VALUE] = "VALUE", [ETCD_CMP_LEASE] = "LEASE"};
	struct json_object *o = json_object_new_object();
	bool ok = o && add(o, "key", b64_string(c->key, strlen(c->key))) == 0 &&
		  add(o, "result", json_object_new_string("EQUAL")) == 0 &&
		  add(o, "target", json_object_new_string(targets[c->target])) == 0;
	if (ok && c->target == ETCD_CMP_CREATE)
		ok = add(o, "create_revision", i64_string(c->number)) == 0;
	else if (ok && c->target == ETCD_CMP_LEASE)
		ok = add(o, "lease", i64_string(c->number)) == 0;
	else if (ok)
		ok = add(o, "value", b64_string(c->value, strlen(c->value))) == 0;
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *op_json(const struct etcd_op *op)
{
	struct json_object *o = json_object_new_object(), *inner = NULL;
	const char *name = "request_range";
	if (!o)
		return NULL;
	if (op->kind == ETCD_OP_PUT) {
		name = "request_put";
		inner = put_request(op->key, op->value, op->value_len, op->lease);
	} else if ((inner = json_object_new_object()) &&
		   add(inner, "key", b64_string(op->key, strlen(op->key))) < 0) {
		json_object_put(inner);
		inner = NULL;
	}
	if (op->kind == ETCD_OP_DELETE)
		name = "request_delete_range";
	if (add(o, name, inner) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int add_ops(struct json_object *body, const char *name, const struct etcd_op *ops,
		   size_t n)
{
	struct json_object *arr = json_object_new_array();
	if (add(body, name, arr) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = op_json(&ops[i]);
		if (!o || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			return -1;
		}
	}
	return 0;
}

void etcd_txn_result_free(struct etcd_txn_result *r)
{
	etcd_kvs_free(r->kvs, r->n_kvs);
	memset(r, 0, sizeof(*r));
}

static int read_txn(struct json_object *reply, struct etcd_txn_result *out, struct cf_err *err)
{
	struct json_object *responses = NULL;
	if (jsonparse_get_bool(reply, "etcd txn", "succeeded", JSONPARSE_OPTIONAL, &out->succeeded,
			       err) < 0 ||
	    header_revision(reply, &out->revision, err) < 0 ||
	    jsonparse_get_array(reply, "etcd txn", "responses", JSONPARSE_OPTIONAL, &responses,
				err) < 0)
		return -1;
	for (size_t i = 0; responses && i < json_object_array_length(responses); i++) {
		struct json_object *r = json_object_array_get_idx(responses, i), *range = NULL;
		if (!json_object_is_type(r, json_type_object))
			return cf_err_set(err, "etcd txn: a response that is not an object");
		if (jsonparse_get_object(r, "etcd txn", "response_range", JSONPARSE_OPTIONAL, &range,
					 err) < 0)
			return -1;
		if (range && read_kvs(range, &out->kvs, &out->n_kvs, err) < 0)
			return -1;
	}
	return 0;
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, struct etcd_txn_result *out, struct cf_err *err)
{
	struct json_object *body = json_object_new_object(), *reply = NULL, *cmps = NULL;
	int rc = -1;
	memset(out, 0, sizeof(*out));
	if (!body || add(body, "compare", (cmps = json_object_new_array())) < 0)
		goto oom;
	for (size_t i = 0; i < n_cmp; i++) {
		struct json_object *c = compare_json(&cmp[i]);
		if (!c || json_object_array_add(cmps, c) < 0) {
			json_object_put(c);
			goto oom;
		}
	}
	if (add_ops(body, "success", success, n_success) < 0 ||
	    add_ops(body, "failure", failure, n_failure) < 0)
		goto oom;
	if (call(e, "/v3/kv/txn", body, &reply, err) < 0 || read_txn(reply, out, err) < 0)
		goto done;
	rc = 0;
	goto done;
oom:
	cf_err_set(err, "out of memory");
done:
	if (rc < 0)
		etcd_txn_result_free(out);
	json_object_put(body);
	json_object_put(reply);
	return rc;
}

/* Leases ---------------------------------------------------------------------------------------- */

static int lease_call(struct etcd *e, const char *path, int64_t id, int64_t ttl_s,
		      struct json_object **reply, struct cf_err *err)
{
	struct json_object *body = json_object_new_object();
	if (!body || (id && add(body, "ID", i64_string(id)) < 0) ||
	    (ttl_s && add(body, "TTL", i64_string(ttl_s)) < 0)) {
		json_object_put(body);
		return cf_err_set(err, "out of memory");
	}
	int rc = call(e, path, body, reply, err);
	json_object_put(body);
	return rc;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_s,
		     struct cf_err *err)
{
	struct json_object *reply = NULL;
	int rc = -1;
	*id = 0;
	*granted_s = 0;
	if (ttl_s <= 0)
		return cf_err_set(err, "etcd: a lease needs a positive TTL");
	if (lease_call(e, "/v3/lease/grant", 0, ttl_s, &reply, err) < 0 ||
	    get_i64(reply, "ID", id, err) < 0 || get_i64(reply, "TTL", granted_s, err) < 0)
		goto done;
	if (*id == 0) {
		cf_err_set(err, "etcd %s/v3/lease/grant: no lease in the reply", etcd_endpoint(e));
		goto done;
	}
	rc = 0;
done:
	json_object_put(reply);
	return rc;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s, struct cf_err *err)
{
	struct json_object *reply = NULL, *result = NULL;
	int rc = -1;
	*ttl_s = 0;
	/* A stream on the wire; one request, one result, and the gateway ends it. */
	if (lease_call(e, "/v3/lease/keepalive", id, 0, &reply, err) < 0 ||
	    jsonparse_get_object(reply, "etcd keepalive", "result", JSONPARSE_REQUIRED, &result,
				 err) < 0 ||
	    get_i64(result, "TTL", ttl_s, err) < 0)
		goto done;
	rc = 0;
done:
	json_object_put(reply);
	return rc;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct cf_err *err)
{
	struct json_object *reply = NULL;
	int rc = lease_call(e, "/v3/lease/revoke", id, 0, &reply, err);
	json_object_put(reply);
	if (rc == CALL_NOT_FOUND)
		return 0;
	return rc < 0 ? -1 : 0;
}
