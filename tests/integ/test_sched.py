"""
test_sched.py - the queue's scheduler with real processes

A destination that never answers beside one that does, a job lost with
its deliver process retried within seconds, the retry intervals as they
happen, and a message that expires.
"""

import os
import re
import signal
import socket
import threading
import time

from harness import (SLOW, Fail, check, wait_until, test, make_message,
                     smtp_send, queue_rcpt, free_port)


class Blackhole:
    """Accepts connections and never says a word: every delivery to it
    waits for deliver's command timeout."""

    def __init__(self, t, port=None):
        self.port = port or free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.conns = []
        self.accepted = 0
        self.stopping = False
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()
        t.cleanups.append(self.stop)

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)

    def stop_listening(self):
        """No new connections; those accepted stay open, silent."""
        self.stopping = True
        self.th.join(5)
        self.sock.close()

    def stop(self):
        self.stop_listening()
        for c in self.conns:
            c.close()
        self.conns = []


@test("sched_a_silent_destination_does_not_hold_up_a_live_one", timeout=120)
def t_isolation(t):
    hole = Blackhole(t)
    sink = t.sink()
    # Four deliveries at a time in all: without a per-destination limit the
    # silent destination's jobs would take every slot for 20 s each.
    a = t.aval(sinkport=sink.port, deliver_processes=1,
               deliver_command_timeout="20s",
               deliver_lines=["max-jobs\t\t4"],
               queue_lines=["initial-concurrency\t2"],
               transport_lines=["hole.test\tsmtp [127.0.0.1]:%d" % hole.port],
               relay_domains="relay.test hole.test").start()
    for i in range(10):
        smtp_send(a.port, "s@client.test", ["x%d@hole.test" % i],
                  make_message("hole%d" % i))
    wait_until(lambda: hole.accepted >= 1, 10, 0.1, "a connection to the silent host")
    t0 = time.time()
    for i in range(30):
        smtp_send(a.port, "s@client.test", ["y%d@relay.test" % i],
                  make_message("live%d" % i))
    sink.wait_count(30, 15)
    took = time.time() - t0
    t.note("30 messages to the live destination in %.1fs while the silent "
           "one held %d connection(s)" % (took, len(hole.conns)))
    check(len(hole.conns) <= 2, "the silent destination got %d connections "
          "at once, want at most the initial concurrency of 2" % len(hole.conns))


@test("sched_a_job_lost_with_its_deliver_is_retried_within_seconds", timeout=90)
def t_lost(t):
    hole = Blackhole(t)
    a = t.aval(sinkport=hole.port, deliver_processes=1,
               deliver_command_timeout="5m").start()
    qid = smtp_send(a.port, "s@client.test", ["lost@relay.test"],
                    make_message("lost1"))
    wait_until(lambda: hole.accepted >= 1, 10, 0.1, "the delivery to start")
    # The next hop starts answering new connections (the one deliver has
    # open stays silent); then the deliver process dies.
    port = hole.port
    hole.stop_listening()
    sink = t.sink(port=port)
    (pid,) = a.pids("aval-deliver")
    t0 = time.time()
    os.kill(pid, signal.SIGKILL)
    a.wait_log(r"%s: to=<lost@relay\.test>, relay=none, dsn=4\.3\.0, "
               r"status=deferred \(delivery agent .* went away; trying "
               r"again in 2s\)" % qid, 10)
    sink.wait_count(1, 15)
    took = time.time() - t0
    t.note("delivered %.1fs after the deliver process was killed" % took)
    check(took < 8 * SLOW, "delivered %.1fs after the kill, want within "
          "seconds" % took)
    # It did not count as an attempt.
    a.wait_queue_empty(10)


@test("sched_retries_back_off_and_expire_with_their_log_lines", timeout=120,
      plain_only="back-off and expiry clocks, timed in the plain run")
def t_backoff_expiry(t):
    # Nobody listens on the sink port: every attempt is refused at once.
    a = t.aval(retry_min="1s", retry_max="4s",
               queue_lines=["max-lifetime\t\t12s"]).start()
    qid = smtp_send(a.port, "s@client.test", ["gone@relay.test"],
                    make_message("exp1"))
    seen = []
    deadline = time.time() + 40 * SLOW
    last = None
    while time.time() < deadline:
        x = queue_rcpt(a, "gone@relay.test")
        if not x:
            break
        n = int(x[1].get("attempts", 0))
        if n != last:
            seen.append((n, time.time()))
            last = n
        time.sleep(0.05)
    a.wait_log(r"%s: to=<gone@relay\.test>, relay=none, dsn=4\.4\.7, "
               r"status=bounced \(message expired after \d+s in the queue; "
               r"last: 4\.4\.1 connect to" % qid, 10)
    a.wait_log(r"%s: removed" % qid, 5)
    gaps = [round(b[1] - a_[1], 1) for a_, b in zip(seen, seen[1:])]
    t.note("attempts seen %r, gaps %r s" % ([n for n, _ in seen], gaps))
    # 1 s, 2 s, 4 s, 4 s, ... each within a tenth (and polling slack).
    want = [1, 2, 4, 4, 4, 4]
    for g, w in zip(gaps[1:], want[1:]):
        check(w * 0.85 - 0.3 <= g <= w * 1.15 + 0.5 * SLOW,
              "retry gaps %r s, want about %r" % (gaps, want[:len(gaps)]))
