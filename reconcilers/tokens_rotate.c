/* The rotation's steps on disk: reading token.current, token.next and token.prev under the
 * directory's lock, and stage, promote and revoke with the rules tokens_rotate.h states. Each
 * step's audit line is tokens_rotate_audit.c's; revoke's question to a running controller is
 * tokens_rotate_passes.c's. */
#include "base/compat.h"
#include "reconcilers/tokens_rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base/fsutil.h"
#include "base/timeparse.h"
#include "contracts/tokens.h"
#include "reconcilers/tokens_rotate_internal.h"

#define RANDOM_TOKEN_BYTES 32

/* The runtime's rules (tokens.h): blanks around a token are trimmed, none may be inside. */
static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const unsigned char **start, size_t *len)
{
	const unsigned char *s = *start, *end = s + *len;
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	*start = s;
	*len = (size_t)(end - s);
}

static bool token_bytes_ok(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static void digest_token(const unsigned char *token, size_t len, struct token_file *tf)
{
	SHA256(token, len, tf->digest);
	for (int i = 0; i < 4; i++)
		snprintf(tf->sha8 + 2 * i, 3, "%02x", tf->digest[i]);
	tf->has_token = true;
}

static bool same_token(const struct token_file *a, const struct token_file *b)
{
	return a->has_token && b->has_token &&
	       CRYPTO_memcmp(a->digest, b->digest, sizeof(a->digest)) == 0;
}

static int token_file_load(struct token_file *tf, const char *dir, const char *name,
			   struct cf_err *err)
{
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	int rc = -1;

	memset(tf, 0, sizeof(*tf));
	if (snprintf(tf->path, sizeof(tf->path), "%s/%s", dir, name) >= (int)sizeof(tf->path))
		return cf_err_set(err, "%s/%s: path too long", dir, name);
	if (stat(tf->path, &st) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "token file %s", tf->path);
	tf->present = true;
	if (!S_ISREG(st.st_mode))
		return cf_err_set(err, "token file %s: not a regular file", tf->path);
	if (fsutil_read_file(tf->path, TOKENS_FILE_MAX, &data, &len, err) < 0)
		return cf_err_prefix(err, "token file");
	const unsigned char *token = (const unsigned char *)data;
	size_t n = len;
	trim(&token, &n);
	if (n && !token_bytes_ok(token, n)) {
		cf_err_set(err,
			   "token file %s: white space or control characters inside the token; the "
			   "servers accept nothing from it, fix it before rotating",
			   tf->path);
		goto done;
	}
	if (n)
		digest_token(token, n, tf);
	rc = 0;
done:
	OPENSSL_cleanse(data, len);
	free(data);
	return rc;
}

static int check_label(const char *what, const char *s, size_t max, struct cf_err *err)
{
	if (!s || !*s)
		return cf_err_set(err, "%s is required: who rotates and under which ticket are "
				       "audited",
				  what);
	size_t len = strnlen(s, max);
	if (len >= max)
		return cf_err_set(err, "%s is longer than %zu bytes", what, max - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return cf_err_set(err, "%s holds a control character", what);
	return 0;
}

static void rotation_close(struct rotation *r)
{
	if (r->dir_fd >= 0)
		close(r->dir_fd);
	r->dir_fd = -1;
}

static int rotation_open(struct rotation *r, const struct tokens_rotate_opts *o, bool create,
			 struct cf_err *err)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	r->dir_fd = -1;
	if (!o->dir || !*o->dir)
		return cf_err_set(err, "the token directory (--dir) is required");
	if (check_label("--actor", o->actor, TOKENS_ROTATE_ACTOR_MAX, err) < 0 ||
	    check_label("--ticket", o->ticket, TOKENS_ROTATE_TICKET_MAX, err) < 0)
		return -1;
	if (o->now_ms < 0)
		return cf_err_set(err, "the clock is before 1970");
	if (create && fsutil_mkdir_p(o->dir, 0700, err) < 0)
		return -1;
	if (!realpath(o->dir, r->dir))
		return cf_err_errno(err, "token directory %s", o->dir);
	int n = o->audit ? snprintf(r->audit, sizeof(r->audit), "%s", o->audit)
			 : snprintf(r->audit, sizeof(r->audit), "%s/rotation.jsonl", r->dir);
	if (n < 0 || (size_t)n >= sizeof(r->audit))
		return cf_err_set(err, "audit file path too long");

	/* A line that cannot be recorded must fail before anything changes, not after. */
	if (rotation_audit_probe(r, err) < 0)
		return -1;

	r->dir_fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dir_fd < 0)
		return cf_err_errno(err, "token directory %s", r->dir);
	if (flock(r->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			cf_err_set(err, "another clawfleet token is rotating %s; try again when it "
					"is done", r->dir);
		else
			cf_err_errno(err, "locking %s", r->dir);
		rotation_close(r);
		return -1;
	}
	if (token_file_load(&r->current, r->dir, "token.current", err) < 0 ||
	    token_file_load(&r->next, r->dir, "token.next", err) < 0 ||
	    token_file_load(&r->prev, r->dir, "token.prev", err) < 0) {
		rotation_close(r);
		return -1;
	}
	return 0;
}

static int sync_dir(const struct rotation *r, struct cf_err *err)
{
	if (compat_fsync(r->dir_fd) < 0)
		return cf_err_errno(err, "fsync %s", r->dir);
	return 0;
}

static int random_token(char out[2 * RANDOM_TOKEN_BYTES + 1], struct cf_err *err)
{
	unsigned char raw[RANDOM_TOKEN_BYTES];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return cf_err_set(err, "the system random generator failed; no token staged");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int tokens_rotate_stage(const struct tokens_rotate_opts *o, struct cf_err *done_msg,
			struct cf_err *err)
{
	struct rotation r;
	struct token_file staged = {0};
	char generated[2 * RANDOM_TOKEN_BYTES + 1];
	const unsigned char *token = NULL;
	size_t len = 0;
	int rc = -1;

	if (o->token) {
		if (o->token_len > TOKENS_ROTATE_INPUT_MAX)
			return cf_err_set(err, "the token given is over %d bytes", TOKENS_FILE_MAX);
		token = (const unsigned char *)o->token;
		len = o->token_len;
		trim(&token, &len);
		if (len == 0)
			return cf_err_set(err, "the token given is empty");
		if (len > TOKENS_FILE_MAX)
			return cf_err_set(err, "the token given is over %d bytes", TOKENS_FILE_MAX);
		if (!token_bytes_ok(token, len))
			return cf_err_set(err, "the token given has white space or control "
					       "characters inside; a bearer token cannot carry "
					       "them");
	}
	if (rotation_open(&r, o, true, err) < 0)
		return -1;
	if (!o->token) {
		if (random_token(generated, err) < 0)
			goto done;
		token = (const unsigned char *)generated;
		len = sizeof(generated) - 1;
	}
	digest_token(token, len, &staged);
	if (r.next.present && !o->force) {
		cf_err_set(err,
			   "%s already exists (sha256 %s); promote it, or give --force to replace "
			   "it (clients already using it would be refused)",
			   r.next.path, r.next.sha8);
		rc = rotation_refuse(&r, "stage", r.next.sha8, err);
		goto done;
	}
	if (same_token(&staged, &r.current) || same_token(&staged, &r.prev)) {
		cf_err_set(err, "the token given is the one in %s; a rotation needs a new token",
			   same_token(&staged, &r.current) ? r.current.path : r.prev.path);
		rc = rotation_refuse(&r, "stage", staged.sha8, err);
		goto done;
	}
	/* The file holds the token alone, so a token of TOKENS_FILE_MAX bytes fits it. */
	if (fsutil_write_atomic(r.next.path, token, len, 0600, err) < 0)
		goto done;
	if (rotation_audit_append(&r, "stage", "ok", "", staged.sha8, err) < 0) {
		cf_err_prefix(err, "%s was staged but not audited", r.next.path);
		goto done;
	}
	cf_err_set(done_msg, "staged %s (sha256 %s)", r.next.path, staged.sha8);
	rc = 0;
done:
	OPENSSL_cleanse(generated, sizeof(generated));
	rotation_close(&r);
	return rc;
}

/* Copies token.current to token.prev through a temporary file, so token.prev is whole. */
static int keep_current_as_prev(const struct rotation *r, struct cf_err *err)
{
	char *data = NULL;
	size_t len = 0;
	if (fsutil_read_file(r->current.path, TOKENS_FILE_MAX, &data, &len, err) < 0)
		return -1;
	int rc = fsutil_write_atomic(r->prev.path, data, len, 0600, err);
	OPENSSL_cleanse(data, len);
	free(data);
	return rc;
}

int tokens_rotate_promote(const struct tokens_rotate_opts *o, struct cf_err *done_msg,
			  struct cf_err *err)
{
	struct rotation r;
	struct promote_record last;
	int rc = -1;

	if (rotation_open(&r, o, false, err) < 0)
		return -1;
	if (!r.next.present) {
		if (rotation_last_promote(&r, &last, err) < 0)
			goto done;
		/* A promote that renamed but crashed before its audit line, or a rotation done
		 * by hand: revoke needs its time, so it is recorded now, later than it happened. */
		if (r.prev.present && r.current.has_token &&
		    (!last.found || strcmp(last.sha8, r.current.sha8) != 0)) {
			if (rotation_audit_append(&r, "promote", "ok",
						  "recorded after an interrupted promote",
						  r.current.sha8, err) < 0)
				goto done;
			cf_err_set(done_msg,
				   "recorded the promote of %s (sha256 %s), which no audit line "
				   "held; the overlap counts from now",
				   r.current.path, r.current.sha8);
			rc = 0;
			goto done;
		}
		cf_err_set(err, "no %s to promote; stage one first", r.next.path);
		rc = rotation_refuse(&r, "promote", "", err);
		goto done;
	}
	if (!r.next.has_token) {
		cf_err_set(err, "%s is empty; stage a token first", r.next.path);
		rc = rotation_refuse(&r, "promote", "", err);
		goto done;
	}
	bool resuming = same_token(&r.prev, &r.current);
	if (r.prev.has_token && !resuming) {
		cf_err_set(err,
			   "%s (sha256 %s) from the last promote is still accepted; revoke it "
			   "first (clawfleet token revoke), once its overlap has passed",
			   r.prev.path, r.prev.sha8);
		rc = rotation_refuse(&r, "promote", r.next.sha8, err);
		goto done;
	}
	/* The old token stays accepted as token.prev before token.current changes: at every
	 * instant both the old and the new token are accepted. */
	if (r.current.has_token && !resuming && keep_current_as_prev(&r, err) < 0)
		goto done;
	if (rename(r.next.path, r.current.path) < 0) {
		cf_err_errno(err, "renaming %s to %s", r.next.path, r.current.path);
		goto done;
	}
	if (sync_dir(&r, err) < 0)
		goto done;
	if (rotation_audit_append(&r, "promote", "ok", "", r.next.sha8, err) < 0) {
		cf_err_prefix(err, "promoted but not audited (run promote again to record it)");
		goto done;
	}
	if (r.current.has_token)
		cf_err_set(done_msg, "promoted sha256 %s to %s; the old token (sha256 %s) stays "
				     "accepted as %s until revoke",
			   r.next.sha8, r.current.path, r.current.sha8, r.prev.path);
	else
		cf_err_set(done_msg, "promoted sha256 %s to %s", r.next.sha8, r.current.path);
	rc = 0;
done:
	rotation_close(&r);
	return rc;
}

int tokens_rotate_revoke(const struct tokens_rotate_opts *o, struct cf_err *done_msg,
			 struct cf_err *err)
{
	struct rotation r;
	struct promote_record last;
	int64_t overlap = o->overlap_ms ? o->overlap_ms : TOKENS_ROTATE_OVERLAP_DEFAULT_MS;
	char overlap_text[32], promoted[RFC3339_MS_MAX], ends[RFC3339_MS_MAX], left[32];
	int rc = -1;

	duration_format(overlap, overlap_text, sizeof(overlap_text));
	if (overlap < TOKENS_ROTATE_OVERLAP_MIN_MS)
		return cf_err_set(err, "an overlap of %s is below the 1m minimum", overlap_text);
	if (rotation_open(&r, o, false, err) < 0)
		return -1;
	if (!r.prev.present) {
		cf_err_set(err, "no %s: nothing to revoke", r.prev.path);
		rc = rotation_refuse(&r, "revoke", "", err);
		goto done;
	}
	if (rotation_last_promote(&r, &last, err) < 0)
		goto done;
	if (!last.found) {
		cf_err_set(err, "%s records no promote of %s, so the overlap cannot be counted; "
				"run clawfleet token promote to record it",
			   r.audit, r.dir);
		rc = rotation_refuse(&r, "revoke", r.prev.sha8, err);
		goto done;
	}
	if (!r.current.has_token || strcmp(last.sha8, r.current.sha8) != 0) {
		cf_err_set(err,
			   "%s (sha256 %s) is not the token the last recorded promote installed "
			   "(sha256 %s); run clawfleet token promote to record it",
			   r.current.path, r.current.has_token ? r.current.sha8 : "none",
			   last.sha8);
		rc = rotation_refuse(&r, "revoke", r.prev.sha8, err);
		goto done;
	}
	if (!o->overlap_counted && o->now_ms - last.ts_ms < overlap) {
		rfc3339_format_ms(last.ts_ms, promoted, sizeof(promoted));
		rfc3339_format_ms(last.ts_ms + overlap, ends, sizeof(ends));
		/* whole seconds, rounded up: "in 1s" rather than "in 0s" or "in 999ms" */
		int64_t left_ms = last.ts_ms + overlap - o->now_ms;
		duration_format((left_ms + 999) / 1000 * 1000, left, sizeof(left));
		cf_err_set(err, "the overlap has not passed: promoted at %s, the %s overlap ends "
				"at %s (in %s)",
			   promoted, overlap_text, ends, left);
		rc = rotation_refuse(&r, "revoke", r.prev.sha8, err);
		goto done;
	}
	if (o->controller) {
		int green = rotation_controller_green(&r, last.ts_ms, err);
		if (green == TOKENS_ROTATE_REFUSED) {
			rc = rotation_refuse(&r, "revoke", r.prev.sha8, err);
			goto done;
		}
		if (green < 0)
			goto done;
	}
	if (unlink(r.prev.path) < 0) {
		cf_err_errno(err, "deleting %s", r.prev.path);
		goto done;
	}
	if (sync_dir(&r, err) < 0)
		goto done;
	if (rotation_audit_append(&r, "revoke", "ok", "", r.prev.sha8, err) < 0) {
		cf_err_prefix(err, "%s was deleted but the revoke was not audited", r.prev.path);
		goto done;
	}
	cf_err_set(done_msg, "revoked %s (sha256 %s); only %s (sha256 %s) is accepted now",
		   r.prev.path, r.prev.sha8, r.current.path, r.current.sha8);
	rc = 0;
done:
	rotation_close(&r);
	return rc;
}

int tokens_rotate_inspect(const struct tokens_rotate_opts *o, struct tokens_rotate_view *out,
			  struct cf_err *err)
{
	struct rotation r = {.o = o, .dir_fd = -1};
	struct promote_record last;

	memset(out, 0, sizeof(*out));
	if (!o->dir || !realpath(o->dir, r.dir))
		return cf_err_errno(err, "token directory %s", o->dir ? o->dir : "(none)");
	int n = o->audit ? snprintf(r.audit, sizeof(r.audit), "%s", o->audit)
			 : snprintf(r.audit, sizeof(r.audit), "%s/rotation.jsonl", r.dir);
	if (n < 0 || (size_t)n >= sizeof(r.audit))
		return cf_err_set(err, "audit file path too long");
	if (token_file_load(&r.current, r.dir, "token.current", err) < 0 ||
	    token_file_load(&r.next, r.dir, "token.next", err) < 0 ||
	    token_file_load(&r.prev, r.dir, "token.prev", err) < 0 ||
	    rotation_last_promote(&r, &last, err) < 0)
		return -1;
	memcpy(out->current, r.current.sha8, sizeof(out->current));
	memcpy(out->next, r.next.sha8, sizeof(out->next));
	memcpy(out->prev, r.prev.sha8, sizeof(out->prev));
	out->promoted = last.found;
	out->promoted_ms = last.ts_ms;
	memcpy(out->promoted_sha, last.sha8, sizeof(out->promoted_sha));
	return 0;
}

int tokens_rotate_audit(const struct tokens_rotate_opts *o, const char *where, const char *node,
			const char *action, const char *outcome, const char *reason,
			const char *sha8, struct cf_err *err)
{
	struct rotation r = {.o = o, .node = node, .dir_fd = -1};
	if (check_label("--actor", o->actor, TOKENS_ROTATE_ACTOR_MAX, err) < 0 ||
	    check_label("--ticket", o->ticket, TOKENS_ROTATE_TICKET_MAX, err) < 0)
		return -1;
	if (!o->audit || snprintf(r.audit, sizeof(r.audit), "%s", o->audit) >= (int)sizeof(r.audit) ||
	    snprintf(r.dir, sizeof(r.dir), "%s", where) >= (int)sizeof(r.dir))
		return cf_err_set(err, "audit file or place name too long");
	if (rotation_audit_probe(&r, err) < 0)
		return -1;
	return rotation_audit_append(&r, action, outcome, reason, sha8, err);
}
