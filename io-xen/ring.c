/*
 * Memory ordering.  Each queue is a single-producer, single-consumer
 * buffer shared with another CPU (another domain, or another process in
 * the simulation), so the indices are accessed with GCC's __atomic
 * builtins:
 *
 * - the index the other side advances is loaded with ACQUIRE: whatever we
 *   then read from (or write into) the slots it released comes after it;
 * - our own index is published with a RELEASE store: the bytes we copied
 *   into (or out of) the slots are complete before the other side can see
 *   the slots change hands;
 * - a full fence follows each publication, because the caller signals the
 *   event channel next and the other side, once woken, must find the new
 *   index (Xen's rings use xen_mb() at the same places).
 *
 * Our own index lives in shared memory too, where the other side can
 * scribble on it, so it is read once like theirs and only the local copy
 * is used.  A difference prod - cons above XENSTORE_RING_SIZE cannot come
 * from a correct peer: the call fails without touching anything.
 */
#include <string.h>

#include "io-xen/ring.h"

static ssize_t queue_consume(const char *data, XENSTORE_RING_IDX *cons_p,
			     const XENSTORE_RING_IDX *prod_p, void *buf,
			     size_t len)
{
	XENSTORE_RING_IDX cons = __atomic_load_n(cons_p, __ATOMIC_RELAXED);
	XENSTORE_RING_IDX prod = __atomic_load_n(prod_p, __ATOMIC_ACQUIRE);
	XENSTORE_RING_IDX avail = prod - cons;
	size_t done = 0;

	if (avail > XENSTORE_RING_SIZE)
		return -1;
	if (len > avail)
		len = avail;
	while (done < len) {
		size_t offset = MASK_XENSTORE_IDX(cons + done);
		size_t chunk = XENSTORE_RING_SIZE - offset;

		if (chunk > len - done)
			chunk = len - done;
		memcpy((char *)buf + done, data + offset, chunk);
		done += chunk;
	}
	if (len) {
		__atomic_store_n(cons_p, cons + (XENSTORE_RING_IDX)len,
				 __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return len;
}

static ssize_t queue_produce(char *data, const XENSTORE_RING_IDX *cons_p,
			     XENSTORE_RING_IDX *prod_p, const void *buf,
			     size_t len)
{
	XENSTORE_RING_IDX prod = __atomic_load_n(prod_p, __ATOMIC_RELAXED);
	XENSTORE_RING_IDX cons = __atomic_load_n(cons_p, __ATOMIC_ACQUIRE);
	XENSTORE_RING_IDX used = prod - cons;
	size_t room, done = 0;

	if (used > XENSTORE_RING_SIZE)
		return -1;
	room = XENSTORE_RING_SIZE - used;
	if (len > room)
		len = room;
	while (done < len) {
		size_t offset = MASK_XENSTORE_IDX(prod + done);
		size_t chunk = XENSTORE_RING_SIZE - offset;

		if (chunk > len - done)
			chunk = len - done;
		memcpy(data + offset, (const char *)buf + done, chunk);
		done += chunk;
	}
	if (len) {
		__atomic_store_n(prod_p, prod + (XENSTORE_RING_IDX)len,
				 __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return len;
}

ssize_t ring_server_read(struct xenstore_domain_interface *intf,
			 void *buf, size_t len)
{
	ssize_t n = queue_consume(intf->req, &intf->req_cons, &intf->req_prod,
				  buf, len);

	if (n < 0)
		ring_set_error(intf, XENSTORE_ERROR_RINGIDX);
	return n;
}

ssize_t ring_server_write(struct xenstore_domain_interface *intf,
			  const void *buf, size_t len)
{
	ssize_t n = queue_produce(intf->rsp, &intf->rsp_cons, &intf->rsp_prod,
				  buf, len);

	if (n < 0)
		ring_set_error(intf, XENSTORE_ERROR_RINGIDX);
	return n;
}

bool ring_server_has_input(const struct xenstore_domain_interface *intf)
{
	XENSTORE_RING_IDX cons = __atomic_load_n(&intf->req_cons,
						 __ATOMIC_RELAXED);
	XENSTORE_RING_IDX prod = __atomic_load_n(&intf->req_prod,
						 __ATOMIC_ACQUIRE);

	return prod != cons;
}

void ring_server_attach(struct xenstore_domain_interface *intf,
			uint32_t features)
{
	__atomic_store_n(&intf->server_features, features, __ATOMIC_SEQ_CST);
	__atomic_store_n(&intf->error, XENSTORE_ERROR_NONE, __ATOMIC_SEQ_CST);
}

bool ring_reconnect_requested(const struct xenstore_domain_interface *intf)
{
	return __atomic_load_n(&intf->connection, __ATOMIC_ACQUIRE) ==
	       XENSTORE_RECONNECT;
}

void ring_reconnect_complete(struct xenstore_domain_interface *intf)
{
	/* The guest looks at nothing but the connection field until it
	 * reads CONNECTED, so the indices may be rewritten freely before. */
	__atomic_store_n(&intf->req_cons, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&intf->req_prod, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&intf->rsp_cons, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&intf->rsp_prod, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&intf->error, XENSTORE_ERROR_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&intf->connection, XENSTORE_CONNECTED,
			 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void ring_set_error(struct xenstore_domain_interface *intf, uint32_t error)
{
	__atomic_store_n(&intf->error, error, __ATOMIC_SEQ_CST);
}

ssize_t ring_guest_write(struct xenstore_domain_interface *intf,
			 const void *buf, size_t len)
{
	return queue_produce(intf->req, &intf->req_cons, &intf->req_prod,
			     buf, len);
}

ssize_t ring_guest_read(struct xenstore_domain_interface *intf,
			void *buf, size_t len)
{
	return queue_consume(intf->rsp, &intf->rsp_cons, &intf->rsp_prod,
			     buf, len);
}
