/*
 * CONTROL requests (xenstore-control): diagnostics and run-time settings
 * for the privileged toolstack.
 */
#ifndef DAEMON_CONTROL_H
#define DAEMON_CONTROL_H

#include "daemon/internal.h"

int control_request(struct request *req);

/*
 * Check the store's structure: the number of problems found, or a
 * negative errno value if the walk could not be finished (then it says
 * nothing of the part it did not reach).
 */
long control_check_store(struct server *server);

#endif
