/*
 * ring-bench: requests per second and the daemon's CPU time per request
 * for guests talking over their own rings, on the simulated platform
 * (io-xen/SIM.md).
 *
 * It starts `xenstored -N --sim DIR` itself, creates and introduces G
 * guests (as a toolstack would, over the socket), and for each G measures:
 *
 *   one   one guest doing synchronous round trips while the other G-1 sit
 *         idle with their rings connected: the cost of a request must not
 *         depend on how many idle guests there are (no scan of all rings);
 *   all   every guest with one request in flight at a time, round after
 *         round (a bootstorm's shape).
 *
 * The daemon's CPU time comes from /proc/PID/schedstat (nanoseconds).
 * Every reply is checked.  Output: one line per measurement, and a
 * markdown table with -m.
 */
#include <errno.h>
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

#include "io-xen/sim_guest.h"

#define TIMEOUT_MS 10000
#define FIRST_DOMID 1

struct options {
	const char *xenstored;
	const char *guest_counts;
	double seconds;
	bool markdown;
};

static pid_t daemon_pid;
static char workdir[] = "/tmp/ring-bench.XXXXXX";
static char simdir[sizeof(workdir) + 8];

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ring-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
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

/* Nanoseconds the daemon has run on a CPU, all threads. */
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

/* One request over the socket; dies unless the reply is @want. */
static void toolstack_call(int fd, uint32_t type, const char *payload,
			   uint32_t len, const char *want)
{
	struct xsd_sockmsg hdr = { .type = type, .req_id = 1, .len = len };
	char reply[XENSTORE_PAYLOAD_MAX + 1];

	full_io(fd, &hdr, sizeof(hdr), true);
	full_io(fd, (void *)payload, len, true);
	do {	/* skip watch events, if any */
		full_io(fd, &hdr, sizeof(hdr), false);
		if (hdr.len > XENSTORE_PAYLOAD_MAX)
			die("toolstack: oversized reply");
		full_io(fd, reply, hdr.len, false);
	} while (hdr.type == XS_WATCH_EVENT);
	reply[hdr.len] = '\0';
	if (hdr.type == XS_ERROR || strcmp(reply, want))
		die("toolstack request %u: %s", type, reply);
}

/* @count strings, each NUL-terminated, one after the other. */
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

/* -------------------------------------------------------------- guests */

static struct sim_guest **guests;
static unsigned int guest_count;

static void add_guests(int toolstack, unsigned int total)
{
	char payload[256], domid[16], path[64];
	unsigned int i;
	uint32_t len;

	guests = realloc(guests, total * sizeof(*guests));
	if (!guests)
		die("out of memory");
	for (i = guest_count; i < total; i++) {
		uint32_t id = FIRST_DOMID + i;

		guests[i] = sim_guest_create(simdir, id, 1);
		if (!guests[i])
			die("guest %u: %s", id, strerror(errno));
		snprintf(domid, sizeof(domid), "%u", id);
		len = join(payload, sizeof(payload), 3, domid, "0", "1");
		toolstack_call(toolstack, XS_INTRODUCE, payload, len, "OK");
		snprintf(path, sizeof(path), "/local/domain/%u/data", id);
		len = join(payload, sizeof(payload), 1, path);
		toolstack_call(toolstack, XS_MKDIR, payload, len, "OK");
		snprintf(domid, sizeof(domid), "n%u", id);
		len = join(payload, sizeof(payload), 2, path, domid);
		toolstack_call(toolstack, XS_SET_PERMS, payload, len, "OK");
	}
	guest_count = total;
}

/* A WRITE then a READ of its own node, alternately; checks the reply. */
static void request(struct sim_guest *g, unsigned long n, bool send,
		    bool receive)
{
	static const char write_req[] = "data/key\0value";
	static const char read_req[] = "data/key";
	char reply[XENSTORE_PAYLOAD_MAX + 1];
	struct xsd_sockmsg hdr;
	bool is_write = n % 2 == 0;

	if (send &&
	    sim_guest_send(g, is_write ? XS_WRITE : XS_READ, (uint32_t)n, 0,
			   is_write ? write_req : read_req,
			   is_write ? sizeof(write_req) - 1 : sizeof(read_req),
			   TIMEOUT_MS) != 0)
		die("send: %s", strerror(errno));
	if (!receive)
		return;
	if (sim_guest_recv(g, &hdr, reply, TIMEOUT_MS) != 0)
		die("receive: %s", strerror(errno));
	if (hdr.type != (is_write ? XS_WRITE : XS_READ) ||
	    strcmp(reply, is_write ? "OK" : "value"))
		die("unexpected reply %u '%s'", hdr.type, reply);
}

struct result {
	unsigned long requests;
	double seconds;
	unsigned long long cpu_ns;
};

static void report(const char *what, unsigned int guests_total,
		   unsigned int active, const struct result *r, bool markdown)
{
	double rate = r->requests / r->seconds;
	double us = r->cpu_ns / 1e3 / r->requests;

	if (markdown)
		printf("| %u | %s (%u active) | %lu | %.0f | %.1f |\n",
		       guests_total, what, active, r->requests, rate, us);
	else
		printf("guests=%u mode=%s active=%u requests=%lu req/s=%.0f "
		       "daemon_us_per_req=%.2f\n", guests_total, what, active,
		       r->requests, rate, us);
	fflush(stdout);
}

/* One guest, synchronous, for @seconds. */
static struct result measure_one(double seconds)
{
	struct result r = { 0 };
	unsigned long long cpu0;
	double start, end;

	for (r.requests = 0; r.requests < 200; r.requests++)	/* warm up */
		request(guests[0], r.requests, true, true);
	cpu0 = daemon_cpu_ns();
	start = now();
	end = start + seconds;
	for (r.requests = 0; now() < end; ) {
		unsigned int i;

		for (i = 0; i < 100; i++, r.requests++)
			request(guests[0], r.requests, true, true);
	}
	r.seconds = now() - start;
	r.cpu_ns = daemon_cpu_ns() - cpu0;
	return r;
}

/* Every guest one request per round, for @seconds. */
static struct result measure_all(double seconds)
{
	struct result r = { 0 };
	unsigned long round = 0;
	unsigned long long cpu0;
	double start, end;
	unsigned int i;

	cpu0 = daemon_cpu_ns();
	start = now();
	end = start + seconds;
	do {
		for (i = 0; i < guest_count; i++)
			request(guests[i], round, true, false);
		for (i = 0; i < guest_count; i++)
			request(guests[i], round, false, true);
		r.requests += guest_count;
		round++;
	} while (now() < end);
	r.seconds = now() - start;
	r.cpu_ns = daemon_cpu_ns() - cpu0;
	return r;
}

static void start_daemon(const char *xenstored, char *socket_path,
			 size_t size)
{
	char pidfile[sizeof(workdir) + 8];

	if (!mkdtemp(workdir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(simdir, sizeof(simdir), "%s/sim", workdir);
	snprintf(socket_path, size, "%s/socket", workdir);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", workdir);
	daemon_pid = fork();
	if (daemon_pid < 0)
		die("fork: %s", strerror(errno));
	if (daemon_pid == 0) {
		setenv("XENSTORED_PATH", socket_path, 1);
		execl(xenstored, xenstored, "-N", "--pid-file", pidfile,
		      "--sim", simdir, (char *)NULL);
		fprintf(stderr, "ring-bench: exec %s: %s\n", xenstored,
			strerror(errno));
		_exit(127);
	}
}

static void stop_daemon(void)
{
	int status;

	kill(daemon_pid, SIGTERM);
	if (waitpid(daemon_pid, &status, 0) == daemon_pid &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		fprintf(stderr, "ring-bench: the daemon ended with status %d\n",
			status);
	daemon_pid = 0;
}

/* Thousands of guests need as many sockets and mappings. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void usage(FILE *out)
{
	fputs("Usage: ring-bench -x XENSTORED [-g 1,100,1000] [-s SECONDS] "
	      "[-m]\n"
	      "  -x  the daemon to measure (started with -N --sim DIR)\n"
	      "  -g  guest counts, ascending (default 1,100,1000)\n"
	      "  -s  seconds per measurement (default 3)\n"
	      "  -m  print a markdown table\n", out);
}

int main(int argc, char **argv)
{
	struct options opts = { .guest_counts = "1,100,1000", .seconds = 3 };
	char socket_path[sizeof(workdir) + 16], *list, *tok, *save = NULL;
	struct result r;
	int c, toolstack;
	unsigned int i;

	while ((c = getopt(argc, argv, "x:g:s:mh")) != -1) {
		switch (c) {
		case 'x': opts.xenstored = optarg; break;
		case 'g': opts.guest_counts = optarg; break;
		case 's': opts.seconds = atof(optarg); break;
		case 'm': opts.markdown = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!opts.xenstored || opts.seconds <= 0) {
		usage(stderr);
		return 2;
	}
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	start_daemon(opts.xenstored, socket_path, sizeof(socket_path));
	toolstack = toolstack_connect(socket_path);

	if (opts.markdown)
		printf("| guests | measured | requests | req/s | daemon CPU "
		       "us/req |\n|---|---|---|---|---|\n");
	list = strdup(opts.guest_counts);
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned int total = (unsigned int)atoi(tok);

		if (total < guest_count || total == 0)
			die("guest counts must ascend: %s", opts.guest_counts);
		add_guests(toolstack, total);
		r = measure_one(opts.seconds);
		report("one", total, 1, &r, opts.markdown);
		if (total > 1) {
			r = measure_all(opts.seconds);
			report("all", total, total, &r, opts.markdown);
		}
	}
	free(list);
	for (i = 0; i < guest_count; i++)
		sim_guest_free(guests[i]);
	free(guests);
	close(toolstack);
	stop_daemon();
	/* The sim directory's files go with the work directory. */
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", "--", workdir, (char *)NULL);
		_exit(127);
	}
	wait(NULL);
	return 0;
}
