/*
 * Watches, found through an index by path: a change to /a/b/c looks up the
 * watches registered on "/", "/a", "/a/b" and "/a/b/c" and nothing else, so
 * its cost is its depth plus the watches that match.
 */
#ifndef DAEMON_WATCH_H
#define DAEMON_WATCH_H

#include "daemon/internal.h"

struct watch {
	LIST_ENTRY(watch) conn_link;
	LIST_ENTRY(watch) bucket_link;
	struct watch_bucket *bucket;
	struct connection *conn;
	char *path;		/* absolute, or a special '@' name */
	char *token;
	bool relative;		/* events carry paths relative to the home */
	int depth;		/* levels below path that fire it; -1: all */
};

struct watch_index *watch_index_new(void *ctx);

/*
 * Register (@path, @token) for @conn; @path is canonical.  @depth (Xen
 * 4.22's WATCH argument) limits the levels below @path whose changes fire
 * it; -1 for none.  Returns 0, EEXIST for a duplicate pair, E2BIG over
 * the watch quota, or ENOMEM.
 */
int watch_add(struct connection *conn, const char *path, const char *token,
	      bool relative, int depth, struct watch **watch);

/* The same without the quota, for a live update's restore. */
int watch_restore(struct connection *conn, const char *path,
		  const char *token, bool relative, int depth,
		  struct watch **watch);

/* Remove the pair; 0 or ENOENT. */
int watch_remove(struct connection *conn, const char *path,
		 const char *token);

/* Remove every watch of @conn. */
void watch_remove_all(struct connection *conn);

/* Queue the event every new watch gets at once. */
void watch_fire_initial(struct watch *watch);

/* Queue the events of one applied change. */
void watch_fire_change(struct server *server, const struct change_note *note);

/*
 * Fire the special node @name (@introduceDomain, @releaseDomain) for
 * @domid, as Xen 4.22 does: "@name" for the watches of @name without a
 * depth, "@name/<domid>" for those of that path and those of @name with a
 * depth of 1 or more.
 */
void watch_fire_special(struct server *server, const char *name,
			uint32_t domid);

/* Number of watches registered in the whole daemon. */
unsigned long watch_count(const struct server *server);

/* The permissions of a special node ("@introduceDomain"), or NULL. */
struct perm_list *watch_special_perms(struct server *server,
				      const char *path);

/* Replace the permissions of a special node (from watch_special_perms). */
bool watch_set_special_perms(struct server *server, struct perm_list *target,
			     const struct perm_list *perms);

#endif
