#include "plan/planner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"
#include "base/names.h"
#include "base/timeparse.h"

/* Percent -> weights (planner.h states the formula). */

struct pool_server {
	const char *server;
	int base;
	bool canary;
	int64_t weight, rem;
	size_t pos; /* name order, for ties */
};

static int server_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pool_server *)a)->server,
		      ((const struct pool_server *)b)->server);
}

static int collect_servers(const struct desired_state *d, struct pool_server **out, size_t *n,
			   struct cf_err *err)
{
	struct pool_server *v = calloc(d->nnodes ? d->nnodes : 1, sizeof(*v));
	if (!v)
		return cf_err_set(err, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < d->nnodes; i++) {
		const struct mac_node *m = &d->nodes[i];
		if (!m->lb_server)
			continue;
		v[k].server = m->lb_server;
		v[k].base = m->lb_weight;
		v[k].canary = m->canary && m->role == NODE_GATEWAY;
		k++;
	}
	qsort(v, k, sizeof(*v), server_cmp);
	for (size_t i = 0; i < k; i++)
		v[i].pos = i;
	*out = v;
	*n = k;
	return 0;
}

static int rem_cmp(const void *a, const void *b)
{
	const struct pool_server *x = *(const struct pool_server *const *)a;
	const struct pool_server *y = *(const struct pool_server *const *)b;
	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Shares total among the servers of one pool in proportion to their base weights: each gets the
 * floor of its quota, and what is left goes one by one to the largest remainders. */
static int apportion(struct pool_server *v, size_t n, bool canary, int64_t total,
		     int64_t base_sum, struct cf_err *err)
{
	struct pool_server **by_rem = malloc((n ? n : 1) * sizeof(*by_rem));
	if (!by_rem)
		return cf_err_set(err, "out of memory");
	size_t members = 0;
	int64_t given = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].canary != canary)
			continue;
		v[i].weight = total * v[i].base / base_sum;
		v[i].rem = total * v[i].base % base_sum;
		given += v[i].weight;
		by_rem[members++] = &v[i];
	}
	qsort(by_rem, members, sizeof(*by_rem), rem_cmp);
	for (size_t i = 0; given < total && i < members; i++, given++)
		by_rem[i]->weight++;
	free(by_rem);
	return 0;
}

static void keep_base(struct pool_server *v, size_t n, bool canary, int64_t m)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].canary == canary)
			v[i].weight = v[i].base * m;
}

static bool all_fit(const struct pool_server *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].weight > WEIGHT_MAX)
			return false;
	return true;
}

static int split(struct pool_server *v, size_t n, int percent, int64_t canary_sum,
		 int64_t stable_sum, struct cf_err *err)
{
	bool canary_kept = (int64_t)percent * stable_sum >= (int64_t)(100 - percent) * canary_sum;
	int64_t share_kept = canary_kept ? percent : 100 - percent;
	int64_t share_other = 100 - share_kept;
	int64_t kept_sum = canary_kept ? canary_sum : stable_sum;
	int64_t other_sum = canary_kept ? stable_sum : canary_sum;
	for (int64_t m = (share_kept + kept_sum - 1) / kept_sum; m >= 1; m--) {
		int64_t other_total = (2 * m * kept_sum * share_other + share_kept) / (2 * share_kept);
		keep_base(v, n, canary_kept, m);
		if (apportion(v, n, !canary_kept, other_total, other_sum, err) < 0)
			return -1;
		if (all_fit(v, n))
			return 0;
	}
	return cf_err_set(err, "no weights of 0..%d express %d %% for these base weights",
			  WEIGHT_MAX, percent);
}

static int fill_map(const struct pool_server *v, size_t n, struct weight_map *out,
		    struct cf_err *err)
{
	weight_map_clear(out);
	for (size_t i = 0; i < n; i++)
		if (weight_map_set(out, v[i].server, (int)v[i].weight, err) < 0)
			return -1;
	return 0;
}

int weights_for_percent(const struct desired_state *desired, int percent, struct weight_map *out,
			struct cf_err *err)
{
	struct pool_server *v = NULL;
	size_t n = 0;
	int rc = -1;
	if (percent < 0 || percent > 100)
		return cf_err_set(err, "percent %d is outside 0..100", percent);
	if (collect_servers(desired, &v, &n, err) < 0)
		return -1;
	int64_t canary_sum = 0, stable_sum = 0;
	for (size_t i = 0; i < n; i++)
		*(v[i].canary ? &canary_sum : &stable_sum) += v[i].base;
	if (percent > 0 && canary_sum == 0) {
		cf_err_set(err, "no canary gateway with a load-balancer weight above 0 to send %d %% "
				"of sessions to", percent);
		goto done;
	}
	if (stable_sum == 0 || percent == 100) {
		keep_base(v, n, true, 1);
		keep_base(v, n, false, 0);
	} else if (percent == 0) {
		keep_base(v, n, true, 0);
		keep_base(v, n, false, 1);
	} else if (split(v, n, percent, canary_sum, stable_sum, err) < 0) {
		goto done;
	}
	rc = fill_map(v, n, out, err);
done:
	free(v);
	return rc;
}

int weights_declared(const struct desired_state *desired, struct weight_map *out,
		     struct cf_err *err)
{
	struct pool_server *v = NULL;
	size_t n = 0;
	if (collect_servers(desired, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		v[i].weight = v[i].base;
	int rc = fill_map(v, n, out, err);
	free(v);
	return rc;
}

/* The rollout. */

/* The order nodes move in: canary gateways, stable gateways, workers, notifiers; each group by
 * zone, then name. Workers and notifiers follow the gateways and never lead them. */
enum group { GROUP_CANARY, GROUP_STABLE, GROUP_WORKER, GROUP_NOTIFIER };

enum target_kind {
	TARGET_SHADOW,	 /* the canary: the new build, skills/next, canary tenants on next */
	TARGET_FINAL,	 /* the new build, skills/current, every tenant on current */
	TARGET_ROLLBACK, /* the last good build, skills/current */
};

#define NO_NODE SIZE_MAX
#define BRING_UP_NOTE "no earlier version to compare a canary with: bringing nodes up one at a time"

struct verdict {
	enum probe_status status;
	size_t node; /* desired node index; NO_NODE when green */
	const char *reason;
};

struct pass {
	const struct desired_state *d;
	const struct promotion *promo; /* NULL: no Promotion in the repository */
	const struct fleet_observation *obs;
	const struct rollout_state *prev;
	int64_t now;
	struct plan_output *out;
	struct rollout_state *s; /* &out->next */
	struct cf_err *err;

	size_t *order; /* desired node indexes in rollout order */
	size_t ncanary; /* order[0..ncanary) are the canary gateways */
	const struct node_observation **seen; /* per desired node; NULL when not reported */
	struct rollout_node **entry;	      /* per desired node, in s->nodes */
	size_t *target_action;		      /* per desired node: its NODE_TARGET this pass */
	size_t weights_action;		      /* the SET_WEIGHTS of this pass */

	bool want_known; /* the Promotion's build, with the commit its tag names */
	struct rollout_version want;
	const char *lock_sha256; /* what every node on the new build must report */
	char actor[ROLLOUT_TEXT_MAX];
	char ticket[AUDIT_TICKET_MAX];
	char revision[ROLLOUT_REVISION_MAX];

	bool suspended;
	bool busy;  /* the pass waits for the fleet to catch up */
	bool moved; /* the pass changes a node, a weight or a route */
	char progress[ROLLOUT_MESSAGE_MAX];
	char stall_reason[ROLLOUT_REASON_MAX];
	char stall_message[ROLLOUT_MESSAGE_MAX];
};

static void copy_str(char *dst, size_t size, const char *src)
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
static void copy_code(char *dst, size_t size, const char *src)
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

static bool hex_of_len(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	return strspn(s, "0123456789abcdef") == len;
}

static bool same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool same_version(const struct rollout_version *a, const struct rollout_version *b)
{
	return strcmp(a->tag, b->tag) == 0 && strcmp(a->commit, b->commit) == 0 &&
	       strcmp(a->semver, b->semver) == 0;
}

static const char *node_name(const struct pass *p, size_t i)
{
	return i == NO_NODE ? "" : p->d->nodes[i].name;
}

static bool reachable(const struct pass *p, size_t i)
{
	return p->seen[i] && p->seen[i]->reachable;
}

/* The node reports the build: its infra commit and skills/current. */
static bool runs_version(const struct pass *p, size_t i, const struct rollout_version *v)
{
	const struct node_observation *o = p->seen[i];
	return reachable(p, i) && same_str(o->commit, v->commit) &&
	       same_str(o->skills_current, v->semver);
}

static int64_t max_hold(const struct pass *p)
{
	return p->promo ? p->promo->max_hold_ms : 0;
}

static void progress(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(struct pass *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->progress, sizeof(p->progress), fmt, ap);
	va_end(ap);
}

/* snprintf that may cut: keys and messages name tags of up to 255 bytes. */
static void format(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void format(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

static void stall(struct pass *p, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void stall(struct pass *p, const char *reason, const char *fmt, ...)
{
	va_list ap;
	copy_str(p->stall_reason, sizeof(p->stall_reason), reason);
	va_start(ap, fmt);
	vsnprintf(p->stall_message, sizeof(p->stall_message), fmt, ap);
	va_end(ap);
}

/* The rollout waits for the fleet; past maxHold in one stage it says so (Stalled) and keeps
 * waiting: nothing it could do alone would be safer. */
static void waiting(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void waiting(struct pass *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->progress, sizeof(p->progress), fmt, ap);
	va_end(ap);
	p->busy = true;
	int64_t limit = max_hold(p);
	if (limit > 0 && p->now - p->s->stage_started_ms > limit && !p->stall_reason[0]) {
		char d[32];
		duration_format(limit, d, sizeof(d));
		stall(p, "ProgressDeadlineExceeded", "%s for more than %s", p->progress, d);
	}
}

static void enter(struct pass *p, enum rollout_phase phase)
{
	p->s->phase = phase;
	p->s->stage_started_ms = p->now;
}

/* Actions. */

static struct rollout_action *new_action(struct pass *p, enum rollout_action_kind kind)
{
	struct plan_output *o = p->out;
	if (o->nactions == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct rollout_action *v = realloc(o->actions, cap * sizeof(*v));
		if (!v) {
			cf_err_set(p->err, "out of memory");
			return NULL;
		}
		o->actions = v;
		o->cap = cap;
	}
	struct rollout_action *a = &o->actions[o->nactions++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

/* One NODE_TARGET per node per pass: a later one in the same pass replaces the earlier. */
static int emit_target(struct pass *p, size_t i, const struct target *t)
{
	struct rollout_action *a;
	if (p->target_action[i] != NO_NODE) {
		a = &p->out->actions[p->target_action[i]];
	} else {
		a = new_action(p, ACTION_NODE_TARGET);
		if (!a)
			return -1;
		a->u.node_target.target = malloc(sizeof(struct target));
		if (!a->u.node_target.target) {
			p->out->nactions--;
			return cf_err_set(p->err, "out of memory");
		}
		copy_str(a->u.node_target.node, sizeof(a->u.node_target.node), node_name(p, i));
		p->target_action[i] = p->out->nactions - 1;
	}
	*a->u.node_target.target = *t;
	p->moved = true;
	return 0;
}

static int emit_weights(struct pass *p, const struct weight_map *m)
{
	struct rollout_action *a;
	if (p->weights_action != NO_NODE) {
		a = &p->out->actions[p->weights_action];
	} else {
		a = new_action(p, ACTION_SET_WEIGHTS);
		if (!a)
			return -1;
		p->weights_action = p->out->nactions - 1;
	}
	p->moved = true;
	return rollout_weights_copy(&a->u.weights, m, p->err);
}

/* A one-shot action goes out now and waits in the state's pending list until reported done. */
static int emit_once(struct pass *p, struct rollout_action *a)
{
	struct rollout_state *s = p->s;
	if (s->npending == ROLLOUT_PENDING_MAX)
		return cf_err_set(p->err, "%d one-shot actions are pending: the controller must "
				  "report each one done (rollout_pending_done)",
				  ROLLOUT_PENDING_MAX);
	struct rollout_action *v = realloc(s->pending, (s->npending + 1) * sizeof(*v));
	if (!v)
		return cf_err_set(p->err, "out of memory");
	s->pending = v;
	a->id = s->next_action_id++;
	if (rollout_action_copy(&s->pending[s->npending], a, p->err) < 0)
		return -1;
	s->npending++;
	return 0;
}

static int emit_route(struct pass *p, const char *tenant, bool canary)
{
	struct rollout_action *a = new_action(p, ACTION_ROUTE_TENANT);
	if (!a)
		return -1;
	copy_str(a->u.route.tenant, sizeof(a->u.route.tenant), tenant);
	a->u.route.canary = canary;
	p->moved = true;
	return emit_once(p, a);
}

static const char *canary_probe(const struct pass *p)
{
	if (!p->ncanary || !reachable(p, p->order[0]))
		return "";
	const char *sha = p->seen[p->order[0]]->probe_sha256;
	return hex_of_len(sha, 64) ? sha : "";
}

/* from and to: a rollback goes from the build being rolled out to the last good one; anything
 * else from the last good build (none before a bring-up) to the one being rolled out. */
static int emit_audit(struct pass *p, enum audit_event event, enum rollout_phase phase,
		      const char *reason)
{
	const struct rollout_state *s = p->s;
	struct rollout_action *a = new_action(p, ACTION_AUDIT);
	if (!a)
		return -1;
	struct rollout_audit *au = calloc(1, sizeof(*au));
	if (!au) {
		p->out->nactions--;
		return cf_err_set(p->err, "out of memory");
	}
	a->u.audit = au;
	au->event = event;
	au->ts_ms = p->now;
	copy_str(au->promotion, sizeof(au->promotion), s->promotion_name);
	copy_str(au->revision, sizeof(au->revision), p->revision);
	copy_str(au->actor, sizeof(au->actor), p->actor);
	copy_str(au->ticket, sizeof(au->ticket), p->ticket);
	struct rollout_version none = {0};
	const struct rollout_version *good = s->has_last_good ? &s->last_good : &none;
	bool backwards = event == AUDIT_ROLLBACK || event == AUDIT_ROLLED_BACK ||
			 event == AUDIT_QUARANTINED;
	au->from = backwards ? s->promotion : *good;
	au->to = backwards ? *good : s->promotion;
	au->phase = phase;
	au->step = s->step;
	au->percent = s->percent;
	copy_str(au->probe_sha256, sizeof(au->probe_sha256), canary_probe(p));
	copy_code(au->reason, sizeof(au->reason), reason);
	if (rollout_weights_copy(&au->weights, &s->planned_weights, p->err) < 0)
		return -1;
	return emit_once(p, a);
}

/* Broadcast once per situation: an equal key to the last broadcast is not repeated. */
static int emit_broadcast(struct pass *p, enum broadcast_verdict verdict, const char *key,
			  size_t node, const char *reason, const char *message)
{
	struct rollout_state *s = p->s;
	if (strcmp(s->broadcast_key, key) == 0)
		return 0;
	copy_str(s->broadcast_key, sizeof(s->broadcast_key), key);
	struct rollout_action *a = new_action(p, ACTION_BROADCAST);
	if (!a)
		return -1;
	a->u.broadcast.verdict = verdict;
	copy_str(a->u.broadcast.node, sizeof(a->u.broadcast.node), node_name(p, node));
	copy_code(a->u.broadcast.reason, sizeof(a->u.broadcast.reason), reason);
	copy_str(a->u.broadcast.message, sizeof(a->u.broadcast.message), message);
	return emit_once(p, a);
}

/* Targets. */

static int build_target(struct pass *p, enum target_kind kind, struct target *t)
{
	const struct rollout_state *s = p->s;
	const struct rollout_version *v = kind == TARGET_ROLLBACK ? &s->last_good : &s->promotion;
	memset(t, 0, sizeof(*t));
	copy_str(t->tag, sizeof(t->tag), v->tag);
	copy_str(t->commit, sizeof(t->commit), v->commit);
	copy_str(t->skills_semver, sizeof(t->skills_semver), v->semver);
	t->skills_link = kind == TARGET_SHADOW ? TARGET_LINK_NEXT : TARGET_LINK_CURRENT;
	if (p->d->ntenants > TARGET_MAX_TENANTS)
		return cf_err_set(p->err, "%zu TenantSlices: a node target holds at most %d",
				  p->d->ntenants, TARGET_MAX_TENANTS);
	for (size_t i = 0; i < p->d->ntenants; i++) {
		const struct tenant_slice *ts = &p->d->tenants[i];
		if (strlen(ts->name) >= sizeof(t->tenants[0].name))
			return cf_err_set(p->err, "TenantSlice/%.80s: name longer than %zu", ts->name,
					  sizeof(t->tenants[0].name) - 1);
		copy_str(t->tenants[i].name, sizeof(t->tenants[i].name), ts->name);
		t->tenants[i].canary = kind == TARGET_SHADOW && ts->channel == CHANNEL_CANARY;
	}
	t->ntenants = p->d->ntenants;
	t->restart = true;
	return 0;
}

static int target_digest(struct pass *p, const struct target *t, char out[65])
{
	char *json = NULL;
	size_t len = 0;
	struct target content = *t;
	content.generation = 0;
	if (target_render(&content, &json, &len, p->err) < 0)
		return -1;
	canon_sha256_hex(json, len, out);
	free(json);
	return 0;
}

/* Node i is to run the target of kind: a new generation when what it says changed, the same one
 * again while the node does not report it (the agent applies a generation once, so one kickstart
 * per generation). *acked: the node reports it as observedGeneration. */
static int ensure_target(struct pass *p, size_t i, enum target_kind kind, bool *acked)
{
	struct target t;
	char digest[65];
	if (build_target(p, kind, &t) < 0 || target_digest(p, &t, digest) < 0)
		return -1;
	struct rollout_node *e = p->entry[i];
	int64_t reported = reachable(p, i) ? p->seen[i]->observed_generation : 0;
	if (strcmp(e->digest, digest) != 0) {
		e->generation = (e->generation > reported ? e->generation : reported) + 1;
		memcpy(e->digest, digest, sizeof(e->digest));
	}
	e->touched = true;
	*acked = reachable(p, i) && reported >= e->generation;
	if (*acked)
		return 0;
	t.generation = e->generation;
	return emit_target(p, i, &t);
}

static bool is_canary(const struct pass *p, size_t i)
{
	const struct mac_node *m = &p->d->nodes[i];
	return m->canary && m->role == NODE_GATEWAY;
}

static enum target_kind kind_for(const struct pass *p, size_t i)
{
	const struct rollout_state *s = p->s;
	if (s->phase == ROLLOUT_ROLLING_BACK || s->phase == ROLLOUT_ROLLED_BACK)
		return TARGET_ROLLBACK;
	if (is_canary(p, i) && !s->bring_up && s->phase != ROLLOUT_FINALISING &&
	    s->phase != ROLLOUT_SUCCEEDED)
		return TARGET_SHADOW;
	return TARGET_FINAL;
}

/* Nodes the rollout moved keep their target (sent again if they lost it). *all_acked may be
 * NULL; *first is the first that does not report it. */
static int keep_targets(struct pass *p, bool *all_acked, size_t *first)
{
	if (all_acked)
		*all_acked = true;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		bool acked;
		if (!p->entry[i]->touched)
			continue;
		if (ensure_target(p, i, kind_for(p, i), &acked) < 0)
			return -1;
		if (!acked && all_acked && *all_acked) {
			*all_acked = false;
			*first = i;
		}
	}
	return 0;
}

/* Weights. */

static bool weights_match(const struct weight_map *seen, const struct weight_map *want)
{
	for (size_t i = 0; i < want->n; i++) {
		const struct weight_entry *w = &want->v[i];
		const struct weight_entry *g =
			i < seen->n && strcmp(seen->v[i].server, w->server) == 0
				? &seen->v[i]
				: weight_map_find(seen, w->server);
		if (!g || g->weight != w->weight)
			return false;
	}
	return true;
}

/* The load balancer is to report want; SET_WEIGHTS until it does (a map that cannot be read
 * counts as not matching). */
static int ensure_weights(struct pass *p, const struct weight_map *want, bool *matched)
{
	if (rollout_weights_copy(&p->s->planned_weights, want, p->err) < 0)
		return -1;
	*matched = p->obs->weights_ok && weights_match(&p->obs->weights, want);
	return *matched ? 0 : emit_weights(p, want);
}

static int route_canary_tenants(struct pass *p, bool canary)
{
	for (size_t i = 0; i < p->d->ntenants; i++) {
		const struct tenant_slice *ts = &p->d->tenants[i];
		if (ts->channel == CHANNEL_CANARY && ts->routing_header &&
		    emit_route(p, ts->name, canary) < 0)
			return -1;
	}
	p->s->canary_routed = canary;
	return 0;
}

/* Every node the rollout moved and that reports its target: the worst probe among them, the
 * first in rollout order on a tie. A node that does not answer is degraded; one that has not
 * applied its target yet still describes the build before it, so it is not judged. */
static struct verdict judge(const struct pass *p)
{
	struct verdict v = {PROBE_GREEN, NO_NODE, NULL};
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct rollout_node *e = p->entry[i];
		const struct node_observation *o = p->seen[i];
		enum probe_status status;
		const char *reason;
		if (!e->touched || !e->generation)
			continue;
		if (!reachable(p, i)) {
			status = PROBE_DEGRADED;
			reason = "node.unreachable";
		} else if (o->observed_generation < e->generation) {
			continue;
		} else {
			status = o->status;
			reason = o->nreasons && o->reasons[0]	? o->reasons[0]
				 : status == PROBE_RED		? "probe.red"
								: "probe.degraded";
		}
		if (status > v.status)
			v = (struct verdict){status, i, reason};
	}
	return v;
}

/* Never widen while a peer is not green: a gateway still on the build before, that takes traffic
 * and does not answer green, keeps the canary at its step. It is not the canary's doing, so it
 * neither holds nor rolls the rollout back. Returns the first such gateway, or NO_NODE. */
static size_t peer_not_green(const struct pass *p, const char **reason)
{
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct mac_node *m = &p->d->nodes[i];
		const struct node_observation *o = p->seen[i];
		if (m->role != NODE_GATEWAY || !m->lb_server || !m->lb_weight ||
		    p->entry[i]->touched)
			continue;
		if (!reachable(p, i)) {
			*reason = "node.unreachable";
			return i;
		}
		if (o->status != PROBE_GREEN) {
			*reason = o->nreasons && o->reasons[0] ? o->reasons[0]
							       : probe_status_name(o->status);
			return i;
		}
	}
	return NO_NODE;
}

/* Lock parity: a node about to take traffic on the new build reports the promotion's
 * openclaw.lock sha256 and a version matching it. */
static bool parity_ok(const struct pass *p, size_t i)
{
	const struct node_observation *o = p->seen[i];
	return reachable(p, i) && o->version_match && p->lock_sha256[0] &&
	       same_str(o->lock_sha256, p->lock_sha256);
}

static void add_history(struct pass *p, enum rollout_outcome outcome, const char *reason)
{
	struct rollout_state *s = p->s;
	if (s->nhistory == ROLLOUT_HISTORY_MAX) {
		memmove(&s->history[0], &s->history[1], (s->nhistory - 1) * sizeof(s->history[0]));
		s->nhistory--;
	}
	struct rollout_record *r = &s->history[s->nhistory++];
	memset(r, 0, sizeof(*r));
	copy_str(r->promotion, sizeof(r->promotion), s->promotion_name);
	if (s->has_last_good)
		r->from = s->last_good;
	r->to = s->promotion;
	r->outcome = outcome;
	copy_code(r->reason, sizeof(r->reason), reason);
	r->started_ms = s->started_ms;
	r->finished_ms = p->now;
}

static const struct rollout_quarantine *quarantined(const struct rollout_state *s,
						    const struct rollout_version *v)
{
	for (size_t i = 0; i < s->nquarantined; i++)
		if (strcmp(s->quarantined[i].tag, v->tag) == 0 &&
		    strcmp(s->quarantined[i].commit, v->commit) == 0)
			return &s->quarantined[i];
	return NULL;
}

static void quarantine(struct pass *p, const char *reason)
{
	struct rollout_state *s = p->s;
	if (quarantined(s, &s->promotion))
		return;
	if (s->nquarantined == ROLLOUT_QUARANTINE_MAX) {
		memmove(&s->quarantined[0], &s->quarantined[1],
			(s->nquarantined - 1) * sizeof(s->quarantined[0]));
		s->nquarantined--;
	}
	struct rollout_quarantine *q = &s->quarantined[s->nquarantined++];
	memset(q, 0, sizeof(*q));
	copy_str(q->tag, sizeof(q->tag), s->promotion.tag);
	copy_str(q->commit, sizeof(q->commit), s->promotion.commit);
	copy_code(q->reason, sizeof(q->reason), reason);
	q->at_ms = p->now;
}

/* Phases. Each handler judges the nodes first (so a red verdict never follows a re-sent target
 * in the same pass), then keeps or moves the fleet, then says what it waits for. A step forward
 * lists its audit line before the motion it records, so a controller that stops at a failed
 * action never moves a build it could not record; a rollback moves first and records after, so
 * a log that cannot be written never keeps a bad build in service. */

static int dispatch(struct pass *p);
static int step_bring_up(struct pass *p);
static int step_mirroring(struct pass *p);

static int start_rollback(struct pass *p, const char *reason, size_t node, bool quarantine_it);

static int hold(struct pass *p, const char *reason, size_t node)
{
	struct rollout_state *s = p->s;
	if (s->phase != ROLLOUT_HELD) {
		s->held_from = s->phase;
		s->hold_started_ms = p->now;
		enter(p, ROLLOUT_HELD);
		if (emit_audit(p, AUDIT_HELD, ROLLOUT_HELD, reason) < 0)
			return -1;
	}
	copy_code(s->held_reason, sizeof(s->held_reason), reason);
	copy_str(s->held_node, sizeof(s->held_node), node_name(p, node));
	char key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	format(key, sizeof(key), "hold/%s/%s", s->held_node, s->held_reason);
	format(message, sizeof(message), "holding %s (skills %s) at %d %%: %s reports %s",
		 s->promotion.tag, s->promotion.semver, s->percent, s->held_node, s->held_reason);
	progress(p, "%s", message);
	return emit_broadcast(p, VERDICT_HOLD, key, node, s->held_reason, message);
}

/* A red verdict, a lock parity failure or a hold past maxHold: roll back when the Promotion lets
 * the controller, else hold and say that a person has to decide. */
static int fail(struct pass *p, const char *reason, size_t node)
{
	if (p->promo && !p->promo->rollback_automatic) {
		if (hold(p, reason, node) < 0)
			return -1;
		stall(p, "RollbackRequired",
		      "%s%s%s; spec.rollback.automatic is false: set spec.abort to roll back",
		      node_name(p, node), node == NO_NODE ? "" : ": ", p->s->held_reason);
		return 0;
	}
	return start_rollback(p, reason, node, true);
}

static int start_analysis(struct pass *p)
{
	struct rollout_state *s = p->s;
	enter(p, ROLLOUT_ANALYSING);
	s->step_started_ms = s->window_started_ms = p->now;
	s->green_windows = 0;
	progress(p, "step %d (%d %%): analysing, 0 of %d green windows", s->step, s->percent,
		 p->promo->green_windows);
	return 0;
}

/* Moves the canary to canary.steps[idx]: lock parity on every canary gateway first, then the
 * audit line, the weights and the canary tenants' route (the first time the canary takes
 * traffic). */
static int advance(struct pass *p, size_t idx)
{
	struct rollout_state *s = p->s;
	struct weight_map m = {0};
	struct cf_err why;
	bool matched;
	int rc = -1;
	for (size_t k = 0; k < p->ncanary; k++)
		if (!parity_ok(p, p->order[k]))
			return fail(p, "lock.parity", p->order[k]);
	int percent = p->promo->steps[idx];
	if (weights_for_percent(p->d, percent, &m, &why) < 0) {
		stall(p, "WeightsUnavailable", "step %zu (%d %%): %s", idx + 1, percent, why.msg);
		rc = 0;
		goto done;
	}
	s->step = (int)idx + 1;
	s->percent = percent;
	enter(p, ROLLOUT_PROMOTING);
	if (rollout_weights_copy(&s->planned_weights, &m, p->err) < 0 ||
	    emit_audit(p, AUDIT_STEP, ROLLOUT_PROMOTING, "") < 0 ||
	    ensure_weights(p, &m, &matched) < 0 ||
	    (!s->canary_routed && route_canary_tenants(p, true) < 0))
		goto done;
	if (matched)
		rc = start_analysis(p);
	else {
		waiting(p, "step %d (%d %%): waiting for the load balancer to report the planned "
			   "weights", s->step, s->percent);
		rc = 0;
	}
done:
	weight_map_free(&m);
	return rc;
}

static size_t next_step(const struct promotion *promo, int percent)
{
	for (size_t i = 0; i < promo->nsteps; i++)
		if (promo->steps[i] > percent)
			return i;
	return NO_NODE;
}

/* Shadow: the canary gateways get the new build beside the old one (skills/next, canary tenants
 * on next) and a kickstart; no weight moves. Once every canary reports it and is green, the
 * first step. */
static int step_shadow(struct pass *p)
{
	struct verdict v = judge(p);
	if (v.status == PROBE_RED)
		return fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED)
		return hold(p, v.reason, v.node);
	size_t first = NO_NODE;
	for (size_t k = 0; k < p->ncanary; k++) {
		bool acked;
		if (ensure_target(p, p->order[k], TARGET_SHADOW, &acked) < 0)
			return -1;
		if (!acked && first == NO_NODE)
			first = p->order[k];
	}
	if (first != NO_NODE) {
		waiting(p, "Shadow: waiting for %s to apply generation %lld", node_name(p, first),
			(long long)p->entry[first]->generation);
		return 0;
	}
	if (!p->ncanary) {
		stall(p, "NoCanary", "no MacNode is a canary gateway (role gateway, canary: true)");
		return 0;
	}
	const char *why;
	size_t peer = peer_not_green(p, &why);
	if (peer != NO_NODE) {
		waiting(p, "Shadow: green; waiting for %s (%s) before the first step: never widen "
			   "while a peer is not green", node_name(p, peer), why);
		return 0;
	}
	return advance(p, 0);
}

static int step_promoting(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct weight_map m = {0};
	struct cf_err why;
	bool matched;
	int rc = -1;
	struct verdict v = judge(p);
	if (v.status == PROBE_RED)
		return fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED)
		return hold(p, v.reason, v.node);
	if (keep_targets(p, NULL, NULL) < 0)
		return -1;
	if (weights_for_percent(p->d, s->percent, &m, &why) < 0) {
		stall(p, "WeightsUnavailable", "step %d (%d %%): %s", s->step, s->percent, why.msg);
		rc = 0;
		goto done;
	}
	if (ensure_weights(p, &m, &matched) < 0)
		goto done;
	if (matched)
		rc = start_analysis(p);
	else {
		waiting(p, "step %d (%d %%): waiting for the load balancer to report the planned "
			   "weights", s->step, s->percent);
		rc = 0;
	}
done:
	weight_map_free(&m);
	return rc;
}

static int begin_mirroring(struct pass *p)
{
	struct rollout_state *s = p->s;
	enter(p, ROLLOUT_MIRRORING);
	s->mirror_index = 0;
	s->mirror_stage = MIRROR_DRAIN;
	s->mirror_node[0] = '\0';
	if (emit_audit(p, AUDIT_STEP, ROLLOUT_MIRRORING, "") < 0)
		return -1;
	return step_mirroring(p);
}

/* Analysing: each step holds for at least analysisInterval after its weights were read back and
 * needs greenWindows consecutive green windows. Windows are counted by time: a window is one
 * analysisInterval in which every judged probe was green; anything else holds or rolls back,
 * and the count starts again when the rollout resumes. */
static int step_analysing(struct pass *p)
{
	struct rollout_state *s = p->s;
	const struct promotion *promo = p->promo;
	struct weight_map m = {0};
	struct cf_err why;
	int rc = -1;
	bool acked;
	size_t first = NO_NODE;
	struct verdict v = judge(p);
	if (v.status == PROBE_RED)
		return fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED)
		return hold(p, v.reason, v.node);
	if (keep_targets(p, &acked, &first) < 0)
		return -1;
	if (weights_for_percent(p->d, s->percent, &m, &why) < 0) {
		stall(p, "WeightsUnavailable", "step %d (%d %%): %s", s->step, s->percent, why.msg);
		rc = 0;
		goto done;
	}
	if (p->obs->weights_ok && !weights_match(&p->obs->weights, &m)) {
		/* The load balancer lost the step's weights (a restart): set them again and
		 * count the step's time from when they read back. */
		bool matched;
		enter(p, ROLLOUT_PROMOTING);
		if (ensure_weights(p, &m, &matched) < 0)
			goto done;
		waiting(p, "step %d (%d %%): the load balancer lost the planned weights; setting "
			   "them again", s->step, s->percent);
		rc = 0;
		goto done;
	}
	if (!acked) {
		s->window_started_ms = p->now;
		s->green_windows = 0;
		waiting(p, "step %d (%d %%): waiting for %s to apply generation %lld", s->step,
			s->percent, node_name(p, first), (long long)p->entry[first]->generation);
		rc = 0;
		goto done;
	}
	int64_t interval = promo->analysis_interval_ms > 0 ? promo->analysis_interval_ms : 1;
	int need = promo->green_windows > 0 ? promo->green_windows : 1;
	if (p->now > s->window_started_ms) {
		int64_t done_windows = (p->now - s->window_started_ms) / interval;
		s->window_started_ms += done_windows * interval;
		s->green_windows = done_windows >= need - s->green_windows
					   ? need
					   : s->green_windows + (int)done_windows;
	}
	if (s->green_windows < need || p->now - s->step_started_ms < interval) {
		progress(p, "step %d (%d %%): analysing, %d of %d green windows", s->step, s->percent,
			 s->green_windows, need);
		rc = 0;
		goto done;
	}
	if (!p->obs->weights_ok) {
		waiting(p, "step %d (%d %%): green; waiting to read the load balancer's weights "
			   "before the next step", s->step, s->percent);
		rc = 0;
		goto done;
	}
	const char *peer_reason;
	size_t peer = peer_not_green(p, &peer_reason);
	if (peer != NO_NODE) {
		waiting(p, "step %d (%d %%): green; waiting for %s (%s) before the next step: never "
			   "widen while a peer is not green", s->step, s->percent,
			node_name(p, peer), peer_reason);
		rc = 0;
		goto done;
	}
	size_t next = next_step(promo, s->percent);
	rc = next == NO_NODE ? begin_mirroring(p) : advance(p, next);
done:
	weight_map_free(&m);
	return rc;
}

static int enter_finalising(struct pass *p);

static bool takes_traffic(const struct pass *p, size_t i)
{
	const struct mac_node *m = &p->d->nodes[i];
	return m->role == NODE_GATEWAY && m->lb_server;
}

/* Mirroring: the stable gateways one at a time, in zone then name order: drain its weight (the
 * others keep the last step's split), give it the new build on skills/current with every tenant
 * on current and a kickstart, wait until it reports the target and is green, check its lock,
 * restore its weight. Workers and notifiers follow in the same way without the weights. */
static int step_mirroring(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct weight_map last = {0}, m = {0};
	struct cf_err why;
	int rc = -1;
	bool matched, acked;
	size_t n = p->d->nnodes - p->ncanary;
	struct verdict v = judge(p);
	if (v.status == PROBE_RED)
		return fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED)
		return hold(p, v.reason, v.node);
	if (keep_targets(p, NULL, NULL) < 0)
		return -1;
	if (weights_for_percent(p->d, s->percent, &last, &why) < 0) {
		stall(p, "WeightsUnavailable", "mirroring at %d %%: %s", s->percent, why.msg);
		rc = 0;
		goto done;
	}
	/* Each node passes through three stages at most; the bound is a guard. */
	for (size_t guard = 0; guard <= 3 * n && s->mirror_index < n; guard++) {
		size_t i = p->order[p->ncanary + s->mirror_index];
		const char *name = node_name(p, i);
		const char *server = p->d->nodes[i].lb_server;
		if (strcmp(s->mirror_node, name) != 0) {
			copy_str(s->mirror_node, sizeof(s->mirror_node), name);
			s->mirror_stage = MIRROR_DRAIN;
		}
		switch (s->mirror_stage) {
		case MIRROR_DRAIN:
			if (takes_traffic(p, i)) {
				if (rollout_weights_copy(&m, &last, p->err) < 0 ||
				    weight_map_set(&m, server, 0, p->err) < 0 ||
				    ensure_weights(p, &m, &matched) < 0)
					goto done;
				if (!matched) {
					waiting(p, "mirroring %s (%zu of %zu): draining its weight",
						name, s->mirror_index + 1, n);
					rc = 0;
					goto done;
				}
			}
			s->mirror_stage = MIRROR_UPGRADE;
			s->stage_started_ms = p->now;
			break;
		case MIRROR_UPGRADE:
			if (ensure_target(p, i, TARGET_FINAL, &acked) < 0)
				goto done;
			if (!acked) {
				waiting(p, "mirroring %s (%zu of %zu): waiting for it to apply "
					   "generation %lld",
					name, s->mirror_index + 1, n,
					(long long)p->entry[i]->generation);
				rc = 0;
				goto done;
			}
			if (takes_traffic(p, i) && !parity_ok(p, i)) {
				rc = fail(p, "lock.parity", i);
				goto done;
			}
			s->mirror_stage = MIRROR_RESTORE;
			s->stage_started_ms = p->now;
			break;
		case MIRROR_RESTORE:
			if (takes_traffic(p, i)) {
				if (ensure_weights(p, &last, &matched) < 0)
					goto done;
				if (!matched) {
					waiting(p, "mirroring %s (%zu of %zu): restoring its weight",
						name, s->mirror_index + 1, n);
					rc = 0;
					goto done;
				}
			}
			s->mirror_index++;
			s->mirror_stage = MIRROR_DRAIN;
			s->mirror_node[0] = '\0';
			s->stage_started_ms = p->now;
			break;
		}
	}
	rc = s->mirror_index < n ? 0 : enter_finalising(p);
done:
	weight_map_free(&last);
	weight_map_free(&m);
	return rc;
}

/* No earlier version anywhere: nothing to compare a canary with and nothing to roll back to, so
 * the nodes come up one at a time (canary gateways, stable gateways, workers, notifiers), each
 * waiting until it is green; no weights move until Finalising sets the declared map. */
static int step_bring_up(struct pass *p)
{
	struct rollout_state *s = p->s;
	size_t n = p->d->nnodes;
	bool acked;
	if (keep_targets(p, NULL, NULL) < 0)
		return -1;
	for (; s->mirror_index < n; s->mirror_index++) {
		size_t i = p->order[s->mirror_index];
		const char *name = node_name(p, i);
		copy_str(s->mirror_node, sizeof(s->mirror_node), name);
		if (ensure_target(p, i, TARGET_FINAL, &acked) < 0)
			return -1;
		if (!acked) {
			waiting(p, BRING_UP_NOTE " (%s, %zu of %zu: waiting for generation %lld)",
				name, s->mirror_index + 1, n, (long long)p->entry[i]->generation);
			return 0;
		}
		const struct node_observation *o = p->seen[i];
		const char *reason = o->nreasons && o->reasons[0] ? o->reasons[0] : "";
		if (o->status == PROBE_RED) {
			progress(p, BRING_UP_NOTE " (%s, %zu of %zu: red)", name, s->mirror_index + 1,
				 n);
			stall(p, "NoBaseline",
			      "%s is red (%s) and there is no earlier version to roll back to: fix "
			      "the node or name another tag", name, reason);
			return 0;
		}
		if (o->status != PROBE_GREEN) {
			waiting(p, BRING_UP_NOTE " (%s, %zu of %zu: waiting for green, %s)", name,
				s->mirror_index + 1, n, reason);
			return 0;
		}
		s->stage_started_ms = p->now;
	}
	s->mirror_node[0] = '\0';
	return enter_finalising(p);
}

static int succeed(struct pass *p, const struct weight_map *declared)
{
	struct rollout_state *s = p->s;
	char key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	enter(p, ROLLOUT_SUCCEEDED);
	if (emit_audit(p, AUDIT_SUCCEEDED, ROLLOUT_SUCCEEDED, "") < 0)
		return -1;
	add_history(p, OUTCOME_SUCCEEDED, "");
	s->has_last_good = true;
	s->last_good = s->promotion;
	if (rollout_weights_copy(&s->last_good_weights, declared, p->err) < 0)
		return -1;
	s->bring_up = false;
	format(key, sizeof(key), "promote/%s@%s/%lld", s->promotion.tag, s->promotion.commit,
		 (long long)s->started_ms);
	format(message, sizeof(message), "%s (skills %s) runs on every node", s->promotion.tag,
		 s->promotion.semver);
	progress(p, "%s", message);
	return emit_broadcast(p, VERDICT_PROMOTE, key, NO_NODE, "succeeded", message);
}

/* Finalising: every node on the new build with skills/current (the canary moves off next, its
 * canary tenants onto current and back to the stable pool), the declared weights; done when
 * every node reports its target, runs the build and is green: then the last-good snapshot. */
static int step_finalising(struct pass *p, bool entering)
{
	struct rollout_state *s = p->s;
	struct weight_map declared = {0};
	bool matched, acked;
	size_t first = NO_NODE;
	int rc = -1;
	if (weights_declared(p->d, &declared, p->err) < 0 ||
	    ensure_weights(p, &declared, &matched) < 0)
		goto done;
	if (entering && s->canary_routed && route_canary_tenants(p, false) < 0)
		goto done;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		if (ensure_target(p, i, TARGET_FINAL, &acked) < 0)
			goto done;
		if ((!acked || !runs_version(p, i, &s->promotion)) && first == NO_NODE)
			first = i;
	}
	struct verdict v = judge(p);
	if (first != NO_NODE) {
		waiting(p, "finalising: waiting for %s to run %s with skills/current at %s",
			node_name(p, first), s->promotion.tag, s->promotion.semver);
		rc = 0;
	} else if (v.status != PROBE_GREEN) {
		waiting(p, "finalising: waiting for %s to turn green (%s)", node_name(p, v.node),
			v.reason);
		rc = 0;
	} else if (!matched) {
		waiting(p, "finalising: waiting for the load balancer to report the declared "
			   "weights");
		rc = 0;
	} else {
		rc = succeed(p, &declared);
	}
done:
	weight_map_free(&declared);
	return rc;
}

static int enter_finalising(struct pass *p)
{
	enter(p, ROLLOUT_FINALISING);
	return step_finalising(p, true);
}

/* RollingBack: the weights to the pre-canary snapshot and every node the rollout touched to the
 * last good build on skills/current, in the same pass, one kickstart each; RolledBack once they
 * all report it and the load balancer reports the snapshot. */
static int rollback_progress(struct pass *p, bool *done)
{
	struct rollout_state *s = p->s;
	bool matched, acked;
	size_t first = NO_NODE;
	if (ensure_weights(p, &s->pre_canary_weights, &matched) < 0)
		return -1;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		if (!p->entry[i]->touched)
			continue;
		if (ensure_target(p, i, TARGET_ROLLBACK, &acked) < 0)
			return -1;
		if ((!acked || !runs_version(p, i, &s->last_good)) && first == NO_NODE)
			first = i;
	}
	*done = matched && first == NO_NODE;
	if (first != NO_NODE)
		waiting(p, "rolling back %s to %s (%s): waiting for %s to return to %s with skills "
			   "%s", s->promotion.tag, s->last_good.tag, s->rollback_reason,
			node_name(p, first), s->last_good.tag, s->last_good.semver);
	else if (!matched)
		waiting(p, "rolling back %s to %s (%s): waiting for the load balancer to report the "
			   "pre-canary weights", s->promotion.tag, s->last_good.tag,
			s->rollback_reason);
	return 0;
}

static int rolled_back(struct pass *p)
{
	struct rollout_state *s = p->s;
	enter(p, ROLLOUT_ROLLED_BACK);
	progress(p, "rolled back %s (skills %s) to %s (skills %s): %s", s->promotion.tag,
		 s->promotion.semver, s->last_good.tag, s->last_good.semver, s->rollback_reason);
	if (emit_audit(p, AUDIT_ROLLED_BACK, ROLLOUT_ROLLED_BACK, s->rollback_reason) < 0)
		return -1;
	add_history(p, OUTCOME_ROLLED_BACK, s->rollback_reason);
	return 0;
}

static int step_rolling_back(struct pass *p)
{
	bool done;
	if (rollback_progress(p, &done) < 0)
		return -1;
	return done ? rolled_back(p) : 0;
}

/* A rollback quarantines the build it leaves unless a person asked for it (abort) or a newer
 * Promotion replaced it (superseded). Without an earlier version there is nowhere to go: the
 * rollout holds and says so. */
static int start_rollback(struct pass *p, const char *reason, size_t node, bool quarantine_it)
{
	struct rollout_state *s = p->s;
	char code[ROLLOUT_REASON_MAX], key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	bool matched, done;
	copy_code(code, sizeof(code), reason);
	if (s->bring_up || !s->has_last_good) {
		if (s->phase != ROLLOUT_HELD) {
			s->held_from = s->phase;
			s->hold_started_ms = p->now;
			enter(p, ROLLOUT_HELD);
		}
		copy_str(s->held_reason, sizeof(s->held_reason), code);
		copy_str(s->held_node, sizeof(s->held_node), node_name(p, node));
		progress(p, "holding %s: %s", s->promotion.tag, code);
		stall(p, "NoBaseline",
		      "%s: there is no earlier version to roll back to; fix the nodes or name "
		      "another tag", code);
		return 0;
	}
	enter(p, ROLLOUT_ROLLING_BACK);
	copy_str(s->rollback_reason, sizeof(s->rollback_reason), code);
	s->held_node[0] = s->held_reason[0] = '\0';
	s->hold_started_ms = 0;
	if (quarantine_it)
		quarantine(p, code);
	if (ensure_weights(p, &s->pre_canary_weights, &matched) < 0 ||
	    (s->canary_routed && route_canary_tenants(p, false) < 0) ||
	    rollback_progress(p, &done) < 0 ||
	    emit_audit(p, AUDIT_ROLLBACK, ROLLOUT_ROLLING_BACK, code) < 0 ||
	    (quarantine_it && emit_audit(p, AUDIT_QUARANTINED, ROLLOUT_ROLLING_BACK, code) < 0))
		return -1;
	format(key, sizeof(key), "rollback/%s@%s/%lld", s->promotion.tag, s->promotion.commit,
		 (long long)s->started_ms);
	format(message, sizeof(message), "rolling back %s (skills %s) to %s (skills %s): %s%s%s",
		 s->promotion.tag, s->promotion.semver, s->last_good.tag, s->last_good.semver,
		 node_name(p, node), node == NO_NODE ? "" : " reports ", code);
	return emit_broadcast(p, VERDICT_ROLLBACK, key, node, code, message);
}

/* Held: yellow holds at the current percent (broadcast once); red or a hold longer than maxHold
 * fails; green again resumes where the hold began. */
static int step_held(struct pass *p)
{
	struct rollout_state *s = p->s;
	struct verdict v = judge(p);
	if (v.status == PROBE_RED)
		return fail(p, v.reason, v.node);
	if (v.status == PROBE_DEGRADED && max_hold(p) > 0 &&
	    p->now - s->hold_started_ms >= max_hold(p))
		return fail(p, "hold.timeout", v.node);
	if (keep_targets(p, NULL, NULL) < 0)
		return -1;
	if (v.status == PROBE_DEGRADED)
		return hold(p, v.reason, v.node);
	enter(p, s->held_from);
	s->held_node[0] = s->held_reason[0] = '\0';
	s->hold_started_ms = 0;
	s->broadcast_key[0] = '\0';
	if (s->phase == ROLLOUT_ANALYSING) {
		s->window_started_ms = p->now;
		s->green_windows = 0;
	}
	return s->phase == ROLLOUT_HELD ? 0 : dispatch(p);
}

static void begin_rollout(struct pass *p)
{
	struct rollout_state *s = p->s;
	copy_str(s->promotion_name, sizeof(s->promotion_name), p->promo->name);
	s->promotion = p->want;
	s->started_ms = p->now;
	s->step = s->percent = 0;
	s->step_started_ms = s->window_started_ms = s->hold_started_ms = 0;
	s->green_windows = 0;
	s->held_from = ROLLOUT_IDLE;
	s->held_node[0] = s->held_reason[0] = '\0';
	s->mirror_index = 0;
	s->mirror_stage = MIRROR_DRAIN;
	s->mirror_node[0] = '\0';
	s->bring_up = false;
	s->rollback_reason[0] = '\0';
	s->broadcast_key[0] = '\0';
	for (size_t i = 0; i < s->nnodes; i++)
		s->nodes[i].touched = false;
}

static int start_bring_up(struct pass *p)
{
	struct rollout_state *s = p->s;
	begin_rollout(p);
	s->bring_up = true;
	enter(p, ROLLOUT_MIRRORING);
	s->mirror_stage = MIRROR_UPGRADE;
	if (emit_audit(p, AUDIT_STEP, ROLLOUT_MIRRORING, "bring-up") < 0)
		return -1;
	return step_bring_up(p);
}

/* A new Promotion starts with Shadow on the canary gateways; the weights it finds are the
 * snapshot a rollback returns to. */
static int start_promotion(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!p->obs->weights_ok) {
		waiting(p, "waiting to read the load balancer's weights before starting %s",
			p->want.tag);
		return 0;
	}
	begin_rollout(p);
	if (rollout_weights_copy(&s->pre_canary_weights, &p->obs->weights, p->err) < 0 ||
	    rollout_weights_copy(&s->planned_weights, &p->obs->weights, p->err) < 0)
		return -1;
	enter(p, ROLLOUT_SHADOW);
	if (emit_audit(p, AUDIT_STEP, ROLLOUT_SHADOW, "") < 0)
		return -1;
	return step_shadow(p);
}

/* A fleet already on the Promotion's build is recorded as Succeeded, moving nothing. */
static int adopt(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!p->obs->weights_ok) {
		waiting(p, "waiting to read the load balancer's weights before adopting %s",
			p->want.tag);
		return 0;
	}
	begin_rollout(p);
	s->has_last_good = true;
	s->last_good = p->want;
	if (rollout_weights_copy(&s->last_good_weights, &p->obs->weights, p->err) < 0 ||
	    rollout_weights_copy(&s->planned_weights, &p->obs->weights, p->err) < 0)
		return -1;
	enter(p, ROLLOUT_SUCCEEDED);
	progress(p, "adopted: every node already runs %s (skills %s)", p->want.tag,
		 p->want.semver);
	if (emit_audit(p, AUDIT_ADOPTED, ROLLOUT_SUCCEEDED, "") < 0)
		return -1;
	add_history(p, OUTCOME_ADOPTED, "");
	return 0;
}

/* The build a node runs, as the baseline a rollback would return to. */
static int take_baseline(struct pass *p, size_t i)
{
	struct rollout_state *s = p->s;
	const struct node_observation *o = p->seen[i];
	struct cf_err why;
	struct rollout_version v = {0};
	const char *problem = NULL;
	if (!o->tag || !*o->tag || strlen(o->tag) >= sizeof(v.tag))
		problem = "no infra tag names its commit";
	else if (name_check_git_tag(o->tag, &why) < 0)
		problem = why.msg;
	else if (!o->skills_current || !*o->skills_current ||
		 strlen(o->skills_current) >= sizeof(v.semver))
		problem = "it reports no skills/current";
	if (problem) {
		stall(p, "NoBaseline", "cannot take the build %s runs (commit %.12s) as the version "
				       "to roll back to: %s", node_name(p, i), o->commit, problem);
		return 0;
	}
	if (!p->obs->weights_ok) {
		waiting(p, "waiting to read the load balancer's weights before starting %s",
			p->want.tag);
		return 0;
	}
	copy_str(v.tag, sizeof(v.tag), o->tag);
	copy_str(v.commit, sizeof(v.commit), o->commit);
	copy_str(v.semver, sizeof(v.semver), o->skills_current);
	s->has_last_good = true;
	s->last_good = v;
	if (rollout_weights_copy(&s->last_good_weights, &p->obs->weights, p->err) < 0)
		return -1;
	return start_promotion(p);
}

/* The first pass with a Promotion and no history: adopt a fleet already on its build, bring up
 * a fleet with no build at all, else take what the stable nodes run as the baseline. Every node
 * has to answer first: a guess could roll a fleet back to the wrong build. */
static int first_start(struct pass *p)
{
	bool all_on_want = true, none_built = true;
	size_t baseline = NO_NODE;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		if (!reachable(p, i)) {
			waiting(p, "waiting for every node to report before choosing a baseline: %s "
				   "does not answer", node_name(p, i));
			return 0;
		}
		const char *commit = p->seen[i]->commit;
		bool built = hex_of_len(commit, 40);
		all_on_want = all_on_want && runs_version(p, i, &p->want);
		none_built = none_built && !built;
		if (built && !same_str(commit, p->want.commit) && k >= p->ncanary &&
		    baseline == NO_NODE)
			baseline = i;
	}
	if (all_on_want)
		return adopt(p);
	if (none_built)
		return start_bring_up(p);
	for (size_t k = 0; baseline == NO_NODE && k < p->d->nnodes; k++)
		if (hex_of_len(p->seen[p->order[k]]->commit, 40) &&
		    !same_str(p->seen[p->order[k]]->commit, p->want.commit))
			baseline = p->order[k];
	for (size_t k = 0; baseline == NO_NODE && k < p->d->nnodes; k++)
		if (hex_of_len(p->seen[p->order[k]]->commit, 40))
			baseline = p->order[k];
	return take_baseline(p, baseline);
}

/* Succeeded and RolledBack keep what they reached: the weights recorded then (a load balancer
 * restart that forgot them gets them again; base weights edited in Git since apply at the next
 * rollout's Finalising), and the build on every node the rollout left there (sent again to a
 * node that lost it; a node new to the fleet gets the Succeeded build). */
static int keep_steady(struct pass *p)
{
	struct rollout_state *s = p->s;
	bool matched, acked;
	if (s->phase == ROLLOUT_IDLE)
		return 0;
	if (ensure_weights(p, &s->planned_weights, &matched) < 0)
		return -1;
	bool succeeded = s->phase == ROLLOUT_SUCCEEDED;
	const struct rollout_version *v = succeeded ? &s->promotion : &s->last_good;
	for (size_t k = 0; k < p->d->nnodes; k++) {
		size_t i = p->order[k];
		const struct rollout_node *e = p->entry[i];
		if (!reachable(p, i) || (!succeeded && !e->touched))
			continue;
		if (runs_version(p, i, v) && e->generation <= p->seen[i]->observed_generation)
			continue;
		if (ensure_target(p, i, succeeded ? TARGET_FINAL : TARGET_ROLLBACK, &acked) < 0)
			return -1;
	}
	if (!p->progress[0] && succeeded)
		progress(p, "every node runs %s (skills %s)", v->tag, v->semver);
	else if (!p->progress[0])
		progress(p, "rolled back %s (skills %s) to %s (skills %s): %s", s->promotion.tag,
			 s->promotion.semver, v->tag, v->semver, s->rollback_reason);
	return 0;
}

/* Idle, Succeeded, RolledBack: start the Promotion when it names a build other than the last
 * good one, unless it is aborted or quarantined. */
static int settle(struct pass *p)
{
	struct rollout_state *s = p->s;
	if (!p->want_known || (s->has_last_good && same_version(&s->last_good, &p->want)))
		return keep_steady(p);
	if (p->promo->abort) {
		progress(p, "spec.abort is true: %s is not promoted", p->want.tag);
		return keep_steady(p);
	}
	const struct rollout_quarantine *q = quarantined(s, &p->want);
	if (q) {
		stall(p, "Quarantined", "%s (commit %.12s) is quarantined after a rollback (%s): "
					"name a different tag or commit to promote",
		      q->tag, q->commit, q->reason);
		return keep_steady(p);
	}
	if (s->phase == ROLLOUT_IDLE && !s->has_last_good)
		return first_start(p);
	return start_promotion(p);
}

static int dispatch(struct pass *p)
{
	switch (p->s->phase) {
	case ROLLOUT_IDLE:
	case ROLLOUT_SUCCEEDED:
	case ROLLOUT_ROLLED_BACK:
		return settle(p);
	case ROLLOUT_SHADOW:
		return step_shadow(p);
	case ROLLOUT_PROMOTING:
		return step_promoting(p);
	case ROLLOUT_ANALYSING:
		return step_analysing(p);
	case ROLLOUT_MIRRORING:
		return p->s->bring_up ? step_bring_up(p) : step_mirroring(p);
	case ROLLOUT_FINALISING:
		return step_finalising(p, false);
	case ROLLOUT_HELD:
		return step_held(p);
	case ROLLOUT_ROLLING_BACK:
		return step_rolling_back(p);
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

/* Git is the only control surface: suspend freezes everything where it is (abort wins over it,
 * and a rollback under way finishes: half a rollback is worse than either build), abort rolls
 * back, a Promotion that names another build mid-rollout supersedes it (rolled back first, then
 * started). */
static int run(struct pass *p)
{
	struct rollout_state *s = p->s;
	const struct promotion *promo = p->promo;
	if (!promo) {
		if (in_flight(s->phase)) {
			stall(p, "NoPromotion", "the Promotion was removed during the rollout of %s: "
						"put it back, with spec.abort: true to roll back",
			      s->promotion.tag);
			return 0;
		}
		if (s->phase == ROLLOUT_ROLLING_BACK)
			return step_rolling_back(p);
		progress(p, "no Promotion in the repository: nothing to roll out");
		return keep_steady(p);
	}
	if (promo->suspend && !promo->abort && s->phase != ROLLOUT_ROLLING_BACK) {
		if (!s->suspended_since_ms)
			s->suspended_since_ms = p->now;
		p->suspended = true;
		progress(p, "spec.suspend is true: frozen in %s", rollout_phase_name(s->phase));
		return 0;
	}
	end_suspension(p);
	if (promo->abort && in_flight(s->phase))
		return start_rollback(p, "abort", NO_NODE, false);
	if (!p->want_known) {
		stall(p, "TagUnresolved", "Promotion/%s: tag %s does not name a commit the "
					  "controller could resolve", promo->name, promo->tag);
		if (in_flight(s->phase))
			return 0;
		return dispatch(p);
	}
	if (in_flight(s->phase) && !same_version(&s->promotion, &p->want)) {
		if (s->bring_up)
			return start_bring_up(p);
		return start_rollback(p, "superseded", NO_NODE, false);
	}
	return dispatch(p);
}

/* Conditions: lastTransitionTime moves only when a status changes. */
static void set_condition(struct pass *p, enum condition_type t, enum condition_status status,
			  const char *reason, const char *message)
{
	struct rollout_condition *c = &p->s->conditions[t];
	const struct rollout_condition *was = &p->prev->conditions[t];
	c->status = status;
	copy_str(c->reason, sizeof(c->reason), reason);
	copy_str(c->message, sizeof(c->message), message);
	c->last_transition_ms = was->status == status ? was->last_transition_ms : p->now;
}

static void set_conditions(struct pass *p)
{
	const struct rollout_state *s = p->s;
	const char *phase = rollout_phase_name(s->phase);
	bool on_want = p->want_known && s->has_last_good && same_version(&s->last_good, &p->want);
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
}

/* Setup. */

struct ranked {
	size_t index;
	const struct mac_node *node;
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
	return z ? z : strcmp(x->name, y->name);
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

static int obs_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct node_observation *const *)elem)->name);
}

/* The state's node entries become exactly the desired nodes, in name order; what was sent to a
 * node that left the fleet is forgotten. */
static int index_nodes(struct pass *p, struct ranked *ranked)
{
	const struct desired_state *d = p->d;
	struct rollout_state *s = p->s;
	struct rollout_node *nodes = calloc(d->nnodes ? d->nnodes : 1, sizeof(*nodes));
	if (!nodes)
		return cf_err_set(p->err, "out of memory");
	qsort(ranked, d->nnodes, sizeof(*ranked), name_cmp);
	for (size_t k = 0; k < d->nnodes; k++) {
		const char *name = ranked[k].node->name;
		const struct rollout_node *old = rollout_node_find(s, name);
		if (strlen(name) >= sizeof(nodes[k].name)) {
			free(nodes);
			return cf_err_set(p->err, "MacNode/%.80s: name longer than %zu", name,
					  sizeof(nodes[k].name) - 1);
		}
		if (old)
			nodes[k] = *old;
		else
			copy_str(nodes[k].name, sizeof(nodes[k].name), name);
		p->entry[ranked[k].index] = &nodes[k];
	}
	free(s->nodes);
	s->nodes = nodes;
	s->nnodes = d->nnodes;
	return 0;
}

static int index_observations(struct pass *p)
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
	for (size_t i = 0; i < p->d->nnodes; i++) {
		const struct node_observation *const *hit =
			n ? bsearch(p->d->nodes[i].name, sorted, n, sizeof(*sorted), obs_key_cmp)
			  : NULL;
		p->seen[i] = hit ? *hit : NULL;
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
	if (!ranked || !p->order || !p->seen || !p->entry || !p->target_action) {
		free(ranked);
		return cf_err_set(p->err, "out of memory");
	}
	for (size_t i = 0; i < d->nnodes; i++) {
		ranked[i] = (struct ranked){i, &d->nodes[i]};
		p->target_action[i] = NO_NODE;
	}
	p->weights_action = NO_NODE;
	qsort(ranked, d->nnodes, sizeof(*ranked), rank_cmp);
	for (size_t k = 0; k < d->nnodes; k++) {
		p->order[k] = ranked[k].index;
		if (group_of(ranked[k].node) == GROUP_CANARY)
			p->ncanary = k + 1;
	}
	int rc = index_nodes(p, ranked);
	free(ranked);
	if (rc < 0 || index_observations(p) < 0)
		return -1;

	p->promo = d->npromotions ? &d->promotions[0] : NULL;
	if (p->promo) {
		const struct promotion *promo = p->promo;
		if (strlen(promo->tag) >= sizeof(p->want.tag) ||
		    strlen(promo->skill_semver) >= sizeof(p->want.semver) ||
		    strlen(promo->name) >= sizeof(p->s->promotion_name))
			return cf_err_set(p->err, "Promotion/%.80s: name, tag or skillSemver longer "
						  "than %d", promo->name, ROLLOUT_TEXT_MAX - 1);
		copy_str(p->want.tag, sizeof(p->want.tag), promo->tag);
		copy_str(p->want.semver, sizeof(p->want.semver), promo->skill_semver);
		p->want_known = hex_of_len(obs->promotion_commit, 40);
		if (p->want_known)
			copy_str(p->want.commit, sizeof(p->want.commit), obs->promotion_commit);
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
		struct rollout_action *a = new_action(p, p->s->pending[i].kind);
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
		.out = out,
		.s = &out->next,
		.err = err,
	};
	int rc = -1;
	if (rollout_state_copy(&out->next, state, err) < 0 || setup(&p) < 0 ||
	    replay_pending(&p) < 0 || run(&p) < 0)
		goto done;
	set_conditions(&p);
	rc = 0;
done:
	free(p.order);
	free(p.seen);
	free(p.entry);
	free(p.target_action);
	return rc;
}

void plan_output_free(struct plan_output *out)
{
	for (size_t i = 0; i < out->nactions; i++)
		rollout_action_free(&out->actions[i]);
	free(out->actions);
	rollout_state_free(&out->next);
	memset(out, 0, sizeof(*out));
	rollout_state_init(&out->next);
}
