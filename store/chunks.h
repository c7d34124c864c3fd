/*
 * The children of a big directory, kept outside its node record.
 *
 * A directory that gains a child per VM (/vm, /local/domain, the backend
 * directories) would otherwise be one record, read and rewritten whole at
 * every change: /vm is 370 KB at 10,000 VMs, and TDB walks its free list
 * to place each version that outgrows its slot.  Past CHUNKED_FROM bytes
 * of names, a directory's names are split, in order, over chunk records
 * of at most CHUNK_MAX bytes of names each (one name can be longer), and
 * its node record lists the chunks' ids in order (store/node.h).  Adding
 * a child rewrites the last chunk and the node record; removing one
 * rewrites the chunk it was in.  The answers do not change: DIRECTORY
 * and DIRECTORY_PART read the same list in the same order.
 *
 * Chunk record: key = the directory's path, a NUL (never in a path), the
 * chunk's u32 id in host byte order; data = u32 bytes of names, the names
 * (each NUL-terminated), zeros up to CHUNK_RECORD_SIZE bytes in all, so
 * that TDB rewrites it in place.
 *
 * A node read by store_fetch_lazy() (a plain request's view, where nothing
 * else changes the store between its read and its write) carries a
 * struct node_chunks: the list of chunks it was read with, and the
 * children removed and added since, in order.  store_put() applies those
 * to the chunks; a node whose children were read (node_load_children)
 * keeps its list and the changes in step.
 */
#ifndef STORE_CHUNKS_H
#define STORE_CHUNKS_H

#include <stdbool.h>
#include <stdint.h>
#include "store/kv.h"

#include "store/node.h"

struct journal;

#define CHUNK_MAX 2048
#define CHUNK_RECORD_SIZE (4 + CHUNK_MAX)
/* Chunked when a full write has more bytes of names than this ... */
#define CHUNKED_FROM 4096
/* ... and inline again when fewer than this are left. */
#define INLINE_BELOW 1024

struct chunk_removal {
	uint32_t chunk;		/* the chunk it is in */
	char *name;
};

struct node_chunks {
	struct kv *kv;			/* where the chunks are */
	struct journal *journal;	/* where their changes are noted */
	char *path;			/* the directory they belong to */
	uint32_t next_id;		/* ids are never reused in a directory */
	uint32_t count;
	uint32_t *ids;			/* in list order */
	bool loaded;			/* node->children holds the whole list */
	/* Changes since the chunks were read, in the order made. */
	struct chunk_removal *removals;
	unsigned int removal_count;
	char *added;			/* names appended, NUL-terminated */
	uint32_t added_len;
};

/* Read @node's children from its chunks, with the changes made since. */
bool chunks_load(struct node *node);

/* Note a child appended; false on allocation failure. */
bool chunks_note_added(struct node_chunks *chunks, const char *name,
		       size_t len);

enum chunk_removal_result {
	CHUNK_REMOVAL_FAILED = -1,	/* memory, or chunks missing */
	CHUNK_ABSENT,			/* no such child: nothing to do */
	CHUNK_REMOVED,			/* noted */
	CHUNK_REPEATED,			/* removed before: a duplicate name,
					 * which only the whole list can say */
};

/* Note the first child called @name removed (the caller edits the list
 * itself if it is loaded). */
enum chunk_removal_result chunks_note_removal(struct node_chunks *chunks,
					      const char *name, size_t len);

/* Apply @chunks' changes to the chunk records, after which it describes
 * them as they are; 0 or an errno value. */
int chunks_write_changes(struct node_chunks *chunks);

/*
 * Write @len bytes of names as new chunks of @path with ids from
 * *@next_id on; their ids in *@ids (on @ctx), their number in *@count.
 * 0 or an errno value.
 */
int chunks_write_all(struct kv *kv, struct journal *journal,
		     const char *path,
		     const char *names, uint32_t len, void *ctx,
		     uint32_t *next_id, uint32_t **ids, uint32_t *count);

/* Remove chunks of @path. */
void chunks_delete(struct kv *kv, struct journal *journal,
		   const char *path,
		   const uint32_t *ids, uint32_t count);

/* True if @key is a chunk record's, not a node's. */
bool chunks_is_chunk_key(TDB_DATA key);

#endif
