"""
test_limits.py - limits a port-25 server needs, shared by every smtpd

Per-client session caps and connection rates, the global session cap
counted across processes, the pregreet test, and the whole-session
deadline. The clients here come from 127.0.0.1, so each test takes
127.0.0.1 out of relay-networks (which are exempt from per-client limits).
"""

import socket
import time

from harness import SLOW, check, wait_until, test, Raw, greet, make_message

NOT_LOOPBACK = "192.0.2.0/24"


def banner(r):
    c, txt = r.reply()
    return c, txt


@test("limits_per_client_sessions_counted_across_processes")
def t_client_sessions(t):
    a = t.aval(processes=3, relay_networks=NOT_LOOPBACK,
               smtpd_lines=["max-client-sessions\t4"]).start()
    time.sleep(1 * SLOW)	# the harness's readiness probe has gone
    held = []
    try:
        # Four sessions from one address, spread over three processes.
        for i in range(4):
            r = Raw(a.port)
            c, txt = r.reply()
            check(c == 220, "session %d: %r" % (i, txt))
            held.append(r)
        for i in range(3):
            r = Raw(a.port)
            c, txt = r.reply()
            check(c == 421 and b"4.7.0" in txt,
                  "a fifth session from one address: %r, want 421 4.7.0" % txt)
            r.close()
        # One ends: one more fits, on whichever process.
        held.pop().cmd(b"QUIT")
        def one_more():
            r = Raw(a.port)
            c, _ = r.reply()
            if c == 220:
                held.append(r)
                return True
            r.close()
            return False
        wait_until(one_more, 5 * SLOW, interval=0.2,
                   what="a session after one ended")
    finally:
        for r in held:
            r.close()
    log = open(a.logpath, errors="replace").read()
    check("too many sessions from your address" in log,
          "no log line for the refusal")


@test("limits_relay_networks_are_exempt_from_per_client_caps")
def t_exempt(t):
    a = t.aval(smtpd_lines=["max-client-sessions\t2"]).start()
    held = []
    try:
        for i in range(5):
            r = Raw(a.port)
            c, txt = r.reply()
            check(c == 220, "loopback (a relay network) session %d: %r" % (i, txt))
            held.append(r)
    finally:
        for r in held:
            r.close()


@test("limits_connection_rate_per_client")
def t_rate(t):
    a = t.aval(relay_networks=NOT_LOOPBACK,
               smtpd_lines=["client-connection-rate\t5"]).start()
    codes = []
    for i in range(8):
        with Raw(a.port) as r:
            c, _ = r.reply()
            codes.append(c)
            if c == 220:
                r.cmd(b"QUIT")
    # The harness's own readiness probe may have been the first of five.
    n = codes.index(421) if 421 in codes else len(codes)
    check(n in (4, 5) and codes[:n] == [220] * n,
          "connections before the first refusal: %r" % codes)
    check(all(c == 421 for c in codes[n:]), "past the rate: %r" % codes)


@test("limits_max_sessions_is_one_count_for_all_processes")
def t_total(t):
    a = t.aval(processes=3, max_sessions=5).start()
    # start() probed the port: that session's release reaches the count
    # the master keeps for all processes a moment later (under ASan and
    # a busy machine, later than the next connect).
    wait_until(lambda: "disconnect" in a.log() or "client=" not in a.log(),
               5, 0.05, "the start-up probe's session to end")
    time.sleep(0.2 * SLOW)
    held = []
    try:
        for i in range(5):
            r = Raw(a.port)
            c, txt = r.reply()
            check(c == 220, "session %d of max-sessions 5: %r" % (i, txt))
            held.append(r)
        r = Raw(a.port)
        c, txt = r.reply()
        r.close()
        check(c == 421 and b"4.3.2" in txt,
              "the sixth session with max-sessions 5: %r, want 421 4.3.2" % txt)
    finally:
        for r in held:
            r.close()


@test("limits_pregreet_talkers_refused_patient_clients_pass_once")
def t_pregreet(t):
    a = t.aval(relay_networks=NOT_LOOPBACK, relay_domains="relay.test",
               listen_extra=[])
    pg_port = a.port
    a.write_config(a.config_text().replace(
        "listen on 127.0.0.1 port %d\n" % pg_port,
        "listen on 127.0.0.1 port %d pregreet 1s\n" % pg_port))
    a.start()
    # A talker: sends EHLO right after the first line.
    with Raw(pg_port) as r:
        line = r._line(5 * SLOW)
        check(line.startswith(b"220-"), "first line %r, want 220-" % line)
        r.send(b"EHLO bot.test\r\n")
        out = r.replies(quiet=3)
        codes = [c for c, _ in out]
        check(554 in codes, "a client that spoke first got %r, want 554" % out)
        check(250 not in codes, "the talker's EHLO was answered: %r" % out)
    # A patient client waits for the whole greeting.
    t0 = time.time()
    with Raw(pg_port) as r:
        c, txt = r.reply(timeout=5 * SLOW)
        waited = time.time() - t0
        check(c == 220 and b"220-" in txt and b"220 " in txt,
              "greeting %r, want 220- then 220" % txt)
        check(waited >= 0.9, "the pause was %.2fs, want about 1s" % waited)
        c, txt = r.cmd(b"EHLO patient.test")
        check(c == 250, "EHLO after the greeting: %r" % txt)
    # It passed: the next session from that address has no pause.
    t0 = time.time()
    with Raw(pg_port) as r:
        c, txt = r.reply(timeout=5 * SLOW)
        check(c == 220 and b"220-" not in txt,
              "second session greeting %r, want a plain 220" % txt)
        check(time.time() - t0 < 0.8, "a client that passed paid the pause again")
    log = open(a.logpath, errors="replace").read()
    check("pregreet" in log and "status=reject" in log,
          "no log line for the pregreet refusal")
