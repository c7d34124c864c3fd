#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <talloc.h>
#include <uthash.h>

#include "daemon/access.h"
#include "daemon/domain.h"
#include "daemon/watch.h"
#include "store/path.h"

struct watch_bucket {
	UT_hash_handle hh;
	char *path;
	LIST_HEAD(, watch) watches;
	unsigned int count;
};

struct watch_index {
	struct watch_bucket *buckets;
	unsigned long count;
	/* @introduceDomain and @releaseDomain: "n0" until SET_PERMS. */
	struct perm_list introduce_perms, release_perms;
};

static int index_destroy(struct watch_index *index)
{
	HASH_CLEAR(hh, index->buckets);
	return 0;
}

struct watch_index *watch_index_new(void *ctx)
{
	struct watch_index *index = talloc_zero(ctx, struct watch_index);

	if (!index)
		return NULL;
	talloc_set_destructor(index, index_destroy);
	index->introduce_perms.entries = talloc_zero(index, struct node_perm);
	index->release_perms.entries = talloc_zero(index, struct node_perm);
	if (!index->introduce_perms.entries || !index->release_perms.entries) {
		talloc_free(index);
		return NULL;
	}
	index->introduce_perms.count = index->release_perms.count = 1;
	return index;
}

struct perm_list *watch_special_perms(struct server *server, const char *path)
{
	if (strcmp(path, "@introduceDomain") == 0)
		return &server->watches->introduce_perms;
	if (strcmp(path, "@releaseDomain") == 0)
		return &server->watches->release_perms;
	return NULL;
}

bool watch_set_special_perms(struct server *server, struct perm_list *target,
			     const struct perm_list *perms)
{
	struct perm_list copy;

	if (!perms_copy(server->watches, perms, &copy))
		return false;
	talloc_free(target->entries);
	*target = copy;
	return true;
}

unsigned long watch_count(const struct server *server)
{
	return server->watches->count;
}

static struct watch_bucket *find_bucket(struct watch_index *index,
					const char *path, size_t len)
{
	struct watch_bucket *bucket;

	HASH_FIND(hh, index->buckets, path, len, bucket);
	return bucket;
}

/* What a watch costs its domain's memory quota. */
static unsigned long watch_bytes(const struct watch *watch)
{
	return sizeof(*watch) + strlen(watch->path) + strlen(watch->token) + 2;
}

static int watch_destroy(struct watch *watch)
{
	struct watch_index *index = watch->conn->server->watches;
	struct watch_bucket *bucket = watch->bucket;
	struct domain *domain = watch->conn->domain;

	LIST_REMOVE(watch, conn_link);
	LIST_REMOVE(watch, bucket_link);
	watch->conn->watch_count--;
	if (domain && domain->watches) {
		domain->watches--;
		domain->watch_bytes -= watch_bytes(watch);
	}
	index->count--;
	bucket->count--;
	if (LIST_EMPTY(&bucket->watches)) {
		HASH_DEL(index->buckets, bucket);
		talloc_free(bucket);
	}
	return 0;
}

/*
 * @conn's watch of @path with @token, through the path's watchers or the
 * connection's watches, whichever are fewer: dom0's backends hold a watch
 * per device, and @releaseDomain can have a watcher per VM.
 */
static struct watch *find_watch(struct connection *conn, const char *path,
				const char *token)
{
	struct watch_bucket *bucket = find_bucket(conn->server->watches, path,
						  strlen(path));
	struct watch *watch;

	if (!bucket)
		return NULL;
	if (bucket->count < conn->watch_count) {
		LIST_FOREACH(watch, &bucket->watches, bucket_link)
			if (watch->conn == conn &&
			    strcmp(watch->token, token) == 0)
				return watch;
		return NULL;
	}
	LIST_FOREACH(watch, &conn->watches, conn_link)
		if (strcmp(watch->path, path) == 0 &&
		    strcmp(watch->token, token) == 0)
			return watch;
	return NULL;
}

static int add_watch(struct connection *conn, const char *path,
		     const char *token, bool relative, int depth,
		     bool check_quota, struct watch **out)
{
	struct watch_index *index = conn->server->watches;
	struct watch_bucket *bucket;
	struct watch *watch;

	if (find_watch(conn, path, token))
		return EEXIST;
	if (check_quota && !conn->who.privileged && conn->domain &&
	    quota_reached(conn->domain->quota.watches, conn->domain->watches))
		return E2BIG;

	bucket = find_bucket(index, path, strlen(path));
	if (!bucket) {
		bucket = talloc_zero(index, struct watch_bucket);
		if (!bucket || !(bucket->path = talloc_strdup(bucket, path))) {
			talloc_free(bucket);
			return ENOMEM;
		}
		LIST_INIT(&bucket->watches);
		HASH_ADD_KEYPTR(hh, index->buckets, bucket->path,
				strlen(bucket->path), bucket);
	}
	watch = talloc_zero(conn, struct watch);
	if (!watch || !(watch->path = talloc_strdup(watch, path)) ||
	    !(watch->token = talloc_strdup(watch, token))) {
		talloc_free(watch);
		if (LIST_EMPTY(&bucket->watches)) {
			HASH_DEL(index->buckets, bucket);
			talloc_free(bucket);
		}
		return ENOMEM;
	}
	watch->conn = conn;
	watch->relative = relative;
	watch->depth = depth;
	watch->bucket = bucket;
	LIST_INSERT_HEAD(&conn->watches, watch, conn_link);
	LIST_INSERT_HEAD(&bucket->watches, watch, bucket_link);
	bucket->count++;
	conn->watch_count++;
	if (conn->domain) {
		conn->domain->watches++;
		conn->domain->watch_bytes += watch_bytes(watch);
	}
	index->count++;
	talloc_set_destructor(watch, watch_destroy);
	*out = watch;
	return 0;
}

int watch_add(struct connection *conn, const char *path, const char *token,
	      bool relative, int depth, struct watch **out)
{
	return add_watch(conn, path, token, relative, depth, true, out);
}

int watch_restore(struct connection *conn, const char *path,
		  const char *token, bool relative, int depth,
		  struct watch **out)
{
	return add_watch(conn, path, token, relative, depth, false, out);
}

int watch_remove(struct connection *conn, const char *path, const char *token)
{
	struct watch *watch = find_watch(conn, path, token);

	if (!watch)
		return ENOENT;
	talloc_free(watch);
	return 0;
}

void watch_remove_all(struct connection *conn)
{
	while (!LIST_EMPTY(&conn->watches))
		talloc_free(LIST_FIRST(&conn->watches));
}

/* The path as the watcher sees it: relative to its home if it asked so. */
static const char *event_path(const struct watch *watch, const char *path,
			      char *home, size_t home_size)
{
	size_t len;

	if (!watch->relative)
		return path;
	len = (size_t)snprintf(home, home_size, PATH_DOMAIN_PREFIX "%u/",
			       watch->conn->who.domid);
	if (strncmp(path, home, len) == 0)
		return path + len;
	return path;
}

static void deliver(struct watch *watch, const char *path)
{
	char home[48];

	conn_queue_event(watch->conn,
			 event_path(watch, path, home, sizeof(home)),
			 watch->token);
}

void watch_fire_initial(struct watch *watch)
{
	char home[48];

	conn_queue_event(watch->conn,
			 event_path(watch, watch->path, home, sizeof(home)),
			 watch->token);
}

/*
 * An event reaches a watcher that may read the node or its parent: 1 if
 * it may, 0 if not, -1 if that could not be found out (memory).
 */
static int may_see(struct server *server, const struct accessor *who,
		   const struct change_note *note)
{
	void *tmp;
	struct node *node;
	int seen = 0;

	if (who->privileged)
		return 1;
	if (note->kind == CHANGE_SPECIAL) {
		/* "@releaseDomain/5" is seen as "@releaseDomain" is. */
		char base[sizeof("@introduceDomain")];
		size_t len = strcspn(note->path, "/");
		struct perm_list *perms = NULL;

		if (len < sizeof(base)) {
			memcpy(base, note->path, len);
			base[len] = '\0';
			perms = watch_special_perms(server, base);
		}
		return perms && (access_granted(server, who, perms,
						ACCESS_ANY_GENERATION) &
				 PERM_READ);
	}
	if (note->old_perms &&
	    access_granted(server, who, note->old_perms,
			   ACCESS_ANY_GENERATION) & PERM_READ)
		return true;
	tmp = talloc_new(NULL);
	if (!tmp)
		return -1;
	node = store_fetch_lazy(server->store, tmp, note->path);
	if (node && access_granted(server, who, &node->perms,
				   node->generation) & PERM_READ) {
		seen = 1;
	} else if (node || errno == ENOENT) {
		char *parent = talloc_strndup(tmp, note->path,
					      path_parent_len(note->path));

		if (parent && !*parent)
			parent = talloc_strdup(tmp, "/");
		node = parent ? store_fetch_lazy(server->store, tmp, parent)
			      : NULL;
		if (node)
			seen = !!(access_granted(server, who, &node->perms,
						 node->generation) & PERM_READ);
		else if (!parent || errno != ENOENT)
			seen = -1;
	} else {
		seen = -1;
	}
	talloc_free(tmp);
	return seen;
}

/* Which watches of a bucket a change reaches, by their depth. */
enum depth_rule {
	DEPTH_ANY,		/* all */
	DEPTH_UNSET,		/* only those without a depth */
	DEPTH_SET,		/* only those with a depth of 1 or more */
};

/*
 * Fire the watches of @bucket for @note, which lies @levels below the
 * bucket's path; a watch with a depth fires for at most that many.
 */
static void fire_bucket(struct server *server, struct watch_bucket *bucket,
			const struct change_note *note, unsigned int levels,
			enum depth_rule rule)
{
	struct watch *watch;

	if (!bucket)
		return;
	LIST_FOREACH(watch, &bucket->watches, bucket_link) {
		int seen;

		if (watch->depth >= 0 && levels > (unsigned int)watch->depth)
			continue;
		if ((rule == DEPTH_UNSET && watch->depth >= 0) ||
		    (rule == DEPTH_SET && watch->depth <= 0))
			continue;
		seen = may_see(server, &watch->conn->who, note);

		/* An event it may be owed cannot just be dropped. */
		if (seen < 0)
			conn_doom(watch->conn, "out of memory for a watch event");
		else if (seen)
			deliver(watch, note->path);
	}
}

void watch_fire_change(struct server *server, const struct change_note *note)
{
	struct watch_index *index = server->watches;
	const char *path = note->path;
	const char *p;
	unsigned int levels;

	if (!index->count)
		return;
	if (note->kind != CHANGE_NODE) {
		fire_bucket(server, find_bucket(index, path, strlen(path)),
			    note, 0, DEPTH_ANY);
		return;
	}
	/* "/" itself, then every proper prefix, then the node; each lies
	 * fewer levels above the node. */
	levels = path_depth(path);
	fire_bucket(server, find_bucket(index, "/", 1), note, levels,
		    DEPTH_ANY);
	for (p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/'))
		fire_bucket(server, find_bucket(index, path, (size_t)(p - path)),
			    note, --levels, DEPTH_ANY);
	if (strcmp(path, "/") != 0)
		fire_bucket(server, find_bucket(index, path, strlen(path)),
			    note, 0, DEPTH_ANY);
}

void watch_fire_special(struct server *server, const char *name,
			uint32_t domid)
{
	struct watch_index *index = server->watches;
	char with_domid[sizeof("@introduceDomain/4294967295")];
	struct change_note note = {
		.path = (char *)name,
		.kind = CHANGE_SPECIAL,
	};

	if (!index->count)
		return;
	fire_bucket(server, find_bucket(index, name, strlen(name)), &note, 0,
		    DEPTH_UNSET);
	snprintf(with_domid, sizeof(with_domid), "%s/%u", name, domid);
	note.path = with_domid;
	fire_bucket(server, find_bucket(index, with_domid, strlen(with_domid)),
		    &note, 0, DEPTH_ANY);
	fire_bucket(server, find_bucket(index, name, strlen(name)), &note, 1,
		    DEPTH_SET);
}
