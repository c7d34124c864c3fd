/*
 * CONTROL requests (xenstore-control): diagnostics and run-time settings
 * for the privileged toolstack.
 */
#ifndef DAEMON_CONTROL_H
#define DAEMON_CONTROL_H

#include "daemon/internal.h"

int control_request(struct request *req);

/* Check the store's structure; returns the number of problems found. */
unsigned long control_check_store(struct server *server);

#endif
