/* schema: validation of desired-state objects against the openAPIV3Schema of the CRDs in crds/,
 * compiled into the binary. Supported keywords: type (object, array, string, integer, number,
 * boolean), properties, required, additionalProperties (false, or a schema for map values),
 * items, enum, pattern (POSIX extended regex), minimum, maximum, exclusiveMinimum/Maximum,
 * minLength, maxLength, minItems, maxItems, uniqueItems, format (date-time, duration, semver,
 * git-tag), default, nullable, x-kubernetes-preserve-unknown-fields. Like
 * `kubectl apply --validate=strict`, a field that the schema does not declare is an error. Every
 * problem is reported, located at the offending node, with the dotted field path
 * ("spec.canary.steps[1]"). */
#ifndef CLAWFLEET_SCHEMA_H
#define CLAWFLEET_SCHEMA_H
#include "base/diag.h"
#include "base/err.h"
#include "base/yamltree.h"

struct schema_set;
struct schema_kind;

/* Compiles every embedded CRD (crd_files). An error here is a bug in crds/: the message names
 * the CRD file and field. */
int schema_set_load_embedded(struct schema_set **out, struct cf_err *err);
/* Compiles CRDs from YAML texts (tests). */
int schema_set_load(struct schema_set **out, const char *const *names, const char *const *texts,
		    size_t count, struct cf_err *err);
void schema_set_free(struct schema_set *s);

/* The kind for "group/version" + kind, NULL when the CRDs do not define it (or not that version). */
const struct schema_kind *schema_set_find(const struct schema_set *s, const char *api_version,
					  const char *kind);
/* Lists the known kinds as "A, B, C" for error messages. */
const char *schema_set_kinds(const struct schema_set *s);

/* Validates a whole object (apiVersion, kind, metadata, spec) against the kind's schema. Adds one
 * diag per problem with the given file and object label ("MacNode/canary-gw"). */
void schema_validate(const struct schema_kind *k, const struct ynode *obj, const char *file,
		     const char *object, struct diag_list *diags);
/* The schema default of a field path like "spec.canary.greenWindows" as a node, or NULL. */
const struct ynode *schema_default(const struct schema_kind *k, const char *path);

#endif
