/*
 * What the core's live-update files share (state_save.c, state_restore.c,
 * live_update.c).
 */
#ifndef DAEMON_STATE_INTERNAL_H
#define DAEMON_STATE_INTERNAL_H

#include "daemon/internal.h"

/* A transaction log entry that marks the transaction as failed. */
#define STATE_TX_LOG_FAILED XS_INVALID

/*
 * server_save_state(), with the reply to @lu_conn's live-update request
 * (a whole message, header included) appended to its pending output.
 */
const void *state_save(struct server *server, void *ctx, size_t *len,
		       struct connection *lu_conn, const void *lu_reply,
		       size_t lu_reply_len, const char **why);

#endif
