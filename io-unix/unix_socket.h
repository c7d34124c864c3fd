/*
 * The Unix-socket backend: listens on a path, accepts clients and hands
 * each to the core as a dom0 connection over non-blocking fds.
 */
#ifndef IO_UNIX_UNIX_SOCKET_H
#define IO_UNIX_UNIX_SOCKET_H

struct event_base;
struct server;
struct unix_listener;

/*
 * Listen on @path (mode 0600; its directory created if missing; a stale
 * socket file replaced).  Returns NULL with errno set and a logged reason.
 */
struct unix_listener *unix_listen(void *ctx, struct event_base *base,
				  struct server *server, const char *path);

/* Stop listening and remove the socket file; clients stay connected. */
void unix_listener_close(struct unix_listener *listener);

#endif
