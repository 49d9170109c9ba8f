/* pack_digest: the sha256 the runbooks give a skill pack, so a pack they put on a Mac (rsync,
 * the artifact matrix) can be recognised without copying it again. It is exactly the sha256 of
 * what this pipeline prints:
 *   cd <pack> && find . -type f ! -name '.clawfleet-*' -print0 | LC_ALL=C sort -z |
 *     xargs -0 sha256sum
 * (on a Mac `shasum -a 256` prints the same): one line "<hex>  ./<path>\n" per regular file,
 * ordered by the bytes of its path. Like find -type f it skips symbolic links (never followed,
 * also to directories), devices and sockets, and descends into every directory; a file whose
 * name starts with ".clawfleet-" (clawfleet's completion marker) is left out at any depth.
 *
 * What the pipeline cannot say the same way everywhere is refused, with a message naming the
 * path: a path holding a backslash, newline or carriage return (GNU sha256sum escapes them, and
 * the tools differ on which), and a pack without a single regular file (GNU xargs then hashes
 * empty input, BSD xargs prints nothing).
 *
 * Bounded, since it runs on every agent pass and probe that needs it: at most PACK_DIGEST_MAX_ENTRIES
 * entries, PACK_DIGEST_MAX_DEPTH levels, PACK_DIGEST_MAX_BYTES of file content (the caps of an
 * install), PACK_DIGEST_MAX_NAME_BYTES of path names held in memory at once (plus one read
 * buffer), and PACK_DIGEST_TIME_MS on the monotonic clock; past any of them it is an error that
 * names the limit. */
#ifndef CLAWFLEET_PACK_DIGEST_H
#define CLAWFLEET_PACK_DIGEST_H

#include "base/err.h"

#define PACK_DIGEST_MAX_ENTRIES 10000
#define PACK_DIGEST_MAX_DEPTH 16
#define PACK_DIGEST_MAX_BYTES (256u << 20)
#define PACK_DIGEST_MAX_NAME_BYTES (2u << 20)
#define PACK_DIGEST_TIME_MS 30000
/* The prefix of the file names pack_digest leaves out. */
#define PACK_DIGEST_SKIP_PREFIX ".clawfleet-"

/* fsyncs every file and directory it reads: for a caller about to vouch for the pack (writing
 * its completion marker), so the content it hashed is on disk before the marker is. */
#define PACK_DIGEST_FSYNC 1u

/* The digest of the directory dir (not followed when it is a symbolic link) into out, 64
 * lower-case hex digits. */
int pack_digest(const char *dir, unsigned flags, char out[65], struct cf_err *err);

#endif
