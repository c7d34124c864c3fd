#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>
#include <uthash.h>

#include "daemon/domain.h"
#include "daemon/log.h"
#include "daemon/node_ops.h"
#include "daemon/watch.h"
#include "store/path.h"

/* Domain ids from DOMID_FIRST_RESERVED (0x7ff0) on are not domains. */
#define DOMID_LIMIT 0x7ff0u

struct domain_entry {
	UT_hash_handle hh;
	struct domain domain;
};

struct domain_registry {
	struct domain_entry *entries;
};

static int registry_destroy(struct domain_registry *registry)
{
	HASH_CLEAR(hh, registry->entries);
	return 0;
}

struct domain_registry *domain_registry_new(void *ctx)
{
	struct domain_registry *registry = talloc_zero(ctx,
						       struct domain_registry);

	if (registry)
		talloc_set_destructor(registry, registry_destroy);
	return registry;
}

static struct domain *domain_find(struct server *server, uint32_t domid)
{
	struct domain_entry *entry;

	HASH_FIND(hh, server->domains->entries, &domid, sizeof(domid), entry);
	return entry ? &entry->domain : NULL;
}

struct domain *domain_get(struct server *server, uint32_t domid)
{
	struct domain_registry *registry = server->domains;
	struct domain_entry *entry;
	struct domain *domain = domain_find(server, domid);

	if (domain)
		return domain;
	entry = talloc_zero(registry, struct domain_entry);
	if (!entry)
		return NULL;
	entry->domain.domid = domid;
	entry->domain.quota = server->config.quota;
	entry->domain.features = DOMAIN_FEATURES;
	HASH_ADD(hh, registry->entries, domain.domid, sizeof(domid), entry);
	return &entry->domain;
}

const struct quota_settings *conn_quota(const struct connection *conn)
{
	return conn->domain ? &conn->domain->quota
			    : &conn->server->config.quota;
}

void domain_quotas_follow(struct server *server)
{
	struct domain_entry *entry, *tmp;

	HASH_ITER(hh, server->domains->entries, entry, tmp)
		quota_inherit(&entry->domain.quota, &server->config.quota,
			      entry->domain.quota_own);
}

uint32_t server_domain_features(struct server *server, uint32_t domid)
{
	struct domain *domain = domain_find(server, domid);

	return domain ? domain->features : DOMAIN_FEATURES;
}

/* A new domain with this domid starts from the global settings. */
static void domain_reset_settings(struct server *server, struct domain *domain)
{
	domain->quota = server->config.quota;
	domain->quota_own = 0;
	domain->features = DOMAIN_FEATURES;
}

bool domain_is_privileged(struct server *server, uint32_t domid)
{
	return domid == 0 || (server->config.has_priv_domid &&
			      server->config.priv_domid == domid);
}

bool domain_exists(struct server *server, uint32_t domid)
{
	struct domain *domain = domain_find(server, domid);

	/* Seen alive and not seen dying since: no need to ask Xen again. */
	if (domain_is_privileged(server, domid) ||
	    (domain && (domain->introduced || domain->seen_alive)))
		return true;
	return domid < DOMID_LIMIT && server->domain_backend &&
	       server->domain_backend->state(server->domain_backend_data,
					     domid) != DOMAIN_DYING;
}

static void mark_seen(struct server *server, struct domain *domain)
{
	if (domain->seen_alive)
		return;
	domain->seen_alive = true;
	domain->seen_since = store_next_generation(server->store);
}

/*
 * A live domain a permission names is seen from now on, or, when
 * @restored, from generation 0: before any restored node, whose
 * generations are all new, so that every permission naming it is
 * honoured.
 */
static bool note_named(struct server *server, uint32_t domid, bool restored)
{
	struct domain *domain = domain_find(server, domid);

	if (domain_is_privileged(server, domid) ||
	    (domain && domain->seen_alive) || !domain_exists(server, domid))
		return true;
	domain = domain_get(server, domid);
	if (!domain)
		return false;
	if (restored) {
		domain->seen_alive = true;
		domain->seen_since = 0;
	} else {
		mark_seen(server, domain);
	}
	return true;
}

bool domain_note_named(struct server *server, uint32_t domid)
{
	return note_named(server, domid, false);
}

struct domain *domain_find_known(struct server *server, uint32_t domid)
{
	if (!domain_exists(server, domid))
		return NULL;
	return domain_get(server, domid);
}

bool domain_perm_is_valid(struct server *server, uint32_t domid,
			  uint64_t generation)
{
	struct domain *domain;

	if (domain_is_privileged(server, domid))
		return true;
	domain = domain_find(server, domid);
	return domain && domain->seen_alive && domain->seen_since <= generation;
}

void domain_account_owner(void *arg, uint32_t old_owner, size_t old_size,
			  uint32_t new_owner, size_t new_size)
{
	struct server *server = arg;
	struct domain *domain;

	if (old_owner != VIEW_NO_OWNER) {
		domain = domain_find(server, old_owner);
		if (domain) {
			domain->nodes -= domain->nodes ? 1 : 0;
			domain->node_bytes -= domain->node_bytes >= old_size ?
					      old_size : domain->node_bytes;
		}
	}
	if (new_owner != VIEW_NO_OWNER) {
		domain = domain_get(server, new_owner);
		if (domain) {
			domain->nodes++;
			domain->node_bytes += new_size;
		}
	}
}

static int prepare_owner(void *arg, uint32_t owner)
{
	return owner == VIEW_NO_OWNER || domain_get(arg, owner) ? 0 : ENOMEM;
}

int domain_apply_view(struct server *server, struct view *view)
{
	int err = view_for_each_new_owner(view, prepare_owner, server);

	return err ? err : view_apply(view, domain_account_owner, server);
}

unsigned long domain_node_count(struct server *server, uint32_t domid)
{
	struct domain *domain = domain_find(server, domid);

	return domain ? domain->nodes : 0;
}

unsigned long domain_transaction_memory(struct domain *domain)
{
	struct connection *conn = domain->conn;
	struct conn_transaction *entry;
	unsigned long bytes = 0;

	if (conn)
		LIST_FOREACH(entry, &conn->transactions, link)
			bytes += entry->tx->bytes;
	return bytes;
}

unsigned long domain_data_memory(struct domain *domain)
{
	unsigned long bytes = domain->node_bytes + domain->watch_bytes;
	struct connection *conn = domain->conn;

	if (conn)
		bytes += conn->out_len - conn->out_start + conn->in_len;
	return bytes;
}

unsigned long domain_memory(struct server *server, struct domain *domain)
{
	unsigned long bytes = domain_data_memory(domain) +
			      domain_transaction_memory(domain);

	if (quota_exceeded(domain->quota.memory_soft, bytes) &&
	    !domain->memory_warned) {
		domain->memory_warned = true;
		xs_log(LEVEL_WARNING, "domain %u uses %lu bytes, over the soft "
		       "memory quota of %lu", domain->domid, bytes,
		       domain->quota.memory_soft);
	}
	return bytes;
}

unsigned long domain_outstanding(struct server *server, struct domain *domain)
{
	struct connection *conn;
	unsigned long queued = 0;

	TAILQ_FOREACH(conn, &server->connections, link)
		if (conn->domain == domain)
			queued += conn->queued_replies;
	return queued;
}

void domain_fire_special(struct server *server, const char *name,
			 uint32_t domid)
{
	watch_fire_special(server, name, domid);
}

/* --- requests --------------------------------------------------------- */

static int remove_owned_nodes(struct server *server, struct domain *domain);

/*
 * The lifecycle requests read their arguments as Xen 4.17 does, so they
 * fail alike: atoi into an unsigned domid ("-1" is 4294967295, "abc" 0),
 * extra arguments ignored where Xen ignores them.
 */
static uint32_t domid_argument(const char *arg)
{
	return (uint32_t)atoi(arg);
}

/*
 * Xen's find_connected_domain: an introduced domain (dom0 always is);
 * ENOENT otherwise.  @out is the registry's entry.
 */
static int connected_domain(struct server *server, uint32_t domid,
			    struct domain **out)
{
	struct domain *domain = domain_find(server, domid);

	if (domid == 0 && !domain)
		domain = domain_get(server, 0);
	if (domid == 0 && !domain)
		return ENOMEM;
	if (!domain || (domid != 0 && !domain->introduced))
		return ENOENT;
	*out = domain;
	return 0;
}

int domain_request_introduce(struct request *req)
{
	struct server *server = req->conn->server;
	const char *argv[3];
	uint32_t domid, port;
	struct domain *domain;
	bool was_introduced;
	int err;

	/* domid\0 gfn\0 port\0; the port is checked before anything else. */
	if (request_strings(req, argv, 3) < 3)
		return EINVAL;
	domid = domid_argument(argv[0]);
	port = (uint32_t)atoi(argv[2]);
	if (port == 0 || domid >= DOMID_LIMIT)
		return EINVAL;
	if (!server->domain_backend)
		return ENOSYS;
	domain = domain_get(server, domid);
	if (!domain)
		return ENOMEM;
	was_introduced = domain->introduced;
	/* A previous domain of this domid left nodes: not for this one. */
	if (!was_introduced && domain->nodes_to_remove) {
		err = remove_owned_nodes(server, domain);
		if (err)
			return err;
	}
	err = server->domain_backend->introduce(server->domain_backend_data,
						domid,
						strtoull(argv[1], NULL, 10),
						port);
	if (err)
		return err;
	if (!was_introduced) {
		domain->introduced = true;
		domain->shutdown_reported = false;
		mark_seen(server, domain);
		domain_fire_special(server, "@introduceDomain", domid);
	}
	return reply_string(req, "OK");
}

/* RELEASE and RESUME: one domid, not 0 (EINVAL), introduced (ENOENT). */
static int domain_argument(struct request *req, struct domain **domain)
{
	const char *arg = request_single_string(req);
	uint32_t domid;

	if (!arg)
		return EINVAL;
	domid = domid_argument(arg);
	if (domid == 0)
		return EINVAL;
	return connected_domain(req->conn->server, domid, domain);
}

/* Forget an introduced domain: its ring connection goes, @releaseDomain. */
static void domain_forget(struct server *server, struct domain *domain)
{
	struct connection *conn = domain->conn;

	domain->introduced = false;
	domain->shutdown_reported = false;
	domain->conn = NULL;
	domain_reset_settings(server, domain);
	if (conn && conn != server->internal) {
		if (conn->busy)
			conn_doom(conn, "domain released");
		else
			talloc_free(conn);
	}
	domain_fire_special(server, "@releaseDomain", domain->domid);
}

int domain_request_release(struct request *req)
{
	struct domain *domain;
	int err = domain_argument(req, &domain);

	if (err)
		return err;
	domain_forget(req->conn->server, domain);
	return reply_string(req, "OK");
}

int domain_request_resume(struct request *req)
{
	struct domain *domain;
	int err = domain_argument(req, &domain);

	if (err)
		return err;
	domain->shutdown_reported = false;
	return reply_string(req, "OK");
}

int domain_request_is_introduced(struct request *req)
{
	const char *arg = request_single_string(req);
	struct domain *domain;
	uint32_t domid;

	if (!arg)
		return EINVAL;
	domid = domid_argument(arg);
	domain = domain_find(req->conn->server, domid);
	/* DOMID_SELF (the first reserved id) is always introduced. */
	return reply_string(req, domid == 0 || domid == DOMID_LIMIT ||
				 (domain && domain->introduced) ? "T" : "F");
}

int domain_request_set_target(struct request *req)
{
	struct server *server = req->conn->server;
	const char *argv[2];
	struct domain *domain, *target;
	struct connection *conn;
	int err;

	if (request_strings(req, argv, 2) < 2)
		return EINVAL;
	err = connected_domain(server, domid_argument(argv[0]), &domain);
	if (!err)
		err = connected_domain(server, domid_argument(argv[1]), &target);
	if (err)
		return err;
	domain->has_target = true;
	domain->target = target->domid;
	TAILQ_FOREACH(conn, &server->connections, link) {
		if (conn->domain == domain) {
			conn->who.has_target = true;
			conn->who.target = target->domid;
		}
	}
	return reply_string(req, "OK");
}

/* --- deaths ------------------------------------------------------------ */

struct owned_nodes {
	uint32_t domid;
	char **paths;
	size_t count, size;
	void *ctx;
};

static int collect_owned(const char *path, const struct node *node, void *arg)
{
	struct owned_nodes *owned = arg;

	/* A record that does not decode has no owner to go by. */
	if (!node || !node->perms.count || node->perms.entries[0].domid != owned->domid)
		return 0;
	if (owned->count == owned->size) {
		owned->size = owned->size ? owned->size * 2 : 16;
		owned->paths = talloc_realloc(owned->ctx, owned->paths, char *,
					      owned->size);
		if (!owned->paths)
			return ENOMEM;
	}
	owned->paths[owned->count] = talloc_strdup(owned->paths, path);
	return owned->paths[owned->count++] ? 0 : ENOMEM;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Remove every node a dead domain owned, with its subtree (watches fire).
 * Returns 0, or an errno value if some could not be removed: then they
 * are tried again at the next check.
 */
static int remove_owned_nodes(struct server *server, struct domain *domain)
{
	struct owned_nodes owned = { .domid = domain->domid };
	struct request req = { .conn = server->internal };
	int err = 0;
	size_t i;

	domain->nodes_to_remove = false;
	if (!domain->nodes || server->config.keep_orphans)
		return 0;
	owned.ctx = talloc_new(NULL);
	if (!owned.ctx)
		err = ENOMEM;
	else
		err = store_traverse(server->store, collect_owned, &owned);
	if (err)
		goto out;
	/* Sorted, a subtree's root comes before what lies below it. */
	qsort(owned.paths, owned.count, sizeof(char *), by_path);
	for (i = 0; i < owned.count; i++) {
		int one;

		if (i && path_is_self_or_descendant(owned.paths[i],
						    owned.paths[i - 1])) {
			owned.paths[i] = owned.paths[i - 1];
			continue;
		}
		req.ctx = talloc_new(owned.ctx);
		req.view = req.ctx ? view_new(req.ctx, server->store, false)
				   : NULL;
		req.payload = owned.paths[i];
		req.hdr.len = (uint32_t)strlen(owned.paths[i]) + 1;
		one = req.view ? node_op_rm(&req) : ENOMEM;
		/* A node the view could not load looked absent. */
		if (req.view && view_failures(req.view))
			one = view_last_error(req.view);
		if (!one)
			one = domain_apply_view(server, req.view);
		if (!one)
			server_fire_changes(server, req.view);
		else if (!err)
			err = one;
		talloc_free(req.ctx);
	}
out:
	talloc_free(owned.ctx);
	if (err) {
		xs_log(LEVEL_ERROR, "domain %u: cannot remove all its nodes "
		       "(%s): trying again", domain->domid, strerror(err));
		domain->nodes_to_remove = true;
		server->recheck_domains = true;
	}
	return err;
}

void server_check_domains(struct server *server)
{
	struct domain_entry *entry, *tmp;

	if (!server->domain_backend)
		return;
	server->recheck_domains = false;
	HASH_ITER(hh, server->domains->entries, entry, tmp) {
		struct domain *domain = &entry->domain;
		enum domain_state state;

		if (domain->nodes_to_remove && !domain->introduced)
			remove_owned_nodes(server, domain);
		if ((!domain->introduced && !domain->seen_alive) ||
		    domain_is_privileged(server, domain->domid))
			continue;
		state = server->domain_backend->state(
			server->domain_backend_data, domain->domid);
		if (state == DOMAIN_UNKNOWN) {
			/* Not a death: ask again soon. */
			xs_log(LEVEL_WARNING, "domain %u: state unknown, "
			       "asking again", domain->domid);
			server->recheck_domains = true;
			continue;
		}
		if (!domain->introduced) {
			/* Named in permissions, never introduced: only its
			 * death matters, so that its domid is not inherited. */
			if (state == DOMAIN_DYING)
				domain->seen_alive = false;
			continue;
		}
		if (state == DOMAIN_SHUTDOWN && !domain->shutdown_reported) {
			domain->shutdown_reported = true;
			domain_fire_special(server, "@releaseDomain",
					    domain->domid);
		} else if (state == DOMAIN_DYING) {
			xs_log(LEVEL_INFO, "domain %u is gone", domain->domid);
			domain_forget(server, domain);
			domain->seen_alive = false;
			remove_owned_nodes(server, domain);
		}
	}
	server_flush(server);
}

void server_set_domain_backend(struct server *server,
			       const struct domain_backend *backend,
			       void *backend_data)
{
	server->domain_backend = backend;
	server->domain_backend_data = backend_data;
}

struct connection *server_connect_domain(struct server *server,
					 const struct conn_ops *ops, void *io,
					 uint32_t domid)
{
	struct domain *domain = domain_get(server, domid);
	struct connection *conn;

	if (!domain)
		return NULL;
	conn = server_connect(server, ops, io, domid);
	if (!conn)
		return NULL;
	if (domain->conn) {
		struct connection *old = domain->conn;

		domain->conn = NULL;
		if (old->busy)
			conn_doom(old, "replaced by a new ring connection");
		else
			talloc_free(old);
	}
	domain->conn = conn;
	if (domid == 0 && !domain->introduced)
		domain->introduced = true;
	return conn;
}

bool domain_restore_named(struct server *server, uint32_t domid)
{
	return note_named(server, domid, true);
}

int domain_restore_ring(struct server *server, struct connection *conn,
			uint32_t target)
{
	struct domain *domain = conn->domain;

	domain->introduced = true;
	if (!domain->seen_alive) {
		domain->seen_alive = true;
		domain->seen_since = 0;
	}
	if (target != STATE_DOMID_INVALID) {
		if (!domain_get(server, target))
			return ENOMEM;
		domain->has_target = true;
		domain->target = target;
		conn->who.has_target = true;
		conn->who.target = target;
	}
	return 0;
}
