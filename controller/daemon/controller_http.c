/* What the fleet controller shows: after every pass the loop renders /status, /metrics and the
 * page (/), the plan (/v1/plan: what the next pass would do and the rest of the rollout if
 * everything stays green) and the snapshot the Flux receiver judges events against, and hands
 * them to the HTTP threads under a mutex; the threads serve them and never wait on the loop.
 * POST on the webhook path runs the Flux receiver, whose new events wake the loop at once. */
#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/embedded.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "contracts/token_rotation.h"
#include "daemon/controller_internal.h"
#include "plan/forecast.h"
#include "record/audit.h"
#include "record/status.h"
#include "record/status_parity.h"
#include "record/status_tokens.h"
#include "record/statuspage.h"
#include "serve/fluxhook.h"
#include "serve/httpd.h"

/* ---- the documents ---- */

static int canary_weight(const struct desired_state *ds, const struct weight_map *m)
{
	int sum = 0;
	for (size_t i = 0; ds && i < ds->nnodes; i++) {
		const struct mac_node *n = &ds->nodes[i];
		const struct weight_entry *e = n->canary && n->role == NODE_GATEWAY && n->lb_server
						       ? weight_map_find(m, n->lb_server)
						       : NULL;
		sum += e ? e->weight : 0;
	}
	return sum;
}

static void publish(struct controller *c, char *status_doc, size_t status_len,
		    struct status_doc *parts, char *metrics_doc, size_t metrics_len, char *page_doc,
		    size_t page_len, bool ready)
{
	pthread_mutex_lock(&c->mu);
	free(c->status_doc);
	free(c->metrics_doc);
	free(c->page_doc);
	status_doc_free(&c->status_nodes);
	c->status_doc = status_doc;
	c->status_len = status_len;
	c->status_nodes = *parts;
	*parts = (struct status_doc){0};
	c->metrics_doc = metrics_doc;
	c->metrics_len = metrics_len;
	c->page_doc = page_doc;
	c->page_len = page_len;
	c->ready = c->ready || ready;
	pthread_mutex_unlock(&c->mu);
}

/* /status once per pass: its parts (for the pages ?nodes= asks for), the document served
 * without a query (*sdoc) and the one with every node (*all, the page's source), which are the
 * same string while the fleet has at most STATUS_NODES_DEFAULT nodes. */
static int render_status(const struct status_view *v, struct status_doc *parts, char **sdoc,
			 size_t *slen, char **all, size_t *alllen, struct cf_err *err)
{
	struct status_nodes_query q, every = {false, 0, STATUS_NODES_ALL};
	if (status_doc_render(v, parts, err) < 0 ||
	    status_nodes_query_parse(NULL, NULL, parts->nnodes, &q, err) < 0 ||
	    status_doc_page(parts, &q, sdoc, slen, err) < 0)
		return -1;
	if (!q.paged) {
		*all = *sdoc;
		*alllen = *slen;
		return 0;
	}
	return status_doc_page(parts, &every, all, alllen, err);
}

static void copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static enum probe_status worse(enum probe_status a, enum probe_status b)
{
	return a > b ? a : b;
}

/* The agents' token rotation for /status, read per pass from beside the agentToken file: a
 * small file, and the command that writes it runs beside the controller, not through it. */
static void read_token_rotation(const struct controller *c, struct arena *a,
				struct token_rotation *out, struct cf_err *err, struct status_view *v)
{
	char path[PATH_MAX];
	bool found = false;
	if (token_rotation_path(c->cfg.agent_token, path, err) < 0 ||
	    token_rotation_load(path, a, out, &found, err) < 0)
		v->token_rotation_error = err->msg;
	else if (found)
		v->token_rotation = out;
}

/* What the Flux receiver judges an event against: the pass just finished. */
static void snapshot_for_receiver(const struct controller *c, const struct fleet_poll_result *r,
				  struct fluxhook_snapshot *snap)
{
	const struct desired_state *ds = c->cache.ds;
	const struct promotion *promo = ds && ds->npromotions ? &ds->promotions[0] : NULL;
	const struct rollout_state *st = &c->state;
	memset(snap, 0, sizeof(*snap));
	snap->observed = r != NULL;
	if (promo) {
		copy_text(snap->promotion, sizeof(snap->promotion), promo->name);
		copy_text(snap->tag, sizeof(snap->tag), promo->tag);
		copy_text(snap->image_ref, sizeof(snap->image_ref), promo->image_ref);
		copy_text(snap->skill_semver, sizeof(snap->skill_semver), promo->skill_semver);
		snap->suspended = promo->suspend;
	}
	if (ds && ds->lock.present)
		copy_text(snap->pinned_version, sizeof(snap->pinned_version), ds->lock.version);
	copy_text(snap->revision, sizeof(snap->revision), ds ? c->cache.revision : NULL);
	snap->phase = st->phase;
	copy_text(snap->phase_reason, sizeof(snap->phase_reason),
		  st->rollback_reason[0] ? st->rollback_reason : st->held_reason);
	snap->step = st->step;
	snap->percent = st->percent;
	snap->gateways = PROBE_GREEN;
	for (size_t i = 0; r && ds && i < r->nnodes && i < ds->nnodes; i++) {
		const struct mac_node *m = &ds->nodes[i];
		const struct node_observation *o = &r->obs[i];
		enum probe_status status = o->reachable ? o->status : PROBE_RED;
		if (m->role != NODE_GATEWAY)
			continue;
		snap->gateways = worse(snap->gateways, status);
		if (!m->canary || snap->ncanaries == FLUXHOOK_CANARIES_MAX)
			continue;
		struct fluxhook_canary *k = &snap->canaries[snap->ncanaries++];
		copy_text(k->node, sizeof(k->node), m->name);
		k->reachable = o->reachable;
		k->status = o->status;
		copy_text(k->reason, sizeof(k->reason), o->nreasons ? o->reasons[0] : NULL);
	}
}

void controller_record(struct controller *c, const struct fleet_poll_result *r,
		       const struct weight_map *weights, bool passed)
{
	const struct desired_state *ds = c->cache.ds;
	const struct promotion *promo = ds && ds->npromotions ? &ds->promotions[0] : NULL;
	size_t n = r ? r->nnodes : 0;
	struct status_node *nodes = calloc(n ? n : 1, sizeof(*nodes));
	char *sdoc = NULL, *mdoc = NULL, *pdoc = NULL, *audit_lines = NULL, *all = NULL;
	size_t slen = 0, mlen = 0, plen = 0, alen = 0, alllen = 0;
	struct status_doc parts = {0};
	struct cf_err err, rotation_err;
	struct status_source source;
	struct arena rotation_arena = {0};
	struct token_rotation rotation;
	bool green = n > 0;
	if (!nodes) {
		log_error("rendering the status: out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct node_observation *o = &r->obs[i];
		nodes[i] = (struct status_node){
			.name = o->name,
			.status = o->reachable ? probe_status_name(o->status) : "unreachable",
			.tag = o->reachable ? o->tag : NULL,
			.skills = o->reachable ? o->skills_current : NULL,
			.observed_generation = o->reachable ? o->observed_generation : 0,
			.reasons = o->reachable ? o->reasons : NULL,
			.nreasons = o->reachable ? o->nreasons : 0,
			.reason_code = !o->reachable ? "node.unreachable"
				       : o->nreasons ? o->reasons[0]
						     : NULL,
			.reason_message = o->reachable ? o->reason_message : r->nodes[i].error,
			.doctor_first_bad = o->reachable ? o->doctor_first_bad
							 : (struct readyz_finding){0},
		};
		green = green && o->reachable && o->status == PROBE_GREEN;
	}
	struct status_parity parity;
	bool parity_known = r && status_parity_check(r->obs, n, &parity) == 0;
	struct status_tokens tokens;
	controller_token_ages(c, r, &tokens);
	if (r)
		status_since_track(&c->since, nodes, n, clock_epoch_ms());
	if (passed) {
		if (c->npasses == STATUS_PASSES_MAX) {
			memmove(&c->passes[0], &c->passes[1], (c->npasses - 1) * sizeof(c->passes[0]));
			c->npasses--;
		}
		c->passes[c->npasses++] = (struct status_pass){clock_epoch_ms(), green};
	}
	struct status_view v = {
		.parity = parity_known ? &parity : NULL,
		.tokens = &tokens,
		.revision = ds ? c->cache.revision : NULL,
		.source_error = c->source_error,
		.source_error_since_ms = c->source_error_since_ms,
		.audit_broken = c->audit ? audit_broken(c->audit) : NULL,
		.audit_broken_since_ms = c->audit_broken_since_ms,
		.state_unwritable = c->state_unwritable[0] ? c->state_unwritable : NULL,
		.state_unwritable_reason = c->state_unwritable_reason,
		.state_unwritable_since_ms = c->state_unwritable_since_ms,
		.source = controller_source_status(c, &source) ? &source : NULL,
		.source_url = c->cfg.source_url,
		.promotion_name = promo ? promo->name : NULL,
		.promotion_tag = promo ? promo->tag : NULL,
		.promotion_semver = promo ? promo->skill_semver : NULL,
		.state = &c->state,
		.weights = weights,
		.servers = weights && c->lb_servers_ok ? &c->lb_servers : NULL,
		.canary_weight = weights ? canary_weight(ds, weights) : 0,
		.nodes = nodes,
		.nnodes = n,
		.passes = c->passes,
		.npasses = c->npasses,
		.metrics = &c->metrics,
		.version = clawfleet_version,
		.now_ms = clock_epoch_ms(),
		.max_hold_ms = promo ? promo->max_hold_ms : 0,
		.analysis = promo ? &promo->analysis : NULL,
	};
	struct controller_ha_view ha;
	struct status_leader leader;
	controller_ha_view(c, &ha);
	if (ha.shared) {
		leader = (struct status_leader){
			.self = ha.leading,
			.replica = ha.self,
			.id = ha.id,
			.address = ha.address,
			.term = ha.term,
			.lease_deadline_ms = ha.lease_deadline_ms,
			.last_failover_ms = ha.last_failover_ms,
			.failovers = ha.failovers,
			.error = ha.error[0] ? ha.error : NULL,
		};
		v.leader = &leader;
	}
	v.webhooks = webhook_runner_results(c->webhooks, &v.nwebhooks);
	v.webhook_counts = webhook_runner_counts(c->webhooks, &v.nwebhook_counts);
	read_token_rotation(c, &rotation_arena, &rotation, &rotation_err, &v);
	/* The page is rendered from the /status document itself, so the two never disagree; an
	 * unreadable audit log costs the page its audit lines, not the page. */
	if (statuspage_audit_tail(c->audit_path, &audit_lines, &alen, &err) < 0)
		log_error("the status page: %s", err.msg);
	if (render_status(&v, &parts, &sdoc, &slen, &all, &alllen, &err) < 0 ||
	    status_render_metrics(&v, &mdoc, &mlen, &err) < 0 ||
	    statuspage_render(all, alllen, audit_lines, &pdoc, &plen, &err) < 0) {
		log_error("%s", err.msg);
		free(sdoc);
		free(mdoc);
	} else {
		publish(c, sdoc, slen, &parts, mdoc, mlen, pdoc, plen, passed && ds);
	}
	if (all != sdoc)
		free(all);
	status_doc_free(&parts);
	free(audit_lines);
	arena_free(&rotation_arena);
	if (c->hook) {
		struct fluxhook_snapshot snap;
		snapshot_for_receiver(c, r, &snap);
		pthread_mutex_lock(&c->mu);
		c->hook_snap = snap;
		pthread_mutex_unlock(&c->mu);
	}
	free(nodes);
}

/* ---- the plan ---- */

static struct json_object *wall_json(int64_t ms)
{
	char out[RFC3339_MS_MAX];
	rfc3339_format_ms(ms, out, sizeof(out));
	return json_object_new_string(out);
}

static struct json_object *text_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

/* The actions as `clawfleet plan` prints them, one line each. */
static int actions_json(const struct plan_output *out, struct json_object *arr)
{
	for (size_t i = 0; i < out->nactions; i++) {
		char *line = rollout_action_describe(&out->actions[i]);
		if (!line || json_object_array_add(arr, json_object_new_string(line)) < 0) {
			free(line);
			return -1;
		}
		free(line);
	}
	return 0;
}

/* The steps of the forecast, their rollout-clock times as wall time from this pass's. */
static struct json_object *remaining_json(const struct forecast *f, int64_t now, int64_t wall)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; arr && i < f->n; i++) {
		const struct forecast_step *st = &f->v[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "phase", json_object_new_string(rollout_phase_name(st->phase)));
		json_object_object_add(o, "step", st->step ? json_object_new_int(st->step) : NULL);
		json_object_object_add(o, "percent",
				       st->step ? json_object_new_int(st->percent) : NULL);
		json_object_object_add(o, "earliestAt", wall_json(wall + (st->earliest_ms - now)));
		json_object_array_add(arr, o);
	}
	return arr;
}

static struct json_object *stalled_json(const struct rollout_state *s)
{
	const struct rollout_condition *c = &s->conditions[COND_STALLED];
	if (c->status != COND_TRUE)
		return NULL;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(c->reason));
	json_object_object_add(o, "message", json_object_new_string(c->message));
	return o;
}

void controller_forecast(struct controller *c, const struct desired_state *ds,
			 const struct fleet_observation *fo, int64_t now)
{
	struct plan_output *out = plan_output_new(); /* ~100 KB: off the stack */
	struct forecast f;
	struct cf_err err;
	struct json_object *o = NULL, *next = json_object_new_array();
	char *doc = NULL;
	size_t len = 0;
	if (!out)
		goto oom;
	if (plan(ds, fo, &c->state, now, out, &err) < 0) {
		log_error("the plan for /v1/plan: %s", err.msg);
		goto done;
	}
	plan_forecast(ds, &out->next, now, &f);
	o = json_object_new_object();
	if (!o || !next || actions_json(out, next) < 0)
		goto oom;
	json_object_object_add(o, "revision", text_or_null(c->cache.revision));
	json_object_object_add(o, "at", wall_json(fo->wall_ms));
	json_object_object_add(o, "phase", json_object_new_string(rollout_phase_name(c->state.phase)));
	json_object_object_add(o, "nextPhase",
			       json_object_new_string(rollout_phase_name(out->next.phase)));
	json_object_object_add(o, "suspended",
			       json_object_new_boolean(out->next.suspended_since_ms != 0));
	json_object_object_add(o, "next", next);
	next = NULL;
	json_object_object_add(o, "waitingFor",
			       text_or_null(out->next.conditions[COND_RECONCILING].message));
	json_object_object_add(o, "stalled", stalled_json(&out->next));
	json_object_object_add(o, "remaining", remaining_json(&f, now, fo->wall_ms));
	const char *text = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!text || !(doc = malloc(len + 1)))
		goto oom;
	memcpy(doc, text, len + 1);
	pthread_mutex_lock(&c->mu);
	free(c->plan_doc);
	c->plan_doc = doc;
	c->plan_len = len;
	pthread_mutex_unlock(&c->mu);
	goto done;
oom:
	log_error("the plan for /v1/plan: out of memory");
done:
	json_object_put(next);
	json_object_put(o);
	plan_output_delete(out);
}

/* ---- the routes ---- */

static int serve_doc(struct controller *c, struct httpd_response *resp, bool metrics)
{
	int rc;
	pthread_mutex_lock(&c->mu);
	if (!c->status_doc || !c->metrics_doc)
		rc = httpd_json_error(resp, 503, "the controller is starting");
	else if (metrics)
		rc = httpd_response_set_type(resp, "text/plain; version=0.0.4; charset=utf-8") < 0
			     ? -1
			     : httpd_response_set_body(resp, c->metrics_doc, c->metrics_len);
	else
		rc = httpd_response_set_body(resp, c->status_doc, c->status_len);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int h_page(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	int rc;
	(void)req;
	pthread_mutex_lock(&c->mu);
	if (!c->page_doc)
		rc = httpd_json_error(resp, 503, "the controller is starting");
	else
		rc = httpd_response_set_type(resp, "text/html; charset=utf-8") < 0
			     ? -1
			     : httpd_response_set_body(resp, c->page_doc, c->page_len);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* ?nodes= pages the node list (record/status.h): copied from the pass's parts, never rendered
 * here. */
static int h_status(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	const char *nodes = httpd_request_query(req, "nodes");
	const char *offset = httpd_request_query(req, "offset");
	struct status_nodes_query q;
	struct cf_err err;
	char *doc = NULL;
	size_t len = 0;
	int rc;
	if (!nodes && !offset)
		return serve_doc(ctx, resp, false);
	pthread_mutex_lock(&c->mu);
	if (!c->status_doc)
		rc = httpd_json_error(resp, 503, "the controller is starting");
	else if (status_nodes_query_parse(nodes, offset, c->status_nodes.nnodes, &q, &err) < 0)
		rc = httpd_json_error(resp, 400, err.msg);
	else if (status_doc_page(&c->status_nodes, &q, &doc, &len, &err) < 0)
		rc = httpd_json_error(resp, 500, err.msg);
	else
		rc = 0;
	pthread_mutex_unlock(&c->mu);
	if (doc)
		httpd_response_take_body(resp, doc, len);
	return rc;
}

static int h_metrics(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	(void)req;
	return serve_doc(ctx, resp, true);
}

static int h_plan(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	int rc;
	(void)req;
	pthread_mutex_lock(&c->mu);
	if (!c->plan_doc)
		rc = httpd_json_error(resp, 503, "the controller has not planned a pass yet");
	else
		rc = httpd_response_set_body(resp, c->plan_doc, c->plan_len);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int h_readyz(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	(void)req;
	static const char ready[] = "{\"ready\":true}";
	static const char waiting[] = "{\"ready\":false,\"reason\":\"no desired state has loaded "
				      "and been reconciled yet\"}";
	pthread_mutex_lock(&c->mu);
	bool is_ready = c->ready;
	pthread_mutex_unlock(&c->mu);
	resp->status = is_ready ? 200 : 503;
	return is_ready ? httpd_response_set_body(resp, ready, sizeof(ready) - 1)
			: httpd_response_set_body(resp, waiting, sizeof(waiting) - 1);
}

/* POST /hook/flux: judged against the last pass; a new event wakes the loop at once. */
static int h_flux(void *ctx, const struct httpd_request *req, struct httpd_response *resp)
{
	struct controller *c = ctx;
	struct fluxhook_snapshot snap;
	struct fluxhook_outcome out;
	pthread_mutex_lock(&c->mu);
	snap = c->hook_snap;
	pthread_mutex_unlock(&c->mu);
	if (fluxhook_handle(c->hook, req, &snap, resp, &out) < 0)
		return -1;
	log_info("flux event: %s", out.message);
	if (out.trigger) {
		controller_wake();
		controller_ha_pass_on(c);
	}
	if (!out.redelivery && (out.status != 202 || out.verdict == VERDICT_ROLLBACK)) {
		pthread_mutex_lock(&c->mu);
		if (c->nhook_events < HOOK_EVENTS_MAX)
			c->hook_events[c->nhook_events++] = out;
		pthread_mutex_unlock(&c->mu);
	}
	return 0;
}

/* Refused by its headers: the 401 is logged and reported as fluxhook_handle reports one. */
static enum httpd_auth a_flux(void *ctx, const struct httpd_request *req)
{
	struct controller *c = ctx;
	struct fluxhook_outcome out;
	enum httpd_auth verdict = fluxhook_check_head(c->hook, req, &out);
	if (verdict != HTTPD_AUTH_REFUSED)
		return verdict;
	log_info("flux event: %s", out.message);
	pthread_mutex_lock(&c->mu);
	if (c->nhook_events < HOOK_EVENTS_MAX)
		c->hook_events[c->nhook_events++] = out;
	pthread_mutex_unlock(&c->mu);
	return verdict;
}

int controller_start_httpd(struct controller *c, struct cf_err *err)
{
	const struct httpd_route routes[] = {
		{"GET", "/", h_page, c, 0, NULL},
		{"GET", "/status", h_status, c, 0, NULL},
		{"GET", "/metrics", h_metrics, c, 0, NULL},
		{"GET", "/healthz", httpd_healthz, NULL, 0, NULL},
		{"GET", "/readyz", h_readyz, c, 0, NULL},
		{"GET", "/v1/plan", h_plan, c, 0, NULL},
		{"POST", c->cfg.webhook_path, h_flux, c, FLUXHOOK_MAX_BODY, a_flux},
	};
	struct httpd_config hc = {
		.listen = c->cfg.listen,
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]) - (c->hook ? 0 : 1),
	};
	if (httpd_start(&c->httpd, &hc, err) < 0)
		return -1;
	log_info("serving the status page, /status and /metrics%s on %s (port %u)",
		 c->hook ? " and the Flux receiver" : "", c->cfg.listen, httpd_port(c->httpd));
	return 0;
}
