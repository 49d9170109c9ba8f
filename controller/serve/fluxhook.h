/* fluxhook: the controller's Flux webhook receiver (POST /hook/flux, the path is configuration).
 * Register its route with max_body FLUXHOOK_MAX_BODY and an auth callback calling
 * fluxhook_check_head: httpd then answers 413 to a larger body before asking for any token, 401
 * to a request without a good bearer token or an X-Signature before reading its body, and 413
 * to a signed body over HTTPD_BY_BODY_MAX. fluxhook_handle then checks, in this order:
 *   1. authentication: "Authorization: Bearer <token>", or "X-Signature: sha256=<hex>" or
 *      "sha512=<hex>" (Flux's generic-hmac: the HMAC of the raw body) keyed with a token, where
 *      the token is one tokens.h accepts (current, next, prev; constant time). Any failure is
 *      401 with TOKENS_UNAUTHORIZED_BODY, the same bytes whatever failed;
 *   2. the x-flux-event header when required (400 {"error":"missing header x-flux-event"});
 *   3. the body, a notification-controller event; 400 {"error": why} when it is not one;
 *   4. the event's object against the accept list, when the configuration gives one: an object
 *      no entry names is answered 202 {"eventId", "reason", "verdict": "ignored"}, asks for
 *      no pass and is not remembered (outcome.ignored; the caller logs it).
 * An accepted event is answered 202 with the envelope below. A new eventId asks the caller for a
 * reconcile pass at once; one seen within the TTL (Flux redelivers up to 4 times) is answered
 * with the stored reply, byte for byte, and asks for nothing. Thread-safe; nothing is logged.
 *
 * eventId: sha256 hex of the canonical JSON (canon.h) of the array
 *   [kind, namespace, name, reason, message, revision, timestamp]
 * from involvedObject and the event, null for a missing one, e.g. ["GitRepository",
 * "gitops-system","webapp","reason","message",null,"2022-09-30T06:40:29Z"]: Flux has no event
 * id, and these are the fields its retries repeat and distinct events differ in.
 * correlationId: nf_correlation_id(eventId) (notifier.h), stable for the event.
 * revision, imageRef: metadata keys of those names, or the same with an API group prefix
 * ("kustomize.toolkit.fluxcd.io/revision", as older notification-controllers forwarded them); a
 * plain key wins. Without an imageRef in the event, the Promotion's (the snapshot's) stands in.
 * Nothing in an event routes tenants: HAProxy routes them by the fixed header its tenant map
 * names, and the TenantSlices in Git are that contract, so a canaryHeader is not read.
 *
 * The 202 envelope, canonical JSON, keys sorted; strings are null where unknown:
 *   {"correlationId", "eventId", "fluxUid" (involvedObject.uid), "imageRef",
 *    "percent", "phase", "probeKey", "promotion": {"name", "revision", "skillSemver", "tag"},
 *    "revision", "step", "verdict": "promote" | "hold" | "rollback",
 *    "probes": {"canary.health": {"node", "reason", "status"},
 *               "canary.latency": {"node", "p95ms", "baselineP95ms", "ratio", "maxRatio"},
 *               "gateway.health": {"status"},
 *               "image.match": {"imageRef", "policyTag", "promotionImageRef", "pinnedVersion",
 *                               "match"}}}
 * The verdict, first rule that applies; probeKey names what decided it:
 *   rollback: phase RollingBack or RolledBack (the snapshot's phase reason, else
 *             "rollout.phase"); a red canary (its first reason code, else "canary.health");
 *   hold:     phase Held (phase reason, else "rollout.phase"); suspended ("rollout.suspended");
 *             no pass yet or no canary ("canary.unobserved"); an unreachable canary
 *             ("canary.unreachable"); a degraded canary (first reason, else "canary.health");
 *             the image does not match ("image.match");
 *   promote:  otherwise ("canary.health").
 * canary.health shows the worst canary (red, unreachable, degraded, green; the first listed of
 * equals), canary.latency the canary with the highest ratio: p95 over the baseline, a baseline
 * under PROBE_LATENCY_BASELINE_FLOOR_MS counted as that (as node_probe.h judges latency.p95).
 * image.match: the event's imageRef against the Promotion's, the same repository and tag and,
 * when both carry one, digest; then the image's tag (the event's imageRef, else the
 * Promotion's) against pinnedVersion, the openclaw.version openclaw.lock pins: the Macs install
 * what the lock says, so an image the lock does not pin is no build the fleet runs (the planner
 * stalls it as ImageNotPinned). policyTag is the tag of the event's imageRef. Without an
 * imageRef anywhere, or without a lock, that part makes no claim: it matches. The reply reflects the controller's last
 * pass: a commit Flux just pushed is read by the pass the event triggers. */
#ifndef CLAWFLEET_FLUXHOOK_H
#define CLAWFLEET_FLUXHOOK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/tokens.h"
#include "notify/notifier.h"
#include "observe/node_probe.h"
#include "plan/rollout.h"
#include "serve/httpd.h"

#define FLUXHOOK_DEFAULT_PATH "/hook/flux"
#define FLUXHOOK_MAX_BODY (1u << 20)
#define FLUXHOOK_DEFAULT_CAPACITY 1024
#define FLUXHOOK_MAX_CAPACITY 65536
#define FLUXHOOK_DEFAULT_TTL_MS (3600 * 1000)
#define FLUXHOOK_MAX_TTL_MS (7 * 24 * 3600 * 1000LL)
#define FLUXHOOK_CANARIES_MAX 16
#define FLUXHOOK_IMAGE_REF_MAX 513	/* bytes and a NUL */
#define FLUXHOOK_ACCEPT_MAX 64
#define FLUXHOOK_MESSAGE_MAX 512

/* One canary MacNode as the controller's last pass saw it. */
struct fluxhook_canary {
	char node[ROLLOUT_NODE_NAME_MAX];
	bool reachable;				/* false: no probe this pass; status ignored */
	enum probe_status status;
	char reason[ROLLOUT_REASON_MAX];	/* the probe's first reason code; "" when none */
	double p95_ms, baseline_p95_ms;		/* <= 0: unknown */
};

/* What the controller copies out of its last pass, under its own mutex, for one request. All
 * zero is valid: nothing observed yet. Strings are UTF-8 (names, tags and reason codes). */
struct fluxhook_snapshot {
	bool observed;				/* a pass has run; false: nothing below is known */
	char promotion[ROLLOUT_TEXT_MAX];	/* the Promotion's name; "" when Git has none */
	char tag[ROLLOUT_TEXT_MAX];
	char image_ref[FLUXHOOK_IMAGE_REF_MAX];	/* the Promotion's imageRef; "" when none */
	char skill_semver[ROLLOUT_TEXT_MAX];
	char pinned_version[ROLLOUT_TEXT_MAX];	/* openclaw.lock's openclaw.version; "" when none */
	char revision[ROLLOUT_REVISION_MAX];	/* the desired state's "<ref>@sha1:<hex>" */
	enum rollout_phase phase;
	char phase_reason[ROLLOUT_REASON_MAX];	/* why Held or rolling back; "" otherwise */
	bool suspended;
	int step, percent;
	struct fluxhook_canary canaries[FLUXHOOK_CANARIES_MAX];	/* the worst first when more */
	size_t ncanaries;
	enum probe_status gateways;		/* the worst of the gateways, unreachable as red */
};

/* One object whose events the receiver acts on; a NULL field matches any value. */
struct fluxhook_accept {
	const char *kind, *namespace, *name;
};

struct fluxhook_config {
	struct tokens *tokens;		/* borrowed: must outlive the receiver */
	bool require_event_header;
	/* Copied: naccept 0 accepts any object; at most FLUXHOOK_ACCEPT_MAX entries. */
	const struct fluxhook_accept *accept;
	size_t naccept;
	size_t dedupe_capacity;		/* replies remembered (LRU); 0: the default */
	int64_t dedupe_ttl_ms;		/* and for how long; 0: the default */
	int64_t (*clock_ms)(void *ctx);	/* monotonic ms; NULL: CLOCK_MONOTONIC */
	void *clock_ctx;
};

#define FLUXHOOK_CONFIG_INIT { .require_event_header = true }

/* What one request came to, for the caller's log, its wake-up and the notifier (POST /v1/events:
 * a rollback verdict, or a reply that is not 2xx). */
struct fluxhook_outcome {
	unsigned int status;		/* the reply's HTTP status */
	bool trigger;			/* a new event was accepted: run a reconcile pass now */
	bool redelivery;		/* an event seen within the TTL: its stored reply again */
	bool ignored;			/* 202 "ignored": no accept entry names the object */
	/* The rest is filled when status is 202. */
	enum broadcast_verdict verdict;
	char flux_uid[NF_ID_MAX];	/* "" when the event had none */
	char event_id[65];
	char correlation_id[NF_CORRELATION_MAX];
	char probe_key[ROLLOUT_REASON_MAX];
	/* One line without secrets: why the request was refused, or the verdict and its cause. */
	char message[FLUXHOOK_MESSAGE_MAX];
};

struct fluxhook;

int fluxhook_new(struct fluxhook **out, const struct fluxhook_config *cfg, struct cf_err *err);
void fluxhook_free(struct fluxhook *h);

/* The route's auth callback, from the headers alone: a good bearer token passes, an X-Signature
 * leaves the verdict to fluxhook_handle once the body is in, anything else is refused and *out
 * describes the 401 as fluxhook_handle would have. */
enum httpd_auth fluxhook_check_head(struct fluxhook *h, const struct httpd_request *req,
				    struct fluxhook_outcome *out);
/* Answers one request into resp and describes it in *out. Returns 0, or -1 only when out of
 * memory (the server then answers 500). */
int fluxhook_handle(struct fluxhook *h, const struct httpd_request *req,
		    const struct fluxhook_snapshot *snap, struct httpd_response *resp,
		    struct fluxhook_outcome *out);

#endif
