/*
 * The toolstack: K concurrent `xl create`s (libxl, synchronous xenstore
 * calls on its own connection per process), later `xl shutdown`s, and
 * libxl_domain_destroy() for whoever monitors the VM.  The request
 * sequences follow libxl 4.17 (libxl_create.c, libxl_dom.c,
 * libxl_device.c): five transactions per VM, each retried on EAGAIN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "loop.h"

struct worker {
	unsigned id;
	struct xs_conn *c;
};

static struct worker *workers;
static unsigned next_create, next_shutdown;
static unsigned workers_busy;
static bool tearing_down;
static struct coro **idle_waiters;

static bool expect(struct vm *vm, int err, const char *what, const char *path)
{
	if (!err)
		return true;
	vm_fail(vm, "toolstack: %s %s: %s", what, path, strerror(err));
	return false;
}

/* libxl__xs_mknod: an empty node with permissions. */
static int mknod(struct xs_conn *c, uint32_t tx, const char *path,
		 const char *perms)
{
	int err = xs_write(c, tx, path, "");

	return err ? err : xs_set_perms(c, tx, path, perms);
}

#define CHECK(expr) do { int err_ = (expr); if (err_) return err_; } while (0)

/* The libxl name-uniqueness check: every running domain's name, read
 * outside the transaction (libxl_name_to_domid). */
static void name_scan(struct xs_conn *c, struct vm *self)
{
	char path[64];

	for (unsigned d = 1; d < first_vm_domid() + opt.n; d++) {
		if (!domain_exists(d))
			continue;
		fmt(path, "/local/domain/%u/name", d);
		/* A domain being created has no name yet: ENOENT is fine. */
		int err = xs_read(c, 0, path, NULL, 0);
		if (err && err != ENOENT)
			vm_fail(self, "name scan %s: %s", path, strerror(err));
	}
}

static int domain_make(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct vm *vm = arg;
	char p[128], ro[32], rw[16], vmp[64], lx[32];
	static const char *const ro_dirs[] = { "device", "control" };
	static const char *const rw_nodes[] = {
		"control/shutdown", "control/feature-poweroff",
		"control/feature-reboot", "control/feature-suspend",
		"control/sysrq", "device/suspend/event-channel", "data",
		"drivers", "feature", "attr", "error",
	};

	fmt(ro, "n0 r%u", vm->domid);
	vm_owned_perms(rw, sizeof(rw), vm->domid, NULL);
	fmt(vmp, "/vm/%s", vm->uuid);
	fmt(lx, "/libxl/%u", vm->domid);
	/* xs_rm's errors are ignored by libxl. */
	xs_rm(c, tx, vm->dom);
	CHECK(mknod(c, tx, vm->dom, ro));
	xs_rm(c, tx, vmp);
	CHECK(mknod(c, tx, vmp, ro));
	xs_rm(c, tx, lx);
	CHECK(mknod(c, tx, lx, "n0"));
	for (size_t i = 0; i < sizeof(ro_dirs) / sizeof(*ro_dirs); i++) {
		fmt(p, "%s/%s", vm->dom, ro_dirs[i]);
		CHECK(mknod(c, tx, p, ro));
	}
	for (size_t i = 0; i < sizeof(rw_nodes) / sizeof(*rw_nodes); i++) {
		fmt(p, "%s/%s", vm->dom, rw_nodes[i]);
		CHECK(mknod(c, tx, p, rw));
	}
	fmt(p, "%s/uuid", vmp);
	CHECK(xs_write(c, tx, p, vm->uuid));
	/* libxl__domain_rename() */
	if (opt.name_scan)
		name_scan(c, vm);
	fmt(p, "%s/name", vm->dom);
	int err = xs_read(c, tx, p, NULL, 0);
	if (err != ENOENT)
		return err ? err : EEXIST;
	CHECK(xs_write(c, tx, p, vm->name));
	fmt(p, "%s/name", vmp);
	CHECK(xs_write(c, tx, p, vm->name));
	fmt(p, "%s/vm", vm->dom);
	CHECK(xs_write(c, tx, p, vmp));
	fmt(p, "%s/control/platform-feature-multiprocessor-suspend", vm->dom);
	CHECK(xs_write(c, tx, p, "1"));
	fmt(p, "%s/control/platform-feature-xs_reset_watches", vm->dom);
	CHECK(xs_write(c, tx, p, "1"));
	fmt(p, "%s/start_time", vmp);
	CHECK(xs_write(c, tx, p, "1700000000.00"));
	fmt(p, "%s/type", lx);
	CHECK(xs_write(c, tx, p, "pv"));
	return 0;
}

static int build_post(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct vm *vm = arg;
	char p[128], v[32];
	static const char *const dom_keys[][2] = {
		{ "memory/static-max", "262144" },
		{ "memory/target", "262144" },
		{ "memory/videoram", "-1" },
		{ "store/port", "1" },
		{ "store/ring-ref", NULL },
		{ "cpu/0/availability", "online" },
	};
	static const char *const vm_keys[][2] = {
		{ "image/ostype", "linux" },
		{ "image/kernel", "/boot/vmlinuz-bootstorm" },
		{ "image/ramdisk", "/boot/initrd-bootstorm" },
		{ "image/cmdline", "root=/dev/xvda1 ro console=hvc0" },
	};

	for (size_t i = 0; i < sizeof(dom_keys) / sizeof(*dom_keys); i++) {
		fmt(p, "%s/%s", vm->dom, dom_keys[i][0]);
		fmt(v, "%u", 0xfefffu);	/* the store page's gfn */
		CHECK(xs_write(c, tx, p, dom_keys[i][1] ? dom_keys[i][1] : v));
	}
	for (size_t i = 0; i < sizeof(vm_keys) / sizeof(*vm_keys); i++) {
		fmt(p, "/vm/%s/%s", vm->uuid, vm_keys[i][0]);
		CHECK(xs_write(c, tx, p, vm_keys[i][1]));
	}
	return 0;
}

/* libxl__device_generic_add: one device, frontend and backend. */
struct dev_add {
	struct vm *vm;
	const char *fe, *be, *lx;
	const char *const (*be_keys)[2];
	size_t n_be;
	const char *const (*fe_keys)[2];
	size_t n_fe;
};

static int device_add(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct dev_add *a = arg;
	struct vm *vm = a->vm;
	char p[160], fe_perms[32], be_perms[32], v[16];

	vm_owned_perms(fe_perms, sizeof(fe_perms), vm->domid, "r0");
	fmt(be_perms, "n0 r%u", vm->domid);
	int err = xs_read(c, tx, a->lx, NULL, 0);	/* libxl__device_exists */
	if (err != ENOENT)
		return err ? err : EEXIST;
	xs_rm(c, tx, a->fe);
	xs_rm(c, tx, a->be);
	xs_rm(c, tx, a->lx);
	CHECK(mknod(c, tx, a->lx, "n0"));
	fmt(p, "%s/frontend", a->lx);
	CHECK(xs_write(c, tx, p, a->fe));
	fmt(p, "%s/backend", a->lx);
	CHECK(xs_write(c, tx, p, a->be));
	CHECK(xs_mkdir(c, tx, a->fe));
	CHECK(xs_set_perms(c, tx, a->fe, fe_perms));
	CHECK(xs_mkdir(c, tx, a->be));
	CHECK(xs_set_perms(c, tx, a->be, be_perms));
	for (size_t i = 0; i < a->n_be; i++) {
		const char *val = a->be_keys[i][1];

		fmt(p, "%s/%s", a->be, a->be_keys[i][0]);
		if (!val) {	/* the per-VM values */
			if (!strcmp(a->be_keys[i][0], "frontend"))
				val = a->fe;
			else if (!strcmp(a->be_keys[i][0], "frontend-id")) {
				fmt(v, "%u", vm->domid);
				val = v;
			} else {
				val = vm->name;
			}
		}
		CHECK(xs_write(c, tx, p, val));
	}
	for (size_t i = 0; i < a->n_fe; i++) {
		const char *val = a->fe_keys[i][1];

		fmt(p, "%s/%s", a->fe, a->fe_keys[i][0]);
		if (!val)
			val = a->be;
		CHECK(xs_write(c, tx, p, val));
	}
	return 0;
}

static const char *const vbd_be[][2] = {
	{ "frontend", NULL }, { "frontend-id", NULL }, { "online", "1" },
	{ "removable", "0" }, { "bootable", "1" }, { "state", "1" },
	{ "dev", "xvda" }, { "type", "phy" }, { "mode", "w" },
	{ "device-type", "disk" }, { "discard-enable", "1" },
	{ "params", NULL },
	{ "script", "/etc/xen/scripts/block" },
};
static const char *const vbd_fe[][2] = {
	{ "backend-id", "0" }, { "backend", NULL }, { "state", "1" },
	{ "virtual-device", "51712" }, { "device-type", "disk" },
	{ "trusted", "1" },
};
static const char *const vif_be[][2] = {
	{ "frontend", NULL }, { "frontend-id", NULL }, { "online", "1" },
	{ "state", "1" }, { "script", "/etc/xen/scripts/vif-bridge" },
	{ "mac", "00:16:3e:5e:0f:01" }, { "bridge", "xenbr0" },
	{ "handle", "0" }, { "type", "vif" },
};
static const char *const vif_fe[][2] = {
	{ "backend-id", "0" }, { "backend", NULL }, { "state", "1" },
	{ "handle", "0" }, { "mac", "00:16:3e:5e:0f:01" }, { "trusted", "1" },
};
static const char *const console_be[][2] = {
	{ "frontend", NULL }, { "frontend-id", NULL }, { "online", "1" },
	{ "state", "1" }, { "protocol", "vt100" }, { "domain", NULL },
};
static const char *const console_fe[][2] = {
	{ "backend", NULL }, { "backend-id", "0" }, { "limit", "1048576" },
	{ "type", "xenconsoled" }, { "output", "pty" }, { "tty", "" },
	{ "port", "2" }, { "ring-ref", "1044476" },
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

bool toolstack_event(const char *path, const char *token)
{
	unsigned domid, t;
	struct vm *vm;
	struct device *d;

	if (sscanf(token, "ts:%u:%u", &domid, &t) != 2 || t >= NDEVS)
		return false;
	vm = vm_by_domid(domid);
	if (!vm)
		return true;
	d = &vm->dev[t];
	d->ts_event = true;
	if (d->ts_waiter)
		loop_wake(d->ts_waiter);
	return true;
}

static void worker_event(struct xs_conn *c, const char *path,
			 const char *token, void *arg)
{
	toolstack_event(path, token);
}

/* libxl__ev_devstate_wait: watch the backend's state until it is @want
 * (or gone, when waiting for Closed). */
static void wait_backend_state(struct xs_conn *c, struct device *d, int want)
{
	struct vm *vm = d->vm;
	char path[96], tok[32], val[16];
	uint64_t t0 = now_ns();
	int err;

	fmt(path, "%s/state", d->be);
	fmt(tok, "ts:%u:%d", vm->domid, d->type);
	d->ts_event = false;
	d->ts_waiter = coro_self();
	err = xs_watch(c, path, tok);
	if (!expect(vm, err, "watch", path)) {
		d->ts_waiter = NULL;
		return;
	}
	for (;;) {
		while (!d->ts_event)
			coro_yield();
		d->ts_event = false;
		err = xs_read(c, 0, path, val, sizeof(val));
		if (!err && atoi(val) == want)
			break;
		if (err == ENOENT && want == XB_CLOSED)
			break;
		if (err && err != ENOENT) {
			expect(vm, err, "read", path);
			break;
		}
	}
	d->ts_waiter = NULL;
	expect(vm, xs_unwatch(c, path, tok), "unwatch", path);
	if (now_ns() - t0 > opt.libxl_timeout_ns) {
		stats.timeouts++;
		vm_fail(vm, "backend %s took %.1f s to reach state %d (libxl "
			"gives up after %.0f s)", d->be,
			(double)(now_ns() - t0) / 1e9, want,
			(double)opt.libxl_timeout_ns / 1e9);
	}
}

static void introduce(struct xs_conn *c, struct vm *vm)
{
	char v[16];
	int err;

	if (opt.transport == TRANSPORT_SOCKETS) {
		/* Sockets mode: a write the console daemon watches stands in
		 * for INTRODUCE's @introduceDomain (no ring to introduce). */
		fmt(v, "%u", vm->domid);
		err = xs_write(c, 0, PROXY_INTRODUCE, v);
	} else {
		char arg[64];
		size_t n = (size_t)snprintf(arg, sizeof(arg), "%u", vm->domid) + 1;
		n += (size_t)snprintf(arg + n, sizeof(arg) - n, "%u", 0xfefffu) + 1;
		n += (size_t)snprintf(arg + n, sizeof(arg) - n, "%u", 1u) + 1;
		struct xs_op *op = xs_send(c, 0, XS_INTRODUCE, arg, n);
		err = xs_wait(op);
		xs_op_free(op);
	}
	expect(vm, err, "introduce", vm->dom);
}

static void create_vm(struct worker *w, struct vm *vm)
{
	struct xs_conn *c = w->c;
	char con_fe[64], con_be[80], con_lx[64];
	struct dev_add con = { vm, con_fe, con_be, con_lx, console_be,
			       ARRAY_LEN(console_be), console_fe,
			       ARRAY_LEN(console_fe) };
	char params[64];
	const char *vbd_be_v[ARRAY_LEN(vbd_be)][2];

	vm->t_create = now_ns();
	hypervisor_create(vm);		/* xc_domain_create() */
	vms_created++;
	if (opt.introduce_early)
		introduce(c, vm);
	if (!expect(vm, with_tx(c, TX_DOMAIN_MAKE, domain_make, vm),
		    "transaction", "domain_make"))
		return;
	if (!expect(vm, with_tx(c, TX_BUILD_POST, build_post, vm),
		    "transaction", "build_post"))
		return;
	if (!opt.introduce_early)
		introduce(c, vm);

	fmt(con_fe, "%s/console", vm->dom);
	fmt(con_be, "/local/domain/0/backend/console/%u/0", vm->domid);
	fmt(con_lx, "/libxl/%u/device/console/0", vm->domid);
	if (!expect(vm, with_tx(c, TX_DEVICE_ADD, device_add, &con),
		    "transaction", "console add"))
		return;

	fmt(params, "/dev/vg0/%s", vm->name);
	memcpy(vbd_be_v, vbd_be, sizeof(vbd_be));
	for (size_t i = 0; i < ARRAY_LEN(vbd_be); i++)
		if (!strcmp(vbd_be[i][0], "params"))
			vbd_be_v[i][1] = params;
	for (int i = 0; i < NDEVS; i++) {
		struct device *d = &vm->dev[i];
		struct dev_add a = { vm, d->fe, d->be, d->lx, NULL, 0, NULL, 0 };

		if (d->type == DEV_VBD) {
			a.be_keys = (const char *const (*)[2])vbd_be_v;
			a.n_be = ARRAY_LEN(vbd_be);
			a.fe_keys = vbd_fe;
			a.n_fe = ARRAY_LEN(vbd_fe);
		} else {
			a.be_keys = vif_be;
			a.n_be = ARRAY_LEN(vif_be);
			a.fe_keys = vif_fe;
			a.n_fe = ARRAY_LEN(vif_fe);
		}
		if (!expect(vm, with_tx(c, TX_DEVICE_ADD, device_add, &a),
			    "transaction", d->type == DEV_VBD ? "vbd add"
							      : "vif add"))
			return;
		wait_backend_state(c, d, XB_INITWAIT);
		hotplug_add(d);
	}

	/* xc_domain_unpause(): the guest starts booting. */
	vm->phase = VM_RUNNING;
	vm->t_running = now_ns();
	vm_check_up(vm);
	guest_boot(vm);
	if (opt.monitors == MONITORS_PER_VM)
		monitor_start_vm(vm);
}

static int shutdown_request(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct vm *vm = arg;
	char p[96];

	fmt(p, "%s/control/feature-poweroff", vm->dom);
	int err = xs_read(c, tx, p, NULL, 0);
	if (err)
		return err;
	fmt(p, "%s/control/shutdown", vm->dom);
	return xs_write(c, tx, p, "poweroff");
}

/* libxl__xs_path_cleanup: remove @path, then its parents while empty. */
static int path_cleanup(struct xs_conn *c, uint32_t tx, const char *path)
{
	char p[160], val[8];
	char *last;

	CHECK(xs_rm(c, tx, path));
	fmt(p, "%s", path);
	while ((last = strrchr(p, '/')) != NULL) {
		struct xs_list l;
		int err;

		*last = 0;
		if (!p[0])
			break;
		if (xs_read(c, tx, p, val, sizeof(val)) || val[0])
			break;
		err = xs_directory(c, tx, p, &l);
		unsigned n = l.count;
		xs_list_free(&l);
		if (err || n)
			break;
		CHECK(xs_rm(c, tx, p));
	}
	return 0;
}

struct dev_remove {
	const char *be;
	int state;
};

static int device_remove(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct dev_remove *r = arg;
	char p[128], val[16];

	fmt(p, "%s/state", r->be);
	CHECK(xs_read(c, tx, p, val, sizeof(val)));
	r->state = atoi(val);
	fmt(p, "%s/online", r->be);
	CHECK(xs_write(c, tx, p, "0"));
	if (r->state != XB_CLOSED) {
		fmt(p, "%s/state", r->be);
		CHECK(xs_write(c, tx, p, "5"));
	}
	return 0;
}

struct dev_paths {
	const char *fe, *be, *lx;
};

static int device_destroy(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct dev_paths *d = arg;
	int err;

	/* A path already gone is not an error here. */
	err = path_cleanup(c, tx, d->fe);
	if (err && err != ENOENT)
		return err;
	err = path_cleanup(c, tx, d->be);
	if (err && err != ENOENT)
		return err;
	err = path_cleanup(c, tx, d->lx);
	if (err && err != ENOENT)
		return err;
	return 0;
}

/*
 * The optimized toolstack (xenopsd-like) removes a device's own paths and
 * its VM's directory under the backend type, and lists nothing: libxl's
 * empty-parent cleanup lists shared directories that grow with the number
 * of domains, in transactions that all conflict with each other.
 */
static int device_destroy_direct(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct dev_paths *d = arg;
	char parent[160];
	char *slash;
	int err;

	fmt(parent, "%s", d->be);
	slash = strrchr(parent, '/');
	if (slash)
		*slash = 0;
	const char *paths[] = { d->fe, d->be, parent, d->lx };
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		err = xs_rm(c, tx, paths[i]);
		if (err && err != ENOENT)
			return err;
	}
	return 0;
}

static struct device *device_of(struct vm *vm, const char *kind)
{
	if (!strcmp(kind, "vbd"))
		return &vm->dev[DEV_VBD];
	if (!strcmp(kind, "vif"))
		return &vm->dev[DEV_VIF];
	return NULL;
}

void toolstack_destroy(struct xs_conn *c, struct vm *vm)
{
	char p[128], vmp[96], lxdev[64];
	struct xs_list kinds;
	int err;

	fmt(p, "%s/vm", vm->dom);
	err = xs_read(c, 0, p, vmp, sizeof(vmp));
	if (!expect(vm, err, "read", p))
		vmp[0] = 0;
	/* libxl__devices_destroy */
	fmt(lxdev, "/libxl/%u/device", vm->domid);
	err = xs_directory(c, 0, lxdev, &kinds);
	expect(vm, err, "directory", lxdev);
	for (const char *k = kinds.buf; !err && k < kinds.buf + kinds.len;
	     k += strlen(k) + 1) {
		struct xs_list devs;
		char kp[96];

		fmt(kp, "%s/%s", lxdev, k);
		if (!expect(vm, xs_directory(c, 0, kp, &devs), "directory", kp))
			continue;
		for (const char *dv = devs.buf; dv < devs.buf + devs.len;
		     dv += strlen(dv) + 1) {
			char lx[128], be[128], fe[128];
			struct device *d = device_of(vm, k);
			struct dev_paths paths = { fe, be, lx };

			fmt(lx, "%s/%s", kp, dv);
			fmt(p, "%s/backend", lx);
			if (!expect(vm, xs_read(c, 0, p, be, sizeof(be)),
				    "read", p))
				continue;
			fmt(p, "%s/frontend", lx);
			if (!expect(vm, xs_read(c, 0, p, fe, sizeof(fe)),
				    "read", p))
				continue;
			if (d) {
				struct dev_remove r = { be, 0 };

				err = with_tx(c, TX_DEVICE_REMOVE,
					      device_remove, &r);
				if (!expect(vm, err, "transaction",
					    "device remove"))
					continue;
				wait_backend_state(c, d, XB_CLOSED);
				hotplug_remove(d);
			}
			/* Consoles just have their entries removed. */
			expect(vm, with_tx(c, TX_DEVICE_DESTROY,
					   opt.profile == PROFILE_OPTIMIZED ?
					   device_destroy_direct : device_destroy,
					   &paths), "transaction",
			       "device destroy");
		}
		xs_list_free(&devs);
	}
	xs_list_free(&kinds);
	/* devices_destroy_cb */
	expect(vm, xs_rm(c, 0, vm->dom), "rm", vm->dom);
	fmt(p, "/libxl/%u", vm->domid);
	expect(vm, xs_rm(c, 0, p), "rm", p);
	if (vmp[0])
		expect(vm, xs_rm(c, 0, vmp), "rm", vmp);
	/* xc_domain_destroy(): the hypervisor fires @releaseDomain. */
	hypervisor_destroy(vm);
}

static void wake_all(void);

static void worker_main(void *arg)
{
	struct worker *w = arg;

	workers_busy++;
	while (next_create < opt.n)
		create_vm(w, &vms[next_create++]);
	workers_busy--;
	/* Teardown: `xl shutdown`, and in shared-monitor mode the destroys
	 * the toolstack daemon does itself. */
	while (!tearing_down) {
		idle_waiters[w->id] = coro_self();
		coro_yield();
	}
	idle_waiters[w->id] = NULL;
	workers_busy++;
	for (;;) {
		struct vm *vm = opt.monitors == MONITORS_SHARED ?
			monitor_next_to_destroy() : NULL;

		if (vm) {
			toolstack_destroy(w->c, vm);
			if (vms_gone >= opt.n)
				wake_all();
			continue;
		}
		if (next_shutdown < opt.n) {
			vm = &vms[next_shutdown++];
			if (vm->phase != VM_UP && vm->phase != VM_RUNNING)
				continue;
			vm->t_shutdown_req = now_ns();
			expect(vm, with_tx(w->c, TX_SHUTDOWN_REQUEST,
					   shutdown_request, vm),
			       "transaction", "shutdown request");
			continue;
		}
		if (opt.monitors != MONITORS_SHARED || vms_gone >= opt.n)
			break;
		idle_waiters[w->id] = coro_self();
		coro_yield();
		idle_waiters[w->id] = NULL;
	}
	workers_busy--;
	xs_close(w->c);
}

/* Shared-monitor mode: a VM awaits its destroy; wake an idle worker. */
void toolstack_kick(void)
{
	for (unsigned i = 0; i < opt.k; i++)
		if (idle_waiters[i]) {
			loop_wake(idle_waiters[i]);
			return;
		}
}

static void wake_all(void)
{
	for (unsigned i = 0; i < opt.k; i++)
		if (idle_waiters[i])
			loop_wake(idle_waiters[i]);
}

void toolstack_start_boot(void)
{
	workers = calloc(opt.k, sizeof(*workers));
	idle_waiters = calloc(opt.k, sizeof(*idle_waiters));
	if (!workers || !idle_waiters)
		exit(2);
	for (unsigned i = 0; i < opt.k; i++) {
		workers[i].id = i;
		workers[i].c = xs_connect_unix(opt.socket, ACTOR_TOOLSTACK);
		if (!workers[i].c) {
			perror("bootstorm: toolstack connect");
			exit(2);
		}
		xs_set_event_handler(workers[i].c, worker_event, &workers[i]);
		loop_spawn(worker_main, &workers[i]);
	}
}

void toolstack_start_teardown(void)
{
	tearing_down = true;
	wake_all();
}

bool toolstack_idle(void)
{
	return workers_busy == 0;
}
