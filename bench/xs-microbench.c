/*
 * xs-microbench: a load generator for a xenstored, speaking the raw wire
 * protocol of <xen/io/xs_wire.h> over the daemon's Unix socket.
 *
 * It builds a private subtree /bench/<pid>-<random>, drives one request mix
 * over N connections with D requests outstanding on each, and reports
 * requests per second and CPU time per request, the daemon's (from
 * /proc/PID/task/<tid>/schedstat) and its own.  Every reply is checked, so a
 * run that measures errors says so.  See bench/README.md.
 *
 * Libc only, one thread: non-blocking sockets under epoll.  On a two-core
 * machine the client shares the CPUs with the daemon, so it must stay cheap.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xen/io/xs_wire.h>

#define NKEYS		100	/* keys the read operations cycle through */
#define DIR_CHILDREN	50	/* children of the listed directory */
#define KEY_VALUE_LEN	32
#define WRITE_VALUE_LEN	16
#define MAX_MSG		(sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX)
#define IN_BUF_SIZE	(64 * 1024)
#define MAX_EVENTS	64
#define STALL_MS	10000	/* no reply for this long: the daemon is stuck */
#define MAX_ERRORS_SHOWN 10

enum mix { MIX_READ, MIX_WRITE, MIX_DIRECTORY, MIX_TRANSACTION, MIX_MIXED };
static const char *const mix_names[] = {
	[MIX_READ] = "read",
	[MIX_WRITE] = "write",
	[MIX_DIRECTORY] = "directory",
	[MIX_TRANSACTION] = "transaction",
	[MIX_MIXED] = "mixed",
};

enum op { OP_READ, OP_WRITE, OP_DIRECTORY, OP_TRANSACTION };

/* One cycle of the mixed workload: mostly reads, as a toolstack's traffic. */
static const enum op mixed_cycle[] = {
	OP_READ, OP_READ, OP_DIRECTORY, OP_READ, OP_WRITE, OP_READ,
	OP_READ, OP_DIRECTORY, OP_READ, OP_TRANSACTION, OP_READ,
};

/* The request a slot has in flight; a transaction takes four in turn. */
enum step {
	STEP_IDLE,
	STEP_READ,
	STEP_WRITE,
	STEP_DIRECTORY,
	STEP_TX_START,
	STEP_TX_READ,
	STEP_TX_WRITE,
	STEP_TX_END,
};

struct options {
	const char *socket;
	unsigned conns;
	unsigned depth;
	enum mix mix;
	unsigned long requests;
	double seconds;
	unsigned long warmup;
	pid_t pid;
	bool json;
};

/* A string with its terminating NUL counted in len, as it goes on the wire. */
struct wire_str {
	char *s;
	size_t len;
};

struct conn;

/*
 * A slot is one synchronous stream of operations within a connection; a
 * connection with depth D runs D slots, so D requests are outstanding.
 */
struct slot {
	struct conn *conn;
	unsigned index;
	enum step step;
	uint32_t tx_id;
	unsigned long ops;		/* operations started: picks key and mix position */
	unsigned key;			/* index of the key being read */
	unsigned long writes;		/* makes each written value different */
	struct wire_str write_path;	/* base/w/cCsS */
	struct wire_str tx_read_path;	/* base/tx/cCsS/r */
	struct wire_str tx_write_path;	/* base/tx/cCsS/w */
};

struct pending {
	struct slot *slot;
	uint32_t req_id;
	uint32_t tx_id;
};

struct conn {
	int fd;
	unsigned id;
	struct slot *slots;
	struct pending *fifo;		/* replies come back in request order */
	unsigned fifo_head, fifo_count, fifo_size;
	uint32_t next_req_id;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	bool polling_out;
};

struct counts {
	unsigned long issued;
	unsigned long replies;
	unsigned long errors;
	unsigned long eagain;
	unsigned long commits;
};

struct bench {
	struct options opt;
	char base[64];
	struct wire_str key_paths[NKEYS];
	char key_values[NKEYS][KEY_VALUE_LEN];
	struct wire_str dir_path;
	struct conn *conns;
	int epfd;
	unsigned long outstanding;
	unsigned long target;		/* stop starting operations at this many requests */
	bool timed;
	struct timespec deadline;
	bool stopping;
	struct counts n;		/* of the current phase */
	unsigned long all_errors;	/* warm-up included */
	unsigned long errors_shown;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("xs-microbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xmalloc(size_t size)
{
	void *p = calloc(1, size);

	if (p == NULL)
		fatal("out of memory");
	return p;
}

static struct wire_str
wire_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct wire_str
wire_printf(const char *fmt, ...)
{
	struct wire_str w;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&w.s, fmt, ap);
	va_end(ap);
	if (len < 0)
		fatal("out of memory");
	w.len = (size_t)len + 1;
	return w;
}

/* The error's name as the daemon sends it, from the header's own table. */
static const char *
xs_error_name(int errnum)
{
	size_t i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xsd_errors[i].errnum == errnum)
			return xsd_errors[i].errstring;
	return "?";
}

static double
timespec_seconds(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static bool
timespec_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

static uint64_t
process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * CPU time of every thread of the daemon: the first field of each
 * /proc/PID/task/TID/schedstat is the time it ran, in nanoseconds.
 */
static bool
daemon_cpu_ns(pid_t pid, uint64_t *ns)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	uint64_t total = 0;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return false;
	while ((d = readdir(dir)) != NULL) {
		unsigned long long run;
		char file[sizeof(path) + sizeof(d->d_name) + sizeof("/schedstat")];
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/schedstat", path, d->d_name);
		f = fopen(file, "r");
		if (f == NULL)
			continue;	/* the thread just exited */
		if (fscanf(f, "%llu", &run) == 1) {
			total += run;
			found = true;
		}
		fclose(f);
	}
	closedir(dir);
	*ns = total;
	return found;
}

/* ---- connections ---- */

static int
connect_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		fatal("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fatal("connect %s: %s", path, strerror(errno));
	return fd;
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal("write to daemon: %s", n < 0 ? strerror(errno) : "short write");
		p += n;
		len -= (size_t)n;
	}
}

static void
read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("read from daemon: %s", strerror(errno));
		if (n == 0)
			fatal("daemon closed the connection");
		p += n;
		len -= (size_t)n;
	}
}

/*
 * One synchronous request on a blocking socket, for setup and cleanup.
 * Returns the reply type; the payload lands in reply (MAX_MSG bytes).
 */
static uint32_t
xs_call(int fd, uint32_t type, const void *a, size_t alen,
    const void *b, size_t blen, char *reply, uint32_t *reply_len)
{
	struct xsd_sockmsg hdr = { .type = type, .req_id = 1,
	    .len = (uint32_t)(alen + blen) };
	char msg[MAX_MSG];

	if (alen + blen > XENSTORE_PAYLOAD_MAX)
		fatal("request too long");
	memcpy(msg, &hdr, sizeof(hdr));
	memcpy(msg + sizeof(hdr), a, alen);
	if (blen > 0)
		memcpy(msg + sizeof(hdr) + alen, b, blen);
	write_all(fd, msg, sizeof(hdr) + alen + blen);

	for (;;) {
		read_all(fd, &hdr, sizeof(hdr));
		if (hdr.len > XENSTORE_PAYLOAD_MAX)
			fatal("reply of %" PRIu32 " bytes", hdr.len);
		read_all(fd, reply, hdr.len);
		if (hdr.type != XS_WATCH_EVENT)
			break;
	}
	*reply_len = hdr.len;
	return hdr.type;
}

static void
setup_call(int fd, uint32_t type, const struct wire_str *path,
    const void *value, size_t value_len)
{
	char reply[MAX_MSG];
	uint32_t len;

	if (xs_call(fd, type, path->s, path->len, value, value_len,
	    reply, &len) == XS_ERROR)
		fatal("%s %s: %.*s", type == XS_RM ? "RM" : "WRITE",
		    path->s, (int)len, reply);
}

static void
setup_write(int fd, const struct wire_str *path, const char *value)
{
	setup_call(fd, XS_WRITE, path, value, strlen(value));
}

static bool
mix_writes(enum mix mix)
{
	return mix == MIX_WRITE || mix == MIX_MIXED;
}

static bool
mix_transacts(enum mix mix)
{
	return mix == MIX_TRANSACTION || mix == MIX_MIXED;
}

/*
 * The subtree the run works in.  Each slot's transaction reads and writes
 * under its own node, so that no two transactions conflict in either
 * daemon's model (oxenstored compares the lowest common ancestor of the
 * paths a transaction touched).
 */
static void
setup_store(struct bench *b)
{
	unsigned i, c, s;
	uint32_t rnd = 0;
	int fd;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)time(NULL);
	snprintf(b->base, sizeof(b->base), "/bench/%d-%08" PRIx32,
	    (int)getpid(), rnd);

	for (i = 0; i < NKEYS; i++) {
		int len = snprintf(b->key_values[i], KEY_VALUE_LEN,
		    "value-of-key-%03u-", i);

		/* a fixed length; the array holds no NUL */
		b->key_paths[i] = wire_printf("%s/keys/k%03u", b->base, i);
		memset(b->key_values[i] + len, '.', KEY_VALUE_LEN - (size_t)len);
	}
	b->dir_path = wire_printf("%s/dir", b->base);

	fd = connect_socket(b->opt.socket);
	for (i = 0; i < NKEYS; i++) {
		struct wire_str p = b->key_paths[i];

		setup_call(fd, XS_WRITE, &p, b->key_values[i], KEY_VALUE_LEN);
	}
	for (i = 0; i < DIR_CHILDREN; i++) {
		struct wire_str p = wire_printf("%s/c%02u", b->dir_path.s, i);

		setup_write(fd, &p, "");
		free(p.s);
	}
	for (c = 0; c < b->opt.conns; c++) {
		for (s = 0; s < b->opt.depth; s++) {
			struct slot *sl = &b->conns[c].slots[s];

			sl->write_path = wire_printf("%s/w/c%us%u", b->base, c, s);
			sl->tx_read_path = wire_printf("%s/tx/c%us%u/r", b->base, c, s);
			sl->tx_write_path = wire_printf("%s/tx/c%us%u/w", b->base, c, s);
			if (mix_writes(b->opt.mix))
				setup_write(fd, &sl->write_path, "0");
			if (mix_transacts(b->opt.mix)) {
				setup_write(fd, &sl->tx_read_path, "r");
				setup_write(fd, &sl->tx_write_path, "0");
			}
		}
	}
	close(fd);
}

/* Remove the subtree, and /bench too when no other run is using it. */
static void
cleanup_store(struct bench *b)
{
	struct wire_str base = wire_printf("%s", b->base);
	struct wire_str top = wire_printf("/bench");
	char reply[MAX_MSG];
	uint32_t len;
	int fd;

	fd = connect_socket(b->opt.socket);
	setup_call(fd, XS_RM, &base, NULL, 0);
	if (xs_call(fd, XS_DIRECTORY, top.s, top.len, NULL, 0, reply,
	    &len) == XS_DIRECTORY && len == 0)
		setup_call(fd, XS_RM, &top, NULL, 0);
	close(fd);
	free(base.s);
	free(top.s);
}

static void
conn_poll(struct bench *b, struct conn *c, bool want_out)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	if (c->polling_out == want_out)
		return;
	if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		fatal("epoll_ctl: %s", strerror(errno));
	c->polling_out = want_out;
}

static void
open_conns(struct bench *b)
{
	unsigned i, s;

	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	b->conns = xmalloc(b->opt.conns * sizeof(*b->conns));
	for (i = 0; i < b->opt.conns; i++) {
		struct conn *c = &b->conns[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		c->id = i;
		c->fd = connect_socket(b->opt.socket);
		if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
			fatal("fcntl: %s", strerror(errno));
		if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			fatal("epoll_ctl: %s", strerror(errno));
		c->slots = xmalloc(b->opt.depth * sizeof(*c->slots));
		for (s = 0; s < b->opt.depth; s++) {
			c->slots[s].conn = c;
			c->slots[s].index = s;
		}
		c->fifo_size = b->opt.depth;
		c->fifo = xmalloc(c->fifo_size * sizeof(*c->fifo));
		c->in = xmalloc(IN_BUF_SIZE);
		c->out_cap = b->opt.depth * 256;
		c->out = xmalloc(c->out_cap);
	}
}

static void
close_conns(struct bench *b)
{
	unsigned i, s;

	for (i = 0; i < b->opt.conns; i++) {
		struct conn *c = &b->conns[i];

		close(c->fd);
		for (s = 0; s < b->opt.depth; s++) {
			free(c->slots[s].write_path.s);
			free(c->slots[s].tx_read_path.s);
			free(c->slots[s].tx_write_path.s);
		}
		free(c->slots);
		free(c->fifo);
		free(c->in);
		free(c->out);
	}
	free(b->conns);
	close(b->epfd);
}

/* ---- the measured traffic ---- */

static void
conn_queue(struct bench *b, struct slot *s, uint32_t type, uint32_t tx_id,
    const void *arg, size_t arg_len, const void *value, size_t value_len)
{
	struct conn *c = s->conn;
	struct xsd_sockmsg hdr = {
		.type = type,
		.req_id = c->next_req_id++,
		.tx_id = tx_id,
		.len = (uint32_t)(arg_len + value_len),
	};
	size_t need = sizeof(hdr) + arg_len + value_len;
	struct pending *p;

	if (c->out_len + need > c->out_cap) {
		c->out_cap = 2 * (c->out_len + need);
		c->out = realloc(c->out, c->out_cap);
		if (c->out == NULL)
			fatal("out of memory");
	}
	memcpy(c->out + c->out_len, &hdr, sizeof(hdr));
	memcpy(c->out + c->out_len + sizeof(hdr), arg, arg_len);
	if (value_len > 0)
		memcpy(c->out + c->out_len + sizeof(hdr) + arg_len, value, value_len);
	c->out_len += need;

	p = &c->fifo[(c->fifo_head + c->fifo_count) % c->fifo_size];
	p->slot = s;
	p->req_id = hdr.req_id;
	p->tx_id = tx_id;
	c->fifo_count++;
	b->outstanding++;
	b->n.issued++;
}

static unsigned
slot_key(const struct slot *s)
{
	return (unsigned)((s->conn->id * 13 + s->index * 7 + s->ops) % NKEYS);
}

static void
slot_issue(struct bench *b, struct slot *s, enum step step)
{
	static const char start_arg[] = "";
	static const char commit_arg[] = "T";
	char value[WRITE_VALUE_LEN + 1];
	const struct wire_str *key;

	s->step = step;
	switch (step) {
	case STEP_READ:
		s->key = slot_key(s);
		key = &b->key_paths[s->key];
		conn_queue(b, s, XS_READ, 0, key->s, key->len, NULL, 0);
		break;
	case STEP_DIRECTORY:
		conn_queue(b, s, XS_DIRECTORY, 0, b->dir_path.s, b->dir_path.len,
		    NULL, 0);
		break;
	case STEP_WRITE:
		snprintf(value, sizeof(value), "%0*lu", WRITE_VALUE_LEN, s->writes++);
		conn_queue(b, s, XS_WRITE, 0, s->write_path.s, s->write_path.len,
		    value, WRITE_VALUE_LEN);
		break;
	case STEP_TX_START:
		conn_queue(b, s, XS_TRANSACTION_START, 0, start_arg,
		    sizeof(start_arg), NULL, 0);
		break;
	case STEP_TX_READ:
		conn_queue(b, s, XS_READ, s->tx_id, s->tx_read_path.s,
		    s->tx_read_path.len, NULL, 0);
		break;
	case STEP_TX_WRITE:
		snprintf(value, sizeof(value), "%0*lu", WRITE_VALUE_LEN, s->writes++);
		conn_queue(b, s, XS_WRITE, s->tx_id, s->tx_write_path.s,
		    s->tx_write_path.len, value, WRITE_VALUE_LEN);
		break;
	case STEP_TX_END:
		conn_queue(b, s, XS_TRANSACTION_END, s->tx_id, commit_arg,
		    sizeof(commit_arg), NULL, 0);
		break;
	case STEP_IDLE:
		break;
	}
}

static enum op
slot_next_op(const struct bench *b, const struct slot *s)
{
	switch (b->opt.mix) {
	case MIX_READ:
		return OP_READ;
	case MIX_WRITE:
		return OP_WRITE;
	case MIX_DIRECTORY:
		return OP_DIRECTORY;
	case MIX_TRANSACTION:
		return OP_TRANSACTION;
	case MIX_MIXED:
		break;
	}
	return mixed_cycle[(s->ops + s->conn->id) %
	    (sizeof(mixed_cycle) / sizeof(mixed_cycle[0]))];
}

/* A finished operation is followed by a new one until the phase ends. */
static void
slot_start_op(struct bench *b, struct slot *s)
{
	static const enum step first_step[] = {
		[OP_READ] = STEP_READ,
		[OP_WRITE] = STEP_WRITE,
		[OP_DIRECTORY] = STEP_DIRECTORY,
		[OP_TRANSACTION] = STEP_TX_START,
	};
	enum op op;

	if (b->stopping || (!b->timed && b->n.issued >= b->target)) {
		b->stopping = true;
		s->step = STEP_IDLE;
		return;
	}
	op = slot_next_op(b, s);
	slot_issue(b, s, first_step[op]);
	s->ops++;
}

static void __attribute__((format(printf, 3, 4)))
report_error(struct bench *b, const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	b->n.errors++;
	b->all_errors++;
	if (b->errors_shown++ >= MAX_ERRORS_SHOWN)
		return;
	fprintf(stderr, "xs-microbench: conn %u: ", c->id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (b->errors_shown == MAX_ERRORS_SHOWN)
		fputs("xs-microbench: (further errors only counted)\n", stderr);
}

static bool
payload_is(const char *body, uint32_t len, const void *want, size_t want_len)
{
	return len == want_len && memcmp(body, want, want_len) == 0;
}

static bool
is_ok(const struct xsd_sockmsg *h, const char *body, uint32_t type)
{
	static const char ok[] = "OK";

	return h->type == type && payload_is(body, h->len, ok, sizeof(ok));
}

static bool
is_listing_of(const char *body, uint32_t len, unsigned entries)
{
	unsigned nuls = 0;
	uint32_t i;

	for (i = 0; i < len; i++)
		nuls += body[i] == '\0';
	return nuls == entries && len > 0 && body[len - 1] == '\0';
}

/* A TRANSACTION_START reply is a decimal id, NUL-terminated; 0 is not an id. */
static bool
parse_tx_id(const char *body, uint32_t len, uint32_t *id)
{
	unsigned long v;
	char *end;

	if (len < 2 || body[len - 1] != '\0')
		return false;
	errno = 0;
	v = strtoul(body, &end, 10);
	if (errno != 0 || end != body + len - 1 || v == 0 || v > UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

static const char *
step_name(enum step step)
{
	static const char *const names[] = {
		[STEP_IDLE] = "(idle)",
		[STEP_READ] = "READ",
		[STEP_WRITE] = "WRITE",
		[STEP_DIRECTORY] = "DIRECTORY",
		[STEP_TX_START] = "TRANSACTION_START",
		[STEP_TX_READ] = "READ in transaction",
		[STEP_TX_WRITE] = "WRITE in transaction",
		[STEP_TX_END] = "TRANSACTION_END",
	};

	return names[step];
}

/* Check the reply to the slot's request and send what follows it. */
static void
slot_handle_reply(struct bench *b, struct slot *s,
    const struct xsd_sockmsg *h, const char *body)
{
	const char *eagain = xs_error_name(EAGAIN);
	enum step step = s->step;
	bool good = false;

	switch (step) {
	case STEP_READ:
		good = h->type == XS_READ && payload_is(body, h->len,
		    b->key_values[s->key], KEY_VALUE_LEN);
		break;
	case STEP_DIRECTORY:
		good = h->type == XS_DIRECTORY &&
		    is_listing_of(body, h->len, DIR_CHILDREN);
		break;
	case STEP_WRITE:
	case STEP_TX_WRITE:
		good = is_ok(h, body, XS_WRITE);
		break;
	case STEP_TX_START:
		good = h->type == XS_TRANSACTION_START &&
		    parse_tx_id(body, h->len, &s->tx_id);
		break;
	case STEP_TX_READ:
		good = h->type == XS_READ && payload_is(body, h->len, "r", 1);
		break;
	case STEP_TX_END:
		good = is_ok(h, body, XS_TRANSACTION_END);
		if (good)
			b->n.commits++;
		else if (h->type == XS_ERROR &&
		    payload_is(body, h->len, eagain, strlen(eagain) + 1)) {
			b->n.eagain++;
			good = true;
		}
		break;
	case STEP_IDLE:
		break;
	}
	if (!good)
		report_error(b, s->conn, "slot %u: %s: got type %" PRIu32 "%s \"%.*s\"",
		    s->index, step_name(step), h->type,
		    h->type == XS_ERROR ? " (XS_ERROR)" : "",
		    (int)(h->len > 64 ? 64 : h->len), body);

	switch (step) {
	case STEP_TX_START:
		if (good)
			slot_issue(b, s, STEP_TX_READ);
		else
			slot_start_op(b, s);
		break;
	case STEP_TX_READ:
		slot_issue(b, s, STEP_TX_WRITE);
		break;
	case STEP_TX_WRITE:
		slot_issue(b, s, STEP_TX_END);
		break;
	default:
		slot_start_op(b, s);
		break;
	}
}

static void
conn_handle_message(struct bench *b, struct conn *c,
    const struct xsd_sockmsg *h, const char *body)
{
	struct pending *p;

	if (h->type == XS_WATCH_EVENT) {
		report_error(b, c, "unexpected watch event");
		return;
	}
	if (c->fifo_count == 0) {
		report_error(b, c, "reply to no request");
		return;
	}
	p = &c->fifo[c->fifo_head];
	c->fifo_head = (c->fifo_head + 1) % c->fifo_size;
	c->fifo_count--;
	b->outstanding--;
	b->n.replies++;
	if (h->req_id != p->req_id || h->tx_id != p->tx_id)
		report_error(b, c, "reply req_id %" PRIu32 " tx_id %" PRIu32
		    " to request req_id %" PRIu32 " tx_id %" PRIu32,
		    h->req_id, h->tx_id, p->req_id, p->tx_id);
	slot_handle_reply(b, p->slot, h, body);
}

static void
conn_flush(struct bench *b, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off,
		    c->out_len - c->out_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_poll(b, c, true);
			return;
		}
		if (n < 0)
			fatal("conn %u: write: %s", c->id, strerror(errno));
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	conn_poll(b, c, false);
}

static void
conn_read(struct bench *b, struct conn *c)
{
	struct xsd_sockmsg h;
	size_t used = 0;
	ssize_t n;

	n = read(c->fd, c->in + c->in_len, IN_BUF_SIZE - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		fatal("conn %u: read: %s", c->id, strerror(errno));
	if (n == 0)
		fatal("conn %u: the daemon closed the connection", c->id);
	c->in_len += (size_t)n;

	while (c->in_len - used >= sizeof(h)) {
		memcpy(&h, c->in + used, sizeof(h));
		if (h.len > XENSTORE_PAYLOAD_MAX)
			fatal("conn %u: reply of %" PRIu32 " bytes", c->id, h.len);
		if (c->in_len - used < sizeof(h) + h.len)
			break;
		conn_handle_message(b, c, &h, c->in + used + sizeof(h));
		used += sizeof(h) + h.len;
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	conn_flush(b, c);
}

/*
 * Run the mix until `requests` have been sent, or for `seconds` when that
 * is set; operations under way are finished, so a phase may send a few
 * requests more.
 */
static void
run_phase(struct bench *b, unsigned long requests, double seconds)
{
	struct epoll_event events[MAX_EVENTS];
	unsigned i, s;

	memset(&b->n, 0, sizeof(b->n));
	b->stopping = false;
	b->target = requests;
	b->timed = seconds > 0;
	if (b->timed) {
		long long ns = (long long)(seconds * 1e9);

		clock_gettime(CLOCK_MONOTONIC, &b->deadline);
		ns += b->deadline.tv_nsec;
		b->deadline.tv_sec += (time_t)(ns / 1000000000LL);
		b->deadline.tv_nsec = (long)(ns % 1000000000LL);
	}

	for (i = 0; i < b->opt.conns; i++) {
		for (s = 0; s < b->opt.depth; s++)
			slot_start_op(b, &b->conns[i].slots[s]);
		conn_flush(b, &b->conns[i]);
	}

	while (b->outstanding > 0) {
		int n = epoll_wait(b->epfd, events, MAX_EVENTS, STALL_MS);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("epoll_wait: %s", strerror(errno));
		if (n == 0)
			fatal("no reply for %d s with %lu requests outstanding",
			    STALL_MS / 1000, b->outstanding);
		if (b->timed && !b->stopping) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			b->stopping = timespec_after(&now, &b->deadline);
		}
		for (i = 0; i < (unsigned)n; i++) {
			struct conn *c = events[i].data.ptr;

			if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(b, c);
			else if (events[i].events & EPOLLOUT)
				conn_flush(b, c);
		}
	}
}

/* ---- results ---- */

struct result {
	double seconds;
	uint64_t daemon_ns;
	bool have_daemon;
	uint64_t client_ns;
};

static void
print_result(const struct bench *b, const struct result *r)
{
	double req = (double)b->n.replies;
	double rate = r->seconds > 0 ? req / r->seconds : 0;
	double client_us = req > 0 ? (double)r->client_ns / req / 1000 : 0;
	double daemon_us = req > 0 ? (double)r->daemon_ns / req / 1000 : 0;
	const char *mix = mix_names[b->opt.mix];

	if (b->opt.json) {
		printf("{\"mix\":\"%s\",\"conns\":%u,\"depth\":%u,"
		    "\"requests\":%lu,\"seconds\":%.3f,\"requests_per_s\":%.0f,",
		    mix, b->opt.conns, b->opt.depth, b->n.replies, r->seconds, rate);
		if (r->have_daemon)
			printf("\"daemon_cpu_ns\":%" PRIu64 ",\"daemon_cpu_us_per_request\":%.2f,",
			    r->daemon_ns, daemon_us);
		else
			printf("\"daemon_cpu_ns\":null,\"daemon_cpu_us_per_request\":null,");
		printf("\"client_cpu_us_per_request\":%.2f,\"errors\":%lu,"
		    "\"eagain\":%lu,\"commits\":%lu}\n",
		    client_us, b->n.errors, b->n.eagain, b->n.commits);
		return;
	}
	printf("mix %s, %u conns, depth %u: %lu requests in %.3f s = %.0f requests/s\n",
	    mix, b->opt.conns, b->opt.depth, b->n.replies, r->seconds, rate);
	if (r->have_daemon)
		printf("  daemon CPU %.3f ms = %.2f us/request\n",
		    (double)r->daemon_ns / 1e6, daemon_us);
	else
		printf("  daemon CPU not measured (no --pid)\n");
	printf("  client CPU %.2f us/request\n", client_us);
	if (mix_transacts(b->opt.mix))
		printf("  transactions committed %lu, EAGAIN %lu\n",
		    b->n.commits, b->n.eagain);
	printf("  errors %lu\n", b->n.errors);
}

static void
measure(struct bench *b, struct result *r)
{
	struct timespec t0, t1;
	uint64_t d0 = 0, d1 = 0, c0, c1;

	if (b->opt.pid > 0 && !daemon_cpu_ns(b->opt.pid, &d0))
		fatal("cannot read /proc/%d/task/*/schedstat", (int)b->opt.pid);
	c0 = process_cpu_ns();
	clock_gettime(CLOCK_MONOTONIC, &t0);

	run_phase(b, b->opt.requests, b->opt.seconds);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	c1 = process_cpu_ns();
	r->have_daemon = b->opt.pid > 0 && daemon_cpu_ns(b->opt.pid, &d1);
	r->daemon_ns = r->have_daemon ? d1 - d0 : 0;
	r->client_ns = c1 - c0;
	r->seconds = timespec_seconds(&t1) - timespec_seconds(&t0);
}

/* ---- options ---- */

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: xs-microbench --socket PATH [options]\n"
	    "  --socket PATH      the daemon's Unix socket (default $XENSTORED_PATH)\n"
	    "  --mix MIX          read|write|directory|transaction|mixed (default read)\n"
	    "  --conns N          connections (default 1)\n"
	    "  --depth D          requests outstanding per connection (default 1)\n"
	    "  --requests N       measured requests (default 100000)\n"
	    "  --seconds S        measure for S seconds instead\n"
	    "  --warmup N         unmeasured requests first (default 2000)\n"
	    "  --pid PID          the daemon's pid, to measure its CPU time\n"
	    "  --json             one JSON object per run\n");
	exit(status);
}

static unsigned long
parse_number(const char *opt, const char *arg, unsigned long min,
    unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || *arg == '\0' || *end != '\0' || v < min || v > max)
		fatal("%s: expected a number from %lu to %lu, got \"%s\"",
		    opt, min, max, arg);
	return v;
}

static void
parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "mix", required_argument, NULL, 'm' },
		{ "conns", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch;
	size_t i;

	*o = (struct options){
		.socket = getenv("XENSTORED_PATH"),
		.conns = 1,
		.depth = 1,
		.mix = MIX_READ,
		.requests = 100000,
		.warmup = 2000,
	};
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->socket = optarg;
			break;
		case 'm':
			for (i = 0; i < sizeof(mix_names) / sizeof(mix_names[0]); i++)
				if (strcmp(optarg, mix_names[i]) == 0)
					break;
			if (i == sizeof(mix_names) / sizeof(mix_names[0]))
				fatal("--mix: unknown mix \"%s\"", optarg);
			o->mix = (enum mix)i;
			break;
		case 'c':
			o->conns = (unsigned)parse_number("--conns", optarg, 1, 10000);
			break;
		case 'd':
			o->depth = (unsigned)parse_number("--depth", optarg, 1, 1024);
			break;
		case 'n':
			o->requests = parse_number("--requests", optarg, 1, ULONG_MAX);
			break;
		case 't':
			o->seconds = strtod(optarg, &end);
			if (*end != '\0' || !(o->seconds > 0))
				fatal("--seconds: expected a positive number, got \"%s\"",
				    optarg);
			break;
		case 'w':
			o->warmup = parse_number("--warmup", optarg, 0, ULONG_MAX);
			break;
		case 'p':
			o->pid = (pid_t)parse_number("--pid", optarg, 1, INT32_MAX);
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	if (o->socket == NULL)
		fatal("no socket: give --socket PATH or set XENSTORED_PATH");
}

int
main(int argc, char **argv)
{
	struct bench b = { .epfd = -1 };
	struct result r;
	unsigned i;

	parse_options(&b.opt, argc, argv);
	if (b.opt.pid > 0) {
		uint64_t ns;

		if (!daemon_cpu_ns(b.opt.pid, &ns))
			fatal("--pid %d: cannot read its schedstat (is it running?)",
			    (int)b.opt.pid);
	}

	open_conns(&b);
	setup_store(&b);
	if (b.opt.warmup > 0)
		run_phase(&b, b.opt.warmup, 0);
	measure(&b, &r);
	print_result(&b, &r);

	close_conns(&b);
	cleanup_store(&b);
	for (i = 0; i < NKEYS; i++)
		free(b.key_paths[i].s);
	free(b.dir_path.s);
	return b.all_errors > 0 ? 1 : 0;
}
