#include "daemon/agent_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/failpoint.h"
#include "base/jsonparse.h"
#include "base/log.h"
#include "observe/node_probe.h"

static int unauthorized(struct httpd_response *resp)
{
	resp->status = 401;
	return httpd_response_set_body(resp, TOKENS_UNAUTHORIZED_BODY,
				       strlen(TOKENS_UNAUTHORIZED_BODY));
}

static bool authorized(struct agent *a, const struct httpd_request *req)
{
	return tokens_check_bearer(a->tokens, httpd_request_header(req, "Authorization"));
}

/* The routes that take a token refuse a request by its headers, before its body is read; the
 * handlers check again, so that they hold when called on their own. */
static enum httpd_auth bearer_auth(void *ctx, const struct httpd_request *req)
{
	return authorized(ctx, req) ? HTTPD_AUTH_PASSED : HTTPD_AUTH_REFUSED;
}

/* Copies the cached bytes; renders them again only when they have aged a refresh period, so a
 * probe thread stuck on a slow source still shows up as probe.stale. */
static int h_readyz(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct agent *a = ctx;
	(void)req;
	pthread_mutex_lock(&a->cache_mu);
	if (a->obs && clock_mono_ms() - a->rendered_mono_ms >= a->cfg.refresh_ms)
		agent_render_cache(a);
	bool cached = a->doc != NULL;
	int rc = cached ? httpd_response_set_body(resp, a->doc, a->doc_len) : 0;
	resp->status = cached ? (unsigned int)a->doc_status : 503;
	pthread_mutex_unlock(&a->cache_mu);
	if (!cached) {
		size_t len = 0;
		char *doc = NULL;
		if (probe_render_pending(a->cfg.node, &doc, &len, NULL) < 0)
			return -1;
		httpd_response_take_body(resp, doc, len);
	}
	return rc;
}

static struct json_object *generation_reply(const struct agent *a, int64_t generation)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "generation", json_object_new_int64(generation));
	json_object_object_add(o, "observedGeneration",
			       json_object_new_int64(a->applied_generation));
	return o;
}

/* Same generation: the same body is the controller repeating itself, another is a conflict.
 * mu is held. 0 when t may replace the current target, else the response is filled. */
static int check_generation(struct agent *a, const struct target *t, struct httpd_response *resp,
			    bool *repeat)
{
	char *mine = NULL, *theirs = NULL, msg[256];
	size_t mine_len = 0, theirs_len = 0;
	struct cf_err err;
	int rc = -1;

	*repeat = false;
	if (!a->have_target || t->generation > a->target.generation)
		return 0;
	if (t->generation < a->target.generation) {
		snprintf(msg, sizeof(msg),
			 "generation %lld is older than the current target's, %lld",
			 (long long)t->generation, (long long)a->target.generation);
		return httpd_json_error(resp, 409, msg) < 0 ? -1 : 1;
	}
	if (target_render(&a->target, &mine, &mine_len, &err) < 0 ||
	    target_render(t, &theirs, &theirs_len, &err) < 0)
		goto done;
	if (mine_len == theirs_len && memcmp(mine, theirs, mine_len) == 0) {
		*repeat = true;
		rc = httpd_json_reply(resp, 200, generation_reply(a, t->generation)) < 0 ? -1 : 1;
	} else {
		snprintf(msg, sizeof(msg),
			 "generation %lld already names a different target; send a higher "
			 "generation",
			 (long long)t->generation);
		rc = httpd_json_error(resp, 409, msg) < 0 ? -1 : 1;
	}
done:
	free(mine);
	free(theirs);
	return rc;
}

static int h_put_target(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct agent *a = ctx;
	struct cf_err err;
	bool repeat = false;
	int rc = -1;

	if (!authorized(a, req))
		return unauthorized(resp);
	struct target *t = malloc(sizeof(*t));
	if (!t)
		return -1;
	if (target_parse(req->body, req->body_len, t, &err) < 0) {
		rc = httpd_json_error(resp, 400, err.msg);
		free(t);
		return rc;
	}
	pthread_mutex_lock(&a->mu);
	rc = check_generation(a, t, resp, &repeat);
	if (rc != 0) {
		if (repeat) {
			a->target_changed = true;
			pthread_cond_signal(&a->reconcile_wake);
		}
		rc = rc < 0 ? -1 : 0;
		goto done;
	}
	failpoint_hit("agent.target.accept.before");
	if (target_save(a->target_path, t, &err) < 0) {
		log_error("persisting target generation %lld: %s", (long long)t->generation,
			  err.msg);
		rc = httpd_json_error(resp, 500, "the target could not be persisted; see the "
						 "agent's log");
		goto done;
	}
	failpoint_hit("agent.target.accept.after");
	a->target = *t;
	a->have_target = true;
	a->target_changed = true;
	pthread_cond_signal(&a->reconcile_wake);
	log_info("target generation %lld accepted: %s@%.7s, skills %s -> %s",
		 (long long)t->generation, t->tag, t->commit, target_link_name(t->skills_link),
		 t->skills_semver);
	rc = httpd_json_reply(resp, 202, generation_reply(a, t->generation));
done:
	pthread_mutex_unlock(&a->mu);
	free(t);
	return rc;
}

/* The target as it was persisted; mu is held. */
static struct json_object *target_json(const struct agent *a)
{
	char *text = NULL;
	size_t len = 0;
	struct cf_err err;
	struct json_object *o = NULL;
	if (!a->have_target || target_render(&a->target, &text, &len, &err) < 0)
		return NULL;
	jsonparse_object(text, len, JSONPARSE_DEPTH, &o, &err);
	free(text);
	return o;
}

static int h_get_target(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct agent *a = ctx;
	if (!authorized(a, req))
		return unauthorized(resp);
	struct json_object *o = json_object_new_object(), *last = NULL;
	pthread_mutex_lock(&a->mu);
	json_object_object_add(o, "target", target_json(a));
	json_object_object_add(o, "observedGeneration",
			       json_object_new_int64(a->applied_generation));
	if (a->last.present) {
		last = json_object_new_object();
		json_object_object_add(last, "generation",
				       json_object_new_int64(a->last.generation));
		json_object_object_add(last, "actions", agent_actions_json(&a->last.actions));
		struct json_object *error =
			a->last.error ? json_object_new_string(a->last.error) : NULL;
		json_object_object_add(last, "error", error);
		json_object_object_add(last, "at", json_object_new_string(a->last.at));
	}
	pthread_mutex_unlock(&a->mu);
	json_object_object_add(o, "lastApply", last);
	return httpd_json_reply(resp, 200, o);
}

int agent_http_start(struct agent *a, struct httpd **out, struct cf_err *err)
{
	const struct httpd_route routes[] = {
		{"GET", "/readyz", h_readyz, a, 0, NULL},
		{"GET", "/healthz", httpd_healthz, NULL, 0, NULL},
		{"PUT", "/v1/target", h_put_target, a, TARGET_MAX_BODY, bearer_auth},
		{"GET", "/v1/target", h_get_target, a, 0, bearer_auth},
		{"GET", "/v1/token", agent_h_get_token, a, 0, bearer_auth},
		{"PUT", "/v1/token/next", agent_h_stage_token, a, AGENT_TOKEN_MAX_BODY, bearer_auth},
		{"POST", "/v1/token/promote", agent_h_promote_token, a, AGENT_TOKEN_MAX_BODY,
		 bearer_auth},
		{"POST", "/v1/token/revoke", agent_h_revoke_token, a, AGENT_TOKEN_MAX_BODY,
		 bearer_auth},
	};
	/* One epoll thread answers tens of thousands of cached /readyz documents a second; a
	 * second would only add a stack and a malloc arena to every Mac's agent. */
	struct httpd_config hc = {
		.listen = a->cfg.listen,
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]),
		.threads = 1,
		.reserve_for = a->cfg.controller_addresses,
		/* The controller keeps one connection per agent between passes. */
		.timeout_sec = (unsigned int)(a->cfg.idle_timeout_ms / 1000),
	};
	return httpd_start(out, &hc, err);
}
