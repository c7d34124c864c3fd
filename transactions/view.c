#include <errno.h>
#include <string.h>
#include <talloc.h>
#include <uthash.h>

#include "store/path.h"
#include "transactions/view.h"

/* Set on an entry whose existence this view decided (created or deleted). */
#define CHANGE_EXISTENCE OBSERVE_EXISTENCE

#define HASH_THRESHOLD 8

struct view_entry {
	UT_hash_handle hh;
	struct view_entry *next;	/* every entry, in the order loaded */
	char *path;
	/* The store's node when the view first looked (NULL: absent). */
	struct node *base;
	/* The node as this view sees it now (NULL: absent). */
	struct node *cur;
	unsigned int changed;	/* CHANGE_* fields set by this view */
	unsigned int observed;	/* OBSERVE_* fields to validate at commit */
	/* Deleted here: store nodes below it are hidden from this view. */
	bool reset;
	/* Created here with permissions copied from this path. */
	char *inherited_from;
};

struct view {
	struct store *store;
	bool isolated;
	/* A plain request touches a node or two: a list is cheapest.  Views
	 * that grow past HASH_THRESHOLD entries also index them by path. */
	struct view_entry *list, **list_tail;
	struct view_entry *entries;	/* uthash table, once hashed */
	bool hashed;
	unsigned int count;
	unsigned int resets;
	unsigned long modifications;
	struct change_note *changes, **changes_tail;
};

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

static struct view_entry *find_entry(struct view *view, const char *path)
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

/* True if an ancestor of @path was deleted in this view. */
static bool below_reset(struct view *view, const char *path)
{
	char *copy;
	size_t len;
	bool hidden = false;

	if (!view->resets)
		return false;
	copy = talloc_strdup(view, path);
	if (!copy)
		return false;
	for (len = path_parent_len(copy); len > 0 && !hidden;
	     len = path_parent_len(copy)) {
		struct view_entry *entry;

		copy[len] = '\0';
		entry = find_entry(view, copy);
		hidden = entry && entry->reset;
	}
	talloc_free(copy);
	return hidden;
}

static struct view_entry *load_entry(struct view *view, const char *path)
{
	struct view_entry *entry = find_entry(view, path);

	if (entry)
		return entry;
	entry = talloc_zero(view, struct view_entry);
	if (!entry)
		return NULL;
	entry->path = talloc_strdup(entry, path);
	if (!entry->path)
		goto nomem;
	if (below_reset(view, path)) {
		/* This view removed an ancestor: absent by its own doing. */
		entry->changed = CHANGE_EXISTENCE;
	} else {
		entry->base = store_fetch(view->store, entry, path);
		if (!entry->base && errno != ENOENT)
			goto nomem;
		if (entry->base) {
			/* Reads of unchanged nodes share the base copy. */
			entry->cur = entry->base;
		}
	}
	add_entry(view, entry);
	return entry;
nomem:
	talloc_free(entry);
	return NULL;
}

static void observe(struct view *view, struct view_entry *entry,
		    unsigned int what);

/* Observations of a node this view created come from what it was made of. */
static void observe_created(struct view *view, struct view_entry *entry,
			    unsigned int what)
{
	if (entry->reset)
		return;	/* deleted, then created again: all of it is ours */
	if ((what & OBSERVE_VALUE && !(entry->changed & CHANGE_VALUE)) ||
	    what & OBSERVE_CHILDREN || what & OBSERVE_EXISTENCE)
		entry->observed |= OBSERVE_EXISTENCE;
	if (what & OBSERVE_PERMS && !(entry->changed & CHANGE_PERMS) &&
	    entry->inherited_from) {
		struct view_entry *from = find_entry(view, entry->inherited_from);

		entry->observed |= OBSERVE_EXISTENCE;
		if (from)
			observe(view, from, OBSERVE_PERMS);
	}
}

static void observe(struct view *view, struct view_entry *entry,
		    unsigned int what)
{
	if (!view->isolated || !what)
		return;
	if (entry->changed & CHANGE_EXISTENCE) {
		if (entry->cur)
			observe_created(view, entry, what);
		return;
	}
	/* Whatever is read of a node depends on whether it exists. */
	entry->observed |= OBSERVE_EXISTENCE;
	if (entry->base)
		entry->observed |= what & ~entry->changed;
}

const struct node *view_get(struct view *view, const char *path,
			    unsigned int observe_what)
{
	struct view_entry *entry = load_entry(view, path);

	if (!entry)
		return NULL;
	observe(view, entry, observe_what);
	return entry->cur;
}

static bool make_writable(struct view_entry *entry)
{
	struct node *copy;

	if (entry->cur != entry->base)
		return true;
	copy = node_dup(entry, entry->base);
	if (!copy)
		return false;
	entry->cur = copy;
	return true;
}

struct node *view_edit(struct view *view, const char *path,
		       unsigned int fields)
{
	struct view_entry *entry = load_entry(view, path);

	if (!entry || !entry->cur || !make_writable(entry))
		return NULL;
	entry->changed |= fields;
	view->modifications++;
	return entry->cur;
}

struct node *view_create(struct view *view, const char *path,
			 const struct perm_list *perms,
			 const char *inherited_from)
{
	struct view_entry *entry = load_entry(view, path);
	struct node *node;

	if (!entry || entry->cur)
		return NULL;
	node = node_new(entry, perms);
	if (!node)
		return NULL;
	talloc_free(entry->inherited_from);
	entry->inherited_from = inherited_from ?
		talloc_strdup(entry, inherited_from) : NULL;
	entry->cur = node;
	/* A new node's value and children are its own; perms come from above. */
	entry->changed |= CHANGE_EXISTENCE | CHANGE_VALUE | CHANGE_CHILDREN;
	entry->changed &= ~CHANGE_PERMS;
	view->modifications++;
	return node;
}

void view_delete(struct view *view, const char *path)
{
	struct view_entry *entry = load_entry(view, path);

	if (!entry || !entry->cur)
		return;
	if (entry->cur != entry->base)
		talloc_free(entry->cur);
	entry->cur = NULL;
	entry->changed |= CHANGE_EXISTENCE | CHANGE_VALUE | CHANGE_PERMS |
			  CHANGE_CHILDREN;
	view->modifications++;
	if (!entry->reset) {
		entry->reset = true;
		view->resets++;
	}
}

bool view_note_change(struct view *view, const char *path,
		      enum change_kind kind, const struct perm_list *old_perms)
{
	struct change_note *note;

	/* A transaction's events come from its replay at commit. */
	if (view->isolated)
		return true;
	for (note = view->changes; note; note = note->next) {
		if (strcmp(note->path, path) != 0)
			continue;
		/* One event per node: a node change covers a removal below. */
		if (kind == CHANGE_NODE)
			note->kind = CHANGE_NODE;
		return true;
	}
	note = talloc_zero(view, struct change_note);
	if (!note)
		return false;
	note->path = talloc_strdup(note, path);
	note->kind = kind;
	if (old_perms) {
		note->old_perms = talloc(note, struct perm_list);
		if (!note->old_perms ||
		    !perms_copy(note, old_perms, note->old_perms)) {
			talloc_free(note);
			return false;
		}
	}
	if (!note->path) {
		talloc_free(note);
		return false;
	}
	*view->changes_tail = note;
	view->changes_tail = &note->next;
	return true;
}

struct change_note *view_changes(struct view *view)
{
	return view->changes;
}

static uint32_t owner_of(const struct node *node);

long view_owned_delta(const struct view *view, uint32_t domid)
{
	const struct view_entry *entry;
	long delta = 0;

	for (entry = view->list; entry; entry = entry->next) {
		if (!entry->changed)
			continue;
		delta += (owner_of(entry->cur) == domid) -
			 (owner_of(entry->base) == domid);
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

/* Empty fields have NULL pointers: memcmp must not see those. */
static bool same_bytes(const char *a, const char *b, uint32_t a_len,
		       uint32_t b_len)
{
	return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static bool observation_holds(struct view *view, struct view_entry *entry)
{
	struct node *now;
	bool holds;

	now = store_fetch(view->store, entry, entry->path);
	if (!now && errno != ENOENT)
		return false;
	if (!now || !entry->base) {
		holds = !now == !entry->base;
		talloc_free(now);
		return holds;
	}
	holds = now->generation == entry->base->generation ||
		((!(entry->observed & OBSERVE_VALUE) ||
		  same_bytes(now->value, entry->base->value, now->value_len,
			     entry->base->value_len)) &&
		 (!(entry->observed & OBSERVE_PERMS) ||
		  perms_equal(&now->perms, &entry->base->perms)) &&
		 (!(entry->observed & OBSERVE_CHILDREN) ||
		  same_bytes(now->children, entry->base->children,
			     now->children_len, entry->base->children_len)));
	talloc_free(now);
	return holds;
}

bool view_validate(struct view *view)
{
	struct view_entry *entry;

	for (entry = view->list; entry; entry = entry->next)
		if (entry->observed && !observation_holds(view, entry))
			return false;
	return true;
}

static uint32_t owner_of(const struct node *node)
{
	return node && node->perms.count ? node->perms.entries[0].domid
					 : VIEW_NO_OWNER;
}

int view_apply(struct view *view, view_owner_fn owner_fn, void *arg)
{
	struct view_entry *entry;
	int err = 0;

	for (entry = view->list; entry; entry = entry->next) {
		uint32_t old_owner, new_owner;
		size_t old_size, new_size;

		if (!entry->changed)
			continue;
		old_owner = owner_of(entry->base);
		new_owner = owner_of(entry->cur);
		old_size = entry->base ? node_record_size(entry->base) : 0;
		new_size = entry->cur ? node_record_size(entry->cur) : 0;
		if (entry->cur) {
			entry->cur->generation =
				store_next_generation(view->store);
			err = store_put(view->store, entry->path, entry->cur);
		} else if (entry->base) {
			err = store_delete(view->store, entry->path);
		}
		if (err)
			return err;
		if (owner_fn)
			owner_fn(arg, old_owner, old_size, new_owner, new_size);
	}
	return 0;
}
