"""
test_bounce.py - the queue's own notices, end to end

Real processes: a recipient refused with a 5xx, a message that expires,
one delayed past delay-notice, NOTIFY=SUCCESS and NOTIFY=NEVER, and a
bounce of a bounce; each notice is taken from the sink and read with
Python's email package, field by field (test_dsn.py has the composer's
format in detail).
"""

import smtplib
import time

from harness import (SLOW, check, wait_until, test, make_message, smtp_send,
                     free_port)
from test_dsn import parse, report_of


def notices(sink, to=None):
    """[(rcpts, message)] of the sink's messages from <> (to `to` if given)."""
    out = []
    for f, sender, rcpts, data in sink.messages():
        if sender.strip("<>") != "":
            continue
        rc = [x.strip("<>") for x in rcpts]
        if to is not None and to not in rc:
            continue
        out.append((rc, parse(data)))
    return out


@test("bounce_a_5xx_sends_the_sender_one_notice", timeout=90)
def t_bounce(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    qid = smtp_send(a.port, "ana@client.test",
                    ["reject-x@relay.test", "ok@relay.test"],
                    make_message("b1"), options=("ENVID=env-b1", "RET=HDRS"))
    wait_until(lambda: notices(sink, "ana@client.test"), 20, 0.2,
               "a non-delivery notice for ana@client.test")
    a.wait_queue_empty(10)
    time.sleep(1 * SLOW)
    ns = notices(sink, "ana@client.test")
    check(len(ns) == 1, "%d notices, want 1" % len(ns))
    m = ns[0][1]
    parts, blocks = report_of(m)
    check(m["Auto-Submitted"] == "auto-replied", "Auto-Submitted %r" % m["Auto-Submitted"])
    check(blocks[0].get("Original-Envelope-Id") == "env-b1",
          "Original-Envelope-Id %r" % blocks[0].get("Original-Envelope-Id"))
    check(blocks[0].get("X-Aval-Queue-ID") == qid,
          "X-Aval-Queue-ID %r, want %s" % (blocks[0].get("X-Aval-Queue-ID"), qid))
    check(blocks[0].get("Reporting-MTA") == "dns; mx.test",
          "Reporting-MTA %r" % blocks[0].get("Reporting-MTA"))
    fails = [b for b in blocks[1:] if b.get("Action") == "failed"]
    check(len(fails) == 1 and fails[0]["Final-Recipient"].endswith("reject-x@relay.test"),
          "failed recipients %r" % blocks[1:])
    check(fails[0]["Status"].startswith("5."), "Status %r" % fails[0]["Status"])
    check("rejected by sink" in fails[0].get("Diagnostic-Code", ""),
          "Diagnostic-Code %r" % fails[0].get("Diagnostic-Code"))
    check(parts[2].get_content_type() == "text/rfc822-headers",
          "RET=HDRS gave %s" % parts[2].get_content_type())
    a.wait_log(r"%s: non-delivery notice \S+ to <ana@client\.test> for 1 "
               r"recipient" % qid, 5)


@test("bounce_of_a_bounce_goes_once_to_the_postmaster", timeout=90)
def t_bounce_bounce(t):
    sink = t.sink()
    # The postmaster setting names where it goes: here, out to the sink.
    a = t.aval(sinkport=sink.port,
               extra_conf=['postmaster\t"postmaster@mx.test"']).start()
    smtp_send(a.port, "", ["reject-y@relay.test"], make_message("bb1"))
    wait_until(lambda: notices(sink, "postmaster@mx.test"), 20, 0.2,
               "a notice to the postmaster")
    a.wait_queue_empty(10)
    time.sleep(1 * SLOW)
    check(len(notices(sink)) == 1, "notices: %r" % [n[0] for n in notices(sink)])


@test("bounce_notify_never_and_success", timeout=90)
def t_notify(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    smtp_send(a.port, "never@client.test", ["reject-z@relay.test"],
              make_message("nv1"))
    with smtplib.SMTP("127.0.0.1", a.port, timeout=30 * SLOW) as s:
        s.ehlo("client.test")
        s.mail("never@client.test")
        code, _ = s.rcpt("reject-n@relay.test", ["NOTIFY=NEVER"])
        check(code == 250, "RCPT NOTIFY=NEVER: %d" % code)
        code, _ = s.rcpt("good@relay.test", ["NOTIFY=SUCCESS"])
        check(code == 250, "RCPT NOTIFY=SUCCESS: %d" % code)
        s.data(make_message("nv2"))
    wait_until(lambda: len(notices(sink, "never@client.test")) >= 2, 20, 0.2,
               "two notices for never@client.test")
    a.wait_queue_empty(10)
    time.sleep(1 * SLOW)
    kinds = []
    for rc, m in notices(sink, "never@client.test"):
        _, blocks = report_of(m)
        kinds.append(sorted((b.get("Action"), b["Final-Recipient"].split(";")[-1].strip())
                            for b in blocks[1:]))
    kinds.sort()
    check(kinds == [[("failed", "reject-z@relay.test")],
                    [("relayed", "good@relay.test")]],
          "notices: %r (NOTIFY=NEVER must give none)" % kinds)


@test("bounce_delay_notice_once_then_expiry", timeout=120,
      plain_only="delay and expiry clocks, timed in the plain run")
def t_delay_expiry(t):
    sink = t.sink()
    dead = free_port()
    a = t.aval(sinkport=sink.port, retry_min="1s", retry_max="1s",
               queue_lines=["delay-notice\t\t2s", "max-lifetime\t\t6s"],
               transport_lines=["slow.test\tsmtp [127.0.0.1]:%d" % dead],
               relay_domains="relay.test slow.test").start()
    qid = smtp_send(a.port, "dora@client.test", ["late@slow.test"],
                    make_message("dl1"))
    wait_until(lambda: notices(sink, "dora@client.test"), 20, 0.2,
               "a delay notice")
    rc, m = notices(sink, "dora@client.test")[0]
    _, blocks = report_of(m)
    check(blocks[1].get("Action") == "delayed", "first notice: %r" % blocks[1:])
    check("Will-Retry-Until" in blocks[1], "delayed block: %r" % blocks[1])
    a.wait_log(r"%s: delay notice" % qid, 5)
    # Then, past max-lifetime, the failure; no second delay notice.
    wait_until(lambda: len(notices(sink, "dora@client.test")) >= 2, 30, 0.2,
               "the expiry notice")
    a.wait_queue_empty(10)
    time.sleep(1 * SLOW)
    ns = notices(sink, "dora@client.test")
    acts = []
    for rc, m in ns:
        _, blocks = report_of(m)
        acts.append((blocks[1].get("Action"), blocks[1].get("Status")))
    check(acts == [("delayed", acts[0][1]), ("failed", "4.4.7")],
          "notices in order: %r, want one delayed then one failed 4.4.7" % acts)
