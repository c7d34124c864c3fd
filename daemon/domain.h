/*
 * The domain registry: which domains the daemon knows, what they own and
 * use (for quotas), and who is privileged.  Domains become known when
 * introduced (with the ring backend) or when they first own something;
 * dom0 is always known.
 */
#ifndef DAEMON_DOMAIN_H
#define DAEMON_DOMAIN_H

#include "daemon/internal.h"

struct domain {
	uint32_t domid;
	bool introduced;
	unsigned long nodes;	/* nodes owned */
	unsigned long node_bytes;	/* their records' size */
	unsigned int watches;	/* watches registered by its connections */
	unsigned int transactions;	/* open in its connections */
};

struct domain_registry *domain_registry_new(void *ctx);

/* The entry for @domid, created on first use; NULL on allocation failure. */
struct domain *domain_get(struct server *server, uint32_t domid);

/* True if a permission entry naming @domid should be honoured. */
bool domain_perm_is_valid(struct server *server, uint32_t domid);

/* True if @domid may own nodes (SET_PERMS checks the new owner). */
bool domain_exists(struct server *server, uint32_t domid);

/* True for dom0 and --priv-domid. */
bool domain_is_privileged(struct server *server, uint32_t domid);

/* view_apply's owner callback: keeps per-domain node counts exact. */
void domain_account_owner(void *server, uint32_t old_owner, size_t old_size,
			  uint32_t new_owner, size_t new_size);

/* The domain if the daemon knows it (dom0 always), else NULL. */
struct domain *domain_find_known(struct server *server, uint32_t domid);

/* Bytes charged to @domid: its nodes and its connections' memory. */
unsigned long domain_memory(struct server *server, struct domain *domain);

/* Replies and events queued for @domid's connections, not yet taken. */
unsigned long domain_outstanding(struct server *server, struct domain *domain);

/* Nodes owned by @domid. */
unsigned long domain_node_count(struct server *server, uint32_t domid);

#endif
