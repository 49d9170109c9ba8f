/* The whole desired-state load, from a tree of files to typed objects. The input is the tree,
 * one file after each marker line "##> PATH" (text before the first marker is ignored); files
 * the Git repository contract does not name are left out, as the directory walk leaves them
 * out, and a path given twice keeps its first file. desired_load promises that the state is
 * usable exactly when it returns 0, and that every problem is in the diags. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/err.h"
#include "desired/desired.h"
#include "desired/schema.h"
#include "source/treefiles.h"
#include "tests/fuzz/fuzz.h"

static struct schema_set *schemas;

static bool tag_exists(void *ctx, const char *tag)
{
	(void)ctx;
	/* Half the tags exist, so both answers are exercised. */
	return strlen(tag) % 2 == 0;
}

static bool already(const struct treefiles *tf, const char *path)
{
	for (size_t i = 0; i < tf->n; i++)
		if (strcmp(tf->v[i].path, path) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_frames fr = {(const char *)data, (const char *)data + size, "##> "};
	struct desired_hooks hooks = {tag_exists, NULL};
	struct treefiles tf = {0};
	struct desired_state *ds = NULL;
	struct diag_list dl = {0};
	struct cf_err err = {{0}};
	const char *name, *part;
	size_t name_len, part_len;
	int rc;

	if (!schemas && schema_set_load_embedded(&schemas, &err) < 0) {
		fprintf(stderr, "fuzz_desired: %s\n", err.msg);
		abort();
	}
	while (fuzz_next_frame(&fr, &name, &name_len, &part, &part_len)) {
		char *path = fuzz_cstring((const uint8_t *)name, name_len);
		if (treefiles_wanted(path) && !already(&tf, path))
			(void)treefiles_add(&tf, path, part, part_len, &err);
		free(path);
	}
	treefiles_sort(&tf);
	rc = desired_load(&tf, schemas, &hooks, &ds, &dl);
	if (rc == 0) {
		fuzz_require(dl.n == 0, "loaded, yet %zu problems", dl.n);
		fuzz_require(ds != NULL, "loaded, yet no state");
		for (size_t i = 0; i < ds->nnodes; i++)
			fuzz_require(desired_node(ds, ds->nodes[i].name) != NULL, "node %s lost",
				     ds->nodes[i].name);
		for (size_t i = 0; i < ds->ntenants; i++)
			fuzz_require(desired_tenant(ds, ds->tenants[i].name) != NULL,
				     "tenant %s lost", ds->tenants[i].name);
	} else {
		fuzz_require(dl.n > 0, "refused without saying why");
	}
	diag_list_sort(&dl);
	for (size_t i = 0; i < dl.n; i++) {
		char line[256];
		(void)diag_format(&dl.v[i], line, sizeof(line));
	}
	diag_list_free(&dl);
	desired_free(ds);
	treefiles_free(&tf);
	return 0;
}
