/* agent_internal: private to daemon/agent_daemon.c, daemon/agent_http.c and
 * daemon/agent_tokens.c, the files of `clawfleet agent`. agent_daemon.c starts and stops the
 * agent and runs its probe and reconcile threads; agent_http.c answers its routes (GET /readyz
 * and /healthz, PUT and GET /v1/target) from what those threads leave in struct agent, under its
 * locks, and never waits on I/O; agent_tokens.c answers /v1/token and its steps. */
#ifndef CLAWFLEET_AGENT_INTERNAL_H
#define CLAWFLEET_AGENT_INTERNAL_H
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act/node_act.h"
#include "base/err.h"
#include "contracts/target.h"
#include "contracts/tokens.h"
#include "desired/agentcfg.h"
#include "desired/schema.h"
#include "observe/node_observe.h"
#include "observe/node_probe.h"
#include "serve/httpd.h"

#define JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The last reconcile pass, as GET /v1/target reports it. */
struct apply_record {
	bool present;
	int64_t generation;
	struct node_actions actions;
	char *error; /* NULL when the pass succeeded */
	char at[40];
};

struct agent {
	struct agent_config cfg;
	struct schema_set *schemas;
	struct tokens *tokens;
	char *token_dir; /* tokens.dir, resolved; NULL when the agent reads token files */
	struct node_observer *node_observer;
	char *state_dir;
	char target_path[PATH_MAX], applied_path[PATH_MAX];
	atomic_bool stopping;
	struct target pass_target; /* the reconcile thread's own copy while a pass runs */

	pthread_mutex_t mu; /* guards the fields below, down to the cache */
	pthread_cond_t reconcile_wake, probe_wake;
	bool have_target;
	struct target target;
	bool target_changed; /* a PUT since the reconcile thread last took the target */
	bool probe_kick;     /* observe again now: a pass changed the node */
	int64_t applied_generation;
	/* What /readyz reports as observedGeneration. It follows applied_generation once an
	 * observation begun after the apply is not red, or SETTLE_PERIODS refreshes later: a
	 * gateway still starting after its kickstart must not read as a failed build. */
	int64_t reported_generation;
	int64_t applied_mono_ms;
	struct apply_record last;

	pthread_mutex_t cache_mu; /* guards the cached probe document */
	struct observation *obs;
	char *doc;
	size_t doc_len;
	int doc_status;
	int64_t rendered_mono_ms;
	/* The last pass refused to go on (node_actions.reason): a red reason on /readyz until a
	 * pass gets past it. */
	bool refused;
	struct probe_reason refusal;
	int64_t refused_generation; /* the target the refusal answers */
};

/* agent_daemon.c */
/* Renders the cached observation as of now; cache_mu is held. */
void agent_render_cache(struct agent *a);
/* A pass's actions as a JSON array of strings. */
struct json_object *agent_actions_json(const struct node_actions *a);

/* agent_http.c */
/* Starts the HTTP server on a->cfg.listen with the agent's routes. */
int agent_http_start(struct agent *a, struct httpd **out, struct cf_err *err);

/* agent_tokens.c: GET /v1/token, PUT /v1/token/next, POST /v1/token/promote and
 * /v1/token/revoke. */
#define AGENT_TOKEN_MAX_BODY (16u << 10)
int agent_h_get_token(void *ctx, const struct httpd_request *req, struct httpd_response *resp);
int agent_h_stage_token(void *ctx, const struct httpd_request *req, struct httpd_response *resp);
int agent_h_promote_token(void *ctx, const struct httpd_request *req,
			  struct httpd_response *resp);
int agent_h_revoke_token(void *ctx, const struct httpd_request *req, struct httpd_response *resp);

#endif
