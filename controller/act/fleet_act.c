#include "act/fleet_act.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/backoff.h"
#include "base/failpoint.h"
#include "base/log.h"

void fleet_act_init(struct fleet_act *fa, const struct fleet_world_ops *ops,
		    struct status_metrics *metrics, unsigned int seed)
{
	memset(fa, 0, sizeof(*fa));
	fa->ops = ops;
	fa->metrics = metrics;
	fa->seed = seed;
}

void fleet_act_free(struct fleet_act *fa)
{
	free(fa->backoff);
	free(fa->last_weights);
	for (size_t i = 0; i < STATUS_ACTION_KINDS; i++)
		free(fa->warning[i]);
	memset(fa, 0, sizeof(*fa));
}

/* Logs msg unless it repeats the last one logged in *last (NULL: nothing failed since): a
 * failure repeated every pass would drown the log. */
static void warn_changed(char **last, const char *msg)
{
	if (*last && strcmp(*last, msg) == 0)
		return;
	log_warn("%s", msg);
	free(*last);
	*last = strdup(msg);
}

/* ---- node targets ---- */

/* The node's entry in the backoff table, added when missing; -1 when out of memory. The table
 * may move: callers keep the index, not a pointer. */
static int backoff_index(struct fleet_act *fa, const char *node, size_t *out)
{
	for (size_t i = 0; i < fa->nbackoff; i++)
		if (strcmp(fa->backoff[i].name, node) == 0) {
			*out = i;
			return 0;
		}
	struct fleet_node_backoff *v = realloc(fa->backoff, (fa->nbackoff + 1) * sizeof(*v));
	if (!v)
		return -1;
	fa->backoff = v;
	memset(&v[fa->nbackoff], 0, sizeof(v[0]));
	snprintf(v[fa->nbackoff].name, sizeof(v[0].name), "%s", node);
	*out = fa->nbackoff++;
	return 0;
}

void fleet_act_prune(struct fleet_act *fa, const struct desired_state *ds)
{
	size_t k = 0;
	for (size_t i = 0; i < fa->nbackoff; i++)
		if (desired_node(ds, fa->backoff[i].name))
			fa->backoff[k++] = fa->backoff[i];
	fa->nbackoff = k;
}

/* The NODE_TARGET actions acts[0..n): sent together, each node but those backing off. */
static void send_targets(struct fleet_act *fa, const struct desired_state *ds,
			 const struct rollout_action *acts, size_t n)
{
	struct agent_put *puts = calloc(n ? n : 1, sizeof(*puts));
	size_t *who = calloc(n ? n : 1, sizeof(*who));
	struct cf_err err;
	size_t k = 0;
	int64_t now = fa->ops->mono_ms(fa->ops->ctx);
	if (!puts || !who) {
		log_error("sending targets: out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mac_node *m = desired_node(ds, acts[i].u.node_target.node);
		size_t b;
		if (!m || backoff_index(fa, m->name, &b) < 0 || now < fa->backoff[b].retry_mono_ms)
			continue;
		puts[k] = (struct agent_put){.node = m->name, .address = m->address,
					     .target = acts[i].u.node_target.target};
		who[k++] = b;
	}
	if (k)
		failpoint_hit("controller.target.send.before");
	if (k && fa->ops->put_targets(fa->ops->ctx, puts, k, &err) < 0) {
		log_error("sending targets: %s", err.msg);
		for (size_t i = 0; i < k; i++)
			status_metrics_count_action(fa->metrics, ACTION_NODE_TARGET, false);
		goto done;
	}
	if (k)
		failpoint_hit("controller.target.send.after");
	for (size_t i = 0; i < k; i++) {
		struct fleet_node_backoff *b = &fa->backoff[who[i]];
		int64_t gen = puts[i].target->generation;
		status_metrics_count_action(fa->metrics, ACTION_NODE_TARGET, puts[i].result == 0);
		if (puts[i].result == 0) {
			if (b->sent_generation != gen || b->failures)
				log_info("node %s accepted target generation %lld: %s %.7s, skills %s "
					 "-> %s",
					 b->name, (long long)gen, puts[i].target->tag,
					 puts[i].target->commit,
					 target_link_name(puts[i].target->skills_link),
					 puts[i].target->skills_semver);
			b->sent_generation = gen;
			b->failures = 0;
			b->retry_mono_ms = 0;
			continue;
		}
		int64_t wait = backoff_ms(FLEET_BACKOFF_FIRST_MS, FLEET_BACKOFF_MAX_MS, ++b->failures,
					  &fa->seed);
		b->retry_mono_ms = now + wait;
		log_warn("%s; retrying in %lld ms", puts[i].err.msg, (long long)wait);
	}
done:
	free(puts);
	free(who);
}

/* ---- the other actions ---- */

static int apply_weights(struct fleet_act *fa, const struct rollout_action *a, struct cf_err *err)
{
	if (fa->ops->apply_weights(fa->ops->ctx, &a->u.weights, err) < 0)
		return -1;
	char *line = rollout_action_describe(a);
	if (line && (!fa->last_weights || strcmp(line, fa->last_weights) != 0))
		log_info("%s: read back", line);
	free(fa->last_weights);
	fa->last_weights = line;
	return 0;
}

/* A broadcast the notifier keeps refusing is given up after a few passes, so that a notifier
 * outage never fills the pending list. True when the action is to count as done. */
static bool broadcast_given_up(struct fleet_act *fa, const struct rollout_action *a,
			       const struct cf_err *err)
{
	struct fleet_broadcast_retry *r = NULL, *victim = &fa->retries[0];
	for (size_t i = 0; i < FLEET_BROADCASTS_TRACKED && !r; i++) {
		struct fleet_broadcast_retry *e = &fa->retries[i];
		if (e->id == a->id)
			r = e;
		else if (victim->id && (!e->id || e->attempts < victim->attempts))
			victim = e; /* a free slot, else the one tried least */
	}
	if (!r) {
		r = victim;
		*r = (struct fleet_broadcast_retry){a->id, 0};
	}
	if (++r->attempts < FLEET_BROADCAST_ATTEMPTS) {
		log_warn("%s; trying again next pass", err->msg);
		return false;
	}
	*r = (struct fleet_broadcast_retry){0, 0};
	log_warn("%s; giving up after %d attempts: %s", err->msg, FLEET_BROADCAST_ATTEMPTS,
		 a->u.broadcast.message);
	return true;
}

/* One action other than NODE_TARGET; *done when it is a one-shot action that succeeded (or a
 * broadcast given up). */
static int perform(struct fleet_act *fa, const struct rollout_action *a, bool *done,
		   struct cf_err *err)
{
	const struct fleet_world_ops *ops = fa->ops;
	int rc = 0;
	*done = false;
	switch (a->kind) {
	case ACTION_NODE_TARGET:
		break; /* sent in batches by send_targets */
	case ACTION_SET_WEIGHTS:
		rc = apply_weights(fa, a, err);
		break;
	case ACTION_ROUTE_TENANT:
		/* A route the planner re-asserts from what it read (id 0) is not pending. */
		failpoint_hit("controller.route.before");
		rc = ops->route_tenant(ops->ctx, &a->u.route, err);
		failpoint_hit("controller.route.after");
		*done = rc == 0 && a->id;
		break;
	case ACTION_DRAIN_NODE:
	case ACTION_READY_NODE:
		failpoint_hit(a->kind == ACTION_DRAIN_NODE ? "controller.drain.before"
							   : "controller.ready.before");
		rc = ops->drain(ops->ctx, &a->u.drain, a->kind == ACTION_DRAIN_NODE, err);
		failpoint_hit(a->kind == ACTION_DRAIN_NODE ? "controller.drain.after"
							   : "controller.ready.after");
		break;
	case ACTION_AUDIT:
		failpoint_hit("controller.audit.append.before");
		rc = ops->append_audit(ops->ctx, a->u.audit, err);
		failpoint_hit("controller.audit.append.after");
		*done = rc == 0;
		if (rc == 0 && a->u.audit->event == AUDIT_ROLLBACK)
			status_metrics_count_rollback(fa->metrics, a->u.audit->reason);
		break;
	case ACTION_BROADCAST:
		failpoint_hit("controller.broadcast.before");
		rc = ops->broadcast(ops->ctx, a->id, &a->u.broadcast, err);
		failpoint_hit("controller.broadcast.after");
		*done = rc == 0 || broadcast_given_up(fa, a, err);
		break;
	}
	return rc;
}

int fleet_act(struct fleet_act *fa, const struct desired_state *ds, struct plan_output *out,
	      struct rollout_state *state, struct cf_err *err)
{
	const struct fleet_world_ops *ops = fa->ops;
	/* Intent: the next state, with its one-shot actions pending, is saved before any act. */
	if (out->nactions)
		failpoint_hit("controller.intent.before");
	if (ops->save_state(ops->ctx, &out->next, err) < 0) {
		log_error("saving the rollout state (nothing done this pass): %s", err->msg);
		return -1;
	}
	if (out->nactions)
		failpoint_hit("controller.intent.after");
	enum rollout_phase was = state->phase;
	rollout_state_free(state);
	*state = out->next;
	rollout_state_init(&out->next);
	if (ops->intended)
		ops->intended(ops->ctx, was, state);

	for (size_t i = 0; i < out->nactions; i++) {
		const struct rollout_action *a = &out->actions[i];
		bool done;
		if (ops->stopping && ops->stopping(ops->ctx))
			return 0;
		if (a->kind == ACTION_NODE_TARGET) {
			size_t j = i;
			while (j < out->nactions && out->actions[j].kind == ACTION_NODE_TARGET)
				j++;
			send_targets(fa, ds, a, j - i);
			i = j - 1;
			continue;
		}
		int rc = perform(fa, a, &done, err);
		status_metrics_count_action(fa->metrics, a->kind, rc == 0);
		if (rc < 0 && a->kind != ACTION_BROADCAST) {
			warn_changed(&fa->warning[a->kind], err->msg);
		} else if (rc == 0) {
			free(fa->warning[a->kind]);
			fa->warning[a->kind] = NULL;
		}
		/* Done: off the pending list, and saved before the next action. */
		if (done) {
			rollout_pending_done(state, a->id);
			if (ops->save_state(ops->ctx, state, err) < 0) {
				log_error("saving the rollout state: %s", err->msg);
				return -1;
			}
		}
		if (rc < 0 && a->kind == ACTION_AUDIT)
			return -1;
	}
	return 0;
}
