#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>
#include <tdb.h>

#include "store/store.h"

/*
 * A bootstorm puts one to two million nodes in the store; a large hash
 * keeps TDB's chains short.  The cost is a few MiB of bucket array.
 */
#define STORE_HASH_SIZE 262139

struct store {
	struct tdb_context *tdb;
	uint64_t generation;
	unsigned long nodes;
};

static int store_destroy(struct store *store)
{
	if (store->tdb)
		tdb_close(store->tdb);
	return 0;
}

struct store *store_open(void *ctx, const char *file)
{
	struct store *store = talloc_zero(ctx, struct store);
	int tdb_flags = TDB_NOLOCK | TDB_NOSYNC | TDB_INCOMPATIBLE_HASH;

	if (!store) {
		errno = ENOMEM;
		return NULL;
	}
	if (!file)
		tdb_flags |= TDB_INTERNAL;
	store->tdb = tdb_open(file ? file : "xenstored-internal",
			      STORE_HASH_SIZE, tdb_flags,
			      O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (!store->tdb) {
		int saved = errno ? errno : EIO;

		talloc_free(store);
		errno = saved;
		return NULL;
	}
	talloc_set_destructor(store, store_destroy);
	return store;
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

struct node *store_fetch(struct store *store, void *ctx, const char *path)
{
	struct decode_request req = { .ctx = ctx };

	/* tdb_parse_record decodes in place: no intermediate malloc'd copy. */
	if (tdb_parse_record(store->tdb, path_key(path), decode_record,
			     &req) != 0) {
		errno = ENOENT;
		return NULL;
	}
	if (!req.node)
		errno = req.err;
	return req.node;
}

bool store_exists(struct store *store, const char *path)
{
	return tdb_exists(store->tdb, path_key(path)) != 0;
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

/* The record of @node in parts, without copying it into one buffer (a
 * directory of 10,000 domains is 60-370 KB); 0 if it needs too many. */
static int record_parts(const struct node *node, unsigned char *header,
			size_t padding, TDB_DATA *parts)
{
	int n = 0;

	node_encode_header(node, header, (uint32_t)padding);
	parts[n++] = (TDB_DATA){ header, NODE_RECORD_HEADER_SIZE };
	parts[n++] = (TDB_DATA){ (unsigned char *)node->perms.entries,
				 node->perms.count * sizeof(struct node_perm) };
	parts[n++] = (TDB_DATA){ (unsigned char *)node->value,
				 node->value_len };
	parts[n++] = (TDB_DATA){ (unsigned char *)node->children,
				 node->children_len };
	while (padding) {
		size_t len = padding < sizeof(zeros) ? padding : sizeof(zeros);

		if (n == STORE_MAX_PARTS)
			return 0;
		parts[n++] = (TDB_DATA){ (unsigned char *)zeros, len };
		padding -= len;
	}
	return n;
}

int store_put(struct store *store, const char *path, const struct node *node)
{
	size_t size = node_record_size(node), stored = stored_size(size);
	unsigned char header[NODE_RECORD_HEADER_SIZE];
	TDB_DATA parts[STORE_MAX_PARTS];
	int count = record_parts(node, header, stored - size, parts);
	bool existed = tdb_exists(store->tdb, path_key(path));
	int ret = 0;

	if (count) {
		if (tdb_storev(store->tdb, path_key(path), parts, count,
			       TDB_REPLACE) != 0)
			ret = ENOMEM;
	} else {
		/* Padding past STORE_MAX_PARTS * 8 KiB: a record of 4 MiB
		 * and more, written from one buffer. */
		TDB_DATA data = { malloc(stored), stored };

		if (!data.dptr)
			return ENOMEM;
		node_encode(node, data.dptr, (uint32_t)(stored - size));
		if (tdb_store(store->tdb, path_key(path), data,
			      TDB_REPLACE) != 0)
			ret = ENOMEM;
		free(data.dptr);
	}
	if (!ret && !existed)
		store->nodes++;
	return ret;
}

int store_delete(struct store *store, const char *path)
{
	if (tdb_delete(store->tdb, path_key(path)) != 0)
		return ENOENT;
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
	return tdb_freelist_size(store->tdb);
}

struct traverse_request {
	int (*fn)(const char *path, const struct node *node, void *arg);
	void *arg;
	int result;
};

static int traverse_record(struct tdb_context *tdb, TDB_DATA key,
			   TDB_DATA data, void *private_data)
{
	struct traverse_request *req = private_data;
	void *tmp = talloc_new(NULL);
	char *path = tmp ? talloc_strndup(tmp, (const char *)key.dptr,
					  key.dsize) : NULL;
	struct node *node = path ? node_decode(tmp, data.dptr, data.dsize)
				 : NULL;

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
	struct traverse_request req = { .fn = fn, .arg = arg };

	/* A walk TDB could not finish is an error even if no visit was. */
	if (tdb_traverse(store->tdb, traverse_record, &req) < 0 && !req.result)
		return EIO;
	return req.result;
}
