/*
 * The server's state as a migration stream (server_save_state): what a
 * new daemon needs to carry on where this one stops.  Records come in the
 * order Xen 4.17's C daemon writes them, which is also the order its
 * reader needs: each connection followed by its watches and transactions,
 * then the special nodes' permissions, then every node after its parent.
 */
#include <errno.h>
#include <string.h>
#include <talloc.h>

#include "daemon/domain.h"
#include "daemon/internal.h"
#include "daemon/state_internal.h"
#include "daemon/watch.h"
#include "store/path.h"

struct saver {
	struct server *server;
	struct state_writer *w;
	void *ctx;
	const char *why;
	/* The connection asking for the live update, and its reply, which
	 * the new daemon sends (the old one never does). */
	struct connection *lu_conn;
	const void *lu_reply;
	size_t lu_reply_len;
};

static char perm_letter(uint32_t access)
{
	switch (access & PERM_BOTH) {
	case PERM_READ:
		return 'r';
	case PERM_WRITE:
		return 'w';
	case PERM_BOTH:
		return 'b';
	default:
		return 'n';
	}
}

/* An entry naming a domain that is gone (or came after the node) is
 * stale: the stream says so, as the C daemon's ignore flag does. */
static struct state_perm *stream_perms(struct saver *s,
				       const struct perm_list *perms,
				       uint64_t generation, bool check)
{
	struct state_perm *out = talloc_array(s->ctx, struct state_perm,
					      perms->count + 1);
	unsigned int i;

	if (!out)
		return NULL;
	for (i = 0; i < perms->count; i++) {
		out[i].access = perm_letter(perms->entries[i].access);
		out[i].domid = (uint16_t)perms->entries[i].domid;
		out[i].flags = check &&
			!domain_perm_is_valid(s->server,
					      perms->entries[i].domid,
					      generation) ?
			STATE_PERM_STALE : 0;
	}
	return out;
}

static bool save_connection(struct saver *s, struct connection *conn)
{
	struct state_connection rec = { .conn_id = conn->id,
					.target = STATE_DOMID_INVALID };
	size_t out_len, partial;
	const char *out = conn_pending_output(conn, &out_len, &partial);
	char *data;

	if (!conn->ops || !conn->ops->save || !conn->ops->save(conn->io, &rec)) {
		s->why = talloc_asprintf(s->ctx, "connection %u (domain %u) "
					 "cannot be carried over", conn->id,
					 conn->who.domid);
		return false;
	}
	if (rec.type == STATE_CONN_RING && conn->who.has_target)
		rec.target = (uint16_t)conn->who.target;
	if (conn->in_len > UINT16_MAX) {
		s->why = talloc_asprintf(s->ctx, "connection %u: %zu bytes of "
					 "unhandled input, more than the "
					 "stream holds", conn->id,
					 conn->in_len);
		return false;
	}
	if (conn == s->lu_conn)
		out_len += s->lu_reply_len;
	if (out_len > UINT32_MAX - conn->in_len) {
		s->why = "too much pending output";
		return false;
	}
	data = talloc_size(s->ctx, conn->in_len + out_len + 1);
	if (!data)
		return false;
	if (conn->in_len)
		memcpy(data, conn->in_buf, conn->in_len);
	memcpy(data + conn->in_len, out, out_len -
	       (conn == s->lu_conn ? s->lu_reply_len : 0));
	if (conn == s->lu_conn)
		memcpy(data + conn->in_len + out_len - s->lu_reply_len,
		       s->lu_reply, s->lu_reply_len);
	rec.data = (const uint8_t *)data;
	rec.in_len = (uint16_t)conn->in_len;
	rec.out_len = (uint32_t)out_len;
	rec.resp_len = (uint16_t)partial;
	state_write_connection(s->w, &rec);
	talloc_free(data);
	return true;
}

/* The path as the client gave it: relative watches without the home. */
static bool save_watches(struct saver *s, struct connection *conn)
{
	struct watch *watch, **order;
	char home[48];
	size_t home_len;
	unsigned int n = 0;

	home_len = (size_t)snprintf(home, sizeof(home),
				    PATH_DOMAIN_PREFIX "%u/", conn->who.domid);
	/* Oldest first, so that the restore (which adds at the head, as
	 * WATCH does) keeps their order, and the order events come in. */
	order = talloc_array(s->ctx, struct watch *, conn->watch_count + 1);
	if (!order)
		return false;
	LIST_FOREACH(watch, &conn->watches, conn_link)
		if (n < conn->watch_count)
			order[n++] = watch;
	while (n--) {
		const char *path;

		watch = order[n];
		path = watch->path;

		if (watch->relative && strncmp(path, home, home_len) == 0)
			path += home_len;
		state_write_watch(s->w, &(struct state_watch){
			.conn_id = conn->id, .path = path,
			.token = watch->token,
			.depth = watch->depth < 0 ? STATE_WATCH_DEPTH_ANY
						  : (uint16_t)watch->depth });
	}
	talloc_free(order);
	return true;
}

static void save_transactions(struct saver *s, struct connection *conn)
{
	struct conn_transaction *entry;
	const struct logged_request *logged;

	LIST_FOREACH(entry, &conn->transactions, link) {
		struct transaction *tx = entry->tx;

		state_write_transaction(s->w, &(struct state_transaction){
			.conn_id = conn->id, .tx_id = tx->id });
		for (logged = tx->log; logged; logged = logged->next)
			state_write_tx_log(s->w, &(struct state_tx_log){
				.conn_id = conn->id, .tx_id = tx->id,
				.type = logged->type, .result = logged->result,
				.reply_len = logged->reply_len,
				.reply_digest = logged->reply_digest,
				.payload = logged->payload,
				.payload_len = logged->len });
		/* Its commit must fail as it would have here. */
		if (tx->failed)
			state_write_tx_log(s->w, &(struct state_tx_log){
				.conn_id = conn->id, .tx_id = tx->id,
				.type = STATE_TX_LOG_FAILED, .payload = "" });
	}
}

static bool save_special(struct saver *s, const char *name)
{
	struct perm_list *perms = watch_special_perms(s->server, name);
	struct state_perm *sp;

	if (!perms)
		return true;
	sp = stream_perms(s, perms, 0, false);
	if (!sp)
		return false;
	state_write_node(s->w, &(struct state_node){
		.path = name, .perm_count = (uint16_t)perms->count,
		.perms = sp });
	talloc_free(sp);
	return true;
}

/* @path and everything below it, parents first. */
static int save_tree(struct saver *s, const char *path)
{
	struct node *node = store_fetch(s->server->store, s->ctx, path);
	struct state_perm *sp;
	const char *child;
	int err = 0;

	if (!node)
		return errno == ENOENT ? 0 : errno;
	if (!node_load_children(node)) {
		talloc_free(node);
		return ENOMEM;
	}
	sp = stream_perms(s, &node->perms, node->generation, true);
	if (!sp) {
		talloc_free(node);
		return ENOMEM;
	}
	state_write_node(s->w, &(struct state_node){
		.path = path, .perm_count = (uint16_t)node->perms.count,
		.perms = sp, .value = node->value,
		.value_len = (uint16_t)node->value_len });
	talloc_free(sp);
	for (child = node_first_child(node); child && !err;
	     child = node_next_child(node, child)) {
		char *child_path = talloc_asprintf(s->ctx, "%s/%s",
						   strcmp(path, "/") ? path : "",
						   child);

		if (!child_path) {
			err = ENOMEM;
			break;
		}
		err = save_tree(s, child_path);
		talloc_free(child_path);
	}
	talloc_free(node);
	return err;
}

const void *state_save(struct server *server, void *ctx, size_t *len,
		       struct connection *lu_conn, const void *lu_reply,
		       size_t lu_reply_len, const char **why)
{
	struct saver s = { .server = server, .lu_conn = lu_conn,
			   .lu_reply = lu_reply,
			   .lu_reply_len = lu_reply_len };
	struct connection *conn;
	const void *stream;
	int err;

	s.ctx = talloc_new(ctx);
	s.w = s.ctx ? state_writer_new(s.ctx, 1) : NULL;
	if (!s.w) {
		talloc_free(s.ctx);
		*why = "out of memory saving the state";
		return NULL;
	}
	/* The backends' global descriptors: the core knows none itself. */
	if (server->config.hooks.save_global) {
		struct state_global global = { -1, -1 };

		if (!server->config.hooks.save_global(&global)) {
			s.why = "the listening socket or the event channels "
				"cannot be carried over";
			goto fail;
		}
		state_write_global(s.w, &global);
	}
	TAILQ_FOREACH(conn, &server->connections, link) {
		if (conn == server->internal || conn->doomed)
			continue;
		if (!save_connection(&s, conn))
			goto fail;
		if (!save_watches(&s, conn))
			goto fail;
		save_transactions(&s, conn);
	}
	if (!save_special(&s, "@releaseDomain") ||
	    !save_special(&s, "@introduceDomain"))
		goto fail;
	err = save_tree(&s, "/");
	if (err) {
		s.why = talloc_asprintf(s.ctx, "reading the store: %s",
					strerror(err));
		goto fail;
	}
	stream = state_writer_finish(s.w, len, &s.why);
	if (!stream)
		goto fail;
	/* The stream alone outlives the scratch (the writer included). */
	talloc_steal(ctx, stream);
	talloc_free(s.ctx);
	return stream;
fail:
	*why = s.why ? talloc_strdup(ctx, s.why) : "out of memory saving the state";
	talloc_free(s.ctx);
	return NULL;
}

const void *server_save_state(struct server *server, void *ctx, size_t *len,
			      const char **why)
{
	return state_save(server, ctx, len, NULL, NULL, 0, why);
}
