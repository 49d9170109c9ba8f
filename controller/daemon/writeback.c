/* The write-back (controller_internal.h): after an automatic rollback, one commit that points the
 * Promotion in Git back at the last good tag, so that Git agrees with the fleet. The commit is
 * exactly what `clawfleet rollout undo --to LASTGOOD` writes, because it is that command: the
 * controller runs its own executable as a child (source/gitwrite must not run inside a daemon:
 * its push is bounded by an alarm that ends the process), with trailers naming the bad tag and
 * the reason. The loop never waits for it: each pass looks at the child without blocking
 * (waitpid WNOHANG), kills its process group past WRITEBACK_DEADLINE_MS, and takes in how it
 * ended. What is wanted and how it went is kept in the rollout state (struct rollout_writeback),
 * saved before the child starts and after it ends, so a restarted controller does not write the
 * commit twice; a child that was running when the controller died is simply run again, and
 * finding Git already as wanted is the command's "nothing to do" (exit 3), which counts as done.
 * A failure is retried after a backoff, WRITEBACK_ATTEMPTS_MAX attempts in all. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/log.h"
#include "base/proc.h"
#include "daemon/controller_internal.h"

#define WRITEBACK_DEADLINE_MS 300000
#define WRITEBACK_ATTEMPTS_MAX 5
#define WRITEBACK_BACKOFF_FIRST_MS 10000
#define WRITEBACK_BACKOFF_MAX_MS 300000
#define WRITEBACK_OUTPUT_MAX (64 * 1024)
#define TOKEN_MAX 1024
#define EXIT_NOTHING_TO_DO 3 /* cmd_rollout: Git already says so */
#define EXIT_USAGE 2

extern char **environ;

static void save(struct controller *c)
{
	struct cf_err err;
	if (c->world.save_state(c->world.ctx, &c->state, &err) < 0)
		log_error("saving the write-back's progress: %s", err.msg);
}

/* The last line the child printed on stderr (else stdout), without the command's own prefix. */
static void last_line(const char *text, int code, char *out, size_t cap)
{
	size_t len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	size_t start = len;
	while (start && text[start - 1] != '\n')
		start--;
	const char *line = text + start;
	size_t n = len - start;
	static const char prefix[] = "clawfleet rollout undo: ";
	if (n >= sizeof(prefix) - 1 && strncmp(line, prefix, sizeof(prefix) - 1) == 0) {
		line += sizeof(prefix) - 1;
		n -= sizeof(prefix) - 1;
	}
	if (n)
		snprintf(out, cap, "%.*s", (int)n, line);
	else
		snprintf(out, cap, "the command exited with status %d and printed nothing", code);
}

static char *read_output(const char *path)
{
	char *text = NULL;
	size_t len;
	struct cf_err err;
	if (fsutil_read_file(path, WRITEBACK_OUTPUT_MAX, &text, &len, &err) < 0)
		return strdup("");
	return text;
}

/* A failed attempt: retried after a backoff while attempts remain; given up on a usage error. */
static void failed(struct controller *c, const char *why, bool final)
{
	struct rollout_writeback *wb = &c->state.writeback;
	snprintf(wb->error, sizeof(wb->error), "%s", why);
	if (final || wb->attempts >= WRITEBACK_ATTEMPTS_MAX) {
		wb->state = WRITEBACK_FAILED;
		log_error("write-back of the rollback of %s failed after %d attempt%s: %s; `clawfleet "
			  "rollout undo --to %s` makes Git agree",
			  wb->tag, wb->attempts, wb->attempts == 1 ? "" : "s", why, wb->to);
		return;
	}
	wb->next_ms = clock_epoch_ms() + backoff_ms(WRITEBACK_BACKOFF_FIRST_MS,
						    WRITEBACK_BACKOFF_MAX_MS,
						    (unsigned int)wb->attempts, &c->seed);
	log_warn("write-back of the rollback of %s: attempt %d failed: %s; retried in %lld s",
		 wb->tag, wb->attempts, why,
		 (long long)((wb->next_ms - clock_epoch_ms() + 999) / 1000));
}

/* How the child ended: exit 0 with the command's JSON (the commit), 3 when Git already names
 * the tag, anything else a failure. */
static void ended(struct controller *c, int status)
{
	struct rollout_writeback *wb = &c->state.writeback;
	char *out = read_output(c->wb_out_path), *errtext = read_output(c->wb_err_path);
	char why[ROLLOUT_MESSAGE_MAX];
	struct json_object *doc = NULL, *commit = NULL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && out &&
	    jsonparse_object(out, strlen(out), JSONPARSE_DEPTH, &doc, NULL) == 0 &&
	    json_object_object_get_ex(doc, "commit", &commit) &&
	    json_object_get_string_len(commit) == 40) {
		wb->state = WRITEBACK_DONE;
		wb->error[0] = '\0';
		snprintf(wb->commit, sizeof(wb->commit), "%s", json_object_get_string(commit));
		log_info("write-back: commit %.12s points the Promotion back at %s (Rollback-Of: %s)",
			 wb->commit, wb->to, wb->tag);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NOTHING_TO_DO) {
		wb->state = WRITEBACK_DONE;
		wb->error[0] = '\0';
		log_info("write-back: Git already names %s; nothing to write", wb->to);
	} else if (WIFEXITED(status)) {
		last_line(errtext && *errtext ? errtext : out ? out : "", WEXITSTATUS(status), why,
			  sizeof(why));
		failed(c, why, WEXITSTATUS(status) == EXIT_USAGE);
	} else {
		snprintf(why, sizeof(why), "the command was killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		failed(c, why, false);
	}
	json_object_put(doc);
	free(out);
	free(errtext);
	save(c);
}

/* Takes in a child that ended, or kills one past its deadline. */
static void reap(struct controller *c)
{
	int status = 0;
	if (c->wb_pid <= 0)
		return;
	pid_t got = waitpid(c->wb_pid, &status, WNOHANG);
	if (got == 0 && clock_mono_ms() < c->wb_deadline_mono_ms)
		return;
	if (got == 0) {
		kill(-c->wb_pid, SIGKILL);
		while (waitpid(c->wb_pid, &status, 0) < 0 && errno == EINTR)
			;
		c->wb_pid = 0;
		failed(c, "the command did not finish within 300 s: killed", false);
		save(c);
		return;
	}
	if (got < 0 && errno == EINTR)
		return;
	c->wb_pid = 0;
	if (got < 0) {
		failed(c, "the command's end was lost (waitpid failed)", false);
		save(c);
		return;
	}
	kill(-got, SIGKILL); /* anything it left in its group */
	ended(c, status);
}

/* The source the child pushes to, with the token of writeBack.credentials as the password of
 * an https URL (the URL's user, else x-access-token). */
static int source_url(const struct controller *c, char *out, size_t cap, struct cf_err *err)
{
	const char *url = c->cfg.source_url;
	char *token = NULL;
	size_t len = 0;
	int rc = -1;
	if (!c->cfg.writeback_credentials) {
		snprintf(out, cap, "%s", url);
		return 0;
	}
	if (fsutil_read_file(c->cfg.writeback_credentials, TOKEN_MAX, &token, &len, err) < 0)
		return cf_err_prefix(err, "source.writeBack.credentials");
	while (len && (token[len - 1] == '\n' || token[len - 1] == '\r'))
		token[--len] = '\0';
	if (!len || strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				  "0123456789-._~") != len) {
		cf_err_set(err, "source.writeBack.credentials %s: want one token of letters, digits "
				"and -._~",
			   c->cfg.writeback_credentials);
		goto done;
	}
	const char *host = url + 8; /* ctlcfg allows a token with https:// only */
	const char *at = strchr(host, '@'), *slash = strchr(host, '/');
	if (at && (!slash || at < slash)) {
		size_t user = strcspn(host, ":@");
		snprintf(out, cap, "https://%.*s:%s%s", (int)user, host, token, at);
	} else {
		snprintf(out, cap, "https://x-access-token:%s@%s", token, host);
	}
	rc = 0;
done:
	free(token);
	return rc;
}

/* The environment with CLAWFLEET_ROLLOUT_SOURCE set: the URL stays out of the argument list. */
static char **child_env(const char *source_var)
{
	size_t n = 0, k = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "CLAWFLEET_ROLLOUT_SOURCE=", 25) != 0)
			env[k++] = environ[i];
	env[k] = (char *)source_var;
	return env;
}

static int spawn(struct controller *c, struct cf_err *err)
{
	struct rollout_writeback *wb = &c->state.writeback;
	const struct rollout_state *s = &c->state;
	char exe[PATH_MAX], branch[256], url[4096 + TOKEN_MAX + 64], var[sizeof(url) + 32];
	char of[ROLLOUT_TEXT_MAX + 16], reason[ROLLOUT_REASON_MAX + 32], msg[1024];
	const char *ticket = NULL;
	char **env = NULL;
	int out_fd = -1, err_fd = -1, rc = -1;
	if (compat_self_exe_path(exe, sizeof(exe)) < 0)
		return cf_err_set(err, "finding the controller's own executable: %s",
				  strerror(errno));
	if (ctlcfg_writeback_branch(&c->cfg, branch, sizeof(branch), err) < 0 ||
	    source_url(c, url, sizeof(url), err) < 0 ||
	    fsutil_join(c->wb_out_path, c->cfg.state, "writeback.out", err) < 0 ||
	    fsutil_join(c->wb_err_path, c->cfg.state, "writeback.err", err) < 0)
		return -1;
	for (size_t i = s->nhistory; i-- > 0;)
		if (strcmp(s->history[i].to.tag, wb->tag) == 0) {
			ticket = s->history[i].ticket[0] ? s->history[i].ticket : NULL;
			break;
		}
	snprintf(var, sizeof(var), "CLAWFLEET_ROLLOUT_SOURCE=%s", url);
	snprintf(of, sizeof(of), "Rollback-Of: %s", wb->tag);
	snprintf(reason, sizeof(reason), "Rollback-Reason: %s",
		 s->rollback_reason[0] ? s->rollback_reason : "unknown");
	snprintf(msg, sizeof(msg),
		 "The controller rolled %s back (%s) and quarantined it; this commit makes Git name "
		 "the last good tag %s again, as the fleet runs it.",
		 wb->tag, s->rollback_reason[0] ? s->rollback_reason : "unknown", wb->to);
	char *argv[] = {exe,	    "rollout",	"undo",	   "--json",	 "--to",
			wb->to,	    "--ref",	branch,	   "--author", c->cfg.writeback_author,
			"--message", msg,	"--trailer", of,	 "--trailer",
			reason,	    NULL,	NULL,	   NULL};
	size_t argc = sizeof(argv) / sizeof(argv[0]) - 3;
	if (ticket) {
		argv[argc] = "--ticket";
		argv[argc + 1] = (char *)ticket;
	}
	env = child_env(var);
	if (!env)
		return cf_err_set(err, "out of memory");
	out_fd = open(c->wb_out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	err_fd = open(c->wb_err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out_fd < 0 || err_fd < 0) {
		cf_err_errno(err, "opening %s for the write-back's output",
			     out_fd < 0 ? c->wb_out_path : c->wb_err_path);
		goto done;
	}
	int e = proc_spawn(exe, argv, env, -1, out_fd, err_fd, &c->wb_pid);
	if (e != 0) {
		c->wb_pid = 0;
		cf_err_set(err, "starting %s rollout undo: %s", exe, strerror(e));
		goto done;
	}
	c->wb_deadline_mono_ms = clock_mono_ms() + WRITEBACK_DEADLINE_MS;
	rc = 0;
done:
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
	free(env);
	return rc;
}

/* A rollback this controller has not written back yet: the state is RolledBack with the tag
 * it left quarantined. */
static bool new_rollback(const struct rollout_state *s)
{
	const struct rollout_writeback *wb = &s->writeback;
	if (s->phase != ROLLOUT_ROLLED_BACK || !s->has_last_good ||
	    (strcmp(wb->tag, s->promotion.tag) == 0 &&
	     strcmp(wb->tag_commit, s->promotion.commit) == 0))
		return false;
	for (size_t i = 0; i < s->nquarantined; i++)
		if (strcmp(s->quarantined[i].tag, s->promotion.tag) == 0 &&
		    strcmp(s->quarantined[i].commit, s->promotion.commit) == 0)
			return true;
	return false;
}

bool controller_writeback(struct controller *c, const struct desired_state *ds)
{
	struct rollout_state *s = &c->state;
	struct rollout_writeback *wb = &s->writeback;
	struct cf_err err;
	reap(c);
	if (!c->cfg.writeback_author)
		return false;
	if (new_rollback(s)) {
		*wb = (struct rollout_writeback){.state = WRITEBACK_PENDING};
		snprintf(wb->tag, sizeof(wb->tag), "%s", s->promotion.tag);
		snprintf(wb->tag_commit, sizeof(wb->tag_commit), "%s", s->promotion.commit);
		snprintf(wb->to, sizeof(wb->to), "%s", s->last_good.tag);
		save(c);
	}
	if (wb->state != WRITEBACK_PENDING)
		return false;
	if (c->wb_pid > 0)
		return true;
	if (clock_epoch_ms() < wb->next_ms)
		return false;
	const struct promotion *promo = ds && ds->npromotions ? &ds->promotions[0] : NULL;
	if (promo && strcmp(promo->tag, wb->tag) != 0) {
		/* Someone moved the Promotion first (rollout undo, retry, a new tag): leave it. */
		wb->state = WRITEBACK_DONE;
		wb->error[0] = '\0';
		log_info("write-back: Git names %s, no longer %s; nothing to write", promo->tag,
			 wb->tag);
		save(c);
		return false;
	}
	wb->attempts++;
	if (spawn(c, &err) < 0) {
		failed(c, err.msg, false);
		save(c);
		return false;
	}
	log_info("write-back: pointing the Promotion back at %s after the rollback of %s (attempt "
		 "%d)",
		 wb->to, wb->tag, wb->attempts);
	save(c);
	return true;
}
