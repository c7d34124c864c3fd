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

/* Clear close-on-exec: a live update's new daemon inherits @fd. */
static bool keep_across_exec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	return flags >= 0 && fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) == 0;
}

static bool client_save(void *io, struct state_connection *rec)
{
	struct unix_client *client = io;

	rec->type = STATE_CONN_SOCKET;
	rec->socket_fd = client->fd;
	return keep_across_exec(client->fd);
}

static const struct conn_ops unix_conn_ops = {
	.read = client_read,
	.write = client_write,
	.destroy = client_destroy,
	.save = client_save,
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

/* A connection for @client_fd; NULL (the fd closed) on failure. */
static struct connection *add_client(struct unix_listener *listener,
				     int client_fd)
{
	struct unix_client *client;

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
	return client->conn;
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
	return NULL;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct unix_listener *listener = arg;
	int client_fd;

	client_fd = accept4(listener->fd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (client_fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			xs_log(LEVEL_WARNING, "accept on %s: %s", listener->path,
			       strerror(errno));
		return;
	}
	add_client(listener, client_fd);
}

/* Descriptors a live update hands over are ours again: close-on-exec,
 * non-blocking, as accept4() and socket() made them. */
static bool own_inherited(int fd)
{
	int fd_flags = fcntl(fd, F_GETFD);
	int fl_flags = fcntl(fd, F_GETFL);

	return fd_flags >= 0 && fl_flags >= 0 &&
	       fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) == 0 &&
	       fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK) == 0;
}

struct connection *unix_adopt_client(struct unix_listener *listener, int fd)
{
	int type;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    type != SOCK_STREAM || !own_inherited(fd)) {
		xs_log(LEVEL_ERROR, "live update: descriptor %d is no "
		       "connected socket: %s", fd, strerror(errno));
		return NULL;
	}
	return add_client(listener, fd);
}

int unix_listener_save(struct unix_listener *listener)
{
	return keep_across_exec(listener->fd) ? listener->fd : -1;
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

/* A listener with no socket yet; NULL (errno ENOMEM) if memory ran out. */
static struct unix_listener *listener_new(void *ctx, struct event_base *base,
					  struct server *server,
					  const char *path)
{
	struct unix_listener *listener = talloc_zero(ctx, struct unix_listener);

	if (!listener || !(listener->path = talloc_strdup(listener, path))) {
		talloc_free(listener);
		errno = ENOMEM;
		return NULL;
	}
	listener->fd = -1;
	listener->base = base;
	listener->server = server;
	talloc_set_destructor(listener, listener_destructor);
	return listener;
}

/* Accept on listener->fd from the event loop; false if libevent fails. */
static bool listener_start(struct unix_listener *listener)
{
	listener->accept_event = event_new(listener->base, listener->fd,
					   EV_READ | EV_PERSIST, on_accept,
					   listener);
	return listener->accept_event &&
	       event_add(listener->accept_event, NULL) == 0;
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
	listener = listener_new(ctx, base, server, path);
	if (!listener)
		return NULL;

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
	if (!listener_start(listener))
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

struct unix_listener *unix_listener_adopt(void *ctx, struct event_base *base,
					  struct server *server, int fd,
					  const char *path)
{
	struct unix_listener *listener = listener_new(ctx, base, server, path);
	int accepting = 0;
	socklen_t len = sizeof(accepting);

	if (!listener)
		return NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 ||
	    !accepting || !own_inherited(fd)) {
		xs_log(LEVEL_ERROR, "live update: descriptor %d is no listening "
		       "socket", fd);
		talloc_free(listener);
		errno = EBADF;
		return NULL;
	}
	listener->fd = fd;
	if (!listener_start(listener)) {
		xs_log(LEVEL_ERROR, "cannot accept on %s", path);
		talloc_free(listener);
		errno = ENOMEM;
		return NULL;
	}
	return listener;
}

void unix_listener_close(struct unix_listener *listener)
{
	talloc_free(listener);
}
