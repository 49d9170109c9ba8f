/* The /readyz reader, as the controller's poll reads a node's body: a body is a probe document
 * of the node asked for, of another node, or not a probe document with a reason; the parser kept
 * between bodies and a fresh one agree. Everything read must outlive the document (it is copied
 * into the arena), which ASan checks as the harness reads it after dropping the document. The
 * reader over the bytes (contracts/readyz_stream.h) is held to the tree's reading: whatever it
 * reads, readyz_read over jsonparse reads the same, field for field: parity, parityParts and
 * tokenAges too. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/jsonparse.h"
#include "contracts/parity.h"
#include "contracts/readyz.h"
#include "contracts/readyz_stream.h"
#include "contracts/token_age.h"
#include "tests/fuzz/fuzz.h"

#define NODE "canary-gw"

static struct jsonparse *kept;

static size_t touch(const char *s)
{
	return s ? strlen(s) : 0;
}

static bool same_text(const char *x, const char *y)
{
	return x == y || (x && y && strcmp(x, y) == 0);
}

/* parity and parityParts: the digest and every part, as text (the bytes after a NUL are no
 * part of what was read). */
static void same_parity(const struct parity *s, const struct parity *t)
{
	fuzz_require(strcmp(s->digest, t->digest) == 0, "parity: %s, the tree %s", s->digest,
		     t->digest);
	for (size_t i = 0; i < PARITY_PARTS; i++)
		fuzz_require(strcmp(s->parts[i], t->parts[i]) == 0, "parityParts.%s: %s, the tree %s",
			     parity_part_name((enum parity_part)i), s->parts[i], t->parts[i]);
}

/* tokenAges: whether it was reported, and then the limit and every slot's age. */
static void same_tokens(const struct token_ages *s, const struct token_ages *t)
{
	fuzz_require(s->known == t->known, "tokenAges known %d, the tree %d", s->known, t->known);
	if (!s->known)
		return;
	fuzz_require(s->max_age_sec == t->max_age_sec, "tokenAges.maxAge");
	for (size_t i = 0; i < TOKEN_SLOTS; i++)
		fuzz_require(s->age_sec[i] == t->age_sec[i], "tokenAges.%s",
			     token_slot_name((enum token_slot)i));
}

/* What the reader over the bytes read, the tree reads too. */
static void same_as_tree(const uint8_t *data, size_t size)
{
	struct node_observation s = {0}, t = {0};
	struct arena a = {0};
	struct json_object *doc = NULL;
	struct cf_err err = {{0}};

	int rc = readyz_stream_read((const char *)data, size, NODE, &a, &s);
	if (rc == READYZ_STREAM_UNSURE) {
		arena_free(&a);
		return;
	}
	fuzz_require(rc == 0 || rc == READYZ_OTHER_NODE, "stream rc %d", rc);
	fuzz_require(jsonparse_object((const char *)data, size, READYZ_DEPTH, &doc, &err) == 0,
		     "the stream read a body jsonparse refuses: %s", err.msg);
	int rc_tree = readyz_read(doc, NODE, &a, &t, &err);
	json_object_put(doc);
	fuzz_require(rc == rc_tree, "stream %d, tree %d (%s)", rc, rc_tree, err.msg);
	fuzz_require(same_text(s.name, t.name), "name");
	fuzz_require(s.reachable == t.reachable && s.status == t.status &&
			     s.observed_generation == t.observed_generation &&
			     s.version_match == t.version_match &&
			     s.latency_samples == t.latency_samples &&
			     (s.p95_ms == t.p95_ms) && s.digest_known == t.digest_known &&
			     s.digest_failures == t.digest_failures && s.nreasons == t.nreasons,
		     "a figure differs");
	for (size_t i = 0; i < s.nreasons; i++)
		fuzz_require(same_text(s.reasons[i], t.reasons[i]), "reason %zu", i);
	fuzz_require(same_text(s.tag, t.tag) && same_text(s.commit, t.commit) &&
			     same_text(s.skills_current, t.skills_current) &&
			     same_text(s.skills_next, t.skills_next) &&
			     same_text(s.lock_sha256, t.lock_sha256) &&
			     same_text(s.probe_sha256, t.probe_sha256) &&
			     same_text(s.reason_message, t.reason_message),
		     "a string differs");
	const struct readyz_finding *fs = &s.doctor_first_bad, *ft = &t.doctor_first_bad;
	fuzz_require(same_text(fs->check_id, ft->check_id) && same_text(fs->severity, ft->severity) &&
			     same_text(fs->message, ft->message) && same_text(fs->path, ft->path) &&
			     same_text(fs->fix_hint, ft->fix_hint) &&
			     same_text(fs->tenant, ft->tenant) && fs->line == ft->line &&
			     fs->column == ft->column,
		     "doctor.firstBad differs");
	same_parity(&s.parity, &t.parity);
	same_tokens(&s.tokens, &t.tokens);
	arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct node_observation fresh = {0}, reused = {0};
	struct arena a = {0}, b = {0};
	struct cf_err err = {{0}};
	int rc_fresh, rc_reused;
	size_t sum = 0;

	if (!kept && jsonparse_new(&kept, READYZ_DEPTH, &err) < 0)
		abort();
	same_as_tree(data, size);
	rc_fresh = readyz_parse(NULL, (const char *)data, size, NODE, &a, &fresh, &err);
	rc_reused = readyz_parse(kept, (const char *)data, size, NODE, &b, &reused, &err);
	fuzz_require(rc_fresh == rc_reused, "fresh parser %d, kept parser %d", rc_fresh, rc_reused);
	fuzz_require(rc_fresh == 0 || rc_fresh == -1 || rc_fresh == READYZ_OTHER_NODE,
		     "rc %d", rc_fresh);
	if (rc_fresh == -1)
		fuzz_require(err.msg[0], "refused without a message");
	if (rc_fresh == READYZ_OTHER_NODE)
		fuzz_require(fresh.name && strcmp(fresh.name, NODE) != 0, "another node, yet %s",
			     fresh.name ? fresh.name : "(null)");
	if (rc_fresh == 0) {
		fuzz_require(fresh.reachable && fresh.name && !strcmp(fresh.name, NODE),
			     "read, yet not the node's");
		fuzz_require(fresh.status <= PROBE_RED, "status %d", fresh.status);
		fuzz_require(fresh.observed_generation >= 0, "generation < 0");
		fuzz_require(fresh.nreasons == 0 || fresh.reasons, "reasons lost");
		(void)probe_status_name(fresh.status);
		for (size_t i = 0; i < fresh.nreasons; i++)
			sum += touch(fresh.reasons[i]);
		sum += touch(fresh.tag) + touch(fresh.commit) + touch(fresh.skills_current) +
		       touch(fresh.skills_next) + touch(fresh.lock_sha256) + touch(fresh.probe_sha256) +
		       touch(fresh.reason_message) + touch(fresh.doctor_first_bad.check_id) +
		       touch(fresh.doctor_first_bad.message) + touch(fresh.doctor_first_bad.path) +
		       touch(fresh.doctor_first_bad.fix_hint) + touch(fresh.doctor_first_bad.tenant) +
		       touch(fresh.doctor_first_bad.severity);
	}
	arena_free(&a);
	arena_free(&b);
	return (int)(sum & 0);
}
