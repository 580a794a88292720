"""
test_tls_out.py - the outbound TLS policy engine, against real handshakes

aval relays to TlsSink (sinks.py), a Python STARTTLS server with the
certificates of tests/certs/mkcerts.sh, which also misbehaves on demand:
STARTTLS hidden from EHLO, refused with 454, the connection dropped at
STARTTLS, bytes injected after its 220. Each case checks where the message
went and what the sink saw: where TLS is required and not had, the sink
must never see a MAIL command, so no byte of the message left aval.
"""

import os
import re

from harness import (Fail, check, wait_until, test, tail, make_message,
                     smtp_send, certs, queue_rcpt, outcome)


def cert(name):
    c = certs()
    return os.path.join(c, name + ".crt"), os.path.join(c, name + ".key")


def routes(cases):
    """transport and tls-policy lines for {domain: (sink, policy line)}"""
    tr = ["%s\tsmtp [127.0.0.1]:%d" % (d, s.port) for d, (s, _) in cases.items()]
    pol = ["\t%s\t%s" % (d, p) for d, (_, p) in cases.items() if p]
    return tr, ["tls-policy {", *pol, "}"]


def send_each(a, domains, tag):
    for i, d in enumerate(domains):
        smtp_send(a.port, "sender@client.test", ["user@%s" % d],
                  make_message("%s-%d" % (tag, i)))


def no_mail(sink, what):
    seen = sum(c["mail"] for c in sink.conns)
    check(seen == 0, "%s: the sink saw %d MAIL command(s): message bytes "
          "left aval without the TLS the policy requires" % (what, seen))
    check(sink.count() == 0, "%s: the sink stored a message" % what)


@test("tls_out_may_uses_starttls_and_logs_it")
def t_may(t):
    good = t.sink("tls", cert=cert("server")[0], key=cert("server")[1])
    plain = t.sink("tls", cert=cert("server")[0], key=cert("server")[1],
                   starttls="hide")
    tr, pol = routes({"tls.test": (good, None), "plain.test": (plain, None)})
    a = t.aval(transport_lines=tr).start()
    send_each(a, ["tls.test", "plain.test"], "may")
    st, line = outcome(a, "user@tls.test")
    check(st == "sent", "may over TLS: %s" % line)
    check("policy=may, tls=TLSv1.3, cipher=" in line and "verified=no" in line,
          "the log line does not name the policy and TLS: %s" % line)
    check(good.conns and good.conns[0]["tls"] == "TLSv1.3",
          "the sink saw no TLS: %r" % good.conns)
    st, line = outcome(a, "user@plain.test")
    check(st == "sent" and "policy=may, tls=none" in line,
          "may without STARTTLS offered must go in plaintext: %s" % line)


@test("tls_out_verify_certificate_matrix", timeout=90)
def t_verify_matrix(t):
    """verify with the test CA: only the good certificate delivers; every
    bad one defers with its reason and no MAIL reaching the peer"""
    c = certs()
    ca = os.path.join(c, "ca.crt")
    crl = os.path.join(c, "ca.crl")
    bad = {
        "otherca.test": ("other-server", "verify ca \"%s\"" % ca,
                         "unable to verify the first certificate"),
        "selfsigned.test": ("selfsigned", "verify ca \"%s\"" % ca,
                            "self-signed certificate"),
        "wrongname.test": ("alt", "verify ca \"%s\" match mx.test" % ca,
                           "hostname mismatch"),
        "expired.test": ("expired", "verify ca \"%s\"" % ca,
                         "certificate has expired"),
        "future.test": ("future", "verify ca \"%s\"" % ca,
                        "certificate is not yet valid"),
        "revoked.test": ("revoked", "verify ca \"%s\" crl \"%s\"" % (ca, crl),
                         "certificate revoked"),
        "secure.test": ("server", "secure ca \"%s\"" % ca,
                        "hostname mismatch"),
    }
    good = {
        "good.test": ("server", "verify ca \"%s\"" % ca),
        "goodcrl.test": ("server", "verify ca \"%s\" crl \"%s\"" % (ca, crl)),
        "goodsecure.test": ("server", "secure ca \"%s\" match .test mx.test" % ca),
    }
    cases, sinks = {}, {}
    for d, (name, p, *_) in list(bad.items()) + list(good.items()):
        crt, key = cert(name)
        sinks[d] = t.sink("tls", cert=crt, key=key)
        cases[d] = (sinks[d], p)
    tr, pol = routes(cases)
    a = t.aval(transport_lines=tr, extra_conf=pol).start()
    send_each(a, list(cases), "verify")
    for d, (name, p, why) in bad.items():
        st, line = outcome(a, "user@%s" % d)
        check(st == "deferred", "%s (%s): %s" % (d, name, line))
        check("dsn=4.7.5" in line and why in line,
              "%s: want 4.7.5 and %r in: %s" % (d, why, line))
        no_mail(sinks[d], d)
    for d in good:
        st, line = outcome(a, "user@%s" % d)
        check(st == "sent" and "verified=yes" in line, "%s: %s" % (d, line))
        check(sinks[d].count() == 1, "%s: %d messages at the sink, want 1"
              % (d, sinks[d].count()))
    # The deferral reason is what avalctl shows for the recipient.
    r = queue_rcpt(a, "user@expired.test")
    check(r and "certificate has expired" in str(r[1]),
          "avalctl does not show the reason: %r" % (r,))


@test("tls_out_downgrade_matrix", timeout=90)
def t_downgrade(t):
    """STARTTLS stripped, refused, dropped, or followed by injected bytes:
    encrypt and verify defer with no MAIL at the peer; may delivers, in
    plaintext (the same connection after a refusal, a new one after a
    broken handshake)"""
    ca = os.path.join(certs(), "ca.crt")
    crt, key = cert("server")
    cases, sinks = {}, {}
    for mode in ("hide", "454", "drop", "inject"):
        for lv, p in (("encrypt", "encrypt"), ("verify", "verify ca \"%s\"" % ca),
                      ("may", None)):
            d = "%s-%s.test" % (mode, lv)
            sinks[d] = t.sink("tls", cert=crt, key=key, starttls=mode)
            cases[d] = (sinks[d], p)
    tr, pol = routes(cases)
    a = t.aval(transport_lines=tr, extra_conf=pol).start()
    send_each(a, list(cases), "down")
    for d in cases:
        st, line = outcome(a, "user@%s" % d)
        if d.endswith("-may.test"):
            check(st == "sent" and "tls=none" in line,
                  "%s: may must deliver in plaintext: %s" % (d, line))
            if d.startswith(("drop", "inject")):
                check("plaintext retry" in line, "%s: %s" % (d, line))
            if d.startswith("454"):
                check("tls=none (STARTTLS refused)" in line,
                      "%s: %s" % (d, line))
            continue
        check(st == "deferred" and re.search(r"dsn=4\.7\.[45]", line),
              "%s: %s" % (d, line))
        check("TLS is required" in line, "%s: no reason given: %s" % (d, line))
        no_mail(sinks[d], d)
    inj = a.log()
    check("sent data after its 220 to STARTTLS" in inj,
          "the injected bytes were not named:\n%s" % tail(inj, 20))


@test("tls_out_client_certificate_presented")
def t_client_cert(t):
    c = certs()
    crt, key = cert("server")
    s = t.sink("tls", cert=crt, key=key, client_ca=os.path.join(c, "ca.crt"))
    tr, _ = routes({"cc.test": (s, None)})
    a = t.aval(transport_lines=tr, tls_lines=[
        'client-certificate "%s/client.crt" "%s/client.key"' % (c, c)]).start()
    send_each(a, ["cc.test"], "cc")
    st, line = outcome(a, "user@cc.test")
    check(st == "sent", line)
    check(s.conns and s.conns[0]["client_cert"] == "client.test",
          "the sink did not see our client certificate: %r" % s.conns)


@test("tls_out_reuse_and_resumption_counted", timeout=90)
def t_reuse(t):
    """Steady load to one destination reuses the connection; a server that
    closes after every message makes aval reconnect, and every later
    handshake resumes the TLS session of an earlier one"""
    crt, key = cert("server")
    keep = t.sink("tls", cert=crt, key=key)
    once = t.sink("tls", cert=crt, key=key, one_per_conn=True)
    tr, _ = routes({"keep.test": (keep, None), "once.test": (once, None)})
    a = t.aval(transport_lines=tr, deliver_processes=1).start()
    n = 12
    for i in range(n):
        smtp_send(a.port, "s@client.test", ["u%d@keep.test" % i],
                  make_message("keep-%d" % i))
        keep.wait_count(i + 1, 30)
    conns = len(keep.conns)
    check(conns == 1, "%d connections for %d messages one after another: "
          "the connection was not reused" % (conns, n))
    for i in range(n):
        smtp_send(a.port, "s@client.test", ["u%d@once.test" % i],
                  make_message("once-%d" % i))
        once.wait_count(i + 1, 30)
    tls = [c for c in once.conns if c["tls"]]
    resumed = sum(1 for c in tls if c["resumed"])
    check(len(tls) >= n and resumed >= n - 1,
          "%d of %d TLS connections resumed" % (resumed, len(tls)))
    check(re.search(r"resumed=yes", a.log()), "no delivery line says resumed=yes")


@test("tls_out_policy_never_shares_a_connection")
def t_no_share(t):
    """A cached plaintext may connection to [addr]:port must not carry a
    message whose policy requires verified TLS to the same address"""
    crt, key = cert("other-server")
    s = t.sink("tls", cert=crt, key=key, starttls="hide")
    ca = os.path.join(certs(), "ca.crt")
    tr, pol = routes({"open.test": (s, None),
                      "strict.test": (s, "verify ca \"%s\"" % ca)})
    a = t.aval(transport_lines=tr, extra_conf=pol, deliver_processes=1).start()
    smtp_send(a.port, "s@client.test", ["u@open.test"], make_message("open"))
    st, line = outcome(a, "u@open.test")
    check(st == "sent", line)
    before = sum(c["mail"] for c in s.conns)
    smtp_send(a.port, "s@client.test", ["u@strict.test"], make_message("strict"))
    st, line = outcome(a, "u@strict.test")
    check(st == "deferred" and "did not offer STARTTLS" in line, line)
    check(sum(c["mail"] for c in s.conns) == before,
          "the strict message went over the may connection")


@test("tls_out_sessions_shared_by_deliverers_and_kept_across_restarts",
      timeout=120)
def t_shared_sessions(t):
    """The queue keeps the deliverers' TLS sessions (queue/tlsstore.h), so
    a deliver process that never met the server resumes the session an
    earlier one made: after the deliverer that made it is killed (and
    restarted by the master), and after avald is stopped and started
    again, the very first connection resumes"""
    import signal
    import time
    crt, key = cert("server")
    once = t.sink("tls", cert=crt, key=key, one_per_conn=True)
    tr, _ = routes({"once.test": (once, None)})
    a = t.aval(transport_lines=tr, deliver_processes=1).start()

    def send(tag, k):
        smtp_send(a.port, "s@client.test", ["%s@once.test" % tag],
                  make_message(tag))
        once.wait_count(k, 30)
        c = once.conns[-1]
        return c["tls"] and c["resumed"]

    check(not send("first", 1), "the very first handshake cannot resume")
    check(send("second", 2), "the second connection did not resume")
    old = a.pids("aval-deliver")
    for p in old:
        os.kill(p, signal.SIGKILL)
    wait_until(lambda: a.pids("aval-deliver") and
               not set(a.pids("aval-deliver")) & set(old), 30, 0.1,
               "a new deliver process")
    time.sleep(0.5)
    check(send("after-kill", 3), "a new deliver process did not resume "
          "the session the killed one stored")
    a.stop()
    check(os.path.exists(os.path.join(a.spool, "tls-sessions.db")),
          "no session store in the spool")
    a.start()
    check(send("after-restart", 4), "the first connection after avald "
          "restarted did not resume")
