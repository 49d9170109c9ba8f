#include "reconcilers/lockcheck.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "source/treefiles.h"

#define PRODUCT "OpenClaw "
/* How much of unparseable output an error quotes. */
#define QUOTE_MAX 80

int lockcheck_file_sha256(const char *infra_path, char out[65], struct cf_err *err)
{
	char path[PATH_MAX];
	char *data = NULL;
	size_t len = 0;

	out[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/openclaw.lock", infra_path) >= (int)sizeof(path))
		return cf_err_set(err, "%s: path too long", infra_path);
	if (fsutil_read_file(path, TREEFILES_MAX_FILE, &data, &len, err) < 0)
		return cf_err_prefix(err, "reading the lock file");
	canon_sha256_hex(data, len, out);
	free(data);
	return 0;
}

/* Digits without a leading zero (other than "0" itself); returns the length taken, 0 if none. */
static size_t number_len(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && i < 9 && isdigit((unsigned char)s[i]))
		i++;
	if (i == 0 || (i > 1 && s[0] == '0') || (i < n && isdigit((unsigned char)s[i])))
		return 0;
	return i;
}

/* YYYY.M.PATCH, optionally "-beta.N" or "-N": true when s[0..n) is exactly that. */
static bool is_calendar_version(const char *s, size_t n)
{
	size_t i = 0;
	for (int part = 0; part < 3; part++) {
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		size_t k = number_len(s + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	if (i == n)
		return true;
	if (s[i++] != '-')
		return false;
	if (n - i > 5 && memcmp(s + i, "beta.", 5) == 0)
		i += 5;
	size_t k = number_len(s + i, n - i);
	return k && i + k == n;
}

static bool is_hex_commit(const char *s, size_t n)
{
	if (n < 7 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int unparseable(const char *line, size_t n, struct cf_err *err)
{
	char quoted[QUOTE_MAX + 1];
	size_t q = n < QUOTE_MAX ? n : QUOTE_MAX;
	for (size_t i = 0; i < q; i++)
		quoted[i] = isprint((unsigned char)line[i]) ? line[i] : '?';
	quoted[q] = '\0';
	return cf_err_set(err,
			  "openclaw --version printed \"%s%s\", "
			  "not \"OpenClaw <version> (<commit>)\"",
			  quoted, n > QUOTE_MAX ? "..." : "");
}

int lockcheck_parse_version(const char *output, size_t len, struct openclaw_version *out,
			    struct cf_err *err)
{
	memset(out, 0, sizeof(*out));
	if (len > LOCKCHECK_OUTPUT_MAX)
		return cf_err_set(err, "openclaw --version printed %zu bytes, more than a version",
				  len);
	size_t start = 0, end = len;
	while (start < end && isspace((unsigned char)output[start]))
		start++;
	while (end > start && isspace((unsigned char)output[end - 1]))
		end--;
	if (start == end)
		return cf_err_set(err, "openclaw --version printed nothing");
	const char *line = output + start;
	size_t n = end - start;
	const char *nl = memchr(line, '\n', n);
	if (nl || memchr(line, '\0', n))
		return unparseable(line, nl ? (size_t)(nl - line) : n, err);

	size_t i = 0;
	if (n > strlen(PRODUCT) && strncasecmp(line, PRODUCT, strlen(PRODUCT)) == 0)
		i = strlen(PRODUCT);
	size_t vstart = i;
	while (i < n && line[i] != ' ')
		i++;
	size_t vlen = i - vstart;
	if (vlen >= sizeof(out->version) || !is_calendar_version(line + vstart, vlen))
		return unparseable(line, n, err);
	if (i < n) {
		/* " (<hex>)" and nothing after it. */
		if (n - i < 4 || line[i + 1] != '(' || line[n - 1] != ')')
			return unparseable(line, n, err);
		size_t cstart = i + 2, clen = n - cstart - 1;
		if (!is_hex_commit(line + cstart, clen))
			return unparseable(line, n, err);
		for (size_t k = 0; k < clen; k++)
			out->commit[k] = (char)tolower((unsigned char)line[cstart + k]);
	}
	memcpy(out->version, line + vstart, vlen);
	return 0;
}

bool lockcheck_matches(const struct openclaw_version *v, const struct openclaw_lock *lock,
		       char reason[LOCKCHECK_REASON_MAX])
{
	reason[0] = '\0';
	if (!lock->version) {
		snprintf(reason, LOCKCHECK_REASON_MAX, "openclaw.lock pins no openclaw.version");
		return false;
	}
	if (strcmp(v->version, lock->version) != 0) {
		snprintf(reason, LOCKCHECK_REASON_MAX,
			 "openclaw --version reports %s, openclaw.lock pins %s", v->version,
			 lock->version);
		return false;
	}
	if (v->commit[0] && lock->commit) {
		size_t a = strlen(v->commit), b = strlen(lock->commit);
		if (strncasecmp(v->commit, lock->commit, a < b ? a : b) != 0) {
			snprintf(reason, LOCKCHECK_REASON_MAX,
				 "openclaw --version reports %s (%s), openclaw.lock pins %s (%s)",
				 v->version, v->commit, lock->version, lock->commit);
			return false;
		}
	}
	return true;
}
