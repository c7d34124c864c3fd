#!/usr/bin/env python3
"""The socket conversations of test-daemon.sh, one sub-command each.

The shell script owns the daemon processes; this file only talks to a socket.
A check prints one result line for the script to turn into a TAP point:
"ok<TAB>name" or "not ok<TAB>name<TAB>diagnostic".  `call` is the exception:
it prints the payload of one reply, like a tiny xenstore-read/-write.

    daemon_talk.py call SOCKET read PATH | write PATH VALUE | control ARG...
    daemon_talk.py stall SOCKET
    daemon_talk.py oversized SOCKET
    daemon_talk.py flood SOCKET
    daemon_talk.py control SOCKET TRACE_FILE MEMREPORT_FILE MARKER NODES_QUOTA
    daemon_talk.py hold SOCKET
"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import xsd  # noqa: E402
from xsd import (Client, Closed, XS_CONTROL, XS_READ, XS_WRITE,  # noqa: E402
                 XS_WATCH, XS_TRANSACTION_START, XS_ERROR,
                 XENSTORE_PAYLOAD_MAX, HEADER_LEN)

FLOOD_REQUESTS = 1000
# Replies this big add up to far more than a socket buffer holds, so the
# daemon really has output it cannot deliver while the client does not read.
FLOOD_VALUE = b"f" * 4000


def result(ok, name, diag=""):
    line = "%s\t%s" % ("ok" if ok else "not ok", name)
    if not ok:
        line += "\t" + " | ".join(str(diag).splitlines())
    print(line, flush=True)
    return ok


def strings(*args):
    return b"".join(a.encode() + b"\0" for a in args)


def write_payload(path, value):
    # WRITE's value is the rest of the payload, not NUL-terminated.
    if isinstance(value, str):
        value = value.encode()
    return path.encode() + b"\0" + value


def round_trip(sock, tag):
    """A WRITE then a READ of its value on a fresh connection: the daemon
    serves newcomers.  Returns (ok, diagnostic)."""
    path, value = "/xsd-daemon-test/%s" % tag, "value-%s" % tag
    try:
        c = Client(sock)
        try:
            w = c.call(XS_WRITE, write_payload(path, value))
            r = c.call(XS_READ, strings(path))
        finally:
            c.close()
    except (OSError, Closed) as exc:
        return False, "no answer: %s" % exc
    if w != b"OK\0" or r != value.encode():
        return False, "WRITE gave %r, READ gave %r" % (w, r)
    return True, ""


# ------------------------------------------------------------------ call

def cmd_call(sock, op, *args):
    if op == "read" and len(args) == 1:
        mtype, payload = XS_READ, strings(args[0])
    elif op == "write" and len(args) == 2:
        mtype, payload = XS_WRITE, write_payload(*args)
    elif op == "control" and args:
        mtype, payload = XS_CONTROL, strings(*args)
    else:
        sys.exit("usage: call SOCKET read PATH | write PATH VALUE | "
                 "control ARG...")
    try:
        c = Client(sock)
        reply = c.request(mtype, payload)
        c.close()
    except (OSError, Closed) as exc:
        print("no reply: %s" % exc, file=sys.stderr)
        return 2
    text = reply.payload.rstrip(b"\0").decode(errors="replace")
    if reply.type == XS_ERROR:
        print("E:" + text)
        return 1
    print(text)
    return 0


# ------------------------------------------------------------------ stall

def cmd_stall(sock):
    """One client stops in the middle of a request; the others go on."""
    path = "/xsd-daemon-test/stalled"
    request = Client.pack(XS_WRITE, write_payload(path, "late"), req_id=7)
    staller = Client(sock)
    # Half a header, then nothing: the daemon must not wait for the rest.
    staller.send_raw(request[:HEADER_LEN // 2])
    ok, diag = round_trip(sock, "beside-half-header")
    result(ok, "another client is answered while one stalls mid-header", diag)
    # The whole header and part of the payload: still no blocking.
    staller.send_raw(request[HEADER_LEN // 2:HEADER_LEN + 3])
    ok, diag = round_trip(sock, "beside-half-payload")
    result(ok, "another client is answered while one stalls mid-payload", diag)
    staller.send_raw(request[HEADER_LEN + 3:])
    try:
        reply = staller.read_reply()
        got = (reply.type, reply.req_id, reply.payload)
    except (OSError, Closed) as exc:
        got = "no reply: %s" % exc
    result(got == (XS_WRITE, 7, b"OK\0"),
           "the stalled request is answered once complete", got)
    staller.close()


# ------------------------------------------------------------------ oversized

def cmd_oversized(sock):
    """A header announcing more than XENSTORE_PAYLOAD_MAX cuts that client."""
    bad = Client(sock)
    bad.send_raw(Client.pack(XS_READ, length=XENSTORE_PAYLOAD_MAX + 1))
    closed = bad.is_closed()
    result(closed, "a header with len > %d closes the connection"
           % XENSTORE_PAYLOAD_MAX, "connection still open")
    bad.close()
    ok, diag = round_trip(sock, "after-oversized")
    result(ok, "the daemon serves others after cutting an oversized header",
           diag)


# ------------------------------------------------------------------ flood

def send_flood(client, path, errors):
    burst = b"".join(Client.pack(XS_READ, strings(path), req_id=i + 1)
                     for i in range(FLOOD_REQUESTS))
    try:
        client.send_raw(burst)
    except OSError as exc:
        errors.append(exc)


def cmd_flood(sock):
    """Pipelined requests from a client that does not read its replies."""
    path = "/xsd-daemon-test/flood"
    setup = Client(sock)
    setup.call(XS_WRITE, write_payload(path, FLOOD_VALUE))
    setup.close()

    # 1. The flooder reads its replies late, after another client was served.
    flooder = Client(sock, timeout=10)
    errors = []
    # The daemon may stop reading a client whose replies pile up, so the
    # burst is sent from a thread: that is a stall of this client only.
    sender = threading.Thread(target=send_flood, args=(flooder, path, errors))
    sender.start()
    ok, diag = round_trip(sock, "beside-flood")
    result(ok, "another client is answered while one floods without reading",
           diag)
    bad = None
    i = 0
    try:
        for i in range(FLOOD_REQUESTS):
            r = flooder.read_reply()
            if (r.type, r.req_id, r.payload) != (XS_READ, i + 1, FLOOD_VALUE):
                bad = "reply %d: %s req_id %d, %d bytes" % (
                    i + 1, xsd.type_name(r.type), r.req_id, len(r.payload))
                break
    except (OSError, Closed) as exc:
        bad = "after %d replies: %s" % (i, exc)
    sender.join(15)
    if sender.is_alive():
        bad = bad or "the burst could not be sent in 15s"
    elif errors:
        bad = bad or "sending the burst: %s" % errors[0]
    result(bad is None, "the flooding client then gets all %d replies in order"
           % FLOOD_REQUESTS, bad)
    flooder.close()

    # 2. The flooder never reads and hangs up with replies still queued.
    quitter = Client(sock, timeout=10)
    errors = []
    sender = threading.Thread(target=send_flood, args=(quitter, path, errors))
    sender.start()
    ok, diag = round_trip(sock, "beside-quitter")
    result(ok, "another client is answered while one floods and never reads",
           diag)
    quitter.sock.shutdown(2)  # also ends a send blocked on a full socket
    sender.join(15)
    quitter.close()
    ok, diag = round_trip(sock, "after-quitter")
    result(ok, "the daemon serves others after the flooding client hangs up",
           diag)


# ------------------------------------------------------------------ control

def cmd_control(sock, trace_file, memreport_file, marker, nodes_quota):
    c = Client(sock)

    def control(*args):
        return c.call(XS_CONTROL, strings(*args))

    help_text = control("help").decode(errors="replace")
    missing = [cmd for cmd in ("check", "log", "logfile", "memreport",
                               "print", "quota", "help")
               if not any(line.split()[:1] == [cmd]
                          for line in help_text.splitlines())]
    result(not missing, "CONTROL help lists check, log, logfile, memreport, "
           "print, quota, help", "missing %s in %r" % (missing, help_text))

    quota = control("quota").decode(errors="replace")
    # The value given with -E on the command line, not a built-in default.
    result(any("nodes" in line.split(":")[0] and
               line.split(":")[1].split()[:1] == [nodes_quota]
               for line in quota.splitlines() if ":" in line),
           "CONTROL quota prints the table, with the -E value for nodes",
           quota)

    got = control("check")
    result(got == b"OK\0", "CONTROL check answers OK", got)

    got = control("logfile", trace_file)
    result(got == b"OK\0", "CONTROL logfile FILE answers OK", got)
    c.call(XS_WRITE, write_payload("/xsd-daemon-test/traced", "1"))
    text = read_text(trace_file)
    result("/xsd-daemon-test/traced" in text,
           "after CONTROL logfile FILE, requests are traced into FILE", text)

    got = control("log", "off")
    result(got == b"OK\0", "CONTROL log off answers OK", got)
    c.call(XS_WRITE, write_payload("/xsd-daemon-test/untraced", "1"))
    text = read_text(trace_file)
    result("/xsd-daemon-test/untraced" not in text,
           "after CONTROL log off, requests are not traced", text)

    got = control("log", "on")
    result(got == b"OK\0", "CONTROL log on answers OK", got)
    c.call(XS_WRITE, write_payload("/xsd-daemon-test/retraced", "1"))
    text = read_text(trace_file)
    result("/xsd-daemon-test/retraced" in text,
           "after CONTROL log on, requests are traced into FILE again", text)

    got = control("memreport")
    result(not got.startswith(b"E:") and len(got.strip(b"\0")) > len(b"OK"),
           "CONTROL memreport answers with a report", got)

    got = control("memreport", memreport_file)
    text = read_text(memreport_file)
    # The first line of libtalloc's talloc_report_full().
    result(got == b"OK\0" and text.startswith("full talloc report"),
           "CONTROL memreport FILE writes a talloc report into FILE",
           "reply %r, file starts %r" % (got, text[:80]))

    got = control("print", marker)
    result(got == b"OK\0", "CONTROL print answers OK", got)

    got = control("no-such-command")
    result(got.startswith(b"E:"), "an unknown CONTROL command is an error",
           got)
    c.close()


# ------------------------------------------------------------------ hold

def cmd_hold(sock):
    """Leave the daemon with live state to free at shutdown: connections
    with a watch, an open transaction, half a request and unread output.
    Prints "ready", then waits (bounded) for the daemon to hang up."""
    path = "/xsd-daemon-test/held"
    c = Client(sock, timeout=30)
    c.call(XS_WATCH, strings(path, "held-token"))
    tx_id = int(c.call(XS_TRANSACTION_START, b"\0").rstrip(b"\0"))
    c.call(XS_WRITE, write_payload(path, "in-transaction"), tx_id=tx_id)
    c.send_raw(Client.pack(XS_READ, strings(path))[:HEADER_LEN // 2])
    unread = Client(sock, timeout=30)
    unread.send_raw(Client.pack(XS_READ, strings("/tool")))
    print("ready", flush=True)
    c.is_closed(wait=30)
    unread.close()
    c.close()


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError as exc:
        return "(cannot read %s: %s)" % (path, exc)


COMMANDS = {
    "call": cmd_call,
    "stall": cmd_stall,
    "oversized": cmd_oversized,
    "flood": cmd_flood,
    "control": cmd_control,
    "hold": cmd_hold,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]) or 0)
