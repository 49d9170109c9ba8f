/* clawfleet rollout pause|resume|abort|promote|undo|retry: each verb is one commit on the GitOps
 * repository's branch (source/gitwrite), changing only the Promotion lines it must
 * (desired/yamledit) and, for undo, openclaw.lock. Any other verb is the reading side's
 * (cmd_rollout_read). Exit: 0 pushed (and, with --wait, reported by the controller), 1 refused or
 * failed (nothing pushed), 2 usage, 3 nothing to do: Git already says so. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/httpc.h"
#include "base/yamltree.h"
#include "cmd/commands.h"
#include "cmd/ctlclient.h"
#include "desired/yamledit.h"
#include "source/gitsource.h"
#include "source/gitwrite.h"
#include "source/treefiles.h"

#define DEFAULT_CONTROLLER "http://127.0.0.1:8088"
#define WAIT_DEFAULT_MS 120000
#define WAIT_POLL_MS 1000
#define EXIT_NOTHING 3
#define TRAILERS_MAX 8
#define TRAILER_KEY_MAX 64
#define TRAILER_MAX 512
/* The source when --source is not given: a URL with a credential stays out of the argument list
 * (the controller's write-back passes its token this way). */
#define SOURCE_ENV "CLAWFLEET_ROLLOUT_SOURCE"

static const char rollout_usage[] =
	"usage: clawfleet rollout VERB [--source URL|PATH] [--ref BRANCH] [--controller URL]\n"
	"           --ticket T [--author \"Name <email>\"] [--message TEXT] [--wait] [--json]\n"
	"           [--trailer \"Key: value\"]...\n"
	"  pause | resume       spec.suspend: true | false\n"
	"  abort                spec.abort: true\n"
	"  promote [--full]     spec.approval: this tag, through the next gate (--full: every gate\n"
	"                       and Mirroring)\n"
	"  undo [--to TAG]      tag, skillSemver, imageRef and openclaw.lock as TAG has them\n"
	"                       (default: the controller's last good tag)\n"
	"  retry TAG [--quarantined-at TIME]\n"
	"                       spec.retry: lifts TAG's quarantine recorded at TIME (default: as\n"
	"                       the controller reports it), and names TAG\n"
	"  get | history        read the rollout (see clawfleet rollout get --help)\n"
	"  one commit each, pushed without force (retried on a new tip at most 5 times); without\n"
	"  --source, $" SOURCE_ENV " or else the controller's /status names the repository\n"
	"  (and /status the branch). --trailer adds a line to the message's trailers (at most 8);\n"
	"  one that says Rollback-Of: TAG stands in for --ticket (an automatic rollback's).\n"
	"  exit: 0 pushed, 1 refused or failed, 2 usage, 3 nothing to do (Git already says so)\n";

enum verb { V_PAUSE, V_RESUME, V_ABORT, V_PROMOTE, V_UNDO, V_RETRY };
static const char *const verb_names[] = {"pause", "resume", "abort", "promote", "undo", "retry"};

struct opts {
	enum verb verb;
	const char *source, *ref, *controller, *ticket, *author, *message;
	const char *tag; /* undo --to, retry TAG */
	const char *quarantined_at;
	const char *trailers[TRAILERS_MAX];
	int ntrailers;
	bool full, wait, json;
};

/* What the edit reads besides the tip, and what it reports. */
struct edit_ctx {
	const struct opts *o;
	int percent; /* the rollout's step percent from /status; -1: unknown */
	char promotion_path[512];
	char what[256]; /* one line: what the commit changes */
};

/* ---- the controller's /status ---- */

static const char *jstr(struct json_object *o, const char *k1, const char *k2)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, k1, &v))
		return NULL;
	if (k2 && (!json_object_is_type(v, json_type_object) ||
		   !json_object_object_get_ex(v, k2, &v)))
		return NULL;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The quarantine of tag as /status records it: the quarantinedAt of its entry in
 * `quarantine`. */
static const char *quarantine_time(struct json_object *st, const char *tag)
{
	struct json_object *q = NULL;
	if (!st || !json_object_object_get_ex(st, "quarantine", &q) ||
	    !json_object_is_type(q, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(q); i++) {
		struct json_object *e = json_object_array_get_idx(q, i);
		const char *t = jstr(e, "tag", NULL);
		if (t && strcmp(t, tag) == 0)
			return jstr(e, "quarantinedAt", NULL);
	}
	return NULL;
}

/* ---- the edit ---- */

static bool is_promotion(const struct treefile *f)
{
	static const char *const kind[] = {"kind"};
	char *v = NULL;
	if (strncmp(f->path, "clawfleet/", 10) != 0 || strchr(f->path + 10, '/') ||
	    yamledit_get(f->data, f->len, kind, 1, &v, NULL) != 0)
		return false;
	bool yes = strcmp(v, "Promotion") == 0;
	free(v);
	return yes;
}

static const struct treefile *find_promotion(const struct treefiles *tf, const char *where,
					     struct cf_err *err)
{
	const struct treefile *found = NULL;
	for (size_t i = 0; i < tf->n; i++) {
		if (!is_promotion(&tf->v[i]))
			continue;
		if (found) {
			cf_err_set(err, "%s has two Promotions (%s, %s): edit it by hand", where,
				   found->path, tf->v[i].path);
			return NULL;
		}
		found = &tf->v[i];
	}
	if (!found)
		cf_err_set(err, "%s has no Promotion under clawfleet/", where);
	return found;
}

/* The file being edited: each set replaces it. */
struct doc {
	char *data;
	size_t len;
	bool changed;
};

static int set(struct doc *d, const char *k1, const char *k2, const char *k3, const char *value,
	       enum yamledit_kind kind, struct cf_err *err)
{
	const char *path[] = {k1, k2, k3};
	char *out = NULL;
	size_t olen = 0;
	bool changed = false;
	if (yamledit_set(d->data, d->len, path, k3 ? 3 : 2, value, kind, &out, &olen, &changed,
			 err) < 0)
		return -1;
	free(d->data);
	d->data = out;
	d->len = olen;
	d->changed = d->changed || changed;
	return 0;
}

static char *get(const struct doc *d, const char *k1, const char *k2)
{
	const char *path[] = {k1, k2};
	char *v = NULL;
	return yamledit_get(d->data, d->len, path, 2, &v, NULL) == 0 ? v : NULL;
}

/* The first gate above the rollout's percent (any gate when that is unknown): 0 when none. */
static long next_gate(const struct doc *d, int percent, struct cf_err *err)
{
	struct yfile *y = NULL;
	struct yerr ye;
	long gate = 0;
	if (yfile_parse(&y, d->data, d->len, NULL, &ye) < 0)
		return cf_err_set(err, "the Promotion, line %d: %s", ye.line, ye.msg);
	const struct ynode *g = y->ndocs ? ynode_get(ynode_get(y->docs[0].root, "spec"), "canary")
					 : NULL;
	g = ynode_get(g, "gates");
	for (size_t i = 0; g && g->kind == YNODE_SEQ && i < g->n; i++) {
		long long v;
		if (ynode_int(g->items[i], &v) == 0 && v > (percent < 0 ? 0 : percent) &&
		    (gate == 0 || v < gate))
			gate = (long)v;
	}
	yfile_free(y);
	return gate;
}

/* undo: the Promotion's tag, skillSemver and imageRef, and openclaw.lock, as tag has them. */
static int undo_to(struct edit_ctx *c, struct gitsource *gs, struct doc *d,
		   struct treefiles *changes, struct cf_err *err)
{
	const char *tag = c->o->tag;
	struct gitref ref = {.tag = (char *)tag};
	struct treefiles old = {0};
	char hex[41], rev[GITSOURCE_REVISION_MAX];
	int rc = -1;
	if (!gitsource_tag_exists(gs, tag)) {
		cf_err_set(err, "there is no tag %s in the repository", tag);
		goto done;
	}
	if (gitsource_resolve(gs, &ref, hex, rev, err) < 0 ||
	    gitsource_read_files(gs, hex, &old, err) < 0)
		goto done;
	const struct treefile *p = find_promotion(&old, tag, err);
	if (!p)
		goto done;
	struct doc then = {.data = p->data, .len = p->len};
	char *semver = get(&then, "spec", "skillSemver"), *image = get(&then, "spec", "imageRef");
	rc = set(d, "spec", "tag", NULL, tag, YAMLEDIT_STRING, err);
	if (rc == 0 && semver)
		rc = set(d, "spec", "skillSemver", NULL, semver, YAMLEDIT_STRING, err);
	/* imageRef only where the Promotion has one: undo adds no key. */
	char *had_image = image ? get(d, "spec", "imageRef") : NULL;
	if (rc == 0 && had_image)
		rc = set(d, "spec", "imageRef", NULL, image, YAMLEDIT_STRING, err);
	free(had_image);
	free(semver);
	free(image);
	const struct treefile *lock = treefiles_find(&old, "openclaw.lock");
	if (rc == 0 && lock)
		rc = treefiles_add(changes, "openclaw.lock", lock->data, lock->len, err);
	snprintf(c->what, sizeof(c->what), "the Promotion and openclaw.lock back to %s", tag);
done:
	treefiles_free(&old);
	return rc;
}

static int edit(void *ctx, struct gitsource *gs, const char *tip_hex, const struct treefiles *tip,
		struct treefiles *changes, struct cf_err *err)
{
	struct edit_ctx *c = ctx;
	const struct opts *o = c->o;
	const struct treefile *p = find_promotion(tip, "the branch's tip", err);
	struct doc d = {0};
	int rc = -1;
	(void)tip_hex;
	if (!p)
		return -1;
	snprintf(c->promotion_path, sizeof(c->promotion_path), "%s", p->path);
	d.data = strdup(p->data);
	d.len = p->len;
	if (!d.data)
		return cf_err_set(err, "out of memory");
	char *tag = get(&d, "spec", "tag");
	switch (o->verb) {
	case V_PAUSE:
	case V_RESUME:
		rc = set(&d, "spec", "suspend", NULL, o->verb == V_PAUSE ? "true" : "false",
			 YAMLEDIT_RAW, err);
		snprintf(c->what, sizeof(c->what), "spec.suspend: %s",
			 o->verb == V_PAUSE ? "true" : "false");
		break;
	case V_ABORT:
		rc = set(&d, "spec", "abort", NULL, "true", YAMLEDIT_RAW, err);
		snprintf(c->what, sizeof(c->what), "spec.abort: true");
		break;
	case V_PROMOTE: {
		if (!tag) {
			cf_err_set(err, "%s names no spec.tag to approve", p->path);
			break;
		}
		char through[32] = "full";
		if (!o->full) {
			long gate = next_gate(&d, c->percent, err);
			if (gate < 0)
				break;
			if (gate == 0) {
				cf_err_set(err, "%s has no gate left to approve (spec.canary.gates) above "
						"%d %%: use --full to approve Mirroring",
					   p->path, c->percent < 0 ? 0 : c->percent);
				break;
			}
			snprintf(through, sizeof(through), "%ld", gate);
		}
		rc = set(&d, "spec", "approval", "tag", tag, YAMLEDIT_STRING, err);
		if (rc == 0)
			rc = set(&d, "spec", "approval", "through", through,
				 o->full ? YAMLEDIT_STRING : YAMLEDIT_RAW, err);
		snprintf(c->what, sizeof(c->what), "spec.approval: %s through %s%s", tag, through,
			 o->full ? "" : " %");
		break;
	}
	case V_UNDO:
		rc = undo_to(c, gs, &d, changes, err);
		break;
	case V_RETRY:
		if (!gitsource_tag_exists(gs, o->tag)) {
			cf_err_set(err, "there is no tag %s in the repository", o->tag);
			break;
		}
		rc = set(&d, "spec", "retry", "tag", o->tag, YAMLEDIT_STRING, err);
		if (rc == 0)
			rc = set(&d, "spec", "retry", "quarantinedAt", o->quarantined_at,
				 YAMLEDIT_STRING, err);
		if (rc == 0 && (!tag || strcmp(tag, o->tag) != 0))
			rc = undo_to(c, gs, &d, changes, err);
		snprintf(c->what, sizeof(c->what), "spec.retry: %s quarantined at %s", o->tag,
			 o->quarantined_at);
		break;
	}
	free(tag);
	if (rc == 0 && d.changed)
		rc = treefiles_add(changes, p->path, d.data, d.len, err);
	if (rc == 0) {
		/* openclaw.lock counts only when it differs. */
		const struct treefile *lock = treefiles_find(changes, "openclaw.lock"),
				      *now = treefiles_find(tip, "openclaw.lock");
		bool lock_changed = lock && (!now || now->len != lock->len ||
					     memcmp(now->data, lock->data, lock->len) != 0);
		if (!d.changed && !lock_changed)
			rc = 1;
	}
	free(d.data);
	return rc;
}

/* ---- the command ---- */

/* "Key: value": a key of letters, digits and "-" that starts with a letter, one space, a value
 * of printable text on one line; Ticket: has its own flag. */
static bool trailer_ok(const char *t)
{
	size_t key = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
	if (key == 0 || key > TRAILER_KEY_MAX || !((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z') ||
	    t[key] != ':' || t[key + 1] != ' ' || !t[key + 2] || t[key + 2] == ' ' ||
	    strlen(t) > TRAILER_MAX || strncasecmp(t, "Ticket:", 7) == 0)
		return false;
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool has_rollback_of(const struct opts *o)
{
	for (int i = 0; i < o->ntrailers; i++)
		if (strncmp(o->trailers[i], "Rollback-Of: ", 13) == 0)
			return true;
	return false;
}

static int parse(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = strcmp(a, "--source") == 0	     ? &o->source
				    : strcmp(a, "--ref") == 0	     ? &o->ref
				    : strcmp(a, "--controller") == 0 ? &o->controller
				    : strcmp(a, "--ticket") == 0     ? &o->ticket
				    : strcmp(a, "--author") == 0     ? &o->author
				    : strcmp(a, "--message") == 0    ? &o->message
				    : strcmp(a, "--quarantined-at") == 0 ? &o->quarantined_at
				    : strcmp(a, "--to") == 0 && o->verb == V_UNDO ? &o->tag
										  : NULL;
		if (slot && i + 1 < argc && argv[i + 1][0])
			*slot = argv[++i];
		else if (strcmp(a, "--full") == 0 && o->verb == V_PROMOTE)
			o->full = true;
		else if (strcmp(a, "--wait") == 0)
			o->wait = true;
		else if (strcmp(a, "--json") == 0)
			o->json = true;
		else if (strcmp(a, "--trailer") == 0 && i + 1 < argc && o->ntrailers < TRAILERS_MAX &&
			 trailer_ok(argv[i + 1]))
			o->trailers[o->ntrailers++] = argv[++i];
		else if (o->verb == V_RETRY && !o->tag && a[0] != '-')
			o->tag = a;
		else
			return -1;
	}
	if ((!o->ticket && !has_rollback_of(o)) || (o->verb == V_RETRY && !o->tag))
		return -1;
	return 0;
}

/* The branch a --ref or the controller's revision ("main@sha1:...") names. */
static int branch_of(const char *ref, char *out, size_t cap, struct cf_err *err)
{
	const char *b = ref;
	if (strncmp(b, "branch:", 7) == 0)
		b += 7;
	else if (strncmp(b, "refs/heads/", 11) == 0)
		b += 11;
	size_t n = strcspn(b, "@");
	if (!n || n >= cap || strcspn(b, ":") < n)
		return cf_err_set(err, "--ref %s: a commit is written to a branch: name one", ref);
	snprintf(out, cap, "%.*s", (int)n, b);
	return 0;
}

static int wait_for(const char *controller, const char *commit,
		    struct cf_err *err)
{
	int64_t until = clock_mono_ms() + WAIT_DEFAULT_MS;
	char last[CF_ERR_MSG + 16] = "nothing";
	for (;;) {
		struct json_object *st = NULL;
		struct cf_err e;
		if (ctlclient_get(controller, "/status", "clawfleet-rollout", &st, &e) == 0) {
			const char *seen = jstr(st, "revision", NULL);
			bool there = seen && strstr(seen, commit);
			if (seen)
				snprintf(last, sizeof(last), "%s", seen);
			json_object_put(st);
			if (there)
				return 0;
		} else {
			snprintf(last, sizeof(last), "an error: %s", e.msg);
		}
		if (clock_mono_ms() >= until)
			return cf_err_set(err, "the controller at %s did not report %s within %d s (the "
					       "last answer: %s): the commit is pushed",
					  controller, commit, WAIT_DEFAULT_MS / 1000, last);
		struct timespec ts = {WAIT_POLL_MS / 1000, (WAIT_POLL_MS % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void message(const struct opts *o, char *out, size_t cap)
{
	static const char *const summary[] = {
		"Pause the rollout", "Resume the rollout", "Abort the rollout",
		"Approve the rollout's next gate", "Roll the Promotion back", "Retry a quarantined tag",
	};
	const char *s = o->verb == V_PROMOTE && o->full ? "Approve the rollout through Mirroring"
							 : summary[o->verb];
	char to[300] = "";
	size_t n;
	if (o->tag)
		snprintf(to, sizeof(to), "%s %s", o->verb == V_UNDO ? " to" : ":", o->tag);
	n = (size_t)snprintf(out, cap, "rollout %s: %s%s\n\n%s%s", verb_names[o->verb], s, to,
			     o->message ? o->message : "", o->message ? "\n\n" : "");
	if (o->ticket && n < cap)
		n += (size_t)snprintf(out + n, cap - n, "Ticket: %s\n", o->ticket);
	for (int i = 0; i < o->ntrailers && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s\n", o->trailers[i]);
}

int cmd_rollout(int argc, char **argv)
{
	struct opts o = {.verb = V_PAUSE};
	size_t nverbs = sizeof(verb_names) / sizeof(verb_names[0]), v = 0;
	if (argc >= 2)
		for (v = 0; v < nverbs && strcmp(argv[1], verb_names[v]) != 0; v++)
			;
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(rollout_usage, stdout);
		return 0;
	}
	if (argc < 2 || v == nverbs)
		return cmd_rollout_read(argc, argv);
	o.verb = (enum verb)v;
	if (parse(argc - 1, argv + 1, &o) < 0) {
		fprintf(stderr, "clawfleet rollout %s: %s\n%s", verb_names[v],
			o.ticket || has_rollback_of(&o)
				? "bad arguments (a --trailer must be \"Key: value\" on one line)"
				: "--ticket is required: every change names one",
			rollout_usage);
		return 2;
	}
	const char *controller = o.controller ? o.controller : DEFAULT_CONTROLLER;
	if (!o.source && getenv(SOURCE_ENV) && *getenv(SOURCE_ENV))
		o.source = getenv(SOURCE_ENV);
	struct json_object *st = NULL;
	struct cf_err err = {{0}};
	char branch[GITSOURCE_REVISION_MAX], msg[4096];
	struct edit_ctx c = {.o = &o, .percent = -1};
	int rc = 1;
	if (httpc_global_init(&err) < 0)
		goto fail;
	bool need_status = !o.source || o.wait ||
			   (o.verb == V_UNDO && !o.tag) || (o.verb == V_RETRY && !o.quarantined_at) ||
			   (o.verb == V_PROMOTE && !o.full);
	if (need_status && ctlclient_get(controller, "/status", "clawfleet-rollout", &st, &err) < 0) {
		/* promote can fall back on the Promotion's first gate. */
		if (o.source && o.verb == V_PROMOTE && !o.wait) {
			st = NULL;
		} else {
			cf_err_prefix(&err, "asking the controller");
			goto fail;
		}
	}
	const char *source = o.source ? o.source : jstr(st, "sourceUrl", NULL);
	const char *ref = o.ref ? o.ref : jstr(st, "revision", NULL);
	if (!source) {
		cf_err_set(&err, "the controller at %s does not report its source: pass --source",
			   controller);
		goto fail;
	}
	if (!ref)
		ref = "main";
	if (branch_of(ref, branch, sizeof(branch), &err) < 0)
		goto fail;
	if (o.verb == V_UNDO && !o.tag && !(o.tag = jstr(st, "lastGood", "tag"))) {
		cf_err_set(&err, "the controller at %s knows no last good tag: pass --to TAG",
			   controller);
		goto fail;
	}
	if (o.verb == V_RETRY && !o.quarantined_at &&
	    !(o.quarantined_at = quarantine_time(st, o.tag))) {
		cf_err_set(&err, "the controller at %s reports no quarantine of %s: pass "
				 "--quarantined-at TIME as /status shows it",
			   controller, o.tag);
		goto fail;
	}
	struct json_object *pct = NULL;
	if (st && json_object_object_get_ex(st, "percent", &pct) &&
	    json_object_is_type(pct, json_type_int))
		c.percent = json_object_get_int(pct);
	message(&o, msg, sizeof(msg));
	const struct gitwrite_request req = {
		.url = source, .branch = branch, .author = o.author, .message = msg};
	struct gitwrite_result res;
	memset(&res, 0, sizeof(res));
	int wrc = gitwrite_commit(&req, edit, &c, &res, &err);
	if (wrc < 0)
		goto fail;
	if (wrc == 1) {
		if (o.json)
			printf("{\"verb\": \"%s\", \"changed\": false}\n", verb_names[v]);
		else
			printf("nothing to do: %s already says so\n", branch);
		rc = EXIT_NOTHING;
		goto done;
	}
	if (o.wait && wait_for(controller, res.commit, &err) < 0)
		goto fail;
	if (o.json) {
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "verb", json_object_new_string(verb_names[v]));
		json_object_object_add(j, "changed", json_object_new_boolean(1));
		json_object_object_add(j, "commit", json_object_new_string(res.commit));
		json_object_object_add(j, "revision", json_object_new_string(res.revision));
		json_object_object_add(j, "attempts", json_object_new_int(res.attempts));
		json_object_object_add(j, "change", json_object_new_string(c.what));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_SPACED |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		printf("pushed %s: %s in %s (%d attempt%s)%s\n", res.revision, c.what,
		       c.promotion_path, res.attempts, res.attempts == 1 ? "" : "s",
		       o.wait ? ", and the controller reports it" : "");
	}
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "clawfleet rollout %s: %s\n", verb_names[v], err.msg);
	rc = 1;
done:
	json_object_put(st);
	httpc_global_cleanup();
	return rc;
}
