/*
 * The in-memory record table: key -> data, each record one allocation,
 * found through an open-addressing hash table that doubles as it fills.
 *
 * Why not TDB in memory (TDB_INTERNAL), as before: TDB places every new
 * or grown record by walking its free list, and the list fills with the
 * fragments left where records were taken from larger free blocks, all
 * ahead of the large free block at the end of the database.  The walk
 * grew with the store: at 10,000 VMs it was a quarter of the daemon's CPU
 * (a sixth of it at 1,000), and its hash chains, fixed in number, grew
 * too.  Here a store costs one malloc or realloc and a lookup costs about
 * one probe however many records there are.  (Xen's own C xenstored made
 * the same move from TDB to a hash table in 4.18.)
 *
 * The data are read in place (no copy), as with tdb_parse_record.
 */
#ifndef STORE_MEMTABLE_H
#define STORE_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tdb.h>		/* TDB_DATA, the store's key and data type */

struct memtable;

/* An empty table; NULL on allocation failure.  Free with memtable_free. */
struct memtable *memtable_new(void);
void memtable_free(struct memtable *table);

/* Call @fn on @key's record: its return value, or -1 if there is none. */
int memtable_parse(struct memtable *table, TDB_DATA key,
		   int (*fn)(TDB_DATA key, TDB_DATA data, void *arg),
		   void *arg);

/* Store the concatenation of @parts at @key, replacing any record there;
 * 0, or -1 on allocation failure (the old record, if any, stays). */
int memtable_storev(struct memtable *table, TDB_DATA key,
		    const TDB_DATA *parts, int count);

/* Remove @key's record: 0, or -1 if there is none. */
int memtable_delete(struct memtable *table, TDB_DATA key);

bool memtable_exists(struct memtable *table, TDB_DATA key);

/* Visit every record (in no order) until @fn returns non-zero; @fn must
 * not change the table.  Returns the number of records visited. */
long memtable_traverse(struct memtable *table,
		       int (*fn)(TDB_DATA key, TDB_DATA data, void *arg),
		       void *arg);

size_t memtable_count(const struct memtable *table);

#endif
