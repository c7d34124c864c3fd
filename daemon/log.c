#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/wire.h"

static log_sink_fn log_sink;
static trace_sink_fn trace_sink;
static bool verbose;

void log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

void log_set_verbose(bool on)
{
	verbose = on;
}

void xs_log(enum log_level level, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	if (!log_sink || (level == LEVEL_DEBUG && !verbose))
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_sink(level, message);
}

void trace_set_sink(trace_sink_fn sink)
{
	trace_sink = sink;
}

bool trace_enabled(void)
{
	return trace_sink != NULL;
}

const char *message_type_name(uint32_t type)
{
	static const char *const names[XS_WIRE_TYPE_COUNT] = {
		[XS_CONTROL] = "CONTROL",
		[XS_DIRECTORY] = "DIRECTORY",
		[XS_READ] = "READ",
		[XS_GET_PERMS] = "GET_PERMS",
		[XS_WATCH] = "WATCH",
		[XS_UNWATCH] = "UNWATCH",
		[XS_TRANSACTION_START] = "TRANSACTION_START",
		[XS_TRANSACTION_END] = "TRANSACTION_END",
		[XS_INTRODUCE] = "INTRODUCE",
		[XS_RELEASE] = "RELEASE",
		[XS_GET_DOMAIN_PATH] = "GET_DOMAIN_PATH",
		[XS_WRITE] = "WRITE",
		[XS_MKDIR] = "MKDIR",
		[XS_RM] = "RM",
		[XS_SET_PERMS] = "SET_PERMS",
		[XS_WATCH_EVENT] = "WATCH_EVENT",
		[XS_ERROR] = "ERROR",
		[XS_IS_DOMAIN_INTRODUCED] = "IS_DOMAIN_INTRODUCED",
		[XS_RESUME] = "RESUME",
		[XS_SET_TARGET] = "SET_TARGET",
		[XS_RESET_WATCHES] = "RESET_WATCHES",
		[XS_DIRECTORY_PART] = "DIRECTORY_PART",
		[XS_GET_FEATURE] = "GET_FEATURE",
		[XS_SET_FEATURE] = "SET_FEATURE",
		[XS_GET_QUOTA] = "GET_QUOTA",
		[XS_SET_QUOTA] = "SET_QUOTA",
	};

	return type < XS_WIRE_TYPE_COUNT && names[type] ? names[type] : "UNKNOWN";
}

void trace_message(const char *direction, uint32_t conn_id, uint32_t type,
		   const char *payload, uint32_t len)
{
	/* Payload at most 4096 bytes, each printed as one character. */
	char line[4096 + 128];
	size_t used;
	uint32_t i;

	if (!trace_sink)
		return;
	used = (size_t)snprintf(line, sizeof(line), "%s %u %s (", direction,
				conn_id, message_type_name(type));
	for (i = 0; i < len && used < sizeof(line) - 2; i++) {
		unsigned char c = (unsigned char)payload[i];

		line[used++] = c == '\0' ? ' ' : (c < 32 || c > 126) ? '.' : c;
	}
	line[used++] = ')';
	line[used] = '\0';
	trace_sink(line);
}

void trace_connection(const char *what, uint32_t conn_id, uint32_t domid)
{
	char line[96];

	if (!trace_sink)
		return;
	snprintf(line, sizeof(line), "%s connection %u domain %u", what,
		 conn_id, domid);
	trace_sink(line);
}
