/*
 * The dom0 kernel's backends, blkback and netback, on one connection: a
 * subtree watch on /local/domain/0/backend and, per device, watches on
 * the frontend's state (the "otherend") and on physical-device (blkback)
 * or hotplug-status (netback).  Like Linux's single xenwatch thread, one
 * coroutine handles the events in order with synchronous requests: a
 * DIRECTORY existence check per subtree event (xenbus_dev_changed), then
 * the drivers' state machines, each state switch its own transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "loop.h"

#define BACKEND_ROOT "/local/domain/0/backend"

struct event {
	char *path;
	char token[24];
};

static struct xs_conn *conn;
static struct event *queue;
static size_t q_head, q_len, q_cap;
static struct coro *xenwatch;
static bool xenwatch_waiting, stopping, busy;

static void on_event(struct xs_conn *c, const char *path, const char *token,
		     void *arg)
{
	if (q_len == q_cap) {
		size_t cap = q_cap ? q_cap * 2 : 1024;
		struct event *n = malloc(cap * sizeof(*n));

		if (!n)
			exit(2);
		for (size_t i = 0; i < q_len; i++)
			n[i] = queue[(q_head + i) % q_cap];
		free(queue);
		queue = n;
		q_cap = cap;
		q_head = 0;
	}
	struct event *e = &queue[(q_head + q_len) % q_cap];
	unsigned domid, t;
	struct vm *vm;

	/* A frontend's state change reaching its backend. */
	if (sscanf(token, "oe:%u:%u", &domid, &t) == 2 && t < NDEVS &&
	    (vm = vm_by_domid(domid)) && vm->dev[t].fe_state_at) {
		note_state_event(vm->dev[t].fe_state_at);
		vm->dev[t].fe_state_at = 0;
	}
	e->path = strdup(path);
	snprintf(e->token, sizeof(e->token), "%s", token);
	q_len++;
	if (xenwatch_waiting)
		loop_wake(xenwatch);
}

static bool check(struct device *d, int err, const char *what,
		  const char *path)
{
	if (!err)
		return true;
	vm_fail(d->vm, "backend: %s %s: %s", what, path, strerror(err));
	return false;
}

static void be_switch(struct device *d, int state)
{
	char p[128];

	fmt(p, "%s/state", d->be);
	if (check(d, switch_state(conn, p, state, &d->be_state_at),
		  "switch state", p)) {
		d->be_state = state;
		if (state == XB_CONNECTED)
			vm_check_up(d->vm);
	}
}

static int rd(struct device *d, const char *base, const char *key,
	      char *val, size_t sz, bool optional)
{
	char p[160];
	int err;

	fmt(p, "%s/%s", base, key);
	err = xs_read(conn, 0, p, val, sz);
	if (err == ENOENT && optional)
		return err;
	check(d, err, "read", p);
	return err;
}

static void wr(struct device *d, uint32_t tx, const char *key, const char *v)
{
	char p[160];

	fmt(p, "%s/%s", d->be, key);
	check(d, xs_write(conn, tx, p, v), "write", p);
}

static void watch_dev(struct device *d, const char *path, const char *kind)
{
	char tok[32];

	fmt(tok, "%s:%u:%d", kind, d->vm->domid, d->type);
	check(d, xs_watch(conn, path, tok), "watch", path);
}

static void unwatch_dev(struct device *d, const char *path, const char *kind)
{
	char tok[32];

	fmt(tok, "%s:%u:%d", kind, d->vm->domid, d->type);
	check(d, xs_unwatch(conn, path, tok), "unwatch", path);
}

static void device_unregister(struct device *d)
{
	char p[160];

	if (!d->be_registered)
		return;
	d->be_registered = false;
	if (d->be_otherend_watch) {
		fmt(p, "%s/state", d->fe);
		unwatch_dev(d, p, "oe");
		d->be_otherend_watch = false;
	}
	if (d->be_dev_watch) {
		if (d->type == DEV_VBD) {
			fmt(p, "%s/physical-device", d->be);
			unwatch_dev(d, p, "pd");
		} else {
			fmt(p, "%s/hotplug-status", d->be);
			unwatch_dev(d, p, "hs");
		}
		d->be_dev_watch = false;
	}
}

static int blk_connect_body(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct device *d = arg;
	static const char *const keys[][2] = {
		{ "feature-flush-cache", "1" }, { "feature-discard", "1" },
		{ "discard-granularity", "4096" }, { "discard-alignment", "0" },
		{ "discard-secure", "0" }, { "feature-persistent", "1" },
		{ "sectors", "20971520" }, { "info", "0" },
		{ "sector-size", "512" }, { "physical-sector-size", "512" },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		char p[160];
		int err;

		fmt(p, "%s/%s", d->be, keys[i][0]);
		if ((err = xs_write(c, tx, p, keys[i][1])))
			return err;
	}
	return 0;
}

/* xen_update_blkif_status: connect once the disk and the rings are there. */
static void blk_maybe_connect(struct device *d)
{
	if (d->be_state == XB_CONNECTED || !d->be_phys_ready ||
	    (d->be_seen_fe != XB_INITIALISED && d->be_seen_fe != XB_CONNECTED))
		return;
	if (!check(d, with_tx(conn, TX_BACKEND_CONNECT, blk_connect_body, d),
		   "transaction", "blkback connect"))
		return;
	be_switch(d, XB_CONNECTED);
}

/* blkback's connect_ring: what the frontend published. */
static void blk_connect_ring(struct device *d)
{
	char v[64];

	rd(d, d->fe, "ring-ref", v, sizeof(v), false);
	rd(d, d->fe, "event-channel", v, sizeof(v), false);
	rd(d, d->fe, "protocol", v, sizeof(v), true);
	rd(d, d->fe, "feature-persistent", v, sizeof(v), true);
	rd(d, d->fe, "multi-queue-num-queues", v, sizeof(v), true);
	rd(d, d->fe, "ring-page-order", v, sizeof(v), true);
}

static void net_connect(struct device *d)
{
	static const char *const fe_keys[] = {
		"multi-queue-num-queues", "tx-ring-ref", "rx-ring-ref",
		"event-channel", "request-rx-copy", "feature-rx-notify",
		"feature-sg", "feature-gso-tcpv4", "feature-gso-tcpv6",
		"feature-no-csum-offload", "feature-ipv6-csum-offload",
		"feature-multicast-control", "feature-ctrl-ring",
	};
	char v[64], p[160];

	for (size_t i = 0; i < sizeof(fe_keys) / sizeof(*fe_keys); i++)
		rd(d, d->fe, fe_keys[i], v, sizeof(v), true);
	rd(d, d->be, "rate", v, sizeof(v), true);
	rd(d, d->be, "mac", v, sizeof(v), false);
	/* The hotplug script's verdict; its watch fires at once. */
	fmt(p, "%s/hotplug-status", d->be);
	watch_dev(d, p, "hs");
	d->be_dev_watch = true;
}

static void otherend_changed(struct device *d)
{
	char v[16];
	int err, state;

	err = rd(d, d->fe, "state", v, sizeof(v), true);
	state = err ? XB_UNKNOWN : atoi(v);
	d->be_seen_fe = state;
	switch (state) {
	case XB_INITIALISED:
	case XB_CONNECTED:
		if (d->be_state == XB_CONNECTED)
			break;
		if (d->type == DEV_VBD) {
			blk_connect_ring(d);
			blk_maybe_connect(d);
		} else if (state == XB_CONNECTED && !d->be_dev_watch) {
			net_connect(d);
		}
		break;
	case XB_CLOSING:
		if (d->be_state != XB_CLOSING && d->be_state != XB_CLOSED)
			be_switch(d, XB_CLOSING);
		break;
	case XB_CLOSED:
		if (d->be_state != XB_CLOSED)
			be_switch(d, XB_CLOSED);
		if (!rd(d, d->be, "online", v, sizeof(v), true) && atoi(v))
			break;
		device_unregister(d);
		break;
	case XB_UNKNOWN:
		device_unregister(d);
		break;
	default:
		break;
	}
}

/* blkback's backend_changed: the hotplug script published the disk. */
static void physical_device_changed(struct device *d)
{
	char v[64];

	if (rd(d, d->be, "physical-device", v, sizeof(v), true) ||
	    d->be_phys_ready)
		return;
	rd(d, d->be, "mode", v, sizeof(v), false);
	rd(d, d->fe, "device-type", v, sizeof(v), true);
	rd(d, d->be, "discard-enable", v, sizeof(v), true);
	d->be_phys_ready = true;
	blk_maybe_connect(d);
}

/* netback's hotplug_status_changed. */
static void hotplug_status_changed(struct device *d)
{
	char v[32], p[160];

	if (rd(d, d->be, "hotplug-status", v, sizeof(v), true) ||
	    strcmp(v, "connected"))
		return;
	if (d->be_state != XB_CONNECTED)
		be_switch(d, XB_CONNECTED);
	if (d->be_dev_watch) {
		fmt(p, "%s/hotplug-status", d->be);
		unwatch_dev(d, p, "hs");
		d->be_dev_watch = false;
	}
}

static int net_probe_body(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct device *d = arg;
	static const char *const keys[][2] = {
		{ "feature-sg", "1" }, { "feature-gso-tcpv4", "1" },
		{ "feature-gso-tcpv6", "1" },
		{ "feature-ipv6-csum-offload", "1" },
		{ "feature-rx-copy", "1" }, { "feature-rx-flip", "0" },
		{ "feature-multicast-control", "1" },
		{ "feature-dynamic-multicast-control", "1" },
		{ "feature-split-event-channels", "1" },
		{ "multi-queue-max-queues", "2" }, { "feature-ctrl-ring", "1" },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		char p[160];
		int err;

		fmt(p, "%s/%s", d->be, keys[i][0]);
		if ((err = xs_write(c, tx, p, keys[i][1])))
			return err;
	}
	return 0;
}

/* xenbus_probe_node + the driver's probe. */
static void probe(struct device *d)
{
	char v[128], p[160];

	if (rd(d, d->be, "state", v, sizeof(v), true) ||
	    atoi(v) != XB_INITIALISING)
		return;
	d->be_registered = true;
	d->be_phys_ready = false;
	d->be_seen_fe = XB_UNKNOWN;
	/* talk_to_otherend: xenbus_gather(frontend-id, frontend) */
	rd(d, d->be, "frontend-id", v, sizeof(v), false);
	rd(d, d->be, "frontend", v, sizeof(v), false);
	if (d->type == DEV_VBD) {
		wr(d, 0, "feature-max-indirect-segments", "256");
		wr(d, 0, "max-ring-page-order", "4");
		wr(d, 0, "multi-queue-max-queues", "2");
		fmt(p, "%s/physical-device", d->be);
		watch_dev(d, p, "pd");
		d->be_dev_watch = true;
	} else {
		rd(d, d->be, "script", v, sizeof(v), false);
		check(d, with_tx(conn, TX_BACKEND_CONNECT, net_probe_body, d),
		      "transaction", "netback probe");
	}
	be_switch(d, XB_INITWAIT);
	/* watch_otherend, after the driver's probe */
	fmt(p, "%s/state", d->fe);
	watch_dev(d, p, "oe");
	d->be_otherend_watch = true;
}

/* The device a backend path names: type/domid/devid under BACKEND_ROOT. */
static struct device *device_at(const char *rel, size_t *rootlen)
{
	char type[16];
	unsigned domid, devid;
	int n = 0;
	struct vm *vm;

	if (sscanf(rel, "%15[^/]/%u/%u%n", type, &domid, &devid, &n) != 3)
		return NULL;
	*rootlen = (size_t)n;
	vm = vm_by_domid(domid);
	if (!vm)
		return NULL;
	if (!strcmp(type, "vbd"))
		return &vm->dev[DEV_VBD];
	if (!strcmp(type, "vif"))
		return &vm->dev[DEV_VIF];
	return NULL;	/* consoles: no driver in dom0's kernel */
}

static void cleanup_devices(const char *path)
{
	const char *rel = path + strlen(BACKEND_ROOT) + 1;
	char type[16];
	unsigned domid;
	struct vm *vm;

	/* Every registered device at or below @path. */
	if (sscanf(rel, "%15[^/]/%u", type, &domid) != 2)
		return;
	vm = vm_by_domid(domid);
	if (!vm)
		return;
	for (int i = 0; i < NDEVS; i++) {
		struct device *d = &vm->dev[i];

		if (d->be_registered && !strncmp(d->be, path, strlen(path)))
			device_unregister(d);
	}
}

/* xenbus_dev_changed for the backend bus. */
static void backend_changed(const char *path)
{
	const char *rel;
	struct xs_list l;
	struct device *d;
	size_t rootlen;
	int err, slashes = 0;

	if (strncmp(path, BACKEND_ROOT "/", strlen(BACKEND_ROOT) + 1))
		return;
	rel = path + strlen(BACKEND_ROOT) + 1;
	for (const char *s = rel; *s; s++)
		slashes += *s == '/';
	if (slashes < 1)
		return;		/* backend/<type>: not a device yet */
	err = xs_directory(conn, 0, path, &l);	/* xenbus_exists() */
	xs_list_free(&l);
	if (err == ENOENT) {
		cleanup_devices(path);
		return;
	}
	if (err) {
		stats_failure("backend: directory %s: %s", path, strerror(err));
		return;
	}
	d = device_at(rel, &rootlen);
	if (d && !d->be_registered && d->vm->phase < VM_SHUTDOWN &&
	    (rel[rootlen] == 0 || rel[rootlen] == '/'))
		probe(d);
}

static void handle(struct event *e)
{
	unsigned domid, t;
	char kind[4];
	struct vm *vm;
	struct device *d;

	if (!strcmp(e->token, "be")) {
		backend_changed(e->path);
		return;
	}
	if (sscanf(e->token, "%3[a-z]:%u:%u", kind, &domid, &t) != 3 ||
	    t >= NDEVS || !(vm = vm_by_domid(domid)))
		return;
	d = &vm->dev[t];
	if (!d->be_registered)
		return;		/* a late event for a removed device */
	if (!strcmp(kind, "oe"))
		otherend_changed(d);
	else if (!strcmp(kind, "pd"))
		physical_device_changed(d);
	else if (!strcmp(kind, "hs"))
		hotplug_status_changed(d);
}

static void xenwatch_main(void *arg)
{
	int err;

	if (opt.transport == TRANSPORT_SIM) {
		/* Dom0's ring outlives this process: forget the watches a
		 * previous run may have left, as a booting kernel does. */
		struct xs_op *op = xs_send(conn, 0, XS_RESET_WATCHES, "", 1);

		if (xs_wait(op))
			stats_failure("backend: reset watches: %s",
				      strerror(op->err));
		xs_op_free(op);
	}
	err = xs_watch(conn, BACKEND_ROOT, "be");

	if (err)
		stats_failure("backend: watch %s: %s", BACKEND_ROOT,
			      strerror(err));
	for (;;) {
		while (!q_len && !stopping) {
			xenwatch_waiting = true;
			busy = false;
			coro_yield();
			xenwatch_waiting = false;
		}
		if (!q_len)
			break;
		busy = true;
		struct event e = queue[q_head];
		q_head = (q_head + 1) % q_cap;
		q_len--;
		handle(&e);
		free(e.path);
	}
	busy = false;
	xs_unwatch(conn, BACKEND_ROOT, "be");
	xs_close(conn);
	conn = NULL;
}

void backend_start(void)
{
	conn = connect_dom0_kernel(ACTOR_BACKEND);
	if (!conn) {
		perror("bootstorm: backend connect");
		exit(2);
	}
	xs_set_event_handler(conn, on_event, NULL);
	xenwatch = coro_new(xenwatch_main, NULL);
	busy = true;
	loop_wake(xenwatch);
}

void backend_stop(void)
{
	stopping = true;
	if (xenwatch_waiting)
		loop_wake(xenwatch);
}

bool backend_idle(void)
{
	return !busy && q_len == 0;
}

bool backend_finished(void)
{
	return conn == NULL;
}
