"""
test_supervise.py - the master restarting smtpd, and answering while none runs

A worker that had lived past the stability threshold (5 s,
master/master_backoff.h) is restarted at once, "restarting in 0 ms"; one
killed soon after its start backs off, 100 ms doubling; and while no smtpd
runs the master answers new connections with 421 4.3.2 (and closes them
without a word on an implicit-TLS listener) instead of leaving them in the
backlog. Every test runs one smtpd (processes=1) so that killing it leaves
none.
"""

import os
import re
import signal
import socket
import ssl
import time

from harness import (SANITIZE, SLOW, Fail, Raw, Skip, check, free_port, test,
                     wait_until)

STABLE_S = 5.0			# MASTER_BACKOFF_STABLE_MS
RESTART_RE = r"smtpd\[%d\] killed by signal 9; restarting in (\d+) ms"


def new_smtpd(a, old, timeout=15):
    """The pid of the one aval-smtpd that is not `old`."""
    def one():
        p = [x for x in a.pids("aval-smtpd") if x != old]
        return p[0] if len(p) == 1 else None
    return wait_until(one, timeout, 0.02, "a new aval-smtpd after %d" % old)


def kill_smtpd(a, pid, when=None):
    """SIGKILL smtpd `pid`; the wait in ms the master logged for it. The
    time of the kill (time.monotonic()) is appended to `when`, if given."""
    off = a.log_size()
    os.kill(pid, signal.SIGKILL)
    if when is not None:
        when.append(time.monotonic())
    m = a.wait_log(RESTART_RE % pid, 10, off,
                   "the master's restart line for smtpd[%d]" % pid)
    return int(m.group(1))


def greets(port, timeout):
    """The first reply on a new connection, or None on a timeout."""
    try:
        with Raw(port, timeout=timeout) as r:
            return r.reply(timeout=timeout)
    except (socket.timeout, TimeoutError):
        return None


@test("smtpd_killed_after_a_long_life_is_restarted_at_once", timeout=150,
      plain_only="a worker living past 5 s, timed in the plain run")
def t_restart_at_once(t):
    a = t.aval(processes=1).start()
    pid = a.pids("aval-smtpd")[0]
    seen = time.monotonic()
    # Each kill waits out the 5 s threshold: three show "at once" is the
    # rule and not luck; two under the sanitizers, whose run is there for
    # memory errors, not for more samples.
    for i in range(2 if SANITIZE else 3):
        # Lived past the threshold: the master started it before we saw it.
        time.sleep(max(0.0, seen + STABLE_S + 0.5 - time.monotonic()))
        when = []
        wait = kill_smtpd(a, pid, when)
        t0 = when[0]
        check(wait == 0, "kill %d: smtpd[%d] lived over %.0f s, yet the master "
              "restarts it in %d ms, want 0" % (i + 1, pid, STABLE_S, wait))
        new = new_smtpd(a, pid, 2)
        seen = time.monotonic()
        c, txt = greets(a.port, 5 * SLOW) or (None, b"(nothing)")
        took = time.monotonic() - t0
        check(c == 220, "kill %d: the new smtpd[%d] greets %r, want 220"
              % (i + 1, new, txt))
        check(took < 1.0 * SLOW, "kill %d: %.2f s from the kill to a greeting "
              "from the new smtpd, want under %.1f s" % (i + 1, took, 1.0 * SLOW))
        t.note("kill %d: smtpd[%d] -> smtpd[%d], restart in %d ms, greeting "
               "after %.2f s" % (i + 1, pid, new, wait, took))
        pid = new


@test("smtpd_dying_soon_after_start_backs_off_doubling", timeout=120)
def t_backoff(t):
    # The sequence is master_backoff's (unit-tested under the sanitizers
    # too); here it is timed against real processes, once.
    if SANITIZE:
        raise Skip("the back-off is timed in the plain run")
    a = t.aval(processes=1).start()
    pid = a.pids("aval-smtpd")[0]
    # A known start: one long life first, so the back-off starts over.
    time.sleep(STABLE_S + 0.5)
    waits = [kill_smtpd(a, pid)]
    for _ in range(5):
        pid = new_smtpd(a, pid)
        waits.append(kill_smtpd(a, pid))
    check(waits == [0, 100, 200, 400, 800, 1600],
          "restart waits %r, want [0, 100, 200, 400, 800, 1600] (0 after a "
          "long life, then doubling from 100 ms)" % waits)
    # Serving again, and after a long life the next death is restarted at once.
    pid = new_smtpd(a, pid)
    a.wait_ready()
    time.sleep(STABLE_S + 0.5)
    w = kill_smtpd(a, pid)
    check(w == 0, "after a long life following the back-off: restarting in %d "
          "ms, want 0" % w)
    new_smtpd(a, pid)
    a.wait_ready()
    t.note("waits %r then %d" % (waits, w))


@test("no_smtpd_running_new_connections_get_421_from_the_master", timeout=120)
def t_refuse(t):
    sport = free_port()
    a = t.aval(processes=1, listen_extra=[
        "listen on 127.0.0.1 port %d submissions" % sport]).start()
    pid = a.pids("aval-smtpd")[0]
    # Kill each new smtpd at once until the back-off is long enough to
    # look at: 100, 200, 400, 800, 1600, 3200 ms (a first 0 if it had
    # lived long). Bounded: the doubling reaches 3200 within 7 kills.
    wait = 0
    for _ in range(8):
        off = a.log_size()
        when = []
        wait = kill_smtpd(a, pid, when)
        if wait >= 3200:
            break
        pid = new_smtpd(a, pid)
    check(wait >= 3200, "no back-off of 3.2 s after 8 quick kills (last %d ms)"
          % wait)
    t0 = when[0]
    check(not a.pids("aval-smtpd"), "an aval-smtpd runs during the back-off: %r"
          % a.pids("aval-smtpd"))
    # Plain listeners: a 421 at once, then the close.
    replies = []
    for port in (a.port, a.subport):
        with Raw(port, timeout=2) as r:
            try:
                c, txt = r.reply(timeout=1.0 * SLOW)
            except (socket.timeout, TimeoutError):
                raise Fail("port %d: no reply within %.1f s while smtpd is down "
                           "(the connection hangs)" % (port, 1.0 * SLOW))
            check(c == 421 and txt.startswith(b"421 4.3.2 mx.test "),
                  "port %d while smtpd is down: %r, want 421 4.3.2 mx.test ..."
                  % (port, txt))
            try:
                rest = r.sock.recv(100)
            except (socket.timeout, TimeoutError):
                raise Fail("port %d: not closed after the 421" % port)
            except ConnectionResetError:
                rest = b""
            check(rest == b"", "port %d: more after the 421: %r" % (port, rest))
            replies.append(txt)
    # Implicit TLS: closed without a word (a clear-text 421 would be a
    # broken TLS record), not left waiting.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", sport), 2) as s:
        s.settimeout(1.0 * SLOW)
        try:
            with ctx.wrap_socket(s, server_hostname="mx.test"):
                raise Fail("a TLS handshake on submissions while smtpd is down")
        except (socket.timeout, TimeoutError):
            raise Fail("submissions while smtpd is down: the handshake hangs")
        except (ssl.SSLError, ConnectionError, OSError) as e:
            t.note("submissions while smtpd is down: %s" % e)
    # A burst: every one answered, their lines summed up past 5 a second.
    burst = 0
    for _ in range(20):
        if time.monotonic() - t0 > 2.0:
            break
        with Raw(a.port, timeout=2) as r:
            c, txt = r.reply(timeout=1.0 * SLOW)
            check(c == 421, "burst connection %d: %r, want 421" % (burst + 1, txt))
        burst += 1
    check(burst >= 10, "only %d connections in the burst before smtpd was due "
          "back" % burst)
    log = a.log_since(off)
    n_lines = len(re.findall(r"dsn=4\.3\.2, status=reject \(421 no smtpd running\)",
                             log))
    check(n_lines >= 1, "no refusal logged:\n%s" % log[-2000:])
    a.wait_log(r"dsn=4\.3\.2, status=reject \(421 no smtpd running: \d+ more "
               r"connections refused in the last second", 3, off,
               "the summary line of the refusals not logged one by one")
    check(re.search(r"closed without a reply: no smtpd running; implicit TLS",
                    log), "the submissions refusal is not logged")
    # smtpd back: the master stops answering and smtpd greets.
    pid = new_smtpd(a, pid, 10)
    m = a.wait_log(r"smtpd running again: the master stops answering; (\d+) "
                   r"connections refused meanwhile", 5, off,
                   "the master's line saying smtpd runs again")
    check(int(m.group(1)) >= burst + 3, "refused meanwhile %s, want at least %d"
          % (m.group(1), burst + 3))
    a.wait_ready()
    for _ in range(3):
        c, txt = greets(a.port, 5 * SLOW) or (None, b"(nothing)")
        check(c == 220, "after smtpd[%d] is back: %r, want 220" % (pid, txt))
    t.note("while down: %r; %d in a burst; %d lines one by one" %
           (replies[0], burst, n_lines))
