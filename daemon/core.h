/*
 * The core server's interface to the outside: what main() and the IO
 * backends may call.  The core moves no bytes itself: a backend hands it a
 * connection with three operations, and the core reads, frames, handles
 * and writes through them.  Nothing here depends on an event loop, on
 * sockets or on Xen's libraries.
 */
#ifndef DAEMON_CORE_H
#define DAEMON_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/quota.h"
#include "daemon/state.h"

struct server;
struct connection;
struct journal_sink;

struct conn_ops {
	/* >0 bytes read, 0 nothing available now, -1 the peer is gone. */
	ssize_t (*read)(void *io, void *buf, size_t len);
	/*
	 * >0 bytes taken, 0 no room now, -1 the peer is gone.  Taking less
	 * than offered means "no more room": the backend then watches for
	 * room itself and calls conn_output_ready() when there is some.
	 */
	ssize_t (*write)(void *io, const void *buf, size_t len);
	/* The core is done with the connection: release the backend side. */
	void (*destroy)(void *io);
	/*
	 * Optional: the peer broke the protocol (a request longer than 4096
	 * bytes); called just before destroy so that a ring can say so in
	 * its error field.
	 */
	void (*protocol_error)(void *io);
	/*
	 * Optional: for a live update, say how the new daemon finds this
	 * connection again: set @rec's type and its socket_fd, or domid and
	 * evtchn (the local port), and make sure the descriptor survives
	 * exec.  False if it cannot be carried over (the update is refused).
	 */
	bool (*save)(void *io, struct state_connection *rec);
};

/* What a ring backend tells the core about a domain (domain_state). */
enum domain_state {
	DOMAIN_RUNNING,
	DOMAIN_SHUTDOWN,	/* shut down or crashed, not yet dying */
	DOMAIN_DYING,		/* being destroyed, or gone */
	/*
	 * The hypervisor could not be asked (a failed hypercall).  Never
	 * taken for a death: the core logs it and asks again at the next
	 * server_tick() (and at the next VIRQ_DOM_EXC).
	 */
	DOMAIN_UNKNOWN,
};

/*
 * The domain operations a ring backend provides (io-xen), so that the core
 * can serve INTRODUCE and notice deaths without knowing about Xen.
 */
struct domain_backend {
	/*
	 * Connect @domid's ring (page @gfn, remote event channel @port) and
	 * create its connection with server_connect_domain().  Called again
	 * for a domain already introduced: rebind and reset the connection.
	 * Returns 0 or an errno value (the INTRODUCE reply).
	 */
	int (*introduce)(void *backend, uint32_t domid, uint64_t gfn,
			 uint32_t port);
	/* The current state of @domid. */
	enum domain_state (*state)(void *backend, uint32_t domid);
};

/* What the core asks of its host (main): all optional. */
struct server_hooks {
	/* Open (file != NULL), reopen (file == NULL) or close the trace. */
	bool (*trace_open)(const char *file);
	void (*trace_close)(void);
	/* Write a full memory report into @file (CONTROL memreport FILE). */
	bool (*memreport_to_file)(const void *talloc_root, const char *file);
	/*
	 * Call server_resume() soon, from the loop: guests that were held
	 * back for their quota can be read again, but others get their turn
	 * first.  Without this hook the core reads them before returning.
	 */
	void (*resume_soon)(struct server *server);
	/*
	 * CONTROL live-update -s was accepted: call server_live_update_run()
	 * soon, from the loop (no read in progress anywhere).
	 */
	void (*live_update_soon)(struct server *server);
	/*
	 * Replace the daemon: store @state (@len bytes) where the new binary
	 * looks for it, then exec @binary, or the @blob_len bytes of @blob
	 * (live-update -b/-d), with @cmdline's words (the daemon's own
	 * arguments if NULL) telling it to restore.  Returns
	 * only on failure, with the reason; the daemon then carries on.
	 * Without this hook live-update is refused.
	 */
	const char *(*live_update_exec)(const void *state, size_t len,
					const char *binary, const void *blob,
					size_t blob_len, const char *cmdline);
	/*
	 * Saving the state: the descriptors the backends keep for the whole
	 * daemon (the listening socket, the event channels), made to
	 * survive exec.  Without this hook both are -1.
	 */
	bool (*save_global)(struct state_global *global);
	/* live-update -f FILE: may FILE be exec'd?  (Without: not asked.) */
	bool (*is_executable)(const char *file);
};

struct server_config {
	const char *database_file;	/* NULL: the store lives in memory */
	/*
	 * Crash survival (NULL: none): the store stays in memory, and every
	 * change also goes to this sink (store/journal.h), a request at a
	 * time, all or none.  @restore_data (@restore_len bytes) is what the
	 * sink's file held at start: a daemon that died left it, and the
	 * server takes it over instead of starting afresh.
	 */
	const struct journal_sink *journal;
	const void *restore_data;
	size_t restore_len;
	struct quota_settings quota;
	bool has_priv_domid;
	uint32_t priv_domid;
	bool keep_orphans;
	struct server_hooks hooks;
};

/* Fill @config with the defaults of Xen 4.17's xenstored. */
void server_config_defaults(struct server_config *config);

/* A server with the initial tree (/, /tool, /tool/xenstored); NULL + errno. */
struct server *server_new(void *ctx, const struct server_config *config);

/*
 * A new connection from domain @domid through @ops/@io.  Socket
 * connections are dom0's and privileged.  Returns NULL on allocation
 * failure (the caller then releases @io itself).
 */
struct connection *server_connect(struct server *server,
				  const struct conn_ops *ops, void *io,
				  uint32_t domid);

/* Give the server a ring backend (without one, domain requests: ENOSYS). */
void server_set_domain_backend(struct server *server,
			       const struct domain_backend *backend,
			       void *backend_data);

/*
 * A ring connection for domain @domid, from domain_backend.introduce (or
 * for dom0's own ring at start).  Replaces the domain's previous ring
 * connection, if any.  NULL on allocation failure.
 */
struct connection *server_connect_domain(struct server *server,
					 const struct conn_ops *ops, void *io,
					 uint32_t domid);

/*
 * The XENSTORE_SERVER_FEATURE_* bits @domid's ring advertises when it
 * connects: all this daemon implements, unless SET_FEATURE narrowed them.
 */
uint32_t server_domain_features(struct server *server, uint32_t domid);

/* VIRQ_DOM_EXC fired: look at every introduced domain's state. */
void server_check_domains(struct server *server);

/*
 * The peer asked to reconnect (ring connection=RECONNECT): drop partial
 * input, queued output, the connection's watches and transactions.
 */
void conn_reset(struct connection *conn);

/*
 * Time passes (seconds, monotonic): expire undelivered watch events of
 * unprivileged connections.  main() calls it about once a second.
 */
void server_tick(struct server *server, uint64_t now);

/*
 * Input may be waiting: read, handle and answer what is there.  Returns
 * false if the connection was destroyed (the backend's @io is gone then).
 */
bool conn_input_ready(struct connection *conn);

/* Room to write again: flush queued output.  Same return as above. */
bool conn_output_ready(struct connection *conn);

/* Destroy a connection from the backend side (it calls ops->destroy). */
void conn_close(struct connection *conn);

/* Read guests held back for their quota whose reason went away (resume_soon). */
void server_resume(struct server *server);

/*
 * Live update: the whole state as a migration stream (daemon/state.h):
 * nodes, connections with their pending input and output, watches, open
 * transactions.  Allocated on @ctx; NULL with @why on failure (a
 * connection whose backend cannot be carried over, memory).
 */
const void *server_save_state(struct server *server, void *ctx, size_t *len,
			      const char **why);

/* How a restore finds its connections' backends again. */
struct state_adopters {
	void *arg;
	/* A socket connection on inherited @fd (server_connect()). */
	struct connection *(*socket)(void *arg, struct server *server, int fd);
	/* @domid's ring, its event channel bound to local port @port
	 * (server_connect_domain()). */
	struct connection *(*ring)(void *arg, struct server *server,
				   uint32_t domid, uint32_t port);
};

/*
 * Restore a stream into @server, fresh from server_new().  With
 * @adopters NULL, connections get no backend: a dry run that checks the
 * stream restores (the old daemon runs it before exec'ing the new one).
 * Returns 0, or an errno value with @why; the server must then be freed.
 */
int server_restore_state(struct server *server, const void *stream,
			 size_t len, const struct state_adopters *adopters,
			 const char **why);

/* The deferred live-update -s (hooks.live_update_soon). */
void server_live_update_run(struct server *server);
/* True if server_new() took over the state of a daemon that died. */
bool server_restored(const struct server *server);

/* Number of live connections (for logs and tests). */
unsigned int server_connection_count(const struct server *server);

#endif
