#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <talloc.h>
#include <unistd.h>
#include <event2/event.h>

#include "daemon/core.h"
#include "daemon/log.h"
#include "io-unix/unix_socket.h"

struct unix_listener {
	struct event_base *base;
	struct server *server;
	struct event *accept_event;
	int fd;
	char *path;
};

struct unix_client {
	int fd;
	struct event *read_event;
	struct event *write_event;
	struct connection *conn;
};

static ssize_t client_read(void *io, void *buf, size_t len)
{
	struct unix_client *client = io;
	ssize_t n;

	if (len == 0)
		return 0;
	n = read(client->fd, buf, len);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;	/* EOF or a real error: the peer is gone */
}

static ssize_t client_write(void *io, const void *buf, size_t len)
{
	struct unix_client *client = io;
	ssize_t n = send(client->fd, buf, len, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		n = 0;
	}
	/* Short write: the socket is full; wake the core when it drains. */
	if ((size_t)n < len)
		event_add(client->write_event, NULL);
	return n;
}

static void client_destroy(void *io)
{
	struct unix_client *client = io;

	event_free(client->read_event);
	event_free(client->write_event);
	close(client->fd);
	talloc_free(client);
}

static const struct conn_ops unix_conn_ops = {
	.read = client_read,
	.write = client_write,
	.destroy = client_destroy,
};

static void on_client_readable(evutil_socket_t fd, short what, void *arg)
{
	struct unix_client *client = arg;

	conn_input_ready(client->conn);
}

static void on_client_writable(evutil_socket_t fd, short what, void *arg)
{
	struct unix_client *client = arg;

	conn_output_ready(client->conn);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct unix_listener *listener = arg;
	struct unix_client *client;
	int client_fd;

	client_fd = accept4(listener->fd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (client_fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			xs_log(LEVEL_WARNING, "accept on %s: %s", listener->path,
			       strerror(errno));
		return;
	}
	client = talloc_zero(listener, struct unix_client);
	if (!client)
		goto fail;
	client->fd = client_fd;
	client->read_event = event_new(listener->base, client_fd,
				       EV_READ | EV_PERSIST,
				       on_client_readable, client);
	client->write_event = event_new(listener->base, client_fd, EV_WRITE,
					on_client_writable, client);
	if (!client->read_event || !client->write_event)
		goto fail;
	client->conn = server_connect(listener->server, &unix_conn_ops, client,
				      0);
	if (!client->conn)
		goto fail;
	event_add(client->read_event, NULL);
	return;
fail:
	xs_log(LEVEL_ERROR, "out of memory accepting a client on %s",
	       listener->path);
	if (client) {
		if (client->read_event)
			event_free(client->read_event);
		if (client->write_event)
			event_free(client->write_event);
		talloc_free(client);
	}
	close(client_fd);
}

/* mkdir -p for the socket's directory. */
static int make_parent_dirs(const char *path)
{
	char dir[PATH_MAX];
	char *p;

	if (strlen(path) >= sizeof(dir))
		return ENAMETOOLONG;
	strcpy(dir, path);
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

static int listener_destructor(struct unix_listener *listener)
{
	if (listener->accept_event)
		event_free(listener->accept_event);
	if (listener->fd >= 0) {
		close(listener->fd);
		unlink(listener->path);
	}
	return 0;
}

struct unix_listener *unix_listen(void *ctx, struct event_base *base,
				  struct server *server, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct unix_listener *listener;
	int err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		xs_log(LEVEL_ERROR, "socket path too long: %s", path);
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(addr.sun_path, path);
	listener = talloc_zero(ctx, struct unix_listener);
	if (!listener || !(listener->path = talloc_strdup(listener, path))) {
		talloc_free(listener);
		errno = ENOMEM;
		return NULL;
	}
	listener->fd = -1;
	listener->base = base;
	listener->server = server;
	talloc_set_destructor(listener, listener_destructor);

	err = make_parent_dirs(path);
	if (err) {
		xs_log(LEVEL_ERROR, "cannot create the directory of %s: %s", path,
		       strerror(err));
		goto fail;
	}
	listener->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
			      SOCK_CLOEXEC, 0);
	if (listener->fd < 0)
		goto fail_errno;
	/* A socket file left by a daemon that died: nobody listens there. */
	if (unlink(path) != 0 && errno != ENOENT)
		goto fail_errno;
	if (bind(listener->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    chmod(path, 0600) != 0 || listen(listener->fd, 128) != 0)
		goto fail_errno;
	listener->accept_event = event_new(base, listener->fd,
					   EV_READ | EV_PERSIST, on_accept,
					   listener);
	if (!listener->accept_event || event_add(listener->accept_event, NULL))
		goto fail_errno;
	return listener;
fail_errno:
	err = errno;
	xs_log(LEVEL_ERROR, "cannot listen on %s: %s", path, strerror(err));
fail:
	if (listener->fd >= 0) {
		close(listener->fd);
		listener->fd = -1;
	}
	talloc_free(listener);
	errno = err;
	return NULL;
}

void unix_listener_close(struct unix_listener *listener)
{
	talloc_free(listener);
}
