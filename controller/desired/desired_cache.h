/* desired_cache: the last good desired state, keyed by commit id. desired_cache_refresh resolves
 * the source's ref; an unchanged commit costs no reading or parsing. A new commit is read and
 * loaded; only when it loads clean does it replace the cached state, so a bad commit or a failed
 * read never replaces the last good desired state. Directory sources have no commit id and are
 * loaded on every refresh. An invalid commit is loaded again on the next refresh, because a tag
 * it names may have been pushed since. */
#ifndef CLAWFLEET_DESIRED_CACHE_H
#define CLAWFLEET_DESIRED_CACHE_H
#include "desired/desired.h"
#include "source/source.h"

struct desired_cache {
	char commit[41];
	char revision[GITSOURCE_REVISION_MAX];
	struct desired_state *ds; /* NULL until a revision loaded clean */
};

enum desired_refresh {
	DESIRED_UNCHANGED = 0,
	DESIRED_CHANGED = 1,
};

/* Returns DESIRED_UNCHANGED or DESIRED_CHANGED, or -1 when the ref cannot be resolved or read
 * (err) or the new revision is invalid (diags, and err says which revision). */
int desired_cache_refresh(struct desired_cache *c, struct source *src,
			  const struct schema_set *schemas, struct diag_list *diags,
			  struct cf_err *err);
void desired_cache_clear(struct desired_cache *c);

#endif
