/* The Flux hook end to end: a request's headers and body to the reply and its verdict, through
 * fluxhook_handle as the controller's route calls it (authentication with real token files, the
 * event header, the event, the verdict, the reply cache). The input is the request:
 *   Header-Name: value      one line per header, as many as wanted
 *   <empty line>
 *   body                    the rest
 * Two headers are the harness's, not the request's: "X-Fuzz-Auth: bearer" (or "hmac") adds a
 * valid Authorization (or X-Signature over the body), so the fuzzer gets past authentication;
 * "X-Fuzz-Snapshot: BYTES" shapes what the controller's last pass saw (phase, suspension,
 * canaries, gateways), absent for a green canary mid-rollout. Each request is sent twice: an
 * accepted event must be answered again byte for byte, as a redelivery, and trigger nothing.
 *
 * libmicrohttpd is not in the loop: this file defines MHD_lookup_connection_value, which the
 * executable's own definition makes the one httpd_request_header calls, so headers come from the
 * input instead of a socket. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/err.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "contracts/tokens.h"
#include "serve/fluxhook.h"
#include "serve/httpd.h"
#include "tests/fuzz/fuzz.h"

#define TOKEN "c0ffee-current-Token.1"
#define PROMOTION_IMAGE "ghcr.io/openclaw/gateway:2026.7.1"
#define MAX_HEADERS 16

struct header {
	char *name, *value;
};

struct request_headers {
	struct header v[MAX_HEADERS];
	size_t n;
};

static struct tokens *tokens;

const char *MHD_lookup_connection_value(struct MHD_Connection *connection,
					enum MHD_ValueKind kind, const char *key)
{
	const struct request_headers *h = (const struct request_headers *)(void *)connection;

	if (kind != MHD_HEADER_KIND)
		return NULL;
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, key) == 0)
			return h->v[i].value;
	return NULL;
}

static void open_tokens(void)
{
	struct tokens_config cfg = TOKENS_CONFIG_INIT;
	struct cf_err err = {{0}};
	char path[128];

	snprintf(path, sizeof(path), "%s/token.current", fuzz_scratch_dir());
	if (fsutil_write_atomic(path, TOKEN "\n", strlen(TOKEN) + 1, 0600, &err) < 0 ||
	    (cfg.current = path, cfg.recheck_ms = 3600 * 1000, tokens_open(&tokens, &cfg, &err)) < 0) {
		fprintf(stderr, "fuzz_fluxhook: %s\n", err.msg);
		abort();
	}
}

static void add_header(struct request_headers *h, const char *name, size_t name_len,
		       const char *value, size_t value_len)
{
	if (h->n == MAX_HEADERS)
		return;
	h->v[h->n].name = fuzz_cstring((const uint8_t *)name, name_len);
	h->v[h->n].value = fuzz_cstring((const uint8_t *)value, value_len);
	h->n++;
}

static void free_headers(struct request_headers *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
}

/* Reads the header lines; returns where the body starts. A line without ':' is skipped. */
static const char *read_headers(const char *p, const char *end, struct request_headers *h)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (eol == p)
			return nl ? nl + 1 : end;
		if (colon) {
			const char *v = colon + 1;
			while (v < eol && *v == ' ')
				v++;
			add_header(h, p, (size_t)(colon - p), v, (size_t)(eol - v));
		}
		p = nl ? nl + 1 : end;
	}
	return end;
}

static void green_snapshot(struct fluxhook_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->observed = true;
	strcpy(s->promotion, "gateway");
	strcpy(s->tag, "v2026.7.1");
	strcpy(s->image_ref, PROMOTION_IMAGE);
	strcpy(s->skill_semver, "1.4.2");
	strcpy(s->revision, "refs/heads/main@sha1:1111111111111111111111111111111111111111");
	s->phase = ROLLOUT_ANALYSING;
	s->step = 2;
	s->percent = 20;
	s->ncanaries = 1;
	strcpy(s->canaries[0].node, "canary-gw");
	s->canaries[0].reachable = true;
	s->canaries[0].status = PROBE_GREEN;
	s->canaries[0].p95_ms = 60;
	s->canaries[0].baseline_p95_ms = 80;
	s->gateways = PROBE_GREEN;
}

/* The snapshot the X-Fuzz-Snapshot bytes describe, one field a byte. */
static void shape_snapshot(struct fluxhook_snapshot *s, const char *b)
{
	static const char *const reasons[] = {"", "doctor.red", "latency.p95", "gateway.down"};
	size_t n = strlen(b), i = 0;
#define NEXT() ((unsigned char)(i < n ? b[i++] : 0))
	s->observed = NEXT() % 8 != 0;
	s->phase = (enum rollout_phase)(NEXT() % (ROLLOUT_ROLLED_BACK + 1));
	strcpy(s->phase_reason, reasons[NEXT() % 4]);
	s->suspended = NEXT() % 2;
	if (NEXT() % 4 == 0)
		s->image_ref[0] = '\0';
	if (NEXT() % 8 == 0)
		s->promotion[0] = '\0';
	s->ncanaries = NEXT() % 4;
	for (size_t c = 0; c < s->ncanaries; c++) {
		struct fluxhook_canary *k = &s->canaries[c];
		unsigned char f = NEXT();
		snprintf(k->node, sizeof(k->node), "canary-%zu", c);
		k->reachable = f & 1;
		k->status = (enum probe_status)((f >> 1) % 3);
		strcpy(k->reason, reasons[(f >> 3) % 4]);
		k->p95_ms = (double)NEXT() * 4 - 8;
		k->baseline_p95_ms = (double)NEXT() * 4 - 8;
	}
	s->gateways = (enum probe_status)(NEXT() % 3);
#undef NEXT
}

static void sign(struct request_headers *h, const char *body, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char sig[8 + 2 * EVP_MAX_MD_SIZE + 1] = "sha256=";

	HMAC(EVP_sha256(), TOKEN, (int)strlen(TOKEN), (const unsigned char *)body, len, mac,
	     &mac_len);
	for (unsigned int i = 0; i < mac_len; i++)
		snprintf(sig + 7 + 2 * i, 3, "%02x", mac[i]);
	add_header(h, "X-Signature", 11, sig, strlen(sig));
}

static int64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request_headers h = {0};
	struct fluxhook_config cfg = FLUXHOOK_CONFIG_INIT;
	struct fluxhook_snapshot snap;
	struct fluxhook_outcome out[2];
	struct httpd_response resp[2];
	struct fluxhook *hook = NULL;
	struct cf_err err = {{0}};
	const char *body, *auth, *shape;
	char *body_copy;
	size_t body_len;

	if (!tokens)
		open_tokens();
	body = read_headers((const char *)data, (const char *)data + size, &h);
	body_len = (size_t)((const char *)data + size - body);
	/* httpd hands a handler a NUL-terminated body. */
	body_copy = fuzz_cstring((const uint8_t *)body, body_len);
	auth = MHD_lookup_connection_value((void *)&h, MHD_HEADER_KIND, "X-Fuzz-Auth");
	if (auth && strcmp(auth, "bearer") == 0)
		add_header(&h, "Authorization", 13, "Bearer " TOKEN, strlen("Bearer " TOKEN));
	else if (auth && strcmp(auth, "hmac") == 0)
		sign(&h, body_copy, body_len);
	green_snapshot(&snap);
	shape = MHD_lookup_connection_value((void *)&h, MHD_HEADER_KIND, "X-Fuzz-Snapshot");
	if (shape)
		shape_snapshot(&snap, shape);

	cfg.tokens = tokens;
	cfg.require_event_header = size % 2;
	cfg.dedupe_capacity = 2;
	cfg.clock_ms = fixed_clock;
	if (fluxhook_new(&hook, &cfg, &err) < 0)
		abort();
	struct httpd_request req = {"POST", FLUXHOOK_DEFAULT_PATH, body_copy, body_len, &h};
	for (int i = 0; i < 2; i++) {
		httpd_response_init(&resp[i]);
		fuzz_require(fluxhook_handle(hook, &req, &snap, &resp[i], &out[i]) == 0,
			     "out of memory");
		fuzz_require(out[i].status == resp[i].status, "outcome %u, reply %u",
			     out[i].status, resp[i].status);
		fuzz_require(memchr(out[i].message, '\n', strlen(out[i].message)) == NULL,
			     "a log line with a newline: %s", out[i].message);
	}
	fuzz_require(out[0].status == out[1].status, "%u then %u", out[0].status, out[1].status);
	fuzz_require(resp[0].body_len == resp[1].body_len &&
			     !memcmp(resp[0].body, resp[1].body, resp[0].body_len),
		     "the same request answered differently");
	if (out[0].status == 401)
		fuzz_require(resp[0].body_len == strlen(TOKENS_UNAUTHORIZED_BODY) &&
				     !memcmp(resp[0].body, TOKENS_UNAUTHORIZED_BODY, resp[0].body_len),
			     "a 401 that says more than unauthorized");
	if (out[0].status == 202) {
		struct json_object *doc = NULL;
		fuzz_require(out[0].trigger && !out[0].redelivery, "a new event that triggers nothing");
		fuzz_require(!out[1].trigger && out[1].redelivery, "a redelivery that triggers");
		fuzz_require(jsonparse_object(resp[0].body, resp[0].body_len, JSONPARSE_DEPTH, &doc,
					      &err) == 0,
			     "a 202 envelope that is not JSON: %s", err.msg);
		json_object_put(doc);
	} else {
		fuzz_require(!out[0].trigger && !out[1].trigger, "a refused request triggers");
		fuzz_require(out[0].status >= 400 && out[0].status < 500, "status %u", out[0].status);
	}
	for (int i = 0; i < 2; i++)
		httpd_response_release(&resp[i]);
	fluxhook_free(hook);
	free_headers(&h);
	free(body_copy);
	return 0;
}
