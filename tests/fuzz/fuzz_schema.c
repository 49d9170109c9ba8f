/* Schema validation: every document of the input is validated against the kind it names, or,
 * when it names none the CRDs define, against the kind the first byte picks, so that mutated
 * headers still reach the checks of a spec. Every problem must come back as a located diag. */
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/err.h"
#include "base/yamltree.h"
#include "desired/schema.h"
#include "tests/fuzz/fuzz.h"

#define API "fleet.openclaw.io/v1alpha1"

static const char *const kinds[] = {"LoadBalancer", "MacNode", "Promotion", "TenantSlice"};
static struct schema_set *schemas;

static void load_schemas(void)
{
	struct cf_err err = {{0}};

	if (schema_set_load_embedded(&schemas, &err) < 0) {
		fprintf(stderr, "fuzz_schema: %s\n", err.msg);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yfile *f = NULL;
	struct yerr yerr;
	const char *fallback;

	if (!schemas)
		load_schemas();
	if (size < 1)
		return 0;
	fallback = kinds[data[0] % (sizeof(kinds) / sizeof(kinds[0]))];
	if (yfile_parse(&f, (const char *)data + 1, size - 1, NULL, &yerr) < 0)
		return 0;
	for (size_t i = 0; i < f->ndocs; i++) {
		const struct ynode *root = f->docs[i].root;
		const struct schema_kind *k = NULL;
		struct diag_list dl = {0};
		const char *api, *kind;

		if (!root)
			continue;
		api = ynode_str(ynode_get(root, "apiVersion"));
		kind = ynode_str(ynode_get(root, "kind"));
		if (api && kind)
			k = schema_set_find(schemas, api, kind);
		if (!k)
			k = schema_set_find(schemas, API, fallback);
		fuzz_require(k != NULL, "the CRDs lost %s", fallback);
		schema_validate(k, root, "fuzz.yaml", "Fuzz/fuzz", &dl);
		for (size_t d = 0; d < dl.n; d++)
			fuzz_require(dl.v[d].msg && dl.v[d].msg[0], "a diag without a message");
		diag_list_sort(&dl);
		diag_list_free(&dl);
		(void)schema_default(k, "spec.canary.greenWindows");
	}
	yfile_free(f);
	return 0;
}
