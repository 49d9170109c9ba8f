#include "base/yamltree.h"

#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/yamltree_internal.h"

/* ---- implicit typing (YAML 1.2 core schema) ---- */

/* The core schema's words with their lengths, so typing a scalar never measures them. */
struct word {
	const char *s;
	size_t len;
};
#define WORD(text) {text, sizeof(text) - 1}

static bool is_word(const char *s, size_t len, const struct word *words)
{
	for (; words->s; words++)
		if (words->len == len && !memcmp(s, words->s, len))
			return true;
	return false;
}

static const struct word null_words[] = {WORD("~"), WORD("null"), WORD("Null"), WORD("NULL"),
					 {NULL, 0}};
static const struct word true_words[] = {WORD("true"), WORD("True"), WORD("TRUE"), {NULL, 0}};
static const struct word false_words[] = {WORD("false"), WORD("False"), WORD("FALSE"), {NULL, 0}};
static const struct word inf_words[] = {WORD(".inf"), WORD(".Inf"), WORD(".INF"), {NULL, 0}};
static const struct word nan_words[] = {WORD(".nan"), WORD(".NaN"), WORD(".NAN"), {NULL, 0}};

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

static size_t digits(const char *s, size_t len, int base)
{
	size_t i = 0;
	while (i < len && digit_value(s[i]) < base)
		i++;
	return i;
}

/* The base of an integer literal and where its digits start; 0 when s is no integer. */
static int int_syntax(const char *s, size_t len, size_t *start)
{
	if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		int base = s[1] == 'o' ? 8 : 16;
		*start = 2;
		return digits(s + 2, len - 2, base) == len - 2 ? base : 0;
	}
	size_t i = len && (s[0] == '-' || s[0] == '+');
	*start = i;
	return i < len && digits(s + i, len - i, 10) == len - i ? 10 : 0;
}

static bool is_float(const char *s, size_t len)
{
	size_t i = len && (s[0] == '-' || s[0] == '+');
	if (is_word(s + i, len - i, inf_words) || (i == 0 && is_word(s, len, nan_words)))
		return true;
	size_t whole = digits(s + i, len - i, 10);
	i += whole;
	if (i < len && s[i] == '.') {
		size_t frac = digits(s + i + 1, len - i - 1, 10);
		if (!whole && !frac)
			return false;
		i += 1 + frac;
	} else if (!whole) {
		return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		i += i < len && (s[i] == '-' || s[i] == '+');
		size_t exp = digits(s + i, len - i, 10);
		if (!exp)
			return false;
		i += exp;
	}
	return i == len;
}

/* Only these can begin a null, a boolean, an integer or a float: any other first character
 * makes a string at once (most scalars of a manifest: names, kinds, addresses). */
static bool may_be_typed(char c)
{
	return (c >= '0' && c <= '9') || (c && strchr("~nNtTfF.+-", c));
}

enum ytype yscalar_type(const char *s, size_t len)
{
	size_t start;
	if (len && !may_be_typed(s[0]))
		return YT_STR;
	if (len == 0 || is_word(s, len, null_words))
		return YT_NULL;
	if (is_word(s, len, true_words) || is_word(s, len, false_words))
		return YT_BOOL;
	if (int_syntax(s, len, &start))
		return YT_INT;
	if (is_float(s, len))
		return YT_FLOAT;
	return YT_STR;
}

/* -1 when the literal does not fit a long long. */
static int int_value(const char *s, size_t len, long long *out)
{
	size_t i;
	int base = int_syntax(s, len, &i);
	bool neg = s[0] == '-';
	unsigned long long limit = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	unsigned long long v = 0;
	for (; i < len; i++) {
		unsigned d = (unsigned)digit_value(s[i]);
		if (v > (limit - d) / (unsigned)base)
			return -1;
		v = v * (unsigned)base + d;
	}
	/* Negated through v - 1 so LLONG_MIN does not overflow on the way. */
	*out = neg && v ? -(long long)(v - 1) - 1 : (long long)v;
	return 0;
}

/* ---- reading the tree ---- */

enum ytype ynode_type(const struct ynode *n)
{
	if (!n)
		return YT_NULL;
	if (n->kind == YNODE_MAP)
		return YT_MAP;
	if (n->kind == YNODE_SEQ)
		return YT_SEQ;
	return n->type;
}

const char *ytype_name(enum ytype t)
{
	static const char *const names[] = {
		[YT_NULL] = "null",     [YT_BOOL] = "boolean", [YT_INT] = "integer",
		[YT_FLOAT] = "number",  [YT_STR] = "string",   [YT_MAP] = "object",
		[YT_SEQ] = "array",
	};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAP)
		return NULL;
	size_t len = strlen(key);
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->pairs[i].key;
		if (k->len == len && !memcmp(k->str, key, len))
			return map->pairs[i].value;
	}
	return NULL;
}

int ynode_bool(const struct ynode *n, bool *out)
{
	if (ynode_type(n) != YT_BOOL)
		return -1;
	*out = n->str[0] == 't' || n->str[0] == 'T';
	return 0;
}

int ynode_int(const struct ynode *n, long long *out)
{
	if (ynode_type(n) != YT_INT)
		return -1;
	return int_value(n->str, n->len, out);
}

/* An integer too big for a long long fails here as it does in ynode_int. */
int ynode_number(const struct ynode *n, double *out)
{
	enum ytype t = ynode_type(n);
	if (t == YT_INT) {
		long long v;
		if (int_value(n->str, n->len, &v))
			return -1;
		*out = (double)v;
		return 0;
	}
	if (t != YT_FLOAT)
		return -1;
	const char *s = n->str;
	bool neg = s[0] == '-';
	size_t sign = s[0] == '-' || s[0] == '+';
	if (is_word(s + sign, n->len - sign, inf_words))
		*out = neg ? -INFINITY : INFINITY;
	else if (is_word(s, n->len, nan_words))
		*out = NAN;
	else
		*out = strtod(s, NULL);
	return 0;
}

const char *ynode_str(const struct ynode *n)
{
	return ynode_type(n) == YT_STR ? n->str : NULL;
}

static int map_to_json(const struct ynode *n, struct json_object *obj, struct yerr *err)
{
	for (size_t i = 0; i < n->n; i++) {
		struct json_object *v;
		if (ynode_to_json(n->pairs[i].value, &v, err))
			return -1;
		/* Keys are unique: the parser rejects duplicates. */
		if (json_object_object_add_ex(obj, n->pairs[i].key->str, v,
					      JSON_C_OBJECT_ADD_KEY_IS_NEW)) {
			json_object_put(v);
			return yerr_set(err, n->line, n->col, "out of memory");
		}
	}
	return 0;
}

static int seq_to_json(const struct ynode *n, struct json_object *arr, struct yerr *err)
{
	for (size_t i = 0; i < n->n; i++) {
		struct json_object *v;
		if (ynode_to_json(n->items[i], &v, err))
			return -1;
		if (json_object_array_add(arr, v)) {
			json_object_put(v);
			return yerr_set(err, n->line, n->col, "out of memory");
		}
	}
	return 0;
}

int ynode_to_json(const struct ynode *n, struct json_object **out, struct yerr *err)
{
	struct json_object *j = NULL;
	bool b;
	long long i;
	double d;
	int rc = 0;
	*out = NULL;
	switch (ynode_type(n)) {
	case YT_NULL:
		return 0;
	case YT_BOOL:
		ynode_bool(n, &b);
		j = json_object_new_boolean(b);
		break;
	case YT_INT:
		if (ynode_int(n, &i))
			return yerr_set(err, n->line, n->col,
					"integer %.*s is out of the 64-bit range",
					yquote_len(n->str, n->len), n->str);
		j = json_object_new_int64(i);
		break;
	case YT_FLOAT:
		ynode_number(n, &d);
		if (!isfinite(d))
			return yerr_set(err, n->line, n->col, "%s cannot be represented in JSON",
					n->str);
		j = json_object_new_double(d);
		break;
	case YT_STR:
		j = json_object_new_string_len(n->str, (int)n->len);
		break;
	case YT_MAP:
		j = json_object_new_object();
		rc = j ? map_to_json(n, j, err) : 0;
		break;
	case YT_SEQ:
		j = json_object_new_array_ext((int)n->n);
		rc = j ? seq_to_json(n, j, err) : 0;
		break;
	}
	if (!j)
		return yerr_set(err, n->line, n->col, "out of memory");
	if (rc) {
		json_object_put(j);
		return -1;
	}
	*out = j;
	return 0;
}
