#include "world.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io-xen/sim_guest.h"
#include "loop.h"

struct options opt;
struct vm *vms;
struct vm **shutdown_list;
unsigned vms_created, vms_up, vms_shutdown, vms_gone;
uint64_t run_t0;

static uint64_t rnd_state;

/* The @releaseDomain-alike events fired, in order, and when. */
uint64_t *release_fired_at;
unsigned releases_fired;

static struct xs_conn *hypervisor_conn;

const char *introduce_path(void)
{
	return opt.transport == TRANSPORT_SOCKETS ? PROXY_INTRODUCE
						  : "@introduceDomain";
}

const char *release_path(void)
{
	return opt.transport == TRANSPORT_SOCKETS ? PROXY_RELEASE
						  : "@releaseDomain";
}

uint32_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void fmt_(char *buf, size_t sz, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, sz, f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sz) {
		fprintf(stderr, "bootstorm: path too long: %s\n", buf);
		abort();
	}
}

unsigned first_vm_domid(void)
{
	return opt.prefill + 1;
}

struct vm *vm_by_domid(unsigned domid)
{
	if (domid < first_vm_domid() || domid >= first_vm_domid() + opt.n)
		return NULL;
	return &vms[domid - first_vm_domid()];
}

bool domain_exists(unsigned domid)
{
	struct vm *vm;

	if (domid == 0 || domid <= opt.prefill)
		return true;
	vm = vm_by_domid(domid);
	return vm && vm->phase >= VM_CREATING && vm->phase < VM_GONE;
}

static void init_device(struct vm *vm, struct device *d, enum dev_type t)
{
	const char *kind = t == DEV_VBD ? "vbd" : "vif";

	d->vm = vm;
	d->type = t;
	d->devid = t == DEV_VBD ? 51712 : 0;	/* xvda; the first NIC */
	fmt(d->fe, "%s/device/%s/%u", vm->dom, kind, d->devid);
	fmt(d->be, "/local/domain/0/backend/%s/%u/%u", kind, vm->domid,
	    d->devid);
	fmt(d->lx, "/libxl/%u/device/%s/%u", vm->domid, kind, d->devid);
}

void world_init(void)
{
	rnd_state = opt.seed;
	vms = calloc(opt.n, sizeof(*vms));
	release_fired_at = calloc(2 * (size_t)opt.n + 2, sizeof(uint64_t));
	shutdown_list = calloc(opt.n + 1, sizeof(*shutdown_list));
	if (!vms || !release_fired_at || !shutdown_list) {
		fprintf(stderr, "bootstorm: out of memory\n");
		exit(2);
	}
	for (unsigned i = 0; i < opt.n; i++) {
		struct vm *vm = &vms[i];

		vm->idx = i;
		vm->domid = first_vm_domid() + i;
		fmt(vm->uuid, "00000000-b007-5707-0000-%012x", vm->domid);
		fmt(vm->name, "storm-%u", vm->domid);
		fmt(vm->dom, "/local/domain/%u", vm->domid);
		init_device(vm, &vm->dev[DEV_VBD], DEV_VBD);
		init_device(vm, &vm->dev[DEV_VIF], DEV_VIF);
	}
}

void vm_check_up(struct vm *vm)
{
	if (vm->phase != VM_RUNNING || !vm->console_tty)
		return;
	for (int i = 0; i < NDEVS; i++)
		if (vm->dev[i].fe_state != XB_CONNECTED ||
		    vm->dev[i].be_state != XB_CONNECTED)
			return;
	vm->phase = VM_UP;
	vm->t_up = now_ns();
	vms_up++;
}

void vm_fail(struct vm *vm, const char *f, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, f);
	vsnprintf(msg, sizeof(msg), f, ap);
	va_end(ap);
	vm->failed = true;
	stats_failure("domain %u: %s", vm->domid, msg);
}

static void released(struct xs_op *op, void *arg)
{
	if (op->err)
		stats_failure("hypervisor: firing %s: %s", release_path(),
			      strerror(op->err));
}

/* A command to the sim platform's control socket (blocking, short). */
static void sim_command(struct vm *vm, const char *verb)
{
	char cmd[64], reply[256];

	fmt(cmd, "%s %u", verb, vm->domid);
	if (sim_control(opt.sim_dir, cmd, reply, sizeof(reply)))
		vm_fail(vm, "sim platform: %s: %s %s", cmd, strerror(errno),
			reply);
}

static void fire_release(struct vm *vm, const char *verb)
{
	char buf[64];
	size_t n = strlen(PROXY_RELEASE) + 1;

	release_fired_at[releases_fired++] = now_ns();
	if (opt.transport != TRANSPORT_SOCKETS) {
		/* VIRQ_DOM_EXC: the daemon fires @releaseDomain itself. */
		sim_command(vm, verb);
		return;
	}
	memcpy(buf, PROXY_RELEASE, n);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%u", vm->domid);
	xs_send_cb(hypervisor_conn, 0, XS_WRITE, buf, n, released, NULL);
}

void hypervisor_start(void)
{
	if (opt.transport != TRANSPORT_SOCKETS)
		return;
	hypervisor_conn = xs_connect_unix(opt.socket, ACTOR_HYPERVISOR);
	if (!hypervisor_conn) {
		perror("bootstorm: connecting the hypervisor stand-in");
		exit(2);
	}
}

void hypervisor_stop(void)
{
	if (hypervisor_conn)
		xs_close(hypervisor_conn);
	hypervisor_conn = NULL;
}

void hypervisor_create(struct vm *vm)
{
	vm->phase = VM_CREATING;
	if (opt.transport != TRANSPORT_SIM)
		return;
	/* The store ring's event channel: port 1 in the guest, as INTRODUCE
	 * names it. */
	vm->sim = sim_guest_create(opt.sim_dir, vm->domid, 1);
	if (!vm->sim)
		vm_fail(vm, "sim platform: create: %s", strerror(errno));
}

void hypervisor_shutdown(struct vm *vm)
{
	vm->phase = VM_SHUTDOWN;
	vm->t_shutdown = now_ns();
	vm->shutdown_seq = vms_shutdown;
	shutdown_list[vms_shutdown++] = vm;
	fire_release(vm, "shutdown");
}

void hypervisor_destroy(struct vm *vm)
{
	vm->phase = VM_GONE;
	vm->t_gone = now_ns();
	vms_gone++;
	if (vm->sim) {
		sim_guest_free(vm->sim);
		vm->sim = NULL;
	}
	fire_release(vm, "destroy");
}

struct xs_conn *connect_guest(struct vm *vm)
{
	struct xs_conn *c;

	if (opt.transport == TRANSPORT_SOCKETS)
		return xs_connect_unix(opt.socket, ACTOR_GUEST);
	if (!vm->sim) {
		errno = ENODEV;
		return NULL;
	}
	c = xs_connect_ring(vm->sim, ACTOR_GUEST);
	if (c)
		vm->sim = NULL;
	return c;
}

struct xs_conn *connect_dom0_kernel(enum actor actor)
{
	struct sim_guest *g;
	struct xs_conn *c;
	int port;

	if (opt.transport == TRANSPORT_SOCKETS)
		return xs_connect_unix(opt.socket, actor);
	port = sim_guest_dom0_port(opt.sim_dir);
	if (port < 0) {
		errno = ENOENT;
		return NULL;
	}
	g = sim_guest_attach(opt.sim_dir, 0, (uint32_t)port);
	if (!g)
		return NULL;
	c = xs_connect_ring(g, actor);
	if (!c)
		sim_guest_free(g);
	return c;
}

#define MAX_TX_RETRIES 10000

int with_tx(struct xs_conn *c, enum tx_kind kind,
	    int (*body)(struct xs_conn *c, uint32_t tx, void *arg), void *arg)
{
	struct tx_stats *t = &stats.tx[kind];
	unsigned retries = 0;

	for (;;) {
		uint32_t tx;
		int err = xs_tx_start(c, &tx);

		if (err)
			return err;
		t->attempts++;
		err = body(c, tx, arg);
		if (err) {
			xs_tx_end(c, tx, false);
			t->aborted_other++;
			return err;
		}
		err = xs_tx_end(c, tx, true);
		if (err == EAGAIN) {
			t->eagain++;
			if (++retries >= MAX_TX_RETRIES) {
				stats_tx_done(kind, retries);
				return EAGAIN;
			}
			continue;
		}
		if (err)
			return err;
		t->commits++;
		stats_tx_done(kind, retries);
		return 0;
	}
}

int switch_state(struct xs_conn *c, const char *state_path, int state,
		 uint64_t *sent_at)
{
	struct tx_stats *t = &stats.tx[TX_STATE_SWITCH];
	unsigned retries = 0;
	char val[16];

	fmt(val, "%d", state);
	for (;;) {
		uint32_t tx;
		int err = xs_tx_start(c, &tx);

		if (err)
			return err;
		t->attempts++;
		err = xs_read(c, tx, state_path, NULL, 0);
		if (!err)
			err = xs_write(c, tx, state_path, val);
		if (err) {
			xs_tx_end(c, tx, false);
			t->aborted_other++;
			return err;
		}
		if (sent_at)
			*sent_at = now_ns();
		err = xs_tx_end(c, tx, true);
		if (err == EAGAIN) {
			t->eagain++;
			if (++retries >= MAX_TX_RETRIES) {
				stats_tx_done(TX_STATE_SWITCH, retries);
				return EAGAIN;
			}
			continue;
		}
		if (err)
			return err;
		t->commits++;
		stats_tx_done(TX_STATE_SWITCH, retries);
		return 0;
	}
}

void note_state_event(uint64_t written_at)
{
	if (written_at)
		hist_add(&stats.watch_latency, now_ns() - written_at);
}

void vm_owned_perms(char *buf, size_t sz, unsigned domid, const char *others)
{
	const char *sep = others && *others ? " " : "";

	if (opt.transport == TRANSPORT_SOCKETS && domid != 0)
		fmt_(buf, sz, "n0 b%u%s%s", domid, sep, others ? others : "");
	else
		fmt_(buf, sz, "n%u%s%s", domid, sep, others ? others : "");
}
