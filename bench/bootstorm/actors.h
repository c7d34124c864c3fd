/*
 * The actors of a bootstorm (BOOTSTORM.md), each with its own connections:
 * the toolstack (libxl's xl create / shutdown / destroy), hotplug scripts,
 * the dom0 kernel's backends, xenconsoled, the guests' kernels and xl's
 * per-VM monitors; and the mirage benchmark's client (xsbench).
 */
#ifndef BOOTSTORM_ACTORS_H
#define BOOTSTORM_ACTORS_H

#include "world.h"

/* toolstack.c: K workers create the VMs, then ask them to shut down. */
void toolstack_start_boot(void);
void toolstack_start_teardown(void);
bool toolstack_idle(void);
/* libxl_domain_destroy() of @vm over @c (a monitor's, or a worker's). */
void toolstack_destroy(struct xs_conn *c, struct vm *vm);
/* Shared-monitor mode: a VM awaits its destroy by a worker. */
void toolstack_kick(void);
/* An event for a libxl device-state wait on @c; false if not one. */
bool toolstack_event(const char *path, const char *token);

/* hotplug.c: the block / vif-bridge scripts, one connection per request. */
void hotplug_add(struct device *d);
void hotplug_remove(struct device *d);

/* backend.c: blkback and netback in dom0's kernel (one connection). */
void backend_start(void);
void backend_stop(void);
bool backend_idle(void);
bool backend_finished(void);

/* console.c: xenconsoled. */
void console_start(void);
void console_stop(void);
bool console_finished(void);

/* guest.c: a guest kernel boots, connects its frontends; and shuts down. */
void guest_boot(struct vm *vm);

/* monitor.c: xl's per-VM child, or one toolstack daemon for all VMs. */
void monitor_start_vm(struct vm *vm);
void monitor_start_shared(void);
void monitor_stop_shared(void);
/* Shared mode: the next VM that shut down and awaits its destroy. */
struct vm *monitor_next_to_destroy(void);

/* xsbench.c: the mirage ocaml-xenstore benchmark's VM cycle. */
void xsbench_run(unsigned n, bool *done);

#endif
