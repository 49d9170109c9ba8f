/* names: checks for every name that comes from Git and later becomes a path, a ref or a label,
 * applied before the name is used. Each returns 0 when acceptable, else -1 with a message that
 * says what rule the name breaks. Nothing here touches the filesystem. */
#ifndef CLAWFLEET_NAMES_H
#define CLAWFLEET_NAMES_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* RFC 1123 label: 1-63 of [a-z0-9-], starting and ending alphanumeric (node, tenant names). */
int name_check_dns_label(const char *s, struct cf_err *err);
/* A Kubernetes object name: RFC 1123 subdomain, at most 253 characters. */
int name_check_dns_subdomain(const char *s, struct cf_err *err);
/* A git tag: the rules of `git check-ref-format` for refs/tags/<s>, and never starting with "-". */
int name_check_git_tag(const char *s, struct cf_err *err);
/* A git branch or full ref name ("main", "refs/heads/main"): same rules, "-" first refused. */
int name_check_git_ref(const char *s, struct cf_err *err);
/* A single path component: no "/", not "." or "..", no NUL or control characters, not empty. */
int name_check_path_component(const char *s, struct cf_err *err);
/* A relative path inside a root: components as above joined by "/", no leading "/". */
int name_check_relative_path(const char *s, struct cf_err *err);
/* True when a map key names a credential. The key is split into words at "-", "_", "." and
 * camelCase humps; it is a credential when its last word is token, secret, password, passwd,
 * bearer, credential or credentials, or its last two words are private key, api key, access key
 * or secret key. So "token", "apiKey", "db_password", "privateKey" are; "maxTokens",
 * "tokenFile", "secretRef" (references, counts) are not. */
bool name_is_secret_key(const char *key);
/* True when a string value is itself a credential: a PEM private key block or "Bearer <x>". */
bool name_is_secret_value(const char *value);

#endif
