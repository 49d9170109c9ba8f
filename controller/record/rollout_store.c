#include "record/rollout_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"

static int file_load(void *ctx, struct rollout_state *out, bool *found, struct cf_err *err)
{
	const char *path = ctx;
	char *text = NULL;
	size_t len = 0;
	*found = false;
	rollout_state_init(out);
	if (fsutil_read_file(path, ROLLOUT_STATE_MAX_BYTES, &text, &len, err) < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = rollout_state_from_json(text, len, out, err);
	free(text);
	if (rc < 0)
		return cf_err_prefix(err, "rollout state %s", path);
	*found = true;
	return 0;
}

static int file_save(void *ctx, const struct rollout_state *s, struct cf_err *err)
{
	const char *path = ctx;
	char *json = NULL;
	size_t len = 0;
	if (rollout_state_to_json(s, &json, &len, err) < 0)
		return cf_err_prefix(err, "rollout state %s", path);
	int rc = fsutil_write_atomic(path, json, len, 0600, err);
	free(json);
	return rc;
}

static void file_close(void *ctx)
{
	free(ctx);
}

static const struct rollout_store_ops file_store_ops = {
	.name = "file",
	.load = file_load,
	.save = file_save,
	.close = file_close,
};

int rollout_store_open_file(struct rollout_store *out, const char *path, struct cf_err *err)
{
	char *copy = strdup(path);
	if (!copy)
		return cf_err_set(err, "out of memory");
	out->ops = &file_store_ops;
	out->ctx = copy;
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

void rollout_store_close(struct rollout_store *st)
{
	if (st->ops)
		st->ops->close(st->ctx);
	st->ops = NULL;
	st->ctx = NULL;
}
