"""
test_esmtp.py - the ESMTP extensions a relay needs, and the relay tricks

CHUNKING (BDAT, RFC 3030), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461),
the classic sender-specified-routing relay tricks refused from clients
that may not relay, and 100,000 pipelined RCPTs.
"""

import socket
import threading
import time

from harness import (SANITIZE, SLOW, check, test, rss_kb, Raw, greet,
                     make_message, nothing_queued, QID_RE)

NOT_LOOPBACK = "192.0.2.0/24"

# Every one must be refused from a client that may not relay: aval.test is
# a local domain of the test instance, ext.test is not ours.
RELAY_TRICKS = [
    b"<user@ext.test>",
    b"<user%ext.test@aval.test>",
    b"<user%ext.test@AVAL.TEST>",
    b"<ext.test!user@aval.test>",
    b"<user!ext.test@aval.test>",
    b"<\"user@ext.test\"@aval.test>",
    b"<\"user%ext.test\"@aval.test>",
    b"<\"ext.test!user\"@aval.test>",
    b"<user@ext.test@aval.test>",
    b"<@aval.test:user@ext.test>",
    b"<@aval.test,@other.test:user@ext.test>",
    b"<@ext.test:user@aval.test>",
    b"<user%ext.test%aval.test@aval.test>",
    b"<ext.test!user%aval.test@aval.test>",
    b"<user%ext.test>",
    b"<ext.test!user>",
    b"<\"user@ext.test\">",
    b"<user@[127.0.0.1]>",
    b"<user%ext.test@[127.0.0.1]>",
    b"<user@ext.test.>",
    b"<\"user\\@ext.test\"@aval.test>",
    b"user@ext.test",
]


@test("esmtp_the_22_classic_relay_tricks_are_refused")
def t_relay_tricks(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, relay_networks=NOT_LOOPBACK,
               max_errors=1000).start()
    r = greet(a.port)
    got = []
    for trick in RELAY_TRICKS:
        c, txt = r.cmd(b"MAIL FROM:<someone@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:" + trick)
        got.append((trick, c, txt.strip()))
        r.cmd(b"RSET")
    r.close()
    accepted = [(tr, txt) for tr, c, txt in got if c == 250]
    check(not accepted, "relay tricks accepted: %r" % accepted)
    check(len(RELAY_TRICKS) == 22, "test bug: %d tricks" % len(RELAY_TRICKS))
    codes = {c for _, c, _ in got}
    check(codes <= {501, 550, 553, 554}, "unexpected codes: %r" % got)
    # The same local parts from a relay network are its business.
    b = t.aval(name="relaynet", sinkport=sink.port).start()
    with greet(b.port) as r:
        r.cmd(b"MAIL FROM:<someone@client.test>")
        c, txt = r.cmd(b"RCPT TO:<user%ext.test@relay.test>")
        check(c == 250, "routing from a relay network: %r" % txt)


def bdat(r, data, last=False):
    r.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)


@test("esmtp_bdat_chunks_exact_refused_ones_swallowed")
def t_bdat(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    r = greet(a.port)
    c, txt = r.cmd(b"EHLO client.test")
    check(b"CHUNKING" in txt and b"SMTPUTF8" in txt and b"DSN" in txt,
          "EHLO: %r" % txt)
    # A chunk before MAIL is read and dropped: the next command works.
    bdat(r, b"RSET\r\nQUIT\r\n")
    c, txt = r.reply()
    check(c == 503, "BDAT before MAIL: %r" % txt)
    c, txt = r.cmd(b"NOOP")
    check(c == 250, "after a refused chunk: %r" % txt)
    # A message in three chunks, pipelined, the last one empty.
    msg = make_message("bdat", b"line one\r\n.line with a dot\r\nend\r\n")
    r.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@relay.test>\r\n")
    r.reply(); r.reply()
    bdat(r, msg[:37])
    bdat(r, msg[37:])
    bdat(r, b"", last=True)
    c1, t1 = r.reply()
    c2, t2 = r.reply()
    c3, t3 = r.reply(timeout=20)
    check(c1 == 250 and b"37 octets" in t1, "chunk 1: %r" % t1)
    check(c2 == 250, "chunk 2: %r" % t2)
    check(c3 == 250 and QID_RE.search(t3), "last chunk: %r" % t3)
    sink.wait_count(1, 20)
    body = sink.messages()[0][3]
    check(body.endswith(msg), "the message at the sink differs: %r" % body[-200:])
    # DATA after BDAT; a bare LF inside a chunk; a bad BDAT ends the session.
    r.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@relay.test>\r\n")
    r.reply(); r.reply()
    bdat(r, b"Subject: x\r\n\r\ngood\r\n")
    c, txt = r.reply()
    check(c == 250, "chunk: %r" % txt)
    c, txt = r.cmd(b"DATA")
    check(c == 503, "DATA after BDAT: %r" % txt)
    # RFC 3030: the transaction fails at the chunk that breaks a rule.
    bdat(r, b"bare\nlf\r\n")
    c, txt = r.reply(timeout=20)
    check(c == 554, "a chunk with a bare LF: %r, want 554" % txt)
    bdat(r, b"", last=True)
    c, txt = r.reply(timeout=20)
    check(c == 503, "BDAT LAST after the failed chunk: %r, want 503" % txt)
    c, txt = r.cmd(b"BDAT lots")
    check(c == 521, "unparsable BDAT: %r, want 521" % txt)
    check(r.reply(timeout=5)[0] is None, "session not closed after 521")
    r.close()
    check(sink.count() == 1, "%d messages at the sink" % sink.count())


@test("esmtp_bdat_over_the_size_limit_fails_at_that_chunk")
def t_bdat_size(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_message_size="64K").start()
    r = greet(a.port)
    r.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@relay.test>\r\n")
    r.reply(); r.reply()
    big = (b"x" * 998 + b"\r\n") * 70
    bdat(r, big)
    c, txt = r.reply(timeout=20)
    check(c == 552, "a 70 KB chunk with max-message-size 64K: %r" % txt)
    bdat(r, b"more\r\n", last=True)
    c, txt = r.reply()
    check(c == 503, "BDAT after the failed chunk: %r, want 503" % txt)
    c, txt = r.cmd(b"NOOP")
    check(c == 250, "NOOP: %r" % txt)
    r.close()
    nothing_queued(t, a, sink, "an oversized BDAT message")


@test("esmtp_smtputf8_and_dsn_parameters")
def t_utf8_dsn(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    r = greet(a.port)
    for cmd, want in (
            ("MAIL FROM:<jos\u00e9@client.test>", 553),
            ("MAIL FROM:<jos\u00e9@client.test> SMTPUTF8", 250),
            ("RCPT TO:<\u00fcser@relay.test>", 250),
            ("RSET", 250),
            ("MAIL FROM:<a@client.test> RET=HDRS ENVID=abc+2Bdef", 250),
            ("RCPT TO:<b@relay.test> NOTIFY=SUCCESS,FAILURE "
             "ORCPT=rfc822;b+40relay.test", 250),
            ("RCPT TO:<c@relay.test> NOTIFY=NEVER,SUCCESS", 501),
            ("RCPT TO:<c@relay.test> ORCPT=rfc822;x+0Dy", 501),
            ("RSET", 250),
            ("MAIL FROM:<a@client.test> ENVID=a+0Ab", 501),
            ("MAIL FROM:<a@client.test> BODY=BINARYMIME", 555),
            ("MAIL FROM:<a@client.test> RET=FULL RET=HDRS", 501)):
        c, txt = r.cmd(cmd.encode())
        check(c == want, "%s: %r, want %d" % (cmd, txt, want))
        if c != 250 and cmd.startswith("MAIL"):
            r.cmd(b"RSET")
    # A message with every DSN parameter is stored and relayed.
    for cmd in (b"MAIL FROM:<a@client.test> RET=FULL ENVID=e+2B1 SMTPUTF8",
                b"RCPT TO:<b@relay.test> NOTIFY=DELAY,FAILURE "
                b"ORCPT=rfc822;" + b"b+40relay.test" * 30,
                b"RCPT TO:<c@relay.test> NOTIFY=NEVER"):
        c, txt = r.cmd(cmd)
        check(c == 250, "%r: %r" % (cmd[:60], txt))
    c, txt = r.cmd(b"DATA")
    check(c == 354, "DATA: %r" % txt)
    r.send(make_message("dsn") + b".\r\n")
    c, txt = r.reply(timeout=20)
    check(c == 250 and QID_RE.search(txt), "a message with DSN fields: %r" % txt)
    r.close()
    sink.wait_count(1, 30)


@test("esmtp_100000_pipelined_rcpts_answered_memory_bounded", timeout=180)
def t_many_rcpts(t):
    a = t.aval(processes=1, max_errors=1000).start()
    pid = a.pids("aval-smtpd")[0]
    r = greet(a.port, ehlo=b"client.test")
    n = 100000
    lines = b"MAIL FROM:<a@client.test>\r\n" + b"".join(
        b"RCPT TO:<r%d@relay.test>\r\n" % i for i in range(n)) + b"RSET\r\n"
    err = []

    def sender():
        try:
            r.sock.sendall(lines)
        except OSError as e:
            err.append(e)
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    codes = {}
    peak = 0
    deadline = time.time() + 120 * SLOW
    got = 0
    while got < n + 2 and time.time() < deadline:
        c, txt = r.reply(timeout=30 * SLOW)
        if c is None:
            break
        codes[c] = codes.get(c, 0) + 1
        got += 1
        if got % 10000 == 0:
            peak = max(peak, rss_kb(pid))
    th.join(10)
    r.close()
    check(not err, "sending: %r" % err)
    check(got == n + 2, "%d replies to %d pipelined commands" % (got, n + 2))
    check(codes.get(250, 0) == 100 + 2 and codes.get(452, 0) == n - 100,
          "replies by code: %r, want 100 RCPT 250s and the rest 452" % codes)
    limit = 250000 if SANITIZE else 60000
    check(peak < limit, "smtpd RSS %d KiB, want under %d" % (peak, limit))
    t.note("100000 RCPTs: smtpd peak RSS %d KiB" % peak)


@test("esmtp_a_refused_bdat_chunk_sent_slowly_is_still_read_whole", timeout=90,
      plain_only="a chunk sent over seconds; BDAT parsing has its fast tests")
def t_bdat_slow_refused(t):
    a = t.aval().start()
    r = greet(a.port)
    # No MAIL: the chunk is refused, but read whole, at a fair pace.
    r.send(b"BDAT 24000\r\n")
    for i in range(12):
        time.sleep(1)
        r.send(b"x" * 2000)
    c, txt = r.reply(timeout=10)
    check(c == 503, "BDAT before MAIL, 2000 octets a second for 12 s: %r, "
          "want 503 (and not the data rate's 421)" % txt)
    c, txt = r.cmd(b"NOOP")
    check(c == 250, "NOOP after the chunk: %r" % txt)
    r.close()
