/* The rotation's audit file: one canonical JSON line per step, refusals included, appended and
 * fsynced before a step counts; and the last promote of a directory, read back from it, which
 * revoke counts the overlap from. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/canon.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/timeparse.h"
#include "reconcilers/tokens_rotate_internal.h"

/* An audit line is a few hundred bytes; longer lines were not written here and are skipped. */
#define AUDIT_LINE_READ_MAX 8192
/* The promote time is read back by scanning the file; past this size, start a new one. */
#define AUDIT_SCAN_MAX (64L << 20)

/* The inverse of rfc3339_format_ms, also taking an audit line edited by hand (any offset, any
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
	char ts[RFC3339_MS_MAX];
	rfc3339_format_ms(r->o->now_ms, ts, sizeof(ts));
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
	if (r->node)
		json_object_object_add(v, "node", json_object_new_string(r->node));
	return v;
}

int rotation_audit_append(const struct rotation *r, const char *action, const char *outcome,
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
	if (w != (ssize_t)(len + 1) || compat_fsync(fd) < 0) {
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

int rotation_audit_probe(const struct rotation *r, struct cf_err *err)
{
	struct json_object *probe = audit_object(r, "stage", "ok", "", "");
	char *text = NULL;
	size_t len;
	int rc = probe ? canon_json(probe, &text, &len, err) : cf_err_set(err, "out of memory");
	free(text);
	json_object_put(probe);
	if (rc < 0)
		return cf_err_prefix(err, "--actor, --ticket or --dir cannot be audited");
	return 0;
}

int rotation_refuse(const struct rotation *r, const char *action, const char *sha8,
		    struct cf_err *err)
{
	struct cf_err audit_err;
	if (rotation_audit_append(r, action, "refused", err->msg, sha8, &audit_err) < 0) {
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

int rotation_last_promote(const struct rotation *r, struct promote_record *out,
			  struct cf_err *err)
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
		struct json_object *v = NULL;
		/* A line that is not a JSON object holds no promote; the scan goes on. */
		jsonparse_object(line, strlen(line), JSONPARSE_DEPTH, &v, NULL);
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
