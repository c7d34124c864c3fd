#!/usr/bin/env python3
"""Ring features over the sim platform (xenstore-ring.txt): RECONNECT drops
partial packets, queued output, watches and transactions; a corrupted ring
or an oversized request sets the error field and the ring is ignored, but
the domain is kept until it really dies (XSA-325); a new INTRODUCE gives it
a fresh connection.  And dom0's own ring: with --no-socket the toolstack
itself goes through it."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
import xsd  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_WATCH, XS_TRANSACTION_START,  # noqa: E402
                 XS_TRANSACTION_END, XS_IS_DOMAIN_INTRODUCED, XS_INTRODUCE,
                 XS_GET_DOMAIN_PATH, XENSTORE_CONNECTED, XENSTORE_ERROR_NONE,
                 XENSTORE_ERROR_RINGIDX, XENSTORE_ERROR_PROTO,
                 XENSTORE_PAYLOAD_MAX)

WAIT = 10.0


def wait_for(cond, limit=WAIT):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_reconnect(tap, daemon, dom0):
    g = daemon.new_guest(dom0, 40)
    g.call(XS_WATCH, b"data\0w\0")
    g.read_event()
    tx = int(g.call(XS_TRANSACTION_START, b"\0")[:-1])
    g.call(XS_WRITE, b"data/in-tx\0v", tx)
    # Half a request on the ring, and a reply it never reads.
    g.send_raw(g.pack(XS_READ, b"domid\0", 77))
    whole = g.pack(XS_READ, b"domid\0", 78)
    g.ring_write(whole[:10])
    tap.ok(wait_for(lambda: g.get("rsp_prod") != g.get("rsp_cons")),
           "a reply is waiting, unread")

    tap.ok(g.reconnect(), "RECONNECT: the daemon sets CONNECTED again")
    tap.ok(g.get("connection") == XENSTORE_CONNECTED and
           g.get("req_cons") == g.get("req_prod") and
           g.get("rsp_cons") == g.get("rsp_prod"),
           "both queues are empty",
           [g.get(f) for f in ("req_cons", "req_prod", "rsp_cons",
                               "rsp_prod")])
    got = g.request(XS_READ, b"domid\0", req_id=79)
    tap.ok(got.req_id == 79 and got.payload == b"40",
           "the next request is answered: the partial one was dropped", got)
    tap.ok(g.call(XS_TRANSACTION_END, b"T\0", tx) == b"E:ENOENT",
           "its transaction is gone")
    tap.ok(dom0.call(XS_READ, b"/local/domain/40/data/in-tx\0") ==
           b"E:ENOENT", "and nothing of it was applied")
    dom0.call(XS_WRITE, b"/local/domain/40/data/after\0v")
    g.call(XS_READ, b"domid\0")
    tap.ok(g.no_event(), "its watch is gone")
    tap.ok(g.reconnect() and g.call(XS_READ, b"domid\0") == b"40",
           "a second RECONNECT works too")
    g.close()


def test_corrupted_ring(tap, daemon, dom0, watcher):
    g = daemon.new_guest(dom0, 41)
    watcher.read_event()
    g.set("req_prod", g.get("req_cons") + 2000)
    g.notify()
    tap.ok(wait_for(lambda: g.get("error") == XENSTORE_ERROR_RINGIDX),
           "corrupted indices: the error field says RINGIDX",
           "error=%d" % g.get("error"))
    g.set("req_prod", g.get("req_cons"))
    g.send_raw(g.pack(XS_READ, b"domid\0", 5))
    tap.ok(g.no_event(1.0), "the ring is ignored after that")
    tap.ok(dom0.call(XS_IS_DOMAIN_INTRODUCED, b"41\0") == b"T\0",
           "but the domain is kept")
    tap.ok(watcher.no_event(), "and no @releaseDomain fired")
    tap.ok(daemon.introduce(dom0, g) == b"OK\0",
           "INTRODUCE again gives it a new connection")
    tap.ok(g.get("error") == XENSTORE_ERROR_NONE,
           "with the error field cleared")
    got = g.read_reply()
    tap.ok(got.req_id == 5 and got.payload == b"41",
           "and it is served again", got)
    daemon.sim.destroy(41)
    tap.ok(watcher.read_event() == b"@releaseDomain\0release\0",
           "its death still fires @releaseDomain")
    tap.ok(wait_for(lambda: dom0.call(XS_IS_DOMAIN_INTRODUCED, b"41\0") ==
                    b"F\0"), "and then it is forgotten")
    g.close()

    g = daemon.new_guest(dom0, 42)
    watcher.read_event()
    g.set("rsp_cons", g.get("rsp_prod") + 1)
    g.send_raw(g.pack(XS_READ, b"domid\0", 6))
    tap.ok(wait_for(lambda: g.get("error") == XENSTORE_ERROR_RINGIDX),
           "a reply consumer ahead of the producer is RINGIDX too",
           "error=%d" % g.get("error"))
    tap.ok(dom0.call(XS_IS_DOMAIN_INTRODUCED, b"42\0") == b"T\0",
           "the domain is kept")
    g.close()


def test_oversized_request(tap, daemon, dom0, watcher):
    g = daemon.new_guest(dom0, 43)
    watcher.read_event()
    g.send_raw(g.pack(XS_WRITE, b"", 9, length=XENSTORE_PAYLOAD_MAX + 1))
    tap.ok(wait_for(lambda: g.get("error") == XENSTORE_ERROR_PROTO),
           "a header longer than 4096: the error field says PROTO",
           "error=%d" % g.get("error"))
    tap.ok(g.no_event(0.5), "no reply comes")
    tap.ok(dom0.call(XS_IS_DOMAIN_INTRODUCED, b"43\0") == b"T\0",
           "the domain is kept")
    tap.ok(watcher.no_event(), "and no @releaseDomain fired")
    g.close()


def test_dom0_ring(tap):
    """--no-socket: nothing but rings; dom0's toolstack on its own ring."""
    daemon = simguest.SimDaemon(["--no-socket"])
    try:
        tap.ok(not os.path.exists(daemon.socket_path),
               "--no-socket: no socket file")
        port = daemon.sim.dom0_port()
        dom0 = simguest.Guest(daemon.sim, 0, port, create=False)
        tap.ok(dom0.call(XS_GET_DOMAIN_PATH, b"0\0") == b"/local/domain/0\0",
               "dom0's ring answers")
        tap.ok(dom0.call(XS_WRITE, b"/tool/via-ring\0v") == b"OK\0" and
               dom0.call(XS_READ, b"/tool/via-ring\0") == b"v",
               "dom0 over its ring is privileged")
        guest = simguest.Guest(daemon.sim, 44)
        got = dom0.call(XS_INTRODUCE, b"44\0" b"0\0" b"%d\0" % guest.port)
        tap.ok(got == b"OK\0", "INTRODUCE through dom0's ring", got)
        tap.ok(guest.call(XS_GET_DOMAIN_PATH, b"44\0") ==
               b"/local/domain/44\0", "and the guest is served")
        guest.close()
        dom0.close()
    finally:
        clean, why = daemon.stop()
        tap.ok(clean, "the --no-socket daemon exits cleanly", why)


def main(tap, daemon):
    dom0 = daemon.toolstack()
    watcher = daemon.toolstack()
    watcher.call(XS_WATCH, b"@introduceDomain\0intro\0")
    watcher.call(XS_WATCH, b"@releaseDomain\0release\0")
    watcher.read_event()
    watcher.read_event()
    test_reconnect(tap, daemon, dom0)
    watcher.read_event()
    test_corrupted_ring(tap, daemon, dom0, watcher)
    test_oversized_request(tap, daemon, dom0, watcher)
    test_dom0_ring(tap)


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main))
