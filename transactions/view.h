/*
 * A view of the store through which every node operation reads and writes.
 *
 * A plain request runs on a buffered view: it reads through to the store,
 * keeps its changes to itself, and view_apply() writes them all at once, so
 * a request that fails half-way (a quota, memory) changes nothing.
 *
 * A transaction runs on an isolated view: each node is read from the store
 * the first time the transaction looks at it and kept from then on, with
 * the transaction's own changes on top; nothing reaches the store until
 * the commit replays the transaction (transaction.h).
 */
#ifndef TRANSACTIONS_VIEW_H
#define TRANSACTIONS_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "store/node.h"
#include "store/store.h"

/* Kinds of change notes, from which watch events are made. */
enum change_kind {
	CHANGE_NODE,		/* fires watches on the node and its ancestors */
	CHANGE_REMOVED_BELOW,	/* a removed descendant: watches on it exactly */
	CHANGE_SPECIAL,		/* @introduceDomain, @releaseDomain */
};

struct change_note {
	struct change_note *next;
	char *path;
	enum change_kind kind;
	/* Permissions of the node before the change (NULL if it was new). */
	struct perm_list *old_perms;
};

struct view;

/* @isolated: a transaction's view, whose changes make no notes. */
struct view *view_new(void *ctx, struct store *store, bool isolated);

/* The node at @path as this view sees it, or NULL if absent there. */
const struct node *view_get(struct view *view, const char *path);

/* A writable copy of an existing node, marked changed. */
struct node *view_edit(struct view *view, const char *path);

/*
 * Create a node, absent in this view, with @perms.  The caller links it
 * into its parent's children.
 */
struct node *view_create(struct view *view, const char *path,
			 const struct perm_list *perms);

/*
 * Remove the node at @path, if this view has one, and hide whatever the
 * store holds below @path from this view from now on.  The caller unlinks
 * it from its parent.  False if memory ran out.
 */
bool view_delete(struct view *view, const char *path);

/* Record that a change to @path should fire watches once applied. */
bool view_note_change(struct view *view, const char *path,
		      enum change_kind kind, const struct perm_list *old_perms);

/*
 * Change notes in the order they were made, one per path.  A node that
 * was created and removed again within the view has none: nobody outside
 * ever saw it.
 */
struct change_note *view_changes(struct view *view);

/*
 * How many more nodes @domid owns in this view than in the store as the
 * view first saw it (negative when it owns fewer): quota checks add it.
 */
long view_owned_delta(const struct view *view, uint32_t domid);

/* Number of edits, creations and deletions made through this view. */
unsigned long view_modifications(const struct view *view);

/* Number of nodes this view has touched (the transaction-nodes quota). */
unsigned int view_touched(const struct view *view);

/*
 * Failures met inside the view (memory, a record that does not decode),
 * and the errno value of the last.  A node the view could not load looks
 * absent, so a request during which this count moved must answer the
 * error, whatever it saw.
 */
unsigned long view_failures(const struct view *view);
int view_last_error(const struct view *view);

/* Call @fn with the owner of every node the view writes, until it fails. */
int view_for_each_new_owner(const struct view *view,
			    int (*fn)(void *arg, uint32_t owner), void *arg);

/*
 * Called by view_apply for each node it writes or removes, with the owner
 * and record size before and after (VIEW_NO_OWNER: no node), so that
 * per-domain accounting stays exact.
 */
#define VIEW_NO_OWNER UINT32_MAX
typedef void (*view_owner_fn)(void *arg, uint32_t old_owner, size_t old_size,
			      uint32_t new_owner, size_t new_size);

/*
 * Write the view's changes to the store with fresh generations.  Returns 0
 * or an errno value; on failure the store may hold part of the change, so
 * callers only apply views whose effects they have already checked.
 */
int view_apply(struct view *view, view_owner_fn owner_fn, void *arg);

#endif
