#!/usr/bin/python3
"""python3-pyxs (Debian's package, a client no one here wrote) against the
daemon: read, write, mkdir, rm, ls, permissions, transactions and watches.

Run by /usr/bin/python3 on purpose: python3-pyxs is installed for Debian's
interpreter, not for whatever python3 comes first in PATH."""

import errno
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import xsd  # noqa: E402

try:
    import pyxs
    from pyxs.exceptions import PyXSError
except ImportError:
    print("1..0 # SKIP python3-pyxs missing (apt-get install python3-pyxs)")
    sys.exit(0)

CALL_TIMEOUT = 10.0


class Hung(Exception):
    pass


def bounded(func, *args):
    """func(*args) in a helper thread: pyxs waits for replies without a
    timeout, and a hang must be a failure rather than a stuck test."""
    result = {}

    def run():
        try:
            result["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(CALL_TIMEOUT)
    if thread.is_alive():
        raise Hung("%s%r did not return within %gs"
                   % (getattr(func, "__name__", func), args, CALL_TIMEOUT))
    if "error" in result:
        raise result["error"]
    return result.get("value")


def errno_of(func, *args):
    try:
        bounded(func, *args)
    except PyXSError as exc:
        return exc.args[0]
    return 0


def main(tap, daemon):
    def check(name, func):
        try:
            got, want = func()
            tap.ok(got == want, name, "got      %r\nexpected %r" % (got, want))
        except Exception as exc:  # noqa: BLE001 - any failure is a test failure
            tap.ok(False, name, "%s: %s" % (type(exc).__name__, exc))

    c = pyxs.Client(unix_socket_path=daemon.socket_path)
    other = pyxs.Client(unix_socket_path=daemon.socket_path)
    bounded(c.connect)
    bounded(other.connect)
    base = b"/pyxs-test"
    if bounded(c.exists, base):
        bounded(c.delete, base)

    def write_read():
        bounded(c.write, base + b"/a", b"value one")
        return bounded(c.read, base + b"/a"), b"value one"
    check("write then read", write_read)

    check("read of a missing node raises ENOENT",
          lambda: (errno_of(c.read, base + b"/missing"), errno.ENOENT))
    check("read with a default for a missing node",
          lambda: (bounded(c.read, base + b"/missing", b"dflt"), b"dflt"))

    def mkdir():
        bounded(c.mkdir, base + b"/d/e")
        return (bounded(c.read, base + b"/d/e"), bounded(c.list, base + b"/d")), (b"", [b"e"])
    check("mkdir creates the node and its parents", mkdir)

    check("ls lists children in creation order",
          lambda: (bounded(c.list, base), [b"a", b"d"]))
    check("exists", lambda: ((bounded(c.exists, base + b"/a"),
                              bounded(c.exists, base + b"/nope")), (True, False)))

    def rm():
        bounded(c.delete, base + b"/d")
        return (bounded(c.exists, base + b"/d/e"), bounded(c.list, base)), (False, [b"a"])
    check("rm removes a subtree", rm)
    check("rm of a node under a missing parent raises ENOENT",
          lambda: (errno_of(c.delete, base + b"/nope/deeper"), errno.ENOENT))

    check("get_perms of a new node", lambda: (bounded(c.get_perms, base + b"/a"), [b"n0"]))

    def set_perms():
        bounded(c.set_perms, base + b"/a", [b"b0", b"r3"])
        return bounded(c.get_perms, base + b"/a"), [b"b0", b"r3"]
    check("set_perms then get_perms", set_perms)

    check("get_domain_path", lambda: (bounded(c.get_domain_path, 3), b"/local/domain/3"))

    def tx_commit():
        bounded(c.transaction)
        bounded(c.write, base + b"/tx", b"in tx")
        outside = bounded(other.read, base + b"/tx", b"absent")
        committed = bounded(c.commit)
        return (outside, committed, bounded(other.read, base + b"/tx")), (b"absent", True, b"in tx")
    check("transaction: invisible to others until a successful commit", tx_commit)

    def tx_rollback():
        bounded(c.transaction)
        bounded(c.write, base + b"/tx", b"rolled back")
        bounded(c.rollback)
        return bounded(c.read, base + b"/tx"), b"in tx"
    check("transaction: rollback discards", tx_rollback)

    def tx_conflict():
        bounded(c.transaction)
        bounded(c.read, base + b"/tx")
        bounded(c.write, base + b"/tx-out", b"x")
        bounded(other.write, base + b"/tx", b"changed meanwhile")
        committed = bounded(c.commit)
        return (committed, bounded(c.exists, base + b"/tx-out")), (False, False)
    check("transaction: a conflicting commit fails (EAGAIN) and applies nothing", tx_conflict)

    m = c.monitor()
    # unwatched=True: pyxs would otherwise hide events for watches it has
    # removed, and we want to see what the daemon sends.
    events = m.wait(unwatched=True)

    def next_event():
        return bounded(next, events)

    def watch_initial():
        bounded(m.watch, base + b"/w", b"tok")
        return next_event(), (base + b"/w", b"tok")
    check("monitor: watch fires its initial event", watch_initial)

    def watch_change():
        bounded(other.write, base + b"/w/child", b"v")
        return next_event(), (base + b"/w/child", b"tok")
    check("monitor: a change below the watch by another client", watch_change)

    def watch_rm():
        bounded(other.delete, base + b"/w")
        return next_event(), (base + b"/w", b"tok")
    check("monitor: removal of the watched node", watch_rm)

    def unwatch():
        bounded(m.unwatch, base + b"/w", b"tok")
        bounded(other.write, base + b"/w/again", b"v")
        bounded(m.watch, base + b"/w2", b"tok2")
        first = next_event()
        return first, (base + b"/w2", b"tok2")
    check("monitor: after unwatch only the other watch fires", unwatch)

    def unwatch_unknown():
        return errno_of(c.ack, pyxs._internal.Op.UNWATCH, base + b"/zz\0", b"none\0"), errno.ENOENT
    check("unwatch of an unknown watch raises ENOENT", unwatch_unknown)

    bounded(m.close)
    bounded(c.delete, base)
    bounded(c.close)
    bounded(other.close)


if __name__ == "__main__":
    sys.exit(xsd.run_tests(main))
