/* The /readyz reader, as the controller's poll reads a node's body: a body is a probe document
 * of the node asked for, of another node, or not a probe document with a reason; the parser kept
 * between bodies and a fresh one agree. Everything read must outlive the document (it is copied
 * into the arena), which ASan checks as the harness reads it after dropping the document. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/jsonparse.h"
#include "contracts/readyz.h"
#include "tests/fuzz/fuzz.h"

#define NODE "canary-gw"

static struct jsonparse *kept;

static size_t touch(const char *s)
{
	return s ? strlen(s) : 0;
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
