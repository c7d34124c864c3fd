/*
 * An in-memory connection backend for tests: the core's conn_ops over two
 * byte queues.  A test fills the input queue and drains the output queue;
 * nothing here uses an event loop, a socket or Xen, which is the point.
 *
 * The peer's "room" bounds how many more bytes write() takes, so a test can
 * play a slow reader and then give room back (conn_output_ready).  The
 * second half is a small synchronous client on top: one request, its reply,
 * with the watch events that came first kept aside for the test to check.
 */
#ifndef TESTS_CORE_MEMCONN_H
#define TESTS_CORE_MEMCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/wire.h"

#include "daemon/core.h"

#define MEMCONN_UNLIMITED SIZE_MAX

struct memconn;

extern const struct conn_ops memconn_ops;

/*
 * A backend on @ctx, connected to @server as domain @domid; NULL on
 * failure.  Freeing it closes the connection if the core has not.
 */
struct memconn *memconn_new(void *ctx, struct server *server, uint32_t domid);

/*
 * The same for a guest's ring: server_connect_domain(), as a domain
 * backend's introduce() does.
 */
struct memconn *memconn_new_domain(void *ctx, struct server *server,
				   uint32_t domid);

/* The core's connection, or NULL once the core destroyed it. */
struct connection *memconn_connection(const struct memconn *mc);

/* True once the core called ops->destroy. */
bool memconn_destroyed(const struct memconn *mc);

/* True once the core called ops->protocol_error. */
bool memconn_protocol_error(const struct memconn *mc);

/*
 * Queue raw bytes as input and let the core read until it has taken them
 * all (or stops taking them).  Returns conn_input_ready()'s last answer:
 * false if the connection was destroyed.
 */
bool memconn_send_bytes(struct memconn *mc, const void *bytes, size_t len);

/* One request: header and payload, as memconn_send_bytes. */
bool memconn_send(struct memconn *mc, uint32_t type, uint32_t req_id,
		  uint32_t tx_id, const void *payload, uint32_t len);

/*
 * The peer hangs up: from now on writes fail, and reads do once the input
 * is used up.  The core is not told; memconn_notify() does that.
 */
void memconn_hang_up(struct memconn *mc);

/* Queue input without telling the core (memconn_notify does). */
bool memconn_queue_input(struct memconn *mc, const void *bytes, size_t len);

/* Tell the core input may be waiting, as memconn_send_bytes does. */
bool memconn_notify(struct memconn *mc);

/* Input bytes the core has not read yet. */
size_t memconn_unread_input(const struct memconn *mc);

/*
 * Pop one complete message from the output queue: its header into @hdr and
 * at most XENSTORE_PAYLOAD_MAX payload bytes into @payload, followed by a
 * NUL (so @payload needs XENSTORE_PAYLOAD_MAX + 1 bytes).  False if no
 * complete message is queued.
 */
bool memconn_recv(struct memconn *mc, struct xsd_sockmsg *hdr, char *payload);

/* Output bytes the backend took and the test has not popped yet. */
size_t memconn_output_len(const struct memconn *mc);

/* From now on write() takes at most @room more bytes (MEMCONN_UNLIMITED). */
void memconn_set_room(struct memconn *mc, size_t room);

/* Set the room and tell the core (conn_output_ready); its answer. */
bool memconn_give_room(struct memconn *mc, size_t room);

/* --- A synchronous client for tests ---------------------------------- */

struct memconn_event {
	char path[XENSTORE_PAYLOAD_MAX + 1];
	char token[XENSTORE_PAYLOAD_MAX + 1];
};

struct memconn_reply {
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];
	/* 0 for a reply of the request's type, the errno of an XS_ERROR. */
	int err;
};

/*
 * Send one request with a fresh req_id and pop messages until its reply:
 * watch events popped on the way are kept for memconn_next_event().
 * Returns 0 or the error the daemon answered; -1 (with @reply->hdr.type
 * XS_WIRE_TYPE_COUNT) if no reply came or it did not echo req_id and tx_id.
 */
int memconn_call(struct memconn *mc, uint32_t type, uint32_t tx_id,
		 const void *payload, uint32_t len,
		 struct memconn_reply *reply);

/*
 * memconn_call with a payload of NUL-terminated strings: each argument
 * up to the NULL gets its NUL, except after @raw_last if it is true (a
 * WRITE value goes out without one).
 */
int memconn_callv(struct memconn *mc, uint32_t type, uint32_t tx_id,
		  struct memconn_reply *reply, int raw_last, ...);

/*
 * Pop watch events: those kept by memconn_call first, then any complete
 * XS_WATCH_EVENT at the head of the output queue.  False if none.
 */
bool memconn_next_event(struct memconn *mc, struct memconn_event *ev);

/* Events memconn_next_event() would return now. */
unsigned int memconn_pending_events(struct memconn *mc);

/* The errno named by an error reply ("ENOENT"), or -1 if unknown. */
int memconn_error_number(const char *name);

#endif
