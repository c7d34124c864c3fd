/*
 * A xenstore client connection for the harness's actors: the raw wire
 * protocol of <xen/io/xs_wire.h> over a Unix socket (or, later, a ring),
 * any number of requests in flight, watch events handed to a callback.
 *
 * Requests are sent from coroutines: xs_send() queues one and returns at
 * once (pipelining), xs_wait() blocks the coroutine until its reply; the
 * helpers below do both.  Output is flushed once per loop iteration.
 */
#ifndef BOOTSTORM_XSCONN_H
#define BOOTSTORM_XSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/io/xs_wire.h>

#include "stats.h"

struct xs_conn;

typedef void (*xs_event_fn)(struct xs_conn *c, const char *path,
			    const char *token, void *arg);

struct xs_op {
	struct xs_op *next;
	struct xs_conn *conn;
	uint32_t req_id, type, tx_id;
	uint64_t sent_at, done_at;
	bool done;
	int err;		/* 0, the errno of an XS_ERROR, or EPIPE */
	uint32_t len;		/* reply payload, NUL-terminated in data */
	struct coro *waiter;
	void (*cb)(struct xs_op *op, void *arg);
	void *cb_arg;
	char *data;		/* buf, or the heap for an oversized reply */
	char buf[XENSTORE_PAYLOAD_MAX + 1];
};

/* Connect to the daemon's Unix socket; NULL (errno set) on failure. */
struct xs_conn *xs_connect_unix(const char *path, enum actor actor);

/* Talk over a sim platform guest's ring (io-xen/SIM.md); the connection
 * owns @g from now on and frees it when closed. */
struct sim_guest;
struct xs_conn *xs_connect_ring(struct sim_guest *g, enum actor actor);

void xs_set_event_handler(struct xs_conn *c, xs_event_fn fn, void *arg);
enum actor xs_actor(const struct xs_conn *c);
/* Requests sent and not yet answered. */
unsigned xs_pending(const struct xs_conn *c);

/*
 * Close: requests still in flight complete with EPIPE.  The memory is
 * released later, so closing from an event handler is safe.  A connection
 * the daemon dropped stays valid (every request fails with EPIPE) until
 * its owner closes it.
 */
void xs_close(struct xs_conn *c);

/* Queue a request; the payload is copied. */
struct xs_op *xs_send(struct xs_conn *c, uint32_t tx, uint32_t type,
		      const void *payload, size_t len);
/* WRITE: the path with its NUL, the value without. */
struct xs_op *xs_send_write(struct xs_conn *c, uint32_t tx, const char *path,
			    const char *value);
/* WATCH: path and token, each with its NUL. */
struct xs_op *xs_send_watch(struct xs_conn *c, const char *path,
			    const char *token);
/* Block the calling coroutine until @op is answered; returns op->err. */
int xs_wait(struct xs_op *op);
void xs_op_free(struct xs_op *op);
/* Fire and forget: @cb runs from the loop with the reply, then op is freed. */
void xs_send_cb(struct xs_conn *c, uint32_t tx, uint32_t type,
		const void *payload, size_t len,
		void (*cb)(struct xs_op *op, void *arg), void *arg);

/* Blocking helpers: 0 or the errno the daemon answered. */
int xs_read(struct xs_conn *c, uint32_t tx, const char *path,
	    char *val, size_t valsz);
int xs_write(struct xs_conn *c, uint32_t tx, const char *path,
	     const char *val);
int xs_mkdir(struct xs_conn *c, uint32_t tx, const char *path);
int xs_rm(struct xs_conn *c, uint32_t tx, const char *path);
/* @perms: space-separated, e.g. "n0 r5". */
int xs_set_perms(struct xs_conn *c, uint32_t tx, const char *path,
		 const char *perms);
int xs_watch(struct xs_conn *c, const char *path, const char *token);
int xs_unwatch(struct xs_conn *c, const char *path, const char *token);
int xs_tx_start(struct xs_conn *c, uint32_t *tx);
int xs_tx_end(struct xs_conn *c, uint32_t tx, bool commit);
int xs_get_domain_path(struct xs_conn *c, unsigned domid, char *buf,
		       size_t sz);

/*
 * A directory listing (DIRECTORY, or DIRECTORY_PART when the listing is
 * too big for one reply): the names, NUL-separated, in @buf of @len bytes,
 * @count of them.  Free with xs_list_free().
 */
struct xs_list {
	char *buf;
	size_t len;
	unsigned count;
};
int xs_directory(struct xs_conn *c, uint32_t tx, const char *path,
		 struct xs_list *out);
void xs_list_free(struct xs_list *l);
/* Iterate: for (const char *n = l.buf; n < l.buf + l.len; n += strlen(n) + 1) */

/* Count a watch set or removed by a pipelined xs_send(). */
void xs_count_watch(struct xs_conn *c, int delta);

/* Flush every connection's queued output (the loop's flush hook). */
void xs_flush_all(void);

/* The errno of an XS_ERROR payload such as "ENOENT". */
int xs_errno_of(const char *s);
const char *xs_type_name(uint32_t type);

/* Requests in flight over all connections; when a reply or event last came. */
unsigned long xs_inflight(void);
uint64_t xs_last_activity_at(void);

#endif
