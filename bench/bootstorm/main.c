/*
 * xenstore-bootstorm: many VMs started at once against a xenstored, with
 * the actors of ../shared/spec/BOOTSTORM.md (see man xenstore-bootstorm).
 * This file: options, the phases of a run, progress, exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "actors.h"
#include "daemonstat.h"
#include "loop.h"
#include "report.h"
#include "storedump.h"

static struct results res;
static bool director_done;
static int exit_status;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: xenstore-bootstorm [options]\n"
"  -s, --socket PATH       the daemon's socket ($XENSTORED_PATH, else\n"
"                          /var/run/xenstored/socket)\n"
"  -p, --pid PID           the daemon's pid: CPU time and memory\n"
"  -P, --profile NAME      xsbench, libxl (default) or optimized\n"
"  -n, --vms N             VMs to start (default 100)\n"
"  -k, --concurrency K     toolstack processes at once (default 8)\n"
"  -m, --prefill M         domains already running (default 0)\n"
"  -b, --boot-delay MS     guest boot time after unpause (default 0;\n"
"                          each guest +-50%% from the seed)\n"
"  -S, --seed N            random seed (default 1)\n"
"      --monitors per-vm|shared  who watches @releaseDomain (default:\n"
"                          per-vm for libxl, shared for optimized)\n"
"      --name-scan, --no-name-scan  libxl's O(domains) name check\n"
"                          (default: on for libxl, off for optimized)\n"
"      --libxl-timeout S   device wait that libxl would fail (default 10)\n"
"      --stall-timeout S   abort when nothing answers for S (default 60)\n"
"      --time-limit S      abort a run that lasts longer than S (default:\n"
"                          none); what was measured is still reported\n"
"  -j, --json FILE         every metric as JSON\n"
"      --plot FILE.png     VM start latency over time and its spread\n"
"  -l, --label NAME        the daemon's name in reports\n"
"      --sim DIR           sim rings: guests (and dom0's backends) over\n"
"                          the rings of a daemon run with --sim DIR\n"
"      --introduce-early   INTRODUCE a domain before writing its nodes\n"
"      --no-count-nodes    skip the node count with all VMs up\n"
"      --progress, --no-progress  (default: when stderr is a terminal)\n"
"  -h, --help\n"
"Exit status: 0 verified, 1 verification failed, 2 the run could not be done.\n");
}

static unsigned parse_uint(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 100000000ul) {
		fprintf(stderr, "xenstore-bootstorm: bad %s: %s\n", what, s);
		exit(2);
	}
	return (unsigned)v;
}

static void parse_options(int argc, char **argv)
{
	enum { O_MONITORS = 256, O_SCAN, O_NOSCAN, O_LTIMEOUT, O_STALL,
	       O_TIME_LIMIT, O_PLOT, O_NOCOUNT, O_PROGRESS, O_NOPROGRESS, O_SIM, O_EARLY };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "pid", required_argument, NULL, 'p' },
		{ "profile", required_argument, NULL, 'P' },
		{ "vms", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'k' },
		{ "prefill", required_argument, NULL, 'm' },
		{ "boot-delay", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 'S' },
		{ "monitors", required_argument, NULL, O_MONITORS },
		{ "name-scan", no_argument, NULL, O_SCAN },
		{ "no-name-scan", no_argument, NULL, O_NOSCAN },
		{ "libxl-timeout", required_argument, NULL, O_LTIMEOUT },
		{ "stall-timeout", required_argument, NULL, O_STALL },
		{ "time-limit", required_argument, NULL, O_TIME_LIMIT },
		{ "json", required_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "label", required_argument, NULL, 'l' },
		{ "no-count-nodes", no_argument, NULL, O_NOCOUNT },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "no-progress", no_argument, NULL, O_NOPROGRESS },
		{ "sim", required_argument, NULL, O_SIM },
		{ "introduce-early", no_argument, NULL, O_EARLY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int monitors = -1, scan = -1, progress = -1, c;
	const char *profile = "libxl";

	opt.socket = getenv("XENSTORED_PATH");
	opt.n = 100;
	opt.k = 8;
	opt.seed = 1;
	opt.libxl_timeout_ns = 10000000000ull;
	opt.stall_ns = 60000000000ull;
	opt.count_nodes = true;
	while ((c = getopt_long(argc, argv, "s:p:P:n:k:m:b:S:j:l:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 's': opt.socket = optarg; break;
		case 'p': opt.pid = (pid_t)parse_uint(optarg, "pid"); break;
		case 'P': profile = optarg; break;
		case 'n': opt.n = parse_uint(optarg, "VM count"); break;
		case 'k': opt.k = parse_uint(optarg, "concurrency"); break;
		case 'm': opt.prefill = parse_uint(optarg, "prefill"); break;
		case 'b':
			opt.boot_delay_ns = parse_uint(optarg, "boot delay") *
					    1000000ull;
			break;
		case 'S': opt.seed = parse_uint(optarg, "seed"); break;
		case O_MONITORS:
			if (!strcmp(optarg, "per-vm"))
				monitors = MONITORS_PER_VM;
			else if (!strcmp(optarg, "shared"))
				monitors = MONITORS_SHARED;
			else {
				fprintf(stderr, "xenstore-bootstorm: --monitors "
					"per-vm or shared\n");
				exit(2);
			}
			break;
		case O_SCAN: scan = 1; break;
		case O_NOSCAN: scan = 0; break;
		case O_LTIMEOUT:
			opt.libxl_timeout_ns = parse_uint(optarg, "timeout") *
					       1000000000ull;
			break;
		case O_STALL:
			opt.stall_ns = parse_uint(optarg, "timeout") *
				       1000000000ull;
			break;
		case O_TIME_LIMIT:
			opt.time_limit_ns = parse_uint(optarg, "time limit") *
					    1000000000ull;
			break;
		case 'j': opt.json = optarg; break;
		case O_PLOT: opt.plot = optarg; break;
		case 'l': opt.label = optarg; break;
		case O_NOCOUNT: opt.count_nodes = false; break;
		case O_PROGRESS: progress = 1; break;
		case O_NOPROGRESS: progress = 0; break;
		case O_SIM: opt.sim_dir = optarg; break;
		case O_EARLY: opt.introduce_early = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (!strcmp(profile, "xsbench"))
		opt.profile = PROFILE_XSBENCH;
	else if (!strcmp(profile, "libxl"))
		opt.profile = PROFILE_LIBXL;
	else if (!strcmp(profile, "optimized"))
		opt.profile = PROFILE_OPTIMIZED;
	else {
		fprintf(stderr, "xenstore-bootstorm: unknown profile %s "
			"(xsbench, libxl, optimized)\n", profile);
		exit(2);
	}
	if (!opt.socket)
		opt.socket = "/var/run/xenstored/socket";
	if (!opt.n || !opt.k) {
		fprintf(stderr, "xenstore-bootstorm: N and K must be positive\n");
		exit(2);
	}
	opt.transport = opt.sim_dir ? TRANSPORT_SIM : TRANSPORT_SOCKETS;
	opt.name_scan = scan >= 0 ? scan : opt.profile == PROFILE_LIBXL;
	opt.monitors = monitors >= 0 ? (enum monitors)monitors :
		opt.profile == PROFILE_OPTIMIZED ? MONITORS_SHARED
						 : MONITORS_PER_VM;
	opt.progress = progress >= 0 ? progress : isatty(STDERR_FILENO);
	if (opt.k > opt.n)
		opt.k = opt.n;
}

/* Every actor needs a descriptor; sockets mode needs about 2N + K. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)opt.n * 3 + opt.k + 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		rl.rlim_max = want;	/* root may raise the hard limit */
		rl.rlim_cur = want;
		if (!setrlimit(RLIMIT_NOFILE, &rl))
			return;
		getrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr, "xenstore-bootstorm: warning: only %llu file "
			"descriptors (wanted %llu)\n",
			(unsigned long long)rl.rlim_max,
			(unsigned long long)want);
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static uint64_t client_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *phase_name = "setup";

static void progress_tick(void)
{
	uint64_t now = now_ns();
	static uint64_t last_req, last_t;
	uint64_t req = stats_measured_requests();
	double rate = last_t ? (double)(req - last_req) * 1e9 / (double)(now - last_t) : 0;

	if (!res.aborted && !director_done &&
	    now - xs_last_activity_at() > opt.stall_ns &&
	    xs_last_activity_at()) {
		res.aborted = true;
		res.abort_reason = "stalled: no reply or event for the stall timeout";
		fprintf(stderr, "\nxenstore-bootstorm: stalled in %s: %lu requests "
			"in flight, %u created, %u up, %u shut down, %u gone\n",
			phase_name, xs_inflight(), vms_created, vms_up,
			vms_shutdown, vms_gone);
	}
	/* A livelocking daemon still answers: only a limit ends its run. */
	if (!res.aborted && !director_done && opt.time_limit_ns && res.t0 &&
	    now - res.t0 > opt.time_limit_ns) {
		res.aborted = true;
		res.abort_reason = "time limit: the run lasted longer than --time-limit";
		fprintf(stderr, "\nxenstore-bootstorm: time limit in %s: %u created, "
			"%u up, %u shut down, %u gone\n", phase_name,
			vms_created, vms_up, vms_shutdown, vms_gone);
	}
	last_req = req;
	last_t = now;
	if (opt.pid && res.t0 && !res.t_teardown_end) {
		struct daemon_sample s = daemon_sample(opt.pid);

		if (s.rss_kb > res.rss_max_kb)
			res.rss_max_kb = s.rss_kb;
	}
	if (!opt.progress)
		return;
	unsigned done = opt.profile == PROFILE_XSBENCH ? vms_up :
		!strcmp(phase_name, "teardown") ? vms_gone : vms_up;
	unsigned width = 30, fill = opt.n ? (unsigned)((uint64_t)done * width / opt.n) : 0;
	char bar[64];

	memset(bar, '#', fill);
	memset(bar + fill, '.', width - fill);
	bar[width] = 0;
	fprintf(stderr, "\r%-8s [%s] %u/%u  %7.0f req/s  failures %llu ",
		phase_name, bar, done, opt.n, rate,
		(unsigned long long)stats.failures);
}

static void progress_end(void)
{
	if (opt.progress)
		fprintf(stderr, "\r%*s\r", 78, "");
}

/* From the director: yield until @cond holds, or the run is aborted. */
static bool wait_for(bool (*cond)(void))
{
	while (!cond()) {
		if (res.aborted)
			return false;
		loop_sleep(500000);
	}
	return true;
}

/* Nothing in flight and nothing heard for a while: no more progress will
 * come (a VM that failed stays down). */
static bool quiescent(void)
{
	uint64_t quiet = 1000000000ull + 2 * opt.boot_delay_ns;

	return xs_inflight() == 0 && now_ns() - xs_last_activity_at() > quiet;
}

static bool boot_finished(void)
{
	return vms_up >= opt.n || (vms_created >= opt.n && quiescent());
}

static bool teardown_finished(void)
{
	return vms_gone >= opt.n || quiescent();
}

static bool actors_finished(void)
{
	return backend_finished() && console_finished() && toolstack_idle() &&
	       xs_inflight() == 0;
}

static bool backend_quiet(void)
{
	return backend_idle() && xs_inflight() == 0;
}

static uint64_t last_t_up(void)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < opt.n; i++)
		if (vms[i].t_up > t)
			t = vms[i].t_up;
	return t;
}

static uint64_t last_t_gone(void)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < opt.n; i++)
		if (vms[i].t_gone > t)
			t = vms[i].t_gone;
	return t;
}

static void die_setup(const char *what, int err)
{
	progress_end();
	fprintf(stderr, "xenstore-bootstorm: %s: %s\n", what, strerror(err));
	exit(2);
}

/* The node count is untimed and optional: a failure is reported and
 * the run goes on. */
static uint64_t count_nodes(struct xs_conn *h)
{
	struct dump d;
	int err = dump_store(h, false, &d);

	if (err) {
		stats_failure("counting nodes: %s", strerror(err));
		return 0;
	}
	return d.n;
}

static void mark_measured_start(void)
{
	/* Setup traffic (the actors' first watches) is not part of the run. */
	for (int a = 0; a < ACTOR_COUNT; a++)
		if (a != ACTOR_HARNESS) {
			stats.requests[a] = 0;
			stats.events[a] = 0;
		}
	memset(stats.latency, 0, sizeof(stats.latency));
	memset(stats.errors, 0, sizeof(stats.errors));
	memset(stats.tx, 0, sizeof(stats.tx));
	res.req_at_start = 0;
	res.peak_reset = daemon_reset_peak(opt.pid);
	res.d_start = daemon_sample(opt.pid);
	res.client_cpu_ns = client_cpu_ns();
	res.t0 = now_ns();
	run_t0 = res.t0;
}

static void run_vms(struct xs_conn *h)
{
	if (opt.transport == TRANSPORT_SOCKETS) {
		int err = xs_write(h, 0, PROXY_INTRODUCE, "");

		if (!err)
			err = xs_write(h, 0, PROXY_RELEASE, "");
		if (err)
			die_setup("creating " PROXY_DIR, err);
	}
	hypervisor_start();
	backend_start();
	console_start();
	if (opt.monitors == MONITORS_SHARED)
		monitor_start_shared();
	loop_sleep(20000000);
	wait_for(backend_quiet);

	mark_measured_start();
	phase_name = "boot";
	toolstack_start_boot();
	wait_for(boot_finished);
	res.t_boot_end = last_t_up();
	res.req_at_boot_end = stats_measured_requests();
	memcpy(res.boot_requests, stats.requests, sizeof(res.boot_requests));
	memcpy(res.boot_events, stats.events, sizeof(res.boot_events));
	res.d_up = daemon_sample(opt.pid);
	if (res.aborted)
		return;
	if (opt.count_nodes) {
		phase_name = "count";
		res.nodes_up = count_nodes(h);
	}
	res.d_before_teardown = daemon_sample(opt.pid);
	res.req_at_teardown_start = stats_measured_requests();
	res.t_teardown_start = now_ns();
	phase_name = "teardown";
	toolstack_start_teardown();
	wait_for(teardown_finished);
	res.t_teardown_end = last_t_gone();
	res.req_at_teardown_end = stats_measured_requests();
	res.d_end = daemon_sample(opt.pid);
	res.client_cpu_ns = client_cpu_ns() - res.client_cpu_ns;
	if (res.aborted)
		return;
	phase_name = "finish";
	wait_for(backend_quiet);
	backend_stop();
	console_stop();
	monitor_stop_shared();
	hypervisor_stop();
	wait_for(actors_finished);
	if (opt.transport == TRANSPORT_SOCKETS) {
		int err = xs_rm(h, 0, PROXY_DIR);

		if (err)
			die_setup("removing " PROXY_DIR, err);
	}
}

static bool xsbench_done;
static bool xsbench_finished(void)
{
	return xsbench_done;
}

static void run_xsbench(struct xs_conn *h)
{
	int err;

	mark_measured_start();
	phase_name = "xsbench";
	xsbench_run(opt.n, &xsbench_done);
	wait_for(xsbench_finished);
	res.t_boot_end = last_t_up();
	res.req_at_boot_end = stats_measured_requests();
	res.req_at_teardown_start = res.req_at_teardown_end =
		res.req_at_boot_end;
	memcpy(res.boot_requests, stats.requests, sizeof(res.boot_requests));
	memcpy(res.boot_events, stats.events, sizeof(res.boot_events));
	res.d_up = res.d_before_teardown = res.d_end = daemon_sample(opt.pid);
	res.client_cpu_ns = client_cpu_ns() - res.client_cpu_ns;
	if (res.aborted)
		return;
	if (opt.count_nodes) {
		phase_name = "count";
		res.nodes_up = count_nodes(h);
	}
	/* The benchmark leaves /bench behind (xapi paths, the shared
	 * frontend): the harness removes it, untimed. */
	err = xs_rm(h, 0, "/bench");
	if (err && err != ENOENT)
		die_setup("removing /bench", err);
}

static void director(void *arg)
{
	struct xs_conn *h = xs_connect_unix(opt.socket, ACTOR_HARNESS);
	struct dump before, after;
	int err;

	if (!h)
		die_setup(opt.socket, errno);
	if ((err = host_setup(h, opt.profile == PROFILE_OPTIMIZED)))
		die_setup("setting up the host's nodes", err);
	if ((err = prefill(h, opt.prefill)))
		die_setup("prefilling", err);
	if ((err = dump_store(h, true, &before)))
		die_setup("reading the store", err);
	res.nodes_start = before.n;

	if (opt.profile == PROFILE_XSBENCH)
		run_xsbench(h);
	else
		run_vms(h);

	if (!res.aborted) {
		phase_name = "verify";
		err = dump_store(h, true, &after);
		if (err) {
			stats_failure("reading the store after the run: %s",
				      strerror(err));
		} else {
			res.store_diffs = dump_compare(&before, &after, 20);
			res.store_checked = true;
		}
		dump_free(&after);
		res.d_after_cleanup = daemon_sample(opt.pid);
		if ((err = unprefill(h, opt.prefill)) ||
		    (err = host_teardown(h)))
			fprintf(stderr, "xenstore-bootstorm: cleaning up: %s\n",
				strerror(err));
	}
	dump_free(&before);
	xs_close(h);
	director_done = true;
}

static bool finished(void)
{
	return director_done || res.aborted;
}

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	raise_fd_limit();
	world_init();
	loop_init();
	loop_set_flush_hook(xs_flush_all);
	loop_set_tick(200000000, progress_tick);
	res.vms_expected = opt.n;
	loop_spawn(director, NULL);
	if (!loop_run(finished) && !director_done) {
		res.aborted = true;
		res.abort_reason = "the harness ran out of things to wait for";
	}
	progress_end();
	if (res.aborted && !res.t_boot_end) {
		/* Not all up: the boot took at least until the abort. */
		res.t_boot_end = vms_up == opt.n ? last_t_up() : now_ns();
		res.req_at_boot_end = stats_measured_requests();
	}
	report_summary(&res);
	if (opt.json && report_json(&res, opt.json))
		fprintf(stderr, "xenstore-bootstorm: writing %s: %s\n",
			opt.json, strerror(errno));
	if (opt.plot && report_plot(&res, opt.plot))
		fprintf(stderr, "xenstore-bootstorm: plotting %s failed\n",
			opt.plot);
	exit_status = results_ok(&res) ? 0 : 1;
	return exit_status;
}
