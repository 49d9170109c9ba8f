#include "contracts/readyz.h"

#include <json-c/json.h>
#include <string.h>

#include "base/jsonparse.h"
#include "contracts/readyz_stream.h"

#define WHERE "readyz"

const char *probe_status_name(enum probe_status s)
{
	switch (s) {
	case PROBE_GREEN:
		return "green";
	case PROBE_DEGRADED:
		return "degraded";
	case PROBE_RED:
		break;
	}
	return "red";
}

static int not_probe(struct cf_err *err, const char *why)
{
	cf_err_set(err, "not a probe document: %s", why);
	return -1;
}

static int out_of_memory(struct cf_err *err)
{
	cf_err_set(err, "out of memory");
	return READYZ_OUT_OF_MEMORY;
}

static bool status_of(const char *s, enum probe_status *out)
{
	for (enum probe_status st = PROBE_GREEN; st <= PROBE_RED; st++)
		if (strcmp(s, probe_status_name(st)) == 0) {
			*out = st;
			return true;
		}
	return false;
}

/* An optional string member; false when it is there and not a string. The getters' own messages
 * are not shown: the reader keeps the controller's wording, one message per kind of mistake. */
static bool string_at(struct json_object *obj, const char *key, const char **out)
{
	return jsonparse_get_string(obj, WHERE, key, JSONPARSE_OPTIONAL, out, NULL) == 0;
}

/* A copy of s in a; false when out of memory (NULL copies as NULL). */
static bool copy(struct arena *a, const char *s, const char **out)
{
	*out = s ? arena_strdup(a, s) : NULL;
	return !s || *out;
}

/* The codes of doc's reasons, in its order, into o (copied into a). */
static int read_reasons(struct json_object *doc, struct arena *a, struct node_observation *o,
			struct cf_err *err)
{
	struct json_object *list = NULL;
	if (jsonparse_get_array(doc, WHERE, "reasons", JSONPARSE_OPTIONAL, &list, NULL) < 0)
		return not_probe(err, "\"reasons\" is not a list");
	if (!list)
		return 0;
	size_t n = json_object_array_length(list);
	const char **codes = arena_alloc(a, (n ? n : 1) * sizeof(*codes));
	if (!codes)
		return out_of_memory(err);
	for (size_t k = 0; k < n; k++) {
		struct json_object *r = json_object_array_get_idx(list, k);
		const char *code = NULL, *message = NULL;
		if (!json_object_is_type(r, json_type_object) ||
		    jsonparse_get_string(r, WHERE, "code", JSONPARSE_REQUIRED, &code, NULL) < 0)
			return not_probe(err, "a reason has no \"code\"");
		if (jsonparse_get_string(r, WHERE, "message", JSONPARSE_REQUIRED, &message, NULL) < 0)
			return not_probe(err, "a reason has no \"message\"");
		if (!copy(a, code, &codes[k]) || (k == 0 && !copy(a, message, &o->reason_message)))
			return out_of_memory(err);
	}
	o->reasons = codes;
	o->nreasons = n;
	return 0;
}

/* doctor.firstBad into o->doctor_first_bad (copied into a); absent or null is none. */
static int read_first_bad(struct json_object *doc, struct arena *a, struct node_observation *o,
			  struct cf_err *err)
{
	struct json_object *doctor = NULL, *f = NULL;
	struct readyz_finding r = {0};
	const char *check = NULL, *severity = NULL, *message = NULL, *path = NULL, *hint = NULL;
	const char *tenant = NULL;
	if (jsonparse_get_object(doc, WHERE, "doctor", JSONPARSE_OPTIONAL, &doctor, NULL) < 0 ||
	    jsonparse_get_object(doctor, WHERE, "firstBad", JSONPARSE_OPTIONAL, &f, NULL) < 0)
		return not_probe(err, "\"doctor\" or \"doctor.firstBad\" is not an object");
	if (!f)
		return 0;
	if (jsonparse_get_string(f, WHERE, "checkId", JSONPARSE_REQUIRED, &check, NULL) < 0 ||
	    jsonparse_get_string(f, WHERE, "message", JSONPARSE_REQUIRED, &message, NULL) < 0 ||
	    !string_at(f, "severity", &severity) || !string_at(f, "path", &path) ||
	    !string_at(f, "fixHint", &hint) || !string_at(f, "tenant", &tenant))
		return not_probe(err, "\"doctor.firstBad\" has no \"checkId\" or \"message\", or a "
				      "field of it is not a string");
	if (jsonparse_get_int(f, WHERE, "line", JSONPARSE_OPTIONAL, 0, INT64_MAX, &r.line, NULL) < 0 ||
	    jsonparse_get_int(f, WHERE, "column", JSONPARSE_OPTIONAL, 0, INT64_MAX, &r.column,
			      NULL) < 0)
		return not_probe(err, "\"doctor.firstBad\" line or column is not a whole number >= 0");
	if (!copy(a, check, &r.check_id) || !copy(a, severity, &r.severity) ||
	    !copy(a, message, &r.message) || !copy(a, path, &r.path) ||
	    !copy(a, hint, &r.fix_hint) || !copy(a, tenant, &r.tenant))
		return out_of_memory(err);
	o->doctor_first_bad = r;
	return 0;
}

/* latency {samples, p95ms} and digest {total}: the figures the planner compares across nodes. */
static int read_figures(struct json_object *doc, struct node_observation *o, struct cf_err *err)
{
	struct json_object *latency = NULL, *digest = NULL;
	int64_t samples = 0, total = -1;
	double p95 = 0;

	if (jsonparse_get_object(doc, WHERE, "latency", JSONPARSE_OPTIONAL, &latency, NULL) < 0 ||
	    jsonparse_get_object(doc, WHERE, "digest", JSONPARSE_OPTIONAL, &digest, NULL) < 0)
		return not_probe(err, "\"latency\" or \"digest\" is not an object");
	if (jsonparse_get_int(latency, WHERE, "samples", JSONPARSE_OPTIONAL, 0, INT64_MAX, &samples,
			      NULL) < 0 ||
	    jsonparse_get_number(latency, WHERE, "p95ms", JSONPARSE_OPTIONAL, 0, 1e12, &p95,
				 NULL) < 0)
		return not_probe(err, "\"latency.samples\" or \"latency.p95ms\" is not a number "
				      ">= 0");
	if (jsonparse_get_int(digest, WHERE, "total", JSONPARSE_OPTIONAL, 0, INT64_MAX, &total,
			      NULL) < 0)
		return not_probe(err, "\"digest.total\" is not a whole number >= 0");
	o->latency_samples = samples;
	o->p95_ms = p95;
	o->digest_known = total >= 0;
	o->digest_failures = total >= 0 ? total : 0;
	return 0;
}

/* The members the planner and `clawfleet status` read, strings copied into a. */
static int read_fields(struct json_object *doc, struct arena *a, struct node_observation *o,
		       struct cf_err *err)
{
	struct json_object *infra = NULL, *lock = NULL, *skills = NULL;
	const char *status = NULL, *tag = NULL, *commit = NULL, *cur = NULL, *next = NULL;
	const char *lock_sha = NULL, *probe_sha = NULL;

	if (jsonparse_get_string(doc, WHERE, "status", JSONPARSE_REQUIRED, &status, NULL) < 0 ||
	    !status_of(status, &o->status))
		return not_probe(err, "\"status\" is not green, degraded or red");
	if (jsonparse_get_int(doc, WHERE, "observedGeneration", JSONPARSE_OPTIONAL, 0, INT64_MAX,
			      &o->observed_generation, NULL) < 0)
		return not_probe(err, "\"observedGeneration\" is not a whole number >= 0");
	if (jsonparse_get_object(doc, WHERE, "infra", JSONPARSE_OPTIONAL, &infra, NULL) < 0 ||
	    jsonparse_get_object(doc, WHERE, "lock", JSONPARSE_OPTIONAL, &lock, NULL) < 0 ||
	    jsonparse_get_object(doc, WHERE, "skills", JSONPARSE_OPTIONAL, &skills, NULL) < 0)
		return not_probe(err, "\"infra\", \"lock\" or \"skills\" is not an object");
	if (!string_at(infra, "tag", &tag) || !string_at(infra, "commit", &commit) ||
	    !string_at(skills, "current", &cur) || !string_at(skills, "next", &next) ||
	    !string_at(lock, "sha256", &lock_sha) || !string_at(doc, "probeSha256", &probe_sha))
		return not_probe(err, "a tag, commit, skills, sha256 or probeSha256 field is not a "
				      "string");
	if (jsonparse_get_bool(lock, WHERE, "versionMatch", JSONPARSE_OPTIONAL, &o->version_match,
			       NULL) < 0)
		return not_probe(err, "\"lock.versionMatch\" is not true or false");
	if (read_figures(doc, o, err) < 0)
		return -1;
	struct cf_err why;
	if (parity_read(doc, &o->parity, &why) < 0 || token_ages_read(doc, &o->tokens, &why) < 0)
		return not_probe(err, why.msg);
	int rc = read_reasons(doc, a, o, err);
	if (rc < 0)
		return rc;
	rc = read_first_bad(doc, a, o, err);
	if (rc < 0)
		return rc;
	if (!copy(a, tag, &o->tag) || !copy(a, commit, &o->commit) ||
	    !copy(a, cur, &o->skills_current) || !copy(a, next, &o->skills_next) ||
	    !copy(a, lock_sha, &o->lock_sha256) || !copy(a, probe_sha, &o->probe_sha256))
		return out_of_memory(err);
	return 0;
}

int readyz_read(struct json_object *doc, const char *node, struct arena *a,
		struct node_observation *out, struct cf_err *err)
{
	struct node_observation o = {0};
	const char *answered = NULL;

	if (!json_object_is_type(doc, json_type_object))
		return not_probe(err, "not a JSON object");
	if (jsonparse_get_string(doc, WHERE, "node", JSONPARSE_REQUIRED, &answered, NULL) < 0)
		return not_probe(err, "no \"node\" name");
	/* A misrouted address must never pass for the node it names. */
	if (strcmp(answered, node) != 0) {
		if (!copy(a, answered, &out->name))
			return out_of_memory(err);
		cf_err_set(err, "the probe of another node");
		return READYZ_OTHER_NODE;
	}
	int rc = read_fields(doc, a, &o, err);
	if (rc < 0)
		return rc;
	if (!copy(a, node, &o.name))
		return out_of_memory(err);
	o.reachable = true;
	*out = o;
	return 0;
}

int readyz_parse(struct jsonparse *p, const char *body, size_t len, const char *node,
		 struct arena *a, struct node_observation *out, struct cf_err *err)
{
	struct json_object *doc = NULL;
	struct cf_err why;

	if (!len)
		return not_probe(err, "the body is empty");
	/* The bytes first; the tree only for what that reader is not sure of, so a refused
	 * document gets its message from the one reader that words them. */
	int rc = readyz_stream_read(body, len, node, a, out);
	if (rc == READYZ_OTHER_NODE) {
		cf_err_set(err, "the probe of another node");
		return rc;
	}
	if (rc == READYZ_OUT_OF_MEMORY)
		return out_of_memory(err);
	if (rc == 0)
		return 0;
	if ((p ? jsonparse_next_object(p, body, len, &doc, &why)
	       : jsonparse_object(body, len, READYZ_DEPTH, &doc, &why)) < 0)
		return not_probe(err, why.msg);
	rc = readyz_read(doc, node, a, out, err);
	json_object_put(doc);
	return rc;
}
