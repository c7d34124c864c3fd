/*
 * What a run measures: request latency by type, errors by kind, requests
 * and watch events by actor, transactions by kind (attempts, EAGAIN,
 * retries), watch delivery latency and per-VM start latency.
 */
#ifndef BOOTSTORM_STATS_H
#define BOOTSTORM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <xen/io/xs_wire.h>

/* Who sent a request or received an event. */
enum actor {
	ACTOR_TOOLSTACK,
	ACTOR_HOTPLUG,
	ACTOR_BACKEND,
	ACTOR_CONSOLE,
	ACTOR_GUEST,
	ACTOR_MONITOR,
	ACTOR_HYPERVISOR,	/* sockets mode: the @...Domain stand-ins */
	ACTOR_XSBENCH,
	ACTOR_HARNESS,		/* setup, prefill, verification: not measured */
	ACTOR_COUNT
};
extern const char *const actor_names[ACTOR_COUNT];

/* Transactions, by what they do (libxl's, the kernel's, xsbench's). */
enum tx_kind {
	TX_DOMAIN_MAKE,
	TX_BUILD_POST,
	TX_DEVICE_ADD,
	TX_SHUTDOWN_REQUEST,
	TX_DEVICE_REMOVE,
	TX_DEVICE_DESTROY,
	TX_STATE_SWITCH,	/* xenbus_switch_state(), either end */
	TX_BACKEND_CONNECT,
	TX_FRONTEND_RINGS,
	TX_GUEST_CONTROL,	/* the guest's shutdown/sysrq handlers */
	TX_XSBENCH_MAKE,
	TX_XSBENCH_DEVICE,
	TX_XSBENCH_SHUTDOWN,
	TX_KIND_COUNT
};
extern const char *const tx_kind_names[TX_KIND_COUNT];

#define HIST_BUCKETS 1920
struct hist {
	uint64_t count, sum, max;
	uint64_t b[HIST_BUCKETS];
};
void hist_add(struct hist *h, uint64_t v);
/* The value below which a fraction @q of the samples lie (bucket midpoint). */
uint64_t hist_quantile(const struct hist *h, double q);

/* Error kinds counted for every reply. */
enum err_kind {
	ERRK_ENOENT, ERRK_EAGAIN, ERRK_E2BIG, ERRK_ENOSPC, ERRK_EACCES,
	ERRK_EINVAL, ERRK_EEXIST, ERRK_EBUSY, ERRK_EQUOTA, ERRK_ENOSYS,
	ERRK_EPIPE, ERRK_OTHER, ERRK_COUNT
};
extern const char *const err_kind_names[ERRK_COUNT];

#define STAT_TYPES XS_TYPE_COUNT

struct tx_stats {
	uint64_t attempts, commits, eagain, aborted_other;
	uint64_t max_retries, livelocks;
};

struct stats {
	/* measured requests, by type */
	struct hist latency[STAT_TYPES];
	uint64_t errors[STAT_TYPES][ERRK_COUNT];
	/* by actor */
	uint64_t requests[ACTOR_COUNT];
	uint64_t events[ACTOR_COUNT];
	uint64_t connections[ACTOR_COUNT];
	struct tx_stats tx[TX_KIND_COUNT];
	struct hist watch_latency;	/* write sent -> event received */
	struct hist release_latency;	/* @releaseDomain fan-out */
	/* what went wrong: unexpected replies, timeouts, lost connections */
	uint64_t failures, timeouts, lost_connections;
	/* replies longer than XENSTORE_PAYLOAD_MAX (oxenstored on sockets) */
	uint64_t oversized_replies;
	uint64_t watches_now, watches_peak;
	uint64_t conns_now, conns_peak;
};

extern struct stats stats;

enum err_kind err_kind_of(int err);
/* Account one reply (or a connection lost under it). */
void stats_reply(enum actor a, uint32_t type, uint64_t latency_ns, int err);
void stats_event(enum actor a);
void stats_tx_done(enum tx_kind k, unsigned retries);

/* Record a failure and print the first few. */
void stats_failure(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

uint64_t stats_measured_requests(void);
uint64_t stats_measured_events(void);

#endif
