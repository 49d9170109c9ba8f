#include "desired/yamledit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/err.h"
#include "base/yamltree.h"

/* Nesting deeper than this is refused: a Promotion is five levels deep. */
#define NEST_MAX 64
/* The indentation a new mapping gets below its key when the file shows no other. */
#define INDENT_STEP 2

/* Where the key at path is, or where it would go: what one pass over the first document's
 * events learns. */
struct finder {
	yaml_parser_t parser;
	const char *const *path;
	size_t depth;
	/* The deepest mapping on the path that exists: path[0..matched) lead to it. */
	size_t matched;
	size_t m_last_end; /* byte just after its last content (a scalar, alias or flow end) */
	int m_key_col;	   /* 0-based column of its keys; -1 when it has none */
	int m_name_col;	   /* column of the key naming it; -INDENT_STEP for the root */
	/* The scalar at path, when matched == depth. */
	size_t v_start, v_end;
	yaml_scalar_style_t v_style;
	char *v_text;
	size_t last_end; /* the end of the last content seen anywhere */
	int nest;
	bool shape; /* the error is the file's shape on the path, not broken YAML */
	struct cf_err *err;
};

static void path_name(const struct finder *f, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o < cap; i++) {
		int w = snprintf(out + o, cap - o, "%s%s", i ? "." : "", f->path[i]);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

static int next_event(struct finder *f, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&f->parser, ev))
		return cf_err_set(f->err, "line %zu: %s", f->parser.problem_mark.line + 1,
				  f->parser.problem ? f->parser.problem : "invalid YAML");
	if (ev->type == YAML_SCALAR_EVENT || ev->type == YAML_ALIAS_EVENT)
		f->last_end = ev->end_mark.index;
	return 0;
}

/* Consumes the rest of a node whose start event was ev (a scalar or alias: nothing). Block
 * collections' end events carry the position of the next token, so only flow ends move
 * last_end. */
static int skip_node(struct finder *f, const yaml_event_t *start)
{
	if (start->type != YAML_SEQUENCE_START_EVENT && start->type != YAML_MAPPING_START_EVENT)
		return 0;
	bool flow = start->type == YAML_SEQUENCE_START_EVENT
			    ? start->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
			    : start->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
	if (++f->nest > NEST_MAX)
		return cf_err_set(f->err, "line %zu: nested deeper than %d levels",
				  start->start_mark.line + 1, NEST_MAX);
	int rc = 0;
	for (;;) {
		yaml_event_t ev;
		if (next_event(f, &ev) < 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			if (flow)
				f->last_end = ev.end_mark.index;
			yaml_event_delete(&ev);
			break;
		}
		rc = skip_node(f, &ev);
		yaml_event_delete(&ev);
		if (rc < 0)
			return -1;
	}
	f->nest--;
	return rc;
}

static int on_target(struct finder *f, const yaml_event_t *ev, const char *shown)
{
	f->shape = true;
	if (ev->type != YAML_SCALAR_EVENT)
		return cf_err_set(f->err, "line %zu: %s is %s, not a value: edit it by hand",
				  ev->start_mark.line + 1, shown,
				  ev->type == YAML_ALIAS_EVENT ? "an alias" : "a mapping or a list");
	yaml_scalar_style_t st = ev->data.scalar.style;
	if (st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE)
		return cf_err_set(f->err, "line %zu: %s is a block scalar: edit it by hand",
				  ev->start_mark.line + 1, shown);
	f->shape = false;
	f->v_start = ev->start_mark.index;
	f->v_end = ev->end_mark.index;
	f->v_style = st;
	/* A key written twice in its mapping: the last one is what a reader takes. */
	free(f->v_text);
	f->v_text = strdup((const char *)ev->data.scalar.value);
	if (!f->v_text)
		return cf_err_set(f->err, "out of memory");
	f->matched = f->depth;
	return 0;
}

/* Walks a block mapping whose start event was consumed. level: how many path keys lead to it;
 * on_path: whether they are path[0..level). */
static int walk_mapping(struct finder *f, size_t level, bool on_path, int name_col)
{
	char shown[256];
	bool first = true;
	if (on_path) {
		f->matched = level;
		f->m_key_col = -1;
		f->m_name_col = name_col;
	}
	for (;;) {
		yaml_event_t key, val;
		int rc = 0;
		if (next_event(f, &key) < 0)
			return -1;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			break;
		}
		if (on_path && first)
			f->m_key_col = (int)key.start_mark.column;
		first = false;
		bool hit = on_path && key.type == YAML_SCALAR_EVENT &&
			   strcmp((const char *)key.data.scalar.value, f->path[level]) == 0;
		int key_col = (int)key.start_mark.column;
		size_t key_line = key.start_mark.line + 1;
		rc = skip_node(f, &key);
		yaml_event_delete(&key);
		if (rc < 0 || next_event(f, &val) < 0)
			return -1;
		path_name(f, level + 1, shown, sizeof(shown));
		if (hit && level + 1 == f->depth) {
			rc = on_target(f, &val, shown);
		} else if (hit) {
			if (val.type != YAML_MAPPING_START_EVENT ||
			    val.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE) {
				f->shape = true;
				rc = cf_err_set(f->err, "line %zu: %s is not a block mapping: edit it by hand",
						key_line, shown);
			} else if (++f->nest > NEST_MAX) {
				rc = cf_err_set(f->err, "line %zu: nested too deep", key_line);
			} else {
				rc = walk_mapping(f, level + 1, true, key_col);
				f->nest--;
			}
		} else {
			rc = skip_node(f, &val);
		}
		yaml_event_delete(&val);
		if (rc < 0)
			return -1;
		/* Once the target was found, the mapping's end no longer matters. */
		if (on_path && f->matched == level)
			f->m_last_end = f->last_end;
	}
	if (on_path && f->matched == level)
		f->m_last_end = f->last_end;
	return 0;
}

static int find(struct finder *f, const char *in, size_t len)
{
	yaml_event_t ev;
	int rc = -1;
	bool root_ok = false;
	if (!yaml_parser_initialize(&f->parser))
		return cf_err_set(f->err, "out of memory");
	yaml_parser_set_input_string(&f->parser, (const unsigned char *)in, len);
	for (;;) {
		if (next_event(f, &ev) < 0)
			goto done;
		yaml_event_type_t t = ev.type;
		root_ok = t == YAML_MAPPING_START_EVENT &&
			  ev.data.mapping_start.style != YAML_FLOW_MAPPING_STYLE;
		yaml_event_delete(&ev);
		if (t == YAML_STREAM_END_EVENT || t == YAML_MAPPING_START_EVENT ||
		    t == YAML_SEQUENCE_START_EVENT || t == YAML_SCALAR_EVENT ||
		    t == YAML_ALIAS_EVENT)
			break;
	}
	if (!root_ok) {
		cf_err_set(f->err, "the first document is not a block mapping");
		goto done;
	}
	rc = walk_mapping(f, 0, true, -INDENT_STEP);
done:
	yaml_parser_delete(&f->parser);
	return rc;
}

/* True when s written plain reads back as the string s (not a number, a bool or null, and no
 * character YAML gives a meaning). A ':' needs a letter first: YAML 1.1 readers (Kubernetes, Flux)
 * take 2026-12-07T05:10:00Z for a timestamp and 1:20 for a number. */
static bool plain_safe(const char *s)
{
	if (!*s || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._/+-:", *p)) ||
		    (*p == ':' && (!p[1] || !((s[0] >= 'a' && s[0] <= 'z') ||
						 (s[0] >= 'A' && s[0] <= 'Z')))))
			return false;
	struct yfile *y = NULL;
	struct yerr ye;
	char doc[300];
	if (snprintf(doc, sizeof(doc), "%s\n", s) >= (int)sizeof(doc) ||
	    yfile_parse(&y, doc, strlen(doc), NULL, &ye) < 0)
		return false;
	bool ok = y->ndocs == 1 && y->docs[0].root && ynode_type(y->docs[0].root) == YT_STR;
	yfile_free(y);
	return ok;
}

/* value in the quoting style asked for: malloc'd. */
static char *render(const char *value, enum yamledit_kind kind, yaml_scalar_style_t style)
{
	size_t n = strlen(value), o = 0;
	char *out = malloc(2 * n + 3);
	if (!out)
		return NULL;
	if (kind == YAMLEDIT_RAW || (style != YAML_SINGLE_QUOTED_SCALAR_STYLE &&
				     style != YAML_DOUBLE_QUOTED_SCALAR_STYLE && plain_safe(value))) {
		memcpy(out, value, n + 1);
		return out;
	}
	char q = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ? '\'' : '"';
	out[o++] = q;
	for (const char *p = value; *p; p++) {
		if (q == '\'' && *p == '\'')
			out[o++] = '\'';
		else if (q == '"' && (*p == '"' || *p == '\\'))
			out[o++] = '\\';
		out[o++] = *p;
	}
	out[o++] = q;
	out[o] = '\0';
	return out;
}

static int splice(const char *in, size_t len, size_t at, size_t cut, const char *text,
		  char **out, size_t *out_len, struct cf_err *err)
{
	size_t tl = strlen(text), n = len - cut + tl;
	char *b = malloc(n + 1);
	if (!b)
		return cf_err_set(err, "out of memory");
	memcpy(b, in, at);
	memcpy(b + at, text, tl);
	memcpy(b + at + tl, in + at + cut, len - at - cut);
	b[n] = '\0';
	*out = b;
	*out_len = n;
	return 0;
}

/* The lines that add path[from..depth) below the mapping the finder stopped at. */
static char *insertion(const struct finder *f, const char *value_text, bool newline_first)
{
	int col = f->m_key_col >= 0 ? f->m_key_col : f->m_name_col + INDENT_STEP;
	int step = f->m_key_col >= 0 && f->m_key_col > f->m_name_col ? f->m_key_col - f->m_name_col
								       : INDENT_STEP;
	size_t cap = strlen(value_text) + 4, o = 0;
	for (size_t i = f->matched; i < f->depth; i++)
		cap += strlen(f->path[i]) + (size_t)col + (size_t)step * (i - f->matched) + 4;
	char *t = malloc(cap);
	if (!t)
		return NULL;
	if (newline_first)
		t[o++] = '\n';
	for (size_t i = f->matched; i < f->depth; i++) {
		int ind = col + step * (int)(i - f->matched);
		bool leaf = i + 1 == f->depth;
		o += (size_t)snprintf(t + o, cap - o, "%*s%s:%s%s\n", ind, "", f->path[i],
				      leaf ? " " : "", leaf ? value_text : "");
	}
	return t;
}

int yamledit_set(const char *in, size_t len, const char *const *path, size_t depth,
		 const char *value, enum yamledit_kind kind, char **out, size_t *out_len,
		 bool *changed, struct cf_err *err)
{
	struct finder f = {.path = path, .depth = depth, .err = err};
	char *text = NULL, *lines = NULL, *result = NULL;
	size_t rlen = 0;
	int rc = -1;
	*out = NULL;
	if (depth == 0 || depth > YAMLEDIT_DEPTH_MAX) {
		cf_err_set(err, "a key path of %zu keys", depth);
		goto done;
	}
	if (find(&f, in, len) < 0)
		goto done;
	if (f.matched == depth) {
		text = render(value, kind, f.v_style);
		if (!text) {
			cf_err_set(err, "out of memory");
			goto done;
		}
		if (splice(in, len, f.v_start, f.v_end - f.v_start, text, &result, &rlen,
				    err) < 0)
			goto done;
	} else {
		text = render(value, kind, YAML_PLAIN_SCALAR_STYLE);
		size_t at = f.m_last_end;
		while (at < len && in[at] != '\n')
			at++;
		bool at_eof = at == len;
		lines = text ? insertion(&f, text, at_eof && len > 0) : NULL;
		if (!lines) {
			cf_err_set(err, "out of memory");
			goto done;
		}
		if (splice(in, len, at_eof ? len : at + 1, 0, lines, &result, &rlen, err) < 0)
			goto done;
	}
	struct yfile *y = NULL;
	struct yerr ye;
	if (yfile_parse(&y, result, rlen, NULL, &ye) < 0) {
		char shown[256];
		path_name(&f, depth, shown, sizeof(shown));
		cf_err_set(err, "setting %s would leave YAML that does not parse (line %d: %s)",
			   shown, ye.line, ye.msg);
		goto done;
	}
	yfile_free(y);
	*changed = rlen != len || memcmp(result, in, len) != 0;
	*out = result;
	*out_len = rlen;
	result = NULL;
	rc = 0;
done:
	free(f.v_text);
	free(text);
	free(lines);
	free(result);
	return rc;
}

int yamledit_get(const char *in, size_t len, const char *const *path, size_t depth, char **out,
		 struct cf_err *err)
{
	struct finder f = {.path = path, .depth = depth, .err = err};
	*out = NULL;
	if (depth == 0 || depth > YAMLEDIT_DEPTH_MAX)
		return cf_err_set(err, "a key path of %zu keys", depth);
	if (find(&f, in, len) < 0) {
		free(f.v_text);
		/* A key that is there but is no plain value reads as absent; broken YAML is an error. */
		return f.shape ? 1 : -1;
	}
	if (f.matched != depth) {
		free(f.v_text);
		return 1;
	}
	*out = f.v_text;
	return 0;
}
