/*
 * CONTROL live-update: the sub-commands Xen's xenstore-control sends, with
 * Xen 4.17's answers.
 *
 *   -f FILE         the new binary (a daemon)            "OK"
 *   -b SIZE, -d N DATA   the new binary sent in chunks    "OK"
 *   -c CMDLINE      its command line (default: ours)     "OK"
 *   -s [-t S] [-F]  start: once no transaction is open (or, with -F,
 *                   after S seconds whatever is open), save the state
 *                   and exec the new binary, which answers "OK"
 *   -a              abort the session                    "OK"
 *
 * Anything else is an error message as the reply, as C's.  One session at
 * a time, owned by the connection that opened it.  While transactions are
 * open, -s is answered later, as C answers it: once they are closed; or
 * after the timeout, with the reason (or, with -F, by updating anyway).
 * The state is saved from the loop (server_live_update_run), never in the
 * middle of a read, so that every connection's unhandled input is where
 * the saver looks for it.
 *
 * Open transactions survive the update (state.h's transaction log
 * record), so forcing one with -F loses nothing here; without -F we still
 * wait for quiescence as the C daemon does, which keeps the stream
 * readable by it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "daemon/internal.h"
#include "daemon/log.h"
#include "daemon/state_internal.h"

/* Xen's xenstore-control default. */
#define DEFAULT_TIMEOUT 60

struct live_update {
	struct server *server;
	struct connection *conn;	/* whose session */
	char *binary;			/* -f */
	char *blob;			/* -b/-d */
	size_t blob_size, blob_used;
	char *cmdline;			/* -c */
	bool started;
	bool force;
	unsigned int timeout;
	uint64_t started_at;
	/* The -s waiting for server_live_update_run(). */
	bool pending;
	uint32_t req_id, tx_id;
};

static void end_session(struct server *server)
{
	talloc_free(server->live_update);
	server->live_update = NULL;
}

void live_update_forget(struct connection *conn)
{
	struct live_update *lu = conn->server->live_update;

	if (lu && lu->conn == conn) {
		xs_log(LEVEL_INFO, "live-update: session ended with its "
		       "connection");
		end_session(conn->server);
	}
}

static struct live_update *begin(struct request *req, const char **err)
{
	struct server *server = req->conn->server;
	struct live_update *lu;

	if (server->live_update) {
		*err = "live-update session already active.";
		return NULL;
	}
	lu = talloc_zero(server, struct live_update);
	if (!lu) {
		*err = "Allocation failure.";
		return NULL;
	}
	lu->server = server;
	lu->conn = req->conn;
	server->live_update = lu;
	return lu;
}

static struct live_update *session_of(struct request *req)
{
	struct live_update *lu = req->conn->server->live_update;

	return lu && lu->conn == req->conn ? lu : NULL;
}

static const char *lu_binary(struct request *req, const char *file)
{
	const struct server_hooks *hooks = &req->conn->server->config.hooks;
	struct live_update *lu;
	const char *err = NULL;

	xs_log(LEVEL_INFO, "live-update: binary %s", file);
	if (!hooks->live_update_exec)
		return "Live update is not available in this daemon.";
	if (hooks->is_executable && !hooks->is_executable(file))
		return "File not executable.";
	lu = begin(req, &err);
	if (!lu)
		return err;
	lu->binary = talloc_strdup(lu, file);
	if (!lu->binary) {
		end_session(req->conn->server);
		return "Allocation failure.";
	}
	return NULL;
}

static bool parse_size(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !*end && !errno && *out <= max;
}

/* The binary itself, in chunks: -b SIZE first. */
#define BLOB_MAX (256ul << 20)

static const char *lu_blob_size(struct request *req, const char *size)
{
	struct live_update *lu;
	const char *err = NULL;
	unsigned long n;

	if (!req->conn->server->config.hooks.live_update_exec)
		return "Live update is not available in this daemon.";
	if (!parse_size(size, BLOB_MAX, &n) || n == 0)
		return "Invalid binary size.";
	xs_log(LEVEL_INFO, "live-update: binary size %lu", n);
	lu = begin(req, &err);
	if (!lu)
		return err;
	lu->blob = talloc_size(lu, n);
	if (!lu->blob) {
		end_session(req->conn->server);
		return "Allocation failure.";
	}
	lu->blob_size = n;
	return NULL;
}

/* "-d", the chunk's size, then that many bytes (and a NUL). */
static const char *lu_blob_data(struct request *req, const char *args,
				size_t len)
{
	struct live_update *lu = session_of(req);
	const char *nul = memchr(args, '\0', len);
	unsigned long n;

	if (!lu || !lu->blob)
		return "Not in live-update session.";
	if (!nul || !parse_size(args, XENSTORE_PAYLOAD_MAX, &n))
		return "Invalid data size.";
	if ((size_t)(args + len - (nul + 1)) < n)
		return "Data shorter than its size.";
	if (n > lu->blob_size - lu->blob_used)
		return "Too much kernel data.";
	memcpy(lu->blob + lu->blob_used, nul + 1, n);
	lu->blob_used += n;
	return NULL;
}

static const char *lu_cmdline(struct request *req, const char *cmdline)
{
	struct live_update *lu = session_of(req);

	xs_log(LEVEL_INFO, "live-update: cmdline %s", cmdline);
	if (!lu)
		return "Not in live-update session.";
	talloc_free(lu->cmdline);
	lu->cmdline = talloc_strdup(lu, cmdline);
	return lu->cmdline ? NULL : "Allocation failure.";
}

static const char *lu_abort(struct request *req)
{
	struct server *server = req->conn->server;

	xs_log(LEVEL_INFO, "live-update: abort");
	if (!server->live_update)
		return "No live-update session active.";
	end_session(server);
	return NULL;
}

/* As C: allowed with no transaction open, or forced once all are old. */
static bool quiescent(struct live_update *lu, bool *all_old)
{
	struct server *server = lu->server;
	struct connection *conn;
	struct conn_transaction *entry;
	unsigned int total = 0, old = 0;

	TAILQ_FOREACH(conn, &server->connections, link) {
		LIST_FOREACH(entry, &conn->transactions, link) {
			total++;
			if (server->now - entry->opened_at >= lu->timeout)
				old++;
		}
	}
	*all_old = total == old;
	return total == 0;
}

/* Why it cannot be done: C's words. */
static const char *reject_reason(struct live_update *lu, void *ctx)
{
	struct server *server = lu->server;
	struct connection *conn;
	struct conn_transaction *entry;
	char *text = NULL;

	TAILQ_FOREACH(conn, &server->connections, link) {
		LIST_FOREACH(entry, &conn->transactions, link) {
			if (server->now - entry->opened_at < lu->timeout)
				continue;
			text = talloc_asprintf(ctx, "%s\nDomain %u: %llu s",
					       text ? text :
					       "Domains with long running "
					       "transactions:",
					       conn->who.domid,
					       (unsigned long long)
					       (server->now - entry->opened_at));
			break;
		}
	}
	return text ? text : "Overlapping transactions";
}

/*
 * May it go now?  NULL: yes; "BUSY": not yet; anything else: refused
 * (the session is over).
 */
static const char *may_start(struct live_update *lu, void *ctx)
{
	bool all_old;

	if (quiescent(lu, &all_old))
		return NULL;
	if (lu->force && all_old)
		return NULL;
	if (lu->server->now < lu->started_at + lu->timeout)
		return "BUSY";
	if (lu->force)
		return NULL;
	return reject_reason(lu, ctx);
}

static const char *lu_start(struct request *req, int argc, const char **argv)
{
	struct live_update *lu = session_of(req);
	struct server *server = req->conn->server;
	unsigned long timeout = DEFAULT_TIMEOUT;
	bool force = false;
	int i;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-F"))
			force = true;
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			timeout = (unsigned long)atoi(argv[++i]);
		else
			return "EINVAL";
	}
	xs_log(LEVEL_INFO, "live-update: start, force=%d, timeout=%lu",
	       force, timeout);
	if (!lu)
		return "Not in live-update session.";
	if (lu->blob && lu->blob_used != lu->blob_size)
		return "Kernel not complete.";
	if (lu->pending)
		return "Live update already starting.";
	lu->force = force;
	lu->timeout = (unsigned int)timeout;
	if (!lu->started) {
		lu->started = true;
		lu->started_at = server->now;
	}
	/* From the loop, where no read is half-way; while transactions
	 * are open, each tick looks again (live_update_tick). */
	if (!server->config.hooks.live_update_soon)
		return "Live update is not available in this daemon.";
	lu->pending = true;
	lu->req_id = req->hdr.req_id;
	lu->tx_id = req->hdr.tx_id;
	req->reply_later = true;
	server->config.hooks.live_update_soon(server);
	return NULL;
}

int live_update_request(struct request *req)
{
	const char *argv[8];
	int argc = request_strings(req, argv, 8);
	const char *answer;

	if (argc < 2)
		return EINVAL;
	if (!strcmp(argv[1], "-d")) {
		size_t skip = sizeof("live-update") + sizeof("-d");

		answer = req->hdr.len > skip ?
			lu_blob_data(req, req->payload + skip,
				     req->hdr.len - skip) :
			"Invalid data size.";
	} else if (argc > 8) {
		return EINVAL;
	} else if (!strcmp(argv[1], "-a")) {
		if (argc != 2)
			return EINVAL;
		answer = lu_abort(req);
	} else if (!strcmp(argv[1], "-c")) {
		if (argc != 3)
			return EINVAL;
		answer = lu_cmdline(req, argv[2]);
	} else if (!strcmp(argv[1], "-s")) {
		answer = lu_start(req, argc - 2, argv + 2);
		if (answer && !strcmp(answer, "EINVAL"))
			return EINVAL;
		if (!answer && req->reply_later)
			return 0;
	} else if (!strcmp(argv[1], "-f")) {
		if (argc != 3)
			return EINVAL;
		answer = lu_binary(req, argv[2]);
	} else if (!strcmp(argv[1], "-b")) {
		if (argc != 3)
			return EINVAL;
		answer = lu_blob_size(req, argv[2]);
	} else {
		return EINVAL;
	}
	return reply_string(req, answer ? answer : "OK");
}

/* Answer the waiting -s with @text and end the session unless BUSY. */
static void answer_start(struct live_update *lu, const char *text)
{
	struct server *server = lu->server;

	conn_queue_message(lu->conn, XS_CONTROL, lu->req_id, lu->tx_id, text,
			   (uint32_t)strlen(text) + 1);
	lu->pending = false;
	end_session(server);
	server_flush(server);
}

void server_live_update_run(struct server *server)
{
	struct live_update *lu = server->live_update;
	struct xsd_sockmsg hdr = { .type = XS_CONTROL };
	const char *verdict, *why = NULL;
	const void *stream;
	char reply[sizeof(hdr) + sizeof("OK")];
	size_t len;
	void *ctx;

	if (!lu || !lu->pending)
		return;
	ctx = talloc_new(NULL);
	if (!ctx) {
		answer_start(lu, "Allocation failure.");
		return;
	}
	verdict = may_start(lu, ctx);
	if (verdict && !strcmp(verdict, "BUSY")) {
		talloc_free(ctx);
		return;		/* the next tick looks again */
	}
	if (verdict) {
		xs_log(LEVEL_WARNING, "live-update: refused: %s", verdict);
		answer_start(lu, verdict);
		talloc_free(ctx);
		return;
	}
	/* The new daemon sends the "OK": this one never does. */
	hdr.req_id = lu->req_id;
	hdr.tx_id = lu->tx_id;
	hdr.len = sizeof("OK");
	memcpy(reply, &hdr, sizeof(hdr));
	memcpy(reply + sizeof(hdr), "OK", sizeof("OK"));
	stream = state_save(server, ctx, &len, lu->conn, reply, sizeof(reply),
			    &why);
	if (!stream) {
		xs_log(LEVEL_ERROR, "live-update: cannot save the state: %s",
		       why);
		answer_start(lu, why);
		talloc_free(ctx);
		return;
	}
	xs_log(LEVEL_INFO, "live-update: state saved (%zu bytes), starting "
	       "%s", len, lu->binary ? lu->binary : "the binary sent");
	why = server->config.hooks.live_update_exec(stream, len, lu->binary,
						    lu->blob, lu->blob_used,
						    lu->cmdline);
	/* Still here: the new binary did not take over. */
	xs_log(LEVEL_ERROR, "live-update: failed: %s", why);
	answer_start(lu, why ? why : "Error activating new binary.");
	talloc_free(ctx);
}

void live_update_tick(struct server *server)
{
	struct live_update *lu = server->live_update;

	if (lu && lu->pending && server->config.hooks.live_update_soon)
		server->config.hooks.live_update_soon(server);
}
