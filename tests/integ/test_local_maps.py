"""
test_local_maps.py - aliases, the mailbox map and catch-all (docs/local.md)

Real processes, catch-all off (the default; the harness turns it on for
the other tests): an alias expands at receipt to a local mailbox and a
remote address, each keeping the alias as ORCPT; a loop in the alias file
fails the load with the cycle named; unknown users of a mapped domain, and
of an unmapped one without catch-all, are refused 550 5.1.1 at RCPT while
the postmaster is still reached; mapped addresses land in their mapped
paths, @domain templates included.
"""

import os
import smtplib

from harness import (SLOW, avald_check, check, make_message, smtp_send, test,
                     wait_until)

BASE_EHLO = ["PIPELINING", "8BITMIME", "SIZE 100000000",
             "ENHANCEDSTATUSCODES", "DSN"]


def new_files(a, path):
    d = os.path.join(a.maildir, path, "new")
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def maps(t, aliases=None, mailboxes=None):
    """Write the files into the test's directory; the config lines."""
    lines = []
    if aliases is not None:
        p = os.path.join(t.subdir("files"), "aliases")
        with open(p, "w") as f:
            f.write(aliases)
        lines.append('aliases\t"%s"' % p)
    if mailboxes is not None:
        p = os.path.join(t.subdir("files"), "mailboxes")
        with open(p, "w") as f:
            f.write(mailboxes)
        lines.append('mailbox-map\t"%s"' % p)
    return lines


def rcpt_codes(a, rcpts):
    with smtplib.SMTP("127.0.0.1", a.port, timeout=30 * SLOW) as s:
        s.ehlo("client.test")
        s.mail("s@client.test")
        out = [s.rcpt(r) for r in rcpts]
        s.rset()
        return out


MAP = ("# users of aval.test\n"
       "ana@aval.test\taval.test/ana\n"
       "luis@aval.test\tpeople/luis\n"
       "@localhost\tlh/%u\n")
ALIASES = ("# aliases(5) style\n"
           "team@aval.test: ana@aval.test,\n"
           "    eva@relay.test\n"
           "staff: team@aval.test, luis\n")


@test("maps_alias_expands_to_local_and_remote_keeping_orcpt", timeout=60)
def t_alias(t):
    sink = t.sink("script", ehlo=BASE_EHLO)
    a = t.aval(sinkport=sink.port, catch_all="no",
               extra_conf=maps(t, ALIASES, MAP)).start()
    qid = smtp_send(a.port, "s@client.test", ["team@aval.test"],
                    make_message("alias"))
    wait_until(lambda: new_files(a, "aval.test/ana"), 20, 0.1,
               "the alias's local copy in aval.test/ana")
    sink.wait_count(1, 20)
    a.wait_log(r"aval/queue\[\d+\]: %s: to=<ana@aval\.test> \(alias: "
               r"expanded from <team@aval\.test>\)" % qid, 10)
    a.wait_log(r"%s: to=<eva@relay\.test> \(alias: expanded from "
               r"<team@aval\.test>\)" % qid, 10)
    a.wait_log(r"aval/local\[\d+\]: %s: to=<ana@aval\.test>, relay=maildir"
               r".*status=sent" % qid, 10)
    rc = sink.commands("RCPT")
    check("RCPT TO:<eva@relay.test> ORCPT=rfc822;team@aval.test" in rc,
          "the remote copy's RCPT does not carry the alias as ORCPT: %r" % rc)
    # A bare alias name is at every local domain, a bare target in the
    # first one (localhost: the @localhost template); aliases nest.
    qid = smtp_send(a.port, "s@client.test", ["staff@aval.test"],
                    make_message("nested"))
    wait_until(lambda: new_files(a, "lh/luis"), 20, 0.1,
               "staff's copy in lh/luis")
    wait_until(lambda: len(new_files(a, "aval.test/ana")) == 2, 20, 0.1,
               "staff's copy for ana")
    sink.wait_count(2, 20)


@test("maps_alias_loop_is_refused_at_load_naming_the_cycle", timeout=30)
def t_loop(t):
    a = t.aval(catch_all="no", extra_conf=maps(
        t, "a@aval.test: b@aval.test\n# b goes back\nb: a@aval.test\n"
           "self@aval.test: self@aval.test\n"))
    rc, out = avald_check(a.conf)
    check(rc == 1, "avald -n: exit %d: %s" % (rc, out))
    check(":3: alias loop: b -> a@aval.test -> b" in out or
          ":1: alias loop: a@aval.test -> b -> a@aval.test" in out,
          "the a/b cycle is not named: %s" % out)
    check(":4: alias loop: self@aval.test -> self@aval.test" in out,
          "the self-loop is not named: %s" % out)
    a.write_config(extra_conf=maps(t, "x: ghost@aval.test\n", MAP))
    rc, out = avald_check(a.conf)
    check(rc == 1 and "alias x: <ghost@aval.test> is no user here" in out,
          "an alias to a user who is not in the map loads: %d %s" % (rc, out))


@test("maps_unknown_user_of_a_mapped_domain_is_refused_at_rcpt", timeout=60)
def t_unknown(t):
    a = t.aval(catch_all="no", extra_conf=maps(t, None, MAP)).start()
    codes = rcpt_codes(a, ["nobody@aval.test", "luis@aval.test",
                           "any.one@localhost", "postmaster@aval.test"])
    check(codes[0][0] == 550 and b"5.1.1" in codes[0][1],
          "unknown user: %r" % (codes[0],))
    check([c for c, _ in codes[1:]] == [250, 250, 250], "known: %r" % codes)
    a.wait_log(r"NOQUEUE: session=\w+, client=.*cmd=RCPT, from=<s@client\.test>"
               r", to=<nobody@aval\.test>, dsn=5\.1\.1, status=reject "
               r"\(550 unknown user\)", 10)
    smtp_send(a.port, "s@client.test", ["luis@aval.test", "Any.One@localhost"],
              make_message("mapped"))
    wait_until(lambda: new_files(a, "people/luis") and
               new_files(a, "lh/any.one"), 20, 0.1,
               "people/luis and lh/any.one (the @localhost template)")
    check(not os.path.exists(os.path.join(a.maildir, "aval.test", "luis")),
          "luis also got the default aval.test/luis")


@test("maps_catch_all_off_takes_only_the_postmaster", timeout=60)
def t_catch_all(t):
    a = t.aval(catch_all="no").start()
    codes = rcpt_codes(a, ["luis@aval.test", "postmaster@aval.test",
                           "postmaster"])
    check([c for c, _ in codes] == [550, 250, 250],
          "catch-all off, no map: %r" % codes)
    smtp_send(a.port, "s@client.test", ["postmaster"], make_message("pm"))
    wait_until(lambda: new_files(a, "localhost/postmaster"), 20, 0.1,
               "the postmaster's copy (first local domain)")
    # On: every local part of an unmapped domain is a Maildir again.
    a.stop()
    a.write_config(catch_all="yes")
    a.start()
    codes = rcpt_codes(a, ["luis@aval.test"])
    check(codes[0][0] == 250, "catch-all on: %r" % codes)
