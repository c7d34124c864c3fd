#!/usr/bin/env python3
"""Domain lifecycle over the sim platform: INTRODUCE (first and again),
@introduceDomain, IS_DOMAIN_INTRODUCED, shutdown/crash/RESUME and
@releaseDomain, death with the removal of the domain's nodes, RELEASE,
reuse of a domid (XSA-322), SET_TARGET, and the order in which libxl sets
a new domain's permissions before introducing it."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_WATCH, XS_SET_PERMS, XS_MKDIR,  # noqa: E402
                 XS_GET_PERMS, XS_RELEASE, XS_RESUME,
                 XS_IS_DOMAIN_INTRODUCED, XS_SET_TARGET, XS_INTRODUCE,
                 XS_GET_DOMAIN_PATH)

# Generous bound for an event caused by a control command (no timing is
# asserted: only that it comes at all).
WAIT = 10.0


def introduced(dom0, domid):
    return dom0.call(XS_IS_DOMAIN_INTRODUCED, b"%d\0" % domid)


def wait_exists(dom0, path, present, limit=WAIT):
    """Poll until `path` exists (or not); True if it did in time."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got = dom0.call(XS_READ, path + b"\0")
        if (got != b"E:ENOENT") == present:
            return True
        time.sleep(0.05)
    return False


def main(tap, daemon):
    sim = daemon.sim
    dom0 = daemon.toolstack()
    # A separate watcher, so that its events do not mix with replies.
    watcher = daemon.toolstack()
    watcher.call(XS_WATCH, b"@introduceDomain\0intro\0")
    watcher.call(XS_WATCH, b"@releaseDomain\0release\0")
    tap.ok(watcher.read_event() == b"@introduceDomain\0intro\0" and
           watcher.read_event() == b"@releaseDomain\0release\0",
           "special watches fire once when set")

    # -- introduction -------------------------------------------------------
    tap.ok(introduced(dom0, 3) == b"F\0", "IS_DOMAIN_INTRODUCED before: F")
    g3 = daemon.new_guest(dom0, 3)
    tap.ok(watcher.read_event() == b"@introduceDomain\0intro\0",
           "INTRODUCE fires @introduceDomain")
    tap.ok(introduced(dom0, 3) == b"T\0", "IS_DOMAIN_INTRODUCED after: T")
    tap.ok(introduced(dom0, 0) == b"T\0", "dom0 counts as introduced")
    tap.ok(g3.call(XS_READ, b"domid\0") == b"3", "the guest is served")

    g3.call(XS_WATCH, b"data\0mine\0")
    g3.read_event()
    tap.ok(daemon.introduce(dom0, g3) == b"OK\0",
           "INTRODUCE of an introduced domain is OK")
    tap.ok(watcher.no_event(), "and fires no second @introduceDomain")
    tap.ok(g3.call(XS_READ, b"domid\0") == b"3",
           "the guest is still served after the rebind")
    dom0.call(XS_WRITE, b"/local/domain/3/data/after\0x")
    g3.call(XS_READ, b"domid\0")
    tap.ok(g3.no_event(), "its connection was reset: the watch is gone")

    got = dom0.call(XS_INTRODUCE, b"41\0" b"0\0" b"1\0")
    tap.ok(got.startswith(b"E:"), "INTRODUCE of a domain that does not "
           "exist fails", got)
    tap.ok(watcher.no_event(), "and fires nothing")

    # -- shutdown, crash, RESUME --------------------------------------------
    sim.shutdown(3)
    tap.ok(watcher.read_event() == b"@releaseDomain\0release\0",
           "a shutdown fires @releaseDomain")
    tap.ok(introduced(dom0, 3) == b"T\0", "a shut-down domain stays")
    sim.crash(3)
    dom0.call(XS_READ, b"/local/domain/3/domid\0")
    tap.ok(watcher.no_event(0.5), "a crash after the shutdown fires nothing")
    tap.ok(dom0.call(XS_RESUME, b"3\0") == b"OK\0", "RESUME")
    sim.resume(3)
    sim.crash(3)
    tap.ok(watcher.read_event() == b"@releaseDomain\0release\0",
           "after RESUME the next crash fires again")
    tap.ok(dom0.call(XS_RESUME, b"77\0") == b"E:ENOENT",
           "RESUME of an unknown domain is ENOENT")

    # -- death -----------------------------------------------------------
    g3.call(XS_WRITE, b"data/a/b\0v")
    dom0.call(XS_WRITE, b"/local/domain/3/data/by-dom0\0kept")
    dom0.call(XS_SET_PERMS, b"/local/domain/3/data/by-dom0\0n0\0")
    dom0.call(XS_WRITE, b"/elsewhere/owned-by-3\0v")
    dom0.call(XS_SET_PERMS, b"/elsewhere/owned-by-3\0n3\0")
    dom0.call(XS_WATCH, b"/local/domain/3/data/a\0gone\0")
    dom0.read_event()
    sim.destroy(3)
    tap.ok(watcher.read_event() == b"@releaseDomain\0release\0",
           "a destroyed domain fires @releaseDomain")
    tap.ok(wait_exists(dom0, b"/local/domain/3/data/a", False),
           "nodes it owned are removed")
    tap.ok(dom0.call(XS_READ, b"/elsewhere/owned-by-3\0") == b"E:ENOENT",
           "wherever they are")
    tap.ok(dom0.read_event() == b"/local/domain/3/data/a\0gone\0",
           "their removal fires watches")
    tap.ok(dom0.call(XS_READ, b"/local/domain/3/domid\0") == b"3",
           "nodes owned by dom0 stay (the toolstack removes them)")
    tap.ok(dom0.call(XS_READ, b"/local/domain/3/data/by-dom0\0") ==
           b"E:ENOENT", "but not inside the subtree of a node it owned")
    tap.ok(introduced(dom0, 3) == b"F\0", "it is no longer introduced")
    g3.close()

    # -- RELEASE -----------------------------------------------------------
    g4 = daemon.new_guest(dom0, 4)
    watcher.read_event()
    tap.ok(dom0.call(XS_RELEASE, b"4\0") == b"OK\0", "RELEASE")
    tap.ok(watcher.read_event() == b"@releaseDomain\0release\0",
           "RELEASE fires @releaseDomain")
    tap.ok(introduced(dom0, 4) == b"F\0", "a released domain is forgotten")
    g4.send_raw(g4.pack(XS_GET_DOMAIN_PATH, b"4\0", 999))
    tap.ok(g4.no_event(1.0), "its ring is no longer served")
    tap.ok(dom0.call(XS_RELEASE, b"4\0") == b"E:ENOENT",
           "RELEASE of an unknown domain is ENOENT")
    tap.ok(dom0.call(XS_RELEASE, b"0\0") == b"E:EINVAL",
           "RELEASE of dom0 is EINVAL")
    tap.ok(daemon.introduce(dom0, g4) == b"OK\0",
           "a released domain can be introduced again")
    tap.ok(watcher.read_event() == b"@introduceDomain\0intro\0",
           "as a new domain (@introduceDomain)")
    # GET_DOMAIN_PATH needs no rights: its home's permissions predate
    # this introduction and are ignored now, as for any new domain.
    got = g4.read_reply()
    tap.ok(got.req_id == 999 and got.payload == b"/local/domain/4\0",
           "the request left on its ring is answered then", got)
    got = g4.call(XS_GET_DOMAIN_PATH, b"4\0")
    tap.ok(got == b"/local/domain/4\0", "and it is served again", got)
    g4.close()

    # -- a reused domid inherits nothing (XSA-322) ------------------------
    g8 = daemon.new_guest(dom0, 8)
    watcher.read_event()
    dom0.call(XS_WRITE, b"/shared/for-8\0secret")
    dom0.call(XS_SET_PERMS, b"/shared/for-8\0n0\0r8\0")
    tap.ok(g8.call(XS_READ, b"/shared/for-8\0") == b"secret",
           "domain 8 may read a node granted to it")
    sim.destroy(8)
    watcher.read_event()
    tap.ok(wait_exists(dom0, b"/local/domain/8/data", False),
           "domain 8 died")
    g8.close()
    g8 = daemon.new_guest(dom0, 8)
    watcher.read_event()
    tap.ok(g8.call(XS_READ, b"/shared/for-8\0") == b"E:EACCES",
           "a new domain 8 does not inherit the old one's permission")
    got = dom0.call(XS_GET_PERMS, b"/shared/for-8\0")
    tap.ok(got == b"n0\0r8\0", "the entry is kept, only ignored", got)

    # -- SET_TARGET -------------------------------------------------------
    g9 = daemon.new_guest(dom0, 9)     # the guest
    g10 = daemon.new_guest(dom0, 10)   # its device model
    watcher.read_event()
    watcher.read_event()
    g9.call(XS_WRITE, b"data/disk\0config")
    tap.ok(g10.call(XS_READ, b"/local/domain/9/data/disk\0") == b"E:EACCES",
           "a device model without a target has no access")
    tap.ok(dom0.call(XS_SET_TARGET, b"10\0" b"9\0") == b"OK\0", "SET_TARGET")
    tap.ok(g10.call(XS_READ, b"/local/domain/9/data/disk\0") == b"config",
           "then it reads its target's nodes")
    tap.ok(g10.call(XS_WRITE, b"/local/domain/9/data/disk\0changed") ==
           b"OK\0", "and writes them")
    tap.ok(g9.call(XS_READ, b"/local/domain/10/data\0") == b"E:EACCES",
           "the target gets nothing of its device model's")
    tap.ok(dom0.call(XS_SET_TARGET, b"10\0" b"99\0") == b"E:ENOENT",
           "SET_TARGET to an unknown domain is ENOENT")

    # -- libxl's order: permissions naming the domain, then INTRODUCE -----
    g12 = simguest.Guest(sim, 12)
    dom0.call(XS_MKDIR, b"/local/domain/12\0")
    got = dom0.call(XS_SET_PERMS, b"/local/domain/12\0n0\0r12\0")
    tap.ok(got == b"OK\0", "a domain not yet introduced can be granted "
           "read (it exists)", got)
    dom0.call(XS_WRITE, b"/local/domain/12/domid\0" b"12")
    dom0.call(XS_WRITE, b"/local/domain/12/data\0")
    got = dom0.call(XS_SET_PERMS, b"/local/domain/12/data\0n12\0")
    tap.ok(got == b"OK\0", "and be given a node (it exists)", got)
    tap.ok(daemon.introduce(dom0, g12) == b"OK\0", "then INTRODUCE")
    watcher.read_event()
    tap.ok(g12.call(XS_READ, b"domid\0") == b"12",
           "the guest reads its home set up before INTRODUCE")
    tap.ok(g12.call(XS_WRITE, b"data/x\0y") == b"OK\0",
           "and writes its data/ set up before INTRODUCE")
    got = dom0.call(XS_SET_PERMS, b"/local/domain/12/data\0n55\0")
    tap.ok(got == b"E:ENOENT", "a domain that does not exist cannot own "
           "a node", got)

    for g in (g8, g9, g10, g12):
        g.close()


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main))
