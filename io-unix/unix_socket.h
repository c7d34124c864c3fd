/*
 * The Unix-socket backend: listens on a path, accepts clients and hands
 * each to the core as a dom0 connection over non-blocking fds.
 */
#ifndef IO_UNIX_UNIX_SOCKET_H
#define IO_UNIX_UNIX_SOCKET_H

struct connection;
struct event_base;
struct server;
struct unix_listener;

/*
 * Listen on @path (mode 0600; its directory created if missing; a stale
 * socket file replaced).  Returns NULL with errno set and a logged reason.
 */
struct unix_listener *unix_listen(void *ctx, struct event_base *base,
				  struct server *server, const char *path);

/*
 * Live update: listen on inherited @fd, already bound to @path (which
 * close removes).  NULL (reason logged) if @fd is no listening socket.
 */
struct unix_listener *unix_listener_adopt(void *ctx, struct event_base *base,
					  struct server *server, int fd,
					  const char *path);

/* A client connection on inherited @fd; NULL (reason logged) on failure. */
struct connection *unix_adopt_client(struct unix_listener *listener, int fd);

/* The listening fd, made to survive exec; -1 on failure. */
int unix_listener_save(struct unix_listener *listener);

/* Stop listening and remove the socket file; clients stay connected. */
void unix_listener_close(struct unix_listener *listener);

#endif
