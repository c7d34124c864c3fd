#include <errno.h>
#include <string.h>
#include <talloc.h>

#include "transactions/transaction.h"

struct transaction *transaction_new(void *ctx, struct store *store,
				    uint32_t id)
{
	struct transaction *tx = talloc_zero(ctx, struct transaction);

	if (!tx)
		return NULL;
	tx->id = id;
	tx->log_tail = &tx->log;
	tx->view = view_new(tx, store, true);
	if (!tx->view) {
		talloc_free(tx);
		return NULL;
	}
	return tx;
}

bool transaction_log(struct transaction *tx, uint32_t type,
		     const char *payload, uint32_t len, int result)
{
	struct logged_request *req = talloc_zero(tx, struct logged_request);

	if (!req)
		return false;
	req->payload = talloc_memdup(req, payload, len ? len : 1);
	if (!req->payload) {
		talloc_free(req);
		return false;
	}
	req->type = type;
	req->len = len;
	req->result = result;
	*tx->log_tail = req;
	tx->log_tail = &req->next;
	return true;
}

/* Errors a replay may hit for reasons outside the transaction's view. */
static bool is_resource_error(int err)
{
	return err == ENOSPC || err == ENOMEM || err == E2BIG;
}

int transaction_commit(struct transaction *tx, struct view *commit_view,
		       transaction_replay_fn replay, void *arg)
{
	const struct logged_request *req;

	if (tx->failed)
		return ENOMEM;
	if (!view_validate(tx->view))
		return EAGAIN;
	for (req = tx->log; req; req = req->next) {
		int result = replay(arg, commit_view, req);

		if (result == req->result)
			continue;
		return is_resource_error(result) ? result : EAGAIN;
	}
	return 0;
}
