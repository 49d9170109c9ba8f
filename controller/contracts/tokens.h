/* tokens: the bearer tokens a server accepts while tokens rotate: the files current, next and
 * optionally prev (or DIR/token.current, DIR/token.next, DIR/token.prev). Each file holds one
 * token; surrounding white space is trimmed; a missing or empty file accepts nothing; a file
 * over TOKENS_FILE_MAX bytes, with white space or control bytes inside its token, or readable
 * or writable by other users (mode & 0006) is refused and accepts nothing; a file its group may
 * read is accepted with a warning in the log. A server must accept something: opening fails
 * when no file holds a token, and a later check that finds none keeps the tokens accepted
 * before it (logged once, and reported by tokens_status) until a file holds one again, so a
 * deleted or emptied file never locks every client out. The files are checked for change
 * (inode, size, mtime, ctime) at most once per recheck interval, under a mutex, so checks may run
 * from several threads. Comparisons run in constant time over every accepted token. Token
 * values never appear in any message. */
#ifndef CLAWFLEET_TOKENS_H
#define CLAWFLEET_TOKENS_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define TOKENS_FILE_MAX 4096
/* The one body of every 401, whatever failed, so a client learns nothing from it. */
#define TOKENS_UNAUTHORIZED_BODY "{\"error\":\"unauthorized\"}"

struct tokens;

struct tokens_config {
	const char *current;	/* token file paths; NULL for none */
	const char *next;
	const char *prev;
	const char *dir;	/* or a directory of token.current, token.next, token.prev */
	unsigned int recheck_ms;	/* how often files are checked for change; 0: every check */
};

#define TOKENS_CONFIG_INIT { .recheck_ms = 1000 }

/* Reads the files once; fails when a present file is refused or unreadable, naming it, or when
 * no file holds a token, naming them all. */
int tokens_open(struct tokens **out, const struct tokens_config *cfg, struct cf_err *err);
void tokens_free(struct tokens *set);

/* True when authorization is "Bearer <token>" (scheme in any case, RFC 6750: one or more
 * spaces, then the token) and the token is one of those accepted. NULL is false. */
bool tokens_check_bearer(struct tokens *set, const char *authorization);
/* True when signature is "sha256=<hex>" or "sha512=<hex>" (Flux's generic-hmac X-Signature)
 * and equals the HMAC of body keyed with one of the accepted tokens. */
bool tokens_check_hmac(struct tokens *set, const char *signature, const void *body, size_t len);
/* 0 when every configured file was read cleanly at the last check (missing or empty counts as
 * clean) and one of them holds a token; otherwise -1 with the first refused file named, or the
 * tokens held over from an earlier reading, to explain a 401 to an operator. */
int tokens_status(struct tokens *set, struct cf_err *err);
/* Checks the files now, whatever the recheck interval: for a server that just wrote one. */
void tokens_recheck(struct tokens *set);

#endif
