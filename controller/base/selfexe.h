/* selfexe: where the running program's executable lives, so that it can run itself again (the
 * fetch child, gitsource) or find files installed beside it (`clawfleet demo`, the simulator).
 * How a process learns this differs by platform (Linux's /proc/self/exe, macOS's
 * _NSGetExecutablePath); this is the one function that knows. It promises an absolute path that
 * can be passed to exec: on Linux, once an upgrade has replaced the file the process runs,
 * "/proc/self/exe" itself, which still names the running image. */
#ifndef CLAWFLEET_SELFEXE_H
#define CLAWFLEET_SELFEXE_H
#include <stddef.h>

#include "base/err.h"

/* 0 with the path in buf (cap bytes, PATH_MAX is enough), or -1 with err saying why. */
int selfexe_path(char *buf, size_t cap, struct cf_err *err);

#endif
