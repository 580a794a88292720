"""
test_local.py - aval-local: the mailboxes in a process of their own

Real processes: local mail reaches the Maildir through aval-local (its
log lines come from aval/local), remote mail goes out through
aval-deliver to a sink; as root, the two run as different users, deliver
is chrooted to the empty directory and local to the maildir root, local
has a network namespace with nothing but a loopback interface, and the
mailbox tree belongs to local's user alone. aval-local killed with mail
in flight is restarted and the mail delivered once; <postmaster> (no
domain) and postmaster@ a local domain reach the configured postmaster.
"""

import os
import re
import signal
import smtplib
import time

from harness import (IS_ROOT, LOCAL_USER, RUN_USER, SLOW, check, make_message,
                     maildir_files, proc_status, smtp_send, test, wait_until)


def uid_of(pid):
    return int(proc_status(pid)["Uid"].split()[0])


def dropped(a):
    """Every worker has dropped root (they do it on START)."""
    ws = a.workers()
    return ws and all(uid_of(p) != 0 for p, _ in ws) if IS_ROOT else bool(ws)


@test("local_split_maildir_by_local_remote_by_deliver", timeout=90)
def t_split(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    q_local = smtp_send(a.port, "ana@client.test", ["luis@aval.test"],
                        make_message("split-local"))
    q_remote = smtp_send(a.port, "ana@client.test", ["eva@relay.test"],
                         make_message("split-remote"))
    wait_until(lambda: maildir_files(a, "aval.test", "luis"), 20, 0.1,
               "the local message in the Maildir")
    sink.wait_count(1, 20)
    # Each agent logs its own deliveries: the process name says which.
    a.wait_log(r"aval/local\[\d+\]: %s: to=<luis@aval\.test>, relay=maildir, "
               r".*status=sent" % q_local, 10)
    a.wait_log(r"aval/deliver\[\d+\]: %s: to=<eva@relay\.test>, "
               r"relay=\[127\.0\.0\.1\]:\d+, policy=.*status=sent" % q_remote, 10)
    log = a.log()
    check(not re.search(r"aval/deliver\[\d+\]: %s: to=<luis" % q_local, log),
          "aval-deliver logged the local delivery")
    check(not re.search(r"aval/local\[\d+\]: %s: to=<eva" % q_remote, log),
          "aval-local logged the remote delivery")
    check(len(maildir_files(a, "aval.test", "luis")) == 1, "local copies: %r"
          % maildir_files(a, "aval.test", "luis"))


@test("local_and_deliver_confined_apart", timeout=90, root_only=True)
def t_confined(t):
    a = t.aval().start()
    wait_until(lambda: dropped(a), 20 * SLOW, 0.1, "every worker to drop root")
    import pwd
    lpw, dpw = pwd.getpwnam(LOCAL_USER), pwd.getpwnam(RUN_USER)
    problems = []
    locals_ = a.pids("aval-local")
    delivers = a.pids("aval-deliver")
    check(locals_ and delivers, "workers: %r" % a.workers())
    for pid in locals_:
        if uid_of(pid) != lpw.pw_uid:
            problems.append("aval-local[%d] uid %d, want %s" % (pid, uid_of(pid), LOCAL_USER))
        root = os.readlink("/proc/%d/root" % pid)
        if os.path.realpath(root) != os.path.realpath(a.maildir):
            problems.append("aval-local[%d] root %s, want %s" % (pid, root, a.maildir))
        # Its own network namespace: only lo, and lo down.
        with open("/proc/%d/net/dev" % pid) as f:
            ifs = [l.split(":")[0].strip() for l in f.readlines()[2:]]
        if ifs != ["lo"]:
            problems.append("aval-local[%d] interfaces %r, want only lo" % (pid, ifs))
        if os.readlink("/proc/%d/ns/net" % pid) == os.readlink("/proc/self/ns/net"):
            problems.append("aval-local[%d] shares the host's network namespace" % pid)
        with open("/proc/%d/net/route" % pid) as f:
            routes = f.readlines()[1:]
        if routes:
            problems.append("aval-local[%d] has routes: %r" % (pid, routes))
    empty = os.path.join(a.rundir, "empty")
    for pid in delivers:
        if uid_of(pid) != dpw.pw_uid:
            problems.append("aval-deliver[%d] uid %d, want %s" % (pid, uid_of(pid), RUN_USER))
        root = os.readlink("/proc/%d/root" % pid)
        if os.path.realpath(root) != os.path.realpath(empty):
            problems.append("aval-deliver[%d] root %s, want %s" % (pid, root, empty))
    if lpw.pw_uid == dpw.pw_uid:
        problems.append("local-user and user are one uid")
    # The empty chroot is root's and empty; the mailboxes are local's only.
    st = os.stat(empty)
    if st.st_uid != 0 or st.st_mode & 0o7777 != 0o555 or os.listdir(empty):
        problems.append("%s: uid %d mode %o entries %r" % (empty, st.st_uid, st.st_mode & 0o7777,
                                                          os.listdir(empty)))
    st = os.stat(a.maildir)
    if st.st_uid != lpw.pw_uid or st.st_mode & 0o077:
        problems.append("%s: uid %d mode %o, want %s's alone" % (a.maildir, st.st_uid,
                                                                st.st_mode & 0o7777, LOCAL_USER))
    check(not problems, "; ".join(problems))
    # And mail still arrives, written by local's user.
    smtp_send(a.port, "s@client.test", ["own@aval.test"], make_message("own"))
    files = wait_until(lambda: maildir_files(a, "aval.test", "own"), 20, 0.1,
                       "the message in the Maildir")
    check(os.stat(files[0]).st_uid == lpw.pw_uid, "the file is not %s's" % LOCAL_USER)


@test("local_killed_is_restarted_and_nothing_is_lost", timeout=120)
def t_killed(t):
    a = t.aval().start()
    wait_until(lambda: dropped(a), 20 * SLOW, 0.1, "every worker to start")
    old = a.pids("aval-local")
    check(len(old) == 1, "aval-local processes: %r" % old)
    # Stopped, it takes jobs and writes nothing; killed, it loses them.
    os.kill(old[0], signal.SIGSTOP)
    qids = [smtp_send(a.port, "s@client.test", ["k%d@aval.test" % i],
                      make_message("kill-%d" % i)) for i in range(3)]
    time.sleep(0.5 * SLOW)
    check(not any(maildir_files(a, "aval.test", "k%d" % i) for i in range(3)),
          "a stopped aval-local delivered")
    os.kill(old[0], signal.SIGKILL)
    a.wait_log(r"local\[%d\] killed by signal 9; restarting" % old[0], 10)
    new = wait_until(lambda: [p for p in a.pids("aval-local") if p not in old],
                     20, 0.1, "a new aval-local")
    for i, q in enumerate(qids):
        wait_until(lambda: maildir_files(a, "aval.test", "k%d" % i), 20, 0.1,
                   "k%d's message after the restart" % i)
        a.wait_log(r"aval/local\[%d\]: %s: to=<k%d@aval\.test>, relay=maildir"
                   r".*status=sent" % (new[0], q, i), 10)
    a.wait_queue_empty(10)
    for i in range(3):
        n = len(maildir_files(a, "aval.test", "k%d" % i))
        check(n == 1, "k%d has %d copies, want 1" % (i, n))


@test("local_postmaster_without_domain_is_accepted_and_delivered", timeout=90)
def t_postmaster(t):
    a = t.aval(extra_conf=['postmaster\t"root"']).start()
    with smtplib.SMTP("127.0.0.1", a.port, timeout=30 * SLOW) as s:
        s.ehlo("client.test")
        s.mail("ana@client.test")
        code, msg = s.rcpt("<postmaster>")
        check(code == 250, "RCPT TO:<postmaster>: %d %r" % (code, msg))
        code, msg = s.rcpt("<PostMaster@aval.test>")
        check(code == 250, "RCPT TO:<PostMaster@aval.test>: %d %r" % (code, msg))
        code, msg = s.data(make_message("pm1"))
        check(code == 250, "DATA: %d %r" % (code, msg))
    # root in the first local domain (localhost), once per recipient.
    files = wait_until(lambda: len(maildir_files(a, "localhost", "root")) >= 2 and
                       maildir_files(a, "localhost", "root"), 20, 0.1,
                       "the postmaster's two copies in localhost/root")
    check(len(files) == 2, "copies: %r" % files)
    with open(files[0], "rb") as f:
        head = f.read(4096)
    check(b"Delivered-To: root@localhost\n" in head, "head: %r" % head[:300])
    a.wait_log(r": to=<postmaster> \(postmaster: delivered to <root@localhost>\)", 5)
    a.wait_log(r"aval/local\[\d+\]: \S+: to=<root@localhost>, relay=maildir.*"
               r"status=sent", 10)
    check(not maildir_files(a, "aval.test", "postmaster"),
          "postmaster@aval.test was delivered to its own mailbox")
    a.wait_queue_empty(10)


@test("local_lmtp_unix_socket", timeout=90)
def t_lmtp_unix(t):
    """lmtp unix:/PATH routes to aval-local, which speaks LMTP to a local
    store on a socket under the maildir root (where its chroot lets it
    reach): one result per recipient after the dot, the store's refusal
    deferred, aval-deliver never involved"""
    sockdir = os.path.join(t.dir, "aval", "mail", ".lmtp")
    os.makedirs(sockdir, exist_ok=True)
    os.chmod(sockdir, 0o755)
    path = os.path.join(sockdir, "s")
    lm = t.sink("lmtp", path=path)
    a = t.aval(local_domains="localhost aval.test store.test",
               transport_lines=["store.test\tlmtp unix:%s" % path]).start()
    with smtplib.SMTP("127.0.0.1", a.port, timeout=30 * SLOW) as c:
        c.sendmail("s@client.test", ["ana@store.test", "full@store.test"],
                   make_message("lmtp-unix"))
    line = a.wait_log(r"aval/local\[\d+\]: \S+: to=<ana@store\.test>, "
                      r"relay=unix:\S+, delay=.*status=sent", 20 * SLOW)
    check("policy=" not in line.group(0),
          "a local socket needs no TLS: %s" % line.group(0))
    a.wait_log(r"aval/local\[\d+\]: \S+: to=<full@store\.test>.*dsn=4\.2\.2, "
               r"status=deferred", 20 * SLOW)
    lm.wait_count(1, 10)
    check(not re.search(r"aval/deliver\[\d+\]: \S+: to=<\w+@store\.test>",
                        a.log()), "aval-deliver took mail for the local store")


@test("local_maildir_transport_path_template", timeout=60)
def t_maildir_template(t):
    """transport "maildir PATH" with %u: every local part of the domain has
    its Maildir at the template's path below the maildir root, catch-all
    or not"""
    a = t.aval(local_domains="localhost aval.test tpl.test", catch_all="no",
               transport_lines=["tpl.test\tmaildir users/%u"]).start()
    smtp_send(a.port, "s@client.test", ["Eva@tpl.test"], make_message("tpl"))
    d = os.path.join(a.maildir, "users", "eva", "new")
    wait_until(lambda: os.path.isdir(d) and os.listdir(d), 20 * SLOW, 0.1,
               "the message in %s" % d)
    a.wait_log(r"aval/local\[\d+\]: \S+: to=<Eva@tpl\.test>.*status=sent", 10)
