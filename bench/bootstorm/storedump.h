/*
 * The harness's own view of the store, for verification: a dump of every
 * node (path, permissions, value) to compare before and after a run, a
 * node count, the host's standing nodes, and the prefilled domains.
 */
#ifndef BOOTSTORM_STOREDUMP_H
#define BOOTSTORM_STOREDUMP_H

#include <stdbool.h>
#include <stddef.h>

#include "xsconn.h"

struct dump {
	char **lines;		/* "path perms value", sorted */
	size_t n;
};

/* Walk the tree from "/" (DIRECTORY_PART where needed). @full: also READ
 * and GET_PERMS every node; else just count them.  From a coroutine. */
int dump_store(struct xs_conn *c, bool full, struct dump *out);
void dump_free(struct dump *d);
/* Print up to @show differences; returns the number of differences. */
size_t dump_compare(const struct dump *before, const struct dump *after,
		    size_t show);

/* What a real dom0 has before any VM: /local/domain/0/{name,domid}, /vm,
 * /libxl, and with @backend_dirs the backend type directories (which an
 * optimized toolstack never removes).  Creates what is missing and
 * remembers it for host_teardown. */
int host_setup(struct xs_conn *c, bool backend_dirs);
int host_teardown(struct xs_conn *c);

/* M running domains (domids 1..M) with a name, for the name scan. */
int prefill(struct xs_conn *c, unsigned m);
int unprefill(struct xs_conn *c, unsigned m);

#endif
