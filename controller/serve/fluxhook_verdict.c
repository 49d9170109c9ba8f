/* The Flux receiver's answer to a new event: the verdict the controller's last pass supports
 * (rollback, hold or promote, and the probe key that decided it) and the 202 envelope, canonical
 * JSON, that carries it with the probes behind it. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/canon.h"
#include "desired/imageref.h"
#include "serve/fluxhook_internal.h"

#define WHY_MAX (2 * FLUXHOOK_IMAGE_REF_MAX + 64)

/* What decided the verdict. */
struct decision {
	enum broadcast_verdict verdict;
	char probe_key[ROLLOUT_REASON_MAX];
	char why[WHY_MAX];
};

static bool image_refs_match(const char *event_ref, const char *promotion_ref)
{
	struct image_ref a, b;
	image_ref_split(event_ref, &a);
	image_ref_split(promotion_ref, &b);
	if (a.repo_len != b.repo_len || memcmp(a.repo, b.repo, a.repo_len) != 0)
		return false;
	if (!a.tag != !b.tag ||
	    (a.tag && (a.tag_len != b.tag_len || memcmp(a.tag, b.tag, a.tag_len) != 0)))
		return false;
	return !a.digest || !b.digest || strcmp(a.digest, b.digest) == 0;
}

/* Red, unreachable, degraded, green: higher is worse. */
static int canary_rank(const struct fluxhook_canary *c)
{
	if (!c->reachable)
		return 2;
	return c->status == PROBE_RED ? 3 : c->status == PROBE_DEGRADED ? 1 : 0;
}

static size_t canary_count(const struct fluxhook_snapshot *snap)
{
	if (!snap->observed)
		return 0;
	return snap->ncanaries < FLUXHOOK_CANARIES_MAX ? snap->ncanaries : FLUXHOOK_CANARIES_MAX;
}

static const struct fluxhook_canary *worst_canary(const struct fluxhook_snapshot *snap)
{
	const struct fluxhook_canary *worst = NULL;
	for (size_t i = 0; i < canary_count(snap); i++)
		if (!worst || canary_rank(&snap->canaries[i]) > canary_rank(worst))
			worst = &snap->canaries[i];
	return worst;
}

/* p95 over the baseline, floored as node_probe.h judges latency.p95; negative when unknown. */
static double latency_ratio(const struct fluxhook_canary *c)
{
	if (!c->reachable || !(c->p95_ms > 0) || !(c->baseline_p95_ms > 0))
		return -1;
	double baseline = c->baseline_p95_ms < PROBE_LATENCY_BASELINE_FLOOR_MS
				  ? PROBE_LATENCY_BASELINE_FLOOR_MS
				  : c->baseline_p95_ms;
	return c->p95_ms / baseline;
}

static const struct fluxhook_canary *slowest_canary(const struct fluxhook_snapshot *snap)
{
	const struct fluxhook_canary *slowest = NULL;
	for (size_t i = 0; i < canary_count(snap); i++)
		if (latency_ratio(&snap->canaries[i]) >= 0 &&
		    (!slowest || latency_ratio(&snap->canaries[i]) > latency_ratio(slowest)))
			slowest = &snap->canaries[i];
	return slowest;
}

static void decide_as(struct decision *d, enum broadcast_verdict verdict, const char *key,
		      const char *fallback_key)
{
	d->verdict = verdict;
	snprintf(d->probe_key, sizeof(d->probe_key), "%s", key && key[0] ? key : fallback_key);
}

/* image_problem: why the image does not match, NULL when it does. */
static void decide(const struct fluxhook_snapshot *snap, const char *image_problem,
		   struct decision *d)
{
	const struct fluxhook_canary *c = worst_canary(snap);
	bool observed = snap->observed;
	const char *phase = rollout_phase_name(snap->phase);

	if (observed &&
	    (snap->phase == ROLLOUT_ROLLING_BACK || snap->phase == ROLLOUT_ROLLED_BACK)) {
		decide_as(d, VERDICT_ROLLBACK, snap->phase_reason, "rollout.phase");
		snprintf(d->why, sizeof(d->why), "the rollout is %s", phase);
	} else if (c && c->reachable && c->status == PROBE_RED) {
		decide_as(d, VERDICT_ROLLBACK, c->reason, "canary.health");
		snprintf(d->why, sizeof(d->why), "canary %s is red", c->node);
	} else if (observed && snap->phase == ROLLOUT_HELD) {
		decide_as(d, VERDICT_HOLD, snap->phase_reason, "rollout.phase");
		snprintf(d->why, sizeof(d->why), "the rollout is Held");
	} else if (observed && snap->suspended) {
		decide_as(d, VERDICT_HOLD, NULL, "rollout.suspended");
		snprintf(d->why, sizeof(d->why), "the Promotion is suspended");
	} else if (!c) {
		decide_as(d, VERDICT_HOLD, NULL, "canary.unobserved");
		snprintf(d->why, sizeof(d->why), "no canary has been observed yet");
	} else if (!c->reachable) {
		decide_as(d, VERDICT_HOLD, NULL, "canary.unreachable");
		snprintf(d->why, sizeof(d->why), "canary %s did not answer its probe", c->node);
	} else if (c->status == PROBE_DEGRADED) {
		decide_as(d, VERDICT_HOLD, c->reason, "canary.health");
		snprintf(d->why, sizeof(d->why), "canary %s is degraded", c->node);
	} else if (image_problem) {
		decide_as(d, VERDICT_HOLD, NULL, "image.match");
		snprintf(d->why, sizeof(d->why), "%s", image_problem);
	} else {
		decide_as(d, VERDICT_PROMOTE, NULL, "canary.health");
		snprintf(d->why, sizeof(d->why), "canary %s is green", c->node);
	}
}

/* ---- the envelope ---- */

/* A snapshot string; null when empty. */
static struct json_object *text_or_null(const char *s, size_t size)
{
	size_t len = strnlen(s, size);
	return len ? json_object_new_string_len(s, (int)len) : NULL;
}

static struct json_object *rounded(double v, double unit)
{
	return json_object_new_double(round(v / unit) * unit);
}

static struct json_object *child(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(parent, key, o);
	return o;
}

static void render_probes(struct json_object *env, const struct fluxhook_snapshot *snap,
			  const char *image_ref, bool image_match)
{
	struct json_object *probes = child(env, "probes"), *o;
	const struct fluxhook_canary *worst = worst_canary(snap);
	const struct fluxhook_canary *slowest = slowest_canary(snap);
	const char *health = !worst		? NULL
			     : !worst->reachable ? "unreachable"
						 : probe_status_name(worst->status);

	o = child(probes, "canary.health");
	json_object_object_add(o, "node", worst ? text_or_null(worst->node, sizeof(worst->node))
						: NULL);
	json_object_object_add(o, "status", health ? json_object_new_string(health) : NULL);
	json_object_object_add(o, "reason", worst ? text_or_null(worst->reason,
								 sizeof(worst->reason))
						  : NULL);

	o = child(probes, "canary.latency");
	json_object_object_add(o, "node", slowest ? text_or_null(slowest->node,
								 sizeof(slowest->node))
						  : NULL);
	json_object_object_add(o, "p95ms", slowest ? rounded(slowest->p95_ms, 0.1) : NULL);
	json_object_object_add(o, "baselineP95ms",
			       slowest ? rounded(slowest->baseline_p95_ms, 0.1) : NULL);
	json_object_object_add(o, "ratio", slowest ? rounded(latency_ratio(slowest), 0.01) : NULL);
	json_object_object_add(o, "maxRatio", json_object_new_double(PROBE_LATENCY_MAX_FACTOR));

	const char *gateways = snap->observed ? probe_status_name(snap->gateways) : NULL;
	o = child(probes, "gateway.health");
	json_object_object_add(o, "status", gateways ? json_object_new_string(gateways) : NULL);

	struct image_ref split;
	o = child(probes, "image.match");
	json_object_object_add(o, "imageRef", image_ref ? json_object_new_string(image_ref) : NULL);
	if (image_ref)
		image_ref_split(image_ref, &split);
	json_object_object_add(o, "policyTag",
			       image_ref && split.tag
				       ? json_object_new_string_len(split.tag, (int)split.tag_len)
				       : NULL);
	json_object_object_add(o, "promotionImageRef",
			       text_or_null(snap->image_ref, sizeof(snap->image_ref)));
	json_object_object_add(o, "pinnedVersion",
			       text_or_null(snap->pinned_version, sizeof(snap->pinned_version)));
	json_object_object_add(o, "match", json_object_new_boolean(image_match));
}

/* The 202 body, canonical JSON, into a malloc'd *reply. */
static int render_envelope(const struct flux_event *ev, const struct fluxhook_snapshot *snap,
			   const struct decision *d, const struct fluxhook_outcome *out,
			   const char *image_ref, bool image_match, char **reply, size_t *len,
			   struct cf_err *err)
{
	struct json_object *env = json_object_new_object(), *o;
	bool observed = snap->observed;
	int rc;

	if (!env)
		return cf_err_set(err, "out of memory");
	json_object_object_add(env, "eventId", json_object_new_string(out->event_id));
	json_object_object_add(env, "fluxUid", ev->uid ? json_object_new_string(ev->uid) : NULL);
	json_object_object_add(env, "revision",
			       ev->revision ? json_object_new_string(ev->revision) : NULL);
	json_object_object_add(env, "imageRef",
			       image_ref ? json_object_new_string(image_ref) : NULL);
	json_object_object_add(env, "verdict",
			       json_object_new_string(broadcast_verdict_name(d->verdict)));
	json_object_object_add(env, "probeKey", json_object_new_string(d->probe_key));
	json_object_object_add(env, "phase", observed ? json_object_new_string(
								rollout_phase_name(snap->phase))
						      : NULL);
	json_object_object_add(env, "step", observed ? json_object_new_int(snap->step) : NULL);
	json_object_object_add(env, "percent",
			       observed ? json_object_new_int(snap->percent) : NULL);
	json_object_object_add(env, "correlationId", json_object_new_string(out->correlation_id));
	o = child(env, "promotion");
	json_object_object_add(o, "name", text_or_null(snap->promotion, sizeof(snap->promotion)));
	json_object_object_add(o, "tag", text_or_null(snap->tag, sizeof(snap->tag)));
	json_object_object_add(o, "skillSemver",
			       text_or_null(snap->skill_semver, sizeof(snap->skill_semver)));
	json_object_object_add(o, "revision", text_or_null(snap->revision, sizeof(snap->revision)));
	render_probes(env, snap, image_ref, image_match);
	rc = canon_json(env, reply, len, err);
	json_object_put(env);
	return rc;
}

int fluxhook_answer(const struct flux_event *ev, const struct fluxhook_snapshot *snap,
		    struct fluxhook_outcome *out, char **reply, size_t *len, struct cf_err *err)
{
	const char *image_ref = ev->image_ref;
	char problem[WHY_MAX] = "";
	struct decision d;

	if (image_ref && !(snap->image_ref[0] && image_refs_match(image_ref, snap->image_ref)))
		snprintf(problem, sizeof(problem), "image %s is not the Promotion's %s yet",
			 image_ref, snap->image_ref[0] ? snap->image_ref : "(none)");
	else if (!image_ref && snap->image_ref[0])
		image_ref = snap->image_ref;
	/* The image Flux picked is only the fleet's build when openclaw.lock pins that version:
	 * the Macs install what the lock says, whatever imageRef names. */
	if (!problem[0] && image_ref && snap->pinned_version[0] &&
	    !image_ref_tag_is(image_ref, snap->pinned_version))
		snprintf(problem, sizeof(problem),
			 "image %s is not the version openclaw.lock pins (%s)", image_ref,
			 snap->pinned_version);
	decide(snap, problem[0] ? problem : NULL, &d);

	out->status = 202;
	out->trigger = true;
	out->verdict = d.verdict;
	snprintf(out->flux_uid, sizeof(out->flux_uid), "%s", ev->uid ? ev->uid : "");
	nf_correlation_id(out->event_id, out->correlation_id);
	snprintf(out->probe_key, sizeof(out->probe_key), "%s", d.probe_key);
	fluxhook_describe(out, "Flux %s %s%s%s: %s by %s: %s", ev->kind,
			  ev->namespace ? ev->namespace : "", ev->namespace ? "/" : "", ev->name,
			  broadcast_verdict_name(d.verdict), d.probe_key, d.why);
	return render_envelope(ev, snap, &d, out, image_ref, !problem[0], reply, len, err);
}
