#include "record/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/canon.h"
#include "base/compat.h"
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/timeparse.h"
#include "record/audit_internal.h"

/* 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
#define TS_MAX_MS INT64_C(253402300799999)

struct audit_log {
	int fd;
	char *path;
	off_t size;
	struct audit_anchor end;
	struct stat seen; /* the file as the last append or check left it */
	bool failed;
	char broken[CF_ERR_MSG]; /* why the log is sealed; "": it is not */
};

/* Reads the last min(size, cap) bytes of a file of size bytes into buf; *base is the offset
 * they start at. *len is short of that only when the file shrank meanwhile. */
static int read_end(int fd, off_t size, size_t cap, char *buf, size_t *len, off_t *base,
		    struct cf_err *err)
{
	size_t want = (size_t)size < cap ? (size_t)size : cap;
	size_t got = 0;

	*base = size - (off_t)want;
	while (got < want) {
		ssize_t r = pread(fd, buf + got, want - got, *base + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cf_err_errno(err, "reading");
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*len = got;
	return 0;
}

void audit_seal(struct audit_log *log, const char *why)
{
	if (!log->broken[0])
		snprintf(log->broken, sizeof(log->broken), "%s", why);
}

const char *audit_broken(const struct audit_log *log)
{
	return log->broken[0] ? log->broken : NULL;
}

/* Reads the whole log, compares its end with want (NULL: none kept) and cuts a torn last line
 * when everything before it holds; a log that does not hold is sealed and left as it is. */
static int settle_open(struct audit_log *log, const struct audit_anchor *want, char *warning,
		       size_t warning_len, struct cf_err *err)
{
	struct audit_walk w = {.at_line = want ? want->lines : 0};
	struct cf_err why;
	struct stat st;

	if (fstat(log->fd, &st) < 0)
		return cf_err_errno(err, "audit log %s", log->path);
	if (!S_ISREG(st.st_mode))
		return cf_err_set(err, "audit log %s is not a regular file", log->path);
	if (audit_walk(log->fd, log->path, &w, err) < 0)
		return -1;
	if (w.broken) {
		audit_seal(log, w.damage.msg);
		return 0;
	}
	if (want && audit_walk_matches(log->path, &w, want, true, &why) < 0) {
		audit_seal(log, why.msg);
		return 0;
	}
	if (w.why) {
		if (ftruncate(log->fd, w.good_end) < 0 || compat_fsync(log->fd) < 0)
			return cf_err_errno(err, "cutting the torn last line of audit log %s",
					    log->path);
		if (warning_len)
			snprintf(warning, warning_len,
				 "audit log %s: cut a torn last line (%lld bytes at offset %lld, %s): "
				 "the step it was recording never counted", log->path,
				 (long long)(st.st_size - w.good_end), (long long)w.good_end, w.why);
		if (fstat(log->fd, &st) < 0)
			return cf_err_errno(err, "audit log %s", log->path);
	}
	log->end = w.end;
	log->size = w.good_end;
	log->seen = st;
	return 0;
}

int audit_open_anchored(struct audit_log **out, const char *path, const struct audit_anchor *want,
			char *warning, size_t warning_len, struct cf_err *err)
{
	struct audit_log *log = NULL;
	char dir[PATH_MAX];
	int rc = -1;

	*out = NULL;
	if (warning_len)
		warning[0] = '\0';
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return cf_err_set(err, "audit log %s: path too long", path);
	if (!(log = calloc(1, sizeof(*log))))
		return cf_err_set(err, "out of memory");
	log->fd = -1;
	memcpy(log->end.head, AUDIT_GENESIS, sizeof(log->end.head));
	if (!(log->path = strdup(path))) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	log->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (log->fd < 0) {
		cf_err_errno(err, "opening audit log %s", path);
		goto done;
	}
	if (flock(log->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			cf_err_set(err, "audit log %s is open in another process: is a second "
				   "controller using the same state directory?", path);
		else
			cf_err_errno(err, "locking audit log %s", path);
		goto done;
	}
	/* The file may have just been created: its directory entry must survive a crash too. */
	if (fsutil_fsync_dir(dirname(dir), err) < 0 ||
	    settle_open(log, want, warning, warning_len, err) < 0)
		goto done;
	*out = log;
	log = NULL;
	rc = 0;
done:
	audit_close(log);
	return rc;
}

int audit_open(struct audit_log **out, const char *path, char *warning, size_t warning_len,
	       struct cf_err *err)
{
	if (audit_open_anchored(out, path, NULL, warning, warning_len, err) < 0)
		return -1;
	if (!(*out)->broken[0])
		return 0;
	cf_err_set(err, "%s; run `clawfleet audit verify %s` and repair the file by hand",
		   (*out)->broken, path);
	audit_close(*out);
	*out = NULL;
	return -1;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int audit_check(struct audit_log *log, struct cf_err *err)
{
	struct audit_walk w = {.at_line = log->end.lines};
	struct cf_err why;
	struct stat st, at_path;

	if (log->broken[0])
		return cf_err_set(err, "%s", log->broken);
	if (fstat(log->fd, &st) < 0)
		return cf_err_errno(err, "audit log %s", log->path);
	if (stat(log->path, &at_path) < 0 || at_path.st_dev != st.st_dev ||
	    at_path.st_ino != st.st_ino) {
		cf_err_set(&why, "the audit log %s was removed or replaced by another file while the "
			   "controller had it open; check it with `clawfleet audit verify %s` and "
			   "restart the controller", log->path, log->path);
		audit_seal(log, why.msg);
		return cf_err_set(err, "%s", why.msg);
	}
	struct timespec mtime = compat_stat_mtime(&st), ctime = compat_stat_ctime(&st);
	struct timespec seen_mtime = compat_stat_mtime(&log->seen);
	struct timespec seen_ctime = compat_stat_ctime(&log->seen);
	if (st.st_size == log->seen.st_size && same_time(&mtime, &seen_mtime) &&
	    same_time(&ctime, &seen_ctime))
		return 0;
	if (audit_walk(log->fd, log->path, &w, err) < 0)
		return -1;
	if (w.broken || w.why || audit_walk_matches(log->path, &w, &log->end, false, &why) < 0) {
		audit_seal(log, w.broken ? w.damage.msg : w.why ? w.tail.msg : why.msg);
		return cf_err_set(err, "%s", log->broken);
	}
	log->seen = st;
	return 0;
}

int audit_read_tail(const char *path, size_t max_lines, size_t max_bytes, char **out,
		    size_t *len, struct cf_err *err)
{
	char *buf = NULL;
	struct stat st;
	size_t n = 0;
	off_t base = 0;
	int rc = -1;

	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return cf_err_errno(err, "opening the audit log %s", path);
		*out = strdup("");
		return *out ? 0 : cf_err_set(err, "reading the audit log: out of memory");
	}
	if (fstat(fd, &st) < 0) {
		cf_err_errno(err, "reading the audit log %s", path);
		goto done;
	}
	buf = malloc(((size_t)st.st_size < max_bytes ? (size_t)st.st_size : max_bytes) + 1);
	if (!buf) {
		cf_err_set(err, "reading the audit log: out of memory");
		goto done;
	}
	if (read_end(fd, st.st_size, max_bytes, buf, &n, &base, err) < 0) {
		cf_err_prefix(err, "the audit log %s", path);
		goto done;
	}
	/* Only complete lines: drop a torn last line (a write in progress) and, when the read did
	 * not start at the beginning, the partial first one. */
	size_t end = n;
	while (end > 0 && buf[end - 1] != '\n')
		end--;
	size_t start = 0;
	if (base > 0) {
		char *nl = memchr(buf, '\n', end);
		start = nl ? (size_t)(nl - buf) + 1 : end;
	}
	size_t lines = 0, cut = end;
	while (cut > start && lines < max_lines) {
		cut--;
		while (cut > start && buf[cut - 1] != '\n')
			cut--;
		lines++;
	}
	memmove(buf, buf + cut, end - cut);
	buf[end - cut] = '\0';
	*out = buf;
	*len = end - cut;
	buf = NULL;
	rc = 0;
done:
	close(fd);
	free(buf);
	return rc;
}

static struct json_object *new_string(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static struct json_object *version_json(const struct audit_version *v)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "semver", new_string(v->semver));
	json_object_object_add(o, "tag", new_string(v->tag));
	return o;
}

static int entry_json(const struct audit_entry *e, const char *prev, struct json_object **out,
		      struct cf_err *err)
{
	struct json_object *o = json_object_new_object(), *weights = json_object_new_object();
	char ts[RFC3339_MS_MAX];
	int rc = -1;

	*out = NULL;
	if (!e->event || !e->event[0]) {
		cf_err_set(err, "an audit entry needs an event");
		goto done;
	}
	if (e->ts_ms < 0 || e->ts_ms > TS_MAX_MS) {
		cf_err_set(err, "audit entry time %lld ms is outside years 1970 to 9999",
			   (long long)e->ts_ms);
		goto done;
	}
	for (size_t i = 0; i < e->nweights; i++) {
		const char *server = e->weights[i].server;
		if (!server || !server[0]) {
			cf_err_set(err, "weight %zu has no server name", i);
			goto done;
		}
		if (json_object_object_get_ex(weights, server, NULL)) {
			cf_err_set(err, "server \"%s\" appears twice in the weight map", server);
			goto done;
		}
		json_object_object_add(weights, server, json_object_new_int(e->weights[i].weight));
	}
	rfc3339_format_ms(e->ts_ms, ts, sizeof(ts));
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "event", new_string(e->event));
	json_object_object_add(o, "promotion", new_string(e->promotion));
	json_object_object_add(o, "revision", new_string(e->revision));
	json_object_object_add(o, "phase", new_string(e->phase));
	json_object_object_add(o, "step", json_object_new_int(e->step));
	json_object_object_add(o, "percent", json_object_new_int(e->percent));
	json_object_object_add(o, "reason", new_string(e->reason));
	json_object_object_add(o, "actor", new_string(e->actor));
	json_object_object_add(o, "ticket", new_string(e->ticket));
	json_object_object_add(o, "from", version_json(&e->from));
	json_object_object_add(o, "to", version_json(&e->to));
	json_object_object_add(o, "weights", weights);
	weights = NULL;
	json_object_object_add(o, "probeSha256", new_string(e->probe_sha256));
	if (e->node && *e->node)
		json_object_object_add(o, "node", new_string(e->node));
	json_object_object_add(o, "prev", json_object_new_string(prev));
	*out = o;
	o = NULL;
	rc = 0;
done:
	json_object_put(weights);
	json_object_put(o);
	return rc;
}

/* Writes line (len bytes and room for one more) with its newline in one write and fsyncs it;
 * hash is its sha256, the new head. */
static int append_line(struct audit_log *log, char *line, size_t len, const char *hash,
		       struct cf_err *err)
{
	ssize_t w;
	/* The caller leaves room for a NUL after the text: the newline takes its place. */
	line[len] = '\n';
	/* One write, so a crash leaves either the whole line or a piece without its newline. */
	do
		w = write(log->fd, line, len + 1);
	while (w < 0 && errno == EINTR);
	line[len] = '\0';
	if (w < 0)
		return cf_err_errno(err, "appending to audit log %s", log->path);
	if ((size_t)w != len + 1) {
		if (ftruncate(log->fd, log->size) < 0)
			log->failed = true;
		return cf_err_set(err, "appending to audit log %s: only %zd of %zu bytes written "
				  "(disk full?)", log->path, w, len + 1);
	}
	if (compat_fsync(log->fd) < 0) {
		log->failed = true;
		return cf_err_errno(err, "fsync audit log %s", log->path);
	}
	memcpy(log->end.head, hash, 65);
	log->end.lines++;
	log->size += (off_t)(len + 1);
	/* What this append left is what the next audit_check expects. */
	if (fstat(log->fd, &log->seen) < 0)
		memset(&log->seen, 0, sizeof(log->seen));
	return 0;
}

static int can_append(struct audit_log *log, struct cf_err *err)
{
	if (log->failed)
		return cf_err_set(err, "audit log %s: an earlier write failed and what reached the "
				  "disk is unknown; open the log again before appending", log->path);
	return audit_check(log, err);
}

int audit_append(struct audit_log *log, const struct audit_entry *e, struct cf_err *err)
{
	struct json_object *obj = NULL;
	char *line = NULL, hash[65];
	size_t len = 0;
	int rc = -1;

	if (can_append(log, err) < 0)
		return -1;
	if (entry_json(e, log->end.head, &obj, err) < 0 || canon_json(obj, &line, &len, err) < 0) {
		cf_err_prefix(err, "audit log %s", log->path);
		goto done;
	}
	if (len > AUDIT_LINE_MAX) {
		cf_err_set(err, "audit log %s: the entry is %zu bytes, over the %u byte line limit",
			   log->path, len, AUDIT_LINE_MAX);
		goto done;
	}
	canon_sha256_hex(line, len, hash);
	rc = append_line(log, line, len, hash, err);
done:
	json_object_put(obj);
	free(line);
	return rc;
}

int audit_append_line(struct audit_log *log, const char *text, size_t len, struct cf_err *err)
{
	char *line = NULL, hash[65];
	int rc = -1;

	if (can_append(log, err) < 0)
		return -1;
	if (len > AUDIT_LINE_MAX)
		return cf_err_set(err, "audit log %s: a line of %zu bytes, over the %u byte limit",
				  log->path, len, AUDIT_LINE_MAX);
	if (audit_check_line(text, len, log->end.lines + 1, log->end.head, err) < 0)
		return cf_err_prefix(err, "audit log %s: line %llu", log->path,
				     (unsigned long long)log->end.lines + 1);
	if (!(line = malloc(len + 1)))
		return cf_err_set(err, "out of memory");
	memcpy(line, text, len);
	canon_sha256_hex(line, len, hash);
	rc = append_line(log, line, len, hash, err);
	free(line);
	return rc;
}

const char *audit_head(const struct audit_log *log)
{
	return log->end.head;
}

void audit_anchor_of(const struct audit_log *log, struct audit_anchor *out)
{
	*out = log->end;
}

void audit_close(struct audit_log *log)
{
	if (!log)
		return;
	if (log->fd >= 0)
		close(log->fd);
	free(log->path);
	free(log);
}

/* "Key: value" with a git trailer key (letters, digits, '-') and white space allowed before the
 * colon; true with the trimmed value when the key is "ticket" in any case. */
static bool ticket_trailer(const char *s, size_t n, const char **val, size_t *val_len)
{
	size_t k = 0, i;

	while (k < n && (s[k] == '-' || (s[k] >= '0' && s[k] <= '9') ||
			 ((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'z')))
		k++;
	if (k != 6 || strncasecmp(s, "ticket", 6) != 0)
		return false;
	i = k;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] != ':')
		return false;
	i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	*val = s + i;
	*val_len = n - i;
	return true;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int audit_ticket_from_message(const char *message, char out[AUDIT_TICKET_MAX])
{
	const char *last_para = NULL, *p, *eol;
	int paragraphs = 0, found = 0;
	bool in_para = false;

	out[0] = '\0';
	for (p = message; *p; p = *eol ? eol + 1 : eol) {
		eol = compat_strchrnul(p, '\n');
		if (blank(p, (size_t)(eol - p))) {
			in_para = false;
		} else if (!in_para) {
			in_para = true;
			paragraphs++;
			last_para = p;
		}
	}
	/* Trailers live in the last paragraph, and the first paragraph is the subject. */
	if (paragraphs < 2)
		return 0;
	for (p = last_para; *p; p = *eol ? eol + 1 : eol) {
		const char *val;
		size_t val_len;
		eol = compat_strchrnul(p, '\n');
		if (blank(p, (size_t)(eol - p)))
			break;
		if (ticket_trailer(p, (size_t)(eol - p), &val, &val_len) && val_len &&
		    val_len < AUDIT_TICKET_MAX) {
			memcpy(out, val, val_len);
			out[val_len] = '\0';
			found = 1;
		}
	}
	return found;
}
