#include "observe/node_token_age.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/compat.h"
#include "reconcilers/tokens_rotate.h"

static const char *const dir_files[TOKEN_SLOTS] = {"token.current", "token.next", "token.prev"};

/* The file's modification time, -1 when it is missing or empty. */
static int file_born(const char *path, int64_t *born_ms, struct cf_err *err)
{
	struct stat st;
	*born_ms = -1;
	if (!path)
		return 0;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : cf_err_errno(err, "token file %s", path);
	struct timespec m = compat_stat_mtime(&st);
	if (st.st_size > 0)
		*born_ms = (int64_t)m.tv_sec * 1000 + m.tv_nsec / 1000000;
	return 0;
}

/* The rotation record's promote time, when that promote installed the current token. */
static void promoted_born(const char *dir, int64_t *born_ms)
{
	struct tokens_rotate_opts o = {.dir = dir};
	struct tokens_rotate_view v;
	struct cf_err ignored;
	if (tokens_rotate_inspect(&o, &v, &ignored) == 0 && v.promoted && v.current[0] &&
	    strcmp(v.current, v.promoted_sha) == 0)
		*born_ms = v.promoted_ms;
}

int node_token_age_read(const struct agent_config *cfg, struct node_tokens *out,
			struct cf_err *err)
{
	const char *named[TOKEN_SLOTS] = {cfg->token_current, cfg->token_next, cfg->token_prev};
	char *paths[TOKEN_SLOTS] = {NULL, NULL, NULL};
	char *dir = cfg->token_dir ? agentcfg_path(cfg, cfg->token_dir) : NULL;
	int rc = -1;
	memset(out, 0, sizeof(*out));
	if (cfg->token_dir && !dir)
		goto oom;
	for (int i = 0; i < TOKEN_SLOTS; i++) {
		if (dir && asprintf(&paths[i], "%s/%s", dir, dir_files[i]) < 0)
			paths[i] = NULL;
		else if (!dir && named[i])
			paths[i] = agentcfg_path(cfg, named[i]);
		if ((dir || named[i]) && !paths[i])
			goto oom;
		if (file_born(paths[i], &out->born_ms[i], err) < 0)
			goto done;
	}
	if (dir && out->born_ms[TOKEN_SLOT_CURRENT] >= 0)
		promoted_born(dir, &out->born_ms[TOKEN_SLOT_CURRENT]);
	out->max_age_ms = cfg->token_max_age_ms > 0 ? cfg->token_max_age_ms
						    : TOKEN_AGE_MAX_DEFAULT_MS;
	out->known = true;
	rc = 0;
	goto done;
oom:
	cf_err_set(err, "out of memory reading the token slots");
done:
	for (int i = 0; i < TOKEN_SLOTS; i++)
		free(paths[i]);
	free(dir);
	return rc;
}

void node_token_age_at(const struct node_tokens *t, int64_t now_ms, struct token_ages *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < TOKEN_SLOTS; i++)
		out->age_sec[i] = -1;
	if (!t || !t->known)
		return;
	out->known = true;
	out->max_age_sec = t->max_age_ms / 1000 > 0 ? t->max_age_ms / 1000 : 1;
	for (int i = 0; i < TOKEN_SLOTS; i++)
		if (t->born_ms[i] >= 0)
			out->age_sec[i] = now_ms > t->born_ms[i] ? (now_ms - t->born_ms[i]) / 1000 : 0;
}
