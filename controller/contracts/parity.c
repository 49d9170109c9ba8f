#include "contracts/parity.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "base/canon.h"
#include "base/jsonparse.h"

#define WHERE "readyz"

static const char *const part_names[PARITY_PARTS] = {"lock", "openclaw", "skills", "tenants"};

const char *parity_part_name(enum parity_part part)
{
	return part < PARITY_PARTS ? part_names[part] : "unknown";
}

static struct json_object *parts_json(const struct parity *p)
{
	struct json_object *o = json_object_new_object();
	for (int i = 0; o && i < PARITY_PARTS; i++) {
		struct json_object *s = json_object_new_string(p->parts[i]);
		if (!s || json_object_object_add(o, part_names[i], s) < 0) {
			json_object_put(s);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

int parity_seal(struct parity *p, struct cf_err *err)
{
	struct json_object *o = parts_json(p);
	int rc = o ? canon_json_sha256(o, p->digest, err)
		   : cf_err_set(err, "out of memory sealing the parity");
	json_object_put(o);
	return rc;
}

int parity_render(struct json_object *doc, const struct parity *p, struct cf_err *err)
{
	if (!p->digest[0])
		return 0;
	struct json_object *parts = parts_json(p);
	struct json_object *digest = json_object_new_string(p->digest);
	if (!parts || !digest || json_object_object_add(doc, "parity", digest) < 0) {
		json_object_put(parts);
		json_object_put(digest);
		return cf_err_set(err, "out of memory rendering the parity");
	}
	if (json_object_object_add(doc, "parityParts", parts) < 0) {
		json_object_put(parts);
		return cf_err_set(err, "out of memory rendering the parity");
	}
	return 0;
}

static bool is_sha256(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 64 && s[n] == '\0';
}

int parity_read(struct json_object *doc, struct parity *out, struct cf_err *err)
{
	struct parity p = {0};
	struct json_object *parts = NULL;
	const char *digest = NULL;
	if (jsonparse_get_string(doc, WHERE, "parity", JSONPARSE_OPTIONAL, &digest, NULL) < 0 ||
	    (digest && !is_sha256(digest)))
		return cf_err_set(err, "\"parity\" is not 64 lowercase hex digits");
	if (!digest) {
		*out = p;
		return 0;
	}
	if (jsonparse_get_object(doc, WHERE, "parityParts", JSONPARSE_REQUIRED, &parts, NULL) < 0)
		return cf_err_set(err, "\"parity\" comes without a \"parityParts\" object");
	for (int i = 0; i < PARITY_PARTS; i++) {
		const char *sha = NULL;
		if (jsonparse_get_string(parts, WHERE, part_names[i], JSONPARSE_REQUIRED, &sha,
					 NULL) < 0 ||
		    !is_sha256(sha))
			return cf_err_set(err, "\"parityParts.%s\" is not 64 lowercase hex digits",
					  part_names[i]);
		memcpy(p.parts[i], sha, 65);
	}
	memcpy(p.digest, digest, 65);
	*out = p;
	return 0;
}

bool parity_differs(const struct parity *a, const struct parity *b, char *parts, size_t size)
{
	size_t used = 0;
	if (size)
		parts[0] = '\0';
	if (!a->digest[0] || !b->digest[0] || strcmp(a->digest, b->digest) == 0)
		return false;
	for (int i = 0; i < PARITY_PARTS; i++) {
		if (strcmp(a->parts[i], b->parts[i]) == 0)
			continue;
		int n = snprintf(parts + used, used < size ? size - used : 0, "%s%s",
				 used ? ", " : "", part_names[i]);
		if (n > 0)
			used += (size_t)n;
		if (used >= size)
			used = size ? size - 1 : 0;
	}
	return true;
}
