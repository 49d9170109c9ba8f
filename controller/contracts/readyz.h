/* readyz: the agent's merged probe, GET /readyz, as both sides of the wire name it. The agent
 * judges a node green, degraded or red (observe/node_probe.h, HTTP 200, 200 and 503) and writes
 * the document (probe_render_json there, which renders the probe's own inputs); this module is its
 * one reader: the controller's poll (observe/fleet_poll.h) and `clawfleet plan --observed` read
 * each node's document into a node_observation, the planner's view of a node, through
 * readyz_read, so the dry run accepts and sees exactly what the live loop does.
 *
 * The reading is strict and never coerces: "node" and "status" (green, degraded or red) are
 * required strings; "observedGeneration" is an integer >= 0 (absent: 0); "infra", "lock" and
 * "skills" are objects whose tag, commit, current, next and sha256 are strings; "probeSha256" is a
 * string; "lock.versionMatch" is true or false (absent: false); "reasons" is a list of objects
 * with a string "code" and "message"; "latency.samples" and "digest.total" are integers >= 0 and
 * "latency.p95ms" a number >= 0. "doctor.firstBad" is an object whose "checkId" and "message" are
 * strings, "severity", "path", "fixHint" and "tenant" strings, "line" and "column" integers >= 0.
 * "parity" and "parityParts" are read as contracts/parity.h says, "tokenAges" as
 * contracts/token_age.h does. Any member may be absent or null except node and status; members neither the planner nor
 * `clawfleet status` reads are not looked at. */
#ifndef CLAWFLEET_READYZ_H
#define CLAWFLEET_READYZ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "contracts/parity.h"
#include "contracts/token_age.h"

struct json_object;
struct jsonparse;

#define READYZ_DEPTH 32 /* the document nests about a dozen levels */

/* readyz_read and readyz_parse return 0, -1 when the document is not a probe document, or: */
#define READYZ_OTHER_NODE (-2)	  /* it is the probe of another node */
#define READYZ_OUT_OF_MEMORY (-3)

enum probe_status { PROBE_GREEN, PROBE_DEGRADED, PROBE_RED };

const char *probe_status_name(enum probe_status s); /* "green", "degraded", "red" */

/* The doctor's first bad finding as the probe names it (doctor.firstBad); strings NULL, numbers
 * 0 where it names none. */
struct readyz_finding {
	const char *check_id; /* NULL: the probe names no finding */
	const char *severity, *message, *path, *fix_hint, *tenant;
	int64_t line, column;
};

/* One node's merged probe (GET /readyz) as the controller read it; strings are borrowed and
 * NULL where the probe had none. */
struct node_observation {
	const char *name;
	bool reachable; /* false: no probe this pass; the rest is ignored */
	enum probe_status status;
	const char *const *reasons; /* reason codes as the probe lists them, red first */
	size_t nreasons;
	int64_t observed_generation;
	const char *tag;    /* the infra tag; the controller names it from the commit when the
			       probe has none (a node the controller never targeted) */
	const char *commit; /* the infra commit */
	const char *skills_current, *skills_next;
	const char *lock_sha256;
	bool version_match;
	const char *probe_sha256;
	struct parity parity; /* what must match its peers on the same build; digest "" if none */
	struct token_ages tokens; /* "tokenAges" (contracts/token_age.h); known false if absent */
	/* What people read first about the node (/status, `clawfleet status`); the planner does
	 * not judge by these. */
	const char *reason_message; /* the first reason's message; NULL when there is none */
	struct readyz_finding doctor_first_bad;
	/* The agent's synthetic checks: how many stand behind p95_ms (0: none, or an agent that
	 * does not say; p95_ms then means nothing). */
	int64_t latency_samples;
	double p95_ms;
	/* Webhook delivery failures in the notifier's current window, as the node's digest
	 * reports them; known only when the node reads a digest. */
	bool digest_known;
	int64_t digest_failures;
};

/* Reads doc, the /readyz document of the node named node, into *out: reachable, name and every
 * string and the reason list copied into a (doc may be dropped after). -1: err says "not a probe
 * document: <why>" and *out is as it was. READYZ_OTHER_NODE: the document names another node,
 * whose name out->name holds (in a) for the caller's message; the rest of *out is as it was. */
int readyz_read(struct json_object *doc, const char *node, struct arena *a,
		struct node_observation *out, struct cf_err *err);
/* The same for a body of len bytes, with the same outcome and messages: read over the bytes
 * without a tree (contracts/readyz_stream.h); what that reader is not sure of (every refused
 * document among it) is parsed with p (a parser kept across bodies; NULL: one made for this
 * body, READYZ_DEPTH deep) and read by readyz_read. A body that is empty or not one JSON object
 * is not a probe document. */
int readyz_parse(struct jsonparse *p, const char *body, size_t len, const char *node,
		 struct arena *a, struct node_observation *out, struct cf_err *err);

#endif
