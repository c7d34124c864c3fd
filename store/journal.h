/*
 * The store's redo journal, for crash survival: every change to the TDB's
 * records is noted, and each batch of changes (one request's) is handed
 * whole to a sink that appends it to a file.  A daemon started again after
 * a kill replays the file into a fresh in-memory TDB: the store as it was
 * after the last batch handed over.  The journal does no IO itself; the
 * sink (daemon/posix_journal.c) does.
 *
 * File format, host byte order (the file is private to one host's daemon):
 * a sequence of batches, each
 *     u32 JOURNAL_MAGIC, u32 payload length, u32 tdb_jenkins_hash of the
 *     payload, u32 0
 *     payload: operations, each u32 key length, u32 data length
 *              (JOURNAL_DELETE: the record goes), key, data
 * A batch cut short by the kill, or damaged, ends the replay: it and
 * anything after it are ignored.
 */
#ifndef STORE_JOURNAL_H
#define STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store/kv.h"

#define JOURNAL_MAGIC 0x314a5358u	/* "XSJ1" */
#define JOURNAL_DELETE UINT32_MAX

/* Where batches go (all three calls return false on an IO error). */
struct journal_sink {
	/* Append one whole batch to the file. */
	bool (*append)(void *arg, const void *buf, size_t len);
	/* Start a new file that will replace the current one: the appends
	 * until rewrite_end go to it, and rewrite_end puts it in place. */
	bool (*rewrite_begin)(void *arg);
	bool (*rewrite_end)(void *arg);
	/* The file can no longer be kept right (@why): remove it, so that a
	 * restart starts afresh rather than from stale state, and say so.
	 * The store goes on in memory. */
	void (*abandon)(void *arg, const char *why);
	void *arg;
};

struct journal;

struct journal *journal_new(void *ctx, const struct journal_sink *sink);

/* Apply the complete batches of @buf to @kv; how many bytes they were. */
size_t journal_replay(struct kv *kv, const void *buf, size_t len);

/*
 * Write a record in @kv (kv_storev), or delete one, and note it in
 * @journal (NULL: not journaled).  Same returns as kv_storev, kv_delete.
 */
int journal_storev(struct journal *journal, struct kv *kv,
		   TDB_DATA key, const TDB_DATA *parts, int count);
int journal_delete(struct journal *journal, struct kv *kv,
		   TDB_DATA key);

/*
 * Batches: the changes between begin and end are handed over together
 * (nested calls join the outer one; changes outside any batch are handed
 * over one by one).
 */
void journal_begin(struct journal *journal);
void journal_end(struct journal *journal, struct kv *kv);

/* Write every record of @kv afresh into a new file (compaction). */
bool journal_rewrite(struct journal *journal, struct kv *kv);

/* Bytes handed over since the file was last written afresh. */
uint64_t journal_bytes(const struct journal *journal);

#endif
