#include "reconcilers/openclaw_config.h"

#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/canon.h"
#include "base/fsutil.h"

char *openclaw_config_path(struct cf_err *err)
{
	const char *env = getenv("OPENCLAW_CONFIG_PATH");
	const char *home = getenv("HOME");
	char *path = NULL;
	if (env && env[0])
		path = strdup(env);
	else if (home && home[0]) {
		if (asprintf(&path, "%s/.openclaw/openclaw.json", home) < 0)
			path = NULL;
	} else {
		cf_err_set(err, "neither OPENCLAW_CONFIG_PATH nor HOME is set: the agent cannot "
				"tell where the gateway reads its configuration");
		return NULL;
	}
	if (!path)
		cf_err_set(err, "out of memory");
	return path;
}

int openclaw_config_plan(const struct desired_state *ds, const char *host,
			 struct openclaw_config_plan *plan, struct cf_err *err)
{
	struct json_object *merged = NULL;
	char *text = NULL, *have = NULL;
	size_t len = 0, have_len = 0;
	int rc = -1;
	memset(plan, 0, sizeof(*plan));
	if (desired_openclaw_config(ds, host, &merged, err) < 0)
		return cf_err_prefix(err, "merging the OpenClaw configuration");
	if (!merged)
		return 0;
	if (!(plan->path = openclaw_config_path(err)) || canon_json(merged, &text, &len, err) < 0)
		goto done;
	char *grown = realloc(text, len + 2);
	if (!grown) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	text = grown;
	text[len++] = '\n';
	text[len] = '\0';
	struct cf_err unread;
	if (fsutil_read_file(plan->path, OPENCLAW_CONFIG_MAX, &have, &have_len, &unread) == 0) {
		if (have_len == len && memcmp(have, text, len) == 0) {
			rc = 0;
			goto done;
		}
		plan->before = have;
		plan->before_len = have_len;
		have = NULL;
	} else {
		plan->before_absent = access(plan->path, F_OK) < 0 && errno == ENOENT;
	}
	plan->data = text;
	plan->len = len;
	text = NULL;
	rc = 0;
done:
	json_object_put(merged);
	free(text);
	free(have);
	return rc;
}

int openclaw_config_apply(const struct openclaw_config_plan *plan, struct cf_err *err)
{
	char dir[PATH_MAX];
	if (!plan->data)
		return 0;
	snprintf(dir, sizeof(dir), "%s", plan->path);
	if (fsutil_mkdir_p(dirname(dir), 0700, err) < 0 ||
	    fsutil_write_atomic(plan->path, plan->data, plan->len, 0600, err) < 0)
		return cf_err_prefix(err, "writing %s", plan->path);
	return 0;
}

int openclaw_config_restore(const struct openclaw_config_plan *plan, struct cf_err *err)
{
	char dir[PATH_MAX];
	if (plan->before) {
		if (fsutil_write_atomic(plan->path, plan->before, plan->before_len, 0600, err) < 0)
			return cf_err_prefix(err, "putting back %s", plan->path);
		return 0;
	}
	if (!plan->before_absent)
		return cf_err_set(err, "%s could not be read before it was replaced: check it by hand",
				  plan->path);
	snprintf(dir, sizeof(dir), "%s", plan->path);
	if (unlink(plan->path) < 0 && errno != ENOENT)
		return cf_err_errno(err, "removing %s", plan->path);
	return fsutil_fsync_dir(dirname(dir), err);
}

void openclaw_config_plan_free(struct openclaw_config_plan *plan)
{
	free(plan->path);
	free(plan->data);
	free(plan->before);
	memset(plan, 0, sizeof(*plan));
}
