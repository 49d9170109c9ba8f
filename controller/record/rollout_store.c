#include "record/rollout_store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "record/rollout_store_internal.h"

struct file_store {
	char path[PATH_MAX];
	char anchor_path[PATH_MAX];
};

static int file_load(void *ctx, struct rollout_state *out, bool *found, struct cf_err *err)
{
	const struct file_store *fs = ctx;
	char *text = NULL;
	size_t len = 0;
	*found = false;
	rollout_state_init(out);
	if (fsutil_read_file(fs->path, ROLLOUT_STATE_MAX_BYTES, &text, &len, err) < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = rollout_state_from_json(text, len, out, err);
	free(text);
	if (rc < 0)
		return cf_err_prefix(err, "rollout state %s", fs->path);
	*found = true;
	return 0;
}

static int file_save(void *ctx, const struct rollout_state *s, struct cf_err *err)
{
	const struct file_store *fs = ctx;
	char *json = NULL;
	size_t len = 0;
	if (rollout_state_to_json(s, &json, &len, err) < 0)
		return cf_err_prefix(err, "rollout state %s", fs->path);
	int rc = fsutil_write_atomic(fs->path, json, len, 0600, err);
	int saved = errno;
	free(json);
	errno = saved;
	return rc;
}

int rollout_store_parse_anchor(const char *text, size_t len, struct audit_anchor *out,
			       struct cf_err *err)
{
	struct json_object *o = NULL;
	const char *head = NULL;
	int64_t lines = 0;
	int rc = -1;

	if (jsonparse_object(text, len, 2, &o, err) < 0)
		return -1;
	if (json_object_object_length(o) != 2) {
		cf_err_set(err, "the anchor has members other than head and lines");
		goto done;
	}
	if (jsonparse_get_string(o, "anchor", "head", JSONPARSE_REQUIRED, &head, err) < 0 ||
	    jsonparse_get_int(o, "anchor", "lines", JSONPARSE_REQUIRED, 0, INT64_MAX, &lines,
			      err) < 0)
		goto done;
	if (strspn(head, "0123456789abcdef") != 64 || head[64]) {
		cf_err_set(err, "head is not a sha256 (64 lower-case hex digits)");
		goto done;
	}
	memcpy(out->head, head, sizeof(out->head));
	out->lines = (uint64_t)lines;
	rc = 0;
done:
	json_object_put(o);
	return rc;
}

static int file_load_anchor(void *ctx, struct audit_anchor *out, bool *found, struct cf_err *err)
{
	const struct file_store *fs = ctx;
	char *text = NULL;
	size_t len = 0;
	*found = false;
	memcpy(out->head, AUDIT_GENESIS, sizeof(out->head));
	out->lines = 0;
	if (fsutil_read_file(fs->anchor_path, ANCHOR_MAX_BYTES, &text, &len, err) < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = rollout_store_parse_anchor(text, len, out, err);
	free(text);
	if (rc < 0)
		return cf_err_prefix(err, "audit anchor %s", fs->anchor_path);
	*found = true;
	return 0;
}

static int file_save_anchor(void *ctx, const struct audit_anchor *a, struct cf_err *err)
{
	const struct file_store *fs = ctx;
	char text[ANCHOR_MAX_BYTES];
	size_t n = rollout_store_format_anchor(a, text);
	return fsutil_write_atomic(fs->anchor_path, text, n, 0600, err);
}

size_t rollout_store_format_anchor(const struct audit_anchor *a, char out[ANCHOR_MAX_BYTES])
{
	/* Canonical JSON (canon.h): the keys sorted, no white space. */
	int n = snprintf(out, ANCHOR_MAX_BYTES, "{\"head\":\"%s\",\"lines\":%" PRIu64 "}",
			 a->head, a->lines);
	return (size_t)n;
}

static void file_close(void *ctx)
{
	free(ctx);
}

static const struct rollout_store_ops file_store_ops = {
	.name = "file",
	.load = file_load,
	.save = file_save,
	.load_anchor = file_load_anchor,
	.save_anchor = file_save_anchor,
	.close = file_close,
};

int rollout_store_open_file(struct rollout_store *out, const char *path, struct cf_err *err)
{
	struct file_store *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return cf_err_set(err, "out of memory");
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path) : 1;
	if (snprintf(fs->path, sizeof(fs->path), "%s", path) >= (int)sizeof(fs->path) ||
	    snprintf(fs->anchor_path, sizeof(fs->anchor_path), "%.*s/%s", dir_len,
		     slash ? path : ".", ROLLOUT_STORE_ANCHOR_FILE) >= (int)sizeof(fs->anchor_path)) {
		free(fs);
		return cf_err_set(err, "%s: path too long", path);
	}
	out->ops = &file_store_ops;
	out->ctx = fs;
	return 0;
}

int rollout_store_load(struct rollout_store *st, struct rollout_state *out, bool *found,
		       struct cf_err *err)
{
	return st->ops->load(st->ctx, out, found, err);
}

int rollout_store_save(struct rollout_store *st, const struct rollout_state *s,
		       struct cf_err *err)
{
	return st->ops->save(st->ctx, s, err);
}

int rollout_store_load_anchor(struct rollout_store *st, struct audit_anchor *out, bool *found,
			      struct cf_err *err)
{
	return st->ops->load_anchor(st->ctx, out, found, err);
}

int rollout_store_save_anchor(struct rollout_store *st, const struct audit_anchor *a,
			      struct cf_err *err)
{
	return st->ops->save_anchor(st->ctx, a, err);
}

int rollout_store_commit(struct rollout_store *st, const struct rollout_state *s,
			 const struct audit_anchor *a, const char *const *lines, size_t nlines,
			 struct cf_err *err)
{
	if (st->ops->commit)
		return st->ops->commit(st->ctx, s, a, lines, nlines, err);
	if (a && st->ops->save_anchor(st->ctx, a, err) < 0)
		return -1;
	return st->ops->save(st->ctx, s, err);
}

bool rollout_store_shared(const struct rollout_store *st)
{
	return st->ops && st->ops->set_fence;
}

int rollout_store_set_fence(struct rollout_store *st, const char *holder, int64_t term,
			    struct cf_err *err)
{
	return st->ops->set_fence ? st->ops->set_fence(st->ctx, holder, term, err) : 0;
}

int rollout_store_read_audit(struct rollout_store *st, uint64_t after, rollout_store_line_fn *line,
			     void *ctx, struct cf_err *err)
{
	if (!st->ops->read_audit)
		return cf_err_set(err, "the %s store keeps no audit lines of its own (read "
				       "promotions.jsonl)", st->ops->name);
	return st->ops->read_audit(st->ctx, after, line, ctx, err);
}

void rollout_store_close(struct rollout_store *st)
{
	if (st->ops)
		st->ops->close(st->ctx);
	st->ops = NULL;
	st->ctx = NULL;
}
