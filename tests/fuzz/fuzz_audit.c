/* The audit reader: the input is written as promotions.jsonl, then verified, its tail read, and
 * opened for appending as the controller opens it. A log that verifies must still verify after
 * one more line, with one more entry: the chain the controller continues is the one it read. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/fsutil.h"
#include "record/audit.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_verify_result before = {0}, after = {0};
	struct audit_weight weights[] = {{"canary-gw", 20}, {"stable-gw-a", 80}};
	struct audit_entry e = {
		.ts_ms = 1782000000000LL, .event = "step", .promotion = "gateway",
		.revision = "refs/heads/main@sha1:1111111111111111111111111111111111111111",
		.phase = "Analysing", .step = 1, .percent = 20, .actor = "Fuzz",
		.from = {"1.4.1", "v2026.6.1"}, .to = {"1.4.2", "v2026.7.1"},
		.weights = weights, .nweights = 2,
	};
	struct cf_err err = {{0}};
	struct audit_log *log = NULL;
	char path[128], warning[512], *tail = NULL;
	size_t tail_len = 0;
	int verified;

	snprintf(path, sizeof(path), "%s/promotions.jsonl", fuzz_scratch_dir());
	unlink(path);
	if (fsutil_write_atomic(path, data, size, 0644, &err) < 0)
		abort();
	verified = audit_verify(path, &before, &err);
	if (verified < 0)
		fuzz_require(!strncmp(err.msg, path, strlen(path)), "unlocated: %s", err.msg);
	if (audit_read_tail(path, 1 + size % 5, 64 + size % 4096, &tail, &tail_len, &err) == 0) {
		fuzz_require(tail[tail_len] == '\0', "a tail without its NUL");
		fuzz_require(tail_len == 0 || tail[tail_len - 1] == '\n', "a torn line in the tail");
		free(tail);
	}
	if (audit_open(&log, path, warning, sizeof(warning), &err) < 0)
		return 0;
	if (verified == 0)
		fuzz_require(!warning[0], "a verified log had its end cut: %s", warning);
	if (audit_append(log, &e, &err) == 0 && verified == 0) {
		fuzz_require(audit_verify(path, &after, &err) == 0, "appending broke the chain: %s",
			     err.msg);
		fuzz_require(after.entries == before.entries + 1, "%zu entries, then %zu",
			     before.entries, after.entries);
		fuzz_require(!strcmp(after.last, audit_head(log)), "the head is not the last line");
	}
	audit_close(log);
	return 0;
}
