"""
test_window.py - a queue deeper than its window in memory

The queue keeps at most queue { active-limit } messages in memory and the
rest in the spool's due index (queue/queue_window.c). With the smallest
limit allowed (100), these tests queue several times that many with
deliveries paused, and check that memory holds the window and not the
queue, that every command still sees the whole spool, that a restart
loads only a window, and that everything is delivered in the end, once.
Deferred mail leaves memory and comes back when due, or on a flush.
"""

import json
import re
import smtplib

from harness import (SANITIZE, SLOW, check, wait_until, test, make_message,
                     free_port)

LIMIT = 100


def send_many(port, n, rcpt, token, per_session=50):
    """n messages over a few sessions; their queue IDs."""
    qids = []
    sent = 0
    while sent < n:
        with smtplib.SMTP("127.0.0.1", port, timeout=30 * SLOW) as s:
            s.ehlo("client.test")
            for _ in range(min(per_session, n - sent)):
                s.mail("bulk@client.test")
                code, _ = s.rcpt(rcpt)
                check(code == 250, "RCPT %s: %d" % (rcpt, code))
                code, txt = s.data(make_message("%s-%d" % (token, sent)))
                check(code == 250, "DATA: %d %r" % (code, txt))
                qids.append(re.search(rb"queued as ([0-9A-F]+)", txt)
                            .group(1).decode())
                sent += 1
    return qids


def stats(a):
    r = a.ctl("stats", "--json")
    check(r.returncode == 0, "avalctl stats: %r" % (r,))
    return json.loads(r.stdout)


@test("window_a_queue_deeper_than_memory_is_all_delivered_once", timeout=240)
def t_window_deep(t):
    n = 4 * LIMIT + 37
    sink = t.sink()
    a = t.aval(sinkport=sink.port,
               queue_lines=["active-limit %d" % LIMIT]).start()
    r = a.ctl("pause")
    check(r.returncode == 0 and b"paused" in r.stdout, "pause: %r" % (r,))
    a.wait_log(r"queue: deliveries paused by the postmaster", 5)
    qids = send_many(a.port, n, "x@relay.test", "deep")
    check(len(set(qids)) == n, "queue IDs not unique")
    st = stats(a)
    check(st["messages"] == n and st["in_memory"] <= LIMIT and st["paused"],
          "stats after %d messages with a window of %d: %r" % (n, LIMIT, st))
    check(sink.count() == 0, "delivered while paused")
    # Every command sees the whole spool, not just the window.
    q = a.queue()
    check(len(q) == n, "avalctl queue lists %d of %d" % (len(q), n))
    r = a.ctl("show", qids[-1])
    check(r.returncode == 0 and qids[-1] in r.stdout.decode(),
          "show of a message not in memory: %r" % (r,))
    # Hold them all: held mail leaves memory.
    r = a.ctl("hold", "all")
    check(r.returncode == 0 and ("%d messages" % n).encode() in r.stdout,
          "hold all: %r" % (r,))
    st = stats(a)
    check(st["held"] == n and st["in_memory"] == 0,
          "stats after hold all: %r" % st)
    # A restart opens the spool and loads no more than a window; the
    # pause is kept in the spool.
    a.stop()
    a.start()
    a.wait_log(r"queue opened: %d messages waiting \(%d on hold\)" % (n, n),
               10)
    a.wait_log(r"deliveries are paused \(avalctl pause\)", 10)
    st = stats(a)
    check(st["in_memory"] == 0 and st["paused"],
          "after the restart: %r" % st)
    check(a.ctl("resume").returncode == 0, "resume")
    r = a.ctl("release", "all")
    check(r.returncode == 0 and ("%d messages" % n).encode() in r.stdout,
          "release all: %r" % (r,))
    peak = [0]

    def drained():
        s = stats(a)
        peak[0] = max(peak[0], s["in_memory"])
        return sink.count() >= n

    wait_until(drained, 120, 0.2, "%d messages at the sink (have %d)"
               % (n, sink.count()))
    a.wait_queue_empty(30)
    got = sink.messages()
    tokens = [m for m in got]
    check(len(tokens) == n, "%d messages at the sink for %d sent"
          % (len(tokens), n))
    check(peak[0] <= LIMIT + 10, "in memory peaked at %d with a window "
          "of %d" % (peak[0], LIMIT))
    t.note("%d messages through a window of %d; in memory at most %d"
           % (n, LIMIT, peak[0]))


@test("window_deferred_mail_leaves_memory_and_comes_back_on_flush",
      timeout=120)
def t_window_deferred(t):
    dead = free_port()
    sink = t.sink()
    a = t.aval(sinkport=sink.port, retry_min="5m", retry_max="1h",
               queue_lines=["active-limit %d" % LIMIT],
               transport_lines=["later.test\tsmtp [127.0.0.1]:%d" % dead],
               relay_domains="relay.test later.test").start()
    qids = send_many(a.port, 5, "x@later.test", "defer")
    wait_until(lambda: stats(a)["in_memory"] == 0, 20, 0.2,
               "deferred messages to leave memory")
    st = stats(a)
    check(st["messages"] == 5, "stats: %r" % st)
    r = a.ctl("show", qids[0], "--json")
    d = json.loads(r.stdout)
    check(d["recipients"][0]["state"] == "deferred" and
          d["recipients"][0]["attempts"] == 1,
          "show of a deferred message out of memory: %r" % d)
    # A flush brings them back, due now; still dead, a second attempt
    # fails, and show has both outcomes: the first under "tried".
    r = a.ctl("flush")
    check(r.returncode == 0 and b"5 recipients" in r.stdout,
          "flush: %r" % (r,))
    def two_attempts():
        d = json.loads(a.ctl("show", qids[0], "--json").stdout)
        return d["recipients"][0]["attempts"] == 2 and d
    d = wait_until(two_attempts, 20, 0.2, "a second attempt")
    h = d["recipients"][0]["history"]
    check(len(h) == 1 and h[0]["status"] == "4.4.1" and
          "Connection refused" in h[0]["text"] and
          d["recipients"][0]["last"]["status"] == "4.4.1",
          "the history after two attempts: %r" % d["recipients"][0])
    out = a.ctl("show", qids[0]).stdout.decode()
    check(out.count("  tried:    ") == 1 and out.count("  last:     ") == 1,
          "show lists every attempt: %r" % out)
    wait_until(lambda: stats(a)["in_memory"] == 0, 20, 0.2,
               "deferred messages to leave memory again")
    # Point later.test at the sink: a flush brings them back, due now.
    a.opts["transport_lines"] = ["later.test\tsmtp [127.0.0.1]:%d" % sink.port]
    a.write_config()
    a.signal(__import__("signal").SIGHUP)
    a.wait_log(r"reload", 10)
    r = a.ctl("flush")
    check(r.returncode == 0 and b"5 recipients" in r.stdout,
          "flush: %r" % (r,))
    sink.wait_count(5, 30)
    a.wait_queue_empty(20)


@test("window_commands_race_mail_being_stored",
      timeout=180)
def t_window_race(t):
    """hold all / release all / delete of what is arriving, in a loop,
    while six clients send: a message between its commit and its flush is
    the flush's, and a command must wait for it (found by review: the
    queue freed such a message and crashed). Everything acknowledged is
    delivered once, and the queue process is the same at the end."""
    import threading
    import time
    sink = t.sink()
    a = t.aval(sinkport=sink.port,
               queue_lines=["active-limit %d" % LIMIT]).start()
    check(a.ctl("pause").returncode == 0, "pause")
    qpid = a.pids("aval-queue")
    # Under the sanitizers a use after free shows at once: a shorter run.
    stop = time.monotonic() + (8 if SANITIZE else 12)
    acked = []
    lock = threading.Lock()

    def sender(k):
        i = 0
        while time.monotonic() < stop:
            try:
                with smtplib.SMTP("127.0.0.1", a.port, timeout=30 * SLOW) as s:
                    s.ehlo("client.test")
                    for _ in range(20):
                        s.mail("race@client.test")
                        s.rcpt("x@relay.test")
                        code, txt = s.data(make_message("race-%d-%d" % (k, i)))
                        i += 1
                        if code == 250:
                            with lock:
                                acked.append(re.search(
                                    rb"queued as ([0-9A-F]+)", txt)
                                    .group(1).decode())
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)

    th = [threading.Thread(target=sender, args=(k,)) for k in range(6)]
    for x in th:
        x.start()
    cycles = 0
    while time.monotonic() < stop:
        a.ctl("hold", "all")
        a.ctl("release", "all")
        a.ctl("requeue", "all")
        cycles += 1
    for x in th:
        x.join()
    check(a.pids("aval-queue") == qpid,
          "the queue process was restarted: %s then %s" % (qpid,
          a.pids("aval-queue")))
    log = a.log()
    check(not re.search(r"signal|double free|in memory twice", log),
          "the queue crashed: %s" % [l for l in log.splitlines() if
          re.search(r"signal|double free|in memory twice", l)][:5])
    check(a.ctl("release", "all").returncode == 0, "release all")
    check(a.ctl("resume").returncode == 0, "resume")
    sink.wait_count(len(acked), 90)
    a.wait_queue_empty(30)
    check(sink.count() == len(acked), "%d acknowledged, %d at the sink" %
          (len(acked), sink.count()))
    t.note("%d messages acknowledged during %d hold/release/requeue "
           "cycles; all delivered" % (len(acked), cycles))
