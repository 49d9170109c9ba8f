/* clawfleet token rotate-fleet: rotates the token the controller sends to every agent, over the
 * agents' authenticated token endpoints (README, "Rotating the agents' token"). The command is
 * the state machine and keeps no state of its own beyond two files: the new token waits in
 * AGENT_TOKEN.next (mode 0600) until every agent has staged it, then is renamed over the
 * controller's agentToken file (the switch: the controller reads it before each batch). A run
 * asks every agent what its token directory holds and continues from there, so a run cut short
 * at any point is finished by running it again:
 *   stage    every agent stages the new token as token.next and accepts it (checked by calling
 *            it with the new token);
 *   switch   the controller's agentToken file becomes the new token;
 *   promote  after two green passes since the switch, every agent promotes it;
 *   revoke   once the overlap has passed since the last promote and two green passes since,
 *            every agent deletes token.prev.
 * Every step on every agent appends one audit line (tokens_rotate_audit), and after every step
 * the run's progress goes to AGENT_TOKEN.rotation.json (contracts/token_rotation.h), which the
 * controller shows in /status; a token is never printed, logged or sent anywhere but in a request
 * body to an agent. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "act/target_client.h"
#include "base/clock.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "base/timeparse.h"
#include "cmd/commands.h"
#include "cmd/token_fleet_internal.h"
#include "contracts/token_rotation.h"
#include "contracts/token_view.h"
#include "contracts/tokens.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "reconcilers/tokens_rotate.h"
#include "source/source.h"

#define EXIT_RUN_AGAIN 3
#define AGENT_CONNECT_MS 2000L
#define AGENT_TIMEOUT_MS 10000L
#define AGENT_REPLY_MAX (64u << 10)
#define WAIT_DEFAULT_MS (5 * 60 * INT64_C(1000))
#define POLL_MS 1000
#define NEW_TOKEN_BYTES 32
#define URL_MAX 2048

static const char fleet_usage[] =
	"usage: clawfleet token rotate-fleet --repo SOURCE [--ref REF] --controller URL\n"
	"         --agent-token FILE --actor A --ticket T [--audit FILE] [--overlap D] [--wait D]\n"
	"  rotates the agents' token: stages a new one on every agent, switches the controller's\n"
	"  agentToken FILE to it, promotes it after two green passes, and revokes the old one\n"
	"  after the overlap (default 12h, at least 1m) and two more green passes; run it again\n"
	"  to continue a rotation that waits or was cut short\n"
	"  --repo      the desired state (as clawfleet plan reads it): the MacNodes to rotate\n"
	"  --controller  the controller's base URL, whose /status passes are waited for\n"
	"  --wait      how long to wait for two green passes (default 5m)\n"
	"  --audit     the JSON-lines audit file (default rotation.jsonl beside FILE)\n"
	"exit status: 0 rotated, 1 a node or step failed (run again once fixed), 2 usage,\n"
	"  3 waiting (the overlap or green passes): run again later\n";

static int usage_error(const char *fmt, const char *arg)
{
	fputs("clawfleet token rotate-fleet: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	fputs(fleet_usage, stderr);
	return 2;
}

static void sha8_of(const char *token, char out[9])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, strlen(token), d);
	for (int i = 0; i < 4; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void audit(struct run *r, const char *where, const char *node, const char *action,
		  const char *outcome, const char *reason, const char *sha)
{
	struct cf_err err;
	if (tokens_rotate_audit(&r->o, where, node, action, outcome, reason, sha, &err) < 0)
		fprintf(stderr, "clawfleet token rotate-fleet: audit: %s\n", err.msg);
}

/* The MacNodes of the desired state, with their agents' addresses. */
static int load_fleet(const char *location, const char *ref, struct desired_state **ds,
		      struct cf_err *err)
{
	struct source_spec spec = {.location = location, .ref = ref, .force_git = ref != NULL};
	struct schema_set *schemas = NULL;
	struct source *src = NULL;
	struct treefiles files = {0};
	struct diag_list diags = {0};
	char commit[41], revision[GITSOURCE_REVISION_MAX];
	int rc = -1;

	if (schema_set_load_embedded(&schemas, err) < 0 || source_open(&src, &spec, err) < 0 ||
	    source_resolve(src, commit, revision, err) < 0 ||
	    source_read(src, commit, &files, err) < 0)
		goto done;
	struct desired_hooks hooks = {.tag_exists = source_tag_exists, .ctx = src};
	if (desired_load(&files, schemas, &hooks, ds, &diags) < 0) {
		diag_list_sort(&diags);
		diag_list_print(&diags, stderr);
		cf_err_set(err, "the desired state in %s has %zu errors", location,
			   diags.n + diags.dropped);
		goto done;
	}
	rc = 0;
done:
	diag_list_free(&diags);
	treefiles_free(&files);
	source_free(src);
	schema_set_free(schemas);
	return rc;
}

/* The agent's {"error": reason}, kept to printable ASCII, for a message. */
static void reason_of(const struct httpc_reply *reply, char *out, size_t size)
{
	struct json_object *o = NULL;
	const char *s = "no reason given";
	if (reply->body.len && jsonparse_object(buf_str(&reply->body), reply->body.len,
						JSONPARSE_DEPTH, &o, NULL) == 0)
		jsonparse_get_string(o, "reply", "error", JSONPARSE_OPTIONAL, &s, NULL);
	size_t n = 0;
	for (; s[n] && n + 1 < size; n++)
		out[n] = (unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f ? s[n] : '?';
	out[n] = '\0';
	json_object_put(o);
}

/* One call to an agent's token endpoints with token; on 200 the view is refreshed. */
static int agent_call(struct run *r, struct fleet_node *node, const char *method,
		      const char *path, const char *token, const char *body, struct cf_err *err)
{
	char url[URL_MAX], auth[TOKENS_FILE_MAX + 32], reason[200];
	struct httpc_reply reply = {0};
	struct json_object *doc = NULL, *state;
	int rc = -1;
	size_t alen = strlen(node->address);
	while (alen && node->address[alen - 1] == '/')
		alen--;
	if (snprintf(url, sizeof(url), "%.*s%s", (int)alen, node->address, path) >=
	    (int)sizeof(url))
		return cf_err_set(err, "node %s: the address is too long", node->name);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	const char *headers[] = {auth, "Content-Type: application/json", "Expect:", NULL};
	const struct httpc_request req = {
		.method = method,
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.connect_timeout_ms = AGENT_CONNECT_MS,
		.timeout_ms = AGENT_TIMEOUT_MS,
		.max_reply = AGENT_REPLY_MAX,
		.user_agent = "clawfleet",
	};
	if (httpc_do(r->http, &req, &reply, err) < 0) {
		cf_err_prefix(err, "node %s", node->name);
		goto done;
	}
	if (reply.status != 200) {
		reason_of(&reply, reason, sizeof(reason));
		if (reply.status == 401)
			cf_err_set(err, "node %s: the agent refuses the token (401)", node->name);
		else
			cf_err_set(err, "node %s: %s %s answered %ld: %s", node->name, method, path,
				   reply.status, reason);
		goto done;
	}
	if (jsonparse_object(buf_str(&reply.body), reply.body.len, JSONPARSE_DEPTH, &doc, err) <
	    0) {
		cf_err_prefix(err, "node %s: %s", node->name, path);
		goto done;
	}
	if (!json_object_object_get_ex(doc, "state", &state))
		state = doc;
	if (token_view_read(state, &node->v, err) < 0) {
		cf_err_prefix(err, "node %s: %s", node->name, path);
		goto done;
	}
	node->answered = true;
	rc = 0;
done:
	OPENSSL_cleanse(auth, sizeof(auth));
	json_object_put(doc);
	httpc_reply_free(&reply);
	return rc;
}

/* A step's JSON body; the token, when given, lives only in it. */
static char *step_body(const struct run *r, const char *token)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "actor", json_object_new_string(r->o.actor));
	json_object_object_add(o, "ticket", json_object_new_string(r->o.ticket));
	if (token)
		json_object_object_add(o, "token", json_object_new_string(token));
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char *copy = s ? strdup(s) : NULL;
	if (s)
		OPENSSL_cleanse((char *)s, strlen(s));
	json_object_put(o);
	return copy;
}

/* Says why node's step failed, for the progress document, without the "node NAME: " the
 * messages start with (the document names the node). */
static void node_failed(struct fleet_node *node, const char *why)
{
	size_t n = strlen(node->name);
	if (strncmp(why, "node ", 5) == 0 && strncmp(why + 5, node->name, n) == 0 &&
	    strncmp(why + 5 + n, ": ", 2) == 0)
		why += 7 + n;
	snprintf(node->error, sizeof(node->error), "%s", why);
}

/* Runs one step on one agent and audits it; prints the node's outcome. */
static int agent_step(struct run *r, struct fleet_node *node, const char *action,
		      const char *path, const char *new_token, const char *sha)
{
	struct cf_err err;
	char *body = step_body(r, new_token);
	int rc = body ? agent_call(r, node, strcmp(action, "stage") == 0 ? "PUT" : "POST", path,
				   r->token, body, &err)
		      : cf_err_set(&err, "out of memory");
	if (body) {
		OPENSSL_cleanse(body, strlen(body));
		free(body);
	}
	audit(r, node->address, node->name, action, rc == 0 ? "ok" : "refused",
	      rc == 0 ? "" : err.msg, sha);
	if (rc == 0) {
		node->error[0] = '\0';
		printf("node %s: %s (sha256 %s)\n", node->name,
		       strcmp(action, "stage") == 0     ? "staged"
		       : strcmp(action, "promote") == 0 ? "promoted"
							: "revoked",
		       sha);
	} else {
		printf("node %s: %s failed: %s\n", node->name, action, err.msg);
		node_failed(node, err.msg);
	}
	return rc;
}

/* ---- the steps ---- */

/* Waits, up to --wait, for the controller's last two passes to be green and at or after
 * since_ms. 0, or EXIT_RUN_AGAIN with the reason printed and in the progress (phase). */
static int wait_green(struct run *r, int64_t since_ms, const char *before,
		      enum token_rotation_phase phase)
{
	char url[URL_MAX], since[RFC3339_MS_MAX], waiting[CF_ERR_MSG + 200];
	struct cf_err why = {{0}};
	size_t blen = strlen(r->controller);
	while (blen && r->controller[blen - 1] == '/')
		blen--;
	snprintf(url, sizeof(url), "%.*s/status", (int)blen, r->controller);
	rfc3339_format_ms(since_ms, since, sizeof(since));
	snprintf(waiting, sizeof(waiting), "two green passes of the controller since %s, before %s",
		 since, before);
	token_fleet_progress(r, phase, waiting);
	int64_t deadline = clock_mono_ms() + r->wait_ms;
	for (;;) {
		struct httpc_reply reply = {0};
		const struct httpc_request req = {
			.url = url,
			.connect_timeout_ms = TOKENS_ROTATE_CONNECT_TIMEOUT_MS,
			.timeout_ms = TOKENS_ROTATE_TIMEOUT_MS,
			.max_reply = TOKENS_ROTATE_STATUS_MAX,
			.user_agent = "clawfleet",
		};
		int rc = httpc_do(r->http, &req, &reply, &why);
		if (rc == 0 && reply.status != 200)
			rc = cf_err_set(&why, "%s: HTTP status %ld", url, reply.status);
		if (rc == 0)
			rc = tokens_rotate_check_passes(buf_str(&reply.body), reply.body.len,
							since_ms, &why);
		httpc_reply_free(&reply);
		if (rc == 0)
			return 0;
		if (clock_mono_ms() + POLL_MS > deadline)
			break;
		struct timespec pause = {.tv_sec = POLL_MS / 1000};
		nanosleep(&pause, NULL);
	}
	printf("waiting for two green passes before %s: %s; run again to continue\n", before,
	       why.msg);
	snprintf(waiting + strlen(waiting), sizeof(waiting) - strlen(waiting),
		 " (%s); run again to continue", why.msg);
	token_fleet_progress(r, phase, waiting);
	return EXIT_RUN_AGAIN;
}

static int read_token_file(const char *path, char *out, size_t size, bool *present,
			   struct cf_err *err)
{
	*present = access(path, F_OK) == 0;
	if (!*present)
		return errno == ENOENT ? 0 : cf_err_errno(err, "%s", path);
	return target_client_token(path, out, size, err);
}

static int new_token(char *out, size_t size, struct cf_err *err)
{
	unsigned char raw[NEW_TOKEN_BYTES];
	if (size < 2 * sizeof(raw) + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return cf_err_set(err, "the system random generator failed; nothing staged");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* Stage on every agent, check each accepts the new token, then switch the controller. */
static int stage_and_switch(struct run *r, const char *next_token, const char *next_sha)
{
	struct cf_err err;
	size_t failed = 0;
	for (size_t i = 0; i < r->n; i++) {
		struct fleet_node *node = &r->nodes[i];
		if (strcmp(node->v.next, next_sha) != 0 &&
		    agent_step(r, node, "stage", "/v1/token/next", next_token, next_sha) < 0) {
			failed++;
			token_fleet_progress(r, TOKEN_ROTATION_STAGING, NULL);
			continue;
		}
		/* Acknowledged only when the agent takes the new token itself. */
		if (agent_call(r, node, "GET", "/v1/token", next_token, NULL, &err) < 0) {
			printf("node %s: does not accept the staged token: %s\n", node->name,
			       err.msg);
			cf_err_prefix(&err, "does not accept the staged token");
			failed++;
		} else if (strcmp(node->v.next, next_sha) != 0) {
			printf("node %s: its token.next is not the staged token\n", node->name);
			cf_err_set(&err, "its token.next is not the staged token");
			failed++;
		} else {
			printf("node %s: accepts the staged token (sha256 %s)\n", node->name,
			       next_sha);
			node->acknowledged = true;
			err.msg[0] = '\0';
		}
		node_failed(node, err.msg);
		token_fleet_progress(r, TOKEN_ROTATION_STAGING, NULL);
	}
	if (failed) {
		fprintf(stderr, "clawfleet token rotate-fleet: %zu of %zu agents did not stage the "
				"new token; the controller still sends the old one. Fix them and run "
				"again\n",
			failed, r->n);
		return 1;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", r->token_file);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	int switched = rename(r->next_file, r->token_file) == 0
			       ? fsutil_fsync_dir(slash ? dir : ".", &err)
			       : cf_err_errno(&err, "renaming %s over %s", r->next_file,
					      r->token_file);
	if (switched < 0) {
		audit(r, r->token_file, NULL, "switch", "refused", err.msg, next_sha);
		fprintf(stderr, "clawfleet token rotate-fleet: %s\n", err.msg);
		cf_err_prefix(&err, "the switch of the controller's agentToken file, which failed");
		token_fleet_progress(r, TOKEN_ROTATION_STAGING, err.msg);
		return 1;
	}
	audit(r, r->token_file, NULL, "switch", "ok", "", next_sha);
	printf("controller: %s now holds the new token (sha256 %s)\n", r->token_file, next_sha);
	snprintf(r->token, sizeof(r->token), "%s", next_token);
	memcpy(r->sha, next_sha, sizeof(r->sha));
	token_fleet_progress(r, TOKEN_ROTATION_SWITCHED, NULL);
	return 0;
}

static int promote_all(struct run *r)
{
	struct stat st;
	size_t todo = 0, failed = 0;
	for (size_t i = 0; i < r->n; i++)
		todo += strcmp(r->nodes[i].v.current, r->sha) != 0;
	if (!todo)
		return 0;
	if (stat(r->token_file, &st) < 0) {
		fprintf(stderr, "clawfleet token rotate-fleet: %s: %s\n", r->token_file,
			strerror(errno));
		return 1;
	}
	struct timespec switched = compat_stat_mtime(&st);
	int64_t switched_ms = (int64_t)switched.tv_sec * 1000 + switched.tv_nsec / 1000000;
	int rc = wait_green(r, switched_ms, "the promote", TOKEN_ROTATION_SWITCHED);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < r->n; i++) {
		struct fleet_node *node = &r->nodes[i];
		if (strcmp(node->v.current, r->sha) == 0)
			continue;
		if (strcmp(node->v.next, r->sha) != 0) {
			printf("node %s: holds the controller's token (sha256 %s) neither as "
			       "token.current nor as token.next; stage it there by hand "
			       "(clawfleet token stage --stdin)\n",
			       node->name, r->sha);
			node_failed(node, "holds the controller's token neither as token.current nor "
					  "as token.next; stage it there by hand (clawfleet token "
					  "stage --stdin)");
			failed++;
		} else {
			failed += agent_step(r, node, "promote", "/v1/token/promote", NULL, r->sha) <
				  0;
		}
		token_fleet_progress(r, TOKEN_ROTATION_SWITCHED, NULL);
	}
	return failed ? 1 : 0;
}

static int revoke_all(struct run *r)
{
	int64_t last_promote = 0;
	size_t todo = 0, failed = 0;
	for (size_t i = 0; i < r->n; i++) {
		struct fleet_node *node = &r->nodes[i];
		if (!node->v.prev[0])
			continue;
		todo++;
		if (node->v.promoted && node->v.promoted_ms > last_promote)
			last_promote = node->v.promoted_ms;
	}
	if (!todo)
		return 0;
	int64_t overlap = r->o.overlap_ms ? r->o.overlap_ms : TOKENS_ROTATE_OVERLAP_DEFAULT_MS;
	if (r->o.now_ms < last_promote + overlap) {
		char ends[RFC3339_MS_MAX], text[32], waiting[200];
		rfc3339_format_ms(last_promote + overlap, ends, sizeof(ends));
		duration_format(overlap, text, sizeof(text));
		printf("the old token stays accepted until the %s overlap ends at %s; run again "
		       "then to revoke it\n",
		       text, ends);
		snprintf(waiting, sizeof(waiting),
			 "the %s overlap to end at %s, then two green passes, before the revoke; "
			 "run again then",
			 text, ends);
		token_fleet_progress(r, TOKEN_ROTATION_PROMOTED, waiting);
		return EXIT_RUN_AGAIN;
	}
	int rc = wait_green(r, last_promote, "the revoke", TOKEN_ROTATION_PROMOTED);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < r->n; i++) {
		struct fleet_node *node = &r->nodes[i];
		if (!node->v.prev[0])
			continue;
		failed += agent_step(r, node, "revoke", "/v1/token/revoke", NULL, node->v.prev) < 0;
		token_fleet_progress(r, TOKEN_ROTATION_PROMOTED, NULL);
	}
	return failed ? 1 : 0;
}

static int rotate(struct run *r)
{
	char next_token[TOKENS_FILE_MAX + 1];
	bool present = false, staging;
	struct cf_err err;
	size_t failed = 0;
	int rc = 1;

	if (read_token_file(r->token_file, r->token, sizeof(r->token), &present, &err) < 0 ||
	    (!present && cf_err_set(&err, "agent token file %s does not exist", r->token_file)) ||
	    read_token_file(r->next_file, next_token, sizeof(next_token), &staging, &err) < 0) {
		fprintf(stderr, "clawfleet token rotate-fleet: %s\n", err.msg);
		goto done;
	}
	sha8_of(r->token, r->sha);
	sha8_of(staging ? next_token : r->token, r->new_sha);
	token_fleet_load_progress(r);
	for (size_t i = 0; i < r->n; i++)
		if (agent_call(r, &r->nodes[i], "GET", "/v1/token", r->token, NULL, &err) < 0) {
			printf("node %s: %s\n", r->nodes[i].name, err.msg);
			node_failed(&r->nodes[i], err.msg);
			failed++;
		}
	if (failed) {
		fprintf(stderr, "clawfleet token rotate-fleet: %zu of %zu agents did not answer "
				"with the controller's token; nothing was changed\n",
			failed, r->n);
		token_fleet_progress_unanswered(r, staging);
		goto done;
	}
	bool under_way = false;
	for (size_t i = 0; i < r->n; i++)
		under_way |= r->nodes[i].v.prev[0] || strcmp(r->nodes[i].v.current, r->sha) != 0;
	if (!staging && !under_way) {
		if (new_token(next_token, sizeof(next_token), &err) < 0 ||
		    fsutil_write_atomic(r->next_file, next_token, strlen(next_token), 0600, &err) <
			    0) {
			fprintf(stderr, "clawfleet token rotate-fleet: %s\n", err.msg);
			goto done;
		}
		staging = true;
		sha8_of(next_token, r->new_sha);
	}
	if (staging) {
		token_fleet_progress(r, TOKEN_ROTATION_STAGING, NULL);
		if ((rc = stage_and_switch(r, next_token, r->new_sha)) != 0)
			goto done;
	} else {
		/* The controller sends the new token, and every agent answered a call with it. */
		for (size_t i = 0; i < r->n; i++)
			r->nodes[i].acknowledged = true;
	}
	if ((rc = promote_all(r)) != 0 || (rc = revoke_all(r)) != 0)
		goto done;
	token_fleet_progress(r, TOKEN_ROTATION_ROTATED, NULL);
	printf("rotated: every agent accepts only sha256 %s, the token in %s\n", r->sha,
	       r->token_file);
	rc = 0;
done:
	OPENSSL_cleanse(next_token, sizeof(next_token));
	OPENSSL_cleanse(r->token, sizeof(r->token));
	return rc;
}

static bool takes_value(const char *arg)
{
	static const char *const valued[] = {
		"--repo", "--ref", "--controller", "--agent-token", "--actor", "--ticket",
		"--audit", "--overlap", "--wait", "--now",
	};
	for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
		if (strcmp(arg, valued[i]) == 0)
			return true;
	return false;
}

int cmd_token_fleet(int argc, char **argv)
{
	struct run r = {.wait_ms = WAIT_DEFAULT_MS};
	const char *repo = NULL, *ref = NULL;
	char audit_default[PATH_MAX];
	struct desired_state *ds = NULL;
	struct cf_err err;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(fleet_usage, stdout);
			return 0;
		} else if (!takes_value(arg)) {
			return usage_error("unexpected argument \"%s\"", arg);
		} else if (!value) {
			return usage_error("%s needs a value", arg);
		}
		i++;
		if (strcmp(arg, "--repo") == 0) {
			repo = value;
		} else if (strcmp(arg, "--ref") == 0) {
			ref = value;
		} else if (strcmp(arg, "--controller") == 0) {
			r.controller = value;
		} else if (strcmp(arg, "--agent-token") == 0) {
			r.token_file = value;
		} else if (strcmp(arg, "--actor") == 0) {
			r.o.actor = value;
		} else if (strcmp(arg, "--ticket") == 0) {
			r.o.ticket = value;
		} else if (strcmp(arg, "--audit") == 0) {
			r.o.audit = value;
		} else if (strcmp(arg, "--overlap") == 0) {
			if (duration_parse(value, &r.o.overlap_ms, &err) < 0)
				return usage_error("--overlap: %s", err.msg);
			if (r.o.overlap_ms < TOKENS_ROTATE_OVERLAP_MIN_MS)
				return usage_error("--overlap %s is below the 1m minimum", value);
		} else if (strcmp(arg, "--wait") == 0) {
			if (duration_parse(value, &r.wait_ms, &err) < 0)
				return usage_error("--wait: %s", err.msg);
		} else {
			/* A test hook, as for the other token commands. */
			time_t t;
			if (rfc3339_parse(value, &t, &err) < 0)
				return usage_error("--now: %s", err.msg);
			r.o.now_ms = (int64_t)t * 1000;
			r.clock_given = true;
		}
	}
	if (!repo || !r.controller || !r.token_file || !r.o.actor || !r.o.ticket)
		return usage_error("%s", "--repo, --controller, --agent-token, --actor and --ticket "
					 "are required");
	if (!r.clock_given)
		r.o.now_ms = clock_epoch_ms();
	if (snprintf(r.next_file, sizeof(r.next_file), "%s.next", r.token_file) >=
		    (int)sizeof(r.next_file) ||
	    token_rotation_path(r.token_file, r.progress_file, NULL) < 0)
		return usage_error("%s", "--agent-token path too long");
	if (!r.o.audit) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", r.token_file);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (snprintf(audit_default, sizeof(audit_default), "%s/rotation.jsonl",
			     slash ? (dir[0] ? dir : "/") : ".") >= (int)sizeof(audit_default))
			return usage_error("%s", "--agent-token path too long");
		r.o.audit = audit_default;
	}
	/* Refuses an actor or ticket the audit file cannot take, before anything is asked. */
	if (tokens_rotate_audit(&r.o, r.token_file, NULL, "start", "ok", "", "", &err) < 0) {
		fprintf(stderr, "clawfleet token rotate-fleet: %s\n", err.msg);
		return 1;
	}
	if (load_fleet(repo, ref, &ds, &err) < 0 || httpc_global_init(&err) < 0) {
		fprintf(stderr, "clawfleet token rotate-fleet: %s\n", err.msg);
		goto done;
	}
	if (httpc_new(&r.http, &err) < 0) {
		fprintf(stderr, "clawfleet token rotate-fleet: %s\n", err.msg);
		goto cleanup;
	}
	r.n = ds->nnodes;
	r.nodes = calloc(r.n ? r.n : 1, sizeof(*r.nodes));
	if (!r.nodes) {
		fprintf(stderr, "clawfleet token rotate-fleet: out of memory\n");
		goto cleanup;
	}
	for (size_t i = 0; i < r.n; i++) {
		r.nodes[i].name = ds->nodes[i].name;
		r.nodes[i].address = ds->nodes[i].address;
	}
	rc = rotate(&r);
cleanup:
	arena_free(&r.arena);
	free(r.nodes);
	httpc_free(r.http);
	httpc_global_cleanup();
done:
	desired_free(ds);
	gitsource_global_shutdown();
	return rc;
}
