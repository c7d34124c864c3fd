#include <errno.h>
#include <string.h>
#include <talloc.h>

#include "daemon/access.h"
#include "daemon/domain.h"
#include "store/path.h"

static bool acts_for(const struct accessor *who, uint32_t domid)
{
	return who->domid == domid || (who->has_target && who->target == domid);
}

bool access_is_owner(const struct accessor *who,
		     const struct perm_list *perms)
{
	return who->privileged ||
	       (perms->count && acts_for(who, perms->entries[0].domid));
}

unsigned int access_granted(struct server *server, const struct accessor *who,
			    const struct perm_list *perms, uint64_t generation)
{
	unsigned int i;

	if (who->privileged)
		return PERM_BOTH;
	if (!perms->count)
		return PERM_NONE;
	if (acts_for(who, perms->entries[0].domid))
		return PERM_BOTH;
	for (i = 1; i < perms->count; i++) {
		const struct node_perm *p = &perms->entries[i];

		if (acts_for(who, p->domid) &&
		    domain_perm_is_valid(server, p->domid, generation))
			return p->access;
	}
	return perms->entries[0].access;
}

char *access_nearest_existing(struct request *req, const char *path,
			      const struct node **node)
{
	char *ancestor = talloc_strdup(req->ctx, path);

	if (!ancestor)
		return NULL;
	for (;;) {
		size_t len;

		*node = view_get(req->view, ancestor);
		if (*node || strcmp(ancestor, "/") == 0)
			return ancestor;
		len = path_parent_len(ancestor);
		if (len == 0)
			len = 1;	/* the parent of "/x" is "/" */
		ancestor[len] = '\0';
	}
}

const struct node *access_get_node(struct request *req, const char *path,
				   unsigned int perm, int *err)
{
	const struct accessor *who = &req->conn->who;
	unsigned long failures = view_failures(req->view);
	const struct node *node = view_get(req->view, path);

	/* Not loaded is not absent. */
	if (!node && view_failures(req->view) != failures) {
		*err = view_last_error(req->view);
		return NULL;
	}
	if (node) {
		if ((access_granted(req->conn->server, who, &node->perms,
				    node->generation) & perm) != perm) {
			*err = EACCES;
			return NULL;
		}
		return node;
	}
	*err = ENOENT;
	if (!who->privileged) {
		/* Tell a missing node from one hidden by its ancestors. */
		const struct node *ancestor;

		if (!access_nearest_existing(req, path, &ancestor)) {
			*err = ENOMEM;
		} else if (ancestor &&
			   !(access_granted(req->conn->server, who,
					    &ancestor->perms,
					    ancestor->generation) & PERM_READ)) {
			*err = EACCES;
		}
	}
	return NULL;
}
