"""
test_sendmail - the compatibility commands: sendmail (every option, exit
codes, -bs) and mailq, on avald's local submission socket; how the tools
make sure avald serves it, and how avald makes it (local_listener_*)

The local socket lives in a short folder of its own, mode 0755, so its
path fits in a socket address and a user other than root can reach it.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from harness import (BUILD, SLOW, Fail, Raw, Skip, check, maildir_files,
                     queue_rcpt, sanitizer_env, tail, test, wait_until)

NOBODY = 65534


class Local:
    """An avald with a local listener, and sendmail/mailq to run at it."""

    def __init__(self, t, **kw):
        self.dir = tempfile.mkdtemp(prefix="avsm-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        t.cleanup_dirs = getattr(t, "cleanup_dirs", []) + [self.dir]
        self.sock = os.path.join(self.dir, "submit.sock")
        extra = kw.pop("listen_extra", [])
        self.a = t.aval(listen_extra=['listen on unix "%s" local' % self.sock]
                        + extra, **kw)
        # A copy of the config that every user may read.
        self.conf = os.path.join(self.dir, "aval.conf")

    def start(self):
        self.a.start()
        shutil.copy(self.a.conf, self.conf)
        os.chmod(self.conf, 0o644)
        return self

    def run(self, prog, args, data=b"", uid=None, timeout=30):
        binp = os.path.join(BUILD, prog)
        pre = None
        if uid is not None:
            def pre():
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
        try:
            r = subprocess.run([binp, "-C", self.conf] + list(args),
                               input=data, capture_output=True,
                               timeout=timeout * SLOW, env=sanitizer_env(),
                               preexec_fn=pre, cwd=self.dir)
        except subprocess.TimeoutExpired:
            raise Fail("%s %s did not finish" % (prog, " ".join(args)))
        return r.returncode, r.stdout.decode("utf-8", "replace"), \
            r.stderr.decode("utf-8", "replace")

    def sendmail(self, args, data, **kw):
        return self.run("sendmail", args, data, **kw)

    def mail(self, local, n=1, timeout=15):
        """The text of local@localhost's n-th message, waited for."""
        if not wait_until(lambda: len(maildir_files(self.a, "localhost",
                                                    local)) >= n, timeout):
            raise Fail("no message %d for %s@localhost" % (n, local))
        with open(maildir_files(self.a, "localhost", local)[n - 1], "rb") as f:
            return f.read().decode("utf-8", "replace")


def _cleanup(t):
    for d in getattr(t, "cleanup_dirs", []):
        shutil.rmtree(d, ignore_errors=True)


def header_of(text):
    return text.split("\n\n", 1)[0]


def body_of(text):
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


@test("sendmail_t_takes_to_cc_bcc_adds_arguments_and_strips_bcc", timeout=90)
def t_sendmail_t(t):
    try:
        L = Local(t).start()
        msg = (b"To: Ann <ta@localhost>, tb@localhost\n"
               b"Cc: Group: tc@localhost;\n"
               b"Bcc: Hidden <td@localhost>,\n te@localhost\n"
               b"Subject: dash t\n\nhello\n")
        rc, out, err = L.sendmail(["-t", "tf@localhost"], msg)
        check(rc == 0, "sendmail -t exited %d: %s" % (rc, err))
        for u in ("ta", "tb", "tc", "td", "te", "tf"):
            text = L.mail(u)
            h = header_of(text)
            check("Bcc" not in h and "Hidden" not in h and
                  (u == "te" or "te@localhost" not in h),
                  "%s's copy shows the Bcc: %r" % (u, h))
            check(re.search(r"Received: from local \(uid 0\)", h),
                  "no 'from local (uid 0)' in %r" % h)
            check("Message-ID: <" in h and "\nDate: " in h,
                  "no Message-ID/Date added: %r" % h)
            check(body_of(text) == "hello\n", "body %r" % body_of(text))
        L.a.wait_log(r"client=local\[uid=0,pid=\d+\]")
    finally:
        _cleanup(t)


@test("sendmail_dot_ends_input_unless_i_and_text_is_fixed_up", timeout=90)
def t_sendmail_dot(t):
    try:
        L = Local(t).start()
        rc, _, err = L.sendmail(["da@localhost"],
                                b"Subject: d\n\nbefore\n.\nafter\n")
        check(rc == 0, "exit %d: %s" % (rc, err))
        b = body_of(L.mail("da"))
        check(b == "before\n", "without -i: body %r" % b)
        for opt, who in (("-i", "db"), ("-oi", "dc")):
            rc, _, err = L.sendmail([opt, who + "@localhost"],
                                    b"Subject: d\r\n\r\nbefore\r\n.\r\n"
                                    b"..two\nafter\nno newline")
            check(rc == 0, "%s: exit %d: %s" % (opt, rc, err))
            b = body_of(L.mail(who))
            check(b == "before\n.\n..two\nafter\nno newline\n",
                  "%s: body %r" % (opt, b))
        # A header field whose name begins with '.' keeps its dot.
        rc, _, err = L.sendmail(["de@localhost"],
                                b".Dotted: kept\nSubject: d\n\nx\n")
        check(rc == 0, "exit %d: %s" % (rc, err))
        check("\n.Dotted: kept\n" in header_of(L.mail("de")),
              "the header line lost its dot: %r" % header_of(L.mail("de")))
        # No header at all: a From is added and the text is the body.
        rc, _, err = L.sendmail(["dd@localhost"], b"just text\n")
        check(rc == 0, "exit %d: %s" % (rc, err))
        text = L.mail("dd")
        check("From: " in header_of(text) and body_of(text) == "just text\n",
              "headerless message: %r" % text)
    finally:
        _cleanup(t)


@test("sendmail_f_and_F_set_sender_and_from", timeout=90)
def t_sendmail_f(t):
    try:
        L = Local(t).start()
        rc, _, err = L.sendmail(["-f", "boss@example.org", "-F",
                                 "Smith, Ann", "fa@localhost"],
                                b"Subject: f\n\nx\n")
        check(rc == 0, "exit %d: %s" % (rc, err))
        text = L.mail("fa")
        check(text.startswith("Return-Path: <boss@example.org>"),
              "Return-Path: %r" % text[:80])
        check('From: "Smith, Ann" <boss@example.org>' in header_of(text),
              "From: %r" % header_of(text))
        rc, _, err = L.sendmail(["-f<>", "fb@localhost"],
                                b"From: me@example.org\nSubject: f\n\nx\n")
        check(rc == 0, "exit %d: %s" % (rc, err))
        text = L.mail("fb")
        check(text.startswith("Return-Path: <>"), "null sender: %r" % text[:60])
        check(header_of(text).count("From:") == 1,
              "a From was added to a message that had one")
        rc, _, err = L.sendmail(["-fnobody2", "fc@localhost"], b"x\n")
        check(rc == 0, "exit %d: %s" % (rc, err))
        check(L.mail("fc").startswith("Return-Path: <nobody2@mx.test>"),
              "bare -f name not completed with the hostname")
    finally:
        _cleanup(t)


@test("sendmail_bs_speaks_smtp_on_stdin", timeout=90)
def t_sendmail_bs(t):
    try:
        L = Local(t).start()
        p = subprocess.Popen([os.path.join(BUILD, "sendmail"), "-C", L.conf,
                              "-bs"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=sanitizer_env())
        seen = []

        def reply():
            while True:
                line = p.stdout.readline().decode("utf-8", "replace")
                seen.append(line)
                if len(line) < 4 or line[3] != "-":
                    return line

        def cmd(line):
            p.stdin.write(line)
            p.stdin.flush()
            return reply()

        try:
            check(reply().startswith("220 "), "greeting: %r" % seen)
            check(cmd(b"EHLO client.test\r\n").startswith("250 "), "EHLO")
            check(cmd(b"MAIL FROM:<bs@example.org>\r\n").startswith("250"),
                  "MAIL: %r" % seen)
            check(cmd(b"RCPT TO:<bs@localhost>\r\n").startswith("250"),
                  "RCPT: %r" % seen)
            check(cmd(b"DATA\r\n").startswith("354"), "DATA: %r" % seen)
            r = cmd(b"Subject: bs\r\n\r\nover -bs\r\n.\r\n")
            check(r.startswith("250 2.0.0 Ok: queued"), "dot: %r" % seen)
            check(cmd(b"QUIT\r\n").startswith("221"), "QUIT: %r" % seen)
            p.stdin.close()
            rc = p.wait(timeout=10 * SLOW)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        check(rc == 0, "-bs exited %d" % rc)
        check(body_of(L.mail("bs")) == "over -bs\n", "-bs body")
    finally:
        _cleanup(t)


@test("sendmail_exit_codes_and_usage", timeout=90)
def t_sendmail_codes(t):
    try:
        L = Local(t).start()
        rc, _, err = L.sendmail(["-Q", "x@localhost"], b"x\n")
        check(rc == 64 and "usage" in err, "unknown option: %d %r" % (rc, err))
        rc, _, err = L.sendmail([], b"Subject: none\n\nx\n")
        check(rc == 64 and "no recipients" in err, "no rcpt: %d %r" % (rc, err))
        rc, _, err = L.sendmail(["-odi", "-oem", "-v", "ok@localhost"], b"x\n")
        check(rc == 0, "ignored options: %d %r" % (rc, err))
        # The server refuses a local part Maildir cannot hold: 550, and
        # nothing goes out, not even to the good recipient.
        rc, _, err = L.sendmail(["good@localhost", "a/b@localhost"], b"x\n")
        check(rc == 67 and "550" in err and "nothing was sent" in err,
              "refused rcpt: %d %r" % (rc, err))
        time.sleep(1 * SLOW)
        check(not maildir_files(L.a, "localhost", "good"),
              "the good recipient got a message the other one lost")
        rc, _, err = L.sendmail(["-t"], b"To: Ann Smith\n\nx\n")
        check(rc == 65, "unparsable To with -t: %d %r" % (rc, err))
        L.a.stop()
        rc, _, err = L.sendmail(["x@localhost"], b"x\n")
        check(rc == 75 and "is avald running?" in err,
              "no avald: %d %r" % (rc, err))
        check(not os.path.exists(L.sock), "avald left its socket behind")
    finally:
        _cleanup(t)


@test("sendmail_as_an_ordinary_user_is_known_by_uid", timeout=90)
def t_sendmail_nobody(t):
    try:
        L = Local(t).start()
        rc, _, err = L.sendmail(["na@localhost"], b"Subject: n\n\nx\n",
                                uid=NOBODY)
        check(rc == 0, "as nobody: exit %d: %s" % (rc, err))
        text = L.mail("na")
        check(re.search(r"Return-Path: <nobody@mx\.test>", text),
              "sender: %r" % text[:80])
        check("Received: from local (uid %d)" % NOBODY in text,
              "Received: %r" % header_of(text))
        L.a.wait_log(r"client=local\[uid=%d,pid=\d+\]" % NOBODY)
        st = os.stat(L.sock)
        check(st.st_mode & 0o777 == 0o666, "socket mode %o" % st.st_mode)
        rc, out, err = L.run("mailq", [], uid=NOBODY)
        check(rc == 77 and "root" in err, "mailq as nobody: %d %r" % (rc, err))
    finally:
        _cleanup(t)


@test("mailq_lists_the_queue_as_postfix_does", timeout=120)
def t_mailq(t):
    try:
        L = Local(t).start()		# no sink: outside mail stays deferred
        rc, out, err = L.run("mailq", [])
        check(rc == 0 and out == "Mail queue is empty\n",
              "empty: %d %r %r" % (rc, out, err))
        rc, _, err = L.sendmail(["-f", "s1@example.org", "r1@example.net"],
                                b"Subject: q1\n\n" + b"x" * 70 + b"\n" * 40)
        check(rc == 0, "exit %d: %s" % (rc, err))
        rc, _, err = L.sendmail(["-f", "s2@example.org", "r2@example.net"],
                                b"Subject: q2\n\nx\n")
        check(rc == 0, "exit %d: %s" % (rc, err))
        if not wait_until(lambda: all(
                q is not None and q[1]["state"] == "deferred" and
                q[1]["last_error"] for q in
                (queue_rcpt(L.a, "r1@example.net"),
                 queue_rcpt(L.a, "r2@example.net"))), 20):
            raise Fail("not deferred: %r" % L.a.queue())
        q1 = queue_rcpt(L.a, "r1@example.net")[0]["id"]
        q2 = queue_rcpt(L.a, "r2@example.net")[0]["id"]
        check(L.a.ctl("hold", q2).returncode == 0, "hold")
        rc, out, err = L.run("mailq", [])
        check(rc == 0, "mailq: %d %r" % (rc, err))
        lines = out.split("\n")
        check(lines[0].startswith("-Queue ID-") and
              "--Size-- ----Arrival Time---- -Sender/Recipient-------"
              in lines[0], "header: %r" % lines[0])
        m1 = [l for l in lines if l.startswith(q1)]
        m2 = [l for l in lines if l.startswith(q2)]
        check(m1 and re.match(r"%s[ *] +\d+ \w{3} \w{3} [ \d]\d "
                              r"\d\d:\d\d:\d\d  s1@example.org$" % q1, m1[0]),
              "message line: %r" % out)
        check(m2 and m2[0].startswith(q2 + "!"), "held not marked !: %r" % out)
        i = lines.index(m1[0])
        check(lines[i + 1].startswith("(") and lines[i + 1].endswith(")"),
              "no deferral reason: %r" % out)
        check(lines[i + 2] == " " * 46 + "r1@example.net",
              "recipient line: %r" % lines[i + 2])
        check(out.endswith("-- 5 Kbytes in 2 Requests.\n") or
              re.search(r"-- \d+ Kbytes in 2 Requests\.\n$", out),
              "footer: %r" % out[-60:])
        rc, out2, _ = L.sendmail(["-bp"], b"")
        check(rc == 0 and out2.split("\n")[0] == lines[0], "-bp is mailq")
    finally:
        _cleanup(t)


# A stand-in for avald's sockets: greets as SMTP, answers 250 to
# everything, keeps every byte it gets in argv[2]. Run as nobody, it is
# what an attacker could leave at a relative path's end.
FAKE_SERVER = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
print("ready", flush=True)
def serve(c):
    c.sendall(b"220 fake ESMTP\r\n")
    data = False
    with open(sys.argv[2], "ab") as got:
        for line in c.makefile("rb"):
            got.write(line)
            got.flush()
            if data:
                if line == b".\r\n":
                    data = False
                    c.sendall(b"250 2.0.0 Ok: queued as FAKE\r\n")
            elif line.upper().startswith(b"DATA"):
                data = True
                c.sendall(b"354 go on\r\n")
            elif line.upper().startswith(b"QUIT"):
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"250 ok\r\n")
while True:
    c, _ = s.accept()
    try:
        serve(c)
    except OSError:
        pass
    c.close()
'''


@test("sendmail_and_mailq_refuse_a_socket_served_by_another_user",
      timeout=60, root_only=True)
def t_sendmail_foreign_socket(t):
    """No /etc/aval/aval.conf: the embedded default's sockets are under the
    working directory. Root running sendmail in a folder where nobody put
    var/run/submit.sock must not hand its mail over; nobody's own
    sendmail may talk to nobody's server (avald run by hand)."""
    if os.path.exists("/etc/aval/aval.conf"):
        raise Skip("/etc/aval/aval.conf exists: the embedded default "
                   "is not in effect here")
    # A Python that nobody may run (a pyenv under /root is not one).
    py = shutil.which("python3", path="/usr/bin:/bin")
    if py is None:
        raise Skip("no python3 in /usr/bin or /bin for the fake server")
    d = tempfile.mkdtemp(prefix="avfk-", dir="/tmp")
    servers = []
    try:
        os.chmod(d, 0o755)
        run = os.path.join(d, "var", "run")
        os.makedirs(run)
        os.chown(run, NOBODY, NOBODY)
        got = {}

        def nobody():
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        for name in ("submit.sock", "avald.sock"):
            got[name] = os.path.join(run, name + ".got")
            p = subprocess.Popen([py, "-c", FAKE_SERVER,
                                  os.path.join(run, name), got[name]],
                                 stdout=subprocess.PIPE,
                                 preexec_fn=nobody)
            servers.append(p)
            check(p.stdout.readline() == b"ready\n",
                  "the fake %s did not start" % name)

        def tool(prog, args, data=b"", uid=None):
            r = subprocess.run([os.path.join(BUILD, prog)] + args,
                               input=data, capture_output=True, cwd=d,
                               timeout=20 * SLOW, env=sanitizer_env(),
                               preexec_fn=nobody if uid else None)
            return r.returncode, r.stderr.decode("utf-8", "replace")

        def received(name):
            try:
                with open(got[name], "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return b""

        sock = os.path.join(run, "submit.sock")
        rc, err = tool("sendmail", ["victim@example.org"],
                       b"Subject: secret\n\nroot's cron output\n")
        check(rc == 75, "sendmail as root: exit %d: %r" % (rc, err))
        check("using the development default, socket %s" % sock in err,
              "the socket in use is not named: %r" % err)
        check("served by uid %d" % NOBODY in err and "nothing was sent" in
              err, "no clear refusal: %r" % err)
        rc, err = tool("sendmail", ["-bs"], b"QUIT\r\n")
        check(rc == 75 and "served by uid %d" % NOBODY in err,
              "sendmail -bs as root: exit %d: %r" % (rc, err))
        rc, err = tool("mailq", [])
        check(rc == 77 and "served by uid %d" % NOBODY in err and
              os.path.join(run, "avald.sock") in err,
              "mailq as root: exit %d: %r" % (rc, err))
        time.sleep(0.3 * SLOW)
        check(received("submit.sock") == b"",
              "the fake submit socket got %r" % received("submit.sock"))
        check(received("avald.sock") == b"",
              "the fake control socket got %r" % received("avald.sock"))
        # Its own user's server is fine: avald run by hand, by that user.
        rc, err = tool("sendmail", ["friend@example.org"],
                       b"Subject: mine\n\nok\n", uid=NOBODY)
        check(rc == 0, "sendmail as nobody: exit %d: %r" % (rc, err))
        check(b"RCPT TO:<friend@example.org>" in received("submit.sock"),
              "nobody's own server got %r" % received("submit.sock"))
    finally:
        for p in servers:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


def _refused_start(a, what):
    """avald a must exit non-zero at start: its log, for the reason."""
    a.start(wait=False)
    try:
        a.proc.wait(20 * SLOW)
    except subprocess.TimeoutExpired:
        raise Fail("avald started with %s" % what)
    check(a.proc.returncode != 0, "avald exited 0 with %s" % what)
    return a.log()


@test("local_listener_refuses_a_folder_that_others_control", timeout=90,
      root_only=True)
def t_local_parent(t):
    """Run as root, avald makes its socket only in a folder that is root's
    alone: in one a worker user may write, that user could swap the name
    for a link and have root make or unlink a file of its choosing."""
    d = tempfile.mkdtemp(prefix="avlp-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        cases = []
        for name, mode, owner in (("open", 0o777, 0), ("sticky", 0o1777, 0),
                                  ("group", 0o775, 0),
                                  ("nobodys", 0o755, NOBODY)):
            sub = os.path.join(d, name)
            os.mkdir(sub)
            os.chmod(sub, mode)
            os.chown(sub, owner, owner)
            cases.append((name, sub, "uid %d, mode %04o" % (owner, mode)))
        # A link that nobody owns, to a folder that is fine itself.
        real = os.path.join(d, "real")
        os.mkdir(real, 0o755)
        link = os.path.join(d, "link")
        os.symlink(real, link)
        os.lchown(link, NOBODY, NOBODY)
        cases.append(("link", link, "symbolic link owned by uid %d" % NOBODY))
        for name, sub, why in cases:
            sock = os.path.join(sub, "submit.sock")
            a = t.aval(name="aval-" + name,
                       listen_extra=['listen on unix "%s" local' % sock])
            log = _refused_start(a, "its socket in %s (%s)" % (sub, why))
            check("listen on unix: %s: refused" % sock in log and why in log,
                  "%s: the refusal does not say why:\n%s"
                  % (name, tail(log, 10)))
            check(not os.path.lexists(sock) and
                  not os.path.lexists(os.path.join(real, "submit.sock")),
                  "%s: a socket was made anyway" % name)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test("local_listener_leaves_a_busy_servers_socket_alone", timeout=60)
def t_local_busy(t):
    """A live server whose backlog is full answers a non-blocking connect
    with EAGAIN: that is not a stale socket, and avald must not unlink it."""
    d = tempfile.mkdtemp(prefix="avlb-", dir="/tmp")
    clients = []
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.chmod(d, 0o755)
        sock = os.path.join(d, "submit.sock")
        srv.bind(sock)
        srv.listen(0)
        for _ in range(16):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            clients.append(c)
            try:
                c.connect(sock)
            except BlockingIOError:
                break
        else:
            raise Skip("the backlog never filled")
        ino = os.stat(sock).st_ino
        a = t.aval(listen_extra=['listen on unix "%s" local' % sock])
        log = _refused_start(a, "a busy server's socket in its place")
        check("%s may be in use; not removing it" % sock in log,
              "the refusal does not say why:\n%s" % tail(log, 10))
        check(os.path.exists(sock) and os.stat(sock).st_ino == ino,
              "avald removed the busy server's socket")
    finally:
        for c in clients:
            c.close()
        srv.close()
        shutil.rmtree(d, ignore_errors=True)


@test("local_sessions_cannot_take_every_session", timeout=60)
def t_local_cap(t):
    """Local users are exempt from the per-client caps, so they have one of
    their own (max-local-sessions) within max-sessions: however many
    sendmails hang, mail from the network still gets in."""
    held = []
    try:
        L = Local(t, max_sessions=4,
                  smtpd_lines=["max-local-sessions\t2"]).start()

        def local():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10 * SLOW)
            s.connect(L.sock)
            return s, s.makefile("rb").readline()

        for _ in range(2):
            s, greet = local()
            held.append(s)
            check(greet.startswith(b"220 "), "local greeting: %r" % greet)
        s, greet = local()
        s.close()
        check(greet.startswith(b"421 4.3.2 ") and b"local sessions" in greet,
              "a third local session: %r" % greet)
        L.a.wait_log(r"NOQUEUE: client=local\[uid=0,pid=\d+\], dsn=4\.3\.2, "
                     r"status=reject \(421 too many local sessions")
        # The rest of max-sessions is the network's, both places of it.
        for _ in range(2):
            r = Raw(L.a.port)
            held.append(r.sock)
            code, text = r.reply()
            check(code == 220, "the network was locked out: %r" % text)
        held.pop(0).close()

        def one_more():
            s, greet = local()
            held.append(s)
            return greet.startswith(b"220 ")

        check(wait_until(one_more, 10 * SLOW),
              "a closed local session did not free its place")
    finally:
        for s in held:
            s.close()
        _cleanup(t)
