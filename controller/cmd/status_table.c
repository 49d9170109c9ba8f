#include "cmd/status_table.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "base/timeparse.h"
#include "cmd/status_table_internal.h"

#define TEXT_MAX 4096	/* one line of the document's text as printed */
#define LABEL "%-11s "	/* the rollout's labels */
#define DETAIL_INDENT 25 /* a node's detail lines start under its STATUS */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A field as text; "-" when absent or null. */
static const char *text(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);
	return v ? json_object_get_string(v) : "-";
}

/* A string member; NULL when absent, null or not a string. */
static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* src up to its first newline (*rest after it, NULL at the end) into dst, every control
 * character (C0, DEL, C1) as "?". */
static void clean_line(char *dst, size_t size, const char *src, const char **rest)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0;
	*rest = NULL;
	for (; *s && n + 1 < size; s++) {
		if (*s == '\n') {
			*rest = (const char *)s + 1;
			break;
		}
		bool c1 = s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
		dst[n++] = *s < 0x20 || *s == 0x7f || c1 ? '?' : (char)*s;
		s += c1;
	}
	dst[n] = '\0';
}

static void clean(char *dst, size_t size, const char *src)
{
	const char *rest;
	clean_line(dst, size, src ? src : "-", &rest);
}

/* text, one line after the other, the first where the cursor is, the others indent deep. */
static void put_lines(FILE *out, int indent, const char *s)
{
	char line[TEXT_MAX];
	for (bool first = true; s; first = false) {
		clean_line(line, sizeof(line), s, &s);
		fprintf(out, "%*s%s\n", first ? 0 : indent, "", line);
	}
}

int64_t status_table_time_of(struct json_object *o, const char *key)
{
	const char *s = str(o, key), *frac = s ? strchr(s, '.') : NULL;
	time_t t;
	int64_t ms = 0;
	if (!s || rfc3339_parse(s, &t, NULL) < 0)
		return -1;
	for (int scale = 100; frac && scale && *++frac >= '0' && *frac <= '9'; scale /= 10)
		ms += (*frac - '0') * scale;
	return (int64_t)t * 1000 + ms;
}

void status_table_span(char *out, size_t size, int64_t ms)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;
	if (s < 60)
		snprintf(out, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, size, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(out, size, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(out, size, "%lldd%lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
}

/* The source's problems are listed under "source": a condition that repeats them says its
 * first line. */
static void print_conditions(FILE *out, struct json_object *doc)
{
	const char *source_error = str(doc, "sourceError");
	struct json_object *conds = get(doc, "conditions");
	size_t n = json_object_is_type(conds, json_type_array) ? json_object_array_length(conds) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(conds, i);
		const char *type = text(c, "type"), *status = text(c, "status");
		char reason[TEXT_MAX];
		/* Stalled=False and Degraded=False say nothing: only a stall and a gateway out
		 * of service are worth a line. */
		if ((strcmp(type, "Stalled") == 0 || strcmp(type, "Degraded") == 0) &&
		    strcmp(status, "True") != 0)
			continue;
		const char *message = text(c, "message");
		clean(reason, sizeof(reason), text(c, "reason"));
		int at = fprintf(out, "%-11s %-5s  %s: ", type, status, reason);
		if (source_error && strcmp(message, source_error) == 0) {
			char first[TEXT_MAX];
			clean(first, sizeof(first), message);
			fprintf(out, "%s\n", first);
		} else {
			put_lines(out, at > 0 ? at : 0, message);
		}
	}
}

/* One line when the Git source is out of date: never fetched yet, or its fetches failing. */
static void print_fetch(FILE *out, struct json_object *src, int64_t now_ms)
{
	struct json_object *fetched = get(src, "fetched"), *failures = get(src, "consecutiveFailures");
	int64_t next = status_table_time_of(src, "nextFetchAt"), n = json_object_get_int64(failures);
	bool never = json_object_is_type(fetched, json_type_boolean) &&
		     !json_object_get_boolean(fetched);
	char stale[32], in[32];
	if (!json_object_is_type(src, json_type_object) || (!never && n <= 0))
		return;
	status_table_span(stale, sizeof(stale), json_object_get_int64(get(src, "staleSeconds")) * 1000);
	if (never)
		fprintf(out, LABEL "not fetched yet (%s since the start)", "fetch", stale);
	else
		fprintf(out, LABEL "stale for %s: %lld fetches failed in a row", "fetch", stale,
			(long long)n);
	if (next >= 0) {
		status_table_span(in, sizeof(in), next - now_ms);
		fprintf(out, "; next try in %s\n", in);
	} else {
		fprintf(out, "; fetching now\n");
	}
}

/* What a hold waits for, for how long already, and how long until maxHold ends it. */
static void print_hold(FILE *out, struct json_object *hold, int64_t now_ms)
{
	char waiting[TEXT_MAX], held[32], left[32], max_hold[64];
	int64_t since = status_table_time_of(hold, "since"), deadline = status_table_time_of(hold, "deadline");
	clean(waiting, sizeof(waiting), text(hold, "waitingFor"));
	clean(max_hold, sizeof(max_hold), text(hold, "maxHold"));
	fprintf(out, LABEL "waiting for %s", "hold", waiting);
	if (since >= 0) {
		status_table_span(held, sizeof(held), now_ms - since);
		fprintf(out, ", held %s", held);
	}
	if (deadline >= 0 && deadline > now_ms) {
		status_table_span(left, sizeof(left), deadline - now_ms);
		fprintf(out, "; %s left of maxHold %s\n", left, max_hold);
	} else if (deadline >= 0) {
		fprintf(out, "; maxHold %s has passed\n", max_hold);
	} else if (str(hold, "maxHold")) {
		fprintf(out, "; maxHold %s does not run: a person decides (Stalled)\n", max_hold);
	} else {
		fprintf(out, "; no maxHold\n");
	}
}

/* How many nodes of the rotation have member key true. */
static size_t count_true(struct json_object *nodes, const char *key)
{
	size_t n = 0;
	json_object_object_foreach(nodes, name, node)
	{
		struct json_object *v = get(node, key);
		(void)name;
		n += json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	}
	return n;
}

/* One line while the agents' token rotation is under way (its phase, how many agents
 * acknowledged, what it waits for), and a line per node whose last step failed. */
static void print_rotation(FILE *out, struct json_object *rot)
{
	struct json_object *nodes = get(rot, "nodes");
	const char *phase = str(rot, "phase");
	char line[TEXT_MAX], name[TEXT_MAX];
	if (!json_object_is_type(rot, json_type_object))
		return;
	if (str(rot, "error")) {
		clean(line, sizeof(line), str(rot, "error"));
		fprintf(out, LABEL "the rotation's progress cannot be read: %s\n", "tokens", line);
		return;
	}
	if (!phase || strcmp(phase, "rotated") == 0 || !json_object_is_type(nodes, json_type_object))
		return;
	size_t total = (size_t)json_object_object_length(nodes);
	clean(line, sizeof(line), phase);
	fprintf(out, LABEL "rotation %s, %zu of %zu agents acknowledged", "tokens", line,
		count_true(nodes, "acknowledged"), total);
	if (strcmp(phase, "switched") == 0)
		fprintf(out, ", %zu promoted", count_true(nodes, "promoted"));
	else if (strcmp(phase, "promoted") == 0)
		fprintf(out, ", %zu revoked", count_true(nodes, "revoked"));
	if (str(rot, "waitingFor")) {
		clean(line, sizeof(line), str(rot, "waitingFor"));
		fprintf(out, "; waiting for %s", line);
	}
	fprintf(out, "\n");
	json_object_object_foreach(nodes, node_name, node)
	{
		if (!str(node, "error"))
			continue;
		clean(name, sizeof(name), node_name);
		clean(line, sizeof(line), str(node, "error"));
		fprintf(out, "%12s%s: %s\n", "", name, line);
	}
}

/* Below a node's row: what its first reason says, or the doctor's first bad finding when doctor
 * is the reason. */
static void print_detail(FILE *out, struct json_object *node)
{
	struct json_object *reason = get(node, "reason"), *bad = get(node, "doctorFirstBad");
	const char *code = str(reason, "code"), *message = str(reason, "message");
	char a[TEXT_MAX], b[TEXT_MAX], where[TEXT_MAX];
	if (code && strncmp(code, "doctor.", 7) == 0 && str(bad, "checkId")) {
		clean(a, sizeof(a), str(bad, "checkId"));
		clean(b, sizeof(b), str(bad, "message"));
		fprintf(out, "%*sdoctor: %s: %s", DETAIL_INDENT, "", a, b);
		if (str(bad, "path")) {
			clean(where, sizeof(where), str(bad, "path"));
			fprintf(out, " (%s:%s:%s)", where, text(bad, "line"), text(bad, "column"));
		}
		if (str(bad, "tenant")) {
			clean(a, sizeof(a), str(bad, "tenant"));
			fprintf(out, ", tenant %s", a);
		}
		fprintf(out, "\n");
		if (str(bad, "fixHint")) {
			clean(a, sizeof(a), str(bad, "fixHint"));
			fprintf(out, "%*sfix: %s\n", DETAIL_INDENT, "", a);
		}
	} else if (message && *message) {
		fprintf(out, "%*s", DETAIL_INDENT, "");
		put_lines(out, DETAIL_INDENT, message);
	}
}

static void print_nodes(FILE *out, struct json_object *doc, int64_t now_ms)
{
	struct json_object *nodes = get(doc, "nodes");
	if (!json_object_is_type(nodes, json_type_object))
		return;
	fprintf(out, "\n%-24s %-12s %-20s %-12s %5s  %-8s %s\n", "NODE", "STATUS", "TAG", "SKILLS",
		"GEN", "SINCE", "REASON");
	json_object_object_foreach(nodes, name, n)
	{
		struct json_object *reasons = get(n, "reasons");
		char cols[5][TEXT_MAX], since[32] = "-";
		int64_t at = status_table_time_of(n, "statusSince");
		clean(cols[0], sizeof(cols[0]), name);
		clean(cols[1], sizeof(cols[1]), text(n, "status"));
		clean(cols[2], sizeof(cols[2]), text(n, "tag"));
		clean(cols[3], sizeof(cols[3]), text(n, "skills"));
		clean(cols[4], sizeof(cols[4]),
		      json_object_is_type(reasons, json_type_array) &&
				      json_object_array_length(reasons)
			      ? json_object_get_string(json_object_array_get_idx(reasons, 0))
			      : str(get(n, "reason"), "code"));
		if (at >= 0)
			status_table_span(since, sizeof(since), now_ms - at);
		fprintf(out, "%-24s %-12s %-20s %-12s %5s  %-8s %s\n", cols[0], cols[1], cols[2],
			cols[3], text(n, "observedGeneration"), since, cols[4]);
		print_detail(out, n);
	}
}

static void print_weights(FILE *out, struct json_object *doc)
{
	struct json_object *w = get(doc, "weights");
	if (!json_object_is_type(w, json_type_object)) {
		fprintf(out, "\nweights: not read\n");
		return;
	}
	fprintf(out, "\n%-24s %s\n", "SERVER", "WEIGHT");
	json_object_object_foreach(w, server, weight)
	{
		fprintf(out, "%-24s %s\n", server, json_object_get_string(weight));
	}
}

/* The time of an RFC 3339 member, and how far from now: "2026-12-07T05:40:00.000Z (in 1m30s)". */
static void print_when(FILE *out, struct json_object *o, const char *key, int64_t now_ms)
{
	char at[64], in[32];
	int64_t t = status_table_time_of(o, key);
	clean(at, sizeof(at), str(o, key));
	if (t < 0) {
		fprintf(out, "-");
		return;
	}
	status_table_span(in, sizeof(in), t - now_ms);
	fprintf(out, t > now_ms ? "%s (in %s)" : "%s (now)", at, in);
}

/* "step 2 (50 %)" for a canary step of the forecast, the phase's name for the others. */
static void step_name(char *dst, size_t size, struct json_object *st)
{
	char phase[64];
	clean(phase, sizeof(phase), text(st, "phase"));
	if (json_object_is_type(get(st, "step"), json_type_int))
		snprintf(dst, size, "step %d (%d %%)", json_object_get_int(get(st, "step")),
			 json_object_get_int(get(st, "percent")));
	else
		snprintf(dst, size, "%s", phase);
}

/* The forecast of /v1/plan, one step a line; says so when nothing is left. */
static void print_remaining(FILE *out, struct json_object *plan, int64_t now_ms)
{
	struct json_object *rem = get(plan, "remaining");
	size_t n = json_object_is_type(rem, json_type_array) ? json_object_array_length(rem) : 0;
	if (!n) {
		fprintf(out, "nothing is left of the rollout\n");
		return;
	}
	fprintf(out, "remaining if everything stays green (earliest times):\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *st = json_object_array_get_idx(rem, i);
		char name[64];
		step_name(name, sizeof(name), st);
		fprintf(out, "  %-16s ", name);
		print_when(out, st, "earliestAt", now_ms);
		fprintf(out, "\n");
	}
}

void status_table_plan(FILE *out, struct json_object *plan, int64_t now_ms)
{
	struct json_object *next = get(plan, "next"), *stalled = get(plan, "stalled");
	size_t n = json_object_is_type(next, json_type_array) ? json_object_array_length(next) : 0;
	char rev[TEXT_MAX], a[64], b[64], line[TEXT_MAX];
	clean(rev, sizeof(rev), text(plan, "revision"));
	clean(a, sizeof(a), text(plan, "phase"));
	clean(b, sizeof(b), text(plan, "nextPhase"));
	fprintf(out, "plan at %s: %s -> %s, %zu %s\n", rev, a, b, n, n == 1 ? "action" : "actions");
	for (size_t i = 0; i < n; i++) {
		clean(line, sizeof(line), json_object_get_string(json_object_array_get_idx(next, i)));
		fprintf(out, "  %s\n", line);
	}
	if (str(plan, "waitingFor")) {
		clean(line, sizeof(line), str(plan, "waitingFor"));
		fprintf(out, "%s\n", line);
	}
	if (json_object_is_type(stalled, json_type_object)) {
		clean(a, sizeof(a), text(stalled, "reason"));
		clean(line, sizeof(line), text(stalled, "message"));
		fprintf(out, "stalled (%s): %s\n", a, line);
	}
	if (json_object_is_type(get(plan, "suspended"), json_type_boolean) &&
	    json_object_get_boolean(get(plan, "suspended")))
		fprintf(out, "suspended: the times below count from when it resumes\n");
	print_remaining(out, plan, now_ms);
}

/* What the rollout waits for: the hold's words while Held, else the Reconciling message. */
static const char *waiting_for(struct json_object *doc)
{
	struct json_object *conds = get(doc, "conditions");
	const char *hold = str(get(doc, "hold"), "waitingFor");
	size_t n = json_object_is_type(conds, json_type_array) ? json_object_array_length(conds) : 0;
	if (hold)
		return hold;
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(conds, i);
		if (strcmp(text(c, "type"), "Reconciling") == 0 && str(c, "message") &&
		    *str(c, "message"))
			return str(c, "message");
	}
	return NULL;
}

/* s without a leading prefix (the phase or the step said again). */
static const char *after_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(s, prefix, n) == 0 ? s + n : s;
}

void status_table_line(char *dst, size_t size, struct json_object *doc)
{
	struct json_object *nodes = get(doc, "nodes"), *suspended = get(doc, "suspended");
	char phase[64], step[64] = "", prefix[80], waiting[TEXT_MAX], name[TEXT_MAX], state[32];
	const char *says = waiting;
	size_t at;
	clean(phase, sizeof(phase), text(doc, "phase"));
	clean(waiting, sizeof(waiting), waiting_for(doc) ? waiting_for(doc) : "");
	if (json_object_get_int(get(doc, "step")) > 0)
		snprintf(step, sizeof(step), "step %d (%d %%)", json_object_get_int(get(doc, "step")),
			 json_object_get_int(get(doc, "percent")));
	/* The Reconciling message often starts with the step or the phase: said once. */
	snprintf(prefix, sizeof(prefix), "%s: ", step);
	says = after_prefix(says, prefix);
	snprintf(prefix, sizeof(prefix), "%s: ", phase);
	says = after_prefix(says, prefix);
	at = (size_t)snprintf(dst, size, "%s%s%s%s%s%s%s",
			      json_object_get_boolean(suspended) ? "Suspended (" : "", phase,
			      json_object_get_boolean(suspended) ? ")" : "", step[0] ? ", " : "",
			      step, says[0] ? ": " : "", says);
	if (!json_object_is_type(nodes, json_type_object))
		return;
	json_object_object_foreach(nodes, node_name, node)
	{
		if (at >= size || strcmp(text(node, "status"), "green") == 0)
			continue;
		clean(name, sizeof(name), node_name);
		clean(state, sizeof(state), text(node, "status"));
		at += (size_t)snprintf(dst + at, size - at, "; %s %s", name, state);
	}
}

/* "6m2s" between two members; "-" while the rollout has no end. */
static void duration_of(char *dst, size_t size, struct json_object *r)
{
	int64_t a = status_table_time_of(r, "startedAt"), b = status_table_time_of(r, "finishedAt");
	if (a < 0 || b < 0)
		snprintf(dst, size, "-");
	else
		status_table_span(dst, size, b - a);
}

void status_table_history(FILE *out, struct json_object *doc)
{
	struct json_object *h = get(doc, "history");
	size_t n = json_object_is_type(h, json_type_array) ? json_object_array_length(h) : 0;
	if (!n) {
		fprintf(out, "no rollout has finished on this fleet yet\n");
		return;
	}
	fprintf(out, "%-24s %-12s %-32s %-9s %-32s %-12s %s\n", "FINISHED", "OUTCOME",
		"TAGS", "DURATION", "ACTOR", "TICKET", "REASON");
	for (size_t i = n; i-- > 0;) { /* the newest first */
		struct json_object *r = json_object_array_get_idx(h, i);
		char finished[64], outcome[32], from[TEXT_MAX], to[TEXT_MAX], tags[TEXT_MAX * 2 + 8],
			took[32], actor[TEXT_MAX], ticket[TEXT_MAX], reason[TEXT_MAX];
		clean(finished, sizeof(finished), text(r, "finishedAt"));
		clean(outcome, sizeof(outcome), text(r, "outcome"));
		clean(from, sizeof(from), text(get(r, "from"), "tag"));
		clean(to, sizeof(to), text(get(r, "to"), "tag"));
		snprintf(tags, sizeof(tags), "%s -> %s", from, to);
		duration_of(took, sizeof(took), r);
		clean(actor, sizeof(actor), text(r, "actor"));
		clean(ticket, sizeof(ticket), text(r, "ticket"));
		clean(reason, sizeof(reason), str(r, "reason") && *str(r, "reason")
						      ? str(r, "reason") : "-");
		fprintf(out, "%-24s %-12s %-32s %-9s %-32s %-12s %s\n", finished, outcome, tags,
			took, actor, ticket, reason);
	}
}

static void print_document(FILE *out, struct json_object *doc, struct json_object *plan,
			   int64_t now_ms);

void status_table_print(FILE *out, struct json_object *doc, int64_t now_ms)
{
	print_document(out, doc, NULL, now_ms);
}

void status_table_rollout(FILE *out, struct json_object *doc, struct json_object *plan,
			  int64_t now_ms)
{
	print_document(out, doc, plan, now_ms);
}

/* The next step of the forecast, and when the rollout can end at the earliest. */
static void print_next(FILE *out, struct json_object *plan, int64_t now_ms)
{
	struct json_object *rem = get(plan, "remaining");
	size_t n = json_object_is_type(rem, json_type_array) ? json_object_array_length(rem) : 0;
	char name[64];
	if (!n)
		return;
	step_name(name, sizeof(name), json_object_array_get_idx(rem, 0));
	fprintf(out, LABEL "%s at the earliest ", "next", name);
	print_when(out, json_object_array_get_idx(rem, 0), "earliestAt", now_ms);
	fprintf(out, "\n" LABEL, "done");
	print_when(out, json_object_array_get_idx(rem, n - 1), "earliestAt", now_ms);
	fprintf(out, " at the earliest, if everything stays green\n");
}

/* With the etcd store: which replica leads, whether the one asked is it, and why etcd cannot be
 * read when it cannot. */
static void print_leader(FILE *out, struct json_object *l)
{
	char id[256], address[256], error[512];
	if (!json_object_is_type(l, json_type_object))
		return;
	struct json_object *self = get(l, "self");
	bool leads = json_object_is_type(self, json_type_boolean) && json_object_get_boolean(self);
	clean(id, sizeof(id), str(l, "id"));
	clean(address, sizeof(address), str(l, "address"));
	if (str(l, "id"))
		fprintf(out, LABEL "%s at %s, term %s%s", "leader", id, address, text(l, "term"),
			leads ? " (this replica)" : "");
	else
		fprintf(out, LABEL "none", "leader");
	if (str(l, "error")) {
		clean(error, sizeof(error), str(l, "error"));
		fprintf(out, "; etcd: %s", error);
	}
	fprintf(out, "\n");
}

static void print_document(FILE *out, struct json_object *doc, struct json_object *plan,
			   int64_t now_ms)
{
	struct json_object *promo = get(doc, "promotion"), *q = get(doc, "quarantined");
	struct json_object *hold = get(doc, "hold"), *suspended = get(doc, "suspended");
	/* A suspension is said first: "Suspended (Analysing)", the phase it froze in between. */
	if (json_object_is_type(suspended, json_type_boolean) && json_object_get_boolean(suspended))
		fprintf(out, LABEL "Suspended (%s), step %s (%s %%)\n", "phase", text(doc, "phase"),
			text(doc, "step"), text(doc, "percent"));
	else
		fprintf(out, LABEL "%s, step %s (%s %%)\n", "phase", text(doc, "phase"),
			text(doc, "step"), text(doc, "percent"));
	if (promo)
		fprintf(out, LABEL "%s: %s, skills %s\n", "promotion", text(promo, "name"),
			text(promo, "tag"), text(promo, "skillSemver"));
	else
		fprintf(out, LABEL "none in the repository\n", "promotion");
	fprintf(out, LABEL "%s\n", "revision", text(doc, "revision"));
	print_leader(out, get(doc, "leader"));
	if (get(doc, "sourceError")) {
		fprintf(out, LABEL, "source");
		put_lines(out, 12, text(doc, "sourceError"));
	}
	print_fetch(out, get(doc, "source"), now_ms);
	if (json_object_is_type(hold, json_type_object))
		print_hold(out, hold, now_ms);
	status_table_gate(out, doc, now_ms);
	status_table_metrics(out, doc);
	if (plan)
		print_next(out, plan, now_ms);
	print_conditions(out, doc);
	print_rotation(out, get(doc, "tokenRotation"));
	if (json_object_is_type(q, json_type_array) && json_object_array_length(q)) {
		fprintf(out, "%-11s", "quarantined");
		for (size_t i = 0; i < json_object_array_length(q); i++)
			fprintf(out, " %s", json_object_get_string(json_object_array_get_idx(q, i)));
		fprintf(out, "\n");
	}
	print_nodes(out, doc, now_ms);
	print_weights(out, doc);
}
