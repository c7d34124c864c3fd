/*
 * Structures shared by the core's files.  Backends and main() see only
 * core.h.
 */
#ifndef DAEMON_INTERNAL_H
#define DAEMON_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uthash.h>
#include "daemon/wire.h"

#include "daemon/core.h"
#include "store/store.h"
#include "transactions/transaction.h"

struct watch;
struct domain;

/* Who is asking: what permission checks and quotas look at. */
struct accessor {
	uint32_t domid;
	bool privileged;
	bool has_target;
	uint32_t target;	/* SET_TARGET: acts for this domain */
};

struct conn_transaction {
	LIST_ENTRY(conn_transaction) link;
	struct transaction *tx;
	uint64_t opened_at;	/* server time: live-update -t looks at it */
};

/*
 * A message still in the output queue that the core must keep track of:
 * every watch event (de-duplication, the event timeout) and, for
 * unprivileged connections, every reply (the outstanding-request quota).
 */
struct queued_message {
	TAILQ_ENTRY(queued_message) link;
	size_t start, end;	/* offsets in the output buffer */
	/* The peer has taken part of it: never cut or matched again.
	 * (Once the buffer is compacted, start alone cannot tell.) */
	bool started;
	bool is_event;
	uint64_t queued_at;	/* server time, seconds */
	uint32_t len;		/* events: payload for de-duplication */
	char *payload;
	/* In the connection's events_by_payload: the newest event with this
	 * payload (only events not started can match). */
	UT_hash_handle by_payload;
	bool indexed;
};

struct connection {
	TAILQ_ENTRY(connection) link;		/* server->connections */
	TAILQ_ENTRY(connection) flush_link;	/* server->to_flush */
	bool on_flush_list;
	TAILQ_ENTRY(connection) doomed_link;	/* server->doomed */
	/* Not read for its quota (outstanding replies, memory): on
	 * server->held until that changes. */
	bool held;
	TAILQ_ENTRY(connection) held_link;
	struct server *server;
	const struct conn_ops *ops;
	void *io;
	uint32_t id;
	struct domain *domain;
	struct accessor who;

	/* Input read but not yet handled (a partial message, or requests
	 * of a held guest), NULL when there is none. */
	char *in_buf;
	size_t in_len;

	/* Output: bytes queued but not yet taken by the backend. */
	char *out_buf;
	size_t out_start, out_len, out_size;
	/*
	 * A message boundary in out_buf: either a message starts there, or
	 * the bytes before it from out_start are the rest of one the peer
	 * has started taking.  Replies to privileged connections are not
	 * tracked, so this is how a live update knows where they start.
	 */
	size_t out_boundary;
	TAILQ_HEAD(, queued_message) queued;
	unsigned int queued_replies;
	/* Queued events by payload, to merge an identical one in O(1): a
	 * guest that never reads would otherwise make each event fired for
	 * it cost its whole queue (and so every write that fires it). */
	struct queued_message *events_by_payload;

	LIST_HEAD(, conn_transaction) transactions;
	unsigned int transaction_count;
	uint32_t next_transaction_id;

	LIST_HEAD(, watch) watches;
	unsigned int watch_count;

	/* Set when the peer is gone or broke the protocol. */
	bool doomed;
	/* Set while the core is inside a call from this connection's backend. */
	unsigned int busy;
};

struct server {
	struct server_config config;
	struct store *store;
	TAILQ_HEAD(, connection) connections;
	TAILQ_HEAD(, connection) to_flush;
	/* Broken connections waiting for a safe moment to be destroyed. */
	TAILQ_HEAD(, connection) doomed;
	/* Guests not read for their quota, looked at again after each batch. */
	TAILQ_HEAD(, connection) held;
	unsigned int connection_count;
	uint32_t next_connection_id;
	uint64_t now;			/* from server_tick, seconds */
	const struct domain_backend *domain_backend;
	void *domain_backend_data;
	/* A domain's state could not be had, or a dead domain's nodes could
	 * not all be removed: server_tick() checks the domains again. */
	bool recheck_domains;
	/* dom0's privileged stand-in for the daemon's own changes. */
	struct connection *internal;
	struct watch_index *watches;
	struct domain_registry *domains;
	/* Every read goes here first, one at a time: connections keep only
	 * what a read left unhandled, so an idle one costs no input buffer. */
	char *read_buf;
	bool reading;
	/* The live-update session, if one is open (live_update.c). */
	struct live_update *live_update;
	/* The store was taken over from a daemon that died (persistent). */
	bool restored;
};

/* One request being handled. */
struct request {
	struct connection *conn;
	struct xsd_sockmsg hdr;
	char *payload;		/* hdr.len bytes, plus a NUL not counted */
	void *ctx;		/* freed when the request is done */
	struct transaction *tx;	/* NULL outside a transaction */
	struct view *view;
	/* The reply, sent after the request's watch events. */
	const void *reply;
	uint32_t reply_len;
	/* WATCH: the watch whose first event follows the reply. */
	struct watch *new_watch;
	/*
	 * Answered from outside the store (@introduceDomain's and
	 * @releaseDomain's permissions): not logged in the transaction, so
	 * its commit neither replays it nor conflicts on it.
	 */
	bool outside_transaction;
	/* Answered later, by the code that took it (live-update -s). */
	bool reply_later;
};

/* connection.c */
/* Room for several pipelined requests: one read can bring a batch. */
#define READ_BUFFER_SIZE (16 * (sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX))
void conn_queue_message(struct connection *conn, uint32_t type,
			uint32_t req_id, uint32_t tx_id,
			const void *payload, uint32_t len);
bool conn_queue_event(struct connection *conn, const char *path,
		      const char *token);
void conn_doom(struct connection *conn, const char *why);
/* Make room to queue a reply of @len payload bytes, or any error reply,
 * without allocating; false if memory ran out. */
bool conn_reserve_reply(struct connection *conn, uint32_t len);
void server_flush(struct server *server);
struct transaction *conn_find_transaction(struct connection *conn,
					  uint32_t id);
void conn_end_transaction(struct connection *conn, struct transaction *tx);
void conn_end_all_transactions(struct connection *conn);
/* Live update: the pending output, and how much of it is the rest of a
 * message the peer has started taking. */
const char *conn_pending_output(struct connection *conn, size_t *len,
				size_t *partial);
/* Put saved output back (conn_pending_output's on the other side);
 * false if it is not a sequence of messages, or memory ran out. */
bool conn_restore_output(struct connection *conn, const void *data,
			 size_t len, size_t partial);

/* live_update.c */
int live_update_request(struct request *req);
/* @conn goes away: a live-update session it opened ends with it. */
void live_update_forget(struct connection *conn);
/* A second passed: a waiting -s looks at the transactions again. */
void live_update_tick(struct server *server);

/* dispatch.c */
void dispatch_request(struct connection *conn, const struct xsd_sockmsg *hdr,
		      const char *payload);
void reply_error(struct request *req, int err);
int reply_data(struct request *req, const void *data, uint32_t len);
int reply_string(struct request *req, const char *s);
/* Exactly one NUL-terminated string, or NULL. */
const char *request_single_string(const struct request *req);
/*
 * Split the payload into its NUL-terminated strings (bytes after the last
 * NUL ignored, as Xen does); returns how many, storing at most @max.
 */
int request_strings(const struct request *req, const char **argv, int max);
/* Fire the change notes of an applied view. */
void server_fire_changes(struct server *server, struct view *view);
/* Replay one logged transaction request on @view (transaction_replay_fn). */
int dispatch_replay(void *conn, struct view *view,
		    const struct logged_request *logged,
		    uint32_t *reply_len, uint64_t *reply_digest);

#endif
