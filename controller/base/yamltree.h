/* yamltree: YAML text (libyaml) into an immutable tree that keeps the line and column of every
 * node, for desired state and the CRDs. Multi-document streams; all memory of a yfile lives in
 * one arena freed by yfile_free. The parser refuses, with the position of the problem:
 * invalid UTF-8, input over limits.max_bytes, nesting over max_depth, more than max_nodes nodes
 * counting every alias expansion (so alias bombs fail fast), aliases to an anchor that is still
 * open (cycles such as `&a [*a]`), more than max_aliases aliases, duplicate map keys and
 * non-scalar map keys. Scalars are typed by the YAML 1.2 core schema: quoted scalars and those
 * tagged !!str are strings; plain ones may be null, bool, int or float. Aliases share the anchored
 * node (the tree is a DAG), so walkers must not free or mutate nodes. */
#ifndef CLAWFLEET_YAMLTREE_H
#define CLAWFLEET_YAMLTREE_H
#include <stdbool.h>
#include <stddef.h>

struct json_object;

enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };
enum ytype { YT_NULL, YT_BOOL, YT_INT, YT_FLOAT, YT_STR, YT_MAP, YT_SEQ };

struct ypair;

struct ynode {
	enum ynode_kind kind;
	int line, col;      /* 1-based position of the node's first character */
	const char *str;    /* scalar text, NUL-terminated (may hold no NUL inside) */
	size_t len;         /* scalar length */
	bool plain;         /* plain (unquoted, untagged) scalar: subject to implicit typing */
	enum ytype type;    /* a scalar's type, typed once by the parser (ynode_type reads it) */
	size_t n;           /* pairs in a map, items in a sequence */
	struct ypair *pairs; /* YNODE_MAP, in document order */
	struct ynode **items; /* YNODE_SEQ */
};

struct ypair {
	struct ynode *key; /* always YNODE_SCALAR */
	struct ynode *value;
};

struct ydoc {
	struct ynode *root; /* NULL for an empty document */
	int line;           /* line of the document start */
};

struct ylimits {
	size_t max_bytes;   /* default 1 MiB */
	int max_depth;      /* default 64 */
	size_t max_nodes;   /* default 100000, alias expansions included */
	size_t max_aliases; /* default 1000 */
};
#define YLIMITS_DEFAULT {1u << 20, 64, 100000, 1000}

struct yerr {
	int line, col; /* 1-based; 0 when unknown */
	char msg[512];
};

struct yfile {
	struct ydoc *docs;
	size_t ndocs;
	struct yarena *arena; /* private */
};

/* Parses data (len bytes, need not be NUL-terminated). On error returns -1, fills *err and
 * sets *out to NULL. lim may be NULL for the defaults. */
int yfile_parse(struct yfile **out, const char *data, size_t len, const struct ylimits *lim,
		struct yerr *err);
void yfile_free(struct yfile *f);

/* Implicit type of a node under the YAML 1.2 core schema. */
enum ytype ynode_type(const struct ynode *n);
const char *ytype_name(enum ytype t); /* "null", "boolean", "integer", "number", "string", "object", "array" */
/* Value of a key in a map; NULL when n is not a map or the key is absent. */
const struct ynode *ynode_get(const struct ynode *map, const char *key);
/* Typed reads: 0 on success, -1 when the node is not of that type (out untouched). */
int ynode_bool(const struct ynode *n, bool *out);
int ynode_int(const struct ynode *n, long long *out);
int ynode_number(const struct ynode *n, double *out);
/* The string of a YT_STR node; NULL for any other type. */
const char *ynode_str(const struct ynode *n);
/* Converts to json-c with types resolved (ints as int64, floats as double). On error -1 with
 * err at the offending node (an integer out of range, for instance). */
int ynode_to_json(const struct ynode *n, struct json_object **out, struct yerr *err);

#endif
