/* The HAProxy Runtime API's replies, read without I/O (weights.h lists them): the haproxy
 * driver's commands answer through these, and the tests feed them the replies HAProxy 2.6
 * prints. */
#include "reconcilers/weights/weights.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Longest reply line quoted in an error. */
#define REPLY_SHOWN 200
#define STATE_FORMAT_VERSION "1"
#define STATE_MAX_COLUMNS 64
#define STAT_MAX_COLUMNS 256

/* srv_op_state and srv_admin_state of `show servers state` (HAProxy's server-t.h). */
#define OP_STOPPED 0
#define OP_STOPPING 3
#define ADMIN_MAINT 0x67 /* forced, inherited, configured, resolution or hostname maintenance */
#define ADMIN_DRAIN 0x18 /* forced or inherited drain */
#define CHECK_ENABLED 0x04 /* srv_check_state: a health check runs */

/* The first line of text, printable ASCII only, for an error message. */
static void first_line(const char *text, char *out, size_t size)
{
	size_t n = 0;
	while (*text == '\n' || *text == '\r')
		text++;
	for (; *text && *text != '\n' && n + 1 < size && n < REPLY_SHOWN; text++)
		out[n++] = (*text >= ' ' && *text <= '~') ? *text : '?';
	out[n] = '\0';
}

int weights_haproxy_check_empty(const char *reply, struct cf_err *err)
{
	char shown[REPLY_SHOWN + 1];
	first_line(reply, shown, sizeof(shown));
	if (!shown[0])
		return 0;
	if (strncmp(shown, "Unknown command", 15) == 0)
		return cf_err_set(err, "HAProxy does not know the command (is this HAProxy 2.x, and "
				  "the socket at level admin?): %s", shown);
	if (strncmp(shown, "Permission denied", 17) == 0)
		return cf_err_set(err, "%s: the stats socket needs \"level admin\"", shown);
	return cf_err_set(err, "%s", shown);
}

/* Index of name among the header's words, or -1. */
static int column_of(char *const *words, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(words[i], name) == 0)
			return i;
	return -1;
}

/* Splits line (modified in place) at spaces; false when it has more than max words. */
static bool split_words(char *line, char **words, int max, int *n)
{
	*n = 0;
	for (char *save = NULL, *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (*n == max)
			return false;
		words[(*n)++] = w;
	}
	return true;
}

/* Splits a CSV line (modified in place) at commas, keeping empty fields; a trailing comma ends
 * the line. False when it has more than max fields. */
static bool split_csv(char *line, char **words, int max, int *n)
{
	*n = 0;
	for (char *w = line; w && *w;) {
		if (*n == max)
			return false;
		words[(*n)++] = w;
		w = strchr(w, ',');
		if (w)
			*w++ = '\0';
	}
	return true;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* A reply that is a table: a header line "# name name ..." (words, or CSV for `show stat`) at
 * header_line, then one row per line. head_fn is called once with the header's words, row_fn
 * with every row's. what names the command in errors, hint the header it wants. */
struct table {
	const char *what, *hint;
	bool csv;
	size_t header_line;
	char *head[STAT_MAX_COLUMNS];
	int ncols;
	int (*head_fn)(struct table *t, void *ctx, struct cf_err *err);
	int (*row_fn)(char **words, size_t lineno, void *ctx, struct cf_err *err);
};

static bool split_line(const struct table *t, char *line, char **words, int *n)
{
	return t->csv ? split_csv(line, words, STAT_MAX_COLUMNS, n)
		      : split_words(line, words, STATE_MAX_COLUMNS, n);
}

/* Reads copy (modified in place); 1 when it ends before the header. */
static int each_row(char *copy, struct table *t, void *ctx, struct cf_err *err)
{
	char *words[STAT_MAX_COLUMNS];
	int nwords;
	size_t lineno = 0;
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\r')
			line[len - 1] = '\0';
		if (lineno < t->header_line)
			continue;
		if (lineno == t->header_line) {
			char *head = line + 1 + (line[0] == '#' && line[1] == ' ');
			if (line[0] != '#' || !split_line(t, head, t->head, &t->ncols))
				return cf_err_set(err, "%s: line %zu: want the \"%s\" header", t->what,
						  lineno, t->hint);
			if (t->head_fn(t, ctx, err) < 0)
				return -1;
			continue;
		}
		if (!split_line(t, line, words, &nwords) || nwords != t->ncols)
			return cf_err_set(err, "%s: line %zu: want %d fields", t->what, lineno,
					  t->ncols);
		if (t->row_fn(words, lineno, ctx, err) < 0)
			return -1;
	}
	return lineno < t->header_line ? 1 : 0;
}

/* ---- show servers state <backend> ---- */

struct state_ctx {
	const char *backend;
	int be, srv, weight, op, admin, check;
	struct weight_map *weights;
	struct lb_servers *servers;
};

static enum lb_health health_of(long op, long admin, long check)
{
	if (admin & ADMIN_MAINT)
		return LB_HEALTH_MAINT;
	if (op == OP_STOPPED || op == OP_STOPPING)
		return LB_HEALTH_DOWN;
	return check & CHECK_ENABLED ? LB_HEALTH_UP : LB_HEALTH_UNKNOWN;
}

static int state_head(struct table *t, void *ctx, struct cf_err *err)
{
	struct state_ctx *c = ctx;
	c->be = column_of(t->head, t->ncols, "be_name");
	c->srv = column_of(t->head, t->ncols, "srv_name");
	c->weight = column_of(t->head, t->ncols, "srv_uweight");
	c->op = column_of(t->head, t->ncols, "srv_op_state");
	c->admin = column_of(t->head, t->ncols, "srv_admin_state");
	c->check = column_of(t->head, t->ncols, "srv_check_state");
	if (c->be < 0 || c->srv < 0 || (c->weights && c->weight < 0))
		return cf_err_set(err, "show servers state: the header lacks be_name, srv_name or "
				  "srv_uweight");
	if (c->servers && (c->op < 0 || c->admin < 0))
		return cf_err_set(err, "show servers state: the header lacks srv_op_state or "
				  "srv_admin_state");
	return 0;
}

static int state_row(char **words, size_t lineno, void *ctx, struct cf_err *err)
{
	struct state_ctx *c = ctx;
	long w, op, admin, check = CHECK_ENABLED;
	if (strcmp(words[c->be], c->backend) != 0)
		return 0;
	if (c->weights) {
		if (!parse_long(words[c->weight], 0, WEIGHT_MAX, &w))
			return cf_err_set(err, "show servers state: line %zu: srv_uweight \"%.16s\" "
					  "is not 0..%d", lineno, words[c->weight], WEIGHT_MAX);
		if (weight_map_set(c->weights, words[c->srv], (int)w, err) < 0)
			return cf_err_prefix(err, "show servers state: line %zu", lineno);
	}
	if (!c->servers)
		return 0;
	if (!parse_long(words[c->op], 0, 255, &op) || !parse_long(words[c->admin], 0, 255, &admin) ||
	    (c->check >= 0 && !parse_long(words[c->check], 0, 255, &check)))
		return cf_err_set(err, "show servers state: line %zu: srv_op_state, "
				  "srv_admin_state or srv_check_state is not a number", lineno);
	struct lb_server s = {.health = health_of(op, admin, check),
			      .draining = (admin & ADMIN_DRAIN) != 0,
			      .sessions = -1};
	if (strlen(words[c->srv]) >= sizeof(s.server))
		return cf_err_set(err, "show servers state: line %zu: server name \"%.80s\" is "
				  "longer than %d", lineno, words[c->srv], WEIGHTS_SERVER_NAME_MAX);
	strcpy(s.server, words[c->srv]);
	const struct lb_server *had = lb_servers_find(c->servers, s.server);
	if (had)
		s.sessions = had->sessions;
	if (lb_servers_put(c->servers, &s, err) < 0)
		return cf_err_prefix(err, "show servers state: line %zu", lineno);
	return 0;
}

static int parse_state_table(const char *reply, const char *backend, struct weight_map *weights,
			     struct lb_servers *servers, struct cf_err *err)
{
	char shown[REPLY_SHOWN + 1];
	struct table t = {.what = "show servers state", .hint = "# be_id be_name ...",
			  .header_line = 2, .head_fn = state_head, .row_fn = state_row};
	struct state_ctx c = {.backend = backend, .weights = weights, .servers = servers};
	first_line(reply, shown, sizeof(shown));
	if (shown[0] && strcmp(shown, STATE_FORMAT_VERSION) != 0)
		return cf_err_set(err, "show servers state %s: %s", backend,
				  strncmp(shown, "Can't find backend", 18) == 0
					  ? "no such backend in haproxy.cfg"
					  : shown);
	char *copy = strdup(reply);
	if (!copy)
		return cf_err_set(err, "out of memory");
	int rc = each_row(copy, &t, &c, err);
	free(copy);
	if (rc == 1)
		return cf_err_set(err, "show servers state %s: empty reply", backend);
	return rc;
}

int weights_haproxy_parse_state(const char *reply, const char *backend, struct weight_map *out,
				struct cf_err *err)
{
	return parse_state_table(reply, backend, out, NULL, err);
}

int weights_haproxy_parse_servers(const char *reply, const char *backend,
				  struct lb_servers *out, struct cf_err *err)
{
	return parse_state_table(reply, backend, NULL, out, err);
}

/* ---- show stat <backend> 4 -1 ---- */

struct stat_ctx {
	const char *backend;
	int px, sv, scur;
	struct lb_servers *servers;
};

static int stat_head(struct table *t, void *ctx, struct cf_err *err)
{
	struct stat_ctx *c = ctx;
	c->px = column_of(t->head, t->ncols, "pxname");
	c->sv = column_of(t->head, t->ncols, "svname");
	c->scur = column_of(t->head, t->ncols, "scur");
	if (c->px < 0 || c->sv < 0 || c->scur < 0)
		return cf_err_set(err, "show stat: the header lacks pxname, svname or scur");
	return 0;
}

static int stat_row(char **words, size_t lineno, void *ctx, struct cf_err *err)
{
	struct stat_ctx *c = ctx;
	long scur;
	if (strcmp(words[c->px], c->backend) != 0 || strcmp(words[c->sv], "BACKEND") == 0 ||
	    strcmp(words[c->sv], "FRONTEND") == 0)
		return 0;
	if (!parse_long(words[c->scur], 0, 1L << 30, &scur))
		return cf_err_set(err, "show stat: line %zu: scur \"%.16s\" is not a count", lineno,
				  words[c->scur]);
	struct lb_server s = {.health = LB_HEALTH_UNKNOWN};
	const struct lb_server *had = lb_servers_find(c->servers, words[c->sv]);
	if (had)
		s = *had;
	else if (strlen(words[c->sv]) < sizeof(s.server))
		strcpy(s.server, words[c->sv]);
	s.sessions = (int)scur;
	if (lb_servers_put(c->servers, &s, err) < 0)
		return cf_err_prefix(err, "show stat: line %zu", lineno);
	return 0;
}

int weights_haproxy_parse_sessions(const char *reply, const char *backend,
				   struct lb_servers *io, struct cf_err *err)
{
	char shown[REPLY_SHOWN + 1];
	struct table t = {.what = "show stat", .hint = "# pxname,svname,...", .csv = true,
			  .header_line = 1, .head_fn = stat_head, .row_fn = stat_row};
	struct stat_ctx c = {.backend = backend, .servers = io};
	first_line(reply, shown, sizeof(shown));
	if (shown[0] != '#')
		return cf_err_set(err, "show stat %s: %s", backend,
				  !shown[0] ? "empty reply"
				  : strncmp(shown, "No such proxy", 13) == 0
					  ? "no such backend in haproxy.cfg"
					  : shown);
	char *copy = strdup(reply);
	if (!copy)
		return cf_err_set(err, "out of memory");
	int rc = each_row(copy, &t, &c, err);
	free(copy);
	return rc < 0 ? -1 : 0;
}

/* ---- maps ---- */

int weights_haproxy_parse_get_map(const char *reply, bool *found, char *value, size_t size,
				  struct cf_err *err)
{
	char shown[REPLY_SHOWN + 1];
	*found = false;
	if (size)
		value[0] = '\0';
	first_line(reply, shown, sizeof(shown));
	if (!strstr(shown, "found=")) {
		if (strncmp(shown, "Unknown map identifier", 22) == 0)
			return cf_err_set(err, "no such map in haproxy.cfg (it must be loaded with "
					  "map(<file>) and the file must exist at start): %s", shown);
		return cf_err_set(err, "get map: %s", shown[0] ? shown : "empty reply");
	}
	if (strstr(shown, "found=no"))
		return 0;
	const char *v = strstr(shown, ", value=\"");
	const char *end = v ? strchr(v + 9, '"') : NULL;
	if (!strstr(shown, "found=yes") || !end)
		return cf_err_set(err, "get map: cannot read the value in \"%s\"", shown);
	v += 9;
	size_t n = (size_t)(end - v);
	if (n >= size)
		n = size ? size - 1 : 0;
	if (size) {
		memcpy(value, v, n);
		value[n] = '\0';
	}
	*found = true;
	return 0;
}

int weights_haproxy_parse_map(const char *reply, struct lb_routes *out, struct cf_err *err)
{
	char shown[REPLY_SHOWN + 1];
	char *words[STATE_MAX_COLUMNS];
	int n;
	int rc = -1;
	first_line(reply, shown, sizeof(shown));
	if (strncmp(shown, "Unknown map identifier", 22) == 0)
		return cf_err_set(err, "no such map in haproxy.cfg (it must be loaded with "
				  "map(<file>) and the file must exist at start): %s", shown);
	char *copy = strdup(reply);
	if (!copy)
		return cf_err_set(err, "out of memory");
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		first_line(line, shown, sizeof(shown));
		bool split = split_words(line, words, STATE_MAX_COLUMNS, &n);
		if (split && n == 0)
			continue;
		if (split && (n < 3 || strncmp(words[0], "0x", 2) != 0)) {
			cf_err_set(err, "show map: want \"<id> <key> <value>\", got \"%s\"", shown);
			goto done;
		}
		/* Entries clawfleet could not have written (an operator's: a value with spaces, a key
		 * that is no header value) are not its to judge. */
		if (!split || n > 3 || !weights_tenant_value_ok(words[1]) ||
		    !weights_name_ok(words[2]))
			continue;
		if (lb_routes_put(out, words[1], words[2], err) < 0)
			goto done;
	}
	rc = 0;
done:
	free(copy);
	return rc;
}
