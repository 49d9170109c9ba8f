/* The fleet controller's world, as its act step (act/fleet_act.h) changes it: the agents through
 * target_client, the LoadBalancer through its weights driver (weights, drain states, tenant
 * routes), promotions.jsonl, the notifier and the rollout store; what the LoadBalancer reports
 * beyond its weights, for the pass to observe; and, on start, the one audit line a killed
 * controller may have written without saving that it did. */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act/fleet_act.h"
#include "act/target_client.h"
#include "base/canon.h"
#include "base/clock.h"
#include "base/failpoint.h"
#include "base/httpc.h"
#include "base/jsonparse.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "daemon/controller_internal.h"
#include "plan/rollout.h"
#include "reconcilers/weights/weights.h"
#include "record/audit.h"

#define NOTIFY_CONNECT_MS 2000
#define NOTIFY_TIMEOUT_MS 5000
#define NOTIFY_REPLY_MAX 65536
#define JSON_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ---- the rollout state ---- */

/* Why a save failed, as the StateUnwritable condition's reason. */
static const char *unwritable_reason(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return "NoSpace";
	case EROFS:
		return "ReadOnly";
	case EACCES:
	case EPERM:
		return "PermissionDenied";
	case ESTALE:
		return "NotLeader";
	case EHOSTUNREACH:
		return "StoreUnreachable";
	default:
		return "SaveFailed";
	}
}

static void save_failed(struct controller *c, int e, const struct cf_err *err)
{
	if (!c->state_unwritable[0]) {
		c->state_unwritable_since_ms = clock_epoch_ms();
		log_error("the rollout state cannot be saved: %s; no action is taken until a save "
			  "succeeds", err->msg);
	}
	snprintf(c->state_unwritable, sizeof(c->state_unwritable), "%s", err->msg);
	c->state_unwritable_reason = unwritable_reason(e);
}

/* The audit lines the anchor a adds to the one saved last, from the end of promotions.jsonl,
 * each without its newline, for a store that keeps the chain itself (rollout_store_commit):
 * *lines points into *text, both malloc'd. */
static int lines_since(struct controller *c, const struct audit_anchor *a, char **text,
		       const char ***lines, size_t *nlines, struct cf_err *err)
{
	size_t want = (size_t)(a->lines - c->anchor.lines), len = 0, n = 0;
	*text = NULL;
	*lines = NULL;
	*nlines = 0;
	if (!c->anchor_saved || a->lines <= c->anchor.lines || !rollout_store_shared(&c->store))
		return 0;
	if (audit_read_tail(c->audit_path, want, want * (AUDIT_LINE_MAX + 1) + 1, text, &len,
			    err) < 0)
		return -1;
	if (!(*lines = calloc(want, sizeof(**lines))))
		return cf_err_set(err, "out of memory");
	for (char *p = *text; n < want && *p; n++) {
		char *nl = strchr(p, '\n');
		(*lines)[n] = p;
		if (nl)
			*nl = '\0';
		p = nl ? nl + 1 : p + strlen(p);
	}
	if (n != want)
		return cf_err_set(err, "%s: %zu of the %zu audit lines since the last save are "
				       "readable",
				  c->audit_path, n, want);
	*nlines = n;
	return 0;
}

/* The sha256 of the state's JSON: what a save compares with the last one saved. */
int controller_state_digest(const struct rollout_state *s, char out[65], struct cf_err *err)
{
	char *json = NULL;
	size_t len = 0;
	if (rollout_state_to_json(s, &json, &len, err) < 0)
		return -1;
	canon_sha256_hex(json, len, out);
	free(json);
	return 0;
}

/* The anchor and the state in one commit (the file store: the anchor first, then the state:
 * after a crash between the two the log ends one line past the saved state's view, at the line
 * it still has pending, which the start settles; the etcd store: one transaction that carries
 * the lines too). While saves fail every save is tried for real, so the first that succeeds
 * clears StateUnwritable. */
static int save_state(struct controller *c, const struct rollout_state *s, struct cf_err *err)
{
	struct audit_anchor a;
	char digest[65], *text = NULL;
	const char **lines = NULL;
	size_t nlines = 0;
	int rc = -1;
	audit_anchor_of(c->audit, &a);
	bool anchor_moved = !c->anchor_saved || a.lines != c->anchor.lines ||
			    strcmp(a.head, c->anchor.head) != 0;
	if (controller_state_digest(s, digest, err) < 0)
		return -1;
	if (!c->state_unwritable[0] && !anchor_moved && strcmp(c->saved, digest) == 0)
		return 0;
	failpoint_hit("controller.state.save.before");
	if (anchor_moved && lines_since(c, &a, &text, &lines, &nlines, err) < 0) {
		save_failed(c, EIO, err);
		goto done;
	}
	if (rollout_store_commit(&c->store, s, anchor_moved ? &a : NULL, lines, nlines, err) < 0) {
		save_failed(c, errno, err);
		goto done;
	}
	failpoint_hit("controller.state.save.after");
	c->anchor = a;
	c->anchor_saved = true;
	if (c->state_unwritable[0])
		log_info("the rollout state is saved again; actions resume");
	c->state_unwritable[0] = '\0';
	c->state_unwritable_reason = NULL;
	c->state_unwritable_since_ms = 0;
	memcpy(c->saved, digest, sizeof(c->saved));
	rc = 0;
done:
	free(text);
	free(lines);
	return rc;
}

static bool json_str_is(struct json_object *o, const char *key, const char *want)
{
	const char *v = NULL;
	return jsonparse_get_string(o, "audit", key, JSONPARSE_REQUIRED, &v, NULL) == 0 &&
	       strcmp(v, want) == 0;
}

static bool json_int_is(struct json_object *o, const char *key, int64_t want)
{
	int64_t v = 0;
	return jsonparse_get_int(o, "audit", key, JSONPARSE_REQUIRED, INT64_MIN, INT64_MAX, &v,
				 NULL) == 0 &&
	       v == want;
}

/* A controller killed between appending an audit line and saving that it did leaves the line's
 * action pending: the first pending audit line, when it is the log's last line, was written. */
int controller_settle_written_audit(struct controller *c, bool *settled, struct cf_err *err)
{
	const struct rollout_audit *au = NULL;
	uint64_t id = 0;
	*settled = false;
	for (size_t i = 0; i < c->state.npending && !au; i++)
		if (c->state.pending[i].kind == ACTION_AUDIT) {
			au = c->state.pending[i].u.audit;
			id = c->state.pending[i].id;
		}
	if (!au)
		return 0;
	/* audit_open has cut a torn last line, so the last complete line is the log's last. */
	char *tail = NULL;
	size_t len = 0;
	if (audit_read_tail(c->audit_path, 1, AUDIT_LINE_MAX + 2, &tail, &len, err) < 0)
		return -1;
	struct json_object *last = NULL;
	jsonparse_object(tail, len, JSONPARSE_DEPTH, &last, NULL);
	free(tail);
	char ts[RFC3339_MS_MAX];
	rfc3339_format_ms(au->ts_ms, ts, sizeof(ts));
	bool written = last && json_str_is(last, "ts", ts) &&
		       json_str_is(last, "event", audit_event_name(au->event)) &&
		       json_str_is(last, "phase", rollout_phase_name(au->phase)) &&
		       json_str_is(last, "promotion", au->promotion) &&
		       json_str_is(last, "reason", au->reason) && json_int_is(last, "step", au->step) &&
		       json_int_is(last, "percent", au->percent);
	json_object_put(last);
	if (!written)
		return 0;
	log_info("the audit line \"%s\" of %s was written before the controller stopped; it is not "
		 "written again",
		 audit_event_name(au->event), ts);
	*settled = true;
	rollout_pending_done(&c->state, id);
	if (save_state(c, &c->state, err) < 0)
		log_error("%s", err->msg);
	return 0;
}

static void audit_sealed(struct controller *c)
{
	if (c->audit_broken_since_ms)
		return;
	c->audit_broken_since_ms = clock_epoch_ms();
	log_error("%s; no action is taken until the audit log is repaired (`clawfleet audit verify "
		  "%s`) and the controller restarted",
		  audit_broken(c->audit), c->audit_path);
}

int controller_anchor_audit(struct controller *c, const struct audit_anchor *want, bool found,
			    struct cf_err *err)
{
	struct audit_anchor have;
	bool settled = false;
	if (found) {
		c->anchor = *want;
		c->anchor_saved = true;
	}
	if (audit_broken(c->audit)) {
		audit_sealed(c);
		return 0;
	}
	audit_anchor_of(c->audit, &have);
	if (!found)
		log_info("%s: no audit anchor was kept yet; the log's %llu lines (head %s) are kept "
			 "from now on",
			 c->audit_path, (unsigned long long)have.lines, have.head);
	if (controller_settle_written_audit(c, &settled, err) < 0)
		return -1;
	if (found && have.lines == want->lines + 1 && !settled) {
		struct cf_err why;
		cf_err_set(&why, "the audit log %s has %llu lines, the state recorded %llu: "
			 "line %llu is not the audit line the controller had pending, so it was not "
			 "written by this controller", c->audit_path,
			 (unsigned long long)have.lines, (unsigned long long)want->lines,
			 (unsigned long long)have.lines);
		audit_seal(c->audit, why.msg);
		audit_sealed(c);
		return 0;
	}
	/* Settled or not, the anchor is saved once it moved (a settle saved it already). */
	if (!c->anchor_saved || have.lines != c->anchor.lines ||
	    strcmp(have.head, c->anchor.head) != 0) {
		if (rollout_store_save_anchor(&c->store, &have, err) < 0) {
			save_failed(c, errno, err);
			return 0;
		}
		c->anchor = have;
		c->anchor_saved = true;
	}
	return 0;
}

bool controller_audit_holds(struct controller *c)
{
	struct cf_err err;
	if (audit_check(c->audit, &err) == 0)
		return true;
	if (!audit_broken(c->audit)) {
		log_warn("checking the audit log: %s", err.msg);
		return true;
	}
	audit_sealed(c);
	return false;
}

/* ---- the agents and the load balancer ---- */

/* A replica of several acts only while it leads and its renew deadline has not passed: one
 * that was paused past it finds out here, before it moves anything. */
static int not_leading(const char *what, struct cf_err *err)
{
	return cf_err_set(err, "%s: not done: this replica is not the leader (its lease was not "
			       "renewed before the renew deadline, or another replica leads)",
			  what);
}

static int world_put_targets(void *ctx, struct agent_put *puts, size_t n, struct cf_err *err)
{
	struct controller *c = ctx;
	if (!controller_may_act(c))
		return not_leading("sending targets", err);
	return target_client_put(c->agents, puts, n, err);
}

static int world_apply_weights(void *ctx, const struct weight_map *want, struct cf_err *err)
{
	struct controller *c = ctx;
	const struct load_balancer *lb = controller_lb(c->cache.ds);
	if (!controller_may_act(c))
		return not_leading("moving weights", err);
	if (!lb)
		return cf_err_set(err, "the plan moves weights but the repository has no "
				       "LoadBalancer");
	if (weights_apply(lb, want, err) < 0)
		return cf_err_prefix(err, "LoadBalancer/%s", lb->name);
	return 0;
}

/* Pools are backend names for HAProxy: the LoadBalancer's backend for the stable pool and
 * canaryBackend for the canary one (NULL when not configured); other drivers take the pool's
 * name. */
static const char *pool_of(const struct controller *c, const struct load_balancer *lb,
			   bool canary)
{
	if (lb->driver != LB_HAPROXY)
		return canary ? "canary" : "stable";
	return canary ? c->cfg.canary_backend : lb->haproxy.backend;
}

static int world_route_tenant(void *ctx, const struct rollout_route *r, struct cf_err *err)
{
	struct controller *c = ctx;
	const struct load_balancer *lb = controller_lb(c->cache.ds);
	if (!controller_may_act(c))
		return not_leading("routing a tenant", err);
	if (!lb)
		return cf_err_set(err, "tenant %s: the repository has no LoadBalancer to route it",
				  r->tenant);
	const char *pool = pool_of(c, lb, r->canary);
	if (!pool)
		return cf_err_set(err, "tenant %s: set canaryBackend in the controller's "
				       "configuration to the HAProxy backend of the canary pool",
				  r->tenant);
	if (weights_route_tenant(lb, r->tenant, pool, err) < 0)
		return cf_err_prefix(err, "tenant %s", r->tenant);
	log_info("tenant %s routed to the %s pool (%s)", r->tenant, r->canary ? "canary" : "stable",
		 pool);
	return 0;
}

static int world_drain(void *ctx, const struct rollout_drain *d, bool drain, struct cf_err *err)
{
	struct controller *c = ctx;
	const struct load_balancer *lb = controller_lb(c->cache.ds);
	if (!controller_may_act(c))
		return not_leading("draining a node", err);
	if (!lb)
		return cf_err_set(err, "node %s: the repository has no LoadBalancer to drain it",
				  d->node);
	if (weights_drain(lb, d->server, drain, err) < 0)
		return cf_err_prefix(err, "LoadBalancer/%s: node %s", lb->name, d->node);
	if (weights_has_drain(lb))
		log_info("node %s: server %s %s", d->node, d->server,
			 drain ? "drained: it takes no new sessions" : "ready: it takes new sessions");
	return 0;
}

/* A failure to read the servers or the routes, logged once while it repeats. */
static void lb_state_failed(struct controller *c, const struct load_balancer *lb,
			    const char *what, struct cf_err *err)
{
	cf_err_prefix(err, "reading the %s of LoadBalancer/%s", what, lb->name);
	if (strcmp(c->lb_state_warning, err->msg) != 0)
		log_warn("%s", err->msg);
	snprintf(c->lb_state_warning, sizeof(c->lb_state_warning), "%s", err->msg);
}

void controller_observe_lb(struct controller *c, const struct load_balancer *lb,
			   struct fleet_observation *fo, struct lb_servers *servers,
			   struct lb_routes *routes)
{
	struct cf_err err;
	bool failed = false;
	fo->lb_drain = lb && weights_has_drain(lb);
	if (lb && weights_has_servers(lb)) {
		fo->servers_ok = weights_servers(lb, servers, &err) == 0;
		if (!fo->servers_ok) {
			lb_state_failed(c, lb, "servers' state", &err);
			failed = true;
		}
	}
	fo->servers = *servers;
	if (lb && weights_has_routes(lb)) {
		fo->routes_ok = weights_routes(lb, routes, &err) == 0;
		if (!fo->routes_ok) {
			lb_state_failed(c, lb, "tenant routes", &err);
			failed = true;
		}
	}
	/* The planner names the pools "canary" and "stable". */
	for (size_t i = 0; fo->routes_ok && i < routes->n; i++) {
		struct lb_route *r = &routes->v[i];
		const char *canary = pool_of(c, lb, true), *stable = pool_of(c, lb, false);
		if (canary && strcmp(r->pool, canary) == 0)
			snprintf(r->pool, sizeof(r->pool), "canary");
		else if (stable && strcmp(r->pool, stable) == 0)
			snprintf(r->pool, sizeof(r->pool), "stable");
	}
	fo->routes = *routes;
	if (!failed)
		c->lb_state_warning[0] = '\0';
}

/* ---- the audit log ---- */

static int world_append_audit(void *ctx, const struct rollout_audit *au, struct cf_err *err)
{
	struct controller *c = ctx;
	if (!controller_may_act(c))
		return not_leading("writing an audit line", err);
	struct audit_weight *w = calloc(au->weights.n ? au->weights.n : 1, sizeof(*w));
	if (!w)
		return cf_err_set(err, "out of memory");
	for (size_t i = 0; i < au->weights.n; i++)
		w[i] = (struct audit_weight){au->weights.v[i].server, au->weights.v[i].weight};
	struct audit_entry e = {
		.ts_ms = au->ts_ms,
		.event = audit_event_name(au->event),
		.promotion = au->promotion,
		.revision = au->revision,
		.phase = rollout_phase_name(au->phase),
		.step = au->step,
		.percent = au->percent,
		.reason = au->reason,
		.actor = au->actor,
		.ticket = au->ticket,
		.from = {au->from.semver, au->from.tag},
		.to = {au->to.semver, au->to.tag},
		.weights = w,
		.nweights = au->weights.n,
		.probe_sha256 = au->probe_sha256,
		.node = au->node,
	};
	int rc = audit_append(c->audit, &e, err);
	free(w);
	if (rc == 0)
		log_info("audit: %s%s%s %s step %d (%d %%)%s%s", e.event, *e.node ? " " : "", e.node,
			 e.phase, e.step, e.percent, *e.reason ? ": " : "", e.reason);
	return rc;
}

/* ---- the notifier ---- */

/* POST /v1/events to the notifier (its contract: README, "The notifier"), or the log when none
 * is configured. flux_uid and event_id may be NULL. */
int controller_post_event(struct controller *c, const char *kind, const char *verdict,
			  const char *probe_key, const char *correlation, const char *message,
			  const char *flux_uid, const char *event_id, struct cf_err *err)
{
	if (!c->cfg.notifier) {
		log_info("broadcast (%s %s): %s", kind, verdict, message);
		return 0;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(kind));
	json_object_object_add(o, "verdict", json_object_new_string(verdict));
	json_object_object_add(o, "probeKey", json_object_new_string(probe_key));
	json_object_object_add(o, "correlationId", json_object_new_string(correlation));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (flux_uid && *flux_uid)
		json_object_object_add(o, "fluxUid", json_object_new_string(flux_uid));
	if (event_id && *event_id)
		json_object_object_add(o, "eventId", json_object_new_string(event_id));
	const char *body = json_object_to_json_string_ext(o, JSON_PLAIN);
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct httpc_reply reply = {0};
	int rc = -1;
	if (!body) {
		json_object_put(o);
		return cf_err_set(err, "broadcast: out of memory");
	}
	/* Fleet-internal: straight to the notifier, never through a proxy from the environment. */
	const struct httpc_request req = {
		.method = "POST",
		.url = c->cfg.notifier,
		.headers = headers,
		.body = body,
		.body_len = strlen(body),
		.connect_timeout_ms = NOTIFY_CONNECT_MS,
		.timeout_ms = NOTIFY_TIMEOUT_MS,
		.max_reply = NOTIFY_REPLY_MAX,
		.user_agent = "clawfleet-controller",
	};
	if (httpc_do(NULL, &req, &reply, err) < 0)
		cf_err_prefix(err, "broadcast to the notifier");
	else if (reply.status < 200 || reply.status >= 300)
		cf_err_set(err, "broadcast to the notifier: HTTP %ld", reply.status);
	else
		rc = 0;
	if (rc == 0)
		log_info("broadcast (%s %s) sent: %s", kind, verdict, message);
	httpc_reply_free(&reply);
	json_object_put(o);
	return rc;
}

static int world_broadcast(void *ctx, uint64_t id, const struct rollout_broadcast *b,
			   struct cf_err *err)
{
	char correlation[64];
	if (!controller_may_act(ctx))
		return not_leading("broadcasting", err);
	snprintf(correlation, sizeof(correlation), "clawfleet-%llu", (unsigned long long)id);
	return controller_post_event(ctx, "verdict", broadcast_verdict_name(b->verdict), b->reason,
			  correlation, b->message, NULL, NULL, err);
}

/* Tells the notifier what the Flux receiver answered: rollback verdicts and refused events.
 * One attempt each: the notifier itself retries its channel, and Flux redelivers. */
void controller_send_hook_events(struct controller *c)
{
	struct fluxhook_outcome events[HOOK_EVENTS_MAX];
	pthread_mutex_lock(&c->mu);
	size_t n = c->nhook_events;
	memcpy(events, c->hook_events, n * sizeof(events[0]));
	c->nhook_events = 0;
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		const struct fluxhook_outcome *o = &events[i];
		bool reply = o->status != 202;
		char status[16];
		snprintf(status, sizeof(status), "%u", o->status);
		struct cf_err err;
		if (controller_post_event(c, reply ? "reply" : "rollback",
			       reply ? "hold" : broadcast_verdict_name(o->verdict),
			       reply ? status : o->probe_key,
			       o->correlation_id[0] ? o->correlation_id : "flux-receiver", o->message,
			       o->flux_uid, o->event_id, &err) < 0)
			log_warn("%s", err.msg);
	}
}

/* ---- the loop ---- */

static int world_save_state(void *ctx, const struct rollout_state *s, struct cf_err *err)
{
	return save_state(ctx, s, err);
}

static int64_t world_mono_ms(void *ctx)
{
	(void)ctx;
	return clock_mono_ms();
}

static bool world_stopping(void *ctx)
{
	(void)ctx;
	return controller_stopping();
}

/* The plan's progress, once it is the controller's intent: phase changes, and the Reconciling
 * and Stalled messages when they change. */
static void world_intended(void *ctx, enum rollout_phase was, const struct rollout_state *s)
{
	struct controller *c = ctx;
	const struct rollout_condition *rec = &s->conditions[COND_RECONCILING];
	const struct rollout_condition *st = &s->conditions[COND_STALLED];
	if (was != s->phase)
		log_info("phase %s -> %s", rollout_phase_name(was), rollout_phase_name(s->phase));
	if (strcmp(rec->message, c->last_progress) != 0 && rec->message[0])
		log_info("%s", rec->message);
	snprintf(c->last_progress, sizeof(c->last_progress), "%s", rec->message);
	char stall[ROLLOUT_MESSAGE_MAX];
	snprintf(stall, sizeof(stall), "%s", st->status == COND_TRUE ? st->message : "");
	if (stall[0] && strcmp(stall, c->last_stall) != 0)
		log_warn("stalled (%s): %s", st->reason, stall);
	snprintf(c->last_stall, sizeof(c->last_stall), "%s", stall);
}

void controller_world_init(struct controller *c, struct fleet_world_ops *ops)
{
	*ops = (struct fleet_world_ops){
		.save_state = world_save_state,
		.put_targets = world_put_targets,
		.apply_weights = world_apply_weights,
		.route_tenant = world_route_tenant,
		.drain = world_drain,
		.append_audit = world_append_audit,
		.broadcast = world_broadcast,
		.mono_ms = world_mono_ms,
		.stopping = world_stopping,
		.intended = world_intended,
		.ctx = c,
	};
}
