/* clawfleet status: the controller's GET /status as a table for people, or as it came (--json). */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "cmd/commands.h"

#define DEFAULT_URL "http://127.0.0.1:8088"
#define CONNECT_TIMEOUT_MS 2000
#define TIMEOUT_MS 5000
#define REPLY_MAX (8u << 20)
#define URL_MAX 2048

static const char status_usage[] =
	"usage: clawfleet status [--url URL] [--json]\n"
	"  reads the controller's GET /status (default " DEFAULT_URL ") and prints the rollout,\n"
	"  one row per node and the load balancer's weights; --json prints the document itself\n";

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

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A field as text; "-" when absent or null. */
static const char *text(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);
	return v ? json_object_get_string(v) : "-";
}

static void print_conditions(struct json_object *doc)
{
	struct json_object *conds = get(doc, "conditions");
	size_t n = json_object_is_type(conds, json_type_array) ? json_object_array_length(conds) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(conds, i);
		const char *type = text(c, "type"), *status = text(c, "status");
		/* Stalled=False and Degraded=False say nothing: only a stall and a gateway out
		 * of service are worth a line. */
		if ((strcmp(type, "Stalled") == 0 || strcmp(type, "Degraded") == 0) &&
		    strcmp(status, "True") != 0)
			continue;
		printf("%-11s %-5s  %s: %s\n", type, status, text(c, "reason"), text(c, "message"));
	}
}

static void print_nodes(struct json_object *doc)
{
	struct json_object *nodes = get(doc, "nodes");
	if (!json_object_is_type(nodes, json_type_object))
		return;
	printf("\n%-24s %-12s %-20s %-12s %5s  %s\n", "NODE", "STATUS", "TAG", "SKILLS", "GEN",
	       "REASON");
	json_object_object_foreach(nodes, name, n)
	{
		struct json_object *reasons = get(n, "reasons");
		const char *first = json_object_is_type(reasons, json_type_array) &&
						    json_object_array_length(reasons)
					    ? json_object_get_string(
						      json_object_array_get_idx(reasons, 0))
					    : "-";
		printf("%-24s %-12s %-20s %-12s %5s  %s\n", name, text(n, "status"), text(n, "tag"),
		       text(n, "skills"), text(n, "observedGeneration"), first);
	}
}

static void print_weights(struct json_object *doc)
{
	struct json_object *w = get(doc, "weights");
	if (!json_object_is_type(w, json_type_object)) {
		printf("\nweights: not read\n");
		return;
	}
	printf("\n%-24s %s\n", "SERVER", "WEIGHT");
	json_object_object_foreach(w, server, weight)
	{
		printf("%-24s %s\n", server, json_object_get_string(weight));
	}
}

static void print_table(struct json_object *doc)
{
	struct json_object *promo = get(doc, "promotion"), *q = get(doc, "quarantined");
	struct json_object *suspended = get(doc, "suspended");
	/* A suspension is said first: "Suspended (Analysing)", the phase it froze in between. */
	if (suspended && json_object_get_boolean(suspended))
		printf("%-11s Suspended (%s), step %s (%s %%)\n", "phase", text(doc, "phase"),
		       text(doc, "step"), text(doc, "percent"));
	else
		printf("%-11s %s, step %s (%s %%)\n", "phase", text(doc, "phase"),
		       text(doc, "step"), text(doc, "percent"));
	if (promo)
		printf("%-11s %s: %s, skills %s\n", "promotion", text(promo, "name"),
		       text(promo, "tag"), text(promo, "skillSemver"));
	else
		printf("%-11s none in the repository\n", "promotion");
	printf("%-11s %s\n", "revision", text(doc, "revision"));
	if (get(doc, "sourceError"))
		printf("%-11s %s\n", "source", text(doc, "sourceError"));
	print_conditions(doc);
	if (json_object_is_type(q, json_type_array) && json_object_array_length(q)) {
		printf("%-11s", "quarantined");
		for (size_t i = 0; i < json_object_array_length(q); i++)
			printf(" %s", json_object_get_string(json_object_array_get_idx(q, i)));
		printf("\n");
	}
	print_nodes(doc);
	print_weights(doc);
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
		print_table(doc);
	status = 0;
done:
	json_object_put(doc);
	httpc_reply_free(&r);
	httpc_global_cleanup();
	return status;
}
