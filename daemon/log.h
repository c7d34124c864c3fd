/*
 * Logging and tracing hooks.  The core formats messages; the host (main)
 * decides where they go (syslog, stderr, the trace file).
 */
#ifndef DAEMON_LOG_H
#define DAEMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LEVEL_ERROR, LEVEL_WARNING, LEVEL_INFO, LEVEL_DEBUG };

typedef void (*log_sink_fn)(enum log_level level, const char *message);
/* @line is one trace record without its timestamp and newline. */
typedef void (*trace_sink_fn)(const char *line);

void log_set_sink(log_sink_fn sink);
void log_set_verbose(bool verbose);
void xs_log(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A NULL sink turns tracing off. */
void trace_set_sink(trace_sink_fn sink);
bool trace_enabled(void);

/* One request or reply: "IN|OUT <conn> <TYPE> (<payload, NULs as spaces>)". */
void trace_message(const char *direction, uint32_t conn_id, uint32_t type,
		   const char *payload, uint32_t len);

/* Connection lifecycle records: "CREATE|DESTROY connection <id> ...". */
void trace_connection(const char *what, uint32_t conn_id, uint32_t domid);

/* The protocol's name for a message type ("READ"), or "UNKNOWN". */
const char *message_type_name(uint32_t type);

#endif
