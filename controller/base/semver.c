#include "base/semver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ranges come from desired state; the bounds keep a hostile spec from costing much. */
#define RANGE_MAX_LEN 1024
#define RANGE_MAX_COMPARATORS 64

static const char *const part_names[] = { "major", "minor", "patch" };

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The identifier alphabet of the SemVer BNF; isalnum() would follow the locale. */
static bool is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_wildcard(char c)
{
	return c == 'x' || c == 'X' || c == '*';
}

static const char *describe_char(char c, char *buf, size_t len)
{
	unsigned char u = (unsigned char)c;
	if (u <= 0x20 || u >= 0x7f)
		snprintf(buf, len, "byte 0x%02x", u);
	else
		snprintf(buf, len, "\"%c\"", c);
	return buf;
}

static int unexpected(const char *s, const char *p, struct cf_err *err)
{
	char c[16];
	return cf_err_set(err, "\"%s\": unexpected %s after \"%.*s\"", s,
			  describe_char(*p, c, sizeof(c)), (int)(p - s), s);
}

static int parse_number(const char *s, const char **p, int part, uint64_t *out, struct cf_err *err)
{
	const char *q = *p;
	uint64_t v = 0;
	if (!is_digit(*q))
		return cf_err_set(err, "\"%s\": %s version must be a number", s, part_names[part]);
	if (q[0] == '0' && is_digit(q[1]))
		return cf_err_set(err, "\"%s\": leading zero in %s version", s, part_names[part]);
	for (; is_digit(*q); q++) {
		unsigned d = (unsigned)(*q - '0');
		if (v > (UINT64_MAX - d) / 10)
			return cf_err_set(err, "\"%s\": %s version does not fit in 64 bits", s,
					  part_names[part]);
		v = v * 10 + d;
	}
	*p = q;
	*out = v;
	return 0;
}

/* Reads dot-separated identifiers into dst, which the callers' length bound lets hold them. */
static int parse_idents(const char *s, const char **p, bool pre, char *dst, struct cf_err *err)
{
	const char *what = pre ? "pre-release" : "build metadata";
	const char *start = *p, *q = *p;
	for (;;) {
		const char *id = q;
		bool numeric = true;
		for (; *q && *q != '.' && !(pre && *q == '+'); q++) {
			char c[16];
			if (!is_ident_char(*q))
				return cf_err_set(err,
						  "\"%s\": %s may only hold letters, digits, \"-\" and \".\", not %s",
						  s, what, describe_char(*q, c, sizeof(c)));
			numeric = numeric && is_digit(*q);
		}
		if (q == id)
			return cf_err_set(err, "\"%s\": empty %s identifier", s, what);
		if (pre && numeric && id[0] == '0' && q - id > 1)
			return cf_err_set(err, "\"%s\": leading zero in numeric pre-release identifier \"%.*s\"",
					  s, (int)(q - id), id);
		if (*q != '.')
			break;
		q++;
	}
	memcpy(dst, start, (size_t)(q - start));
	dst[q - start] = '\0';
	*p = q;
	return 0;
}

/* Everything after PATCH: optional pre-release, optional build, then the end. */
static int parse_tail(const char *s, const char *p, struct semver *v, struct cf_err *err)
{
	if (*p == '-') {
		p++;
		if (parse_idents(s, &p, true, v->pre, err) < 0)
			return -1;
	}
	if (*p == '+') {
		p++;
		if (parse_idents(s, &p, false, v->build, err) < 0)
			return -1;
	}
	if (*p == '.')
		return cf_err_set(err, "\"%s\": a semver has exactly three numbers, MAJOR.MINOR.PATCH", s);
	if (*p)
		return unexpected(s, p, err);
	return 0;
}

static uint64_t *part_ptr(struct semver *v, int part)
{
	return part == 0 ? &v->major : part == 1 ? &v->minor : &v->patch;
}

int semver_parse(const char *s, struct semver *out, struct cf_err *err)
{
	struct semver v = { 0 };
	const char *p = s;
	if (strnlen(s, SEMVER_MAX) >= SEMVER_MAX)
		return cf_err_set(err, "\"%.40s...\": a semver is at most %d characters", s, SEMVER_MAX - 1);
	if (!*s)
		return cf_err_set(err, "\"\": a semver needs MAJOR.MINOR.PATCH");
	if (s[0] == 'v' || s[0] == 'V')
		return cf_err_set(err, "\"%s\": no \"v\" prefix in a semver", s);
	for (const char *q = s; *q; q++)
		if (is_space(*q))
			return cf_err_set(err, "\"%s\": no whitespace in a semver", s);
	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (!*p)
				return cf_err_set(err, "\"%s\": a semver needs MAJOR.MINOR.PATCH", s);
			if (*p != '.')
				return unexpected(s, p, err);
			p++;
		}
		if (parse_number(s, &p, i, part_ptr(&v, i), err) < 0)
			return -1;
	}
	if (parse_tail(s, p, &v, err) < 0)
		return -1;
	*out = v;
	return 0;
}

int semver_parse_tag(const char *tag, struct semver *out)
{
	return semver_parse(tag[0] == 'v' ? tag + 1 : tag, out, NULL);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* Numeric identifiers have no leading zeros, so a longer one is larger: no overflow to fear. */
static int cmp_ident(const char *a, size_t na, const char *b, size_t nb)
{
	bool da = all_digits(a, na), db = all_digits(b, nb);
	if (da != db)
		return da ? -1 : 1;
	if (da && na != nb)
		return na < nb ? -1 : 1;
	int c = memcmp(a, b, na < nb ? na : nb);
	if (c)
		return c < 0 ? -1 : 1;
	return cmp_u64(na, nb);
}

static int cmp_pre(const char *a, const char *b)
{
	if (!*a || !*b)
		return !*a - !*b;
	for (;;) {
		size_t na = strcspn(a, "."), nb = strcspn(b, ".");
		int c = cmp_ident(a, na, b, nb);
		if (c)
			return c;
		a += na;
		b += nb;
		if (!*a || !*b)
			return !!*a - !!*b;
		a++;
		b++;
	}
}

int semver_compare(const struct semver *a, const struct semver *b)
{
	int c = cmp_u64(a->major, b->major);
	if (!c)
		c = cmp_u64(a->minor, b->minor);
	if (!c)
		c = cmp_u64(a->patch, b->patch);
	if (!c)
		c = cmp_pre(a->pre, b->pre);
	return c;
}

/* Every comparator is kept as an interval (or its complement for "!="), so ~, ^, wildcards,
 * partial versions and hyphens all reduce to the same two bound checks when matching. */
struct comparator {
	struct semver lo, hi;
	bool has_lo, lo_incl, has_hi, hi_incl;
	bool negate;
	bool names_pre; /* the comparator's version has a pre-release, on core below */
	uint64_t core[3];
	unsigned group; /* index of the "||" alternative it belongs to */
};

struct semver_range {
	size_t n;
	struct comparator c[];
};

enum op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_TILDE, OP_CARET };

static const struct {
	const char *text;
	enum op op;
} op_table[] = {
	/* two-character operators first so ">=" is not read as ">" then "=1.2.3" */
	{ "!=", OP_NE }, { ">=", OP_GE }, { "=>", OP_GE }, { "<=", OP_LE }, { "=<", OP_LE },
	{ "~>", OP_TILDE }, { "=", OP_EQ }, { ">", OP_GT }, { "<", OP_LT }, { "~", OP_TILDE },
	{ "^", OP_CARET },
};

/* A version as written in a range: up to three parts, trailing ones possibly wildcards. */
struct partial {
	struct semver v; /* missing and wildcard parts are 0 */
	int exact;       /* how many leading parts are numbers: 0 ("*") to 3 */
};

static int parse_partial(const char *s, struct partial *out, struct cf_err *err)
{
	struct partial r = { .v = { 0 } };
	const char *p = s[0] == 'v' ? s + 1 : s;
	bool wild = false;
	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (*p != '.')
				break;
			p++;
		}
		if (is_wildcard(*p)) {
			wild = true;
			p++;
		} else if (wild) {
			return cf_err_set(err, "\"%s\": only wildcards may follow a wildcard", s);
		} else {
			if (parse_number(s, &p, i, part_ptr(&r.v, i), err) < 0)
				return -1;
			r.exact++;
		}
	}
	if (r.exact < 3 && (*p == '-' || *p == '+'))
		return cf_err_set(err, "\"%s\": a pre-release or build needs a full MAJOR.MINOR.PATCH", s);
	if (parse_tail(s, p, &r.v, err) < 0)
		return -1;
	*out = r;
	return 0;
}

/* The smallest version above every one sharing v's first level+1 parts; false when that
 * would not fit in 64 bits, i.e. nothing is above them. */
static bool bump(const struct semver *v, int level, struct semver *out)
{
	struct semver r = { 0 };
	r.major = v->major;
	r.minor = level >= 1 ? v->minor : 0;
	r.patch = level >= 2 ? v->patch : 0;
	for (; level >= 0; level--) {
		uint64_t *f = part_ptr(&r, level);
		if (*f != UINT64_MAX) {
			(*f)++;
			*out = r;
			return true;
		}
		*f = 0;
	}
	return false;
}

static void set_lo(struct comparator *c, const struct semver *v, bool incl)
{
	c->lo = *v;
	c->has_lo = true;
	c->lo_incl = incl;
}

static void set_hi_bump(struct comparator *c, const struct semver *v, int level)
{
	c->has_hi = bump(v, level, &c->hi);
	c->hi_incl = false;
}

/* "<= v" for a full version; for a partial one ("<= 1.2") every version it names is included. */
static void set_hi_inclusive(struct comparator *c, const struct semver *v, bool full, int exact)
{
	if (full) {
		c->hi = *v;
		c->has_hi = c->hi_incl = true;
	} else if (exact > 0) {
		set_hi_bump(c, v, exact - 1);
	}
}

/* The level whose increment ends a caret range: the first non-zero part among the given ones. */
static int caret_level(const struct partial *pv)
{
	if (pv->v.major > 0 || pv->exact == 1)
		return 0;
	if (pv->v.minor > 0 || pv->exact == 2)
		return 1;
	return 2;
}

static int build_comparator(const char *tok, enum op op, const struct partial *pv,
			    struct comparator *c, struct cf_err *err)
{
	const struct semver *v = &pv->v;
	bool full = pv->exact == 3;
	memset(c, 0, sizeof(*c));
	if (pv->exact == 0 && (op == OP_GT || op == OP_LT || op == OP_NE))
		return cf_err_set(err, "\"%s\": matches no version", tok);
	switch (op) {
	case OP_NE:
		c->negate = true;
		/* fall through */
	case OP_EQ:
		set_lo(c, v, true);
		set_hi_inclusive(c, v, full, pv->exact);
		break;
	case OP_GT:
		if (full)
			set_lo(c, v, false);
		else if (bump(v, pv->exact - 1, &c->lo))
			c->has_lo = c->lo_incl = true;
		else
			return cf_err_set(err, "\"%s\": matches no version", tok);
		break;
	case OP_GE:
		set_lo(c, v, true);
		break;
	case OP_LT:
		c->hi = *v;
		c->has_hi = true;
		break;
	case OP_LE:
		set_hi_inclusive(c, v, full, pv->exact);
		break;
	case OP_TILDE:
		set_lo(c, v, true);
		if (pv->exact > 0)
			set_hi_bump(c, v, pv->exact >= 2 ? 1 : 0);
		break;
	case OP_CARET:
		set_lo(c, v, true);
		if (pv->exact > 0)
			set_hi_bump(c, v, caret_level(pv));
		break;
	}
	c->names_pre = v->pre[0] != '\0';
	c->core[0] = v->major;
	c->core[1] = v->minor;
	c->core[2] = v->patch;
	return 0;
}

struct range_parser {
	const char *expr;
	const char *p;
	struct semver_range *r;
	unsigned group;
};

static void skip_space(struct range_parser *rp)
{
	while (is_space(*rp->p))
		rp->p++;
}

static bool at_or(const struct range_parser *rp)
{
	return rp->p[0] == '|' && rp->p[1] == '|';
}

static int read_op(struct range_parser *rp, bool *has_op, enum op *op, struct cf_err *err)
{
	*has_op = false;
	*op = OP_EQ;
	for (size_t i = 0; i < sizeof(op_table) / sizeof(op_table[0]); i++) {
		size_t n = strlen(op_table[i].text);
		if (!strncmp(rp->p, op_table[i].text, n)) {
			rp->p += n;
			*has_op = true;
			*op = op_table[i].op;
			return 0;
		}
	}
	if (*rp->p == '!')
		return cf_err_set(err, "unknown operator \"!\"; use \"!=\"");
	return 0;
}

/* A version token runs to the next separator; it is copied out so messages can quote it. */
static int read_version(struct range_parser *rp, char *tok, struct partial *pv, struct cf_err *err)
{
	size_t n = strcspn(rp->p, " \t\n\r\v\f,|");
	if (n == 0 && !*rp->p)
		return cf_err_set(err, "expected a version at the end");
	if (n == 0)
		return cf_err_set(err, "expected a version before \"%s\"", rp->p);
	if (n >= SEMVER_MAX)
		return cf_err_set(err, "a version is at most %d characters", SEMVER_MAX - 1);
	memcpy(tok, rp->p, n);
	tok[n] = '\0';
	rp->p += n;
	return parse_partial(tok, pv, err);
}

static int emit(struct range_parser *rp, const char *tok, enum op op, const struct partial *pv,
		struct cf_err *err)
{
	if (rp->r->n == RANGE_MAX_COMPARATORS)
		return cf_err_set(err, "more than %d comparisons", RANGE_MAX_COMPARATORS);
	struct comparator *c = &rp->r->c[rp->r->n];
	if (build_comparator(tok, op, pv, c, err) < 0)
		return -1;
	c->group = rp->group;
	rp->r->n++;
	return 0;
}

/* One comparison, or a hyphen range "A - B" standing for ">=A <=B". */
static int parse_comparison(struct range_parser *rp, struct cf_err *err)
{
	char tok[SEMVER_MAX], tok2[SEMVER_MAX];
	struct partial pv, pv2;
	bool has_op;
	enum op op;
	if (read_op(rp, &has_op, &op, err) < 0)
		return -1;
	skip_space(rp);
	if (read_version(rp, tok, &pv, err) < 0)
		return -1;
	const char *after = rp->p;
	skip_space(rp);
	if (rp->p == after || rp->p[0] != '-' || !is_space(rp->p[1])) {
		rp->p = after;
		return emit(rp, tok, op, &pv, err);
	}
	if (has_op)
		return cf_err_set(err, "no operator allowed in a hyphen range \"A - B\"");
	rp->p++;
	skip_space(rp);
	if (read_version(rp, tok2, &pv2, err) < 0)
		return -1;
	if (emit(rp, tok, OP_GE, &pv, err) < 0)
		return -1;
	return emit(rp, tok2, OP_LE, &pv2, err);
}

/* Comparisons are ANDed when separated by whitespace or a comma, and a group ends at "||". */
static int parse_group(struct range_parser *rp, struct cf_err *err)
{
	for (;;) {
		skip_space(rp);
		if (!*rp->p)
			return cf_err_set(err, "missing a comparison at the end");
		if (at_or(rp) || *rp->p == ',')
			return cf_err_set(err, "missing a comparison before \"%s\"", at_or(rp) ? "||" : ",");
		if (parse_comparison(rp, err) < 0)
			return -1;
		skip_space(rp);
		if (!*rp->p || at_or(rp))
			return 0;
		if (*rp->p == ',')
			rp->p++;
		else if (*rp->p == '|')
			return cf_err_set(err, "single \"|\"; use \"||\" for OR");
	}
}

static int parse_range(struct range_parser *rp, struct cf_err *err)
{
	for (;;) {
		if (parse_group(rp, err) < 0)
			return -1;
		if (!*rp->p)
			return 0;
		rp->p += 2;
		rp->group++;
	}
}

int semver_range_parse(const char *expr, struct semver_range **out, struct cf_err *err)
{
	if (strnlen(expr, RANGE_MAX_LEN + 1) > RANGE_MAX_LEN)
		return cf_err_set(err, "semver range \"%.40s...\": longer than %d characters", expr,
				  RANGE_MAX_LEN);
	struct range_parser rp = { .expr = expr, .p = expr };
	rp.r = malloc(sizeof(*rp.r) + RANGE_MAX_COMPARATORS * sizeof(rp.r->c[0]));
	if (!rp.r)
		return cf_err_set(err, "semver range \"%s\": out of memory", expr);
	rp.r->n = 0;
	if (parse_range(&rp, err) < 0) {
		free(rp.r);
		return cf_err_prefix(err, "semver range \"%s\"", expr);
	}
	struct semver_range *shrunk = realloc(rp.r, sizeof(*rp.r) + rp.r->n * sizeof(rp.r->c[0]));
	*out = shrunk ? shrunk : rp.r;
	return 0;
}

static bool comparator_match(const struct comparator *c, const struct semver *v)
{
	bool in = true;
	if (c->has_lo) {
		int d = semver_compare(v, &c->lo);
		in = d > 0 || (d == 0 && c->lo_incl);
	}
	if (in && c->has_hi) {
		int d = semver_compare(v, &c->hi);
		in = d < 0 || (d == 0 && c->hi_incl);
	}
	return in != c->negate;
}

/* Pre-releases are opt-in: "<2.0.0" must not pick 2.0.0-rc.1 and ">=1.2.3-rc.1" must not pick
 * 1.9.0-alpha, so one needs a comparison in its group naming a pre-release of the same
 * MAJOR.MINOR.PATCH (stricter than Masterminds 3.4, which takes any pre-release in the group). */
static bool group_match(const struct comparator *c, size_t n, const struct semver *v)
{
	bool pre_ok = v->pre[0] == '\0';
	for (size_t i = 0; i < n; i++) {
		if (!comparator_match(&c[i], v))
			return false;
		pre_ok = pre_ok || (c[i].names_pre && c[i].core[0] == v->major &&
				    c[i].core[1] == v->minor && c[i].core[2] == v->patch);
	}
	return pre_ok;
}

bool semver_range_match(const struct semver_range *r, const struct semver *v)
{
	size_t i = 0;
	while (i < r->n) {
		size_t j = i;
		while (j < r->n && r->c[j].group == r->c[i].group)
			j++;
		if (group_match(&r->c[i], j - i, v))
			return true;
		i = j;
	}
	return false;
}

void semver_range_free(struct semver_range *r)
{
	free(r);
}
