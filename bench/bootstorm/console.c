/*
 * xenconsoled: watches @introduceDomain and @releaseDomain; for each new
 * domain (found by a hypercall, here the harness's table) it watches the
 * domain's console directory and, once ring-ref and port are there, opens
 * a pty and writes console/tty.  Single-threaded, synchronous requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "loop.h"

static struct xs_conn *conn;
static struct coro *self;
static bool waiting, stopping, finished;
static bool introduce_pending, release_pending;
static unsigned release_events;

/* Domains whose console watch fired, in order. */
static unsigned *fired;
static size_t fired_head, n_fired, cap_fired;
static unsigned next_scan;	/* VMs below this index were looked at */
static unsigned next_reap;	/* position in shutdown_list */

static void wake(void)
{
	if (waiting)
		loop_wake(self);
}

static void on_event(struct xs_conn *c, const char *path, const char *token,
		     void *arg)
{
	if (!strcmp(token, "introduce")) {
		introduce_pending = true;
	} else if (!strcmp(token, "release")) {
		/* The first event is the watch's own firing. */
		if (release_events++ > 0 &&
		    release_events - 2 < releases_fired)
			hist_add(&stats.release_latency,
				 now_ns() - release_fired_at[release_events - 2]);
		release_pending = true;
	} else {
		if (n_fired == cap_fired) {
			cap_fired = cap_fired ? cap_fired * 2 : 256;
			fired = realloc(fired, cap_fired * sizeof(*fired));
			if (!fired)
				exit(2);
		}
		fired[n_fired++] = (unsigned)atoi(token);
	}
	wake();
}

static void console_path(char *buf, size_t sz, unsigned domid)
{
	fmt_(buf, sz, "/local/domain/%u/console", domid);
}

/* enum_domains(): new domains get a console watch. */
static void enum_domains(void)
{
	char p[64], tok[16];

	for (; next_scan < opt.n && vms[next_scan].phase >= VM_CREATING;
	     next_scan++) {
		struct vm *vm = &vms[next_scan];

		if (vm->phase >= VM_GONE || vm->console_known)
			continue;
		vm->console_known = true;
		console_path(p, sizeof(p), vm->domid);
		fmt(tok, "%u", vm->domid);
		if (xs_watch(conn, p, tok))
			vm_fail(vm, "console: watch %s failed", p);
	}
}

/* Dead domains lose their watch (cleanup_domain). */
static void reap_domains(void)
{
	char p[64], tok[16];

	while (next_reap < vms_shutdown) {
		struct vm *vm = shutdown_list[next_reap++];

		if (!vm->console_known)
			continue;
		vm->console_known = false;
		console_path(p, sizeof(p), vm->domid);
		fmt(tok, "%u", vm->domid);
		if (xs_unwatch(conn, p, tok))
			stats_failure("console: unwatch %s failed", p);
	}
}

/* domain_create_ring(): read the ring's details, then publish the tty. */
static void console_changed(unsigned domid)
{
	struct vm *vm = vm_by_domid(domid);
	char p[96], v[64];
	int err;

	if (!vm || !vm->console_known)
		return;
	fmt(p, "%s/console/ring-ref", vm->dom);
	err = xs_read(conn, 0, p, v, sizeof(v));
	if (!err) {
		fmt(p, "%s/console/port", vm->dom);
		err = xs_read(conn, 0, p, v, sizeof(v));
	}
	if (err == ENOENT)
		return;		/* not written yet: the watch fires again */
	if (err) {
		vm_fail(vm, "console: read %s: %s", p, strerror(err));
		return;
	}
	if (vm->console_tty)
		return;
	fmt(p, "%s/console/type", vm->dom);
	if (xs_read(conn, 0, p, v, sizeof(v)) == ENOENT)
		return;
	fmt(p, "%s/console/tty", vm->dom);
	fmt(v, "/dev/pts/%u", vm->domid % 4096);
	err = xs_write(conn, 0, p, v);
	if (err) {
		vm_fail(vm, "console: write %s: %s", p, strerror(err));
		return;
	}
	vm->console_tty = true;
	vm_check_up(vm);
}

static void console_main(void *arg)
{
	if (xs_watch(conn, introduce_path(), "introduce") ||
	    xs_watch(conn, release_path(), "release"))
		stats_failure("console: cannot watch the domain events");
	for (;;) {
		while (!introduce_pending && !release_pending &&
		       fired_head == n_fired &&
		       !stopping) {
			waiting = true;
			coro_yield();
			waiting = false;
		}
		if (introduce_pending) {
			introduce_pending = false;
			enum_domains();
		} else if (fired_head < n_fired) {
			unsigned domid = fired[fired_head++];

			if (fired_head == n_fired)
				fired_head = n_fired = 0;
			console_changed(domid);
		} else if (release_pending) {
			release_pending = false;
			reap_domains();
		} else {
			break;
		}
	}
	xs_close(conn);
	conn = NULL;
	finished = true;
}

void console_start(void)
{
	conn = xs_connect_unix(opt.socket, ACTOR_CONSOLE);
	if (!conn) {
		perror("bootstorm: console connect");
		exit(2);
	}
	xs_set_event_handler(conn, on_event, NULL);
	self = coro_new(console_main, NULL);
	loop_wake(self);
}

void console_stop(void)
{
	stopping = true;
	wake();
}

bool console_finished(void)
{
	return finished;
}
