/*
 * Live update, POSIX side: where the state is kept between the two
 * daemons, and the exec of the new one (posix_live_update.c).
 */
#ifndef DAEMON_POSIX_LIVE_UPDATE_H
#define DAEMON_POSIX_LIVE_UPDATE_H

#include <stdbool.h>
#include <stddef.h>

/* The daemon's own arguments: the new binary's when -c gives none. */
void posix_live_update_init(int argc, char **argv);

/* $XENSTORED_RUNDIR/state_dump, where Xen 4.17's C daemon keeps it too
 * (the directory made if missing); NULL on failure. */
char *posix_state_file(void *ctx);

/* The whole of @file on @ctx; NULL with errno set. */
void *posix_state_read(void *ctx, const char *file, size_t *len);

/* The core's hooks.is_executable: a regular file we may exec. */
bool posix_is_executable(const char *file);

/* The core's hooks.live_update_exec: returns only on failure. */
const char *posix_live_update_exec(const void *state, size_t len,
				   const char *binary, const void *blob,
				   size_t blob_len, const char *cmdline);

#endif
