/*
 * Permission lists.  Entry 0 names the owner and is the default access for
 * every domain not listed; later entries grant (or deny) one domain each.
 * On the wire an entry is a letter (n, r, w, b) followed by a decimal domid.
 */
#ifndef STORE_PERMS_H
#define STORE_PERMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERM_NONE  0u
#define PERM_READ  1u
#define PERM_WRITE 2u
#define PERM_BOTH  (PERM_READ | PERM_WRITE)

struct node_perm {
	uint32_t domid;
	uint32_t access;	/* PERM_* bits */
};

struct perm_list {
	unsigned int count;	/* at least 1 for a real node */
	struct node_perm *entries;
};

/*
 * Parse @count NUL-terminated entries starting at @strings (as they come in
 * a SET_PERMS payload) into @out, whose entries are allocated on @ctx.
 * Returns false if an entry is malformed (errno EINVAL) or memory ran out
 * (errno ENOMEM).
 */
bool perms_parse(void *ctx, const char *strings, unsigned int count,
		 struct perm_list *out);

/* Append the wire form ("r5\0w2\0") of @perms to @buf; returns bytes needed. */
size_t perms_format(const struct perm_list *perms, char *buf, size_t len);

bool perms_equal(const struct perm_list *a, const struct perm_list *b);

/* A deep copy on @ctx. */
bool perms_copy(void *ctx, const struct perm_list *src, struct perm_list *dst);

#endif
