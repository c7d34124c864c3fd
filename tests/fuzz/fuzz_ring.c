/*
 * libFuzzer target: the ring backend (io-xen/ring_backend.c over
 * io-xen/ring.c) serving a hostile guest's shared page, beside a guest that
 * behaves and dom0's socket.  The platform under the backend is a fake one
 * (pages in this process, event channels as a queue behind an eventfd), so
 * the backend and the core run exactly as in the daemon, on libevent.
 *
 * The hostile guest (domain 1) is driven by the input: it writes framed
 * messages or raw bytes into its request queue, moves any of the four
 * indices to any value, scribbles anywhere on its page (including the
 * connection, error and feature fields), signals or not, reads replies or
 * not, asks for a reconnection, and has dom0 introduce it again or release
 * it.  It can also arm a change of an index that lands inside the
 * backend's next call to the platform (a signal, an unmask, a look for
 * pending ports): the guest runs on another CPU and moves indices while
 * the backend works.  README.md has the input format.
 *
 * Besides the sanitizers, the target aborts when:
 * - the backend writes what is not its own: the request bytes, the
 *   guest's producer index (req_prod) or consumer index (rsp_cons), or
 *   clears a feature bit (a reconnection, which the guest asked for,
 *   may reset the indices);
 * - it consumes requests the guest never produced, or produces replies
 *   past the room the guest left; or moves an index of a queue whose
 *   indices are corrupted (more than a ring apart);
 * - it sets the error field and goes on serving the ring, or sets an
 *   error other than XENSTORE_ERROR_RINGIDX or _PROTO;
 * - it touches a page it no longer maps;
 * - the well-behaved guest (domain 2) or dom0's socket, whenever it asks,
 *   is not answered correctly within a bounded number of loop turns:
 *   whatever domain 1 does, the others are served;
 * - at the end, the store's own check finds a problem.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <talloc.h>
#include <event2/event.h>

#include "daemon/control.h"
#include "daemon/log.h"
#include "io-xen/platform.h"
#include "io-xen/ring.h"
#include "io-xen/ring_backend.h"
#include "tests/core/memconn.h"

#define HEADER_SIZE sizeof(struct xsd_sockmsg)
#define HOSTILE 1
#define GOOD 2
#define NDOMAINS 3		/* 0 (unused page), 1, 2 */
#define MAX_PORTS 64
#define DOM_EXC_PORT 63
/* Loop turns a request of the good guest may take before it counts as
 * starved: the backend needs two or three; the rest is slack. */
#define SERVE_TURNS 64

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz_ring: check failed: %s: ",    \
				#cond);                                     \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

enum op_kind {
	OP_MSG,		/* type8 len8 bytes: a framed request (unsent) */
	OP_RAW,		/* len8 bytes: raw bytes (unsent) */
	OP_PUSH,	/* put what fits of the unsent bytes on the ring */
	OP_SIGNAL,	/* signal the daemon */
	OP_POKE_INDEX,	/* arg: index (bits 0-1), how (bits 2-3); value */
	OP_POKE_PAGE,	/* off16 len8 bytes: anywhere on the page */
	OP_READ,	/* take replies (arg * 64 bytes, 0: all); bit 3 signals */
	OP_RUN,		/* arg + 1 turns of the event loop */
	OP_ARM,		/* arg: platform calls to wait; index8 value32 */
	OP_RECONNECT,	/* connection = XENSTORE_RECONNECT, and signal */
	OP_INTRODUCE,	/* dom0 introduces domain 1 again (port: arg) */
	OP_RELEASE,	/* dom0 releases domain 1 */
	OP_STATE,	/* domain 1 runs (0), is shut down (1), dies (2) */
	OP_TICK,	/* arg + 1 seconds pass */
	OP_GOOD,	/* domain 2 does a write and a read, and is served */
	OP_DOM0,	/* dom0 reads domain 1's tree, and is served */
};

enum index_id { REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD };

struct fake_platform {
	struct platform base;
	struct harness *h;
	int efd;
	bool efd_raised;
	/* Bound local ports: 0 free, else domid + 1 (DOM_EXC_PORT: virq). */
	uint32_t bound[MAX_PORTS];
	uint32_t next_port;
	/* Pending ports, in the order they fired; a bit per port so that a
	 * port already pending is not queued twice (as on Xen). */
	uint32_t queue[MAX_PORTS];
	unsigned int queue_head, queue_len;
	bool pending_bit[MAX_PORTS];
};

struct guest {
	uint32_t domid;
	struct xenstore_domain_interface *page;
	bool mapped;		/* the backend holds a mapping now */
	uint32_t port;		/* the daemon's local port for it, 0: none */
	unsigned char unsent[8192];
	size_t unsent_len;
	uint32_t next_req_id;
};

/* A change of an index, due inside the backend's next platform calls. */
struct armed_poke {
	unsigned int countdown;	/* 0: nothing armed */
	enum index_id index;
	uint32_t value;
	bool fired;		/* during this run of the loop */
};

struct harness {
	void *root;
	struct event_base *base;
	struct event *resume;
	struct server *server;
	struct fake_platform *platform;
	struct ring_backend *backend;
	struct memconn *dom0;
	struct guest guests[NDOMAINS];
	enum domain_state states[NDOMAINS];
	struct armed_poke armed;
	uint64_t now;
	unsigned int good_rounds;
};

static struct harness *current;

/* --- the page, seen as the guest sees it ------------------------------ */

static uint32_t *index_field(struct xenstore_domain_interface *page,
			     enum index_id index)
{
	switch (index) {
	case REQ_CONS:
		return &page->req_cons;
	case REQ_PROD:
		return &page->req_prod;
	case RSP_CONS:
		return &page->rsp_cons;
	case RSP_PROD:
		break;
	}
	return &page->rsp_prod;
}

static uint32_t load(const uint32_t *field)
{
	return __atomic_load_n(field, __ATOMIC_SEQ_CST);
}

static void store(uint32_t *field, uint32_t value)
{
	__atomic_store_n(field, value, __ATOMIC_SEQ_CST);
}

/* The guest side of a platform call: an armed poke lands now. */
static void guest_runs_meanwhile(struct harness *h)
{
	struct armed_poke *a = &h->armed;

	if (!a->countdown || --a->countdown)
		return;
	store(index_field(h->guests[HOSTILE].page, a->index), a->value);
	a->fired = true;
}

/* --- the fake platform ------------------------------------------------ */

static struct fake_platform *fake_of(struct platform *p)
{
	return (struct fake_platform *)p;
}

static struct xenstore_domain_interface *fake_map_ring(struct platform *p,
						       uint32_t domid)
{
	struct harness *h = fake_of(p)->h;

	guest_runs_meanwhile(h);
	if (domid == 0 || domid >= NDOMAINS ||
	    h->states[domid] == DOMAIN_DYING) {
		errno = ENOENT;
		return NULL;
	}
	CHECK(!h->guests[domid].mapped, "domain %u mapped twice", domid);
	h->guests[domid].mapped = true;
	return h->guests[domid].page;
}

static struct xenstore_domain_interface *
fake_map_dom0_ring(struct platform *p, uint32_t *remote_port)
{
	errno = ENOENT;
	return NULL;
}

static void fake_unmap_ring(struct platform *p,
			    struct xenstore_domain_interface *intf)
{
	struct harness *h = fake_of(p)->h;
	uint32_t d;

	for (d = 1; d < NDOMAINS; d++)
		if (h->guests[d].page == intf) {
			CHECK(h->guests[d].mapped, "domain %u unmapped twice",
			      d);
			h->guests[d].mapped = false;
			return;
		}
	CHECK(false, "unmap of a page never mapped");
}

static int fake_bind_interdomain(struct platform *p, uint32_t domid,
				 uint32_t remote_port)
{
	struct fake_platform *fp = fake_of(p);
	uint32_t port;

	guest_runs_meanwhile(fp->h);
	/* The guest named a port it has not allocated. */
	if (remote_port == 0 || remote_port > 255 || domid >= NDOMAINS) {
		errno = EINVAL;
		return -1;
	}
	for (port = 1; port < DOM_EXC_PORT; port++) {
		uint32_t candidate = (fp->next_port + port) % DOM_EXC_PORT;

		if (candidate && !fp->bound[candidate]) {
			fp->bound[candidate] = domid + 1;
			fp->next_port = candidate;
			return (int)candidate;
		}
	}
	errno = ENOSPC;
	return -1;
}

static int fake_bind_dom_exc(struct platform *p)
{
	fake_of(p)->bound[DOM_EXC_PORT] = UINT32_MAX;
	return DOM_EXC_PORT;
}

static void fake_unbind(struct platform *p, uint32_t port)
{
	struct fake_platform *fp = fake_of(p);

	CHECK(port < MAX_PORTS && fp->bound[port], "unbind of port %u, "
	      "never bound", port);
	fp->bound[port] = 0;
}

static void raise_port(struct fake_platform *fp, uint32_t port)
{
	uint64_t one = 1;

	if (fp->pending_bit[port])
		return;
	fp->pending_bit[port] = true;
	fp->queue[(fp->queue_head + fp->queue_len++) % MAX_PORTS] = port;
	if (!fp->efd_raised) {
		CHECK(write(fp->efd, &one, sizeof(one)) == sizeof(one),
		      "eventfd write: %s", strerror(errno));
		fp->efd_raised = true;
	}
}

/* The daemon signals a guest: here, nobody listens; the guest looks at
 * its page whenever the input says so. */
static int fake_notify(struct platform *p, uint32_t port)
{
	struct fake_platform *fp = fake_of(p);

	guest_runs_meanwhile(fp->h);
	CHECK(port < MAX_PORTS && fp->bound[port] &&
	      fp->bound[port] != UINT32_MAX, "notify on port %u, not a "
	      "guest's", port);
	return 0;
}

static int fake_unmask(struct platform *p, uint32_t port)
{
	guest_runs_meanwhile(fake_of(p)->h);
	return 0;
}

static int fake_pending(struct platform *p)
{
	struct fake_platform *fp = fake_of(p);
	uint64_t count;
	uint32_t port;

	guest_runs_meanwhile(fp->h);
	if (!fp->queue_len) {
		if (fp->efd_raised) {
			CHECK(read(fp->efd, &count, sizeof(count)) ==
			      sizeof(count), "eventfd read: %s",
			      strerror(errno));
			fp->efd_raised = false;
		}
		return -1;
	}
	port = fp->queue[fp->queue_head];
	fp->queue_head = (fp->queue_head + 1) % MAX_PORTS;
	fp->queue_len--;
	fp->pending_bit[port] = false;
	return (int)port;
}

static int fake_event_fd(struct platform *p)
{
	return fake_of(p)->efd;
}

static enum domain_state fake_domain_state(struct platform *p, uint32_t domid)
{
	struct harness *h = fake_of(p)->h;

	return domid < NDOMAINS ? h->states[domid] : DOMAIN_DYING;
}

static const struct platform_ops fake_ops = {
	.map_ring = fake_map_ring,
	.map_dom0_ring = fake_map_dom0_ring,
	.unmap_ring = fake_unmap_ring,
	.bind_interdomain = fake_bind_interdomain,
	.bind_dom_exc = fake_bind_dom_exc,
	.unbind = fake_unbind,
	.notify = fake_notify,
	.unmask = fake_unmask,
	.pending = fake_pending,
	.event_fd = fake_event_fd,
	.domain_state = fake_domain_state,
};

static int fake_destructor(struct fake_platform *fp)
{
	close(fp->efd);
	return 0;
}

/* --- guests ----------------------------------------------------------- */

/* The daemon's local port for @domid's ring, 0 if unbound. */
static uint32_t port_of(struct harness *h, uint32_t domid)
{
	uint32_t port;

	for (port = 1; port < DOM_EXC_PORT; port++)
		if (h->platform->bound[port] == domid + 1)
			return port;
	return 0;
}

static void guest_signal(struct harness *h, struct guest *g)
{
	uint32_t port = port_of(h, g->domid);

	if (port)
		raise_port(h->platform, port);
}

static void guest_queue(struct guest *g, const void *bytes, size_t len)
{
	if (len > sizeof(g->unsent) - g->unsent_len)
		len = sizeof(g->unsent) - g->unsent_len;
	memcpy(g->unsent + g->unsent_len, bytes, len);
	g->unsent_len += len;
}

static void guest_queue_message(struct guest *g, uint32_t type,
				const void *payload, uint32_t len)
{
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = g->next_req_id++, .len = len,
	};

	guest_queue(g, &hdr, HEADER_SIZE);
	guest_queue(g, payload, len);
}

/* What fits of the unsent bytes, as the guest's ring code would put it:
 * false if the ring is corrupted in the guest's eyes. */
static bool guest_push(struct guest *g)
{
	ssize_t n = ring_guest_write(g->page, g->unsent, g->unsent_len);

	if (n < 0)
		return false;
	memmove(g->unsent, g->unsent + n, g->unsent_len - (size_t)n);
	g->unsent_len -= (size_t)n;
	return true;
}

/* --- the loop --------------------------------------------------------- */

struct page_view {
	struct xenstore_domain_interface copy;
	bool mapped;
};

static void snapshot(struct harness *h, struct page_view *v)
{
	memcpy(&v->copy, h->guests[HOSTILE].page, sizeof(v->copy));
	v->mapped = h->guests[HOSTILE].mapped;
}

static bool corrupted(uint32_t prod, uint32_t cons)
{
	return prod - cons > XENSTORE_RING_SIZE;
}

/*
 * What the backend did to the hostile page during a run, against what it
 * may do.  Skipped if the guest changed the page meanwhile (armed poke).
 */
static void check_page(struct harness *h, const struct page_view *before)
{
	const struct xenstore_domain_interface *was = &before->copy;
	const struct xenstore_domain_interface *now = h->guests[HOSTILE].page;
	bool reconnected = was->connection == XENSTORE_RECONNECT &&
			   now->connection == XENSTORE_CONNECTED;

	if (h->armed.fired)
		return;
	if (!before->mapped && !h->guests[HOSTILE].mapped) {
		CHECK(memcmp(was, now, sizeof(*was)) == 0,
		      "the page of an unmapped ring changed");
		return;
	}
	CHECK(memcmp(was->req, now->req, sizeof(was->req)) == 0,
	      "the backend wrote into the request queue");
	/* The field is the server's (Xen assigns it too): left alone, or
	 * set to the domain's features when its connection starts over,
	 * whatever the guest scribbled there. */
	CHECK(now->server_features == was->server_features ||
	      now->server_features ==
	      server_domain_features(h->server,
				     h->guests[HOSTILE].domid),
	      "feature bits changed to something else: %#x -> %#x",
	      was->server_features, now->server_features);
	if (now->error != was->error && now->error != XENSTORE_ERROR_NONE) {
		CHECK(now->error == XENSTORE_ERROR_RINGIDX ||
		      now->error == XENSTORE_ERROR_PROTO,
		      "error field set to %u", now->error);
		CHECK(!h->guests[HOSTILE].mapped,
		      "ring marked in error (%u) and still served",
		      now->error);
	}
	if (reconnected || !before->mapped)
		return;		/* indices reset, or a fresh ring */
	CHECK(now->req_prod == was->req_prod,
	      "the backend moved req_prod %#x -> %#x", was->req_prod,
	      now->req_prod);
	CHECK(now->rsp_cons == was->rsp_cons,
	      "the backend moved rsp_cons %#x -> %#x", was->rsp_cons,
	      now->rsp_cons);
	if (corrupted(was->req_prod, was->req_cons))
		CHECK(now->req_cons == was->req_cons,
		      "req_cons moved on a corrupted queue");
	else
		CHECK(now->req_cons - was->req_cons <=
		      was->req_prod - was->req_cons,
		      "consumed %u bytes of %u produced",
		      now->req_cons - was->req_cons,
		      was->req_prod - was->req_cons);
	if (corrupted(was->rsp_prod, was->rsp_cons))
		CHECK(now->rsp_prod == was->rsp_prod,
		      "rsp_prod moved on a corrupted queue");
	else
		CHECK(now->rsp_prod - was->rsp_cons <= XENSTORE_RING_SIZE,
		      "produced past the room: prod %#x cons %#x",
		      now->rsp_prod, was->rsp_cons);
}

static void run_loop(struct harness *h, unsigned int turns)
{
	struct page_view before;
	unsigned int i;

	for (i = 0; i < turns; i++) {
		snapshot(h, &before);
		h->armed.fired = false;
		CHECK(event_base_loop(h->base, EVLOOP_NONBLOCK) >= 0,
		      "event loop failed");
		check_page(h, &before);
	}
}

/* The core asked for server_resume() from the loop. */
static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	server_resume(arg);
}

static void hook_resume_soon(struct server *server)
{
	event_active(current->resume, EV_TIMEOUT, 0);
}

static void log_sink(enum log_level level, const char *message)
{
	if (getenv("FUZZ_RING_DUMP"))
		fprintf(stderr, "log %d: %s\n", (int)level, message);
}

/* --- the well-behaved parties ----------------------------------------- */

/*
 * Domain 2 sends one request and waits, turning the loop, for its reply;
 * it signals as Linux's xenbus does.  The reply must come, whole and in
 * order, within SERVE_TURNS turns.
 */
static void good_request(struct harness *h, uint32_t type,
			 const char *payload, uint32_t len,
			 const char *expect, uint32_t expect_len)
{
	struct guest *g = &h->guests[GOOD];
	struct xenstore_domain_interface *page = g->page;
	unsigned char reply[HEADER_SIZE + XENSTORE_PAYLOAD_MAX];
	size_t have = 0;
	struct xsd_sockmsg hdr;
	uint32_t req_id = g->next_req_id;
	unsigned int turn;

	guest_queue_message(g, type, payload, len);
	CHECK(guest_push(g) && g->unsent_len == 0,
	      "the good guest's ring is full or corrupted");
	guest_signal(h, g);
	for (turn = 0; turn < SERVE_TURNS; turn++) {
		ssize_t n;

		run_loop(h, 1);
		n = ring_guest_read(page, reply + have, sizeof(reply) - have);
		CHECK(n >= 0, "the good guest's reply ring is corrupted");
		if (n > 0 && page->rsp_prod - page->rsp_cons == 0)
			guest_signal(h, g);
		have += (size_t)n;
		if (have < HEADER_SIZE)
			continue;
		memcpy(&hdr, reply, HEADER_SIZE);
		CHECK(hdr.len <= XENSTORE_PAYLOAD_MAX, "oversized reply");
		if (have < HEADER_SIZE + hdr.len)
			continue;
		CHECK(have == HEADER_SIZE + hdr.len, "more than one reply");
		CHECK(hdr.req_id == req_id && hdr.type == type,
		      "good guest: reply type %u req %u for type %u req %u: "
		      "%.*s", hdr.type, hdr.req_id, type, req_id,
		      (int)hdr.len, (const char *)reply + HEADER_SIZE);
		CHECK(hdr.len == expect_len &&
		      memcmp(reply + HEADER_SIZE, expect, expect_len) == 0,
		      "good guest: wrong answer to type %u", type);
		return;
	}
	CHECK(false, "the good guest was not served in %u turns (type %u)",
	      SERVE_TURNS, type);
}

static void good_round(struct harness *h)
{
	char payload[64], value[16];
	int vlen = snprintf(value, sizeof(value), "v%u", h->good_rounds++);
	int plen = snprintf(payload, sizeof(payload),
			    "/local/domain/%u/probe", GOOD);

	memcpy(payload + plen + 1, value, (size_t)vlen);
	good_request(h, XS_WRITE, payload, (uint32_t)(plen + 1 + vlen),
		     "OK", 3);
	good_request(h, XS_READ, payload, (uint32_t)plen + 1, value,
		     (uint32_t)vlen);
}

/* dom0 over its socket: answered at once, whatever domain 1 did. */
static void dom0_round(struct harness *h)
{
	struct memconn_reply reply;
	int err = memconn_callv(h->dom0, XS_DIRECTORY, 0, &reply, 0,
				"/local/domain/1", NULL);

	CHECK(err >= 0, "dom0 got no reply");
	CHECK(err == 0 || err == ENOENT, "dom0's DIRECTORY: error %d", err);
}

static int dom0_introduce(struct harness *h, uint32_t domid, uint32_t port)
{
	struct memconn_reply reply;
	char d[16], p[16];

	snprintf(d, sizeof(d), "%u", domid);
	snprintf(p, sizeof(p), "%u", port);
	return memconn_callv(h->dom0, XS_INTRODUCE, 0, &reply, 0, d, "1", p,
			     NULL);
}

/* A home for a guest, as the toolstack makes it. */
static void dom0_make_home(struct harness *h, uint32_t domid)
{
	struct memconn_reply reply;
	char path[32], owner[16];

	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	snprintf(owner, sizeof(owner), "n%u", domid);
	CHECK(memconn_callv(h->dom0, XS_MKDIR, 0, &reply, 0, path, NULL) == 0,
	      "dom0 cannot make %s", path);
	CHECK(memconn_callv(h->dom0, XS_SET_PERMS, 0, &reply, 0, path, owner,
			    NULL) == 0, "dom0 cannot give %s away", path);
}

static void dom0_release(struct harness *h, uint32_t domid)
{
	struct memconn_reply reply;
	char d[16];

	snprintf(d, sizeof(d), "%u", domid);
	memconn_callv(h->dom0, XS_RELEASE, 0, &reply, 0, d, NULL);
}

/* --- input ------------------------------------------------------------ */

struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint8_t take_byte(struct cursor *c)
{
	if (!c->left)
		return 0;
	c->left--;
	return *c->p++;
}

static uint32_t take_u32(struct cursor *c)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v |= (uint32_t)take_byte(c) << (8 * i);
	return v;
}

static size_t take_bytes(struct cursor *c, size_t want, const uint8_t **p)
{
	if (want > c->left)
		want = c->left;
	*p = c->p;
	c->p += want;
	c->left -= want;
	return want;
}

/* POKE_INDEX's ways to move an index, relative to the page as it is. */
static uint32_t poked_value(struct xenstore_domain_interface *page,
			    enum index_id index, unsigned int how,
			    struct cursor *c)
{
	uint32_t *field = index_field(page, index);
	uint32_t other = index == REQ_CONS ? page->req_prod :
			 index == REQ_PROD ? page->req_cons :
			 index == RSP_CONS ? page->rsp_prod : page->rsp_cons;

	switch (how) {
	case 0:
		return take_u32(c);
	case 1:
		return load(field) + (uint32_t)(int8_t)take_byte(c);
	case 2:	/* exactly one ring apart, or one byte more */
		return other + (take_byte(c) & 1 ? XENSTORE_RING_SIZE + 1 :
				XENSTORE_RING_SIZE);
	default:	/* behind the other, or wrapped around */
		return other - (uint32_t)take_byte(c) * 17u;
	}
}

static void run_op(struct harness *h, uint8_t op, struct cursor *c)
{
	struct guest *g = &h->guests[HOSTILE];
	unsigned int arg = op >> 4;
	const uint8_t *bytes;
	size_t len;

	if (getenv("FUZZ_RING_DUMP"))
		fprintf(stderr, "op %u arg %u\n", op & 15, arg);
	switch ((enum op_kind)(op & 15)) {
	case OP_MSG: {
		uint8_t type = take_byte(c);

		len = take_bytes(c, take_byte(c), &bytes);
		guest_queue_message(g, type, bytes, (uint32_t)len);
		break;
	}
	case OP_RAW:
		len = take_bytes(c, take_byte(c), &bytes);
		guest_queue(g, bytes, len);
		break;
	case OP_PUSH:
		guest_push(g);
		break;
	case OP_SIGNAL:
		guest_signal(h, g);
		break;
	case OP_POKE_INDEX: {
		enum index_id index = (enum index_id)(arg & 3);

		store(index_field(g->page, index),
		      poked_value(g->page, index, arg >> 2, c));
		break;
	}
	case OP_POKE_PAGE: {
		size_t offset = take_byte(c);

		offset = (offset | (size_t)take_byte(c) << 8) % sizeof(*g->page);
		len = take_bytes(c, take_byte(c), &bytes);
		if (len > sizeof(*g->page) - offset)
			len = sizeof(*g->page) - offset;
		memcpy((char *)g->page + offset, bytes, len);
		break;
	}
	case OP_READ: {
		unsigned char sink[XENSTORE_RING_SIZE];
		size_t want = (arg & 7) ? (arg & 7) * 64 : sizeof(sink);

		if (ring_guest_read(g->page, sink, want) >= 0 && (arg & 8))
			guest_signal(h, g);
		break;
	}
	case OP_RUN:
		run_loop(h, arg + 1);
		break;
	case OP_ARM:
		h->armed.countdown = arg + 1;
		h->armed.index = (enum index_id)(take_byte(c) & 3);
		h->armed.value = take_u32(c);
		break;
	case OP_RECONNECT:
		store(&g->page->connection, XENSTORE_RECONNECT);
		guest_signal(h, g);
		break;
	case OP_INTRODUCE:
		dom0_introduce(h, HOSTILE, arg + 1);
		break;
	case OP_RELEASE:
		dom0_release(h, HOSTILE);
		break;
	case OP_STATE:
		h->states[HOSTILE] = arg % 3 == 0 ? DOMAIN_RUNNING :
				     arg % 3 == 1 ? DOMAIN_SHUTDOWN :
				     DOMAIN_DYING;
		raise_port(h->platform, DOM_EXC_PORT);
		break;
	case OP_TICK:
		h->now += arg + 1;
		server_tick(h->server, h->now);
		break;
	case OP_GOOD:
		good_round(h);
		break;
	case OP_DOM0:
		dom0_round(h);
		break;
	}
}

static void configure(struct server_config *config, uint8_t flags)
{
	server_config_defaults(config);
	config->hooks.resume_soon = hook_resume_soon;
	/* Small quotas: the hostile guest reaches them with small inputs. */
	if (flags & 1) {
		config->quota.nodes = 8;
		config->quota.watches = 2;
		config->quota.transactions = 2;
		config->quota.outstanding = 2;
		config->quota.node_size = 64;
		config->quota.memory = 4096;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h = { .now = 1 };
	struct cursor c = { data, size };
	struct server_config config;
	uint32_t d;

	current = &h;
	log_set_sink(log_sink);
	h.root = talloc_new(NULL);
	CHECK(h.root, "out of memory");
	configure(&config, take_byte(&c));
	for (d = 0; d < NDOMAINS; d++) {
		h.guests[d].domid = d;
		h.guests[d].page = talloc_zero(h.root,
					       struct xenstore_domain_interface);
		CHECK(h.guests[d].page, "out of memory");
		h.states[d] = DOMAIN_RUNNING;
	}
	h.base = event_base_new();
	CHECK(h.base, "event_base_new failed");
	h.platform = talloc_zero(h.root, struct fake_platform);
	CHECK(h.platform, "out of memory");
	h.platform->base.ops = &fake_ops;
	h.platform->base.name = "fake";
	h.platform->h = &h;
	h.platform->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(h.platform->efd >= 0, "eventfd: %s", strerror(errno));
	talloc_set_destructor(h.platform, fake_destructor);

	h.server = server_new(h.root, &config);
	CHECK(h.server, "server_new failed");
	h.resume = event_new(h.base, -1, 0, on_resume, h.server);
	CHECK(h.resume, "event_new failed");
	h.backend = ring_backend_new(h.root, h.base, h.server,
				     &h.platform->base);
	CHECK(h.backend, "ring_backend_new failed");
	h.dom0 = memconn_new(h.root, h.server, 0);
	CHECK(h.dom0, "memconn_new failed");
	dom0_make_home(&h, HOSTILE);
	dom0_make_home(&h, GOOD);
	CHECK(dom0_introduce(&h, GOOD, 2) == 0, "INTRODUCE 2 failed");
	CHECK(dom0_introduce(&h, HOSTILE, 1) == 0, "INTRODUCE 1 failed");
	run_loop(&h, 2);

	while (c.left)
		run_op(&h, take_byte(&c), &c);

	/* Whatever domain 1 did, the others are still served. */
	h.armed.countdown = 0;
	good_round(&h);
	dom0_round(&h);
	CHECK(control_check_store(h.server) == 0, "the store check failed");

	/* As the daemon shuts down: connections, then the backend. */
	talloc_free(h.server);
	talloc_free(h.backend);
	event_free(h.resume);
	event_base_free(h.base);
	for (d = 1; d < NDOMAINS; d++)
		CHECK(!h.guests[d].mapped, "domain %u still mapped", d);
	talloc_free(h.root);
	log_set_sink(NULL);
	current = NULL;
	return 0;
}
