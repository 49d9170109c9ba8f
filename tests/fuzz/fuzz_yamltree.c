/* The YAML loader: any bytes either parse into a tree whose every node reads back through the
 * typed getters and converts to JSON, or fail with a position inside the input. Tight limits
 * (the defaults scaled down) so the fuzzer meets them rather than spending its time under them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/yamltree.h"
#include "tests/fuzz/fuzz.h"

static void walk(const struct ynode *n)
{
	bool b;
	long long i;
	double d;

	fuzz_require(n->line >= 1 && n->col >= 1, "node at %d:%d", n->line, n->col);
	switch (n->kind) {
	case YNODE_SCALAR:
		fuzz_require(n->str && strlen(n->str) == n->len, "scalar length %zu", n->len);
		(void)ytype_name(ynode_type(n));
		(void)ynode_bool(n, &b);
		(void)ynode_int(n, &i);
		(void)ynode_number(n, &d);
		(void)ynode_str(n);
		break;
	case YNODE_MAP:
		for (size_t k = 0; k < n->n; k++) {
			fuzz_require(n->pairs[k].key->kind == YNODE_SCALAR, "a non-scalar key");
			fuzz_require(ynode_get(n, n->pairs[k].key->str) != NULL, "key %s not found",
				     n->pairs[k].key->str);
			walk(n->pairs[k].value);
		}
		break;
	case YNODE_SEQ:
		for (size_t k = 0; k < n->n; k++)
			walk(n->items[k]);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ylimits lim = {64u << 10, 64, 20000, 200};
	struct yfile *f = NULL;
	struct yerr err;

	if (yfile_parse(&f, (const char *)data, size, &lim, &err) < 0) {
		fuzz_require(f == NULL, "a failed parse left a tree");
		fuzz_require(memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0], "no message");
		return 0;
	}
	for (size_t i = 0; i < f->ndocs; i++) {
		struct json_object *j = NULL;
		if (!f->docs[i].root)
			continue;
		walk(f->docs[i].root);
		if (ynode_to_json(f->docs[i].root, &j, &err) == 0)
			json_object_put(j);
	}
	yfile_free(f);
	return 0;
}
