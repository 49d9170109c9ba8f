#include "desired/desired_cache.h"

#include <stdio.h>
#include <string.h>

int desired_cache_refresh(struct desired_cache *c, struct source *src,
			  const struct schema_set *schemas, struct diag_list *diags,
			  struct cf_err *err)
{
	char commit[41], revision[GITSOURCE_REVISION_MAX];
	if (source_resolve(src, commit, revision, err) < 0)
		return -1;
	if (commit[0] && c->ds && strcmp(commit, c->commit) == 0)
		return DESIRED_UNCHANGED;
	struct treefiles files = {0};
	struct desired_state *ds = NULL;
	int rc = -1;
	if (source_read(src, commit, &files, err) < 0)
		goto done;
	struct desired_hooks hooks = {.tag_exists = source_tag_exists, .ctx = src};
	if (desired_load(&files, schemas, &hooks, &ds, diags) < 0) {
		cf_err_set(err, "%s is invalid (%zu errors); keeping %s", revision,
			   diags->n + diags->dropped, c->ds ? c->revision : "no desired state");
		goto done;
	}
	ds->revision = strdup(revision);
	ds->commit = commit[0] ? strdup(commit) : NULL;
	if (!ds->revision || (commit[0] && !ds->commit)) {
		desired_free(ds);
		cf_err_set(err, "%s: out of memory; keeping %s", revision,
			   c->ds ? c->revision : "no desired state");
		goto done;
	}
	desired_free(c->ds);
	c->ds = ds;
	snprintf(c->commit, sizeof(c->commit), "%s", commit);
	snprintf(c->revision, sizeof(c->revision), "%s", revision);
	rc = DESIRED_CHANGED;
done:
	treefiles_free(&files);
	return rc;
}

void desired_cache_clear(struct desired_cache *c)
{
	desired_free(c->ds);
	memset(c, 0, sizeof(*c));
}
