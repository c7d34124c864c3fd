/*
 * A simulated guest for tests and benchmarks: a domain of the sim platform
 * (io-xen/SIM.md) talking xenstore over its ring, like a guest kernel's
 * xenbus driver.  Synchronous and single-threaded; many guests can live in
 * one process.
 *
 * It signals the daemon as Linux's xenbus does: after a write only if the
 * daemon had consumed everything before it, after a read only if the reply
 * queue was full.  A daemon that relies on more signals than that hangs
 * these guests, as it would hang Linux guests.
 */
#ifndef IO_XEN_SIM_GUEST_H
#define IO_XEN_SIM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/io/xs_wire.h>

struct sim_guest;

/*
 * Send one line command to DIR/control and read its reply into @reply
 * (may be NULL).  Returns 0 if the reply ended in "OK", else -1 (errno
 * set; EPROTO for an "ERR" reply).
 */
int sim_control(const char *dir, const char *command, char *reply,
		size_t size);

/*
 * Create domain @domid in the simulation (control command "create"),
 * map its ring and listen on DIR/guest-<domid> for the daemon's signals
 * on @port (the guest's port that INTRODUCE names).  NULL + errno.
 */
struct sim_guest *sim_guest_create(const char *dir, uint32_t domid,
				   uint32_t port);

/*
 * The same for a domain that already exists, e.g. dom0 (its ring is
 * DIR/ring-0, its port in DIR/xsd_port: see sim_guest_dom0_port()).
 */
struct sim_guest *sim_guest_attach(const char *dir, uint32_t domid,
				   uint32_t port);

/* The port in DIR/xsd_port, or -1. */
int sim_guest_dom0_port(const char *dir);

/* Unmap, close, remove DIR/guest-<domid>; the domain itself stays. */
void sim_guest_free(struct sim_guest *guest);

struct xenstore_domain_interface *sim_guest_ring(struct sim_guest *guest);
/* Readable when the daemon has signalled (for poll). */
int sim_guest_fd(const struct sim_guest *guest);
/* Signal the daemon unconditionally. */
int sim_guest_notify(struct sim_guest *guest);

/*
 * Put one message on the ring, waiting up to @timeout_ms for room as
 * needed.  0, or -1 with errno (ETIMEDOUT, EIO for a corrupted ring).
 */
int sim_guest_send(struct sim_guest *guest, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *payload, uint32_t len,
		   int timeout_ms);

/*
 * Take one whole message off the ring, waiting up to @timeout_ms.
 * @payload has room for XENSTORE_PAYLOAD_MAX + 1 bytes (a NUL is added).
 * 0, or -1 with errno (ETIMEDOUT, EIO, EPROTO for an oversized header).
 */
int sim_guest_recv(struct sim_guest *guest, struct xsd_sockmsg *hdr,
		   char *payload, int timeout_ms);

/*
 * Send a request and wait for its reply, setting watch events aside
 * (counted in *events if not NULL).  The reply's type is in hdr->type.
 */
int sim_guest_request(struct sim_guest *guest, uint32_t type,
		      const void *payload, uint32_t len,
		      struct xsd_sockmsg *hdr, char *reply, int timeout_ms,
		      unsigned int *events);

#endif
