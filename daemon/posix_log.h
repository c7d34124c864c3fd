/*
 * Where the core's logs and traces go: syslog (and stderr in the
 * foreground) for logs, a file for the trace.
 */
#ifndef DAEMON_POSIX_LOG_H
#define DAEMON_POSIX_LOG_H

#include <stdbool.h>

void posix_log_start(bool to_stderr);
void posix_log_stop(void);

/* The trace file: open @file (NULL: reopen the last one). */
bool posix_trace_open(const char *file);
void posix_trace_close(void);

/* talloc_report_full of @root into @file. */
bool posix_memreport(const void *root, const char *file);

#endif
