#include "notify/notifier.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "base/names.h"
#include "base/timeparse.h"

/* A line or an event is a flat object; anything deeper was not written by a gateway. */
#define JSON_DEPTH 4
#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
/* Slack refuses a section or context text over 3,000 characters. */
#define SLACK_TEXT_MAX 2900
#define SLACK_MESSAGE_MAX 500
#define HEADLINE_MAX 1536
#define EVENT_KEY_MAX (NF_ID_MAX + 8)

struct nf_digest {
	int64_t window_ms;
	int64_t window_start_ms;
	int64_t fresh_ms;
	struct nf_row *rows;	/* NF_ROWS_MAX slots */
	size_t nrows;
	uint64_t total[NF_FAMILIES];
	uint64_t untracked[NF_FAMILIES];
	char (*event_keys)[EVENT_KEY_MAX];	/* NF_EVENT_KEYS_MAX slots */
	size_t nevent_keys;
};

static const char *const family_names[NF_FAMILIES] = {"4xx", "5xx", "timeout"};

const char *nf_family_name(enum nf_family f)
{
	return f < NF_FAMILIES ? family_names[f] : "unknown";
}

int nf_family_of_status(long status, enum nf_family *out)
{
	if (status >= 400 && status <= 499)
		*out = NF_4XX;
	else if (status >= 500 && status <= 599)
		*out = NF_5XX;
	else
		return -1;
	return 0;
}

static int parse_object(const char *text, size_t len, struct json_object **out,
			struct cf_err *err)
{
	return jsonparse_object(text, len, JSON_DEPTH, out, err);
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < '!' || *s > '~')
			return false;
	return true;
}

/* Copies the string at key into out (size bytes with the NUL); "" when absent and optional.
 * ids and endpoints are printable ASCII without spaces; free text (spaces true) may hold any
 * UTF-8 but no control characters. */
static int get_string(struct json_object *o, const char *key, bool required, bool spaces,
		      char *out, size_t size, struct cf_err *err)
{
	struct json_object *v;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return cf_err_set(err, "%s is missing", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return cf_err_set(err, "%s must be a string", key);
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n >= size)
		return cf_err_set(err, "%s is longer than %zu bytes", key, size - 1);
	if (strlen(s) != n)
		return cf_err_set(err, "%s holds a NUL byte", key);
	if (required && n == 0)
		return cf_err_set(err, "%s is empty", key);
	if (!spaces && !printable_ascii(s))
		return cf_err_set(err, "%s must be printable ASCII without spaces", key);
	for (size_t i = 0; spaces && i < n; i++)
		if ((unsigned char)s[i] < ' ' && s[i] != '\n' && s[i] != '\t')
			return cf_err_set(err, "%s holds a control character", key);
	memcpy(out, s, n + 1);
	return 0;
}

/* scheme://host/path of a URL, without user information, query or fragment; other endpoints
 * (host:port, a name) lose only a query or fragment. */
static void endpoint_normalise(char *s)
{
	char *host = strstr(s, "://");
	if (host) {
		host += 3;
		size_t host_len = strcspn(host, "/?#");
		char *at = memchr(host, '@', host_len);
		if (at)
			memmove(host, at + 1, strlen(at + 1) + 1);
	}
	s[strcspn(s, "?#")] = '\0';
}

int nf_failure_parse(const char *line, size_t len, struct nf_failure *out, struct cf_err *err)
{
	struct json_object *o = NULL, *status;
	char when[64];
	time_t t;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len > NF_LINE_MAX)
		return cf_err_set(err, "line longer than %d bytes", NF_LINE_MAX);
	if (parse_object(line, len, &o, err) < 0)
		goto done;
	if (get_string(o, "tenant", true, false, out->tenant, sizeof(out->tenant), err) < 0 ||
	    name_check_dns_label(out->tenant, err) < 0 ||
	    get_string(o, "endpoint", true, false, out->endpoint, sizeof(out->endpoint), err) < 0 ||
	    get_string(o, "eventId", false, false, out->event_id, sizeof(out->event_id), err) < 0 ||
	    get_string(o, "correlationId", false, false, out->correlation_id,
		       sizeof(out->correlation_id), err) < 0 ||
	    get_string(o, "time", false, false, when, sizeof(when), err) < 0)
		goto done;
	if (when[0] && rfc3339_parse(when, &t, err) < 0) {
		cf_err_prefix(err, "time");
		goto done;
	}
	endpoint_normalise(out->endpoint);
	if (!out->endpoint[0]) {
		cf_err_set(err, "endpoint is empty once its query is removed");
		goto done;
	}
	if (!json_object_object_get_ex(o, "status", &status)) {
		cf_err_set(err, "status is missing");
		goto done;
	}
	if (json_object_is_type(status, json_type_string) &&
	    strcmp(json_object_get_string(status), "timeout") == 0) {
		out->family = NF_TIMEOUT;
	} else if (!json_object_is_type(status, json_type_int) ||
		   nf_family_of_status((long)json_object_get_int64(status), &out->family) < 0) {
		cf_err_set(err, "status must be an HTTP status from 400 to 599 or \"timeout\"");
		goto done;
	} else {
		out->status = (int)json_object_get_int64(status);
	}
	rc = 0;
done:
	json_object_put(o);
	return rc;
}

void nf_correlation_id(const char *material, char out[NF_CORRELATION_MAX])
{
	char hex[65];
	canon_sha256_hex(material, strlen(material), hex);
	snprintf(out, NF_CORRELATION_MAX, "cf-%.32s", hex);
}

static int64_t window_of(int64_t now_ms, int64_t window_ms)
{
	int64_t into = now_ms % window_ms;
	return now_ms - (into < 0 ? into + window_ms : into);
}

int nf_digest_new(struct nf_digest **out, int64_t window_ms, int64_t now_ms, struct cf_err *err)
{
	struct nf_digest *d;

	*out = NULL;
	if (window_ms < NF_WINDOW_MIN_MS || window_ms > NF_WINDOW_MAX_MS)
		return cf_err_set(err, "the window must be from 1s to 24h");
	d = calloc(1, sizeof(*d));
	if (!d)
		return cf_err_set(err, "out of memory");
	d->rows = calloc(NF_ROWS_MAX, sizeof(*d->rows));
	d->event_keys = calloc(NF_EVENT_KEYS_MAX, sizeof(*d->event_keys));
	if (!d->rows || !d->event_keys) {
		nf_digest_free(d);
		return cf_err_set(err, "out of memory");
	}
	d->window_ms = window_ms;
	d->window_start_ms = window_of(now_ms, window_ms);
	d->fresh_ms = now_ms;
	*out = d;
	return 0;
}

void nf_digest_free(struct nf_digest *d)
{
	if (!d)
		return;
	free(d->rows);
	free(d->event_keys);
	free(d);
}

static int row_order(const void *a, const void *b)
{
	const struct nf_row *x = *(const struct nf_row *const *)a;
	const struct nf_row *y = *(const struct nf_row *const *)b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	int c = strcmp(x->endpoint, y->endpoint);
	if (c)
		return c;
	return (int)x->family - (int)y->family;
}

/* The rows of one family (or every row when family is NF_FAMILIES), sorted; returns how many. */
static size_t sorted_rows(const struct nf_digest *d, enum nf_family family,
			  const struct nf_row **out)
{
	size_t n = 0;
	for (size_t i = 0; i < d->nrows; i++)
		if (family == NF_FAMILIES || d->rows[i].family == family)
			out[n++] = &d->rows[i];
	qsort(out, n, sizeof(*out), row_order);
	return n;
}

static void close_window(struct nf_digest *d, nf_window_closed_fn *closed, void *ctx)
{
	const struct nf_row *sorted[NF_ROWS_MAX];
	char material[128];

	for (int f = 0; f < NF_FAMILIES; f++) {
		if (!d->total[f])
			continue;
		struct nf_summary s = {
			.family = (enum nf_family)f,
			.window_start_ms = d->window_start_ms,
			.window_ms = d->window_ms,
			.total = d->total[f],
			.untracked = d->untracked[f],
		};
		s.nendpoints = sorted_rows(d, s.family, sorted);
		s.nrows = s.nendpoints < NF_SUMMARY_ROWS_MAX ? s.nendpoints : NF_SUMMARY_ROWS_MAX;
		memcpy(s.rows, sorted, s.nrows * sizeof(sorted[0]));
		snprintf(material, sizeof(material), "digest|%s|%" PRId64 "|%" PRId64,
			 family_names[f], d->window_start_ms, d->window_ms);
		nf_correlation_id(material, s.correlation_id);
		if (closed)
			closed(ctx, &s);
	}
	d->nrows = 0;
	d->nevent_keys = 0;
	memset(d->total, 0, sizeof(d->total));
	memset(d->untracked, 0, sizeof(d->untracked));
}

void nf_digest_tick(struct nf_digest *d, int64_t now_ms, nf_window_closed_fn *closed, void *ctx)
{
	/* A clock stepped back keeps the open window; only forward time closes one. */
	if (now_ms >= d->window_start_ms + d->window_ms) {
		close_window(d, closed, ctx);
		d->window_start_ms = window_of(now_ms, d->window_ms);
	}
	d->fresh_ms = now_ms;
}

void nf_digest_record(struct nf_digest *d, const struct nf_failure *f, int64_t now_ms,
		      nf_window_closed_fn *closed, void *ctx)
{
	struct nf_row *row = NULL;

	nf_digest_tick(d, now_ms, closed, ctx);
	d->total[f->family]++;
	for (size_t i = 0; i < d->nrows && !row; i++)
		if (d->rows[i].family == f->family && strcmp(d->rows[i].endpoint, f->endpoint) == 0)
			row = &d->rows[i];
	if (!row) {
		if (d->nrows == NF_ROWS_MAX) {
			d->untracked[f->family]++;
			return;
		}
		row = &d->rows[d->nrows++];
		memset(row, 0, sizeof(*row));
		memcpy(row->endpoint, f->endpoint, sizeof(row->endpoint));
		row->family = f->family;
		row->first_ms = now_ms;
	}
	row->count++;
	row->last_ms = now_ms;
	memcpy(row->sample_tenant, f->tenant, sizeof(row->sample_tenant));
	if (f->event_id[0])
		memcpy(row->sample_event_id, f->event_id, sizeof(row->sample_event_id));
	if (f->correlation_id[0])
		memcpy(row->sample_correlation_id, f->correlation_id,
		       sizeof(row->sample_correlation_id));
}

static struct json_object *string_or_null(const char *s)
{
	return s && s[0] ? json_object_new_string(s) : NULL;
}

static struct json_object *time_json(int64_t ms)
{
	char buf[32];
	rfc3339_format((time_t)(ms / 1000), buf, sizeof(buf));
	return json_object_new_string(buf);
}

static struct json_object *row_json(const struct nf_row *r, bool broadcast)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "endpoint", json_object_new_string(r->endpoint));
	json_object_object_add(o, "family", json_object_new_string(family_names[r->family]));
	json_object_object_add(o, "count", json_object_new_uint64(r->count));
	json_object_object_add(o, "first", time_json(r->first_ms));
	json_object_object_add(o, "last", time_json(r->last_ms));
	json_object_object_add(o, "sampleEventId", string_or_null(r->sample_event_id));
	if (broadcast) {
		json_object_object_add(o, "tenant", json_object_new_string(r->sample_tenant));
		json_object_object_add(o, "sampleCorrelationId",
				       string_or_null(r->sample_correlation_id));
	}
	return o;
}

/* Serialises o into a fresh string and releases o. */
static int finish(struct json_object *o, char **out, size_t *len, struct cf_err *err)
{
	size_t n = 0;
	const char *text = json_object_to_json_string_length(o, JSON_OUT, &n);
	char *copy = text ? strndup(text, n) : NULL;
	json_object_put(o);
	if (!copy)
		return cf_err_set(err, "out of memory");
	*out = copy;
	*len = n;
	return 0;
}

int nf_digest_render(const struct nf_digest *d, int64_t now_ms, char **out, size_t *len,
		     struct cf_err *err)
{
	const struct nf_row *sorted[NF_ROWS_MAX];
	struct json_object *o = json_object_new_object(), *top = json_object_new_array();
	char window[32];
	uint64_t total = 0;
	int64_t age = now_ms > d->fresh_ms ? (now_ms - d->fresh_ms) / 1000 : 0;

	duration_format(d->window_ms, window, sizeof(window));
	for (int f = 0; f < NF_FAMILIES; f++)
		total += d->total[f];
	size_t n = sorted_rows(d, NF_FAMILIES, sorted);
	for (size_t i = 0; i < n && i < NF_TOP_MAX; i++)
		json_object_array_add(top, row_json(sorted[i], false));
	json_object_object_add(o, "age_sec", json_object_new_int64(age));
	json_object_object_add(o, "window", json_object_new_string(window));
	json_object_object_add(o, "windowStart", time_json(d->window_start_ms));
	json_object_object_add(o, "total", json_object_new_uint64(total));
	json_object_object_add(o, "top", top);
	return finish(o, out, len, err);
}

static const char *const kind_names[] = {"verdict", "rollback", "reply"};
static const char *const verdicts[] = {"promote", "hold", "rollback"};
static const char *const event_keys[] = {"kind",     "verdict",	      "status", "fluxUid",
					 "eventId", "probeKey", "correlationId", "message"};

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

int nf_event_parse(const char *body, size_t len, struct nf_event *out, struct cf_err *err)
{
	struct json_object *o = NULL, *status;
	char kind[16], material[1024];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (parse_object(body, len, &o, err) < 0)
		goto done;
	json_object_object_foreach(o, key, value) {
		(void)value;
		if (!one_of(key, event_keys, sizeof(event_keys) / sizeof(event_keys[0]))) {
			cf_err_set(err, "unknown key \"%.64s\"", key);
			goto done;
		}
	}
	if (get_string(o, "kind", true, false, kind, sizeof(kind), err) < 0 ||
	    get_string(o, "verdict", false, false, out->verdict, sizeof(out->verdict), err) < 0 ||
	    get_string(o, "fluxUid", false, false, out->flux_uid, sizeof(out->flux_uid), err) < 0 ||
	    get_string(o, "eventId", false, false, out->event_id, sizeof(out->event_id), err) < 0 ||
	    get_string(o, "probeKey", false, false, out->probe_key, sizeof(out->probe_key),
		       err) < 0 ||
	    get_string(o, "correlationId", false, false, out->correlation_id,
		       sizeof(out->correlation_id), err) < 0 ||
	    get_string(o, "message", false, true, out->message, sizeof(out->message), err) < 0)
		goto done;
	if (!one_of(kind, kind_names, 3)) {
		cf_err_set(err, "kind must be verdict, rollback or reply");
		goto done;
	}
	out->kind = strcmp(kind, "verdict") == 0    ? NF_EVENT_VERDICT
		    : strcmp(kind, "rollback") == 0 ? NF_EVENT_ROLLBACK
						    : NF_EVENT_REPLY;
	if (out->verdict[0] ? !one_of(out->verdict, verdicts, 3) : out->kind == NF_EVENT_VERDICT) {
		cf_err_set(err, "verdict must be promote, hold or rollback");
		goto done;
	}
	if (json_object_object_get_ex(o, "status", &status)) {
		int64_t v = json_object_get_int64(status);
		if (!json_object_is_type(status, json_type_int) || v < 100 || v > 599) {
			cf_err_set(err, "status must be an HTTP status from 100 to 599");
			goto done;
		}
		out->status = (int)v;
	} else if (out->kind == NF_EVENT_REPLY) {
		cf_err_set(err, "status is missing (a reply needs the HTTP status it answered)");
		goto done;
	}
	if (!out->correlation_id[0]) {
		snprintf(material, sizeof(material), "event|%s|%s|%d|%s|%s|%s|%.512s", kind,
			 out->verdict, out->status, out->flux_uid, out->event_id, out->probe_key,
			 out->message);
		nf_correlation_id(material, out->correlation_id);
	}
	rc = 0;
done:
	json_object_put(o);
	return rc;
}

bool nf_event_broadcasts(const struct nf_event *ev)
{
	switch (ev->kind) {
	case NF_EVENT_VERDICT:
		return strcmp(ev->verdict, "promote") != 0;
	case NF_EVENT_ROLLBACK:
		return true;
	case NF_EVENT_REPLY:
		return ev->status < 200 || ev->status > 299;
	}
	return false;
}

bool nf_digest_claim_event(struct nf_digest *d, const struct nf_event *ev)
{
	char key[EVENT_KEY_MAX];

	/* A storm of refused deliveries is one story per status family and window; verdicts
	 * and rollbacks are told once per event. */
	if (ev->kind == NF_EVENT_REPLY)
		snprintf(key, sizeof(key), "reply|%dxx", ev->status / 100);
	else
		snprintf(key, sizeof(key), "event|%s", ev->correlation_id);
	for (size_t i = 0; i < d->nevent_keys; i++)
		if (strcmp(d->event_keys[i], key) == 0)
			return false;
	if (d->nevent_keys == NF_EVENT_KEYS_MAX)
		return false;
	memcpy(d->event_keys[d->nevent_keys++], key, sizeof(key));
	return true;
}

/* What both formats say; generic carries `fields` as they are, Slack turns the headline, the
 * row lines and the references into mrkdwn blocks. */
struct message {
	char headline[HEADLINE_MAX];
	const char *message;		/* free text shown under the headline; may be "" */
	const char *flux_uid, *event_id, *probe_key, *correlation_id, *digest_url;
	const struct nf_row *const *rows;
	size_t nrows;
	struct json_object *fields;	/* generic-only members, consumed by render */
};

/* Appends s to buf (of size bytes, holding *len) with Slack's three mrkdwn escapes; false, and
 * nothing appended, when it does not fit. */
static bool slack_append(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = *len;
	for (; *s; s++) {
		const char *rep = *s == '&'   ? "&amp;"
				  : *s == '<' ? "&lt;"
				  : *s == '>' ? "&gt;"
					      : NULL;
		size_t k = rep ? strlen(rep) : 1;
		if (n + k >= size)
			return false;
		memcpy(buf + n, rep ? rep : s, k);
		n += k;
	}
	buf[n] = '\0';
	*len = n;
	return true;
}

/* s cut to at most max bytes on a UTF-8 character boundary. */
static void utf8_clip(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
}

static void row_line(const struct nf_row *r, char *out, size_t size)
{
	char first[32], last[32];
	rfc3339_format((time_t)(r->first_ms / 1000), first, sizeof(first));
	rfc3339_format((time_t)(r->last_ms / 1000), last, sizeof(last));
	snprintf(out, size, "\n- %s: %" PRIu64 " (%s), tenant %s, %s to %s%s%s", r->endpoint,
		 r->count, family_names[r->family], r->sample_tenant, first, last,
		 r->sample_event_id[0] ? ", event " : "", r->sample_event_id);
}

static int render_slack(const struct message *m, char **out, size_t *len, struct cf_err *err)
{
	char section[SLACK_TEXT_MAX + 1], context[SLACK_TEXT_MAX + 1], line[HEADLINE_MAX];
	char clipped[NF_MESSAGE_MAX];
	size_t slen = 0, clen = 0;
	struct json_object *o = json_object_new_object(), *blocks = json_object_new_array();
	struct json_object *b, *t, *elements;

	section[0] = context[0] = '\0';
	slack_append(section, sizeof(section), &slen, m->headline);
	if (m->message[0]) {
		snprintf(clipped, sizeof(clipped), "%s", m->message);
		utf8_clip(clipped, SLACK_MESSAGE_MAX);
		slack_append(section, sizeof(section), &slen, "\n");
		slack_append(section, sizeof(section), &slen, clipped);
	}
	for (size_t i = 0; i < m->nrows; i++) {
		row_line(m->rows[i], line, sizeof(line));
		if (!slack_append(section, sizeof(section), &slen, line)) {
			snprintf(line, sizeof(line), "\n- and %zu more", m->nrows - i);
			slack_append(section, sizeof(section), &slen, line);
			break;
		}
	}
	snprintf(line, sizeof(line), "flux uid %s | event %s | probe %s | correlation %s | ",
		 m->flux_uid[0] ? m->flux_uid : "-", m->event_id[0] ? m->event_id : "-",
		 m->probe_key[0] ? m->probe_key : "-", m->correlation_id);
	slack_append(context, sizeof(context), &clen, line);
	/* The link itself is not escaped: <url|label> is Slack's link syntax. */
	snprintf(line, sizeof(line), "<%s|digest>", m->digest_url);
	if (clen + strlen(line) < sizeof(context))
		strcat(context, line);

	b = json_object_new_object();
	t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("mrkdwn"));
	json_object_object_add(t, "text", json_object_new_string(section));
	json_object_object_add(b, "type", json_object_new_string("section"));
	json_object_object_add(b, "text", t);
	json_object_array_add(blocks, b);
	b = json_object_new_object();
	t = json_object_new_object();
	elements = json_object_new_array();
	json_object_object_add(t, "type", json_object_new_string("mrkdwn"));
	json_object_object_add(t, "text", json_object_new_string(context));
	json_object_array_add(elements, t);
	json_object_object_add(b, "type", json_object_new_string("context"));
	json_object_object_add(b, "elements", elements);
	json_object_array_add(blocks, b);

	slen = 0;
	section[0] = '\0';
	slack_append(section, sizeof(section), &slen, m->headline);
	json_object_object_add(o, "text", json_object_new_string(section));
	json_object_object_add(o, "blocks", blocks);
	json_object_put(m->fields);
	return finish(o, out, len, err);
}

static int render_generic(const struct message *m, char **out, size_t *len, struct cf_err *err)
{
	struct json_object *o = json_object_new_object();
	char text[HEADLINE_MAX + NF_MESSAGE_MAX + 16];

	snprintf(text, sizeof(text), "%s%s%s", m->headline, m->message[0] ? ": " : "", m->message);
	json_object_object_add(o, "text", json_object_new_string(text));
	json_object_object_foreach(m->fields, key, value)
		json_object_object_add(o, key, json_object_get(value));
	json_object_object_add(o, "fluxUid", string_or_null(m->flux_uid));
	json_object_object_add(o, "eventId", string_or_null(m->event_id));
	json_object_object_add(o, "probeKey", string_or_null(m->probe_key));
	json_object_object_add(o, "correlationId", json_object_new_string(m->correlation_id));
	json_object_object_add(o, "digestUrl", json_object_new_string(m->digest_url));
	json_object_put(m->fields);
	return finish(o, out, len, err);
}

static int render(const struct message *m, enum notify_format format, char **out, size_t *len,
		  struct cf_err *err)
{
	return format == NOTIFY_SLACK ? render_slack(m, out, len, err)
				      : render_generic(m, out, len, err);
}

int nf_render_summary(const struct nf_summary *s, enum notify_format format,
		      const char *digest_url, char **out, size_t *len, struct cf_err *err)
{
	char window[32], start[32], end[32];
	struct message m = {
		.message = "",
		.flux_uid = "",
		.event_id = "",
		.probe_key = NF_PROBE_KEY_DIGEST,
		.correlation_id = s->correlation_id,
		.digest_url = digest_url,
		.rows = s->rows,
		.nrows = s->nrows,
		.fields = json_object_new_object(),
	};
	struct json_object *rows = json_object_new_array();

	duration_format(s->window_ms, window, sizeof(window));
	rfc3339_format((time_t)(s->window_start_ms / 1000), start, sizeof(start));
	rfc3339_format((time_t)((s->window_start_ms + s->window_ms) / 1000), end, sizeof(end));
	snprintf(m.headline, sizeof(m.headline),
		 "clawfleet: %" PRIu64 " webhook delivery failure%s (%s) at %zu endpoint%s%s in "
		 "the %s window from %s to %s",
		 s->total, s->total == 1 ? "" : "s", family_names[s->family], s->nendpoints,
		 s->nendpoints == 1 ? "" : "s", s->untracked ? " and more not tracked" : "",
		 window, start, end);
	for (size_t i = 0; i < s->nrows; i++) {
		json_object_array_add(rows, row_json(s->rows[i], true));
		if (!m.event_id[0])
			m.event_id = s->rows[i]->sample_event_id;
	}
	json_object_object_add(m.fields, "kind", json_object_new_string("digest"));
	json_object_object_add(m.fields, "family", json_object_new_string(family_names[s->family]));
	json_object_object_add(m.fields, "window", json_object_new_string(window));
	json_object_object_add(m.fields, "windowStart", json_object_new_string(start));
	json_object_object_add(m.fields, "windowEnd", json_object_new_string(end));
	json_object_object_add(m.fields, "total", json_object_new_uint64(s->total));
	json_object_object_add(m.fields, "endpoints", json_object_new_uint64(s->nendpoints));
	json_object_object_add(m.fields, "untracked", json_object_new_uint64(s->untracked));
	json_object_object_add(m.fields, "rows", rows);
	return render(&m, format, out, len, err);
}

int nf_render_event(const struct nf_event *ev, enum notify_format format, const char *digest_url,
		    char **out, size_t *len, struct cf_err *err)
{
	struct message m = {
		.message = ev->message,
		.flux_uid = ev->flux_uid,
		.event_id = ev->event_id,
		.probe_key = ev->probe_key,
		.correlation_id = ev->correlation_id,
		.digest_url = digest_url,
		.fields = json_object_new_object(),
	};

	switch (ev->kind) {
	case NF_EVENT_VERDICT:
		snprintf(m.headline, sizeof(m.headline), "clawfleet: verdict %s%s%s", ev->verdict,
			 ev->probe_key[0] ? " from probe " : "", ev->probe_key);
		break;
	case NF_EVENT_ROLLBACK:
		snprintf(m.headline, sizeof(m.headline), "clawfleet: the rollout is rolling back");
		break;
	case NF_EVENT_REPLY:
		snprintf(m.headline, sizeof(m.headline),
			 "clawfleet: the controller answered a Flux delivery with HTTP %d",
			 ev->status);
		break;
	}
	json_object_object_add(m.fields, "kind", json_object_new_string(kind_names[ev->kind]));
	json_object_object_add(m.fields, "verdict", string_or_null(ev->verdict));
	json_object_object_add(m.fields, "status",
			       ev->status ? json_object_new_int(ev->status) : NULL);
	json_object_object_add(m.fields, "message", json_object_new_string(ev->message));
	json_object_object_add(m.fields, "rows", json_object_new_array());
	return render(&m, format, out, len, err);
}

int64_t nf_backoff_ms(unsigned int retry, uint64_t random)
{
	int64_t ceiling = NF_BACKOFF_CAP_MS;
	if (retry < 16 && ((int64_t)NF_BACKOFF_BASE_MS << retry) < ceiling)
		ceiling = (int64_t)NF_BACKOFF_BASE_MS << retry;
	return (int64_t)(random % (uint64_t)(ceiling + 1));
}

static bool retryable(long status)
{
	return status == 0 || status == 408 || status == 425 || status == 429 ||
	       (status >= 500 && status <= 599);
}

void nf_deliver(const struct nf_delivery_ops *ops, const char *body, size_t len,
		struct nf_delivery *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned int attempt = 0; attempt < NF_ATTEMPTS_MAX; attempt++) {
		struct cf_err err = {{0}};
		if (attempt > 0 &&
		    !ops->wait(ops->ctx, nf_backoff_ms(attempt - 1, ops->random(ops->ctx)))) {
			out->stopped = true;
			return;
		}
		long status = ops->post(ops->ctx, body, len, &err);
		out->attempts++;
		out->last_status = status;
		if (status >= 200 && status <= 299) {
			out->delivered = true;
			out->last_error[0] = '\0';
			return;
		}
		if (status == 0)
			snprintf(out->last_error, sizeof(out->last_error), "%.200s",
				 err.msg[0] ? err.msg : "no answer");
		else
			snprintf(out->last_error, sizeof(out->last_error), "HTTP %ld", status);
		if (!retryable(status))
			return;
	}
}
