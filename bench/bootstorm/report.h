/* The end of a run: the human summary, --json and --plot. */
#ifndef BOOTSTORM_REPORT_H
#define BOOTSTORM_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "daemonstat.h"
#include "stats.h"

struct results {
	uint64_t t0, t_boot_end, t_teardown_start, t_teardown_end;
	uint64_t req_at_start, req_at_boot_end, req_at_teardown_start,
		 req_at_teardown_end;
	struct daemon_sample d_start, d_up, d_before_teardown, d_end,
			     d_after_cleanup;
	bool peak_reset;
	uint64_t rss_max_kb;		/* VmRSS sampled during the run */
	uint64_t boot_requests[ACTOR_COUNT], boot_events[ACTOR_COUNT];
	uint64_t nodes_start, nodes_up;	/* 0: not counted */
	uint64_t client_cpu_ns;
	size_t store_diffs;
	bool store_checked, aborted;
	const char *abort_reason;
	unsigned vms_expected;
};

/* Whether the run verified: every VM up (and gone), nothing failed, the
 * store as it started. */
bool results_ok(const struct results *r);
void report_summary(const struct results *r);
int report_json(const struct results *r, const char *file);
int report_plot(const struct results *r, const char *file);

#endif
