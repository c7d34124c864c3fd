/*
 * The simulated event channel's datagram, shared by the daemon's sim
 * platform and the simulated guests (io-xen/SIM.md).
 */
#ifndef IO_XEN_SIM_EVENT_H
#define IO_XEN_SIM_EVENT_H

#include <stdint.h>

/*
 * Guest -> DIR/evtchn: "domain @domid signals its port @port".
 * Daemon -> DIR/guest-<domid>: "your port @port was signalled".
 * Host byte order; exactly this size, anything else is ignored.
 */
struct sim_event {
	uint32_t domid;
	uint32_t port;
};

/* The port dom0's "kernel" allocated for its own ring (DIR/xsd_port). */
#define SIM_DOM0_PORT 1

#endif
