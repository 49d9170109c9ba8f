/* The rotation's check against a running controller: revoke with --controller asks its
 * GET /status and goes ahead only when the passes there end in two green passes since the
 * promote. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/httpc.h"
#include "base/jsonparse.h"
#include "base/timeparse.h"
#include "reconcilers/tokens_rotate_internal.h"

#define STATUS_JSON_DEPTH 32

/* The controller is fleet-internal: no proxy (httpc's default). */
static int fetch_status(const char *base, struct httpc_reply *reply, struct cf_err *err)
{
	char url[2048];
	size_t base_len = strlen(base);
	while (base_len && base[base_len - 1] == '/')
		base_len--;
	if (snprintf(url, sizeof(url), "%.*s/status", (int)base_len, base) >= (int)sizeof(url))
		return cf_err_set(err, "--controller URL too long");

	const struct httpc_request req = {
		.url = url,
		.connect_timeout_ms = TOKENS_ROTATE_CONNECT_TIMEOUT_MS,
		.timeout_ms = TOKENS_ROTATE_TIMEOUT_MS,
		.max_reply = TOKENS_ROTATE_STATUS_MAX,
		.user_agent = "clawfleet",
	};
	if (httpc_do(NULL, &req, reply, err) < 0)
		return -1;
	if (reply->status != 200)
		return cf_err_set(err, "%s: HTTP status %ld", url, reply->status);
	return 0;
}

struct pass {
	int64_t at_ms;
	bool green;
	bool seen;
};

static int read_pass(struct json_object *entry, size_t i, struct pass *p, struct cf_err *why)
{
	struct json_object *at, *green;
	time_t t;
	if (!json_object_is_type(entry, json_type_object) ||
	    !json_object_object_get_ex(entry, "at", &at) ||
	    !json_object_is_type(at, json_type_string) ||
	    !json_object_object_get_ex(entry, "green", &green) ||
	    !json_object_is_type(green, json_type_boolean))
		return cf_err_set(why, "the controller's passes[%zu] is not {\"at\": RFC 3339, "
				       "\"green\": bool}",
				  i);
	if (rfc3339_parse(json_object_get_string(at), &t, why) < 0)
		return cf_err_prefix(why, "the controller's passes[%zu].at", i);
	p->at_ms = (int64_t)t * 1000;
	p->green = json_object_get_boolean(green);
	p->seen = true;
	return 0;
}

int tokens_rotate_check_passes(const char *body, size_t len, int64_t promote_ms,
			       struct cf_err *why)
{
	struct json_object *v = NULL, *passes;
	struct pass last = {0}, before = {0};
	char promoted[RFC3339_MS_MAX];
	int rc = TOKENS_ROTATE_REFUSED;

	rfc3339_format_ms(promote_ms, promoted, sizeof(promoted));
	if (len > TOKENS_ROTATE_STATUS_MAX) {
		cf_err_set(why, "the controller's status is over %u bytes",
			   TOKENS_ROTATE_STATUS_MAX);
		goto done;
	}
	if (jsonparse_object(body, len, STATUS_JSON_DEPTH, &v, why) < 0) {
		cf_err_prefix(why, "the controller's status");
		goto done;
	}
	if (!json_object_object_get_ex(v, "passes", &passes) ||
	    !json_object_is_type(passes, json_type_array)) {
		cf_err_set(why, "the controller's status has no passes array; it cannot confirm "
				"green passes since the promote");
		goto done;
	}
	size_t n = json_object_array_length(passes);
	if (n > TOKENS_ROTATE_PASSES_MAX) {
		cf_err_set(why, "the controller lists %zu passes, over %d", n,
			   TOKENS_ROTATE_PASSES_MAX);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct pass p = {0};
		if (read_pass(json_object_array_get_idx(passes, i), i, &p, why) < 0)
			goto done;
		/* Equal times keep array order: the later entry is the later pass. */
		if (!last.seen || p.at_ms >= last.at_ms) {
			before = last;
			last = p;
		} else if (!before.seen || p.at_ms >= before.at_ms) {
			before = p;
		}
	}
	if (!last.seen || last.at_ms < promote_ms) {
		cf_err_set(why, "the controller reports no pass since the promote at %s; two "
				"consecutive green passes are needed",
			   promoted);
		goto done;
	}
	char at[32];
	if (!last.green) {
		rfc3339_format((time_t)(last.at_ms / 1000), at, sizeof(at));
		cf_err_set(why, "the controller's last pass (at %s) was not green", at);
		goto done;
	}
	if (!before.seen || before.at_ms < promote_ms) {
		cf_err_set(why, "the controller reports one green pass since the promote at %s; "
				"two consecutive green passes are needed",
			   promoted);
		goto done;
	}
	if (!before.green) {
		rfc3339_format((time_t)(before.at_ms / 1000), at, sizeof(at));
		cf_err_set(why, "the controller's pass at %s, before its last, was not green; two "
				"consecutive green passes are needed",
			   at);
		goto done;
	}
	rc = 0;
done:
	json_object_put(v);
	return rc;
}

int rotation_controller_green(const struct rotation *r, int64_t promote_ms, struct cf_err *why)
{
	struct httpc_reply reply = {0};
	int rc = TOKENS_ROTATE_REFUSED;
	if (fetch_status(r->o->controller, &reply, why) < 0) {
		cf_err_prefix(why, "the controller cannot confirm green passes");
		goto done;
	}
	rc = tokens_rotate_check_passes(buf_str(&reply.body), reply.body.len, promote_ms, why);
done:
	httpc_reply_free(&reply);
	return rc;
}
