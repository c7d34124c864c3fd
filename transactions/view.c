#include <errno.h>
#include <string.h>
#include <talloc.h>
#include <uthash.h>

#include "store/path.h"
#include "transactions/view.h"

/* A plain request touches a node or two: a list is cheapest.  Views that
 * grow past this many entries also index them by path. */
#define HASH_THRESHOLD 8

struct view_entry {
	UT_hash_handle hh;
	struct view_entry *next;	/* every entry, in the order loaded */
	char *path;
	/* The store's node when the view first looked (NULL: absent), until
	 * the view edits it: the edit takes it over, and what the view still
	 * needs of it (for the owner's quota) is kept below. */
	struct node *base;
	bool base_existed;
	uint32_t base_owner;
	size_t base_size;
	/* The node as this view sees it now (NULL: absent). */
	struct node *cur;
	bool changed;
	/* Removed here: store nodes below it are hidden from this view. */
	bool hides_below;
	/* This path's change note, if it has one: a removal of n nodes
	 * then costs n lookups, not n^2/2 comparisons of long paths. */
	struct change_note *note;
};

struct view {
	struct store *store;
	bool isolated;
	struct view_entry *list, **list_tail;
	struct view_entry *entries;	/* uthash table, once hashed */
	bool hashed;
	unsigned int count;
	unsigned int hiding;		/* entries with hides_below */
	unsigned long modifications;
	/* Failures met loading or noting (memory, a broken record): a node
	 * that could not be loaded looks absent, so a request that met one
	 * must not trust what it saw. */
	unsigned long failures;
	int last_error;
	struct change_note *changes, **changes_tail;
	unsigned int unindexed_notes;	/* made with no entry to find them */
};

static void view_failed(struct view *view, int err)
{
	view->failures++;
	view->last_error = err;
}

static int view_destroy(struct view *view)
{
	/* Entries are talloc children of the view; only the table is malloc'd. */
	HASH_CLEAR(hh, view->entries);
	return 0;
}

struct view *view_new(void *ctx, struct store *store, bool isolated)
{
	struct view *view = talloc_zero(ctx, struct view);

	if (!view)
		return NULL;
	view->store = store;
	view->isolated = isolated;
	view->changes_tail = &view->changes;
	view->list_tail = &view->list;
	talloc_set_destructor(view, view_destroy);
	return view;
}

static struct view_entry *find_entry(const struct view *view,
				     const char *path)
{
	struct view_entry *entry;

	if (view->hashed) {
		HASH_FIND_STR(view->entries, path, entry);
		return entry;
	}
	for (entry = view->list; entry; entry = entry->next)
		if (strcmp(entry->path, path) == 0)
			return entry;
	return NULL;
}

static void index_entry(struct view *view, struct view_entry *entry)
{
	HASH_ADD_KEYPTR(hh, view->entries, entry->path, strlen(entry->path),
			entry);
}

static void add_entry(struct view *view, struct view_entry *entry)
{
	*view->list_tail = entry;
	view->list_tail = &entry->next;
	view->count++;
	if (view->hashed) {
		index_entry(view, entry);
	} else if (view->count > HASH_THRESHOLD) {
		struct view_entry *e;

		for (e = view->list; e; e = e->next)
			index_entry(view, e);
		view->hashed = true;
	}
}

/* 1 if an ancestor of @path was removed in this view, 0 if not, -1 if
 * memory ran out. */
static int hidden_by_removal(struct view *view, const char *path)
{
	char *copy;
	size_t len;
	bool hidden = false;

	if (!view->hiding)
		return 0;
	copy = talloc_strdup(view, path);
	if (!copy)
		return -1;
	for (len = path_parent_len(copy); len > 0 && !hidden;
	     len = path_parent_len(copy)) {
		struct view_entry *entry;

		copy[len] = '\0';
		entry = find_entry(view, copy);
		hidden = entry && entry->hides_below;
	}
	talloc_free(copy);
	return hidden;
}

static uint32_t owner_of(const struct node *node)
{
	return node && node->perms.count ? node->perms.entries[0].domid
					 : VIEW_NO_OWNER;
}

/* What the view keeps of the store's node once an edit took it over. */
static void note_base(struct view_entry *entry)
{
	entry->base_existed = entry->base != NULL;
	entry->base_owner = owner_of(entry->base);
	entry->base_size = entry->base ? node_record_size(entry->base) : 0;
}

/*
 * A plain view is applied before anything else changes the store, so it
 * reads big directories lazily and writes back only the children that
 * changed.  A transaction's view keeps what it read while others change
 * the store, so it reads every node whole.
 */
static struct node *fetch(struct view *view, void *ctx, const char *path)
{
	return view->isolated ? store_fetch(view->store, ctx, path)
			      : store_fetch_lazy(view->store, ctx, path);
}

static struct view_entry *load_entry(struct view *view, const char *path)
{
	struct view_entry *entry = find_entry(view, path);
	int hidden, err = ENOMEM;

	if (entry)
		return entry;
	entry = talloc_zero(view, struct view_entry);
	if (!entry)
		goto fail;
	entry->path = talloc_strdup(entry, path);
	hidden = entry->path ? hidden_by_removal(view, path) : -1;
	if (hidden < 0)
		goto fail;
	entry->base = fetch(view, entry, path);
	if (!entry->base && errno != ENOENT) {
		err = errno;
		goto fail;
	}
	if (!hidden) {
		/* Reads of unchanged nodes share the base copy. */
		entry->cur = entry->base;
	} else {
		/* Absent here by this view's own doing: the store's node (if
		 * any) is gone once the view applies. */
		entry->changed = entry->base != NULL;
	}
	note_base(entry);
	add_entry(view, entry);
	return entry;
fail:
	talloc_free(entry);
	view_failed(view, err);
	return NULL;
}

const struct node *view_get(struct view *view, const char *path)
{
	struct view_entry *entry = load_entry(view, path);

	return entry ? entry->cur : NULL;
}

struct node *view_edit(struct view *view, const char *path)
{
	struct view_entry *entry = load_entry(view, path);

	if (!entry || !entry->cur)
		return NULL;
	/* The first edit takes the view's copy of the store's node over
	 * rather than copying it again (a directory of 10,000 domains is
	 * 60-370 KB). */
	if (entry->cur == entry->base)
		entry->base = NULL;
	entry->changed = true;
	view->modifications++;
	return entry->cur;
}

struct node *view_create(struct view *view, const char *path,
			 const struct perm_list *perms)
{
	struct view_entry *entry = load_entry(view, path);
	struct node *node;

	if (!entry || entry->cur)
		return NULL;
	node = node_new(entry, perms);
	if (!node) {
		view_failed(view, ENOMEM);
		return NULL;
	}
	entry->cur = node;
	entry->changed = true;
	view->modifications++;
	return node;
}

bool view_delete(struct view *view, const char *path)
{
	struct view_entry *entry = load_entry(view, path);

	if (!entry)
		return false;
	if (!entry->hides_below) {
		entry->hides_below = true;
		view->hiding++;
	}
	if (!entry->cur)
		return true;
	if (entry->cur != entry->base)
		talloc_free(entry->cur);
	entry->cur = NULL;
	entry->changed = true;
	view->modifications++;
	return true;
}

bool view_note_change(struct view *view, const char *path,
		      enum change_kind kind, const struct perm_list *old_perms)
{
	struct view_entry *entry;
	struct change_note *note;

	/* A transaction's events come from its replay at commit. */
	if (view->isolated)
		return true;
	/* Callers note what they just loaded: its entry finds the note.
	 * Only a note made for a path the view had not loaded needs the
	 * list searched. */
	entry = find_entry(view, path);
	note = entry ? entry->note : NULL;
	if (!note && (!entry || view->unindexed_notes)) {
		for (note = view->changes; note; note = note->next)
			if (strcmp(note->path, path) == 0)
				break;
		if (note && entry)
			entry->note = note;
	}
	if (note) {
		/* One event per node: a node change covers a removal below. */
		if (kind == CHANGE_NODE)
			note->kind = CHANGE_NODE;
		return true;
	}
	note = talloc_zero(view, struct change_note);
	if (!note)
		goto fail;
	note->path = talloc_strdup(note, path);
	note->kind = kind;
	if (old_perms) {
		note->old_perms = talloc(note, struct perm_list);
		if (!note->old_perms ||
		    !perms_copy(note, old_perms, note->old_perms))
			goto fail;
	}
	if (!note->path)
		goto fail;
	*view->changes_tail = note;
	view->changes_tail = &note->next;
	if (entry)
		entry->note = note;
	else
		view->unindexed_notes++;
	return true;
fail:
	talloc_free(note);
	view_failed(view, ENOMEM);
	return false;
}

struct change_note *view_changes(struct view *view)
{
	struct change_note **link = &view->changes;

	/* Drop notes of nodes that came and went within the view. */
	while (*link) {
		struct view_entry *entry = find_entry(view, (*link)->path);

		if (entry && !entry->base_existed && !entry->cur)
			*link = (*link)->next;
		else
			link = &(*link)->next;
	}
	return view->changes;
}

long view_owned_delta(const struct view *view, uint32_t domid)
{
	const struct view_entry *entry;
	long delta = 0;

	for (entry = view->list; entry; entry = entry->next) {
		if (!entry->changed)
			continue;
		delta += (owner_of(entry->cur) == domid) -
			 (entry->base_owner == domid);
	}
	return delta;
}

unsigned long view_modifications(const struct view *view)
{
	return view->modifications;
}

unsigned int view_touched(const struct view *view)
{
	return view->count;
}

unsigned long view_failures(const struct view *view)
{
	return view->failures;
}

int view_last_error(const struct view *view)
{
	return view->last_error;
}

int view_for_each_new_owner(const struct view *view,
			    int (*fn)(void *arg, uint32_t owner), void *arg)
{
	const struct view_entry *entry;
	int err;

	for (entry = view->list; entry; entry = entry->next) {
		if (!entry->changed || !entry->cur)
			continue;
		err = fn(arg, owner_of(entry->cur));
		if (err)
			return err;
	}
	return 0;
}

int view_apply(struct view *view, view_owner_fn owner_fn, void *arg)
{
	struct view_entry *entry;
	int err = 0;

	store_batch_begin(view->store);
	for (entry = view->list; entry; entry = entry->next) {
		uint32_t old_owner, new_owner;
		size_t old_size, new_size;

		if (!entry->changed)
			continue;
		old_owner = entry->base_owner;
		new_owner = owner_of(entry->cur);
		old_size = entry->base_size;
		new_size = entry->cur ? node_record_size(entry->cur) : 0;
		if (entry->cur) {
			entry->cur->generation =
				store_next_generation(view->store);
			err = store_put(view->store, entry->path, entry->cur);
		} else if (entry->base_existed) {
			err = store_delete(view->store, entry->path);
		}
		if (err)
			break;
		if (owner_fn && (entry->base_existed || entry->cur))
			owner_fn(arg, old_owner, old_size, new_owner, new_size);
	}
	/* What was applied before an error stays, in the journal too. */
	store_batch_end(view->store);
	return err;
}
