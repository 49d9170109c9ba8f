/* embedded: files compiled into the binary at build time (hack/embed.c), such as crds/.
 * An array of entries ends with one whose path is NULL; data is NUL-terminated. */
#ifndef CLAWFLEET_EMBEDDED_H
#define CLAWFLEET_EMBEDDED_H
#include <stddef.h>

struct embedded_file {
	const char *path;
	const char *data;
	size_t len;
};

extern const struct embedded_file crd_files[];
extern const char clawfleet_version[];
extern const char clawfleet_build_cc[];

#endif
