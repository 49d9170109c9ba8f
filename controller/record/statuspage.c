#include "record/statuspage.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"
#include "record/audit.h"

/* A fleet of thousands of nodes with long reasons stays far below this. */
#define PAGE_MAX (8u << 20)
/* The /status document the controller renders is far smaller; this bounds the parse. */
#define STATUS_JSON_MAX (16u << 20)

int statuspage_audit_tail(const char *path, char **out, size_t *len, struct cf_err *err)
{
	return audit_read_tail(path, STATUSPAGE_AUDIT_LINES, STATUSPAGE_AUDIT_TAIL_BYTES, out, len,
			       err);
}

/* ---- the page ---- */

struct page {
	char *p;
	size_t len, cap;
	bool failed;
};

static void grow(struct page *pg, size_t need)
{
	if (pg->failed || pg->cap - pg->len > need)
		return;
	size_t cap = pg->cap ? pg->cap : 16384;
	while (cap - pg->len <= need && cap <= PAGE_MAX)
		cap *= 2;
	char *p = cap <= PAGE_MAX ? realloc(pg->p, cap) : NULL;
	if (!p) {
		pg->failed = true;
		return;
	}
	pg->p = p;
	pg->cap = cap;
}

static void raw(struct page *pg, const char *s, size_t n)
{
	grow(pg, n);
	if (pg->failed)
		return;
	memcpy(pg->p + pg->len, s, n);
	pg->len += n;
	pg->p[pg->len] = '\0';
}

static void put(struct page *pg, const char *s)
{
	raw(pg, s, strlen(s));
}

static void putf(struct page *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct page *pg, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(small))
		pg->failed = true;
	else
		raw(pg, small, (size_t)n);
}

/* Text from Git, a probe or the audit log, safe in element content and in quoted attributes;
 * control characters other than tab and newline become U+FFFD so nothing can break the markup. */
static void esc(struct page *pg, const char *s)
{
	if (!s)
		return;
	const char *run = s;
	for (const char *c = s; *c; c++) {
		const char *rep = NULL;
		switch (*c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			if ((unsigned char)*c < 0x20 && *c != '\t' && *c != '\n')
				rep = "\xef\xbf\xbd";
		}
		if (!rep)
			continue;
		raw(pg, run, (size_t)(c - run));
		put(pg, rep);
		run = c + 1;
	}
	put(pg, run);
}

/* A string member, or NULL when it is missing, null or not a string. */
static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *member(struct json_object *o, const char *key, json_type type)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

static int int_of(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_int);
	return v ? json_object_get_int(v) : 0;
}

/* "—" for what is not known, so an empty cell never reads as an empty string. */
static void esc_or_dash(struct page *pg, const char *s)
{
	if (s && *s)
		esc(pg, s);
	else
		put(pg, "\xe2\x80\x94");
}

static const char style[] =
	"<style>\n"
	"body{font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",sans-serif;margin:0;"
	"color:#1f2328;background:#f6f8fa}\n"
	"header{background:#24292f;color:#fff;padding:12px 24px}\n"
	"header h1{margin:0;font-size:20px}\n"
	"header p{margin:2px 0 0;color:#d0d7de}\n"
	"main{padding:8px 24px 24px;max-width:1200px}\n"
	"section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;"
	"margin:12px 0}\n"
	"h2{font-size:16px;margin:0 0 8px}\n"
	"table{border-collapse:collapse;width:100%}\n"
	"th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}\n"
	"th{font-weight:600;color:#57606a}\n"
	"code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}\n"
	".badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;"
	"color:#fff}\n"
	".green{background:#1a7f37}.degraded{background:#9a6700}.red{background:#cf222e}\n"
	".unreachable,.unknown{background:#6e7781}.busy{background:#0969da}\n"
	".error{border-color:#cf222e;background:#ffebe9}\n"
	"#source-error{white-space:pre-wrap;font:12px ui-monospace,SFMono-Regular,Menlo,monospace}\n"
	"small{color:#57606a}\n"
	".bar{display:inline-block;width:60%;height:14px;background:#eaeef2;border-radius:3px;"
	"vertical-align:middle}\n"
	".fill{height:14px;background:#0969da;border-radius:3px}\n"
	".num{margin-left:8px}\n"
	"footer{color:#57606a;padding:0 24px 24px}\n"
	"</style>\n";

/* The badge class of a node status or a rollout phase: color follows meaning, text says it. */
static const char *status_class(const char *status)
{
	static const char *const known[] = {"green", "degraded", "red", "unreachable"};
	for (size_t i = 0; status && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(status, known[i]) == 0)
			return known[i];
	return "unknown";
}

static const char *phase_class(const char *phase)
{
	if (!phase)
		return "unknown";
	if (strcmp(phase, "Succeeded") == 0)
		return "green";
	if (strcmp(phase, "RolledBack") == 0)
		return "red";
	if (strcmp(phase, "Held") == 0)
		return "degraded";
	if (strcmp(phase, "Idle") == 0)
		return "unknown";
	return "busy";
}

static void version_cell(struct page *pg, struct json_object *v)
{
	const char *semver = str_of(v, "skillSemver");
	esc_or_dash(pg, str_of(v, "tag"));
	if (semver) {
		put(pg, " <small>(skills ");
		esc(pg, semver);
		put(pg, ")</small>");
	}
}

static void rollout_section(struct page *pg, struct json_object *doc)
{
	struct json_object *promo = member(doc, "promotion", json_type_object);
	const char *phase = str_of(doc, "phase");
	const char *error = str_of(doc, "sourceError");
	struct json_object *passes = member(doc, "passes", json_type_array);
	size_t npasses = passes ? json_object_array_length(passes) : 0;

	if (error) {
		put(pg, "<section class=\"error\"><h2>The desired state cannot be refreshed</h2>"
			"<p id=\"source-error\">");
		esc(pg, error);
		put(pg, "</p></section>\n");
	}
	put(pg, "<section><h2>Rollout</h2><table>\n<tr><th>Promotion</th><td id=\"promotion\">");
	if (promo) {
		esc_or_dash(pg, str_of(promo, "name"));
		put(pg, ": ");
		version_cell(pg, promo);
	} else {
		put(pg, "none in Git");
	}
	struct json_object *suspended = member(doc, "suspended", json_type_boolean);
	bool frozen = suspended && json_object_get_boolean(suspended);
	putf(pg, "</td></tr>\n<tr><th>Phase</th><td><span id=\"phase\" class=\"badge %s\">",
	     phase_class(phase));
	/* As `clawfleet status` says it: "Suspended (Analysing)", the phase it froze in. */
	if (frozen)
		put(pg, "Suspended (");
	esc_or_dash(pg, phase);
	if (frozen)
		put(pg, ")");
	putf(pg, "</span></td></tr>\n<tr><th>Step</th><td id=\"step\">step %d, %d %% to the "
		 "canary</td></tr>\n",
	     int_of(doc, "step"), int_of(doc, "percent"));
	put(pg, "<tr><th>Rolling out</th><td id=\"rollout\">");
	version_cell(pg, member(doc, "rollout", json_type_object));
	put(pg, "</td></tr>\n<tr><th>Last good</th><td id=\"last-good\">");
	version_cell(pg, member(doc, "lastGood", json_type_object));
	put(pg, "</td></tr>\n<tr><th>Git revision</th><td><code id=\"revision\">");
	esc_or_dash(pg, str_of(doc, "revision"));
	put(pg, "</code></td></tr>\n<tr><th>Last pass</th><td id=\"last-pass\">");
	if (npasses) {
		struct json_object *last = json_object_array_get_idx(passes, npasses - 1);
		esc_or_dash(pg, str_of(last, "at"));
		put(pg, json_object_get_boolean(member(last, "green", json_type_boolean))
				? " (every node green)"
				: " (not every node green)");
	} else {
		put(pg, "none yet");
	}
	put(pg, "</td></tr>\n</table></section>\n");
}

static int64_t weight_total(struct json_object *weights)
{
	int64_t total = 0;
	json_object_object_foreach(weights, server, w)
	{
		(void)server;
		if (json_object_get_int(w) > 0)
			total += json_object_get_int(w);
	}
	return total;
}

static void weights_section(struct page *pg, struct json_object *doc)
{
	struct json_object *weights = member(doc, "weights", json_type_object);
	put(pg, "<section><h2>Load-balancer weights</h2>\n");
	if (!weights) {
		put(pg, "<p id=\"weights-unknown\">Unknown: the load balancer did not report its "
			"weights on the last pass.</p></section>\n");
		return;
	}
	int64_t total = weight_total(weights);
	put(pg, "<table>\n<tr><th>Gateway</th><th>Weight and share of new sessions</th></tr>\n");
	json_object_object_foreach(weights, server, w)
	{
		int weight = json_object_get_int(w);
		int64_t permille = total > 0 && weight > 0 ? (int64_t)weight * 1000 / total : 0;
		put(pg, "<tr class=\"weight\" data-server=\"");
		esc(pg, server);
		putf(pg, "\" data-weight=\"%d\"><td>", weight);
		esc(pg, server);
		putf(pg, "</td><td><div class=\"bar\"><div class=\"fill\" style=\"width:%d.%d%%\">"
			 "</div></div><span class=\"num\">%d (%d.%d %%)</span></td></tr>\n",
		     (int)(permille / 10), (int)(permille % 10), weight, (int)(permille / 10),
		     (int)(permille % 10));
	}
	put(pg, "</table></section>\n");
}

/* Below a node's reason codes: what its first reason says, or the doctor's first bad finding
 * when doctor is the reason. */
static void reason_detail(struct page *pg, struct json_object *node)
{
	struct json_object *reason = member(node, "reason", json_type_object);
	struct json_object *bad = member(node, "doctorFirstBad", json_type_object);
	const char *code = str_of(reason, "code"), *message = str_of(reason, "message");
	if (code && strncmp(code, "doctor.", 7) == 0 && str_of(bad, "checkId")) {
		put(pg, "<br><small class=\"detail\">doctor: ");
		esc(pg, str_of(bad, "checkId"));
		put(pg, ": ");
		esc(pg, str_of(bad, "message"));
		if (str_of(bad, "path")) {
			put(pg, " (");
			esc(pg, str_of(bad, "path"));
			putf(pg, ":%d:%d)", int_of(bad, "line"), int_of(bad, "column"));
		}
		if (str_of(bad, "tenant")) {
			put(pg, ", tenant ");
			esc(pg, str_of(bad, "tenant"));
		}
		put(pg, "</small>");
	} else if (message && *message) {
		put(pg, "<br><small class=\"detail\">");
		esc(pg, message);
		put(pg, "</small>");
	}
}

static void nodes_section(struct page *pg, struct json_object *doc)
{
	struct json_object *nodes = member(doc, "nodes", json_type_object);
	put(pg, "<section><h2>Nodes</h2>\n");
	if (!nodes || json_object_object_length(nodes) == 0) {
		put(pg, "<p>No node has been probed yet.</p></section>\n");
		return;
	}
	put(pg, "<table>\n<tr><th>Node</th><th>Probe</th><th>Tag</th><th>Skills</th>"
		"<th>Generation</th><th>Reasons</th></tr>\n");
	json_object_object_foreach(nodes, name, node)
	{
		const char *status = str_of(node, "status");
		struct json_object *reasons = member(node, "reasons", json_type_array);
		size_t nreasons = reasons ? json_object_array_length(reasons) : 0;
		put(pg, "<tr class=\"node\" data-node=\"");
		esc(pg, name);
		put(pg, "\" data-status=\"");
		esc(pg, status);
		put(pg, "\"><td>");
		esc(pg, name);
		putf(pg, "</td><td><span class=\"badge %s\">", status_class(status));
		esc_or_dash(pg, status);
		put(pg, "</span>");
		if (str_of(node, "statusSince")) {
			put(pg, "<br><small class=\"since\">since ");
			esc(pg, str_of(node, "statusSince"));
			put(pg, "</small>");
		}
		put(pg, "</td><td>");
		esc_or_dash(pg, str_of(node, "tag"));
		put(pg, "</td><td>");
		esc_or_dash(pg, str_of(node, "skills"));
		putf(pg, "</td><td>%d</td><td>", int_of(node, "observedGeneration"));
		for (size_t r = 0; r < nreasons; r++) {
			put(pg, r ? ", <code>" : "<code>");
			esc(pg, json_object_get_string(json_object_array_get_idx(reasons, r)));
			put(pg, "</code>");
		}
		if (!nreasons && str_of(member(node, "reason", json_type_object), "code")) {
			put(pg, "<code>");
			esc(pg, str_of(member(node, "reason", json_type_object), "code"));
			put(pg, "</code>");
		} else if (!nreasons) {
			put(pg, "\xe2\x80\x94");
		}
		reason_detail(pg, node);
		put(pg, "</td></tr>\n");
	}
	put(pg, "</table></section>\n");
}

static void conditions_section(struct page *pg, struct json_object *doc)
{
	struct json_object *conds = member(doc, "conditions", json_type_array);
	size_t n = conds ? json_object_array_length(conds) : 0;
	put(pg, "<section><h2>Conditions</h2>\n<table>\n<tr><th>Type</th><th>Status</th>"
		"<th>Reason</th><th>Message</th><th>Since</th></tr>\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(conds, i);
		put(pg, "<tr class=\"condition\"><td>");
		esc_or_dash(pg, str_of(c, "type"));
		put(pg, "</td><td>");
		esc_or_dash(pg, str_of(c, "status"));
		put(pg, "</td><td>");
		esc_or_dash(pg, str_of(c, "reason"));
		put(pg, "</td><td>");
		esc_or_dash(pg, str_of(c, "message"));
		put(pg, "</td><td>");
		esc_or_dash(pg, str_of(c, "lastTransitionTime"));
		put(pg, "</td></tr>\n");
	}
	put(pg, "</table></section>\n");
}

static void quarantine_section(struct page *pg, struct json_object *doc)
{
	struct json_object *q = member(doc, "quarantined", json_type_array);
	size_t n = q ? json_object_array_length(q) : 0;
	put(pg, "<section><h2>Quarantined tags</h2>\n<p id=\"quarantined\">");
	for (size_t i = 0; i < n; i++) {
		put(pg, i ? ", <code>" : "<code>");
		esc(pg, json_object_get_string(json_object_array_get_idx(q, i)));
		put(pg, "</code>");
	}
	if (!n)
		put(pg, "None.");
	put(pg, "</p></section>\n");
}

static void audit_row(struct page *pg, const char *line, size_t n)
{
	struct json_object *o = NULL;
	/* A line that is not one JSON object is left out: `clawfleet audit verify` names it. */
	if (jsonparse_object(line, n, JSONPARSE_DEPTH, &o, NULL) < 0)
		return;
	put(pg, "<tr class=\"audit\"><td>");
	esc_or_dash(pg, str_of(o, "ts"));
	put(pg, "</td><td>");
	esc_or_dash(pg, str_of(o, "event"));
	put(pg, "</td><td>");
	esc_or_dash(pg, str_of(o, "promotion"));
	put(pg, "</td><td>");
	esc_or_dash(pg, str_of(member(o, "from", json_type_object), "tag"));
	put(pg, " \xe2\x86\x92 ");
	esc_or_dash(pg, str_of(member(o, "to", json_type_object), "tag"));
	putf(pg, "</td><td>%d %%</td><td>", int_of(o, "percent"));
	esc_or_dash(pg, str_of(o, "reason"));
	put(pg, "</td></tr>\n");
	json_object_put(o);
}

static void audit_section(struct page *pg, const char *lines)
{
	put(pg, "<section><h2>Last audit lines <small>(newest first)</small></h2>\n");
	if (!lines) {
		put(pg, "<p>The audit log could not be read; the controller's log says why.</p>"
			"</section>\n");
		return;
	}
	if (!*lines) {
		put(pg, "<p>No audit line yet.</p></section>\n");
		return;
	}
	put(pg, "<table>\n<tr><th>Time</th><th>Event</th><th>Promotion</th><th>From \xe2\x86\x92 "
		"to</th><th>Percent</th><th>Reason</th></tr>\n");
	/* Newest first: walk the lines from the end. */
	const char *end = lines + strlen(lines);
	for (size_t shown = 0; end > lines && shown < STATUSPAGE_AUDIT_LINES; shown++) {
		const char *stop = end;
		if (stop > lines && stop[-1] == '\n')
			stop--;
		const char *start = stop;
		while (start > lines && start[-1] != '\n')
			start--;
		if (stop > start)
			audit_row(pg, start, (size_t)(stop - start));
		end = start;
	}
	put(pg, "</table></section>\n");
}

int statuspage_render(const char *status_json, size_t status_len, const char *audit_lines,
		      char **out, size_t *len, struct cf_err *err)
{
	struct page pg = {0};
	struct json_object *doc = NULL;
	int rc = -1;
	if (status_len > STATUS_JSON_MAX) {
		cf_err_set(err, "rendering the status page: the /status document is over %u bytes",
			   STATUS_JSON_MAX);
		goto done;
	}
	if (jsonparse_object(status_json, status_len, JSONPARSE_DEPTH, &doc, err) < 0) {
		cf_err_prefix(err, "rendering the status page: the /status document");
		goto done;
	}
	const char *phase = str_of(doc, "phase");
	putf(&pg, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		  "<meta http-equiv=\"refresh\" content=\"%d\">\n"
		  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
	     STATUSPAGE_REFRESH_SEC);
	put(&pg, "<title>clawfleet: ");
	esc_or_dash(&pg, phase);
	put(&pg, "</title>\n");
	put(&pg, style);
	put(&pg, "</head>\n<body>\n<header><h1>clawfleet</h1><p>The fleet as the controller's last "
		 "pass saw it. Read-only.</p></header>\n<main>\n");
	rollout_section(&pg, doc);
	weights_section(&pg, doc);
	nodes_section(&pg, doc);
	quarantine_section(&pg, doc);
	conditions_section(&pg, doc);
	audit_section(&pg, audit_lines);
	putf(&pg, "</main>\n<footer>Refreshes every %d seconds. The same data as JSON: "
		  "<a href=\"/status\">/status</a>; for Prometheus: <a href=\"/metrics\">/metrics"
		  "</a>.</footer>\n</body>\n</html>\n",
	     STATUSPAGE_REFRESH_SEC);
	if (pg.failed) {
		cf_err_set(err, "rendering the status page: out of memory or over %u bytes",
			   PAGE_MAX);
		goto done;
	}
	/* Served until the next pass: only what it holds (its capacity doubled as it grew). */
	char *fit = realloc(pg.p, pg.len + 1);
	*out = fit ? fit : pg.p;
	*len = pg.len;
	pg.p = NULL;
	rc = 0;
done:
	json_object_put(doc);
	free(pg.p);
	return rc;
}
