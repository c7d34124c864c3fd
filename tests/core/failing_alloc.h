/*
 * A failing allocator for tests: talloc has no allocation hook, so the
 * test program itself defines the talloc entry points the core calls.
 * The core's calls bind to these (an executable's symbols come first),
 * which count the allocations while armed and fail exactly the Nth one
 * (errno ENOMEM), handing every other call to libtalloc's own.
 *
 * Only the core's allocations should run while armed: memconn's do not
 * when its room is 0 and its input was queued before arming.
 */
#ifndef TESTS_CORE_FAILING_ALLOC_H
#define TESTS_CORE_FAILING_ALLOC_H

#include <stdbool.h>

/* Count allocations from now on and fail the @fail_at-th (0: none). */
void failing_alloc_arm(unsigned long fail_at);

/* Stop counting; returns how many allocations were asked for. */
unsigned long failing_alloc_disarm(void);

/* True if the armed period failed an allocation. */
bool failing_alloc_failed(void);

#endif
