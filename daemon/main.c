/*
 * xenstored: options, daemonizing, signals, readiness notification and the
 * libevent loop around the core server.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <talloc.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "daemon/core.h"
#include "daemon/log.h"
#include "daemon/posix_live_update.h"
#include "daemon/posix_log.h"
#include "daemon/posix_journal.h"
#include "io-unix/unix_socket.h"
#include "io-xen/platform.h"
#include "io-xen/ring_backend.h"

#define DEFAULT_RUNDIR "/var/run/xenstored"
#define DEFAULT_ROOTDIR "/var/lib/xenstored"

struct options {
	bool foreground;
	bool output_pid;
	bool verbose;
	bool no_domain_init;
	bool no_socket;
	bool internal_db;
	const char *pid_file;
	const char *trace_file;
	const char *sim_dir;
	bool live_update;		/* -U: take over from the old daemon */
	const char *check_state;	/* --check-state FILE */
	const char *persist_file;	/* --persist: crash survival */
};

struct daemon_state {
	void *root;
	struct event_base *base;
	struct server *server;
	struct unix_listener *listener;
	struct platform *platform;
	struct ring_backend *rings;
	const char *pid_file;
	int pid_fd;		/* holds the pid file's lock while we run */
	const char *persist_file;
	struct posix_journal *journal;
	bool clean_stop;
	struct event *signals[3];
	struct event *tick;
	struct event *live_update;
	int exit_status;
};

/* For the core's hooks, which carry no argument. */
static struct daemon_state *the_daemon;

enum { OPT_NO_SOCKET = 256, OPT_SIM, OPT_CHECK_STATE, OPT_PERSIST };

static const struct option long_options[] = {
	{ "no-domain-init", no_argument, NULL, 'D' },
	{ "entry-nb", required_argument, NULL, 'E' },
	{ "pid-file", required_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'H' },
	{ "no-fork", no_argument, NULL, 'N' },
	{ "output-pid", no_argument, NULL, 'P' },
	{ "entry-size", required_argument, NULL, 'S' },
	{ "trace-file", required_argument, NULL, 'T' },
	{ "transaction", required_argument, NULL, 't' },
	{ "perm-nb", required_argument, NULL, 'A' },
	{ "path-max", required_argument, NULL, 'M' },
	{ "no-recovery", no_argument, NULL, 'R' },
	{ "internal-db", optional_argument, NULL, 'I' },
	{ "keep-orphans", no_argument, NULL, 'K' },
	{ "verbose", no_argument, NULL, 'V' },
	{ "watch-nb", required_argument, NULL, 'W' },
	{ "quota", required_argument, NULL, 'Q' },
	{ "quota-soft", required_argument, NULL, 'q' },
	{ "timeout", required_argument, NULL, 'w' },
	{ "priv-domid", required_argument, NULL, 'p' },
	{ "no-socket", no_argument, NULL, OPT_NO_SOCKET },
	{ "sim", required_argument, NULL, OPT_SIM },
	{ "live-update", no_argument, NULL, 'U' },
	{ "check-state", required_argument, NULL, OPT_CHECK_STATE },
	{ "persist", optional_argument, NULL, OPT_PERSIST },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs(
"Usage: xenstored [options]\n"
"\n"
"  -N, --no-fork               stay in the foreground (logs also to stderr)\n"
"  -F, --pid-file FILE         write the daemon's pid to FILE\n"
"  -P, --output-pid            print the daemon's pid on stdout\n"
"  -T, --trace-file FILE       trace every request and reply into FILE\n"
"  -V, --verbose               log debugging detail\n"
"  -D, --no-domain-init        do not introduce dom0's ring at start\n"
"  -E, --entry-nb N            nodes per domain (default 1000)\n"
"  -S, --entry-size BYTES      size of a node (default 2048)\n"
"  -W, --watch-nb N            watches per domain (default 128)\n"
"  -t, --transaction N         transactions per connection (default 10)\n"
"  -A, --perm-nb N             permissions per node (default 5)\n"
"  -M, --path-max N            path length after /local/domain/N/ (2048)\n"
"  -Q, --quota WHAT=N          transaction-nodes, memory, outstanding, ...\n"
"  -q, --quota-soft memory=N   log when a domain uses more memory\n"
"  -w, --timeout watch-event=S drop an undelivered event after S seconds\n"
"  -I, --internal-db[=on|off]  keep the store in memory (on, the default)\n"
"                              or in $XENSTORED_ROOTDIR/tdb (off)\n"
"  -K, --keep-orphans          keep a dead domain's nodes (a security risk)\n"
"  -p, --priv-domid DOMID      give DOMID dom0's privileges\n"
"  -R, --no-recovery           accepted for compatibility; no effect\n"
"  -U, --live-update           take over from the daemon that exec'd this one:\n"
"                              state in $XENSTORED_RUNDIR/state_dump\n"
"      --check-state FILE      check that FILE's state restores, and exit\n"
"      --persist[=FILE]        survive a crash: keep the state in FILE (default\n"
"                              $XENSTORED_RUNDIR/journal) as it changes, and\n"
"                              take it over when started again after a kill\n"
"      --no-socket             serve no Unix socket (guests' rings only)\n"
"      --sim DIR               testing aid: serve simulated guests whose rings\n"
"                              and event channels live in DIR (io-xen/SIM.md)\n"
"  -H, --help                  this text\n"
"\n"
"Socket: $XENSTORED_PATH, else ${XENSTORED_RUNDIR:-" DEFAULT_RUNDIR "}/socket\n",
	      out);
}

static bool parse_ulong(const char *s, unsigned long *value)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*value = strtoul(s, &end, 10);
	return !*end && !errno;
}

static void bad_option(const char *what)
{
	fprintf(stderr, "xenstored: invalid %s (see --help)\n", what);
	exit(1);
}

static void set_quota(struct server_config *config, const char *name,
		      const char *arg)
{
	unsigned long value;

	if (!parse_ulong(arg, &value) ||
	    !quota_set(&config->quota, name, value, false))
		bad_option(name);
}

static void parse_options(int argc, char **argv, struct options *opts,
			  struct server_config *config)
{
	int c;

	opts->internal_db = true;
	while ((c = getopt_long(argc, argv, "DE:F:HNPS:t:A:M:Q:q:T:RI::KVW:w:p:U",
				long_options, NULL)) != -1) {
		unsigned long value;
		const char *arg = optarg;

		switch (c) {
		case 'D': opts->no_domain_init = true; break;
		case 'E': set_quota(config, "nodes", arg); break;
		case 'S': set_quota(config, "node-size", arg); break;
		case 'W': set_quota(config, "watches", arg); break;
		case 't': set_quota(config, "transactions", arg); break;
		case 'A': set_quota(config, "permissions", arg); break;
		case 'M': set_quota(config, "path-max", arg); break;
		case 'F': opts->pid_file = arg; break;
		case 'H': usage(stdout); exit(0);
		case 'N': opts->foreground = true; break;
		case 'P': opts->output_pid = true; break;
		case 'T': opts->trace_file = arg; break;
		case 'R': break;
		case 'K': config->keep_orphans = true; break;
		case 'V': opts->verbose = true; break;
		case OPT_NO_SOCKET: opts->no_socket = true; break;
		case OPT_SIM: opts->sim_dir = arg; break;
		case 'U': opts->live_update = true; break;
		case OPT_CHECK_STATE: opts->check_state = arg; break;
		case OPT_PERSIST: opts->persist_file = arg ? arg : ""; break;
		case 'Q':
			if (!quota_set_assignment(&config->quota, arg, false))
				bad_option("--quota");
			break;
		case 'q':
			if (!quota_set_assignment(&config->quota, arg, true))
				bad_option("--quota-soft");
			break;
		case 'w':
			if (!quota_set_timeout(&config->quota, arg))
				bad_option("--timeout");
			break;
		case 'p':
			if (!parse_ulong(arg, &value) || value > UINT32_MAX)
				bad_option("--priv-domid");
			config->has_priv_domid = true;
			config->priv_domid = (uint32_t)value;
			break;
		case 'I':
			/* Xen takes "-Ioff"; "-I off" is accepted too. */
			if (!arg && optind < argc &&
			    (!strcmp(argv[optind], "on") ||
			     !strcmp(argv[optind], "off")))
				arg = argv[optind++];
			if (!arg || !strcmp(arg, "on"))
				opts->internal_db = true;
			else if (!strcmp(arg, "off"))
				opts->internal_db = false;
			else
				bad_option("--internal-db");
			break;
		default:
			usage(stderr);
			exit(1);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "xenstored: unexpected argument '%s'\n",
			argv[optind]);
		exit(1);
	}
}

static const char *rundir(void)
{
	const char *dir = getenv("XENSTORED_RUNDIR");

	return dir && *dir ? dir : DEFAULT_RUNDIR;
}

/* --persist's file: the run directory lives as long as the host's boot,
 * like the domains whose state it keeps. */
static const char *persist_path(void *ctx, const char *file)
{
	if (*file && file[0] != '/') {
		/* daemon() moves to "/": the file must not move with it. */
		char *cwd = getcwd(NULL, 0);
		const char *abs = cwd ? talloc_asprintf(ctx, "%s/%s", cwd, file)
				      : NULL;

		free(cwd);
		return abs;
	}
	if (*file)
		return file;
	if (mkdir(rundir(), 0755) != 0 && errno != EEXIST) {
		xs_log(LEVEL_ERROR, "cannot create %s: %s", rundir(),
		       strerror(errno));
		return NULL;
	}
	return talloc_asprintf(ctx, "%s/journal", rundir());
}

static const char *socket_path(void *ctx)
{
	const char *path = getenv("XENSTORED_PATH");

	if (path && *path)
		return path;
	return talloc_asprintf(ctx, "%s/socket", rundir());
}

static const char *database_path(void *ctx)
{
	const char *rootdir = getenv("XENSTORED_ROOTDIR");

	if (!rootdir || !*rootdir)
		rootdir = DEFAULT_ROOTDIR;
	if (mkdir(rootdir, 0755) != 0 && errno != EEXIST) {
		xs_log(LEVEL_ERROR, "cannot create %s: %s", rootdir,
		       strerror(errno));
		return NULL;
	}
	return talloc_asprintf(ctx, "%s/tdb", rootdir);
}

/* True when running in a Xen control domain. */
static bool hypervisor_present(void)
{
	char caps[256] = "";
	FILE *f = fopen("/proc/xen/capabilities", "r");

	if (!f)
		return false;
	if (!fgets(caps, sizeof(caps), f))
		caps[0] = '\0';
	fclose(f);
	return strstr(caps, "control_d") != NULL;
}

enum pid_file_result { PID_FILE_OURS, PID_FILE_HELD, PID_FILE_ERROR };

/*
 * The pid file is locked for as long as the daemon runs, and a daemon that
 * finds it locked by another exits 0 without touching it, as Xen's does:
 * so Debian's /etc/init.d/xen, run after xenstored.service, leaves the
 * running store alone.  Not truncated before the lock is ours.
 */
static enum pid_file_result write_pid_file(const char *file, int *fd_out)
{
	char text[32];
	int fd, len;

	fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	if (lockf(fd, F_TLOCK, 0) != 0) {
		if (errno == EACCES || errno == EAGAIN) {
			xs_log(LEVEL_INFO, "another xenstored holds %s: "
			       "leaving it running", file);
			close(fd);
			return PID_FILE_HELD;
		}
		goto fail;
	}
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, text, (size_t)len) != len)
		goto fail;
	*fd_out = fd;
	return PID_FILE_OURS;
fail:
	xs_log(LEVEL_ERROR, "cannot write pid file %s: %s", file,
	       strerror(errno));
	if (fd >= 0)
		close(fd);
	return PID_FILE_ERROR;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_state *state = arg;

	xs_log(LEVEL_INFO, "stopping on signal %d", (int)sig);
	state->clean_stop = true;
	event_base_loopbreak(state->base);
}

static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
	if (trace_enabled())
		posix_trace_open(NULL);
}

/* The core asked to be called back for held guests (resume_soon). */
static struct event *resume_event;

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	server_resume(arg);
}

static void resume_soon(struct server *server)
{
	if (resume_event)
		event_active(resume_event, EV_TIMEOUT, 0);
}

/* Once a second: the core expires undelivered watch events. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_state *state = arg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	server_tick(state->server, (uint64_t)now.tv_sec);
}

/* live-update -s was accepted: save and exec from the loop. */
static void on_live_update(evutil_socket_t fd, short what, void *arg)
{
	server_live_update_run(arg);
	/* Still here: no update, or it failed after the state was saved. */
	if (the_daemon && the_daemon->rings)
		ring_backend_resume(the_daemon->rings);
}

static void live_update_soon(struct server *server)
{
	if (the_daemon && the_daemon->live_update)
		event_active(the_daemon->live_update, EV_TIMEOUT, 0);
}

static bool save_global(struct state_global *global)
{
	struct daemon_state *state = the_daemon;

	global->socket_fd = -1;
	global->evtchn_fd = -1;
	if (state->listener) {
		global->socket_fd = unix_listener_save(state->listener);
		if (global->socket_fd < 0)
			return false;
	}
	if (state->rings) {
		global->evtchn_fd = ring_backend_save(state->rings);
		if (global->evtchn_fd < 0)
			return false;
	}
	return true;
}

/* --check-state FILE: would this binary take FILE's state over? */
static int check_state(const char *file)
{
	void *ctx = talloc_new(NULL);
	struct server_config config;
	struct server *server;
	const char *why = "";
	size_t len;
	void *stream = posix_state_read(ctx, file, &len);
	int err;

	if (!stream) {
		fprintf(stderr, "xenstored: cannot read %s: %s\n", file,
			strerror(errno));
		talloc_free(ctx);
		return 1;
	}
	server_config_defaults(&config);
	server = server_new(ctx, &config);
	err = server ? server_restore_state(server, stream, len, NULL, &why)
		     : ENOMEM;
	if (err)
		fprintf(stderr, "xenstored: %s: the state does not restore: "
			"%s (%s)\n", file, why, strerror(err));
	talloc_free(ctx);
	return err ? 2 : 0;
}

static struct event *add_signal(struct daemon_state *state, int sig,
				event_callback_fn fn)
{
	struct event *ev = evsignal_new(state->base, sig, fn, state);

	if (!ev || evsignal_add(ev, NULL) != 0) {
		xs_log(LEVEL_ERROR, "cannot handle signal %d", sig);
		exit(1);
	}
	return ev;
}

static void shut_down(struct daemon_state *state)
{
	/* Stopped on purpose: the next start is a fresh one, so the state
	 * goes before the connections' ends would be written into it. */
	if (state->journal && state->clean_stop)
		posix_journal_remove(state->journal);
	/* Connections first (they release their backend's fds and rings),
	 * then the backends: the ring backend, the platform under it, and
	 * the listener (which removes the socket file). */
	talloc_free(state->server);
	talloc_free(state->rings);
	talloc_free(state->platform);
	if (state->listener)
		unix_listener_close(state->listener);
	if (state->pid_file)
		unlink(state->pid_file);
	if (state->pid_fd >= 0)
		close(state->pid_fd);
}

/* Everything main() set up, in reverse; every exit goes through here. */
static int release_all(struct daemon_state *state, int status)
{
	size_t i;

	shut_down(state);
	for (i = 0; i < sizeof(state->signals) / sizeof(state->signals[0]); i++)
		if (state->signals[i])
			event_free(state->signals[i]);
	if (state->tick)
		event_free(state->tick);
	if (state->live_update)
		event_free(state->live_update);
	if (resume_event) {
		event_free(resume_event);
		resume_event = NULL;
	}
	if (state->base)
		event_base_free(state->base);
	posix_log_stop();
	talloc_free(state->root);
	talloc_disable_null_tracking();
	return status;
}

/* A live update's state, from the file the old daemon left. */
struct live_update_state {
	char *file;
	void *stream;
	size_t len;
	struct state_global global;
};

static int take_global(void *arg, const struct state_global *global)
{
	struct live_update_state *lu = arg;

	lu->global = *global;
	return 0;
}

static bool read_live_update_state(struct daemon_state *state,
				   struct live_update_state *lu)
{
	static const struct state_visitor visitor = { .global = take_global };
	const char *why = NULL;

	lu->file = posix_state_file(state->root);
	lu->stream = lu->file ? posix_state_read(state->root, lu->file,
						 &lu->len) : NULL;
	if (!lu->stream) {
		xs_log(LEVEL_ERROR, "live update: no state in %s: %s",
		       lu->file ? lu->file : "$XENSTORED_RUNDIR/state_dump",
		       strerror(errno));
		return false;
	}
	if (state_read(state->root, lu->stream, lu->len, &visitor, lu,
		       &why) != 0) {
		xs_log(LEVEL_ERROR, "live update: %s: %s", lu->file, why);
		return false;
	}
	return true;
}

static struct connection *adopt_socket(void *arg, struct server *server,
				       int fd)
{
	struct daemon_state *state = arg;

	return state->listener ? unix_adopt_client(state->listener, fd) : NULL;
}

static struct connection *adopt_ring(void *arg, struct server *server,
				     uint32_t domid, uint32_t port)
{
	struct daemon_state *state = arg;

	return state->rings ? ring_backend_adopt_ring(state->rings, domid,
						      port) : NULL;
}

static bool restore_live_update_state(struct daemon_state *state,
				      struct live_update_state *lu)
{
	const struct state_adopters adopters = {
		.arg = state,
		.socket = adopt_socket,
		.ring = adopt_ring,
	};
	const char *why = NULL;
	char *kept = talloc_asprintf(state->root, "%s.failed", lu->file);
	int err;

	/* Gone before anyone is answered (the restore sends the OK); kept
	 * aside for a post-mortem if the restore fails. */
	if (!kept || rename(lu->file, kept) != 0)
		unlink(lu->file);
	err = server_restore_state(state->server, lu->stream, lu->len,
				   &adopters, &why);
	if (err) {
		xs_log(LEVEL_ERROR, "live update: cannot restore %s: %s (%s); "
		       "the state is kept in %s", lu->file, why, strerror(err),
		       kept ? kept : "(nowhere)");
		return false;
	}
	if (kept)
		unlink(kept);
	talloc_free(lu->stream);
	lu->stream = NULL;
	xs_log(LEVEL_INFO, "live update: took over %u connections",
	       server_connection_count(state->server));
	return true;
}

/*
 * Guests' rings: simulated with --sim, real in a Xen control domain, none
 * elsewhere.  False (reason logged) if the daemon cannot serve what it
 * should.
 */
static bool start_rings(struct daemon_state *state, const struct options *opts,
			const struct live_update_state *lu)
{
	if (opts->live_update && lu->global.evtchn_fd >= 0) {
		/* The old daemon's event channels, bindings and all. */
		state->platform = opts->sim_dir ?
			platform_sim_adopt(state->root, state->base,
					   opts->sim_dir, lu->global.evtchn_fd) :
			platform_xen_adopt(state->root, lu->global.evtchn_fd);
		if (!state->platform)
			return false;
		state->rings = ring_backend_new(state->root, state->base,
						state->server,
						state->platform);
		if (!state->rings)
			return false;
		xs_log(LEVEL_INFO, "live update: serving guests' rings again "
		       "(%s platform)", state->platform->name);
		return true;
	}
	if (opts->sim_dir) {
		state->platform = platform_sim_open(state->root, state->base,
						    opts->sim_dir);
	} else if (hypervisor_present()) {
		state->platform = platform_xen_open(state->root);
	} else {
		xs_log(LEVEL_INFO, "no Xen hypervisor found (no control_d in "
		       "/proc/xen/capabilities): serving the Unix socket only");
		if (opts->no_socket) {
			xs_log(LEVEL_ERROR, "--no-socket without guests' rings "
			       "would serve nobody");
			return false;
		}
		return true;
	}
	if (!state->platform)
		return false;
	state->rings = ring_backend_new(state->root, state->base,
					state->server, state->platform);
	if (!state->rings)
		return false;
	if (!opts->no_domain_init &&
	    !ring_backend_connect_dom0(state->rings))
		return false;
	xs_log(LEVEL_INFO, "serving guests' rings (%s platform%s)",
	       state->platform->name,
	       opts->no_domain_init ? "" : ", dom0's ring included");
	return true;
}

int main(int argc, char **argv)
{
	struct daemon_state state = { 0 };
	struct server_config config;
	struct options opts = { 0 };
	struct live_update_state lu = { .global = { -1, -1 } };
	const struct timeval one_second = { 1, 0 };
	const char *path;

	state.pid_fd = -1;
	server_config_defaults(&config);
	parse_options(argc, argv, &opts, &config);
	posix_live_update_init(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (opts.check_state) {
		posix_log_start(true);
		return check_state(opts.check_state);
	}
	posix_log_start(opts.foreground);
	log_set_verbose(opts.verbose);
	talloc_enable_null_tracking();
	state.root = talloc_named_const(NULL, 0, "xenstored");
	/* daemon() moves to "/": a relative --sim DIR must not move with it. */
	if (opts.sim_dir && opts.sim_dir[0] != '/') {
		char *cwd = getcwd(NULL, 0);

		opts.sim_dir = cwd ? talloc_asprintf(state.root, "%s/%s", cwd,
						     opts.sim_dir) : NULL;
		free(cwd);
		if (!opts.sim_dir) {
			fprintf(stderr, "xenstored: cannot resolve --sim\n");
			return release_all(&state, 1);
		}
	}

	if (opts.trace_file && !posix_trace_open(opts.trace_file))
		return release_all(&state, 1);
	config.hooks.trace_open = posix_trace_open;
	config.hooks.trace_close = posix_trace_close;
	config.hooks.memreport_to_file = posix_memreport;
	config.hooks.resume_soon = resume_soon;
	config.hooks.live_update_soon = live_update_soon;
	config.hooks.live_update_exec = posix_live_update_exec;
	config.hooks.save_global = save_global;
	config.hooks.is_executable = posix_is_executable;
	the_daemon = &state;
	if (opts.live_update && !read_live_update_state(&state, &lu))
		return release_all(&state, 1);
	if (opts.persist_file) {
		const char *file = persist_path(state.root, opts.persist_file);

		state.journal = file ? posix_journal_open(state.root, file)
				     : NULL;
		if (!state.journal)
			return release_all(&state, 1);
		state.persist_file = file;
		config.journal = posix_journal_sink(state.journal);
		config.restore_data = posix_journal_old(state.journal,
							&config.restore_len);
		/* A live update's stream is the whole state: what the
		 * journal held is older, and is written afresh. */
		if (opts.live_update) {
			config.restore_data = NULL;
			config.restore_len = 0;
		}
	} else if (!opts.internal_db) {
		config.database_file = database_path(state.root);
		if (!config.database_file)
			return release_all(&state, 1);
	}

	/* After a live update this process is the daemon already. */
	if (!opts.foreground && !opts.live_update && daemon(0, 0) != 0) {
		xs_log(LEVEL_ERROR, "cannot daemonize: %s", strerror(errno));
		return release_all(&state, 1);
	}
	if (opts.output_pid) {
		printf("%ld\n", (long)getpid());
		fflush(stdout);
	}
	if (opts.pid_file) {
		switch (write_pid_file(opts.pid_file, &state.pid_fd)) {
		case PID_FILE_OURS: break;
		case PID_FILE_HELD: return release_all(&state, 0);
		case PID_FILE_ERROR: return release_all(&state, 1);
		}
	}
	state.pid_file = opts.pid_file;

	state.base = event_base_new();
	if (!state.base) {
		xs_log(LEVEL_ERROR, "cannot create the event loop");
		return release_all(&state, 1);
	}
	state.server = server_new(state.root, &config);
	if (!state.server) {
		xs_log(LEVEL_ERROR, "cannot start the server: %s",
		       strerror(errno));
		return release_all(&state, 1);
	}

	if (state.journal)
		posix_journal_forget_old(state.journal);
	if (server_restored(state.server))
		xs_log(LEVEL_INFO, "took over the state that a daemon which died "
		       "left in %s", state.persist_file);
	else if (state.persist_file)
		xs_log(LEVEL_INFO, "keeping the state in %s as it changes",
		       state.persist_file);

	if (!start_rings(&state, &opts, &lu)) {
		return release_all(&state, 1);
	}

	if (opts.no_socket) {
		xs_log(LEVEL_WARNING, "--no-socket: no Unix socket is served");
	} else if (opts.live_update && lu.global.socket_fd >= 0) {
		path = socket_path(state.root);
		state.listener = path ? unix_listener_adopt(state.root,
							   state.base,
							   state.server,
							   lu.global.socket_fd,
							   path) : NULL;
		if (!state.listener)
			return release_all(&state, 1);
		xs_log(LEVEL_INFO, "live update: listening on %s again", path);
	} else {
		path = socket_path(state.root);
		state.listener = path ? unix_listen(state.root, state.base,
						    state.server, path) : NULL;
		if (!state.listener) {
			return release_all(&state, 1);
		}
		xs_log(LEVEL_INFO, "listening on %s", path);
	}

	if (opts.live_update && !restore_live_update_state(&state, &lu))
		return release_all(&state, 1);
	state.live_update = event_new(state.base, -1, 0, on_live_update,
				      state.server);
	resume_event = event_new(state.base, -1, 0, on_resume, state.server);
	if (!resume_event || !state.live_update) {
		xs_log(LEVEL_ERROR, "cannot create the resume event");
		return release_all(&state, 1);
	}
	state.signals[0] = add_signal(&state, SIGTERM, on_stop_signal);
	state.signals[1] = add_signal(&state, SIGINT, on_stop_signal);
	state.signals[2] = add_signal(&state, SIGHUP, on_hangup);
	state.tick = event_new(state.base, -1, EV_PERSIST, on_tick, &state);
	if (!state.tick || event_add(state.tick, &one_second) != 0) {
		xs_log(LEVEL_ERROR, "cannot start the timer");
		return release_all(&state, 1);
	}
	on_tick(-1, 0, &state);
	/* The socket accepts from here on: tell systemd (Type=notify). */
	sd_notify(0, "READY=1");

	event_base_dispatch(state.base);

	sd_notify(0, "STOPPING=1");
	return release_all(&state, state.exit_status);
}
