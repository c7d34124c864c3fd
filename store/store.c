#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "store/chunks.h"
#include "store/journal.h"
#include "store/kv.h"
#include "store/store.h"

/*
 * With --internal-db=off (a TDB file): a bootstorm puts one to two
 * million nodes in the store; a large hash keeps TDB's chains short.  The
 * cost is a few MiB of bucket array.  The in-memory table grows its own.
 */
#define STORE_HASH_SIZE 262139

struct store {
	struct kv *kv;
	uint64_t generation;
	unsigned long nodes;
	/* Crash survival: every change noted, a batch at a time. */
	struct journal *journal;
};

static int store_destroy(struct store *store)
{
	kv_close(store->kv);
	return 0;
}

static struct store *open_kv(void *ctx, const char *file)
{
	struct store *store = talloc_zero(ctx, struct store);

	if (!store) {
		errno = ENOMEM;
		return NULL;
	}
	store->kv = kv_open(file, STORE_HASH_SIZE);
	if (!store->kv) {
		int saved = errno ? errno : EIO;

		talloc_free(store);
		errno = saved;
		return NULL;
	}
	talloc_set_destructor(store, store_destroy);
	return store;
}

struct store *store_open(void *ctx, const char *file)
{
	return open_kv(ctx, file);
}

/* Node records only: chunks (a NUL in the key) and side records ('#'). */
static bool is_node_key(TDB_DATA key)
{
	return key.dsize && key.dptr[0] == '/' && !chunks_is_chunk_key(key);
}

/* What a reopened file holds: its node count and newest generation. */
static int count_record(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct store *store = private_data;
	uint64_t generation;

	if (!is_node_key(key))
		return 0;
	store->nodes++;
	if (node_record_generation(data.dptr, data.dsize, &generation) &&
	    generation > store->generation)
		store->generation = generation;
	return 0;
}

struct store *store_open_journaled(void *ctx, const struct journal_sink *sink,
				  const void *old, size_t old_len,
				  bool *restored, size_t *replayed)
{
	struct store *store = open_kv(ctx, NULL);

	if (!store)
		return NULL;
	*replayed = old_len ? journal_replay(store->kv, old, old_len) : 0;
	if (kv_traverse(store->kv, count_record, store) < 0) {
		talloc_free(store);
		errno = EIO;
		return NULL;
	}
	*restored = store->nodes != 0;
	store->journal = journal_new(store, sink);
	/* The file afresh: exactly what was taken over, any batch the kill
	 * cut short gone. */
	if (!store->journal || !journal_rewrite(store->journal, store->kv)) {
		talloc_free(store);
		errno = store->journal ? EIO : ENOMEM;
		return NULL;
	}
	return store;
}

void store_batch_begin(struct store *store)
{
	journal_begin(store->journal);
}

void store_batch_end(struct store *store)
{
	journal_end(store->journal, store->kv);
}

static TDB_DATA path_key(const char *path)
{
	TDB_DATA key = {
		.dptr = (unsigned char *)path,
		.dsize = strlen(path),
	};

	return key;
}

struct decode_request {
	void *ctx;
	struct node *node;
	int err;
};

static int decode_record(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct decode_request *req = private_data;

	req->node = node_decode(req->ctx, data.dptr, data.dsize);
	/* A record that does not decode is a broken store, not memory. */
	req->err = req->node ? 0 : errno == ENOMEM ? ENOMEM : EIO;
	return 0;
}

/* A chunked directory's node knows where its chunks are. */
static bool attach_chunks(struct store *store, struct node *node,
			  const char *path)
{
	if (!node->chunks)
		return true;
	node->chunks->kv = store->kv;
	node->chunks->journal = store->journal;
	node->chunks->path = talloc_strdup(node->chunks, path);
	if (!node->chunks->path)
		errno = ENOMEM;
	return node->chunks->path != NULL;
}

/* A node on its own: its children read, nothing tied to the store. */
static bool detach_chunks(struct node *node)
{
	if (!node->chunks)
		return true;
	if (!chunks_load(node))
		return false;
	talloc_free(node->chunks);
	node->chunks = NULL;
	return true;
}

struct node *store_fetch_lazy(struct store *store, void *ctx,
			      const char *path)
{
	struct decode_request req = { .ctx = ctx };

	/* kv_parse decodes in place: no intermediate malloc'd copy. */
	if (kv_parse(store->kv, path_key(path), decode_record,
			     &req) != 0) {
		errno = ENOENT;
		return NULL;
	}
	if (req.node && !attach_chunks(store, req.node, path)) {
		talloc_free(req.node);
		req.node = NULL;
		req.err = ENOMEM;
	}
	if (!req.node)
		errno = req.err;
	return req.node;
}

struct node *store_fetch(struct store *store, void *ctx, const char *path)
{
	struct node *node = store_fetch_lazy(store, ctx, path);

	if (node && !detach_chunks(node)) {
		int err = errno;	/* ENOMEM, or EIO: chunks missing */

		talloc_free(node);
		errno = err;
		return NULL;
	}
	return node;
}

bool store_exists(struct store *store, const char *path)
{
	return kv_exists(store->kv, path_key(path));
}

/*
 * The size to store a record of @size bytes with.  A record that outgrows
 * its slot is freed and another one found by walking TDB's free list, and
 * a bootstorm makes that list long: at 10,000 VMs the walks for the
 * directories that gain a child per VM took a quarter of the daemon's
 * time.  So records of some size are stored in size classes 1/8 apart:
 * a directory gaining or losing a child mostly stays in its class, and
 * TDB rewrites it in place.
 */
#define STORE_PADDING_FROM 512

static size_t stored_size(size_t size)
{
	size_t step;

	if (size < STORE_PADDING_FROM)
		return (size + 31) & ~(size_t)31;
	/* An eighth of the largest power of two not above @size. */
	step = (size_t)1 << (sizeof(unsigned long) * 8 - 4 -
			     (size_t)__builtin_clzl(size));
	return (size + step - 1) & ~(step - 1);
}

/* Zeros to pad records with, a part at a time. */
static const unsigned char zeros[8192];
#define STORE_MAX_PARTS 64

/*
 * The record of @node in parts, without copying it into one buffer: the
 * header, permissions, value, then @tail (the children inline, or the
 * chunk list) and the padding; 0 if it needs too many parts.
 */
static int record_parts(const struct node *node, unsigned char *header,
			size_t padding, bool chunked, TDB_DATA tail,
			TDB_DATA *parts)
{
	int n = 0;

	node_encode_header(node, header, (uint32_t)padding, chunked);
	parts[n++] = (TDB_DATA){ header, NODE_RECORD_HEADER_SIZE };
	parts[n++] = (TDB_DATA){ (unsigned char *)node->perms.entries,
				 node->perms.count * sizeof(struct node_perm) };
	parts[n++] = (TDB_DATA){ (unsigned char *)node->value,
				 node->value_len };
	parts[n++] = tail;
	while (padding) {
		size_t len = padding < sizeof(zeros) ? padding : sizeof(zeros);

		if (n == STORE_MAX_PARTS)
			return 0;
		parts[n++] = (TDB_DATA){ (unsigned char *)zeros, len };
		padding -= len;
	}
	return n;
}

/* Write the node record of @node, its children inline (loaded). */
static int put_inline(struct store *store, const char *path,
		      const struct node *node)
{
	size_t size = node_record_size(node), stored = stored_size(size);
	unsigned char header[NODE_RECORD_HEADER_SIZE];
	TDB_DATA parts[STORE_MAX_PARTS];
	TDB_DATA tail = { (unsigned char *)node->children, node->children_len };
	int count = record_parts(node, header, stored - size, false, tail,
				 parts);
	TDB_DATA data;
	int ret = 0;

	if (count)
		return journal_storev(store->journal, store->kv,
				      path_key(path), parts, count) == 0 ?
		       0 : ENOMEM;
	/* Padding past STORE_MAX_PARTS * 8 KiB: a record of 4 MiB and more,
	 * written from one buffer. */
	data = (TDB_DATA){ malloc(stored), stored };
	if (!data.dptr)
		return ENOMEM;
	node_encode(node, data.dptr, (uint32_t)(stored - size));
	if (journal_storev(store->journal, store->kv, path_key(path), &data,
			   1) != 0)
		ret = ENOMEM;
	free(data.dptr);
	return ret;
}

/* Write the node record of @node with its children in chunks @ids. */
static int put_chunked(struct store *store, const char *path,
		       const struct node *node, uint32_t next_id,
		       const uint32_t *ids, uint32_t count)
{
	size_t list_size = (2 + (size_t)count) * sizeof(uint32_t);
	size_t size = node_record_size(node) - node->children_len + list_size;
	size_t stored = stored_size(size);
	unsigned char header[NODE_RECORD_HEADER_SIZE];
	TDB_DATA parts[STORE_MAX_PARTS];
	/* On the stack up to 2 MiB of names: the chunks may be written
	 * already, and the record that lists them should not fail then. */
	uint32_t on_stack[2 + 1024];
	uint32_t *list = count <= 1024 ? on_stack : malloc(list_size);
	int n, ret;

	if (!list)
		return ENOMEM;
	list[0] = next_id;
	list[1] = count;
	if (count)
		memcpy(list + 2, ids, count * sizeof(uint32_t));
	n = record_parts(node, header, stored - size, true,
			 (TDB_DATA){ (unsigned char *)list, list_size }, parts);
	/* A chunked node's value is small enough for parts (node size
	 * quotas); one that is not is written inline, whatever its list. */
	ret = n && journal_storev(store->journal, store->kv, path_key(path),
				  parts, n) == 0 ? 0 : ENOMEM;
	if (list != on_stack)
		free(list);
	return ret;
}

/* What the store holds at a path: whether a record, and its chunks. */
struct stored_layout {
	bool exists;
	bool chunked;
	uint32_t next_id;
	uint32_t count;
	uint32_t *ids;
};

static int read_layout_header(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct stored_layout *layout = private_data;
	struct node *node;

	(void)key;
	layout->exists = true;
	if (!node_record_is_chunked(data.dptr, data.dsize))
		return 0;
	node = node_decode(NULL, data.dptr, data.dsize);
	if (node && node->chunks) {
		layout->chunked = true;
		layout->next_id = node->chunks->next_id;
		layout->count = node->chunks->count;
		layout->ids = talloc_steal(NULL, node->chunks->ids);
	}
	talloc_free(node);
	return 0;
}

/* Only a chunked record is decoded: an inline one is skipped by its
 * header's flag, without copying its children. */
static void read_layout(struct store *store, const char *path,
			struct stored_layout *layout)
{
	memset(layout, 0, sizeof(*layout));
	kv_parse(store->kv, path_key(path), read_layout_header,
			 layout);
}

static bool same_chunks(const struct stored_layout *layout,
			const struct node_chunks *chunks)
{
	return layout->chunked && layout->count == chunks->count &&
	       (!chunks->count ||
		memcmp(layout->ids, chunks->ids,
		       chunks->count * sizeof(uint32_t)) == 0);
}

/* @node's chunks, written with only what changed since it was read. */
static int put_changes(struct store *store, const char *path,
		       struct node *node)
{
	struct node_chunks *chunks = node->chunks;
	int err = chunks_write_changes(chunks);

	if (err)
		return err;
	return put_chunked(store, path, node, chunks->next_id, chunks->ids,
			   chunks->count);
}

/* @node with all its children, in chunks from @layout's next id on. */
static int put_all_chunked(struct store *store, const char *path,
			   struct node *node,
			   const struct stored_layout *layout)
{
	uint32_t next_id = layout->chunked ? layout->next_id : 0;
	uint32_t *ids = NULL, count = 0;
	int err = chunks_write_all(store->kv, store->journal, path, node->children,
				   node->children_len, NULL, &next_id, &ids,
				   &count);

	if (!err)
		err = put_chunked(store, path, node, next_id, ids, count);
	if (err) {
		chunks_delete(store->kv, store->journal, path, ids, count);
		talloc_free(ids);
		return err;
	}
	if (node->chunks && node->chunks->kv == store->kv &&
	    strcmp(node->chunks->path, path) == 0) {
		/* Stored afresh: the node describes the new chunks. */
		struct node_chunks *chunks = node->chunks;

		talloc_free(chunks->ids);
		chunks->ids = talloc_steal(chunks, ids);
		chunks->count = count;
		chunks->next_id = next_id;
		talloc_free(chunks->removals);
		chunks->removals = NULL;
		chunks->removal_count = 0;
		chunks->added_len = 0;
	} else {
		talloc_free(ids);
	}
	return 0;
}

int store_put(struct store *store, const char *path, const struct node *node)
{
	struct node *n = (struct node *)node;	/* its list may be read */
	struct stored_layout layout;
	bool old_chunks_stay = false;
	int err;

	read_layout(store, path, &layout);
	if (n->chunks && n->chunks->kv == store->kv &&
	    strcmp(n->chunks->path, path) == 0 && same_chunks(&layout, n->chunks) &&
	    n->children_len >= INLINE_BELOW) {
		/* As read, plus what changed: write only that. */
		err = put_changes(store, path, n);
		old_chunks_stay = true;
	} else if (!node_load_children(n)) {
		err = ENOMEM;
	} else if (n->children_len > CHUNKED_FROM ||
		   (layout.chunked && n->children_len >= INLINE_BELOW)) {
		err = put_all_chunked(store, path, n, &layout);
	} else {
		err = put_inline(store, path, n);
		if (!err && n->chunks && n->chunks->kv == store->kv &&
		    strcmp(n->chunks->path, path) == 0) {
			/* Inline now: nothing left to change in chunks. */
			talloc_free(n->chunks);
			n->chunks = NULL;
		}
	}
	if (!err && layout.chunked && !old_chunks_stay)
		chunks_delete(store->kv, store->journal, path, layout.ids, layout.count);
	talloc_free(layout.ids);
	if (!err && !layout.exists)
		store->nodes++;
	return err;
}

int store_delete(struct store *store, const char *path)
{
	struct stored_layout layout;

	read_layout(store, path, &layout);
	if (journal_delete(store->journal, store->kv, path_key(path)) != 0) {
		talloc_free(layout.ids);
		return ENOENT;
	}
	if (layout.chunked)
		chunks_delete(store->kv, store->journal, path, layout.ids, layout.count);
	talloc_free(layout.ids);
	store->nodes--;
	return 0;
}

uint64_t store_next_generation(struct store *store)
{
	return ++store->generation;
}

unsigned long store_node_count(const struct store *store)
{
	return store->nodes;
}

long store_free_records(struct store *store)
{
	return kv_free_records(store->kv);
}

struct traverse_request {
	struct store *store;
	int (*fn)(const char *path, const struct node *node, void *arg);
	void *arg;
	int result;
};

static int traverse_record(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct traverse_request *req = private_data;
	void *tmp;
	char *path;
	struct node *node;

	if (!is_node_key(key))
		return 0;	/* chunks: read with their directory's node */
	tmp = talloc_new(NULL);
	path = tmp ? talloc_strndup(tmp, (const char *)key.dptr, key.dsize)
		   : NULL;
	node = path ? node_decode(tmp, data.dptr, data.dsize) : NULL;
	/* A directory whose chunks do not read is as broken as a record
	 * that does not decode. */
	if (node && (!attach_chunks(req->store, node, path) ||
		     !detach_chunks(node)))
		node = NULL;
	if (!path || (!node && errno == ENOMEM))
		req->result = ENOMEM;
	else
		req->result = req->fn(path, node, req->arg);
	talloc_free(tmp);
	return req->result != 0;
}

int store_traverse(struct store *store,
		   int (*fn)(const char *path, const struct node *node,
			     void *arg),
		   void *arg)
{
	struct traverse_request req = { .store = store, .fn = fn, .arg = arg };

	/* A walk TDB could not finish is an error even if no visit was. */
	if (kv_traverse(store->kv, traverse_record, &req) < 0 && !req.result)
		return EIO;
	return req.result;
}
