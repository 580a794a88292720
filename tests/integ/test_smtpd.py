"""
test_smtpd.py - the inbound side: aval-smtpd's dialogue and its limits

The ESMTP state machine and replies, relay checks, line and message limits,
SMTP smuggling and bare CR/LF, session caps and timeouts, back-pressure on
a client that does not read, and every listener (IPv6 included). Future
STARTTLS and AUTH tests on the inbound side belong here or beside it.
"""

import re
import socket
import time

from harness import (SANITIZE, SLOW, QID_RE, Fail, Skip, check, wait_until,
                     test, rss_kb, free_port, ipv6_ok, Raw, greet,
                     make_message, smtp_send, strip_received, maildir_files,
                     nothing_queued)


@test("smtp_dialogue_basics")
def t_dialogue(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    with Raw(a.port) as r:
        c, txt = r.reply()
        check(c == 220 and b"mx.test" in txt, "greeting %r, want 220 naming mx.test" % txt)
        c, txt = r.cmd(b"MAIL FROM:<early@client.test>")
        check(c == 503, "MAIL before EHLO: %r, want 503" % txt)
        c, txt = r.cmd(b"EHLO client.test")
        check(c == 250, "EHLO: %r" % txt)
        kw = {l[4:].strip().upper() for l in txt.decode(errors="replace").split("\r\n")[1:] if l}
        for want in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 1048576"):
            check(want in kw, "EHLO does not advertise %s: %r" % (want, sorted(kw)))
        for cmd, code in ((b"HELO client.test", 250), (b"EHLO client.test", 250),
                          (b"VRFY someone", 252), (b"HELP", 214), (b"NOOP", 250),
                          (b"RSET", 250), (b"RCPT TO:<x@relay.test>", 503), (b"DATA", 503),
                          (b"EXPN staff", 502), (b"FROB", 500),
                          (b"MAIL FROM:<big@client.test> SIZE=2000000", 552),
                          (b"MAIL FROM:<> BODY=8BITMIME", 250),
                          (b"RCPT TO:<postmaster>", 250), (b"RSET", 250)):
            c, txt = r.cmd(cmd)
            check(c == code, "%r: %r, want %d" % (cmd, txt, code))
            if code >= 500 and code not in (502, 500):
                check(re.match(rb"\d{3} 5\.\d+\.\d+ ", txt), "%r: no enhanced status code in %r"
                      % (cmd, txt))
        # Pipelined envelope in one write, replies in order.
        r.send(b"MAIL FROM:<p@client.test>\r\nRCPT TO:<p1@relay.test>\r\n"
               b"RCPT TO:<p2@relay.test>\r\nDATA\r\n")
        codes = [r.reply() for _ in range(4)]
        check([c for c, _ in codes] == [250, 250, 250, 354],
              "pipelined MAIL/RCPT/RCPT/DATA: %r" % [x for _, x in codes])
        r.send(make_message("dlg1") + b".\r\n")
        c, txt = r.reply()
        check(re.fullmatch(rb"250 2\.0\.0 Ok: queued as [0-9A-F]{14}\r\n", txt),
              "final reply %r, want '250 2.0.0 Ok: queued as <14 hex>'" % txt)
        # Over max-message-size (1M) without SIZE=: 552 at the end, nothing queued.
        for cmd, code in ((b"MAIL FROM:<big@client.test>", 250),
                          (b"RCPT TO:<big@relay.test>", 250), (b"DATA", 354)):
            c, txt = r.cmd(cmd)
            check(c == code, "%r: %r" % (cmd, txt))
        r.send(make_message("dlg2", (b"B" * 998 + b"\r\n") * 1100) + b".\r\n")
        c, txt = r.reply()
        check(c == 552, "a 1.1 MB message with max-message-size 1M: %r, want 552" % txt)
        c, txt = r.cmd(b"QUIT")
        check(c == 221, "QUIT: %r" % txt)
        check(r.reply(timeout=5)[0] is None and r.eof, "connection not closed after QUIT")
    with Raw(a.subport) as r:
        c, txt = r.reply()
        check(c == 220, "submission listener greeting: %r" % txt)
        c, txt = r.cmd(b"EHLO client.test")
        check(c == 250, "EHLO on the submission listener: %r" % txt)
    sink.wait_count(1, 20)
    a.wait_queue_empty(10)
    time.sleep(0.5 * SLOW)
    msgs = sink.messages()
    check(len(msgs) == 1, "%d messages at the sink, want only the pipelined one" % len(msgs))
    check(sorted(x.strip("<>") for x in msgs[0][2]) == ["p1@relay.test", "p2@relay.test"],
          "recipients %r" % msgs[0][2])


@test("session_max_errors_and_timeouts")
def t_errors_timeouts(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=3, command_timeout="2s",
               data_timeout="2s").start()
    with greet(a.port) as r:
        reps = []
        for _ in range(5):
            try:
                r.send(b"FROB\r\n")
            except OSError:
                break
            reps += r.replies(quiet=0.5)
            if r.eof:
                break
        codes = [c for c, _ in reps]
        check(421 in codes and r.eof,
              "max-errors 3: replies %r, want a 421 and the connection closed" % codes)
        check(codes[:codes.index(421)] == [500, 500, 500],
              "max-errors 3: %r before the 421, want three 500" % codes)
    with greet(a.port) as r:
        t0 = time.monotonic()
        c, txt = r.reply(timeout=10 * SLOW)
        took = time.monotonic() - t0
        check(c == 421 and b"4.4.2" in txt, "idle session with command-timeout 2s: %r" % txt)
        check(1.5 <= took <= 6 * SLOW, "command-timeout 2s hit after %.1fs" % took)
        check(r.reply(timeout=5)[0] is None and r.eof, "connection not closed after the timeout 421")
    with greet(a.port) as r:
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<slow@relay.test>", b"DATA"):
            r.cmd(cmd)
        r.send(b"Subject: slow\r\n\r\npartial")
        c, txt = r.reply(timeout=10 * SLOW)
        check(c == 421, "stalled DATA with data-timeout 2s: %r, want 421" % txt)
    nothing_queued(t, a, sink, "after a DATA timeout")


@test("relay_denied_outside_relay_networks")
def t_relay_denied(t):
    sink = t.sink()
    a = t.aval("closed", sinkport=sink.port, relay_networks="192.0.2.0/24").start()
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<someone@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:<victim@elsewhere.example>")
        check(c == 554 and b"5.7.1" in txt,
              "RCPT to a foreign domain from outside relay-networks: %r, want 554 5.7.1" % txt)
        c, txt = r.cmd(b"RCPT TO:<u@aval.test>")
        check(c == 250, "RCPT to a local domain from outside relay-networks: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:<v@relay.test>")
        check(c == 250, "RCPT to a relay domain from outside relay-networks: %r" % txt)
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA: %r" % txt)
        r.send(make_message("rd1") + b".\r\n")
        c, txt = r.reply()
        check(c == 250 and QID_RE.search(txt), "end of DATA: %r" % txt)
        r.cmd(b"QUIT")
    sink.wait_count(1, 20)
    wait_until(lambda: maildir_files(a, "aval.test", "u"), 20, 0.1, "the local copy in Maildir")
    a.wait_queue_empty(10)
    msgs = sink.messages()
    check(len(msgs) == 1, "%d messages at the sink, want 1" % len(msgs))
    rc = [x.strip("<>") for x in msgs[0][2]]
    check(rc == ["v@relay.test"], "sink recipients %r, want only v@relay.test" % rc)
    check("status=reject" in a.log() or "554" in a.log(),
          "the refused RCPT was not logged (status=reject)")

    # From inside relay-networks, any domain is relayed (to the * transport).
    b = t.aval("open", sinkport=sink.port).start()
    smtp_send(b.port, "someone@client.test", ["friend@elsewhere.example"], make_message("rd2"))
    sink.wait_count(2, 20)


SMUGGLE_ENDINGS = [
    ("LF.LF", b"\n.\n"),
    ("CR.CR", b"\r.\r"),
    ("LF.CRLF", b"\n.\r\n"),
    ("CRLF.LF", b"\r\n.\n"),
    ("CR.CRLF", b"\r.\r\n"),
    ("CRLF.CR", b"\r\n.\r"),
    ("LF.CR", b"\n.\r"),
    ("CR.LF", b"\r.\n"),
    ("CRLF.CRCRLF", b"\r\n.\r\r\n"),
    ("CRLF.LFCRLF", b"\r\n.\n\r\n"),
    ("LF.LFCRLF", b"\n.\n\r\n"),
]


def rejected_data(t, a, payload, name):
    """Send payload (the whole DATA text including the final CRLF.CRLF)
    after a good envelope; the reply must be one 5xx, nothing 2xx or 3xx
    may follow, and the session must answer NOOP with 250 or be closed.
    Returns a problem string or None."""
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<victim@client.test>")
        if c != 250:
            return "%s: MAIL %r" % (name, txt)
        c, txt = r.cmd(b"RCPT TO:<legit@relay.test>")
        if c != 250:
            return "%s: RCPT %r" % (name, txt)
        c, txt = r.cmd(b"DATA")
        if c != 354:
            return "%s: DATA %r" % (name, txt)
        try:
            r.send(payload)
        except OSError:
            pass
        reps = r.replies(quiet=0.8)
        if not reps:
            return "%s: no reply to the end of DATA" % name
        c0, txt0 = reps[0]
        if c0 is None or not 500 <= c0 < 600:
            return "%s: reply %r, want 5xx" % (name, txt0)
        good = [x for x in reps if x[0] is not None and x[0] < 400]
        if good:
            return "%s: 5xx then %r (smuggled commands were run)" % (
                name, [x[1] for x in good])
        if r.eof:
            return None
        try:
            c, txt = r.cmd(b"NOOP")
        except OSError:
            return None
        if c is not None and c != 250:
            return "%s: NOOP after the refused DATA got %r" % (name, txt)
    return None


@test("smtp_smuggling_endings_refused_nothing_queued", timeout=120)
def t_smuggling(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=100).start()
    problems = []
    for name, ending in SMUGGLE_ENDINGS:
        payload = (b"From: <victim@client.test>\r\nSubject: smuggle " + name.encode() +
                   b"\r\n\r\nlegit body" + ending +
                   b"MAIL FROM:<attacker@evil.test>\r\nRCPT TO:<smuggled@relay.test>\r\n"
                   b"DATA\r\nFrom: <attacker@evil.test>\r\nSubject: smuggled\r\n\r\n"
                   b"smuggled body\r\n.\r\n")
        p = rejected_data(t, a, payload, name)
        if p:
            problems.append(p)
    nothing_queued(t, a, sink, "after the smuggling attempts")
    check("smuggled@relay.test" not in a.log() or "status=sent" not in "".join(
        l for l in a.log().splitlines() if "smuggled@relay.test" in l),
        "the smuggled recipient was delivered")
    check(not problems, "; ".join(problems))


@test("bare_cr_lf_in_commands_and_text_refused")
def t_bare(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=100).start()
    problems = []
    cases = [
        ("NOOP LF NOOP", b"NOOP\nNOOP\r\n"),
        ("NOOP CR NOOP", b"NOOP\rNOOP\r\n"),
        ("MAIL LF RCPT", b"MAIL FROM:<a@client.test>\nRCPT TO:<b@relay.test>\r\n"),
        ("MAIL CR RCPT", b"MAIL FROM:<a@client.test>\rRCPT TO:<b@relay.test>\r\n"),
        ("RSET CR LF-less", b"RSET\r\rNOOP\r\n"),
        ("HELO LF", b"HELO a.test\nNOOP\r\n"),
    ]
    for name, line in cases:
        with greet(a.port) as r:
            r.send(line)
            reps = r.replies(quiet=0.8)
            if not reps or reps[0][0] is None or not 500 <= reps[0][0] < 600:
                problems.append("%s: %r, want 5xx first" % (name, [x[1] for x in reps]))
                continue
            ok = [x for x in reps if x[0] is not None and x[0] < 400]
            if ok:
                problems.append("%s: 5xx then %r" % (name, [x[1] for x in ok]))
                continue
            if not r.eof:
                try:
                    c, txt = r.cmd(b"NOOP")
                    if c is not None and c != 250:
                        problems.append("%s: NOOP afterwards got %r" % (name, txt))
                except OSError:
                    pass
    texts = [
        ("bare LF in text", b"Subject: x\r\n\r\nline one\nline two\r\n.\r\n"),
        ("bare CR in text", b"Subject: x\r\n\r\nline one\rline two\r\n.\r\n"),
        ("bare LF in header", b"Subject: x\nX-Other: y\r\n\r\nbody\r\n.\r\n"),
        ("bare CR at end of text", b"Subject: x\r\n\r\nbody\r\r\n.\r\n"),
    ]
    for name, payload in texts:
        p = rejected_data(t, a, payload, name)
        if p:
            problems.append(p)
    nothing_queued(t, a, sink, "after bare CR/LF in text")
    check(not problems, "; ".join(problems))


@test("command_line_limit_512_octets")
def t_cmd_limit(t):
    a = t.aval(max_errors=100).start()
    with greet(a.port) as r:
        line = b"NOOP " + b"x" * (510 - 5)
        check(len(line) + 2 == 512, "test bug")
        c, txt = r.cmd(line)
        check(c == 250, "a 512-octet command line (with CRLF) got %r, want 250" % txt)
        c, txt = r.cmd(b"NOOP " + b"x" * (511 - 5))
        check(c == 500, "a 513-octet command line got %r, want 500" % txt)
        if b"5.5." not in txt:
            t.note("513-octet line: %r (no 5.5.x enhanced code)" % txt)
        if r.eof:
            return
        c, txt = r.cmd(b"NOOP")
        check(c in (250, None), "NOOP after the overlong line: %r" % txt)


def smtpd_rss(a):
    return sum(rss_kb(p) for p in a.pids("aval-smtpd"))


@test("overlong_lines_refused_memory_bounded", timeout=120)
def t_overlong(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, processes=1, max_errors=100,
               extra_asan="quarantine_size_mb=1").start()
    # 100 KB without a newline, then CRLF: 500, then usable or closed.
    with greet(a.port) as r:
        try:
            r.send(b"A" * 100000 + b"\r\n")
        except OSError:
            pass
        reps = r.replies(quiet=2.0)
        check(reps and reps[0][0] == 500,
              "a 100 KB command line got %r, want 500" % [x[1][:100] for x in reps])
        check(all(x[0] is None or x[0] >= 500 for x in reps),
              "more than a refusal after the 100 KB line: %r" % [x[1][:100] for x in reps])
        if not r.eof:
            try:
                c, txt = r.cmd(b"NOOP")
                check(c in (250, None), "NOOP after the 100 KB line: %r" % txt)
            except OSError:
                pass

    # 50 MB in one line: the smtpd processes' memory must stay bounded.
    limit_kb = (16 if SANITIZE else 8) * 1024
    with greet(a.port) as r:
        time.sleep(0.2)
        base = smtpd_rss(a)
        check(base > 0, "cannot read the aval-smtpd processes' RSS")
        peak, sent, closed = base, 0, False
        chunk = b"B" * 65536
        r.sock.settimeout(10 * SLOW)
        deadline = time.monotonic() + 40 * SLOW
        while sent < 50 * 1024 * 1024 and time.monotonic() < deadline:
            try:
                r.sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except (socket.timeout, TimeoutError):
                raise Fail("aval-smtpd stopped reading a 50 MB line after %d bytes "
                           "and neither replied nor closed" % sent)
            sent += len(chunk)
            if sent % (1 << 21) == 0:
                peak = max(peak, smtpd_rss(a))
        peak = max(peak, smtpd_rss(a))
        t.note("sent %d MB in one line (%s); smtpd RSS %d kB -> peak %d kB"
               % (sent >> 20, "closed by server" if closed else "open",
                  base, peak))
        check(peak - base < limit_kb, "aval-smtpd grew by %d kB on a %d MB line (limit %d kB)"
              % (peak - base, sent >> 20, limit_kb))
        if not closed:
            try:
                r.send(b"\r\n")
                reps = r.replies(quiet=2.0)
                check(not reps or reps[0][0] is None or reps[0][0] == 500,
                      "after the 50 MB line: %r" % [x[1][:100] for x in reps])
            except OSError:
                pass
    check(a.proc.poll() is None, "avald died")
    check(a.pids("aval-smtpd"), "no aval-smtpd after the long line")

    # A 2000-octet text line in DATA: 5xx, nothing queued.
    p = rejected_data(t, a, b"Subject: long line\r\n\r\n" + b"L" * 2000 + b"\r\nend\r\n.\r\n",
                      "2000-octet text line")
    check(p is None, p or "")
    # A 1000-octet text line (998 + CRLF) is fine.
    with greet(a.port) as r:
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<ok@relay.test>"):
            c, txt = r.cmd(cmd)
            check(c == 250, "%r: %r" % (cmd, txt))
        nothing_queued(t, a, sink, "after the 2000-octet text line")
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA: %r" % txt)
        r.send(b"Subject: max line\r\n\r\n" + b"M" * 998 + b"\r\n.\r\n")
        c, txt = r.reply()
        check(c == 250, "a 998-octet text line (1000 with CRLF) got %r, want 250" % txt)
        # RFC 5321 4.5.3.1.6: the limit does not count the dot added for
        # transparency, so ".xxx" of 998 octets (1001 on the wire) is fine.
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<ok2@relay.test>", b"DATA"):
            c, txt = r.cmd(cmd)
            check(c in (250, 354), "%r: %r" % (cmd, txt))
        r.send(b"Subject: max dot line\r\n\r\n.." + b"D" * 997 + b"\r\n.\r\n")
        c, txt = r.reply()
        check(c == 250, "a 998-octet text line starting with '.' (dot-stuffed to 999 + CRLF "
              "on the wire) got %r, want 250: the stuffing dot must not count" % txt)
    sink.wait_count(2, 20)
    want = b"." + b"D" * 997 + b"\r\n"
    check(any(m[3].endswith(b"\r\n\r\n" + want) for m in sink.messages()),
          "the 998-octet dot line did not arrive intact")


@test("max_recipients_and_max_sessions")
def t_limits(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_recipients=5, max_sessions=3, processes=1).start()
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<s@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        for i in range(5):
            c, txt = r.cmd(b"RCPT TO:<r%d@relay.test>" % i)
            check(c == 250, "RCPT %d: %r" % (i + 1, txt))
        c, txt = r.cmd(b"RCPT TO:<r5@relay.test>")
        check(c == 452 and b"4.5.3" in txt, "6th RCPT with max-recipients 5: %r, want 452 4.5.3" % txt)
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA after the 452: %r" % txt)
        r.send(make_message("lim1") + b".\r\n")
        c, txt = r.reply()
        check(c == 250, "end of DATA: %r" % txt)
    a.wait_queue_empty(20)
    rc = sorted(x.strip("<>") for m in sink.messages() for x in m[2])
    check(rc == ["r%d@relay.test" % i for i in range(5)],
          "recipients at the sink: %r, want r0..r4" % rc)

    # Sessions: the cap (3) counts sessions still open, so the closes above
    # must have been seen first; a 421 among the first three is retried.
    held = []
    try:
        for attempt in range(10):
            for r in held:
                r.close()
            held = []
            time.sleep(0.3 * SLOW)
            codes = []
            for i in range(3):
                r = Raw(a.port)
                held.append(r)
                codes.append(r.reply())
            if all(c == 220 for c, _ in codes):
                break
        check(all(c == 220 for c, _ in codes), "3 sessions with max-sessions 3: %r" % codes)
        r4 = Raw(a.port)
        c, txt = r4.reply()
        r4.close()
        check(c == 421 and b"4.3.2" in txt, "4th session with max-sessions 3: %r, want 421 4.3.2" % txt)
        held.pop().close()

        def fifth():
            with Raw(a.port) as r5:
                c, _ = r5.reply()
                return c == 220
        wait_until(fifth, 5, 0.2, "a new session to be accepted once one closed")
    finally:
        for r in held:
            r.close()


@test("client_that_half_closes_still_gets_its_250")
def t_half_close(t):
    """The client sends the final dot and shuts its writing side: the 250 for
    a message now on disk must still reach it, or it would send it again."""
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    got = 0
    for i in range(10):
        with socket.create_connection(("127.0.0.1", a.port), 10 * SLOW) as s:
            s.sendall(b"EHLO client.test\r\nMAIL FROM:<s@client.test>\r\n"
                      b"RCPT TO:<hc%d@relay.test>\r\nDATA\r\n" % i)
            seen = b""
            while b"354" not in seen:
                d = s.recv(4096)
                check(d, "closed before 354: %r" % seen)
                seen += d
            s.sendall(make_message("hc%d" % i) + b".\r\n")
            s.shutdown(socket.SHUT_WR)
            while True:
                d = s.recv(4096)
                if not d:
                    break
                seen += d
        check(re.search(rb"250 2\.0\.0 Ok: queued as [0-9A-F]{14}", seen),
              "half-closed session %d never got its 250: %r" % (i, seen[-200:]))
        got += 1
    sink.wait_count(10, 20)
    t.note("%d half-closed sessions each got their 250" % got)


@test("reply_flood_to_a_client_that_does_not_read_is_bounded", timeout=90)
def t_reply_flood(t):
    """HELP costs 6 octets in and ~70 out: a client that never reads its
    replies must not make smtpd buffer them without end."""
    a = t.aval(processes=1, max_errors=100).start()
    limit_kb = (16 if SANITIZE else 8) * 1024
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(2 * SLOW)
    s.connect(("127.0.0.1", a.port))
    time.sleep(0.2)
    base = smtpd_rss(a)
    chunk = b"HELP\r\n" * 10000
    sent, stalled = 0, False
    deadline = time.monotonic() + 10 * SLOW
    try:
        while sent < 60 * 1000 * 1000 and time.monotonic() < deadline:
            s.sendall(chunk)
            sent += len(chunk)
    except (socket.timeout, TimeoutError):
        stalled = True			# smtpd stopped reading: back-pressure
    except OSError:
        pass
    peak = smtpd_rss(a)
    s.close()
    t.note("sent %d kB of HELP without reading (%s); smtpd RSS %d kB -> %d kB"
           % (sent >> 10, "server stopped reading" if stalled else "not stalled",
              base, peak))
    check(peak - base < limit_kb, "aval-smtpd grew by %d kB (limit %d kB)"
          % (peak - base, limit_kb))
    with greet(a.port) as r:
        c, txt = r.cmd(b"NOOP")
        check(c == 250, "smtpd unusable after the flood: %r" % txt)


@test("ipv6_listener_on_loopback")
def t_ipv6(t):
    if not ipv6_ok():
        raise Skip("no IPv6 on the loopback interface (::1 cannot be bound)")
    sink = t.sink()
    p6 = free_port("::1")
    a = t.aval(sinkport=sink.port, listen_extra=["listen on ::1 port %d" % p6]).start()

    def up():
        try:
            with Raw(p6, "::1") as r:
                return r.reply()[0] == 220
        except OSError:
            return False
    wait_until(up, 10, 0.1, "a 220 greeting on [::1]:%d" % p6)
    qid = smtp_send(p6, "s@client.test", ["v6@relay.test", "far@elsewhere.example"],
                    make_message("v6"), host="::1")
    sink.wait_count(1, 20)
    a.wait_queue_empty(10)
    f, sender, rcpts, data = sink.messages()[0]
    received, _ = strip_received(data)
    check(b"::1" in received, "Received: does not show the IPv6 client: %r" % received)
    check(qid, "no queue id")
    a.wait_log(r"client=[^,]*\[?(IPv6:)?::1\]?", 5, 0, "a log line with client ::1")
