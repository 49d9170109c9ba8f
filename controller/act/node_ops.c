#include "act/node_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"

#define PENDING_MAX 4096

static int pending_path(const char *state_dir, char **out, struct cf_err *err)
{
	if (asprintf(out, "%s/%s", state_dir, NODE_RESTART_PENDING_FILE) < 0) {
		*out = NULL;
		return cf_err_set(err, "out of memory");
	}
	return 0;
}

static int pending_read(const char *state_dir, bool *present, struct cf_err *err)
{
	char *path = NULL;
	struct stat st;
	int rc = 0;

	*present = false;
	if (pending_path(state_dir, &path, err) < 0)
		return -1;
	if (lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode) || st.st_size > PENDING_MAX)
			rc = cf_err_set(err, "%s is not a restart record clawfleet wrote; remove it",
					path);
		else
			*present = true;
	} else if (errno != ENOENT) {
		rc = cf_err_errno(err, "%s", path);
	}
	free(path);
	return rc;
}

static int pending_write(const char *state_dir, int64_t generation, struct cf_err *err)
{
	char *path = NULL;
	char body[64];
	int n = snprintf(body, sizeof(body), "{\"generation\":%lld}\n", (long long)generation);
	if (pending_path(state_dir, &path, err) < 0)
		return -1;
	int rc = fsutil_mkdir_p(state_dir, 0700, err);
	if (rc == 0)
		rc = fsutil_write_atomic(path, body, (size_t)n, 0600, err);
	free(path);
	return rc;
}

static int pending_clear(const char *state_dir, struct cf_err *err)
{
	char *path = NULL;
	int rc = 0;
	if (pending_path(state_dir, &path, err) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		rc = cf_err_errno(err, "removing %s", path);
	free(path);
	return rc < 0 ? rc : fsutil_fsync_dir(state_dir, err);
}

const struct node_ops node_ops_reconcilers = {
	.pull_observe = pull_observe,
	.pull_apply = pull_apply,
	.read_tree = treefiles_from_dir,
	.install_observe = install_observe,
	.install_apply = install_apply,
	.install_revert = install_revert,
	.skills_observe = skills_observe,
	.skills_apply = skills_apply,
	.skills_restore = skills_restore,
	.mkdir_p = fsutil_mkdir_p,
	.materialise_observe = materialise_observe,
	.materialise_apply = materialise_apply,
	.prerestart_check = prerestart_check,
	.openclaw_config_plan = openclaw_config_plan,
	.openclaw_config_apply = openclaw_config_apply,
	.openclaw_config_restore = openclaw_config_restore,
	.service_restart = service_restart,
	.pending_read = pending_read,
	.pending_write = pending_write,
	.pending_clear = pending_clear,
};
