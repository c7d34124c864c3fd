/*
 * What the ring backend needs from the hypervisor: a domain's ring page,
 * event channels, and whether a domain is alive.  Two implementations:
 * platform_xen.c (libxenctrl, libxengnttab, libxenevtchn) and
 * platform_sim.c (files, sockets and a control socket; see SIM.md), so
 * that everything above this line is the same code under test and in
 * production.
 *
 * Event channels follow Xen's model: a local port is bound to a remote
 * domain's port (or to a virtual IRQ); when the other end signals, the
 * local port becomes pending, and pending ports are read one at a time
 * from a file descriptor that becomes readable while any is pending.
 * Only the ports that fired are reported, so the cost of an event does not
 * depend on how many are bound.
 */
#ifndef IO_XEN_PLATFORM_H
#define IO_XEN_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>
#include <xen/io/xs_wire.h>

#include "daemon/core.h"	/* enum domain_state */

struct event_base;
struct platform;

struct platform_ops {
	/*
	 * Map @domid's xenstore page: grant reference 1
	 * (GNTTAB_RESERVED_XENSTORE).  NULL with errno set on failure.
	 */
	struct xenstore_domain_interface *(*map_ring)(struct platform *p,
						      uint32_t domid);
	/*
	 * Map dom0's own page, which dom0's kernel serves through
	 * /dev/xen/xenbus, and give the port its kernel allocated for it.
	 * NULL with errno set if there is none.
	 */
	struct xenstore_domain_interface *(*map_dom0_ring)(struct platform *p,
							   uint32_t *remote_port);
	void (*unmap_ring)(struct platform *p,
			   struct xenstore_domain_interface *intf);

	/* A local port for @domid's @remote_port, or -1 with errno set. */
	int (*bind_interdomain)(struct platform *p, uint32_t domid,
				uint32_t remote_port);
	/* A local port for VIRQ_DOM_EXC, or -1 with errno set. */
	int (*bind_dom_exc)(struct platform *p);
	void (*unbind)(struct platform *p, uint32_t port);
	/* Signal the other end of @port; 0, or -1 with errno set. */
	int (*notify)(struct platform *p, uint32_t port);
	/* Re-enable delivery on @port after it was reported pending. */
	int (*unmask)(struct platform *p, uint32_t port);
	/* The next pending port, or -1 when none is pending now. */
	int (*pending)(struct platform *p);
	/* Readable while ports are pending (for the event loop). */
	int (*event_fd)(struct platform *p);

	/* Running, shut down (or crashed), or dying/gone. */
	enum domain_state (*domain_state)(struct platform *p, uint32_t domid);
	/*
	 * Optional.  Brackets a pass over every known domain, so that an
	 * implementation can fetch all states at once instead of one query
	 * per domain.
	 */
	void (*domain_scan_begin)(struct platform *p);
	void (*domain_scan_end)(struct platform *p);

	/*
	 * Live update: make the event channels (with every binding) survive
	 * exec, and return the descriptor a *_adopt() takes them back from
	 * (GLOBAL_DATA's evtchn-fd); -1 with errno set on failure.
	 */
	int (*save)(struct platform *p);
};

struct platform {
	const struct platform_ops *ops;
	const char *name;	/* for logs: "xen", "sim" */
};

/*
 * The real hypervisor, on a control domain.  NULL (reason logged) if a
 * library cannot be opened.  Freed with talloc_free().
 */
struct platform *platform_xen_open(void *ctx);

/* Live update: the event channel device the old daemon left in @fd. */
struct platform *platform_xen_adopt(void *ctx, int evtchn_fd);

/*
 * The simulation, in directory @dir (created if missing), with its control
 * socket served on @base.  NULL (reason logged) on failure.  Freed with
 * talloc_free().
 */
struct platform *platform_sim_open(void *ctx, struct event_base *base,
				   const char *dir);

/*
 * Live update: the simulation the old daemon ran in @dir (its domains,
 * bindings and sockets, from the DIR/sim-state its save wrote).
 */
struct platform *platform_sim_adopt(void *ctx, struct event_base *base,
				    const char *dir, int evtchn_fd);

#endif
