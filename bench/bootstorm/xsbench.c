/*
 * The "xsbench" profile: the VM start + shutdown cycle of the mirage
 * ocaml-xenstore benchmark (bench/xs_bench.ml, the "parallel" run that
 * the published oxenstored figures come from), re-implemented from its
 * description: one multiplexed client connection, all N cycles in flight
 * at once, everything under /bench.  Per cycle: Domain.make (a
 * transaction, then six plain writes), three Device.add transactions,
 * Domain.shutdown (a transaction), Domain.destroy.  Quirks kept on
 * purpose: the three devices are the same vbd 0, and every frontend path
 * is /bench/local/domain/0/device/vbd/0 (the benchmark derives it from
 * the backend's domain), so all the device transactions touch one node.
 * Deviation: domids 1..N, where the original runs 0..N and so also cycles
 * a domain 0 whose make and destroy remove /bench/local/domain/0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors.h"
#include "loop.h"

#define PREFIX "/bench"

static struct xs_conn *conn;
static unsigned remaining;
static bool *all_done;

struct cycle {
	unsigned domid;
	bool failed;
};

static bool ok(struct cycle *cy, int err, const char *what, const char *path)
{
	if (!err)
		return true;
	if (!cy->failed)
		stats_failure("xsbench: domain %u: %s %s: %s", cy->domid, what,
			      path, strerror(err));
	cy->failed = true;
	return false;
}

#define TRY(cy, err, what, path) \
	do { if (!ok(cy, err, what, path)) return err; } while (0)

static int domain_path(struct cycle *cy, unsigned domid, char *buf, size_t sz)
{
	char p[64];
	int err = xs_get_domain_path(conn, domid, p, sizeof(p));

	if (ok(cy, err, "get_domain_path", ""))
		fmt_(buf, sz, PREFIX "%s", p);
	return err;
}

struct make {
	struct cycle *cy;
	const char *dom, *vm, *vss, *uuid;
	char ro[24], rw[24];
};

static int make_body(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct make *m = arg;
	struct cycle *cy = m->cy;
	static const char *const ro_dirs[] = { "cpu", "memory" };
	static const char *const rw_dirs[] = {
		"device", "error", "drivers", "control", "attr", "data",
		"messages", "vm-data",
	};
	char p[160];
	int err;

	xs_rm(c, tx, m->dom);	/* clear any rubbish: errors ignored */
	TRY(cy, xs_mkdir(c, tx, m->dom), "mkdir", m->dom);
	TRY(cy, xs_set_perms(c, tx, m->dom, m->ro), "setperms", m->dom);
	/* "immediate": outside the transaction */
	err = xs_read(c, 0, m->vm, NULL, 0);
	if (err == ENOENT) {
		TRY(cy, xs_mkdir(c, tx, m->vm), "mkdir", m->vm);
		TRY(cy, xs_set_perms(c, tx, m->vm, m->ro), "setperms", m->vm);
		fmt(p, "%s/uuid", m->vm);
		TRY(cy, xs_write(c, tx, p, m->uuid), "write", p);
		fmt(p, "%s/name", m->vm);
		TRY(cy, xs_write(c, tx, p, "name"), "write", p);
	} else {
		TRY(cy, err, "read", m->vm);
	}
	fmt(p, "%s/domains/%u", m->vm, cy->domid);
	TRY(cy, xs_write(c, tx, p, m->dom), "write", p);
	TRY(cy, xs_mkdir(c, tx, m->vss), "mkdir", m->vss);
	TRY(cy, xs_set_perms(c, tx, m->vss, m->rw), "setperms", m->vss);
	fmt(p, "%s/vm", m->dom);
	TRY(cy, xs_write(c, tx, p, m->vm), "write", p);
	fmt(p, "%s/vss", m->dom);
	TRY(cy, xs_write(c, tx, p, m->vss), "write", p);
	fmt(p, "%s/name", m->dom);
	TRY(cy, xs_write(c, tx, p, "name"), "write", p);
	for (size_t i = 0; i < sizeof(ro_dirs) / sizeof(*ro_dirs); i++) {
		fmt(p, "%s/%s", m->dom, ro_dirs[i]);
		TRY(cy, xs_mkdir(c, tx, p), "mkdir", p);
		TRY(cy, xs_set_perms(c, tx, p, m->ro), "setperms", p);
	}
	for (size_t i = 0; i < sizeof(rw_dirs) / sizeof(*rw_dirs); i++) {
		fmt(p, "%s/%s", m->dom, rw_dirs[i]);
		TRY(cy, xs_mkdir(c, tx, p), "mkdir", p);
		TRY(cy, xs_set_perms(c, tx, p, m->rw), "setperms", p);
	}
	return 0;
}

static void domain_make(struct cycle *cy)
{
	char dom[64], vm[64], vss[64], uuid[32], p[160];
	struct make m = { cy, dom, vm, vss, uuid, "", "" };
	static const char *const writes[][2] = {
		{ "xsdata", "xsdata" },
		{ "platform/platformdata", "platformdata" },
		{ "bios-strings/bios_strings", "bios_strings" },
		{ "action-request", "poweroff" },
		{ "control/platform-feature-multiprocessor-suspend", "1" },
		{ "unique-domain-id", NULL },
	};

	if (domain_path(cy, cy->domid, dom, sizeof(dom)))
		return;
	fmt(uuid, "uuid-%u", cy->domid);
	fmt(vm, PREFIX "/vm/%s", uuid);
	fmt(vss, PREFIX "/vss/%s", uuid);
	fmt(m.ro, "n0 r%u", cy->domid);
	vm_owned_perms(m.rw, sizeof(m.rw), cy->domid, NULL);
	if (!ok(cy, with_tx(conn, TX_XSBENCH_MAKE, make_body, &m),
		"transaction", "make"))
		return;
	for (size_t i = 0; i < sizeof(writes) / sizeof(*writes); i++) {
		fmt(p, "%s/%s", dom, writes[i][0]);
		if (!ok(cy, xs_write(conn, 0, p,
				     writes[i][1] ? writes[i][1] : uuid),
			"write", p))
			return;
	}
}

struct add {
	struct cycle *cy;
	const char *fe, *be, *hotplug, *priv;
	char fe_perms[24], be_perms[24];
};

static int add_body(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct add *a = arg;
	struct cycle *cy = a->cy;
	char p[160];
	int err;

	/* "exists" checks: READs whose answers are ignored */
	err = xs_read(c, tx, "/local/domain/0/vm", NULL, 0);
	if (err && err != ENOENT)
		TRY(cy, err, "read", "/local/domain/0/vm");
	err = xs_read(c, tx, a->fe, NULL, 0);
	if (err && err != ENOENT)
		TRY(cy, err, "read", a->fe);
	xs_rm(c, tx, a->fe);
	xs_rm(c, tx, a->be);
	TRY(cy, xs_mkdir(c, tx, a->fe), "mkdir", a->fe);
	TRY(cy, xs_set_perms(c, tx, a->fe, a->fe_perms), "setperms", a->fe);
	TRY(cy, xs_mkdir(c, tx, a->be), "mkdir", a->be);
	TRY(cy, xs_set_perms(c, tx, a->be, a->be_perms), "setperms", a->be);
	TRY(cy, xs_mkdir(c, tx, a->hotplug), "mkdir", a->hotplug);
	TRY(cy, xs_set_perms(c, tx, a->hotplug, "n0"), "setperms", a->hotplug);
	fmt(p, "%s/backend", a->fe);
	TRY(cy, xs_write(c, tx, p, a->be), "write", p);
	fmt(p, "%s/frontend", a->be);
	TRY(cy, xs_write(c, tx, p, a->fe), "write", p);
	TRY(cy, xs_mkdir(c, tx, a->priv), "mkdir", a->priv);
	TRY(cy, xs_set_perms(c, tx, a->priv, "n0"), "setperms", a->priv);
	fmt(p, "%s/backend-kind", a->priv);
	TRY(cy, xs_write(c, tx, p, "vbd"), "write", p);
	fmt(p, "%s/backend-id", a->priv);
	TRY(cy, xs_write(c, tx, p, "0"), "write", p);
	return 0;
}

static void device_add(struct cycle *cy)
{
	char fe0[64], be0[64], fe[96], be[96], hotplug[96], priv[96];
	struct add a = { cy, fe, be, hotplug, priv, "", "" };

	if (domain_path(cy, 0, fe0, sizeof(fe0)) ||
	    domain_path(cy, 0, be0, sizeof(be0)))
		return;
	fmt(fe, "%s/device/vbd/0", fe0);
	fmt(be, "%s/backend/vbd/%u/0", be0, cy->domid);
	fmt(hotplug, PREFIX "/xapi/%u/hotplug/vbd/0", cy->domid);
	fmt(priv, PREFIX "/xapi/%u/private/vbd/0", cy->domid);
	vm_owned_perms(a.fe_perms, sizeof(a.fe_perms), cy->domid, "r0");
	fmt(a.be_perms, "n0 r%u", cy->domid);
	ok(cy, with_tx(conn, TX_XSBENCH_DEVICE, add_body, &a), "transaction",
	   "device add");
}

struct shut {
	struct cycle *cy;
	const char *dom, *path;
};

static int shutdown_body(struct xs_conn *c, uint32_t tx, void *arg)
{
	struct shut *s = arg;
	int err = xs_read(c, 0, s->dom, NULL, 0);	/* immediate */

	if (err == ENOENT)
		return 0;
	TRY(s->cy, err, "read", s->dom);
	TRY(s->cy, xs_write(c, tx, s->path, "halt"), "write", s->path);
	return 0;
}

static void domain_shutdown(struct cycle *cy)
{
	char path[96], dom[64];
	struct shut s = { cy, dom, path };

	if (domain_path(cy, cy->domid, path, sizeof(path) - 20) ||
	    domain_path(cy, cy->domid, dom, sizeof(dom)))
		return;
	strcat(path, "/control/shutdown");
	ok(cy, with_tx(conn, TX_XSBENCH_SHUTDOWN, shutdown_body, &s),
	   "transaction", "shutdown");
}

static void domain_destroy(struct cycle *cy)
{
	char dom[64], dom2[64], p[160], vmp[96], vss[96], be[96];
	struct xs_list kinds, l;
	int err;

	if (domain_path(cy, cy->domid, dom, sizeof(dom)) ||
	    domain_path(cy, cy->domid, dom2, sizeof(dom2)))
		return;
	/* list_frontends: this benchmark's frontends live elsewhere, so the
	 * listing is empty; the per-device steps never run. */
	fmt(p, "%s/device", dom2);
	err = xs_directory(conn, 0, p, &kinds);
	if (err != ENOENT && !ok(cy, err, "directory", p))
		return;
	if (!err && kinds.count)
		stats_failure("xsbench: domain %u has frontends", cy->domid);
	xs_list_free(&kinds);
	fmt(p, "%s/vm", dom);
	err = xs_read(conn, 0, p, vmp, sizeof(vmp));
	if (err == ENOENT)
		vmp[0] = 0;
	else if (!ok(cy, err, "read", p))
		return;
	fmt(p, "%s/vss", dom);
	err = xs_read(conn, 0, p, vss, sizeof(vss));
	if (err == ENOENT)
		vss[0] = 0;
	else if (!ok(cy, err, "read", p))
		return;
	if (vmp[0]) {
		fmt(p, "%s/domains/%u", vmp, cy->domid);
		if (!ok(cy, xs_rm(conn, 0, p), "rm", p))
			return;
		fmt(p, "%s/domains", vmp);
		err = xs_directory(conn, 0, p, &l);
		if (err && err != ENOENT && !ok(cy, err, "directory", p))
			return;
		unsigned others = err ? 0 : l.count;
		xs_list_free(&l);
		if (!others) {
			if (!ok(cy, xs_rm(conn, 0, vmp), "rm", vmp))
				return;
			if (vss[0] && !ok(cy, xs_rm(conn, 0, vss), "rm", vss))
				return;
		}
	}
	if (!ok(cy, xs_rm(conn, 0, dom), "rm", dom))
		return;
	if (domain_path(cy, 0, be, sizeof(be) - 10))
		return;
	strcat(be, "/backend");
	err = xs_directory(conn, 0, be, &kinds);
	if (err && err != ENOENT && !ok(cy, err, "directory", be))
		return;
	for (const char *k = kinds.buf; !err && k < kinds.buf + kinds.len;
	     k += strlen(k) + 1) {
		fmt(p, "%s/%s/%u", be, k, cy->domid);
		ok(cy, xs_rm(conn, 0, p), "rm", p);
	}
	xs_list_free(&kinds);
}

static void cycle_main(void *arg)
{
	struct cycle *cy = arg;
	struct vm *vm = &vms[cy->domid - 1];

	vm->t_create = now_ns();
	vm->phase = VM_CREATING;
	vms_created++;
	domain_make(cy);
	for (int i = 0; i < 3 && !cy->failed; i++)
		device_add(cy);
	if (!cy->failed)
		domain_shutdown(cy);
	if (!cy->failed)
		domain_destroy(cy);
	vm->t_up = vm->t_gone = now_ns();
	if (!cy->failed) {
		vm->phase = VM_GONE;
		vms_up++;
		vms_gone++;
	} else {
		vm->failed = true;
	}
	free(cy);
	if (--remaining == 0) {
		*all_done = true;
		xs_close(conn);
	}
}

void xsbench_run(unsigned n, bool *done)
{
	conn = xs_connect_unix(opt.socket, ACTOR_XSBENCH);
	if (!conn) {
		perror("bootstorm: xsbench connect");
		exit(2);
	}
	all_done = done;
	remaining = n;
	for (unsigned i = 0; i < n; i++) {
		struct cycle *cy = calloc(1, sizeof(*cy));

		if (!cy)
			exit(2);
		cy->domid = i + 1;
		loop_spawn(cycle_main, cy);
	}
}
