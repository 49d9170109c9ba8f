#include "reconcilers/pull_tree.h"

#include <ctype.h>
#include <git2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "source/gitsource.h"

#define LINK_TARGET_MAX 4096
#define QUOTE_MAX 200

static void quote(char *out, size_t cap, const char *s, size_t n)
{
	size_t q = n < cap - 4 ? n : cap - 4, i;
	for (i = 0; i < q; i++)
		out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	if (q < n)
		memcpy(out + i, "...", 3), i += 3;
	out[i] = '\0';
}

/* ---- names a filesystem reads as .git ---- */

/* The length of the code point at s when HFS+ ignores it in a name (U+200C-200F, U+202A-202E,
 * U+206A-206F, U+FEFF), else 0. */
static size_t hfs_ignored(const unsigned char *s, size_t n)
{
	if (n < 3)
		return 0;
	if (s[0] == 0xe2 && s[1] == 0x80 &&
	    ((s[2] >= 0x8c && s[2] <= 0x8f) || (s[2] >= 0xaa && s[2] <= 0xae)))
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xaa && s[2] <= 0xaf)
		return 3;
	return s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf ? 3 : 0;
}

/* The next byte of s[0..n) that HFS+ reads, in lower case; 0 at the end. */
static int next_byte(const unsigned char *s, size_t n, size_t *i)
{
	size_t skip;
	while (*i < n && (skip = hfs_ignored(s + *i, n - *i)) > 0)
		*i += skip;
	return *i < n ? tolower(s[(*i)++]) : 0;
}

/* True when name[0..n) starts with prefix as HFS+ reads it (any case, ignored code points
 * skipped); *i is left after the prefix. */
static bool starts_as(const char *name, size_t n, const char *prefix, size_t *i)
{
	*i = 0;
	for (const char *p = prefix; *p; p++)
		if (next_byte((const unsigned char *)name, n, i) != *p)
			return false;
	return true;
}

/* ".git" or NTFS's short name for it, then only the dots and spaces NTFS drops, up to the end
 * or a stream name (":"). */
static bool reads_as_dotgit(const char *name, size_t n)
{
	static const char *const forms[] = {".git", "git~1"};
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		size_t i;
		if (!starts_as(name, n, forms[f], &i))
			continue;
		int c;
		while ((c = next_byte((const unsigned char *)name, n, &i)) == '.' || c == ' ')
			;
		if (c == 0 || c == ':')
			return true;
	}
	return false;
}

/* A link target component naming anything of Git's: ".git" itself, ".gitmodules" and the like. */
static bool target_names_git(const char *target, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t j = i, at;
		while (j < len && target[j] != '/')
			j++;
		if (starts_as(target + i, j - i, ".git", &at) || reads_as_dotgit(target + i, j - i))
			return true;
		i = j + 1;
	}
	return false;
}

/* ---- links that could lead outside ---- */

/* A link at the given depth (directories above it inside the tree) stays inside when it is
 * relative and climbs with ".." only at its start, no higher than depth: the directories it
 * climbs through are real ones, and whatever it descends through is either a directory or a
 * link held to the same rule, so no chain of links can lead out either. */
static bool link_stays_inside(const char *target, size_t len, size_t depth)
{
	size_t ups = 0;
	bool descended = false;

	if (len == 0 || memchr(target, '\0', len) || target[0] == '/')
		return false;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && target[j] != '/')
			j++;
		size_t n = j - i;
		if (n == 2 && target[i] == '.' && target[i + 1] == '.') {
			if (descended || ++ups > depth)
				return false;
		} else if (n > 0 && !(n == 1 && target[i] == '.')) {
			descended = true;
		}
		i = j + 1;
	}
	return true;
}

/* ---- the walk ---- */

struct tree_check {
	git_repository *repo;
	git_odb *odb;
	struct cf_err *err;
	size_t total;
	bool failed; /* err holds our message, not libgit2's */
};

static int refuse(struct tree_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct tree_check *c, const char *fmt, ...)
{
	char msg[CF_ERR_MSG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->failed = true;
	return cf_err_set(c->err, "%s", msg);
}

/* libgit2's failure, in err; the walk reports it as it is. */
static int git_failed(struct tree_check *c, const char *what, const char *root, const char *name)
{
	c->failed = true;
	return gitsource_fail(c->err, "%s %s%s", what, root, name);
}

static int cmp_names_nocase(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two entries of tree (at path root) whose names differ only in case. */
static int check_case(struct tree_check *c, const char *root, const git_tree *tree)
{
	size_t n = git_tree_entrycount(tree);
	if (n < 2)
		return 0;
	const char **names = malloc(n * sizeof(*names));
	if (!names)
		return refuse(c, "out of memory");
	for (size_t i = 0; i < n; i++)
		names[i] = git_tree_entry_name(git_tree_entry_byindex(tree, i));
	qsort(names, n, sizeof(*names), cmp_names_nocase);
	int rc = 0;
	for (size_t i = 1; i < n && rc == 0; i++)
		if (strcasecmp(names[i - 1], names[i]) == 0)
			rc = refuse(c,
				    "%s%s and %s%s: names that differ only in case are refused (a "
				    "case-insensitive filesystem, as macOS's are, makes them one)",
				    root, names[i - 1], root, names[i]);
	free(names);
	return rc;
}

static int check_subtree(struct tree_check *c, const char *root, const git_tree_entry *entry)
{
	char path[4096];
	git_tree *sub = NULL;
	if (git_tree_lookup(&sub, c->repo, git_tree_entry_id(entry)) < 0)
		return git_failed(c, "reading directory", root, git_tree_entry_name(entry));
	snprintf(path, sizeof(path), "%s%s/", root, git_tree_entry_name(entry));
	int rc = check_case(c, path, sub);
	git_tree_free(sub);
	return rc;
}

static int check_link(struct tree_check *c, const char *root, const char *name,
		      const git_tree_entry *entry)
{
	char shown[QUOTE_MAX];
	git_blob *blob = NULL;

	if (git_blob_lookup(&blob, c->repo, git_tree_entry_id(entry)) < 0)
		return git_failed(c, "reading symbolic link", root, name);
	size_t depth = 0;
	for (const char *p = root; *p; p++)
		depth += *p == '/';
	const char *target = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);
	size_t at;
	int rc = 0;
	quote(shown, sizeof(shown), target, len);
	if (starts_as(name, strlen(name), ".git", &at))
		rc = refuse(c, "%s%s: a symbolic link named .git* is refused", root, name);
	else if (len <= LINK_TARGET_MAX && target_names_git(target, len))
		rc = refuse(c,
			    "%s%s: symbolic link to \"%s\" leads into Git's own files (a .git "
			    "component, in any case or spelling) and is refused",
			    root, name, shown);
	else if (len > LINK_TARGET_MAX || !link_stays_inside(target, len, depth))
		rc = refuse(c,
			    "%s%s: symbolic link to \"%s\" could lead outside the infra tree "
			    "(links must be relative and use \"..\" only at their start)",
			    root, name, shown);
	git_blob_free(blob);
	return rc;
}

/* The size from the object's header: nothing is inflated to learn it. */
static int check_size(struct tree_check *c, const char *root, const char *name,
		      const git_tree_entry *entry)
{
	size_t size;
	git_object_t type;
	if (git_odb_read_header(&size, &type, c->odb, git_tree_entry_id(entry)) < 0)
		return git_failed(c, "reading", root, name);
	if (size > PULL_TREE_MAX_FILE)
		return refuse(c, "%s%s: file is %zu bytes, over the %u byte limit of an infra file",
			      root, name, size, PULL_TREE_MAX_FILE);
	c->total += size;
	if (c->total > PULL_TREE_MAX_TOTAL)
		return refuse(c, "%s%s: the infra tree holds over %u bytes in all", root, name,
			      PULL_TREE_MAX_TOTAL);
	return 0;
}

static int check_entry(const char *root, const git_tree_entry *entry, void *payload)
{
	struct tree_check *c = payload;
	const char *name = git_tree_entry_name(entry);
	git_filemode_t mode = git_tree_entry_filemode(entry);

	if (strcasecmp(name, ".git") == 0)
		return refuse(c, "%s%s: a path component named .git is refused", root, name);
	if (reads_as_dotgit(name, strlen(name)))
		return refuse(c,
			      "%s%s: a path component that NTFS or HFS+ reads as .git is refused",
			      root, name);
	if (mode == GIT_FILEMODE_TREE)
		return check_subtree(c, root, entry);
	if (mode == GIT_FILEMODE_COMMIT)
		return 0;
	if (check_size(c, root, name, entry) < 0)
		return -1;
	return mode == GIT_FILEMODE_LINK ? check_link(c, root, name, entry) : 0;
}

int pull_tree_check(git_repository *repo, git_commit *commit, struct cf_err *err)
{
	git_tree *tree = NULL;
	struct tree_check c = {.repo = repo, .err = err};
	const char *hex = git_oid_tostr_s(git_commit_id(commit));
	int rc = -1;

	if (git_commit_tree(&tree, commit) < 0)
		return gitsource_fail(err, "reading the tree of commit %s", hex);
	if (git_repository_odb(&c.odb, repo) < 0) {
		gitsource_fail(err, "opening the object database");
		goto done;
	}
	if (check_case(&c, "", tree) < 0)
		goto done;
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, check_entry, &c) != 0) {
		if (!c.failed)
			gitsource_fail(err, "walking the tree of commit %s", hex);
		goto done;
	}
	rc = 0;
done:
	git_odb_free(c.odb);
	git_tree_free(tree);
	return rc;
}
