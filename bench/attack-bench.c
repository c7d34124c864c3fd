/*
 * attack-bench: isolation under attack, over the simulated platform
 * (io-xen/SIM.md).  Beside G well-behaved guests doing what a libxl guest
 * does, one unprivileged guest attacks, scenario after scenario:
 *
 *   flood      writes new nodes of the largest size up to its node quota,
 *              then rewrites them at full size, in a loop
 *   noread     sends requests and never takes the replies
 *   storm      registers the most watches it may (on its home, its
 *              subtree and the tree above it) and writes under them in a
 *              loop, reading its events; then stops reading
 *   tree       builds the deepest path and the widest directory its
 *              quotas allow, over and over (remove, build again)
 *   tx         opens the most transactions it may, touches the most
 *              nodes each may at full size, and never closes them
 *   malformed  malformed requests, then a header longer than 4096 bytes
 *              (its ring is then marked ERROR), on a fresh ring corrupted
 *              indices
 *
 * For each scenario a fresh daemon (`xenstored -N --sim DIR`) gets G guests
 * and the attacker; the guests run their workload for S seconds alone
 * (quiet) and S seconds with the attacker (a child process) at work, in
 * K slices of each, alternating (quiet first), so that both see the same
 * machine: others' load here changes from minute to minute.  Between its
 * slices the attacker is stopped (SIGSTOP); what it left (nodes, open
 * transactions, a held ring) stays.
 * Measured: every well-behaved request's latency (send to reply, one
 * request in flight: the guests take turns), p50 and p99 quiet and under
 * attack; the daemon's resident memory (VmRSS from /proc/PID/status,
 * sampled every 50 ms: before the first attack slice, and its peak in the
 * attack slices); its CPU time (/proc/PID/schedstat); and the
 * attacker's fate (errors it got, held = not read, ring ERROR).  Every
 * well-behaved reply is checked; a wrong one stops the benchmark.
 *
 * Output: one line per scenario (key=value), a markdown table with -m,
 * and with -o DIR the data for the plot: DIR/rss-SCENARIO.dat (seconds,
 * RSS in KiB, phase) and DIR/latency-SCENARIO.dat (seconds, latency in
 * us, phase).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io-xen/ring.h"
#include "io-xen/sim_guest.h"

#define TIMEOUT_MS 10000
#define ATTACKER 900		/* the attacker's domid; guests are 1..G */
#define RSS_PERIOD 0.05

static const char *const scenarios[] = {
	"flood", "noread", "storm", "tree", "tx", "malformed",
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* The daemon's defaults (daemon/quota.c, Xen 4.17's): the attacker meets
 * exactly these. */
#define Q_NODES 1000
#define Q_NODE_SIZE 2048
#define Q_WATCHES 128
#define Q_TRANSACTIONS 10
#define Q_TX_NODES 1024
#define Q_PATH_MAX 2048

struct options {
	const char *xenstored;
	const char *only;
	const char *outdir;
	unsigned int guests, slices;
	double seconds;
	bool markdown;
};

static pid_t daemon_pid, attacker_pid;
static char workdir[] = "/tmp/attack-bench.XXXXXX";
static char simdir[sizeof(workdir) + 8];
static char socket_path[sizeof(workdir) + 16];

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("attack-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (attacker_pid > 0)
		kill(attacker_pid, SIGKILL);
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long daemon_cpu_ns(void)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)daemon_pid);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &ns) != 1)
		die("cannot read %s", path);
	fclose(f);
	return ns;
}

/* A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"). */
static long daemon_status_kb(const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)daemon_pid);
	f = fopen(path, "r");
	if (!f)
		die("cannot read %s: the daemon died?", path);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kb = atol(line + n + 1);
	fclose(f);
	return kb;
}

/* ------------------------------------------------- the toolstack socket */

static int toolstack_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, i;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	for (i = 0; i < 200; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		close(fd);
		usleep(50000);
	}
	die("the daemon does not answer on %s", path);
	return -1;
}

static void full_io(int fd, void *buf, size_t len, bool writing)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = writing ? write(fd, (char *)buf + done, len - done)
			    : read(fd, (char *)buf + done, len - done);
		if (n <= 0)
			die("toolstack socket: %s", n ? strerror(errno) : "EOF");
		done += n;
	}
}

static uint32_t join(char *buf, size_t size, int count, ...)
{
	size_t len = 0, n;
	va_list ap;

	va_start(ap, count);
	while (count--) {
		const char *s = va_arg(ap, const char *);

		n = strlen(s) + 1;
		if (len + n > size)
			die("request too long");
		memcpy(buf + len, s, n);
		len += n;
	}
	va_end(ap);
	return (uint32_t)len;
}

static void toolstack_call(int fd, uint32_t type, const char *payload,
			   uint32_t len)
{
	struct xsd_sockmsg hdr = { .type = type, .req_id = 1, .len = len };
	char reply[XENSTORE_PAYLOAD_MAX + 1];

	full_io(fd, &hdr, sizeof(hdr), true);
	full_io(fd, (void *)payload, len, true);
	do {
		full_io(fd, &hdr, sizeof(hdr), false);
		if (hdr.len > XENSTORE_PAYLOAD_MAX)
			die("toolstack: oversized reply");
		full_io(fd, reply, hdr.len, false);
	} while (hdr.type == XS_WATCH_EVENT);
	reply[hdr.len] = '\0';
	if (hdr.type == XS_ERROR)
		die("toolstack request %u: %s", type, reply);
}

/* A guest as libxl leaves it: its home, and data/ its own. */
static struct sim_guest *add_guest(int toolstack, uint32_t id)
{
	char payload[256], domid[16], path[64], owner[16];
	struct sim_guest *g = sim_guest_create(simdir, id, 1);
	uint32_t len;

	if (!g)
		die("guest %u: %s", id, strerror(errno));
	snprintf(path, sizeof(path), "/local/domain/%u", id);
	snprintf(domid, sizeof(domid), "%u", id);
	snprintf(owner, sizeof(owner), "r%u", id);
	toolstack_call(toolstack, XS_MKDIR, payload,
		       join(payload, sizeof(payload), 1, path));
	toolstack_call(toolstack, XS_SET_PERMS, payload,
		       join(payload, sizeof(payload), 3, path, "n0", owner));
	snprintf(path, sizeof(path), "/local/domain/%u/data", id);
	snprintf(owner, sizeof(owner), "n%u", id);
	toolstack_call(toolstack, XS_MKDIR, payload,
		       join(payload, sizeof(payload), 1, path));
	toolstack_call(toolstack, XS_SET_PERMS, payload,
		       join(payload, sizeof(payload), 2, path, owner));
	len = join(payload, sizeof(payload), 3, domid, "0", "1");
	toolstack_call(toolstack, XS_INTRODUCE, payload, len);
	return g;
}

/* One request and its reply (events before it are counted, not kept). */
static int guest_call(struct sim_guest *g, uint32_t type, uint32_t tx,
		      const void *payload, uint32_t len, char *reply,
		      uint32_t *reply_type, unsigned long *events)
{
	static uint32_t next_id = 1;
	uint32_t id = next_id++;
	struct xsd_sockmsg hdr;

	if (sim_guest_send(g, type, id, tx, payload, len, TIMEOUT_MS) != 0)
		return -1;
	for (;;) {
		if (sim_guest_recv(g, &hdr, reply, TIMEOUT_MS) != 0)
			return -1;
		if (hdr.type == XS_WATCH_EVENT) {
			if (events)
				(*events)++;
			continue;
		}
		/* The late reply of a call given up on (the attack was
		 * called off while it waited). */
		if ((int32_t)(hdr.req_id - id) < 0)
			continue;
		if (hdr.req_id != id)
			die("reply %u for request %u", hdr.req_id, id);
		*reply_type = hdr.type;
		return 0;
	}
}

/* ----------------------------------------------------- the workload */

struct latencies {
	double *us;
	size_t count, size;
};

static void record(struct latencies *l, double us)
{
	if (l->count == l->size) {
		l->size = l->size * 2 + 4096;
		l->us = realloc(l->us, l->size * sizeof(*l->us));
		if (!l->us)
			die("out of memory");
	}
	l->us[l->count++] = us;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double percentile(struct latencies *l, double p)
{
	size_t i;

	if (!l->count)
		return 0;
	qsort(l->us, l->count, sizeof(*l->us), compare_double);
	i = (size_t)(p * (double)(l->count - 1) + 0.5);
	return l->us[i];
}

struct phase_stats {
	struct latencies lat;
	unsigned long requests;
	long rss_max_kb, rss_first_kb;
	unsigned long long cpu_ns;
	double seconds;
};

struct recorder {
	FILE *rss, *lat;
	double t0, next_rss;
	const char *phase;
	struct phase_stats *stats;
};

static void sample_rss(struct recorder *rec, bool force)
{
	double t = now();
	long kb;

	if (!force && t < rec->next_rss)
		return;
	rec->next_rss = t + RSS_PERIOD;
	kb = daemon_status_kb("VmRSS");
	if (kb > rec->stats->rss_max_kb)
		rec->stats->rss_max_kb = kb;
	if (rec->stats->rss_first_kb < 0)
		rec->stats->rss_first_kb = kb;
	if (rec->rss)
		fprintf(rec->rss, "%.3f %ld %s\n", t - rec->t0, kb, rec->phase);
}

/* One request of a well-behaved guest, timed and checked. */
static void timed(struct recorder *rec, struct sim_guest *g, uint32_t type,
		  uint32_t tx, const char *payload, uint32_t len,
		  const char *want, char *reply)
{
	uint32_t rtype;
	double t = now(), us;

	if (guest_call(g, type, tx, payload, len, reply, &rtype, NULL) != 0)
		die("a well-behaved guest got no reply to type %u: %s", type,
		    strerror(errno));
	us = (now() - t) * 1e6;
	if (rtype == XS_ERROR || (want && strcmp(reply, want) != 0))
		die("a well-behaved guest: type %u answered %s", type, reply);
	record(&rec->stats->lat, us);
	rec->stats->requests++;
	if (rec->lat && rec->stats->requests % 16 == 0)
		fprintf(rec->lat, "%.3f %.1f %s\n", t - rec->t0, us,
			rec->phase);
	sample_rss(rec, false);
}

/*
 * What a libxl guest does, one guest after the other: a transaction
 * writing its state and a feature flag, then reading its state back and
 * listing its directory (six requests).
 */
static void workload_round(struct recorder *rec, struct sim_guest **guests,
			   unsigned int count, unsigned long round)
{
	char payload[128], reply[XENSTORE_PAYLOAD_MAX + 1], value[24];
	unsigned int i;

	snprintf(value, sizeof(value), "%lu", round);
	for (i = 0; i < count; i++) {
		struct sim_guest *g = guests[i];
		uint32_t tx, len;

		timed(rec, g, XS_TRANSACTION_START, 0, "", 1, NULL, reply);
		tx = (uint32_t)strtoul(reply, NULL, 10);
		len = (uint32_t)snprintf(payload, sizeof(payload),
					 "data/state%c%s", 0, value);
		timed(rec, g, XS_WRITE, tx, payload, len, "OK", reply);
		len = (uint32_t)snprintf(payload, sizeof(payload),
					 "data/feature-%lu%c1", round % 8, 0);
		timed(rec, g, XS_WRITE, tx, payload, len, "OK", reply);
		/* Nobody else writes its home: the commit must succeed. */
		timed(rec, g, XS_TRANSACTION_END, tx, "T", 2, "OK", reply);
		timed(rec, g, XS_READ, 0, "data/state", 11, value, reply);
		timed(rec, g, XS_DIRECTORY, 0, "data", 5, NULL, reply);
	}
}

static void run_phase(struct recorder *rec, struct sim_guest **guests,
		      unsigned int count, double seconds, unsigned long *round)
{
	unsigned long long cpu0 = daemon_cpu_ns();
	double start = now(), end = start + seconds;

	sample_rss(rec, true);
	do
		workload_round(rec, guests, count, (*round)++);
	while (now() < end);
	sample_rss(rec, true);
	rec->stats->seconds += now() - start;
	rec->stats->cpu_ns += daemon_cpu_ns() - cpu0;
}

/* ------------------------------------------------------ the attacker */

/* What the attacker tells the parent: one line, through a pipe. */
static int fate_fd = -1;

/* The parent ends the attack with SIGUSR1 (the attacker runs only in the
 * attack slices: SIGSTOP and SIGCONT in between). */
static volatile sig_atomic_t stop_attack;

static void on_stop(int sig)
{
	stop_attack = 1;
}

/* Seconds the attacker runs in all (its slices), for the storm's turn. */
static double attack_seconds;

static bool going(double end)
{
	return !stop_attack && now() < end;
}

static void fate(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fate_fd, line, (size_t)n) < 0)
		_exit(3);
}

/* Tally of the answers the attacker got, for its fate line. */
struct tally {
	unsigned long ok, errors, events;
	char first_error[32];
	bool held;
};

static bool attack_call(struct sim_guest *g, struct tally *t, uint32_t type,
			uint32_t tx, const void *payload, uint32_t len,
			char *reply)
{
	uint32_t rtype;

	if (stop_attack)
		return false;
	if (guest_call(g, type, tx, payload, len, reply, &rtype,
		       &t->events) != 0) {
		/* No answer within 10 s (or the attack was called off). */
		if (!stop_attack)
			t->held = true;
		return false;
	}
	if (rtype == XS_ERROR) {
		if (!t->errors++)
			snprintf(t->first_error, sizeof(t->first_error), "%s",
				 reply);
		return false;
	}
	t->ok++;
	return true;
}

static void report_tally(const char *what, const struct tally *t)
{
	fate("%s: %lu answered OK, %lu errors (first: %s)%s, %lu events",
	     what, t->ok, t->errors, t->errors ? t->first_error : "none",
	     t->held ? ", then held (no answer in 10 s)" : "", t->events);
}

static char big_value[Q_NODE_SIZE];

/* Node quota, node size: fill, then rewrite at full size, until @end. */
static void attack_flood(struct sim_guest *g, double end)
{
	char payload[Q_NODE_SIZE + 64], reply[XENSTORE_PAYLOAD_MAX + 1];
	/* What is left of the node size after the permissions and slack. */
	size_t vlen = Q_NODE_SIZE - 64;
	struct tally fill = { 0 }, rewrite = { 0 };
	unsigned long made = 0, i;
	int plen;

	/* 32 to a directory: the node quota, not a directory's size, is
	 * what stops it. */
	for (;;) {
		plen = snprintf(payload, sizeof(payload), "data/f%lu/n%lu",
				made / 32, made % 32);
		memcpy(payload + plen + 1, big_value, vlen);
		if (!going(end) ||
		    !attack_call(g, &fill, XS_WRITE, 0, payload,
				 (uint32_t)(plen + 1 + vlen), reply))
			break;
		made++;
	}
	/* One more byte than the node size allows. */
	plen = snprintf(payload, sizeof(payload), "data/f0/n0");
	memcpy(payload + plen + 1, big_value, Q_NODE_SIZE);
	attack_call(g, &fill, XS_WRITE, 0, payload,
		    (uint32_t)(plen + 1 + Q_NODE_SIZE), reply);
	fate("flood: %lu nodes made", made);
	report_tally("flood, filling", &fill);
	for (i = 0; made && going(end) && !rewrite.held; i++) {
		plen = snprintf(payload, sizeof(payload), "data/f%lu/n%lu",
				(i % made) / 32, (i % made) % 32);
		memcpy(payload + plen + 1, big_value, vlen);
		attack_call(g, &rewrite, XS_WRITE, 0, payload,
			    (uint32_t)(plen + 1 + vlen), reply);
	}
	report_tally("flood, rewriting", &rewrite);
}

/* Whether a whole message of @len payload bytes fits on the ring now:
 * one that does not fit is never half sent. */
static bool fits(struct sim_guest *g, uint32_t len)
{
	struct xenstore_domain_interface *intf = sim_guest_ring(g);
	XENSTORE_RING_IDX used =
		__atomic_load_n(&intf->req_prod, __ATOMIC_ACQUIRE) -
		__atomic_load_n(&intf->req_cons, __ATOMIC_ACQUIRE);

	return used <= XENSTORE_RING_SIZE &&
	       XENSTORE_RING_SIZE - used >= sizeof(struct xsd_sockmsg) + len;
}

/* Requests whose replies it never takes. */
static void attack_noread(struct sim_guest *g, double end)
{
	static const char req[] = "data";
	unsigned long sent = 0;
	uint32_t id = 1;

	double full_at = 0;

	while (going(end)) {
		if (fits(g, sizeof(req)) &&
		    sim_guest_send(g, XS_DIRECTORY, id++, 0, req, sizeof(req),
				   20) == 0) {
			sent++;
			full_at = 0;
		} else {
			if (!full_at)
				full_at = now();	/* the ring is full */
			usleep(1000);
		}
	}
	fate("noread: %lu requests put on the ring; %s", sent,
	     full_at ? "then held (its ring full, not read) to the end" :
	     "never held");
}

/* The most watches, then writes under them; then it stops reading. */
static void attack_storm(struct sim_guest *g, double end)
{
	char payload[256], reply[XENSTORE_PAYLOAD_MAX + 1];
	struct tally t = { 0 }, w = { 0 };
	unsigned int i;
	unsigned long writes = 0, sent = 0;
	double active = 0, last = now(), full_at = 0;

	for (i = 0; i < Q_WATCHES + 1; i++) {
		int len = i % 4 == 0 ? snprintf(payload, sizeof(payload),
						"data%cw%u", 0, i) :
			  i % 4 == 1 ? snprintf(payload, sizeof(payload),
						"data/a/b%cw%u", 0, i) :
			  i % 4 == 2 ? snprintf(payload, sizeof(payload),
						"/local/domain%cw%u", 0, i) :
			  snprintf(payload, sizeof(payload), "/%cw%u", 0, i);

		attack_call(g, &w, XS_WATCH, 0, payload, (uint32_t)len + 1,
			    reply);
	}
	report_tally("storm watches", &w);
	/* Half its running time reading its events (time while stopped
	 * between slices does not count: gaps are capped). */
	while (going(end) && active < attack_seconds / 2 && !t.held) {
		int len = snprintf(payload, sizeof(payload), "data/a/b/c%c%lu",
				   0, writes++);
		double t1;

		attack_call(g, &t, XS_WRITE, 0, payload, (uint32_t)len, reply);
		t1 = now();
		active += t1 - last < 0.1 ? t1 - last : 0.1;
		last = t1;
	}
	report_tally("storm writes, reading events", &t);
	/* Now it does not read: replies and events pile up. */
	while (going(end)) {
		int len = snprintf(payload, sizeof(payload), "data/a/b/c%c%lu",
				   0, writes);

		if (fits(g, (uint32_t)len) &&
		    sim_guest_send(g, XS_WRITE, 100000 + (uint32_t)sent, 0,
				   payload, (uint32_t)len, 20) == 0) {
			sent++;
			writes++;
			full_at = 0;
		} else {
			if (!full_at)
				full_at = now();
			usleep(1000);
		}
	}
	fate("storm, not reading: %lu writes put on the ring; %s", sent,
	     full_at ? "then held (its ring full, not read) to the end" :
	     "never held");
}

/* The deepest path and the widest directory, built, removed, again. */
static void attack_tree(struct sim_guest *g, double end)
{
	char path[Q_PATH_MAX + 64], payload[Q_PATH_MAX + 64];
	char reply[XENSTORE_PAYLOAD_MAX + 1];
	struct tally deep = { 0 }, wide = { 0 };
	unsigned long depth = 0, width = 0, rounds = 0;

	while (going(end) && !deep.held && !wide.held) {
		size_t len = (size_t)snprintf(path, sizeof(path), "data/d");
		unsigned long d = 0, w;

		/* Deep: each level one more node, until path-max or nodes. */
		for (;;) {
			memcpy(payload, path, len + 1);
			memcpy(payload + len + 1, "v", 1);
			if (!attack_call(g, &deep, XS_WRITE, 0, payload,
					 (uint32_t)len + 2, reply))
				break;
			d++;
			if (len + 2 >= sizeof(path) - 8)
				break;
			memcpy(path + len, "/d", 3);
			len += 2;
		}
		depth = d;
		attack_call(g, &deep, XS_RM, 0, "data/d", 7, reply);
		/* Wide: children with long names, until the directory's
		 * record passes the node size or the nodes run out. */
		for (w = 0;; w++) {
			int n = snprintf(payload, sizeof(payload),
					 "data/w/child-%05lu-%s%cv", w,
					 "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww",
					 0);

			if (!attack_call(g, &wide, XS_WRITE, 0, payload,
					 (uint32_t)n + 1, reply))
				break;
		}
		width = w;
		attack_call(g, &wide, XS_RM, 0, "data/w", 7, reply);
		rounds++;
	}
	fate("tree: %lu rounds; depth %lu, width %lu", rounds, depth, width);
	report_tally("tree deep", &deep);
	report_tally("tree wide", &wide);
}

/* The most transactions, each touching the most nodes, never closed. */
static void attack_tx(struct sim_guest *g, double end)
{
	char payload[Q_NODE_SIZE + 64], reply[XENSTORE_PAYLOAD_MAX + 1];
	struct tally start = { 0 }, t = { 0 };
	uint32_t ids[Q_TRANSACTIONS + 1];
	unsigned int n = 0, i, k;
	size_t vlen = Q_NODE_SIZE - 128;

	for (i = 0; i < Q_TRANSACTIONS + 1; i++)
		if (attack_call(g, &start, XS_TRANSACTION_START, 0, "", 1,
				reply))
			ids[n++] = (uint32_t)strtoul(reply, NULL, 10);
	report_tally("tx starts", &start);
	for (k = 0; k < Q_TX_NODES + 1 && going(end) && !t.held; k++)
		for (i = 0; i < n && !t.held; i++) {
			/* 32 to a directory, as the flood. */
			int plen = snprintf(payload, sizeof(payload),
					    "data/t%u/n%u", k / 32, k % 32);

			memcpy(payload + plen + 1, big_value, vlen);
			attack_call(g, &t, XS_WRITE, ids[i], payload,
				    (uint32_t)(plen + 1 + vlen), reply);
		}
	report_tally("tx writes", &t);
	/* Then it keeps them open, idle, until the end. */
	while (going(end))
		usleep(100000);
}

/* Malformed requests, an oversized header, then corrupted indices. */
static void attack_malformed(struct sim_guest *g, double end)
{
	struct xenstore_domain_interface *intf = sim_guest_ring(g);
	char reply[XENSTORE_PAYLOAD_MAX + 1];
	struct tally t = { 0 };
	unsigned long i;
	struct xsd_sockmsg hdr = {
		.type = XS_WRITE, .req_id = 7, .len = XENSTORE_PAYLOAD_MAX + 1,
	};

	/* Unknown types, missing NULs, empty paths: errors, served. */
	for (i = 0; going(end) && i < 20000 && !t.held; i++) {
		static const char no_nul[] = "data/no-nul";

		switch (i % 3) {
		case 0:
			attack_call(g, &t, 200 + (uint32_t)(i % 50), 0, "x", 2,
				    reply);
			break;
		case 1:
			attack_call(g, &t, XS_WRITE, 0, no_nul,
				    sizeof(no_nul) - 1, reply);
			break;
		default:
			attack_call(g, &t, XS_READ, 0, "", 0, reply);
			break;
		}
	}
	report_tally("malformed requests", &t);
	/* A header announcing more than the protocol allows. */
	if (ring_guest_write(intf, &hdr, sizeof(hdr)) != sizeof(hdr))
		fate("malformed: no room for the oversized header");
	sim_guest_notify(g);
	for (i = 0; i < 200 && !__atomic_load_n(&intf->error,
						   __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	fate("malformed: oversized header: ring error field %u (%s)",
	     intf->error, intf->error == XENSTORE_ERROR_PROTO ? "PROTO" :
	     intf->error == XENSTORE_ERROR_RINGIDX ? "RINGIDX" : "none");
	/* The ring is no longer served; it scribbles on its indices too. */
	while (going(end)) {
		__atomic_store_n(&intf->req_prod, intf->req_cons + 5000u,
				 __ATOMIC_RELEASE);
		sim_guest_notify(g);
		usleep(1000);
	}
}

/* In the child: @g is the attacker's guest, inherited (page, socket). */
static void run_attacker(struct sim_guest *g, const char *scenario,
			 double seconds)
{
	struct sigaction sa = { .sa_handler = on_stop };
	double end = now() + seconds;

	/* die() here must not take the parent's daemon with it. */
	daemon_pid = attacker_pid = 0;

	/* No SA_RESTART: a wait for the daemon ends at once. */
	sigaction(SIGUSR1, &sa, NULL);
	memset(big_value, 'x', sizeof(big_value));
	if (!strcmp(scenario, "flood"))
		attack_flood(g, end);
	else if (!strcmp(scenario, "noread"))
		attack_noread(g, end);
	else if (!strcmp(scenario, "storm"))
		attack_storm(g, end);
	else if (!strcmp(scenario, "tree"))
		attack_tree(g, end);
	else if (!strcmp(scenario, "tx"))
		attack_tx(g, end);
	else
		attack_malformed(g, end);
	/* The pages and sockets go with the process. */
	_exit(0);
}

/* ------------------------------------------------------ the daemon */

static void start_daemon(const char *xenstored)
{
	char pidfile[sizeof(workdir) + 8];

	snprintf(simdir, sizeof(simdir), "%s/sim", workdir);
	snprintf(socket_path, sizeof(socket_path), "%s/socket", workdir);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", workdir);
	daemon_pid = fork();
	if (daemon_pid < 0)
		die("fork: %s", strerror(errno));
	if (daemon_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Its warnings about the attacker would flood the output. */
		if (null >= 0)
			dup2(null, 2);
		setenv("XENSTORED_PATH", socket_path, 1);
		execl(xenstored, xenstored, "-N", "--pid-file", pidfile,
		      "--sim", simdir, (char *)NULL);
		_exit(127);
	}
}

static void stop_daemon(void)
{
	int status;

	kill(daemon_pid, SIGTERM);
	if (waitpid(daemon_pid, &status, 0) == daemon_pid &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		die("the daemon ended with status %d", status);
	daemon_pid = 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static FILE *data_file(const char *dir, const char *kind, const char *name)
{
	char path[4096];
	FILE *f;

	if (!dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s-%s.dat", dir, kind, name);
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "# %s\n", !strcmp(kind, "rss") ? "seconds rss_kib phase" :
		!strcmp(kind, "latency") ? "seconds latency_us phase" :
		"attack_from attack_to (seconds)");
	return f;
}

static void run_scenario(const struct options *o, const char *name)
{
	struct phase_stats quiet = { .rss_first_kb = -1 },
			   attack = { .rss_first_kb = -1 };
	struct recorder rec = { .phase = "quiet", .stats = &quiet };
	struct sim_guest **guests, *attacker;
	FILE *slices;
	long base_rss_kb = 0;
	char fates[4096] = "";
	size_t fates_len = 0;
	unsigned long round = 0;
	int toolstack, pipefd[2], status;
	unsigned int i;
	long hwm;
	ssize_t n;

	start_daemon(o->xenstored);
	toolstack = toolstack_connect(socket_path);
	guests = calloc(o->guests, sizeof(*guests));
	if (!guests)
		die("out of memory");
	for (i = 0; i < o->guests; i++)
		guests[i] = add_guest(toolstack, 1 + i);
	attacker = add_guest(toolstack, ATTACKER);
	rec.rss = data_file(o->outdir, "rss", name);
	rec.lat = data_file(o->outdir, "latency", name);
	slices = data_file(o->outdir, "slices", name);
	rec.t0 = now();

	/* Warm up; then quiet and attack slices, alternately, so that both
	 * see the same machine (others' load here moves from minute to
	 * minute).  The attacker runs only in the attack slices. */
	workload_round(&rec, guests, o->guests, round++);
	quiet.lat.count = 0;
	quiet.requests = 0;
	if (pipe(pipefd) != 0)
		die("pipe: %s", strerror(errno));
	attack_seconds = o->seconds;
	for (i = 0; i < o->slices; i++) {
		double slice = o->seconds / o->slices;

		rec.phase = "quiet";
		rec.stats = &quiet;
		run_phase(&rec, guests, o->guests, slice, &round);
		if (i == 0) {
			/* The daemon before any attack: what RSS grows from. */
			base_rss_kb = quiet.rss_max_kb;
			attacker_pid = fork();
			if (attacker_pid < 0)
				die("fork: %s", strerror(errno));
			if (attacker_pid == 0) {
				close(pipefd[0]);
				fate_fd = pipefd[1];
				run_attacker(attacker, name,
					     3 * o->seconds + 60);
			}
			close(pipefd[1]);
		} else {
			kill(attacker_pid, SIGCONT);
		}
		if (slices)
			fprintf(slices, "%.3f ", now() - rec.t0);
		rec.phase = "attack";
		rec.stats = &attack;
		run_phase(&rec, guests, o->guests, slice, &round);
		if (slices)
			fprintf(slices, "%.3f\n", now() - rec.t0);
		if (i + 1 < o->slices)
			kill(attacker_pid, SIGSTOP);
	}
	kill(attacker_pid, SIGUSR1);
	while ((n = read(pipefd[0], fates + fates_len,
			 sizeof(fates) - 1 - fates_len)) > 0)
		fates_len += (size_t)n;
	fates[fates_len] = '\0';
	close(pipefd[0]);
	if (waitpid(attacker_pid, &status, 0) != attacker_pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the attacker ended with status %d", status);
	attacker_pid = 0;
	hwm = daemon_status_kb("VmHWM");

	{
		double q50 = percentile(&quiet.lat, 0.50),
		       q99 = percentile(&quiet.lat, 0.99),
		       a50 = percentile(&attack.lat, 0.50),
		       a99 = percentile(&attack.lat, 0.99);
		char *line, *save = NULL;

		if (o->markdown)
			printf("| %s | %.0f / %.0f | %.0f / %.0f | %.2f | "
			       "%.1f / %.1f | %.1f | %.1f |",
			       name, q50, q99, a50, a99, a99 / q99,
			       quiet.cpu_ns / 1e3 / quiet.requests,
			       attack.cpu_ns / 1e3 / attack.requests,
			       base_rss_kb / 1024.0,
			       attack.rss_max_kb / 1024.0);
		else
			printf("scenario=%s guests=%u quiet_requests=%lu "
			       "attack_requests=%lu quiet_p50_us=%.1f "
			       "quiet_p99_us=%.1f attack_p50_us=%.1f "
			       "attack_p99_us=%.1f p99_ratio=%.2f "
			       "quiet_rss_kib=%ld attack_rss_kib=%ld "
			       "hwm_kib=%ld\n", name, o->guests,
			       quiet.requests, attack.requests, q50, q99, a50,
			       a99, a99 / q99, base_rss_kb,
			       attack.rss_max_kb, hwm);
		for (line = strtok_r(fates, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			printf(o->markdown ? " %s;" : "# fate: %s\n", line);
		if (o->markdown)
			printf(" |\n");
		fflush(stdout);
	}

	for (i = 0; i < o->guests; i++)
		sim_guest_free(guests[i]);
	sim_guest_free(attacker);
	free(guests);
	free(quiet.lat.us);
	free(attack.lat.us);
	if (rec.rss)
		fclose(rec.rss);
	if (rec.lat)
		fclose(rec.lat);
	if (slices)
		fclose(slices);
	close(toolstack);
	stop_daemon();
}

static void usage(FILE *out)
{
	fputs("Usage: attack-bench -x XENSTORED [-g GUESTS] [-s SECONDS] "
	      "[-a SCENARIO,...] [-o DIR] [-m]\n"
	      "  -x  the daemon (started with -N --sim DIR, default quotas)\n"
	      "  -g  well-behaved guests (default 100)\n"
	      "  -s  seconds quiet, and as many under attack (default 5)\n"
	      "  -k  slices: quiet and attack alternate k times (default 5)\n"
	      "  -a  scenarios (default all: flood,noread,storm,tree,tx,"
	      "malformed)\n"
	      "  -o  write the plot's data files into DIR\n"
	      "  -m  print a markdown table\n", out);
}

int main(int argc, char **argv)
{
	struct options o = { .guests = 100, .seconds = 5, .slices = 5 };
	unsigned int i;
	int c;

	while ((c = getopt(argc, argv, "x:g:s:k:a:o:mh")) != -1) {
		switch (c) {
		case 'x': o.xenstored = optarg; break;
		case 'g': o.guests = (unsigned int)atoi(optarg); break;
		case 's': o.seconds = atof(optarg); break;
		case 'k': o.slices = (unsigned int)atoi(optarg); break;
		case 'a': o.only = optarg; break;
		case 'o': o.outdir = optarg; break;
		case 'm': o.markdown = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.xenstored || o.seconds <= 0 || o.guests == 0 || !o.slices ||
	    o.guests >= ATTACKER) {
		usage(stderr);
		return 2;
	}
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(workdir))
		die("mkdtemp: %s", strerror(errno));
	if (o.markdown)
		printf("| attack | quiet p50 / p99, us | attack p50 / p99, us "
		       "| p99 attack/quiet | daemon CPU us/req quiet / attack "
		       "| RSS quiet, MiB | RSS attack, MiB | attacker's fate "
		       "|\n|---|---|---|---|---|---|---|---|\n");
	for (i = 0; i < NSCENARIOS; i++) {
		char list[256];

		snprintf(list, sizeof(list), ",%s,", o.only ? o.only : "");
		if (o.only) {
			char want[32];

			snprintf(want, sizeof(want), ",%s,", scenarios[i]);
			if (!strstr(list, want))
				continue;
		}
		run_scenario(&o, scenarios[i]);
		/* A fresh sim directory for the next daemon. */
		if (fork() == 0) {
			execlp("rm", "rm", "-rf", "--", simdir, (char *)NULL);
			_exit(127);
		}
		wait(NULL);
	}
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", "--", workdir, (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	return 0;
}
