/* skills: the skill packs of a node. The skills root holds <semver>/ directories and the links
 * current, next and current.prev, relative ("1.4.2") so the root can move. A pack is complete
 * when it holds SKILLS_MARKER, written last: skills_install copies the source into a temporary
 * sibling, marks it and only then renames it into place. A link flips by creating the new link
 * under a temporary name and renaming it over the old one, then fsyncing the root, so a crash
 * leaves the old or the new target and never a missing link; it only ever names a complete pack.
 * Flipping current to another pack first points current.prev at the old one. Semvers are
 * checked with semver_parse before they touch a path. One agent owns a root: any temporary
 * entry (".<name>.tmp-*") found there was left by an interrupted run and is removed.
 *
 * A pack openclaw.lock names with skills.sha256 may also be put in place by other means (rsync,
 * the runbooks' artifact matrix): a <semver>/ directory without the marker whose pack_digest
 * equals it is adopted, the marker written after its files are fsynced and nothing copied; one
 * whose digest differs is left as it is and never linked, with an error naming the pack and both
 * digests. A pack that holds the marker is not hashed again: the marker is only ever written
 * after a full copy or a matching digest, and hashing up to SKILLS_MAX_BYTES on every pass and
 * probe would cost more than it could find. A copy installed while the lock names a digest must
 * match it too before it is marked. */
#ifndef CLAWFLEET_SKILLS_H
#define CLAWFLEET_SKILLS_H
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/semver.h"

#define SKILLS_MARKER ".clawfleet-complete"
/* Caps on what one pack may hold, so a bad source cannot fill the disk. */
#define SKILLS_MAX_FILES 10000
#define SKILLS_MAX_BYTES (256u << 20)
#define SKILLS_MAX_DEPTH 16
/* Directory entries skills_observe reads in the root before giving up. */
#define SKILLS_MAX_ENTRIES 4096

enum skills_link { SKILLS_CURRENT, SKILLS_NEXT, SKILLS_PREV, SKILLS_LINKS };

enum skills_link_status {
	SKILLS_LINK_ABSENT,     /* no entry of that name */
	SKILLS_LINK_OK,         /* a link to a complete <semver>/ directory */
	SKILLS_LINK_MISSING,    /* a link to a semver with no directory */
	SKILLS_LINK_INCOMPLETE, /* a link to a directory without the marker */
	SKILLS_LINK_FOREIGN,    /* a link whose target is not a semver in this root */
	SKILLS_LINK_NOT_LINK,   /* a file or directory where a link belongs */
};

struct skills_link_state {
	enum skills_link_status status;
	char target[SEMVER_MAX]; /* what the link says, "" when there is none or it is too long */
};

struct skills_state {
	struct skills_link_state links[SKILLS_LINKS];
	bool pack_complete; /* root/<semver> of the semver observed for */
	bool pack_present;  /* root/<semver> exists, complete or not */
	size_t strays;      /* temporary entries left by an interrupted run */
};

/* What the controller asks for: pack semver installed from source_dir, link pointing at it. */
struct skills_target {
	const char *semver;
	const char *source_dir; /* e.g. <infra.path>/skills/<semver> */
	enum skills_link link;  /* SKILLS_CURRENT or SKILLS_NEXT */
	/* openclaw.lock's skills.sha256 when the lock pins this semver, else NULL: a pack present
	 * without the marker is then adopted instead of copied again. */
	const char *sha256;
};

enum skills_action_kind { SKILLS_CLEAN, SKILLS_INSTALL, SKILLS_LINK, SKILLS_ADOPT };

struct skills_action {
	enum skills_action_kind kind;
	enum skills_link link; /* SKILLS_LINK */
};

#define SKILLS_PLAN_MAX 3
struct skills_plan {
	struct skills_action v[SKILLS_PLAN_MAX];
	size_t n;
};

const char *skills_link_name(enum skills_link l); /* "current", "next", "current.prev" */
const char *skills_link_status_name(enum skills_link_status s); /* "ok", "missing", ... */
/* "clean", "install", "link", "adopt" */
const char *skills_action_name(enum skills_action_kind k);

/* Reads the links and counts strays; semver (may be NULL) names the pack whose completeness
 * fills pack_complete. A missing root is an empty state, not an error. */
int skills_observe(const char *root, const char *semver, struct skills_state *out,
		   struct cf_err *err);
/* Pure: the actions that bring state (observed for t->semver) to t, in order; none when it
 * already matches. With t->sha256, a present pack without the marker is adopted, not installed,
 * and a link that already names it needs no flip once it is. */
void skills_plan(const struct skills_state *state, const struct skills_target *t,
		 struct skills_plan *out);
/* Runs the plan's actions; each is idempotent, so after a crash observe, plan and apply again. */
int skills_apply(const char *root, const struct skills_target *t, const struct skills_plan *plan,
		 struct cf_err *err);

/* Makes root/<semver> a complete copy of source_dir unless it already is one. The source may
 * hold regular files and directories only, within the caps above. */
int skills_install(const char *root, const char *semver, const char *source_dir,
		   struct cf_err *err);
/* Makes root/<semver>, put there by other means, complete when its pack_digest is sha256: the
 * files and directories are fsynced, then the marker is written. A no-op for a pack that holds
 * the marker. An error when there is no such directory, when its digest cannot be computed, or
 * when it differs: "skill pack <root>/<semver>: sha256 <hex> on disk, openclaw.lock says <hex>";
 * nothing is changed then. */
int skills_adopt(const char *root, const char *semver, const char *sha256, struct cf_err *err);
/* The check skills_adopt makes, without writing or fsyncing anything: 0 when root/<semver>
 * matches sha256 or there is nothing to judge (no such directory, or it holds the marker), else
 * -1 with the same messages. What the probe reports as skills.digest. */
int skills_verify(const char *root, const char *semver, const char *sha256, struct cf_err *err);
/* Points link (current or next) at the complete pack root/<semver>; a no-op when it already
 * does. */
int skills_link(const char *root, enum skills_link link, const char *semver, struct cf_err *err);
/* Puts the links back as before (skills_observe's) names them, after a check before the restart
 * refused what they were flipped to: a link that differs flips back atomically, one that was
 * absent is removed; a link whose target was unreadable, or a file where a link belongs, is left
 * as it is. The packs stay: a link never named anything but a complete one. */
int skills_restore(const char *root, const struct skills_state *before, struct cf_err *err);
/* Removes the temporary entries an interrupted run left in root. */
int skills_clean(const char *root, struct cf_err *err);

/* Replaces dir/name with a symlink to target atomically (temporary link, rename, fsync dir).
 * Materialise flips tenant links the same way. */
int skills_flip_link(const char *dir, const char *name, const char *target, struct cf_err *err);

#endif
