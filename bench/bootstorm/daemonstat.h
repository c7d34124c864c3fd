/* The daemon under test, seen from /proc: CPU time and memory. */
#ifndef BOOTSTORM_DAEMONSTAT_H
#define BOOTSTORM_DAEMONSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon_sample {
	bool valid;
	uint64_t cpu_ns;	/* summed over threads (schedstat) */
	uint64_t rss_kb, hwm_kb;
};

struct daemon_sample daemon_sample(pid_t pid);
/* Reset the peak RSS (VmHWM) so that it covers the run only. */
bool daemon_reset_peak(pid_t pid);

#endif
