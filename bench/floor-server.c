/*
 * floor-server: answers every xenstore request on a Unix socket with "OK"
 * and does nothing else.  What it costs per request is the kernel's part
 * of a request (epoll, read, send, waking the client): the floor under any
 * xenstored's CPU per request on this machine, measured in the same run.
 *
 *   floor-server SOCKET_PATH
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4 */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xen/io/xs_wire.h>

#define MAX_EVENTS 64
#define BUFFER_SIZE 65536

/* Turn a batch of requests in @in into as many "OK" replies in @out. */
static size_t answer_batch(const char *in, size_t len, char *out)
{
	size_t used = 0, produced = 0;

	while (len - used >= sizeof(struct xsd_sockmsg)) {
		struct xsd_sockmsg hdr;

		memcpy(&hdr, in + used, sizeof(hdr));
		if (len - used < sizeof(hdr) + hdr.len)
			break;	/* the benchmark never splits a request */
		used += sizeof(hdr) + hdr.len;
		hdr.len = 3;
		memcpy(out + produced, &hdr, sizeof(hdr));
		memcpy(out + produced + sizeof(hdr), "OK", 3);
		produced += sizeof(hdr) + 3;
	}
	return produced;
}

int main(int argc, char **argv)
{
	static char in[BUFFER_SIZE], out[BUFFER_SIZE * 2];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct epoll_event ev, events[MAX_EVENTS];
	int listener, ep, i, n;

	if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: floor-server SOCKET_PATH\n");
		return 2;
	}
	strcpy(addr.sun_path, argv[1]);
	unlink(argv[1]);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ep = epoll_create1(0);
	if (listener < 0 || ep < 0 ||
	    bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(listener, 128) != 0) {
		perror("floor-server");
		return 1;
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = listener };
	epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
	for (;;) {
		n = epoll_wait(ep, events, MAX_EVENTS, -1);
		if (n < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			ssize_t len;

			if (fd == listener) {
				int client = accept4(listener, NULL, NULL,
						     SOCK_NONBLOCK);

				if (client < 0)
					continue;
				ev = (struct epoll_event){ .events = EPOLLIN,
							   .data.fd = client };
				epoll_ctl(ep, EPOLL_CTL_ADD, client, &ev);
				continue;
			}
			len = read(fd, in, sizeof(in));
			if (len <= 0) {
				close(fd);
				continue;
			}
			send(fd, out, answer_batch(in, (size_t)len, out),
			     MSG_NOSIGNAL);
		}
	}
}
