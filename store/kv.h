/*
 * Where the store's records live: an in-memory table (store/memtable.h),
 * the default, or a TDB file (--internal-db=off).  One interface for both,
 * shaped as TDB's: keys and data are TDB_DATA, records are read in place
 * by a parser callback.
 */
#ifndef STORE_KV_H
#define STORE_KV_H

#include <stdbool.h>
#include <tdb.h>

struct kv;

typedef int (*kv_parser)(TDB_DATA key, TDB_DATA data, void *arg);

/* Empty records: in memory when @file is NULL, else in @file (truncated).
 * NULL with errno set on failure. */
struct kv *kv_open(const char *file, int hash_size);
void kv_close(struct kv *kv);

/* @fn's return value on @key's record, or -1 if there is none. */
int kv_parse(struct kv *kv, TDB_DATA key, kv_parser fn, void *arg);
/* Store the concatenation of @parts at @key: 0, or -1 (memory). */
int kv_storev(struct kv *kv, TDB_DATA key, const TDB_DATA *parts, int count);
/* 0, or -1 if there was no record. */
int kv_delete(struct kv *kv, TDB_DATA key);
bool kv_exists(struct kv *kv, TDB_DATA key);
/* Visit every record until @fn returns non-zero (@fn must not change
 * the records); the number visited, or -1 if the walk failed. */
long kv_traverse(struct kv *kv, kv_parser fn, void *arg);
/* Records on TDB's free list, what its allocations walk; -1 in memory,
 * which has none. */
long kv_free_records(struct kv *kv);

#endif
