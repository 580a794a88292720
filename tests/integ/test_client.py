"""
test_client.py - the SMTP (and LMTP) client's protocol corners, end to end

Each test relays through a real avald to ScriptSink (sinks.py), which
announces the extensions the test wants, answers slowly or fails once:
a timeout per reply, SIZE, SMTPUTF8, DSN passed on, and a 421 or a
dropped connection mid-transaction that loses nothing. docs/smtp-client.md
describes the behaviour.
"""

import re
import time

from harness import SLOW, check, test, greet, make_message, QID_RE

BASE_EHLO = ["PIPELINING", "8BITMIME", "SIZE 100000000", "ENHANCEDSTATUSCODES"]


def send_raw(a, lines, msg):
    """One message through a raw session: each of lines must get 250,
    then DATA; returns the queue ID."""
    r = greet(a.port)
    for ln in lines:
        c, txt = r.cmd(ln)
        check(c == 250, "%r: %r" % (ln[:70], txt))
    c, txt = r.cmd(b"DATA")
    check(c == 354, "DATA: %r" % txt)
    r.send(msg + b".\r\n")
    c, txt = r.reply(timeout=20)
    m = QID_RE.search(txt or b"")
    check(c == 250 and m, "end of data: %r" % txt)
    r.cmd(b"QUIT")
    r.close()
    return m.group(1).decode()


@test("client_20_slow_rcpt_replies_each_within_its_own_timeout", timeout=120,
      plain_only="12 s of replies 0.6 s apart, timed in the plain run")
def t_slow_rcpts(t):
    # 20 RCPTs answered 0.6 s apart: 12 s for the phase, 6 command-timeouts
    # of 2 s, and each reply well within its own.
    sink = t.sink("script", rcpt_delay=0.6)
    a = t.aval(sinkport=sink.port, deliver_command_timeout="2s").start()
    rcpts = ["r%d@relay.test" % i for i in range(20)]
    lines = [b"MAIL FROM:<s@client.test>"] + [
        b"RCPT TO:<%s>" % r.encode() for r in rcpts]
    qid = send_raw(a, lines, make_message("slow"))
    sink.wait_count(1, 60 * SLOW)
    _, _, got, _ = sink.messages()[0]
    check(sorted(x.strip("<>") for x in got) == sorted(rcpts),
          "recipients at the sink: %r" % got)
    check(not re.search(r"%s: .*status=deferred" % qid, a.log()),
          "a recipient was deferred:\n%s" % "\n".join(
              l for l in a.log().splitlines() if "deferred" in l))


@test("client_bounces_5_3_4_over_the_next_hops_size_unsent", timeout=60)
def t_size(t):
    sink = t.sink("script", ehlo=["PIPELINING", "8BITMIME", "SIZE 2000"])
    a = t.aval(sinkport=sink.port).start()
    msg = make_message("big", body=(b"y" * 70 + b"\r\n") * 60)
    qid = send_raw(a, [b"MAIL FROM:<s@client.test>", b"RCPT TO:<big@relay.test>"], msg)
    a.wait_log(r"%s: to=<big@relay\.test>, relay=\[127\.0\.0\.1\]:\d+.*dsn=5\.3\.4, "
               r"status=bounced \(message size \d+ exceeds the next hop's "
               r"limit 2000" % qid, 20)
    time.sleep(1 * SLOW)
    mails = [l for l in sink.commands("MAIL") if "<s@client.test>" in l]
    check(not mails, "MAIL reached the sink: %r" % mails)


@test("client_relays_a_utf8_envelope_with_smtputf8", timeout=60)
def t_utf8(t):
    sink = t.sink("script", ehlo=BASE_EHLO + ["SMTPUTF8"])
    a = t.aval(sinkport=sink.port).start()
    qid = send_raw(a, ["MAIL FROM:<jos\u00e9@client.test> SMTPUTF8".encode(),
                       "RCPT TO:<j\u00fcrgen@relay.test>".encode()],
                   make_message("utf8"))
    sink.wait_count(1, 20)
    a.wait_log(r"%s: to=<j\u00fcrgen@relay\.test>.*status=sent" % qid, 10)
    mails = sink.commands("MAIL")
    check(any(l.startswith("MAIL FROM:<jos\u00e9@client.test>") and
              l.endswith(" SMTPUTF8") for l in mails), "MAIL lines: %r" % mails)


@test("client_bounces_5_6_7_a_utf8_envelope_without_smtputf8", timeout=60)
def t_utf8_refused(t):
    sink = t.sink("script")
    a = t.aval(sinkport=sink.port).start()
    qid = send_raw(a, ["MAIL FROM:<s@client.test> SMTPUTF8".encode(),
                       "RCPT TO:<j\u00fcrgen@relay.test>".encode()],
                   make_message("utf8no"))
    a.wait_log(r"%s: to=<j\u00fcrgen@relay\.test>.*dsn=5\.6\.7, status=bounced "
               r"\(the envelope has a non-ASCII address, and host "
               r"\[127\.0\.0\.1\]:\d+ does not offer SMTPUTF8\)" % qid, 20)
    check(not any("<s@client.test>" in l for l in sink.commands("MAIL")),
          "MAIL reached the sink: %r" % sink.commands("MAIL"))


@test("client_passes_dsn_parameters_to_a_next_hop_with_dsn", timeout=60)
def t_dsn(t):
    sink = t.sink("script", ehlo=BASE_EHLO + ["DSN"])
    a = t.aval(sinkport=sink.port).start()
    qid = send_raw(a, [b"MAIL FROM:<s@client.test> RET=HDRS ENVID=e+2B1",
                       b"RCPT TO:<b@relay.test> NOTIFY=SUCCESS,FAILURE "
                       b"ORCPT=rfc822;b+40relay.test",
                       b"RCPT TO:<c@relay.test> NOTIFY=NEVER",
                       b"RCPT TO:<d@relay.test>"],
                   make_message("dsn"))
    sink.wait_count(1, 20)
    a.wait_log(r"%s: to=<b@relay\.test>.*status=sent" % qid, 10)
    mails, rc = sink.commands("MAIL"), sink.commands("RCPT")
    check(any(l.endswith(" RET=HDRS ENVID=e+2B1") for l in mails),
          "MAIL lines: %r" % mails)
    for want in ("RCPT TO:<b@relay.test> NOTIFY=SUCCESS,FAILURE "
                 "ORCPT=rfc822;b+40relay.test",
                 "RCPT TO:<c@relay.test> NOTIFY=NEVER", "RCPT TO:<d@relay.test>"):
        check(want in rc, "%r not among the RCPT lines %r" % (want, rc))
    # The next hop reports success now: no "relayed" notice of ours.
    time.sleep(2 * SLOW)
    check(sink.count() == 1, "%d messages at the sink, want 1 (no relayed "
          "notice): %r" % (sink.count(), [m[1] for m in sink.messages()]))


@test("client_without_dsn_at_the_next_hop_sends_a_relayed_notice", timeout=60)
def t_dsn_relayed(t):
    sink = t.sink("script")
    a = t.aval(sinkport=sink.port).start()
    send_raw(a, [b"MAIL FROM:<s@client.test>",
                 b"RCPT TO:<b@relay.test> NOTIFY=SUCCESS"], make_message("rel"))
    sink.wait_count(2, 20)
    check(not any("NOTIFY" in l for l in sink.commands("RCPT")),
          "NOTIFY went to a next hop without DSN: %r" % sink.commands("RCPT"))
    notes = [m for m in sink.messages() if m[1].strip("<>") == ""]
    check(len(notes) == 1 and b"relayed" in notes[0][3].lower(),
          "want one relayed notice from <>: %r" % [m[:3] for m in sink.messages()])


def lose_nothing(t, fail, want):
    sink = t.sink("script", fail=fail)
    a = t.aval(sinkport=sink.port).start()
    qid = send_raw(a, [b"MAIL FROM:<s@client.test>", b"RCPT TO:<one@relay.test>",
                       b"RCPT TO:<two@relay.test>"], make_message("mid"))
    for r in ("one", "two"):
        a.wait_log(r"%s: to=<%s@relay\.test>.*dsn=4\.[0-9.]+, status=deferred "
                   r"\(.*%s" % (qid, r, want), 20)
    for r in ("one", "two"):
        a.wait_log(r"%s: to=<%s@relay\.test>.*status=sent" % (qid, r), 30)
    check(not re.search(r"%s: .*status=sent.*\n(?:.*\n)*.*%s: .*status=deferred"
                        % (qid, qid), a.log()), "deferred after sent")
    time.sleep(1 * SLOW)
    # Once for each, in one retry or two (the queue retries each
    # recipient on its own backoff).
    got = [m for m in sink.messages() if m[1].strip("<>") == "s@client.test"]
    check(sorted(x.strip("<>") for m in got for x in m[2]) ==
          ["one@relay.test", "two@relay.test"],
          "want the message once for each: %r" % [m[:3] for m in got])


@test("client_421_to_a_rcpt_defers_all_and_the_retry_delivers", timeout=60)
def t_421_rcpt(t):
    lose_nothing(t, {"rcpt421": "two@relay.test"},
                 r"421 4\.3\.2 scriptsink shutting down \(in reply to RCPT TO")


@test("client_421_to_data_defers_all_and_the_retry_delivers", timeout=60)
def t_421_data(t):
    lose_nothing(t, {"data421": 1}, r"\(in reply to DATA command\)")


@test("client_drop_after_the_dot_defers_and_the_retry_delivers", timeout=60)
def t_drop_dot(t):
    lose_nothing(t, {"drop_after_dot": 1}, r"lost connection with .* while "
                 r"sending end of data")


@test("client_lmtp_to_aiosmtpd_one_result_per_recipient", timeout=60)
def t_lmtp(t):
    from harness import Skip, avald_check
    lm = t.sink("lmtp")
    sink = t.sink("script")
    a = t.aval(sinkport=sink.port, relay_domains="relay.test lmtp.test",
               transport_lines=["lmtp.test\tlmtp [127.0.0.1]:%d" % lm.port])
    rc, out = avald_check(a.conf)
    if rc != 0:
        raise Skip("this tree has no lmtp transport: %s" % out.strip()[:200])
    a.start()
    qid = send_raw(a, [b"MAIL FROM:<s@client.test>", b"RCPT TO:<ana@lmtp.test>",
                       b"RCPT TO:<full@lmtp.test>", b"RCPT TO:<eva@lmtp.test>"],
                   make_message("lmtp"))
    a.wait_log(r"%s: to=<ana@lmtp\.test>.*dsn=2\.0\.0, status=sent \(250 2\.0\.0 "
               r"<ana@lmtp\.test> delivered\)" % qid, 20)
    a.wait_log(r"%s: to=<eva@lmtp\.test>.*status=sent" % qid, 20)
    a.wait_log(r"%s: to=<full@lmtp\.test>.*dsn=4\.2\.2, status=deferred \(host "
               r"\[127\.0\.0\.1\]:\d+ said: 452 4\.2\.2 <full@lmtp\.test> mailbox "
               r"full \(in reply to end of DATA command\)" % qid, 20)
    lm.wait_count(1, 10)
    got = sorted(x.strip("<>") for m in lm.messages() for x in m[2])
    check(got[:2] == ["ana@lmtp.test", "eva@lmtp.test"],
          "recipients at the LMTP server: %r" % got)
