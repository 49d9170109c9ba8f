/* pull_tree: what a commit's tree must not hold for the agent's pull to check it out, checked
 * in the object database before a file is written (pull's check step). Refused, each with a
 * message naming the path:
 *   - a path component a filesystem reads as ".git": any case (".GIT"), with the dots and spaces
 *     NTFS drops (".git.", ".git "), NTFS's short name ("GIT~1") or a stream (".git::$DATA"), or
 *     the invisible code points HFS+ ignores (".g\u200cit"); checked out, it would write into the
 *     repository itself (hooks, config);
 *   - a symbolic link named ".git*", or whose target has a component that starts with ".git" or
 *     reads as ".git" (the CVE-2024-32002 shape), or that is absolute or could lead outside the
 *     tree (a link may climb with ".." only at its start, and no higher than its own directory);
 *   - two names in one directory that differ only in ASCII case: on a case-insensitive
 *     filesystem (APFS and HFS+ as macOS formats them) they are one file, and one could replace
 *     the other's directory with a link;
 *   - a file over PULL_TREE_MAX_FILE bytes, or over PULL_TREE_MAX_TOTAL bytes in all, read from
 *     the object's header so that nothing is inflated to find out. */
#ifndef CLAWFLEET_PULL_TREE_H
#define CLAWFLEET_PULL_TREE_H
#include <git2.h>

#include "base/err.h"

#define PULL_TREE_MAX_FILE (16u << 20)
#define PULL_TREE_MAX_TOTAL (512u << 20)

/* 0 when commit's tree may be checked out, else -1 with the first refusal. */
int pull_tree_check(git_repository *repo, git_commit *commit, struct cf_err *err);

#endif
