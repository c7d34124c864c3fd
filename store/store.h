/*
 * The node database: path -> node record, in an in-memory table by default
 * or in a TDB file (store/kv.h).  It knows nothing of connections, permissions or
 * transactions; callers above decide what to read and write.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/node.h"

struct store;

/*
 * Open a fresh, empty database: in memory when @file is NULL, else in
 * @file (truncated).  Returns NULL with errno set on failure.
 */
struct store *store_open(void *ctx, const char *file);

/*
 * A store for crash survival: in memory like store_open(NULL), with every
 * change also handed to @sink (store/journal.h), a batch at a time.  @old
 * (@old_len bytes) is the file a daemon that died left: its batches are
 * replayed first (*@replayed: the bytes of the complete ones), *@restored
 * tells whether that gave any node, and the sink's file is then written
 * afresh with what was taken over.  NULL with errno set on failure.
 */
struct journal_sink;
struct store *store_open_journaled(void *ctx, const struct journal_sink *sink,
				  const void *old, size_t old_len,
				  bool *restored, size_t *replayed);

/*
 * The changes between begin and end (one request's) survive a kill all
 * or none (nested calls join the outer batch; without a journal both do
 * nothing).
 */
void store_batch_begin(struct store *store);
void store_batch_end(struct store *store);


/*
 * The node at @path, allocated on @ctx, or NULL with errno ENOENT, ENOMEM,
 * or EIO (the record does not decode).
 */
struct node *store_fetch(struct store *store, void *ctx, const char *path);

/*
 * The same, but a big directory's children are read only when needed
 * (node_load_children), and storing the node back at @path writes only
 * the children that changed.  For callers that store it back before
 * anything else changes the store (a plain request), or only look at it
 * meanwhile: the children read late are the store's at that time.
 */
struct node *store_fetch_lazy(struct store *store, void *ctx,
			      const char *path);

/* True if a node exists at @path (cheaper than a fetch). */
bool store_exists(struct store *store, const char *path);

/* Write @node at @path as it is; 0 or an errno value. */
int store_put(struct store *store, const char *path, const struct node *node);

/* Remove the record at @path (not its children); 0 or an errno value. */
int store_delete(struct store *store, const char *path);

/* A generation number never handed out before. */
uint64_t store_next_generation(struct store *store);

/* Number of records, for reports. */
unsigned long store_node_count(const struct store *store);
/* Records on the TDB file's free list (what an allocation may have to
 * walk); -1 for a store in memory, which has no free list. */
long store_free_records(struct store *store);

/*
 * Visit every record; stops early when @fn returns non-zero, and returns
 * that.  A record that does not decode is visited with @node NULL.
 * ENOMEM, or EIO if TDB could not finish the walk: then not every record
 * was visited.
 */
int store_traverse(struct store *store,
		   int (*fn)(const char *path, const struct node *node,
			     void *arg),
		   void *arg);

#endif
