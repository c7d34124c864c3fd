/*
 * The daemon's state as a byte stream: Xen's xenstore migration stream
 * (docs/designs/xenstore-migration.md in the Xen tree), the format Xen
 * 4.17's C xenstored writes for a live update.  Using it means the state
 * is a documented format, and a host running the C daemon can live-update
 * into this one.
 *
 * This file knows the format only: a writer that appends records to a
 * buffer, and a strict reader that checks a whole stream before it hands
 * any record to its caller, so that a bad image is refused before anything
 * is restored.  What the records mean to a server is state_save.c's and
 * state_restore.c's business.
 *
 * Like the C daemon, fields are in the host's byte order (the header's
 * flags say which) except the header's version, which is big-endian; each
 * record's length includes the padding to 8 bytes, which lets 4.17's
 * reader (it skips `length` bytes) read our streams too.
 */
#ifndef DAEMON_STATE_H
#define DAEMON_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_IDENT "xenstore"		/* 8 bytes, no NUL */
#define STATE_HEADER_SIZE 16
#define STATE_VERSION_MIN 1
#define STATE_VERSION_MAX 2		/* WATCH_DATA_EXTENDED, features */

enum state_record_type {
	STATE_END = 0,
	STATE_GLOBAL = 1,
	STATE_CONNECTION = 2,
	STATE_WATCH = 3,
	STATE_TRANSACTION = 4,
	STATE_NODE = 5,
	STATE_GLOBAL_QUOTA = 6,
	STATE_DOMAIN = 7,
	STATE_WATCH_EXTENDED = 8,
	/*
	 * Ours, outside the range the design reserves for itself: one
	 * request of an open transaction's log (transactions/transaction.h),
	 * in order, after the transaction's TRANSACTION_DATA.  The log is
	 * what our transactions are (the commit replays it), so this is how
	 * an open transaction survives a live update.  Xen's readers skip
	 * records they do not know.
	 */
	STATE_TX_LOG = 0x78730001,	/* "xs" 1 */
};

#define STATE_CONN_RING 0
#define STATE_CONN_SOCKET 1
#define STATE_CONN_HAS_UNIQUE_ID 0x0001
#define STATE_DOMID_INVALID 0x7ff4	/* DOMID_INVALID: no target */
#define STATE_WATCH_DEPTH_ANY 0xffff
#define STATE_PERM_STALE 0x01		/* perm flags: ignore when checking */
#define STATE_NODE_READ 0x0001		/* node access in a transaction */
#define STATE_NODE_WRITTEN 0x0002

struct state_global {
	int32_t socket_fd;	/* the listening socket, or -1 */
	int32_t evtchn_fd;	/* the event channel device, or -1 */
};

struct state_connection {
	uint32_t conn_id;	/* non-zero, unique in the stream */
	uint16_t type;		/* STATE_CONN_RING or STATE_CONN_SOCKET */
	uint16_t fields;	/* STATE_CONN_HAS_UNIQUE_ID */
	/* ring */
	uint16_t domid;
	uint16_t target;	/* STATE_DOMID_INVALID if none */
	uint32_t evtchn;	/* the daemon's local port */
	/* socket */
	int32_t socket_fd;
	/*
	 * Input read but not handled (in_len bytes), then output not yet
	 * taken (out_len bytes) whose first resp_len bytes are the rest of
	 * a message the peer has already taken part of.
	 */
	const uint8_t *data;
	uint16_t in_len;
	uint16_t resp_len;
	uint32_t out_len;
	uint64_t unique_id;	/* if fields & STATE_CONN_HAS_UNIQUE_ID */
};

struct state_watch {
	uint32_t conn_id;
	const char *path;	/* as the client gave it (may be relative) */
	const char *token;
	uint16_t depth;		/* STATE_WATCH_DEPTH_ANY for plain WATCH_DATA */
};

struct state_transaction {
	uint32_t conn_id;
	uint32_t tx_id;
};

struct state_perm {
	char access;		/* 'n', 'r', 'w' or 'b' */
	uint8_t flags;		/* STATE_PERM_STALE */
	uint16_t domid;
};

struct state_node {
	uint32_t conn_id;	/* 0: committed; else a pending transaction's */
	uint32_t tx_id;
	uint16_t access;	/* STATE_NODE_READ | STATE_NODE_WRITTEN */
	uint16_t perm_count;
	const struct state_perm *perms;	/* decoded copies */
	const char *path;
	const void *value;
	uint16_t value_len;
};

struct state_quota {
	unsigned int count;
	const uint32_t *values;	/* decoded copies; 0 means unlimited */
	const char *const *names;
};

struct state_global_quota {
	unsigned int per_domain;	/* the first values apply per domain */
	struct state_quota quota;
};

struct state_domain {
	uint16_t domid;
	uint32_t features;	/* version 2 only, else 0 */
	struct state_quota quota;
};

struct state_tx_log {
	uint32_t conn_id;
	uint32_t tx_id;
	uint32_t type;		/* the request's XS_* type */
	int32_t result;		/* 0 or the errno value it was answered with */
	uint32_t reply_len;
	uint64_t reply_digest;
	const char *payload;	/* payload_len bytes (a NUL follows, not counted) */
	uint32_t payload_len;
};

/* --- Writing ---------------------------------------------------------- */

struct state_writer;

/* A stream with its header (version 1 unless @version says 2). */
struct state_writer *state_writer_new(void *ctx, uint32_t version);

/*
 * Append one record each.  A failure (memory, a field too big for the
 * format) is remembered and reported by state_writer_finish(), so callers
 * need not check every call.
 */
void state_write_global(struct state_writer *w, const struct state_global *g);
void state_write_connection(struct state_writer *w,
			    const struct state_connection *c);
void state_write_watch(struct state_writer *w, const struct state_watch *wa);
void state_write_transaction(struct state_writer *w,
			     const struct state_transaction *t);
void state_write_node(struct state_writer *w, const struct state_node *n);
void state_write_global_quota(struct state_writer *w,
			      const struct state_global_quota *q);
void state_write_domain(struct state_writer *w, const struct state_domain *d);
void state_write_tx_log(struct state_writer *w, const struct state_tx_log *l);

/*
 * Append END and hand out the stream (owned by the writer); NULL with
 * @why set if any write failed.
 */
const void *state_writer_finish(struct state_writer *w, size_t *len,
				const char **why);

/* --- Reading ---------------------------------------------------------- */

/*
 * What the reader calls for each record, in stream order; any may be
 * NULL (the record is skipped).  A non-zero return stops the reading and
 * is returned.  Pointers are valid during the call only.
 */
struct state_visitor {
	int (*global)(void *arg, const struct state_global *g);
	int (*connection)(void *arg, const struct state_connection *c);
	int (*watch)(void *arg, const struct state_watch *w);
	int (*transaction)(void *arg, const struct state_transaction *t);
	int (*node)(void *arg, const struct state_node *n);
	int (*global_quota)(void *arg, const struct state_global_quota *q);
	int (*domain)(void *arg, const struct state_domain *d);
	int (*tx_log)(void *arg, const struct state_tx_log *l);
};

/*
 * Check the whole stream, then, if it is well-formed, visit its records.
 * Returns 0; EINVAL with @why naming the first problem (nothing visited);
 * ENOMEM; or what a visitor returned (@why then says which record).
 *
 * Well-formed: the header is a migration stream of version 1 or 2 in the
 * host's byte order; every record lies inside the stream; every field is
 * in range; strings are NUL-terminated exactly at their end; connection
 * ids are non-zero and unique; watches, transactions and pending nodes
 * name a connection (and transaction) that came before; at most one
 * GLOBAL_DATA and GLOBAL_QUOTA_DATA; types this reader does not know are
 * refused; END comes last and nothing follows it.
 */
int state_read(void *ctx, const void *stream, size_t len,
	       const struct state_visitor *visitor, void *arg,
	       const char **why);

#endif
