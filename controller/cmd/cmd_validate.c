/* clawfleet validate: the check a platform team runs in its GitOps repository's CI. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"
#include "cmd/commands.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "source/source.h"

static const char validate_usage[] =
	"usage: clawfleet validate [--ref REF] [--timeout DURATION] SOURCE\n"
	"  SOURCE  a directory (its files as they are), a bare Git repository, or a Git URL\n"
	"  --ref   read SOURCE through Git at REF (branch, tag, commit, semver:RANGE, ...);\n"
	"          default main for Git sources\n"
	"  --timeout  fetch deadline for a URL (default 60s)\n";

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* libgit2's start-up takes a few milliseconds (on Debian most of it parses the system's CA
 * bundle, which reading a local repository never uses); it runs on a thread of its own while the
 * built-in CRDs load. */
static void *start_libgit2(void *unused)
{
	(void)unused;
	gitsource_global_init();
	return NULL;
}

int cmd_validate(int argc, char **argv)
{
	struct source_spec spec = {0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ref") == 0 && i + 1 < argc) {
			spec.ref = argv[++i];
			spec.force_git = true;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			int64_t ms;
			struct cf_err err;
			if (duration_parse(argv[++i], &ms, &err) < 0) {
				fprintf(stderr, "clawfleet validate: --timeout: %s\n", err.msg);
				return 2;
			}
			spec.timeout_ms = ms > 3600000 ? 3600000 : (int)ms;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(validate_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' || spec.location) {
			fputs(validate_usage, stderr);
			return 2;
		} else {
			spec.location = argv[i];
		}
	}
	if (!spec.location) {
		fputs(validate_usage, stderr);
		return 2;
	}

	int status = 1;
	struct cf_err err;
	struct schema_set *schemas = NULL;
	struct source *src = NULL;
	struct treefiles files = {0};
	struct desired_state *ds = NULL;
	struct diag_list diags = {0};
	char commit[41], revision[GITSOURCE_REVISION_MAX];

	pthread_t git_starter;
	bool git_starting = source_reads_git(&spec) &&
			    pthread_create(&git_starter, NULL, start_libgit2, NULL) == 0;
	int schemas_rc = schema_set_load_embedded(&schemas, &err);
	if (git_starting)
		pthread_join(git_starter, NULL);
	if (schemas_rc < 0) {
		fprintf(stderr, "clawfleet validate: built-in CRDs: %s\n", err.msg);
		goto done;
	}
	int open_rc = source_open(&src, &spec, &err);
	/* The source holds libgit2 now, if it needs it. */
	if (git_starting)
		gitsource_global_shutdown();
	if (open_rc < 0 || source_resolve(src, commit, revision, &err) < 0 ||
	    source_read(src, commit, &files, &err) < 0) {
		fprintf(stderr, "clawfleet validate: %s\n", err.msg);
		goto done;
	}
	struct desired_hooks hooks = {.tag_exists = source_tag_exists, .ctx = src};
	if (desired_load(&files, schemas, &hooks, &ds, &diags) < 0) {
		diag_list_sort(&diags);
		diag_list_print(&diags, stdout);
		fflush(stdout);
		fprintf(stderr, "configuration has %zu %s", diags.n + diags.dropped,
			plural(diags.n + diags.dropped, "error", "errors"));
		if (src->is_git)
			fprintf(stderr, " at %s", revision);
		fprintf(stderr, "\n");
		goto done;
	}
	printf("configuration OK: %zu %s, %zu %s, %zu %s", ds->nnodes,
	       plural(ds->nnodes, "node", "nodes"), ds->ntenants,
	       plural(ds->ntenants, "tenant", "tenants"), ds->npromotions,
	       plural(ds->npromotions, "promotion", "promotions"));
	if (src->is_git)
		printf(" at %s", revision);
	printf("\n");
	status = 0;
done:
	diag_list_free(&diags);
	desired_free(ds);
	treefiles_free(&files);
	source_free(src);
	schema_set_free(schemas);
	gitsource_global_shutdown();
	return status;
}
