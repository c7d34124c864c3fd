#include "daemonstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static uint64_t cpu_ns(pid_t pid, bool *ok)
{
	char path[64];
	uint64_t sum = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d) {
		*ok = false;
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char p[300];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid,
			 e->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		fclose(f);
	}
	closedir(d);
	*ok = true;
	return sum;
}

struct daemon_sample daemon_sample(pid_t pid)
{
	struct daemon_sample s = { 0 };
	char path[64], line[256];
	FILE *f;

	if (pid <= 0)
		return s;
	s.cpu_ns = cpu_ns(pid, &s.valid);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f) {
		s.valid = false;
		return s;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;

		if (sscanf(line, "VmRSS: %llu", &kb) == 1)
			s.rss_kb = kb;
		else if (sscanf(line, "VmHWM: %llu", &kb) == 1)
			s.hwm_kb = kb;
	}
	fclose(f);
	return s;
}

bool daemon_reset_peak(pid_t pid)
{
	char path[64];
	FILE *f;
	bool ok;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	f = fopen(path, "w");
	if (!f)
		return false;
	ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok;
}
