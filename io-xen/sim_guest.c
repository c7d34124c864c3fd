#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "io-xen/ring.h"
#include "io-xen/sim_event.h"
#include "io-xen/sim_guest.h"

#define SIM_PAGE_SIZE 4096
#define HEADER_SIZE sizeof(struct xsd_sockmsg)

struct sim_guest {
	uint32_t domid;
	uint32_t port;
	struct xenstore_domain_interface *intf;
	int fd;
	struct sockaddr_un self;
	struct sockaddr_un daemon;
	uint32_t next_req_id;
	/* The message being received. */
	char in[HEADER_SIZE + XENSTORE_PAYLOAD_MAX];
	size_t in_len;
};

static bool dir_path(char *buf, size_t size, const char *dir,
		     const char *name)
{
	return snprintf(buf, size, "%s/%s", dir, name) < (int)size;
}

int sim_control(const char *dir, const char *command, char *reply,
		size_t size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t len = 0;
	char *last;
	int fd, err;
	ssize_t n;

	if (!dir_path(addr.sun_path, sizeof(addr.sun_path), dir, "control")) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    dprintf(fd, "%s\n", command) < 0)
		goto fail;
	/* The reply ends with a line "OK" or "ERR ...". */
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0) {
			errno = n ? errno : EPIPE;
			goto fail;
		}
		len += n;
		buf[len] = '\0';
		if (len < 1 || buf[len - 1] != '\n')
			continue;
		buf[len - 1] = '\0';
		last = strrchr(buf, '\n');
		last = last ? last + 1 : buf;
		if (!strcmp(last, "OK") || !strncmp(last, "ERR", 3))
			break;
		buf[len - 1] = '\n';
		if (len == sizeof(buf) - 1) {
			errno = EMSGSIZE;
			goto fail;
		}
	}
	close(fd);
	if (reply && size) {
		strncpy(reply, buf, size - 1);
		reply[size - 1] = '\0';
	}
	if (strcmp(last, "OK")) {
		errno = EPROTO;
		return -1;
	}
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int sim_guest_dom0_port(const char *dir)
{
	char path[PATH_MAX];
	unsigned int port;
	FILE *f;
	int ok;

	if (!dir_path(path, sizeof(path), dir, "xsd_port") ||
	    !(f = fopen(path, "r")))
		return -1;
	ok = fscanf(f, "%u", &port) == 1;
	fclose(f);
	return ok ? (int)port : -1;
}

struct sim_guest *sim_guest_attach(const char *dir, uint32_t domid,
				   uint32_t port)
{
	struct sim_guest *guest = calloc(1, sizeof(*guest));
	char path[PATH_MAX], name[32];
	void *page;
	int fd, err;

	if (!guest)
		return NULL;
	guest->domid = domid;
	guest->port = port;
	guest->fd = -1;
	guest->next_req_id = 1;
	guest->self.sun_family = guest->daemon.sun_family = AF_UNIX;
	snprintf(name, sizeof(name), "ring-%u", domid);
	if (!dir_path(path, sizeof(path), dir, name))
		goto toolong;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	page = mmap(NULL, SIM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	err = errno;
	close(fd);
	if (page == MAP_FAILED) {
		errno = err;
		goto fail;
	}
	guest->intf = page;

	snprintf(name, sizeof(name), "guest-%u", domid);
	if (!dir_path(guest->self.sun_path, sizeof(guest->self.sun_path), dir,
		      name) ||
	    !dir_path(guest->daemon.sun_path, sizeof(guest->daemon.sun_path),
		      dir, "evtchn"))
		goto toolong;
	guest->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (guest->fd < 0)
		goto fail;
	unlink(guest->self.sun_path);
	if (bind(guest->fd, (struct sockaddr *)&guest->self,
		 sizeof(guest->self)) != 0)
		goto fail;
	return guest;
toolong:
	errno = ENAMETOOLONG;
fail:
	err = errno;
	if (guest->fd >= 0)
		close(guest->fd);
	if (guest->intf)
		munmap(guest->intf, SIM_PAGE_SIZE);
	free(guest);
	errno = err;
	return NULL;
}

struct sim_guest *sim_guest_create(const char *dir, uint32_t domid,
				   uint32_t port)
{
	char command[64];

	snprintf(command, sizeof(command), "create %u", domid);
	if (sim_control(dir, command, NULL, 0) != 0)
		return NULL;
	return sim_guest_attach(dir, domid, port);
}

void sim_guest_free(struct sim_guest *guest)
{
	if (!guest)
		return;
	close(guest->fd);
	unlink(guest->self.sun_path);
	munmap(guest->intf, SIM_PAGE_SIZE);
	free(guest);
}

struct xenstore_domain_interface *sim_guest_ring(struct sim_guest *guest)
{
	return guest->intf;
}

int sim_guest_fd(const struct sim_guest *guest)
{
	return guest->fd;
}

int sim_guest_notify(struct sim_guest *guest)
{
	struct sim_event ev = { .domid = guest->domid, .port = guest->port };

	/* Blocking: a full daemon queue delays a signal, never drops it. */
	if (sendto(guest->fd, &ev, sizeof(ev), 0,
		   (struct sockaddr *)&guest->daemon,
		   sizeof(guest->daemon)) != sizeof(ev))
		return -1;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Forget the signals received so far: the look at the ring that follows
 * answers them all.  Signals not taken would fill the daemon's buffers.
 */
static void drain_signals(struct sim_guest *guest)
{
	struct sim_event ev;

	while (recv(guest->fd, &ev, sizeof(ev), MSG_DONTWAIT) > 0)
		;
}

/* Sleep until the daemon signals or @deadline (ms) passes. */
static int wait_signal(struct sim_guest *guest, long long deadline)
{
	struct pollfd pfd = { .fd = guest->fd, .events = POLLIN };
	long long left = deadline - now_ms();
	int n;

	if (left < 0)
		left = 0;
	n = poll(&pfd, 1, (int)(left > INT_MAX ? INT_MAX : left));
	if (n < 0)
		return -1;
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	drain_signals(guest);
	return 0;
}

static XENSTORE_RING_IDX load_index(const XENSTORE_RING_IDX *idx)
{
	return __atomic_load_n(idx, __ATOMIC_ACQUIRE);
}

int sim_guest_send(struct sim_guest *guest, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *payload, uint32_t len,
		   int timeout_ms)
{
	struct xenstore_domain_interface *intf = guest->intf;
	struct xsd_sockmsg hdr = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
	};
	long long deadline = now_ms() + timeout_ms;
	size_t total = HEADER_SIZE + len, done = 0;

	while (done < total) {
		XENSTORE_RING_IDX prod = load_index(&intf->req_prod);
		const char *from;
		size_t chunk;
		ssize_t n;

		if (done < HEADER_SIZE) {
			from = (const char *)&hdr + done;
			chunk = HEADER_SIZE - done;
		} else {
			from = (const char *)payload + (done - HEADER_SIZE);
			chunk = total - done;
		}
		n = ring_guest_write(intf, from, chunk);
		if (n < 0) {
			errno = EIO;
			return -1;
		}
		done += n;
		/* Linux's rule: signal only if the daemon had caught up. */
		if (n > 0 && load_index(&intf->req_cons) == prod &&
		    sim_guest_notify(guest) != 0)
			return -1;
		if (n == 0 && wait_signal(guest, deadline) != 0)
			return -1;
	}
	return 0;
}

int sim_guest_recv(struct sim_guest *guest, struct xsd_sockmsg *hdr,
		   char *payload, int timeout_ms)
{
	struct xenstore_domain_interface *intf = guest->intf;
	long long deadline = now_ms() + timeout_ms;

	drain_signals(guest);
	for (;;) {
		size_t want = HEADER_SIZE;
		XENSTORE_RING_IDX old_cons;
		ssize_t n;

		if (guest->in_len >= HEADER_SIZE) {
			memcpy(hdr, guest->in, HEADER_SIZE);
			if (hdr->len > XENSTORE_PAYLOAD_MAX) {
				errno = EPROTO;
				return -1;
			}
			want += hdr->len;
			if (guest->in_len == want) {
				memcpy(payload, guest->in + HEADER_SIZE,
				       hdr->len);
				payload[hdr->len] = '\0';
				guest->in_len = 0;
				return 0;
			}
		}
		old_cons = load_index(&intf->rsp_cons);
		n = ring_guest_read(intf, guest->in + guest->in_len,
				    want - guest->in_len);
		if (n < 0) {
			errno = EIO;
			return -1;
		}
		guest->in_len += n;
		/*
		 * Linux's rule (xb_read): with the new consumer index out,
		 * look at the producer again and signal if the daemon had
		 * filled the ring by then: it may be waiting for room.  A
		 * look taken before the read misses a fill during it, and
		 * then both sides wait for each other.
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (n > 0 &&
		    load_index(&intf->rsp_prod) - old_cons >= XENSTORE_RING_SIZE &&
		    sim_guest_notify(guest) != 0)
			return -1;
		if (n == 0 && wait_signal(guest, deadline) != 0)
			return -1;
	}
}

int sim_guest_request(struct sim_guest *guest, uint32_t type,
		      const void *payload, uint32_t len,
		      struct xsd_sockmsg *hdr, char *reply, int timeout_ms,
		      unsigned int *events)
{
	uint32_t req_id = guest->next_req_id++;

	if (sim_guest_send(guest, type, req_id, 0, payload, len,
			   timeout_ms) != 0)
		return -1;
	for (;;) {
		if (sim_guest_recv(guest, hdr, reply, timeout_ms) != 0)
			return -1;
		if (hdr->type == XS_WATCH_EVENT) {
			if (events)
				(*events)++;
			continue;
		}
		if (hdr->req_id == req_id)
			return 0;
	}
}
