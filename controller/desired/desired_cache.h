/* desired_cache: the last good desired state, keyed by commit id. desired_cache_refresh resolves
 * the source's ref; an unchanged commit costs no reading or parsing. A new commit is read and
 * loaded; only when it loads clean does it replace the cached state, so a bad commit or a failed
 * read never replaces the last good desired state. Directory sources have no commit id and are
 * loaded on every refresh. An invalid commit is loaded again on the next refresh, because a tag
 * it names may have been pushed since.
 *
 * desired_error_text is what people read about a revision that did not load (the controller's
 * sourceError and SourceFailed condition): the first problems where they are, as `clawfleet
 * validate` prints them, not only how many there are. */
#ifndef CLAWFLEET_DESIRED_CACHE_H
#define CLAWFLEET_DESIRED_CACHE_H
#include "base/diag.h"
#include "desired/desired.h"
#include "source/source.h"

#define DESIRED_ERRORS_SHOWN 5	   /* problems desired_error_text names */
#define DESIRED_ERROR_LINE_MAX 300 /* bytes of each, "..." included */

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
 * (err) or the new revision is invalid (diags, sorted by file, line and column as `clawfleet
 * validate` prints them, and err says which revision and how many problems it has). schemas
 * NULL: the compiled CRDs are loaded for a new revision and freed once it is read (a daemon
 * that reads a revision in hours keeps no trees and compiled patterns between them; loading
 * them costs about a millisecond). */
int desired_cache_refresh(struct desired_cache *c, struct source *src,
			  const struct schema_set *schemas, struct diag_list *diags,
			  struct cf_err *err);
void desired_cache_clear(struct desired_cache *c);

/* summary, then the first DESIRED_ERRORS_SHOWN problems of diags in their order, one per line
 * as `clawfleet validate` prints them (FILE:LINE:COL: KIND/NAME: FIELD: message), each cut to
 * DESIRED_ERROR_LINE_MAX bytes, then "... and N more" when there are more. Text from Git is
 * shown as well-formed UTF-8 without control characters (any other byte becomes "?"), so a file
 * name cannot forge a line. diags may be NULL (summary alone). A malloc'd string; NULL when out
 * of memory. */
char *desired_error_text(const char *summary, const struct diag_list *diags);

#endif
