#include "plan/planner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"
#include "plan/plan_internal.h"

/* The pass: what every chapter uses. */

void plan_copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* Free text from Git (actor, ticket, revision) is cut at a character boundary, never inside a
 * UTF-8 sequence. */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Reason codes come from agents; whatever they send is kept to the code alphabet. */
void plan_copy_code(char *dst, size_t size, const char *src)
{
	size_t n = 0;
	for (; src && src[n] && n + 1 < size; n++) {
		char c = src[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-';
		dst[n] = ok ? c : '_';
	}
	dst[n] = '\0';
}

void plan_copy_note(char *dst, size_t size, const char *src)
{
	copy_text(dst, size, src);
	for (char *c = dst; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '_';
}

bool plan_hex_of_len(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	return strspn(s, "0123456789abcdef") == len;
}

bool plan_same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

bool plan_same_version(const struct rollout_version *a, const struct rollout_version *b)
{
	return strcmp(a->tag, b->tag) == 0 && strcmp(a->commit, b->commit) == 0 &&
	       strcmp(a->semver, b->semver) == 0;
}

const char *plan_node_name(const struct pass *p, size_t i)
{
	return i == NO_NODE ? "" : p->d->nodes[i].name;
}

bool plan_reachable(const struct pass *p, size_t i)
{
	return p->seen[i] && p->seen[i]->reachable;
}

/* The node reports the build: its infra commit and skills/current. */
bool plan_runs_version(const struct pass *p, size_t i, const struct rollout_version *v)
{
	const struct node_observation *o = p->seen[i];
	return plan_reachable(p, i) && plan_same_str(o->commit, v->commit) &&
	       plan_same_str(o->skills_current, v->semver);
}

int64_t plan_max_hold(const struct pass *p)
{
	return p->promo ? p->promo->max_hold_ms : 0;
}

/* No step was taken, yet the rollout is (or was held) in Mirroring. */
bool plan_skipped_canary(const struct rollout_state *s)
{
	return !s->step && !s->bring_up &&
	       (s->phase == ROLLOUT_MIRRORING ||
		(s->phase == ROLLOUT_HELD && s->held_from == ROLLOUT_MIRRORING));
}

void plan_progress(struct pass *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->progress, sizeof(p->progress), fmt, ap);
	va_end(ap);
}

/* snprintf that may cut: keys and messages name tags of up to 255 bytes. */
void plan_format(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

void plan_stall(struct pass *p, const char *reason, const char *fmt, ...)
{
	va_list ap;
	plan_copy_str(p->stall_reason, sizeof(p->stall_reason), reason);
	va_start(ap, fmt);
	vsnprintf(p->stall_message, sizeof(p->stall_message), fmt, ap);
	va_end(ap);
}

/* The rollout waits for the fleet; past maxHold in one stage it says so (Stalled) and keeps
 * waiting: nothing it could do alone would be safer. */
void plan_waiting(struct pass *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->progress, sizeof(p->progress), fmt, ap);
	va_end(ap);
	p->busy = true;
	int64_t limit = plan_max_hold(p);
	if (limit > 0 && p->now - p->s->stage_started_ms > limit && !p->stall_reason[0]) {
		char d[32];
		duration_format(limit, d, sizeof(d));
		plan_stall(p, "ProgressDeadlineExceeded", "%s for more than %s", p->progress, d);
	}
}

void plan_enter(struct pass *p, enum rollout_phase phase)
{
	p->s->phase = phase;
	p->s->stage_started_ms = p->now;
}

void plan_add_history(struct pass *p, enum rollout_outcome outcome, const char *reason)
{
	struct rollout_state *s = p->s;
	if (s->nhistory == ROLLOUT_HISTORY_MAX) {
		memmove(&s->history[0], &s->history[1], (s->nhistory - 1) * sizeof(s->history[0]));
		s->nhistory--;
	}
	struct rollout_record *r = &s->history[s->nhistory++];
	memset(r, 0, sizeof(*r));
	plan_copy_str(r->promotion, sizeof(r->promotion), s->promotion_name);
	if (s->has_last_good)
		r->from = s->last_good;
	r->to = s->promotion;
	r->outcome = outcome;
	plan_copy_code(r->reason, sizeof(r->reason), reason);
	/* The rollout's start, as far back from the wall clock as it is on the rollout clock. */
	r->started_ms = s->started_ms ? p->wall - (p->now - s->started_ms) : 0;
	r->finished_ms = p->wall;
	plan_copy_str(r->actor, sizeof(r->actor), p->actor);
	plan_copy_str(r->ticket, sizeof(r->ticket), p->ticket);
}

/* Phases (plan_internal.h says how each handler is built), and the controls Git has over them. */

int plan_dispatch(struct pass *p)
{
	switch (p->s->phase) {
	case ROLLOUT_IDLE:
	case ROLLOUT_SUCCEEDED:
	case ROLLOUT_ROLLED_BACK:
		return plan_settle(p);
	case ROLLOUT_SHADOW:
		return plan_step_shadow(p);
	case ROLLOUT_PROMOTING:
		return plan_step_promoting(p);
	case ROLLOUT_ANALYSING:
		return plan_step_analysing(p);
	case ROLLOUT_MIRRORING:
		return p->s->bring_up ? plan_step_bring_up(p) : plan_step_mirroring(p);
	case ROLLOUT_FINALISING:
		return plan_step_finalising(p, false);
	case ROLLOUT_HELD:
		return plan_step_held(p);
	case ROLLOUT_ROLLING_BACK:
		return plan_step_rolling_back(p);
	}
	return cf_err_set(p->err, "rollout phase %d is unknown", (int)p->s->phase);
}

static bool in_flight(enum rollout_phase phase)
{
	return phase == ROLLOUT_SHADOW || phase == ROLLOUT_PROMOTING ||
	       phase == ROLLOUT_ANALYSING || phase == ROLLOUT_MIRRORING ||
	       phase == ROLLOUT_FINALISING || phase == ROLLOUT_HELD;
}

/* A suspension does not count: the analysis window starts again and the hold and stage clocks
 * skip the time it lasted. */
static void end_suspension(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!s->suspended_since_ms)
		return;
	int64_t paused = p->now > s->suspended_since_ms ? p->now - s->suspended_since_ms : 0;
	s->suspended_since_ms = 0;
	s->stage_started_ms += paused;
	if (s->hold_started_ms)
		s->hold_started_ms += paused;
	s->window_started_ms = p->now;
	s->green_windows = 0;
}

/* Suspend freezes progress, never safety: a red verdict while suspended fails the rollout as it
 * would otherwise (a rollback, or a hold for a person when rollback.automatic is false), and the
 * rollback that starts is not frozen. (Drains are plan_safety's, after every pass.) */
static int suspended(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!in_flight(s->phase))
		return 0;
	struct verdict v = plan_judge(p);
	if (v.status != PROBE_RED)
		return 0;
	if (plan_fail(p, v.reason, v.node) < 0)
		return -1;
	if (s->phase == ROLLOUT_ROLLING_BACK) {
		s->suspended_since_ms = 0;
		p->suspended = false;
	}
	return 0;
}

/* Git is the only control surface: suspend freezes progress where it is (abort wins over it,
 * a rollback under way finishes: half a rollback is worse than either build, and red still
 * fails), abort rolls back, a Promotion that names another build mid-rollout supersedes it
 * (rolled back first, then started). */
static int run(struct pass *p)
{
	struct rollout_state *s = p->s;
	const struct promotion *promo = p->promo;
	if (!promo) {
		if (in_flight(s->phase)) {
			plan_stall(p, "NoPromotion", "the Promotion was removed during the rollout of %s: "
						"put it back, with spec.abort: true to roll back",
			      s->promotion.tag);
			return 0;
		}
		if (s->phase == ROLLOUT_ROLLING_BACK)
			return plan_step_rolling_back(p);
		plan_progress(p, "no Promotion in the repository: nothing to roll out");
		return plan_keep_steady(p);
	}
	if (promo->suspend && !promo->abort && s->phase != ROLLOUT_ROLLING_BACK) {
		if (!s->suspended_since_ms)
			s->suspended_since_ms = p->now;
		p->suspended = true;
		plan_progress(p, "spec.suspend is true: frozen in %s", rollout_phase_name(s->phase));
		return suspended(p);
	}
	end_suspension(p);
	if (promo->abort && in_flight(s->phase))
		return plan_start_rollback(p, "abort", NO_NODE, false);
	if (!p->want_known) {
		plan_stall(p, "TagUnresolved", "Promotion/%s: tag %s does not name a commit the "
					  "controller could resolve", promo->name, promo->tag);
		if (in_flight(s->phase))
			return 0;
		return plan_dispatch(p);
	}
	if (in_flight(s->phase) && !plan_same_version(&s->promotion, &p->want)) {
		if (s->bring_up)
			return plan_start_bring_up(p);
		return plan_start_rollback(p, "superseded", NO_NODE, false);
	}
	int decided;
	if (plan_hooks_rollback(p, &decided))
		return decided;
	return plan_dispatch(p);
}

/* Conditions: lastTransitionTime moves only when a status changes. */
static void set_condition(struct pass *p, enum condition_type t, enum condition_status status,
			  const char *reason, const char *message)
{
	struct rollout_condition *c = &p->s->conditions[t];
	const struct rollout_condition *was = &p->prev->conditions[t];
	c->status = status;
	plan_copy_str(c->reason, sizeof(c->reason), reason);
	plan_copy_str(c->message, sizeof(c->message), message);
	c->last_transition_ms = was->status == status ? was->last_transition_ms : p->wall;
}

static void set_conditions(struct pass *p)
{
	const struct rollout_state *s = p->s;
	const char *phase = rollout_phase_name(s->phase);
	bool on_want = p->want_known && s->has_last_good && plan_same_version(&s->last_good, &p->want);
	bool settled = s->phase == ROLLOUT_IDLE || s->phase == ROLLOUT_SUCCEEDED ||
		       s->phase == ROLLOUT_ROLLED_BACK;
	bool ready = settled && (!p->promo || (on_want && s->phase != ROLLOUT_IDLE));
	bool moving = !settled || p->busy || p->moved;
	set_condition(p, COND_READY, ready ? COND_TRUE : COND_FALSE,
		      !p->promo ? "NoPromotion" : phase, p->progress);
	if (p->suspended)
		set_condition(p, COND_RECONCILING, COND_FALSE, "Suspended", p->progress);
	else
		set_condition(p, COND_RECONCILING, moving ? COND_TRUE : COND_FALSE, phase,
			      p->progress);
	if (p->stall_reason[0])
		set_condition(p, COND_STALLED, COND_TRUE, p->stall_reason, p->stall_message);
	else
		set_condition(p, COND_STALLED, COND_FALSE, phase, "");
	set_condition(p, COND_DEGRADED, p->degraded ? COND_TRUE : COND_FALSE, p->degraded_reason,
		      p->degraded_message);
}

/* Setup. */

/* The order nodes move in: canary gateways, stable gateways, workers, notifiers; each group by
 * zone, then name. Workers and notifiers follow the gateways and never lead them. */
enum group { GROUP_CANARY, GROUP_STABLE, GROUP_WORKER, GROUP_NOTIFIER };

struct ranked {
	size_t index;
	const struct mac_node *node;
	size_t by_name; /* its place in name order: rank_cmp's last key, without a strcmp */
};

static int group_of(const struct mac_node *m)
{
	if (m->role == NODE_GATEWAY)
		return m->canary ? GROUP_CANARY : GROUP_STABLE;
	return m->role == NODE_WORKER ? GROUP_WORKER : GROUP_NOTIFIER;
}

static int rank_cmp(const void *a, const void *b)
{
	const struct mac_node *x = ((const struct ranked *)a)->node;
	const struct mac_node *y = ((const struct ranked *)b)->node;
	int gx = group_of(x), gy = group_of(y);
	if (gx != gy)
		return gx - gy;
	int z = strcmp(x->zone ? x->zone : "", y->zone ? y->zone : "");
	if (z)
		return z;
	size_t nx = ((const struct ranked *)a)->by_name, ny = ((const struct ranked *)b)->by_name;
	return (nx > ny) - (nx < ny);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ranked *)a)->node->name,
		      ((const struct ranked *)b)->node->name);
}

static int obs_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct node_observation *const *)a)->name,
		      (*(const struct node_observation *const *)b)->name);
}


/* The state's node entries become exactly the desired nodes, in name order (ranked is); what was
 * sent to a node that left the fleet is forgotten. */
static int index_nodes(struct pass *p, struct ranked *ranked)
{
	const struct desired_state *d = p->d;
	struct rollout_state *s = p->s;
	struct rollout_node *nodes = calloc(d->nnodes ? d->nnodes : 1, sizeof(*nodes));
	if (!nodes)
		return cf_err_set(p->err, "out of memory");
	/* Both lists in name order (the state keeps its entries so): one walk matches them. */
	size_t j = 0;
	for (size_t k = 0; k < d->nnodes; k++) {
		const char *name = ranked[k].node->name;
		while (j < s->nnodes && strcmp(s->nodes[j].name, name) < 0)
			j++;
		const struct rollout_node *old =
			j < s->nnodes && strcmp(s->nodes[j].name, name) == 0 ? &s->nodes[j] : NULL;
		if (strlen(name) >= sizeof(nodes[k].name)) {
			free(nodes);
			return cf_err_set(p->err, "MacNode/%.80s: name longer than %zu", name,
					  sizeof(nodes[k].name) - 1);
		}
		if (old)
			nodes[k] = *old;
		else
			plan_copy_str(nodes[k].name, sizeof(nodes[k].name), name);
		p->entry[ranked[k].index] = &nodes[k];
	}
	free(s->nodes);
	s->nodes = nodes;
	s->nnodes = d->nnodes;
	return 0;
}

/* ranked: the desired nodes in name order (index_nodes left them so); the observations are put
 * in name order too, and one walk matches them. */
static int index_observations(struct pass *p, const struct ranked *ranked)
{
	const struct fleet_observation *obs = p->obs;
	const struct node_observation **sorted = calloc(obs->nnodes ? obs->nnodes : 1,
							sizeof(*sorted));
	if (!sorted)
		return cf_err_set(p->err, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < obs->nnodes; i++)
		if (obs->nodes[i].name)
			sorted[n++] = &obs->nodes[i];
	qsort(sorted, n, sizeof(*sorted), obs_cmp);
	size_t j = 0;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		const char *name = ranked[k].node->name;
		while (j < n && strcmp(sorted[j]->name, name) < 0)
			j++;
		p->seen[ranked[k].index] = j < n && strcmp(sorted[j]->name, name) == 0 ? sorted[j]
										      : NULL;
	}
	free(sorted);
	return 0;
}

static int setup(struct pass *p)
{
	const struct desired_state *d = p->d;
	const struct fleet_observation *obs = p->obs;
	size_t n = d->nnodes ? d->nnodes : 1;
	if (d->nnodes > ROLLOUT_MAX_NODES)
		return cf_err_set(p->err, "%zu MacNodes: the rollout follows at most %d",
				  d->nnodes, ROLLOUT_MAX_NODES);
	struct ranked *ranked = calloc(n, sizeof(*ranked));
	p->order = calloc(n, sizeof(*p->order));
	p->seen = calloc(n, sizeof(*p->seen));
	p->entry = calloc(n, sizeof(*p->entry));
	p->target_action = calloc(n, sizeof(*p->target_action));
	p->p95_scratch = calloc(n, sizeof(*p->p95_scratch));
	if (!ranked || !p->order || !p->seen || !p->entry || !p->target_action ||
	    !p->p95_scratch) {
		free(ranked);
		return cf_err_set(p->err, "out of memory");
	}
	for (size_t i = 0; i < d->nnodes; i++) {
		ranked[i] = (struct ranked){i, &d->nodes[i], 0};
		p->target_action[i] = NO_NODE;
	}
	p->weights_action = NO_NODE;
	/* One sort by name serves the state's entries, the observations and the rollout order's
	 * last key. */
	qsort(ranked, d->nnodes, sizeof(*ranked), name_cmp);
	for (size_t k = 0; k < d->nnodes; k++)
		ranked[k].by_name = k;
	int rc = index_nodes(p, ranked);
	if (rc == 0)
		rc = index_observations(p, ranked);
	qsort(ranked, d->nnodes, sizeof(*ranked), rank_cmp);
	for (size_t k = 0; k < d->nnodes; k++) {
		p->order[k] = ranked[k].index;
		if (group_of(ranked[k].node) == GROUP_CANARY)
			p->ncanary = k + 1;
	}
	free(ranked);
	if (rc < 0)
		return -1;

	p->promo = d->npromotions ? &d->promotions[0] : NULL;
	if (p->promo) {
		const struct promotion *promo = p->promo;
		if (strlen(promo->tag) >= sizeof(p->want.tag) ||
		    strlen(promo->skill_semver) >= sizeof(p->want.semver) ||
		    strlen(promo->name) >= sizeof(p->s->promotion_name))
			return cf_err_set(p->err, "Promotion/%.80s: name, tag or skillSemver longer "
						  "than %d", promo->name, ROLLOUT_TEXT_MAX - 1);
		plan_copy_str(p->want.tag, sizeof(p->want.tag), promo->tag);
		plan_copy_str(p->want.semver, sizeof(p->want.semver), promo->skill_semver);
		p->want_known = plan_hex_of_len(obs->promotion_commit, 40);
		if (p->want_known)
			plan_copy_str(p->want.commit, sizeof(p->want.commit), obs->promotion_commit);
		copy_text(p->ticket, sizeof(p->ticket),
			  promo->ticket && *promo->ticket ? promo->ticket : obs->ticket);
	}
	p->lock_sha256 = obs->promotion_lock_sha256 ? obs->promotion_lock_sha256
						    : d->lock.file_sha256;
	copy_text(p->actor, sizeof(p->actor), obs->actor);
	copy_text(p->revision, sizeof(p->revision), d->revision);
	return 0;
}

/* One-shot actions an earlier pass decided and nobody reported done go out again, first. */
static int replay_pending(struct pass *p)
{
	for (size_t i = 0; i < p->s->npending; i++) {
		struct rollout_action *a = plan_new_action(p, p->s->pending[i].kind);
		if (!a)
			return -1;
		if (rollout_action_copy(a, &p->s->pending[i], p->err) < 0) {
			p->out->nactions--;
			return -1;
		}
		p->moved = p->moved || a->kind == ACTION_ROUTE_TENANT;
	}
	return 0;
}

/* The state keeps the clock's reading for a restarted controller (rollout_clock_resume), moved
 * only every ROLLOUT_CLOCK_SAVE_MS so that a pass with nothing else to record writes nothing. */
static void record_clock(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (s->clock_ms && p->now >= s->clock_ms && p->now - s->clock_ms < ROLLOUT_CLOCK_SAVE_MS)
		return;
	s->clock_ms = p->now;
	s->clock_wall_ms = p->wall;
}

int plan(const struct desired_state *desired, const struct fleet_observation *observed,
	 const struct rollout_state *state, int64_t now_ms, struct plan_output *out,
	 struct cf_err *err)
{
	memset(out, 0, sizeof(*out));
	rollout_state_init(&out->next);
	struct pass p = {
		.d = desired,
		.obs = observed,
		.prev = state,
		.now = now_ms,
		.wall = observed->wall_ms ? observed->wall_ms : now_ms,
		.out = out,
		.s = &out->next,
		.err = err,
	};
	int rc = -1;
	if (rollout_state_copy(&out->next, state, err) < 0 || setup(&p) < 0 ||
	    replay_pending(&p) < 0)
		goto done;
	plan_settle_drain(&p);
	if (run(&p) < 0 || plan_safety(&p) < 0 || plan_keep_drain(&p) < 0 ||
	    plan_keep_routes(&p) < 0 || plan_hooks_notify(&p) < 0)
		goto done;
	set_conditions(&p);
	record_clock(&p);
	rc = 0;
done:
	free(p.order);
	free(p.seen);
	free(p.entry);
	free(p.target_action);
	free(p.p95_scratch);
	return rc;
}

struct plan_output *plan_output_new(void)
{
	struct plan_output *out = calloc(1, sizeof(*out));
	if (out)
		rollout_state_init(&out->next);
	return out;
}

void plan_output_delete(struct plan_output *out)
{
	if (!out)
		return;
	plan_output_free(out);
	free(out);
}

void plan_output_free(struct plan_output *out)
{
	for (size_t i = 0; i < out->nactions; i++)
		rollout_action_free(&out->actions[i]);
	free(out->actions);
	free(out->hook_calls);
	rollout_state_free(&out->next);
	memset(out, 0, sizeof(*out));
	rollout_state_init(&out->next);
}
