#!/usr/bin/env python3
"""Hostile guests beside a well-behaved one (sim platform).

One guest floods requests and never reads its replies; another registers
watches on a busy path and never reads its events; a third builds a deep
tree.  Meanwhile a well-behaved guest keeps getting its answers (each
within a generous bound: a hang fails, no latency is asserted), and the
daemon's memory stays bounded by the quotas, not by what the hostile
guests send."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import simguest  # noqa: E402
from xsd import XS_READ, XS_WRITE, XS_WATCH, XS_RM, XS_SET_PERMS  # noqa: E402

# Per request of the well-behaved guest: only a hang fails.
BOUND = 10.0
# Growth of the daemon's resident memory allowed over the whole test.  The
# quotas bound it to a few MiB per domain; this only catches unbounded
# growth (the flood below offers far more than this).
RSS_GROWTH_LIMIT = 64 * 1024 * 1024


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def flood_without_reading(guest, seconds):
    """Pipeline requests for `seconds`, never reading a reply; returns
    how many were put on the ring."""
    sent = 0
    end = time.monotonic() + seconds
    request = guest.pack(XS_READ, b"data/big\0", 1)
    while time.monotonic() < end:
        if guest.ring_room() >= len(request):
            guest.ring_write(request)
            sent += 1
        else:
            time.sleep(0.001)
    return sent


def main(tap, daemon):
    dom0 = daemon.toolstack()
    good = daemon.new_guest(dom0, 50)
    flooder = daemon.new_guest(dom0, 51)
    watcher = daemon.new_guest(dom0, 52)
    digger = daemon.new_guest(dom0, 53)
    pid = daemon.proc.pid
    before = rss(pid)

    dom0.call(XS_WRITE, b"/local/domain/51/data/big\0" + b"x" * 2000)
    dom0.call(XS_SET_PERMS, b"/local/domain/51/data/big\0n51\0")
    sent = flood_without_reading(flooder, 2.0)
    tap.ok(sent > 0, "the flooding guest pipelined requests", sent)

    # Watches on a path that dom0 keeps changing; events never read.
    for i in range(100):
        watcher.call(XS_WATCH, b"/local/domain/50/data\0t%d\0" % i)
    dom0.call(XS_SET_PERMS, b"/local/domain/50/data\0n50\0r52\0")

    # A deep tree, as deep as the path quota lets it be.
    depth, path = 0, b"data"
    while depth < 1000:
        path += b"/d"
        if digger.call(XS_WRITE, path + b"\0v") != b"OK\0":
            break
        depth += 1
    tap.ok(depth > 10, "the digger built a tree %d levels deep" % depth)

    worst = 0.0
    answered = 0
    for i in range(200):
        dom0.call(XS_WRITE, b"/local/domain/50/data/busy%d\0%d" % (i % 20, i))
        start = time.monotonic()
        try:
            got = good.request(XS_WRITE, b"data/k%d\0v%d" % (i, i))
        except TimeoutError:
            break
        worst = max(worst, time.monotonic() - start)
        if got.payload != b"OK\0":
            break
        answered += 1
        if i % 10 == 0:
            flood_without_reading(flooder, 0.01)
    tap.diag("flooder: %d requests on its ring; slowest answer to the "
             "well-behaved guest: %.3f s" % (sent, worst))
    tap.ok(answered == 200, "the well-behaved guest got all 200 answers "
           "(each within %g s)" % BOUND,
           "%d answered, slowest %.3f s" % (answered, worst))
    tap.ok(good.call(XS_READ, b"data/k199\0") == b"v199",
           "and its writes were applied")

    grown = rss(pid) - before
    tap.diag("daemon RSS %d KiB -> %d KiB" % (before // 1024,
                                              rss(pid) // 1024))
    tap.ok(grown < RSS_GROWTH_LIMIT, "the daemon's memory stayed bounded",
           "grew by %d KiB" % (grown // 1024))

    # The hostile guests are still connected, and whole: the flooder's
    # replies all arrive, in order, once it reads them.
    got = 0
    try:
        while got < sent:
            r = flooder.read_reply(timeout=BOUND)
            if r.payload != b"x" * 2000:
                break
            got += 1
    except TimeoutError:
        pass
    tap.ok(got == sent, "the flooder gets every reply once it reads",
           "%d of %d" % (got, sent))
    tap.ok(digger.call(XS_RM, b"data/d\0") == b"OK\0",
           "the deep tree is removed in one RM")
    tap.ok(digger.call(XS_READ, b"data/d\0") == b"E:ENOENT",
           "all of it")
    for g in (good, flooder, watcher, digger):
        g.close()


if __name__ == "__main__":
    sys.exit(simguest.run_sim_tests(main))
