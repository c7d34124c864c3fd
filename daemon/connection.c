/*
 * Connections: framing of the byte stream a backend delivers, and the
 * output queue that holds replies and events until the backend takes them.
 */
#include <errno.h>
#include <string.h>
#include <talloc.h>

#include "daemon/domain.h"
#include "daemon/internal.h"
#include "daemon/log.h"
#include "daemon/watch.h"

#define HEADER_SIZE sizeof(struct xsd_sockmsg)
#define OUTPUT_INITIAL_SIZE 4096
/* How often one flush may go back to held guests before returning. */
#define RESUME_ROUNDS 16

static int connection_destructor(struct connection *conn)
{
	struct server *server = conn->server;

	trace_connection("DESTROY", conn->id, conn->who.domid);
	live_update_forget(conn);
	/* Transactions and watches are talloc children; free them first so
	 * their destructors still see a whole connection. */
	conn_end_all_transactions(conn);
	watch_remove_all(conn);
	TAILQ_REMOVE(&server->connections, conn, link);
	if (conn->on_flush_list)
		TAILQ_REMOVE(&server->to_flush, conn, flush_link);
	if (conn->doomed)
		TAILQ_REMOVE(&server->doomed, conn, doomed_link);
	if (conn->held)
		TAILQ_REMOVE(&server->held, conn, held_link);
	if (conn->domain && conn->domain->conn == conn)
		conn->domain->conn = NULL;
	server->connection_count--;
	/* The messages are talloc children; only the table is malloc'd. */
	HASH_CLEAR(by_payload, conn->events_by_payload);
	if (conn->ops && conn->ops->destroy)
		conn->ops->destroy(conn->io);
	return 0;
}

struct connection *server_connect(struct server *server,
				  const struct conn_ops *ops, void *io,
				  uint32_t domid)
{
	struct connection *conn = talloc_zero(server, struct connection);

	if (!conn)
		return NULL;
	talloc_set_name_const(conn, "connection");
	conn->out_buf = talloc_size(conn, OUTPUT_INITIAL_SIZE);
	conn->domain = domain_get(server, domid);
	if (!conn->out_buf || !conn->domain) {
		talloc_free(conn);
		return NULL;
	}
	conn->out_size = OUTPUT_INITIAL_SIZE;
	conn->server = server;
	conn->ops = ops;
	conn->io = io;
	conn->id = ++server->next_connection_id;
	conn->who.domid = domid;
	conn->who.privileged = domain_is_privileged(server, domid);
	conn->who.has_target = conn->domain->has_target;
	conn->who.target = conn->domain->target;
	conn->next_transaction_id = 1;
	TAILQ_INIT(&conn->queued);
	LIST_INIT(&conn->transactions);
	LIST_INIT(&conn->watches);
	TAILQ_INSERT_TAIL(&server->connections, conn, link);
	server->connection_count++;
	talloc_set_destructor(conn, connection_destructor);
	trace_connection("CREATE", conn->id, domid);
	return conn;
}

unsigned int server_connection_count(const struct server *server)
{
	/* Not counting the daemon's internal stand-in. */
	return server->connection_count - (server->internal ? 1 : 0);
}

void conn_doom(struct connection *conn, const char *why)
{
	if (conn->doomed)
		return;
	xs_log(LEVEL_DEBUG, "connection %u (domain %u): %s", conn->id,
	       conn->who.domid, why);
	conn->doomed = true;
	TAILQ_INSERT_TAIL(&conn->server->doomed, conn, doomed_link);
}

/* True once the peer has taken any byte of @msg. */
static bool msg_started(const struct connection *conn,
			const struct queued_message *msg)
{
	return msg->started || msg->start < conn->out_start;
}

static void unindex_event(struct connection *conn,
			  struct queued_message *msg)
{
	if (!msg->indexed)
		return;
	HASH_DELETE(by_payload, conn->events_by_payload, msg);
	msg->indexed = false;
}

static void forget_message(struct connection *conn, struct queued_message *msg)
{
	unindex_event(conn, msg);
	TAILQ_REMOVE(&conn->queued, msg, link);
	if (!msg->is_event)
		conn->queued_replies--;
	talloc_free(msg);
}

/* The first message boundary at or after @offset (see out_boundary). */
static size_t boundary_from(const struct connection *conn, size_t offset)
{
	size_t b = conn->out_boundary;

	while (b < offset && conn->out_len - b >= HEADER_SIZE) {
		struct xsd_sockmsg hdr;

		memcpy(&hdr, conn->out_buf + b, HEADER_SIZE);
		b += HEADER_SIZE + hdr.len;
	}
	return b;
}

/* Move the unsent bytes to the front of the buffer. */
static void compact_output(struct connection *conn)
{
	struct queued_message *msg;
	size_t shift = conn->out_start;

	if (!shift)
		return;
	conn->out_boundary = boundary_from(conn, shift) - shift;
	memmove(conn->out_buf, conn->out_buf + shift, conn->out_len - shift);
	TAILQ_FOREACH(msg, &conn->queued, link) {
		if (msg->start < shift) {
			msg->started = true;
			msg->start = 0;
		} else {
			msg->start -= shift;
		}
		msg->end -= shift;
	}
	conn->out_len -= shift;
	conn->out_start = 0;
}

/* Make room for @len more output bytes; false if memory ran out. */
static bool reserve_output(struct connection *conn, size_t len)
{
	size_t need, size;
	char *grown;

	if (conn->out_len + len <= conn->out_size)
		return true;
	compact_output(conn);
	if (conn->out_len + len <= conn->out_size)
		return true;
	need = conn->out_len + len;
	for (size = conn->out_size * 2; size < need; size *= 2)
		;
	grown = talloc_realloc_size(conn, conn->out_buf, size);
	if (!grown)
		return false;
	conn->out_buf = grown;
	conn->out_size = size;
	return true;
}

/* "ENOMEM" and the like: Xen's longest error name is shorter. */
#define ERROR_REPLY_MAX 16

bool conn_reserve_reply(struct connection *conn, uint32_t len)
{
	return reserve_output(conn, HEADER_SIZE +
				    (len > ERROR_REPLY_MAX ? len : ERROR_REPLY_MAX));
}

static void mark_for_flush(struct connection *conn)
{
	if (conn->on_flush_list)
		return;
	conn->on_flush_list = true;
	TAILQ_INSERT_TAIL(&conn->server->to_flush, conn, flush_link);
}

/* Queue a message; returns its start offset, or (size_t)-1 if dropped. */
static size_t queue_bytes(struct connection *conn, uint32_t type,
			  uint32_t req_id, uint32_t tx_id,
			  const void *payload, uint32_t len)
{
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
	};
	size_t start;

	if (conn->doomed)
		return (size_t)-1;
	if (!reserve_output(conn, HEADER_SIZE + len)) {
		conn_doom(conn, "out of memory for output");
		return (size_t)-1;
	}
	start = conn->out_len;
	memcpy(conn->out_buf + start, &hdr, HEADER_SIZE);
	if (len)
		memcpy(conn->out_buf + start + HEADER_SIZE, payload, len);
	conn->out_len += HEADER_SIZE + len;
	trace_message("OUT", conn->id, type, payload, len);
	mark_for_flush(conn);
	return start;
}

static struct queued_message *track(struct connection *conn, size_t start,
				    bool is_event)
{
	struct queued_message *msg = talloc_zero(conn, struct queued_message);

	if (!msg)
		return NULL;
	msg->start = start;
	msg->end = conn->out_len;
	msg->is_event = is_event;
	msg->queued_at = conn->server->now;
	TAILQ_INSERT_TAIL(&conn->queued, msg, link);
	if (!is_event)
		conn->queued_replies++;
	return msg;
}

void conn_queue_message(struct connection *conn, uint32_t type,
			uint32_t req_id, uint32_t tx_id,
			const void *payload, uint32_t len)
{
	size_t start = queue_bytes(conn, type, req_id, tx_id, payload, len);

	/* Only guests are held to the outstanding-request quota. */
	if (start != (size_t)-1 && !conn->who.privileged)
		track(conn, start, false);
}

bool conn_queue_event(struct connection *conn, const char *path,
		      const char *token)
{
	size_t path_len = strlen(path) + 1, token_len = strlen(token) + 1;
	uint32_t len = (uint32_t)(path_len + token_len);
	struct queued_message *msg;
	char payload[XENSTORE_PAYLOAD_MAX];
	size_t start;

	if (path_len + token_len > XENSTORE_PAYLOAD_MAX)
		return false;	/* too big to send: dropped, as specified */
	memcpy(payload, path, path_len);
	memcpy(payload + path_len, token, token_len);
	/* The peer has not taken an identical event yet: that one will do.
	 * (The index holds the newest of each payload; an older identical
	 * one, if any, was started before it was queued.) */
	if (path[0] != '@') {
		HASH_FIND(by_payload, conn->events_by_payload, payload, len,
			  msg);
		if (msg && !msg_started(conn, msg))
			return true;
	}
	start = queue_bytes(conn, XS_WATCH_EVENT, 0, 0, payload, len);
	if (start == (size_t)-1)
		return false;
	msg = track(conn, start, true);
	if (msg) {
		struct queued_message *older;

		msg->payload = talloc_memdup(msg, payload, len);
		msg->len = msg->payload ? len : 0;
		if (path[0] != '@' && msg->payload) {
			HASH_FIND(by_payload, conn->events_by_payload,
				  msg->payload, len, older);
			if (older)
				unindex_event(conn, older);
			HASH_ADD_KEYPTR(by_payload, conn->events_by_payload,
					msg->payload, len, msg);
			msg->indexed = true;
		}
	}
	return true;
}

/* Forget tracked messages the backend has taken whole. */
static void forget_sent(struct connection *conn)
{
	while (!TAILQ_EMPTY(&conn->queued)) {
		struct queued_message *msg = TAILQ_FIRST(&conn->queued);

		if (msg->end > conn->out_start)
			break;
		forget_message(conn, msg);
	}
	if (conn->out_start == conn->out_len)
		conn->out_start = conn->out_len = conn->out_boundary = 0;
}

/* Hand queued output to the backend until it takes no more. */
static void conn_flush(struct connection *conn)
{
	while (!conn->doomed && conn->out_start < conn->out_len) {
		ssize_t n = conn->ops->write(conn->io,
					     conn->out_buf + conn->out_start,
					     conn->out_len - conn->out_start);

		if (n < 0) {
			conn_doom(conn, "write failed: peer gone");
			break;
		}
		if (n == 0)
			break;
		conn->out_start += (size_t)n;
	}
	forget_sent(conn);
}

static void conn_destroy_now(struct connection *conn)
{
	talloc_free(conn);
}

/*
 * A guest that does not take its replies, or whose data passed its memory
 * quota, is not read until that changes: it cannot grow the daemon.
 */
static bool conn_may_read(struct connection *conn)
{
	const struct quota_settings *quota = conn_quota(conn);

	if (conn->who.privileged)
		return true;
	if (quota_reached(quota->outstanding, conn->queued_replies))
		return false;
	return !quota_exceeded(quota->memory, domain_data_memory(conn->domain));
}

static void conn_hold(struct connection *conn)
{
	if (conn->held)
		return;
	xs_log(LEVEL_DEBUG, "domain %u: not read until it takes its replies "
	       "or frees memory", conn->who.domid);
	conn->held = true;
	TAILQ_INSERT_TAIL(&conn->server->held, conn, held_link);
}

static void conn_unhold(struct connection *conn)
{
	if (!conn->held)
		return;
	conn->held = false;
	TAILQ_REMOVE(&conn->server->held, conn, held_link);
}

/* Handle the complete messages of @buf while the peer may be read; returns
 * how many bytes were handled. */
static size_t handle_messages(struct connection *conn, const char *buf,
			      size_t len)
{
	size_t used = 0;

	while (!conn->doomed && len - used >= HEADER_SIZE) {
		struct xsd_sockmsg hdr;

		if (!conn_may_read(conn)) {
			conn_hold(conn);
			break;
		}
		memcpy(&hdr, buf + used, HEADER_SIZE);
		if (hdr.len > XENSTORE_PAYLOAD_MAX) {
			if (conn->ops && conn->ops->protocol_error)
				conn->ops->protocol_error(conn->io);
			conn_doom(conn, "request longer than 4096 bytes");
			break;
		}
		if (len - used < HEADER_SIZE + hdr.len)
			break;
		dispatch_request(conn, &hdr, buf + used + HEADER_SIZE);
		used += HEADER_SIZE + hdr.len;
	}
	return used;
}

/* What a read left unhandled stays with the connection, in a buffer of
 * its exact size (counted in the guest's memory quota). */
static void keep_unhandled(struct connection *conn, const char *rest,
			   size_t len)
{
	char *kept = NULL;

	if (len) {
		kept = talloc_memdup(conn, rest, len);
		if (!kept) {
			conn_doom(conn, "out of memory for input");
			len = 0;
		}
	}
	talloc_free(conn->in_buf);
	conn->in_buf = kept;
	conn->in_len = len;
}

/*
 * Read what the backend has, if the peer may be read, and handle it: in
 * the server's read buffer, after what the connection had kept.
 */
static void read_and_handle(struct connection *conn)
{
	struct server *server = conn->server;
	char *buf = server->read_buf;
	size_t len = conn->in_len, used;
	ssize_t n;

	/* server->reading: never nested today (reads start only from a
	 * backend's call or a flush); if it were, read this one later. */
	if (!conn_may_read(conn) || server->reading) {
		conn_hold(conn);
		return;
	}
	server->reading = true;
	if (len)
		memcpy(buf, conn->in_buf, len);
	n = conn->ops->read(conn->io, buf + len, READ_BUFFER_SIZE - len);
	if (n < 0)
		conn_doom(conn, "peer closed the connection");
	else
		len += (size_t)n;
	used = handle_messages(conn, buf, len);
	/* Nothing read, nothing handled: what it kept is still right. */
	if (used || len != conn->in_len)
		keep_unhandled(conn, buf + used, len - used);
	server->reading = false;
}

/*
 * Held guests whose reason went away (replies taken, memory freed by
 * anyone's change) are read again now: a ring does not signal twice for
 * what the guest already wrote.  True if any was.
 */
static bool resume_held(struct server *server)
{
	struct connection *conn, *next;
	bool resumed = false;

	for (conn = TAILQ_FIRST(&server->held); conn; conn = next) {
		next = TAILQ_NEXT(conn, held_link);
		if (conn->doomed || !conn_may_read(conn))
			continue;
		conn_unhold(conn);
		conn->busy++;
		read_and_handle(conn);
		conn->busy--;
		resumed = true;
		/* Handling may have held or destroyed others: start over. */
		next = TAILQ_FIRST(&server->held);
	}
	return resumed;
}

static void flush_all(struct server *server)
{
	struct connection *conn;

	while (!TAILQ_EMPTY(&server->to_flush)) {
		conn = TAILQ_FIRST(&server->to_flush);
		TAILQ_REMOVE(&server->to_flush, conn, flush_link);
		conn->on_flush_list = false;
		if (conn->ops)
			conn_flush(conn);
	}
}

void server_flush(struct server *server)
{
	struct connection *conn, *next;
	unsigned int rounds = 0;

	for (;;) {
		flush_all(server);
		if (TAILQ_EMPTY(&server->held))
			break;
		/* A guest that keeps up could keep us here: after a few
		 * rounds, others get their turn and the loop calls back. */
		if (rounds++ >= RESUME_ROUNDS &&
		    server->config.hooks.resume_soon) {
			server->config.hooks.resume_soon(server);
			break;
		}
		if (!resume_held(server))
			break;
	}
	/* Connections broken while handling others go now, unless a backend
	 * is still inside a call for them. */
	for (conn = TAILQ_FIRST(&server->doomed); conn; conn = next) {
		next = TAILQ_NEXT(conn, doomed_link);
		if (!conn->busy)
			conn_destroy_now(conn);
	}
}

void server_resume(struct server *server)
{
	server_flush(server);
}

/*
 * A backend's call for @conn: do @work, flush everything, and destroy
 * @conn now if it broke (true if it lives on).  While the call runs,
 * @conn is busy: handling others must not destroy it under the backend.
 */
static bool backend_call(struct connection *conn,
			 void (*work)(struct connection *conn))
{
	conn->busy++;
	work(conn);
	server_flush(conn->server);
	conn->busy--;
	if (conn->doomed) {
		conn_destroy_now(conn);
		return false;
	}
	return true;
}

bool conn_input_ready(struct connection *conn)
{
	return backend_call(conn, read_and_handle);
}

bool conn_output_ready(struct connection *conn)
{
	return backend_call(conn, conn_flush);
}

void conn_close(struct connection *conn)
{
	conn_destroy_now(conn);
}

void conn_reset(struct connection *conn)
{
	conn->in_len = 0;
	while (!TAILQ_EMPTY(&conn->queued))
		forget_message(conn, TAILQ_FIRST(&conn->queued));
	conn->out_start = conn->out_len = conn->out_boundary = 0;
	watch_remove_all(conn);
	conn_end_all_transactions(conn);
}

static bool event_expired(const struct connection *conn,
			  const struct queued_message *msg, uint64_t deadline)
{
	/* Never cut a message the backend has started on. */
	return msg->is_event && !msg_started(conn, msg) &&
	       msg->queued_at < deadline;
}

/*
 * Cut every event queued before @deadline and not started out of the
 * output buffer, in one pass: each byte that stays moves once, so a guest
 * that let tens of thousands of events pile up costs their size, not
 * their number squared.  Returns how many were cut.
 */
static unsigned long drop_expired_events(struct connection *conn,
					 uint64_t deadline)
{
	struct queued_message *msg, *next;
	size_t removed = 0, run = 0;	/* run: first byte not yet moved */
	size_t before_boundary = 0;
	unsigned long dropped = 0;

	for (msg = TAILQ_FIRST(&conn->queued); msg; msg = next) {
		size_t start = msg->start, end = msg->end;

		next = TAILQ_NEXT(msg, link);
		if (!event_expired(conn, msg, deadline)) {
			msg->start = start - removed;
			msg->end = end - removed;
			continue;
		}
		if (removed)
			memmove(conn->out_buf + run - removed,
				conn->out_buf + run, start - run);
		removed += end - start;
		/* A boundary is never inside a whole message. */
		if (start < conn->out_boundary)
			before_boundary += end - start;
		run = end;
		forget_message(conn, msg);
		dropped++;
	}
	if (removed) {
		memmove(conn->out_buf + run - removed, conn->out_buf + run,
			conn->out_len - run);
		conn->out_len -= removed;
		conn->out_boundary -= before_boundary;
	}
	return dropped;
}

void server_tick(struct server *server, uint64_t now)
{
	uint64_t timeout = server->config.quota.watch_event_timeout;
	struct connection *conn;

	server->now = now;
	live_update_tick(server);
	if (server->recheck_domains)
		server_check_domains(server);
	if (!timeout)
		return;
	if (now <= timeout)
		return;
	TAILQ_FOREACH(conn, &server->connections, link) {
		unsigned long dropped;

		if (conn->who.privileged)
			continue;
		dropped = drop_expired_events(conn, now - timeout);
		if (dropped)
			xs_log(LEVEL_DEBUG, "domain %u: dropped %lu watch "
			       "events not taken in %llu s", conn->who.domid,
			       dropped, (unsigned long long)timeout);
	}
}

struct transaction *conn_find_transaction(struct connection *conn, uint32_t id)
{
	struct conn_transaction *entry;

	LIST_FOREACH(entry, &conn->transactions, link)
		if (entry->tx->id == id)
			return entry->tx;
	return NULL;
}

void conn_end_transaction(struct connection *conn, struct transaction *tx)
{
	struct conn_transaction *entry;

	LIST_FOREACH(entry, &conn->transactions, link) {
		if (entry->tx == tx) {
			LIST_REMOVE(entry, link);
			conn->transaction_count--;
			conn->domain->transactions--;
			talloc_free(entry);
			return;
		}
	}
}

void conn_end_all_transactions(struct connection *conn)
{
	while (!LIST_EMPTY(&conn->transactions))
		conn_end_transaction(conn, LIST_FIRST(&conn->transactions)->tx);
}

const char *conn_pending_output(struct connection *conn, size_t *len,
				size_t *partial)
{
	size_t b = boundary_from(conn, conn->out_start);

	*len = conn->out_len - conn->out_start;
	*partial = b - conn->out_start;
	return conn->out_buf + conn->out_start;
}

bool conn_restore_output(struct connection *conn, const void *data,
			 size_t len, size_t partial)
{
	size_t at = partial;

	if (partial > len || !reserve_output(conn, len))
		return false;
	memcpy(conn->out_buf + conn->out_len, data, len);
	/* Where the first whole message starts: every later one is known. */
	at = conn->out_len + partial;
	conn->out_boundary = at;
	conn->out_len += len;
	while (at < conn->out_len) {
		struct xsd_sockmsg hdr;
		struct queued_message *msg;
		size_t start = at;

		if (conn->out_len - at < HEADER_SIZE)
			return false;
		memcpy(&hdr, conn->out_buf + at, HEADER_SIZE);
		if (hdr.len > XENSTORE_PAYLOAD_MAX ||
		    conn->out_len - at - HEADER_SIZE < hdr.len)
			return false;
		at += HEADER_SIZE + hdr.len;
		if (hdr.type == XS_WATCH_EVENT) {
			msg = track(conn, start, true);
			if (!msg)
				return false;
			msg->end = at;
			msg->payload = talloc_memdup(msg, conn->out_buf + start +
						     HEADER_SIZE, hdr.len);
			msg->len = msg->payload ? hdr.len : 0;
		} else if (!conn->who.privileged) {
			msg = track(conn, start, false);
			if (!msg)
				return false;
			msg->end = at;
		}
	}
	mark_for_flush(conn);
	return true;
}
