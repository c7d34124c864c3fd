/*
 * Who notices that a VM halted and destroys it.  With libxl that is the
 * `xl create` child each VM keeps: its own connection, a @releaseDomain
 * watch, and on every release a hypercall to see whether its domain shut
 * down (so N monitors receive every release: O(N^2) events in a teardown
 * storm).  The shared mode is one toolstack daemon (xenopsd-like) with one
 * @releaseDomain watch that hands halted VMs to the toolstack's workers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "loop.h"

struct monitor {
	struct vm *vm;		/* NULL: the shared monitor */
	struct xs_conn *c;
	unsigned events;
	bool destroying;
};

static struct monitor *shared;
static unsigned next_to_destroy;	/* position in shutdown_list */

static void note_release(struct monitor *m)
{
	/* The first event is the watch's own firing. */
	if (m->events++ == 0)
		return;
	if (m->events - 2 < releases_fired)
		hist_add(&stats.release_latency,
			 now_ns() - release_fired_at[m->events - 2]);
}

static void destroy_main(void *arg)
{
	struct monitor *m = arg;

	toolstack_destroy(m->c, m->vm);
	/* xl exits once the domain is gone. */
	xs_close(m->c);
	m->vm->monitor = NULL;
	free(m);
}

static void on_event(struct xs_conn *c, const char *path, const char *token,
		     void *arg)
{
	struct monitor *m = arg;

	if (toolstack_event(path, token))
		return;		/* a device wait of the destroy under way */
	if (strcmp(token, "release"))
		return;
	note_release(m);
	if (!m->vm) {
		if (next_to_destroy < vms_shutdown)
			toolstack_kick();
		return;
	}
	/* libxl's domain death check is a hypercall: the table here. */
	if (m->vm->phase == VM_SHUTDOWN && !m->destroying) {
		m->destroying = true;
		loop_spawn(destroy_main, m);
	}
}

static void watched(struct xs_op *op, void *arg)
{
	struct monitor *m = arg;

	if (op->err)
		stats_failure("monitor: watch %s: %s", release_path(),
			      strerror(op->err));
	else
		xs_count_watch(m->c, 1);
}

static struct monitor *monitor_new(struct vm *vm)
{
	struct monitor *m = calloc(1, sizeof(*m));
	const char *path = release_path();
	char payload[64];
	size_t n;

	if (!m)
		exit(2);
	m->vm = vm;
	m->c = xs_connect_unix(opt.socket, ACTOR_MONITOR);
	if (!m->c) {
		if (vm)
			vm_fail(vm, "monitor: connect: %s", strerror(errno));
		else
			perror("bootstorm: monitor connect");
		free(m);
		return NULL;
	}
	xs_set_event_handler(m->c, on_event, m);
	n = strlen(path) + 1;
	memcpy(payload, path, n);
	memcpy(payload + n, "release", 8);
	xs_send_cb(m->c, 0, XS_WATCH, payload, n + 8, watched, m);
	return m;
}

void monitor_start_vm(struct vm *vm)
{
	struct monitor *m = monitor_new(vm);

	if (m)
		vm->monitor = m->c;
}

void monitor_start_shared(void)
{
	shared = monitor_new(NULL);
	if (!shared)
		exit(2);
}

void monitor_stop_shared(void)
{
	if (shared) {
		xs_close(shared->c);
		free(shared);
		shared = NULL;
	}
}

struct vm *monitor_next_to_destroy(void)
{
	if (next_to_destroy < vms_shutdown)
		return shutdown_list[next_to_destroy++];
	return NULL;
}
