#include "plan/rollout.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/rollout_internal.h"

const char *rollout_phase_name(enum rollout_phase p)
{
	return name_of(phase_names, COUNT(phase_names), (int)p);
}

const char *audit_event_name(enum audit_event e)
{
	return name_of(event_names, COUNT(event_names), (int)e);
}

const char *broadcast_verdict_name(enum broadcast_verdict v)
{
	return name_of(verdict_names, COUNT(verdict_names), (int)v);
}

const char *rollout_outcome_name(enum rollout_outcome o)
{
	return name_of(outcome_names, COUNT(outcome_names), (int)o);
}

const char *condition_type_name(enum condition_type t)
{
	return name_of(condition_names, COUNT(condition_names), (int)t);
}

const char *condition_status_name(enum condition_status s)
{
	return name_of(status_names, COUNT(status_names), (int)s);
}

const char *rollout_writeback_state_name(enum rollout_writeback_state s)
{
	return name_of(writeback_state_names, COUNT(writeback_state_names), (int)s);
}

void rollout_state_init(struct rollout_state *s)
{
	memset(s, 0, sizeof(*s));
	s->phase = ROLLOUT_IDLE;
	s->held_from = ROLLOUT_IDLE;
	s->next_action_id = 1;
}

void rollout_action_free(struct rollout_action *a)
{
	switch (a->kind) {
	case ACTION_NODE_TARGET:
		free(a->u.node_target.target);
		break;
	case ACTION_SET_WEIGHTS:
		weight_map_free(&a->u.weights);
		break;
	case ACTION_AUDIT:
		if (a->u.audit)
			weight_map_free(&a->u.audit->weights);
		free(a->u.audit);
		break;
	case ACTION_ROUTE_TENANT:
	case ACTION_BROADCAST:
	case ACTION_DRAIN_NODE:
	case ACTION_READY_NODE:
		break;
	}
	memset(a, 0, sizeof(*a));
}

void rollout_state_free(struct rollout_state *s)
{
	weight_map_free(&s->last_good_weights);
	weight_map_free(&s->pre_canary_weights);
	weight_map_free(&s->planned_weights);
	free(s->nodes);
	for (size_t i = 0; i < s->npending; i++)
		rollout_action_free(&s->pending[i]);
	free(s->pending);
	rollout_state_init(s);
}

int rollout_weights_copy(struct weight_map *dst, const struct weight_map *src, struct cf_err *err)
{
	return weight_map_copy(dst, src, err);
}

int rollout_action_copy(struct rollout_action *dst, const struct rollout_action *src,
			struct cf_err *err)
{
	struct rollout_action a = *src;
	switch (src->kind) {
	case ACTION_NODE_TARGET:
		a.u.node_target.target = malloc(sizeof(struct target));
		if (!a.u.node_target.target)
			return cf_err_set(err, "out of memory");
		*a.u.node_target.target = *src->u.node_target.target;
		break;
	case ACTION_SET_WEIGHTS:
		a.u.weights = (struct weight_map){0};
		if (rollout_weights_copy(&a.u.weights, &src->u.weights, err) < 0)
			return -1;
		break;
	case ACTION_AUDIT:
		a.u.audit = malloc(sizeof(struct rollout_audit));
		if (!a.u.audit)
			return cf_err_set(err, "out of memory");
		*a.u.audit = *src->u.audit;
		a.u.audit->weights = (struct weight_map){0};
		if (rollout_weights_copy(&a.u.audit->weights, &src->u.audit->weights, err) < 0) {
			free(a.u.audit);
			return -1;
		}
		break;
	case ACTION_ROUTE_TENANT:
	case ACTION_BROADCAST:
	case ACTION_DRAIN_NODE:
	case ACTION_READY_NODE:
		break;
	}
	*dst = a;
	return 0;
}

int rollout_state_copy(struct rollout_state *dst, const struct rollout_state *src,
		       struct cf_err *err)
{
	/* The copy is built apart, so dst is untouched on failure; on the heap, as the state is
	 * ~100 KB and a thread's stack keeps every page it ever touched. */
	struct rollout_state *s = malloc(sizeof(*s));
	if (!s)
		return cf_err_set(err, "out of memory");
	*s = *src;
	s->last_good_weights = s->pre_canary_weights = s->planned_weights = (struct weight_map){0};
	s->nodes = NULL;
	s->pending = NULL;
	s->nnodes = s->npending = 0;
	if (rollout_weights_copy(&s->last_good_weights, &src->last_good_weights, err) < 0 ||
	    rollout_weights_copy(&s->pre_canary_weights, &src->pre_canary_weights, err) < 0 ||
	    rollout_weights_copy(&s->planned_weights, &src->planned_weights, err) < 0)
		goto fail;
	if (src->nnodes) {
		s->nodes = malloc(src->nnodes * sizeof(*s->nodes));
		if (!s->nodes) {
			cf_err_set(err, "out of memory");
			goto fail;
		}
		memcpy(s->nodes, src->nodes, src->nnodes * sizeof(*s->nodes));
		s->nnodes = src->nnodes;
	}
	if (src->npending) {
		s->pending = calloc(src->npending, sizeof(*s->pending));
		if (!s->pending) {
			cf_err_set(err, "out of memory");
			goto fail;
		}
		for (; s->npending < src->npending; s->npending++)
			if (rollout_action_copy(&s->pending[s->npending], &src->pending[s->npending],
						err) < 0)
				goto fail;
	}
	rollout_state_free(dst);
	*dst = *s;
	free(s);
	return 0;
fail:
	rollout_state_free(s);
	free(s);
	return -1;
}

static int node_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct rollout_node *)elem)->name);
}

const struct rollout_node *rollout_node_find(const struct rollout_state *s, const char *name)
{
	if (!s->nnodes)
		return NULL;
	return bsearch(name, s->nodes, s->nnodes, sizeof(*s->nodes), node_cmp);
}

static int64_t later(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

int64_t rollout_clock_resume(const struct rollout_state *s, int64_t wall_ms)
{
	int64_t t = s->clock_ms ? s->clock_ms : wall_ms;
	const int64_t stamps[] = {
		s->started_ms,	      s->stage_started_ms, s->step_started_ms,
		s->window_started_ms, s->window_sampled_ms, s->red_observed_ms,
		s->hold_started_ms,   s->drain_started_ms,  s->suspended_since_ms,
	};
	for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++)
		t = later(t, stamps[i]);
	for (size_t i = 0; i < s->nnodes; i++)
		t = later(t, later(s->nodes[i].green_at_ms, s->nodes[i].sent_ms));
	return t;
}

int64_t rollout_clock_wall(const struct rollout_state *s, int64_t t)
{
	if (t <= 0 || !s->clock_ms)
		return t;
	return s->clock_wall_ms + (t - s->clock_ms);
}

bool rollout_pending_done(struct rollout_state *s, uint64_t id)
{
	for (size_t i = 0; i < s->npending; i++) {
		if (s->pending[i].id != id)
			continue;
		rollout_action_free(&s->pending[i]);
		memmove(&s->pending[i], &s->pending[i + 1],
			(s->npending - i - 1) * sizeof(*s->pending));
		s->npending--;
		return true;
	}
	return false;
}

/* A growing line for rollout_action_describe; oom sticks. */
struct line {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void line_add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_add(struct line *l, const char *fmt, ...)
{
	if (l->oom)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || l->len + (size_t)n + 1 > l->cap) {
		size_t cap = l->cap ? l->cap : 128;
		while (n >= 0 && l->len + (size_t)n + 1 > cap)
			cap *= 2;
		char *b = n < 0 ? NULL : realloc(l->buf, cap);
		if (!b) {
			l->oom = true;
			return;
		}
		l->buf = b;
		l->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
	va_end(ap);
	l->len += (size_t)n;
}

static void describe_weights(struct line *l, const struct weight_map *m)
{
	for (size_t i = 0; i < m->n; i++)
		line_add(l, " %s=%d", m->v[i].server, m->v[i].weight);
}

char *rollout_action_describe(const struct rollout_action *a)
{
	struct line l = {0};
	line_add(&l, "%s", name_of(kind_names, COUNT(kind_names), (int)a->kind));
	switch (a->kind) {
	case ACTION_NODE_TARGET: {
		const struct target *t = a->u.node_target.target;
		line_add(&l, " %s gen=%lld tag=%s skills=%s/%s", a->u.node_target.node,
			 (long long)t->generation, t->tag, t->skills_semver,
			 target_link_name(t->skills_link));
		const char *sep = " canary=";
		for (size_t i = 0; i < t->ntenants; i++) {
			if (!t->tenants[i].canary)
				continue;
			line_add(&l, "%s%s", sep, t->tenants[i].name);
			sep = ",";
		}
		if (t->restart)
			line_add(&l, " restart");
		break;
	}
	case ACTION_SET_WEIGHTS:
		describe_weights(&l, &a->u.weights);
		break;
	case ACTION_ROUTE_TENANT:
		line_add(&l, " %s %s", a->u.route.tenant, a->u.route.canary ? "canary" : "stable");
		break;
	case ACTION_AUDIT: {
		const struct rollout_audit *au = a->u.audit;
		line_add(&l, " %s", audit_event_name(au->event));
		if (au->node[0])
			line_add(&l, " %s", au->node);
		line_add(&l, " %s %d%%", rollout_phase_name(au->phase), au->percent);
		if (au->reason[0])
			line_add(&l, " %s", au->reason);
		break;
	}
	case ACTION_BROADCAST:
		line_add(&l, " %s %s %s", broadcast_verdict_name(a->u.broadcast.verdict),
			 a->u.broadcast.node[0] ? a->u.broadcast.node : "-", a->u.broadcast.reason);
		break;
	case ACTION_DRAIN_NODE:
	case ACTION_READY_NODE:
		line_add(&l, " %s", a->u.drain.node);
		break;
	}
	if (l.oom) {
		free(l.buf);
		return NULL;
	}
	return l.buf;
}
