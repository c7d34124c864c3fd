/*
 * Transactions: an isolated view of the store plus the log of every
 * request made in it that read or changed nodes, with what it answered.
 *
 * Commit replays the log, in order, on a fresh buffered view of the store
 * as it is now, by the same code that runs plain requests.  If every
 * request answers exactly what it answered inside the transaction, a
 * serial run at commit time would have given the transaction the same
 * replies: the buffered view is then applied at once.  Otherwise the
 * commit fails with EAGAIN.  So conflicts are judged on what the
 * transaction saw, at the grain it saw it: two transactions that add
 * different children to one parent both commit unless one listed it, a
 * blind write commits, a read-only transaction commits unless what it
 * read changed.
 */
#ifndef TRANSACTIONS_TRANSACTION_H
#define TRANSACTIONS_TRANSACTION_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "transactions/view.h"

struct logged_request {
	struct logged_request *next;
	uint32_t type;
	uint32_t len;
	char *payload;
	int result;		/* 0 or the errno value it was answered with */
	uint32_t reply_len;	/* the reply, as a digest: */
	uint64_t reply_digest;	/* see transaction_reply_digest() */
};

struct transaction {
	uint32_t id;
	struct view *view;
	struct logged_request *log, **log_tail;
	unsigned int logged;
	/* Bytes its view and log held when last measured. */
	size_t bytes;
	/* Something failed half-way inside: the commit must change nothing. */
	bool failed;
	/* A quota refused it a request: every later request is refused
	 * before it runs, so that the transaction grows no further. */
	bool over_quota;
};

struct transaction *transaction_new(void *ctx, struct store *store,
				    uint32_t id);

/*
 * Measure what @tx holds now (its view's copies of nodes, their paths, and
 * its log), keep it in tx->bytes and return it.  It walks the
 * transaction's allocations: a request in a transaction of n touched nodes
 * pays O(n) for it, bounded by the transaction-nodes quota.
 */
size_t transaction_measure(struct transaction *tx);

/* A 64-bit digest of a reply (FNV-1a): what the replay must reproduce. */
uint64_t transaction_reply_digest(const void *reply, uint32_t len);

/* Remember a request, its result and its reply for the replay at commit. */
bool transaction_log(struct transaction *tx, uint32_t type,
		     const char *payload, uint32_t len, int result,
		     const void *reply, uint32_t reply_len);

/* The same with the reply already a digest (a restored transaction). */
bool transaction_log_answer(struct transaction *tx, uint32_t type,
			    const char *payload, uint32_t len, int result,
			    uint32_t reply_len, uint64_t reply_digest);

/*
 * Runs one logged request on @view; returns 0 or an errno value and, on
 * success, the reply's length and digest.
 */
typedef int (*transaction_replay_fn)(void *arg, struct view *view,
				     const struct logged_request *req,
				     uint32_t *reply_len,
				     uint64_t *reply_digest);

/*
 * Replay @tx onto @commit_view (a fresh buffered view).  Returns 0 when
 * @commit_view holds the transaction's effect, ready to apply; EAGAIN when
 * a serial run now would answer differently; ENOMEM when the transaction
 * had failed; or the resource error (ENOSPC, E2BIG, ENOMEM) a replayed
 * request hit that it did not hit inside (a quota reached meanwhile).
 */
int transaction_commit(struct transaction *tx, struct view *commit_view,
		       transaction_replay_fn replay, void *arg);

#endif
