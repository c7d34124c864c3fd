/*
 * Transactions: an isolated view of the store plus the log of the changing
 * requests made in it.
 *
 * Commit is "validate, then replay": if everything the transaction observed
 * through its view still holds, its logged requests are run again, in
 * order, on a fresh buffered view of the current store by the same code
 * that runs plain requests.  Each must give the result it gave inside the
 * transaction; then the buffered view is applied at once.  So a commit
 * succeeds exactly when the transaction's replies are those a serial run at
 * commit time would have given, and two transactions that only add
 * different children to one parent both commit.
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
};

struct transaction {
	uint32_t id;
	struct view *view;
	struct logged_request *log, **log_tail;
	/* Something failed half-way inside: the commit must change nothing. */
	bool failed;
};

struct transaction *transaction_new(void *ctx, struct store *store,
				    uint32_t id);

/* Remember a changing request and its result for the replay at commit. */
bool transaction_log(struct transaction *tx, uint32_t type,
		     const char *payload, uint32_t len, int result);

/* Runs one logged request on @view; returns 0 or an errno value. */
typedef int (*transaction_replay_fn)(void *arg, struct view *view,
				     const struct logged_request *req);

/*
 * Check and replay @tx onto @commit_view (a fresh buffered view).  Returns 0
 * when @commit_view holds the transaction's effect, ready to apply; EAGAIN
 * when the outcome would differ from a serial run; ENOMEM when the
 * transaction had failed; or the error a replayed request hit that it did
 * not hit inside (a quota reached meanwhile).
 */
int transaction_commit(struct transaction *tx, struct view *commit_view,
		       transaction_replay_fn replay, void *arg);

#endif
