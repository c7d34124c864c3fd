/*
 * A node of the store as the core handles it, and its record encoding in
 * the database.  A node owns its strings: every pointer lies in memory
 * allocated on the node itself, so talloc_free(node) releases everything.
 */
#ifndef STORE_NODE_H
#define STORE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/perms.h"

struct node {
	/* Store-wide counter value at the last change (never reused). */
	uint64_t generation;
	struct perm_list perms;
	char *value;
	uint32_t value_len;
	/* Child names, each NUL-terminated, in creation order. */
	char *children;
	uint32_t children_len;
};

/* An empty node (no value, no children) with a copy of @perms. */
struct node *node_new(void *ctx, const struct perm_list *perms);

/* A deep copy of @node on @ctx. */
struct node *node_dup(void *ctx, const struct node *node);

/* Replace the value; false on allocation failure. */
bool node_set_value(struct node *node, const void *value, uint32_t len);

/* Replace the permissions; false on allocation failure. */
bool node_set_perms(struct node *node, const struct perm_list *perms);

/* Child list edits; names are single path components. */
bool node_has_child(const struct node *node, const char *name);
bool node_add_child(struct node *node, const char *name);
void node_remove_child(struct node *node, const char *name);

/* Iterate child names: for (c = node_first_child(n); c; c = node_next_child(n, c)) */
const char *node_first_child(const struct node *node);
const char *node_next_child(const struct node *node, const char *child);

/* Size charged against the node-size quota (value, children, permissions). */
size_t node_quota_size(const struct node *node);

/* Record encoding for the database: node_record_size() bytes, then
 * @padding zero bytes that decoding skips. */
size_t node_record_size(const struct node *node);
void node_encode(const struct node *node, void *record, uint32_t padding);
/* The same in parts, for a vectored write: a header of this size, then
 * the permission entries, the value, the children and the padding. */
#define NODE_RECORD_HEADER_SIZE 24
void node_encode_header(const struct node *node, void *header,
			uint32_t padding);
/* NULL with errno EINVAL for a record that is not one, ENOMEM. */
struct node *node_decode(void *ctx, const void *record, size_t len);

#endif
