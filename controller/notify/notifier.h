/* notifier: the logic of `clawfleet notifier`, free of sockets, threads and clocks (times are
 * epoch milliseconds passed in). Gateways report webhook delivery failures as one JSON object
 * per line; nf_failure_parse accepts or refuses a line. A digest counts failures by endpoint and
 * status family (4xx, 5xx, timeout) in tumbling windows aligned to multiples of the window since
 * the epoch, so every notifier agrees on window edges and correlation ids. When a window closes,
 * one summary per family that failed in it goes to a callback; the digest document shows the
 * open window. Controller events (red verdicts, rollbacks, non-2xx replies) are parsed, filtered
 * and deduplicated per window. Broadcast bodies are rendered as generic JSON or Slack-compatible
 * JSON; nf_deliver posts one through injected operations, at most NF_ATTEMPTS_MAX attempts with
 * full-jitter exponential backoff between them. */
#ifndef CLAWFLEET_NOTIFIER_H
#define CLAWFLEET_NOTIFIER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "desired/desired.h"

#define NF_LINE_MAX 16384	/* bytes of one ingest line, newline excluded */
#define NF_ENDPOINT_MAX 257	/* 256 bytes and a NUL */
#define NF_TENANT_MAX 64
#define NF_ID_MAX 129		/* eventId, correlationId, fluxUid, probeKey: 128 and a NUL */
#define NF_MESSAGE_MAX 1025
#define NF_CORRELATION_MAX 36	/* "cf-" and 32 hex digits and a NUL */
#define NF_ROWS_MAX 512		/* distinct (endpoint, family) rows per window */
#define NF_TOP_MAX 20		/* rows in the digest document */
#define NF_SUMMARY_ROWS_MAX 10	/* rows in one broadcast */
#define NF_EVENT_KEYS_MAX 256	/* distinct controller events broadcast per window */
#define NF_WINDOW_MIN_MS 1000
#define NF_WINDOW_MAX_MS (24 * 3600 * 1000)
#define NF_ATTEMPTS_MAX 4	/* the first attempt included */
#define NF_BACKOFF_BASE_MS 500
#define NF_BACKOFF_CAP_MS 8000
#define NF_PROBE_KEY_DIGEST "webhook.digest"

enum nf_family { NF_4XX, NF_5XX, NF_TIMEOUT, NF_FAMILIES };

/* "4xx", "5xx", "timeout". */
const char *nf_family_name(enum nf_family f);
/* 400-499 is 4xx, 500-599 is 5xx; anything else is not a delivery failure (-1). */
int nf_family_of_status(long status, enum nf_family *out);

/* One reported failure. endpoint is kept without user information, query or fragment (a URL's
 * credentials must not reach a chat channel) and is the dedupe key with the family. */
struct nf_failure {
	char tenant[NF_TENANT_MAX];
	char endpoint[NF_ENDPOINT_MAX];
	enum nf_family family;
	int status;			/* the HTTP status; 0 for a timeout */
	char event_id[NF_ID_MAX];	/* "" when not reported */
	char correlation_id[NF_ID_MAX];
};

/* {"tenant": DNS label, "endpoint": printable ASCII, "status": 400..599 or "timeout",
 * "eventId"?, "correlationId"?, "time"?: RFC 3339}; other keys are ignored. The notifier's own
 * clock places a failure in a window, so `time` is only checked. Blank lines are not failures:
 * callers skip them. */
int nf_failure_parse(const char *line, size_t len, struct nf_failure *out, struct cf_err *err);

struct nf_row {
	char endpoint[NF_ENDPOINT_MAX];
	enum nf_family family;
	uint64_t count;
	int64_t first_ms, last_ms;
	char sample_tenant[NF_TENANT_MAX];	/* from the latest failure */
	char sample_event_id[NF_ID_MAX];	/* the latest non-empty eventId */
	char sample_correlation_id[NF_ID_MAX];
};

/* What a closed window held for one family. rows are sorted (count descending, then endpoint)
 * and capped at NF_SUMMARY_ROWS_MAX; total counts every failure of the family, untracked those
 * past NF_ROWS_MAX distinct rows. */
struct nf_summary {
	enum nf_family family;
	int64_t window_start_ms, window_ms;
	uint64_t total, untracked;
	size_t nrows, nendpoints;	/* rows shown; distinct endpoints tracked */
	const struct nf_row *rows[NF_SUMMARY_ROWS_MAX];
	char correlation_id[NF_CORRELATION_MAX];	/* stable for (family, window) */
};

/* Called once per family with failures when its window closes; s lives only for the call. */
typedef void nf_window_closed_fn(void *ctx, const struct nf_summary *s);

struct nf_digest;

int nf_digest_new(struct nf_digest **out, int64_t window_ms, int64_t now_ms, struct cf_err *err);
void nf_digest_free(struct nf_digest *d);
/* Brings the digest up to now: closes the open window when now is past its end (handing its
 * summaries to closed) and marks the digest fresh. */
void nf_digest_tick(struct nf_digest *d, int64_t now_ms, nf_window_closed_fn *closed, void *ctx);
/* nf_digest_tick, then counts f in the open window. */
void nf_digest_record(struct nf_digest *d, const struct nf_failure *f, int64_t now_ms,
		      nf_window_closed_fn *closed, void *ctx);
/* The GET /v1/webhook-digest document:
 *   {"age_sec", "window", "windowStart", "total", "top": [{endpoint, family, count, first,
 *    last, sampleEventId}]}
 * age_sec is how long ago the digest was last brought up to date (nf_digest_tick), so a reader
 * can tell a live notifier from a wedged one; top holds the NF_TOP_MAX largest rows, count
 * descending, then endpoint, then family; first and last are RFC 3339; sampleEventId is null
 * when no failure of the row carried one. */
int nf_digest_render(const struct nf_digest *d, int64_t now_ms, char **out, size_t *len,
		     struct cf_err *err);

/* "cf-" and the first 32 hex digits of the sha256 of material: the same material, the same
 * id, on every notifier. */
void nf_correlation_id(const char *material, char out[NF_CORRELATION_MAX]);

enum nf_event_kind { NF_EVENT_VERDICT, NF_EVENT_ROLLBACK, NF_EVENT_REPLY };

/* A POST /v1/events body from the controller. */
struct nf_event {
	enum nf_event_kind kind;
	char verdict[16];	/* promote | hold | rollback; "" when absent */
	int status;		/* the reply's HTTP status (kind reply); 0 otherwise */
	char flux_uid[NF_ID_MAX];
	char event_id[NF_ID_MAX];
	char probe_key[NF_ID_MAX];
	char correlation_id[NF_ID_MAX];	/* given, or derived from the fields above */
	char message[NF_MESSAGE_MAX];
};

/* {"kind": "verdict"|"rollback"|"reply", "verdict"?: "promote"|"hold"|"rollback" (required
 * for kind verdict), "status"?: 100..599 (required for kind reply), "fluxUid"?, "eventId"?,
 * "probeKey"?, "correlationId"?, "message"?}; unknown keys are refused so that a typo does not
 * silence a broadcast. */
int nf_event_parse(const char *body, size_t len, struct nf_event *out, struct cf_err *err);
/* Whether the event is news for the channel: a hold or rollback verdict, a rollback, a reply
 * that is not 2xx. */
bool nf_event_broadcasts(const struct nf_event *ev);
/* Records the event in the open window; false when an equal event (same correlation id, or
 * for replies the same status family) was already broadcast in it, or the window's
 * NF_EVENT_KEYS_MAX keys are used up. */
bool nf_digest_claim_event(struct nf_digest *d, const struct nf_event *ev);

/* Broadcast bodies. Generic: {"text", "kind", "rows": [...], "fluxUid", "eventId",
 * "probeKey", "correlationId", "digestUrl", ...}; Slack: {"text", "blocks": [section, context]}
 * with mrkdwn escaped. Fields not known are null in generic and left out in Slack. */
int nf_render_summary(const struct nf_summary *s, enum notify_format format,
		      const char *digest_url, char **out, size_t *len, struct cf_err *err);
int nf_render_event(const struct nf_event *ev, enum notify_format format, const char *digest_url,
		    char **out, size_t *len, struct cf_err *err);

/* The wait before retry number `retry` (0 for the wait after the first attempt): uniform in
 * [0, min(NF_BACKOFF_CAP_MS, NF_BACKOFF_BASE_MS * 2^retry)] drawn from random. */
int64_t nf_backoff_ms(unsigned int retry, uint64_t random);

struct nf_delivery_ops {
	/* One POST of body; the HTTP status, or 0 with err filled when no answer came. */
	long (*post)(void *ctx, const char *body, size_t len, struct cf_err *err);
	/* Waits ms; false when the notifier is stopping and the delivery should end now. */
	bool (*wait)(void *ctx, int64_t ms);
	uint64_t (*random)(void *ctx);
	void *ctx;
};

struct nf_delivery {
	bool delivered;
	bool stopped;		/* wait said the notifier is stopping */
	unsigned int attempts;
	long last_status;	/* 0: no answer */
	char last_error[256];	/* why the last attempt failed */
};

/* Posts body until a 2xx answer, at most NF_ATTEMPTS_MAX attempts. No answer, 408, 425, 429
 * and 5xx are retried after nf_backoff_ms; any other answer ends the delivery at once. */
void nf_deliver(const struct nf_delivery_ops *ops, const char *body, size_t len,
		struct nf_delivery *out);

#endif
