#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "store/kv.h"
#include "store/memtable.h"

struct kv {
	struct memtable *mem;		/* one of the two */
	struct tdb_context *tdb;
};

struct kv *kv_open(const char *file, int hash_size)
{
	struct kv *kv = calloc(1, sizeof(*kv));

	if (!kv) {
		errno = ENOMEM;
		return NULL;
	}
	if (!file) {
		kv->mem = memtable_new();
		if (!kv->mem) {
			free(kv);
			errno = ENOMEM;
			return NULL;
		}
		return kv;
	}
	errno = 0;
	kv->tdb = tdb_open(file, hash_size,
			   TDB_NOLOCK | TDB_NOSYNC | TDB_INCOMPATIBLE_HASH,
			   O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (!kv->tdb) {
		int saved = errno ? errno : EIO;

		free(kv);
		errno = saved;
		return NULL;
	}
	return kv;
}

void kv_close(struct kv *kv)
{
	if (!kv)
		return;
	if (kv->tdb)
		tdb_close(kv->tdb);
	memtable_free(kv->mem);
	free(kv);
}

int kv_parse(struct kv *kv, TDB_DATA key, kv_parser fn, void *arg)
{
	return kv->mem ? memtable_parse(kv->mem, key, fn, arg)
		       : tdb_parse_record(kv->tdb, key, fn, arg);
}

int kv_storev(struct kv *kv, TDB_DATA key, const TDB_DATA *parts, int count)
{
	return kv->mem ? memtable_storev(kv->mem, key, parts, count)
		       : tdb_storev(kv->tdb, key, parts, count, TDB_REPLACE);
}

int kv_delete(struct kv *kv, TDB_DATA key)
{
	return kv->mem ? memtable_delete(kv->mem, key)
		       : tdb_delete(kv->tdb, key);
}

bool kv_exists(struct kv *kv, TDB_DATA key)
{
	return kv->mem ? memtable_exists(kv->mem, key)
		       : tdb_exists(kv->tdb, key) != 0;
}

struct tdb_walk {
	kv_parser fn;
	void *arg;
};

static int tdb_visit(struct tdb_context *tdb, TDB_DATA key, TDB_DATA data,
		     void *private_data)
{
	struct tdb_walk *walk = private_data;

	(void)tdb;
	return walk->fn(key, data, walk->arg);
}

long kv_traverse(struct kv *kv, kv_parser fn, void *arg)
{
	struct tdb_walk walk = { fn, arg };

	if (kv->mem)
		return memtable_traverse(kv->mem, fn, arg);
	return tdb_traverse(kv->tdb, tdb_visit, &walk);
}

long kv_free_records(struct kv *kv)
{
	return kv->mem ? -1 : tdb_freelist_size(kv->tdb);
}
