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
#include "base/fsutil.h"
#include "base/jsonparse.h"
#include "base/timeparse.h"

/* Enough of the file's end to hold a torn piece (at most one line without its newline), the
 * whole line before it and the newline that ends the line before that. */
#define TAIL_MAX (2 * ((size_t)AUDIT_LINE_MAX + 2))
/* 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
#define TS_MAX_MS INT64_C(253402300799999)
/* An audit line is two levels deep; anything deeper was not written by clawfleet. */
#define LINE_MAX_DEPTH 8

struct audit_log {
	int fd;
	char *path;
	off_t size;
	char head[65];
	bool failed;
};

/* Parses one line as exactly one JSON object, strictly. */
static int parse_line(const char *line, size_t len, struct json_object **out, struct cf_err *err)
{
	return jsonparse_object(line, len, LINE_MAX_DEPTH, out, err);
}

static bool line_is_object(const char *line, size_t len)
{
	struct json_object *v;

	if (parse_line(line, len, &v, NULL) < 0)
		return false;
	json_object_put(v);
	return true;
}

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

/* Finds the last good line in the tail, cutting at most one bad line after it: a write the
 * crash interrupted (no newline) or, with a newline, one that is not JSON. Sets *keep to the
 * length of the file to keep and head to the hash of its last line. */
static int find_head(const char *path, const char *tail, size_t n, off_t base, off_t *keep,
		     char head[65], const char **why, struct cf_err *err)
{
	size_t end = n, start = 0;

	*why = NULL;
	/* Each pass either stops or moves end back by one line; the second bad line is an error. */
	while (end) {
		bool complete = tail[end - 1] == '\n';
		size_t body = complete ? end - 1 : end;
		const char *nl = memrchr(tail, '\n', body);
		if (!nl && base > 0)
			return cf_err_set(err, "%s: the last line is longer than %u bytes; run "
					  "`clawfleet audit verify %s` and repair the file by hand",
					  path, AUDIT_LINE_MAX, path);
		start = nl ? (size_t)(nl - tail) + 1 : 0;
		if (complete && line_is_object(tail + start, body - start))
			break;
		if (*why)
			return cf_err_set(err, "%s: the last two lines are damaged, more than an "
					  "interrupted write leaves; run `clawfleet audit verify %s` and "
					  "repair the file by hand", path, path);
		*why = complete ? "it is not valid JSON" : "it has no newline";
		end = start;
	}
	if (end)
		canon_sha256_hex(tail + start, end - 1 - start, head);
	else
		memcpy(head, AUDIT_GENESIS, 65);
	*keep = base + (off_t)end;
	return 0;
}

int audit_open(struct audit_log **out, const char *path, char *warning, size_t warning_len,
	       struct cf_err *err)
{
	struct audit_log *log = NULL;
	char *tail = NULL, dir[PATH_MAX];
	const char *why;
	struct stat st;
	size_t n = 0;
	off_t base = 0, keep = 0;
	int rc = -1;

	*out = NULL;
	if (warning_len)
		warning[0] = '\0';
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return cf_err_set(err, "audit log %s: path too long", path);
	if (!(log = calloc(1, sizeof(*log))))
		return cf_err_set(err, "out of memory");
	log->fd = -1;
	if (!(log->path = strdup(path)) || !(tail = malloc(TAIL_MAX))) {
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
	if (fstat(log->fd, &st) < 0) {
		cf_err_errno(err, "audit log %s", path);
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		cf_err_set(err, "audit log %s is not a regular file", path);
		goto done;
	}
	/* The file may have just been created: its directory entry must survive a crash too. */
	if (fsutil_fsync_dir(dirname(dir), err) < 0)
		goto done;
	if (read_end(log->fd, st.st_size, TAIL_MAX, tail, &n, &base, err) < 0) {
		cf_err_prefix(err, "audit log %s", path);
		goto done;
	}
	/* The lock keeps every other writer out, so this is a file changed behind clawfleet. */
	if (base + (off_t)n != st.st_size) {
		cf_err_set(err, "audit log %s: the file shrank while it was being read", path);
		goto done;
	}
	if (find_head(path, tail, n, base, &keep, log->head, &why, err) < 0)
		goto done;
	if (why) {
		if (ftruncate(log->fd, keep) < 0 || fsync(log->fd) < 0) {
			cf_err_errno(err, "cutting the torn last line of audit log %s", path);
			goto done;
		}
		if (warning_len)
			snprintf(warning, warning_len,
				 "audit log %s: cut a torn last line (%lld bytes at offset %lld, %s): "
				 "the step it was recording never counted", path,
				 (long long)(st.st_size - keep), (long long)keep, why);
	}
	log->size = keep;
	*out = log;
	log = NULL;
	rc = 0;
done:
	audit_close(log);
	free(tail);
	return rc;
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

int audit_append(struct audit_log *log, const struct audit_entry *e, struct cf_err *err)
{
	struct json_object *obj = NULL;
	char *line = NULL, hash[65];
	size_t len = 0;
	ssize_t w;
	int rc = -1;

	if (log->failed)
		return cf_err_set(err, "audit log %s: an earlier write failed and what reached the "
				  "disk is unknown; open the log again before appending", log->path);
	if (entry_json(e, log->head, &obj, err) < 0 || canon_json(obj, &line, &len, err) < 0) {
		cf_err_prefix(err, "audit log %s", log->path);
		goto done;
	}
	if (len > AUDIT_LINE_MAX) {
		cf_err_set(err, "audit log %s: the entry is %zu bytes, over the %u byte line limit",
			   log->path, len, AUDIT_LINE_MAX);
		goto done;
	}
	canon_sha256_hex(line, len, hash);
	/* canon_json leaves room for a NUL after the text: the newline takes its place. */
	line[len] = '\n';
	/* One write, so a crash leaves either the whole line or a piece without its newline. */
	do
		w = write(log->fd, line, len + 1);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		cf_err_errno(err, "appending to audit log %s", log->path);
		goto done;
	}
	if ((size_t)w != len + 1) {
		if (ftruncate(log->fd, log->size) < 0)
			log->failed = true;
		cf_err_set(err, "appending to audit log %s: only %zd of %zu bytes written (disk full?)",
			   log->path, w, len + 1);
		goto done;
	}
	if (fsync(log->fd) < 0) {
		log->failed = true;
		cf_err_errno(err, "fsync audit log %s", log->path);
		goto done;
	}
	memcpy(log->head, hash, sizeof(hash));
	log->size += (off_t)(len + 1);
	rc = 0;
done:
	json_object_put(obj);
	free(line);
	return rc;
}

const char *audit_head(const struct audit_log *log)
{
	return log->head;
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

enum line_status { LINE_OK, LINE_EOF, LINE_TORN, LINE_TOO_LONG, LINE_READ_ERROR };

/* Hands out the file's lines from one buffer of a line's maximum size. */
struct line_reader {
	int fd;
	char *buf;
	size_t start, end;
	bool eof;
};

#define READER_CAP ((size_t)AUDIT_LINE_MAX + 1)

static enum line_status next_line(struct line_reader *r, const char **line, size_t *len)
{
	/* Each pass finds a line, reads more bytes or reaches the end of the file. */
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl) {
			*line = r->buf + r->start;
			*len = (size_t)(nl - *line);
			r->start += *len + 1;
			return LINE_OK;
		}
		if (r->eof)
			return r->end > r->start ? LINE_TORN : LINE_EOF;
		if (r->start) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == READER_CAP)
			return LINE_TOO_LONG;
		ssize_t n = read(r->fd, r->buf + r->end, READER_CAP - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return LINE_READ_ERROR;
		if (n == 0)
			r->eof = true;
		r->end += (size_t)n;
	}
}

/* One line against the hash of the line before it (AUDIT_GENESIS before the first). */
static int check_line(const char *line, size_t len, size_t lineno, const char *want_prev,
		      struct cf_err *err)
{
	struct json_object *v = NULL, *prev;
	char *canon = NULL;
	size_t canon_len = 0;
	int rc = -1;

	if (parse_line(line, len, &v, err) < 0)
		goto done;
	if (canon_json(v, &canon, &canon_len, err) < 0)
		goto done;
	if (canon_len != len || memcmp(canon, line, len) != 0) {
		cf_err_set(err, "not in canonical JSON form (sorted keys, no white space): the line "
			   "was edited or not written by clawfleet");
		goto done;
	}
	if (!json_object_object_get_ex(v, "prev", &prev) ||
	    !json_object_is_type(prev, json_type_string)) {
		cf_err_set(err, "prev is missing or not a string");
		goto done;
	}
	/* Checked before it is printed: a hand-made value could carry terminal escapes. */
	const char *got = json_object_get_string(prev);
	if (strspn(got, "0123456789abcdef") != 64 || got[64]) {
		cf_err_set(err, "prev is not a sha256 (64 lower-case hex digits)");
	} else if (strcmp(got, want_prev) == 0) {
		rc = 0;
	} else if (lineno == 1) {
		cf_err_set(err, "prev of the first line is %s, not 64 zeros: lines are missing "
			   "before it", got);
	} else {
		cf_err_set(err, "prev does not match line %zu: that line hashes to %s, prev is %s",
			   lineno - 1, want_prev, got);
	}
done:
	free(canon);
	json_object_put(v);
	return rc;
}

int audit_verify(const char *path, struct audit_verify_result *res, struct cf_err *err)
{
	struct line_reader r = {.fd = -1};
	char prev[65] = AUDIT_GENESIS;
	size_t lineno = 0;
	int rc = -1;

	res->entries = 0;
	memcpy(res->last, AUDIT_GENESIS, sizeof(res->last));
	if (!(r.buf = malloc(READER_CAP))) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	r.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0) {
		cf_err_errno(err, "%s", path);
		goto done;
	}
	/* Bounded by the file: every line moves the reader forward. */
	for (;;) {
		const char *line = NULL;
		size_t len = 0;
		enum line_status st = next_line(&r, &line, &len);
		if (st == LINE_EOF)
			break;
		lineno++;
		if (st == LINE_READ_ERROR) {
			cf_err_errno(err, "%s:%zu: reading", path, lineno);
			goto done;
		}
		if (st == LINE_TORN) {
			cf_err_set(err, "%s:%zu: the last line has no newline: a write cut short by a "
				   "crash (the controller cuts it off when it starts)", path, lineno);
			goto done;
		}
		if (st == LINE_TOO_LONG) {
			cf_err_set(err, "%s:%zu: line is longer than %u bytes", path, lineno,
				   AUDIT_LINE_MAX);
			goto done;
		}
		if (check_line(line, len, lineno, prev, err) < 0) {
			cf_err_prefix(err, "%s:%zu", path, lineno);
			goto done;
		}
		canon_sha256_hex(line, len, prev);
	}
	res->entries = lineno;
	memcpy(res->last, prev, sizeof(res->last));
	rc = 0;
done:
	if (r.fd >= 0)
		close(r.fd);
	free(r.buf);
	return rc;
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
		eol = strchrnul(p, '\n');
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
		eol = strchrnul(p, '\n');
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
