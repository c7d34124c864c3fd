/*
 * A migration stream back into a fresh server (server_restore_state):
 * ours, or the one Xen 4.17's C daemon writes on a live update.
 *
 * The reader has checked the stream's shape before anything here runs;
 * what it cannot know (a node before its parent, a path that is no node
 * name, a watch path that does not resolve, a transaction log that names
 * a request transactions do not log, output that is not a sequence of
 * messages) fails the restore here, and the caller throws the server away.
 */
#include <errno.h>
#include <string.h>
#include <talloc.h>
#include <uthash.h>

#include "daemon/domain.h"
#include "daemon/internal.h"
#include "daemon/log.h"
#include "daemon/state_internal.h"
#include "daemon/watch.h"
#include "store/path.h"

/* Nodes written to the store per view, so that a view stays small. */
#define NODES_PER_VIEW 1024

struct restored_conn {
	uint32_t conn_id;
	struct connection *conn;
	UT_hash_handle hh;
};

/* A transaction's logged request, replayed once the nodes are back. */
struct pending_log {
	struct pending_log *next;
	struct connection *conn;
	struct transaction *tx;
	struct state_tx_log log;
};

struct restorer {
	struct server *server;
	const struct state_adopters *adopters;
	void *ctx;
	struct restored_conn *conns;
	struct view *view;
	unsigned int view_nodes;
	const char *why;
	unsigned long nodes, watches, transactions;
	struct pending_log *logs, **logs_tail;
};

static int fail(struct restorer *r, int err, const char *why)
{
	if (!r->why)
		r->why = why;
	return err;
}

static struct restored_conn *find_conn(struct restorer *r, uint32_t conn_id)
{
	struct restored_conn *rc;

	HASH_FIND(hh, r->conns, &conn_id, sizeof(conn_id), rc);
	return rc;
}

/* The connection's pending input: handled once everything is restored. */
static int restore_input(struct restorer *r, struct connection *conn,
			 const uint8_t *data, size_t len)
{
	if (!len)
		return 0;
	conn->in_buf = talloc_memdup(conn, data, len);
	if (!conn->in_buf)
		return fail(r, ENOMEM, "out of memory restoring input");
	conn->in_len = len;
	return 0;
}

static int restore_connection(void *arg, const struct state_connection *c)
{
	struct restorer *r = arg;
	struct server *server = r->server;
	struct restored_conn *rc;
	struct connection *conn;
	int err;

	if (c->type == STATE_CONN_SOCKET) {
		if (!r->adopters)
			conn = server_connect(server, NULL, NULL, 0);
		else if (r->adopters->socket)
			conn = r->adopters->socket(r->adopters->arg, server,
						   c->socket_fd);
		else
			return fail(r, EINVAL, "a socket connection, but no "
				    "socket is served");
	} else {
		if (!r->adopters)
			conn = server_connect_domain(server, NULL, NULL,
						     c->domid);
		else if (r->adopters->ring)
			conn = r->adopters->ring(r->adopters->arg, server,
						 c->domid, c->evtchn);
		else
			return fail(r, EINVAL, "a ring connection, but no "
				    "rings are served");
		if (conn) {
			err = domain_restore_ring(server, conn, c->target);
			if (err)
				return fail(r, err, "out of memory restoring "
					    "a domain");
		}
	}
	if (!conn)
		return fail(r, EIO, c->type == STATE_CONN_SOCKET ?
			    "a socket connection could not be adopted" :
			    "a ring could not be adopted");
	rc = talloc_zero(r->ctx, struct restored_conn);
	if (!rc)
		return fail(r, ENOMEM, "out of memory restoring a connection");
	rc->conn_id = c->conn_id;
	rc->conn = conn;
	HASH_ADD(hh, r->conns, conn_id, sizeof(rc->conn_id), rc);
	err = restore_input(r, conn, c->data, c->in_len);
	if (err)
		return err;
	if (!conn_restore_output(conn, c->data + c->in_len, c->out_len,
				 c->resp_len))
		return fail(r, EINVAL, "a connection's pending output is not "
			    "a sequence of messages");
	return 0;
}

static int restore_watch(void *arg, const struct state_watch *w)
{
	struct restorer *r = arg;
	struct connection *conn = find_conn(r, w->conn_id)->conn;
	struct watch *watch;
	bool relative;
	char *path;
	int err;

	path = path_canonical(r->ctx, w->path, conn->who.domid, (size_t)-1,
			      &relative);
	if (!path)
		return fail(r, errno == ENOMEM ? ENOMEM : EINVAL,
			    "a watch path is no node name");
	if (path_is_special(path) && strcmp(path, "@introduceDomain") &&
	    strcmp(path, "@releaseDomain") &&
	    strncmp(path, "@releaseDomain/", strlen("@releaseDomain/")) &&
	    strncmp(path, "@introduceDomain/", strlen("@introduceDomain/")))
		return fail(r, EINVAL, "a watch on an unknown special path");
	/* Quotas are not checked while restoring, as in the C daemon: the
	 * new daemon's may be smaller; they apply from the next request. */
	err = watch_restore(conn, path, w->token, relative,
			    w->depth == STATE_WATCH_DEPTH_ANY ? -1 : w->depth,
			    &watch);
	talloc_free(path);
	if (err == EEXIST)
		return fail(r, EINVAL, "a watch given twice");
	if (err)
		return fail(r, err, "out of memory restoring a watch");
	r->watches++;
	return 0;
}

static struct transaction *find_transaction(struct restorer *r,
					    uint32_t conn_id, uint32_t tx_id)
{
	return conn_find_transaction(find_conn(r, conn_id)->conn, tx_id);
}

static int restore_transaction(void *arg, const struct state_transaction *t)
{
	struct restorer *r = arg;
	struct connection *conn = find_conn(r, t->conn_id)->conn;
	struct conn_transaction *entry;

	entry = talloc_zero(conn, struct conn_transaction);
	if (!entry)
		return fail(r, ENOMEM, "out of memory restoring a transaction");
	entry->tx = transaction_new(entry, r->server->store, t->tx_id);
	if (!entry->tx) {
		talloc_free(entry);
		return fail(r, ENOMEM, "out of memory restoring a transaction");
	}
	entry->opened_at = r->server->now;
	LIST_INSERT_HEAD(&conn->transactions, entry, link);
	if (conn->next_transaction_id <= t->tx_id)
		conn->next_transaction_id = t->tx_id + 1;
	conn->transaction_count++;
	conn->domain->transactions++;
	r->transactions++;
	return 0;
}

/* The requests a transaction logs (dispatch.c's HANDLER_READS/CHANGES). */
static bool is_logged_type(uint32_t type)
{
	switch (type) {
	case XS_READ: case XS_DIRECTORY: case XS_DIRECTORY_PART:
	case XS_GET_PERMS: case XS_WRITE: case XS_MKDIR: case XS_RM:
	case XS_SET_PERMS:
		return true;
	default:
		return false;
	}
}

/*
 * One logged request: kept until every node is restored (the stream
 * gives transactions before nodes), then replayed (replay_logs()).
 */
static int restore_tx_log(void *arg, const struct state_tx_log *l)
{
	struct restorer *r = arg;
	struct connection *conn = find_conn(r, l->conn_id)->conn;
	struct transaction *tx = find_transaction(r, l->conn_id, l->tx_id);
	struct pending_log *p;

	if (!tx)
		return fail(r, EINVAL, "a log entry of an unknown transaction");
	if (l->type == STATE_TX_LOG_FAILED) {
		tx->failed = true;
		return 0;
	}
	if (!is_logged_type(l->type) || l->payload_len > XENSTORE_PAYLOAD_MAX)
		return fail(r, EINVAL, "a transaction log entry names a "
			    "request transactions do not log");
	p = talloc_zero(r->ctx, struct pending_log);
	if (!p)
		return fail(r, ENOMEM, "out of memory restoring a transaction");
	p->conn = conn;
	p->tx = tx;
	p->log = *l;
	p->log.payload = talloc_memdup(p, l->payload, l->payload_len + 1);
	if (!p->log.payload)
		return fail(r, ENOMEM, "out of memory restoring a transaction");
	*r->logs_tail = p;
	r->logs_tail = &p->next;
	return 0;
}

/*
 * Each logged request is replayed on its transaction's view, which makes
 * the view hold the transaction's writes again, and logged with the
 * answer it had, which the commit must reproduce.  What the view now
 * reads for the first time is the store as it is; if that differs from
 * what the transaction saw, its commit replays and fails with EAGAIN, as
 * it would have in the old daemon.
 */
static int replay_logs(struct restorer *r)
{
	struct pending_log *p;

	for (p = r->logs; p; p = p->next) {
		struct logged_request logged = {
			.type = p->log.type, .len = p->log.payload_len,
			.payload = (char *)p->log.payload,
		};
		uint32_t reply_len;
		uint64_t digest;

		/* Its own answer now does not matter; the logged one does. */
		dispatch_replay(p->conn, p->tx->view, &logged, &reply_len,
				&digest);
		if (!transaction_log_answer(p->tx, p->log.type,
					    p->log.payload,
					    p->log.payload_len, p->log.result,
					    p->log.reply_len,
					    p->log.reply_digest))
			return fail(r, ENOMEM, "out of memory restoring a "
				    "transaction");
	}
	return 0;
}

static int flush_view(struct restorer *r)
{
	int err;

	if (!r->view)
		return 0;
	err = domain_apply_view(r->server, r->view);
	talloc_free(r->view);
	r->view = NULL;
	r->view_nodes = 0;
	return err ? fail(r, err, "writing restored nodes failed") : 0;
}

/*
 * The stream's permissions as ours.  A stale entry (its domain is gone)
 * grants nothing any more: it is dropped, and a stale owner becomes dom0,
 * so that a new domain with the same id inherits nothing.
 */
static int stream_perms(struct restorer *r, const struct state_node *n,
			struct perm_list *perms)
{
	unsigned int i;

	perms->entries = talloc_array(r->ctx, struct node_perm,
				      n->perm_count + 1);
	if (!perms->entries)
		return fail(r, ENOMEM, "out of memory restoring a node");
	perms->count = 0;
	for (i = 0; i < n->perm_count; i++) {
		const struct state_perm *sp = &n->perms[i];
		struct node_perm *e = &perms->entries[perms->count];

		if ((sp->flags & STATE_PERM_STALE) && i > 0)
			continue;
		e->domid = sp->flags & STATE_PERM_STALE ? 0 : sp->domid;
		e->access = sp->access == 'r' ? PERM_READ :
			    sp->access == 'w' ? PERM_WRITE :
			    sp->access == 'b' ? PERM_BOTH : PERM_NONE;
		if (!domain_restore_named(r->server, e->domid))
			return fail(r, ENOMEM, "out of memory restoring a "
				    "domain");
		perms->count++;
	}
	return 0;
}

static int restore_committed_node(struct restorer *r,
				  const struct state_node *n)
{
	struct perm_list perms;
	struct node *node;
	int err;

	err = stream_perms(r, n, &perms);
	if (err)
		return err;
	if (path_is_special(n->path)) {
		struct perm_list *target = watch_special_perms(r->server,
							       n->path);

		if (!target)
			return fail(r, EINVAL, "an unknown special node");
		if (!watch_set_special_perms(r->server, target, &perms))
			return fail(r, ENOMEM, "out of memory restoring a "
				    "special node");
		return 0;
	}
	if (!path_is_valid_absolute(n->path))
		return fail(r, EINVAL, "a node path is no node name");
	if (!r->view) {
		r->view = view_new(r->ctx, r->server->store, false);
		if (!r->view)
			return fail(r, ENOMEM, "out of memory restoring nodes");
	}
	if (view_get(r->view, n->path)) {
		/* One the fresh server made (/, /tool), or a duplicate. */
		node = view_edit(r->view, n->path);
		if (!node || !node_set_perms(node, &perms))
			return fail(r, ENOMEM, "out of memory restoring a node");
	} else {
		size_t parent_len = path_parent_len(n->path);
		char *parent = parent_len ?
			talloc_strndup(r->ctx, n->path, parent_len) :
			talloc_strdup(r->ctx, "/");
		struct node *parent_node;

		if (!parent)
			return fail(r, ENOMEM, "out of memory restoring a node");
		if (!view_get(r->view, parent))
			return fail(r, EINVAL, "a node comes before its parent");
		parent_node = view_edit(r->view, parent);
		node = view_create(r->view, n->path, &perms);
		if (!parent_node || !node ||
		    !node_add_child(parent_node, path_basename(n->path)))
			return fail(r, ENOMEM, "out of memory restoring a node");
		talloc_free(parent);
	}
	if (!node_set_value(node, n->value, n->value_len))
		return fail(r, ENOMEM, "out of memory restoring a node");
	talloc_free(perms.entries);
	r->nodes++;
	if (++r->view_nodes >= NODES_PER_VIEW)
		return flush_view(r);
	return 0;
}

static int restore_node(void *arg, const struct state_node *n)
{
	struct restorer *r = arg;

	/* A pending transaction's node (the C daemon of later Xen writes
	 * them): our transactions are their logs, and the C daemon writes
	 * none of those, so such a transaction is restored empty; its commit
	 * then has nothing to apply. */
	if (n->conn_id)
		return 0;
	return restore_committed_node(r, n);
}

static int restore_global_quota(void *arg, const struct state_global_quota *q)
{
	/* The new daemon's own options set its quotas. */
	return 0;
}

int server_restore_state(struct server *server, const void *stream,
			 size_t len, const struct state_adopters *adopters,
			 const char **why)
{
	static const struct state_visitor visitor = {
		.connection = restore_connection,
		.watch = restore_watch,
		.transaction = restore_transaction,
		.node = restore_node,
		.global_quota = restore_global_quota,
		.tx_log = restore_tx_log,
	};
	struct restorer r = { .server = server, .adopters = adopters };
	const char *read_why = NULL;
	struct connection *conn, *next;
	int err;

	r.logs_tail = &r.logs;
	r.ctx = talloc_new(server);
	if (!r.ctx) {
		*why = "out of memory";
		return ENOMEM;
	}
	err = state_read(r.ctx, stream, len, &visitor, &r, &read_why);
	if (!err)
		err = flush_view(&r);
	if (!err)
		err = replay_logs(&r);
	HASH_CLEAR(hh, r.conns);
	if (err) {
		*why = r.why ? r.why : read_why;
		talloc_free(r.ctx);
		return err;
	}
	xs_log(LEVEL_INFO, "restored %lu nodes, %u connections, %lu watches, "
	       "%lu transactions", r.nodes, server_connection_count(server),
	       r.watches, r.transactions);
	talloc_free(r.ctx);
	/* Domains that died meanwhile, and input that was waiting. */
	if (adopters) {
		server_check_domains(server);
		for (conn = TAILQ_FIRST(&server->connections); conn;
		     conn = next) {
			next = TAILQ_NEXT(conn, link);
			if (conn->ops && (conn->in_len ||
					  conn->out_len > conn->out_start))
				conn_input_ready(conn);
		}
	}
	return 0;
}
