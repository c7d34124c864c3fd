/*
 * Request dispatch: the table of message types, the checks every request
 * passes (type, transaction, privilege), and the small requests that need
 * no node access (watches, transactions, domain paths).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "daemon/control.h"
#include "daemon/domain.h"
#include "daemon/internal.h"
#include "daemon/log.h"
#include "daemon/node_ops.h"
#include "daemon/watch.h"
#include "store/path.h"

#define HANDLER_PRIVILEGED	1u	/* EACCES for unprivileged callers */
#define HANDLER_CHANGES		2u	/* changes nodes */
#define HANDLER_ANY_TX		4u	/* tx_id is ignored (WATCH, UNWATCH) */
#define HANDLER_READS		8u	/* answers from nodes */

#define REQUEST_POOL_SIZE 16384

struct handler {
	int (*fn)(struct request *req);
	unsigned int flags;
};

const char *request_single_string(const struct request *req)
{
	if (req->hdr.len == 0 || req->payload[req->hdr.len - 1] != '\0' ||
	    strlen(req->payload) != req->hdr.len - 1)
		return NULL;
	return req->payload;
}

/*
 * Bytes after the last NUL are no string: Xen 4.17 ignores them, so
 * "path\0token\0junk" is a WATCH of path with token.
 */
int request_strings(const struct request *req, const char **argv, int max)
{
	const char *p = req->payload, *end = req->payload + req->hdr.len;
	int count = 0;

	while (end > p && end[-1] != '\0')
		end--;
	for (; p < end; p += strlen(p) + 1) {
		if (count < max)
			argv[count] = p;
		count++;
	}
	return count;
}

int reply_data(struct request *req, const void *data, uint32_t len)
{
	if (len > XENSTORE_PAYLOAD_MAX)
		return E2BIG;
	req->reply = data;
	req->reply_len = len;
	return 0;
}

int reply_string(struct request *req, const char *s)
{
	return reply_data(req, s, (uint32_t)strlen(s) + 1);
}

void reply_error(struct request *req, int err)
{
	const char *name = "EINVAL";
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++) {
		if (xsd_errors[i].errnum == err) {
			name = xsd_errors[i].errstring;
			break;
		}
	}
	conn_queue_message(req->conn, XS_ERROR, req->hdr.req_id,
			   req->hdr.tx_id, name, (uint32_t)strlen(name) + 1);
}

/*
 * WATCH: path\0token\0, and with Xen 4.22's WATCHDEPTH feature on the
 * caller's ring, depth\0 (read with atoi, negative EINVAL), checked in
 * Xen's order: the arguments, then the path.
 */
static int do_watch(struct request *req)
{
	const char *argv[3];
	char *path;
	bool relative;
	int argc = request_strings(req, argv, 3);
	int depth = -1;
	int err;

	if (argc == 3 && req->conn->domain &&
	    req->conn->domain->features & XENSTORE_SERVER_FEATURE_WATCHDEPTH) {
		depth = atoi(argv[2]);
		if (depth < 0)
			return EINVAL;
	} else if (argc != 2) {
		return EINVAL;
	}
	err = node_path_argument(req, argv[0], true, &path, &relative);
	if (!err)
		err = watch_add(req->conn, path, argv[1], relative, depth,
				&req->new_watch);
	return err ? err : reply_string(req, "OK");
}

/*
 * A path that could not be watched names no watch: ENOENT, as Xen 4.17
 * answers (it only resolves a relative path before looking), not EINVAL.
 */
static int do_unwatch(struct request *req)
{
	const char *argv[3];
	char *path;
	bool relative;
	int err;

	if (request_strings(req, argv, 3) != 2)
		return EINVAL;
	err = node_path_argument(req, argv[0], true, &path, &relative);
	if (err)
		return err == ENOMEM ? ENOMEM : ENOENT;
	err = watch_remove(req->conn, path, argv[1]);
	return err ? err : reply_string(req, "OK");
}

static int do_reset_watches(struct request *req)
{
	watch_remove_all(req->conn);
	/* Sent in a transaction, it ends that one too: with its view. */
	req->tx = NULL;
	req->view = NULL;
	conn_end_all_transactions(req->conn);
	return reply_string(req, "OK");
}

static int do_get_domain_path(struct request *req)
{
	const char *arg = request_single_string(req);
	char *path;

	if (!arg)
		return EINVAL;
	/* atoi's leniency is Xen's: "" and "abc" name domain 0. */
	path = talloc_asprintf(req->ctx, PATH_DOMAIN_PREFIX "%u",
			       (unsigned int)atoi(arg));
	return path ? reply_string(req, path) : ENOMEM;
}

static int do_transaction_start(struct request *req)
{
	struct connection *conn = req->conn;
	struct conn_transaction *entry;
	char *reply;
	uint32_t id;

	if (req->tx)
		return EBUSY;
	if (!conn->who.privileged &&
	    quota_reached(conn_quota(conn)->transactions,
			  conn->transaction_count))
		return ENOSPC;
	/* Never 0 (no transaction), never an id still in use. */
	for (id = conn->next_transaction_id;
	     id == 0 || conn_find_transaction(conn, id); id++)
		;
	entry = talloc_zero(conn, struct conn_transaction);
	if (!entry)
		return ENOMEM;
	entry->tx = transaction_new(entry, conn->server->store, id);
	reply = talloc_asprintf(req->ctx, "%u", id);
	if (!entry->tx || !reply) {
		talloc_free(entry);
		return ENOMEM;
	}
	entry->opened_at = conn->server->now;
	LIST_INSERT_HEAD(&conn->transactions, entry, link);
	conn->next_transaction_id = id + 1;
	conn->transaction_count++;
	conn->domain->transactions++;
	return reply_string(req, reply);
}

static int commit(struct request *req, struct transaction *tx)
{
	struct server *server = req->conn->server;
	struct view *view = view_new(req->ctx, server->store, false);
	int err;

	if (!view)
		return ENOMEM;
	err = transaction_commit(tx, view, dispatch_replay, req->conn);
	if (err)
		return err;
	if (!conn_reserve_reply(req->conn, sizeof("OK")))
		return ENOMEM;
	err = domain_apply_view(server, view);
	if (err)
		return err;
	server_fire_changes(server, view);
	return 0;
}

static int do_transaction_end(struct request *req)
{
	const char *arg = request_single_string(req);
	struct transaction *tx = req->tx;
	int err = 0;

	if (!arg || (strcmp(arg, "T") != 0 && strcmp(arg, "F") != 0))
		return EINVAL;
	if (!tx)
		return ENOENT;
	if (strcmp(arg, "T") == 0)
		err = commit(req, tx);
	req->tx = NULL;
	req->view = NULL;
	conn_end_transaction(req->conn, tx);
	return err ? err : reply_string(req, "OK");
}

static const struct handler handlers[XS_WIRE_TYPE_COUNT] = {
	[XS_CONTROL] = { control_request, HANDLER_PRIVILEGED },
	[XS_DIRECTORY] = { node_op_directory, HANDLER_READS },
	[XS_READ] = { node_op_read, HANDLER_READS },
	[XS_GET_PERMS] = { node_op_get_perms, HANDLER_READS },
	[XS_WATCH] = { do_watch, HANDLER_ANY_TX },
	[XS_UNWATCH] = { do_unwatch, HANDLER_ANY_TX },
	[XS_TRANSACTION_START] = { do_transaction_start, 0 },
	[XS_TRANSACTION_END] = { do_transaction_end, 0 },
	[XS_INTRODUCE] = { domain_request_introduce, HANDLER_PRIVILEGED },
	[XS_RELEASE] = { domain_request_release, HANDLER_PRIVILEGED },
	[XS_GET_DOMAIN_PATH] = { do_get_domain_path, 0 },
	[XS_WRITE] = { node_op_write, HANDLER_CHANGES },
	[XS_MKDIR] = { node_op_mkdir, HANDLER_CHANGES },
	[XS_RM] = { node_op_rm, HANDLER_CHANGES },
	[XS_SET_PERMS] = { node_op_set_perms, HANDLER_CHANGES },
	[XS_IS_DOMAIN_INTRODUCED] = { domain_request_is_introduced,
				      HANDLER_PRIVILEGED },
	[XS_RESUME] = { domain_request_resume, HANDLER_PRIVILEGED },
	[XS_SET_TARGET] = { domain_request_set_target, HANDLER_PRIVILEGED },
	[XS_RESET_WATCHES] = { do_reset_watches, 0 },
	[XS_DIRECTORY_PART] = { node_op_directory_part, HANDLER_READS },
	[XS_GET_FEATURE] = { domain_request_get_feature, 0 },
	[XS_SET_FEATURE] = { domain_request_set_feature, HANDLER_PRIVILEGED },
	[XS_GET_QUOTA] = { domain_request_get_quota, HANDLER_PRIVILEGED },
	[XS_SET_QUOTA] = { domain_request_set_quota, HANDLER_PRIVILEGED },
};

void server_fire_changes(struct server *server, struct view *view)
{
	const struct change_note *note;

	for (note = view_changes(view); note; note = note->next)
		watch_fire_change(server, note);
}

/*
 * What of a reply the commit's replay must reproduce: all of it, except
 * DIRECTORY_PART's leading generation, which differs on every change
 * (also those that do not change the listing).
 */
static void reply_for_digest(uint32_t type, const void **reply, uint32_t *len)
{
	const char *nul;

	if (type != XS_DIRECTORY_PART || !*len)
		return;
	nul = memchr(*reply, '\0', *len);
	if (!nul)
		return;
	*len -= (uint32_t)(nul + 1 - (const char *)*reply);
	*reply = nul + 1;
}

/*
 * The handler's answer, unless its view failed meanwhile: a node the view
 * could not load looked absent, so whatever the handler made of it, the
 * answer is the failure.
 */
static int run_handler(struct request *req, const struct handler *h)
{
	/* TRANSACTION_END lets go of its transaction's view. */
	struct view *view = req->view;
	unsigned long failures = view_failures(view);
	int err = h->fn(req);

	if (!req->view)
		return err;
	return view_failures(view) != failures ? view_last_error(view) : err;
}

/*
 * Run a request that changes nodes outside a transaction: all or nothing.
 * The reply's room is taken first, so that once the change is in the
 * store its answer cannot be lost.
 */
static int run_plain_change(struct request *req, const struct handler *h)
{
	struct server *server = req->conn->server;
	int err = run_handler(req, h);

	if (!err && !conn_reserve_reply(req->conn, req->reply_len))
		err = ENOMEM;
	if (!err)
		err = domain_apply_view(server, req->view);
	if (!err)
		server_fire_changes(server, req->view);
	return err;
}

/* Whether a guest's open transactions now hold more than its memory
 * quota (domain.h). */
static bool over_transaction_memory(struct request *req)
{
	struct connection *conn = req->conn;

	transaction_measure(req->tx);
	return quota_exceeded(conn_quota(conn)->memory,
			      domain_transaction_memory(conn->domain));
}

/*
 * Run a request that reads or changes nodes inside a transaction, and log
 * it with its answer for the replay at commit.
 */
static int run_in_transaction(struct request *req, const struct handler *h)
{
	const struct quota_settings *quota = conn_quota(req->conn);
	struct transaction *tx = req->tx;
	unsigned long before = view_modifications(req->view);
	const void *reply;
	uint32_t reply_len;
	bool changed;
	int err;

	if (tx->over_quota)
		return ENOSPC;
	err = run_handler(req, h);
	changed = view_modifications(req->view) != before;
	if (req->outside_transaction)
		return err;
	/* Failed after changing its view: the transaction is half-applied,
	 * and its commit will say so. */
	if (err && changed)
		tx->failed = true;
	/* A guest's transaction may touch, log and hold only so much. */
	if (!req->conn->who.privileged &&
	    (quota_exceeded(quota->transaction_nodes,
			    view_touched(req->view)) ||
	     quota_reached(quota->transaction_nodes, tx->logged) ||
	     over_transaction_memory(req))) {
		tx->failed = true;
		tx->over_quota = true;
		return ENOSPC;
	}
	/* Memory ran out before anything changed: as if never sent, so the
	 * replay at commit does not expect this answer. */
	if (err == ENOMEM && !changed)
		return err;
	reply = req->reply;
	reply_len = req->reply_len;
	reply_for_digest(req->hdr.type, &reply, &reply_len);
	if (!transaction_log(tx, req->hdr.type, req->payload, req->hdr.len,
			     err, reply, reply_len)) {
		/* Unlogged, the answer must not reach the client. */
		if (changed)
			tx->failed = true;
		return ENOMEM;
	}
	return err;
}

void dispatch_request(struct connection *conn, const struct xsd_sockmsg *hdr,
		      const char *payload)
{
	struct request req = { .conn = conn, .hdr = *hdr };
	const struct handler *h = NULL;
	int err = 0;

	trace_message("IN", conn->id, hdr->type, payload, hdr->len);
	/* One allocation serves most requests whole. */
	req.ctx = talloc_pool(conn, REQUEST_POOL_SIZE);
	req.payload = req.ctx ? talloc_size(req.ctx, hdr->len + 1) : NULL;
	if (!req.payload) {
		talloc_free(req.ctx);
		conn_doom(conn, "out of memory for a request");
		return;
	}
	memcpy(req.payload, payload, hdr->len);
	req.payload[hdr->len] = '\0';

	if (hdr->type < XS_WIRE_TYPE_COUNT)
		h = &handlers[hdr->type];
	if (!h || !h->fn) {
		err = ENOSYS;
		goto reply;
	}
	/* Privilege before the transaction, in Xen's order. */
	if (h->flags & HANDLER_PRIVILEGED && !conn->who.privileged) {
		err = EACCES;
		goto reply;
	}
	if (hdr->tx_id && !(h->flags & HANDLER_ANY_TX)) {
		req.tx = conn_find_transaction(conn, hdr->tx_id);
		if (!req.tx) {
			err = ENOENT;
			goto reply;
		}
	}
	req.view = req.tx ? req.tx->view
			  : view_new(req.ctx, conn->server->store, false);
	if (!req.view) {
		err = ENOMEM;
		goto reply;
	}
	if (req.tx && h->flags & (HANDLER_CHANGES | HANDLER_READS))
		err = run_in_transaction(&req, h);
	else if (h->flags & HANDLER_CHANGES)
		err = run_plain_change(&req, h);
	else
		err = run_handler(&req, h);
reply:
	if (err)
		reply_error(&req, err);
	else if (!req.reply_later)
		conn_queue_message(conn, hdr->type, hdr->req_id, hdr->tx_id,
				   req.reply, req.reply_len);
	if (!err && req.new_watch)
		watch_fire_initial(req.new_watch);
	talloc_free(req.ctx);
}

int dispatch_replay(void *arg, struct view *view,
		    const struct logged_request *logged,
		    uint32_t *reply_len, uint64_t *reply_digest)
{
	struct connection *conn = arg;
	struct request req = { .conn = conn, .view = view };
	const struct handler *h = &handlers[logged->type];
	int err;

	req.hdr.type = logged->type;
	req.hdr.len = logged->len;
	req.ctx = talloc_new(view);
	if (!req.ctx)
		return ENOMEM;
	req.payload = talloc_size(req.ctx, logged->len + 1);
	if (!req.payload) {
		talloc_free(req.ctx);
		return ENOMEM;
	}
	memcpy(req.payload, logged->payload, logged->len);
	req.payload[logged->len] = '\0';
	err = run_handler(&req, h);
	if (!err) {
		const void *reply = req.reply;

		*reply_len = req.reply_len;
		reply_for_digest(req.hdr.type, &reply, reply_len);
		*reply_digest = transaction_reply_digest(reply, *reply_len);
	}
	talloc_free(req.ctx);
	return err;
}
