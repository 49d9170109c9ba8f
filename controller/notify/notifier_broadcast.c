/* The notifier's broadcasts: a closed window's summary or a controller event rendered as a
 * generic or a Slack body, and its delivery to the channel with retries and jittered backoff. */
#include "notify/notifier.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/timeparse.h"
#include "notify/notifier_internal.h"

/* Slack refuses a section or context text over 3,000 characters. */
#define SLACK_TEXT_MAX 2900
#define SLACK_MESSAGE_MAX 500
#define HEADLINE_MAX 1536

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
		 r->count, nf_family_name(r->family), r->sample_tenant, first, last,
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
	return nf_json_finish(o, out, len, err);
}

static int render_generic(const struct message *m, char **out, size_t *len, struct cf_err *err)
{
	struct json_object *o = json_object_new_object();
	char text[HEADLINE_MAX + NF_MESSAGE_MAX + 16];

	snprintf(text, sizeof(text), "%s%s%s", m->headline, m->message[0] ? ": " : "", m->message);
	json_object_object_add(o, "text", json_object_new_string(text));
	json_object_object_foreach(m->fields, key, value)
		json_object_object_add(o, key, json_object_get(value));
	json_object_object_add(o, "fluxUid", nf_string_or_null(m->flux_uid));
	json_object_object_add(o, "eventId", nf_string_or_null(m->event_id));
	json_object_object_add(o, "probeKey", nf_string_or_null(m->probe_key));
	json_object_object_add(o, "correlationId", json_object_new_string(m->correlation_id));
	json_object_object_add(o, "digestUrl", json_object_new_string(m->digest_url));
	json_object_put(m->fields);
	return nf_json_finish(o, out, len, err);
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
		 s->total, s->total == 1 ? "" : "s", nf_family_name(s->family), s->nendpoints,
		 s->nendpoints == 1 ? "" : "s", s->untracked ? " and more not tracked" : "",
		 window, start, end);
	for (size_t i = 0; i < s->nrows; i++) {
		json_object_array_add(rows, nf_row_json(s->rows[i], true));
		if (!m.event_id[0])
			m.event_id = s->rows[i]->sample_event_id;
	}
	json_object_object_add(m.fields, "kind", json_object_new_string("digest"));
	json_object_object_add(m.fields, "family",
			       json_object_new_string(nf_family_name(s->family)));
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
	json_object_object_add(m.fields, "kind",
			       json_object_new_string(nf_event_kind_name(ev->kind)));
	json_object_object_add(m.fields, "verdict", nf_string_or_null(ev->verdict));
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
