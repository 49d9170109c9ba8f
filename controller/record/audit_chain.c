/* Reading promotions.jsonl back: every line checked against the one before it (audit_walk), the
 * end compared with an anchor, and clawfleet audit verify's two checks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/canon.h"
#include "base/jsonparse.h"
#include "record/audit.h"
#include "record/audit_internal.h"

/* An audit line is two levels deep; anything deeper was not written by clawfleet. */
#define LINE_MAX_DEPTH 8

int audit_parse_line(const char *line, size_t len, struct json_object **out, struct cf_err *err)
{
	return jsonparse_object(line, len, LINE_MAX_DEPTH, out, err);
}

static bool line_is_object(const char *line, size_t len)
{
	struct json_object *v;

	if (audit_parse_line(line, len, &v, NULL) < 0)
		return false;
	json_object_put(v);
	return true;
}

enum line_status { LINE_OK, LINE_EOF, LINE_TORN, LINE_TOO_LONG, LINE_READ_ERROR };

/* Hands out the file's lines from one buffer of a line's maximum size. */
struct line_reader {
	int fd;
	off_t at; /* the file offset of buf[end] */
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
		ssize_t n = pread(r->fd, r->buf + r->end, READER_CAP - r->end, r->at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return LINE_READ_ERROR;
		if (n == 0)
			r->eof = true;
		r->end += (size_t)n;
		r->at += n;
	}
}

int audit_check_line(const char *line, size_t len, uint64_t lineno, const char *want_prev,
		     struct cf_err *err)
{
	struct json_object *v = NULL, *prev;
	char *canon = NULL;
	size_t canon_len = 0;
	int rc = -1;

	if (audit_parse_line(line, len, &v, err) < 0)
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
		cf_err_set(err, "prev does not match line %" PRIu64 ": that line hashes to %s, prev "
			   "is %s (line %" PRIu64 " was changed, or lines were deleted after it)",
			   lineno - 1, want_prev, got, lineno - 1);
	}
done:
	free(canon);
	json_object_put(v);
	return rc;
}

/* The bad line lineno is the log's last: a tail the writer may cut. */
static void tail_problem(struct audit_walk *w, const char *why, const struct cf_err *said)
{
	w->why = why;
	w->tail = *said;
}

static void damage(struct audit_walk *w, const struct cf_err *said)
{
	w->broken = true;
	w->damage = *said;
}

int audit_walk(int fd, const char *path, struct audit_walk *w, struct cf_err *err)
{
	struct line_reader r = {.fd = fd};
	struct cf_err said;
	int rc = -1;

	memcpy(w->end.head, AUDIT_GENESIS, sizeof(w->end.head));
	w->end.lines = 0;
	w->at_hash[0] = '\0';
	w->found_line = 0;
	w->good_end = 0;
	w->why = NULL;
	w->broken = false;
	if (!(r.buf = malloc(READER_CAP)))
		return cf_err_set(err, "reading the audit log %s: out of memory", path);
	/* Bounded by the file: every line moves the reader forward. */
	for (;;) {
		const char *line = NULL;
		size_t len = 0;
		uint64_t lineno = w->end.lines + 1;
		enum line_status st = next_line(&r, &line, &len);
		if (st == LINE_EOF)
			break;
		if (st == LINE_READ_ERROR) {
			cf_err_errno(err, "%s:%" PRIu64 ": reading", path, lineno);
			goto done;
		}
		if (st == LINE_TORN) {
			cf_err_set(&said, "%s:%" PRIu64 ": the last line has no newline: a write cut "
				   "short by a crash (the controller cuts it off when it starts)",
				   path, lineno);
			tail_problem(w, "it has no newline", &said);
			break;
		}
		if (st == LINE_TOO_LONG) {
			cf_err_set(&said, "%s:%" PRIu64 ": line is longer than %u bytes", path,
				   lineno, AUDIT_LINE_MAX);
			damage(w, &said);
			break;
		}
		if (audit_check_line(line, len, lineno, w->end.head, &said) < 0) {
			bool object = line_is_object(line, len);
			cf_err_prefix(&said, "%s:%" PRIu64, path, lineno);
			st = object ? LINE_OK : next_line(&r, &line, &len);
			if (st == LINE_EOF) {
				tail_problem(w, "it is not valid JSON", &said);
			} else if (st == LINE_TORN) {
				cf_err_set(&said, "%s:%" PRIu64 ": the last two lines are damaged, "
					   "more than an interrupted write leaves", path, lineno);
				damage(w, &said);
			} else {
				damage(w, &said);
			}
			break;
		}
		canon_sha256_hex(line, len, w->end.head);
		w->end.lines = lineno;
		w->good_end += (off_t)len + 1;
		if (lineno == w->at_line)
			memcpy(w->at_hash, w->end.head, sizeof(w->at_hash));
		if (w->find_hash && !w->found_line && strcmp(w->end.head, w->find_hash) == 0)
			w->found_line = lineno;
	}
	rc = 0;
done:
	free(r.buf);
	return rc;
}

int audit_walk_matches(const char *path, const struct audit_walk *w,
		       const struct audit_anchor *want, bool one_more, struct cf_err *err)
{
	uint64_t have = w->end.lines, had = want->lines;

	if (have < had)
		return cf_err_set(err, "the audit log %s has %" PRIu64 " %s%s, the state recorded %"
				  PRIu64 ": %" PRIu64 " %s lost after line %" PRIu64, path, have,
				  have == 1 ? "line" : "lines",
				  w->why ? " and a piece of the next" : "", had, had - have,
				  had - have == 1 ? "line" : "lines", have);
	const char *at = had ? w->at_hash : AUDIT_GENESIS;
	if (strcmp(at, want->head) != 0)
		return cf_err_set(err, "the audit log %s: line %" PRIu64 " hashes to %s, the state "
				  "recorded %s: a line up to %" PRIu64 " was changed and the chain "
				  "rebuilt after it", path, had, at, want->head, had);
	if (have > had + (one_more ? 1 : 0))
		return cf_err_set(err, "the audit log %s has %" PRIu64 " lines, the state recorded %"
				  PRIu64 ": lines %" PRIu64 " to %" PRIu64 " were not written by "
				  "this controller", path, have, had, had + 1, have);
	return 0;
}

static int verify(const char *path, struct audit_walk *w, struct audit_verify_result *res,
		  struct cf_err *err)
{
	int rc = -1;

	res->entries = 0;
	memcpy(res->last, AUDIT_GENESIS, sizeof(res->last));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cf_err_errno(err, "%s", path);
	if (audit_walk(fd, path, w, err) < 0)
		goto done;
	if (w->broken || w->why) {
		*err = w->broken ? w->damage : w->tail;
		goto done;
	}
	res->entries = (size_t)w->end.lines;
	memcpy(res->last, w->end.head, sizeof(res->last));
	rc = 0;
done:
	close(fd);
	return rc;
}

int audit_verify(const char *path, struct audit_verify_result *res, struct cf_err *err)
{
	struct audit_walk w = {0};

	return verify(path, &w, res, err);
}

int audit_verify_anchor(const char *path, const struct audit_anchor *want,
			struct audit_verify_result *res, uint64_t *line, struct cf_err *err)
{
	struct audit_walk w = {.at_line = want->lines, .find_hash = want->head};

	*line = 0;
	if (verify(path, &w, res, err) < 0)
		return -1;
	if (want->lines) {
		if (w.end.lines < want->lines)
			return cf_err_set(err, "%s has %" PRIu64 " lines, the anchor names line %" PRIu64
					  ": %" PRIu64 " lines lost after line %" PRIu64, path,
					  w.end.lines, want->lines, want->lines - w.end.lines,
					  w.end.lines);
		if (strcmp(w.at_hash, want->head) != 0)
			return cf_err_set(err, "%s: line %" PRIu64 " hashes to %s, the anchor says %s: "
					  "a line up to %" PRIu64 " was changed and the chain rebuilt "
					  "after it", path, want->lines, w.at_hash, want->head,
					  want->lines);
		*line = want->lines;
		return 0;
	}
	if (strcmp(want->head, AUDIT_GENESIS) == 0)
		return 0;
	if (!w.found_line)
		return cf_err_set(err, "%s: no line hashes to %s: the line the anchor names was "
				  "changed or lost (%" PRIu64 " lines verify)", path, want->head,
				  w.end.lines);
	*line = w.found_line;
	return 0;
}
