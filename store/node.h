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
	/*
	 * Child names, each NUL-terminated, in creation order.  children_len
	 * always counts them all; children is NULL while they are still in
	 * the store's chunk records (node_load_children() reads them).
	 */
	char *children;
	uint32_t children_len;
	/*
	 * A big directory as store_fetch_lazy() read it: where its children
	 * are kept and what was changed since, so that storing it writes
	 * only what changed (store/chunks.h).  NULL for any other node.
	 */
	struct node_chunks *chunks;
};

/* An empty node (no value, no children) with a copy of @perms. */
struct node *node_new(void *ctx, const struct perm_list *perms);

/* A deep copy of @node on @ctx. */
struct node *node_dup(void *ctx, const struct node *node);

/* Replace the value; false on allocation failure. */
bool node_set_value(struct node *node, const void *value, uint32_t len);

/* Replace the permissions; false on allocation failure. */
bool node_set_perms(struct node *node, const struct perm_list *perms);

/*
 * Child list edits; names are single path components.  All three read
 * the children of a lazily fetched node when they need to, and return
 * false on allocation failure (node_has_child: as if absent).
 */
bool node_has_child(const struct node *node, const char *name);
bool node_add_child(struct node *node, const char *name);
bool node_remove_child(struct node *node, const char *name);

/*
 * Make node->children hold the list (a lazily fetched node's are read
 * from the store the first time); false on allocation failure.  The
 * list is a cache of what the store holds, hence the const.
 */
bool node_load_children(const struct node *node);

/* Iterate child names: for (c = node_first_child(n); c; c = node_next_child(n, c))
 * Reads a lazy node's children first (no children if that fails: callers
 * that must not miss one call node_load_children() first). */
const char *node_first_child(const struct node *node);
const char *node_next_child(const struct node *node, const char *child);

/* Size charged against the node-size quota (value, children, permissions). */
size_t node_quota_size(const struct node *node);

/*
 * Record encoding for the database, in host byte order (the database is
 * private to one daemon):
 *
 *   header (NODE_RECORD_HEADER_SIZE bytes):
 *     u64 generation, u32 perm_count, u32 value_len,
 *     u32 children_len (bytes of names, NULs included),
 *     u32 padding | NODE_RECORD_CHUNKED
 *   perm_count permission entries (struct node_perm)
 *   value_len bytes of value
 *   inline:  children_len bytes of names
 *   chunked: u32 next_chunk_id, u32 chunk_count, u32 chunk_id[chunk_count]
 *            (the names are in chunk records, store/chunks.h)
 *   padding zero bytes, room to grow in place, that decoding skips
 *
 * node_record_size() is the inline size; it is also what per-domain
 * accounting charges, whichever way the store keeps the node.
 */
size_t node_record_size(const struct node *node);
/* An inline record of @node (its children loaded): node_record_size()
 * bytes, then @padding zeros. */
void node_encode(const struct node *node, void *record, uint32_t padding);
/* The header alone, for a vectored write of the parts above. */
#define NODE_RECORD_HEADER_SIZE 24
#define NODE_RECORD_CHUNKED 0x80000000u
void node_encode_header(const struct node *node, void *header,
			uint32_t padding, bool chunked);
/*
 * A node from its record, or NULL with errno EINVAL for a record that is
 * not one, ENOMEM.  A chunked record gives a node without its children
 * loaded and with node->chunks describing them; the store completes it.
 */
struct node *node_decode(void *ctx, const void *record, size_t len);
/* True if the record keeps its children in chunks (from its header). */
bool node_record_is_chunked(const void *record, size_t len);
/* The generation in a record's header; false if it is too short. */
bool node_record_generation(const void *record, size_t len,
			    uint64_t *generation);

#endif
