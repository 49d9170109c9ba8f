#include "reconcilers/pack_digest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"

#define READ_CHUNK 65536

/* The regular files found, as paths relative to the pack ("a/b.md"), NUL-separated in one
 * buffer: offsets while it still grows, pointers once the walk is over. */
struct walk {
	const char *pack; /* for messages */
	unsigned flags;
	int64_t deadline_ms;
	char rel[PATH_MAX]; /* the entry being looked at, relative to the pack */
	size_t entries;
	char *names;
	size_t names_len, names_cap;
	size_t *offsets;
	size_t nfiles, files_cap;
};

static int past_deadline(const struct walk *w, struct cf_err *err)
{
	if (clock_mono_ms() <= w->deadline_ms)
		return 0;
	return cf_err_set(err, "skill pack %s: computing its sha256 took longer than %d s", w->pack,
			  PACK_DIGEST_TIME_MS / 1000);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int add_file(struct walk *w, struct cf_err *err)
{
	size_t len = strlen(w->rel) + 1;
	if (strpbrk(w->rel, "\\\n\r"))
		return cf_err_set(err,
				  "skill pack %s: the path of \"%s\" holds a backslash, newline or "
				  "carriage return, which sha256sum and shasum write differently; "
				  "rename it",
				  w->pack, w->rel);
	if (w->names_len + len > PACK_DIGEST_MAX_NAME_BYTES)
		return cf_err_set(err, "skill pack %s: its file names take more than %u bytes",
				  w->pack, PACK_DIGEST_MAX_NAME_BYTES);
	if (w->names_len + len > w->names_cap) {
		size_t cap = w->names_cap ? w->names_cap * 2 : 4096;
		while (cap < w->names_len + len)
			cap *= 2;
		char *grown = realloc(w->names, cap);
		if (!grown)
			return cf_err_set(err, "out of memory");
		w->names = grown;
		w->names_cap = cap;
	}
	if (w->nfiles == w->files_cap) {
		size_t cap = w->files_cap ? w->files_cap * 2 : 256;
		size_t *grown = realloc(w->offsets, cap * sizeof(*grown));
		if (!grown)
			return cf_err_set(err, "out of memory");
		w->offsets = grown;
		w->files_cap = cap;
	}
	memcpy(w->names + w->names_len, w->rel, len);
	w->offsets[w->nfiles++] = w->names_len;
	w->names_len += len;
	return 0;
}

static int sync_fd(const struct walk *w, int fd, struct cf_err *err)
{
	if ((w->flags & PACK_DIGEST_FSYNC) && fsync(fd) < 0)
		return cf_err_errno(err, "fsync %s/%s", w->pack, w->rel);
	return 0;
}

static int walk_dir(struct walk *w, int dir_fd, int depth, struct cf_err *err);

/* One entry of the directory whose path w->rel holds; w->rel is as it was on return. */
static int walk_entry(struct walk *w, int dir_fd, const char *name, int depth, struct cf_err *err)
{
	struct stat st;
	size_t len = strlen(w->rel);
	int n = snprintf(w->rel + len, sizeof(w->rel) - len, "%s%s", len ? "/" : "", name);
	int rc = -1;

	if (n < 0 || (size_t)n >= sizeof(w->rel) - len) {
		w->rel[len] = '\0';
		return cf_err_set(err, "skill pack %s: a path in it is too long", w->pack);
	}
	if (++w->entries > PACK_DIGEST_MAX_ENTRIES) {
		cf_err_set(err, "skill pack %s holds more than %d files", w->pack,
			   PACK_DIGEST_MAX_ENTRIES);
		goto done;
	}
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		cf_err_errno(err, "%s/%s", w->pack, w->rel);
		goto done;
	}
	if (S_ISREG(st.st_mode)) {
		rc = starts_with(name, PACK_DIGEST_SKIP_PREFIX) ? 0 : add_file(w, err);
	} else if (S_ISDIR(st.st_mode)) {
		if (depth >= PACK_DIGEST_MAX_DEPTH) {
			cf_err_set(err, "%s/%s: skill pack nested deeper than %d levels", w->pack,
				   w->rel, PACK_DIGEST_MAX_DEPTH);
			goto done;
		}
		int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			cf_err_errno(err, "reading %s/%s", w->pack, w->rel);
			goto done;
		}
		rc = walk_dir(w, sub, depth + 1, err);
		close(sub);
	} else {
		rc = 0; /* what find -type f leaves out: links, devices, sockets, fifos */
	}
done:
	w->rel[len] = '\0';
	return rc;
}

static int walk_dir(struct walk *w, int dir_fd, int depth, struct cf_err *err)
{
	int rc = -1;
	int fd = dup(dir_fd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cf_err_errno(err, "reading %s/%s", w->pack, w->rel);
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (past_deadline(w, err) < 0 || walk_entry(w, dir_fd, de->d_name, depth, err) < 0)
			goto done;
		errno = 0;
	}
	if (errno) {
		cf_err_errno(err, "reading %s/%s", w->pack, w->rel);
		goto done;
	}
	rc = sync_fd(w, dir_fd, err);
done:
	closedir(d);
	return rc;
}

/* strcmp orders by unsigned bytes, as LC_ALL=C sort does. */
static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void to_hex(const unsigned char *md, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

struct hashing {
	EVP_MD_CTX *file, *list;
	unsigned char *buf;
	size_t bytes;
};

/* Adds the line "<hex>  ./<path>\n" of the regular file path (relative to the pack). */
static int hash_file(struct walk *w, struct hashing *h, int pack_fd, const char *path,
		     struct cf_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[65];
	struct stat st;
	int rc = -1;
	/* O_NONBLOCK: a fifo put where the walk saw a file must not hang the pass. */
	int fd = openat(pack_fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	snprintf(w->rel, sizeof(w->rel), "%s", path);
	if (fd < 0)
		return cf_err_errno(err, "reading %s/%s", w->pack, path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cf_err_set(err, "skill pack %s: %s changed while it was read", w->pack, path);
		goto done;
	}
	if (!EVP_DigestInit_ex(h->file, EVP_sha256(), NULL)) {
		cf_err_set(err, "sha256: cannot start a digest");
		goto done;
	}
	for (;;) {
		ssize_t r = read(fd, h->buf, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cf_err_errno(err, "reading %s/%s", w->pack, path);
			goto done;
		}
		if (r == 0)
			break;
		h->bytes += (size_t)r;
		if (h->bytes > PACK_DIGEST_MAX_BYTES) {
			cf_err_set(err, "skill pack %s is larger than %u bytes", w->pack,
				   PACK_DIGEST_MAX_BYTES);
			goto done;
		}
		if (!EVP_DigestUpdate(h->file, h->buf, (size_t)r)) {
			cf_err_set(err, "sha256 of %s/%s failed", w->pack, path);
			goto done;
		}
		if (past_deadline(w, err) < 0)
			goto done;
	}
	if (!EVP_DigestFinal_ex(h->file, md, &mdlen) || mdlen != 32) {
		cf_err_set(err, "sha256 of %s/%s failed", w->pack, path);
		goto done;
	}
	to_hex(md, hex);
	if (sync_fd(w, fd, err) < 0)
		goto done;
	if (!EVP_DigestUpdate(h->list, hex, 64) || !EVP_DigestUpdate(h->list, "  ./", 4) ||
	    !EVP_DigestUpdate(h->list, path, strlen(path)) || !EVP_DigestUpdate(h->list, "\n", 1)) {
		cf_err_set(err, "sha256 of skill pack %s failed", w->pack);
		goto done;
	}
	rc = 0;
done:
	close(fd);
	return rc;
}

static int hash_files(struct walk *w, int pack_fd, const char **paths, char out[65],
		      struct cf_err *err)
{
	struct hashing h = {EVP_MD_CTX_new(), EVP_MD_CTX_new(), malloc(READ_CHUNK), 0};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = -1;

	if (!h.file || !h.list || !h.buf) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	if (!EVP_DigestInit_ex(h.list, EVP_sha256(), NULL)) {
		cf_err_set(err, "sha256: cannot start a digest");
		goto done;
	}
	for (size_t i = 0; i < w->nfiles; i++)
		if (hash_file(w, &h, pack_fd, paths[i], err) < 0)
			goto done;
	if (!EVP_DigestFinal_ex(h.list, md, &mdlen) || mdlen != 32) {
		cf_err_set(err, "sha256 of skill pack %s failed", w->pack);
		goto done;
	}
	to_hex(md, out);
	rc = 0;
done:
	free(h.buf);
	EVP_MD_CTX_free(h.list);
	EVP_MD_CTX_free(h.file);
	return rc;
}

int pack_digest(const char *dir, unsigned flags, char out[65], struct cf_err *err)
{
	struct walk w = {.pack = dir, .flags = flags,
			 .deadline_ms = clock_mono_ms() + PACK_DIGEST_TIME_MS};
	const char **paths = NULL;
	int rc = -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return cf_err_errno(err, "skill pack %s", dir);
	if (walk_dir(&w, fd, 0, err) < 0)
		goto done;
	if (w.nfiles == 0) {
		cf_err_set(err, "skill pack %s holds no regular file", dir);
		goto done;
	}
	paths = malloc(w.nfiles * sizeof(*paths));
	if (!paths) {
		cf_err_set(err, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < w.nfiles; i++)
		paths[i] = w.names + w.offsets[i];
	qsort(paths, w.nfiles, sizeof(*paths), by_bytes);
	rc = hash_files(&w, fd, paths, out, err);
done:
	free(paths);
	free(w.offsets);
	free(w.names);
	close(fd);
	return rc;
}
