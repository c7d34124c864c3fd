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
		err = create_ring_file(sim, 0);
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
