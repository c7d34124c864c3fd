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
	talloc_set_name_const(tx, "transaction");
	tx->id = id;
	tx->log_tail = &tx->log;
	tx->view = view_new(tx, store, true);
	if (!tx->view) {
		talloc_free(tx);
		return NULL;
	}
	return tx;
}

size_t transaction_measure(struct transaction *tx)
{
	tx->bytes = talloc_total_size(tx);
	return tx->bytes;
}

uint64_t transaction_reply_digest(const void *reply, uint32_t len)
{
	const unsigned char *p = reply;
	uint64_t hash = 0xcbf29ce484222325ULL;
	uint32_t i;

	for (i = 0; i < len; i++) {
		hash ^= p[i];
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

bool transaction_log(struct transaction *tx, uint32_t type,
		     const char *payload, uint32_t len, int result,
		     const void *reply, uint32_t reply_len)
{
	return transaction_log_answer(tx, type, payload, len, result,
				      result ? 0 : reply_len,
				      result ? 0 :
				      transaction_reply_digest(reply, reply_len));
}

bool transaction_log_answer(struct transaction *tx, uint32_t type,
			    const char *payload, uint32_t len, int result,
			    uint32_t reply_len, uint64_t reply_digest)
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
	req->reply_len = reply_len;
	req->reply_digest = reply_digest;
	*tx->log_tail = req;
	tx->log_tail = &req->next;
	tx->logged++;
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
	for (req = tx->log; req; req = req->next) {
		uint32_t reply_len = 0;
		uint64_t digest = 0;
		int result = replay(arg, commit_view, req, &reply_len, &digest);

		if (result != req->result)
			return is_resource_error(result) ? result : EAGAIN;
		if (!result && (reply_len != req->reply_len ||
				digest != req->reply_digest))
			return EAGAIN;
	}
	return 0;
}
