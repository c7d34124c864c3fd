#!/usr/bin/env python3
"""Live update over the Unix socket, driven by Xen's own xenstore-control:
the daemon execs a new binary which takes every connection over with its
state (nodes and permissions, watches that still fire, an open
transaction that still commits, replies the client had not read yet),
in the same process; open transactions make it wait (BUSY) or, forced,
go anyway; a bad binary or one that refuses the state leaves the old
daemon serving; the -b/-d variant sends the binary over the socket."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
ROOTDIR = tempfile.mkdtemp(prefix="xsd-lu-root.")
# The state file goes to $XENSTORED_RUNDIR/state_dump, as Xen's does.
os.environ["XENSTORED_RUNDIR"] = ROOTDIR
import xsd  # noqa: E402
from xsd import (XS_READ, XS_WRITE, XS_WATCH, XS_SET_PERMS,  # noqa: E402
                 XS_GET_PERMS, XS_DIRECTORY, XS_TRANSACTION_START,
                 XS_TRANSACTION_END, XS_CONTROL, XS_MKDIR)

CONTROL = os.environ.get("XENSTORE_CONTROL",
                         "/usr/lib/xen-4.17/bin/xenstore-control")


def binary():
    top = os.environ.get("abs_top_builddir") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return os.environ.get("XENSTORED") or os.path.join(top, "daemon",
                                                       "xenstored")


def live_update(daemon, *args):
    """xenstore-control live-update ARGS: (exit status, output)."""
    env = dict(os.environ, XENSTORED_PATH=daemon.socket_path)
    p = subprocess.run([CONTROL, "live-update"] + list(args), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    return p.returncode, p.stdout.decode(errors="replace")


def dump(client, path=b"/"):
    """Every node below path: {path: (value, perms)}."""
    out = {}
    value = client.call(XS_READ, path + b"\0")
    perms = client.call(XS_GET_PERMS, path + b"\0")
    out[path] = (value, perms)
    children = client.call(XS_DIRECTORY, path + b"\0")
    for child in children.split(b"\0"):
        if child:
            sub = (path.rstrip(b"/") + b"/" + child)
            out.update(dump(client, sub))
    return out


def wait_event(watcher, want, limit=50):
    """Read events until `want`; True if it came among the next `limit`."""
    for _ in range(limit):
        if watcher.read_event() == want:
            return True
    return False


def populate(client):
    client.call(XS_MKDIR, b"/lu\0")
    for i in range(50):
        client.call(XS_WRITE, b"/lu/n%d\0value %d" % (i, i))
    client.call(XS_WRITE, b"/lu/binary\0a\0b\xff\0")
    client.call(XS_WRITE, b"/lu/empty\0")
    client.call(XS_SET_PERMS, b"/lu/n1\0n0\0r0\0")
    client.call(XS_WRITE, b"/lu/big\0" + b"x" * 4000)


def main(tap, daemon):
    if daemon.external:
        tap.skip("live update of the daemon under test",
                 "XS_TEST_SOCKET: not our daemon to replace")
        return
    if not os.access(CONTROL, os.X_OK):
        tap.skip("live update", "no %s (xen-utils-4.17)" % CONTROL)
        return
    pid = daemon.proc.pid
    c = xsd.Client(daemon.socket_path)
    populate(c)

    help_text = c.call(XS_CONTROL, b"help\0")
    tap.ok(b"live-update\t[-c <cmdline>] [-F] [-t <timeout>] <file>"
           in help_text, "CONTROL help lists live-update as C's does",
           repr(help_text))

    # A watcher, an open transaction, a client that stopped reading.
    watcher = xsd.Client(daemon.socket_path)
    watcher.call(XS_WATCH, b"/lu\0tok\0")
    tap.ok(watcher.read_event() == b"/lu\0tok\0", "watch set")
    tx_client = xsd.Client(daemon.socket_path)
    tx = int(tx_client.call(XS_TRANSACTION_START, b"\0").rstrip(b"\0"))
    tx_client.call(XS_WRITE, b"/lu/in-tx\0committed later", tx_id=tx)
    tap.ok(tx_client.call(XS_READ, b"/lu/n3\0", tx_id=tx) == b"value 3",
           "a transaction is open, with a read and a write in it")

    # Open transaction: without -F it waits, then gives up.
    before = dump(c)
    rc, out = live_update(daemon, "-t", "1", binary())
    tap.ok(rc != 0 and "long running transactions" in out,
           "an open transaction refuses the update after -t seconds",
           "rc %d: %s" % (rc, out))
    tap.ok(daemon.alive() and dump(c) == before,
           "the old daemon still serves, state unchanged")

    # A binary that is not one, one that refuses, one that crashes.
    bad_dir = tempfile.mkdtemp(prefix="xsd-lu-bad.")
    try:
        not_exec = os.path.join(bad_dir, "not-exec")
        with open(not_exec, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        rc, out = live_update(daemon, "-F", "-t", "1", not_exec)
        tap.ok(rc != 0 and "not executable" in out,
               "a file that is not executable is refused", out)
        refuses = os.path.join(bad_dir, "refuses")
        with open(refuses, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(refuses, stat.S_IRWXU)
        rc, out = live_update(daemon, "-F", "-t", "1", refuses)
        tap.ok(rc != 0 and "refused the state" in out,
               "a binary that refuses the state: refused", out)
        crashes = os.path.join(bad_dir, "crashes")
        with open(crashes, "w") as f:
            f.write("#!/bin/sh\nkill -SEGV $$\n")
        os.chmod(crashes, stat.S_IRWXU)
        rc, out = live_update(daemon, "-F", "-t", "1", crashes)
        tap.ok(rc != 0 and "died" in out,
               "a binary that crashes on the state: refused", out)
    finally:
        shutil.rmtree(bad_dir, ignore_errors=True)
    tap.ok(daemon.alive() and daemon.proc.pid == pid and dump(c) == before,
           "after three bad binaries the old daemon still serves")
    tap.ok(tx_client.call(XS_READ, b"/lu/n4\0", tx_id=tx) == b"value 4",
           "and its transaction is still open")

    # Replies the client has not read yet: more than the socket holds.
    lazy = xsd.Client(daemon.socket_path)
    pending = 300
    for i in range(pending):
        lazy.send_raw(xsd.Client.pack(XS_READ, b"/lu/big\0", req_id=i + 1))
    time.sleep(0.5)

    # Forced: the transaction goes along.
    rc, out = live_update(daemon, "-F", "-t", "1", binary())
    tap.ok(rc == 0, "forced live update into the same binary: OK",
           "rc %d: %s" % (rc, out))
    tap.ok(daemon.alive() and daemon.proc.pid == pid,
           "the same process serves on (exec, not restart)")
    tap.ok(not os.path.exists(os.path.join(ROOTDIR, "state_dump")),
           "the state file is gone once restored")
    after = dump(c)
    tap.ok(after == before, "every node, value and permission kept",
           "%d nodes before, %d after" % (len(before), len(after)))

    got = []
    for _ in range(pending):
        r = lazy.read_message()
        got.append((r.req_id, r.payload))
    tap.ok(got == [(i + 1, b"x" * 4000) for i in range(pending)],
           "%d replies queued before the update arrive after it, in order"
           % pending)

    c.call(XS_WRITE, b"/lu/after\0x")
    tap.ok(watcher.read_event() == b"/lu/after\0tok\0",
           "the watch set before the update fires after it")
    tap.ok(tx_client.call(XS_READ, b"/lu/in-tx\0", tx_id=tx) ==
           b"committed later", "the transaction still sees its own write")
    tap.ok(tx_client.call(XS_TRANSACTION_END, b"T\0", tx_id=tx) == b"OK\0",
           "the transaction opened before the update commits after it")
    tap.ok(c.call(XS_READ, b"/lu/in-tx\0") == b"committed later",
           "its write is in the store")

    # A transaction that conflicts across the update still conflicts.
    tx2 = int(tx_client.call(XS_TRANSACTION_START, b"\0").rstrip(b"\0"))
    tx_client.call(XS_READ, b"/lu/n5\0", tx_id=tx2)
    tx_client.call(XS_WRITE, b"/lu/n6\0from tx2", tx_id=tx2)
    rc, out = live_update(daemon, "-F", "-t", "1", binary())
    tap.ok(rc == 0, "a second update, with a transaction open", out)
    c.call(XS_WRITE, b"/lu/n5\0changed")
    r = tx_client.call(XS_TRANSACTION_END, b"T\0", tx_id=tx2)
    tap.ok(r == b"E:EAGAIN", "a transaction whose read changed after the "
           "update: EAGAIN", repr(r))
    tap.ok(c.call(XS_READ, b"/lu/n6\0") == b"value 6",
           "and its write is not applied")

    # Quiet: no -F needed; then the same binary sent over the socket.
    rc, out = live_update(daemon, binary())
    tap.ok(rc == 0, "an update with nothing open needs no -F", out)
    with open(binary(), "rb") as f:
        blob = f.read()
    s = xsd.Client(daemon.socket_path)
    ok = s.call(XS_CONTROL, b"live-update\0-b\0%d\0" % len(blob)) == b"OK\0"
    for off in range(0, len(blob), 2048):
        chunk = blob[off:off + 2048]
        ok = ok and s.call(XS_CONTROL, b"live-update\0-d\0%d\0" % len(chunk)
                           + chunk + b"\0") == b"OK\0"
    tap.ok(ok, "the binary sent in %d chunks (-b, -d)"
           % ((len(blob) + 2047) // 2048))
    r = s.call(XS_CONTROL, b"live-update\0-s\0-t\0" b"10\0")
    tap.ok(r == b"OK\0", "and started from there (-s)", repr(r))
    tap.ok(daemon.alive() and dump(c) == dump(xsd.Client(daemon.socket_path))
           and c.call(XS_READ, b"/lu/after\0") == b"x",
           "the daemon from the sent binary serves the same store")
    c.call(XS_WRITE, b"/lu/after2\0y")
    tap.ok(wait_event(watcher, b"/lu/after2\0tok\0"),
           "the watch survived four updates")

    # Sessions: one at a time, and only the owner may go on.
    other = xsd.Client(daemon.socket_path)
    tap.ok(c.call(XS_CONTROL, b"live-update\0-f\0%s\0" % binary().encode())
           == b"OK\0", "a session opened with -f")
    tap.ok(other.call(XS_CONTROL, b"live-update\0-f\0/bin/true\0") ==
           b"live-update session already active.\0",
           "a second session is refused as C refuses it")
    tap.ok(other.call(XS_CONTROL, b"live-update\0-s\0") ==
           b"Not in live-update session.\0",
           "another connection cannot start it")
    tap.ok(c.call(XS_CONTROL, b"live-update\0-a\0") == b"OK\0",
           "-a aborts the session")
    tap.ok(c.call(XS_CONTROL, b"live-update\0-a\0") ==
           b"No live-update session active.\0", "-a again: none active")


if __name__ == "__main__":
    try:
        status = xsd.run_tests(main)
    finally:
        shutil.rmtree(ROOTDIR, ignore_errors=True)
    sys.exit(status)
