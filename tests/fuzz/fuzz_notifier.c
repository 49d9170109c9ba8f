/* The notifier's lines: every line of the input is a gateway's failure report (nf_failure_parse)
 * recorded into a digest whose clock moves a few seconds a line, so windows close and their
 * summaries are rendered in both formats; the whole input is also a controller event
 * (nf_event_parse), claimed and rendered when accepted. Every rendering is one JSON object, and a
 * failure's endpoint never keeps its credentials. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/err.h"
#include "base/jsonparse.h"
#include "notify/notifier.h"
#include "tests/fuzz/fuzz.h"

#define DIGEST_URL "http://notifier:8090/v1/webhook-digest"

/* rc and the body a renderer gave: a rendering that succeeded is one JSON object. */
static void require_json(int rc, char *body, size_t len, const char *what)
{
	struct json_object *doc = NULL;
	struct cf_err err = {{0}};

	if (rc < 0)
		return;
	fuzz_require(jsonparse_object(body, len, JSONPARSE_DEPTH, &doc, &err) == 0,
		     "%s is not a JSON object: %s: %.*s", what, err.msg, (int)len, body);
	json_object_put(doc);
	free(body);
}

static void closed(void *ctx, const struct nf_summary *s)
{
	struct cf_err err = {{0}};
	char *body = NULL;
	size_t len = 0;
	int rc;

	(void)ctx;
	fuzz_require(s->nrows <= NF_SUMMARY_ROWS_MAX, "%zu rows", s->nrows);
	rc = nf_render_summary(s, NOTIFY_GENERIC, DIGEST_URL, &body, &len, &err);
	require_json(rc, body, len, "a generic summary");
	rc = nf_render_summary(s, NOTIFY_SLACK, DIGEST_URL, &body, &len, &err);
	require_json(rc, body, len, "a Slack summary");
}

/* "scheme://user:pw@host/...": an '@' between "://" and the path. */
static bool has_userinfo(const char *url)
{
	const char *authority = strstr(url, "://");
	const char *at, *slash;

	if (!authority)
		return false;
	authority += 3;
	at = strchr(authority, '@');
	slash = strchr(authority, '/');
	return at && (!slash || at < slash);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	int64_t now = 1782000000000LL;
	struct nf_digest *d = NULL;
	struct cf_err err = {{0}};
	struct nf_event ev;
	char *body = NULL;
	size_t len = 0;
	int rc;

	if (nf_digest_new(&d, 10000, now, &err) < 0)
		abort();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line_len = (size_t)((nl ? nl : end) - p);
		struct nf_failure f;
		if (nf_failure_parse(p, line_len, &f, &err) == 0) {
			fuzz_require(!strchr(f.endpoint, '?') && !strchr(f.endpoint, '#') &&
					     !has_userinfo(f.endpoint),
				     "endpoint kept credentials or a query: %s", f.endpoint);
			nf_digest_record(d, &f, now, closed, NULL);
		}
		now += 3000;
		p = nl ? nl + 1 : end;
	}
	rc = nf_digest_render(d, now, &body, &len, &err);
	require_json(rc, body, len, "the digest");
	nf_digest_tick(d, now + 3600000, closed, NULL);

	if (nf_event_parse((const char *)data, size, &ev, &err) == 0) {
		(void)nf_event_broadcasts(&ev);
		(void)nf_digest_claim_event(d, &ev);
		rc = nf_render_event(&ev, NOTIFY_GENERIC, DIGEST_URL, &body, &len, &err);
		require_json(rc, body, len, "a generic event");
		rc = nf_render_event(&ev, NOTIFY_SLACK, DIGEST_URL, &body, &len, &err);
		require_json(rc, body, len, "a Slack event");
	}
	nf_digest_free(d);
	return 0;
}
