/*
 * The requests that read and change nodes.  Each runs on req->view, so the
 * same code serves plain requests, transactions and their replay at commit.
 * Each returns 0 with req->reply set, or an errno value.
 */
#ifndef DAEMON_NODE_OPS_H
#define DAEMON_NODE_OPS_H

#include "daemon/internal.h"

int node_op_read(struct request *req);
int node_op_write(struct request *req);
int node_op_mkdir(struct request *req);
int node_op_rm(struct request *req);
int node_op_directory(struct request *req);
int node_op_directory_part(struct request *req);
int node_op_get_perms(struct request *req);
int node_op_set_perms(struct request *req);

/*
 * Resolve a path argument for @req's connection: EINVAL if invalid, or if
 * it is a special '@' name and @allow_special is false.
 */
int node_path_argument(struct request *req, const char *arg,
		       bool allow_special, char **path, bool *relative);

#endif
