/* The target (PUT /v1/target): any body is either refused with a message or read into a target
 * whose canonical rendering is itself accepted and renders to the same bytes, the form the agent
 * persists and serves back. */
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "contracts/target.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct target t, again;
	struct cf_err err = {{0}};
	char *json = NULL, *json2 = NULL;
	size_t len, len2;

	if (target_parse((const char *)data, size, &t, &err) < 0) {
		fuzz_require(err.msg[0], "refused without a message");
		return 0;
	}
	fuzz_require(t.generation >= 0, "generation %lld", (long long)t.generation);
	fuzz_require(t.ntenants <= TARGET_MAX_TENANTS, "%zu tenants", t.ntenants);
	(void)target_link_name(t.skills_link);
	fuzz_require(target_render(&t, &json, &len, &err) == 0, "%s", err.msg);
	fuzz_require(target_parse(json, len, &again, &err) == 0, "its own rendering %s is refused: %s",
		     json, err.msg);
	fuzz_require(target_render(&again, &json2, &len2, &err) == 0, "%s", err.msg);
	fuzz_require(len == len2 && !memcmp(json, json2, len), "rendering not stable:\n  %s\n  %s",
		     json, json2);
	free(json);
	free(json2);
	return 0;
}
