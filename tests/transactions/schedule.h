/*
 * Schedules: a tiny language for interleavings of requests from several
 * connections, with the reply each must get, so that a test of the
 * transaction engine reads as the table of cases it checks.
 *
 * A step is one line: "CONN OP ARGS... -> EXPECTED".
 *   CONN   a letter naming a connection, made on first use: U and V are
 *          domain 5's (a guest), every other letter and "$" (the runner's
 *          own) dom0's.  "A#7" sends with transaction id 7 instead of the
 *          connection's open transaction.
 *   OP     start, commit, abort (TRANSACTION_START/END: a connection has at
 *          most one open transaction that its other requests run in, the
 *          last one started); write PATH VALUE, mkdir, rm, read, dir,
 *          dirpart PATH OFFSET, getperms, setperms PATH PERM..., watch PATH
 *          TOKEN, reset (RESET_WATCHES, outside any transaction), close
 *          (hang up; the next use of the letter connects again), events
 *          (the paths of the watch events received since the last
 *          "events", sorted), store PATH (the subtree below PATH, depth
 *          first: "name=value" for each node), check (node accounting and
 *          store structure), quota NAME VALUE (CONTROL quota set).
 *   Values: '' is the empty value, x*N is N times "x".
 *   EXPECTED  what the reply must read: OK, an error name, 'value' for
 *          READ, [a b] for DIRECTORY and DIRECTORY_PART, <n0 r5> for
 *          GET_PERMS.  Omitted: OK.
 * Paths starting with /t are rewritten to the schedule's own base, so that
 * many schedules can share a daemon; events are reported back as /t.
 */
#ifndef TESTS_TRANSACTIONS_SCHEDULE_H
#define TESTS_TRANSACTIONS_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/transactions/xs_client.h"

/* The domain id of the guest connections U and V. */
#define SCHEDULE_GUEST 5

struct schedule_run;

/*
 * Start running schedules on @env under the base path @base (made by the
 * runner, with a watch on it for "events").  Returns NULL on failure.
 */
struct schedule_run *schedule_begin(void *ctx, struct xs_env *env,
				    const char *base);

/* True if @step needs a guest connection (U or V). */
bool schedule_step_needs_guest(const char *step);

/*
 * Run one step.  Returns true if it gave what it expected; otherwise
 * false, with the reason in schedule_failure().
 */
bool schedule_step(struct schedule_run *run, const char *step);

/* Why the last step failed. */
const char *schedule_failure(const struct schedule_run *run);

/* Throw away the events received so far (after a setup). */
void schedule_drain_events(struct schedule_run *run);

/* Remove the base path, close the connections. */
void schedule_end(struct schedule_run *run);

#endif
