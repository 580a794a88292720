"""
test_deliver.py - the outbound side: relaying to a sink, Maildir delivery

Bytes as they leave aval (to aval-sink, Postfix's smtp-sink, the Python
sink or a Maildir) and what deliver reports for each recipient. Future
outbound TLS policy and federation tests belong here or beside it.
"""

import random
import re
import shutil
import smtplib
import subprocess
import time

from harness import (SLOW, QID_RE, Fail, Skip, check, wait_until, test, tail,
                     make_message, smtp_send, strip_received, describe_diff,
                     maildir_files, queue_rcpt)


def split_maildir(raw):
    """(prepended header lines until Received:, the Received header, the
    rest) of a Maildir file."""
    lines = raw.split(b"\n")
    pre = []
    i = 0
    while i < len(lines) and not lines[i].startswith(b"Received:"):
        pre.append(lines[i])
        i += 1
        check(i < 5, "no Received: among the first lines of the Maildir file: %r" % raw[:300])
    j = i + 1
    while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
        j += 1
    return pre, b"\n".join(lines[i:j]), b"\n".join(lines[j:])


@test("maildir_delivery_swaks_and_smtplib")
def t_maildir(t):
    if not shutil.which("swaks"):
        raise Skip("swaks is not installed")
    a = t.aval().start()
    body = "first body line\n.leading dot line\n..two dots\n\nlast line\n"
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % a.port, "--helo", "client.test",
         "--from", "swaks@client.test", "--to", "someone@aval.test",
         "--header", "Subject: swaks to maildir", "--header", "X-Test-Token: sw1",
         "--body", body],
        capture_output=True, timeout=30 * SLOW, stdin=subprocess.DEVNULL)
    out = r.stdout.decode(errors="replace")
    check(r.returncode == 0, "swaks exited %d:\n%s" % (r.returncode, tail(out, 15)))
    check(re.search(r"<- +250 2\.0\.0 Ok: queued as [0-9A-F]{14}", out),
          "swaks did not see '250 2.0.0 Ok: queued as <QUEUEID>':\n%s" % tail(out, 8))
    wait_until(lambda: maildir_files(a, "aval.test", "someone"), 20, 0.1,
               "the message in %s/aval.test/someone/new/" % a.maildir)
    time.sleep(0.5)
    files = maildir_files(a, "aval.test", "someone")
    check(len(files) == 1, "%d files in Maildir new/, want 1" % len(files))
    raw = open(files[0], "rb").read()
    check(b"\r" not in raw, "Maildir file still has CR: %r" % raw[:200])
    pre, received, rest = split_maildir(raw)
    check(pre[:1] == [b"Return-Path: <swaks@client.test>"],
          "Maildir file does not start with Return-Path: <swaks@client.test>: %r" % pre)
    check(any(l.startswith(b"Delivered-To:") and b"someone@aval.test" in l for l in pre),
          "no Delivered-To: someone@aval.test before Received:: %r" % pre)
    check(b"X-Test-Token: sw1\n" in rest and b"Subject: swaks to maildir\n" in rest,
          "headers missing in the Maildir copy: %r" % rest[:500])
    check(rest.endswith(b"\n\n" + body.encode()) or (b"\n\n" + body.encode()) in rest,
          "body not intact in the Maildir copy: %r" % rest[-300:])

    # Exact bytes through smtplib, to a mixed-case local part and to localhost.
    msg = make_message("md2", b"line one\r\n.dot\r\n\r\nline \xc3\xa9 8bit\r\n")
    smtp_send(a.port, "sender@client.test", ["MiXed.Case@aval.test", "x@localhost"],
              msg, options=["BODY=8BITMIME"])
    for dom, loc in (("aval.test", "mixed.case"), ("localhost", "x")):
        wait_until(lambda: maildir_files(a, dom, loc), 20, 0.1,
                   "the message in %s/%s/%s/new/" % (a.maildir, dom, loc))
    for dom, loc, rc in (("aval.test", "mixed.case", b"MiXed.Case@aval.test"),
                         ("localhost", "x", b"x@localhost")):
        files = maildir_files(a, dom, loc)
        check(len(files) == 1, "%d files in %s/%s/new, want 1" % (len(files), dom, loc))
        pre, received, rest = split_maildir(open(files[0], "rb").read())
        check(pre[:1] == [b"Return-Path: <sender@client.test>"], "Return-Path: %r" % pre)
        check(any(l.startswith(b"Delivered-To:") and rc.lower() in l.lower() for l in pre),
              "Delivered-To: %r" % pre)
        want = msg.replace(b"\r\n", b"\n")
        check(rest == want, "Maildir copy for %s@%s differs: %s"
              % (loc, dom, describe_diff(rest, want)))
    a.wait_queue_empty(10)


def corpus(n=20, seed=20240601):
    """n messages of varied sizes (one of ~900 KB), with lines that start
    with '.', a line that is only '.', empty lines, 998-octet lines, and
    8-bit bytes in every third message. Every line ends in CRLF."""
    rnd = random.Random(seed)
    sizes = [60, 300, 1000, 1500, 2048, 4000, 8192, 16000, 32768, 65536,
             100000, 250000, 900 * 1024, 500, 700, 3000, 12000, 50000, 128, 20000]
    printable = bytes(range(32, 127))
    high = bytes(range(0x80, 0x100))
    specials = [b".", b"..", b".leading dot", b"..two", b"...", b" .space dot",
                b"", b"From the start", b"x" * 998, b".\t", b"\t", b"X-Not: header",
                b"-- ", b". ", b"=2E"]
    out = []
    for i in range(n):
        eight = i % 3 == 2
        token = "m%02d" % i
        lines = [b"first line of message " + token.encode()]
        total = 200
        size = sizes[i % len(sizes)]
        while total < size:
            if rnd.random() < 0.15:
                l = rnd.choice(specials)
            else:
                ln = rnd.choice([0, 1, 10, 40, 76, 77, 200, 500, 997, 998])
                alpha = printable + (high if eight else b"")
                l = bytes(rnd.choice(alpha) for _ in range(ln))
                if not l.startswith(b".") and rnd.random() < 0.1:
                    l = b"." + l[:997]	# up to 998 octets: 999 once stuffed
            lines.append(l)
            total += len(l) + 2
        lines.append(b".")			# a lone dot as the last line
        body = b"".join(l + b"\r\n" for l in lines)
        extra = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" \
                b"Content-Transfer-Encoding: 8bit\r\n" if eight else b""
        out.append((token, eight, make_message(token, body, extra)))
    return out


def relay_corpus(t, sink):
    a = t.aval(sinkport=sink.port).start()
    msgs = corpus()
    qids = {}
    with smtplib.SMTP("127.0.0.1", a.port, timeout=60 * SLOW) as s:
        s.ehlo("client.test")
        for token, eight, msg in msgs:
            s.mail("sender@client.test", ["BODY=8BITMIME"] if eight else [])
            code, txt = s.rcpt("%s@relay.test" % token)
            check(code == 250, "RCPT for %s: %d %r" % (token, code, txt))
            code, txt = s.data(msg)
            check(code == 250 and QID_RE.search(txt),
                  "DATA for %s (%d bytes): %d %r" % (token, len(msg), code, txt))
            qids[token] = QID_RE.search(txt).group(1).decode()
    check(len(set(qids.values())) == len(qids), "queue IDs not unique: %s" % qids)
    sink.wait_count(len(msgs), 60)
    a.wait_queue_empty(20)
    time.sleep(1.5 * SLOW)				# let a duplicate show up
    got = {}
    for f, sender, rcpts, data in sink.messages():
        m = re.search(rb"X-Test-Token: (m\d\d)\r\n", data[:8192])
        check(m, "sink file %s carries no token: %r" % (f, data[:300]))
        got.setdefault(m.group(1).decode(), []).append((f, sender, rcpts, data))
    bad = []
    for token, eight, msg in msgs:
        copies = got.get(token, [])
        if len(copies) != 1:
            bad.append("%s arrived %d times" % (token, len(copies)))
            continue
        f, sender, rcpts, data = copies[0]
        if sender is not None and sender.strip("<>") != "sender@client.test":
            bad.append("%s: sender %r" % (token, sender))
        if [r.strip("<>") for r in rcpts] != ["%s@relay.test" % token]:
            bad.append("%s: recipients %r" % (token, rcpts))
        try:
            received, rest = strip_received(data)
        except Fail as e:
            bad.append("%s: %s" % (token, e))
            continue
        if b"mx.test" not in received:
            bad.append("%s: Received: does not name mx.test: %r" % (token, received))
        if qids[token].encode() not in received:
            t.note("%s: Received: does not carry the queue ID %s: %r"
                   % (token, qids[token], received))
        if rest.startswith(b"Received:"):
            bad.append("%s: more than one Received: header prepended" % token)
        if rest != msg:
            bad.append("%s (%d bytes%s): body differs: %s"
                       % (token, len(msg), ", 8bit" if eight else "",
                          describe_diff(rest, msg)))
    check(not bad, "; ".join(bad))
    t.note("%d messages (%d bytes in all) arrived once each, bytes intact"
           % (len(msgs), sum(len(m) for _, _, m in msgs)))


@test("relay_20_messages_to_aval_sink_intact", timeout=120)
def t_relay_aval_sink(t):
    relay_corpus(t, t.sink("aval"))


@test("relay_20_messages_to_postfix_smtp_sink_intact", timeout=120)
def t_relay_postfix_sink(t):
    relay_corpus(t, t.sink("postfix"))


@test("per_recipient_outcomes_sent_deferred_bounced", timeout=90)
def t_outcomes(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    qid = smtp_send(a.port, "s@client.test",
                    ["ok1@relay.test", "defer1@relay.test", "reject1@relay.test"],
                    make_message("oc1"))
    qid2 = smtp_send(a.port, "s@client.test", ["reject2@relay.test"], make_message("oc2"))
    a.wait_log(r"%s: .*to=<reject1@relay\.test>.*status=bounced" % qid, 15)
    a.wait_log(r"%s: .*to=<reject2@relay\.test>.*status=bounced" % qid2, 15)
    a.wait_log(r"%s: .*to=<ok1@relay\.test>.*status=sent" % qid, 15)
    a.wait_log(r"%s: .*to=<defer1@relay\.test>.*status=deferred" % qid, 15)
    time.sleep(3 * SLOW)				# a couple of retries (retry-max 2s)
    q = a.queue()
    ids = [m["id"] for m in q]
    check(qid2 not in ids, "the all-bounced message %s is still queued: %r" % (qid2, ids))
    x = queue_rcpt(a, "defer1@relay.test")
    check(x is not None, "defer1@relay.test is no longer queued: %r" % q)
    m, rc = x
    check("defer" in rc["state"].lower(), "defer1 state %r" % rc["state"])
    check("451" in rc["last_error"], "defer1 last error %r does not carry the 451" % rc["last_error"])
    for other in m["recipients"]:
        ad = other["address"].strip("<>")
        if ad != "defer1@relay.test":
            check(other["state"].lower() in ("delivered", "bounced", "sent"),
                  "%s state %r while still listed" % (ad, other["state"]))
    n_retry = len(re.findall(r"to=<defer1@relay\.test>.*status=deferred", a.log()))
    check(n_retry >= 2, "defer1 was tried %d time(s) in ~3s with retry-max 2s" % n_retry)
    # The mail itself; the queue's own notices (from <>: the bounce of
    # reject2's message) are test_bounce.py's.
    rc_at_sink = sorted(x.strip("<>") for mm in sink.messages()
                        if mm[1].strip("<>") != "" for x in mm[2])
    check(rc_at_sink == ["ok1@relay.test"], "recipients at the sink: %r" % rc_at_sink)
