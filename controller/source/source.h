/* source: where desired state comes from, behind one interface: a directory (a working tree,
 * no Git needed), a local Git repository opened in place, or a remote Git URL mirrored into a
 * bare repository under a state directory. source_open connects (and for a URL fetches, under
 * the fetch watchdog); source_resolve turns the ref into a commit cheaply, so a caller can skip
 * source_read when the commit has not changed. */
#ifndef CLAWFLEET_SOURCE_H
#define CLAWFLEET_SOURCE_H
#include <stdbool.h>

#include "base/err.h"
#include "source/gitsource.h"
#include "source/treefiles.h"

struct source_spec {
	const char *location; /* a path or a URL */
	const char *ref;      /* gitref_parse syntax; NULL: "main" for Git sources */
	bool force_git;       /* read a non-bare repository path through Git, not its work tree */
	const char *mirror_dir; /* where a URL is mirrored; NULL: a temporary directory */
	int timeout_ms;       /* fetch deadline; 0: the default (60 s) */
};

struct source {
	bool is_git;
	struct gitsource *gs;
	struct gitref ref;
	char *dir;         /* directory mode */
	char *tmp_mirror;  /* removed by source_free */
};

int source_open(struct source **out, const struct source_spec *spec, struct cf_err *err);
/* Fetches again (URL sources only; others are read live). */
int source_refresh(struct source *src, const struct source_spec *spec, struct cf_err *err);
/* Git: the commit and the Flux revision; directory: commit "" and revision "dir:<path>". */
int source_resolve(struct source *src, char commit[41], char revision[GITSOURCE_REVISION_MAX],
		   struct cf_err *err);
int source_read(struct source *src, const char *commit, struct treefiles *out, struct cf_err *err);
/* Whether a tag exists (Git sources); directory sources answer true (nothing to check). */
bool source_tag_exists(void *src, const char *tag);
void source_free(struct source *src);

#endif
