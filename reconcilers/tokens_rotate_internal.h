/* tokens_rotate_internal: private to tokens_rotate.c (the token files and the three steps),
 * tokens_rotate_audit.c (the audit file: its lines, and the last promote read back from it) and
 * tokens_rotate_passes.c (asking a running controller for green passes); nothing else includes
 * it. */
#ifndef CLAWFLEET_TOKENS_ROTATE_INTERNAL_H
#define CLAWFLEET_TOKENS_ROTATE_INTERNAL_H
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/sha.h>

#include "base/err.h"
#include "reconcilers/tokens_rotate.h"

struct token_file {
	char path[PATH_MAX];
	bool present;		/* the file exists */
	bool has_token;		/* and holds a token the runtime accepts */
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char sha8[9];		/* first 8 hex digits of the digest; "" without a token */
};

/* One run on one directory, holding its lock. */
struct rotation {
	const struct tokens_rotate_opts *o;
	char dir[PATH_MAX];	/* absolute, as recorded in the audit file */
	char audit[PATH_MAX];
	const char *node;	/* the MacNode a fleet step was taken on; NULL: none */
	int dir_fd;
	struct token_file current, next, prev;
};

struct promote_record {
	bool found;
	int64_t ts_ms;
	char sha8[9];
};

/* Fails, before anything changes, when r's actor, ticket or directory cannot go into an audit
 * line. */
int rotation_audit_probe(const struct rotation *r, struct cf_err *err);
/* One line, one write on an O_APPEND descriptor, fsynced (and the directory too when the file
 * is new) before the step counts as recorded. */
int rotation_audit_append(const struct rotation *r, const char *action, const char *outcome,
			  const char *reason, const char *sha8, struct cf_err *err);
/* Records a refusal and returns TOKENS_ROTATE_REFUSED with the reason in err, or -1 when even
 * the record could not be written. */
int rotation_refuse(const struct rotation *r, const char *action, const char *sha8,
		    struct cf_err *err);
/* The last successful promote of this directory in the audit file. Lines that are not JSON (a
 * torn last line, a hand edit) are skipped: the overlap counts from a promote that is there. */
int rotation_last_promote(const struct rotation *r, struct promote_record *out,
			  struct cf_err *err);

/* Whether the controller r names (o->controller) reports two green passes since promote_ms: 0,
 * or TOKENS_ROTATE_REFUSED with the reason in why, an unreachable controller included. */
int rotation_controller_green(const struct rotation *r, int64_t promote_ms, struct cf_err *why);

#endif
