/*
 * libFuzzer target: arbitrary byte streams through the core's framing and
 * dispatch, over in-memory connections whose backend misbehaves the way
 * real peers do (partial reads, short and refused writes, hang-ups), with
 * a pretend ring backend that introduces guests, reports their deaths and
 * resets their rings.  README.md has the input format and the checks.
 *
 * Input: one flags byte (and a memory headroom byte if its flag asks for
 * one: the core's allocations then fail past it), then operations.  Each
 * operation is one byte (bits 0-1: connection slot, bits 2-4: what to do,
 * bits 5-7: a size class or a backend event), some followed by arguments:
 *
 *   RAW        len16 bytes...        append raw bytes to the slot's stream
 *   MSG        type8 tx8 len16 bytes append one message, header made here
 *   ROOM                             backend has room again (budget: class)
 *   FULL                             backend takes nothing until ROOM
 *   HANGUP                           reads return -1 once input is used up
 *   WRITE_GONE                       writes return -1 from now on
 *   CLOSE                            backend closes (conn_close)
 *   BACKEND                          a backend event (enum backend_event)
 *
 * MSG exists so that mutations of a payload keep the framing valid and
 * reach the handlers; RAW keeps the framing itself under attack.
 *
 * Slots 0 and 1 are dom0 sockets; slots 2 and 3 are the rings of domains 7
 * and 8, connected when dom0 INTRODUCEs them (done at the start unless a
 * flag says not to).  Other introduced domains get a ring that nobody
 * drives: it takes whatever the core writes.
 *
 * Besides the sanitizers, the harness checks what PROTOCOL.md and core.h
 * promise and aborts when a promise is broken.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <talloc.h>

#include "daemon/control.h"
#include "daemon/domain.h"
#include "daemon/internal.h"
#include "daemon/log.h"
#include "daemon/watch.h"

#define HEADER_SIZE sizeof(struct xsd_sockmsg)
#define SLOT_COUNT 4
#define NO_SLOT SLOT_COUNT
#define UNLIMITED SIZE_MAX
#define STATE_DOMIDS 16

enum op_kind {
	OP_RAW, OP_MSG, OP_ROOM, OP_FULL,
	OP_HANGUP, OP_WRITE_GONE, OP_CLOSE, OP_BACKEND,
};

/* OP_BACKEND's events, from the size-class bits. */
enum backend_event {
	EV_RECONNECT,	/* a socket slot whose connection is gone: a new one */
	EV_RESET,	/* a ring asks to reconnect (conn_reset) */
	EV_TICK,	/* a second passes */
	EV_TIMEOUT,	/* the watch-event timeout passes */
	EV_SHUTDOWN,	/* the slot's domain shuts down (server_check_domains) */
	EV_DYING,	/* ... dies */
	EV_RUNNING,	/* ... runs again */
	EV_SPURIOUS,	/* readiness signalled with nothing new */
};

enum input_flags {
	FLAG_PRIV_DOMID = 1,	/* --priv-domid 8: slot 3 is privileged */
	FLAG_TRACE = 2,		/* tracing on from the start */
	FLAG_VERBOSE = 4,	/* debug log messages formatted too */
	FLAG_SMALL_QUOTAS = 8,	/* reach every quota with small inputs */
	FLAG_NOT_INTRODUCED = 16, /* domains 7 and 8 start unknown */
	FLAG_MEMORY_LIMIT = 32,	/* next byte: talloc headroom, in KiB */
};

/* Read chunk sizes and write budgets, around the header and payload sizes. */
static const size_t size_classes[8] = {
	UNLIMITED, 1, 3, 7, HEADER_SIZE, HEADER_SIZE + 1, 64,
	HEADER_SIZE + XENSTORE_PAYLOAD_MAX + 1,
};

static const uint32_t slot_domids[SLOT_COUNT] = { 0, 0, 7, 8 };
/* Whose state EV_SHUTDOWN/DYING/RUNNING change: slots 0 and 1 stand for
 * guests without a slot of their own (introduce them with INTRODUCE). */
static const uint32_t lifecycle_domids[SLOT_COUNT] = { 9, 10, 7, 8 };

struct expected_reply {
	uint32_t type, req_id, tx_id;
};

/* One side of the stream cut into messages, as the core must cut it. */
struct framer {
	unsigned char header[HEADER_SIZE];
	size_t header_have;
	uint32_t payload_len, payload_have;
	char payload[XENSTORE_PAYLOAD_MAX];
	bool broken;		/* an oversized header: nothing after counts */
};

/* The backend side of one connection. */
struct endpoint {
	struct harness *h;
	struct connection *conn;
	unsigned int slot;	/* NO_SLOT: nobody drives it */
	unsigned int id;
	bool alive;
	bool ring;		/* from INTRODUCE: can be reset */

	/* Input the core has not read yet. */
	unsigned char *pending;
	size_t pending_start, pending_len, pending_size;
	size_t read_chunk;
	bool hangup;		/* reads return -1 once pending is used */
	bool gone_returned;	/* a read or write returned -1 */
	bool protocol_error;	/* ops->protocol_error was called */

	/* Output: writes take at most write_budget more bytes. */
	size_t write_budget;
	bool write_gone;

	/* Requests the core has read whole, oldest first, not yet answered. */
	struct expected_reply *expected;
	size_t expected_head, expected_count, expected_size;
	bool expect_close;	/* the core read a header with len > 4096 */

	struct framer in, out;
	uint32_t next_req_id;
};

struct harness {
	void *root;		/* the server and everything the core allocates */
	void *scratch;		/* the harness's own bookkeeping */
	struct server *server;
	struct endpoint *slots[SLOT_COUNT];	/* each slot's latest */
	struct endpoint **all;
	size_t all_count, all_size;
	unsigned int connects, destroys;
	bool memory_limited;	/* allocations in the core may fail */
	uint64_t now;
	enum domain_state states[STATE_DOMIDS];
	/* The core asked for server_resume() from the loop (resume_soon). */
	bool resume_pending, resuming;
};

/* The input being run: the server's hooks get no context of their own. */
static struct harness *current;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz_dispatch: check failed: %s: ", \
				#cond);                                     \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

/* FUZZ_DISPATCH_DUMP=1 prints the conversation, to read a reproducer. */
static bool dumping(void)
{
	static int dump = -1;

	if (dump < 0)
		dump = getenv("FUZZ_DISPATCH_DUMP") != NULL;
	return dump;
}

/* --- hooks: logging and tracing go nowhere, but are formatted --------- */

static size_t sink_bytes;

static void log_sink(enum log_level level, const char *message)
{
	sink_bytes += strlen(message) + (size_t)level;
	if (dumping())
		fprintf(stderr, "log %d: %s\n", (int)level, message);
}

static void trace_sink(const char *line)
{
	sink_bytes += strlen(line);
}

static bool hook_trace_open(const char *file)
{
	/* Some names fail, as an unwritable trace file would. */
	if (file && strchr(file, '.'))
		return false;
	trace_set_sink(trace_sink);
	return true;
}

static void hook_trace_close(void)
{
	trace_set_sink(NULL);
}

static void report_node(const void *ptr, int depth, int max_depth,
			int is_ref, void *arg)
{
	const char *name = talloc_get_name(ptr);

	*(size_t *)arg += (name ? strlen(name) : 0) + talloc_get_size(ptr);
}

static void hook_resume_soon(struct server *server)
{
	CHECK(current && current->server == server,
	      "resume_soon for an unknown server");
	current->resume_pending = true;
}

static bool hook_memreport_to_file(const void *talloc_root, const char *file)
{
	size_t total = 0;

	if (strchr(file, '.'))
		return false;
	talloc_report_depth_cb(talloc_root, 0, -1, report_node, &total);
	sink_bytes += total;
	return true;
}

/* --- the output side: what the core writes, checked message by message */

static void dump_message(const char *dir, const struct endpoint *ep,
			 const struct xsd_sockmsg *hdr, const char *payload)
{
	uint32_t i;

	fprintf(stderr, "conn %u (slot %d) %s type %u req %u tx %u len %u",
		ep->id, ep->slot == NO_SLOT ? -1 : (int)ep->slot, dir,
		hdr->type, hdr->req_id, hdr->tx_id, hdr->len);
	if (payload) {
		fputs(" \"", stderr);
		for (i = 0; i < hdr->len && i < 200; i++) {
			unsigned char c = (unsigned char)payload[i];

			if (c >= 32 && c < 127 && c != '\\')
				fputc(c, stderr);
			else
				fprintf(stderr, "\\%03o", c);
		}
		fputs(i < hdr->len ? "\"..." : "\"", stderr);
	}
	fputc('\n', stderr);
}

static bool is_error_name(const char *payload, uint32_t len)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (strlen(xsd_errors[i].errstring) + 1 == len &&
		    memcmp(xsd_errors[i].errstring, payload, len) == 0)
			return true;
	return false;
}

static unsigned int count_nuls(const char *p, uint32_t len)
{
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < len; i++)
		n += p[i] == '\0';
	return n;
}

static void check_output_message(struct endpoint *ep,
				 const struct xsd_sockmsg *hdr,
				 const char *payload)
{
	struct expected_reply *want;

	if (dumping())
		dump_message("->", ep, hdr, payload);
	if (hdr->type == XS_WATCH_EVENT) {
		CHECK(hdr->req_id == 0 && hdr->tx_id == 0,
		      "conn %u: event with req_id %u tx_id %u", ep->id,
		      hdr->req_id, hdr->tx_id);
		CHECK(hdr->len >= 2 && payload[hdr->len - 1] == '\0' &&
		      count_nuls(payload, hdr->len) == 2,
		      "conn %u: event payload is not path\\0token\\0", ep->id);
		return;
	}
	CHECK(ep->expected_count > 0,
	      "conn %u: reply type %u req_id %u with no request outstanding",
	      ep->id, hdr->type, hdr->req_id);
	want = &ep->expected[ep->expected_head];
	CHECK(hdr->req_id == want->req_id && hdr->tx_id == want->tx_id,
	      "conn %u: reply req_id %u tx_id %u, expected %u %u", ep->id,
	      hdr->req_id, hdr->tx_id, want->req_id, want->tx_id);
	CHECK(hdr->type == want->type || hdr->type == XS_ERROR,
	      "conn %u: reply type %u to request type %u", ep->id, hdr->type,
	      want->type);
	if (hdr->type == XS_ERROR)
		CHECK(is_error_name(payload, hdr->len),
		      "conn %u: ERROR reply without an error name", ep->id);
	else if (want->type == XS_TRANSACTION_START)
		CHECK(hdr->len >= 2 && payload[hdr->len - 1] == '\0' &&
		      strspn(payload, "0123456789") == hdr->len - 1 &&
		      strcmp(payload, "0") != 0,
		      "conn %u: TRANSACTION_START reply is not an id", ep->id);
	ep->expected_head++;
	ep->expected_count--;
}

/*
 * Cut @len bytes of a stream into messages, as its reader must: each
 * header goes to @header_ok (false: the stream is broken from there on),
 * each whole message to @message, with its payload if @keep_payload.
 */
static void framer_feed(struct endpoint *ep, struct framer *f,
			const unsigned char *p, size_t len, bool keep_payload,
			bool (*header_ok)(struct endpoint *ep,
					  const struct xsd_sockmsg *hdr),
			void (*message)(struct endpoint *ep,
					const struct xsd_sockmsg *hdr,
					const char *payload))
{
	while (len && !f->broken) {
		struct xsd_sockmsg hdr;
		size_t n;

		if (f->header_have < HEADER_SIZE) {
			n = HEADER_SIZE - f->header_have;
			n = n < len ? n : len;
			memcpy(f->header + f->header_have, p, n);
			f->header_have += n;
			p += n;
			len -= n;
			if (f->header_have < HEADER_SIZE)
				break;
			memcpy(&hdr, f->header, HEADER_SIZE);
			if (!header_ok(ep, &hdr)) {
				f->broken = true;
				break;
			}
			f->payload_len = hdr.len;
			f->payload_have = 0;
		}
		n = f->payload_len - f->payload_have;
		n = n < len ? n : len;
		if (keep_payload)
			memcpy(f->payload + f->payload_have, p, n);
		f->payload_have += (uint32_t)n;
		p += n;
		len -= n;
		if (f->payload_have == f->payload_len) {
			memcpy(&hdr, f->header, HEADER_SIZE);
			message(ep, &hdr, f->payload);
			f->header_have = 0;
		}
	}
}

static bool output_header_ok(struct endpoint *ep,
			     const struct xsd_sockmsg *hdr)
{
	CHECK(hdr->len <= XENSTORE_PAYLOAD_MAX,
	      "conn %u: message type %u with len %u", ep->id, hdr->type,
	      hdr->len);
	return true;
}

/* Feed @len bytes of output through the endpoint's output framer. */
static void take_output(struct endpoint *ep, const unsigned char *p,
			size_t len)
{
	framer_feed(ep, &ep->out, p, len, true, output_header_ok,
		    check_output_message);
}

/* --- the input side: what the core reads, cut as it must cut it ------- */

static void expect_reply(struct endpoint *ep, const struct xsd_sockmsg *hdr)
{
	struct expected_reply *want;

	if (dumping())
		dump_message("<-", ep, hdr, NULL);
	if (ep->expected_head + ep->expected_count == ep->expected_size) {
		if (ep->expected_head) {
			memmove(ep->expected, ep->expected + ep->expected_head,
				ep->expected_count * sizeof(*want));
			ep->expected_head = 0;
		} else {
			ep->expected_size = ep->expected_size * 2 + 16;
			ep->expected = talloc_realloc(ep, ep->expected,
						      struct expected_reply,
						      ep->expected_size);
			CHECK(ep->expected, "out of memory");
		}
	}
	want = &ep->expected[ep->expected_head + ep->expected_count++];
	want->type = hdr->type;
	want->req_id = hdr->req_id;
	want->tx_id = hdr->tx_id;
}

/* A request longer than the protocol allows: the core cuts the
 * connection, and nothing after it counts. */
static bool input_header_ok(struct endpoint *ep,
			    const struct xsd_sockmsg *hdr)
{
	if (hdr->len <= XENSTORE_PAYLOAD_MAX)
		return true;
	ep->expect_close = true;
	return false;
}

static void expect_reply_to(struct endpoint *ep,
			    const struct xsd_sockmsg *hdr, const char *payload)
{
	(void)payload;
	expect_reply(ep, hdr);
}

static void track_input(struct endpoint *ep, const unsigned char *p,
			size_t len)
{
	framer_feed(ep, &ep->in, p, len, false, input_header_ok,
		    expect_reply_to);
}

/* --- the backend ------------------------------------------------------ */

static ssize_t mem_read(void *io, void *buf, size_t len)
{
	struct endpoint *ep = io;
	size_t n = ep->pending_len;

	CHECK(ep->alive, "read on a destroyed connection");
	if (n == 0) {
		if (!ep->hangup)
			return 0;
		ep->gone_returned = true;
		return -1;
	}
	CHECK(len > 0, "conn %u: the core asked for 0 bytes with input waiting",
	      ep->id);
	if (n > len)
		n = len;
	if (n > ep->read_chunk)
		n = ep->read_chunk;
	/* A guest cannot have written more than its ring holds. */
	if (ep->ring && n > XENSTORE_RING_SIZE)
		n = XENSTORE_RING_SIZE;
	memcpy(buf, ep->pending + ep->pending_start, n);
	track_input(ep, ep->pending + ep->pending_start, n);
	ep->pending_start += n;
	ep->pending_len -= n;
	return (ssize_t)n;
}

static ssize_t mem_write(void *io, const void *buf, size_t len)
{
	struct endpoint *ep = io;
	size_t n = len;

	CHECK(ep->alive, "write on a destroyed connection");
	CHECK(len > 0, "conn %u: empty write", ep->id);
	if (ep->write_gone) {
		ep->gone_returned = true;
		return -1;
	}
	if (n > ep->write_budget)
		n = ep->write_budget;
	if (ep->write_budget != UNLIMITED)
		ep->write_budget -= n;
	take_output(ep, buf, n);
	return (ssize_t)n;
}

static void mem_destroy(void *io)
{
	struct endpoint *ep = io;

	CHECK(ep->alive, "conn %u destroyed twice", ep->id);
	if (dumping())
		fprintf(stderr, "conn %u destroyed\n", ep->id);
	ep->alive = false;
	ep->conn = NULL;
	ep->h->destroys++;
}

static void mem_protocol_error(void *io)
{
	struct endpoint *ep = io;

	CHECK(ep->alive, "protocol_error on a destroyed connection");
	CHECK(ep->expect_close,
	      "conn %u: protocol_error without a header over %u bytes", ep->id,
	      XENSTORE_PAYLOAD_MAX);
	ep->protocol_error = true;
}

static const struct conn_ops mem_ops = {
	.read = mem_read,
	.write = mem_write,
	.destroy = mem_destroy,
	.protocol_error = mem_protocol_error,
};

static struct endpoint *endpoint_new(struct harness *h, unsigned int slot,
				     bool ring)
{
	struct endpoint *ep = talloc_zero(h->scratch, struct endpoint);

	CHECK(ep, "out of memory");
	ep->h = h;
	ep->slot = slot;
	ep->ring = ring;
	ep->id = (unsigned int)h->all_count;
	ep->read_chunk = UNLIMITED;
	ep->write_budget = UNLIMITED;
	if (h->all_count == h->all_size) {
		h->all_size = h->all_size * 2 + 8;
		h->all = talloc_realloc(h->scratch, h->all, struct endpoint *,
					h->all_size);
		CHECK(h->all, "out of memory");
	}
	h->all[h->all_count++] = ep;
	return ep;
}

/* The endpoint now has a connection; false if the core had no memory. */
static bool endpoint_attach(struct endpoint *ep, struct connection *conn)
{
	CHECK(conn || ep->h->memory_limited, "cannot connect");
	if (!conn)
		return false;
	ep->conn = conn;
	ep->alive = true;
	ep->h->connects++;
	if (ep->slot != NO_SLOT)
		ep->h->slots[ep->slot] = ep;
	if (dumping())
		fprintf(stderr, "conn %u (slot %d) created, domain %u\n",
			ep->id, ep->slot == NO_SLOT ? -1 : (int)ep->slot,
			conn->who.domid);
	return true;
}

static void connect_socket(struct harness *h, unsigned int slot)
{
	struct endpoint *ep = endpoint_new(h, slot, false);

	endpoint_attach(ep, server_connect(h->server, &mem_ops, ep,
					   slot_domids[slot]));
}

/* INTRODUCE: map the guest's ring, which here is one more endpoint. */
static int fake_introduce(void *data, uint32_t domid, uint64_t gfn,
			  uint32_t port)
{
	struct harness *h = data;
	unsigned int slot = domid == slot_domids[2] ? 2 :
			    domid == slot_domids[3] ? 3 : NO_SLOT;
	struct endpoint *ep;

	/* As an event channel that cannot be bound. */
	if (port == 0)
		return EINVAL;
	ep = endpoint_new(h, slot, true);
	if (!endpoint_attach(ep, server_connect_domain(h->server, &mem_ops,
						       ep, domid)))
		return ENOMEM;
	return 0;
}

static enum domain_state fake_state(void *data, uint32_t domid)
{
	struct harness *h = data;

	return domid < STATE_DOMIDS ? h->states[domid] : DOMAIN_RUNNING;
}

static const struct domain_backend fake_backend = {
	.introduce = fake_introduce,
	.state = fake_state,
};

/*
 * talloc's memory limit is deprecated in favour of cgroups, which cannot
 * fail one allocation at a time; here it is the only way to reach the
 * core's out-of-memory paths without replacing malloc under the sanitizer.
 * talloc 2.4.0 never gives back the limit a freed talloc_pool used, so
 * each request's pool uses the headroom up for good: allocations fail
 * after a few requests, later ones with less room than earlier ones.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void limit_memory(struct harness *h, size_t headroom)
{
	/* The limit counts talloc's chunk headers too (96 bytes in talloc
	 * 2.4); 128 a block stays above them. */
	size_t used = talloc_total_size(h->root) +
		      talloc_total_blocks(h->root) * 128;

	CHECK(talloc_set_memlimit(h->root, headroom ? used + headroom : 0) == 0,
	      "talloc_set_memlimit failed");
	h->memory_limited = headroom != 0;
}
#pragma GCC diagnostic pop

/* --- invariants between operations ------------------------------------ */

static bool output_queued(const struct connection *conn)
{
	return conn->out_start < conn->out_len;
}

/* The core's own rule for not reading a guest (connection.c). */
static bool held_back(struct connection *conn)
{
	const struct quota_settings *quota = &conn->server->config.quota;

	if (conn->who.privileged)
		return false;
	return conn->queued_replies >= quota->outstanding ||
	       domain_data_memory(conn->domain) > quota->memory;
}

/* After every call into the core, as the backends see it. */
static void check_between_calls(struct harness *h)
{
	unsigned int alive = 0;
	size_t i;

	for (i = 0; i < h->all_count; i++) {
		struct endpoint *ep = h->all[i];

		if (!ep->alive)
			continue;
		alive++;
		CHECK(!ep->gone_returned,
		      "conn %u survived a -1 from its backend", ep->id);
		CHECK(!ep->protocol_error,
		      "conn %u survived its protocol_error", ep->id);
		/* A guest may be held back before it gets to that header. */
		CHECK(!ep->expect_close || !ep->conn->who.privileged,
		      "conn %u survived a header with len > %u", ep->id,
		      XENSTORE_PAYLOAD_MAX);
		/* Queued output with room to take it: nobody would ever
		 * call conn_output_ready again, the peer would hang. */
		CHECK(!output_queued(ep->conn) || ep->write_budget == 0,
		      "conn %u: output left queued while the backend had room",
		      ep->id);
	}
	CHECK(server_connection_count(h->server) == alive,
	      "%u connections in the server, %u alive in the backends",
	      server_connection_count(h->server), alive);
	/* Back in the loop: it runs what the core deferred to it. */
	if (h->resume_pending && !h->resuming) {
		unsigned int rounds;

		h->resuming = true;
		for (rounds = 0; h->resume_pending; rounds++) {
			CHECK(rounds < 100000, "resume_soon asked for ever");
			h->resume_pending = false;
			server_resume(h->server);
			check_between_calls(h);
		}
		h->resuming = false;
	}
}

/*
 * The peer has input for the core: call conn_input_ready for as long as
 * it takes some, as a level-triggered socket or a ring backend does.
 */
static void drive_input(struct harness *h, struct endpoint *ep)
{
	while (ep->alive && (ep->pending_len || ep->hangup)) {
		size_t before = ep->pending_len;
		bool alive = conn_input_ready(ep->conn);

		CHECK(alive == ep->alive,
		      "conn_input_ready returned %d, backend says %d", alive,
		      ep->alive);
		check_between_calls(h);
		/* Held back (quotas): it resumes in conn_output_ready. */
		if (ep->alive && ep->pending_len == before)
			break;
	}
}

/*
 * The peer took output and signals.  A ring backend then also looks for
 * input at least once (io-xen's ring_signalled), a socket only if some
 * is waiting.
 */
static void room(struct harness *h, struct endpoint *ep, size_t budget)
{
	bool alive;

	if (!ep->alive)
		return;
	ep->write_budget = budget;
	alive = conn_output_ready(ep->conn);
	CHECK(alive == ep->alive,
	      "conn_output_ready returned %d, backend says %d", alive,
	      ep->alive);
	check_between_calls(h);
	if (ep->alive && ep->ring && !ep->pending_len) {
		alive = conn_input_ready(ep->conn);
		CHECK(alive == ep->alive,
		      "conn_input_ready returned %d, backend says %d", alive,
		      ep->alive);
		check_between_calls(h);
	}
	drive_input(h, ep);
}

struct owner_count {
	uint32_t domid;
	unsigned long nodes, bytes;
};

struct store_census {
	struct owner_count owners[64];
	unsigned int owner_count;
	unsigned long nodes;
	bool overflow;
};

static int count_node(const char *path, const struct node *node, void *arg)
{
	struct store_census *census = arg;
	uint32_t owner;
	unsigned int i;

	if (!node)
		return EIO;	/* a record that does not decode */
	census->nodes++;
	if (!node->perms.count)
		return 0;	/* control_check_store reports it */
	owner = node->perms.entries[0].domid;
	for (i = 0; i < census->owner_count; i++)
		if (census->owners[i].domid == owner)
			break;
	if (i == census->owner_count) {
		if (i == sizeof(census->owners) / sizeof(census->owners[0])) {
			census->overflow = true;
			return 0;
		}
		census->owners[census->owner_count++].domid = owner;
	}
	census->owners[i].nodes++;
	census->owners[i].bytes += node_record_size(node);
	return 0;
}

static const struct owner_count *census_of(const struct store_census *census,
					   uint32_t domid)
{
	static const struct owner_count none;
	unsigned int i;

	for (i = 0; i < census->owner_count; i++)
		if (census->owners[i].domid == domid)
			return &census->owners[i];
	return &none;
}

/* A domain's counters against the store and the connections. */
static void check_domain(struct harness *h, const struct store_census *census,
			 uint32_t domid)
{
	struct domain *domain = domain_get(h->server, domid);
	const struct owner_count *owned = census_of(census, domid);
	unsigned long watches = 0, transactions = 0;
	struct connection *conn;

	CHECK(domain, "out of memory");
	TAILQ_FOREACH(conn, &h->server->connections, link) {
		struct conn_transaction *entry;
		unsigned int listed = 0;

		if (conn->domain != domain)
			continue;
		LIST_FOREACH(entry, &conn->transactions, link)
			listed++;
		CHECK(listed == conn->transaction_count,
		      "connection %u: %u transactions listed, %u counted",
		      conn->id, listed, conn->transaction_count);
		watches += conn->watch_count;
		transactions += conn->transaction_count;
	}
	if (!census->overflow) {
		CHECK(domain->nodes == owned->nodes,
		      "domain %u: %lu nodes accounted, %lu owned", domid,
		      domain->nodes, owned->nodes);
		CHECK(domain->node_bytes == owned->bytes,
		      "domain %u: %lu node bytes accounted, %lu owned", domid,
		      domain->node_bytes, owned->bytes);
	}
	CHECK(domain->watches == watches,
	      "domain %u: %u watches accounted, %lu registered", domid,
	      domain->watches, watches);
	CHECK(watches || domain->watch_bytes == 0,
	      "domain %u: %lu watch bytes left with no watch", domid,
	      domain->watch_bytes);
	CHECK(domain->transactions == transactions,
	      "domain %u: %u transactions accounted, %lu open", domid,
	      domain->transactions, transactions);
}

/* The store and the registries agree with each other and with reality. */
static void check_server(struct harness *h)
{
	struct store_census census = { .owner_count = 0 };
	long problems = control_check_store(h->server);
	unsigned long watches = 0;
	struct connection *conn;
	unsigned int i;
	size_t e;

	CHECK(problems == 0, "control_check_store found %ld problems",
	      problems);
	CHECK(store_traverse(h->server->store, count_node, &census) == 0,
	      "store traverse failed");
	CHECK(census.nodes == store_node_count(h->server->store),
	      "store counts %lu nodes, holds %lu",
	      store_node_count(h->server->store), census.nodes);
	for (i = 0; i < census.owner_count; i++)
		check_domain(h, &census, census.owners[i].domid);
	for (i = 0; i < SLOT_COUNT; i++) {
		check_domain(h, &census, slot_domids[i]);
		check_domain(h, &census, lifecycle_domids[i]);
	}
	for (e = 0; e < h->all_count; e++)
		if (h->all[e]->alive)
			check_domain(h, &census, h->all[e]->conn->who.domid);
	TAILQ_FOREACH(conn, &h->server->connections, link)
		watches += conn->watch_count;
	CHECK(watch_count(h->server) == watches,
	      "%lu watches in the index, %lu on connections",
	      watch_count(h->server), watches);
}

/* --- running one input ------------------------------------------------ */

struct cursor {
	const uint8_t *p;
	size_t left;
};

static bool take_byte(struct cursor *c, uint8_t *out)
{
	if (!c->left)
		return false;
	*out = *c->p++;
	c->left--;
	return true;
}

/* A length-prefixed run of bytes, cut short where the input ends. */
static void take_bytes(struct cursor *c, const uint8_t **p, size_t *len)
{
	uint8_t lo = 0, hi = 0;
	size_t want;

	take_byte(c, &lo);
	take_byte(c, &hi);
	want = (size_t)lo | (size_t)hi << 8;
	*len = want < c->left ? want : c->left;
	*p = c->p;
	c->p += *len;
	c->left -= *len;
}

/* Queue bytes for the core, as if the peer had sent them. */
static void append_pending(struct endpoint *ep, const void *bytes, size_t len)
{
	if (!len)
		return;
	if (ep->pending_start) {
		memmove(ep->pending, ep->pending + ep->pending_start,
			ep->pending_len);
		ep->pending_start = 0;
	}
	if (ep->pending_len + len > ep->pending_size) {
		ep->pending_size = (ep->pending_len + len) * 2;
		ep->pending = talloc_realloc(ep, ep->pending, unsigned char,
					     ep->pending_size);
		CHECK(ep->pending, "out of memory");
	}
	memcpy(ep->pending + ep->pending_len, bytes, len);
	ep->pending_len += len;
}

static void deliver(struct harness *h, struct endpoint *ep, const void *bytes,
		    size_t len, size_t read_chunk)
{
	if (!ep || !ep->alive)
		return;
	append_pending(ep, bytes, len);
	ep->read_chunk = read_chunk;
	drive_input(h, ep);
}

static void run_message(struct harness *h, struct endpoint *ep,
			struct cursor *c, size_t read_chunk)
{
	struct xsd_sockmsg hdr = { 0 };
	unsigned char header[HEADER_SIZE];
	uint8_t type = 0, tx = 0;
	const uint8_t *payload;
	size_t len;

	take_byte(c, &type);
	take_byte(c, &tx);
	take_bytes(c, &payload, &len);
	if (!ep || !ep->alive)
		return;
	hdr.type = type;
	/* Transaction ids are small counters; 0xff stands for a bogus one. */
	hdr.tx_id = tx == 0xff ? UINT32_MAX : tx;
	hdr.req_id = ep->next_req_id++;
	hdr.len = (uint32_t)len;
	memcpy(header, &hdr, HEADER_SIZE);
	append_pending(ep, header, HEADER_SIZE);
	deliver(h, ep, payload, len, read_chunk);
}

/* The ring was reset: both sides start from a clean stream. */
static void reset_ring(struct harness *h, struct endpoint *ep)
{
	if (!ep || !ep->alive || !ep->ring)
		return;
	conn_reset(ep->conn);
	ep->pending_start = ep->pending_len = 0;
	ep->hangup = false;
	memset(&ep->in, 0, sizeof(ep->in));
	memset(&ep->out, 0, sizeof(ep->out));
	ep->expected_head = ep->expected_count = 0;
	ep->expect_close = false;
	CHECK(!output_queued(ep->conn), "conn %u: output left after a reset",
	      ep->id);
}

static void set_domain_state(struct harness *h, unsigned int slot,
			     enum domain_state state)
{
	h->states[lifecycle_domids[slot]] = state;
	server_check_domains(h->server);
}

static void run_backend_event(struct harness *h, unsigned int slot,
			      enum backend_event event)
{
	struct endpoint *ep = h->slots[slot];

	switch (event) {
	case EV_RECONNECT:
		if (slot_domids[slot] == 0 && (!ep || !ep->alive))
			connect_socket(h, slot);
		break;
	case EV_RESET:
		reset_ring(h, ep);
		break;
	case EV_TICK:
		server_tick(h->server, ++h->now);
		break;
	case EV_TIMEOUT:
		h->now += h->server->config.quota.watch_event_timeout + 1;
		server_tick(h->server, h->now);
		break;
	case EV_SHUTDOWN:
		set_domain_state(h, slot, DOMAIN_SHUTDOWN);
		break;
	case EV_DYING:
		set_domain_state(h, slot, DOMAIN_DYING);
		break;
	case EV_RUNNING:
		set_domain_state(h, slot, DOMAIN_RUNNING);
		break;
	case EV_SPURIOUS:
		if (ep && ep->alive) {
			CHECK(conn_input_ready(ep->conn) == ep->alive,
			      "conn_input_ready disagrees with the backend");
			check_between_calls(h);
			room(h, ep, ep->write_budget);
		}
		break;
	}
}

static void run_operation(struct harness *h, uint8_t op, struct cursor *c)
{
	unsigned int slot = op & 3;
	struct endpoint *ep = h->slots[slot];
	unsigned int class = op >> 5;
	const uint8_t *bytes;
	size_t len;

	if (dumping()) {
		static const char *const names[] = {
			"RAW", "MSG", "ROOM", "FULL", "HANGUP", "WRITE_GONE",
			"CLOSE", "BACKEND",
		};

		fprintf(stderr, "op %s slot %u class %u\n", names[(op >> 2) & 7],
			slot, class);
	}
	switch ((enum op_kind)((op >> 2) & 7)) {
	case OP_RAW:
		take_bytes(c, &bytes, &len);
		deliver(h, ep, bytes, len, size_classes[class]);
		break;
	case OP_MSG:
		run_message(h, ep, c, size_classes[class]);
		break;
	case OP_ROOM:
		if (ep)
			room(h, ep, size_classes[class]);
		break;
	case OP_FULL:
		if (ep)
			ep->write_budget = 0;
		break;
	case OP_HANGUP:
		if (ep && ep->alive) {
			ep->hangup = true;
			drive_input(h, ep);
		}
		break;
	case OP_WRITE_GONE:
		if (ep && ep->alive) {
			ep->write_gone = true;
			room(h, ep, ep->write_budget);
		}
		break;
	case OP_CLOSE:
		if (ep && ep->alive) {
			conn_close(ep->conn);
			CHECK(!ep->alive, "conn_close left conn %u alive",
			      ep->id);
		}
		break;
	case OP_BACKEND:
		run_backend_event(h, slot, (enum backend_event)class);
		break;
	}
	check_between_calls(h);
}

/*
 * The peers take everything: a socket is readable as long as input waits
 * (level-triggered), but a guest signals its ring only when it frees room
 * in a full reply ring; a guest that just waits for replies does not.
 */
static void drain(struct harness *h, struct endpoint *ep)
{
	if (!ep->alive)
		return;
	if (!ep->ring || output_queued(ep->conn))
		room(h, ep, UNLIMITED);
	else
		ep->write_budget = UNLIMITED;
}

/* Let every connection drain and check that each request got its answer. */
static void finish(struct harness *h)
{
	size_t i;

	/* Draining one may queue events on another: by index, as the
	 * array may grow (INTRODUCE) while requests are handled. */
	for (i = 0; i < h->all_count; i++)
		drain(h, h->all[i]);
	/* The daemon's one-second timer runs while the guests wait. */
	server_tick(h->server, ++h->now);
	check_between_calls(h);
	for (i = 0; i < h->all_count; i++)
		drain(h, h->all[i]);
	for (i = 0; i < h->all_count; i++) {
		struct endpoint *ep = h->all[i];

		if (!ep->alive)
			continue;
		CHECK(ep->out.header_have == 0,
		      "conn %u: output ends inside a message", ep->id);
		/* A guest over its memory quota is not read: fair enough.
		 * One that is not, with requests waiting, waits forever. */
		if (held_back(ep->conn))
			continue;
		CHECK(ep->expected_count == 0,
		      "conn %u: %zu requests never answered (first req_id %u)",
		      ep->id, ep->expected_count,
		      ep->expected[ep->expected_head].req_id);
		CHECK(!ep->expect_close,
		      "conn %u survived a header with len > %u", ep->id,
		      XENSTORE_PAYLOAD_MAX);
		CHECK(ep->pending_len == 0,
		      "conn %u: %zu bytes of input never read", ep->id,
		      ep->pending_len);
	}
	check_server(h);
}

static void configure(struct server_config *config, uint8_t flags)
{
	server_config_defaults(config);
	config->hooks.trace_open = hook_trace_open;
	config->hooks.trace_close = hook_trace_close;
	config->hooks.memreport_to_file = hook_memreport_to_file;
	config->hooks.resume_soon = hook_resume_soon;
	if (flags & FLAG_PRIV_DOMID) {
		config->has_priv_domid = true;
		config->priv_domid = slot_domids[3];
	}
	if (flags & FLAG_SMALL_QUOTAS) {
		config->quota.nodes = 12;
		config->quota.watches = 3;
		config->quota.transactions = 2;
		config->quota.outstanding = 3;
		config->quota.transaction_nodes = 10;
		config->quota.node_size = 80;
		config->quota.path_max = 24;
		config->quota.permissions = 2;
	}
}

/* dom0 introduces the guests of slots 2 and 3, as a toolstack would. */
static void introduce_guests(struct harness *h)
{
	unsigned int slot;

	for (slot = 2; slot < SLOT_COUNT; slot++) {
		char payload[32];
		int len = snprintf(payload, sizeof(payload), "%u%c1%c1",
				   slot_domids[slot], 0, 0);
		struct endpoint *dom0 = h->slots[0];
		struct xsd_sockmsg hdr = {
			.type = XS_INTRODUCE,
			.req_id = dom0->next_req_id++,
			.len = (uint32_t)len + 1,
		};

		append_pending(dom0, &hdr, HEADER_SIZE);
		deliver(h, dom0, payload, hdr.len, UNLIMITED);
		CHECK(h->slots[slot] && h->slots[slot]->alive,
		      "INTRODUCE %u made no connection", slot_domids[slot]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h = { .connects = 0 };
	struct server_config config;
	struct cursor c = { data, size };
	uint8_t flags = 0, op;
	size_t i;

	take_byte(&c, &flags);
	current = &h;
	log_set_sink(log_sink);
	log_set_verbose(flags & FLAG_VERBOSE);
	trace_set_sink(flags & FLAG_TRACE ? trace_sink : NULL);

	h.root = talloc_new(NULL);
	h.scratch = talloc_new(NULL);
	CHECK(h.root && h.scratch, "out of memory");
	configure(&config, flags);
	h.server = server_new(h.root, &config);
	CHECK(h.server, "server_new failed");
	server_set_domain_backend(h.server, &fake_backend, &h);
	connect_socket(&h, 0);
	connect_socket(&h, 1);
	if (!(flags & FLAG_NOT_INTRODUCED))
		introduce_guests(&h);
	if (flags & FLAG_MEMORY_LIMIT) {
		uint8_t headroom = 0;

		take_byte(&c, &headroom);
		limit_memory(&h, ((size_t)headroom + 1) * 1024);
	}

	while (take_byte(&c, &op))
		run_operation(&h, op, &c);
	/* The checks allocate: they run with all the memory they need. */
	if (h.memory_limited)
		limit_memory(&h, 0);
	finish(&h);

	talloc_free(h.root);
	for (i = 0; i < h.all_count; i++)
		CHECK(!h.all[i]->alive, "conn %u never destroyed", h.all[i]->id);
	CHECK(h.connects == h.destroys, "%u connections made, %u destroyed",
	      h.connects, h.destroys);
	talloc_free(h.scratch);
	trace_set_sink(NULL);
	log_set_sink(NULL);
	log_set_verbose(false);
	current = NULL;
	return 0;
}
