/*
 * The simulated hypervisor: what tests and benchmarks run on, on a machine
 * without Xen.  The protocol its guests speak is in io-xen/SIM.md:
 *
 * - a ring page is the file DIR/ring-<domid>, 4096 bytes, mapped shared by
 *   the daemon and by the guest;
 * - event channels are datagrams of struct sim_event on Unix sockets: a
 *   guest signals its port by sending {domid, port} to DIR/evtchn; the
 *   daemon signals a guest by sending {domid, guest port} to
 *   DIR/guest-<domid>.  The datagram names the port, so the daemon learns
 *   which channel fired without looking at any ring;
 * - DIR/control takes line commands that create, shut down, crash, resume
 *   and destroy simulated domains; state changes raise VIRQ_DOM_EXC.
 *
 * Signals coalesce as Xen's pending bits do: a port already pending is not
 * queued twice.  A signal to a guest that cannot be sent now (its queue,
 * or the daemon's send buffer, is full) is retried until it goes out: a
 * guest must never miss the wake-up that follows a write to its ring.
 *
 * The event fd the loop watches is an epoll set of the datagram socket and
 * an eventfd: VIRQ_DOM_EXC is raised from inside the daemon through the
 * eventfd, so that no full socket queue can lose it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <talloc.h>
#include <unistd.h>
#include <uthash.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <xen/xen.h>

#include "daemon/log.h"
#include "io-xen/platform.h"
#include "io-xen/sim_event.h"

#define SIM_PAGE_SIZE 4096
/* Datagrams taken off the socket per refill of the pending queue. */
#define SIM_RECV_BATCH 256
/* A control line longer than this is not a command. */
#define SIM_CONTROL_LINE_MAX 256
/* A guest's signal that cannot be sent is retried this often, this long. */
#define SIM_RETRY_INTERVAL_US 1000
#define SIM_RETRY_LIMIT_S 10
/* Signals in flight to guests are charged to the daemon's socket. */
#define SIM_SEND_BUFFER (8 << 20)

enum sim_domain_state { SIM_RUNNING, SIM_SHUTDOWN, SIM_CRASHED };

struct sim_domain {
	uint32_t domid;
	enum sim_domain_state state;
	UT_hash_handle hh;
};

struct sim_port {
	uint32_t local;
	uint64_t remote_key;	/* domid << 32 | remote port; 0 for the VIRQ */
	uint32_t domid;
	uint32_t remote;
	bool pending;
	bool retrying;			/* on the retry list */
	time_t retry_since;
	TAILQ_ENTRY(sim_port) retry_link;
	UT_hash_handle by_local;
	UT_hash_handle by_remote;
};

struct sim_control_client {
	LIST_ENTRY(sim_control_client) link;
	struct sim_platform *sim;
	struct bufferevent *bev;
};

struct sim_platform {
	struct platform base;
	struct event_base *event_base;
	char *dir;
	int evtchn_fd;
	struct sockaddr_un evtchn_addr;
	int raise_fd;			/* eventfd: VIRQ_DOM_EXC raised */
	int epoll_fd;			/* the two above, for the loop */
	bool dom_exc_raised;
	TAILQ_HEAD(, sim_port) retries;
	struct event *retry_event;
	struct evconnlistener *control;
	char *control_path;
	LIST_HEAD(, sim_control_client) clients;

	struct sim_domain *domains;
	struct sim_port *ports_by_local;
	struct sim_port *ports_by_remote;
	uint32_t next_port;
	uint32_t dom_exc_port;		/* 0: not bound */

	/* Pending ports, oldest first; each appears at most once. */
	uint32_t queue[SIM_RECV_BATCH];
	unsigned int queue_head, queue_len;

	struct xenstore_domain_interface *dom0_page;
	/* Adopted from a live update: dom0's ring file is in use. */
	bool dom0_ring_exists;
};

static struct sim_platform *to_sim(struct platform *p)
{
	return (struct sim_platform *)p;
}

static uint64_t remote_key(uint32_t domid, uint32_t port)
{
	return (uint64_t)domid << 32 | port;
}

static bool sim_path(const struct sim_platform *sim, char *buf, size_t size,
		     const char *fmt, uint32_t domid)
{
	int n = snprintf(buf, size, "%s/", sim->dir);

	return n > 0 && (size_t)n < size &&
	       snprintf(buf + n, size - n, fmt, domid) < (int)(size - n);
}

static struct sim_domain *find_domain(struct sim_platform *sim, uint32_t domid)
{
	struct sim_domain *dom;

	HASH_FIND(hh, sim->domains, &domid, sizeof(domid), dom);
	return dom;
}

static struct sim_port *find_port(struct sim_platform *sim, uint32_t local)
{
	struct sim_port *port;

	HASH_FIND(by_local, sim->ports_by_local, &local, sizeof(local), port);
	return port;
}

/* ------------------------------------------------------------ ring pages */

/* A fresh, zeroed page file for a new domain (a stale one is replaced). */
static int create_ring_file(struct sim_platform *sim, uint32_t domid)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (!sim_path(sim, path, sizeof(path), "ring-%u", domid))
		return ENAMETOOLONG;
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	if (ftruncate(fd, SIM_PAGE_SIZE) != 0)
		err = errno;
	close(fd);
	return err;
}

static struct xenstore_domain_interface *map_ring_file(struct sim_platform *sim,
							uint32_t domid)
{
	char path[PATH_MAX];
	void *page;
	int fd, err;

	if (!sim_path(sim, path, sizeof(path), "ring-%u", domid)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	page = mmap(NULL, SIM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	err = errno;
	close(fd);
	errno = err;
	return page == MAP_FAILED ? NULL : page;
}

static struct xenstore_domain_interface *sim_map_ring(struct platform *p,
						      uint32_t domid)
{
	struct sim_platform *sim = to_sim(p);

	/* As with grant mapping, only a live domain's page can be mapped. */
	if (!find_domain(sim, domid)) {
		errno = ESRCH;
		return NULL;
	}
	return map_ring_file(sim, domid);
}

static struct xenstore_domain_interface *sim_map_dom0_ring(struct platform *p,
							   uint32_t *remote_port)
{
	struct sim_platform *sim = to_sim(p);
	char path[PATH_MAX];
	FILE *f;
	int err;

	if (!sim->dom0_page) {
		err = sim->dom0_ring_exists ? 0 : create_ring_file(sim, 0);
		if (err) {
			errno = err;
			return NULL;
		}
		sim->dom0_page = map_ring_file(sim, 0);
		if (!sim->dom0_page)
			return NULL;
	}
	/* What /proc/xen/xsd_port says on a real dom0. */
	if (!sim_path(sim, path, sizeof(path), "xsd_port", 0) ||
	    !(f = fopen(path, "w"))) {
		err = errno;
		munmap(sim->dom0_page, SIM_PAGE_SIZE);
		sim->dom0_page = NULL;
		errno = err;
		return NULL;
	}
	fprintf(f, "%u\n", SIM_DOM0_PORT);
	fclose(f);
	*remote_port = SIM_DOM0_PORT;
	return sim->dom0_page;
}

static void sim_unmap_ring(struct platform *p,
			   struct xenstore_domain_interface *intf)
{
	struct sim_platform *sim = to_sim(p);

	if (intf == sim->dom0_page)
		sim->dom0_page = NULL;
	munmap(intf, SIM_PAGE_SIZE);
}

/* --------------------------------------------------------- event channels */

static struct sim_port *new_port(struct sim_platform *sim)
{
	struct sim_port *port = talloc_zero(sim, struct sim_port);

	if (!port) {
		errno = ENOMEM;
		return NULL;
	}
	/* Never reused: a stale pending entry can never hit a new binding. */
	port->local = sim->next_port++;
	HASH_ADD(by_local, sim->ports_by_local, local, sizeof(port->local),
		 port);
	return port;
}

static int sim_bind_interdomain(struct platform *p, uint32_t domid,
				uint32_t remote_port)
{
	struct sim_platform *sim = to_sim(p);
	uint64_t key = remote_key(domid, remote_port);
	struct sim_port *port;

	if (!find_domain(sim, domid)) {
		errno = ESRCH;
		return -1;
	}
	/* Xen binds only an unbound remote port. */
	HASH_FIND(by_remote, sim->ports_by_remote, &key, sizeof(key), port);
	if (port) {
		errno = EBUSY;
		return -1;
	}
	port = new_port(sim);
	if (!port)
		return -1;
	port->domid = domid;
	port->remote = remote_port;
	port->remote_key = key;
	HASH_ADD(by_remote, sim->ports_by_remote, remote_key,
		 sizeof(port->remote_key), port);
	return port->local;
}

static int sim_bind_dom_exc(struct platform *p)
{
	struct sim_platform *sim = to_sim(p);
	struct sim_port *port;

	if (sim->dom_exc_port) {
		errno = EBUSY;
		return -1;
	}
	port = new_port(sim);
	if (!port)
		return -1;
	sim->dom_exc_port = port->local;
	return port->local;
}

static void sim_unbind(struct platform *p, uint32_t local)
{
	struct sim_platform *sim = to_sim(p);
	struct sim_port *port = find_port(sim, local);

	if (!port)
		return;
	if (port->local == sim->dom_exc_port)
		sim->dom_exc_port = 0;
	else
		HASH_DELETE(by_remote, sim->ports_by_remote, port);
	if (port->retrying)
		TAILQ_REMOVE(&sim->retries, port, retry_link);
	HASH_DELETE(by_local, sim->ports_by_local, port);
	talloc_free(port);
}

/*
 * Signal the guest end of @port.  False if it should be tried again later;
 * a guest that is not listening (no socket) simply misses it, as a guest
 * without a bound channel would.
 */
static bool send_to_guest(struct sim_platform *sim, struct sim_port *port)
{
	struct sim_event ev = { .domid = port->domid, .port = port->remote };
	struct sockaddr_un to = { .sun_family = AF_UNIX };

	if (!sim_path(sim, to.sun_path, sizeof(to.sun_path), "guest-%u",
		      port->domid))
		return true;
	if (sendto(sim->evtchn_fd, &ev, sizeof(ev), MSG_DONTWAIT,
		   (const struct sockaddr *)&to, sizeof(to)) == sizeof(ev))
		return true;
	return errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
	       errno != EINTR;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct sim_platform *sim = arg;
	const struct timeval interval = { 0, SIM_RETRY_INTERVAL_US };
	struct sim_port *port, *next;
	time_t now = time(NULL);

	for (port = TAILQ_FIRST(&sim->retries); port; port = next) {
		next = TAILQ_NEXT(port, retry_link);
		if (!send_to_guest(sim, port) &&
		    now - port->retry_since < SIM_RETRY_LIMIT_S)
			continue;
		TAILQ_REMOVE(&sim->retries, port, retry_link);
		port->retrying = false;
	}
	if (!TAILQ_EMPTY(&sim->retries))
		evtimer_add(sim->retry_event, &interval);
}

static int sim_notify(struct platform *p, uint32_t local)
{
	struct sim_platform *sim = to_sim(p);
	struct sim_port *port = find_port(sim, local);
	const struct timeval interval = { 0, SIM_RETRY_INTERVAL_US };

	if (!port || local == sim->dom_exc_port) {
		errno = EINVAL;
		return -1;
	}
	if (port->retrying || send_to_guest(sim, port))
		return 0;
	if (TAILQ_EMPTY(&sim->retries))
		evtimer_add(sim->retry_event, &interval);
	port->retrying = true;
	port->retry_since = time(NULL);
	TAILQ_INSERT_TAIL(&sim->retries, port, retry_link);
	return 0;
}

static int sim_unmask(struct platform *p, uint32_t port)
{
	return 0;	/* nothing is masked: pending bits alone coalesce */
}

static void mark_pending(struct sim_platform *sim, struct sim_port *port)
{
	unsigned int tail;

	if (port->pending || sim->queue_len == SIM_RECV_BATCH)
		return;
	port->pending = true;
	tail = (sim->queue_head + sim->queue_len) % SIM_RECV_BATCH;
	sim->queue[tail] = port->local;
	sim->queue_len++;
}

/* Move signalled ports from the socket to the queue. */
static void receive_events(struct sim_platform *sim)
{
	struct sim_event ev;
	struct sim_port *port;
	unsigned int i;
	uint64_t key;

	for (i = 0; i < SIM_RECV_BATCH && sim->queue_len < SIM_RECV_BATCH;
	     i++) {
		if (recv(sim->evtchn_fd, &ev, sizeof(ev), MSG_DONTWAIT) !=
		    sizeof(ev))
			break;	/* empty (EAGAIN), or not one of ours */
		key = remote_key(ev.domid, ev.port);
		HASH_FIND(by_remote, sim->ports_by_remote, &key, sizeof(key),
			  port);
		if (port)
			mark_pending(sim, port);
	}
}

static int sim_pending(struct platform *p)
{
	struct sim_platform *sim = to_sim(p);
	struct sim_port *port;
	uint32_t local;

	if (sim->dom_exc_raised) {
		uint64_t count;

		sim->dom_exc_raised = false;
		if (read(sim->raise_fd, &count, sizeof(count)) < 0 &&
		    errno != EAGAIN)
			xs_log(LEVEL_WARNING, "sim: eventfd: %s",
			       strerror(errno));
		if (sim->dom_exc_port &&
		    (port = find_port(sim, sim->dom_exc_port)))
			mark_pending(sim, port);
	}
	for (;;) {
		if (!sim->queue_len)
			receive_events(sim);
		if (!sim->queue_len)
			return -1;
		local = sim->queue[sim->queue_head];
		sim->queue_head = (sim->queue_head + 1) % SIM_RECV_BATCH;
		sim->queue_len--;
		port = find_port(sim, local);
		if (port && port->pending) {
			port->pending = false;
			return (int)local;
		}
		/* Unbound since it was queued: skip it. */
	}
}

static int sim_event_fd(struct platform *p)
{
	return to_sim(p)->epoll_fd;
}

/* ---------------------------------------------------------------- domains */

static enum domain_state sim_domain_state(struct platform *p, uint32_t domid)
{
	struct sim_domain *dom = find_domain(to_sim(p), domid);

	if (!dom)
		return DOMAIN_DYING;
	return dom->state == SIM_RUNNING ? DOMAIN_RUNNING : DOMAIN_SHUTDOWN;
}

static void raise_dom_exc(struct sim_platform *sim)
{
	uint64_t one = 1;

	sim->dom_exc_raised = true;
	/* Makes the event fd readable: the loop then asks for pending ports. */
	if (write(sim->raise_fd, &one, sizeof(one)) != sizeof(one))
		xs_log(LEVEL_WARNING, "sim: eventfd: %s", strerror(errno));
}

static const char *state_name(enum sim_domain_state state)
{
	switch (state) {
	case SIM_RUNNING: return "running";
	case SIM_SHUTDOWN: return "shutdown";
	case SIM_CRASHED: return "crashed";
	}
	return "?";
}

static bool parse_domid(const char *s, uint32_t *domid)
{
	unsigned long value;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	value = strtoul(s, &end, 10);
	if (*end || errno || value >= DOMID_FIRST_RESERVED)
		return false;
	*domid = (uint32_t)value;
	return true;
}

/* One command; its reply lines go to @out, the last "OK" or "ERR why". */
static void control_command(struct sim_platform *sim, char *line,
			    struct evbuffer *out)
{
	char *save = NULL;
	const char *cmd = strtok_r(line, " \t", &save);
	const char *arg = strtok_r(NULL, " \t", &save);
	struct sim_domain *dom, *tmp;
	uint32_t domid;
	int err;

	if (!cmd) {
		evbuffer_add_printf(out, "ERR empty command\n");
		return;
	}
	if (!strcmp(cmd, "list") && !arg) {
		HASH_ITER(hh, sim->domains, dom, tmp)
			evbuffer_add_printf(out, "%u %s\n", dom->domid,
					    state_name(dom->state));
		evbuffer_add_printf(out, "OK\n");
		return;
	}
	if (!parse_domid(arg, &domid) || strtok_r(NULL, " \t", &save)) {
		evbuffer_add_printf(out, "ERR usage: create|shutdown|crash|"
				    "resume|destroy DOMID, or list\n");
		return;
	}
	dom = find_domain(sim, domid);
	if (!strcmp(cmd, "create")) {
		if (dom) {
			evbuffer_add_printf(out, "ERR domain %u exists\n",
					    domid);
			return;
		}
		err = create_ring_file(sim, domid);
		if (err) {
			evbuffer_add_printf(out, "ERR ring-%u: %s\n", domid,
					    strerror(err));
			return;
		}
		dom = talloc_zero(sim, struct sim_domain);
		if (!dom) {
			evbuffer_add_printf(out, "ERR out of memory\n");
			return;
		}
		dom->domid = domid;
		dom->state = SIM_RUNNING;
		HASH_ADD(hh, sim->domains, domid, sizeof(domid), dom);
		evbuffer_add_printf(out, "OK\n");
		return;
	}
	if (!dom) {
		evbuffer_add_printf(out, "ERR no domain %u\n", domid);
		return;
	}
	if (!strcmp(cmd, "shutdown") || !strcmp(cmd, "crash") ||
	    !strcmp(cmd, "resume")) {
		dom->state = !strcmp(cmd, "shutdown") ? SIM_SHUTDOWN :
			     !strcmp(cmd, "crash") ? SIM_CRASHED : SIM_RUNNING;
		/* Xen raises VIRQ_DOM_EXC on shutdown and crash only. */
		if (dom->state != SIM_RUNNING)
			raise_dom_exc(sim);
	} else if (!strcmp(cmd, "destroy")) {
		char path[PATH_MAX];

		if (domid == 0) {
			evbuffer_add_printf(out, "ERR domain 0 stays\n");
			return;
		}
		HASH_DEL(sim->domains, dom);
		talloc_free(dom);
		/* Mappings stay valid; only the name goes, like freed memory
		 * that whoever still maps it keeps seeing. */
		if (sim_path(sim, path, sizeof(path), "ring-%u", domid))
			unlink(path);
		raise_dom_exc(sim);
	} else {
		evbuffer_add_printf(out, "ERR unknown command %s\n", cmd);
		return;
	}
	evbuffer_add_printf(out, "OK\n");
}

static void control_client_free(struct sim_control_client *client)
{
	LIST_REMOVE(client, link);
	bufferevent_free(client->bev);
	talloc_free(client);
}

static void on_control_read(struct bufferevent *bev, void *arg)
{
	struct sim_control_client *client = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
		if (len > SIM_CONTROL_LINE_MAX)
			evbuffer_add_printf(out, "ERR line too long\n");
		else
			control_command(client->sim, line, out);
		free(line);
	}
	if (evbuffer_get_length(in) > SIM_CONTROL_LINE_MAX)
		control_client_free(client);
}

static void on_control_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		control_client_free(arg);
}

static void on_control_accept(struct evconnlistener *listener,
			      evutil_socket_t fd, struct sockaddr *addr,
			      int socklen, void *arg)
{
	struct sim_platform *sim = arg;
	struct sim_control_client *client;

	client = talloc_zero(sim, struct sim_control_client);
	if (!client) {
		close(fd);
		return;
	}
	client->sim = sim;
	client->bev = bufferevent_socket_new(sim->event_base, fd,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!client->bev) {
		close(fd);
		talloc_free(client);
		return;
	}
	LIST_INSERT_HEAD(&sim->clients, client, link);
	bufferevent_setcb(client->bev, on_control_read, NULL,
			  on_control_event, client);
	bufferevent_enable(client->bev, EV_READ | EV_WRITE);
}

/* ---------------------------------------------------------------- set-up */

static bool set_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);

	return flags >= 0 &&
	       fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC
				     : flags & ~FD_CLOEXEC) == 0;
}

/*
 * Live update.  The hypervisor is simulated inside the daemon, so what
 * Xen would keep (domains, bindings, the event sockets) goes to
 * DIR/sim-state for the new daemon, with the descriptors inherited.
 */
#define SIM_STATE_FILE "sim-state"

/* A buffer's bytes in hex ("-" if empty), for a state line. */
static void save_buffer(FILE *f, struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf), i;
	const unsigned char *p = evbuffer_pullup(buf, -1);

	if (!len || !p) {
		fputc('-', f);
		return;
	}
	for (i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
}

static int sim_save(struct platform *p)
{
	struct sim_platform *sim = to_sim(p);
	struct sim_control_client *client;
	int control_fd = evconnlistener_get_fd(sim->control);
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	struct sim_domain *dom, *dtmp;
	struct sim_port *port, *ptmp;
	FILE *f;

	if (!sim_path(sim, path, sizeof(path), SIM_STATE_FILE, 0) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!set_cloexec(sim->evtchn_fd, false) ||
	    !set_cloexec(sim->raise_fd, false) ||
	    !set_cloexec(sim->epoll_fd, false) ||
	    !set_cloexec(control_fd, false))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "fds %d %d %d %d\nnext_port %u\ndom0_ring %d\n",
		sim->evtchn_fd, sim->raise_fd, sim->epoll_fd, control_fd,
		sim->next_port, sim->dom0_page != NULL);
	HASH_ITER(hh, sim->domains, dom, dtmp)
		fprintf(f, "domain %u %d\n", dom->domid, (int)dom->state);
	HASH_ITER(by_local, sim->ports_by_local, port, ptmp)
		if (port->local != sim->dom_exc_port)
			fprintf(f, "port %u %u %u\n", port->local, port->domid,
				port->remote);
	/* Control clients stay connected, with what they sent or were
	 * sent that is still in the buffers (a partial line, a reply). */
	LIST_FOREACH(client, &sim->clients, link) {
		int fd = bufferevent_getfd(client->bev);

		if (fd < 0 || !set_cloexec(fd, false))
			continue;
		fprintf(f, "client %d ", fd);
		save_buffer(f, bufferevent_get_input(client->bev));
		fputc(' ', f);
		save_buffer(f, bufferevent_get_output(client->bev));
		fputc('\n', f);
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return sim->evtchn_fd;
}

static const struct platform_ops sim_ops = {
	.map_ring = sim_map_ring,
	.map_dom0_ring = sim_map_dom0_ring,
	.unmap_ring = sim_unmap_ring,
	.bind_interdomain = sim_bind_interdomain,
	.bind_dom_exc = sim_bind_dom_exc,
	.unbind = sim_unbind,
	.notify = sim_notify,
	.unmask = sim_unmask,
	.pending = sim_pending,
	.event_fd = sim_event_fd,
	.domain_state = sim_domain_state,
	.save = sim_save,
};

static int sim_destructor(struct sim_platform *sim)
{
	while (!LIST_EMPTY(&sim->clients))
		control_client_free(LIST_FIRST(&sim->clients));
	if (sim->control) {
		evconnlistener_free(sim->control);
		unlink(sim->control_path);
	}
	if (sim->retry_event)
		event_free(sim->retry_event);
	if (sim->epoll_fd >= 0)
		close(sim->epoll_fd);
	if (sim->raise_fd >= 0)
		close(sim->raise_fd);
	if (sim->evtchn_fd >= 0) {
		close(sim->evtchn_fd);
		unlink(sim->evtchn_addr.sun_path);
	}
	if (sim->dom0_page)
		munmap(sim->dom0_page, SIM_PAGE_SIZE);
	HASH_CLEAR(by_remote, sim->ports_by_remote);
	HASH_CLEAR(by_local, sim->ports_by_local);
	HASH_CLEAR(hh, sim->domains);
	return 0;
}

static bool open_evtchn_socket(struct sim_platform *sim)
{
	struct sockaddr_un *addr = &sim->evtchn_addr;

	addr->sun_family = AF_UNIX;
	if (!sim_path(sim, addr->sun_path, sizeof(addr->sun_path), "evtchn",
		      0)) {
		xs_log(LEVEL_ERROR, "sim: directory name too long for a "
		       "socket: %s", sim->dir);
		return false;
	}
	sim->evtchn_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
				SOCK_CLOEXEC, 0);
	if (sim->evtchn_fd < 0 ||
	    (unlink(addr->sun_path) != 0 && errno != ENOENT) ||
	    bind(sim->evtchn_fd, (struct sockaddr *)addr, sizeof(*addr)) != 0) {
		xs_log(LEVEL_ERROR, "sim: cannot bind %s: %s", addr->sun_path,
		       strerror(errno));
		return false;
	}
	/* Best effort: beyond the system's limit only with privilege. */
	if (setsockopt(sim->evtchn_fd, SOL_SOCKET, SO_SNDBUFFORCE,
		       &(int){ SIM_SEND_BUFFER }, sizeof(int)) != 0)
		setsockopt(sim->evtchn_fd, SOL_SOCKET, SO_SNDBUF,
			   &(int){ SIM_SEND_BUFFER }, sizeof(int));

	sim->raise_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sim->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (sim->raise_fd < 0 || sim->epoll_fd < 0 ||
	    epoll_ctl(sim->epoll_fd, EPOLL_CTL_ADD, sim->evtchn_fd,
		      &(struct epoll_event){ .events = EPOLLIN }) != 0 ||
	    epoll_ctl(sim->epoll_fd, EPOLL_CTL_ADD, sim->raise_fd,
		      &(struct epoll_event){ .events = EPOLLIN }) != 0) {
		xs_log(LEVEL_ERROR, "sim: cannot set up the event fd: %s",
		       strerror(errno));
		return false;
	}
	sim->retry_event = evtimer_new(sim->event_base, on_retry, sim);
	return sim->retry_event != NULL;
}

static bool open_control_socket(struct sim_platform *sim)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (!sim_path(sim, addr.sun_path, sizeof(addr.sun_path), "control",
		      0) ||
	    !(sim->control_path = talloc_strdup(sim, addr.sun_path))) {
		xs_log(LEVEL_ERROR, "sim: cannot name the control socket in "
		       "%s", sim->dir);
		return false;
	}
	unlink(addr.sun_path);
	sim->control = evconnlistener_new_bind(sim->event_base,
					       on_control_accept, sim,
					       LEV_OPT_CLOSE_ON_FREE |
					       LEV_OPT_CLOSE_ON_EXEC, 64,
					       (struct sockaddr *)&addr,
					       sizeof(addr));
	if (!sim->control) {
		xs_log(LEVEL_ERROR, "sim: cannot listen on %s: %s",
		       addr.sun_path, strerror(errno));
		return false;
	}
	return true;
}

struct platform *platform_sim_open(void *ctx, struct event_base *base,
				   const char *dir)
{
	struct sim_platform *sim = talloc_zero(ctx, struct sim_platform);
	struct sim_domain *dom0;

	if (!sim)
		return NULL;
	sim->base.ops = &sim_ops;
	sim->base.name = "sim";
	sim->event_base = base;
	sim->evtchn_fd = sim->raise_fd = sim->epoll_fd = -1;
	sim->next_port = 1;
	LIST_INIT(&sim->clients);
	TAILQ_INIT(&sim->retries);
	talloc_set_destructor(sim, sim_destructor);

	sim->dir = talloc_strdup(sim, dir);
	if (!sim->dir)
		goto fail;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		xs_log(LEVEL_ERROR, "sim: cannot create %s: %s", dir,
		       strerror(errno));
		goto fail;
	}
	if (!open_evtchn_socket(sim) || !open_control_socket(sim))
		goto fail;

	/* The control domain always exists. */
	dom0 = talloc_zero(sim, struct sim_domain);
	if (!dom0)
		goto fail;
	HASH_ADD(hh, sim->domains, domid, sizeof(dom0->domid), dom0);
	return &sim->base;
fail:
	talloc_free(sim);
	return NULL;
}

static bool load_buffer(struct evbuffer *buf, const char *hex)
{
	unsigned int byte;

	if (!strcmp(hex, "-"))
		return true;
	for (; hex[0] && hex[1]; hex += 2) {
		unsigned char c;

		if (sscanf(hex, "%2x", &byte) != 1)
			return false;
		c = (unsigned char)byte;
		if (evbuffer_add(buf, &c, 1) != 0)
			return false;
	}
	return !hex[0];
}

/* A control client the old daemon was serving, on inherited @fd. */
static bool adopt_client(struct sim_platform *sim, int fd, const char *in,
			 const char *out)
{
	struct sim_control_client *client;

	if (!set_cloexec(fd, true))
		return false;
	client = talloc_zero(sim, struct sim_control_client);
	if (!client)
		return false;
	client->sim = sim;
	client->bev = bufferevent_socket_new(sim->event_base, fd,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!client->bev) {
		talloc_free(client);
		return false;
	}
	LIST_INSERT_HEAD(&sim->clients, client, link);
	bufferevent_setcb(client->bev, on_control_read, NULL,
			  on_control_event, client);
	if (!load_buffer(bufferevent_get_input(client->bev), in) ||
	    !load_buffer(bufferevent_get_output(client->bev), out))
		return false;
	bufferevent_enable(client->bev, EV_READ | EV_WRITE);
	/* A whole line that came in before the exec. */
	if (evbuffer_get_length(bufferevent_get_input(client->bev)))
		on_control_read(client->bev, client);
	return true;
}

/* One line of DIR/sim-state; false if it is not one. */
static bool adopt_line(struct sim_platform *sim, const char *line,
		       int *control_fd)
{
	char in[2 * (SIM_CONTROL_LINE_MAX + 1) + 2];
	char out[2 * 4096 + 2];
	int fd;
	unsigned int a, b, c;
	int fds[4];
	struct sim_domain *dom;
	struct sim_port *port;

	if (sscanf(line, "fds %d %d %d %d", &fds[0], &fds[1], &fds[2],
		   &fds[3]) == 4) {
		if (fds[0] != sim->evtchn_fd)
			return false;
		sim->raise_fd = fds[1];
		sim->epoll_fd = fds[2];
		*control_fd = fds[3];
		return set_cloexec(sim->evtchn_fd, true) &&
		       set_cloexec(sim->raise_fd, true) &&
		       set_cloexec(sim->epoll_fd, true) &&
		       set_cloexec(*control_fd, true);
	}
	if (sscanf(line, "client %d %514s %8193s", &fd, in, out) == 3)
		return fd >= 0 && adopt_client(sim, fd, in, out);
	if (sscanf(line, "next_port %u", &a) == 1) {
		sim->next_port = a;
		return true;
	}
	if (sscanf(line, "dom0_ring %u", &a) == 1) {
		sim->dom0_ring_exists = a != 0;
		return true;
	}
	if (sscanf(line, "domain %u %u", &a, &b) == 2) {
		if (a >= DOMID_FIRST_RESERVED || b > SIM_CRASHED ||
		    find_domain(sim, a))
			return false;
		dom = talloc_zero(sim, struct sim_domain);
		if (!dom)
			return false;
		dom->domid = a;
		dom->state = (enum sim_domain_state)b;
		HASH_ADD(hh, sim->domains, domid, sizeof(dom->domid), dom);
		return true;
	}
	if (sscanf(line, "port %u %u %u", &a, &b, &c) == 3) {
		if (a == 0 || find_port(sim, a))
			return false;
		port = talloc_zero(sim, struct sim_port);
		if (!port)
			return false;
		port->local = a;
		port->domid = b;
		port->remote = c;
		port->remote_key = remote_key(b, c);
		HASH_ADD(by_local, sim->ports_by_local, local,
			 sizeof(port->local), port);
		HASH_ADD(by_remote, sim->ports_by_remote, remote_key,
			 sizeof(port->remote_key), port);
		return true;
	}
	return false;
}

struct platform *platform_sim_adopt(void *ctx, struct event_base *base,
				    const char *dir, int evtchn_fd)
{
	struct sim_platform *sim = talloc_zero(ctx, struct sim_platform);
	char path[PATH_MAX], line[16384];
	int control_fd = -1;
	socklen_t len;
	FILE *f = NULL;

	if (!sim)
		return NULL;
	sim->base.ops = &sim_ops;
	sim->base.name = "sim";
	sim->event_base = base;
	sim->evtchn_fd = evtchn_fd;
	sim->raise_fd = sim->epoll_fd = -1;
	sim->next_port = 1;
	LIST_INIT(&sim->clients);
	TAILQ_INIT(&sim->retries);
	talloc_set_destructor(sim, sim_destructor);
	sim->dir = talloc_strdup(sim, dir);
	if (!sim->dir ||
	    !sim_path(sim, path, sizeof(path), SIM_STATE_FILE, 0) ||
	    !sim_path(sim, sim->evtchn_addr.sun_path,
		      sizeof(sim->evtchn_addr.sun_path), "evtchn", 0) ||
	    !(sim->control_path = talloc_asprintf(sim, "%s/control", dir)))
		goto fail;
	sim->evtchn_addr.sun_family = AF_UNIX;
	f = fopen(path, "r");
	if (!f) {
		xs_log(LEVEL_ERROR, "sim: live update: no %s: %s", path,
		       strerror(errno));
		goto fail;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!adopt_line(sim, line, &control_fd)) {
			xs_log(LEVEL_ERROR, "sim: live update: bad line in "
			       "%s: %s", path, line);
			goto fail;
		}
	}
	fclose(f);
	f = NULL;
	unlink(path);
	len = sizeof(int);
	if (sim->raise_fd < 0 || control_fd < 0 ||
	    getsockopt(sim->evtchn_fd, SOL_SOCKET, SO_TYPE, &(int){ 0 },
		       &len) != 0) {
		xs_log(LEVEL_ERROR, "sim: live update: the descriptors of %s "
		       "are gone", dir);
		goto fail;
	}
	sim->retry_event = evtimer_new(base, on_retry, sim);
	/* Already listening: -1 tells libevent not to listen() again. */
	sim->control = evconnlistener_new(base, on_control_accept, sim,
					  LEV_OPT_CLOSE_ON_FREE |
					  LEV_OPT_CLOSE_ON_EXEC, -1,
					  control_fd);
	if (!sim->retry_event || !sim->control) {
		xs_log(LEVEL_ERROR, "sim: live update: cannot serve %s again",
		       dir);
		goto fail;
	}
	/* A death while no daemon listened: the restore looks anyway. */
	return &sim->base;
fail:
	if (f)
		fclose(f);
	talloc_free(sim);
	return NULL;
}
