"""
test_hardening.py - what a port-25 server refuses, tried as an attacker would

Message text before the 354, mail loops (max-hops), NUL in the text, HELO
names that try to forge a Received hop, the whole-session deadline, the
minimum data rate, and the MAIL/RCPT/RSET flood that used to grow smtpd
without bound.
"""

import socket
import time

from harness import (SANITIZE, SLOW, check, wait_until, test, rss_kb, Raw,
                     greet, make_message, nothing_queued)


@test("hardening_text_before_354_is_refused_and_nothing_queued")
def t_early_text(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    r = greet(a.port)
    r.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n"
           + make_message("early") + b".\r\n")
    out = r.replies(quiet=2)
    codes = [c for c, _ in out]
    check(codes[:2] == [250, 250], "MAIL, RCPT: %r" % out)
    check(554 in codes and 354 not in codes,
          "text sent with DATA: %r, want 554 and no 354" % out)
    r.close()
    nothing_queued(t, a, sink, "text before the 354")
    check("message text before the 354" in open(a.logpath).read(),
          "no log line for the refusal")


@test("hardening_more_than_max_hops_received_headers_is_a_loop")
def t_hops(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, smtpd_lines=["max-hops\t5"]).start()
    for n, want in ((5, 250), (6, 554)):
        hdrs = b"".join(b"Received: from hop%d.test by x.test; "
                        b"Thu, 1 Jan 2026 00:00:00 +0000\r\n" % i
                        for i in range(n))
        r = greet(a.port)
        for cmd in (b"MAIL FROM:<a@client.test>", b"RCPT TO:<b@relay.test>",
                    b"DATA"):
            r.cmd(cmd)
        r.send(hdrs + make_message("hops%d" % n) + b".\r\n")
        c, txt = r.reply()
        check(c == want and (want == 250 or b"5.4.6" in txt),
              "%d Received headers with max-hops 5: %r, want %d" % (n, txt, want))
        r.close()
    # Received lines in the body are not hops.
    r = greet(a.port)
    for cmd in (b"MAIL FROM:<a@client.test>", b"RCPT TO:<b@relay.test>", b"DATA"):
        r.cmd(cmd)
    r.send(make_message("body", b"Received: not a header\r\n" * 20) + b".\r\n")
    c, txt = r.reply()
    check(c == 250, "Received: lines in the body counted as hops: %r" % txt)
    r.close()


@test("hardening_nul_in_message_text_is_refused")
def t_nul(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    r = greet(a.port)
    for cmd in (b"MAIL FROM:<a@client.test>", b"RCPT TO:<b@relay.test>", b"DATA"):
        r.cmd(cmd)
    r.send(make_message("nul", b"a\x00b\r\n") + b".\r\n")
    c, txt = r.reply()
    check(c == 554 and b"5.6.0" in txt, "NUL in text: %r, want 554 5.6.0" % txt)
    r.close()
    nothing_queued(t, a, sink, "a NUL in the text")


@test("hardening_helo_cannot_forge_a_received_hop")
def t_helo(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    forged = b"trusted.example.org ([10.1.2.3]) by mx.example.org"
    r = Raw(a.port)
    r.reply()
    c, txt = r.cmd(b"EHLO " + forged)
    if c != 250:
        r.close()
        return			# refusing the name outright is fine too
    for cmd in (b"MAIL FROM:<a@client.test>", b"RCPT TO:<b@relay.test>", b"DATA"):
        r.cmd(cmd)
    r.send(make_message("helo") + b".\r\n")
    c, txt = r.reply()
    check(c == 250, "message after the odd EHLO: %r" % txt)
    r.close()
    sink.wait_count(1, 20)
    rec = sink.messages()[0][3].split(b"\r\n\r\n")[0]
    check(b"[10.1.2.3])" not in rec and b"by mx.example.org" not in rec,
          "the HELO forged a hop: %r" % rec[:400])
    check(b"from [127.0.0.1]" in rec, "Received does not name the client "
          "address first: %r" % rec[:300])


@test("hardening_session_deadline_ends_a_trickling_client", timeout=90,
      plain_only="a 10 s deadline, timed in the plain run")
def t_deadline(t):
    a = t.aval(smtpd_lines=["session-timeout\t10s"]).start()
    r = greet(a.port)
    t0 = time.time()
    code = None
    while time.time() - t0 < 30 * SLOW:
        try:
            c, txt = r.cmd(b"NOOP")
        except (OSError, socket.timeout):
            break
        if c != 250:
            code = c
            break
        time.sleep(1)
    r.close()
    check(code == 421, "a client sending NOOP every second for 30 s was not "
          "ended by session-timeout 10s (last %r)" % code)


@test("hardening_min_data_rate_ends_a_slow_sender", timeout=120,
      plain_only="a data rate over seconds, timed in the plain run")
def t_slow_data(t):
    a = t.aval(smtpd_lines=["min-data-rate\t1000"]).start()
    r = greet(a.port)
    for cmd in (b"MAIL FROM:<a@client.test>", b"RCPT TO:<b@relay.test>", b"DATA"):
        r.cmd(cmd)
    t0 = time.time()
    ended = False
    while time.time() - t0 < 40 * SLOW:
        try:
            r.send(b"x")
        except OSError:
            ended = True
            break
        try:
            c, txt = r.reply(timeout=0.5)
            if c == 421:
                ended = True
                break
        except (socket.timeout, TimeoutError):
            pass
    r.close()
    check(ended, "one byte every half second kept a session in DATA for 40 s")
    check("data rate too low" in open(a.logpath).read(), "no log line")


@test("hardening_mail_rcpt_rset_flood_keeps_smtpd_small", timeout=120)
def t_flood(t):
    a = t.aval(processes=1).start()
    pid = a.pids("aval-smtpd")[0]
    r = greet(a.port)
    batch = (b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@relay.test>\r\n"
             b"RSET\r\n") * 2000
    t0 = time.time()
    sent = 0
    r.sock.settimeout(0.2)
    while time.time() - t0 < 15 and sent < 200 * len(batch):
        try:
            sent += r.sock.send(batch)
        except (socket.timeout, BlockingIOError):
            pass
    peak = rss_kb(pid)
    r.close()
    limit = 200000 if SANITIZE else 60000
    if True:
        check(peak < limit, "smtpd RSS %d KiB after a %d-byte MAIL/RCPT/RSET "
              "flood, want under %d KiB" % (peak, sent, limit))
    t.note("flood: %d bytes sent in %.1fs, smtpd RSS %s KiB"
           % (sent, time.time() - t0, peak))


@test("hardening_low_spool_space_452_then_recovers")
def t_space(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port)
    text = a.config_text().replace("queue {\n",
                                   "queue {\n\tmin-free-space\t1000G\n", 1)
    a.write_config(text)
    a.start()
    r = greet(a.port)
    c, txt = r.cmd(b"MAIL FROM:<a@client.test>")
    check(c == 452 and b"4.3.1" in txt, "MAIL with the spool short of space: "
          "%r, want 452 4.3.1" % txt)
    r.close()
    check("below min-free-space" in open(a.logpath).read(),
          "no log line for the low spool")
    # Space "returns": a reload with a small threshold; mail flows again.
    a.write_config(text.replace("min-free-space\t1000G", "min-free-space\t1M"))
    import signal
    a.signal(signal.SIGHUP)
    def accepted():
        with greet(a.port) as r2:
            return r2.cmd(b"MAIL FROM:<a@client.test>")[0] == 250
    wait_until(accepted, 10 * SLOW, 0.3, "MAIL accepted once space is back")
