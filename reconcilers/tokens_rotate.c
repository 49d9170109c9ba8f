#include "reconcilers/tokens_rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base/canon.h"
#include "base/fsutil.h"
#include "base/timeparse.h"
#include "contracts/tokens.h"

#define RANDOM_TOKEN_BYTES 32
/* An audit line is a few hundred bytes; longer lines were not written here and are skipped. */
#define AUDIT_LINE_READ_MAX 8192
/* The promote time is read back by scanning the file; past this size, start a new one. */
#define AUDIT_SCAN_MAX (64L << 20)
#define STATUS_JSON_DEPTH 32

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
	int dir_fd;
	struct token_file current, next, prev;
};

struct promote_record {
	bool found;
	int64_t ts_ms;
	char sha8[9];
};

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

static void format_ts(int64_t ms, char out[32])
{
	char secs[32];
	int64_t frac = ms % 1000;
	if (frac < 0)
		frac += 1000;
	rfc3339_format((time_t)((ms - frac) / 1000), secs, sizeof(secs));
	/* "...:SSZ" becomes "...:SS.mmmZ" */
	snprintf(out, 32, "%.19s.%03dZ", secs, (int)frac);
}

/* The inverse of format_ts, also taking an audit line edited by hand (any offset, any
 * fraction: milliseconds are kept, the rest dropped). */
static int parse_ts(const char *s, int64_t *ms, struct cf_err *err)
{
	time_t t;
	if (rfc3339_parse(s, &t, err) < 0)
		return -1;
	int frac = 0;
	int scale = 100;
	for (int i = 20; s[19] == '.' && i < 23 && s[i] >= '0' && s[i] <= '9'; i++) {
		frac += (s[i] - '0') * scale;
		scale /= 10;
	}
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

static struct json_object *audit_object(const struct rotation *r, const char *action,
					const char *outcome, const char *reason, const char *sha8)
{
	char ts[32];
	format_ts(r->o->now_ms, ts);
	struct json_object *v = json_object_new_object();
	if (!v)
		return NULL;
	json_object_object_add(v, "ts", json_object_new_string(ts));
	json_object_object_add(v, "action", json_object_new_string(action));
	json_object_object_add(v, "actor", json_object_new_string(r->o->actor));
	json_object_object_add(v, "ticket", json_object_new_string(r->o->ticket));
	json_object_object_add(v, "dir", json_object_new_string(r->dir));
	json_object_object_add(v, "outcome", json_object_new_string(outcome));
	json_object_object_add(v, "reason", json_object_new_string(reason));
	json_object_object_add(v, "sha256", json_object_new_string(sha8));
	return v;
}

/* One line, one write on an O_APPEND descriptor, fsynced (and the directory too when the file
 * is new) before the step counts as recorded. */
static int audit_append(const struct rotation *r, const char *action, const char *outcome,
			const char *reason, const char *sha8, struct cf_err *err)
{
	struct json_object *v = audit_object(r, action, outcome, reason, sha8);
	char *text = NULL;
	size_t len = 0;
	int fd = -1, rc = -1;
	bool created = false;

	if (!v) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (canon_json(v, &text, &len, err) < 0) {
		cf_err_prefix(err, "audit line");
		goto done;
	}
	text[len] = '\n';
	fd = open(r->audit, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(r->audit, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		cf_err_errno(err, "opening the audit file %s", r->audit);
		goto done;
	}
	ssize_t w;
	do
		w = write(fd, text, len + 1);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)(len + 1) || fsync(fd) < 0) {
		if (w >= 0 && w != (ssize_t)(len + 1))
			errno = ENOSPC;
		cf_err_errno(err, "appending to the audit file %s", r->audit);
		goto done;
	}
	if (created) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", r->audit);
		if (fsutil_fsync_dir(dirname(dir), err) < 0)
			goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(text);
	json_object_put(v);
	return rc;
}

/* Records a refusal and returns TOKENS_ROTATE_REFUSED with the reason in err, or -1 when even
 * the record could not be written. */
static int refuse(const struct rotation *r, const char *action, const char *sha8,
		  struct cf_err *err)
{
	struct cf_err audit_err;
	if (audit_append(r, action, "refused", err->msg, sha8, &audit_err) < 0) {
		char reason[CF_ERR_MSG];
		memcpy(reason, err->msg, sizeof(reason));
		cf_err_set(err, "%s (and the refusal was not audited: %s)", reason, audit_err.msg);
		return -1;
	}
	return TOKENS_ROTATE_REFUSED;
}

static const char *record_field(struct json_object *v, const char *key)
{
	struct json_object *f;
	if (!json_object_object_get_ex(v, key, &f) || !json_object_is_type(f, json_type_string))
		return NULL;
	return json_object_get_string(f);
}

/* Reads one line into buf; a longer line is consumed and reported as empty. Returns false at
 * the end of the file. */
static bool read_line(FILE *f, char *buf, size_t size)
{
	if (!fgets(buf, (int)size, f))
		return false;
	size_t len = strlen(buf);
	if (len && buf[len - 1] == '\n') {
		buf[len - 1] = '\0';
		return true;
	}
	if (feof(f))
		return true;
	int c;
	while ((c = fgetc(f)) != EOF && c != '\n')
		;
	buf[0] = '\0';
	return true;
}

/* The last successful promote of this directory in the audit file. Lines that are not JSON (a
 * torn last line, a hand edit) are skipped: the overlap counts from a promote that is there. */
static int last_promote(const struct rotation *r, struct promote_record *out, struct cf_err *err)
{
	char line[AUDIT_LINE_READ_MAX];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	FILE *f = fopen(r->audit, "re");
	if (!f)
		return errno == ENOENT ? 0
				       : cf_err_errno(err, "reading the audit file %s", r->audit);
	while (read_line(f, line, sizeof(line))) {
		if (ftell(f) > AUDIT_SCAN_MAX) {
			cf_err_set(err,
				   "the audit file %s is over %ld MiB; archive it and start a new "
				   "one holding its last promote line of each directory",
				   r->audit, AUDIT_SCAN_MAX >> 20);
			goto done;
		}
		struct json_object *v = json_tokener_parse(line);
		const char *action = record_field(v, "action");
		const char *outcome = record_field(v, "outcome");
		const char *dir = record_field(v, "dir"), *ts = record_field(v, "ts");
		const char *sha8 = record_field(v, "sha256");
		int64_t ms;
		if (action && outcome && dir && ts && sha8 && strcmp(action, "promote") == 0 &&
		    strcmp(outcome, "ok") == 0 && strcmp(dir, r->dir) == 0 &&
		    parse_ts(ts, &ms, NULL) == 0) {
			out->found = true;
			out->ts_ms = ms;
			snprintf(out->sha8, sizeof(out->sha8), "%s", sha8);
		}
		json_object_put(v);
	}
	if (ferror(f)) {
		cf_err_errno(err, "reading the audit file %s", r->audit);
		goto done;
	}
	rc = 0;
done:
	fclose(f);
	return rc;
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
	struct json_object *probe = audit_object(r, "stage", "ok", "", "");
	char *text = NULL;
	size_t len;
	int rc = probe ? canon_json(probe, &text, &len, err) : cf_err_set(err, "out of memory");
	free(text);
	json_object_put(probe);
	if (rc < 0)
		return cf_err_prefix(err, "--actor, --ticket or --dir cannot be audited");

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
	if (fsync(r->dir_fd) < 0)
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
		rc = refuse(&r, "stage", r.next.sha8, err);
		goto done;
	}
	if (same_token(&staged, &r.current) || same_token(&staged, &r.prev)) {
		cf_err_set(err, "the token given is the one in %s; a rotation needs a new token",
			   same_token(&staged, &r.current) ? r.current.path : r.prev.path);
		rc = refuse(&r, "stage", staged.sha8, err);
		goto done;
	}
	/* The file holds the token alone, so a token of TOKENS_FILE_MAX bytes fits it. */
	if (fsutil_write_atomic(r.next.path, token, len, 0600, err) < 0)
		goto done;
	if (audit_append(&r, "stage", "ok", "", staged.sha8, err) < 0) {
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
		if (last_promote(&r, &last, err) < 0)
			goto done;
		/* A promote that renamed but crashed before its audit line, or a rotation done
		 * by hand: revoke needs its time, so it is recorded now, later than it happened. */
		if (r.prev.present && r.current.has_token &&
		    (!last.found || strcmp(last.sha8, r.current.sha8) != 0)) {
			if (audit_append(&r, "promote", "ok",
					 "recorded after an interrupted promote", r.current.sha8,
					 err) < 0)
				goto done;
			cf_err_set(done_msg,
				   "recorded the promote of %s (sha256 %s), which no audit line "
				   "held; the overlap counts from now",
				   r.current.path, r.current.sha8);
			rc = 0;
			goto done;
		}
		cf_err_set(err, "no %s to promote; stage one first", r.next.path);
		rc = refuse(&r, "promote", "", err);
		goto done;
	}
	if (!r.next.has_token) {
		cf_err_set(err, "%s is empty; stage a token first", r.next.path);
		rc = refuse(&r, "promote", "", err);
		goto done;
	}
	bool resuming = same_token(&r.prev, &r.current);
	if (r.prev.has_token && !resuming) {
		cf_err_set(err,
			   "%s (sha256 %s) from the last promote is still accepted; revoke it "
			   "first (clawfleet token revoke), once its overlap has passed",
			   r.prev.path, r.prev.sha8);
		rc = refuse(&r, "promote", r.next.sha8, err);
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
	if (audit_append(&r, "promote", "ok", "", r.next.sha8, err) < 0) {
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

struct body {
	char *data;
	size_t len;
	bool too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;
	if (n > TOKENS_ROTATE_STATUS_MAX - b->len) {
		b->too_big = true;
		return 0;
	}
	char *grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int fetch_status(const char *base, struct body *b, struct cf_err *err)
{
	char url[2048];
	size_t base_len = strlen(base);
	while (base_len && base[base_len - 1] == '/')
		base_len--;
	if (snprintf(url, sizeof(url), "%.*s/status", (int)base_len, base) >= (int)sizeof(url))
		return cf_err_set(err, "--controller URL too long");

	int rc = -1;
	long status = 0;
	CURL *curl = curl_easy_init();
	if (!curl)
		return cf_err_set(err, "cannot start libcurl");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, TOKENS_ROTATE_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TOKENS_ROTATE_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "clawfleet");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	CURLcode cc = curl_easy_perform(curl);
	if (b->too_big) {
		cf_err_set(err, "%s: the reply is over %u bytes", url, TOKENS_ROTATE_STATUS_MAX);
		goto done;
	}
	if (cc != CURLE_OK) {
		cf_err_set(err, "%s: %s", url, curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		cf_err_set(err, "%s: HTTP status %ld", url, status);
		goto done;
	}
	rc = 0;
done:
	curl_easy_cleanup(curl);
	return rc;
}

struct pass {
	int64_t at_ms;
	bool green;
	bool seen;
};

static int read_pass(struct json_object *entry, size_t i, struct pass *p, struct cf_err *why)
{
	struct json_object *at, *green;
	time_t t;
	if (!json_object_is_type(entry, json_type_object) ||
	    !json_object_object_get_ex(entry, "at", &at) ||
	    !json_object_is_type(at, json_type_string) ||
	    !json_object_object_get_ex(entry, "green", &green) ||
	    !json_object_is_type(green, json_type_boolean))
		return cf_err_set(why, "the controller's passes[%zu] is not {\"at\": RFC 3339, "
				       "\"green\": bool}",
				  i);
	if (rfc3339_parse(json_object_get_string(at), &t, why) < 0)
		return cf_err_prefix(why, "the controller's passes[%zu].at", i);
	p->at_ms = (int64_t)t * 1000;
	p->green = json_object_get_boolean(green);
	p->seen = true;
	return 0;
}

int tokens_rotate_check_passes(const char *body, size_t len, int64_t promote_ms,
			       struct cf_err *why)
{
	struct json_tokener *tok = json_tokener_new_ex(STATUS_JSON_DEPTH);
	struct json_object *v = NULL, *passes;
	struct pass last = {0}, before = {0};
	char promoted[32];
	int rc = TOKENS_ROTATE_REFUSED;

	format_ts(promote_ms, promoted);
	if (!tok) {
		cf_err_set(why, "out of memory");
		return -1;
	}
	if (len > TOKENS_ROTATE_STATUS_MAX || len > INT_MAX) {
		cf_err_set(why, "the controller's status is over %u bytes",
			   TOKENS_ROTATE_STATUS_MAX);
		goto done;
	}
	v = json_tokener_parse_ex(tok, body, (int)len);
	if (!v || !json_object_is_type(v, json_type_object)) {
		cf_err_set(why, "the controller's status is not a JSON object");
		goto done;
	}
	if (!json_object_object_get_ex(v, "passes", &passes) ||
	    !json_object_is_type(passes, json_type_array)) {
		cf_err_set(why, "the controller's status has no passes array; it cannot confirm "
				"green passes since the promote");
		goto done;
	}
	size_t n = json_object_array_length(passes);
	if (n > TOKENS_ROTATE_PASSES_MAX) {
		cf_err_set(why, "the controller lists %zu passes, over %d", n,
			   TOKENS_ROTATE_PASSES_MAX);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct pass p = {0};
		if (read_pass(json_object_array_get_idx(passes, i), i, &p, why) < 0)
			goto done;
		/* Equal times keep array order: the later entry is the later pass. */
		if (!last.seen || p.at_ms >= last.at_ms) {
			before = last;
			last = p;
		} else if (!before.seen || p.at_ms >= before.at_ms) {
			before = p;
		}
	}
	if (!last.seen || last.at_ms < promote_ms) {
		cf_err_set(why, "the controller reports no pass since the promote at %s; two "
				"consecutive green passes are needed",
			   promoted);
		goto done;
	}
	char at[32];
	if (!last.green) {
		rfc3339_format((time_t)(last.at_ms / 1000), at, sizeof(at));
		cf_err_set(why, "the controller's last pass (at %s) was not green", at);
		goto done;
	}
	if (!before.seen || before.at_ms < promote_ms) {
		cf_err_set(why, "the controller reports one green pass since the promote at %s; "
				"two consecutive green passes are needed",
			   promoted);
		goto done;
	}
	if (!before.green) {
		rfc3339_format((time_t)(before.at_ms / 1000), at, sizeof(at));
		cf_err_set(why, "the controller's pass at %s, before its last, was not green; two "
				"consecutive green passes are needed",
			   at);
		goto done;
	}
	rc = 0;
done:
	json_object_put(v);
	json_tokener_free(tok);
	return rc;
}

static int controller_green(const struct rotation *r, int64_t promote_ms, struct cf_err *why)
{
	struct body b = {0};
	int rc = TOKENS_ROTATE_REFUSED;
	if (fetch_status(r->o->controller, &b, why) < 0) {
		cf_err_prefix(why, "the controller cannot confirm green passes");
		goto done;
	}
	rc = tokens_rotate_check_passes(b.data ? b.data : "", b.len, promote_ms, why);
done:
	free(b.data);
	return rc;
}

int tokens_rotate_revoke(const struct tokens_rotate_opts *o, struct cf_err *done_msg,
			 struct cf_err *err)
{
	struct rotation r;
	struct promote_record last;
	int64_t overlap = o->overlap_ms ? o->overlap_ms : TOKENS_ROTATE_OVERLAP_DEFAULT_MS;
	char overlap_text[32], promoted[32], ends[32], left[32];
	int rc = -1;

	duration_format(overlap, overlap_text, sizeof(overlap_text));
	if (overlap < TOKENS_ROTATE_OVERLAP_MIN_MS)
		return cf_err_set(err, "an overlap of %s is below the 1m minimum", overlap_text);
	if (rotation_open(&r, o, false, err) < 0)
		return -1;
	if (!r.prev.present) {
		cf_err_set(err, "no %s: nothing to revoke", r.prev.path);
		rc = refuse(&r, "revoke", "", err);
		goto done;
	}
	if (last_promote(&r, &last, err) < 0)
		goto done;
	if (!last.found) {
		cf_err_set(err, "%s records no promote of %s, so the overlap cannot be counted; "
				"run clawfleet token promote to record it",
			   r.audit, r.dir);
		rc = refuse(&r, "revoke", r.prev.sha8, err);
		goto done;
	}
	if (!r.current.has_token || strcmp(last.sha8, r.current.sha8) != 0) {
		cf_err_set(err,
			   "%s (sha256 %s) is not the token the last recorded promote installed "
			   "(sha256 %s); run clawfleet token promote to record it",
			   r.current.path, r.current.has_token ? r.current.sha8 : "none",
			   last.sha8);
		rc = refuse(&r, "revoke", r.prev.sha8, err);
		goto done;
	}
	if (o->now_ms - last.ts_ms < overlap) {
		format_ts(last.ts_ms, promoted);
		format_ts(last.ts_ms + overlap, ends);
		/* whole seconds, rounded up: "in 1s" rather than "in 0s" or "in 999ms" */
		int64_t left_ms = last.ts_ms + overlap - o->now_ms;
		duration_format((left_ms + 999) / 1000 * 1000, left, sizeof(left));
		cf_err_set(err, "the overlap has not passed: promoted at %s, the %s overlap ends "
				"at %s (in %s)",
			   promoted, overlap_text, ends, left);
		rc = refuse(&r, "revoke", r.prev.sha8, err);
		goto done;
	}
	if (o->controller) {
		int green = controller_green(&r, last.ts_ms, err);
		if (green == TOKENS_ROTATE_REFUSED) {
			rc = refuse(&r, "revoke", r.prev.sha8, err);
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
	if (audit_append(&r, "revoke", "ok", "", r.prev.sha8, err) < 0) {
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
