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
/* Room for several pipelined requests: one read can bring a batch. */
#define INPUT_BUFFER_SIZE (16 * (HEADER_SIZE + XENSTORE_PAYLOAD_MAX))
#define OUTPUT_INITIAL_SIZE 4096

static void conn_destroy_now(struct connection *conn);

static int connection_destructor(struct connection *conn)
{
	struct server *server = conn->server;

	trace_connection("DESTROY", conn->id, conn->who.domid);
	/* Transactions and watches are talloc children; free them first so
	 * their destructors still see a whole connection. */
	conn_end_all_transactions(conn);
	watch_remove_all(conn);
	TAILQ_REMOVE(&server->connections, conn, link);
	if (conn->on_flush_list)
		TAILQ_REMOVE(&server->to_flush, conn, flush_link);
	if (conn->doomed)
		TAILQ_REMOVE(&server->doomed, conn, doomed_link);
	server->connection_count--;
	if (conn->ops->destroy)
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
	conn->in_buf = talloc_size(conn, INPUT_BUFFER_SIZE);
	conn->out_buf = talloc_size(conn, OUTPUT_INITIAL_SIZE);
	conn->domain = domain_get(server, domid);
	if (!conn->in_buf || !conn->out_buf || !conn->domain) {
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
	conn->next_transaction_id = 1;
	TAILQ_INIT(&conn->queued_events);
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
	return server->connection_count;
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

/* Make room for @len more output bytes; false if memory ran out. */
static bool reserve_output(struct connection *conn, size_t len)
{
	size_t need, size;
	char *grown;

	if (conn->out_start && conn->out_start == conn->out_len)
		conn->out_start = conn->out_len = 0;
	if (conn->out_len + len <= conn->out_size)
		return true;
	if (conn->out_start) {
		struct queued_event *ev;

		memmove(conn->out_buf, conn->out_buf + conn->out_start,
			conn->out_len - conn->out_start);
		TAILQ_FOREACH(ev, &conn->queued_events, link)
			ev->end -= conn->out_start;
		conn->out_len -= conn->out_start;
		conn->out_start = 0;
		if (conn->out_len + len <= conn->out_size)
			return true;
	}
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

static void mark_for_flush(struct connection *conn)
{
	if (conn->on_flush_list)
		return;
	conn->on_flush_list = true;
	TAILQ_INSERT_TAIL(&conn->server->to_flush, conn, flush_link);
}

void conn_queue_message(struct connection *conn, uint32_t type,
			uint32_t req_id, uint32_t tx_id,
			const void *payload, uint32_t len)
{
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
	};

	if (conn->doomed)
		return;
	if (!reserve_output(conn, HEADER_SIZE + len)) {
		conn_doom(conn, "out of memory for output");
		return;
	}
	memcpy(conn->out_buf + conn->out_len, &hdr, HEADER_SIZE);
	if (len)
		memcpy(conn->out_buf + conn->out_len + HEADER_SIZE, payload,
		       len);
	conn->out_len += HEADER_SIZE + len;
	trace_message("OUT", conn->id, type, payload, len);
	mark_for_flush(conn);
}

bool conn_queue_event(struct connection *conn, const char *path,
		      const char *token)
{
	size_t path_len = strlen(path) + 1, token_len = strlen(token) + 1;
	uint32_t len = (uint32_t)(path_len + token_len);
	struct queued_event *ev;
	char payload[XENSTORE_PAYLOAD_MAX];

	if (path_len + token_len > XENSTORE_PAYLOAD_MAX)
		return false;	/* too big to send: dropped, as specified */
	memcpy(payload, path, path_len);
	memcpy(payload + path_len, token, token_len);
	/* The peer has not taken an identical event yet: that one will do. */
	TAILQ_FOREACH(ev, &conn->queued_events, link)
		if (ev->len == len && memcmp(ev->payload, payload, len) == 0 &&
		    path[0] != '@')
			return true;
	conn_queue_message(conn, XS_WATCH_EVENT, 0, 0, payload, len);
	if (conn->doomed)
		return false;
	ev = talloc(conn, struct queued_event);
	if (ev && (ev->payload = talloc_memdup(ev, payload, len))) {
		ev->len = len;
		ev->end = conn->out_len;
		TAILQ_INSERT_TAIL(&conn->queued_events, ev, link);
	} else {
		talloc_free(ev);
	}
	return true;
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
	while (!TAILQ_EMPTY(&conn->queued_events)) {
		struct queued_event *ev = TAILQ_FIRST(&conn->queued_events);

		if (ev->end > conn->out_start)
			break;
		TAILQ_REMOVE(&conn->queued_events, ev, link);
		talloc_free(ev);
	}
	if (conn->out_start == conn->out_len)
		conn->out_start = conn->out_len = 0;
}

void server_flush(struct server *server)
{
	struct connection *conn, *next;

	while (!TAILQ_EMPTY(&server->to_flush)) {
		conn = TAILQ_FIRST(&server->to_flush);
		TAILQ_REMOVE(&server->to_flush, conn, flush_link);
		conn->on_flush_list = false;
		conn_flush(conn);
	}
	/* Connections broken while handling others go now, unless a backend
	 * is still inside a call for them. */
	for (conn = TAILQ_FIRST(&server->doomed); conn; conn = next) {
		next = TAILQ_NEXT(conn, doomed_link);
		if (!conn->busy)
			conn_destroy_now(conn);
	}
}

static void conn_destroy_now(struct connection *conn)
{
	talloc_free(conn);
}

/* Handle every complete message in the input buffer. */
static void handle_buffered_input(struct connection *conn)
{
	size_t used = 0;

	while (!conn->doomed && conn->in_len - used >= HEADER_SIZE) {
		struct xsd_sockmsg hdr;

		memcpy(&hdr, conn->in_buf + used, HEADER_SIZE);
		if (hdr.len > XENSTORE_PAYLOAD_MAX) {
			conn_doom(conn, "request longer than 4096 bytes");
			break;
		}
		if (conn->in_len - used < HEADER_SIZE + hdr.len)
			break;
		dispatch_request(conn, &hdr, conn->in_buf + used + HEADER_SIZE);
		used += HEADER_SIZE + hdr.len;
	}
	if (used) {
		memmove(conn->in_buf, conn->in_buf + used, conn->in_len - used);
		conn->in_len -= used;
	}
}

bool conn_input_ready(struct connection *conn)
{
	struct server *server = conn->server;
	ssize_t n;

	conn->busy++;
	n = conn->ops->read(conn->io, conn->in_buf + conn->in_len,
			    INPUT_BUFFER_SIZE - conn->in_len);
	if (n < 0)
		conn_doom(conn, "peer closed the connection");
	else if (n > 0)
		conn->in_len += (size_t)n;
	handle_buffered_input(conn);
	server_flush(server);
	conn->busy--;
	if (conn->doomed) {
		conn_destroy_now(conn);
		return false;
	}
	return true;
}

bool conn_output_ready(struct connection *conn)
{
	conn->busy++;
	conn_flush(conn);
	conn->busy--;
	if (conn->doomed) {
		conn_destroy_now(conn);
		return false;
	}
	return true;
}

void conn_close(struct connection *conn)
{
	conn_destroy_now(conn);
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
