#include <talloc.h>
#include <uthash.h>

#include "daemon/domain.h"

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

struct domain *domain_get(struct server *server, uint32_t domid)
{
	struct domain_registry *registry = server->domains;
	struct domain_entry *entry;

	HASH_FIND(hh, registry->entries, &domid, sizeof(domid), entry);
	if (entry)
		return &entry->domain;
	entry = talloc_zero(registry, struct domain_entry);
	if (!entry)
		return NULL;
	entry->domain.domid = domid;
	HASH_ADD(hh, registry->entries, domain.domid, sizeof(domid), entry);
	return &entry->domain;
}

static struct domain *domain_find(struct server *server, uint32_t domid)
{
	struct domain_entry *entry;

	HASH_FIND(hh, server->domains->entries, &domid, sizeof(domid), entry);
	return entry ? &entry->domain : NULL;
}

bool domain_is_privileged(struct server *server, uint32_t domid)
{
	return domid == 0 || (server->config.has_priv_domid &&
			      server->config.priv_domid == domid);
}

bool domain_exists(struct server *server, uint32_t domid)
{
	struct domain *domain = domain_find(server, domid);

	return domain_is_privileged(server, domid) ||
	       (domain && domain->introduced);
}

bool domain_perm_is_valid(struct server *server, uint32_t domid)
{
	return domain_exists(server, domid);
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

struct domain *domain_find_known(struct server *server, uint32_t domid)
{
	if (!domain_exists(server, domid))
		return NULL;
	return domain_get(server, domid);
}

unsigned long domain_memory(struct server *server, struct domain *domain)
{
	struct connection *conn;
	unsigned long bytes = domain->node_bytes;

	TAILQ_FOREACH(conn, &server->connections, link)
		if (conn->domain == domain)
			bytes += talloc_total_size(conn);
	return bytes;
}

unsigned long domain_outstanding(struct server *server, struct domain *domain)
{
	struct connection *conn;
	unsigned long queued = 0;

	TAILQ_FOREACH(conn, &server->connections, link)
		if (conn->domain == domain)
			queued += conn->out_len - conn->out_start;
	return queued;
}

unsigned long domain_node_count(struct server *server, uint32_t domid)
{
	struct domain *domain = domain_find(server, domid);

	return domain ? domain->nodes : 0;
}
