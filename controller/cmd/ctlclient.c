#include "cmd/ctlclient.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/httpc.h"
#include "base/jsonparse.h"

#define CONNECT_TIMEOUT_MS 2000
#define TIMEOUT_MS 5000
#define REPLY_MAX (8u << 20)
#define URL_MAX 2048

int ctlclient_get(const char *base, const char *path, const char *user_agent,
		  struct json_object **doc, struct cf_err *err)
{
	char url[URL_MAX];
	size_t blen = strlen(base);
	struct httpc_reply r = {0};
	int rc = -1;
	*doc = NULL;
	while (blen && base[blen - 1] == '/')
		blen--;
	int n = snprintf(url, sizeof(url), "%.*s%s", (int)blen, base, path);
	if (n < 0 || (size_t)n >= sizeof(url))
		return cf_err_set(err, "the controller's URL is longer than %d bytes", URL_MAX);
	const struct httpc_request req = {
		.url = url,
		.connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.timeout_ms = TIMEOUT_MS,
		.max_reply = REPLY_MAX,
		.user_agent = user_agent,
	};
	if (httpc_do(NULL, &req, &r, err) < 0)
		goto done;
	if (r.status != 200) {
		cf_err_set(err, "GET %s: HTTP %ld", url, r.status);
		goto done;
	}
	if (jsonparse_object(buf_str(&r.body), r.body.len, JSONPARSE_DEPTH, doc, NULL) < 0) {
		cf_err_set(err, "GET %s: the answer is not a JSON object", url);
		goto done;
	}
	rc = 0;
done:
	httpc_reply_free(&r);
	return rc;
}

int ctlclient_show(const char *base, const char *path, const char *prog, bool as_json,
		   void (*table)(FILE *out, struct json_object *doc, int64_t now_ms))
{
	char user_agent[64];
	struct json_object *doc = NULL;
	struct cf_err err;
	int status = 1;
	snprintf(user_agent, sizeof(user_agent), "clawfleet-%s", prog);
	if (httpc_global_init(&err) < 0 || ctlclient_get(base, path, user_agent, &doc, &err) < 0) {
		fprintf(stderr, "clawfleet %s: %s\n", prog, err.msg);
		goto done;
	}
	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
									   JSON_C_TO_STRING_SPACED |
									   JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		table(stdout, doc, clock_epoch_ms());
	status = 0;
done:
	json_object_put(doc);
	httpc_global_cleanup();
	return status;
}
