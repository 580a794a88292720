"""
test_queue.py - aval-queue: durability, retries, and what avalctl shows

Deferral and retry, `avalctl queue/status/flush`, a queue that dies in the
middle of a transaction, and no loss of an acknowledged message while the
queue is killed under load.
"""

import json
import os
import re
import signal
import smtplib
import threading
import time

from harness import (SANITIZE, SLOW, Fail, Skip, check, wait_until, test, greet,
                     make_message, smtp_send, queue_rcpt, free_port)


@test("deferred_while_next_hop_down_then_delivered_once", timeout=90)
def t_defer(t):
    a = t.aval().start()			# no sink on a.sinkport yet
    qid = smtp_send(a.port, "s@client.test", ["later@relay.test"], make_message("df1"))
    found = [None]

    def deferred():
        x = queue_rcpt(a, "later@relay.test")
        found[0] = x
        return x and "defer" in x[1]["state"].lower() and x[1]["last_error"]
    if not wait_until(deferred, 15, 0.3):
        raise Fail("recipient not shown as deferred with a last error in avalctl queue: %r"
                   % (found[0],))
    m, rc = found[0]
    check(m["id"] == qid, "avalctl shows id %r, the 250 said %s" % (m["id"], qid))
    check(m["sender"].strip("<>") == "s@client.test", "sender %r" % m["sender"])
    t.note("deferred: %s" % rc["last_error"])
    a.wait_log(r"%s: .*to=<later@relay\.test>.*status=deferred" % qid, 5)
    r = a.ctl("queue")
    check(r.returncode == 0 and qid.encode() in r.stdout,
          "avalctl queue (text) does not list %s: %r" % (qid, r.stdout[:300]))

    sink = t.sink(port=a.sinkport)
    a.flush()
    sink.wait_count(1, 15)
    a.wait_queue_empty(10)
    a.wait_log(r"%s: .*to=<later@relay\.test>.*status=sent" % qid, 5)
    time.sleep(2.5 * SLOW)
    check(sink.count() == 1, "%d copies at the sink, want 1" % sink.count())


@test("avalctl_queue_json_status_flush")
def t_avalctl(t):
    a = t.aval().start()			# no sink: the message stays deferred
    qid = smtp_send(a.port, "s@client.test", ["ctl@relay.test"], make_message("ctl1"))
    wait_until(lambda: queue_rcpt(a, "ctl@relay.test"), 10, 0.2, "the message in the queue")
    problems = []
    r = a.ctl_plain("queue", "--json")
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        problems.append("'avalctl -f FILE queue --json' exited %d: %s" % (
            r.returncode, (out + r.stderr.decode(errors="replace")).strip()))
    else:
        try:
            data = json.loads(out)
            m = [x for x in data if x.get("id") == qid]
            if len(m) != 1:
                problems.append("queue --json has no entry with \"id\": %s: %s" % (qid, out[:300]))
            else:
                m = m[0]
                if m.get("sender") != "s@client.test":
                    problems.append("queue --json sender %r" % m.get("sender"))
                rc = m.get("recipients") or [{}]
                for k in ("address", "state", "last_error"):
                    if k not in rc[0]:
                        problems.append("queue --json recipient has no %r: %r" % (k, rc[0]))
                if rc[0].get("state") not in ("pending", "active", "deferred", "delivered",
                                              "bounced"):
                    problems.append("queue --json state %r" % rc[0].get("state"))
        except ValueError as e:
            problems.append("queue --json is not JSON (%s): %r" % (e, out[:300]))
    r = a.ctl_plain("queue")
    if r.returncode != 0 or qid.encode() not in r.stdout:
        problems.append("'avalctl queue' exited %d and printed %r" % (r.returncode, r.stdout[:300]))
    r = a.ctl_plain("status")
    txt = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        problems.append("'avalctl status' exited %d: %s" % (r.returncode, r.stderr[:300]))
    for pid, kind in a.workers():
        if str(pid) not in txt:
            problems.append("'avalctl status' does not show %s[%d]: %r" % (kind, pid, txt[:400]))
    r = a.ctl_plain("status", "--json")
    if r.returncode != 0:
        problems.append("'avalctl status --json' exited %d" % r.returncode)
    else:
        try:
            json.loads(r.stdout)
        except ValueError as e:
            problems.append("'avalctl status --json' is not JSON (%s): %r" % (e, r.stdout[:300]))
    r = a.ctl_plain("flush")
    if r.returncode != 0:
        problems.append("'avalctl flush' exited %d: %s" % (r.returncode, r.stderr[:300]))
    t.note("avalctl status: %s" % txt.strip().replace("\n", " | "))
    check(not problems, "; ".join(problems))


@test("queue_restart_mid_transaction_never_splits_the_envelope", timeout=90)
def t_queue_restart_mid_txn(t):
    """A queue that dies after RCPT a and before RCPT b loses the open
    transaction; RCPT b must not start a new one that would carry b alone."""
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=100).start()
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<s@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:<first@relay.test>")
        check(c == 250, "RCPT first: %r" % txt)
        oldq = a.pids("aval-queue")
        os.kill(oldq[0], signal.SIGKILL)
        wait_until(lambda: [p for p in a.pids("aval-queue") if p != oldq[0]], 15,
                   0.1, "a new aval-queue")
        a.wait_ready()
        time.sleep(0.5 * SLOW)
        c, txt = r.cmd(b"RCPT TO:<second@relay.test>")
        check(c is not None and 400 <= c < 500,
              "RCPT after the queue restarted got %r, want 4xx" % txt)
        c, txt = r.cmd(b"DATA")
        check(c is not None and 400 <= c < 600 and c != 354,
              "DATA after the queue restarted got %r, want a refusal" % txt)
        c, txt = r.cmd(b"RSET")
        check(c == 250, "RSET: %r" % txt)
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<first@relay.test>",
                    b"RCPT TO:<second@relay.test>"):
            c, txt = r.cmd(cmd)
            check(c == 250, "%r: %r" % (cmd, txt))
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA: %r" % txt)
        r.send(make_message("mid1") + b".\r\n")
        c, txt = r.reply()
        check(c == 250, "final dot: %r" % txt)
    sink.wait_count(1, 20)
    a.wait_queue_empty(10)
    time.sleep(1.0 * SLOW)
    msgs = sink.messages()
    check(len(msgs) == 1, "%d messages at the sink, want 1" % len(msgs))
    rcpts = sorted(x.strip("<>") for x in msgs[0][2])
    check(rcpts == ["first@relay.test", "second@relay.test"],
          "recipients at the sink: %r" % rcpts)


@test("no_loss_2000_messages_while_killing_queue", timeout=300)
def t_no_loss(t):
    """20 sessions push 2,000 messages; each message slot is retried (with a
    fresh token) until it gets 250, so the load keeps going while the queue
    is down. Each session sends at most one message per PACE seconds, so the
    push spans at least ~5 s and a few kills; killing goes on after it
    (while the queue delivers) up to MIN_KILLS. A slower push meets more
    kills, and avald's restart backoff (at once after 5 s of life, else
    doubling from 100 ms) brings the queue back."""
    no_loss(t, "aval-queue", 600 if SANITIZE else 2000)


# Under the sanitizers, which look for memory errors on these paths, half
# the load over the same kills.
SMALL = 300 if SANITIZE else 600


# Under the sanitizers the deliver and smtpd variants are left to the
# "all" one, which kills those processes too (and the paths of one lost
# deliver and one lost smtpd have tests of their own there): 40 s of the
# suite's budget.
@test("no_loss_600_messages_while_killing_deliver", timeout=300)
def t_no_loss_deliver(t):
    if SANITIZE:
        raise Skip("killing every process at once covers it here")
    no_loss(t, "aval-deliver", SMALL, pace=0.35)


@test("no_loss_600_messages_while_killing_smtpd", timeout=300)
def t_no_loss_smtpd(t):
    if SANITIZE:
        raise Skip("killing every process at once covers it here")
    no_loss(t, "aval-smtpd", SMALL, pace=0.35)


@test("no_loss_600_messages_while_killing_avald_and_all", timeout=300)
def t_no_loss_all(t):
    no_loss(t, "all", SMALL, pace=0.35)


def no_loss(t, victim, N, pace=0.05):
    """Load, kill `victim` (a worker kind, or "all": avald and every worker
    at once with SIGKILL, then a new avald on the same spool) again and
    again, then check that every acknowledged message was delivered. pace:
    the least seconds per message per session, so the load meets kills."""
    SESSIONS, KILL_EVERY, PACE, LOAD_SECS, MIN_KILLS = 20, 2.0, pace, 60, 5
    sink = t.sink()
    # A short deliver command-timeout bounds how long one stuck outbound
    # session can hold a message, so "eventually delivered" fits the wait
    # below; the default (5m) is what every other test runs with.
    a = t.aval(sinkport=sink.port, deliver_command_timeout="10s").start()
    lock = threading.Lock()
    state = {"next": 0, "acked": set(), "attempts": 0, "errors": 0, "refused": 0}
    stop = threading.Event()
    body = (b"x" * 76 + b"\r\n") * 24		# ~1.9 KB
    load_deadline = time.monotonic() + LOAD_SECS

    def loader(n):
        s = None
        while not stop.is_set() and time.monotonic() < load_deadline:
            with lock:
                slot = state["next"]
                if slot >= N:
                    break
                state["next"] += 1
            attempt = 0
            while not stop.is_set() and time.monotonic() < load_deadline:
                t_start = time.monotonic()
                token = "tok-%05d-%d" % (slot, attempt)
                attempt += 1
                msg = (b"From: <load@client.test>\r\nTo: <sink@relay.test>\r\n"
                       b"Subject: load\r\nX-Bench-Token: " + token.encode() +
                       b"\r\n\r\n" + body)
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", a.port, timeout=30 * SLOW)
                        s.ehlo("load.test")
                    with lock:
                        state["attempts"] += 1
                    code, _ = s.mail("load@client.test")
                    if code == 250:
                        code, _ = s.rcpt("sink@relay.test")
                    if code == 250:
                        code, _ = s.data(msg)
                    if code == 250:
                        with lock:
                            state["acked"].add(token)
                        time.sleep(max(0, PACE - (time.monotonic() - t_start)))
                        break
                    with lock:
                        state["refused"] += 1
                    s.rset()
                except (smtplib.SMTPException, OSError):
                    with lock:
                        state["errors"] += 1
                    try:
                        if s is not None:
                            s.close()
                    except Exception:
                        pass
                    s = None
                time.sleep(0.2)
        if s is not None:
            try:
                s.quit()
            except Exception:
                s.close()

    kills = []

    kill_stop = threading.Event()

    def killer():
        # Every KILL_EVERY seconds, but never a process younger than half
        # a second: the ticks would otherwise meet avald's restart
        # backoff and kill each new one as it starts.
        first_seen, last_kill = {}, time.monotonic()
        while not kill_stop.wait(0.1):
            now = time.monotonic()
            if victim == "all":
                if now - last_kill < KILL_EVERY * 2:
                    continue
                pgid = a.proc.pid
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                a.proc.wait(10)
                for p, _ in list(a.workers()):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                kills.append(pgid)
                time.sleep(0.3)
                a.start(wait=False)
                last_kill = time.monotonic()
                continue
            for p in a.pids(victim):
                first_seen.setdefault(p, now)
                if now - last_kill < KILL_EVERY or now - first_seen[p] < 0.5:
                    continue
                try:
                    os.kill(p, signal.SIGKILL)
                    kills.append(p)
                    last_kill = now
                except ProcessLookupError:
                    pass
    threads = [threading.Thread(target=loader, args=(i,), daemon=True) for i in range(SESSIONS)]
    kt = threading.Thread(target=killer, daemon=True)
    t0 = time.monotonic()
    for th in threads:
        th.start()
    kt.start()
    try:
        for th in threads:
            th.join(max(1, load_deadline - time.monotonic() + 40 * SLOW))
        load_time = time.monotonic() - t0
        # A quick load leaves few kills: go on killing (the queue is now
        # delivering what it acknowledged) until MIN_KILLS or 25 s.
        wait_until(lambda: len(kills) >= MIN_KILLS or time.monotonic() - t0 > 25, 30, 0.2)
    finally:
        stop.set()
        kill_stop.set()
        kt.join(10)
    check(not any(th.is_alive() for th in threads), "load threads did not finish")
    acked = set(state["acked"])
    t.note("load: %d slots, %d attempts, %d acked (250), %d refused, %d session errors, "
           "%d kills of %s, %.1fs" % (min(state["next"], N), state["attempts"], len(acked),
                                      state["refused"], state["errors"], len(kills), victim, load_time))
    check(len(acked) >= N // 10, "only %d of %d messages were acknowledged: the test proves "
          "little" % (len(acked), N))
    if len(acked) < N:
        t.note("only %d of %d messages got 250 within %ds of load" % (len(acked), N, LOAD_SECS))

    # Collect from the sink until every acked token is there (bounded).
    seen = {}
    parsed = set()
    tok_re = re.compile(rb"X-Bench-Token: (tok-\d+-\d+)")

    def scan():
        for f in sink.files():
            if f in parsed:
                continue
            try:
                with open(os.path.join(sink.dir, f), "rb") as fh:
                    head = fh.read(8192)
            except OSError:
                continue
            m = tok_re.search(head)
            if m:
                parsed.add(f)
                tok = m.group(1).decode()
                seen[tok] = seen.get(tok, 0) + 1
        return acked <= set(seen)
    last_flush = [time.monotonic()]

    def done():
        if time.monotonic() - last_flush[0] > 5:
            last_flush[0] = time.monotonic()
            try:
                a.flush()
            except Fail:
                pass
        return scan()
    wait_until(done, 120, 0.5)
    time.sleep(3 * SLOW)				# late duplicates
    scan()
    lost = sorted(acked - set(seen))
    dups = {k: v for k, v in seen.items() if v > 1}
    extra = len(set(seen) - acked)
    t.note("acked %d, delivered %d distinct (%d files), duplicates %d (%d extra copies), "
           "delivered but not acked %d, lost %d, kills %d"
           % (len(acked), len(set(seen) & acked), len(parsed), len(dups),
              sum(v - 1 for v in dups.values()), extra, len(lost), len(kills)))
    if dups:
        t.note("duplicated tokens: %s" % ", ".join(sorted(dups)[:30]))
    if lost:
        try:
            q = a.queue()
            states = {}
            for m in q:
                for rc in m["recipients"]:
                    states[rc["state"]] = states.get(rc["state"], 0) + 1
            t.note("queue now: %d messages, recipient states %r; e.g. %s"
                   % (len(q), states, json.dumps([m["raw"] for m in q[:3]])[:600]))
        except Fail as e:
            t.note("queue now: %s" % e)
        log = a.log()
        t.note("log: %d status=sent, %d status=deferred, %d durable, %d removed"
               % (log.count("status=sent"), log.count("status=deferred"),
                  log.count("(durable)"), log.count(": removed")))
    check(len(kills) >= 3, "only %d queue kills happened" % len(kills))
    check(not lost, "%d acknowledged message(s) never reached the sink: %s"
          % (len(lost), ", ".join(lost[:30])))


@test("queue_lost_after_commit_the_next_queue_says_not_stored_451", timeout=90)
def t_ask_not_stored(t):
    """The queue dies with a COMMIT it never read: the smtpd asks the next
    queue, which has no such message, and only then answers 451."""
    sink = t.sink()
    a = t.aval(sinkport=sink.port, processes=1).start()
    with greet(a.port) as r:
        for cmd, want in ((b"MAIL FROM:<s@client.test>", 250),
                          (b"RCPT TO:<ask@relay.test>", 250), (b"DATA", 354)):
            c, txt = r.cmd(cmd)
            check(c == want, "%r: %r" % (cmd, txt))
        (q,) = a.pids("aval-queue")
        os.kill(q, signal.SIGSTOP)
        r.send(make_message("ask1") + b".\r\n")
        time.sleep(0.5 * SLOW)		# smtpd has sent COMMIT by now
        os.kill(q, signal.SIGKILL)
        c, txt = r.reply(timeout=30 * SLOW)
        check(c == 451, "the final dot got %r, want 451 once the next queue "
              "said it has no such message" % txt)
    a.wait_log(r"queue link lost after the message was committed; asking "
               r"the next queue", 5)
    a.wait_log(r"an smtpd asked after a restart: not stored", 5)
    time.sleep(1.0 * SLOW)
    check(sink.count() == 0, "%d message(s) delivered after a 451" % sink.count())


def strace_inject(t, pid, spec):
    """Attach strace to pid, injecting faults as spec says (strace -e
    inject=...); returns the strace process, stopped at teardown."""
    import shutil
    import subprocess
    from harness import Skip, popen
    if not shutil.which("strace"):
        raise Skip("no strace")
    log = os.path.join(t.dir, "strace-%d.log" % pid)
    p = popen(["strace", "-f", "-qq", "-o", log, "-p", str(pid),
               "-e", "trace=fsync,fdatasync,write,pwrite64",
               "-e", "inject=" + spec],
              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)

    def stop():
        if p.poll() is None:
            p.terminate()
            p.wait(10)
    t.cleanups.append(stop)
    time.sleep(1.0 * SLOW)			# attached
    return p


@test("queue_fsync_error_then_the_truth_from_the_next_queue", timeout=120)
def t_fsync_error(t):
    """The log's sync fails (EIO injected into the queue's fdatasync and
    fsync): the queue dies rather than guess, the smtpd asks the next
    queue, and the client hears what that queue found - stored (the bytes
    were written, and the next queue synced them) means 250 and one
    delivery; never a 451 followed by a delivery."""
    sink = t.sink()
    a = t.aval(sinkport=sink.port, processes=1).start()
    (q,) = a.pids("aval-queue")
    strace_inject(t, q, "fdatasync,fsync:error=EIO")
    with greet(a.port) as r:
        for cmd, want in ((b"MAIL FROM:<s@client.test>", 250),
                          (b"RCPT TO:<sync@relay.test>", 250), (b"DATA", 354)):
            c, txt = r.cmd(cmd)
            check(c == want, "%r: %r" % (cmd, txt))
        r.send(make_message("sync1") + b".\r\n")
        c, txt = r.reply(timeout=40 * SLOW)
    a.wait_log(r"log flush failed; restarting to recover", 10)
    a.wait_log(r"queue link lost after the message was committed; asking "
               r"the next queue", 5)
    a.wait_log(r"an smtpd asked after a restart: (stored|not stored)", 10)
    t.note("the final dot got %r" % txt)
    check(c in (250, 451), "the final dot got %r, want 250 or 451" % txt)
    time.sleep(3.0 * SLOW)
    n = sink.count()
    if c == 250:
        sink.wait_count(1, 20)
        a.wait_queue_empty(20)
        check(sink.count() == 1, "%d copies after a 250, want 1" % sink.count())
    else:
        check(n == 0, "%d message(s) delivered after a 451" % n)


@test("queue_write_error_means_451_and_no_delivery", timeout=120)
def t_write_error(t):
    """Writing the log fails (EIO into the queue's writes): nothing of the
    message reaches the disk, and the client gets 451, never a 250, and
    the message is never delivered."""
    sink = t.sink()
    a = t.aval(sinkport=sink.port, processes=1).start()
    (q,) = a.pids("aval-queue")
    strace_inject(t, q, "write,pwrite64:error=EIO")
    with greet(a.port) as r:
        for cmd, want in ((b"MAIL FROM:<s@client.test>", 250),
                          (b"RCPT TO:<wr@relay.test>", 250), (b"DATA", 354)):
            c, txt = r.cmd(cmd)
            check(c == want, "%r: %r" % (cmd, txt))
        r.send(make_message("wr1") + b".\r\n")
        c, txt = r.reply(timeout=40 * SLOW)
    t.note("the final dot got %r" % txt)
    check(c is not None and 400 <= c < 500,
          "the final dot got %r with the log unwritable, want a 4xx" % txt)
    time.sleep(3.0 * SLOW)
    check(sink.count() == 0, "%d message(s) delivered after a 4xx" % sink.count())


@test("avalctl_show_hold_release_requeue_delete_flush_stats", timeout=120)
def t_avalctl_tools(t):
    dead = free_port()
    sink = t.sink()
    a = t.aval(sinkport=sink.port, retry_min="1m", retry_max="1h",
               transport_lines=["later.test\tsmtp [127.0.0.1]:%d" % dead],
               relay_domains="relay.test later.test").start()
    q1 = smtp_send(a.port, "ana@client.test", ["x@later.test"], make_message("tool1"))
    wait_until(lambda: (queue_rcpt(a, "x@later.test") or [0, {}])[1].get("state")
               == "deferred", 15, 0.2, "x@later.test deferred")
    r = a.ctl("show", q1)
    out = r.stdout.decode(errors="replace")
    check(r.returncode == 0 and "queue id:   %s" % q1 in out and
          "<x@later.test> deferred, 1 attempt" in out and
          "Subject: integ tool1" in out and "4.4.1" in out,
          "avalctl show: %d %r" % (r.returncode, out[:800]))
    r = a.ctl("show", q1, "--json")
    d = json.loads(r.stdout)
    check(d["id"] == q1 and d["recipients"][0]["state"] == "deferred" and
          d["recipients"][0]["last"]["status"] == "4.4.1" and
          any(h.startswith("Subject: integ tool1") for h in d["headers"]),
          "show --json: %r" % d)
    r = a.ctl("show", "0000000000000A")
    check(r.returncode == 1 and b"no message" in r.stderr, "show of nothing: %r" % (r,))
    # hold: even a flush leaves it be; release and it goes.
    check(a.ctl("hold", q1).returncode == 0, "hold")
    a.wait_log(r"%s: held by the postmaster" % q1, 5)
    check("(on hold)" in a.ctl("show", q1).stdout.decode(), "show does not say on hold")
    # Point later.test at the sink and reload: a held message stays.
    a.opts["transport_lines"] = ["later.test\tsmtp [127.0.0.1]:%d" % sink.port]
    a.write_config()
    a.signal(signal.SIGHUP)
    time.sleep(1.0 * SLOW)
    a.ctl("flush")
    time.sleep(2.0 * SLOW)
    check(sink.count() == 0, "a held message was delivered")
    check(a.ctl("release", q1).returncode == 0, "release")
    a.ctl("requeue", q1)
    sink.wait_count(1, 15)
    # delete: one message to nowhere, gone without a word; another, bounced.
    a.opts["transport_lines"] = ["later.test\tsmtp [127.0.0.1]:%d" % dead]
    a.write_config()
    a.signal(signal.SIGHUP)
    time.sleep(1.0 * SLOW)
    q2 = smtp_send(a.port, "bob@client.test", ["y@later.test"], make_message("tool2"))
    q3 = smtp_send(a.port, "cid@client.test", ["z@later.test"], make_message("tool3"))
    wait_until(lambda: (queue_rcpt(a, "z@later.test") or [0, {}])[1].get("state")
               == "deferred", 15, 0.2, "z@later.test deferred")
    wait_until(lambda: (queue_rcpt(a, "y@later.test") or [0, {}])[1].get("state")
               == "deferred", 15, 0.2, "y@later.test deferred")
    r = a.ctl("stats")
    st = r.stdout.decode()
    check(r.returncode == 0 and "messages:      2" in st, "stats: %r" % st)
    s2 = json.loads(a.ctl("stats", "--json").stdout)
    # Deferred a minute, they may have left memory: the spool has both.
    check(s2["messages"] == 2 and s2["in_memory"] <= 2 and
          s2["recipients"]["deferred"] == s2["in_memory"] and not s2["paused"],
          "stats --json: %r" % s2)
    check(a.ctl("delete", q2).returncode == 0, "delete")
    a.wait_log(r"%s: deleted by the postmaster$" % q2, 5)
    check(a.ctl("delete", "--bounce", q3).returncode == 0, "delete --bounce")
    a.wait_log(r"%s: non-delivery notice \S+ to <cid@client\.test>" % q3, 5)
    wait_until(lambda: any("cid@client.test" in " ".join(m[2]) for m in sink.messages()),
               15, 0.2, "the bounce of the deleted message at the sink")
    a.wait_queue_empty(15)
    check(not any("bob@client.test" in " ".join(m[2]) for m in sink.messages()),
          "a notice for the message deleted without --bounce")
    r = a.ctl("flush", "later.test")
    check(r.returncode == 0 and b"scheduled" in r.stdout, "flush DOMAIN: %r" % (r,))
    check(a.ctl("hold").returncode == 2, "hold without an ID is not a usage error")
