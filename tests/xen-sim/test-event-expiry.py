#!/usr/bin/env python3
"""Watch events a guest never takes expire (-w watch-event=SECONDS), and
their expiry costs the daemon their bytes, not their number squared.

A guest with 100 watches on its home stops reading while dom0 writes 1000
nodes under it: 100,000 distinct events queue for it.  When they expire
the daemon must go on answering everyone (each request within a
generous bound: only a hang fails, no latency is asserted; cutting them
out one at a time took about 11 s of daemon CPU here, in one go), and the
guest, reading again, gets what is left whole and in order."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
from xsd import XS_READ, XS_WRITE, XS_WATCH, XS_GET_DOMAIN_PATH  # noqa: E402

TIMEOUT = 1           # -w watch-event, seconds
BOUND = 10.0          # per request: only a hang fails
WATCHES, WRITES = 100, 1000
ARGS = ["-w", "watch-event=%d" % TIMEOUT]


def main(tap, daemon):
    dom0 = daemon.toolstack()
    g = daemon.new_guest(dom0, 60)
    for i in range(WATCHES):
        g.call(XS_WATCH, b"/local/domain/60\0t%d\0" % i)
    while not g.no_event(0.2):    # each watch's first event
        g.events.clear()
    # The guest stops reading: its events pile up in the daemon.
    for i in range(WRITES):
        dom0.call(XS_WRITE, b"/local/domain/60/n%d\0v" % i)
    time.sleep(TIMEOUT + 2.5)     # past the timeout, and a tick or two
    start = time.monotonic()
    dom0.sock.settimeout(BOUND)
    try:
        got = dom0.call(XS_READ, b"/local/domain/60/n0\0")
    except TimeoutError:
        got = None
    waited = time.monotonic() - start
    tap.ok(got == b"v" and waited < BOUND,
           "dom0 is answered once %d events expired" % (WATCHES * WRITES),
           "%r after %.3f s" % (got, waited))
    # What expired is gone; a reply queued after it arrives whole, and so
    # does a new event.
    reply = g.request(XS_GET_DOMAIN_PATH, b"60\0", req_id=4242)
    tap.ok(reply.req_id == 4242 and reply.payload == b"/local/domain/60\0",
           "the guest's next request is answered whole", reply)
    stale = len(g.events)
    tap.ok(stale < 100,   # what sat in the ring (1 KiB) before it expired
           "the expired events were not delivered",
           "%d delivered" % stale)
    g.events.clear()
    dom0.call(XS_WRITE, b"/local/domain/60/after\0v")
    ev = g.read_event(timeout=BOUND)
    tap.ok(ev.startswith(b"/local/domain/60/after\0t"),
           "and a new event arrives whole", ev)
    g.close()
    dom0.close()


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main, ARGS))
