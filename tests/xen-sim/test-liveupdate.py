#!/usr/bin/env python3
"""Live update with guests over rings (sim platform): each guest's ring,
event channel, watches and transaction survive repeated updates; requests
a guest wrote while no daemon listened are answered; a domain that dies
during the update is noticed after it (@releaseDomain); dom0's own ring
keeps working; and a bootstorm of VMs (xenstore-bootstorm, libxl
profile) runs through repeated live updates with every VM up, the store
back to its start and no watch event lost (the harness checks all
three)."""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
ROOTDIR = tempfile.mkdtemp(prefix="xsd-lu-root.")
os.environ["XENSTORED_RUNDIR"] = ROOTDIR
import simguest  # noqa: E402
import xsd  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_WATCH, XS_TRANSACTION_START,  # noqa: E402
                 XS_TRANSACTION_END, XS_RM)

CONTROL = os.environ.get("XENSTORE_CONTROL",
                         "/usr/lib/xen-4.17/bin/xenstore-control")
GUESTS = int(os.environ.get("LU_GUESTS", "20"))
STORM_VMS = int(os.environ.get("LU_STORM_VMS", "100"))
STORM_UPDATES = int(os.environ.get("LU_STORM_UPDATES", "3"))


def top_builddir():
    return os.environ.get("abs_top_builddir") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")


def binary():
    return os.environ.get("XENSTORED") or os.path.join(
        top_builddir(), "daemon", "xenstored")


def live_update(daemon, *args):
    env = dict(os.environ, XENSTORED_PATH=daemon.socket_path)
    p = subprocess.run([CONTROL, "live-update"] + list(args) + [binary()],
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    return p.returncode, p.stdout.decode(errors="replace")


def wait_event(who, want, limit=50):
    for _ in range(limit):
        if who.read_event() == want:
            return True
    return False


def guests_phase(tap, daemon):
    dom0 = daemon.toolstack()
    watcher = daemon.toolstack()
    watcher.call(XS_WATCH, b"@releaseDomain\0rel\0")
    watcher.read_event()
    guests = [daemon.new_guest(dom0, domid) for domid in
              range(1, GUESTS + 1)]
    for g in guests:
        g.call(XS_WRITE, b"data/before\0%d" % g.domid)
        g.call(XS_WATCH, b"data\0mine\0")
        g.read_event()
    # One guest keeps a transaction open across the updates.
    holder = guests[0]
    tx = int(holder.call(XS_TRANSACTION_START, b"\0").rstrip(b"\0"))
    holder.call(XS_WRITE, b"data/tx\0inside", tx_id=tx)

    rc, out = live_update(daemon, "-F", "-t", "1")
    tap.ok(rc == 0, "live update with %d guests over rings" % GUESTS, out)
    ok = all(g.call(XS_READ, b"data/before\0") == b"%d" % g.domid
             for g in guests)
    tap.ok(ok, "every guest is served over its ring after the update")
    for g in guests:
        dom0.call(XS_WRITE, b"/local/domain/%d/data/after\0x" % g.domid)
    tap.ok(all(wait_event(g, b"data/after\0mine\0") for g in guests),
           "every guest's relative watch fires after the update")

    # Requests written while no daemon listens: answered afterwards.
    env = dict(os.environ, XENSTORED_PATH=daemon.socket_path)
    proc = subprocess.Popen([CONTROL, "live-update", "-F", "-t", "1",
                             binary()], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sent = []
    deadline = time.monotonic() + 5
    i = 0
    while proc.poll() is None and time.monotonic() < deadline:
        g = guests[1 + i % (len(guests) - 1)]
        # Signals are sent blocking (SIM.md): no daemon reads them while
        # it is being replaced, and the queue may fill meanwhile.
        g.sock.settimeout(30)
        g.send_raw(g.pack(XS_WRITE, b"data/during\0%d" % i,
                          req_id=1000 + i))
        sent.append((g, i))
        i += 1
        time.sleep(0.002)
    proc.wait(60)
    tap.ok(proc.returncode == 0, "a second update while guests write",
           proc.stdout.read().decode(errors="replace"))
    answered = 0
    for g, n in sent:
        try:
            r = g.read_reply()
        except TimeoutError as exc:
            tap.diag("guest %d, request %d of %d: %s"
                     % (g.domid, n, len(sent), exc))
            break
        answered += r.payload == b"OK\0" and r.req_id == 1000 + n
    tap.ok(len(sent) > 0 and answered == len(sent),
           "all %d requests sent around the update are answered OK"
           % len(sent), "%d answered" % answered)

    # A domain that dies while the daemon is being replaced.
    victim = guests[-1]
    proc = subprocess.Popen([CONTROL, "live-update", "-F", "-t", "1",
                             binary()], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    daemon.sim.destroy(victim.domid)
    proc.wait(60)
    tap.ok(wait_event(watcher, b"@releaseDomain\0rel\0"),
           "a domain destroyed during the update fires @releaseDomain")
    # What the dead domain owned goes (its home is dom0's: libxl's).
    data = b"/local/domain/%d/data\0" % victim.domid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and \
            dom0.call(XS_READ, data) != b"E:ENOENT":
        time.sleep(0.05)
    tap.ok(dom0.call(XS_READ, data) == b"E:ENOENT",
           "and the nodes it owned are removed")

    r = holder.call(XS_READ, b"data/tx\0", tx_id=tx)
    tap.ok(r == b"inside",
           "the guest's transaction still sees its write after 3 updates",
           repr(r))
    r = holder.call(XS_TRANSACTION_END, b"T\0", tx_id=tx)
    tap.ok(r == b"OK\0" and
           dom0.call(XS_READ, b"/local/domain/1/data/tx\0") == b"inside",
           "and commits", repr(r))
    # Gone as libxl leaves them: the storm below reuses the domids.
    for g in guests:
        g.close()
        if g is not victim:
            daemon.sim.destroy(g.domid)
        dom0.call(XS_RM, b"/local/domain/%d\0" % g.domid)


def storm_phase(tap, daemon):
    storm = os.path.join(top_builddir(), "bench", "xenstore-bootstorm")
    if not os.access(storm, os.X_OK):
        tap.skip("bootstorm across live updates", "no %s" % storm)
        return
    report = os.path.join(daemon.tmpdir, "storm.json")
    cmd = [storm, "-s", daemon.socket_path, "-p", str(daemon.proc.pid),
           "--sim", daemon.sim.path, "-P", "libxl", "-n", str(STORM_VMS),
           "-k", "8", "--json", report]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    updates = []

    def updater():
        time.sleep(0.5)
        while proc.poll() is None and len(updates) < STORM_UPDATES:
            updates.append(live_update(daemon, "-F", "-t", "1"))
            time.sleep(0.3)
    t = threading.Thread(target=updater)
    t.start()
    out, _ = proc.communicate(timeout=600)
    t.join()
    out = out.decode(errors="replace")
    tap.ok(len(updates) >= 1 and all(rc == 0 for rc, _ in updates),
           "%d live updates during a %d-VM bootstorm" % (len(updates),
                                                          STORM_VMS),
           "\n".join(o for _, o in updates))
    tap.ok(proc.returncode == 0,
           "the bootstorm verified: every VM up, store back to its start, "
           "no watch event lost", out[-3000:])


def main(tap, daemon):
    if not os.access(CONTROL, os.X_OK):
        tap.skip("live update", "no %s (xen-utils-4.17)" % CONTROL)
        return
    pid = daemon.proc.pid
    guests_phase(tap, daemon)
    storm_phase(tap, daemon)
    tap.ok(daemon.alive() and daemon.proc.pid == pid,
           "one process all along")


if __name__ == "__main__":
    try:
        status = simguest.run_sim_tests(main)
    finally:
        shutil.rmtree(ROOTDIR, ignore_errors=True)
    sys.exit(status)
