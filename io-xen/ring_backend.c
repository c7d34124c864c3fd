/*
 * Rings are found by the local port that fired (a hash), never by looking
 * at every ring: an event costs the same with one guest or thousands.
 *
 * Notifications to guests are coalesced: reads and writes only mark a ring,
 * and one deferred callback signals each marked ring once, after the
 * current round of work.  A request and its reply then cost one signal.
 */
#include <errno.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <talloc.h>
#include <uthash.h>
#include <event2/event.h>

#include "daemon/core.h"
#include "daemon/log.h"
#include "io-xen/platform.h"
#include "io-xen/ring.h"
#include "io-xen/ring_backend.h"

/* Pending ports handled per wake-up before other events get a turn. */
#define EVENTS_PER_WAKEUP 1024
/* Rounds of reading one ring per signal before others get a turn. */
#define READS_PER_SIGNAL 8

/* "After the next poll": a zero timeout lets the other events go first. */
static const struct timeval no_delay = { 0, 0 };

struct ring_conn {
	struct ring_backend *backend;
	struct connection *conn;
	struct xenstore_domain_interface *intf;
	uint32_t domid;
	uint32_t port;			/* local; 0 while unbound */
	bool output_blocked;		/* the core waits for room */
	bool reset_pending;		/* introduced again: start afresh */
	bool notify_queued;
	bool kick_queued;
	bool resume_queued;
	unsigned int resume_round;	/* of the backend, when queued */
	TAILQ_ENTRY(ring_conn) notify_link;
	TAILQ_ENTRY(ring_conn) kick_link;
	TAILQ_ENTRY(ring_conn) resume_link;
	UT_hash_handle by_port;
	UT_hash_handle by_domid;
};

struct ring_backend {
	struct event_base *base;
	struct server *server;
	struct platform *platform;
	struct event *events;		/* the platform's event fd */
	struct event *events_again;	/* more were pending than one turn */
	struct event *deferred;		/* kicks and notifications */
	struct event *resume;		/* rings with more to read */
	int dom_exc_port;
	struct ring_conn *rings_by_port;
	struct ring_conn *rings_by_domid;
	TAILQ_HEAD(, ring_conn) to_notify;
	TAILQ_HEAD(, ring_conn) to_kick;
	TAILQ_HEAD(, ring_conn) to_resume;
	unsigned int resume_round;
};

static const struct platform_ops *ops_of(struct ring_backend *backend)
{
	return backend->platform->ops;
}

static void schedule_deferred(struct ring_backend *backend)
{
	if (TAILQ_EMPTY(&backend->to_notify) && TAILQ_EMPTY(&backend->to_kick))
		event_active(backend->deferred, EV_WRITE, 0);
}

/* Signal the guest once the current round of work is done. */
static void queue_notify(struct ring_conn *ring)
{
	if (ring->notify_queued)
		return;
	schedule_deferred(ring->backend);
	ring->notify_queued = true;
	TAILQ_INSERT_TAIL(&ring->backend->to_notify, ring, notify_link);
}

/*
 * Look at the ring as if its port had fired, from the event loop rather
 * than from inside the core (a new ring may already hold requests sent
 * before anyone listened).
 */
static void queue_kick(struct ring_conn *ring)
{
	if (ring->kick_queued)
		return;
	schedule_deferred(ring->backend);
	ring->kick_queued = true;
	TAILQ_INSERT_TAIL(&ring->backend->to_kick, ring, kick_link);
}

/* Read more of a busy ring after the loop has polled everyone else. */
static void queue_resume(struct ring_conn *ring)
{
	struct ring_backend *backend = ring->backend;

	if (ring->resume_queued)
		return;
	if (TAILQ_EMPTY(&backend->to_resume))
		evtimer_add(backend->resume, &no_delay);
	ring->resume_queued = true;
	ring->resume_round = backend->resume_round;
	TAILQ_INSERT_TAIL(&backend->to_resume, ring, resume_link);
}

static void notify_now(struct ring_conn *ring)
{
	struct ring_backend *backend = ring->backend;

	if (ring->notify_queued) {
		TAILQ_REMOVE(&backend->to_notify, ring, notify_link);
		ring->notify_queued = false;
	}
	if (ring->port && ops_of(backend)->notify(backend->platform,
						  ring->port) != 0)
		xs_log(LEVEL_WARNING, "domain %u: cannot signal port %u: %s",
		       ring->domid, ring->port, strerror(errno));
}

/* ------------------------------------------------------- the conn_ops */

static ssize_t ring_conn_read(void *io, void *buf, size_t len)
{
	struct ring_conn *ring = io;
	ssize_t n;

	/* The guest ignores the ring until we finish its reconnection. */
	if (ring_reconnect_requested(ring->intf))
		return 0;
	n = ring_server_read(ring->intf, buf, len);
	if (n < 0) {
		xs_log(LEVEL_WARNING, "domain %u: corrupted request ring "
		       "indices: ignoring its ring", ring->domid);
		return -1;
	}
	/* Room freed: a guest with more to say may be waiting for it. */
	if (n > 0)
		queue_notify(ring);
	return n;
}

static ssize_t ring_conn_write(void *io, const void *buf, size_t len)
{
	struct ring_conn *ring = io;
	ssize_t n = 0;

	if (!ring_reconnect_requested(ring->intf))
		n = ring_server_write(ring->intf, buf, len);
	if (n < 0) {
		xs_log(LEVEL_WARNING, "domain %u: corrupted reply ring "
		       "indices: ignoring its ring", ring->domid);
		return -1;
	}
	if (n > 0)
		queue_notify(ring);
	/* Full: the guest signals when it has taken some. */
	if ((size_t)n < len)
		ring->output_blocked = true;
	return n;
}

static void unbind_port(struct ring_conn *ring)
{
	struct ring_backend *backend = ring->backend;

	if (!ring->port)
		return;
	HASH_DELETE(by_port, backend->rings_by_port, ring);
	ops_of(backend)->unbind(backend->platform, ring->port);
	ring->port = 0;
}

static void ring_conn_destroy(void *io)
{
	struct ring_conn *ring = io;
	struct ring_backend *backend = ring->backend;
	struct ring_conn *registered;

	if (ring->notify_queued)
		TAILQ_REMOVE(&backend->to_notify, ring, notify_link);
	if (ring->kick_queued)
		TAILQ_REMOVE(&backend->to_kick, ring, kick_link);
	if (ring->resume_queued)
		TAILQ_REMOVE(&backend->to_resume, ring, resume_link);
	HASH_FIND(by_domid, backend->rings_by_domid, &ring->domid,
		  sizeof(ring->domid), registered);
	if (registered == ring)
		HASH_DELETE(by_domid, backend->rings_by_domid, ring);
	unbind_port(ring);
	ops_of(backend)->unmap_ring(backend->platform, ring->intf);
	talloc_free(ring);
}

static void ring_conn_protocol_error(void *io)
{
	struct ring_conn *ring = io;

	xs_log(LEVEL_WARNING, "domain %u: request longer than %u bytes: "
	       "ignoring its ring", ring->domid, XENSTORE_PAYLOAD_MAX);
	ring_set_error(ring->intf, XENSTORE_ERROR_PROTO);
	/* Now: the connection is destroyed right after this. */
	notify_now(ring);
}

/* The ring itself stays where it is: the stream names the domain and
 * the local port, which the inherited event channels keep bound. */
static bool ring_conn_save(void *io, struct state_connection *rec)
{
	struct ring_conn *ring = io;

	rec->type = STATE_CONN_RING;
	rec->domid = (uint16_t)ring->domid;
	rec->evtchn = ring->port;
	return ring->domid < STATE_DOMID_INVALID;
}

static const struct conn_ops ring_conn_ops = {
	.read = ring_conn_read,
	.write = ring_conn_write,
	.destroy = ring_conn_destroy,
	.protocol_error = ring_conn_protocol_error,
	.save = ring_conn_save,
};

/* ------------------------------------------------------------- events */

static void finish_reconnection(struct ring_conn *ring)
{
	xs_log(LEVEL_DEBUG, "domain %u: ring reconnection", ring->domid);
	conn_reset(ring->conn);
	ring->output_blocked = false;
	ring_reconnect_complete(ring->intf);
	notify_now(ring);
}

static XENSTORE_RING_IDX request_consumer(const struct ring_conn *ring)
{
	return __atomic_load_n(&ring->intf->req_cons, __ATOMIC_RELAXED);
}

/*
 * The ring's port fired (or a look was asked for).
 *
 * A guest signals only when it thinks we may be idle: Linux's xenbus does
 * after a write only if we had consumed everything before it, after a
 * read only if the reply queue was full.  So whatever arrived while the
 * core was reading is read now, for as long as the core makes progress;
 * a core that stops reading (quotas) resumes in conn_output_ready.
 */
static void ring_signalled(struct ring_conn *ring)
{
	XENSTORE_RING_IDX before;
	unsigned int round;

	if (ring->reset_pending) {
		ring->reset_pending = false;
		conn_reset(ring->conn);
		ring->output_blocked = false;
		ring_server_attach(ring->intf,
				   server_domain_features(ring->backend->server,
							  ring->domid));
		queue_notify(ring);
	}
	if (ring_reconnect_requested(ring->intf)) {
		finish_reconnection(ring);
		return;
	}
	if (ring->output_blocked) {
		ring->output_blocked = false;
		if (!conn_output_ready(ring->conn))
			return;		/* destroyed */
	}
	for (round = 0; round < READS_PER_SIGNAL; round++) {
		before = request_consumer(ring);
		if (!conn_input_ready(ring->conn))
			return;		/* destroyed */
		if (!ring_server_has_input(ring->intf) ||
		    request_consumer(ring) == before)
			return;
	}
	queue_resume(ring);
}

static void check_domains(struct ring_backend *backend)
{
	const struct platform_ops *ops = ops_of(backend);

	if (ops->domain_scan_begin)
		ops->domain_scan_begin(backend->platform);
	server_check_domains(backend->server);
	if (ops->domain_scan_end)
		ops->domain_scan_end(backend->platform);
}

static void on_events(evutil_socket_t fd, short what, void *arg)
{
	struct ring_backend *backend = arg;
	const struct platform_ops *ops = ops_of(backend);
	struct ring_conn *ring;
	unsigned int handled;
	uint32_t port;
	int pending;

	for (handled = 0; handled < EVENTS_PER_WAKEUP; handled++) {
		pending = ops->pending(backend->platform);
		if (pending < 0)
			return;
		port = (uint32_t)pending;
		/* Before handling: a signal that comes meanwhile is kept. */
		ops->unmask(backend->platform, port);
		if (pending == backend->dom_exc_port) {
			check_domains(backend);
			continue;
		}
		HASH_FIND(by_port, backend->rings_by_port, &port, sizeof(port),
			  ring);
		if (ring)
			ring_signalled(ring);
	}
	/* Others' turn first; then the rest (the fd may not say so). */
	evtimer_add(backend->events_again, &no_delay);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct ring_backend *backend = arg;
	struct ring_conn *ring;

	while ((ring = TAILQ_FIRST(&backend->to_kick))) {
		TAILQ_REMOVE(&backend->to_kick, ring, kick_link);
		ring->kick_queued = false;
		ring_signalled(ring);
	}
	while ((ring = TAILQ_FIRST(&backend->to_notify)))
		notify_now(ring);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ring_backend *backend = arg;
	unsigned int round = backend->resume_round++;
	struct ring_conn *ring;

	/* Only those queued before: a ring queued again waits its turn. */
	while ((ring = TAILQ_FIRST(&backend->to_resume)) &&
	       ring->resume_round == round) {
		TAILQ_REMOVE(&backend->to_resume, ring, resume_link);
		ring->resume_queued = false;
		ring_signalled(ring);
	}
	if (!TAILQ_EMPTY(&backend->to_resume))
		evtimer_add(backend->resume, &no_delay);
}

/* ------------------------------------------------------------- domains */

static int bind_port(struct ring_conn *ring, uint32_t remote_port)
{
	struct ring_backend *backend = ring->backend;
	int port = ops_of(backend)->bind_interdomain(backend->platform,
						     ring->domid, remote_port);

	if (port <= 0) {
		int err = port < 0 && errno ? errno : EINVAL;

		xs_log(LEVEL_WARNING, "domain %u: cannot bind its port %u: %s",
		       ring->domid, remote_port, strerror(err));
		return err;
	}
	ring->port = (uint32_t)port;
	HASH_ADD(by_port, backend->rings_by_port, port, sizeof(ring->port),
		 ring);
	return 0;
}

/*
 * A ring that is already served: a new port now, a fresh connection state
 * from the event loop (the request introducing it may have come over this
 * very connection, which must not be reset under the core's feet).
 */
static int rebind(struct ring_conn *ring, uint32_t remote_port)
{
	int err;

	unbind_port(ring);
	err = bind_port(ring, remote_port);
	if (err)
		return err;	/* left unbound until introduced again */
	ring->reset_pending = true;
	queue_kick(ring);
	return 0;
}

/*
 * A ring connection for @domid on the mapped @intf, bound to
 * @remote_port.  On failure @intf is unmapped and an errno value returned.
 */
static int connect_ring(struct ring_backend *backend, uint32_t domid,
			struct xenstore_domain_interface *intf,
			uint32_t remote_port)
{
	struct ring_conn *ring = talloc_zero(backend, struct ring_conn);
	int err;

	if (!ring) {
		ops_of(backend)->unmap_ring(backend->platform, intf);
		return ENOMEM;
	}
	ring->backend = backend;
	ring->domid = domid;
	ring->intf = intf;
	err = bind_port(ring, remote_port);
	if (err) {
		ops_of(backend)->unmap_ring(backend->platform, intf);
		talloc_free(ring);
		return err;
	}
	/* Before anything is read or written (xenstore-ring.txt). */
	ring_server_attach(intf, server_domain_features(backend->server,
							domid));
	ring->conn = server_connect_domain(backend->server, &ring_conn_ops,
					   ring, domid);
	if (!ring->conn) {
		ring_conn_destroy(ring);
		return ENOMEM;
	}
	/* After server_connect_domain: it destroyed any previous ring
	 * connection of this domain, which removed that one from here. */
	HASH_ADD(by_domid, backend->rings_by_domid, domid, sizeof(domid), ring);
	queue_notify(ring);
	queue_kick(ring);
	return 0;
}

static int backend_introduce(void *arg, uint32_t domid, uint64_t gfn,
			     uint32_t remote_port)
{
	struct ring_backend *backend = arg;
	struct xenstore_domain_interface *intf;
	struct ring_conn *ring;

	HASH_FIND(by_domid, backend->rings_by_domid, &domid, sizeof(domid),
		  ring);
	if (ring)
		return rebind(ring, remote_port);

	/* The page is found by grant reference, not by @gfn. */
	intf = ops_of(backend)->map_ring(backend->platform, domid);
	if (!intf) {
		int err = errno ? errno : EINVAL;

		xs_log(LEVEL_WARNING, "domain %u: cannot map its ring: %s",
		       domid, strerror(err));
		return err;
	}
	return connect_ring(backend, domid, intf, remote_port);
}

static enum domain_state backend_domain_state(void *arg, uint32_t domid)
{
	struct ring_backend *backend = arg;

	return ops_of(backend)->domain_state(backend->platform, domid);
}

static const struct domain_backend ring_domain_backend = {
	.introduce = backend_introduce,
	.state = backend_domain_state,
};

bool ring_backend_connect_dom0(struct ring_backend *backend)
{
	struct xenstore_domain_interface *intf;
	uint32_t remote_port;
	int err;

	intf = ops_of(backend)->map_dom0_ring(backend->platform, &remote_port);
	if (!intf) {
		xs_log(LEVEL_ERROR, "%s: cannot map dom0's ring: %s",
		       backend->platform->name, strerror(errno));
		return false;
	}
	/* The first signal also tells dom0's kernel that xenstored is up. */
	err = connect_ring(backend, 0, intf, remote_port);
	if (err) {
		xs_log(LEVEL_ERROR, "%s: cannot serve dom0's ring: %s",
		       backend->platform->name, strerror(err));
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ live update */

int ring_backend_save(struct ring_backend *backend)
{
	const struct platform_ops *ops = ops_of(backend);

	if (!ops->save) {
		errno = ENOSYS;
		return -1;
	}
	/* The new daemon binds VIRQ_DOM_EXC itself (one binding only). */
	if (backend->dom_exc_port > 0) {
		ops->unbind(backend->platform, (uint32_t)backend->dom_exc_port);
		backend->dom_exc_port = -1;
	}
	return ops->save(backend->platform);
}

void ring_backend_resume(struct ring_backend *backend)
{
	if (backend->dom_exc_port > 0)
		return;
	backend->dom_exc_port = ops_of(backend)->bind_dom_exc(backend->platform);
	if (backend->dom_exc_port < 0)
		xs_log(LEVEL_ERROR, "%s: cannot bind VIRQ_DOM_EXC again: %s",
		       backend->platform->name, strerror(errno));
	/* Deaths meanwhile went unseen. */
	check_domains(backend);
}

struct connection *ring_backend_adopt_ring(struct ring_backend *backend,
					   uint32_t domid, uint32_t port)
{
	const struct platform_ops *ops = ops_of(backend);
	struct xenstore_domain_interface *intf;
	struct ring_conn *ring;
	uint32_t remote_port;

	intf = domid == 0 ? ops->map_dom0_ring(backend->platform, &remote_port)
			  : ops->map_ring(backend->platform, domid);
	if (!intf) {
		/* Gone meanwhile, or it revoked the grant: as C, the domain
		 * is kept (unserved) until its death is seen. */
		xs_log(LEVEL_WARNING, "domain %u: cannot map its ring again: "
		       "%s", domid, strerror(errno));
		return server_connect_domain(backend->server, NULL, NULL,
					     domid);
	}
	ring = talloc_zero(backend, struct ring_conn);
	if (!ring) {
		ops->unmap_ring(backend->platform, intf);
		return NULL;
	}
	ring->backend = backend;
	ring->domid = domid;
	ring->intf = intf;
	ring->port = port;
	if (port)
		HASH_ADD(by_port, backend->rings_by_port, port,
			 sizeof(ring->port), ring);
	ring->conn = server_connect_domain(backend->server, &ring_conn_ops,
					   ring, domid);
	if (!ring->conn) {
		ring_conn_destroy(ring);
		return NULL;
	}
	HASH_ADD(by_domid, backend->rings_by_domid, domid, sizeof(domid), ring);
	/* Whatever the guest wrote while no daemon listened. */
	queue_notify(ring);
	queue_kick(ring);
	return ring->conn;
}

/* ---------------------------------------------------------------- set-up */

static int backend_destructor(struct ring_backend *backend)
{
	if (backend->events)
		event_free(backend->events);
	if (backend->events_again)
		event_free(backend->events_again);
	if (backend->deferred)
		event_free(backend->deferred);
	if (backend->resume)
		event_free(backend->resume);
	if (backend->dom_exc_port > 0)
		ops_of(backend)->unbind(backend->platform,
					(uint32_t)backend->dom_exc_port);
	/* Rings are gone with the server's connections; only the tables'
	 * own bookkeeping is left. */
	HASH_CLEAR(by_port, backend->rings_by_port);
	HASH_CLEAR(by_domid, backend->rings_by_domid);
	return 0;
}

struct ring_backend *ring_backend_new(void *ctx, struct event_base *base,
				      struct server *server,
				      struct platform *platform)
{
	struct ring_backend *backend = talloc_zero(ctx, struct ring_backend);

	if (!backend) {
		xs_log(LEVEL_ERROR, "out of memory for the ring backend");
		return NULL;
	}
	backend->base = base;
	backend->server = server;
	backend->platform = platform;
	backend->dom_exc_port = -1;
	TAILQ_INIT(&backend->to_notify);
	TAILQ_INIT(&backend->to_kick);
	TAILQ_INIT(&backend->to_resume);
	talloc_set_destructor(backend, backend_destructor);

	backend->dom_exc_port = platform->ops->bind_dom_exc(platform);
	if (backend->dom_exc_port < 0) {
		xs_log(LEVEL_ERROR, "%s: cannot bind VIRQ_DOM_EXC: %s",
		       platform->name, strerror(errno));
		goto fail;
	}
	backend->events = event_new(base, platform->ops->event_fd(platform),
				    EV_READ | EV_PERSIST, on_events, backend);
	backend->events_again = evtimer_new(base, on_events, backend);
	backend->deferred = event_new(base, -1, 0, on_deferred, backend);
	backend->resume = evtimer_new(base, on_resume, backend);
	if (!backend->events || !backend->events_again || !backend->deferred ||
	    !backend->resume ||
	    event_add(backend->events, NULL) != 0) {
		xs_log(LEVEL_ERROR, "cannot watch the event channels");
		goto fail;
	}
	server_set_domain_backend(server, &ring_domain_backend, backend);
	return backend;
fail:
	talloc_free(backend);
	return NULL;
}
