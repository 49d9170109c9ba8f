#include "desired/desired_cache.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "desired/schema.h"

/* A summary (CF_ERR_MSG) and the lines shown fit far below this. */
#define ERROR_TEXT_MAX 16384
/* A formatted problem is read this far; the rest could not be shown anyway. */
#define DIAG_READ_MAX 2048

int desired_cache_refresh(struct desired_cache *c, struct source *src,
			  const struct schema_set *schemas, struct diag_list *diags,
			  struct cf_err *err)
{
	char commit[41], revision[GITSOURCE_REVISION_MAX];
	if (source_resolve(src, commit, revision, err) < 0)
		return -1;
	if (commit[0] && c->ds && strcmp(commit, c->commit) == 0)
		return DESIRED_UNCHANGED;
	struct treefiles files = {0};
	struct desired_state *ds = NULL;
	struct schema_set *loaded = NULL;
	int rc = -1;
	if (!schemas) {
		if (schema_set_load_embedded(&loaded, err) < 0) {
			cf_err_prefix(err, "loading the compiled CRDs");
			goto done;
		}
		schemas = loaded;
	}
	if (source_read(src, commit, &files, err) < 0)
		goto done;
	struct desired_hooks hooks = {.tag_exists = source_tag_exists, .ctx = src};
	if (desired_load(&files, schemas, &hooks, &ds, diags) < 0) {
		size_t problems = diags->n + diags->dropped;
		diag_list_sort(diags);
		cf_err_set(err, "%s is invalid (%zu %s); keeping %s", revision, problems,
			   problems == 1 ? "error" : "errors",
			   c->ds ? c->revision : "no desired state");
		goto done;
	}
	ds->revision = strdup(revision);
	ds->commit = commit[0] ? strdup(commit) : NULL;
	if (!ds->revision || (commit[0] && !ds->commit)) {
		desired_free(ds);
		cf_err_set(err, "%s: out of memory; keeping %s", revision,
			   c->ds ? c->revision : "no desired state");
		goto done;
	}
	desired_free(c->ds);
	c->ds = ds;
	snprintf(c->commit, sizeof(c->commit), "%s", commit);
	snprintf(c->revision, sizeof(c->revision), "%s", revision);
	rc = DESIRED_CHANGED;
done:
	schema_set_free(loaded);
	treefiles_free(&files);
	return rc;
}

void desired_cache_clear(struct desired_cache *c)
{
	desired_free(c->ds);
	memset(c, 0, sizeof(*c));
}

/* s as one line of at most DESIRED_ERROR_LINE_MAX bytes: well-formed UTF-8 sequences other than
 * control characters are kept, any other byte becomes "?", and a line cut short ends in "...". */
static int append_line(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t avail = strlen(s), used = 0, max = DESIRED_ERROR_LINE_MAX;
	char out[DESIRED_ERROR_LINE_MAX];
	while (avail) {
		size_t len = utf8_seq_len(p, avail);
		bool shown = len && (*p >= 0x20 || *p == '\t') && *p != 0x7f;
		size_t take = shown ? len : 1;
		/* Room for this sequence, and for "..." if more follows it. */
		if (used + take + (avail > take ? 3 : 0) > max) {
			memcpy(out + used, "...", 3);
			used += 3;
			break;
		}
		if (shown)
			memcpy(out + used, p, take);
		else
			out[used] = '?';
		used += take;
		p += take;
		avail -= take;
	}
	return buf_append(b, out, used, NULL);
}

char *desired_error_text(const char *summary, const struct diag_list *diags)
{
	struct buf b = BUF_INIT(ERROR_TEXT_MAX);
	char line[DIAG_READ_MAX];
	size_t total = diags ? diags->n + diags->dropped : 0, shown = 0;
	if (buf_appends(&b, summary, NULL) < 0)
		goto fail;
	for (; diags && shown < diags->n && shown < DESIRED_ERRORS_SHOWN; shown++) {
		diag_format(&diags->v[shown], line, sizeof(line));
		if (buf_appends(&b, "\n", NULL) < 0 ||
		    append_line(&b, line) < 0)
			goto fail;
	}
	if (total > shown && buf_printf(&b, NULL, "\n... and %zu more", total - shown) < 0)
		goto fail;
	return buf_take(&b, NULL);
fail:
	buf_free(&b);
	return NULL;
}
