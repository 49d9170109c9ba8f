/* utf8: the one well-formedness rule every text path shares (canonical JSON, doctor output,
 * logs): RFC 3629 UTF-8, so no overlong forms, no surrogates, nothing past U+10FFFF. */
#ifndef CLAWFLEET_UTF8_H
#define CLAWFLEET_UTF8_H
#include <stddef.h>

/* The length of the well-formed sequence starting at s (1 to 4), or 0 when it is not one;
 * avail is how many bytes remain. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

#endif
