#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <talloc.h>
#include <time.h>

#include "daemon/log.h"
#include "daemon/posix_log.h"

static bool log_to_stderr;
static FILE *trace_file;
static char *trace_path;

static void log_to_syslog(enum log_level level, const char *message)
{
	static const int priorities[] = {
		[LEVEL_ERROR] = LOG_ERR,
		[LEVEL_WARNING] = LOG_WARNING,
		[LEVEL_INFO] = LOG_INFO,
		[LEVEL_DEBUG] = LOG_DEBUG,
	};

	syslog(priorities[level], "%s", message);
	if (log_to_stderr)
		fprintf(stderr, "xenstored: %s\n", message);
}

void posix_log_start(bool to_stderr)
{
	log_to_stderr = to_stderr;
	openlog("xenstored", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_set_sink(log_to_syslog);
}

void posix_log_stop(void)
{
	posix_trace_close();
	free(trace_path);
	trace_path = NULL;
	log_set_sink(NULL);
	closelog();
}

static void trace_to_file(const char *line)
{
	struct timeval now;
	struct tm tm;
	char stamp[32];

	gettimeofday(&now, NULL);
	localtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d %H:%M:%S", &tm);
	fprintf(trace_file, "%s.%06ld %s\n", stamp, (long)now.tv_usec, line);
	/* Line by line, so that a crash leaves the last requests behind. */
	fflush(trace_file);
}

bool posix_trace_open(const char *file)
{
	FILE *f;

	if (file) {
		char *copy = strdup(file);

		if (!copy)
			return false;
		free(trace_path);
		trace_path = copy;
	}
	if (!trace_path)
		return false;
	f = fopen(trace_path, "a");
	if (!f) {
		xs_log(LEVEL_ERROR, "cannot open trace file %s: %s", trace_path,
		       strerror(errno));
		return false;
	}
	if (trace_file)
		fclose(trace_file);
	trace_file = f;
	trace_set_sink(trace_to_file);
	return true;
}

void posix_trace_close(void)
{
	trace_set_sink(NULL);
	if (trace_file)
		fclose(trace_file);
	trace_file = NULL;
}

bool posix_memreport(const void *root, const char *file)
{
	FILE *f = fopen(file, "w");

	if (!f) {
		xs_log(LEVEL_ERROR, "memreport: cannot open %s: %s", file,
		       strerror(errno));
		return false;
	}
	talloc_report_full(root, f);
	return fclose(f) == 0;
}
