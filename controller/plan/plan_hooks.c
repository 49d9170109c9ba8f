/* The Promotion's webhooks, with Flagger's meaning for each type:
 *   confirm-rollout           before a rollout starts: Held (webhook.confirm-rollout) while any
 *                             answers non-2xx; nothing is sent to a node until all answer 2xx
 *   pre-rollout               in Shadow, once the canary is green, before any weight moves: a
 *                             non-2xx after the retries is a failed check (webhook.pre-rollout.
 *                             <name>): the rollout fails with the weights it found. Asked once
 *                             per build: a 2xx is kept in the state and outlives a restart
 *   confirm-traffic-increase  before each step's weights: Held while any answers non-2xx
 *   rollout                   at the start of each analysis window: a non-2xx is a failed
 *                             window; failureLimit of them in a row (default 1) fail the
 *                             check; a step moves on only once each one's last judged window
 *                             in it answered 2xx
 *   confirm-promotion         before Mirroring (the whole fleet): Held while any answers non-2xx
 *   rollback                  asked in every phase of a rollout under way (Shadow, Promoting,
 *                             Analysing, Held, Mirroring): a 2xx asks for a rollback
 *                             (webhook.rollback.<name>), anything else is "no"
 *   post-rollout              told once a rollout ends: phase Succeeded, or Failed when it
 *                             rolled back
 *   event                     told of every phase change, with eventMessage and eventType
 * A failed check fails the rollout as a red canary does (plan_fail: a rollback, or a hold for
 * a person when spec.rollback.automatic is false). Post-rollout and event calls are owed until
 * answered (after their retries): they are kept in the state and asked for again at every pass,
 * so a restart in between makes them once more rather than never. */
#include "plan/plan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/canon.h"

static void checksum_of(const struct rollout_state *s, char out[HOOK_CHECKSUM_LEN + 1])
{
	char text[2 * ROLLOUT_TEXT_MAX], hex[65];
	int n = snprintf(text, sizeof(text), "%s@%s", s->promotion.tag, s->promotion.commit);
	canon_sha256_hex(text, n > 0 ? (size_t)n : 0, hex);
	memcpy(out, hex, HOOK_CHECKSUM_LEN);
	out[HOOK_CHECKSUM_LEN] = '\0';
}

/* Flagger's phase names for clawfleet's phases. */
static const char *flagger_phase(enum rollout_phase phase)
{
	switch (phase) {
	case ROLLOUT_IDLE:
		return "Initializing";
	case ROLLOUT_HELD:
		return "Waiting";
	case ROLLOUT_SHADOW:
	case ROLLOUT_ANALYSING:
	case ROLLOUT_PROMOTING:
		return "Progressing";
	case ROLLOUT_MIRRORING:
		return "Promoting";
	case ROLLOUT_FINALISING:
		return "Finalising";
	case ROLLOUT_SUCCEEDED:
		return "Succeeded";
	case ROLLOUT_ROLLING_BACK:
	case ROLLOUT_ROLLED_BACK:
		return "Failed";
	}
	return "Progressing";
}

static void key_of(const struct pass *p, const char *question, char key[HOOK_KEY_MAX])
{
	char cs[HOOK_CHECKSUM_LEN + 1];
	checksum_of(p->s, cs);
	snprintf(key, HOOK_KEY_MAX, "%s/%s", cs, question);
}

static int push(struct pass *p, const struct hook_call *call)
{
	struct plan_output *out = p->out;
	if (out->nhook_calls == out->hook_calls_cap) {
		size_t cap = out->hook_calls_cap ? out->hook_calls_cap * 2 : 8;
		struct hook_call *v = realloc(out->hook_calls, cap * sizeof(*v));
		if (!v)
			return cf_err_set(p->err, "planning webhook calls: out of memory");
		out->hook_calls = v;
		out->hook_calls_cap = cap;
	}
	out->hook_calls[out->nhook_calls++] = *call;
	return 0;
}

static void call_of(struct pass *p, const struct promotion_webhook *w, const char *key,
		    const char *phase, const char *message, const char *event_type,
		    struct hook_call *c)
{
	memset(c, 0, sizeof(*c));
	plan_copy_str(c->name, sizeof(c->name), w->name);
	c->type = w->type;
	plan_copy_str(c->key, sizeof(c->key), key);
	plan_copy_str(c->phase, sizeof(c->phase), phase);
	checksum_of(p->s, c->checksum);
	plan_copy_str(c->event_message, sizeof(c->event_message), message);
	c->event_type = event_type;
}

static int want(struct pass *p, const struct promotion_webhook *w, const char *key,
		const char *phase, const char *message, const char *event_type)
{
	struct hook_call c;
	call_of(p, w, key, phase, message, event_type, &c);
	return push(p, &c);
}

static struct hook_mark *mark_of(struct rollout_state *s, const char *name)
{
	for (size_t i = 0; i < s->hooks.nmarks; i++)
		if (strcmp(s->hooks.marks[i].name, name) == 0)
			return &s->hooks.marks[i];
	return NULL;
}

/* w's mark, a new one (not passed, no failures) when it has none; NULL when none fits (more
 * webhooks than a Promotion may have: the answer is then judged without being kept). */
static struct hook_mark *mark_for(struct rollout_state *s, const char *name)
{
	struct hook_mark *m = mark_of(s, name);
	if (m || s->hooks.nmarks == HOOK_MARKS_MAX)
		return m;
	m = &s->hooks.marks[s->hooks.nmarks++];
	memset(m, 0, sizeof(*m));
	plan_copy_str(m->name, sizeof(m->name), name);
	return m;
}

/* The answer of webhook name to key. */
static const struct hook_result *answer(const struct pass *p, const char *name, const char *key)
{
	for (size_t i = 0; i < p->obs->nhooks; i++) {
		const struct hook_result *r = &p->obs->hooks[i];
		if (strcmp(r->name, name) == 0 && strcmp(r->key, key) == 0)
			return r;
	}
	return NULL;
}

static int hold(struct pass *p, enum webhook_type type, const struct promotion_webhook *w,
		const struct hook_result *r)
{
	struct rollout_state *s = p->s;
	char reason[ROLLOUT_REASON_MAX], said[HOOK_ERROR_MAX], note[ROLLOUT_MESSAGE_MAX];
	char key[ROLLOUT_MESSAGE_MAX], message[ROLLOUT_MESSAGE_MAX];
	plan_format(reason, sizeof(reason), "webhook.%s", webhook_type_name(type));
	hook_result_describe(r, said, sizeof(said));
	plan_format(note, sizeof(note), "waiting for %s hook \"%s\": %s", webhook_type_name(type),
		    w->name, said);
	bool entering = !(p->prev->phase == ROLLOUT_HELD && strcmp(p->prev->held_reason, reason) == 0);
	/* Before the rollout began (confirm-rollout) it holds from Idle: the state holds only
	 * from a phase of a rollout, and resuming from Idle starts the rollout. */
	if (s->phase != ROLLOUT_HELD)
		s->held_from = type == WEBHOOK_CONFIRM_ROLLOUT ? ROLLOUT_IDLE : s->phase;
	if (entering) {
		s->hold_started_ms = p->now;
		plan_enter(p, ROLLOUT_HELD);
	} else {
		s->phase = ROLLOUT_HELD;
		s->hold_started_ms = p->prev->hold_started_ms;
	}
	plan_copy_code(s->held_reason, sizeof(s->held_reason), reason);
	s->held_node[0] = '\0';
	s->gate_percent = 0;
	plan_progress(p, "%s", note);
	if (!entering)
		return 0;
	if (plan_emit_audit_note(p, AUDIT_HELD, ROLLOUT_HELD, note) < 0)
		return -1;
	plan_format(key, sizeof(key), "hook/%s@%s/%s", s->promotion.tag, s->promotion.commit,
		    w->name);
	plan_format(message, sizeof(message), "holding %s (skills %s) at %d %%: %s",
		    s->promotion.tag, s->promotion.semver, s->percent, note);
	return plan_emit_broadcast(p, VERDICT_HOLD, key, NO_NODE, reason, message);
}

/* A gate that held and is being asked again (after a restart, its answer in memory gone) keeps
 * its hold, quietly, until it answers: the hold neither ends nor begins anew. */
static void stay_held(struct pass *p, enum webhook_type type)
{
	struct rollout_state *s = p->s;
	char reason[ROLLOUT_REASON_MAX];
	plan_format(reason, sizeof(reason), "webhook.%s", webhook_type_name(type));
	if (p->prev->phase != ROLLOUT_HELD || strcmp(p->prev->held_reason, reason) != 0)
		return;
	s->phase = ROLLOUT_HELD;
	s->held_from = p->prev->held_from;
	s->hold_started_ms = p->prev->hold_started_ms;
	plan_copy_code(s->held_reason, sizeof(s->held_reason), reason);
}

int plan_hook_gate(struct pass *p, enum webhook_type type, const char *question, bool *open,
		   char *note, size_t size)
{
	const struct promotion *promo = p->promo;
	const struct promotion_webhook *shut = NULL, *waiting = NULL;
	const struct hook_result *shut_by = NULL;
	char key[HOOK_KEY_MAX];
	*open = true;
	key_of(p, question, key);
	for (size_t i = 0; i < promo->nwebhooks; i++) {
		const struct promotion_webhook *w = &promo->webhooks[i];
		if (w->type != type)
			continue;
		if (want(p, w, key, "Progressing", "", NULL) < 0)
			return -1;
		const struct hook_result *r = answer(p, w->name, key);
		if (!r || r->verdict == HOOK_PENDING) {
			waiting = waiting ? waiting : w;
		} else if (r->verdict == HOOK_FAILED) {
			if (!shut) {
				shut = w;
				shut_by = r;
			}
		} else {
			size_t used = strlen(note);
			snprintf(note + used, size - used, "%s%s hook \"%s\": HTTP %ld",
				 used ? "; " : "", webhook_type_name(type), w->name, r->status);
		}
	}
	if (shut) {
		*open = false;
		return hold(p, type, shut, shut_by);
	}
	if (waiting) {
		*open = false;
		stay_held(p, type);
		plan_waiting(p, "waiting for %s hook \"%s\" to answer", webhook_type_name(type),
			     waiting->name);
	}
	return 0;
}

/* A failed check of hook w: the rollout fails, the reason naming the hook. */
static int failed_check(struct pass *p, const struct promotion_webhook *w, int *rc)
{
	char reason[ROLLOUT_REASON_MAX];
	plan_format(reason, sizeof(reason), "webhook.%s.%s", webhook_type_name(w->type), w->name);
	*rc = plan_fail(p, reason, NO_NODE);
	return 1;
}

/* Rollback hooks are asked again and again; the first that answers 2xx rolls back. Not before
 * the rollout began (Held at confirm-rollout), nor again once a rollback hook holds it. */
int plan_hooks_rollback(struct pass *p, int *rc)
{
	const struct rollout_state *s = p->s;
	char key[HOOK_KEY_MAX];
	bool active = s->phase == ROLLOUT_SHADOW || s->phase == ROLLOUT_PROMOTING ||
		      s->phase == ROLLOUT_ANALYSING || s->phase == ROLLOUT_MIRRORING ||
		      (s->phase == ROLLOUT_HELD && s->held_from != ROLLOUT_IDLE &&
		       strncmp(s->held_reason, "webhook.rollback.", 17) != 0);
	if (!p->promo || !active)
		return 0;
	key_of(p, "rollback", key);
	for (size_t i = 0; i < p->promo->nwebhooks; i++) {
		const struct promotion_webhook *w = &p->promo->webhooks[i];
		if (w->type != WEBHOOK_ROLLBACK)
			continue;
		if (want(p, w, key, flagger_phase(s->phase), "", NULL) < 0) {
			*rc = -1;
			return 1;
		}
		const struct hook_result *r = answer(p, w->name, key);
		if (r && r->verdict == HOOK_PASSED)
			return failed_check(p, w, rc);
	}
	return 0;
}

int plan_hooks_pre_rollout(struct pass *p, int *rc)
{
	const struct promotion_webhook *waiting = NULL;
	char key[HOOK_KEY_MAX];
	key_of(p, "pre-rollout", key);
	for (size_t i = 0; i < p->promo->nwebhooks; i++) {
		const struct promotion_webhook *w = &p->promo->webhooks[i];
		if (w->type != WEBHOOK_PRE_ROLLOUT)
			continue;
		struct hook_mark *m = mark_of(p->s, w->name);
		if (m && m->passed && strcmp(m->key, key) == 0)
			continue; /* passed for this build, before a restart perhaps */
		if (want(p, w, key, "Progressing", "", NULL) < 0) {
			*rc = -1;
			return 1;
		}
		const struct hook_result *r = answer(p, w->name, key);
		if (r && r->verdict == HOOK_FAILED)
			return failed_check(p, w, rc);
		if (r && r->verdict == HOOK_PASSED && (m = mark_for(p->s, w->name))) {
			plan_copy_str(m->key, sizeof(m->key), key);
			m->passed = true;
			m->failures = 0;
		} else if ((!r || r->verdict == HOOK_PENDING) && !waiting) {
			waiting = w;
		}
	}
	if (!waiting)
		return 0;
	plan_waiting(p, "Shadow: green; waiting for pre-rollout hook \"%s\" before the first step",
		     waiting->name);
	*rc = 0;
	return 1;
}

/* The analysis window a rollout hook's key asks about ("<checksum>/rollout/<step>/<ms>"); -1
 * when key is not one of this build's rollout questions. */
static int64_t window_of(const struct pass *p, const char *key)
{
	char prefix[HOOK_KEY_MAX];
	key_of(p, "rollout/", prefix);
	size_t len = strlen(prefix);
	const char *ms = strncmp(key, prefix, len) == 0 ? strchr(key + len, '/') : NULL;
	return ms ? strtoll(ms + 1, NULL, 10) : -1;
}

/* Judges w's answers about windows after its mark's, oldest first: a 2xx ends the failures in a
 * row, anything else adds one; 1 (the check failed, *rc its result) once failureLimit of them
 * are in a row. */
static int judge_windows(struct pass *p, const struct promotion_webhook *w, int *rc)
{
	struct hook_mark *m = mark_of(p->s, w->name);
	int64_t judged = m ? window_of(p, m->key) : -1;
	int failures = m && judged >= 0 ? m->failures : 0;
	for (;;) {
		const struct hook_result *next = NULL;
		int64_t at = 0;
		for (size_t i = 0; i < p->obs->nhooks; i++) {
			const struct hook_result *r = &p->obs->hooks[i];
			int64_t t = window_of(p, r->key);
			if (strcmp(r->name, w->name) == 0 && r->verdict != HOOK_PENDING &&
			    t > judged && (!next || t < at)) {
				next = r;
				at = t;
			}
		}
		if (!next)
			return 0;
		judged = at;
		failures = next->verdict == HOOK_PASSED ? 0 : failures + 1;
		if ((m = mark_for(p->s, w->name))) {
			plan_copy_str(m->key, sizeof(m->key), next->key);
			m->passed = next->verdict == HOOK_PASSED;
			m->failures = failures;
		}
		if (failures >= (w->failure_limit > 1 ? w->failure_limit : 1))
			return failed_check(p, w, rc);
	}
}

static void step_prefix(const struct pass *p, char key[HOOK_KEY_MAX])
{
	char question[64];
	snprintf(question, sizeof(question), "rollout/%d/", p->s->step);
	key_of(p, question, key);
}

int plan_hooks_window(struct pass *p, int *rc)
{
	char prefix[HOOK_KEY_MAX], key[HOOK_KEY_MAX + 24];
	step_prefix(p, prefix);
	snprintf(key, sizeof(key), "%s%lld", prefix, (long long)p->s->window_started_ms);
	for (size_t i = 0; i < p->promo->nwebhooks; i++) {
		const struct promotion_webhook *w = &p->promo->webhooks[i];
		if (w->type != WEBHOOK_ROLLOUT)
			continue;
		const struct hook_mark *m = mark_of(p->s, w->name);
		if (!(m && strcmp(m->key, key) == 0) &&
		    want(p, w, key, flagger_phase(p->s->phase), "", NULL) < 0) {
			*rc = -1;
			return 1;
		}
		if (judge_windows(p, w, rc))
			return 1;
	}
	return 0;
}

bool plan_hooks_step_passed(struct pass *p, char *why, size_t size)
{
	char prefix[HOOK_KEY_MAX];
	step_prefix(p, prefix);
	for (size_t i = 0; i < p->promo->nwebhooks; i++) {
		const struct promotion_webhook *w = &p->promo->webhooks[i];
		if (w->type != WEBHOOK_ROLLOUT)
			continue;
		const struct hook_mark *m = mark_of(p->s, w->name);
		if (!m || !m->passed || strncmp(m->key, prefix, strlen(prefix)) != 0) {
			plan_format(why, size, "rollout hook \"%s\" to answer 2xx in this step",
				    w->name);
			return false;
		}
	}
	return true;
}

bool plan_hooks_holding(const struct rollout_state *s)
{
	return strncmp(s->held_reason, "webhook.", 8) == 0;
}

/* A hold of plan_hook_gate's is asked again from where it began: the phase's handler judges the
 * canary as always and asks the gate again, which holds on (no new audit line) or moves on. */
int plan_hooks_held(struct pass *p)
{
	struct rollout_state *s = p->s;
	s->phase = s->held_from;
	s->held_reason[0] = '\0';
	return plan_dispatch(p);
}

static const struct promotion_webhook *webhook_named(const struct promotion *promo,
						     const char *name, enum webhook_type type)
{
	for (size_t i = 0; promo && i < promo->nwebhooks; i++)
		if (promo->webhooks[i].type == type && strcmp(promo->webhooks[i].name, name) == 0)
			return &promo->webhooks[i];
	return NULL;
}

/* The calls owed from before: one answered (or given up after its retries), or whose webhook
 * is gone, is dropped; the others are asked for again (the runner makes a call once per key,
 * and again only after a restart). */
static int keep_owed(struct pass *p)
{
	struct hook_memory *h = &p->s->hooks;
	size_t kept = 0;
	for (size_t i = 0; i < h->nowed; i++) {
		const struct hook_call *c = &h->owed[i];
		const struct hook_result *r = answer(p, c->name, c->key);
		if (!webhook_named(p->promo, c->name, c->type) || (r && r->verdict != HOOK_PENDING))
			continue;
		if (push(p, c) < 0)
			return -1;
		h->owed[kept++] = *c;
	}
	h->nowed = kept;
	return 0;
}

static int owe(struct pass *p, const struct promotion_webhook *w, const char *key,
	       const char *phase, const char *message, const char *event_type)
{
	struct hook_memory *h = &p->s->hooks;
	if (h->nowed == HOOK_OWED_MAX)
		memmove(&h->owed[0], &h->owed[1], --h->nowed * sizeof(h->owed[0]));
	call_of(p, w, key, phase, message, event_type, &h->owed[h->nowed]);
	return push(p, &h->owed[h->nowed++]);
}

/* Marks count only in the rollout of their build, and only for webhooks that still judge. */
static void keep_marks(struct pass *p)
{
	struct hook_memory *h = &p->s->hooks;
	enum rollout_phase phase = p->s->phase;
	char prefix[HOOK_KEY_MAX];
	size_t kept = 0;
	bool active = phase == ROLLOUT_SHADOW || phase == ROLLOUT_PROMOTING ||
		      phase == ROLLOUT_ANALYSING || phase == ROLLOUT_MIRRORING ||
		      phase == ROLLOUT_FINALISING || phase == ROLLOUT_HELD;
	key_of(p, "", prefix);
	for (size_t i = 0; active && i < h->nmarks; i++) {
		const struct hook_mark *m = &h->marks[i];
		if (strncmp(m->key, prefix, strlen(prefix)) != 0 ||
		    !(webhook_named(p->promo, m->name, WEBHOOK_PRE_ROLLOUT) ||
		      webhook_named(p->promo, m->name, WEBHOOK_ROLLOUT)))
			continue;
		h->marks[kept++] = *m;
	}
	h->nmarks = kept;
}

int plan_hooks_notify(struct pass *p)
{
	const struct rollout_state *s = p->s;
	const char *post = s->phase == ROLLOUT_SUCCEEDED     ? "Succeeded"
			   : s->phase == ROLLOUT_ROLLED_BACK ? "Failed"
							     : NULL;
	char key[HOOK_KEY_MAX], question[64], message[HOOK_EVENT_MAX];
	keep_marks(p);
	if (keep_owed(p) < 0)
		return -1;
	if (!p->promo || p->prev->phase == s->phase || !s->promotion.tag[0])
		return 0;
	bool warning = s->phase == ROLLOUT_HELD || s->phase == ROLLOUT_ROLLING_BACK ||
		       s->phase == ROLLOUT_ROLLED_BACK;
	plan_format(message, sizeof(message), "%s %s: %s -> %s%s%s", s->promotion_name,
		    s->promotion.tag, rollout_phase_name(p->prev->phase),
		    rollout_phase_name(s->phase), p->progress[0] ? ": " : "", p->progress);
	for (size_t i = 0; i < p->promo->nwebhooks; i++) {
		const struct promotion_webhook *w = &p->promo->webhooks[i];
		int rc = 0;
		if (w->type == WEBHOOK_EVENT) {
			snprintf(question, sizeof(question), "event/%lld/%s", (long long)p->now,
				 rollout_phase_name(s->phase));
			key_of(p, question, key);
			rc = owe(p, w, key, flagger_phase(s->phase), message,
				 warning ? "Warning" : "Normal");
		} else if (w->type == WEBHOOK_POST_ROLLOUT && post) {
			snprintf(question, sizeof(question), "post-rollout/%s", post);
			key_of(p, question, key);
			rc = owe(p, w, key, post, "", NULL);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}
