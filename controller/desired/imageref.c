#include "desired/imageref.h"

#include <string.h>

#include "base/compat.h"

void image_ref_split(const char *ref, struct image_ref *out)
{
	const char *at = strchr(ref, '@');
	size_t name_len = at ? (size_t)(at - ref) : strlen(ref);
	const char *slash = compat_memrchr(ref, '/', name_len);
	const char *last = slash ? slash + 1 : ref;
	const char *colon = memchr(last, ':', name_len - (size_t)(last - ref));

	out->repo = ref;
	out->digest = at ? at + 1 : NULL;
	out->repo_len = colon ? (size_t)(colon - ref) : name_len;
	out->tag = colon ? colon + 1 : NULL;
	out->tag_len = colon ? name_len - out->repo_len - 1 : 0;
}

bool image_ref_tag_is(const char *ref, const char *version)
{
	struct image_ref split;
	image_ref_split(ref, &split);
	return split.tag && strlen(version) == split.tag_len &&
	       memcmp(split.tag, version, split.tag_len) == 0;
}
