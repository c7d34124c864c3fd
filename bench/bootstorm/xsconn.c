/* errno.h first: xs_wire.h defines xsd_errors[] only when EINVAL is. */
#include <errno.h>

#include "xsconn.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io-xen/ring.h"
#include "io-xen/sim_event.h"
#include "io-xen/sim_guest.h"
#include "loop.h"

#define IN_BUF_SIZE (64 * 1024)
/* oxenstored answers a socket client with more than XENSTORE_PAYLOAD_MAX
 * where the C daemon says E2BIG (a long directory): accepted and counted
 * on sockets, up to this. */
#define SOCKET_REPLY_MAX (16 * 1024 * 1024)

struct xs_conn {
	struct fd_watch w;		/* first: the loop hands it back */
	enum actor actor;
	bool closed;		/* no transport any more */
	bool released;		/* the owner closed it: freed soon */
	/* A ring of the sim platform instead of a socket; w.fd is then the
	 * datagram socket the daemon's signals arrive on. */
	struct sim_guest *ring;
	/* output */
	char *out;
	size_t out_len, out_off, out_cap;
	bool dirty;
	struct xs_conn *next_dirty;
	/* input */
	char *in;
	size_t in_len, in_cap;
	/* requests in flight, in the order sent: replies come in that order */
	struct xs_op *pend_head, *pend_tail;
	unsigned npending;
	uint32_t next_req_id;
	xs_event_fn on_event;
	void *event_arg;
	unsigned nwatches;
	struct xs_conn *next_dead;
};

static struct xs_conn *dirty_list;
static struct xs_conn *dead_list;
static struct xs_op *free_ops;
static unsigned long inflight;
static uint64_t last_reply_at;

static const char *const type_names[XS_TYPE_COUNT] = {
	[XS_CONTROL] = "CONTROL",
	[XS_DIRECTORY] = "DIRECTORY",
	[XS_READ] = "READ",
	[XS_GET_PERMS] = "GET_PERMS",
	[XS_WATCH] = "WATCH",
	[XS_UNWATCH] = "UNWATCH",
	[XS_TRANSACTION_START] = "TRANSACTION_START",
	[XS_TRANSACTION_END] = "TRANSACTION_END",
	[XS_INTRODUCE] = "INTRODUCE",
	[XS_RELEASE] = "RELEASE",
	[XS_GET_DOMAIN_PATH] = "GET_DOMAIN_PATH",
	[XS_WRITE] = "WRITE",
	[XS_MKDIR] = "MKDIR",
	[XS_RM] = "RM",
	[XS_SET_PERMS] = "SET_PERMS",
	[XS_WATCH_EVENT] = "WATCH_EVENT",
	[XS_ERROR] = "ERROR",
	[XS_IS_DOMAIN_INTRODUCED] = "IS_DOMAIN_INTRODUCED",
	[XS_RESUME] = "RESUME",
	[XS_SET_TARGET] = "SET_TARGET",
	[XS_RESET_WATCHES] = "RESET_WATCHES",
	[XS_DIRECTORY_PART] = "DIRECTORY_PART",
};

const char *xs_type_name(uint32_t type)
{
	if (type < XS_TYPE_COUNT && type_names[type])
		return type_names[type];
	return "?";
}

int xs_errno_of(const char *s)
{
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (strcmp(s, xsd_errors[i].errstring) == 0)
			return xsd_errors[i].errnum;
	return EIO;
}

static void oom(void)
{
	fprintf(stderr, "bootstorm: out of memory\n");
	exit(2);
}

static void conn_ready(struct fd_watch *w, uint32_t events);

struct xs_conn *xs_connect_unix(const char *path, enum actor actor)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct xs_conn *c;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* Blocking connect: a full listen backlog waits for the daemon to
	 * accept rather than failing. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c = calloc(1, sizeof(*c));
	if (!c)
		oom();
	c->in = malloc(IN_BUF_SIZE);
	if (!c->in)
		oom();
	c->in_cap = IN_BUF_SIZE;
	c->w.fd = fd;
	c->w.ready = conn_ready;
	c->actor = actor;
	c->next_req_id = 1;
	if (loop_add_fd(&c->w) < 0) {
		int e = errno;
		close(fd);
		free(c->in);
		free(c);
		errno = e;
		return NULL;
	}
	stats.connections[actor]++;
	if (actor != ACTOR_HARNESS && ++stats.conns_now > stats.conns_peak)
		stats.conns_peak = stats.conns_now;
	return c;
}

struct xs_conn *xs_connect_ring(struct sim_guest *g, enum actor actor)
{
	struct xs_conn *c = calloc(1, sizeof(*c));
	int fd = sim_guest_fd(g);

	if (!c)
		oom();
	c->in = malloc(IN_BUF_SIZE);
	if (!c->in)
		oom();
	c->in_cap = IN_BUF_SIZE;
	/* The socket stays blocking: a full daemon queue delays a signal,
	 * never drops it.  Signals are drained with MSG_DONTWAIT. */
	c->ring = g;
	c->w.fd = fd;
	c->w.ready = conn_ready;
	c->actor = actor;
	c->next_req_id = 1;
	if (loop_add_fd(&c->w) < 0) {
		int e = errno;
		free(c->in);
		free(c);
		errno = e;
		return NULL;
	}
	stats.connections[actor]++;
	if (actor != ACTOR_HARNESS && ++stats.conns_now > stats.conns_peak)
		stats.conns_peak = stats.conns_now;
	return c;
}

void xs_set_event_handler(struct xs_conn *c, xs_event_fn fn, void *arg)
{
	c->on_event = fn;
	c->event_arg = arg;
}

enum actor xs_actor(const struct xs_conn *c)
{
	return c->actor;
}

unsigned xs_pending(const struct xs_conn *c)
{
	return c->npending;
}

unsigned long xs_inflight(void)
{
	return inflight;
}

uint64_t xs_last_activity_at(void)
{
	return last_reply_at;
}

static void op_complete(struct xs_op *op)
{
	op->done = true;
	op->done_at = now_ns();
	inflight--;
	if (op->cb) {
		op->cb(op, op->cb_arg);
		xs_op_free(op);
	} else if (op->waiter) {
		loop_wake(op->waiter);
	}
}

static void fail_pending(struct xs_conn *c)
{
	while (c->pend_head) {
		struct xs_op *op = c->pend_head;

		c->pend_head = op->next;
		c->npending--;
		op->err = EPIPE;
		op->len = 0;
		op->data[0] = 0;
		op->next = NULL;
		stats_reply(c->actor, op->type, 0, EPIPE);
		op_complete(op);
	}
	c->pend_tail = NULL;
}

/* The transport goes; the structure stays until its owner closes it. */
static void shut(struct xs_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	loop_del_fd(&c->w);
	if (c->ring)
		sim_guest_free(c->ring);	/* closes w.fd */
	else
		close(c->w.fd);
	if (c->actor != ACTOR_HARNESS) {
		stats.conns_now--;
		stats.watches_now -= c->nwatches;
	}
	fail_pending(c);
}

void xs_close(struct xs_conn *c)
{
	if (c->released)
		return;
	c->released = true;
	shut(c);
	c->next_dead = dead_list;
	dead_list = c;
}

/* The daemon went away or broke the protocol: every request now fails
 * with EPIPE, and the owner still closes the connection. */
static void lost(struct xs_conn *c, const char *why)
{
	if (c->closed)
		return;
	/* Shown apart from other failures (up to 20): they explain the rest. */
	if (++stats.lost_connections <= 20)
		fprintf(stderr, "\nbootstorm: %s connection lost: %s\n",
			actor_names[c->actor], why);
	stats.failures++;
	shut(c);
}

static void reap_dead(void)
{
	while (dead_list) {
		struct xs_conn *c = dead_list;

		dead_list = c->next_dead;
		free(c->out);
		free(c->in);
		free(c);
	}
}

static void mark_dirty(struct xs_conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->next_dirty = dirty_list;
		dirty_list = c;
	}
}

static XENSTORE_RING_IDX load_index(const XENSTORE_RING_IDX *idx)
{
	return __atomic_load_n(idx, __ATOMIC_ACQUIRE);
}

/* Requests onto the ring; signal as Linux's xenbus does: only if the
 * daemon had consumed everything before them. */
static void ring_flush(struct xs_conn *c)
{
	struct xenstore_domain_interface *intf = sim_guest_ring(c->ring);

	while (c->out_off < c->out_len) {
		XENSTORE_RING_IDX prod = load_index(&intf->req_prod);
		ssize_t n = ring_guest_write(intf, c->out + c->out_off,
					     c->out_len - c->out_off);

		if (n < 0) {
			lost(c, "corrupted ring");
			return;
		}
		if (n == 0)
			return;	/* full: the daemon signals when it reads */
		c->out_off += (size_t)n;
		if (load_index(&intf->req_cons) == prod &&
		    sim_guest_notify(c->ring) != 0) {
			lost(c, strerror(errno));
			return;
		}
	}
	c->out_off = c->out_len = 0;
}

static void flush(struct xs_conn *c)
{
	if (c->ring) {
		ring_flush(c);
		return;
	}
	while (c->out_off < c->out_len) {
		/* MSG_NOSIGNAL: a daemon that dies is reported, not SIGPIPE. */
		ssize_t n = send(c->w.fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;	/* EPOLLOUT will call again */
			lost(c, strerror(errno));
			return;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
}

void xs_flush_all(void)
{
	while (dirty_list) {
		struct xs_conn *c = dirty_list;

		dirty_list = c->next_dirty;
		c->dirty = false;
		if (!c->closed)
			flush(c);
	}
	reap_dead();
}

static void handle_msg(struct xs_conn *c, const struct xsd_sockmsg *h,
		       const char *body)
{
	struct xs_op *op, *prev = NULL;

	if (h->type == XS_WATCH_EVENT) {
		const char *path = body, *token;
		size_t plen = strnlen(body, h->len);

		if (plen >= h->len) {
			lost(c, "malformed watch event");
			return;
		}
		token = body + plen + 1;
		last_reply_at = now_ns();
		if (c->actor != ACTOR_HARNESS)
			stats_event(c->actor);
		if (c->on_event)
			c->on_event(c, path, token, c->event_arg);
		return;
	}
	for (op = c->pend_head; op && op->req_id != h->req_id; op = op->next)
		prev = op;
	if (!op) {
		lost(c, "reply to no request");
		return;
	}
	if (prev)
		prev->next = op->next;
	else
		c->pend_head = op->next;
	if (c->pend_tail == op)
		c->pend_tail = prev;
	op->next = NULL;
	c->npending--;
	if (h->len > XENSTORE_PAYLOAD_MAX) {
		stats.oversized_replies++;
		op->data = malloc(h->len + 1);
		if (!op->data)
			oom();
	}
	memcpy(op->data, body, h->len);
	op->data[h->len] = 0;
	op->len = h->len;
	op->err = h->type == XS_ERROR ? xs_errno_of(op->data) : 0;
	if (!op->err && h->type != op->type) {
		stats_failure("%s: %s answered with type %u",
			      actor_names[c->actor], xs_type_name(op->type),
			      h->type);
		op->err = EIO;
	}
	last_reply_at = now_ns();
	stats_reply(c->actor, op->type, last_reply_at - op->sent_at, op->err);
	op_complete(op);
}

static bool parse_input(struct xs_conn *c)
{
	size_t off = 0;

	while (c->in_len - off >= sizeof(struct xsd_sockmsg)) {
		struct xsd_sockmsg h;

		memcpy(&h, c->in + off, sizeof(h));
		if (h.len > (c->ring ? XENSTORE_PAYLOAD_MAX : SOCKET_REPLY_MAX)) {
			lost(c, "oversized message");
			return false;
		}
		if (c->in_len - off < sizeof(h) + h.len) {
			if (sizeof(h) + h.len > c->in_cap) {
				c->in_cap = sizeof(h) + h.len;
				c->in = realloc(c->in, c->in_cap);
				if (!c->in)
					oom();
			}
			break;
		}
		handle_msg(c, &h, c->in + off + sizeof(h));
		if (c->closed)
			return false;
		off += sizeof(h) + h.len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return true;
}

/* Replies off the ring; signal only if the daemon may be waiting for
 * room (the reply ring was full). */
static void ring_input(struct xs_conn *c)
{
	struct xenstore_domain_interface *intf = sim_guest_ring(c->ring);
	struct sim_event ev[16];

	/* Take the signals first: a signal means "look at the ring". */
	while (recv(c->w.fd, ev, sizeof(ev), MSG_DONTWAIT) > 0)
		;
	for (;;) {
		bool was_full = load_index(&intf->rsp_prod) -
				load_index(&intf->rsp_cons) >= XENSTORE_RING_SIZE;
		ssize_t n = ring_guest_read(intf, c->in + c->in_len,
					    c->in_cap - c->in_len);

		if (n < 0) {
			lost(c, "corrupted ring");
			return;
		}
		if (n == 0)
			break;
		c->in_len += (size_t)n;
		if (was_full && sim_guest_notify(c->ring) != 0) {
			lost(c, strerror(errno));
			return;
		}
		if (!parse_input(c))
			return;
	}
	/* The daemon may have made room for queued requests. */
	if (c->out_len)
		ring_flush(c);
}

static void do_input(struct xs_conn *c)
{
	if (c->ring) {
		ring_input(c);
		return;
	}
	for (;;) {
		size_t room = c->in_cap - c->in_len;
		ssize_t n = read(c->w.fd, c->in + c->in_len, room);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			lost(c, strerror(errno));
			return;
		}
		if (n == 0) {
			lost(c, "closed by the daemon");
			return;
		}
		c->in_len += (size_t)n;
		if (!parse_input(c))
			return;
		/* A short read drained the socket: the edge-triggered epoll
		 * says when more comes. */
		if ((size_t)n < room)
			return;
	}
}

static void conn_ready(struct fd_watch *w, uint32_t events)
{
	struct xs_conn *c = (struct xs_conn *)w;

	if (c->closed)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		do_input(c);
	if (!c->closed && !c->ring && (events & EPOLLOUT) && c->out_len)
		flush(c);
}

static struct xs_op *op_alloc(void)
{
	struct xs_op *op = free_ops;

	if (op)
		free_ops = op->next;
	else if (!(op = malloc(sizeof(*op))))
		oom();
	op->next = NULL;
	op->data = op->buf;
	op->done = false;
	op->err = 0;
	op->len = 0;
	op->waiter = NULL;
	op->cb = NULL;
	return op;
}

void xs_op_free(struct xs_op *op)
{
	if (op->data != op->buf)
		free(op->data);
	op->data = op->buf;
	op->next = free_ops;
	free_ops = op;
}

static void out_reserve(struct xs_conn *c, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		while (cap < c->out_len + n)
			cap *= 2;
		c->out = realloc(c->out, cap);
		if (!c->out)
			oom();
		c->out_cap = cap;
	}
}

static struct xs_op *send_parts(struct xs_conn *c, uint32_t tx, uint32_t type,
				const void *a, size_t alen,
				const void *b, size_t blen)
{
	struct xs_op *op = op_alloc();
	struct xsd_sockmsg h = {
		.type = type,
		.req_id = c->next_req_id++,
		.tx_id = tx,
		.len = (uint32_t)(alen + blen),
	};

	op->conn = c;
	op->req_id = h.req_id;
	op->type = type;
	op->tx_id = tx;
	op->sent_at = now_ns();
	inflight++;
	if (c->closed || alen + blen > XENSTORE_PAYLOAD_MAX) {
		op->err = c->closed ? EPIPE : E2BIG;
		stats_reply(c->actor, type, 0, op->err);
		op->done = true;
		inflight--;
		return op;
	}
	out_reserve(c, sizeof(h) + alen + blen);
	memcpy(c->out + c->out_len, &h, sizeof(h));
	c->out_len += sizeof(h);
	if (alen)
		memcpy(c->out + c->out_len, a, alen);
	c->out_len += alen;
	if (blen)
		memcpy(c->out + c->out_len, b, blen);
	c->out_len += blen;
	if (c->pend_tail)
		c->pend_tail->next = op;
	else
		c->pend_head = op;
	c->pend_tail = op;
	c->npending++;
	mark_dirty(c);
	return op;
}

struct xs_op *xs_send(struct xs_conn *c, uint32_t tx, uint32_t type,
		      const void *payload, size_t len)
{
	return send_parts(c, tx, type, payload, len, NULL, 0);
}

struct xs_op *xs_send_write(struct xs_conn *c, uint32_t tx, const char *path,
			    const char *value)
{
	return send_parts(c, tx, XS_WRITE, path, strlen(path) + 1, value,
			  strlen(value));
}

struct xs_op *xs_send_watch(struct xs_conn *c, const char *path,
			    const char *token)
{
	return send_parts(c, 0, XS_WATCH, path, strlen(path) + 1, token,
			  strlen(token) + 1);
}

void xs_send_cb(struct xs_conn *c, uint32_t tx, uint32_t type,
		const void *payload, size_t len,
		void (*cb)(struct xs_op *op, void *arg), void *arg)
{
	struct xs_op *op = xs_send(c, tx, type, payload, len);

	if (op->done) {
		cb(op, arg);
		xs_op_free(op);
		return;
	}
	op->cb = cb;
	op->cb_arg = arg;
}

int xs_wait(struct xs_op *op)
{
	while (!op->done) {
		op->waiter = coro_self();
		coro_yield();
	}
	op->waiter = NULL;
	return op->err;
}

static int call(struct xs_conn *c, uint32_t tx, uint32_t type,
		const char *a, size_t alen, const char *b, size_t blen)
{
	struct xs_op *op = send_parts(c, tx, type, a, alen, b, blen);
	int err = xs_wait(op);

	xs_op_free(op);
	return err;
}

static int call_path(struct xs_conn *c, uint32_t tx, uint32_t type,
		     const char *path)
{
	return call(c, tx, type, path, strlen(path) + 1, NULL, 0);
}

int xs_read(struct xs_conn *c, uint32_t tx, const char *path,
	    char *val, size_t valsz)
{
	struct xs_op *op = xs_send(c, tx, XS_READ, path, strlen(path) + 1);
	int err = xs_wait(op);

	if (val && valsz) {
		size_t n = err ? 0 : op->len;

		if (n >= valsz)
			n = valsz - 1;
		memcpy(val, op->data, n);
		val[n] = 0;
	}
	xs_op_free(op);
	return err;
}

int xs_write(struct xs_conn *c, uint32_t tx, const char *path,
	     const char *val)
{
	return call(c, tx, XS_WRITE, path, strlen(path) + 1, val, strlen(val));
}

int xs_mkdir(struct xs_conn *c, uint32_t tx, const char *path)
{
	return call_path(c, tx, XS_MKDIR, path);
}

int xs_rm(struct xs_conn *c, uint32_t tx, const char *path)
{
	return call_path(c, tx, XS_RM, path);
}

int xs_set_perms(struct xs_conn *c, uint32_t tx, const char *path,
		 const char *perms)
{
	char buf[256];
	size_t n = strlen(perms);

	if (n >= sizeof(buf))
		return EINVAL;
	memcpy(buf, perms, n + 1);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == ' ')
			buf[i] = 0;
	return call(c, tx, XS_SET_PERMS, path, strlen(path) + 1, buf, n + 1);
}

int xs_watch(struct xs_conn *c, const char *path, const char *token)
{
	int err = call(c, 0, XS_WATCH, path, strlen(path) + 1, token,
		       strlen(token) + 1);

	if (!err && c->actor != ACTOR_HARNESS) {
		c->nwatches++;
		if (++stats.watches_now > stats.watches_peak)
			stats.watches_peak = stats.watches_now;
	}
	return err;
}

int xs_unwatch(struct xs_conn *c, const char *path, const char *token)
{
	int err = call(c, 0, XS_UNWATCH, path, strlen(path) + 1, token,
		       strlen(token) + 1);

	if (!err && c->actor != ACTOR_HARNESS) {
		c->nwatches--;
		stats.watches_now--;
	}
	return err;
}

void xs_count_watch(struct xs_conn *c, int delta)
{
	if (c->actor == ACTOR_HARNESS)
		return;
	c->nwatches += delta;
	stats.watches_now += delta;
	if (stats.watches_now > stats.watches_peak)
		stats.watches_peak = stats.watches_now;
}

int xs_tx_start(struct xs_conn *c, uint32_t *tx)
{
	struct xs_op *op = xs_send(c, 0, XS_TRANSACTION_START, "", 1);
	int err = xs_wait(op);

	*tx = err ? 0 : (uint32_t)strtoul(op->data, NULL, 10);
	xs_op_free(op);
	return err;
}

int xs_tx_end(struct xs_conn *c, uint32_t tx, bool commit)
{
	return call(c, tx, XS_TRANSACTION_END, commit ? "T" : "F", 2, NULL, 0);
}

int xs_get_domain_path(struct xs_conn *c, unsigned domid, char *buf,
		       size_t sz)
{
	char arg[16];
	struct xs_op *op;
	int err;

	snprintf(arg, sizeof(arg), "%u", domid);
	op = xs_send(c, 0, XS_GET_DOMAIN_PATH, arg, strlen(arg) + 1);
	err = xs_wait(op);
	snprintf(buf, sz, "%s", err ? "" : op->data);
	xs_op_free(op);
	return err;
}

static void list_append(struct xs_list *l, const char *names, size_t len)
{
	l->buf = realloc(l->buf, l->len + len + 1);
	if (!l->buf)
		oom();
	memcpy(l->buf + l->len, names, len);
	l->len += len;
	l->buf[l->len] = 0;
	for (size_t i = 0; i < len; i++)
		if (names[i] == 0)
			l->count++;
}

/* DIRECTORY_PART: "<generation>\0name\0name\0...\0" and a final empty
 * name when the listing is complete; restart if the generation moves. */
static int directory_part(struct xs_conn *c, uint32_t tx, const char *path,
			  struct xs_list *out)
{
	char gen[32] = "";
	size_t off = 0;

	for (;;) {
		char offs[24];
		struct xs_op *op;
		int err;
		size_t glen, rest;
		const char *names;

		snprintf(offs, sizeof(offs), "%zu", off);
		op = send_parts(c, tx, XS_DIRECTORY_PART, path, strlen(path) + 1,
				offs, strlen(offs) + 1);
		err = xs_wait(op);
		if (err) {
			xs_op_free(op);
			return err;
		}
		glen = strnlen(op->data, op->len);
		if (glen >= op->len) {
			xs_op_free(op);
			return EIO;
		}
		if (off == 0) {
			snprintf(gen, sizeof(gen), "%.31s", op->data);
		} else if (strcmp(gen, op->data) != 0) {
			/* The directory changed under us: start over. */
			xs_op_free(op);
			xs_list_free(out);
			off = 0;
			continue;
		}
		names = op->data + glen + 1;
		rest = op->len - glen - 1;
		/* The listing ends with an empty name: a second NUL. */
		if (rest == 0 || (rest >= 1 && names[0] == 0)) {
			xs_op_free(op);
			return 0;
		}
		if (rest >= 2 && names[rest - 1] == 0 && names[rest - 2] == 0) {
			list_append(out, names, rest - 1);
			xs_op_free(op);
			return 0;
		}
		list_append(out, names, rest);
		off += rest;
		xs_op_free(op);
	}
}

int xs_directory(struct xs_conn *c, uint32_t tx, const char *path,
		 struct xs_list *out)
{
	struct xs_op *op = xs_send(c, tx, XS_DIRECTORY, path, strlen(path) + 1);
	int err = xs_wait(op);

	memset(out, 0, sizeof(*out));
	if (err == E2BIG) {
		xs_op_free(op);
		err = directory_part(c, tx, path, out);
	} else {
		if (!err && op->len)
			list_append(out, op->data, op->len);
		xs_op_free(op);
	}
	/* Never a NULL buffer: callers walk buf .. buf + len. */
	if (!out->buf) {
		out->buf = calloc(1, 1);
		if (!out->buf)
			oom();
	}
	return err;
}

void xs_list_free(struct xs_list *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}
