#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "store/perms.h"

static bool parse_letter(char c, uint32_t *access)
{
	switch (c) {
	case 'n': *access = PERM_NONE; return true;
	case 'r': *access = PERM_READ; return true;
	case 'w': *access = PERM_WRITE; return true;
	case 'b': *access = PERM_BOTH; return true;
	default: return false;
	}
}

static char access_letter(uint32_t access)
{
	static const char letters[] = "nrwb";

	return letters[access & PERM_BOTH];
}

bool perms_parse(void *ctx, const char *strings, unsigned int count,
		 struct perm_list *out)
{
	const char *s = strings;
	unsigned int i;

	errno = EINVAL;
	if (count == 0)
		return false;
	out->entries = talloc_array(ctx, struct node_perm, count);
	if (!out->entries) {
		errno = ENOMEM;
		return false;
	}
	out->count = count;
	for (i = 0; i < count; i++, s += strlen(s) + 1) {
		char *end;
		long domid;

		if (!parse_letter(s[0], &out->entries[i].access) || !s[1])
			return false;
		/*
		 * Xen 4.17 reads the domid with strtol in base 0: leading
		 * blanks, a sign, hex ("0x5") and octal ("010" is 8) are
		 * accepted, and the value is truncated to 32 bits.  Clients
		 * send plain decimal; the rest is kept for compatibility.
		 */
		domid = strtol(s + 1, &end, 0);
		if (*end != '\0')
			return false;
		out->entries[i].domid = (uint32_t)domid;
	}
	return true;
}

size_t perms_format(const struct perm_list *perms, char *buf, size_t len)
{
	size_t used = 0;
	unsigned int i;

	for (i = 0; i < perms->count; i++) {
		char entry[16];
		int n = snprintf(entry, sizeof(entry), "%c%u",
				 access_letter(perms->entries[i].access),
				 perms->entries[i].domid);

		if (buf && used + (size_t)n + 1 <= len)
			memcpy(buf + used, entry, (size_t)n + 1);
		used += (size_t)n + 1;
	}
	return used;
}

bool perms_equal(const struct perm_list *a, const struct perm_list *b)
{
	return a->count == b->count &&
	       memcmp(a->entries, b->entries,
		      a->count * sizeof(*a->entries)) == 0;
}

bool perms_copy(void *ctx, const struct perm_list *src, struct perm_list *dst)
{
	dst->count = src->count;
	dst->entries = talloc_memdup(ctx, src->entries,
				     src->count * sizeof(*src->entries));
	return dst->entries != NULL || src->count == 0;
}
