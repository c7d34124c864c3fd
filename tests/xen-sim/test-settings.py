#!/usr/bin/env python3
"""Xen 4.21/4.22's per-domain settings over rings: SET_FEATURE before
INTRODUCE decides what the ring advertises and whether WATCH takes a
depth; SET_QUOTA for one domain holds that domain alone, a global one
reaches every domain without its own; settings end with the domain; the
special watches' depth and @releaseDomain/<domid> as Xen 4.22 fires them.
Expected answers from Xen's tools/xenstored (domain.c, watch.c)."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
from xsd import (XS_WATCH, XS_WRITE, XS_RELEASE,  # noqa: E402
                 XS_GET_FEATURE, XS_SET_FEATURE, XS_GET_QUOTA, XS_SET_QUOTA,
                 XS_IS_DOMAIN_INTRODUCED,
                 XENSTORE_SERVER_FEATURE_RECONNECTION,
                 XENSTORE_SERVER_FEATURE_ERROR,
                 XENSTORE_SERVER_FEATURE_WATCHDEPTH)

ALL = (XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR |
       XENSTORE_SERVER_FEATURE_WATCHDEPTH)
WAIT = 5.0


def number(n):
    return b"%d\0" % n


def watches_until_refused(guest, limit, prefix=b"t"):
    got = [guest.call(XS_WATCH, b"data\0%s%d\0" % (prefix, i))
           for i in range(limit)]
    return sum(1 for r in got if r == b"OK\0"), [r for r in got
                                                 if r != b"OK\0"][:1]


def collected(client):
    """The events queued for @client before the reply to a round trip (a
    change's events are queued before its maker's reply), sorted."""
    client.call(XS_GET_FEATURE, b"")
    got, client.events = client.events, []
    return sorted(got)


def test_features(tap, daemon, dom0):
    sim = daemon.sim
    # Created, not introduced yet: the toolstack's moment for SET_FEATURE.
    g = simguest.Guest(sim, 30)
    tap.ok(dom0.call(XS_GET_FEATURE, b"30\0") == number(ALL),
           "GET_FEATURE of a domain not introduced yet: all we implement")
    tap.ok(dom0.call(XS_SET_FEATURE, b"30\0" b"8\0") == b"E:EINVAL",
           "SET_FEATURE of a bit we do not implement (DOMID_ANY): EINVAL")
    narrow = XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR
    tap.ok(dom0.call(XS_SET_FEATURE, b"30\0" + number(narrow)) == b"OK\0",
           "SET_FEATURE before INTRODUCE: without WATCHDEPTH")
    tap.ok(dom0.call(XS_GET_FEATURE, b"30\0") == number(narrow),
           "GET_FEATURE reads it back")
    tap.ok(daemon.introduce(dom0, g) == b"OK\0", "INTRODUCE 30")
    simguest.setup_home(dom0, 30)
    tap.ok(g.get("server_features") == narrow,
           "the ring advertises just those",
           "server_features=%#x" % g.get("server_features"))
    tap.ok(dom0.call(XS_SET_FEATURE, b"30\0" + number(ALL)) == b"E:EBUSY",
           "SET_FEATURE after INTRODUCE: EBUSY")
    tap.ok(g.call(XS_GET_FEATURE, b"") == number(narrow),
           "the guest's own GET_FEATURE")
    tap.ok(g.call(XS_WATCH, b"data\0t\0" b"1\0") == b"E:EINVAL",
           "without WATCHDEPTH, a third WATCH argument is EINVAL (as 4.17)")
    tap.ok(g.call(XS_GET_FEATURE, b"30\0") == b"E:EACCES",
           "a guest may not ask about a domain")
    tap.ok(g.call(XS_SET_FEATURE, b"30\0" b"0\0") == b"E:EACCES",
           "nor set features")

    g2 = daemon.new_guest(dom0, 31)
    tap.ok(g2.get("server_features") == ALL,
           "a domain nobody narrowed advertises all of them",
           "server_features=%#x" % g2.get("server_features"))
    tap.ok(g2.call(XS_WATCH, b"data\0t\0" b"1\0") == b"OK\0",
           "with WATCHDEPTH, WATCH takes a depth")
    collected(g2)
    dom0.call(XS_WRITE, b"/local/domain/31/data/a\0v")
    dom0.call(XS_WRITE, b"/local/domain/31/data/a/b\0v")
    got = collected(g2)
    tap.ok(got == [b"data/a\0t\0"],
           "a guest's depth-1 watch: the child, not the grandchild", got)

    # Released, then introduced again: it starts from the defaults.
    tap.ok(dom0.call(XS_RELEASE, b"30\0") == b"OK\0", "RELEASE 30")
    tap.ok(dom0.call(XS_GET_FEATURE, b"30\0") == number(ALL),
           "a released domain's features are the defaults again")
    g.close()
    g2.close()


def test_quotas(tap, daemon, dom0):
    tap.ok(dom0.call(XS_SET_QUOTA, b"32\0watches\0" b"2\0") == b"E:ENOENT",
           "SET_QUOTA of a domain that does not exist: ENOENT")
    g = simguest.Guest(daemon.sim, 32)
    tap.ok(dom0.call(XS_SET_QUOTA, b"32\0watches\0" b"2\0") == b"OK\0",
           "SET_QUOTA before INTRODUCE, as the toolstack does")
    tap.ok(daemon.introduce(dom0, g) == b"OK\0", "INTRODUCE 32")
    simguest.setup_home(dom0, 32)
    other = daemon.new_guest(dom0, 33)
    tap.ok(dom0.call(XS_GET_QUOTA, b"32\0watches\0") == b"2\0" and
           dom0.call(XS_GET_QUOTA, b"33\0watches\0") == b"128\0",
           "GET_QUOTA: 32's own, 33 the global one")
    done, refusal = watches_until_refused(g, 4)
    tap.ok((done, refusal) == (2, [b"E:E2BIG"]),
           "domain 32 holds to its own watch quota (2)", (done, refusal))
    done, refusal = watches_until_refused(other, 4)
    tap.ok((done, refusal) == (4, []), "domain 33 does not", (done, refusal))

    tap.ok(dom0.call(XS_SET_QUOTA, b"watches\0" b"5\0") == b"OK\0",
           "a global SET_QUOTA")
    tap.ok(dom0.call(XS_GET_QUOTA, b"33\0watches\0") == b"5\0" and
           dom0.call(XS_GET_QUOTA, b"32\0watches\0") == b"2\0",
           "reaches the domain without its own, not the one with")
    done, refusal = watches_until_refused(other, 3, b"more")
    tap.ok((done, refusal) == (1, [b"E:E2BIG"]),
           "and holds it at once (4 + 1)", (done, refusal))

    tap.ok(dom0.call(XS_SET_QUOTA, b"32\0node-size\0" b"100\0") == b"OK\0" and
           g.call(XS_WRITE, b"data/big\0" + b"x" * 200) == b"E:ENOSPC" and
           other.call(XS_WRITE, b"data/big\0" + b"x" * 200) == b"OK\0",
           "a per-domain node-size: ENOSPC for that domain alone")
    tap.ok(dom0.call(XS_SET_QUOTA, b"32\0node-size\0" b"0\0") == b"OK\0" and
           g.call(XS_WRITE, b"data/big\0" + b"x" * 3000) == b"OK\0",
           "0 is no limit, as in Xen")
    tap.ok(g.call(XS_GET_QUOTA, b"nodes\0") == b"E:EACCES" and
           g.call(XS_SET_QUOTA, b"nodes\0" b"5000\0") == b"E:EACCES",
           "a guest may not get or set quotas")

    daemon.sim.destroy(32)
    deadline = time.monotonic() + WAIT
    while (dom0.call(XS_IS_DOMAIN_INTRODUCED, b"32\0") != b"F\0" and
           time.monotonic() < deadline):
        time.sleep(0.05)
    tap.ok(dom0.call(XS_GET_QUOTA, b"32\0watches\0") == b"E:ENOENT",
           "a dead domain has no quotas")
    g.close()
    g = simguest.Guest(daemon.sim, 32)
    tap.ok(dom0.call(XS_GET_QUOTA, b"32\0watches\0") == b"5\0",
           "a new domain 32 starts from the global ones")
    dom0.call(XS_SET_QUOTA, b"watches\0" b"128\0")
    g.close()
    other.close()


def test_special_depth(tap, daemon, dom0):
    watcher = daemon.toolstack()
    for path, token, depth in ((b"@introduceDomain", b"plain", b""),
                               (b"@introduceDomain", b"d0", b"0\0"),
                               (b"@introduceDomain", b"d1", b"1\0"),
                               (b"@releaseDomain", b"plain", b""),
                               (b"@releaseDomain", b"d1", b"1\0"),
                               (b"@releaseDomain/34", b"only34", b""),
                               (b"@releaseDomain/35", b"only35", b"")):
        watcher.call(XS_WATCH, path + b"\0" + token + b"\0" + depth)
    collected(watcher)

    def events():
        return collected(watcher)

    g = daemon.new_guest(dom0, 34)
    got = events()
    tap.ok(got == sorted([b"@introduceDomain\0plain\0",
                          b"@introduceDomain/34\0d1\0"]),
           "INTRODUCE: @introduceDomain without a depth, "
           "@introduceDomain/34 with depth 1, nothing with depth 0", got)
    tap.ok(dom0.call(XS_RELEASE, b"34\0") == b"OK\0", "RELEASE 34")
    got = events()
    tap.ok(got == sorted([b"@releaseDomain\0plain\0",
                          b"@releaseDomain/34\0d1\0",
                          b"@releaseDomain/34\0only34\0"]),
           "RELEASE: @releaseDomain, @releaseDomain/34 for depth 1 and for "
           "the watch of @releaseDomain/34 alone", got)
    g.close()
    watcher.close()


def main(tap, daemon):
    dom0 = daemon.toolstack()
    test_features(tap, daemon, dom0)
    test_quotas(tap, daemon, dom0)
    test_special_depth(tap, daemon, dom0)


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main))
