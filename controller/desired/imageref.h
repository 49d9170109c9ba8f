/* imageref: the parts of a container image reference as the Promotion's imageRef and a Flux
 * event's metadata.imageRef carry it, [registry[:port]/]path[:tag][@digest]. The planner compares
 * the tag with the version openclaw.lock pins (a Promotion whose image is not that build stalls
 * as ImageNotPinned) and the Flux receiver compares two references; both read them the same way
 * through this one split. Nothing is allocated: the parts point into the reference. */
#ifndef CLAWFLEET_IMAGEREF_H
#define CLAWFLEET_IMAGEREF_H
#include <stdbool.h>
#include <stddef.h>

struct image_ref {
	const char *repo, *tag, *digest; /* tag and digest NULL when absent */
	size_t repo_len, tag_len;	 /* digest runs to the end of the reference */
};

/* The tag's colon is the one after the last slash, so a registry's port is not a tag. */
void image_ref_split(const char *ref, struct image_ref *out);
/* The tag of ref equals version exactly (a ref without a tag never does). */
bool image_ref_tag_is(const char *ref, const char *version);

#endif
