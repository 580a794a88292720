"""
test_dsn.py - bounces and notices, read back by someone else's parser

queue/queue_dsn.c composes the delivery status notifications; its unit
tests (tests/unit/check_queue_dsn.c) read them with readers of their own.
These read the same kind of message with Python's email package
(policy=email.policy.default), which knows RFC 6522 multipart/report and
RFC 3464 message/delivery-status, and check it field by field: the
structure, every per-message and per-recipient field, the enclosed
original, and that hostile values reached no header line of their own.

They run $AVAL_BUILD/dsn-compose (tests/integ/dsn_compose.c), a driver
that feeds queue_dsn_compose() what it reads on standard input, so no
avald is started: the queue's own bounces come with the queue's work.
"""

import email
import email.parser
import email.policy
import email.utils
import os
import subprocess

from harness import BUILD, SLOW, SANITIZER_RE, Fail, check, sanitizer_env, test

NOW_MS = 1767225600000			# Thu, 01 Jan 2026 00:00:00 +0000
ARRIVAL_MS = 1767200000000
QID = "3F2A19C3B7AAAA"
ORIG = (b"Received: from client.test by mx.example.org\r\n"
        b"From: Ana <ana@uni-a.es>\r\n"
        b"To: luis@uni-b.es\r\n"
        b"Subject: lunch\r\n"
        b"Message-ID: <m1@uni-a.es>\r\n"
        b"\r\n"
        b"See you at one.\r\n"
        b"--=_aval_" + QID.encode() + b"\r\n")


def compose(msg, rcpts, expect_ok=True):
    """Run dsn-compose on msg (a dict) and rcpts (a list of dicts); the
    notice as bytes, or (returncode, stderr) when expect_ok is False."""
    binp = os.path.join(BUILD, "dsn-compose")
    if not os.access(binp, os.X_OK):
        raise Fail("no %s (make check-integ builds it)" % binp)

    def line(k, v):
        if isinstance(v, str):
            v = v.encode("utf-8")
        elif isinstance(v, int):
            v = str(v).encode()
        return b"%s %s\n" % (k.encode(), v.hex().encode())
    data = b"".join(line(k, v) for k, v in msg.items())
    for r in rcpts:
        data += line("rcpt", "")
        data += b"".join(line(k, v) for k, v in r.items())
    try:
        p = subprocess.run([binp], input=data, capture_output=True,
                           timeout=20 * SLOW, env=sanitizer_env())
    except subprocess.TimeoutExpired:
        raise Fail("dsn-compose did not finish")
    err = p.stderr.decode("utf-8", "replace")
    check(not SANITIZER_RE.search(err), "sanitizer report:\n%s" % err)
    if not expect_ok:
        return p.returncode, err
    check(p.returncode == 0, "dsn-compose exited %d: %s" % (p.returncode, err))
    return p.stdout


def base_msg(**kw):
    m = {"reporting_mta": "mx.example.org", "qid": QID,
         "sender": "ana@uni-a.es", "now_ms": NOW_MS,
         "arrival_ms": ARRIVAL_MS, "orig": ORIG,
         "boundary_seed": "%s.%d" % (QID, NOW_MS)}
    m.update(kw)
    return m


def lines_ok(raw, eight=False):
    """Every line ends in CRLF, none is over 998 octets, and (unless
    eight) the whole is 7-bit."""
    check(raw.endswith(b"\r\n"), "the notice does not end in CRLF")
    body = raw[:-2]
    check(b"\n" not in body.replace(b"\r\n", b""), "a bare LF")
    check(b"\r" not in body.replace(b"\r\n", b""), "a bare CR")
    for n, l in enumerate(raw.split(b"\r\n"), 1):
        check(len(l) <= 998, "line %d is %d octets" % (n, len(l)))
    if not eight:
        check(all(b < 0x80 for b in raw), "8-bit octets in a 7-bit notice")


def parse(raw):
    m = email.message_from_bytes(raw, policy=email.policy.default)
    for part in m.walk():
        check(not part.defects, "email finds defects in %s: %r"
              % (part.get_content_type(), part.defects))
    return m


def report_of(m):
    """The parts of a multipart/report, and the delivery-status blocks
    (per-message first) as dicts."""
    check(m.get_content_type() == "multipart/report",
          "top type %s" % m.get_content_type())
    check(m.get_param("report-type") == "delivery-status",
          "report-type %r" % m.get_param("report-type"))
    parts = list(m.iter_parts())
    check(parts[0].get_content_type() == "text/plain",
          "first part is %s" % parts[0].get_content_type())
    check(parts[1].get_content_type() == "message/delivery-status",
          "second part is %s" % parts[1].get_content_type())
    blocks = parts[1].get_payload()
    check(isinstance(blocks, list) and len(blocks) >= 2,
          "delivery-status has %r" % blocks)
    as_dicts = []
    for b in blocks:
        d = {}
        for k, v in b.items():
            check(k not in d, "field %s twice in one block" % k)
            d[k] = str(v)
        as_dicts.append(d)
    return parts, as_dicts


def same(got, want, what):
    check(got == want, "%s:\n  got  %r\n  want %r" % (what, got, want))


def flat(text):
    return " ".join(text.split())


@test("dsn_failure_parses_back_field_by_field")
def t_failure(t):
    hostile = ("550 5.1.1 <luis@uni-b.es>: no such user\r\nX-Injected: 1\r\n"
               "\r\n--=_aval_%s\r\nContent-Type: text/html\r\n\r\n<b>x</b>"
               % QID)
    raw = compose(base_msg(envid="QQ+2B314", ret=1), [
        {"addr": "luis@uni-b.es", "action": "failed", "status": "5.1.1",
         "remote_mta": "mx1.uni-b.es", "diagnostic": hostile, "diag_smtp": 1,
         "last_attempt_ms": NOW_MS - 100000, "orcpt_type": 1,
         "orcpt": "Luis+2Btag@Uni-B.es"},
        {"addr": "jos\u00e9@uni-b.es", "action": "failed", "status": "5.7.1",
         "orcpt_type": 2, "orcpt": "jos\\x{E9}@uni-b.es"},
    ])
    lines_ok(raw, eight=True)		# the text part names a UTF-8 address
    m = parse(raw)
    same(str(m["From"]), "Mail Delivery System <MAILER-DAEMON@mx.example.org>", "From")
    same(m["From"].addresses[0].addr_spec, "MAILER-DAEMON@mx.example.org", "From address")
    same(m["To"].addresses[0].addr_spec, "ana@uni-a.es", "To")
    same(str(m["Subject"]), "Undelivered Mail Returned to Sender", "Subject")
    same(m["Date"].datetime, email.utils.parsedate_to_datetime(
        "Thu, 01 Jan 2026 00:00:00 +0000"), "Date")
    check(str(m["Message-ID"]).startswith("<20260101000000.%s." % QID)
          and str(m["Message-ID"]).endswith("@mx.example.org>"),
          "Message-ID %s" % m["Message-ID"])
    same(str(m["Auto-Submitted"]), "auto-replied", "Auto-Submitted")
    same(str(m["MIME-Version"]), "1.0", "MIME-Version")
    same(str(m["Content-Transfer-Encoding"]), "8bit", "top Content-Transfer-Encoding")
    parts, blocks = report_of(m)
    same(len(parts), 3, "number of parts")

    # The plain words: UTF-8 text, naming both recipients and the reply.
    text = parts[0].get_content()
    same(parts[0].get_content_charset(), "utf-8", "text charset")
    check("<jos\u00e9@uni-b.es>" in text, "the text does not name jos\u00e9:\n" + text)
    check("mx1.uni-b.es said: 550 5.1.1" in flat(text), "no reply in:\n" + text)
    check("quote its queue ID: %s." % QID in flat(text), "no queue ID in:\n" + text)

    # The report, field by field: exactly these, nothing else.
    same(blocks[0], {
        "Original-Envelope-Id": "QQ+314",
        "Reporting-MTA": "dns; mx.example.org",
        "Arrival-Date": "Wed, 31 Dec 2025 16:53:20 +0000",
        "X-Aval-Queue-ID": QID,
        "X-Aval-Sender": "rfc822; ana@uni-a.es",
    }, "per-message fields")
    same(len(blocks), 3, "number of delivery-status blocks")
    same(blocks[1], {
        "Original-Recipient": "rfc822; Luis+tag@Uni-B.es",
        "Final-Recipient": "rfc822; luis@uni-b.es",
        "Action": "failed",
        "Status": "5.1.1",
        "Remote-MTA": "dns; mx1.uni-b.es",
        "Diagnostic-Code": "smtp; 550 5.1.1 <luis@uni-b.es>: no such user "
                           "X-Injected: 1 --=_aval_%s Content-Type: text/html "
                           "<b>x</b>" % QID,
        "Last-Attempt-Date": "Wed, 31 Dec 2025 23:58:20 +0000",
    }, "first recipient's fields")
    same(blocks[2], {
        "Original-Recipient": "utf-8; jos\\x{E9}@uni-b.es",
        "Final-Recipient": "utf-8; jos\\x{E9}@uni-b.es",
        "Action": "failed",
        "Status": "5.7.1",
    }, "second recipient's fields")
    for d in (blocks[0]["Arrival-Date"], blocks[1]["Last-Attempt-Date"]):
        check(email.utils.parsedate_to_datetime(d) is not None, "date %r" % d)

    # The original, whole, and equal to what was sent.
    same(parts[2].get_content_type(), "message/rfc822", "third part")
    inner = parts[2].get_payload()[0]
    same(str(inner["Subject"]), "lunch", "enclosed Subject")
    same(str(inner["Message-ID"]), "<m1@uni-a.es>", "enclosed Message-ID")
    same(inner.get_payload(), "See you at one.\r\n--=_aval_%s\r\n" % QID, "enclosed body")
    b = m.get_boundary()
    check(ORIG + b"\r\n--" + b.encode() + b"--\r\n" in raw, "the original is not there byte for byte")

    # Nothing from outside became a header or a part of its own.
    for part in m.walk():
        check("X-Injected" not in part, "X-Injected became a header")
        check(part.get_content_type() != "text/html", "the reply made a text/html part")
    check(b"\r\n--" + b.encode() not in ORIG, "test bug: the boundary is in the original")


@test("dsn_returned_headers_parse_back")
def t_headers(t):
    for what, msg, rcpt, why in (
            ("RET=HDRS", base_msg(ret=2), {"action": "failed"}, "only the headers were asked for"),
            ("over the limit", base_msg(return_limit=100), {"action": "failed"},
             "too large to return whole (%d bytes, over the 100" % len(ORIG)),
            ("delay", base_msg(ret=1), {"action": "delayed", "status": "4.4.1",
                                        "retry_until_ms": NOW_MS + 5 * 86400000},
             "The headers of your message are attached")):
        rcpt = dict(rcpt, addr="luis@uni-b.es")
        raw = compose(msg, [rcpt])
        lines_ok(raw)
        m = parse(raw)
        parts, blocks = report_of(m)
        same(len(parts), 3, what + ": number of parts")
        same(parts[2].get_content_type(), "text/rfc822-headers", what + ": third part")
        check(why in flat(parts[0].get_content()), "%s: no %r in:\n%s"
              % (what, why, parts[0].get_content()))
        hdrs = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(
            parts[2].get_content().encode())
        same([k for k in hdrs.keys()], ["Received", "From", "To", "Subject", "Message-ID"],
             what + ": returned headers")
        check("See you at one." not in parts[2].get_content(), what + ": the body came back")
        if rcpt["action"] == "delayed":
            same(str(m["Subject"]), "Delayed Mail (still being retried)", "delay Subject")
            same(blocks[1]["Action"], "delayed", "delay Action")
            same(blocks[1]["Will-Retry-Until"], "Tue, 06 Jan 2026 00:00:00 +0000",
                 "Will-Retry-Until")
            check("will keep trying until Tue, 06 Jan 2026 00:00:00 +0000" in
                  flat(parts[0].get_content()), "the delay text says not until when")


@test("dsn_8bit_original_parses_back")
def t_8bit(t):
    orig = ("From: jos\u00e9@uni-b.es\r\nSubject: caf\u00e9\r\n\r\nol\u00e9\r\n").encode()
    raw = compose(base_msg(orig=orig), [{"addr": "luis@uni-b.es", "action": "failed"}])
    lines_ok(raw, eight=True)
    check(all(b < 0x80 for b in raw[:raw.index(b"Content-Type: message/rfc822")]),
          "8-bit before the enclosed original")
    m = parse(raw)
    parts, _ = report_of(m)
    same(str(m["Content-Transfer-Encoding"]), "8bit", "top Content-Transfer-Encoding")
    same(str(parts[2]["Content-Transfer-Encoding"]), "8bit", "the original's CTE")
    same(str(parts[0].get_content_charset()), "us-ascii", "the text part's charset")
    inner = parts[2].get_payload()[0]
    same(str(inner["Subject"]), "caf\u00e9", "enclosed 8-bit Subject")


@test("dsn_no_notice_to_the_null_sender")
def t_null(t):
    rc, err = compose(base_msg(sender=""), [{"addr": "luis@uni-b.es", "action": "failed"}],
                      expect_ok=False)
    check(rc == 1 and "result=-2" in err, "a notice to <> was made: %d %s" % (rc, err))
    raw = compose(base_msg(sender="", to="postmaster", postmaster="postmaster"),
                  [{"addr": "luis@uni-b.es", "action": "failed"}])
    lines_ok(raw)
    m = parse(raw)
    parts, blocks = report_of(m)
    same(m["To"].addresses[0].addr_spec, "postmaster@mx.example.org", "postmaster To")
    same(str(m["Subject"]), "Postmaster Copy: Undelivered Mail", "postmaster Subject")
    check("X-Aval-Sender" not in blocks[0], "a null sender was reported")
    check("comes to you as postmaster" in flat(parts[0].get_content()),
          "the postmaster copy does not say so")
