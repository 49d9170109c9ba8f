/* rollout_store_internal: what the file store (rollout_store.c) and the etcd store
 * (rollout_store_etcd.c) share, private to those two files: the anchor's one text form,
 * {"head":"<64 hex>","lines":N} (canonical JSON), written and read the same way in both. */
#ifndef CLAWFLEET_ROLLOUT_STORE_INTERNAL_H
#define CLAWFLEET_ROLLOUT_STORE_INTERNAL_H
#include <stddef.h>

#include "base/err.h"
#include "contracts/audit_line.h"

/* {"head":"<64 hex>","lines":N} with room to spare. */
#define ANCHOR_MAX_BYTES 256

/* Exactly the two members, the head 64 lower-case hex digits. */
int rollout_store_parse_anchor(const char *text, size_t len, struct audit_anchor *out,
			       struct cf_err *err);
/* The text into out (ANCHOR_MAX_BYTES); its length. */
size_t rollout_store_format_anchor(const struct audit_anchor *a, char out[ANCHOR_MAX_BYTES]);

#endif
