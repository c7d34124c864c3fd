#include <stdarg.h>
#include <string.h>
#include <talloc.h>

#include "tests/core/memconn.h"

#define HEADER_SIZE sizeof(struct xsd_sockmsg)

/* A byte queue: [start, len) of data is unread. */
struct byte_queue {
	unsigned char *data;
	size_t start, len;
};

struct kept_event {
	struct kept_event *next;
	struct memconn_event ev;
};

struct memconn {
	struct connection *conn;
	bool destroyed;
	bool protocol_error;
	bool hung_up;
	size_t room;
	struct byte_queue in, out;
	struct kept_event *events, **events_tail;
	uint32_t next_req_id;
};

static bool queue_push(void *ctx, struct byte_queue *q, const void *bytes,
		       size_t len)
{
	unsigned char *grown;

	if (q->start == q->len)
		q->start = q->len = 0;
	grown = talloc_realloc(ctx, q->data, unsigned char, q->len + len + 1);
	if (!grown)
		return false;
	if (len)
		memcpy(grown + q->len, bytes, len);
	q->data = grown;
	q->len += len;
	return true;
}

static size_t queue_size(const struct byte_queue *q)
{
	return q->len - q->start;
}

static ssize_t memconn_read(void *io, void *buf, size_t len)
{
	struct memconn *mc = io;
	size_t n = queue_size(&mc->in);

	if (n == 0)
		return mc->hung_up ? -1 : 0;
	if (n > len)
		n = len;
	memcpy(buf, mc->in.data + mc->in.start, n);
	mc->in.start += n;
	return (ssize_t)n;
}

static ssize_t memconn_write(void *io, const void *buf, size_t len)
{
	struct memconn *mc = io;

	if (mc->hung_up)
		return -1;
	if (mc->room != MEMCONN_UNLIMITED && len > mc->room)
		len = mc->room;
	if (len == 0)
		return 0;
	if (!queue_push(mc, &mc->out, buf, len))
		return -1;
	if (mc->room != MEMCONN_UNLIMITED)
		mc->room -= len;
	return (ssize_t)len;
}

static void memconn_destroy(void *io)
{
	struct memconn *mc = io;

	mc->destroyed = true;
	mc->conn = NULL;
}

static void memconn_protocol_error_seen(void *io)
{
	struct memconn *mc = io;

	mc->protocol_error = true;
}

const struct conn_ops memconn_ops = {
	.read = memconn_read,
	.write = memconn_write,
	.destroy = memconn_destroy,
	.protocol_error = memconn_protocol_error_seen,
};

typedef struct connection *(*connect_fn)(struct server *server,
					 const struct conn_ops *ops, void *io,
					 uint32_t domid);

/* A backend freed first takes its connection with it, as a socket would. */
static int memconn_free(struct memconn *mc)
{
	if (mc->conn)
		conn_close(mc->conn);
	return 0;
}

static struct memconn *connect_with(void *ctx, struct server *server,
				    uint32_t domid, connect_fn connect)
{
	struct memconn *mc = talloc_zero(ctx, struct memconn);

	if (!mc)
		return NULL;
	talloc_set_destructor(mc, memconn_free);
	mc->room = MEMCONN_UNLIMITED;
	mc->events_tail = &mc->events;
	mc->next_req_id = 1;
	mc->conn = connect(server, &memconn_ops, mc, domid);
	if (!mc->conn) {
		talloc_free(mc);
		return NULL;
	}
	return mc;
}

struct memconn *memconn_new(void *ctx, struct server *server, uint32_t domid)
{
	return connect_with(ctx, server, domid, server_connect);
}

struct memconn *memconn_new_domain(void *ctx, struct server *server,
				   uint32_t domid)
{
	return connect_with(ctx, server, domid, server_connect_domain);
}

struct connection *memconn_connection(const struct memconn *mc)
{
	return mc->conn;
}

bool memconn_destroyed(const struct memconn *mc)
{
	return mc->destroyed;
}

bool memconn_protocol_error(const struct memconn *mc)
{
	return mc->protocol_error;
}

/* Let the core read until the input is used up or it stops reading. */
static bool feed_core(struct memconn *mc)
{
	for (;;) {
		size_t before = queue_size(&mc->in);

		if (!mc->conn)
			return false;
		if (!conn_input_ready(mc->conn))
			return false;
		if (queue_size(&mc->in) == 0 || queue_size(&mc->in) == before)
			return true;
	}
}

bool memconn_send_bytes(struct memconn *mc, const void *bytes, size_t len)
{
	if (!queue_push(mc, &mc->in, bytes, len))
		return false;
	return feed_core(mc);
}

bool memconn_send(struct memconn *mc, uint32_t type, uint32_t req_id,
		  uint32_t tx_id, const void *payload, uint32_t len)
{
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
	};

	if (!queue_push(mc, &mc->in, &hdr, HEADER_SIZE) ||
	    !queue_push(mc, &mc->in, payload, len))
		return false;
	return feed_core(mc);
}

void memconn_hang_up(struct memconn *mc)
{
	mc->hung_up = true;
}

bool memconn_queue_input(struct memconn *mc, const void *bytes, size_t len)
{
	return queue_push(mc, &mc->in, bytes, len);
}

bool memconn_notify(struct memconn *mc)
{
	return feed_core(mc);
}

size_t memconn_unread_input(const struct memconn *mc)
{
	return queue_size(&mc->in);
}

bool memconn_recv(struct memconn *mc, struct xsd_sockmsg *hdr, char *payload)
{
	size_t avail = queue_size(&mc->out), copy;

	if (avail < HEADER_SIZE)
		return false;
	memcpy(hdr, mc->out.data + mc->out.start, HEADER_SIZE);
	if (avail < HEADER_SIZE + hdr->len)
		return false;
	copy = hdr->len <= XENSTORE_PAYLOAD_MAX ? hdr->len
						 : XENSTORE_PAYLOAD_MAX;
	memcpy(payload, mc->out.data + mc->out.start + HEADER_SIZE, copy);
	payload[copy] = '\0';
	mc->out.start += HEADER_SIZE + hdr->len;
	return true;
}

size_t memconn_output_len(const struct memconn *mc)
{
	return queue_size(&mc->out);
}

void memconn_set_room(struct memconn *mc, size_t room)
{
	mc->room = room;
}

bool memconn_give_room(struct memconn *mc, size_t room)
{
	mc->room = room;
	return mc->conn && conn_output_ready(mc->conn);
}

/* --- A synchronous client for tests ---------------------------------- */

int memconn_error_number(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (strcmp(xsd_errors[i].errstring, name) == 0)
			return xsd_errors[i].errnum;
	return -1;
}

static bool keep_event(struct memconn *mc, const struct xsd_sockmsg *hdr,
		       const char *payload)
{
	struct kept_event *kept = talloc_zero(mc, struct kept_event);
	size_t path_len = strnlen(payload, hdr->len);

	if (!kept)
		return false;
	memcpy(kept->ev.path, payload, path_len);
	if (path_len < hdr->len)
		memcpy(kept->ev.token, payload + path_len + 1,
		       strnlen(payload + path_len + 1,
			       hdr->len - path_len - 1));
	*mc->events_tail = kept;
	mc->events_tail = &kept->next;
	return true;
}

/* Move complete watch events at the head of the output to the kept list. */
static void collect_events(struct memconn *mc)
{
	struct xsd_sockmsg hdr;
	char payload[XENSTORE_PAYLOAD_MAX + 1];

	while (queue_size(&mc->out) >= HEADER_SIZE) {
		memcpy(&hdr, mc->out.data + mc->out.start, HEADER_SIZE);
		if (hdr.type != XS_WATCH_EVENT ||
		    !memconn_recv(mc, &hdr, payload) ||
		    !keep_event(mc, &hdr, payload))
			return;
	}
}

int memconn_call(struct memconn *mc, uint32_t type, uint32_t tx_id,
		 const void *payload, uint32_t len,
		 struct memconn_reply *reply)
{
	uint32_t req_id = mc->next_req_id++;

	memset(&reply->hdr, 0, sizeof(reply->hdr));
	reply->hdr.type = XS_WIRE_TYPE_COUNT;
	reply->payload[0] = '\0';
	reply->err = -1;
	memconn_send(mc, type, req_id, tx_id, payload, len);
	collect_events(mc);
	if (!memconn_recv(mc, &reply->hdr, reply->payload))
		return -1;
	if (reply->hdr.req_id != req_id || reply->hdr.tx_id != tx_id)
		return -1;
	if (reply->hdr.type == XS_ERROR)
		reply->err = memconn_error_number(reply->payload);
	else if (reply->hdr.type == type)
		reply->err = 0;
	return reply->err;
}

int memconn_callv(struct memconn *mc, uint32_t type, uint32_t tx_id,
		  struct memconn_reply *reply, int raw_last, ...)
{
	char payload[2 * XENSTORE_PAYLOAD_MAX];
	size_t len = 0;
	const char *arg, *next;
	va_list ap;

	va_start(ap, raw_last);
	for (arg = va_arg(ap, const char *); arg; arg = next) {
		size_t n = strlen(arg);

		next = va_arg(ap, const char *);
		if (len + n + 1 > sizeof(payload))
			break;	/* the test asked for nonsense: send a stump */
		if (!next && raw_last) {
			memcpy(payload + len, arg, n);
			len += n;
		} else {
			memcpy(payload + len, arg, n + 1);
			len += n + 1;
		}
	}
	va_end(ap);
	return memconn_call(mc, type, tx_id, payload, (uint32_t)len, reply);
}

bool memconn_next_event(struct memconn *mc, struct memconn_event *ev)
{
	struct kept_event *kept;

	collect_events(mc);
	kept = mc->events;
	if (!kept)
		return false;
	*ev = kept->ev;
	mc->events = kept->next;
	if (!mc->events)
		mc->events_tail = &mc->events;
	talloc_free(kept);
	return true;
}

unsigned int memconn_pending_events(struct memconn *mc)
{
	const struct kept_event *kept;
	unsigned int count = 0;

	collect_events(mc);
	for (kept = mc->events; kept; kept = kept->next)
		count++;
	return count;
}
