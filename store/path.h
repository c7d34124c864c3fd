/*
 * Path rules of the xenstore protocol: which names are valid, how a relative
 * path becomes absolute, and the small string operations the store needs.
 * Paths are plain NUL-terminated strings; nothing here allocates except
 * path_canonical(), which allocates on the caller's talloc context.
 */
#ifndef STORE_PATH_H
#define STORE_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* The home of a domain: relative paths are resolved below it. */
#define PATH_DOMAIN_PREFIX "/local/domain/"

/* True for the special watch names "@introduceDomain" and "@releaseDomain". */
bool path_is_special(const char *path);

/*
 * Resolve @path for a connection whose home domain is @domid: a path not
 * starting with '/' or '@' is relative to /local/domain/<domid>.  Returns a
 * new string on @ctx, or NULL if @path is not a valid node name (bad
 * character, "//", trailing '/', empty) or longer than @path_max once the
 * "/local/domain/<N>/" prefix is discounted.  Special '@' names are returned
 * unchanged and only checked for length; callers decide where they are
 * allowed.  *@relative tells whether the input was relative.  errno says
 * which: EINVAL, or ENOMEM.
 */
char *path_canonical(void *ctx, const char *path, unsigned int domid,
		     size_t path_max, bool *relative);

/* True if @path is a well-formed absolute node path ("/" included). */
bool path_is_valid_absolute(const char *path);

/* Length of @path not counting a leading "/local/domain/<N>/". */
size_t path_length_for_quota(const char *path);

/* Length of the parent of @path ("/a/b" -> 2, "/a" -> 1, "/" -> 0). */
size_t path_parent_len(const char *path);

/* The last component of @path ("/a/b" -> "b", "/" -> ""). */
const char *path_basename(const char *path);

/* True if @child is @parent or lies below it. */
bool path_is_self_or_descendant(const char *child, const char *parent);

/* Number of components ("/" -> 0, "/a/b" -> 2). */
unsigned int path_depth(const char *path);

#endif
