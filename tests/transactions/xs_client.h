/*
 * A synchronous xenstore client for the transaction tests, over either the
 * core linked in-process (tests/core/memconn) or a daemon's Unix socket.
 *
 * The same schedules then run against our core in memory (the test proper)
 * and against any daemon, the C reference included, by setting
 * XS_TEST_SOCKET: that is how the tests' expectations were compared with
 * the reference.  Over a socket every connection is dom0's.
 */
#ifndef TESTS_TRANSACTIONS_XS_CLIENT_H
#define TESTS_TRANSACTIONS_XS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <errno.h>	/* before xs_wire.h: enables its error table */
#include <xen/io/xs_wire.h>

#include "daemon/core.h"

struct xs_env;
struct xs_client;

struct xs_reply {
	uint32_t type;		/* the request's type, or XS_ERROR */
	uint32_t len;
	char payload[XENSTORE_PAYLOAD_MAX + 1];	/* NUL after len bytes */
	int err;		/* 0, or the errno the daemon answered */
};

struct xs_event {
	char path[XENSTORE_PAYLOAD_MAX + 1];
	char token[XENSTORE_PAYLOAD_MAX + 1];
};

/* A fresh in-memory server with @config (NULL: the defaults). */
struct xs_env *xs_env_memory(void *ctx, const struct server_config *config);

/* A daemon listening on @socket_path. */
struct xs_env *xs_env_socket(void *ctx, const char *socket_path);

/* The in-memory server, or NULL for a socket. */
struct server *xs_env_server(const struct xs_env *env);

/*
 * A new connection as domain @domid; NULL if that is impossible (a socket
 * and a domid other than 0) or failed.
 */
struct xs_client *xs_connect(struct xs_env *env, uint32_t domid);

/* The core's connection (in memory), or NULL. */
struct connection *xs_client_connection(const struct xs_client *client);

/*
 * One request and its reply.  Returns 0 or the errno the daemon answered;
 * -1 if the exchange itself failed (no reply, wrong req_id or tx_id).
 * Watch events that arrive first are kept for xs_next_event().
 */
int xs_call(struct xs_client *client, uint32_t type, uint32_t tx_id,
	    const void *payload, uint32_t len, struct xs_reply *reply);

/*
 * xs_call with a payload of NUL-terminated strings up to a NULL; the last
 * goes without its NUL when @raw_last (a WRITE value).
 */
int xs_callv(struct xs_client *client, uint32_t type, uint32_t tx_id,
	     struct xs_reply *reply, int raw_last, ...);

/*
 * Make sure every event the daemon queued for this connection so far has
 * been received (a round trip over a socket), then pop one; false if none.
 */
bool xs_next_event(struct xs_client *client, struct xs_event *ev);

/* The peer hangs up; the client is freed. */
void xs_close(struct xs_client *client);

/*
 * A reply as the tests write it: OK, an error name, 'value' (READ),
 * [a b] (DIRECTORY, DIRECTORY_PART without its generation), <n0 r5>
 * (GET_PERMS), the payload otherwise.  Allocated on @ctx.
 */
char *xs_reply_text(void *ctx, uint32_t type, const struct xs_reply *reply);

/* The errno named @name ("EAGAIN"), or -1. */
int xs_error_number(const char *name);
/* The name of @err ("EAGAIN"), or "E?". */
const char *xs_error_name(int err);

#endif
