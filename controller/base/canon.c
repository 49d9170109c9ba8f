#include "base/canon.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "base/utf8.h"

/* The canonical form of anything clawfleet hashes is a few KiB; a cap keeps a hostile or broken
 * input from eating the controller's memory before anyone notices. */
#define CANON_MAX_BYTES (64u << 20)
#define CANON_MAX_DEPTH 128

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t n, struct cf_err *err)
{
	/* The +1 keeps room for the terminating NUL at every step. */
	if (n > CANON_MAX_BYTES - b->len)
		return cf_err_set(err, "canonical JSON is larger than %u MiB",
				  CANON_MAX_BYTES >> 20);
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap > CANON_MAX_BYTES + 1)
		cap = CANON_MAX_BYTES + 1;
	char *p = realloc(b->p, cap);
	if (!p)
		return cf_err_set(err, "out of memory for %zu bytes of canonical JSON", cap);
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_put(struct buf *b, const char *s, size_t n, struct cf_err *err)
{
	if (buf_reserve(b, n, err) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_puts(struct buf *b, const char *s, struct cf_err *err)
{
	return buf_put(b, s, strlen(s), err);
}

static const char *short_escape(unsigned char c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

static int check_utf8(const unsigned char *s, size_t len, struct cf_err *err)
{
	for (size_t i = 0, n; i < len; i += n)
		if (!(n = utf8_seq_len(s + i, len - i)))
			return cf_err_set(err, "string is not valid UTF-8 (byte 0x%02x at %zu)",
					  s[i], i);
	return 0;
}

/* RFC 8785 3.2.2.2: only '"', '\\' and the C0 controls are escaped; '/', DEL and all non-ASCII
 * characters pass through as their UTF-8 bytes. Unescaped runs are copied in one piece. */
static int write_string(struct buf *b, const char *str, size_t len, struct cf_err *err)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0;

	if (check_utf8(s, len, err) < 0 || buf_put(b, "\"", 1, err) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
			continue;
		if (buf_put(b, str + run, i - run, err) < 0)
			return -1;
		const char *esc = short_escape(s[i]);
		char hex[7];
		if (!esc) {
			snprintf(hex, sizeof(hex), "\\u%04x", s[i]);
			esc = hex;
		}
		if (buf_puts(b, esc, err) < 0)
			return -1;
		run = i + 1;
	}
	if (buf_put(b, str + run, len - run, err) < 0)
		return -1;
	return buf_put(b, "\"", 1, err);
}

/* json-c keeps integers as int64 or uint64 with no public way to ask which; get_int64 saturates
 * at INT64_MAX, so only there can a larger uint64 hide. */
static int write_int(struct buf *b, const struct json_object *v, struct cf_err *err)
{
	char num[24];
	int64_t i = json_object_get_int64(v);

	if (i == INT64_MAX)
		snprintf(num, sizeof(num), "%llu", (unsigned long long)json_object_get_uint64(v));
	else
		snprintf(num, sizeof(num), "%lld", (long long)i);
	return buf_puts(b, num, err);
}

/* Splits printf's "d.ddde+XX" into its digits and decimal exponent; returns the digit count. */
static int split_e(const char *s, char digits[18], int *exp10)
{
	const char *e = strchr(s, 'e');
	int k = 0;

	for (; s < e; s++)
		if (*s != '.')
			digits[k++] = *s;
	digits[k] = '\0';
	*exp10 = atoi(e + 1);
	return k;
}

static bool reads_back(const char *digits, int k, int exp10, double x)
{
	char s[32];

	snprintf(s, sizeof(s), "%se%d", digits, exp10 - k + 1);
	return strtod(s, NULL) == x;
}

/* Adds one unit in the last of the k digits; 99 becomes 10 with the exponent raised. */
static void digits_up(char *digits, int k, int *exp10)
{
	int i = k - 1;

	while (i >= 0 && digits[i] == '9')
		digits[i--] = '0';
	if (i >= 0) {
		digits[i]++;
		return;
	}
	digits[0] = '1';
	(*exp10)++;
}

/* The fewest significant digits that read back as x (finite, > 0), nearest to x among those, as
 * ECMAScript asks. printf rounds exactly, so %.*e gives the nearest decimal of each length. That
 * is enough except at a power of two, where the doubles below are twice as dense as those above:
 * the decimal just above x can read back while the nearer one below does not. */
static int shortest_digits(double x, char digits[18], int *exp10)
{
	uint64_t bits;

	memcpy(&bits, &x, sizeof(bits));
	bool pow2 = (bits & ((UINT64_C(1) << 52) - 1)) == 0;
	/* 17 significant digits always read back, so the loop ends there at the latest. */
	for (int prec = 0;; prec++) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%.*e", prec, x);
		int k = split_e(tmp, digits, exp10);
		if (prec == 16 || reads_back(digits, k, *exp10, x))
			return k;
		if (pow2) {
			digits_up(digits, k, exp10);
			if (reads_back(digits, k, *exp10, x))
				return k;
		}
	}
}

/* RFC 8785 3.2.2.3 defers to ECMAScript Number::toString: with the shortest digits d1..dk and
 * x = 0.d1..dk * 10^n, plain notation for 1e-6 <= |x| < 1e21, exponent notation otherwise. */
static int write_double(struct buf *b, double x, struct cf_err *err)
{
	char digits[18], out[40];
	size_t o = 0;
	int exp10;

	if (!isfinite(x))
		return cf_err_set(err, "NaN and Infinity have no JSON form");
	/* -0 too: ECMAScript prints both zeros as "0". */
	if (x == 0)
		return buf_put(b, "0", 1, err);
	if (x < 0) {
		out[o++] = '-';
		x = -x;
	}
	int k = shortest_digits(x, digits, &exp10);
	int n = exp10 + 1;
	if (k <= n && n <= 21) {
		memcpy(out + o, digits, k);
		o += k;
		memset(out + o, '0', n - k);
		o += n - k;
	} else if (0 < n && n <= 21) {
		memcpy(out + o, digits, n);
		o += n;
		out[o++] = '.';
		memcpy(out + o, digits + n, k - n);
		o += k - n;
	} else if (-6 < n && n <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		memset(out + o, '0', -n);
		o += -n;
		memcpy(out + o, digits, k);
		o += k;
	} else {
		out[o++] = digits[0];
		if (k > 1) {
			out[o++] = '.';
			memcpy(out + o, digits + 1, k - 1);
			o += k - 1;
		}
		o += snprintf(out + o, sizeof(out) - o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	return buf_put(b, out, o, err);
}

static int write_value(struct buf *b, const struct json_object *v, int depth, struct cf_err *err);

struct member {
	const char *key;
	const struct json_object *val;
};

/* Bytewise order of the UTF-8 keys is code point order. RFC 8785 sorts by UTF-16 code units,
 * which differs only when a key has a character above U+FFFF (a surrogate, 0xD800-0xDFFF) at the
 * same position as one in U+E000-U+FFFF in another key: JCS puts the surrogate first, we put it
 * last. We keep bytewise order because it is what canon.h promises and what any language can
 * reproduce without transcoding; for keys without such a pair the two orders are the same. */
static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	return strcmp(x->key, y->key);
}

static int write_object(struct buf *b, const struct json_object *v, int depth, struct cf_err *err)
{
	size_t n = (size_t)json_object_object_length(v), i = 0;
	struct member *m = NULL;
	int rc = -1;

	if (n && !(m = calloc(n, sizeof(*m)))) {
		cf_err_set(err, "out of memory sorting %zu object keys", n);
		goto done;
	}
	struct lh_entry *e = lh_table_head(json_object_get_object(v));
	for (; e; e = lh_entry_next(e)) {
		m[i].key = lh_entry_k(e);
		m[i].val = lh_entry_v(e);
		i++;
	}
	if (n > 1)
		qsort(m, n, sizeof(*m), member_cmp);
	if (buf_put(b, "{", 1, err) < 0)
		goto done;
	for (i = 0; i < n; i++) {
		if (i && buf_put(b, ",", 1, err) < 0)
			goto done;
		if (write_string(b, m[i].key, strlen(m[i].key), err) < 0 ||
		    buf_put(b, ":", 1, err) < 0 || write_value(b, m[i].val, depth + 1, err) < 0)
			goto done;
	}
	rc = buf_put(b, "}", 1, err);
done:
	free(m);
	return rc;
}

static int write_array(struct buf *b, const struct json_object *v, int depth, struct cf_err *err)
{
	size_t n = json_object_array_length(v);

	if (buf_put(b, "[", 1, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (i && buf_put(b, ",", 1, err) < 0)
			return -1;
		if (write_value(b, json_object_array_get_idx(v, i), depth + 1, err) < 0)
			return -1;
	}
	return buf_put(b, "]", 1, err);
}

static int write_value(struct buf *b, const struct json_object *v, int depth, struct cf_err *err)
{
	enum json_type t = json_object_get_type(v);

	if ((t == json_type_object || t == json_type_array) && depth >= CANON_MAX_DEPTH)
		return cf_err_set(err, "objects and arrays nest deeper than %d levels",
				  CANON_MAX_DEPTH);
	switch (t) {
	case json_type_null:
		return buf_put(b, "null", 4, err);
	case json_type_boolean:
		return buf_puts(b, json_object_get_boolean(v) ? "true" : "false", err);
	case json_type_int:
		return write_int(b, v, err);
	case json_type_double:
		return write_double(b, json_object_get_double(v), err);
	case json_type_string:
		/* get_string only reads a string object, but json-c declares it non-const. */
		return write_string(b, json_object_get_string((struct json_object *)v),
				    (size_t)json_object_get_string_len(v), err);
	case json_type_object:
		return write_object(b, v, depth, err);
	case json_type_array:
		return write_array(b, v, depth, err);
	}
	return cf_err_set(err, "json-c value of unknown type %d", (int)t);
}

int canon_json(const struct json_object *v, char **out, size_t *len, struct cf_err *err)
{
	struct buf b = { 0 };

	*out = NULL;
	if (write_value(&b, v, 0, err) < 0) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	if (len)
		*len = b.len;
	return 0;
}

void canon_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	/* Only an allocation failure inside OpenSSL gets here. The API has no error path, and a
	 * made-up digest could let two machines agree on state they do not share, so stop. */
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		abort();
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int canon_json_sha256(const struct json_object *v, char out[65], struct cf_err *err)
{
	char *s = NULL;
	size_t len = 0;

	if (canon_json(v, &s, &len, err) < 0)
		return -1;
	canon_sha256_hex(s, len, out);
	free(s);
	return 0;
}
