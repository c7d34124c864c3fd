/*
 * Permission policy: what access a caller has to a node, and the node
 * lookups that apply it.  Lookups go through a view, so inside a
 * transaction they record what the caller observed.
 */
#ifndef DAEMON_ACCESS_H
#define DAEMON_ACCESS_H

#include "daemon/internal.h"

/*
 * PERM_* bits @who has on a node with @perms, last changed at @generation
 * (entries naming domains introduced after that are ignored; pass
 * ACCESS_ANY_GENERATION where there is no node).
 */
#define ACCESS_ANY_GENERATION UINT64_MAX
unsigned int access_granted(struct server *server, const struct accessor *who,
			    const struct perm_list *perms, uint64_t generation);

/* True if @who owns a node with @perms (or acts for its owner). */
bool access_is_owner(const struct accessor *who,
		     const struct perm_list *perms);

/*
 * The node at @path if @who has @perm on it.  NULL with *err: ENOENT
 * (missing), EACCES (no access, or missing below an ancestor @who may not
 * read), ENOMEM.
 */
const struct node *access_get_node(struct request *req, const char *path,
				   unsigned int perm, int *err);

/*
 * The nearest existing ancestor of @path (or @path itself), as a path
 * allocated on the request, with its node; NULL only on allocation failure.
 */
char *access_nearest_existing(struct request *req, const char *path,
			      const struct node **node);

#endif
