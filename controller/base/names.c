#include "base/names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DNS_LABEL_MAX 63
#define DNS_SUBDOMAIN_MAX 253
/* Room for a quoted name of QUOTE_SHOWN bytes, each escaped to at most four characters. */
#define QUOTE_SHOWN 80
#define QUOTE_BUF (QUOTE_SHOWN * 4 + 8)

/* Names come from Git, so a hostile one could carry escape sequences or newlines into logs and
 * status messages: the quoted form escapes them and cuts very long names short. */
static const char *quote(const char *s, char *buf)
{
	size_t n = 0;
	buf[n++] = '"';
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == QUOTE_SHOWN) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(buf + n, 5, "\\x%02x", c);
		else if (c == '"' || c == '\\')
			n += (size_t)snprintf(buf + n, 3, "\\%c", c);
		else
			buf[n++] = (char)c;
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* An RFC 1123 label's alphabet and shape, without the length limit. */
static bool label_shape_ok(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

int name_check_dns_label(const char *s, struct cf_err *err)
{
	char q[QUOTE_BUF];
	size_t n = strlen(s);
	if (n == 0)
		return cf_err_set(err, "\"\": a DNS label must not be empty");
	if (n > DNS_LABEL_MAX)
		return cf_err_set(err, "%s: a DNS label is at most %d characters, not %zu", quote(s, q),
				  DNS_LABEL_MAX, n);
	if (!label_shape_ok(s, n))
		return cf_err_set(err,
				  "%s: must be a DNS label: lower-case letters, digits and \"-\", starting and ending with a letter or digit",
				  quote(s, q));
	return 0;
}

/* Kubernetes checks object names against the label alphabet per dot-separated part but does not
 * cap a part at 63 characters, so neither do we: a name the API server takes is accepted. */
int name_check_dns_subdomain(const char *s, struct cf_err *err)
{
	char q[QUOTE_BUF];
	size_t n = strlen(s);
	if (n == 0)
		return cf_err_set(err, "\"\": a name must not be empty");
	if (n > DNS_SUBDOMAIN_MAX)
		return cf_err_set(err, "%s: a name is at most %d characters, not %zu", quote(s, q),
				  DNS_SUBDOMAIN_MAX, n);
	for (const char *p = s;;) {
		size_t len = strcspn(p, ".");
		if (!label_shape_ok(p, len))
			return cf_err_set(err,
					  "%s: must be a DNS subdomain: dot-separated parts of lower-case letters, digits and \"-\", each starting and ending with a letter or digit",
					  quote(s, q));
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static const char *forbidden_ref_char(unsigned char c)
{
	static const char *const names[] = {
		[' '] = "a space", ['~'] = "\"~\"", ['^'] = "\"^\"", [':'] = "\":\"",
		['?'] = "\"?\"",   ['*'] = "\"*\"", ['['] = "\"[\"", ['\\'] = "\"\\\"",
	};
	if (is_control(c))
		return "control characters";
	return c < sizeof(names) / sizeof(names[0]) ? names[c] : NULL;
}

/* Components are the "/"-separated parts; the empty ones are refused before this runs. */
static int check_ref_components(const char *s, const char *what, struct cf_err *err)
{
	char q[QUOTE_BUF];
	for (const char *p = s;;) {
		size_t len = strcspn(p, "/");
		if (p[0] == '.')
			return cf_err_set(err, "%s: no \"/\"-separated part of a %s may start with \".\"",
					  quote(s, q), what);
		if (len >= 5 && !memcmp(p + len - 5, ".lock", 5))
			return cf_err_set(err, "%s: no \"/\"-separated part of a %s may end with \".lock\"",
					  quote(s, q), what);
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* The checks of git's check_refname_format(); "-" first is ours, since such a name passed to a
 * git command line would read as an option, and "@" alone is refused because git reads it as
 * HEAD wherever a revision is expected. */
static int check_ref(const char *s, const char *what, struct cf_err *err)
{
	char q[QUOTE_BUF];
	size_t n = strlen(s);
	if (n == 0)
		return cf_err_set(err, "\"\": a %s must not be empty", what);
	if (s[0] == '-')
		return cf_err_set(err, "%s: a %s must not start with \"-\"", quote(s, q), what);
	if (!strcmp(s, "@"))
		return cf_err_set(err, "\"@\": a %s must not be \"@\"", what);
	for (size_t i = 0; i < n; i++) {
		const char *bad = forbidden_ref_char((unsigned char)s[i]);
		if (bad)
			return cf_err_set(err, "%s: a %s must not contain %s", quote(s, q), what, bad);
	}
	if (strstr(s, ".."))
		return cf_err_set(err, "%s: a %s must not contain \"..\"", quote(s, q), what);
	if (strstr(s, "@{"))
		return cf_err_set(err, "%s: a %s must not contain \"@{\"", quote(s, q), what);
	if (s[0] == '/')
		return cf_err_set(err, "%s: a %s must not start with \"/\"", quote(s, q), what);
	if (s[n - 1] == '/')
		return cf_err_set(err, "%s: a %s must not end with \"/\"", quote(s, q), what);
	if (strstr(s, "//"))
		return cf_err_set(err, "%s: a %s must not contain \"//\"", quote(s, q), what);
	if (s[n - 1] == '.')
		return cf_err_set(err, "%s: a %s must not end with \".\"", quote(s, q), what);
	return check_ref_components(s, what, err);
}

int name_check_git_tag(const char *s, struct cf_err *err)
{
	return check_ref(s, "tag", err);
}

int name_check_git_ref(const char *s, struct cf_err *err)
{
	return check_ref(s, "ref", err);
}

/* Empty components are refused by the callers, which can say why. */
static int check_component(const char *whole, const char *s, size_t n, struct cf_err *err)
{
	char q[QUOTE_BUF];
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return cf_err_set(err, "%s: \"%.*s\" is not allowed as a path component", quote(whole, q),
				  (int)n, s);
	for (size_t i = 0; i < n; i++)
		if (is_control((unsigned char)s[i]))
			return cf_err_set(err, "%s: a path must not contain control characters",
					  quote(whole, q));
	return 0;
}

int name_check_path_component(const char *s, struct cf_err *err)
{
	char q[QUOTE_BUF];
	if (!*s)
		return cf_err_set(err, "\"\": a path component must not be empty");
	if (strchr(s, '/'))
		return cf_err_set(err, "%s: a path component must not contain \"/\"", quote(s, q));
	return check_component(s, s, strlen(s), err);
}

int name_check_relative_path(const char *s, struct cf_err *err)
{
	char q[QUOTE_BUF];
	size_t n = strlen(s);
	if (n == 0)
		return cf_err_set(err, "\"\": a path must not be empty");
	if (s[0] == '/')
		return cf_err_set(err, "%s: a path must be relative, not start with \"/\"", quote(s, q));
	if (s[n - 1] == '/')
		return cf_err_set(err, "%s: a path must not end with \"/\"", quote(s, q));
	if (strstr(s, "//"))
		return cf_err_set(err, "%s: a path must not contain \"//\"", quote(s, q));
	for (const char *p = s;;) {
		size_t len = strcspn(p, "/");
		if (check_component(s, p, len, err) < 0)
			return -1;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* Where a word starts: after a separator, at a lower-to-upper hump ("apiKey"), or at the last
 * capital of an acronym followed by lower case ("APIKey" -> "API", "Key"). */
static bool word_starts_at(const char *s, size_t i)
{
	if (i == 0)
		return true;
	if (!is_upper(s[i]))
		return false;
	if (is_lower(s[i - 1]) || is_digit(s[i - 1]))
		return true;
	return is_upper(s[i - 1]) && is_lower(s[i + 1]);
}

static bool is_word_sep(char c)
{
	return c == '-' || c == '_' || c == '.';
}

struct word {
	const char *s;
	size_t n;
};

static bool word_is(struct word w, const char *text)
{
	return w.n == strlen(text) && !strncasecmp(w.s, text, w.n);
}

bool name_is_secret_key(const char *key)
{
	static const char *const last_words[] = {
		"token", "secret", "password", "passwd", "bearer", "credential", "credentials",
	};
	static const char *const last_pairs[][2] = {
		{ "private", "key" }, { "api", "key" }, { "access", "key" }, { "secret", "key" },
	};
	struct word prev = { NULL, 0 }, last = { NULL, 0 };
	for (size_t i = 0; key[i];) {
		if (is_word_sep(key[i])) {
			i++;
			continue;
		}
		size_t j = i + 1;
		while (key[j] && !is_word_sep(key[j]) && !word_starts_at(key, j))
			j++;
		prev = last;
		last = (struct word){ key + i, j - i };
		i = j;
	}
	if (!last.s)
		return false;
	for (size_t i = 0; i < sizeof(last_words) / sizeof(last_words[0]); i++)
		if (word_is(last, last_words[i]))
			return true;
	if (!prev.s)
		return false;
	for (size_t i = 0; i < sizeof(last_pairs) / sizeof(last_pairs[0]); i++)
		if (word_is(prev, last_pairs[i][0]) && word_is(last, last_pairs[i][1]))
			return true;
	return false;
}

/* A PEM header "-----BEGIN <label>-----" whose label, on one line, ends in "PRIVATE KEY":
 * RSA, EC, OPENSSH, ENCRYPTED and plain PKCS#8 keys all take that form. */
static bool has_pem_private_key(const char *v)
{
	static const char begin[] = "-----BEGIN ", suffix[] = "PRIVATE KEY";
	const size_t nbegin = sizeof(begin) - 1, nsuffix = sizeof(suffix) - 1;
	for (const char *p = strstr(v, begin); p; p = strstr(p + 1, begin)) {
		const char *label = p + nbegin;
		const char *end = strstr(label, "-----");
		if (!end || memchr(label, '\n', (size_t)(end - label)))
			continue;
		if ((size_t)(end - label) >= nsuffix && !memcmp(end - nsuffix, suffix, nsuffix))
			return true;
	}
	return false;
}

/* "Bearer" then spaces then a credential (RFC 6750); the scheme name is case-insensitive. */
static bool is_bearer(const char *v)
{
	if (strncasecmp(v, "bearer", 6) || (v[6] != ' ' && v[6] != '\t'))
		return false;
	v += 6;
	while (*v == ' ' || *v == '\t')
		v++;
	return *v && !is_control((unsigned char)*v);
}

bool name_is_secret_value(const char *value)
{
	return has_pem_private_key(value) || is_bearer(value);
}
