"""
test_auth.py - submission: STARTTLS, then AUTH, then only one's own senders

The submission and submissions listeners with a password file made by
`avalctl passwd`: PLAIN and LOGIN with swaks and smtplib, wrong passwords
slowed down and counted across smtpd processes, the sender grants, and the
Message-ID and Date a submission server adds.
"""

import base64
import os
import smtplib
import ssl
import subprocess
import time

from harness import (BUILD, SLOW, Skip, check, test, certs, free_port, Raw,
                     make_message)

USERS = (("ana@uni-a.test", "correct horse", ""),
         ("luis", "battery staple", ":l.perez@uni-a.test,@lists.uni-a.test"))


def passwd_file(t):
    path = os.path.join(t.dir, "passwd")
    lines = []
    for user, pw, senders in USERS:
        out = subprocess.run([os.path.join(BUILD, "avalctl"), "passwd", user],
                             input=pw + "\n", capture_output=True, text=True,
                             timeout=30)
        check(out.returncode == 0, "avalctl passwd: %r" % out.stderr)
        lines.append(out.stdout.strip() + senders)
    with open(path, "w") as f:
        f.write("# made by test_auth.py\n" + "\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def auth_aval(t, **kw):
    sink = t.sink()
    sport = free_port()
    a = t.aval(sinkport=sink.port,
               smtpd_lines=['password-file\t"%s"' % passwd_file(t)],
               listen_extra=["listen on 127.0.0.1 port %d submissions" % sport],
               **kw)
    a.sport = sport
    return sink, a.start()


def ctx():
    return ssl.create_default_context(cafile=os.path.join(certs(), "ca.crt"))


def plain(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())


@test("auth_submission_needs_tls_then_auth_then_own_sender")
def t_submission(t):
    sink, a = auth_aval(t)
    with Raw(a.subport) as r:
        r.reply()
        c, txt = r.cmd(b"EHLO client.test")
        check(b"STARTTLS" in txt and b"AUTH" not in txt,
              "EHLO before TLS: %r, want STARTTLS and no AUTH" % txt)
        c, txt = r.cmd(b"AUTH PLAIN " + plain("ana@uni-a.test", "correct horse"))
        check(c == 538 or c == 503, "AUTH before TLS: %r" % txt)
        c, txt = r.cmd(b"MAIL FROM:<ana@uni-a.test>")
        check(c == 530, "MAIL before TLS: %r, want 530" % txt)
        r.starttls(ctx())
        c, txt = r.cmd(b"EHLO client.test")
        check(b"AUTH PLAIN LOGIN" in txt and b"STARTTLS" not in txt,
              "EHLO inside TLS: %r" % txt)
        c, txt = r.cmd(b"MAIL FROM:<ana@uni-a.test>")
        check(c == 530 and b"Authentication required" in txt,
              "MAIL before AUTH: %r" % txt)
        c, txt = r.cmd(b"AUTH PLAIN " + plain("ana@uni-a.test", "correct horse"))
        check(c == 235, "AUTH PLAIN: %r" % txt)
        c, txt = r.cmd(b"MAIL FROM:<boss@uni-a.test>")
        check(c == 553, "MAIL as someone else: %r, want 553" % txt)
        c, txt = r.cmd(b"MAIL FROM:<ana@uni-a.test>")
        check(c == 250, "MAIL as oneself: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:<x@relay.test>")
        check(c == 250, "RCPT: %r" % txt)
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA: %r" % txt)
        r.send(b"From: ana@uni-a.test\r\nSubject: no id, no date\r\n\r\nhi\r\n.\r\n")
        c, txt = r.reply()
        check(c == 250, "message: %r" % txt)
    sink.wait_count(1, 20)
    data = sink.messages()[0][3]
    head = data.split(b"\r\n\r\n")[0]
    check(b"\r\nMessage-ID: <" in head and b"\r\nDate: " in head,
          "Message-ID and Date not added: %r" % head)
    check(b"with ESMTPSA" in head, "Received does not say ESMTPSA: %r" % head)
    log = open(a.logpath, errors="replace").read()
    check('sasl_username="ana@uni-a.test"' in log, "no log line for the login")
    check("correct horse" not in log and plain("ana@uni-a.test", "correct horse").decode() not in log,
          "the password reached the log")


@test("auth_login_and_smtplib_on_submissions_with_sender_grants")
def t_login(t):
    sink, a = auth_aval(t)
    # LOGIN by hand on the implicit-TLS listener.
    with Raw(a.sport) as r:
        r.starttls(ctx(), command=False)
        c, txt = r.reply()
        check(c == 220, "greeting inside TLS: %r" % txt)
        r.cmd(b"EHLO client.test")
        c, txt = r.cmd(b"AUTH LOGIN")
        check(c == 334 and b"VXNlcm5hbWU6" in txt, "AUTH LOGIN: %r" % txt)
        c, txt = r.cmd(base64.b64encode(b"luis"))
        check(c == 334, "user: %r" % txt)
        c, txt = r.cmd(base64.b64encode(b"battery staple"))
        check(c == 235, "password: %r" % txt)
        for addr, want in ((b"l.perez@uni-a.test", 250), (b"team@lists.uni-a.test", 250),
                           (b"luis@uni-a.test", 553)):
            c, txt = r.cmd(b"MAIL FROM:<" + addr + b">")
            check(c == want, "luis as %r: %r, want %d" % (addr, txt, want))
            r.cmd(b"RSET")
    # smtplib, STARTTLS on submission.
    with smtplib.SMTP("127.0.0.1", a.subport, timeout=30 * SLOW) as s:
        s.starttls(context=ctx())
        s.login("ana@uni-a.test", "correct horse")
        s.sendmail("ana@uni-a.test", ["y@relay.test"], make_message("smtplib"))
    sink.wait_count(1, 20)


@test("auth_failures_are_delayed_and_end_the_session", timeout=120)
def t_failures(t):
    sink, a = auth_aval(t)
    with Raw(a.subport) as r:
        r.reply()
        r.cmd(b"EHLO client.test")
        r.starttls(ctx())
        r.cmd(b"EHLO client.test")
        times = []
        codes = []
        for i in range(3):
            t0 = time.time()
            c, txt = r.cmd(b"AUTH PLAIN " + plain("ana@uni-a.test", "wrong%d" % i))
            times.append(time.time() - t0)
            codes.append(c)
            if c == 421:
                break
        check(codes[:2] == [535, 535], "wrong passwords: %r" % codes)
        check(times[1] >= 0.9, "the second failure was not delayed: %r" % times)
        check(421 in codes or (r.reply(timeout=10)[0] in (421, None)),
              "three failures did not end the session: %r" % codes)
    log = open(a.logpath, errors="replace").read()
    check("authentication failed" in log, "no log line for a failure")
    check("wrong0" not in log, "a password reached the log")


@test("auth_swaks_plain_and_login_over_starttls")
def t_swaks(t):
    import shutil
    if shutil.which("swaks") is None:
        raise Skip("no swaks")
    sink, a = auth_aval(t)
    for mech in ("PLAIN", "LOGIN"):
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % a.subport, "--tls",
             "--auth", mech, "--auth-user", "ana@uni-a.test",
             "--auth-password", "correct horse", "--from",
             "ana@uni-a.test", "--to", "z@relay.test", "--timeout", "30"],
            capture_output=True, text=True, timeout=60 * SLOW)
        check(out.returncode == 0 and "235 2.7.0" in out.stdout,
              "swaks --auth %s: rc %d\n%s" % (mech, out.returncode,
                                             out.stdout[-1200:]))
    sink.wait_count(2, 30)
    # A wrong password: swaks exits non-zero, and no mail.
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % a.subport, "--tls", "--auth",
         "PLAIN", "--auth-user", "ana@uni-a.test", "--auth-password", "nope",
         "--from", "ana@uni-a.test", "--to", "z@relay.test"],
        capture_output=True, text=True, timeout=60 * SLOW)
    check(out.returncode != 0 and "535 5.7.8" in out.stdout,
          "swaks with a wrong password: %s" % out.stdout[-600:])
