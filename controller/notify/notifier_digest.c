/* The notifier's digest: failures counted by endpoint and family in tumbling windows, the
 * summaries a closing window hands on, the controller events claimed once per window, and the
 * GET /v1/webhook-digest document. */
#include "notify/notifier.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/timeparse.h"
#include "notify/notifier_internal.h"

#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
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
			 nf_family_name((enum nf_family)f), d->window_start_ms, d->window_ms);
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

struct json_object *nf_string_or_null(const char *s)
{
	return s && s[0] ? json_object_new_string(s) : NULL;
}

static struct json_object *time_json(int64_t ms)
{
	char buf[32];
	rfc3339_format((time_t)(ms / 1000), buf, sizeof(buf));
	return json_object_new_string(buf);
}

struct json_object *nf_row_json(const struct nf_row *r, bool broadcast)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "endpoint", json_object_new_string(r->endpoint));
	json_object_object_add(o, "family", json_object_new_string(nf_family_name(r->family)));
	json_object_object_add(o, "count", json_object_new_uint64(r->count));
	json_object_object_add(o, "first", time_json(r->first_ms));
	json_object_object_add(o, "last", time_json(r->last_ms));
	json_object_object_add(o, "sampleEventId", nf_string_or_null(r->sample_event_id));
	if (broadcast) {
		json_object_object_add(o, "tenant", json_object_new_string(r->sample_tenant));
		json_object_object_add(o, "sampleCorrelationId",
				       nf_string_or_null(r->sample_correlation_id));
	}
	return o;
}

int nf_json_finish(struct json_object *o, char **out, size_t *len, struct cf_err *err)
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
		json_object_array_add(top, nf_row_json(sorted[i], false));
	json_object_object_add(o, "age_sec", json_object_new_int64(age));
	json_object_object_add(o, "window", json_object_new_string(window));
	json_object_object_add(o, "windowStart", time_json(d->window_start_ms));
	json_object_object_add(o, "total", json_object_new_uint64(total));
	json_object_object_add(o, "top", top);
	return nf_json_finish(o, out, len, err);
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
