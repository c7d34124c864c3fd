/*
 * The state a bootstorm run shares between its actors: the options, the
 * "hypervisor" (which domains exist and in which state: the table that
 * hypercalls would consult) and, per VM, its devices and milestones.
 */
#ifndef BOOTSTORM_WORLD_H
#define BOOTSTORM_WORLD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"
#include "xsconn.h"

struct sim_guest;

enum profile { PROFILE_XSBENCH, PROFILE_LIBXL, PROFILE_OPTIMIZED };
enum transport { TRANSPORT_SOCKETS, TRANSPORT_SIM };
/* Who watches @releaseDomain and destroys a VM that shut down: one xl
 * process per VM (libxl), or one toolstack daemon for all (xenopsd-like). */
enum monitors { MONITORS_PER_VM, MONITORS_SHARED };

struct options {
	const char *socket;
	pid_t pid;			/* the daemon, for CPU and memory */
	enum profile profile;
	enum transport transport;
	enum monitors monitors;
	bool name_scan;			/* libxl's O(running domains) check */
	unsigned n, k, prefill;
	uint64_t boot_delay_ns;
	unsigned seed;
	uint64_t libxl_timeout_ns;	/* libxl gives up on a device after this */
	uint64_t stall_ns;		/* no reply or event for this long: stuck */
	uint64_t time_limit_ns;		/* a run longer than this is aborted */
	const char *json, *plot, *label;
	bool progress;
	bool count_nodes;
	const char *sim_dir;		/* sim rings: the platform's DIR */
	bool introduce_early;		/* INTRODUCE before domain_make */
};
extern struct options opt;

/* The @introduceDomain/@releaseDomain stand-ins of sockets mode. */
#define PROXY_DIR "/bootstorm"
#define PROXY_INTRODUCE PROXY_DIR "/introduceDomain"
#define PROXY_RELEASE PROXY_DIR "/releaseDomain"
const char *introduce_path(void);
const char *release_path(void);

enum dev_type { DEV_VBD, DEV_VIF };
#define NDEVS 2

/* Xenbus states (xen/io/xenbus.h). */
enum { XB_UNKNOWN, XB_INITIALISING, XB_INITWAIT, XB_INITIALISED,
       XB_CONNECTED, XB_CLOSING, XB_CLOSED };

struct vm;

struct device {
	struct vm *vm;
	enum dev_type type;
	unsigned devid;
	char fe[64];			/* /local/domain/N/device/vbd/51712 */
	char be[80];			/* /local/domain/0/backend/vbd/N/51712 */
	char lx[64];			/* /libxl/N/device/vbd/51712 */
	/* the states each end last committed, and when the write was sent */
	int fe_state, be_state;
	uint64_t fe_state_at, be_state_at;
	/* dom0 kernel (backend driver) */
	bool be_registered, be_otherend_watch, be_dev_watch;
	bool be_phys_ready, be_hotplug_ok;
	int be_seen_fe;
	/* guest kernel (frontend driver) */
	int fe_seen_be;
	bool fe_probed;
	struct coro *fe_waiter;
	/* toolstack waiting for the backend */
	struct coro *ts_waiter;
	bool ts_event;
};

enum vm_phase {
	VM_PENDING,		/* not created yet */
	VM_CREATING,		/* the domain exists, xl create is running */
	VM_RUNNING,		/* unpaused: the guest boots */
	VM_UP,			/* every device connected, console ready */
	VM_SHUTDOWN,		/* the guest halted; waiting to be destroyed */
	VM_GONE,		/* destroyed */
};

struct vm {
	unsigned idx, domid;
	char uuid[40], name[32];
	char dom[32];			/* /local/domain/N */
	enum vm_phase phase;
	uint64_t t_create, t_running, t_up, t_shutdown_req, t_shutdown, t_gone;
	struct device dev[NDEVS];
	bool console_tty;
	bool failed;
	unsigned shutdown_seq;		/* order in which it shut down */
	/* the guest's kernel (guest.c) */
	struct guest *guest;
	/* sim rings: the domain's ring, until the guest's kernel takes it */
	struct sim_guest *sim;
	/* xl's per-VM monitor */
	struct xs_conn *monitor;
	bool destroying;
	/* console daemon */
	bool console_known;
};

extern struct vm *vms;
/* The VMs that shut down, in that order (vms_shutdown of them). */
extern struct vm **shutdown_list;
extern unsigned vms_created, vms_up, vms_shutdown, vms_gone;
extern uint64_t run_t0;
/* The @releaseDomain events fired so far, in order, and when: a watcher's
 * k-th event answers the k-th of them. */
extern uint64_t *release_fired_at;
extern unsigned releases_fired;

/* Domain ids: prefill 1..M, then the VMs. */
unsigned first_vm_domid(void);
struct vm *vm_by_domid(unsigned domid);
/* Does @domid exist in the "hypervisor" (for name scans, console, xl)? */
bool domain_exists(unsigned domid);

void world_init(void);
/* A VM's end reached a state: check whether it is up now. */
void vm_check_up(struct vm *vm);
void vm_fail(struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The hypervisor side of VM lifecycle: the domain is created (sim rings:
 * the platform creates it and its ring); the guest halted; it was
 * destroyed. */
void hypervisor_create(struct vm *vm);
void hypervisor_shutdown(struct vm *vm);
void hypervisor_destroy(struct vm *vm);
void hypervisor_start(void);
void hypervisor_stop(void);

/*
 * The permissions of a node a VM owns: "n<domid> <others>".  In sockets
 * mode no domain exists (a xenstored refuses to give a node to a domain it
 * does not know: Xen 4.17's C daemon answers ENOENT), so dom0 owns the node
 * and the VM gets read-write access through the ACL: "n0 b<domid>".
 */
void vm_owned_perms(char *buf, size_t sz, unsigned domid, const char *others);

/* A connection for a guest's kernel: its own socket, or its ring. */
struct xs_conn *connect_guest(struct vm *vm);
/* A connection for dom0's kernel: a socket, or dom0's ring. */
struct xs_conn *connect_dom0_kernel(enum actor actor);

/* Random numbers from --seed. */
uint32_t rnd(void);

/* snprintf into a fixed buffer, abort on truncation (paths must be exact). */
#define fmt(buf, ...) fmt_(buf, sizeof(buf), __VA_ARGS__)
void fmt_(char *buf, size_t sz, const char *f, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Run @body(@arg, tx) inside a transaction on @c, retrying on EAGAIN as
 * libxl and the kernel do.  @body returns 0, or an errno to abort.
 * Returns 0 once committed, or the error.
 */
int with_tx(struct xs_conn *c, enum tx_kind kind,
	    int (*body)(struct xs_conn *c, uint32_t tx, void *arg), void *arg);

/* xenbus_switch_state(): START, READ state, WRITE state, END. */
int switch_state(struct xs_conn *c, const char *state_path, int state,
		 uint64_t *sent_at);

/* Note a watch event on a state node: latency since that state was written. */
void note_state_event(uint64_t written_at);

#endif
