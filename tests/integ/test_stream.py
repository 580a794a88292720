"""
test_stream.py - bodies that are never whole in memory

A large message to many domains with every process's peak memory
measured, a large body with every awkward byte checked at both kinds of
next hop, and a queue killed in the middle of a receipt.
"""

import hashlib
import os
import signal
import smtplib
import subprocess
import time

from harness import (BUILD, SANITIZE, SLOW, Fail, check, wait_until, test,
                     popen, free_port, proc_status, sanitizer_env, greet,
                     make_message, smtp_send)

MIB = 1024 * 1024


def big_body(size, seed=b"", awkward=False):
    """size bytes of CRLF lines; with awkward, lines that start with dots
    or are only dots, 8-bit octets, and lines of the longest length, the
    bytes a body can hold that a careless relay breaks."""
    out = []
    n = 0
    i = 0
    while n < size:
        if awkward and i % 7 == 0:
            line = b".dot line %d %s" % (i, seed)
        elif awkward and i % 11 == 0:
            line = b"caf\xc3\xa9 %d \xff\x80" % i
        elif awkward and i % 13 == 0:
            line = b"." if i % 2 else b".."
        elif awkward and i % 17 == 0:
            line = b"y" * 996
        else:
            line = b"line %08d %s" % (i, seed) + b"x" * 60
        out.append(line + b"\r\n")
        n += len(line) + 2
        i += 1
    return b"".join(out)


def peak_kib(pid):
    try:
        return int(proc_status(pid).get("VmHWM", "0 kB").split()[0])
    except (OSError, ValueError):
        return 0


def count_sink(t):
    """aval-sink that counts (-c FILE) and keeps nothing: a fan-out of
    gigabytes must not land on the test's disk."""
    port = free_port()
    cfile = os.path.join(t.dir, "sink-%d.count" % port)
    logf = open(os.path.join(t.dir, "sink-%d.log" % port), "ab")
    proc = popen([os.path.join(BUILD, "aval-sink"), "-l", "127.0.0.1:%d" % port,
                  "-c", cfile, "-t", "600"],
                 stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                 env=sanitizer_env(), start_new_session=True)

    def listening():
        if proc.poll() is not None:
            raise Fail("aval-sink exited %s" % proc.returncode)
        return os.path.exists(cfile)
    wait_until(listening, 10, 0.05, "aval-sink to start")
    def stop():
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        logf.close()
    t.cleanups.append(stop)
    return port, cfile


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


@test("stream_30mb_to_100_domains_memory", timeout=600)
def t_fanout_memory(t):
    # Under the sanitizers the figures are ASan's (shadow, quarantine),
    # not aval's: the delivery is checked at a tenth of the fan-out.
    ndom = 10 if SANITIZE else 100
    size = 30 * MIB
    port, cfile = count_sink(t)
    a = t.aval(sinkport=port, max_message_size="35M", max_recipients=100,
               processes=1, deliver_processes=1).start()
    body = big_body(size, b"fanout")
    rcpts = ["r%d@d%d.example" % (i, i) for i in range(ndom)]
    t0 = time.time()
    qid = smtp_send(a.port, "s@client.test", rcpts,
                    make_message("fan1", body=body))
    wait_until(lambda: count_lines(cfile) >= ndom, 240 * SLOW, 0.2,
               "%d deliveries at the sink" % ndom)
    took = time.time() - t0
    a.wait_queue_empty(30)
    a.wait_log(r"%s: removed" % qid, 10)
    peaks = {"avald[%d]" % a.proc.pid: peak_kib(a.proc.pid)}
    for pid, kind in a.workers():
        peaks["%s[%d]" % (kind, pid)] = peak_kib(pid)
    t.note("%d MiB to %d domains in %.1f s; peak RSS KiB: %s" % (
        size // MIB, ndom, took, ", ".join("%s %d" % kv for kv in sorted(peaks.items()))))
    if SANITIZE:
        return
    total = sum(peaks.values())
    # The bound: under 128 MiB summed over every aval process.
    # The queue's share is mostly the Berkeley DB cache (32 MiB).
    check(total < 128 * 1024, "peak RSS summed %d KiB, want under 128 MiB: %r"
          % (total, peaks))
    for name, kib in peaks.items():
        if name.startswith("aval-queue"):
            check(kib < 64 * 1024, "%s peak %d KiB, want under 64 MiB" % (name, kib))
        elif name.startswith("aval-deliver"):
            check(kib < 48 * 1024, "%s peak %d KiB, want under 48 MiB" % (name, kib))
        else:
            check(kib < 24 * 1024, "%s peak %d KiB, want under 24 MiB" % (name, kib))


@test("stream_awkward_body_exact_smtp_maildir",
      timeout=240)
def t_exact(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_message_size="8M").start()
    body = big_body(3 * MIB + 12345, b"exact", awkward=True)
    msg = make_message("exact1", body=body)
    rcpts = ["one@relay.test", "two@other.example", "bob@aval.test",
             "eva@aval.test"]
    qid = smtp_send(a.port, "s@client.test", rcpts, msg, options=("BODY=8BITMIME",))
    sink.wait_count(2, 60 * SLOW)
    a.wait_queue_empty(30)
    want = hashlib.sha256(msg).hexdigest()
    for f, sender, got_rcpts, data in sink.messages():
        # The sink keeps the data as received after unstuffing; aval put
        # its Received header on top.
        check(data.endswith(msg), "%s: the body at the sink differs from the "
              "one sent (%d bytes, want %d ending in sha256 %s)" % (
                  f, len(data), len(msg), want))
    a.wait_log(r"%s: .*relay=\[127\.0\.0\.1\].*status=sent" % qid, 5)
    lf = msg.replace(b"\r\n", b"\n")
    for user in ("bob", "eva"):
        d = os.path.join(a.maildir, "aval.test", user, "new")
        files = wait_until(lambda: os.listdir(d) if os.path.isdir(d) else [],
                           10, 0.1, "a message in %s" % d)
        with open(os.path.join(d, files[0]), "rb") as f:
            got = f.read()
        check(got.endswith(lf), "%s's Maildir copy differs from the body sent "
              "with LF line ends (%d bytes)" % (user, len(got)))
        check(got.startswith(b"Return-Path: <s@client.test>\nDelivered-To: "
                             b"%s@aval.test\n" % user.encode()),
              "%s's copy starts %r" % (user, got[:80]))
    # No spool file is left in the maildir root.
    left = [x for x in os.listdir(a.maildir) if x.startswith(".aval-spool")]
    check(not left, "spool files left in the maildir root: %r" % left)


@test("stream_text_cut_anywhere_arrives_exact", timeout=120)
def t_cut_anywhere(t):
    """smtpd takes the whole lines of each piece of input at once, and a
    line across two pieces the slow way: a stuffed body sent in writes cut
    at every kind of place (inside CRLF, between a dot and its line, in the
    final dot), with a command pipelined after the final dot in the same
    write, arrives exactly as it was before stuffing."""
    import socket
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_message_size="8M").start()
    body = big_body(200 * 1024, b"cut", awkward=True) + b".\r\n..\r\n.x\r\n"
    msg = make_message("cut-anywhere", body=body)
    lines = msg.split(b"\r\n")[:-1]
    stuffed = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                       for l in lines)
    wire = stuffed + b".\r\nRSET\r\n"
    sizes = [1, 2, 3, 5, 7, 4093, 1, 16384, 77, 2, 999]
    with greet(a.port) as r:
        r.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for cmd, want in ((b"MAIL FROM:<s@client.test>", 250),
                          (b"RCPT TO:<cut@relay.test>", 250),
                          (b"DATA", 354)):
            c, txt = r.cmd(cmd)
            check(c == want, "%r: %r" % (cmd, txt))
        off, i = 0, 0
        # The last five writes cut the final dot and the RSET apart.
        while off < len(wire) - 12:
            n = min(sizes[i % len(sizes)], len(wire) - 12 - off)
            r.send(wire[off:off + n])
            off += n
            i += 1
            if n < 100:
                time.sleep(0.002)
        for n in (3, 1, 2, 1, 5):
            r.send(wire[off:off + n])
            off += n
            time.sleep(0.01)
        check(off == len(wire), "the test sent %d of %d bytes" % (off, len(wire)))
        c, txt = r.reply(timeout=30 * SLOW)
        check(c == 250, "after the final dot: %r" % txt)
        c, txt = r.reply(timeout=10 * SLOW)
        check(c == 250, "the RSET pipelined after the dot: %r" % txt)
    sink.wait_count(1, 30 * SLOW)
    data = sink.messages()[0][3]
    check(data.endswith(msg), "the body at the sink differs from the one sent "
          "(%d bytes, want %d); %d writes" % (len(data), len(msg), i + 5))
    t.note("%d bytes in %d writes arrived exact" % (len(wire), i + 5))


@test("stream_many_slow_senders_stay_under_the_queue_budget", timeout=180)
def t_slow_crowd(t):
    """The queue holds a receipt's bytes until a chunk's worth has come,
    but never more than its 16 MiB budget for all receipts: past it each
    piece is stored as it comes. 700 sessions each stop a little short of
    a chunk (48 KiB reach the queue, more than 32 MiB in all); the queue's
    memory stays under the budget and its base, the early pieces go to
    body files, and every message is delivered whole once they finish."""
    import socket
    n = 700
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_sessions=800, max_message_size="8M",
               smtpd_lines=["max-client-sessions\t800",
                            "client-connection-rate\t0",
                            "min-data-rate\t0"]).start()
    qpid = a.pids("aval-queue")[0]
    base = peak_kib(qpid)
    body = big_body(63 * 1024, b"crowd")
    sessions = []
    try:
        for i in range(n):
            r = greet(a.port)
            sessions.append(r)
            for cmd, want in ((b"MAIL FROM:<s@client.test>", 250),
                              (b"RCPT TO:<crowd%d@relay.test>" % i, 250),
                              (b"DATA", 354)):
                c, txt = r.cmd(cmd)
                check(c == want, "session %d: %r: %r" % (i, cmd, txt))
            r.send(make_message("crowd%d" % i, body=body)[:-2])
        bodydir = os.path.join(a.spool, "body")
        # smtpd passes on whole 16 KiB frames: 48 KiB of each is queued.
        files = wait_until(lambda: [f for f in os.listdir(bodydir)
                                    if not f.startswith("spare-")]
                           if len(os.listdir(bodydir)) > n // 4 else None,
                           30 * SLOW, 0.2, "receipts stored early, in files")
        peak = peak_kib(qpid)
        t.note("queue peak RSS %d KiB (%d at start) with %d sessions holding "
               "48 KiB each in it; %d body files made early"
               % (peak, base, n, len(files)))
        if not SANITIZE:
            check(peak - base < 24 * 1024,
                  "the queue grew by %d KiB: over its 16 MiB budget" % (peak - base))
        for r in sessions:
            r.send(b"\r\n.\r\n")
        for i, r in enumerate(sessions):
            c, txt = r.reply(timeout=30 * SLOW)
            check(c == 250, "session %d after its final dot: %r" % (i, txt))
    finally:
        for r in sessions:
            try:
                r.sock.close()
            except OSError:
                pass
    sink.wait_count(n, 60 * SLOW)
    short = [f for f, _, _, data in sink.messages() if not data.endswith(body)]
    check(not short, "%d messages arrived without their whole body" % len(short))


@test("stream_queue_killed_mid_body", timeout=120)
def t_killed_mid_receipt(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_message_size="8M").start()
    with greet(a.port) as r:
        for cmd, want in ((b"MAIL FROM:<s@client.test>", 250),
                          (b"RCPT TO:<cut@relay.test>", 250),
                          (b"DATA", 354)):
            c, txt = r.cmd(cmd)
            check(c == want, "%r: %r" % (cmd, txt))
        # Enough for several stored chunks: they go to a body file, which
        # outlives the queue's SIGKILL. Another message's group commit
        # comes first, so the kill does not land in the middle of a flush.
        r.send(make_message("cut1", body=big_body(2 * MIB, b"cut")))
        time.sleep(1.0 * SLOW)
        smtp_send(a.port, "s@client.test", ["flush@relay.test"],
                  make_message("flush1"))
        oldq = a.pids("aval-queue")
        os.kill(oldq[0], signal.SIGKILL)
        wait_until(lambda: [p for p in a.pids("aval-queue") if p != oldq[0]], 15,
                   0.1, "a new aval-queue")
        try:
            r.send(b"the end\r\n.\r\n")
            c, txt = r.reply(timeout=30 * SLOW)
        except OSError as e:
            c, txt = None, repr(e)
        check(c is None or 400 <= c < 500,
              "the message whose queue died mid-body got %r, want a 4xx" % txt)
    a.wait_log(r"removed a body file no message names", 20 * SLOW,
               what="the new queue sweeping the partial body")
    a.wait_log(r"removed 1 unfinished receipt\b", 5)
    # The queue goes on as before, and nothing of the cut message is sent.
    smtp_send(a.port, "s@client.test", ["after@relay.test"], make_message("after1"))
    sink.wait_count(2, 20)
    a.wait_queue_empty(10)
    time.sleep(1.0 * SLOW)
    # flush@ may come twice: killed between its delivery and the flush of
    # that outcome, the queue delivers it again (at least once, never
    # lost). The cut message must never come at all.
    got = sorted(x.strip("<>") for m in sink.messages() for x in m[2])
    check(set(got) == {"after@relay.test", "flush@relay.test"} and
          got.count("after@relay.test") == 1,
          "the sink has messages for %r, want the two whole ones only" % got)
