#include "reconcilers/plist.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compat.h"
#include "base/fsutil.h"

#define TAG_NAME_MAX 16

/* A cursor over the text; the first error wins and stops the parse. */
struct px {
	const char *s, *end;
	const char *name;
	int line;
	struct cf_err *err;
	bool failed;
};

struct tag {
	char name[TAG_NAME_MAX];
	bool close; /* </name> */
	bool empty; /* <name/> */
	int line;
};

enum vtype { V_NONE, V_STRING, V_ARRAY, V_DICT, V_OTHER };

/* What a value leaves for its dict: a string's text; an array's length, whether all its items
 * are strings, and its first two strings. */
struct pval {
	enum vtype type;
	char text[PLIST_TEXT_MAX];
	char second[PLIST_TEXT_MAX];
	size_t count;
	bool all_strings;
};

static int fail(struct px *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct px *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cf_err_set(p->err, "%s:%d: %s", p->name, p->line, msg);
}

static void advance(struct px *p, size_t n)
{
	for (size_t i = 0; i < n && p->s < p->end; i++, p->s++)
		if (*p->s == '\n')
			p->line++;
}

static bool starts(const struct px *p, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(p->end - p->s) >= n && memcmp(p->s, lit, n) == 0;
}

/* Moves past the first occurrence of lit; -1 when the text ends first. */
static int skip_past(struct px *p, const char *lit, const char *what)
{
	size_t n = strlen(lit);
	while (p->s < p->end && !starts(p, lit))
		advance(p, 1);
	if (p->s == p->end)
		return fail(p, "unterminated %s", what);
	advance(p, n);
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Blanks, comments, the XML declaration and the DOCTYPE: what may stand between elements. */
static int skip_misc(struct px *p)
{
	for (;;) {
		while (p->s < p->end && is_space(*p->s))
			advance(p, 1);
		if (starts(p, "<!--")) {
			if (skip_past(p, "-->", "comment") < 0)
				return -1;
		} else if (starts(p, "<?")) {
			if (skip_past(p, "?>", "processing instruction") < 0)
				return -1;
		} else if (starts(p, "<!DOCTYPE")) {
			if (skip_past(p, ">", "DOCTYPE") < 0)
				return -1;
		} else {
			return 0;
		}
	}
}

/* Reads the next tag (after blanks and comments); attributes are skipped. */
static int read_tag(struct px *p, struct tag *t)
{
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	if (skip_misc(p) < 0)
		return -1;
	t->line = p->line;
	if (p->s == p->end)
		return fail(p, "unexpected end of file");
	if (*p->s != '<')
		return fail(p, "text \"%.20s\" where an element belongs", p->s);
	advance(p, 1);
	if (p->s < p->end && *p->s == '/') {
		t->close = true;
		advance(p, 1);
	}
	while (p->s < p->end && (isalnum((unsigned char)*p->s) || *p->s == '-' || *p->s == '_')) {
		if (n + 1 == sizeof(t->name))
			return fail(p, "element name too long");
		t->name[n++] = *p->s;
		advance(p, 1);
	}
	if (!n)
		return fail(p, "malformed tag");
	char quote = 0;
	while (p->s < p->end && (quote || *p->s != '>')) {
		if (quote && *p->s == quote)
			quote = 0;
		else if (!quote && (*p->s == '"' || *p->s == '\''))
			quote = *p->s;
		else if (!quote && *p->s == '<')
			return fail(p, "'<' inside the tag <%s>", t->name);
		advance(p, 1);
	}
	if (p->s == p->end)
		return fail(p, "unterminated tag <%s>", t->name);
	t->empty = p->s[-1] == '/' && !t->close;
	advance(p, 1);
	return 0;
}

static const struct {
	const char *ref;
	char c;
} entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};

/* Character data up to the next '<', entities decoded, into out (cut to fit). */
static int read_text(struct px *p, char *out, size_t size)
{
	size_t n = 0;

	while (p->s < p->end && *p->s != '<') {
		char c = *p->s;
		size_t len = 1;
		if (c == '&') {
			size_t i;
			for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
				if (starts(p, entities[i].ref))
					break;
			if (i == sizeof(entities) / sizeof(entities[0])) {
				if (!starts(p, "&#"))
					return fail(p, "unknown entity \"%.8s\"", p->s);
				const char *semi = memchr(p->s, ';', (size_t)(p->end - p->s));
				if (!semi || semi - p->s > 10)
					return fail(p, "malformed character reference");
				len = (size_t)(semi - p->s) + 1;
				c = '?';
			} else {
				c = entities[i].c;
				len = strlen(entities[i].ref);
			}
		}
		if (out && n + 1 < size)
			out[n++] = c;
		advance(p, len);
	}
	if (out && size)
		out[n] = '\0';
	return 0;
}

static int expect_close(struct px *p, const char *name)
{
	struct tag t;
	if (read_tag(p, &t) < 0)
		return -1;
	if (!t.close || strcmp(t.name, name) != 0)
		return fail(p, "<%s%s> where </%s> belongs", t.close ? "/" : "", t.name, name);
	return 0;
}

static int parse_value(struct px *p, const struct tag *open, struct pval *out, int depth);

/* The items of an array whose opening tag was read. */
static int parse_array(struct px *p, struct pval *out, int depth)
{
	struct pval item;
	struct tag t;

	out->type = V_ARRAY;
	out->all_strings = true;
	for (;;) {
		if (read_tag(p, &t) < 0)
			return -1;
		if (t.close) {
			if (strcmp(t.name, "array") != 0)
				return fail(p, "</%s> where </array> belongs", t.name);
			return 0;
		}
		if (parse_value(p, &t, &item, depth + 1) < 0)
			return -1;
		if (item.type != V_STRING)
			out->all_strings = false;
		else if (out->count == 0)
			memcpy(out->text, item.text, sizeof(out->text));
		else if (out->count == 1)
			memcpy(out->second, item.text, sizeof(out->second));
		out->count++;
	}
}

static void keep(char dst[PLIST_TEXT_MAX], const struct pval *v)
{
	if (v->type == V_STRING)
		memcpy(dst, v->text, PLIST_TEXT_MAX);
}

/* The key/value pairs of a dict whose opening tag was read; info is filled from the top one. */
static int parse_dict(struct px *p, struct plist_info *info, int depth)
{
	char key[PLIST_TEXT_MAX];
	struct pval v;
	struct tag t;
	bool has_label = false, has_program = false;
	struct pval args = {.type = V_NONE};

	for (;;) {
		if (read_tag(p, &t) < 0)
			return -1;
		if (t.close && strcmp(t.name, "dict") == 0)
			break;
		if (t.close || strcmp(t.name, "key") != 0 || t.empty)
			return fail(p, "<%s%s> where a <key> belongs in a dict", t.close ? "/" : "",
				    t.name);
		if (read_text(p, key, sizeof(key)) < 0 || expect_close(p, "key") < 0)
			return -1;
		if (read_tag(p, &t) < 0)
			return -1;
		if (t.close)
			return fail(p, "key \"%s\" has no value", key);
		if (parse_value(p, &t, &v, depth + 1) < 0)
			return -1;
		if (!info)
			continue;
		if (strcmp(key, "Label") == 0) {
			if (v.type != V_STRING || !v.text[0])
				return fail(p, "Label must be a non-empty string");
			has_label = true;
			keep(info->label, &v);
		} else if (strcmp(key, "Program") == 0) {
			if (v.type != V_STRING || !v.text[0])
				return fail(p, "Program must be a non-empty string");
			has_program = true;
			keep(info->program, &v);
		} else if (strcmp(key, "ProgramArguments") == 0) {
			if (v.type != V_ARRAY || !v.count || !v.all_strings)
				return fail(p, "ProgramArguments must be a non-empty array of strings");
			args = v;
		} else if (strcmp(key, "StandardOutPath") == 0) {
			keep(info->stdout_path, &v);
		} else if (strcmp(key, "StandardErrorPath") == 0) {
			keep(info->stderr_path, &v);
		}
	}
	if (!info)
		return 0;
	if (!has_label)
		return fail(p, "the dict has no Label: launchd needs one to load the job");
	if (!has_program && args.type != V_ARRAY)
		return fail(p, "the dict has neither Program nor ProgramArguments: launchd has "
			       "nothing to run");
	if (!has_program)
		memcpy(info->program, args.text, sizeof(info->program));
	if (args.type == V_ARRAY && args.count > 1)
		memcpy(info->first_arg, args.second, sizeof(info->first_arg));
	return 0;
}

static const char *const scalars[] = {"string", "integer", "real", "date", "data"};

static int parse_value(struct px *p, const struct tag *open, struct pval *out, int depth)
{
	memset(out, 0, sizeof(*out));
	if (open->close)
		return fail(p, "unexpected </%s>", open->name);
	if (depth > PLIST_DEPTH_MAX)
		return fail(p, "nested deeper than %d levels", PLIST_DEPTH_MAX);
	if (strcmp(open->name, "true") == 0 || strcmp(open->name, "false") == 0) {
		out->type = V_OTHER;
		return open->empty ? 0 : expect_close(p, open->name);
	}
	if (strcmp(open->name, "array") == 0) {
		if (open->empty) {
			out->type = V_ARRAY;
			out->all_strings = true;
			return 0;
		}
		return parse_array(p, out, depth);
	}
	if (strcmp(open->name, "dict") == 0) {
		out->type = V_DICT;
		return open->empty ? 0 : parse_dict(p, NULL, depth);
	}
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		if (strcmp(open->name, scalars[i]) != 0)
			continue;
		out->type = i == 0 ? V_STRING : V_OTHER;
		if (open->empty)
			return 0;
		if (read_text(p, out->text, sizeof(out->text)) < 0)
			return -1;
		return expect_close(p, open->name);
	}
	return fail(p, "<%s> is not a property list element", open->name);
}

int plist_parse(const char *name, const char *text, size_t len, struct plist_info *out,
		struct cf_err *err)
{
	struct px p = {.s = text, .end = text + len, .name = name, .line = 1, .err = err};
	struct tag t;

	memset(out, 0, sizeof(*out));
	if (len >= 6 && memcmp(text, "bplist", 6) == 0) {
		out->binary = true;
		return 0;
	}
	if (memchr(text, '\0', len))
		return fail(&p, "holds a NUL byte: neither an XML nor a binary property list");
	if (read_tag(&p, &t) < 0)
		return -1;
	if (t.close || t.empty || strcmp(t.name, "plist") != 0)
		return fail(&p, "the root element is <%s>, not <plist>", t.name);
	if (read_tag(&p, &t) < 0)
		return -1;
	if (t.close || t.empty || strcmp(t.name, "dict") != 0)
		return fail(&p, "the plist holds <%s%s>, not the <dict> of a launchd job",
			    t.close ? "/" : "", t.name);
	if (parse_dict(&p, out, 1) < 0 || expect_close(&p, "plist") < 0 || skip_misc(&p) < 0)
		return -1;
	if (p.s != p.end)
		return fail(&p, "content after </plist>");
	return 0;
}

int plist_read(const char *path, struct plist_info *out, struct cf_err *err)
{
	char *text = NULL, why[512];
	size_t len = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (compat_plist_lint(path, why, sizeof(why)) < 0) {
		cf_err_set(err, "%s", why);
		goto done;
	}
	if (fsutil_read_file(path, PLIST_FILE_MAX, &text, &len, err) < 0)
		goto done;
	rc = plist_parse(path, text, len, out, err);
done:
	free(text);
	return rc;
}
