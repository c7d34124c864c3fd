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

/* The "quota" control command's table; returns the bytes written. */
size_t quota_format(const struct quota_settings *quota, bool soft,
		    char *buf, size_t len);

#endif
