/* The JSON reader and the canonical form. Whatever jsonparse accepts has a canonical form, and
 * that form is itself accepted and canonical: re-reading it gives the same bytes (the promise
 * two machines comparing fragments by hash rely on), but for a whole double of 2^63 or more,
 * whose RFC 8785 digits jsonparse refuses as an integer past 64 bits. The one-shot reader, the one that points at
 * the error and the parser kept between documents must agree on every input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/canon.h"
#include "base/err.h"
#include "base/jsonparse.h"
#include "tests/fuzz/fuzz.h"

static struct jsonparse *kept;

/* Every typed getter on every member: none may crash, whatever the member holds. */
static void read_members(struct json_object *obj)
{
	struct cf_err err = {{0}};

	json_object_object_foreach(obj, key, val) {
		const char *s;
		bool b;
		int64_t i;
		double d;
		struct json_object *o;

		(void)val;
		(void)jsonparse_get_string(obj, "fuzz", key, JSONPARSE_REQUIRED, &s, &err);
		(void)jsonparse_get_bool(obj, "fuzz", key, JSONPARSE_OPTIONAL, &b, &err);
		(void)jsonparse_get_int(obj, "fuzz", key, JSONPARSE_REQUIRED, -5, 1 << 20, &i, &err);
		(void)jsonparse_get_number(obj, "fuzz", key, JSONPARSE_OPTIONAL, -1.5, 1e9, &d, &err);
		(void)jsonparse_get_object(obj, "fuzz", key, JSONPARSE_REQUIRED, &o, &err);
		(void)jsonparse_get_array(obj, "fuzz", key, JSONPARSE_OPTIONAL, &o, &err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_object *v = NULL, *again = NULL, *obj = NULL, *next = NULL;
	struct cf_err err = {{0}};
	char *canon = NULL, *canon2 = NULL;
	size_t canon_len, canon2_len, error_at = (size_t)-1;
	int rc, rc_at, rc_obj, rc_next;

	if (!kept && jsonparse_new(&kept, JSONPARSE_DEPTH, &err) < 0)
		abort();
	rc = jsonparse_value(text, size, JSONPARSE_DEPTH, &v, &err);
	rc_at = jsonparse_value_at(text, size, JSONPARSE_DEPTH, &again, &error_at, &err);
	fuzz_require((rc == 0) == (rc_at == 0), "jsonparse_value %d, jsonparse_value_at %d", rc,
		     rc_at);
	if (rc_at < 0)
		fuzz_require(error_at <= size, "error at byte %zu of %zu", error_at, size);
	json_object_put(again);

	rc_obj = jsonparse_object(text, size, JSONPARSE_DEPTH, &obj, &err);
	rc_next = jsonparse_next_object(kept, text, size, &next, &err);
	fuzz_require((rc_obj == 0) == (rc_next == 0), "jsonparse_object %d, kept parser %d",
		     rc_obj, rc_next);
	fuzz_require(rc_obj != 0 || rc == 0, "an object that is not a value");
	if (obj)
		read_members(obj);
	json_object_put(obj);
	json_object_put(next);

	if (rc < 0)
		return 0;
	if (canon_json(v, &canon, &canon_len, &err) == 0) {
		struct json_object *re = NULL;
		fuzz_require(strlen(canon) == canon_len, "canonical form with a NUL inside");
		if (jsonparse_value(canon, canon_len, JSONPARSE_DEPTH, &re, &err) < 0) {
			/* The one known exception: RFC 8785 prints a whole double of 2^63 or more
			 * as digits, which jsonparse refuses as an integer past 64 bits. */
			fuzz_require(strstr(err.msg, "does not fit in 64 bits"),
				     "the canonical form %s is refused: %s", canon, err.msg);
			free(canon);
			json_object_put(v);
			return 0;
		}
		fuzz_require(canon_json(re, &canon2, &canon2_len, &err) == 0, "%s", err.msg);
		fuzz_require(canon_len == canon2_len && !memcmp(canon, canon2, canon_len),
			     "canonical form not stable:\n  %s\n  %s", canon, canon2);
		json_object_put(re);
	}
	free(canon);
	free(canon2);
	json_object_put(v);
	return 0;
}
