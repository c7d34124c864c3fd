#include "stats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FAILURES_SHOWN 20

struct stats stats;

const char *const actor_names[ACTOR_COUNT] = {
	[ACTOR_TOOLSTACK] = "toolstack",
	[ACTOR_HOTPLUG] = "hotplug",
	[ACTOR_BACKEND] = "backends",
	[ACTOR_CONSOLE] = "console",
	[ACTOR_GUEST] = "guests",
	[ACTOR_MONITOR] = "monitors",
	[ACTOR_HYPERVISOR] = "hypervisor",
	[ACTOR_XSBENCH] = "xsbench",
	[ACTOR_HARNESS] = "harness",
};

const char *const tx_kind_names[TX_KIND_COUNT] = {
	[TX_DOMAIN_MAKE] = "domain_make",
	[TX_BUILD_POST] = "build_post",
	[TX_DEVICE_ADD] = "device_add",
	[TX_SHUTDOWN_REQUEST] = "shutdown_request",
	[TX_DEVICE_REMOVE] = "device_remove",
	[TX_DEVICE_DESTROY] = "device_destroy",
	[TX_STATE_SWITCH] = "state_switch",
	[TX_BACKEND_CONNECT] = "backend_connect",
	[TX_FRONTEND_RINGS] = "frontend_rings",
	[TX_GUEST_CONTROL] = "guest_control",
	[TX_XSBENCH_MAKE] = "xsbench_make",
	[TX_XSBENCH_DEVICE] = "xsbench_device",
	[TX_XSBENCH_SHUTDOWN] = "xsbench_shutdown",
};

const char *const err_kind_names[ERRK_COUNT] = {
	"ENOENT", "EAGAIN", "E2BIG", "ENOSPC", "EACCES", "EINVAL", "EEXIST",
	"EBUSY", "EQUOTA", "ENOSYS", "connection_lost", "other",
};

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, shift;

	if (v < 64)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	shift = msb - 5;
	return shift * 32 + (unsigned)(v >> shift);
}

static uint64_t bucket_mid(unsigned i)
{
	unsigned shift;
	uint64_t lo;

	if (i < 64)
		return i;
	shift = i / 32 - 1;
	lo = (uint64_t)(i - shift * 32) << shift;
	return lo + ((1ull << shift) >> 1);
}

void hist_add(struct hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->b[bucket_of(v)]++;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want) {
			uint64_t mid = bucket_mid(i);

			return mid > h->max ? h->max : mid;
		}
	}
	return h->max;
}

enum err_kind err_kind_of(int err)
{
	switch (err) {
	case ENOENT: return ERRK_ENOENT;
	case EAGAIN: return ERRK_EAGAIN;
	case E2BIG: return ERRK_E2BIG;
	case ENOSPC: return ERRK_ENOSPC;
	case EACCES: return ERRK_EACCES;
	case EINVAL: return ERRK_EINVAL;
	case EEXIST: return ERRK_EEXIST;
	case EBUSY: return ERRK_EBUSY;
	case EDQUOT: return ERRK_EQUOTA;
	case ENOSYS: return ERRK_ENOSYS;
	case EPIPE: return ERRK_EPIPE;
	default: return ERRK_OTHER;
	}
}

void stats_reply(enum actor a, uint32_t type, uint64_t latency_ns, int err)
{
	stats.requests[a]++;
	if (a == ACTOR_HARNESS || type >= STAT_TYPES)
		return;
	hist_add(&stats.latency[type], latency_ns);
	if (err)
		stats.errors[type][err_kind_of(err)]++;
}

void stats_event(enum actor a)
{
	stats.events[a]++;
}

void stats_tx_done(enum tx_kind k, unsigned retries)
{
	struct tx_stats *t = &stats.tx[k];

	if (retries > t->max_retries)
		t->max_retries = retries;
	if (retries > 100)
		t->livelocks++;
}

void stats_failure(const char *fmt, ...)
{
	va_list ap;

	stats.failures++;
	if (stats.failures > FAILURES_SHOWN) {
		if (stats.failures == FAILURES_SHOWN + 1)
			fprintf(stderr, "\nbootstorm: more failures, not shown\n");
		return;
	}
	fprintf(stderr, "\nbootstorm: FAILURE: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t stats_measured_requests(void)
{
	uint64_t n = 0;

	for (int a = 0; a < ACTOR_COUNT; a++)
		if (a != ACTOR_HARNESS)
			n += stats.requests[a];
	return n;
}

uint64_t stats_measured_events(void)
{
	uint64_t n = 0;

	for (int a = 0; a < ACTOR_COUNT; a++)
		if (a != ACTOR_HARNESS)
			n += stats.events[a];
	return n;
}
