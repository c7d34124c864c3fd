/*
 * A guest's kernel (Linux PV): after its boot delay it connects, sets its
 * watches (control/shutdown, control/sysrq, memory/target, cpu, device)
 * and feature flags in one pipelined batch, enumerates its devices and
 * runs blkfront's and netfront's state handshakes with the backends.  On
 * "poweroff" it acknowledges, closes its devices and halts.  Like Linux,
 * one coroutine (xenwatch) handles the events in order; independent reads
 * are pipelined.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "loop.h"

struct gevent {
	char *path;
	char token[16];
};

struct guest {
	struct vm *vm;
	struct xs_conn *c;
	struct coro *co;
	bool waiting, halting;
	struct gevent *q;
	size_t q_head, q_len, q_cap;
};

static void on_event(struct xs_conn *c, const char *path, const char *token,
		     void *arg)
{
	struct guest *g = arg;

	if (g->q_len == g->q_cap) {
		size_t cap = g->q_cap ? g->q_cap * 2 : 16;
		struct gevent *n = malloc(cap * sizeof(*n));

		if (!n)
			exit(2);
		for (size_t i = 0; i < g->q_len; i++)
			n[i] = g->q[(g->q_head + i) % g->q_cap];
		free(g->q);
		g->q = n;
		g->q_cap = cap;
		g->q_head = 0;
	}
	struct gevent *e = &g->q[(g->q_head + g->q_len) % g->q_cap];

	/* A backend's state change reaching its frontend. */
	if (!strncmp(token, "oe:", 3)) {
		int t = atoi(token + 3);

		if (t >= 0 && t < NDEVS && g->vm->dev[t].be_state_at) {
			note_state_event(g->vm->dev[t].be_state_at);
			g->vm->dev[t].be_state_at = 0;
		}
	}
	e->path = strdup(path);
	snprintf(e->token, sizeof(e->token), "%s", token);
	g->q_len++;
	if (g->waiting)
		loop_wake(g->co);
}

static bool check(struct guest *g, int err, const char *what,
		  const char *path)
{
	if (!err)
		return true;
	vm_fail(g->vm, "guest: %s %s: %s", what, path, strerror(err));
	return false;
}

/* Several reads in flight at once; ENOENT is fine for @optional ones. */
static void read_many(struct guest *g, const char *base,
		      const char *const *keys, size_t n, bool optional)
{
	struct xs_op *ops[16];
	char p[160];

	for (size_t i = 0; i < n; i++) {
		fmt(p, "%s/%s", base, keys[i]);
		ops[i] = xs_send(g->c, 0, XS_READ, p, strlen(p) + 1);
	}
	for (size_t i = 0; i < n; i++) {
		int err = xs_wait(ops[i]);

		if (err && !(optional && err == ENOENT))
			check(g, err, "read", keys[i]);
		xs_op_free(ops[i]);
	}
}

static void fe_switch(struct guest *g, struct device *d, int state)
{
	char p[128];

	fmt(p, "%s/state", d->fe);
	if (check(g, switch_state(g->c, p, state, &d->fe_state_at),
		  "switch state", p)) {
		d->fe_state = state;
		if (state == XB_CONNECTED)
			vm_check_up(g->vm);
	}
}

struct writes {
	struct device *d;
	const char *const (*kv)[2];
	size_t n;
};

static int write_body(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct writes *w = arg;

	for (size_t i = 0; i < w->n; i++) {
		char p[160];
		int err;

		fmt(p, "%s/%s", w->d->fe, w->kv[i][0]);
		if ((err = xs_write(c, tx, p, w->kv[i][1])))
			return err;
	}
	return 0;
}

static const char *const blk_rings[][2] = {
	{ "ring-ref", "8" }, { "event-channel", "5" },
	{ "protocol", "x86_64-abi" }, { "feature-persistent", "1" },
};
static const char *const net_rings[][2] = {
	{ "tx-ring-ref", "9" }, { "rx-ring-ref", "10" },
	{ "event-channel", "6" }, { "request-rx-copy", "1" },
	{ "feature-rx-notify", "1" }, { "feature-sg", "1" },
	{ "feature-gso-tcpv4", "1" }, { "feature-gso-tcpv6", "1" },
	{ "feature-ipv6-csum-offload", "1" },
};

static void blkfront_changed(struct guest *g, struct device *d, int be)
{
	static const char *const ring_info[] = {
		"max-ring-page-order", "multi-queue-max-queues",
	};
	static const char *const disk_info[] = {
		"sectors", "info", "sector-size", "physical-sector-size",
		"feature-flush-cache", "feature-discard", "feature-persistent",
		"feature-max-indirect-segments",
	};
	struct writes w = { d, blk_rings, sizeof(blk_rings) / sizeof(*blk_rings) };

	switch (be) {
	case XB_INITWAIT:	/* talk_to_blkback */
		if (d->fe_state != XB_INITIALISING)
			break;
		read_many(g, d->be, ring_info, 2, true);
		if (check(g, with_tx(g->c, TX_FRONTEND_RINGS, write_body, &w),
			  "transaction", "blkfront rings"))
			fe_switch(g, d, XB_INITIALISED);
		break;
	case XB_CONNECTED:	/* blkfront_connect */
		if (d->fe_state != XB_INITIALISED)
			break;
		read_many(g, d->be, disk_info, 8, true);
		fe_switch(g, d, XB_CONNECTED);
		break;
	case XB_CLOSING:	/* blkfront_closing */
		if (d->fe_state != XB_CLOSED)
			fe_switch(g, d, XB_CLOSED);
		break;
	default:
		break;
	}
}

static void netfront_changed(struct guest *g, struct device *d, int be)
{
	static const char *const queues[] = {
		"multi-queue-max-queues", "feature-split-event-channels",
	};
	struct writes w = { d, net_rings, sizeof(net_rings) / sizeof(*net_rings) };
	char p[160];

	switch (be) {
	case XB_INITWAIT:	/* xennet_connect */
		if (d->fe_state != XB_INITIALISING)
			break;
		read_many(g, d->be, queues, 2, true);
		if (!check(g, with_tx(g->c, TX_FRONTEND_RINGS, write_body, &w),
			   "transaction", "netfront rings"))
			break;
		fmt(p, "%s/feature-rx-copy", d->be);
		check(g, xs_read(g->c, 0, p, NULL, 0), "read", p);
		fe_switch(g, d, XB_CONNECTED);
		break;
	case XB_CLOSING:
		if (d->fe_state != XB_CLOSED)
			fe_switch(g, d, XB_CLOSED);
		break;
	default:
		break;
	}
}

static void otherend_changed(struct guest *g, struct device *d)
{
	char p[128], v[16];
	int err, state;

	fmt(p, "%s/state", d->be);
	err = xs_read(g->c, 0, p, v, sizeof(v));
	if (err && err != ENOENT)
		check(g, err, "read", p);
	state = err ? XB_UNKNOWN : atoi(v);
	d->fe_seen_be = state;
	if (d->type == DEV_VBD)
		blkfront_changed(g, d, state);
	else
		netfront_changed(g, d, state);
}

/* xenbus_probe_node + talk_to_otherend + the driver's probe. */
static void probe(struct guest *g, struct device *d)
{
	static const char *const otherend[] = { "backend-id", "backend" };
	static const char *const vbd_id[] = { "virtual-device-ext" };
	static const char *const vbd_dev[] = { "virtual-device" };
	static const char *const vif_mac[] = { "mac" };
	char p[128], tok[16], v[16];

	fmt(p, "%s/state", d->fe);
	if (xs_read(g->c, 0, p, v, sizeof(v)) || atoi(v) != XB_INITIALISING)
		return;
	d->fe_probed = true;
	read_many(g, d->fe, otherend, 2, false);
	if (d->type == DEV_VBD) {
		read_many(g, d->fe, vbd_id, 1, true);
		read_many(g, d->fe, vbd_dev, 1, false);
	} else {
		read_many(g, d->fe, vif_mac, 1, false);
	}
	d->fe_state = XB_INITIALISING;
	fmt(p, "%s/state", d->be);
	fmt(tok, "oe:%d", d->type);
	check(g, xs_watch(g->c, p, tok), "watch", p);
}

static struct device *device_named(struct vm *vm, const char *type,
				   const char *id)
{
	for (int i = 0; i < NDEVS; i++) {
		struct device *d = &vm->dev[i];
		char want[16];

		fmt(want, "%u", d->devid);
		if (!strcmp(type, d->type == DEV_VBD ? "vbd" : "vif") &&
		    !strcmp(id, want))
			return d;
	}
	return NULL;
}

/* A node that is not a device of ours (device/suspend/event-channel). */
static void probe_other(struct guest *g, const char *type, const char *id)
{
	char p[160];

	fmt(p, "%s/device/%s/%s/state", g->vm->dom, type, id);
	xs_read(g->c, 0, p, NULL, 0);
}

/* xenbus_probe_devices at boot. */
static void enumerate(struct guest *g)
{
	char p[96];
	struct xs_list types;

	fmt(p, "%s/device", g->vm->dom);
	if (!check(g, xs_directory(g->c, 0, p, &types), "directory", p))
		return;
	for (const char *t = types.buf; t < types.buf + types.len;
	     t += strlen(t) + 1) {
		struct xs_list ids;
		char tp[128];

		fmt(tp, "%s/%s", p, t);
		if (!check(g, xs_directory(g->c, 0, tp, &ids), "directory", tp))
			continue;
		for (const char *id = ids.buf; id < ids.buf + ids.len;
		     id += strlen(id) + 1) {
			struct device *d = device_named(g->vm, t, id);

			if (d && !d->fe_probed)
				probe(g, d);
			else if (!d)
				probe_other(g, t, id);
		}
		xs_list_free(&ids);
	}
	xs_list_free(&types);
}

/* xenbus_dev_changed for the frontend bus: an existence check per event. */
static void device_changed(struct guest *g, const char *path)
{
	char base[96], type[16], id[16];
	struct xs_list l;
	struct device *d;
	int err;

	fmt(base, "%s/device/", g->vm->dom);
	if (strncmp(path, base, strlen(base)) ||
	    sscanf(path + strlen(base), "%15[^/]/%15[^/]", type, id) != 2)
		return;
	err = xs_directory(g->c, 0, path, &l);
	xs_list_free(&l);
	if (err == ENOENT)
		return;
	if (!check(g, err, "directory", path))
		return;
	d = device_named(g->vm, type, id);
	if (d && !d->fe_probed && !g->halting)
		probe(g, d);
}

struct control {
	const char *path;
	bool poweroff;
};

static int control_body(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct control *ctl = arg;
	char v[32];
	int err = xs_read(c, tx, ctl->path, v, sizeof(v));

	ctl->poweroff = false;
	if (err)
		return err;
	if (strcmp(v, "poweroff"))
		return 0;
	/* Only acknowledge commands we handle, as Linux does. */
	ctl->poweroff = true;
	return xs_write(c, tx, ctl->path, "");
}

/* shutdown_handler / sysrq_handler: a read in a transaction.  True when
 * the toolstack asked for a poweroff (now acknowledged). */
static bool control_changed(struct guest *g, const char *key)
{
	char p[96];
	struct control ctl = { p, false };
	int err;

	fmt(p, "%s/control/%s", g->vm->dom, key);
	err = with_tx(g->c, TX_GUEST_CONTROL, control_body, &ctl);
	if (err && err != ENOENT)
		check(g, err, "transaction", p);
	return !err && ctl.poweroff;
}

/* Poweroff: every connected frontend goes to Closing. */
static void start_halt(struct guest *g)
{
	g->halting = true;
	for (int i = 0; i < NDEVS; i++) {
		struct device *d = &g->vm->dev[i];

		if (d->fe_state == XB_CONNECTED)
			fe_switch(g, d, XB_CLOSING);
	}
}

static bool halted(struct guest *g)
{
	for (int i = 0; i < NDEVS; i++) {
		struct device *d = &g->vm->dev[i];

		if (d->fe_probed && (d->fe_state != XB_CLOSED ||
				     (d->fe_seen_be != XB_CLOSED &&
				      d->fe_seen_be != XB_UNKNOWN)))
			return false;
	}
	return true;
}

static void handle(struct guest *g, struct gevent *e)
{
	const char *rel = e->path + strlen(g->vm->dom);

	if (!strcmp(e->token, "shutdown")) {
		if (!g->halting && control_changed(g, "shutdown"))
			start_halt(g);
	} else if (!strcmp(e->token, "sysrq")) {
		control_changed(g, "sysrq");
	} else if (!strcmp(e->token, "target")) {
		xs_read(g->c, 0, e->path, NULL, 0);
	} else if (!strcmp(e->token, "cpu")) {
		if (strstr(rel, "/availability"))
			xs_read(g->c, 0, e->path, NULL, 0);
	} else if (!strcmp(e->token, "device")) {
		device_changed(g, e->path);
	} else if (!strncmp(e->token, "oe:", 3)) {
		int t = atoi(e->token + 3);

		if (t >= 0 && t < NDEVS)
			otherend_changed(g, &g->vm->dev[t]);
	}
}

static void guest_main(void *arg)
{
	struct guest *g = arg;
	struct vm *vm = g->vm;
	static const char *const watches[][2] = {
		{ "control/shutdown", "shutdown" },
		{ "control/sysrq", "sysrq" },
		{ "memory/target", "target" },
		{ "cpu", "cpu" },
		{ "device", "device" },
	};
	/* Linux's setup_shutdown_watcher; libxl made these nodes writable. */
	static const char *const features[] = {
		"control/feature-poweroff", "control/feature-reboot",
		"control/feature-suspend",
	};
	const size_t n_watches = sizeof(watches) / sizeof(*watches);
	struct xs_op *ops[16];
	size_t n = 0;
	char p[128];

	g->c = connect_guest(vm);
	if (!g->c) {
		vm_fail(vm, "guest: connect: %s", strerror(errno));
		return;
	}
	xs_set_event_handler(g->c, on_event, g);
	for (size_t i = 0; i < sizeof(watches) / sizeof(*watches); i++) {
		fmt(p, "%s/%s", vm->dom, watches[i][0]);
		ops[n++] = xs_send_watch(g->c, p, watches[i][1]);
	}
	for (size_t i = 0; i < sizeof(features) / sizeof(*features); i++) {
		fmt(p, "%s/%s", vm->dom, features[i]);
		ops[n++] = xs_send_write(g->c, 0, p, "1");
	}
	for (size_t i = 0; i < n; i++) {
		bool watch = i < n_watches;

		check(g, xs_wait(ops[i]), watch ? "watch" : "write",
		      watch ? watches[i][0] : features[i - n_watches]);
		if (watch && !ops[i]->err)
			xs_count_watch(g->c, 1);
		xs_op_free(ops[i]);
	}
	enumerate(g);
	for (;;) {
		while (!g->q_len) {
			g->waiting = true;
			coro_yield();
			g->waiting = false;
		}
		struct gevent e = g->q[g->q_head];
		g->q_head = (g->q_head + 1) % g->q_cap;
		g->q_len--;
		handle(g, &e);
		free(e.path);
		if (g->halting && halted(g))
			break;
	}
	/* The domain halts: its connection goes, the hypervisor notices. */
	while (g->q_len) {
		free(g->q[g->q_head].path);
		g->q_head = (g->q_head + 1) % g->q_cap;
		g->q_len--;
	}
	xs_close(g->c);
	g->c = NULL;
	free(g->q);
	vm->guest = NULL;
	free(g);
	hypervisor_shutdown(vm);
}

static void boot_now(void *arg)
{
	struct vm *vm = arg;
	struct guest *g = calloc(1, sizeof(*g));

	if (!g)
		exit(2);
	g->vm = vm;
	vm->guest = g;
	g->co = coro_new(guest_main, g);
	loop_wake(g->co);
}

void guest_boot(struct vm *vm)
{
	uint64_t delay = opt.boot_delay_ns;

	if (delay) {
		/* +-50% jitter from the seed: guests do not boot in step. */
		delay = delay / 2 + (uint64_t)(rnd() % 1000) * delay / 1000;
		loop_at(now_ns() + delay, boot_now, vm);
	} else {
		boot_now(vm);
	}
}
