/* target: what the controller asks one node to run, as PUT /v1/target carries it:
 *   {"generation": N, "tag": "v2026.7.1", "commit": "<40 hex>",
 *    "skills": {"semver": "1.4.2", "link": "current"|"next"},
 *    "tenants": {"acme": "canary", "globex": "stable"}, "restart": true, "rollback": true}
 * "rollback" (rendered only when true) says the node returns to the fleet's last good build: the
 * agent then restarts even when its checks before the restart fail, since the build it would stay
 * on is the one being rolled back; the findings stay in its probe.
 * target_parse validates every field (names checked before they can become paths) and rejects
 * unknown ones; target_render gives the canonical JSON that is persisted (atomically) and served
 * by GET /v1/target. */
#ifndef CLAWFLEET_TARGET_H
#define CLAWFLEET_TARGET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define TARGET_MAX_BODY (64u << 10)
#define TARGET_MAX_TENANTS 256
#define TARGET_NAME_MAX 256

enum target_link { TARGET_LINK_CURRENT, TARGET_LINK_NEXT };

struct target_tenant {
	char name[64];
	bool canary;
};

struct target {
	int64_t generation;
	char tag[TARGET_NAME_MAX];
	char commit[41];
	char skills_semver[TARGET_NAME_MAX];
	enum target_link skills_link;
	struct target_tenant tenants[TARGET_MAX_TENANTS];
	size_t ntenants;
	bool restart;
	bool rollback;
};

int target_parse(const char *body, size_t len, struct target *out, struct cf_err *err);
/* Canonical JSON (sorted keys) into a malloc'd string. */
int target_render(const struct target *t, char **out, size_t *len, struct cf_err *err);
/* Persists to path atomically; loads it back (a missing file is -1 with errno ENOENT kept). */
int target_save(const char *path, const struct target *t, struct cf_err *err);
int target_load(const char *path, struct target *out, struct cf_err *err);
const char *target_link_name(enum target_link l);

#endif
