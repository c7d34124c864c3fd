/*
 * The domain registry: which domains the daemon knows, what they own and
 * use (for quotas), who is privileged, and the lifecycle requests
 * (INTRODUCE, RELEASE, RESUME, IS_DOMAIN_INTRODUCED, SET_TARGET) with
 * death handling.  Xen itself is behind struct domain_backend (core.h).
 */
#ifndef DAEMON_DOMAIN_H
#define DAEMON_DOMAIN_H

#include "daemon/internal.h"

struct domain {
	uint32_t domid;
	bool introduced;
	/* @releaseDomain already fired for its shutdown (until RESUME). */
	bool shutdown_reported;
	/*
	 * Store generation when this domain was first seen alive (named in
	 * SET_PERMS or introduced); cleared when it dies.  Permissions on
	 * nodes older than that name a previous domain with the same domid.
	 */
	bool seen_alive;
	uint64_t seen_since;
	bool has_target;
	uint32_t target;	/* SET_TARGET: acts for this domain */
	struct connection *conn;	/* its ring connection, if any */
	unsigned long nodes;	/* nodes owned */
	unsigned long node_bytes;	/* their records' size */
	unsigned int watches;	/* watches registered by its connections */
	unsigned long watch_bytes;
	unsigned int transactions;	/* open in its connections */
	bool memory_warned;	/* soft quota logged */
	/* Dead, but some of its nodes are still to be removed. */
	bool nodes_to_remove;
	/*
	 * Its quotas: the global ones, except those SET_QUOTA gave it (bits
	 * 1 << quota index in quota_own).  Reset when it is released or dies.
	 */
	struct quota_settings quota;
	unsigned int quota_own;
	/* XENSTORE_SERVER_FEATURE_* its ring offers (SET_FEATURE before
	 * INTRODUCE narrows them); WATCH depth only if WATCHDEPTH is in. */
	uint32_t features;
};

/* The ring features this daemon implements: what GET_FEATURE answers
 * for a domain nobody narrowed. */
#define DOMAIN_FEATURES (XENSTORE_SERVER_FEATURE_RECONNECTION | \
			 XENSTORE_SERVER_FEATURE_ERROR | \
			 XENSTORE_SERVER_FEATURE_WATCHDEPTH)

struct domain_registry *domain_registry_new(void *ctx);

/* The entry for @domid, created on first use; NULL on allocation failure. */
struct domain *domain_get(struct server *server, uint32_t domid);

/* The domain if the daemon knows it (dom0 always), else NULL. */
struct domain *domain_find_known(struct server *server, uint32_t domid);

/*
 * True if a permission entry naming @domid on a node last changed at
 * @generation should be honoured: the domain exists and existed then.
 */
bool domain_perm_is_valid(struct server *server, uint32_t domid,
			  uint64_t generation);

/*
 * True if @domid is a live domain: privileged, introduced, or alive as the
 * ring backend says (libxl hands nodes to a domain before INTRODUCE).
 */
bool domain_exists(struct server *server, uint32_t domid);

/* SET_PERMS names @domid: remember since when it is alive, if it is.
 * False if memory ran out (the entry would be ignored). */
bool domain_note_named(struct server *server, uint32_t domid);

/* True for dom0 and --priv-domid. */
bool domain_is_privileged(struct server *server, uint32_t domid);

/*
 * Write @view to the store, keeping per-domain node counts exact: every
 * new owner's entry is made first, so that nothing is written unless all
 * of it can be counted.  0 or an errno value.
 */
int domain_apply_view(struct server *server, struct view *view);

/* view_apply's owner callback: keeps per-domain node counts exact. */
void domain_account_owner(void *server, uint32_t old_owner, size_t old_size,
			  uint32_t new_owner, size_t new_size);

/* Nodes owned by @domid. */
unsigned long domain_node_count(struct server *server, uint32_t domid);

/*
 * Bytes charged to @domain, which the memory quota bounds twice over:
 * - its data: nodes, watches, queued input and output.  Past the quota the
 *   daemon stops reading the domain until that shrinks;
 * - its open transactions (views and logs, as last measured).  Past the
 *   quota a request in a transaction fails with ENOSPC, and so does the
 *   transaction; the domain is still read, so that it can end them.
 * domain_memory() is both, for CONTROL quota and the soft quota's warning.
 */
unsigned long domain_data_memory(struct domain *domain);
unsigned long domain_transaction_memory(struct domain *domain);
unsigned long domain_memory(struct server *server, struct domain *domain);

/* Replies and events queued for @domain's connections, not yet taken. */
unsigned long domain_outstanding(struct server *server, struct domain *domain);

/* Fire @introduceDomain or @releaseDomain, for @domid (watch.h). */
void domain_fire_special(struct server *server, const char *name,
			 uint32_t domid);

/* The quotas that hold @conn: its domain's. */
const struct quota_settings *conn_quota(const struct connection *conn);

/* The global quotas changed: every domain follows, except where it has
 * its own. */
void domain_quotas_follow(struct server *server);

/* Xen 4.21's per-domain settings (domain_settings.c). */
int domain_request_get_feature(struct request *req);
int domain_request_set_feature(struct request *req);
int domain_request_get_quota(struct request *req);
int domain_request_set_quota(struct request *req);

/*
 * Restoring a live update's state: a permission names @domid (if it is
 * alive, it was so before every restored node); false if memory ran out.
 */
bool domain_restore_named(struct server *server, uint32_t domid);

/* A restored ring connection: its domain is introduced, with @target
 * (STATE_DOMID_INVALID: none).  0 or ENOMEM. */
int domain_restore_ring(struct server *server, struct connection *conn,
			uint32_t target);

/* The lifecycle requests (dispatch table entries). */
int domain_request_introduce(struct request *req);
int domain_request_release(struct request *req);
int domain_request_resume(struct request *req);
int domain_request_is_introduced(struct request *req);
int domain_request_set_target(struct request *req);

#endif
