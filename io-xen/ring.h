/*
 * The xenstore ring (xs_wire.h, Xen's docs/misc/xenstore-ring.txt): two
 * 1 KiB byte queues in a page shared with a guest, each with free-running
 * 32-bit producer and consumer indices.
 *
 * The other side is untrusted and runs concurrently on another CPU, so every
 * index it owns is read exactly once per call into a local, checked, and
 * only the local is used afterwards.  A queue claiming more than
 * XENSTORE_RING_SIZE bytes is corrupted: the call fails, and the server
 * side records XENSTORE_ERROR_RINGIDX in the page's error field.
 *
 * Nothing here notifies anyone: after a call that moved bytes the caller
 * signals the event channel.  Pure code: no IO, no allocation.
 */
#ifndef IO_XEN_RING_H
#define IO_XEN_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <xen/io/xs_wire.h>

/*
 * The server's side: consume requests from req[], produce replies into
 * rsp[].  Both return the number of bytes moved (0: nothing to read / no
 * room), or -1 if the ring is corrupted (the error field is then set).
 */
ssize_t ring_server_read(struct xenstore_domain_interface *intf,
			 void *buf, size_t len);
ssize_t ring_server_write(struct xenstore_domain_interface *intf,
			  const void *buf, size_t len);

/* True if the guest may have bytes for us (indices differ). */
bool ring_server_has_input(const struct xenstore_domain_interface *intf);

/*
 * A connection starts on this page: advertise @features (the domain's
 * XENSTORE_SERVER_FEATURE_* bits, all of them as Xen does: the field is
 * the server's) and clear any error left by an earlier connection.
 */
void ring_server_attach(struct xenstore_domain_interface *intf,
			uint32_t features);

/* The guest has asked for a reconnection (connection == RECONNECT). */
bool ring_reconnect_requested(const struct xenstore_domain_interface *intf);

/*
 * Finish a reconnection: empty both queues, clear the error, then set
 * connection = CONNECTED.  The caller has dropped its partial packets and
 * notifies afterwards.
 */
void ring_reconnect_complete(struct xenstore_domain_interface *intf);

/* Record why the server stopped serving this ring (XENSTORE_ERROR_*). */
void ring_set_error(struct xenstore_domain_interface *intf, uint32_t error);

/*
 * The guest's side, for simulated guests and tests: produce requests into
 * req[], consume replies from rsp[].  Same returns; a corrupted ring is
 * only reported, the guest has no error field to set.
 */
ssize_t ring_guest_write(struct xenstore_domain_interface *intf,
			 const void *buf, size_t len);
ssize_t ring_guest_read(struct xenstore_domain_interface *intf,
			void *buf, size_t len);

#endif
