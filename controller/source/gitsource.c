#include "source/gitsource.h"

#include <ctype.h>
#include <git2.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/names.h"
#include "base/semver.h"
#include "source/gitsource_internal.h"
#include "source/treefiles.h"

#define TAGS_PREFIX "refs/tags/"
#define HEADS_PREFIX "refs/heads/"
#define ORIGIN_PREFIX "refs/remotes/origin/"

struct gitsource {
	git_repository *repo;
};

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static int global_refs;

/* libgit2 counts initializations too, but a surplus shutdown drives its count negative and
 * breaks every later init; this count refuses that. */
void gitsource_global_init(void)
{
	pthread_mutex_lock(&global_lock);
	if (git_libgit2_init() > 0)
		global_refs++;
	pthread_mutex_unlock(&global_lock);
}

void gitsource_drop_tls_roots(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s/clawfleet-noroots.XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(dir) || !mkdtemp(dir))
		return;
	/* The certificates are read when the option is set: the directory can go at once. A
	 * backend that refuses the option keeps what it had. */
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, NULL, dir) < 0)
		git_error_clear();
	rmdir(dir);
}

void gitsource_global_shutdown(void)
{
	pthread_mutex_lock(&global_lock);
	if (global_refs > 0) {
		global_refs--;
		git_libgit2_shutdown();
	}
	pthread_mutex_unlock(&global_lock);
}

int gitsource_fail(struct cf_err *err, const char *fmt, ...)
{
	char head[CF_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	return cf_err_set(err, "%s: %s", head, git_msg());
}

static bool is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool is_commit_hex(const char *s)
{
	size_t len = strlen(s);
	return len >= 7 && len <= GIT_OID_HEXSZ && is_hex(s, len);
}

/* ---- gitref ---- */

static int set_field(char **field, const char *value, struct cf_err *err)
{
	*field = strdup(value);
	return *field ? 0 : cf_err_set(err, "out of memory");
}

static int check_commit(const char *hex, struct cf_err *err)
{
	if (!is_commit_hex(hex))
		return cf_err_set(err, "commit \"%s\" is not 7 to 40 hex digits", hex);
	return 0;
}

static int check_name(const char *name, struct cf_err *err)
{
	if (!has_prefix(name, "refs/"))
		return cf_err_set(err, "ref name \"%s\" must be a full name starting with refs/",
				  name);
	return name_check_git_ref(name, err);
}

static int check_semver(const char *range, struct cf_err *err)
{
	struct semver_range *r = NULL;
	if (semver_range_parse(range, &r, err) < 0)
		return -1;
	semver_range_free(r);
	return 0;
}

static int parse_kind(const char *kind, size_t klen, const char *value, struct gitref *out,
		      struct cf_err *err)
{
	static const struct {
		const char *kind;
		int (*check)(const char *, struct cf_err *);
		size_t field;
	} kinds[] = {
		{"commit", check_commit, offsetof(struct gitref, commit)},
		{"name", check_name, offsetof(struct gitref, name)},
		{"semver", check_semver, offsetof(struct gitref, semver)},
		{"tag", name_check_git_tag, offsetof(struct gitref, tag)},
		{"branch", name_check_git_ref, offsetof(struct gitref, branch)},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strlen(kinds[i].kind) != klen || memcmp(kinds[i].kind, kind, klen) != 0)
			continue;
		if (!*value)
			return cf_err_set(err, "empty %s", kinds[i].kind);
		if (kinds[i].check(value, err) < 0)
			return -1;
		return set_field((char **)((char *)out + kinds[i].field), value, err);
	}
	return cf_err_set(err, "unknown kind \"%.*s\" (want commit:, name:, semver:, tag: or branch:)",
			  (int)klen, kind);
}

static int parse_bare(const char *s, struct gitref *out, struct cf_err *err)
{
	if (strlen(s) == GIT_OID_HEXSZ && is_hex(s, GIT_OID_HEXSZ))
		return set_field(&out->commit, s, err);
	if (has_prefix(s, "refs/"))
		return check_name(s, err) < 0 ? -1 : set_field(&out->name, s, err);
	if (name_check_git_tag(s, err) < 0 || name_check_git_ref(s, err) < 0)
		return -1;
	if (set_field(&out->tag, s, err) < 0)
		return -1;
	return set_field(&out->branch, s, err);
}

int gitref_parse(const char *s, struct gitref *out, struct cf_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return cf_err_set(err, "empty git ref");
	/* ":" cannot occur in a ref name, so the first one always ends an explicit kind. */
	const char *colon = strchr(s, ':');
	int rc = colon ? parse_kind(s, (size_t)(colon - s), colon + 1, out, err)
		       : parse_bare(s, out, err);
	if (rc < 0) {
		gitref_free(out);
		return cf_err_prefix(err, "git ref \"%s\"", s);
	}
	return 0;
}

void gitref_free(struct gitref *r)
{
	if (!r)
		return;
	free(r->commit);
	free(r->name);
	free(r->semver);
	free(r->tag);
	free(r->branch);
	memset(r, 0, sizeof(*r));
}

/* ---- opening ---- */

int gitsource_open_ext(struct gitsource **out, const char *path, unsigned int flags,
		       struct cf_err *err)
{
	*out = NULL;
	gitsource_global_init();
	struct gitsource *gs = calloc(1, sizeof(*gs));
	if (!gs) {
		cf_err_set(err, "out of memory");
		goto fail;
	}
	if (git_repository_open_ext(&gs->repo, path, flags, NULL) < 0) {
		gitsource_fail(err, "opening git repository %s", path);
		goto fail;
	}
	*out = gs;
	return 0;
fail:
	free(gs);
	gitsource_global_shutdown();
	return -1;
}

int gitsource_open(struct gitsource **out, const char *path, struct cf_err *err)
{
	return gitsource_open_ext(out, path, 0, err);
}

bool gitsource_is_local_repo(const char *path)
{
	struct stat st;
	if (strstr(path, "://") || stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	gitsource_global_init();
	bool ok = git_repository_open_ext(NULL, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0;
	gitsource_global_shutdown();
	return ok;
}

void gitsource_free(struct gitsource *gs)
{
	if (!gs)
		return;
	git_repository_free(gs->repo);
	free(gs);
	gitsource_global_shutdown();
}

/* ---- resolve ---- */

int gitsource_peel_ref(git_repository *repo, const char *refname, git_oid *oid, struct cf_err *err)
{
	git_reference *ref = NULL;
	git_object *obj = NULL;
	int rc = git_reference_lookup(&ref, repo, refname);
	if (rc == GIT_ENOTFOUND)
		return 1;
	if (rc < 0)
		return gitsource_fail(err, "looking up %s", refname);
	rc = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
	if (rc < 0)
		gitsource_fail(err, "%s does not lead to a commit", refname);
	else
		git_oid_cpy(oid, git_object_id(obj));
	git_object_free(obj);
	git_reference_free(ref);
	return rc < 0 ? -1 : 0;
}

static int peel_named(git_repository *repo, const char *prefix, const char *name, git_oid *oid,
		      struct cf_err *err)
{
	char refname[GITSOURCE_REVISION_MAX];
	int n = snprintf(refname, sizeof(refname), "%s%s", prefix, name);
	if (n < 0 || (size_t)n >= sizeof(refname))
		return cf_err_set(err, "ref %s%s is too long", prefix, name);
	return gitsource_peel_ref(repo, refname, oid, err);
}

static int lookup_commit(git_repository *repo, const char *hex, git_commit **out,
			 struct cf_err *err)
{
	git_oid oid;
	size_t len = strlen(hex);
	if (check_commit(hex, err) < 0)
		return -1;
	if (git_oid_fromstrn(&oid, hex, len) < 0)
		return gitsource_fail(err, "commit %s", hex);
	int rc = git_object_lookup_prefix((git_object **)out, repo, &oid, len, GIT_OBJECT_COMMIT);
	if (rc == GIT_ENOTFOUND)
		return cf_err_set(err, "commit %s not found", hex);
	if (rc == GIT_EAMBIGUOUS)
		return cf_err_set(err, "commit %s is ambiguous; give more hex digits", hex);
	if (rc < 0)
		return gitsource_fail(err, "looking up commit %s", hex);
	return 0;
}

/* 0, or 1 when the branch does not exist, or -1 on error. */
static int find_branch(struct gitsource *gs, const char *branch, git_oid *oid, struct cf_err *err)
{
	int rc = peel_named(gs->repo, HEADS_PREFIX, branch, oid, err);
	/* A working clone has only its checked-out branches locally; the rest are remote-tracking. */
	if (rc == 1 && !git_repository_is_bare(gs->repo))
		rc = peel_named(gs->repo, ORIGIN_PREFIX, branch, oid, err);
	return rc;
}

static int branch_commit(struct gitsource *gs, const char *branch, git_oid *oid,
			 struct cf_err *err)
{
	if (name_check_git_ref(branch, err) < 0)
		return -1;
	int rc = find_branch(gs, branch, oid, err);
	if (rc == 1)
		return cf_err_set(err, "branch \"%s\" not found", branch);
	return rc;
}

static int tag_commit(struct gitsource *gs, const char *tag, git_oid *oid, struct cf_err *err)
{
	if (name_check_git_tag(tag, err) < 0)
		return -1;
	int rc = peel_named(gs->repo, TAGS_PREFIX, tag, oid, err);
	if (rc == 1)
		return cf_err_set(err, "tag \"%s\" not found", tag);
	return rc;
}

static int name_commit(struct gitsource *gs, const char *name, git_oid *oid, struct cf_err *err)
{
	if (check_name(name, err) < 0)
		return -1;
	int rc = gitsource_peel_ref(gs->repo, name, oid, err);
	if (rc == 1)
		return cf_err_set(err, "ref \"%s\" not found", name);
	return rc;
}

/* The bare-string form: the tag of that name when there is one, else the branch. */
static int tag_or_branch_commit(struct gitsource *gs, const char *name, git_oid *oid,
				struct cf_err *err)
{
	if (name_check_git_tag(name, err) < 0 || name_check_git_ref(name, err) < 0)
		return -1;
	int rc = peel_named(gs->repo, TAGS_PREFIX, name, oid, err);
	if (rc == 1)
		rc = find_branch(gs, name, oid, err);
	if (rc == 1)
		return cf_err_set(err, "no tag or branch named \"%s\"", name);
	return rc;
}

/* Flux checks out a commit within a branch when both are given; a commit off that branch is
 * not found there. */
static int commit_on_branch(struct gitsource *gs, const git_oid *commit, const char *branch,
			    struct cf_err *err)
{
	git_oid tip;
	if (branch_commit(gs, branch, &tip, err) < 0)
		return -1;
	if (git_oid_equal(&tip, commit))
		return 0;
	int rc = git_graph_descendant_of(gs->repo, &tip, commit);
	if (rc < 0)
		return gitsource_fail(err, "checking that the commit is on branch \"%s\"", branch);
	if (!rc)
		return cf_err_set(err, "commit %s is not on branch \"%s\"", git_oid_tostr_s(commit),
				  branch);
	return 0;
}

static int resolve_commit(struct gitsource *gs, const struct gitref *ref, git_oid *oid,
			  struct cf_err *err)
{
	git_commit *c = NULL;
	if (lookup_commit(gs->repo, ref->commit, &c, err) < 0)
		return -1;
	git_oid_cpy(oid, git_commit_id(c));
	git_commit_free(c);
	return ref->branch ? commit_on_branch(gs, oid, ref->branch, err) : 0;
}

struct semver_pick {
	const struct semver_range *range;
	struct semver best;
	char *best_tag;
};

static int semver_tag_cb(const char *name, git_oid *oid, void *payload)
{
	struct semver_pick *p = payload;
	struct semver v;
	(void)oid;
	if (!has_prefix(name, TAGS_PREFIX))
		return 0;
	const char *tag = name + strlen(TAGS_PREFIX);
	if (semver_parse_tag(tag, &v) < 0 || !semver_range_match(p->range, &v))
		return 0;
	if (p->best_tag) {
		/* Equal precedence ("v1.0.0", "1.0.0", build metadata): the bytewise greater name
		 * wins, so the choice does not depend on ref storage order. */
		int c = semver_compare(&v, &p->best);
		if (c < 0 || (c == 0 && strcmp(tag, p->best_tag) < 0))
			return 0;
	}
	char *dup = strdup(tag);
	if (!dup)
		return -1;
	free(p->best_tag);
	p->best_tag = dup;
	p->best = v;
	return 0;
}

static int semver_commit(struct gitsource *gs, const char *expr, char **tag, git_oid *oid,
			 struct cf_err *err)
{
	struct semver_range *range = NULL;
	struct semver_pick pick = {0};
	int rc = -1;

	if (semver_range_parse(expr, &range, err) < 0)
		return -1;
	pick.range = range;
	if (git_tag_foreach(gs->repo, semver_tag_cb, &pick) < 0) {
		gitsource_fail(err, "listing tags for semver range \"%s\"", expr);
		goto done;
	}
	if (!pick.best_tag) {
		cf_err_set(err, "no tag matches semver range \"%s\"", expr);
		goto done;
	}
	if (tag_commit(gs, pick.best_tag, oid, err) < 0)
		goto done;
	*tag = pick.best_tag;
	pick.best_tag = NULL;
	rc = 0;
done:
	free(pick.best_tag);
	semver_range_free(range);
	return rc;
}

static int format_revision(char revision[GITSOURCE_REVISION_MAX], const char *ref,
			   const git_oid *oid, struct cf_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), oid);
	int n = ref ? snprintf(revision, GITSOURCE_REVISION_MAX, "%s@sha1:%s", ref, hex)
		    : snprintf(revision, GITSOURCE_REVISION_MAX, "sha1:%s", hex);
	if (n < 0 || n >= GITSOURCE_REVISION_MAX) {
		revision[0] = '\0';
		return cf_err_set(err, "revision for ref \"%s\" is too long", ref ? ref : "");
	}
	return 0;
}

int gitsource_resolve(struct gitsource *gs, const struct gitref *ref, char commit_hex[41],
		      char revision[GITSOURCE_REVISION_MAX], struct cf_err *err)
{
	git_oid oid;
	char *semver_tag = NULL;
	const char *label;
	int rc;

	commit_hex[0] = '\0';
	revision[0] = '\0';
	if (ref->commit) {
		rc = resolve_commit(gs, ref, &oid, err);
		label = ref->branch;
	} else if (ref->name) {
		rc = name_commit(gs, ref->name, &oid, err);
		label = ref->name;
	} else if (ref->semver) {
		rc = semver_commit(gs, ref->semver, &semver_tag, &oid, err);
		label = semver_tag;
	} else if (ref->tag && ref->branch && strcmp(ref->tag, ref->branch) == 0) {
		rc = tag_or_branch_commit(gs, ref->tag, &oid, err);
		label = ref->tag;
	} else if (ref->tag) {
		rc = tag_commit(gs, ref->tag, &oid, err);
		label = ref->tag;
	} else if (ref->branch) {
		rc = branch_commit(gs, ref->branch, &oid, err);
		label = ref->branch;
	} else {
		return cf_err_set(err, "empty git ref: set commit, name, semver, tag or branch");
	}
	if (rc == 0)
		rc = format_revision(revision, label, &oid, err);
	if (rc == 0)
		git_oid_tostr(commit_hex, GIT_OID_HEXSZ + 1, &oid);
	free(semver_tag);
	return rc < 0 ? -1 : 0;
}

bool gitsource_tag_exists(struct gitsource *gs, const char *tag)
{
	char refname[GITSOURCE_REVISION_MAX];
	git_oid oid;
	int n = snprintf(refname, sizeof(refname), TAGS_PREFIX "%s", tag);
	return n > 0 && (size_t)n < sizeof(refname) && name_check_git_tag(tag, NULL) == 0 &&
	       git_reference_name_to_id(&oid, gs->repo, refname) == 0;
}

/* ---- reading files ---- */

struct walk {
	git_repository *repo;
	git_odb *odb;
	struct treefiles *out;
	struct cf_err *err;
	char *path;
	size_t cap;
	bool failed; /* err holds our message, not libgit2's */
};

static int walk_path(struct walk *w, const char *root, const char *name)
{
	size_t rlen = strlen(root), nlen = strlen(name);
	if (rlen + nlen + 1 > w->cap) {
		size_t cap = (rlen + nlen + 1) * 2;
		char *p = realloc(w->path, cap);
		if (!p)
			return cf_err_set(w->err, "out of memory");
		w->path = p;
		w->cap = cap;
	}
	memcpy(w->path, root, rlen);
	memcpy(w->path + rlen, name, nlen + 1);
	return 0;
}

static int add_blob(struct walk *w, const git_oid *id)
{
	size_t size;
	git_object_t type;
	git_blob *blob = NULL;

	/* The size first, so an oversized blob is refused before it is inflated into memory. */
	if (git_odb_read_header(&size, &type, w->odb, id) < 0)
		return gitsource_fail(w->err, "%s", w->path);
	if (size > TREEFILES_MAX_FILE)
		return cf_err_set(w->err, "%s: file is %zu bytes, over the %u byte limit", w->path,
				  size, TREEFILES_MAX_FILE);
	if (git_blob_lookup(&blob, w->repo, id) < 0)
		return gitsource_fail(w->err, "%s", w->path);
	int rc = treefiles_add(w->out, w->path, git_blob_rawcontent(blob),
			       (size_t)git_blob_rawsize(blob), w->err);
	git_blob_free(blob);
	return rc;
}

static int walk_entry(const char *root, const git_tree_entry *entry, void *payload)
{
	struct walk *w = payload;
	git_object_t type = git_tree_entry_type(entry);
	int rc;

	if (type == GIT_OBJECT_TREE)
		return 0;
	if (walk_path(w, root, git_tree_entry_name(entry)) < 0)
		rc = -1;
	else if (!treefiles_wanted(w->path))
		return 0;
	else if (type == GIT_OBJECT_COMMIT)
		rc = cf_err_set(w->err, "%s: is a submodule; desired-state files must be regular files",
				w->path);
	else if (git_tree_entry_filemode(entry) == GIT_FILEMODE_LINK)
		rc = cf_err_set(w->err,
				"%s: is a symbolic link; desired-state files must be regular files",
				w->path);
	else
		rc = add_blob(w, git_tree_entry_id(entry));
	w->failed = rc < 0;
	return rc;
}

int gitsource_read_files(struct gitsource *gs, const char *commit_hex, struct treefiles *out,
			 struct cf_err *err)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	struct walk w = {.repo = gs->repo, .out = out, .err = err};
	int rc = -1;

	if (lookup_commit(gs->repo, commit_hex, &commit, err) < 0)
		return -1;
	if (git_commit_tree(&tree, commit) < 0) {
		gitsource_fail(err, "reading the tree of commit %s", commit_hex);
		goto done;
	}
	if (git_repository_odb(&w.odb, gs->repo) < 0) {
		gitsource_fail(err, "opening the object database");
		goto done;
	}
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, walk_entry, &w) != 0) {
		if (!w.failed)
			gitsource_fail(err, "walking the tree of commit %s", commit_hex);
		goto done;
	}
	treefiles_sort(out);
	rc = 0;
done:
	free(w.path);
	git_odb_free(w.odb);
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

int gitsource_commit_info(struct gitsource *gs, const char *commit_hex, char **author,
			  char **message, struct cf_err *err)
{
	git_commit *commit = NULL;
	int rc = -1;

	*author = NULL;
	*message = NULL;
	if (lookup_commit(gs->repo, commit_hex, &commit, err) < 0)
		return -1;
	const git_signature *sig = git_commit_author(commit);
	const char *msg = git_commit_message(commit);
	if (asprintf(author, "%s <%s>", sig->name, sig->email) < 0) {
		*author = NULL;
		cf_err_set(err, "out of memory");
		goto done;
	}
	*message = strdup(msg ? msg : "");
	if (!*message) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	rc = 0;
done:
	if (rc < 0) {
		free(*author);
		*author = NULL;
	}
	git_commit_free(commit);
	return rc;
}
