/*
 * The ring backend: guests' connections over their xenstore rings, on a
 * platform (real Xen or the simulation).  It gives the core its
 * domain_backend (INTRODUCE maps and binds a ring; domain states come from
 * the platform) and turns event-channel signals into conn_input_ready /
 * conn_output_ready calls for exactly the rings that were signalled.
 */
#ifndef IO_XEN_RING_BACKEND_H
#define IO_XEN_RING_BACKEND_H

#include <stdbool.h>

struct event_base;
struct platform;
struct connection;
struct ring_backend;
struct server;

/*
 * Serve rings of @platform for @server on @base: installs the server's
 * domain backend and binds VIRQ_DOM_EXC.  NULL (reason logged) on failure.
 * Free it with talloc_free() after the server, whose connections still
 * call into it while they are destroyed.
 */
struct ring_backend *ring_backend_new(void *ctx, struct event_base *base,
				      struct server *server,
				      struct platform *platform);

/*
 * Serve dom0's own ring, the one its kernel's /dev/xen/xenbus uses.
 * False (reason logged) if there is none or it cannot be bound.
 */
bool ring_backend_connect_dom0(struct ring_backend *backend);

/*
 * Live update: make the rings' event channels survive exec (VIRQ_DOM_EXC
 * is let go: the new daemon binds it); the descriptor for GLOBAL_DATA, or
 * -1.  If the update then fails, ring_backend_resume() binds it again.
 */
int ring_backend_save(struct ring_backend *backend);
void ring_backend_resume(struct ring_backend *backend);

/*
 * Live update, in the new daemon: serve @domid's ring again, its event
 * channel still bound to local @port.  A ring that cannot be mapped gets
 * a connection without one (its domain is kept until it dies).
 */
struct connection *ring_backend_adopt_ring(struct ring_backend *backend,
					   uint32_t domid, uint32_t port);

#endif
