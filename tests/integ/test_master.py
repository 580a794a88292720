"""
test_master.py - avald, the master: children, signals, privileges

Restarting killed workers, draining on SIGTERM, reloading on SIGHUP (a bad
config kept out, a good one applied), and the workers' uid, chroot and
capabilities.
"""

import os
import pwd
import re
import signal
import socket
import subprocess
import time

from harness import (LOCAL_USER, RUN_USER, SLOW, WORKER_KINDS, Fail, check, wait_until,
                     test, proc_table, group_members, reap_orphans,
                     proc_status, greet, make_message, smtp_send,
                     maildir_files, queue_rcpt)


@test("killed_workers_restarted_mail_still_flows", timeout=120)
def t_restart(t):
    a = t.aval(processes=1).start()
    # smtpd
    old = a.pids("aval-smtpd")
    check(len(old) == 1, "aval-smtpd pids %r, want one" % old)
    off = a.log_size()
    os.kill(old[0], signal.SIGKILL)
    wait_until(lambda: [p for p in a.pids("aval-smtpd") if p != old[0]], 15, 0.1,
               "a new aval-smtpd")
    a.wait_log(r"(?i)smtpd.*(restart|respawn)|(restart|respawn).*smtpd", 5, off,
               "a log line saying aval-smtpd is restarted")
    a.wait_ready()
    qid1 = smtp_send(a.port, "s@client.test", ["one@relay.test"], make_message("rs1"))
    # queue: with mail waiting in it
    oldq = a.pids("aval-queue")
    check(len(oldq) == 1, "aval-queue pids %r, want one" % oldq)
    wait_until(lambda: queue_rcpt(a, "one@relay.test"), 10, 0.2, "the message in the queue")
    off = a.log_size()
    os.kill(oldq[0], signal.SIGKILL)
    wait_until(lambda: [p for p in a.pids("aval-queue") if p != oldq[0]], 15, 0.1,
               "a new aval-queue")
    a.wait_log(r"(?i)queue.*(restart|respawn)|(restart|respawn).*queue", 5, off,
               "a log line saying aval-queue is restarted")
    a.wait_ready()
    sink = t.sink(port=a.sinkport)

    def flushed():
        try:
            a.flush()
        except Fail:
            pass
        return sink.count() >= 1
    wait_until(flushed, 20, 1.0, "the message queued before the kill at the sink")
    qid2 = smtp_send(a.port, "s@client.test", ["two@relay.test"], make_message("rs2"))
    sink.wait_count(2, 20)
    a.wait_queue_empty(10)
    time.sleep(1.5 * SLOW)
    toks = sorted(re.search(rb"X-Test-Token: (\w+)", m[3]).group(1).decode()
                  for m in sink.messages())
    check(toks == ["rs1", "rs2"], "at the sink: %r (queue IDs %s %s)" % (toks, qid1, qid2))


@test("sigterm_drains_sessions_with_421")
def t_sigterm(t):
    a = t.aval().start()
    pids = [p for p, _ in a.workers()]
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<s@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        a.signal(signal.SIGTERM)
        try:
            c, txt = r.reply(timeout=5 * SLOW)
        except (socket.timeout, TimeoutError):
            c, txt = r.cmd(b"NOOP")
        check(c == 421 and b"4.3.2" in txt, "open session after SIGTERM got %r, want 421 4.3.2" % txt)
    try:
        rc = a.proc.wait(10 * SLOW)
    except subprocess.TimeoutExpired:
        raise Fail("avald still running %.0fs after SIGTERM" % (10 * SLOW))
    check(rc == 0, "avald exited %d after SIGTERM, want 0" % rc)

    def all_gone():
        reap_orphans()
        return not group_members(a.proc.pid)
    if not wait_until(all_gone, 5, 0.1):
        table = proc_table()
        raise Fail("aval processes left after avald exited: %r (workers were %r)"
                   % ([(p, table.get(p)) for p in group_members(a.proc.pid)], pids))
    try:
        with socket.create_connection(("127.0.0.1", a.port), 1):
            raise Fail("port %d still accepts connections after avald exited" % a.port)
    except OSError:
        pass


@test("sighup_reload_bad_config_kept_good_config_applied", timeout=90)
def t_sighup(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_recipients=5).start()
    good = a.config_text()
    off = a.log_size()
    a.write_config("# broken on purpose\nhostname \"mx.test\"\nsmtpd {\n\tprocesses\n"
                   "frobnicate yes\n")
    a.signal(signal.SIGHUP)
    a.wait_log(r"(?i)reload\w*\b.*(fail|error|refus|keep|old|invalid)|"
               r"(fail|error|refus|invalid|cannot|can't)\w*.*\b(reload|config)|aval\.conf:\d+:",
               10, off, "a log line saying the reload failed")
    time.sleep(0.5)
    check(a.proc.poll() is None, "avald exited on a bad reload (status %s)" % a.proc.returncode)
    t.note("bad reload logged: %s" % " | ".join(
        l for l in a.log_since(off).splitlines()
        if re.search(r"(?i)reload|conf|error|fail", l))[:600])
    smtp_send(a.port, "s@client.test", ["h1@relay.test"], make_message("hup1"))
    sink.wait_count(1, 20)
    with greet(a.port) as r:
        r.cmd(b"MAIL FROM:<s@client.test>")
        for i in range(3):
            c, txt = r.cmd(b"RCPT TO:<h%d@relay.test>" % i)
            check(c == 250, "old max-recipients 5 not kept after a bad reload: RCPT %d %r"
                  % (i + 1, txt))

    a.write_config(good.replace("max-recipients\t\t5", "max-recipients\t\t2"))
    check("max-recipients\t\t2" in open(a.conf).read(), "test bug: config not changed")
    off = a.log_size()
    a.signal(signal.SIGHUP)

    def limit_is_2():
        try:
            with greet(a.port) as r:
                r.cmd(b"MAIL FROM:<s@client.test>")
                codes = [r.cmd(b"RCPT TO:<n%d@relay.test>" % i) for i in range(3)]
        except (OSError, Fail):
            return False
        return codes[0][0] == 250 and codes[1][0] == 250 and codes[2][0] == 452
    wait_until(limit_is_2, 10, 0.3, "max-recipients 2 to apply after SIGHUP")
    check(a.proc.poll() is None, "avald exited after a good reload")
    smtp_send(a.port, "s@client.test", ["h2@relay.test"], make_message("hup2"))
    sink.wait_count(2, 20)


@test("workers_unprivileged_chrooted_no_capabilities", root_only=True)
def t_privileges(t):
    a = t.aval().start()
    problems = []
    # A worker drops privileges when its config, TLS material and links
    # are in: under the sanitizers one may still be on its way.
    wait_until(lambda: all(proc_status(p)["Uid"].split()[0] != "0"
                           for p, _ in a.workers()), 20 * SLOW, 0.1,
               "every worker to drop privileges")
    workers = a.workers()
    check({k for _, k in workers} == set(WORKER_KINDS), "workers: %r" % workers)
    for pid, kind in workers:
        # aval-local alone has the mailboxes, as a user of its own.
        user = LOCAL_USER if kind == "aval-local" else RUN_USER
        pw = pwd.getpwnam(user)
        st = proc_status(pid)
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        if any(int(u) != pw.pw_uid for u in uids):
            problems.append("%s[%d] Uid %s, want %d (%s)" % (kind, pid, uids, pw.pw_uid, user))
        if any(int(g) != pw.pw_gid for g in gids):
            problems.append("%s[%d] Gid %s, want %d" % (kind, pid, gids, pw.pw_gid))
        if st.get("Groups", "").strip() not in ("", str(pw.pw_gid)):
            problems.append("%s[%d] supplementary groups %r" % (kind, pid, st["Groups"]))
        for cap in ("CapEff", "CapPrm", "CapAmb"):
            if int(st.get(cap, "0"), 16) != 0:
                problems.append("%s[%d] %s %s" % (kind, pid, cap, st[cap]))
        if st.get("NoNewPrivs", "1") != "1":
            problems.append("%s[%d] NoNewPrivs %s" % (kind, pid, st.get("NoNewPrivs")))
        root = os.readlink("/proc/%d/root" % pid)
        t.note("%s[%d] root %s uid %s" % (kind, pid, root, uids[0]))
        if kind == "aval-smtpd":
            if root == "/":
                problems.append("aval-smtpd[%d] is not chrooted" % pid)
            else:
                try:
                    ents = os.listdir(root)
                    sb = os.stat(root)
                except OSError as e:
                    ents, sb = ["(%s)" % e], None
                if ents:
                    problems.append("aval-smtpd[%d] chroot %s is not empty: %r" % (pid, root, ents))
                if sb and (sb.st_uid != 0 or sb.st_mode & 0o022):
                    problems.append("aval-smtpd[%d] chroot %s is owned by %d mode %o: "
                                    "writable by others than root"
                                    % (pid, root, sb.st_uid, sb.st_mode & 0o7777))
        elif kind == "aval-queue":
            if os.path.realpath(root) != os.path.realpath(a.spool):
                problems.append("aval-queue[%d] root %s, want the spool %s" % (pid, root, a.spool))
        elif kind == "aval-deliver":
            if os.path.realpath(root) != os.path.realpath(os.path.join(a.rundir, "empty")):
                problems.append("aval-deliver[%d] root %s, want the empty dir" % (pid, root))
        elif kind == "aval-local":
            if os.path.realpath(root) != os.path.realpath(a.maildir):
                problems.append("aval-local[%d] root %s, want the maildir %s" % (pid, root, a.maildir))
    master = proc_status(a.proc.pid)
    t.note("avald[%d] Uid %s" % (a.proc.pid, master["Uid"]))
    check(not problems, "; ".join(problems))
    # And it still works that way.
    smtp_send(a.port, "s@client.test", ["priv@aval.test"], make_message("pv1"))
    wait_until(lambda: maildir_files(a, "aval.test", "priv"), 20, 0.1, "Maildir delivery as %s" % LOCAL_USER)
