/*
 * The server object: configuration, the store with its initial tree, and
 * the registries every connection shares.
 */
#include <errno.h>
#include <string.h>
#include <talloc.h>

#include "daemon/domain.h"
#include "daemon/internal.h"
#include "daemon/log.h"
#include "daemon/watch.h"

void server_config_defaults(struct server_config *config)
{
	memset(config, 0, sizeof(*config));
	quota_defaults(&config->quota);
}

/* "/", "/tool" and "/tool/xenstored", owned by dom0 and readable by none. */
static int create_initial_tree(struct server *server)
{
	static const char *const paths[] = { "/", "/tool", "/tool/xenstored" };
	static const char *const children[] = { "tool", "xenstored", NULL };
	struct node_perm owner = { .domid = 0, .access = PERM_NONE };
	struct perm_list perms = { .count = 1, .entries = &owner };
	void *tmp = talloc_new(NULL);
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && !err; i++) {
		struct node *node = node_new(tmp, &perms);

		if (!node || (children[i] && !node_add_child(node, children[i]))) {
			err = ENOMEM;
			break;
		}
		node->generation = store_next_generation(server->store);
		err = store_put(server->store, paths[i], node);
		if (!err)
			domain_account_owner(server, VIEW_NO_OWNER, 0, 0,
					     node_record_size(node));
	}
	talloc_free(tmp);
	return err;
}

/* A restored store's nodes, charged to their owners as when written. */
static int account_restored_node(const char *path, const struct node *node,
				 void *arg)
{
	struct server *server = arg;
	uint32_t owner = node && node->perms.count ?
			 node->perms.entries[0].domid : VIEW_NO_OWNER;

	(void)path;
	if (!node)
		return EIO;
	if (owner != VIEW_NO_OWNER && !domain_get(server, owner))
		return ENOMEM;
	domain_account_owner(server, VIEW_NO_OWNER, 0, owner,
			     node_record_size(node));
	return 0;
}

static struct store *open_store(struct server *server,
				const struct server_config *config)
{
	size_t replayed;
	struct store *store;

	if (!config->journal)
		return store_open(server, config->database_file);
	store = store_open_journaled(server, config->journal,
				     config->restore_data, config->restore_len,
				     &server->restored, &replayed);
	if (store && replayed < config->restore_len)
		xs_log(LEVEL_WARNING, "the state file's last %zu bytes were "
		       "cut short by the kill (or damaged): ignored",
		       config->restore_len - replayed);
	return store;
}

static int server_destructor(struct server *server)
{
	/* Connections first: their destructors use the registries. */
	while (!TAILQ_EMPTY(&server->connections))
		talloc_free(TAILQ_FIRST(&server->connections));
	return 0;
}

struct server *server_new(void *ctx, const struct server_config *config)
{
	struct server *server = talloc_zero(ctx, struct server);
	int err;

	if (!server) {
		errno = ENOMEM;
		return NULL;
	}
	talloc_set_name_const(server, "server");
	server->config = *config;
	TAILQ_INIT(&server->connections);
	TAILQ_INIT(&server->to_flush);
	TAILQ_INIT(&server->doomed);
	TAILQ_INIT(&server->held);
	server->domains = domain_registry_new(server);
	server->watches = watch_index_new(server);
	server->read_buf = talloc_size(server, READ_BUFFER_SIZE);
	if (!server->domains || !server->watches || !server->read_buf) {
		talloc_free(server);
		errno = ENOMEM;
		return NULL;
	}
	server->store = open_store(server, config);
	if (!server->store) {
		err = errno;
		xs_log(LEVEL_ERROR, "cannot open the node database%s%s: %s%s",
		       config->database_file ? " " : "",
		       config->database_file ? config->database_file : "",
		       strerror(err), err == EIO ? " (not a store?)" : "");
		talloc_free(server);
		errno = err;
		return NULL;
	}
	if (server->restored) {
		err = store_traverse(server->store, account_restored_node,
				     server);
	} else {
		store_batch_begin(server->store);
		err = create_initial_tree(server);
		store_batch_end(server->store);
	}
	if (err) {
		talloc_free(server);
		errno = err;
		return NULL;
	}
	talloc_set_destructor(server, server_destructor);
	/* No backend, never read: the daemon's own changes run as dom0. */
	server->internal = server_connect(server, NULL, NULL, 0);
	if (!server->internal) {
		talloc_free(server);
		errno = ENOMEM;
		return NULL;
	}
	return server;
}

bool server_restored(const struct server *server)
{
	return server->restored;
}
