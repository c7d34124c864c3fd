#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <talloc.h>

#include "store/path.h"

bool path_is_special(const char *path)
{
	return strcmp(path, "@introduceDomain") == 0 ||
	       strcmp(path, "@releaseDomain") == 0;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '@';
}

bool path_is_valid_absolute(const char *path)
{
	const char *p;

	if (path[0] != '/')
		return false;
	if (path[1] == '\0')
		return true;
	for (p = path + 1; *p; p++) {
		if (*p == '/') {
			/* Catches both "//" and a trailing '/'. */
			if (p[-1] == '/' || p[1] == '\0')
				return false;
		} else if (!is_name_char(*p)) {
			return false;
		}
	}
	return true;
}

size_t path_length_for_quota(const char *path)
{
	size_t prefix = strlen(PATH_DOMAIN_PREFIX);
	const char *p;

	if (strncmp(path, PATH_DOMAIN_PREFIX, prefix) != 0)
		return strlen(path);
	p = path + prefix;
	if (*p < '0' || *p > '9')
		return strlen(path);
	/* Xen reads the domid with "%5u": a longer one is no home prefix. */
	while (*p >= '0' && *p <= '9' && p - (path + prefix) < 5)
		p++;
	if (*p == '\0')
		return strlen(path);
	if (*p != '/')
		return strlen(path);
	return strlen(p + 1);
}

char *path_canonical(void *ctx, const char *path, unsigned int domid,
		     size_t path_max, bool *relative)
{
	char *abs;

	*relative = false;
	errno = EINVAL;
	if (path[0] == '@') {
		/* Special names are opaque here; only their length matters. */
		if (strlen(path) > path_max)
			return NULL;
		abs = talloc_strdup(ctx, path);
		if (!abs)
			errno = ENOMEM;
		return abs;
	}
	if (path[0] == '/') {
		abs = talloc_strdup(ctx, path);
	} else {
		if (path[0] == '\0')
			return NULL;
		*relative = true;
		abs = talloc_asprintf(ctx, PATH_DOMAIN_PREFIX "%u/%s", domid,
				      path);
	}
	if (!abs) {
		errno = ENOMEM;
		return NULL;
	}
	if (!path_is_valid_absolute(abs) ||
	    path_length_for_quota(abs) > path_max) {
		talloc_free(abs);
		errno = EINVAL;
		return NULL;
	}
	return abs;
}

size_t path_parent_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return path[0] == '/' && path[1] != '\0' ? 1 : 0;
	return (size_t)(slash - path);
}

const char *path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

bool path_is_self_or_descendant(const char *child, const char *parent)
{
	size_t len = strlen(parent);

	if (strcmp(parent, "/") == 0)
		return child[0] == '/';
	return strncmp(child, parent, len) == 0 &&
	       (child[len] == '\0' || child[len] == '/');
}

unsigned int path_depth(const char *path)
{
	unsigned int depth = 0;

	if (strcmp(path, "/") == 0)
		return 0;
	for (; *path; path++)
		if (*path == '/')
			depth++;
	return depth;
}
