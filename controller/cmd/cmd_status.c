/* clawfleet status: the controller's GET /status as a table for people, or as it came (--json). */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "cmd/commands.h"
#include "cmd/status_table.h"

#define DEFAULT_URL "http://127.0.0.1:8088"
#define CONNECT_TIMEOUT_MS 2000
#define TIMEOUT_MS 5000
#define REPLY_MAX (8u << 20)
#define URL_MAX 2048

static const char status_usage[] =
	"usage: clawfleet status [--url URL] [--json]\n"
	"  reads the controller's GET /status (default " DEFAULT_URL ") and prints the rollout,\n"
	"  one row per node (status, since when, first reason) and the load balancer's weights;\n"
	"  --json prints the document itself\n";

/* The controller is fleet-internal: no proxy (httpc's default). */
static int fetch(const char *url, struct httpc_reply *r, struct cf_err *err)
{
	const struct httpc_request req = {
		.url = url,
		.connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.timeout_ms = TIMEOUT_MS,
		.max_reply = REPLY_MAX,
		.user_agent = "clawfleet-status",
	};
	if (httpc_do(NULL, &req, r, err) < 0)
		return -1;
	if (r->status != 200)
		return cf_err_set(err, "GET %s: HTTP %ld", url, r->status);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	const char *base = DEFAULT_URL;
	bool as_json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
			base = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			as_json = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(status_usage, stdout);
			return 0;
		} else {
			fputs(status_usage, stderr);
			return 2;
		}
	}
	char url[URL_MAX];
	size_t blen = strlen(base);
	while (blen && base[blen - 1] == '/')
		blen--;
	if (blen + sizeof("/status") > sizeof(url)) {
		fprintf(stderr, "clawfleet status: --url is longer than %d bytes\n", URL_MAX);
		return 2;
	}
	snprintf(url, sizeof(url), "%.*s/status", (int)blen, base);

	struct httpc_reply r = {0};
	struct cf_err err;
	struct json_object *doc = NULL;
	int status = 1;
	if (httpc_global_init(&err) < 0) {
		fprintf(stderr, "clawfleet status: %s\n", err.msg);
		goto done;
	}
	if (fetch(url, &r, &err) < 0) {
		fprintf(stderr, "clawfleet status: %s\n", err.msg);
		goto done;
	}
	if (jsonparse_object(buf_str(&r.body), r.body.len, JSONPARSE_DEPTH, &doc, NULL) < 0) {
		fprintf(stderr, "clawfleet status: GET %s: the answer is not a JSON object\n", url);
		goto done;
	}
	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
									   JSON_C_TO_STRING_SPACED |
									   JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		status_table_print(stdout, doc, clock_epoch_ms());
	status = 0;
done:
	json_object_put(doc);
	httpc_reply_free(&r);
	httpc_global_cleanup();
	return status;
}
