#include "base/yamltree.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/yamltree_internal.h"

#define YTAG "tag:yaml.org,2002:"
/* Up to this many pairs a linear scan finds duplicate keys faster than building a hash. */
#define DUP_LINEAR_MAX 32
/* Longest piece of user text quoted in an error message. */
#define QUOTE_MAX 40

/* ---- errors ---- */

int yerr_set(struct yerr *err, int line, int col, const char *fmt, ...)
{
	if (!err)
		return -1;
	err->line = line;
	err->col = col;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* How much of s to quote in a message: at most QUOTE_MAX bytes, cut at a character boundary. */
int yquote_len(const char *s, size_t len)
{
	if (len <= QUOTE_MAX)
		return (int)len;
	size_t cut = QUOTE_MAX;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	return (int)cut;
}

/* ---- input check ---- */

/* Same set as libyaml's reader, which reports offenders by byte offset only. */
static bool yaml_printable(uint32_t c)
{
	return c == 0x09 || c == 0x0a || c == 0x0d || (c >= 0x20 && c <= 0x7e) || c == 0x85 ||
	       (c >= 0xa0 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) ||
	       (c >= 0x10000 && c <= 0x10ffff);
}

/* Decodes one UTF-8 character; 0 for a malformed, overlong or surrogate sequence. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[k] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Checks the encoding before libyaml sees the text so the message can name the byte and its
 * position. Lines and columns are counted like libyaml counts them (characters, CR LF is one
 * break, NEL/LS/PS break lines). */
static int check_text(const unsigned char *s, size_t len, struct yerr *err)
{
	int line = 1, col = 1;
	size_t i = 0;
	while (i < len) {
		/* Printable ASCII and line feeds, nearly all of any file, need no decoding. */
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			col++;
			i++;
			continue;
		}
		if (s[i] == '\n') {
			line++;
			col = 1;
			i++;
			continue;
		}
		uint32_t c;
		size_t n = utf8_decode(s + i, len - i, &c);
		if (!n)
			return yerr_set(err, line, col, "invalid UTF-8 byte 0x%02x", s[i]);
		if (c == 0)
			return yerr_set(err, line, col, "NUL byte is not allowed");
		if (!yaml_printable(c))
			return yerr_set(err, line, col, "character U+%04X is not allowed",
					(unsigned)c);
		if (c == '\n' || c == 0x85 || c == 0x2028 || c == 0x2029 ||
		    (c == '\r' && (i + 1 == len || s[i + 1] != '\n'))) {
			line++;
			col = 1;
		} else {
			col++;
		}
		i += n;
	}
	return 0;
}

/* ---- parser ---- */

struct yanchor {
	struct ynode *node;
	size_t size; /* nodes in the subtree, alias expansions included */
	bool open;
};

struct yframe {
	struct ynode *node;
	size_t start;        /* its first child in the child stack */
	size_t nodes_before; /* node count before it opened: its size when it closes */
	size_t anchor;       /* 1 + index into anchors; 0 when not anchored */
	struct yhash keys;   /* maps past DUP_LINEAR_MAX pairs */
};

struct yparser {
	const struct ylimits *lim;
	struct yerr *err;
	struct yarena *arena;
	/* Children of all open containers, innermost last; a map holds key, value, key, ... */
	struct ynode **stack;
	size_t nstack, stack_cap;
	struct yframe *frames;
	size_t nframes, frames_cap;
	struct yanchor *anchors;
	size_t nanchors, anchors_cap;
	struct yhash anchor_names; /* name -> index into anchors, for the current document */
	struct ydoc *docs;
	size_t ndocs, docs_cap;
	struct ynode *root;
	int doc_line;
	size_t nodes, aliases;
};

/* Makes room for one more element; returns the (maybe moved) vector, NULL when out of memory. */
static void *vec_reserve(void *v, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return v;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(v, c * elem);
	if (p)
		*cap = c;
	return p;
}

static int oom(struct yparser *st)
{
	return yerr_set(st->err, 0, 0, "out of memory");
}

static int mark_fail(struct yparser *st, yaml_mark_t m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int mark_fail(struct yparser *st, yaml_mark_t m, const char *fmt, ...)
{
	if (!st->err)
		return -1;
	char msg[sizeof(st->err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return yerr_set(st->err, (int)m.line + 1, (int)m.column + 1, "%s", msg);
}

static int nodes_fail(struct yparser *st, yaml_mark_t m)
{
	return mark_fail(st, m, "more than %zu nodes (alias expansions included)",
			 st->lim->max_nodes);
}

static struct ynode *new_node(struct yparser *st, enum ynode_kind kind, yaml_mark_t m)
{
	if (st->nodes >= st->lim->max_nodes) {
		nodes_fail(st, m);
		return NULL;
	}
	st->nodes++;
	struct ynode *n = yarena_alloc(st->arena, sizeof(*n), _Alignof(struct ynode));
	if (!n) {
		oom(st);
		return NULL;
	}
	*n = (struct ynode){.kind = kind, .line = (int)m.line + 1, .col = (int)m.column + 1};
	return n;
}

static const char *kind_name(enum ynode_kind k)
{
	return k == YNODE_MAP ? "map" : k == YNODE_SEQ ? "sequence" : "scalar";
}

static int tag_fail(struct yparser *st, yaml_mark_t m, const char *tag, enum ynode_kind k)
{
	if (!strncmp(tag, YTAG, strlen(YTAG)))
		return mark_fail(st, m, "unsupported tag !!%s on a %s", tag + strlen(YTAG),
				 kind_name(k));
	return mark_fail(st, m, "custom tag %s is not supported", tag);
}

/* A core-schema tag on a scalar is honoured when the text has that type; since typing works on
 * the text, such a scalar is then marked plain and types like an untagged one. */
static int scalar_tag(struct yparser *st, struct ynode *n, const char *tag, yaml_mark_t m)
{
	static const struct {
		const char *name;
		enum ytype type;
	} core[] = {{"null", YT_NULL}, {"bool", YT_BOOL}, {"int", YT_INT}, {"float", YT_FLOAT}};
	if (!strcmp(tag, "!") || !strcmp(tag, YTAG "str")) {
		n->plain = false;
		return 0;
	}
	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
		if (strncmp(tag, YTAG, strlen(YTAG)) || strcmp(tag + strlen(YTAG), core[i].name))
			continue;
		if (yscalar_type(n->str, n->len) != core[i].type)
			return mark_fail(st, m, "\"%.*s\" is not a valid !!%s",
					 yquote_len(n->str, n->len), n->str, core[i].name);
		n->plain = true;
		return 0;
	}
	return tag_fail(st, m, tag, YNODE_SCALAR);
}

static int container_tag(struct yparser *st, enum ynode_kind k, const char *tag, yaml_mark_t m)
{
	const char *want = k == YNODE_MAP ? YTAG "map" : YTAG "seq";
	if (!tag || !strcmp(tag, "!") || !strcmp(tag, want))
		return 0;
	return tag_fail(st, m, tag, k);
}

/* Registers an anchor as the last of st->anchors; a later anchor with the same name replaces the
 * earlier one, as YAML says. */
static int add_anchor(struct yparser *st, const char *name, struct ynode *n, bool open)
{
	size_t len = strlen(name);
	char *copy = yarena_alloc(st->arena, len + 1, 1);
	struct yanchor *v = vec_reserve(st->anchors, st->nanchors, &st->anchors_cap,
					sizeof(*v));
	if (!copy || !v)
		return oom(st);
	st->anchors = v;
	memcpy(copy, name, len + 1);
	bool found;
	struct yhslot *e = yhash_put(&st->anchor_names, copy, len, &found);
	if (!e)
		return oom(st);
	e->val = st->nanchors;
	v[st->nanchors++] = (struct yanchor){.node = n, .size = 1, .open = open};
	return 0;
}

static int duplicate_fail(struct yparser *st, const struct ynode *first, const struct ynode *key,
			  int line, int col)
{
	return yerr_set(st->err, line, col, "duplicate key \"%.*s\" (first at line %d)",
			yquote_len(key->str, key->len), key->str, first->line);
}

static bool same_key(const struct ynode *a, const struct ynode *b)
{
	return a->len == b->len && !memcmp(a->str, b->str, a->len);
}

/* The i-th key of an open map. */
static struct ynode *open_key(const struct yparser *st, const struct yframe *f, size_t i)
{
	return st->stack[f->start + 2 * i];
}

static int check_duplicate(struct yparser *st, struct yframe *f, const struct ynode *key,
			   int line, int col)
{
	size_t npairs = (st->nstack - f->start) / 2;
	bool found;
	if (!f->keys.cap) {
		if (npairs < DUP_LINEAR_MAX) {
			for (size_t i = 0; i < npairs; i++)
				if (same_key(open_key(st, f, i), key))
					return duplicate_fail(st, open_key(st, f, i), key, line,
							      col);
			return 0;
		}
		for (size_t i = 0; i < npairs; i++) {
			const struct ynode *k = open_key(st, f, i);
			struct yhslot *e = yhash_put(&f->keys, k->str, k->len, &found);
			if (!e)
				return oom(st);
			e->val = i;
		}
	}
	struct yhslot *e = yhash_put(&f->keys, key->str, key->len, &found);
	if (!e)
		return oom(st);
	if (found)
		return duplicate_fail(st, open_key(st, f, e->val), key, line, col);
	e->val = npairs;
	return 0;
}

static bool expects_key(const struct yparser *st)
{
	if (!st->nframes)
		return false;
	const struct yframe *f = &st->frames[st->nframes - 1];
	return f->node->kind == YNODE_MAP && (st->nstack - f->start) % 2 == 0;
}

/* Hands a finished node (or an alias target) to the open container, or makes it the root. */
static int add_child(struct yparser *st, struct ynode *n, int line, int col)
{
	if (!st->nframes) {
		st->root = n;
		return 0;
	}
	if (expects_key(st)) {
		if (n->kind != YNODE_SCALAR)
			return yerr_set(st->err, line, col,
					"map keys must be scalars (found a %s)",
					kind_name(n->kind));
		if (n->plain && n->len == 2 && !memcmp(n->str, "<<", 2))
			return yerr_set(st->err, line, col, "merge keys (<<) are not supported");
		if (check_duplicate(st, &st->frames[st->nframes - 1], n, line, col))
			return -1;
	}
	struct ynode **v = vec_reserve(st->stack, st->nstack, &st->stack_cap, sizeof(*v));
	if (!v)
		return oom(st);
	st->stack = v;
	v[st->nstack++] = n;
	return 0;
}

static int on_scalar(struct yparser *st, const yaml_event_t *ev)
{
	yaml_mark_t m = ev->start_mark;
	const char *val = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	/* Escapes such as "\0" can put a NUL in a quoted scalar; the tree promises C strings. */
	if (memchr(val, '\0', len))
		return mark_fail(st, m, "string contains a NUL character (\\0)");
	struct ynode *n = new_node(st, YNODE_SCALAR, m);
	if (!n)
		return -1;
	char *s = yarena_alloc(st->arena, len + 1, 1);
	if (!s)
		return oom(st);
	memcpy(s, val, len);
	s[len] = '\0';
	n->str = s;
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (ev->data.scalar.tag && scalar_tag(st, n, (const char *)ev->data.scalar.tag, m))
		return -1;
	n->type = n->plain ? yscalar_type(n->str, n->len) : YT_STR;
	if (ev->data.scalar.anchor &&
	    add_anchor(st, (const char *)ev->data.scalar.anchor, n, false))
		return -1;
	return add_child(st, n, n->line, n->col);
}

static int on_start(struct yparser *st, const yaml_event_t *ev, enum ynode_kind kind)
{
	yaml_mark_t m = ev->start_mark;
	bool map = kind == YNODE_MAP;
	const char *tag = (const char *)(map ? ev->data.mapping_start.tag :
					       ev->data.sequence_start.tag);
	const char *anchor = (const char *)(map ? ev->data.mapping_start.anchor :
						  ev->data.sequence_start.anchor);
	if (expects_key(st))
		return mark_fail(st, m, "map keys must be scalars (found a %s)", kind_name(kind));
	if (st->nframes >= (size_t)st->lim->max_depth)
		return mark_fail(st, m, "nesting deeper than %d levels", st->lim->max_depth);
	if (container_tag(st, kind, tag, m))
		return -1;
	size_t before = st->nodes;
	struct ynode *n = new_node(st, kind, m);
	if (!n)
		return -1;
	if (anchor && add_anchor(st, anchor, n, true))
		return -1;
	struct yframe *v = vec_reserve(st->frames, st->nframes, &st->frames_cap, sizeof(*v));
	if (!v)
		return oom(st);
	st->frames = v;
	v[st->nframes++] = (struct yframe){.node = n,
					   .start = st->nstack,
					   .nodes_before = before,
					   .anchor = anchor ? st->nanchors : 0};
	return 0;
}

/* Moves the children off the stack into the arena and hands the container to its parent. */
static int on_end(struct yparser *st)
{
	struct yframe *f = &st->frames[st->nframes - 1];
	struct ynode *n = f->node;
	size_t count = st->nstack - f->start;
	if (n->kind == YNODE_MAP && count) {
		n->n = count / 2;
		n->pairs = yarena_alloc(st->arena, n->n * sizeof(*n->pairs),
					_Alignof(struct ypair));
		if (!n->pairs)
			return oom(st);
		for (size_t i = 0; i < n->n; i++)
			n->pairs[i] = (struct ypair){.key = open_key(st, f, i),
						     .value = st->stack[f->start + 2 * i + 1]};
	} else if (count) {
		n->n = count;
		n->items = yarena_alloc(st->arena, count * sizeof(*n->items),
					_Alignof(struct ynode *));
		if (!n->items)
			return oom(st);
		memcpy(n->items, st->stack + f->start, count * sizeof(*n->items));
	}
	st->nstack = f->start;
	if (f->anchor) {
		struct yanchor *a = &st->anchors[f->anchor - 1];
		a->open = false;
		a->size = st->nodes - f->nodes_before;
	}
	free(f->keys.slots);
	st->nframes--;
	return add_child(st, n, n->line, n->col);
}

static int on_alias(struct yparser *st, const yaml_event_t *ev)
{
	yaml_mark_t m = ev->start_mark;
	const char *name = (const char *)ev->data.alias.anchor;
	if (st->aliases >= st->lim->max_aliases)
		return mark_fail(st, m, "more than %zu aliases", st->lim->max_aliases);
	st->aliases++;
	const struct yhslot *e = yhash_get(&st->anchor_names, name, strlen(name));
	if (!e)
		return mark_fail(st, m, "alias *%s refers to an undefined anchor", name);
	const struct yanchor *a = &st->anchors[e->val];
	if (a->open)
		return mark_fail(st, m,
				 "alias *%s refers to an anchor that is still open"
				 " (a cycle)",
				 name);
	/* An alias costs as much as a copy of its subtree would: that is what consumers walk. */
	if (a->size > st->lim->max_nodes - st->nodes)
		return nodes_fail(st, m);
	st->nodes += a->size;
	return add_child(st, a->node, (int)m.line + 1, (int)m.column + 1);
}

/* Anchors are scoped to their document. */
static void on_document_start(struct yparser *st, const yaml_event_t *ev)
{
	st->doc_line = (int)ev->start_mark.line + 1;
	st->root = NULL;
	st->nanchors = 0;
	if (st->anchor_names.cap)
		memset(st->anchor_names.slots, 0, st->anchor_names.cap * sizeof(struct yhslot));
	st->anchor_names.n = 0;
}

static int on_document_end(struct yparser *st)
{
	struct ydoc *v = vec_reserve(st->docs, st->ndocs, &st->docs_cap, sizeof(*v));
	if (!v)
		return oom(st);
	st->docs = v;
	struct ynode *r = st->root;
	/* libyaml stands an empty plain scalar in for a document without content; plain text
	 * cannot otherwise be empty. */
	if (r && r->kind == YNODE_SCALAR && r->plain && !r->len)
		r = NULL;
	v[st->ndocs++] = (struct ydoc){.root = r, .line = st->doc_line};
	return 0;
}

static int on_event(struct yparser *st, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		on_document_start(st, ev);
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return on_document_end(st);
	case YAML_SCALAR_EVENT:
		return on_scalar(st, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(st, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(st, ev, YNODE_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(st, ev, YNODE_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(st);
	default:
		return 0;
	}
}

static int libyaml_fail(struct yparser *st, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return oom(st);
	const char *problem = p->problem ? p->problem : "syntax error";
	if (p->context)
		return mark_fail(st, p->problem_mark, "%s (%s at line %d)", problem, p->context,
				 (int)p->context_mark.line + 1);
	return mark_fail(st, p->problem_mark, "%s", problem);
}

static int run_parser(struct yparser *st, const char *data, size_t len)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return oom(st);
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	int rc = -1;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			libyaml_fail(st, &p);
			goto done;
		}
		int erc = on_event(st, &ev);
		bool end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (erc)
			goto done;
		if (end)
			break;
	}
	rc = 0;
done:
	yaml_parser_delete(&p);
	return rc;
}

static void parser_release(struct yparser *st)
{
	for (size_t i = 0; i < st->nframes; i++)
		free(st->frames[i].keys.slots);
	free(st->frames);
	free(st->stack);
	free(st->anchors);
	free(st->anchor_names.slots);
	free(st->docs);
}

int yfile_parse(struct yfile **out, const char *data, size_t len, const struct ylimits *lim,
		struct yerr *err)
{
	static const struct ylimits defaults = YLIMITS_DEFAULT;
	struct yparser st = {.lim = lim ? lim : &defaults, .err = err};
	int rc = -1;
	*out = NULL;
	if (err)
		*err = (struct yerr){0};
	if (len > st.lim->max_bytes)
		return yerr_set(err, 0, 0, "input is %zu bytes, more than the limit of %zu",
				len, st.lim->max_bytes);
	if (check_text((const unsigned char *)data, len, err))
		return -1;
	/* Stripped here rather than by libyaml so that columns on the first line stay right. */
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) {
		data += 3;
		len -= 3;
	}
	st.arena = yarena_new();
	if (!st.arena) {
		oom(&st);
		goto done;
	}
	if (run_parser(&st, data, len))
		goto done;
	struct yfile *f = yarena_alloc(st.arena, sizeof(*f), _Alignof(struct yfile));
	struct ydoc *docs = st.ndocs ? yarena_alloc(st.arena, st.ndocs * sizeof(*docs),
						    _Alignof(struct ydoc)) :
				       NULL;
	if (!f || (st.ndocs && !docs)) {
		oom(&st);
		goto done;
	}
	if (st.ndocs)
		memcpy(docs, st.docs, st.ndocs * sizeof(*docs));
	*f = (struct yfile){.docs = docs, .ndocs = st.ndocs, .arena = st.arena};
	*out = f;
	rc = 0;
done:
	parser_release(&st);
	if (rc)
		yarena_free(st.arena);
	return rc;
}

void yfile_free(struct yfile *f)
{
	/* f itself lives in the arena. */
	if (f)
		yarena_free(f->arena);
}
