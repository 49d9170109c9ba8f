#include "contracts/tokens.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "base/clock.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "base/log.h"

enum { SLOT_CURRENT, SLOT_NEXT, SLOT_PREV, SLOT_COUNT };

static const char *const slot_names[SLOT_COUNT] = {"current", "next", "prev"};

struct slot {
	char *path;		/* NULL when not configured */
	bool seen;		/* the file existed at the last check; dev..mtime describe it */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;	/* a chmod changes only this */
	unsigned char *token;	/* NULL when this slot accepts nothing */
	size_t token_len;
	/* Bearer checks compare sha256 digests: equal-length buffers, so neither the time taken
	 * nor an early length mismatch tells a client how much of a token it guessed. */
	unsigned char digest[SHA256_DIGEST_LENGTH];
	/* The token came from an earlier reading of the file, kept because no file holds one
	 * now: a server that would accept nothing keeps what it accepted (tokens.h). */
	bool held;
	/* The token the check under way took out of the slot, put back if nothing replaces it. */
	unsigned char *retired;
	size_t retired_len;
	unsigned char retired_digest[SHA256_DIGEST_LENGTH];
	struct cf_err problem;	/* why the file was refused; empty when it was not */
};

struct tokens {
	pthread_mutex_t lock;
	struct slot slots[SLOT_COUNT];
	unsigned int recheck_ms;
	bool checked;
	int64_t last_check_ms; /* monotonic */
	/* Why the tokens read before stay accepted; empty while the files hold a token. */
	struct cf_err holding;
};

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A token byte: anything a header value carries except white space and control bytes. */
static bool token_bytes_ok(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static void wipe(unsigned char **token, size_t *len, unsigned char *digest)
{
	if (*token) {
		OPENSSL_cleanse(*token, *len);
		free(*token);
	}
	*token = NULL;
	*len = 0;
	OPENSSL_cleanse(digest, SHA256_DIGEST_LENGTH);
}

/* The slot stops accepting its token; the check under way decides whether it is put back. */
static void slot_forget(struct slot *s)
{
	if (s->token && !s->retired) {
		s->retired = s->token;
		s->retired_len = s->token_len;
		memcpy(s->retired_digest, s->digest, sizeof(s->digest));
		s->token = NULL;
		s->token_len = 0;
		OPENSSL_cleanse(s->digest, sizeof(s->digest));
	}
	wipe(&s->token, &s->token_len, s->digest);
	s->held = false;
}

static void slot_drop_retired(struct slot *s)
{
	wipe(&s->retired, &s->retired_len, s->retired_digest);
}

static void slot_restore_retired(struct slot *s)
{
	if (!s->retired)
		return;
	wipe(&s->token, &s->token_len, s->digest);
	s->token = s->retired;
	s->token_len = s->retired_len;
	memcpy(s->digest, s->retired_digest, sizeof(s->digest));
	s->held = true;
	s->retired = NULL;
	s->retired_len = 0;
	OPENSSL_cleanse(s->retired_digest, sizeof(s->retired_digest));
}

/* Reads the slot's file, already known to have changed; the slot accepts nothing unless the
 * file holds a usable token. */
static void slot_load(struct slot *s, const char *name, const struct stat *st)
{
	char *data = NULL;
	size_t len = 0;

	slot_forget(s);
	s->problem.msg[0] = '\0';
	if (!S_ISREG(st->st_mode)) {
		cf_err_set(&s->problem, "token file %s (%s): not a regular file", s->path, name);
		return;
	}
	unsigned int mode = (unsigned int)st->st_mode & 0777;
	if (mode & 0006) {
		cf_err_set(&s->problem,
			   "token file %s (%s): mode %04o lets every user of this machine read or "
			   "change the token; refused: chmod 600 it",
			   s->path, name, mode);
		return;
	}
	if (mode & 0060)
		log_warn("token file %s (%s): mode %04o lets its group read or change the token; "
			 "chmod 600 it unless that group must have it",
			 s->path, name, mode);
	if (fsutil_read_file(s->path, TOKENS_FILE_MAX, &data, &len, &s->problem) < 0) {
		cf_err_prefix(&s->problem, "token file (%s)", name);
		return;
	}
	const unsigned char *start = (const unsigned char *)data;
	const unsigned char *end = start + len;
	while (start < end && is_blank(*start))
		start++;
	while (end > start && is_blank(end[-1]))
		end--;
	size_t n = (size_t)(end - start);
	if (n == 0)
		goto done;
	if (!token_bytes_ok(start, n)) {
		cf_err_set(&s->problem,
			   "token file %s (%s): white space or control characters inside the "
			   "token",
			   s->path, name);
		goto done;
	}
	s->token = malloc(n);
	if (!s->token) {
		cf_err_set(&s->problem, "token file %s (%s): out of memory", s->path, name);
		goto done;
	}
	memcpy(s->token, start, n);
	s->token_len = n;
	SHA256(s->token, n, s->digest);
done:
	OPENSSL_cleanse(data, len);
	free(data);
}

static void slot_check(struct slot *s, const char *name)
{
	struct stat st;
	if (stat(s->path, &st) < 0) {
		int saved = errno;
		slot_forget(s);
		s->seen = false;
		s->problem.msg[0] = '\0';
		if (saved != ENOENT) {
			errno = saved;
			cf_err_errno(&s->problem, "token file %s (%s)", s->path, name);
		}
		return;
	}
	struct timespec mtime = compat_stat_mtime(&st), ctime = compat_stat_ctime(&st);
	if (s->seen && s->dev == st.st_dev && s->ino == st.st_ino && s->size == st.st_size &&
	    s->mtime.tv_sec == mtime.tv_sec && s->mtime.tv_nsec == mtime.tv_nsec &&
	    s->ctime.tv_sec == ctime.tv_sec && s->ctime.tv_nsec == ctime.tv_nsec)
		return;
	s->seen = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = mtime;
	s->ctime = ctime;
	slot_load(s, name, &st);
}

/* Whether a file, not an earlier reading, gives a token. */
static bool files_accept_any(const struct tokens *set)
{
	for (int i = 0; i < SLOT_COUNT; i++)
		if (set->slots[i].token && !set->slots[i].held)
			return true;
	return false;
}

/* "token.current, token.next" style list of the configured files, for messages. */
static void configured_files(const struct tokens *set, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < SLOT_COUNT && used < size; i++) {
		if (!set->slots[i].path)
			continue;
		int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
				 set->slots[i].path);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Caller holds set->lock. Reads every changed file. With keep_old, a check that finds no file
 * holding a token keeps the tokens accepted before it (a deleted or emptied file must not lock
 * every client out), says so in the log once, and reports it through tokens_status until a
 * file holds a token again. */
static void refresh_now(struct tokens *set, bool keep_old)
{
	set->checked = true;
	set->last_check_ms = clock_mono_ms();
	for (int i = 0; i < SLOT_COUNT; i++)
		if (set->slots[i].path)
			slot_check(&set->slots[i], slot_names[i]);

	bool kept = false;
	if (keep_old && !files_accept_any(set))
		for (int i = 0; i < SLOT_COUNT; i++) {
			kept |= set->slots[i].retired != NULL || set->slots[i].held;
			slot_restore_retired(&set->slots[i]);
		}
	for (int i = 0; i < SLOT_COUNT; i++) {
		if (!kept && set->slots[i].held)
			slot_forget(&set->slots[i]);
		slot_drop_retired(&set->slots[i]);
	}
	if (kept && !set->holding.msg[0]) {
		char files[3 * PATH_MAX];
		configured_files(set, files, sizeof(files));
		cf_err_set(&set->holding,
			   "no token file holds a usable token (%s: missing, empty or refused); the "
			   "tokens read before stay accepted until one does",
			   files);
		log_error("%s", set->holding.msg);
	} else if (!kept && set->holding.msg[0]) {
		set->holding.msg[0] = '\0';
		log_info("token files hold a token again; the tokens read before them are no "
			 "longer accepted");
	}
}

/* Caller holds set->lock. */
static void refresh(struct tokens *set)
{
	if (set->checked && clock_mono_ms() - set->last_check_ms < set->recheck_ms)
		return;
	refresh_now(set, true);
}

static int first_problem(const struct tokens *set, struct cf_err *err)
{
	for (int i = 0; i < SLOT_COUNT; i++)
		if (set->slots[i].problem.msg[0])
			return cf_err_set(err, "%s", set->slots[i].problem.msg);
	if (set->holding.msg[0])
		return cf_err_set(err, "%s", set->holding.msg);
	return 0;
}

static int set_path(struct slot *s, const char *dir, const char *file, struct cf_err *err)
{
	char buf[PATH_MAX];
	int n = dir ? snprintf(buf, sizeof(buf), "%s/%s", dir, file)
		    : snprintf(buf, sizeof(buf), "%s", file);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return cf_err_set(err, "token file path too long");
	s->path = strdup(buf);
	if (!s->path)
		return cf_err_set(err, "out of memory");
	return 0;
}

void tokens_free(struct tokens *set)
{
	if (!set)
		return;
	for (int i = 0; i < SLOT_COUNT; i++) {
		slot_forget(&set->slots[i]);
		slot_drop_retired(&set->slots[i]);
		free(set->slots[i].path);
	}
	pthread_mutex_destroy(&set->lock);
	free(set);
}

int tokens_open(struct tokens **out, const struct tokens_config *cfg, struct cf_err *err)
{
	const char *files[SLOT_COUNT] = {cfg->current, cfg->next, cfg->prev};
	bool any_file = cfg->current || cfg->next || cfg->prev;

	*out = NULL;
	if (cfg->dir && any_file)
		return cf_err_set(err, "tokens: give a token directory or token files, not both");
	if (!cfg->dir && !any_file)
		return cf_err_set(err, "tokens: no token file configured");

	struct tokens *set = calloc(1, sizeof(*set));
	if (!set)
		return cf_err_set(err, "out of memory");
	if (pthread_mutex_init(&set->lock, NULL) != 0) {
		free(set);
		return cf_err_set(err, "tokens: cannot create a mutex");
	}
	set->recheck_ms = cfg->recheck_ms;
	for (int i = 0; i < SLOT_COUNT; i++) {
		char dir_file[16];
		snprintf(dir_file, sizeof(dir_file), "token.%s", slot_names[i]);
		if (cfg->dir && set_path(&set->slots[i], cfg->dir, dir_file, err) < 0)
			goto fail;
		if (files[i] && set_path(&set->slots[i], NULL, files[i], err) < 0)
			goto fail;
	}
	refresh_now(set, false);
	if (first_problem(set, err) < 0)
		goto fail;
	if (!files_accept_any(set)) {
		char names[3 * PATH_MAX];
		configured_files(set, names, sizeof(names));
		cf_err_set(err,
			   "tokens: none of %s holds a token (missing or empty), so every request "
			   "would be refused; write one (clawfleet token stage, then promote)",
			   names);
		goto fail;
	}
	*out = set;
	return 0;
fail:
	tokens_free(set);
	return -1;
}

bool tokens_check_bearer(struct tokens *set, const char *authorization)
{
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	const char *token = authorization + 7;
	while (*token == ' ')
		token++;
	size_t len = strnlen(token, TOKENS_FILE_MAX + 1);
	if (len == 0 || len > TOKENS_FILE_MAX ||
	    !token_bytes_ok((const unsigned char *)token, len))
		return false;

	unsigned char digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, len, digest);
	int match = 0;
	pthread_mutex_lock(&set->lock);
	refresh(set);
	for (int i = 0; i < SLOT_COUNT; i++) {
		const struct slot *s = &set->slots[i];
		int same = CRYPTO_memcmp(digest, s->digest, sizeof(digest)) == 0;
		match |= same & (s->token != NULL);
	}
	pthread_mutex_unlock(&set->lock);
	OPENSSL_cleanse(digest, sizeof(digest));
	return match;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool tokens_check_hmac(struct tokens *set, const char *signature, const void *body, size_t len)
{
	const EVP_MD *md;
	size_t want;
	if (!signature)
		return false;
	if (strncasecmp(signature, "sha256=", 7) == 0) {
		md = EVP_sha256();
		want = SHA256_DIGEST_LENGTH;
	} else if (strncasecmp(signature, "sha512=", 7) == 0) {
		md = EVP_sha512();
		want = SHA512_DIGEST_LENGTH;
	} else {
		return false;
	}
	const char *hex = signature + 7;
	if (strnlen(hex, want * 2 + 1) != want * 2)
		return false;
	unsigned char expected[EVP_MAX_MD_SIZE];
	for (size_t i = 0; i < want; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		expected[i] = (unsigned char)(hi << 4 | lo);
	}

	int match = 0;
	const unsigned char *data = len ? body : (const unsigned char *)"";
	pthread_mutex_lock(&set->lock);
	refresh(set);
	for (int i = 0; i < SLOT_COUNT; i++) {
		const struct slot *s = &set->slots[i];
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;
		if (!s->token)
			continue;
		if (!HMAC(md, s->token, (int)s->token_len, data, len, mac, &mac_len) ||
		    mac_len != want)
			continue;
		match |= CRYPTO_memcmp(mac, expected, want) == 0;
		OPENSSL_cleanse(mac, sizeof(mac));
	}
	pthread_mutex_unlock(&set->lock);
	return match;
}

void tokens_recheck(struct tokens *set)
{
	pthread_mutex_lock(&set->lock);
	refresh_now(set, true);
	pthread_mutex_unlock(&set->lock);
}

int tokens_status(struct tokens *set, struct cf_err *err)
{
	pthread_mutex_lock(&set->lock);
	refresh(set);
	int rc = first_problem(set, err);
	pthread_mutex_unlock(&set->lock);
	return rc;
}
