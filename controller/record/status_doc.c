/* /status pages (record/status.h, struct status_doc): which nodes a query asks for, and the
 * document of one page put together from the parts a pass rendered, by copying. */
#include "record/status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

#define STATUS_DOC_MAX (256u << 20)

/* A count of 0..SIZE_MAX/2 in decimal, nothing else. */
static bool parse_count(const char *s, size_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > SIZE_MAX / 2)
		return false;
	*out = (size_t)v;
	return true;
}

int status_nodes_query_parse(const char *nodes, const char *offset, size_t total,
			     struct status_nodes_query *q, struct cf_err *err)
{
	*q = (struct status_nodes_query){false, 0, STATUS_NODES_ALL};
	if (!nodes && offset)
		return cf_err_set(err, "offset needs nodes: ?nodes=LIMIT&offset=N");
	if (!nodes) {
		if (total > STATUS_NODES_DEFAULT)
			*q = (struct status_nodes_query){true, 0, STATUS_NODES_DEFAULT};
		return 0;
	}
	q->paged = true;
	if (offset && !parse_count(offset, &q->offset))
		return cf_err_set(err, "offset \"%.40s\": want a count of nodes, 0 or more", offset);
	if (strcmp(nodes, "all") == 0)
		q->limit = STATUS_NODES_ALL;
	else if (strcmp(nodes, "none") == 0)
		q->limit = 0;
	else if (!parse_count(nodes, &q->limit))
		return cf_err_set(err, "nodes \"%.40s\": want all, none or a count of nodes", nodes);
	return 0;
}

static int page_json(struct buf *b, const struct status_doc *d, const struct status_nodes_query *q,
		     size_t from, size_t to, struct cf_err *err)
{
	return buf_printf(b, err, ",\"nodesPage\":{\"offset\":%zu,\"limit\":", q->offset) < 0 ||
			       (q->limit == STATUS_NODES_ALL
					? buf_appends(b, "null", err)
					: buf_printf(b, err, "%zu", q->limit)) < 0 ||
			       buf_printf(b, err,
					  ",\"returned\":%zu,\"total\":%zu,\"counts\":{\"green\":%zu,"
					  "\"degraded\":%zu,\"red\":%zu,\"unreachable\":%zu}}",
					  to - from, d->nnodes, d->counts[0], d->counts[1],
					  d->counts[2], d->counts[3]) < 0
		       ? -1
		       : 0;
}

int status_doc_page(const struct status_doc *d, const struct status_nodes_query *q, char **out,
		    size_t *len, struct cf_err *err)
{
	struct buf b = BUF_INIT(STATUS_DOC_MAX);
	size_t from = q->offset < d->nnodes ? q->offset : d->nnodes;
	size_t to = q->limit < d->nnodes - from ? from + q->limit : d->nnodes;
	if (buf_append(&b, d->head, d->head_len, err) < 0 || buf_append(&b, "{", 1, err) < 0)
		goto fail;
	for (size_t i = from; i < to; i++)
		if ((i > from && buf_append(&b, ",", 1, err) < 0) ||
		    buf_append(&b, d->nodes + d->node_at[i], d->node_at[i + 1] - d->node_at[i],
			       err) < 0)
			goto fail;
	if (buf_append(&b, "}", 1, err) < 0 || (q->paged && page_json(&b, d, q, from, to, err) < 0) ||
	    buf_append(&b, d->tail, d->tail_len, err) < 0)
		goto fail;
	*out = buf_take(&b, len);
	if (!*out)
		return cf_err_set(err, "rendering /status: out of memory");
	return 0;
fail:
	buf_free(&b);
	return cf_err_prefix(err, "rendering /status");
}

void status_doc_free(struct status_doc *d)
{
	free(d->head);
	free(d->tail);
	free(d->nodes);
	free(d->node_at);
	*d = (struct status_doc){0};
}
