/*
 * tx-bench: transaction throughput and conflicts of a xenstored, over its
 * Unix socket in the raw wire protocol of <xen/io/xs_wire.h>.
 *
 * K connections each run transactions back to back, retrying on EAGAIN as
 * a toolstack does, in one of two mixes:
 *   siblings  each transaction creates a child of one shared parent (with
 *             a few keys below it) or removes it again, like domains coming
 *             and going under /local/domain: the children are distinct, so
 *             an exact engine never needs to refuse a commit;
 *   counter   each transaction reads one shared counter and writes it plus
 *             one: these conflict for real.
 * It reports commits per second, the EAGAIN rate (of all commit attempts),
 * retries per successful commit and the daemon's CPU time per commit (from
 * /proc/PID/task/TID/schedstat).  At the end it checks the outcome: the
 * counter equals the number of commits, each child exists exactly when its
 * connection last created it.  See bench/README.md.
 *
 * Libc only, one thread driving every connection through epoll: each
 * connection has one request in flight, like libxenstore.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xen/io/xs_wire.h>

#define KEYS_PER_CHILD	3	/* keys written below a new child */
#define MAX_CONNS	1024
#define STALL_SECONDS	10
#define MAX_MSG	(sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX)

enum mix { MIX_SIBLINGS, MIX_COUNTER };

struct options {
	const char *socket_path;
	enum mix mix;
	int conns;
	double seconds, warmup;
	long pid;
	bool json;
};

/* Counts over a phase of the run. */
struct tally {
	uint64_t commits, eagains, requests, errors;
};

/* Where a connection is in its transaction. */
enum step { STEP_START, STEP_BODY, STEP_END };

struct conn {
	int fd;
	int index;
	enum step step;
	uint32_t tx_id;
	int body;		/* requests of the body sent so far */
	uint64_t done;		/* transactions committed */
	uint64_t counter_seen;	/* counter mix: the value read */
	uint32_t req_id;
	bool idle;		/* stopped between transactions */
	/* The reply being read. */
	char in[MAX_MSG];
	size_t in_len;
};

static char base[128];
static const char *first_error;
/* Set when the measured time is over: finish transactions, start none. */
static bool stopping;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "tx-bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The daemon's CPU time so far, in ns, summed over its threads. */
static uint64_t daemon_cpu_ns(long pid)
{
	char path[64];
	struct dirent *de;
	uint64_t total = 0;
	DIR *dir;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	dir = opendir(path);
	if (!dir)
		die("cannot read %s: %s", path, strerror(errno));
	while ((de = readdir(dir))) {
		char stat_path[64 + sizeof(de->d_name) + 16];
		unsigned long long ns;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(stat_path, sizeof(stat_path), "%s/%s/schedstat", path,
			 de->d_name);
		f = fopen(stat_path, "r");
		if (!f)
			continue;	/* the thread just ended */
		if (fscanf(f, "%llu", &ns) == 1)
			total += ns;
		fclose(f);
	}
	closedir(dir);
	return total;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		die("socket path too long: %s", path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("cannot connect to %s: %s", path, strerror(errno));
	return fd;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write to the daemon failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Send one request: its payload is @nargs strings, the last one raw. */
static void send_request(int fd, uint32_t type, uint32_t req_id,
			 uint32_t tx_id, int nargs, const char *const *args,
			 bool raw_last)
{
	char msg[MAX_MSG];
	struct xsd_sockmsg hdr = { .type = type, .req_id = req_id,
				   .tx_id = tx_id };
	size_t len = 0;
	int i;

	for (i = 0; i < nargs; i++) {
		bool nul = !(i == nargs - 1 && raw_last);
		size_t n = strlen(args[i]) + nul;

		if (len + n > XENSTORE_PAYLOAD_MAX)
			die("request too long");
		memcpy(msg + sizeof(hdr) + len, args[i], n);
		len += n;
	}
	hdr.len = (uint32_t)len;
	memcpy(msg, &hdr, sizeof(hdr));
	write_all(fd, msg, sizeof(hdr) + len);
}

/* A synchronous request for setup and checks: 0, or the error's name. */
static const char *call(int fd, uint32_t type, int nargs,
			const char *const *args, bool raw_last, char *reply,
			uint32_t *reply_len)
{
	static char error_name[32];
	struct xsd_sockmsg hdr;
	size_t got = 0;
	char buf[MAX_MSG];

	send_request(fd, type, 0, 0, nargs, args, raw_last);
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n <= 0)
			die("the daemon closed the connection");
		got += (size_t)n;
		if (got < sizeof(hdr))
			continue;
		memcpy(&hdr, buf, sizeof(hdr));
		if (got < sizeof(hdr) + hdr.len)
			continue;
		break;
	}
	if (hdr.type == XS_ERROR) {
		snprintf(error_name, sizeof(error_name), "%.*s", (int)hdr.len,
			 buf + sizeof(hdr));
		return error_name;
	}
	if (reply) {
		memcpy(reply, buf + sizeof(hdr), hdr.len);
		reply[hdr.len] = '\0';
	}
	if (reply_len)
		*reply_len = hdr.len;
	return NULL;
}

static void must(const char *err, const char *what)
{
	if (err)
		die("%s: %s", what, err);
}

static void child_path(char *buf, size_t len, int conn)
{
	snprintf(buf, len, "%s/parent/c%d", base, conn);
}

/* The next request of @c's transaction; false when the body is done. */
static bool send_body(struct conn *c, const struct options *o)
{
	char path[256], value[32];
	const char *args[2];

	if (o->mix == MIX_COUNTER) {
		snprintf(path, sizeof(path), "%s/counter", base);
		args[0] = path;
		if (c->body == 0) {
			send_request(c->fd, XS_READ, ++c->req_id, c->tx_id, 1,
				     args, false);
			return true;
		}
		if (c->body == 1) {
			snprintf(value, sizeof(value), "%" PRIu64,
				 c->counter_seen + 1);
			args[1] = value;
			send_request(c->fd, XS_WRITE, ++c->req_id, c->tx_id, 2,
				     args, true);
			return true;
		}
		return false;
	}
	/* Siblings: even transactions create the child, odd ones remove it. */
	child_path(path, sizeof(path), c->index);
	if (c->done % 2 == 1) {
		if (c->body > 0)
			return false;
		args[0] = path;
		send_request(c->fd, XS_RM, ++c->req_id, c->tx_id, 1, args,
			     false);
		return true;
	}
	if (c->body >= KEYS_PER_CHILD)
		return false;
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/k%d",
		 c->body);
	snprintf(value, sizeof(value), "%" PRIu64, c->done);
	args[0] = path;
	args[1] = value;
	send_request(c->fd, XS_WRITE, ++c->req_id, c->tx_id, 2, args, true);
	return true;
}

static void send_next(struct conn *c, const struct options *o)
{
	static const char *const start_args[] = { "" };
	static const char *const commit_args[] = { "T" };

	switch (c->step) {
	case STEP_START:
		send_request(c->fd, XS_TRANSACTION_START, ++c->req_id, 0, 1,
			     start_args, false);
		break;
	case STEP_BODY:
		if (send_body(c, o))
			break;
		c->step = STEP_END;
		/* fall through */
	case STEP_END:
		send_request(c->fd, XS_TRANSACTION_END, ++c->req_id, c->tx_id,
			     1, commit_args, false);
		break;
	}
}

static void wrong_reply(struct tally *t, const char *what)
{
	t->errors++;
	if (!first_error)
		first_error = what;
}

/* Handle one complete reply; then send the next request. */
static void handle_reply(struct conn *c, const struct xsd_sockmsg *hdr,
			 const char *payload, const struct options *o,
			 struct tally *t)
{
	bool error = hdr->type == XS_ERROR;

	t->requests++;
	if (hdr->req_id != c->req_id)
		wrong_reply(t, "a reply with another req_id");
	switch (c->step) {
	case STEP_START:
		if (error || hdr->type != XS_TRANSACTION_START) {
			wrong_reply(t, "TRANSACTION_START failed");
			break;
		}
		c->tx_id = (uint32_t)strtoul(payload, NULL, 10);
		c->step = STEP_BODY;
		c->body = 0;
		break;
	case STEP_BODY:
		if (error) {
			wrong_reply(t, "a request inside a transaction failed");
		} else if (o->mix == MIX_COUNTER && c->body == 0) {
			c->counter_seen = strtoull(payload, NULL, 10);
		}
		c->body++;
		break;
	case STEP_END:
		c->step = STEP_START;
		if (!error) {
			t->commits++;
			c->done++;
		} else if (strcmp(payload, "EAGAIN") == 0) {
			t->eagains++;	/* retry the same transaction */
		} else {
			wrong_reply(t, "TRANSACTION_END failed");
		}
		if (stopping) {
			c->idle = true;
			return;
		}
		break;
	}
	send_next(c, o);
}

/* Read what @c has; handle each complete reply. */
static void on_readable(struct conn *c, const struct options *o,
			struct tally *t)
{
	for (;;) {
		struct xsd_sockmsg hdr;
		ssize_t n = recv(c->fd, c->in + c->in_len,
				 sizeof(c->in) - c->in_len, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			die("the daemon closed connection %d", c->index);
		c->in_len += (size_t)n;
		while (c->in_len >= sizeof(hdr)) {
			size_t whole;

			memcpy(&hdr, c->in, sizeof(hdr));
			if (hdr.len > XENSTORE_PAYLOAD_MAX)
				die("a reply longer than the protocol allows");
			whole = sizeof(hdr) + hdr.len;
			if (c->in_len < whole)
				break;
			if (hdr.type != XS_WATCH_EVENT) {
				char payload[XENSTORE_PAYLOAD_MAX + 1];

				memcpy(payload, c->in + sizeof(hdr), hdr.len);
				payload[hdr.len] = '\0';
				handle_reply(c, &hdr, payload, o, t);
			}
			memmove(c->in, c->in + whole, c->in_len - whole);
			c->in_len -= whole;
		}
	}
}

/* Drive every connection until @until (monotonic seconds). */
static void run_phase(int epfd, struct conn *conns, const struct options *o,
		      double until, struct tally *t)
{
	struct epoll_event events[64];
	double last_progress = now_seconds();
	uint64_t last_requests = t->requests;

	while (now_seconds() < until) {
		int n = epoll_wait(epfd, events, 64, 100), i;

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++)
			on_readable(&conns[events[i].data.u32], o, t);
		if (t->requests != last_requests) {
			last_requests = t->requests;
			last_progress = now_seconds();
		} else if (now_seconds() - last_progress > STALL_SECONDS) {
			die("no reply for %d s: the daemon is stuck",
			    STALL_SECONDS);
		}
	}
}

/* Let every connection finish its transaction, starting no new one. */
static void drain(int epfd, struct conn *conns, const struct options *o,
		  struct tally *t)
{
	double until = now_seconds() + STALL_SECONDS;
	int idle = 0, i;

	stopping = true;
	while (idle < o->conns) {
		struct epoll_event events[64];
		int n = epoll_wait(epfd, events, 64, 100);

		if (now_seconds() > until)
			die("transactions did not finish in %d s",
			    STALL_SECONDS);
		for (i = 0; i < n; i++)
			on_readable(&conns[events[i].data.u32], o, t);
		for (idle = 0, i = 0; i < o->conns; i++)
			idle += conns[i].idle;
	}
}

static void setup(int fd)
{
	char path[256];
	const char *args[2];
	unsigned int r;

	if (getentropy(&r, sizeof(r)) != 0)
		r = (unsigned int)now_seconds();
	snprintf(base, sizeof(base), "/bench-tx/%d-%08x", (int)getpid(), r);
	snprintf(path, sizeof(path), "%s/parent", base);
	args[0] = path;
	must(call(fd, XS_MKDIR, 1, args, false, NULL, NULL), "mkdir parent");
	snprintf(path, sizeof(path), "%s/counter", base);
	args[0] = path;
	args[1] = "0";
	must(call(fd, XS_WRITE, 2, args, true, NULL, NULL), "write counter");
}

/* The outcome must be what the commits say: the engine lost nothing. */
static bool check_outcome(int fd, const struct conn *conns,
			  const struct options *o)
{
	char path[256], reply[XENSTORE_PAYLOAD_MAX + 1];
	const char *args[1] = { path };
	bool ok = true;
	int i;

	if (o->mix == MIX_COUNTER) {
		uint64_t sum = 0;

		for (i = 0; i < o->conns; i++)
			sum += conns[i].done;
		snprintf(path, sizeof(path), "%s/counter", base);
		must(call(fd, XS_READ, 1, args, false, reply, NULL),
		     "read counter");
		if (strtoull(reply, NULL, 10) != sum) {
			fprintf(stderr, "tx-bench: counter %s after %" PRIu64
				" commits: updates were lost\n", reply, sum);
			ok = false;
		}
		return ok;
	}
	for (i = 0; i < o->conns; i++) {
		const char *err;
		bool exists;

		child_path(path, sizeof(path), i);
		err = call(fd, XS_READ, 1, args, false, reply, NULL);
		exists = !err;
		if (err && strcmp(err, "ENOENT") != 0)
			die("read %s: %s", path, err);
		if (exists != (conns[i].done % 2 == 1)) {
			fprintf(stderr, "tx-bench: %s %s after %" PRIu64
				" commits\n", path,
				exists ? "exists" : "is missing",
				conns[i].done);
			ok = false;
		}
	}
	return ok;
}

static void teardown(int fd)
{
	const char *args[1] = { base };
	const char *top[1] = { "/bench-tx" };
	uint32_t len = 1;
	char reply[XENSTORE_PAYLOAD_MAX + 1];

	call(fd, XS_RM, 1, args, false, NULL, NULL);
	/* Remove /bench-tx too if this run was its last user. */
	if (!call(fd, XS_DIRECTORY, 1, top, false, reply, &len) && len == 0)
		call(fd, XS_RM, 1, top, false, NULL, NULL);
}

static void report(const struct options *o, const struct tally *t,
		   double elapsed, uint64_t cpu_ns, bool outcome_ok)
{
	const char *mix = o->mix == MIX_COUNTER ? "counter" : "siblings";
	uint64_t attempts = t->commits + t->eagains;
	double eagain_rate = attempts ? (double)t->eagains / attempts : 0;
	double retries = t->commits ? (double)t->eagains / t->commits : 0;
	char cpu[32] = "null";

	if (o->pid && t->commits)
		snprintf(cpu, sizeof(cpu), "%.3f",
			 (double)cpu_ns / 1e3 / (double)t->commits);
	if (o->json) {
		printf("{\"mix\":\"%s\",\"conns\":%d,\"seconds\":%.3f,"
		       "\"commits\":%" PRIu64 ",\"eagain\":%" PRIu64 ","
		       "\"requests\":%" PRIu64 ",\"errors\":%" PRIu64 ","
		       "\"commits_per_s\":%.1f,\"eagain_rate\":%.4f,"
		       "\"retries_per_commit\":%.4f,"
		       "\"daemon_cpu_us_per_commit\":%s,\"outcome_ok\":%s}\n",
		       mix, o->conns, elapsed, t->commits, t->eagains,
		       t->requests, t->errors, (double)t->commits / elapsed,
		       eagain_rate, retries, cpu,
		       outcome_ok ? "true" : "false");
		return;
	}
	printf("%s x%d: %.0f commits/s, EAGAIN rate %.1f%%, %.2f retries per "
	       "commit, %s us daemon CPU per commit, %" PRIu64 " errors%s\n",
	       mix, o->conns, (double)t->commits / elapsed, 100 * eagain_rate,
	       retries, cpu, t->errors, outcome_ok ? "" : ", WRONG OUTCOME");
}

static void usage(void)
{
	fprintf(stderr,
		"usage: tx-bench [--socket PATH] [--mix siblings|counter] "
		"[--conns K]\n"
		"                [--seconds S] [--warmup S] [--pid PID] "
		"[--json]\n");
	exit(2);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "mix", required_argument, NULL, 'm' },
		{ "conns", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*o = (struct options) {
		.socket_path = getenv("XENSTORED_PATH"),
		.mix = MIX_SIBLINGS, .conns = 1, .seconds = 2, .warmup = 0.3,
	};
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': o->socket_path = optarg; break;
		case 'm':
			if (strcmp(optarg, "siblings") == 0)
				o->mix = MIX_SIBLINGS;
			else if (strcmp(optarg, "counter") == 0)
				o->mix = MIX_COUNTER;
			else
				usage();
			break;
		case 'c': o->conns = atoi(optarg); break;
		case 't': o->seconds = atof(optarg); break;
		case 'w': o->warmup = atof(optarg); break;
		case 'p': o->pid = atol(optarg); break;
		case 'j': o->json = true; break;
		default: usage();
		}
	}
	if (!o->socket_path || o->conns < 1 || o->conns > MAX_CONNS ||
	    o->seconds <= 0 || o->warmup < 0)
		usage();
}

int main(int argc, char **argv)
{
	struct options o;
	struct conn *conns;
	struct tally warm = { 0 }, measured = { 0 }, after = { 0 };
	double start, elapsed;
	uint64_t cpu_before, cpu_after;
	int control, epfd, i;
	bool outcome_ok;

	parse_options(argc, argv, &o);
	control = connect_socket(o.socket_path);
	setup(control);
	conns = calloc((size_t)o.conns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0)
		die("out of memory");
	for (i = 0; i < o.conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u32 = (uint32_t)i };

		conns[i].fd = connect_socket(o.socket_path);
		conns[i].index = i;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	for (i = 0; i < o.conns; i++)
		send_next(&conns[i], &o);
	run_phase(epfd, conns, &o, now_seconds() + o.warmup, &warm);

	cpu_before = daemon_cpu_ns(o.pid);
	start = now_seconds();
	run_phase(epfd, conns, &o, start + o.seconds, &measured);
	elapsed = now_seconds() - start;
	cpu_after = daemon_cpu_ns(o.pid);

	drain(epfd, conns, &o, &after);
	outcome_ok = check_outcome(control, conns, &o);
	for (i = 0; i < o.conns; i++)
		close(conns[i].fd);
	free(conns);
	close(epfd);
	teardown(control);

	report(&o, &measured, elapsed, cpu_after - cpu_before, outcome_ok);
	if (first_error)
		fprintf(stderr, "tx-bench: first wrong reply: %s\n",
			first_error);
	return warm.errors || measured.errors || after.errors || !outcome_ok;
}
