/* The agent's token endpoints, by which `clawfleet token rotate-fleet` rotates the agents'
 * token over the authenticated channel: GET /v1/token reports what the token directory holds
 * (sha256 prefixes only), PUT /v1/token/next stages the token in its body, POST
 * /v1/token/promote and /v1/token/revoke take the next steps. Each step is tokens_rotate's, on
 * the agent's tokens.dir, audited there with the actor and ticket the body names; a token
 * never appears in an answer or a log line. */
#include "daemon/agent_internal.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/clock.h"
#include "base/jsonparse.h"
#include "base/log.h"
#include "contracts/token_view.h"
#include "reconcilers/tokens_rotate.h"

enum step { STEP_STAGE, STEP_PROMOTE, STEP_REVOKE };

static const char *const step_names[] = {"stage", "promote", "revoke"};

/* The directory's state as GET /v1/token and every step's answer report it
 * (contracts/token_view.h). */
static struct json_object *view_json(const struct tokens_rotate_view *v)
{
	struct token_view view = {.promoted = v->promoted, .promoted_ms = v->promoted_ms};
	memcpy(view.current, v->current, sizeof(view.current));
	memcpy(view.next, v->next, sizeof(view.next));
	memcpy(view.prev, v->prev, sizeof(view.prev));
	memcpy(view.promoted_sha, v->promoted_sha, sizeof(view.promoted_sha));
	return token_view_json(&view);
}

/* 0 when the request may go on; otherwise the answer is filled (1) or could not be (-1). */
static int guard(struct agent *a, const struct httpd_request *req, struct httpd_response *resp)
{
	if (!tokens_check_bearer(a->tokens, httpd_request_header(req, "Authorization"))) {
		resp->status = 401;
		return httpd_response_set_body(resp, TOKENS_UNAUTHORIZED_BODY,
					       strlen(TOKENS_UNAUTHORIZED_BODY)) < 0 ? -1 : 1;
	}
	if (!a->token_dir)
		return httpd_json_error(resp, 409, "this agent reads token files (tokens.current, "
						   "tokens.next), not a tokens.dir: rotate them on "
						   "the Mac, or configure tokens.dir") < 0 ? -1 : 1;
	return 0;
}

int agent_h_get_token(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct agent *a = ctx;
	struct tokens_rotate_opts o = {.dir = a->token_dir};
	struct tokens_rotate_view v;
	struct cf_err err;
	int g = guard(a, req, resp);
	if (g != 0)
		return g < 0 ? -1 : 0;
	if (tokens_rotate_inspect(&o, &v, &err) < 0)
		return httpd_json_error(resp, 500, err.msg);
	return httpd_json_reply(resp, 200, view_json(&v));
}

static int run_step(struct agent *a, enum step step, const struct httpd_request *req,
		    struct httpd_response *resp)
{
	struct tokens_rotate_opts o = {.dir = a->token_dir, .now_ms = clock_epoch_ms()};
	struct tokens_rotate_view v;
	struct json_object *body = NULL;
	struct cf_err err, done_msg = {{0}};
	const char *token = NULL;
	int rc = -1;

	int g = guard(a, req, resp);
	if (g != 0)
		return g < 0 ? -1 : 0;
	if (jsonparse_object(req->body, req->body_len, JSONPARSE_DEPTH, &body, &err) < 0 ||
	    jsonparse_get_string(body, "body", "actor", JSONPARSE_REQUIRED, &o.actor, &err) < 0 ||
	    jsonparse_get_string(body, "body", "ticket", JSONPARSE_REQUIRED, &o.ticket, &err) < 0 ||
	    (step == STEP_STAGE &&
	     jsonparse_get_string(body, "body", "token", JSONPARSE_REQUIRED, &token, &err) < 0)) {
		rc = httpd_json_error(resp, 400, err.msg);
		goto done;
	}
	int step_rc;
	switch (step) {
	case STEP_STAGE:
		o.token = token;
		o.token_len = strlen(token);
		/* The caller holds an accepted token: a token it staged before is replaced. */
		o.force = true;
		step_rc = tokens_rotate_stage(&o, &done_msg, &err);
		break;
	case STEP_PROMOTE:
		step_rc = tokens_rotate_promote(&o, &done_msg, &err);
		break;
	default:
		/* rotate-fleet counts the overlap from every agent's promote before it asks. */
		o.overlap_counted = true;
		step_rc = tokens_rotate_revoke(&o, &done_msg, &err);
		break;
	}
	tokens_recheck(a->tokens);
	if (step_rc != 0) {
		log_warn("token %s for %s (%s) %s: %s", step_names[step], o.actor, o.ticket,
			 step_rc == TOKENS_ROTATE_REFUSED ? "refused" : "failed", err.msg);
		rc = httpd_json_error(resp, step_rc == TOKENS_ROTATE_REFUSED ? 409 : 500, err.msg);
		goto done;
	}
	log_info("token %s for %s (%s): %s", step_names[step], o.actor, o.ticket, done_msg.msg);
	if (tokens_rotate_inspect(&o, &v, &err) < 0) {
		rc = httpd_json_error(resp, 500, err.msg);
		goto done;
	}
	struct json_object *reply = json_object_new_object();
	json_object_object_add(reply, "done", json_object_new_string(done_msg.msg));
	json_object_object_add(reply, "state", view_json(&v));
	rc = httpd_json_reply(resp, 200, reply);
done:
	/* The body held the token; the parsed copy goes with it. */
	if (token)
		OPENSSL_cleanse((char *)token, strlen(token));
	json_object_put(body);
	return rc;
}

int agent_h_stage_token(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	return run_step(ctx, STEP_STAGE, req, resp);
}

int agent_h_promote_token(void *ctx, const struct httpd_request *req,
			  struct httpd_response *resp)
{
	return run_step(ctx, STEP_PROMOTE, req, resp);
}

int agent_h_revoke_token(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	return run_step(ctx, STEP_REVOKE, req, resp);
}
