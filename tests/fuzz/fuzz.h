/* fuzz.h: what the libFuzzer harnesses in tests/fuzz/ share. Each harness feeds one reader the
 * input as an attacker would hand it over (a body, a file, a tree of files) and aborts, so that
 * libFuzzer records the input as a crash, when a promise of the module's header is broken: the
 * sanitizers catch memory and undefined behaviour, fuzz_require the contracts (a canonical form
 * that re-reads to the same bytes, a redelivery answered byte for byte). Private to tests/fuzz/. */
#ifndef CLAWFLEET_FUZZ_H
#define CLAWFLEET_FUZZ_H
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: says which and aborts (libFuzzer keeps the input as crash-<sha1>). */
#define fuzz_require(cond, ...)                                                          \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: broken promise: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                    \
			fputc('\n', stderr);                                             \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* A NUL-terminated copy of the input, for readers that take C strings; it ends at the first NUL
 * of the input, as a C string from a peer would. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Splits the input at lines that start with marker: *part is the text before the next marker
 * line (or the end), *name the rest of the marker line. Returns 0 at the end of the input. The
 * framing of harnesses whose input is several things (files of a tree, headers and a body). */
struct fuzz_frames {
	const char *p, *end;
	const char *marker;
};

static inline int fuzz_next_frame(struct fuzz_frames *fr, const char **name, size_t *name_len,
				  const char **part, size_t *part_len)
{
	size_t mlen = strlen(fr->marker);
	const char *nl, *q;

	/* Text before the first marker belongs to no frame. */
	while (fr->p < fr->end) {
		if ((size_t)(fr->end - fr->p) >= mlen && !memcmp(fr->p, fr->marker, mlen))
			break;
		nl = memchr(fr->p, '\n', (size_t)(fr->end - fr->p));
		fr->p = nl ? nl + 1 : fr->end;
	}
	if (fr->p >= fr->end)
		return 0;
	*name = fr->p + mlen;
	nl = memchr(*name, '\n', (size_t)(fr->end - *name));
	*name_len = (size_t)((nl ? nl : fr->end) - *name);
	*part = nl ? nl + 1 : fr->end;
	for (q = *part; q < fr->end;) {
		if ((size_t)(fr->end - q) >= mlen && !memcmp(q, fr->marker, mlen))
			break;
		nl = memchr(q, '\n', (size_t)(fr->end - q));
		q = nl ? nl + 1 : fr->end;
	}
	*part_len = (size_t)(q - *part);
	fr->p = q;
	return 1;
}

static char fuzz_scratch[64];

static inline int fuzz_remove_one(const char *path, const struct stat *st, int flag,
				  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void fuzz_remove_scratch(void)
{
	nftw(fuzz_scratch, fuzz_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A scratch directory for harnesses that need files, on tmpfs when there is one (fsync is then
 * cheap), removed when the fuzzer exits (a crash leaves it for the post-mortem). */
static inline const char *fuzz_scratch_dir(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	if (fuzz_scratch[0])
		return fuzz_scratch;
	snprintf(fuzz_scratch, sizeof(fuzz_scratch), "%s/clawfleet-fuzz.XXXXXX", base);
	if (!mkdtemp(fuzz_scratch))
		abort();
	atexit(fuzz_remove_scratch);
	return fuzz_scratch;
}

#endif
