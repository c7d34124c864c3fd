/*
 * Quota settings: limits that apply to unprivileged domains, with Xen
 * 4.17's names and defaults, and the option syntax that sets them.
 */
#ifndef DAEMON_QUOTA_H
#define DAEMON_QUOTA_H

#include <stdbool.h>
#include <stddef.h>

struct quota_settings {
	unsigned long nodes;		/* nodes per domain */
	unsigned long watches;		/* watches per domain */
	unsigned long transactions;	/* open transactions per connection */
	unsigned long outstanding;	/* requests awaiting their reply */
	unsigned long transaction_nodes;/* nodes touched by one transaction */
	unsigned long memory;		/* bytes per domain: stop reading */
	unsigned long memory_soft;	/* bytes per domain: log */
	unsigned long node_size;	/* value + children + permissions */
	unsigned long path_max;		/* after /local/domain/<N>/ */
	unsigned long permissions;	/* entries per node */
	unsigned long watch_event_timeout; /* seconds */
};

void quota_defaults(struct quota_settings *quota);

/*
 * Set the quota called @name (Xen's names: nodes, watches, transactions,
 * outstanding, transaction-nodes, memory, node-size, path-max,
 * permissions) to @value; @soft selects the soft limit (memory only).
 */
bool quota_set(struct quota_settings *quota, const char *name,
	       unsigned long value, bool soft);

/* Parse "name=value" (the -Q and -q options). */
bool quota_set_assignment(struct quota_settings *quota, const char *arg,
			  bool soft);

/* Parse "watch-event=seconds" (the -w option). */
bool quota_set_timeout(struct quota_settings *quota, const char *arg);

/*
 * Quotas by index, for GET_QUOTA and SET_QUOTA (Xen 4.21) and per-domain
 * settings: QUOTA_FIELDS of them, each a hard or a soft limit.  A value
 * of 0 means no limit, as in Xen.
 */
#define QUOTA_FIELDS 10

/*
 * The index of Xen 4.21's name @name ("nodes", ..., "soft-memory"; Xen
 * 4.17's "permissions" as well as 4.21's "node-permissions"), or -1.
 */
int quota_index(const char *name);

/* Xen 4.21's names, blank-separated in its order (GET_QUOTA without an
 * argument). */
const char *quota_names(void);

unsigned long quota_get_index(const struct quota_settings *quota, int index);
void quota_set_index(struct quota_settings *quota, int index,
		     unsigned long value);

/*
 * @own takes every value of @global except those whose bit (1 << index)
 * is set in @own_mask: a domain follows the global settings except where
 * SET_QUOTA gave it its own.
 */
void quota_inherit(struct quota_settings *own,
		   const struct quota_settings *global, unsigned int own_mask);

/* True if @count already reaches @limit (0: no limit). */
static inline bool quota_reached(unsigned long limit, unsigned long count)
{
	return limit && count >= limit;
}

/* True if @value is over @limit (0: no limit). */
static inline bool quota_exceeded(unsigned long limit, unsigned long value)
{
	return limit && value > limit;
}

/* The "quota" control command's table; returns the bytes written. */
size_t quota_format(const struct quota_settings *quota, bool soft,
		    char *buf, size_t len);

#endif
