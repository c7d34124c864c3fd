#include <errno.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "daemon/access.h"
#include "daemon/domain.h"
#include "daemon/node_ops.h"
#include "daemon/watch.h"
#include "store/path.h"

/* The caller's quotas: its domain's (SET_QUOTA), else the global ones. */
static const struct quota_settings *quota_of(const struct request *req)
{
	return conn_quota(req->conn);
}

/* path-max 0 is no limit, as every quota of 0. */
static size_t path_max_of(const struct request *req)
{
	unsigned long max = quota_of(req)->path_max;

	return max ? (size_t)max : SIZE_MAX;
}

int node_path_argument(struct request *req, const char *arg,
		       bool allow_special, char **path, bool *relative)
{
	*path = path_canonical(req->ctx, arg, req->conn->who.domid,
			       path_max_of(req), relative);
	if (!*path)
		return errno == ENOMEM ? ENOMEM : EINVAL;
	if ((*path)[0] == '@' && !allow_special)
		return EINVAL;
	return 0;
}

/* The single path argument of READ, DIRECTORY, MKDIR, RM. */
static int single_path(struct request *req, char **path)
{
	const char *arg = request_single_string(req);
	bool relative;

	if (!arg)
		return EINVAL;
	return node_path_argument(req, arg, false, path, &relative);
}

static char *parent_path(void *ctx, const char *path)
{
	size_t len = path_parent_len(path);

	return len ? talloc_strndup(ctx, path, len) : talloc_strdup(ctx, "/");
}

/* Unprivileged nodes may not grow past the node-size quota. */
static int check_node_size(const struct request *req, const struct node *node)
{
	if (req->conn->who.privileged ||
	    !quota_exceeded(quota_of(req)->node_size, node_quota_size(node)))
		return 0;
	return ENOSPC;
}

/* The node named by the single path argument, if the caller may read it. */
static const struct node *readable_node(struct request *req, int *err)
{
	char *path;

	*err = single_path(req, &path);
	if (*err)
		return NULL;
	return access_get_node(req, path, PERM_READ, err);
}

int node_op_read(struct request *req)
{
	int err;
	const struct node *node = readable_node(req, &err);

	if (!node)
		return err;
	return reply_data(req, node->value, node->value_len);
}

/*
 * Create @path and its missing ancestors below the nearest existing one,
 * each with that ancestor's permissions (owned by an unprivileged creator).
 */
static int create_node(struct request *req, const char *path,
		       const char *value, uint32_t value_len)
{
	const struct accessor *who = &req->conn->who;
	const struct node *ancestor;
	struct perm_list perms;
	struct node *node = NULL;
	char *base, *cursor;
	unsigned int missing;
	int err;

	base = access_nearest_existing(req, path, &ancestor);
	if (!base)
		return ENOMEM;
	if (!ancestor)
		return ENOENT;	/* no root: the store is broken */
	if (!(access_granted(req->conn->server, who, &ancestor->perms,
			     ancestor->generation) & PERM_WRITE))
		return EACCES;
	if (!perms_copy(req->ctx, &ancestor->perms, &perms))
		return ENOMEM;
	if (!who->privileged)
		perms.entries[0].domid = who->domid;

	missing = path_depth(path) - path_depth(base);
	if (!who->privileged && quota_of(req)->nodes &&
	    (long)domain_node_count(req->conn->server, who->domid) +
	    view_owned_delta(req->view, who->domid) + (long)missing >
	    (long)quota_of(req)->nodes)
		return ENOSPC;

	/* Walk down from the ancestor, creating one component at a time. */
	cursor = talloc_strdup(req->ctx, path);
	if (!cursor)
		return ENOMEM;
	for (size_t len = strcmp(base, "/") == 0 ? 0 : strlen(base);
	     len < strlen(path);) {
		const char *end = strchr(path + len + 1, '/');
		size_t next = end ? (size_t)(end - path) : strlen(path);
		char *parent, *name;
		struct node *parent_node;

		memcpy(cursor, path, next);
		cursor[next] = '\0';
		parent = parent_path(req->ctx, cursor);
		name = talloc_strdup(req->ctx, path_basename(cursor));
		if (!parent || !name)
			return ENOMEM;
		parent_node = view_edit(req->view, parent);
		node = view_create(req->view, cursor, &perms);
		if (!parent_node || !node || !node_add_child(parent_node, name))
			return ENOMEM;
		err = check_node_size(req, parent_node);
		if (err)
			return err;
		len = next;
	}
	/* Nothing was missing after all: the first look failed (memory). */
	if (!node)
		return ENOMEM;
	if (value && !node_set_value(node, value, value_len))
		return ENOMEM;
	err = check_node_size(req, node);
	if (err)
		return err;
	if (!view_note_change(req->view, path, CHANGE_NODE, NULL))
		return ENOMEM;
	return reply_string(req, "OK");
}

int node_op_write(struct request *req)
{
	const char *nul = memchr(req->payload, '\0', req->hdr.len);
	const char *value;
	uint32_t value_len;
	const struct node *node;
	struct node *edited;
	char *path;
	bool relative;
	int err;

	if (!nul)
		return EINVAL;
	value = nul + 1;
	value_len = req->hdr.len - (uint32_t)(value - req->payload);
	err = node_path_argument(req, req->payload, false, &path, &relative);
	if (err)
		return err;
	node = access_get_node(req, path, PERM_WRITE, &err);
	if (!node)
		return err == ENOENT ? create_node(req, path, value, value_len)
				     : err;
	edited = view_edit(req->view, path);
	if (!edited || !node_set_value(edited, value, value_len))
		return ENOMEM;
	err = check_node_size(req, edited);
	if (err)
		return err;
	if (!view_note_change(req->view, path, CHANGE_NODE, &edited->perms))
		return ENOMEM;
	return reply_string(req, "OK");
}

int node_op_mkdir(struct request *req)
{
	const struct node *node;
	char *path;
	int err = single_path(req, &path);

	if (err)
		return err;
	node = access_get_node(req, path, PERM_WRITE, &err);
	if (node)
		return reply_string(req, "OK");
	return err == ENOENT ? create_node(req, path, NULL, 0) : err;
}

/*
 * Remove @path and everything below it, and unlink it from @parent_name
 * unless that is gone.  The walk keeps an explicit list instead of
 * recursing, so a deep tree cannot exhaust the stack.
 */
static int remove_subtree(struct request *req, const char *path,
			  const struct node *top, const char *parent_name)
{
	char **queue;
	size_t count = 1, size = 16, i;
	struct node *parent = NULL;

	/*
	 * A transaction can hold a node whose parent someone else removed
	 * since it looked: then there is no parent to unlink it from.  Its
	 * commit is bound to fail with EAGAIN (the replay will not answer
	 * the same), so the client retries, as it would not after an error.
	 */
	if (view_get(req->view, parent_name)) {
		parent = view_edit(req->view, parent_name);
		if (!parent)
			return ENOMEM;
	}

	queue = talloc_array(req->ctx, char *, size);
	if (!queue)
		return ENOMEM;
	queue[0] = talloc_strdup(queue, path);
	if (!queue[0])
		return ENOMEM;
	for (i = 0; i < count; i++) {
		const struct node *node = i ? view_get(req->view, queue[i])
					    : top;
		const char *child;

		if (!node)
			continue;
		if (!node_load_children(node))
			return ENOMEM;
		if (!view_note_change(req->view, queue[i],
				      i ? CHANGE_REMOVED_BELOW : CHANGE_NODE,
				      &node->perms))
			return ENOMEM;
		for (child = node_first_child(node); child;
		     child = node_next_child(node, child)) {
			if (count == size) {
				size *= 2;
				queue = talloc_realloc(req->ctx, queue, char *,
						       size);
				if (!queue)
					return ENOMEM;
			}
			queue[count] = talloc_asprintf(queue, "%s/%s",
						       queue[i], child);
			if (!queue[count++])
				return ENOMEM;
		}
	}
	for (i = count; i-- > 0;)
		if (!view_delete(req->view, queue[i]))
			return ENOMEM;
	if (parent && !node_remove_child(parent, path_basename(path)))
		return ENOMEM;
	talloc_free(queue);
	return 0;
}

int node_op_rm(struct request *req)
{
	const struct node *node;
	char *path, *parent;
	int err = single_path(req, &path);

	if (err)
		return err;
	if (strcmp(path, "/") == 0)
		return EINVAL;
	node = access_get_node(req, path, PERM_WRITE, &err);
	if (!node) {
		if (err != ENOENT)
			return err;
		/* Already gone is fine, as long as its parent is there. */
		parent = parent_path(req->ctx, path);
		if (!parent)
			return ENOMEM;
		if (!view_get(req->view, parent))
			return ENOENT;
		/* Whatever the store gets below it meanwhile is gone for this
		 * request (and, in a transaction, for the rest of it). */
		if (!view_delete(req->view, path))
			return ENOMEM;
		return reply_string(req, "OK");
	}
	parent = parent_path(req->ctx, path);
	if (!parent)
		return ENOMEM;
	err = remove_subtree(req, path, node, parent);
	return err ? err : reply_string(req, "OK");
}

int node_op_directory(struct request *req)
{
	int err;
	const struct node *node = readable_node(req, &err);

	if (!node)
		return err;
	if (node->children_len > XENSTORE_PAYLOAD_MAX)
		return E2BIG;
	if (!node_load_children(node))
		return ENOMEM;
	return reply_data(req, node->children, node->children_len);
}

int node_op_directory_part(struct request *req)
{
	const char *argv[3];
	const struct node *node;
	char generation[24];
	size_t gen_len, offset, len = 0;
	char *path, *reply;
	bool relative;
	int err;

	if (request_strings(req, argv, 3) != 2)
		return EINVAL;
	err = node_path_argument(req, argv[0], false, &path, &relative);
	if (err)
		return err;
	node = access_get_node(req, path, PERM_READ, &err);
	if (!node)
		return err;
	if (!node_load_children(node))
		return ENOMEM;
	offset = (size_t)strtoul(argv[1], NULL, 10);
	gen_len = (size_t)snprintf(generation, sizeof(generation), "%" PRIu64,
				   node->generation) + 1;
	/* Past the end: an empty list, just the end marker. */
	if (offset > node->children_len)
		offset = node->children_len;
	/* Whole names only, leaving room for the end-of-list marker. */
	while (offset + len < node->children_len) {
		size_t name_len = strlen(node->children + offset + len) + 1;

		if (gen_len + len + name_len > XENSTORE_PAYLOAD_MAX - 1)
			break;
		len += name_len;
	}
	reply = talloc_size(req->ctx, gen_len + len + 1);
	if (!reply)
		return ENOMEM;
	memcpy(reply, generation, gen_len);
	if (len)
		memcpy(reply + gen_len, node->children + offset, len);
	if (offset + len == node->children_len)
		reply[gen_len + len++] = '\0';
	return reply_data(req, reply, (uint32_t)(gen_len + len));
}

static int reply_perms(struct request *req, const struct perm_list *perms)
{
	size_t len = perms_format(perms, NULL, 0);
	char *buf = talloc_size(req->ctx, len ? len : 1);

	if (!buf)
		return ENOMEM;
	perms_format(perms, buf, len);
	return reply_data(req, buf, (uint32_t)len);
}

int node_op_get_perms(struct request *req)
{
	const char *arg = request_single_string(req);
	const struct node *node;
	struct perm_list *special;
	char *path;
	bool relative;
	int err;

	if (!arg)
		return EINVAL;
	err = node_path_argument(req, arg, true, &path, &relative);
	if (err)
		return err;
	if (path[0] == '@') {
		/* Not in the store: answered alike in a transaction or not. */
		req->outside_transaction = true;
		special = watch_special_perms(req->conn->server, path);
		return special ? reply_perms(req, special) : EINVAL;
	}
	node = access_get_node(req, path, PERM_READ, &err);
	if (!node)
		return err;
	return reply_perms(req, &node->perms);
}

static int set_special_perms(struct request *req, struct perm_list *target,
			     const struct perm_list *perms)
{
	if (!access_is_owner(&req->conn->who, target))
		return EACCES;
	if (!watch_set_special_perms(req->conn->server, target, perms))
		return ENOMEM;
	return reply_string(req, "OK");
}

/*
 * The checks come in Xen 4.17's order, so a request wrong in several ways
 * gets its error: the entries' count, their quota, their syntax, an owner
 * that is not a domain, then the path and the caller's rights.
 */
int node_op_set_perms(struct request *req)
{
	const struct accessor *who = &req->conn->who;
	const char *nul = memchr(req->payload, '\0', req->hdr.len);
	struct perm_list perms, *special;
	const struct node *node;
	struct node *edited;
	unsigned int count = 0;
	uint32_t i;
	char *path;
	bool relative;
	int err;

	/*
	 * path\0 then one or more NUL-terminated permission entries; like
	 * Xen, bytes after the last NUL are ignored.
	 */
	if (!nul)
		return EINVAL;
	for (i = (uint32_t)(nul - req->payload) + 1; i < req->hdr.len; i++)
		if (req->payload[i] == '\0')
			count++;
	if (count == 0)
		return EINVAL;
	if (!who->privileged &&
	    quota_exceeded(quota_of(req)->permissions, count))
		return ENOSPC;
	if (!perms_parse(req->ctx, nul + 1, count, &perms))
		return errno == ENOMEM ? ENOMEM : EINVAL;
	if (!domain_exists(req->conn->server, perms.entries[0].domid))
		return ENOENT;
	if (req->payload[0] == '@') {
		/* Not in the store: changed at once, in a transaction too. */
		req->outside_transaction = true;
		special = watch_special_perms(req->conn->server, req->payload);
		return special ? set_special_perms(req, special, &perms)
			       : ENOENT;
	}
	err = node_path_argument(req, req->payload, false, &path, &relative);
	if (err)
		return err;
	node = access_get_node(req, path, PERM_WRITE, &err);
	if (!node)
		return err;
	if (!access_is_owner(who, &node->perms))
		return EACCES;
	if (!who->privileged &&
	    perms.entries[0].domid != node->perms.entries[0].domid)
		return EPERM;
	for (i = 0; i < perms.count; i++)
		if (!domain_note_named(req->conn->server,
				       perms.entries[i].domid))
			return ENOMEM;
	edited = view_edit(req->view, path);
	if (!edited)
		return ENOMEM;
	if (!view_note_change(req->view, path, CHANGE_NODE, &edited->perms) ||
	    !node_set_perms(edited, &perms))
		return ENOMEM;
	err = check_node_size(req, edited);
	return err ? err : reply_string(req, "OK");
}
