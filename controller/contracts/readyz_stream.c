#include "contracts/readyz_stream.h"

#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonparse.h"
#include "base/utf8.h"

/* json-c refuses a container READYZ_DEPTH - 1 levels deep; a probe document nests about a
 * dozen. Deeper than this, the tree reader decides. */
#define MAX_NESTING 24
#define NUMBER_CHARS 64 /* a longer number is left to the tree reader */

enum kind { K_ABSENT, K_NULL, K_TRUE, K_FALSE, K_INT, K_NUMBER, K_STRING, K_OBJECT, K_ARRAY };

/* Where a value is in the body: a string's bytes between its quotes, a number's digits, a
 * container from its bracket (count: an array's elements). */
struct span {
	const char *at;
	size_t len;
	size_t count;
	enum kind kind;
	bool escaped; /* a string with a backslash in it */
};

/* The members read, each the slot of its span; a container's members follow it, up to its
 * `end`, so a repeated key clears what its earlier value left. */
enum slot {
	S_NODE,
	S_STATUS,
	S_GENERATION,
	S_INFRA,
	S_INFRA_TAG,
	S_INFRA_COMMIT,
	S_LOCK,
	S_LOCK_SHA,
	S_LOCK_MATCH,
	S_SKILLS,
	S_SKILLS_CURRENT,
	S_SKILLS_NEXT,
	S_PROBE_SHA,
	S_LATENCY,
	S_LATENCY_SAMPLES,
	S_LATENCY_P95,
	S_DIGEST,
	S_DIGEST_TOTAL,
	S_REASONS,
	S_DOCTOR,
	S_FIRST_BAD,
	S_FB_CHECK,
	S_FB_SEVERITY,
	S_FB_MESSAGE,
	S_FB_PATH,
	S_FB_HINT,
	S_FB_TENANT,
	S_FB_LINE,
	S_FB_COLUMN,
	S_PARITY,
	S_PARITY_PARTS,
	S_TOKEN_AGES,
	S_REASON_CODE, /* of the reason being read */
	S_REASON_MESSAGE,
	S_COUNT
};

struct member {
	const char *key;
	size_t key_len;
	enum slot slot, end; /* end: past the slots of its members */
	const struct member *members;
	size_t nmembers;
};

#define LEAF(k, s) {k, sizeof(k) - 1, s, s + 1, NULL, 0}
#define NODE_OF(k, s, e, m) {k, sizeof(k) - 1, s, e, m, sizeof(m) / sizeof(m[0])}

static const struct member infra_members[] = {LEAF("tag", S_INFRA_TAG),
					       LEAF("commit", S_INFRA_COMMIT)};
static const struct member lock_members[] = {LEAF("sha256", S_LOCK_SHA),
					      LEAF("versionMatch", S_LOCK_MATCH)};
static const struct member skills_members[] = {LEAF("current", S_SKILLS_CURRENT),
						LEAF("next", S_SKILLS_NEXT)};
static const struct member latency_members[] = {LEAF("samples", S_LATENCY_SAMPLES),
						 LEAF("p95ms", S_LATENCY_P95)};
static const struct member digest_members[] = {LEAF("total", S_DIGEST_TOTAL)};
static const struct member first_bad_members[] = {
	LEAF("checkId", S_FB_CHECK), LEAF("severity", S_FB_SEVERITY), LEAF("message", S_FB_MESSAGE),
	LEAF("path", S_FB_PATH),     LEAF("fixHint", S_FB_HINT),      LEAF("tenant", S_FB_TENANT),
	LEAF("line", S_FB_LINE),     LEAF("column", S_FB_COLUMN)};
static const struct member doctor_members[] = {
	NODE_OF("firstBad", S_FIRST_BAD, S_FB_COLUMN + 1, first_bad_members)};
static const struct member document_members[] = {
	LEAF("node", S_NODE),
	LEAF("status", S_STATUS),
	LEAF("observedGeneration", S_GENERATION),
	NODE_OF("infra", S_INFRA, S_INFRA_COMMIT + 1, infra_members),
	NODE_OF("lock", S_LOCK, S_LOCK_MATCH + 1, lock_members),
	NODE_OF("skills", S_SKILLS, S_SKILLS_NEXT + 1, skills_members),
	LEAF("probeSha256", S_PROBE_SHA),
	NODE_OF("latency", S_LATENCY, S_LATENCY_P95 + 1, latency_members),
	NODE_OF("digest", S_DIGEST, S_DIGEST_TOTAL + 1, digest_members),
	LEAF("reasons", S_REASONS),
	NODE_OF("doctor", S_DOCTOR, S_FB_COLUMN + 1, doctor_members),
	LEAF("parity", S_PARITY),
	LEAF("parityParts", S_PARITY_PARTS),
	LEAF("tokenAges", S_TOKEN_AGES)};
static const struct member reason_members[] = {LEAF("code", S_REASON_CODE),
					       LEAF("message", S_REASON_MESSAGE)};

struct scan {
	const unsigned char *s;
	size_t len, i;
	struct span slots[S_COUNT];
};

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_space(struct scan *sc)
{
	while (sc->i < sc->len && is_space(sc->s[sc->i]))
		sc->i++;
}

/* The byte at the scan, 0 at the end (a NUL in the body is refused wherever it stands). */
static unsigned char peek(const struct scan *sc)
{
	return sc->i < sc->len ? sc->s[sc->i] : 0;
}

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* \uXXXX at p (4 hex digits after the u); -1 when it is not one. */
static long code_unit(const unsigned char *p)
{
	long cp = 0;
	for (int k = 0; k < 4; k++) {
		int h = hex(p[k]);
		if (h < 0)
			return -1;
		cp = cp * 16 + h;
	}
	return cp;
}

/* The string opening at the scan. \u0000 and surrogates are refused: json-c reads them into
 * what a NUL-terminated copy or a UTF-8 check would read otherwise. */
static bool scan_string(struct scan *sc, struct span *out)
{
	const unsigned char *s = sc->s;
	size_t i = sc->i + 1;
	bool escaped = false;
	while (i < sc->len) {
		/* Printable ASCII, nearly all of a probe document, in a loop of its own. */
		while (i < sc->len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
			i++;
		unsigned char c = i < sc->len ? s[i] : 0; /* 0 at the end: refused below */
		if (c == '"') {
			*out = (struct span){.at = (const char *)s + sc->i + 1, .len = i - sc->i - 1,
					     .kind = K_STRING, .escaped = escaped};
			sc->i = i + 1;
			return true;
		}
		if (c == '\\') {
			escaped = true;
			if (i + 1 >= sc->len)
				return false;
			c = s[i + 1];
			if (c == 'u') {
				long cp = i + 6 <= sc->len ? code_unit(s + i + 2) : -1;
				if (cp <= 0 || (cp >= 0xD800 && cp <= 0xDFFF))
					return false;
				i += 6;
			} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
				   c == 'n' || c == 'r' || c == 't') {
				i += 2;
			} else {
				return false;
			}
		} else if (c < 0x20) {
			return false;
		} else {
			size_t n = utf8_seq_len(s + i, sc->len - i);
			if (!n)
				return false;
			i += n;
		}
	}
	return false;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259's number at the scan; an integer must fit int64 and any other number a finite
 * double, as jsonparse requires. */
static bool scan_number(struct scan *sc, struct span *out)
{
	const unsigned char *s = sc->s;
	size_t i = sc->i, n = sc->len;
	bool integer = true;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && is_digit(s[i]))
			i++;
	else
		return false;
	if (i < n && s[i] == '.') {
		integer = false;
		size_t from = ++i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == from)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		integer = false;
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t from = i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == from)
			return false;
	}
	size_t len = i - sc->i;
	if (len >= NUMBER_CHARS)
		return false;
	const char *t = (const char *)s + sc->i;
	if (integer) {
		bool neg = t[0] == '-';
		size_t digits = len - neg;
		const char *limit = neg ? "9223372036854775808" : "9223372036854775807";
		if (digits > 19 || (digits == 19 && memcmp(t + neg, limit, 19) > 0))
			return false;
	} else {
		char copy[NUMBER_CHARS];
		memcpy(copy, t, len);
		copy[len] = '\0';
		if (!isfinite(strtod(copy, NULL)))
			return false;
	}
	*out = (struct span){.at = t, .len = len, .kind = integer ? K_INT : K_NUMBER};
	sc->i = i;
	return true;
}

static bool scan_word(struct scan *sc, const char *word, enum kind kind, struct span *out)
{
	size_t n = strlen(word);
	if (sc->len - sc->i < n || memcmp(sc->s + sc->i, word, n) != 0)
		return false;
	*out = (struct span){.at = (const char *)sc->s + sc->i, .len = n, .kind = kind};
	sc->i += n;
	return true;
}

static bool scan_value(struct scan *sc, int depth, const struct member *members,
		       size_t nmembers, struct span *out);

static const struct member *member_named(const struct member *members, size_t n,
					 const struct span *key)
{
	for (size_t k = 0; k < n; k++)
		if (members[k].key_len == key->len &&
		    memcmp(members[k].key, key->at, key->len) == 0)
			return &members[k];
	return NULL;
}

/* The object opening at the scan, its members of `members` noted in their slots. */
static bool scan_object(struct scan *sc, int depth, const struct member *members,
			size_t nmembers)
{
	sc->i++;
	skip_space(sc);
	if (peek(sc) == '}') {
		sc->i++;
		return true;
	}
	for (;;) {
		struct span key, value;
		if (peek(sc) != '"' || !scan_string(sc, &key) || key.escaped)
			return false;
		skip_space(sc);
		if (peek(sc) != ':')
			return false;
		sc->i++;
		skip_space(sc);
		const struct member *m = member_named(members, nmembers, &key);
		if (m)
			for (enum slot k = m->slot; k < m->end; k++)
				sc->slots[k] = (struct span){.kind = K_ABSENT};
		if (!scan_value(sc, depth, m ? m->members : NULL, m ? m->nmembers : 0, &value))
			return false;
		if (m)
			sc->slots[m->slot] = value;
		skip_space(sc);
		if (peek(sc) == '}') {
			sc->i++;
			return true;
		}
		if (peek(sc) != ',')
			return false;
		sc->i++;
		skip_space(sc);
	}
}

static bool scan_array(struct scan *sc, int depth, size_t *count)
{
	struct span element;
	sc->i++;
	skip_space(sc);
	*count = 0;
	if (peek(sc) == ']') {
		sc->i++;
		return true;
	}
	for (;;) {
		if (!scan_value(sc, depth, NULL, 0, &element))
			return false;
		++*count;
		skip_space(sc);
		if (peek(sc) == ']') {
			sc->i++;
			return true;
		}
		if (peek(sc) != ',')
			return false;
		sc->i++;
		skip_space(sc);
	}
}

/* The value at the scan (white space before it skipped by the caller). */
static bool scan_value(struct scan *sc, int depth, const struct member *members,
		       size_t nmembers, struct span *out)
{
	size_t from = sc->i;
	switch (peek(sc)) {
	case '"':
		return scan_string(sc, out);
	case '{':
	case '[': {
		size_t count = 0;
		bool object = peek(sc) == '{';
		if (depth >= MAX_NESTING)
			return false;
		if (!(object ? scan_object(sc, depth + 1, members, nmembers)
			     : scan_array(sc, depth + 1, &count)))
			return false;
		*out = (struct span){.at = (const char *)sc->s + from, .len = sc->i - from,
				     .count = count, .kind = object ? K_OBJECT : K_ARRAY};
		return true;
	}
	case 't':
		return scan_word(sc, "true", K_TRUE, out);
	case 'f':
		return scan_word(sc, "false", K_FALSE, out);
	case 'n':
		return scan_word(sc, "null", K_NULL, out);
	default:
		return scan_number(sc, out);
	}
}

/* What the reading of the noted members decides. */
enum verdict { READ, UNSURE, OUT_OF_MEMORY };

/* A member absent or null reads as absent. */
static bool absent(const struct span *sp)
{
	return sp->kind == K_ABSENT || sp->kind == K_NULL;
}

static bool optional_object(const struct span *sp)
{
	return absent(sp) || sp->kind == K_OBJECT;
}

static bool optional_string(const struct span *sp)
{
	return absent(sp) || sp->kind == K_STRING;
}

/* A whole number >= 0 into *out; absent leaves *out as it was. A negative one (even -0, which
 * json-c reads as an integer) is left to the tree reader. */
static bool optional_count(const struct span *sp, int64_t *out)
{
	if (absent(sp))
		return true;
	if (sp->kind != K_INT || sp->at[0] == '-')
		return false;
	int64_t n = 0;
	for (size_t k = 0; k < sp->len; k++)
		n = n * 10 + (sp->at[k] - '0');
	*out = n;
	return true;
}

/* A number within 0..1e12, as json-c reads it (an integer converted, any other by strtod). */
static bool optional_figure(const struct span *sp, double *out)
{
	int64_t whole = 0;
	if (absent(sp))
		return true;
	if (sp->kind == K_INT) {
		if (!optional_count(sp, &whole))
			return false;
		*out = (double)whole;
	} else if (sp->kind == K_NUMBER && sp->at[0] != '-') {
		char copy[NUMBER_CHARS];
		memcpy(copy, sp->at, sp->len);
		copy[sp->len] = '\0';
		*out = strtod(copy, NULL);
	} else {
		return false;
	}
	return *out >= 0 && *out <= 1e12;
}

/* The string's text, escapes resolved, in a; NULL for an absent member. *oom when a is out of
 * memory. The escapes left are the ones scan_string let through (no \u0000, no surrogates). */
static const char *text_of(struct arena *a, const struct span *sp, bool *oom)
{
	if (sp->kind != K_STRING)
		return NULL;
	char *t = arena_alloc(a, sp->len + 1);
	if (!t) {
		*oom = true;
		return NULL;
	}
	if (!sp->escaped) {
		memcpy(t, sp->at, sp->len);
		t[sp->len] = '\0';
		return t;
	}
	size_t o = 0;
	for (size_t k = 0; k < sp->len; k++) {
		char c = sp->at[k];
		if (c != '\\') {
			t[o++] = c;
			continue;
		}
		c = sp->at[++k];
		switch (c) {
		case 'b':
			t[o++] = '\b';
			break;
		case 'f':
			t[o++] = '\f';
			break;
		case 'n':
			t[o++] = '\n';
			break;
		case 'r':
			t[o++] = '\r';
			break;
		case 't':
			t[o++] = '\t';
			break;
		case 'u': {
			long cp = code_unit((const unsigned char *)sp->at + k + 1);
			k += 4;
			if (cp < 0x80) {
				t[o++] = (char)cp;
			} else if (cp < 0x800) {
				t[o++] = (char)(0xC0 | (cp >> 6));
				t[o++] = (char)(0x80 | (cp & 0x3F));
			} else {
				t[o++] = (char)(0xE0 | (cp >> 12));
				t[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				t[o++] = (char)(0x80 | (cp & 0x3F));
			}
			break;
		}
		default: /* " \ / */
			t[o++] = c;
		}
	}
	t[o] = '\0';
	return t;
}

static bool plain_equals(const struct span *sp, const char *s)
{
	return sp->kind == K_STRING && !sp->escaped && strlen(s) == sp->len &&
	       memcmp(sp->at, s, sp->len) == 0;
}

/* The reasons list: each an object with a string code and message; the codes, and the first
 * message, into o. */
static enum verdict read_reasons(struct scan *sc, struct arena *a, struct node_observation *o)
{
	const struct span list = sc->slots[S_REASONS];
	bool oom = false;
	if (absent(&list))
		return READ;
	if (list.kind != K_ARRAY)
		return UNSURE;
	struct scan r = {.s = (const unsigned char *)list.at, .len = list.len, .i = 1};
	const char **codes = arena_alloc(a, (list.count ? list.count : 1) * sizeof(*codes));
	if (!codes)
		return OUT_OF_MEMORY;
	for (size_t k = 0; k < list.count; k++) {
		struct span element;
		skip_space(&r);
		r.slots[S_REASON_CODE] = r.slots[S_REASON_MESSAGE] = (struct span){.kind = K_ABSENT};
		if (peek(&r) != '{' ||
		    !scan_value(&r, 1, reason_members, 2, &element) ||
		    r.slots[S_REASON_CODE].kind != K_STRING ||
		    r.slots[S_REASON_MESSAGE].kind != K_STRING)
			return UNSURE;
		codes[k] = text_of(a, &r.slots[S_REASON_CODE], &oom);
		if (k == 0)
			o->reason_message = text_of(a, &r.slots[S_REASON_MESSAGE], &oom);
		if (oom)
			return OUT_OF_MEMORY;
		skip_space(&r);
		r.i++; /* the ',' or the closing ']' */
	}
	o->reasons = codes;
	o->nreasons = list.count;
	return READ;
}

/* doctor.firstBad's members are of their types: checkId and message strings, line and column
 * whole numbers >= 0. */
static bool first_bad_sound(const struct span *s, struct readyz_finding *f)
{
	if (!optional_object(&s[S_DOCTOR]) || !optional_object(&s[S_FIRST_BAD]))
		return false;
	if (absent(&s[S_FIRST_BAD]))
		return true;
	return s[S_FB_CHECK].kind == K_STRING && s[S_FB_MESSAGE].kind == K_STRING &&
	       optional_string(&s[S_FB_SEVERITY]) && optional_string(&s[S_FB_PATH]) &&
	       optional_string(&s[S_FB_HINT]) && optional_string(&s[S_FB_TENANT]) &&
	       optional_count(&s[S_FB_LINE], &f->line) && optional_count(&s[S_FB_COLUMN], &f->column);
}

/* Every member read is of its type and range (the checks of readyz_read), numbers into o. */
static bool members_sound(const struct span *s, struct node_observation *o)
{
	static const enum slot strings[] = {S_INFRA_TAG,      S_INFRA_COMMIT, S_SKILLS_CURRENT,
					    S_SKILLS_NEXT,    S_LOCK_SHA,     S_PROBE_SHA};
	int64_t total = -1;

	if (plain_equals(&s[S_STATUS], "green"))
		o->status = PROBE_GREEN;
	else if (plain_equals(&s[S_STATUS], "degraded"))
		o->status = PROBE_DEGRADED;
	else if (plain_equals(&s[S_STATUS], "red"))
		o->status = PROBE_RED;
	else
		return false;
	if (!optional_count(&s[S_GENERATION], &o->observed_generation) ||
	    !optional_object(&s[S_INFRA]) || !optional_object(&s[S_LOCK]) ||
	    !optional_object(&s[S_SKILLS]) || !optional_object(&s[S_LATENCY]) ||
	    !optional_object(&s[S_DIGEST]))
		return false;
	for (size_t k = 0; k < sizeof(strings) / sizeof(strings[0]); k++)
		if (!optional_string(&s[strings[k]]))
			return false;
	if (!absent(&s[S_LOCK_MATCH]) && s[S_LOCK_MATCH].kind != K_TRUE &&
	    s[S_LOCK_MATCH].kind != K_FALSE)
		return false;
	o->version_match = s[S_LOCK_MATCH].kind == K_TRUE;
	if (!optional_count(&s[S_LATENCY_SAMPLES], &o->latency_samples) ||
	    !optional_figure(&s[S_LATENCY_P95], &o->p95_ms) ||
	    !optional_count(&s[S_DIGEST_TOTAL], &total))
		return false;
	o->digest_known = total >= 0;
	o->digest_failures = total >= 0 ? total : 0;
	return first_bad_sound(s, &o->doctor_first_bad);
}

/* The strings of the members read, into o (in a). */
static bool copy_strings(const struct span *s, struct arena *a, struct node_observation *o)
{
	struct readyz_finding *f = &o->doctor_first_bad;
	bool oom = false;
	o->tag = text_of(a, &s[S_INFRA_TAG], &oom);
	o->commit = text_of(a, &s[S_INFRA_COMMIT], &oom);
	o->skills_current = text_of(a, &s[S_SKILLS_CURRENT], &oom);
	o->skills_next = text_of(a, &s[S_SKILLS_NEXT], &oom);
	o->lock_sha256 = text_of(a, &s[S_LOCK_SHA], &oom);
	o->probe_sha256 = text_of(a, &s[S_PROBE_SHA], &oom);
	if (!absent(&s[S_FIRST_BAD])) {
		f->check_id = text_of(a, &s[S_FB_CHECK], &oom);
		f->severity = text_of(a, &s[S_FB_SEVERITY], &oom);
		f->message = text_of(a, &s[S_FB_MESSAGE], &oom);
		f->path = text_of(a, &s[S_FB_PATH], &oom);
		f->fix_hint = text_of(a, &s[S_FB_HINT], &oom);
		f->tenant = text_of(a, &s[S_FB_TENANT], &oom);
	}
	return !oom;
}

/* "parity", "parityParts" and "tokenAges" are read by their own readers (contracts/parity.h,
 * token_age.h), from a tree of those members alone: a few hundred bytes, not the document. What
 * they refuse is left to the tree reader, which words the message. */
static enum verdict read_side_members(const struct span *s, struct node_observation *o)
{
	static const struct {
		const char *key;
		enum slot slot;
	} side[] = {{"parity", S_PARITY}, {"parityParts", S_PARITY_PARTS}, {"tokenAges", S_TOKEN_AGES}};
	size_t cap = 2;
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++)
		cap += absent(&s[side[i].slot]) ? 0 : strlen(side[i].key) + s[side[i].slot].len + 4;
	char *text = malloc(cap + 1);
	if (!text)
		return OUT_OF_MEMORY;
	size_t n = 0;
	text[n++] = '{';
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		const struct span *sp = &s[side[i].slot];
		if (absent(sp))
			continue;
		n += (size_t)sprintf(text + n, "%s\"%s\":", n > 1 ? "," : "", side[i].key);
		/* A string member keeps its quotes: the span holds the bytes between them. */
		bool quoted = sp->kind == K_STRING;
		if (quoted)
			text[n++] = '"';
		memcpy(text + n, sp->at, sp->len);
		n += sp->len;
		if (quoted)
			text[n++] = '"';
	}
	text[n++] = '}';
	struct json_object *doc = NULL;
	struct cf_err why;
	enum verdict v = UNSURE;
	if (jsonparse_object(text, n, READYZ_DEPTH, &doc, &why) == 0 &&
	    parity_read(doc, &o->parity, &why) == 0 && token_ages_read(doc, &o->tokens, &why) == 0)
		v = READ;
	json_object_put(doc);
	free(text);
	return v;
}

int readyz_stream_read(const char *body, size_t len, const char *node, struct arena *a,
		       struct node_observation *out)
{
	struct scan sc = {.s = (const unsigned char *)body, .len = len};
	struct node_observation o = {0};
	struct span doc;

	skip_space(&sc);
	if (peek(&sc) != '{' || !scan_value(&sc, 0, document_members,
					     sizeof(document_members) / sizeof(document_members[0]),
					     &doc))
		return READYZ_STREAM_UNSURE;
	skip_space(&sc);
	if (sc.i != len || sc.slots[S_NODE].kind != K_STRING || sc.slots[S_NODE].escaped)
		return READYZ_STREAM_UNSURE;
	/* A misrouted address must never pass for the node it names. */
	if (!plain_equals(&sc.slots[S_NODE], node)) {
		bool oom = false;
		const char *answered = text_of(a, &sc.slots[S_NODE], &oom);
		if (oom)
			return READYZ_OUT_OF_MEMORY;
		out->name = answered;
		return READYZ_OTHER_NODE;
	}
	if (!members_sound(sc.slots, &o))
		return READYZ_STREAM_UNSURE;
	enum verdict v = read_reasons(&sc, a, &o);
	if (v == READ)
		v = read_side_members(sc.slots, &o);
	if (v != READ)
		return v == UNSURE ? READYZ_STREAM_UNSURE : READYZ_OUT_OF_MEMORY;
	if (!copy_strings(sc.slots, a, &o) || !(o.name = arena_strdup(a, node)))
		return READYZ_OUT_OF_MEMORY;
	o.reachable = true;
	*out = o;
	return 0;
}
