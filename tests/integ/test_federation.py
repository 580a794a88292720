"""
test_federation.py - federation trust in the MTA, with certificates made
by aval-ca and real handshakes

Outbound: aval, a member, relays to TlsSink peers (sinks.py) that present
each kind of bad certificate, or misbehave at STARTTLS, under MX records
from a real DNS server (tests/dns/dnsserver); every case that must not
deliver ends deferred with its precise reason and without a MAIL command
reaching the peer, and a stranger's domain is delivered as before. The
bundle's own failures (expired, stale CRL, tampered, rolled back) make
member mail wait. Inbound: a member with its certificate is a verified
peer, without one a possible downgrade, with a revoked one not verified,
and a stranger is accepted as before. Then aval to aval, both members.
"""

import json
import os
import re
import shutil
import signal
import smtplib
import ssl
import time

from harness import (check, outcome, make_message, smtp_send, test,
                     wait_until, dns_server, maildir_files, tail)
from fed import Fed


def no_mail(sink, what):
    seen = sum(c["mail"] for c in sink.conns)
    check(seen == 0, "%s: the sink saw %d MAIL command(s): message bytes "
          "left aval without the federation's TLS" % (what, seen))
    check(sink.count() == 0, "%s: the sink stored a message" % what)


def ctl(a, *args):
    r = a.ctl(*args)
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0, "avalctl %s: %s%s" % (" ".join(args), out,
                                                   r.stderr.decode()))
    return out


def zone(domain, mx="mx", addr="127.0.0.1"):
    lines = ["zone %s" % domain, "@\tMX 10 %s" % mx]
    if not mx.endswith("."):
        lines.append("%s\tA %s" % (mx, addr))
    return "\n".join(lines) + "\n"


def sender_member(fed):
    fed.member("uni-a", ["a.example"], ["mx.a.example"],
               ["192.0.2.0/24"])
    return fed.cert("uni-a", ["mx.a.example"])


# --- outbound -----------------------------------------------------------------

@test("federation_outbound_attack_matrix", timeout=180)
def t_outbound_matrix(t):
    """Each bad peer defers with a precise reason and no MAIL at the peer;
    the good member and the stranger get their mail"""
    fed = Fed(t)
    other = Fed(t, name="Other CA", sub="otherca")
    crt_a, key_a, _ = sender_member(fed)
    names = ["good", "otherca", "selfsigned", "expired", "future",
             "revoked", "wrong", "spoof", "unreg", "nostarttls", "refuse",
             "sf"]
    for n in names:
        fed.member("m-" + n, ["%s.example" % n], ["mx.%s.example" % n])
    other.member("o-x", ["otherca.example"], ["mx.otherca.example"])
    good = fed.cert("m-good", ["mx.good.example"])
    certs = {
        "good": good,
        "otherca": other.cert("o-x", ["mx.otherca.example"]),
        "selfsigned": (other.ca, other.cakey, None),
        "expired": fed.cert("m-expired", ["mx.expired.example"],
                            fake="-100d", days=10),
        "future": fed.cert("m-future", ["mx.future.example"], fake="+10d"),
        "revoked": fed.cert("m-revoked", ["mx.revoked.example"]),
        "wrong": good,			# m-good's, on m-wrong's MX
        "spoof": good,			# MX record says mx.good.example
        "unreg": fed.cert("m-unreg", ["mx.unreg.example"]),
        "nostarttls": fed.cert("m-nostarttls", ["mx.nostarttls.example"]),
        "refuse": fed.cert("m-refuse", ["mx.refuse.example"]),
        "sf": fed.cert("m-sf", ["mx.sf.example"]),
        "stranger": other.cert("o-x", ["mx.otherca.example"]),
    }
    fed.revoke(certs["revoked"][2])
    bundle = fed.publish()
    spec = ""
    for n in names + ["stranger"]:
        if n == "spoof":
            spec += zone("spoof.example", mx="mx.good.example.")
        elif n == "unreg":
            spec += zone("unreg.example", mx="mx9")
        elif n == "sf":
            spec += "servfail sf.example\n"
        else:
            spec += zone("%s.example" % n)
    resolver, _ = dns_server(t, spec)
    sinks, tr = {}, []
    for n in names + ["stranger"]:
        crt, key, _ = certs[n]
        mode = {"nostarttls": "hide", "refuse": "454"}.get(n, "offer")
        sinks[n] = t.sink("tls", cert=crt, key=key, starttls=mode,
                          client_ca=fed.ca)
        tr.append("%s.example\tsmtp %s.example:%d" % (n, n, sinks[n].port))
    a = t.aval(resolver=resolver, transport_lines=tr,
               extra_conf=fed.conf(bundle, crt_a, key_a)).start()
    for n in names + ["stranger"]:
        smtp_send(a.port, "s@client.test", ["user@%s.example" % n],
                  make_message("fed-" + n))
    st, line = outcome(a, "user@good.example")
    check(st == "sent" and "policy=federation" in line and
          "verified=federation" in line and
          "trust=federation:m-good" in line, "good member: %s" % line)
    check(sinks["good"].conns[0]["client_cert"] == "mx.a.example",
          "our federation certificate was not presented: %r"
          % sinks["good"].conns)
    want = {
        "otherca": r"did not verify: unable to (get local issuer|verify the "
                   r"first) certificate",
        "selfsigned": r"self-signed certificate",
        "expired": r"certificate has expired",
        "future": r"certificate is not yet valid",
        "revoked": r"certificate revoked",
        "wrong": r"hostname mismatch",
        "spoof": r"MX host mx\.good\.example is not one that member "
                 r"m-spoof registered",
        "unreg": r"MX host mx9\.unreg\.example is not one that member "
                 r"m-unreg registered",
        "nostarttls": r"did not offer STARTTLS",
        "refuse": r"in reply to STARTTLS",
        "sf": r"dsn=4\.4\.3",
    }
    for n, why in want.items():
        st, line = outcome(a, "user@%s.example" % n)
        check(st == "deferred" and re.search(r"dsn=4\.[47]\.\d", line),
              "%s: %s" % (n, line))
        check(re.search(why, line), "%s: want /%s/ in: %s" % (n, why, line))
        no_mail(sinks[n], n)
    for n in ("spoof", "unreg"):
        check(not sinks[n].conns, "%s: aval connected to an MX host the "
              "member never registered" % n)
    st, line = outcome(a, "user@stranger.example")
    check(st == "sent" and "policy=may" in line,
          "a stranger's domain must get its mail as before: %s" % line)

    # What the operator sees: the bundle, and each member's health.
    out = ctl(a, "federation", "--json")
    js = json.loads(out)
    check(js["serial"] == 1 and js["members"] == len(names) + 1 and
          not js["expired"] and not js["crl_stale"], "show: %r" % js)
    h = {}

    def health():
        h.clear()
        for m in json.loads(ctl(a, "federation", "health", "--json"))[
                "members"]:
            h[m["id"]] = m
        return h.get("m-revoked", {}).get("out", {}).get("sessions", 0) > 0
    wait_until(health, 10 * 1, 0.2, "a health row for m-revoked")
    check(h["m-good"]["out"]["verified"] >= 1,
          "m-good: %r" % h["m-good"])
    for n, reason in (("revoked", "revoked"), ("expired", "expired"),
                      ("spoof", "not-registered"),
                      ("nostarttls", "no-starttls"),
                      ("refuse", "starttls-refused")):
        f = h["m-" + n]["out"].get("failures", {})
        check(f.get(reason, 0) >= 1, "m-%s: want a %s failure: %r"
              % (n, reason, h["m-" + n]))
    text = ctl(a, "federation", "health")
    check("m-good" in text and "m-revoked" in text, "health:\n%s" % text)


# --- the bundle's own failures --------------------------------------------

def one_member_setup(t, fed, resolver=None):
    """uni-a sends; m-good receives at a TlsSink under real DNS"""
    crt_a, key_a, _ = sender_member(fed)
    fed.member("m-good", ["good.example"], ["mx.good.example"])
    good = fed.cert("m-good", ["mx.good.example"])
    if resolver is None:
        resolver, _ = dns_server(t, zone("good.example") +
                                 zone("stranger.example"))
    sink = t.sink("tls", cert=good[0], key=good[1], client_ca=fed.ca)
    tr = ["good.example\tsmtp good.example:%d" % sink.port,
          "stranger.example\tsmtp stranger.example:%d" % sink.port]
    return crt_a, key_a, good, resolver, sink, tr


@test("federation_bundle_expired_or_crl_stale",
      timeout=120)
def t_bundle_stale(t):
    """A bundle past its expiry, or whose CRL is past its next update, is
    still who the members are: their mail waits, with the reason, and no
    connection is made; a stranger's mail goes as before"""
    resolver, _ = dns_server(t, zone("good.example") +
                             zone("stranger.example"))
    for case, fake, days, why in (
            ("expired", "-3d", 1, r"bundle \(serial 1\) expired at"),
            ("stale", "-20d", None, r"CRL is stale")):
        fed = Fed(t, crl_days=10, sub="fed-" + case, fake="-30d")
        crt_a, key_a, good, resolver, sink, tr = one_member_setup(
            t, fed, resolver)
        bundle = fed.publish(fake=fake, days=days)
        a = t.aval(name=case, resolver=resolver, transport_lines=tr,
                   extra_conf=fed.conf(bundle, crt_a, key_a)).start()
        smtp_send(a.port, "s@client.test", ["u@good.example"],
                  make_message(case))
        smtp_send(a.port, "s@client.test", ["u@stranger.example"],
                  make_message(case + "-stranger"))
        st, line = outcome(a, "u@good.example")
        check(st == "deferred" and "dsn=4.7.5" in line and
              re.search(why, line), "%s: %s" % (case, line))
        st, line = outcome(a, "u@stranger.example")
        check(st == "sent", "%s: the stranger: %s" % (case, line))
        check(sum(c["mail"] for c in sink.conns) == 1,
              "%s: member mail reached the sink: %r" % (case, sink.conns))
        js = json.loads(ctl(a, "federation", "--json"))
        check(js["expired"] or js["crl_stale"], "%s: %r" % (case, js))
        check(re.search(r"federation: .*(expired|expires|CRL)", a.log()),
              "%s: no expiry warning in the log" % case)


@test("federation_bundle_tampered_rolled_back_and_reloaded", timeout=150)
def t_bundle_updates(t):
    """No bundle that verifies: member mail waits. A good one written over
    the file is taken without a restart; a tampered one and an older one
    (a rollback) are refused and logged, the current one kept, also
    across a restart (the spool's copy)"""
    fed = Fed(t)
    crt_a, key_a, good, resolver, sink, tr = one_member_setup(t, fed)
    v1 = fed.publish()
    fed.revoke(good[2])			# v2: m-good's certificate revoked
    v2 = fed.publish()
    live = os.path.join(t.dir, "bundle.cms")
    with open(v1, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0x40
    with open(live, "wb") as f:
        f.write(data)
    a = t.aval(resolver=resolver, transport_lines=tr,
               extra_conf=fed.conf(live, crt_a, key_a,
                                   ["refresh\t10s"])).start()
    a.wait_log(r"federation: bundle from file refused: .*no bundle")
    smtp_send(a.port, "s@client.test", ["u1@good.example"], make_message("t1"))
    st, line = outcome(a, "u1@good.example")
    check(st == "deferred" and "no federation bundle has been loaded" in line,
          "tampered bundle: %s" % line)
    check(not sink.conns, "a connection was made without a bundle")

    # v2 arrives: taken at the next refresh (no restart), and it revokes
    # the certificate the sink presents.
    shutil.copy(v2, live + ".tmp")
    os.rename(live + ".tmp", live)
    a.wait_log(r"loaded bundle serial 2 from file", timeout=30)
    smtp_send(a.port, "s@client.test", ["u2@good.example"], make_message("t2"))
    st, line = outcome(a, "u2@good.example")
    check(st == "deferred" and "certificate revoked" in line, line)

    # The attacker's old bundle, in which that certificate was good.
    shutil.copy(v1, live + ".tmp")
    os.rename(live + ".tmp", live)
    a.signal(signal.SIGHUP)
    a.wait_log(r"bundle from file refused: serial 1 is older than 2.*"
               r"rollback", timeout=30)
    js = json.loads(ctl(a, "federation", "--json"))
    check(js["serial"] == 2 and "rollback" in (js["last_refused"] or ""),
          "after the rollback: %r" % js)
    smtp_send(a.port, "s@client.test", ["u3@good.example"], make_message("t3"))
    st, line = outcome(a, "u3@good.example")
    check(st == "deferred" and "certificate revoked" in line, line)

    # A restart with the old file still there: the spool's copy wins.
    a.stop()
    a.start()
    a.wait_log(r"loaded bundle serial 2 from spool")
    js = json.loads(ctl(a, "federation", "--json"))
    check(js["serial"] == 2, "after a restart: %r" % js)
    no_mail(sink, "revoked or no bundle")


def https_bundle_server(t, fed, root):
    """An HTTPS server on 127.0.0.1 serving root, with a certificate the
    federation CA signed for IP 127.0.0.1. aval-ca issues members' MX
    names only, so this one certificate is made with openssl and the CA
    key (docs/federation-policy.md: the bundle host)."""
    import http.server
    import subprocess
    import threading
    d = t.subdir("https")
    key, csr, crt = (os.path.join(d, n) for n in ("k.pem", "r.csr", "c.pem"))
    ext = os.path.join(d, "ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    for argv in (["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                  csr, "-subj", "/CN=bundle host"],
                 ["openssl", "x509", "-req", "-in", csr, "-CA", fed.ca,
                  "-CAkey", fed.cakey, "-CAcreateserial", "-days", "2",
                  "-extfile", ext, "-out", crt]):
        r = subprocess.run(argv, capture_output=True)
        check(r.returncode == 0, "%s: %s" % (argv[:2], r.stderr))

    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    t.cleanups.append(srv.shutdown)
    return srv.server_address[1]


@test("federation_bundle_over_https",
      timeout=120)
def t_bundle_url(t):
    fed = Fed(t)
    crt_a, key_a, good, resolver, sink, tr = one_member_setup(t, fed)
    root = t.subdir("www")
    shutil.copy(fed.publish(), os.path.join(root, "bundle.cms"))
    port = https_bundle_server(t, fed, root)
    conf = fed.conf("", crt_a, key_a, ["refresh\t10s"])
    conf = [x for x in conf if "bundle-file" not in x]
    conf.insert(1, '\tbundle-url\t"https://127.0.0.1:%d/bundle.cms"' % port)
    a = t.aval(resolver=resolver, transport_lines=tr, extra_conf=conf).start()
    a.wait_log(r"loaded bundle serial 1 from url", timeout=20)
    smtp_send(a.port, "s@client.test", ["u@good.example"], make_message("u"))
    st, line = outcome(a, "u@good.example")
    check(st == "sent" and "trust=federation:m-good" in line, line)
    shutil.copy(fed.publish(), os.path.join(root, "bundle.cms.tmp"))
    os.rename(os.path.join(root, "bundle.cms.tmp"),
              os.path.join(root, "bundle.cms"))
    os.utime(os.path.join(root, "bundle.cms"),
             (time.time() + 5, time.time() + 5))
    a.wait_log(r"loaded bundle serial 2 from url", timeout=30)
    # The same server under a certificate of another CA: refused, kept.
    other = Fed(t, name="Other", sub="other")
    root2 = t.subdir("www2")
    shutil.copy(fed.publish(), os.path.join(root2, "bundle.cms"))
    port2 = https_bundle_server(t, other, root2)
    conf2 = [x.replace(":%d/" % port, ":%d/" % port2) for x in conf]
    a.write_config(extra_conf=conf2)
    a.signal(signal.SIGHUP)
    a.wait_log(r"bundle from url refused: fetching https://127\.0\.0\.1:%d/"
               r"bundle\.cms: .*; keeping serial 2" % port2, timeout=30)


# --- inbound --------------------------------------------------------------------

def client_send(port, rcpt, token, cert=None, source=None, starttls=True):
    """One message by smtplib, STARTTLS with cert (or none) from source:
    the MAIL reply code, 250 when the message went in"""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    s = smtplib.SMTP("127.0.0.1", port, timeout=30,
                     source_address=(source, 0) if source else None)
    try:
        s.ehlo("client.example")
        if starttls:
            s.starttls(context=ctx)
            s.ehlo("client.example")
        code, _ = s.mail("s@a.example")
        if code != 250:
            return code
        s.rcpt(rcpt)
        s.data(make_message(token))
        return 250
    finally:
        try:
            s.quit()
        except Exception:
            pass


def received_at(a, domain, local, token):
    """the text of the message with token in domain/local's Maildir"""
    def find():
        for f in maildir_files(a, domain, local):
            with open(f, "rb") as fh:
                b = fh.read().decode("utf-8", "replace")
            if token in b:
                return b
        return None
    return wait_until(find, 20, 0.1, "%s in %s@%s's Maildir" %
                      (token, local, domain))


def inbound_setup(t, defer=False):
    fed = Fed(t)
    fed.member("uni-a", ["a.example"], ["mx.a.example"], ["127.0.0.0/24"])
    fed.member("uni-b", ["b.example"], ["mx.b.example"])
    a_good = fed.cert("uni-a", ["mx.a.example"])
    a_revoked = fed.cert("uni-a", ["mx.a.example"])
    b_crt, b_key, _ = fed.cert("uni-b", ["mx.b.example"])
    fed.revoke(a_revoked[2])
    bundle = fed.publish()
    extra = ["defer-downgrade\tyes"] if defer else []
    # Not loopback: relay-networks are our own clients, never placed.
    b = t.aval(name="b", hostname="mx.b.example",
               local_domains="localhost b.example",
               relay_networks="192.0.2.1/32",
               extra_conf=fed.conf(bundle, b_crt, b_key, extra)).start()
    return fed, b, a_good, a_revoked


@test("federation_inbound_verified_downgrade_revoked_stranger", timeout=120)
def t_inbound(t):
    """From a member's network: with its certificate a verified peer
    (logged, in Received); without one a possible downgrade (logged and
    marked); with a revoked one not verified (and marked). A stranger is
    accepted as before, with neither."""
    fed, b, a_good, a_revoked = inbound_setup(t)
    check(client_send(b.port, "u@b.example", "in-good", cert=a_good) == 250,
          "the member was refused")
    m = received_at(b, "b.example", "u", "in-good")
    fpr = re.search(r"client certificate (sha256:[0-9A-Fa-f]+) verified\s+"
                    r"federation member uni-a\)", m)
    check(fpr, "Received does not name the member:\n%s" % m[:600])
    check("X-Aval-Federation" not in m, "a verified peer was marked")
    check(re.search(r"trust=federation:uni-a", b.log()),
          "no trust= line:\n%s" % tail(b.log(), 20))

    check(client_send(b.port, "u@b.example", "in-nocert") == 250,
          "a member without its certificate must not be refused")
    m = received_at(b, "b.example", "u", "in-nocert")
    check("X-Aval-Federation: possible downgrade; member=uni-a; "
          "by=registry" in m, "no downgrade mark:\n%s" % m[:600])
    b.wait_log(r"federation=downgrade, member=uni-a, by=registry, "
               r"reason=no-certificate, status=marked")

    check(client_send(b.port, "u@b.example", "in-revoked",
                      cert=a_revoked) == 250, "refused with a revoked cert")
    m = received_at(b, "b.example", "u", "in-revoked")
    check("X-Aval-Federation: possible downgrade" in m and
          "federation member" not in m and " not verified" in m,
          "revoked: %s" % m[:600])
    b.wait_log(r"federation=not-verified, reason=revoked")

    check(client_send(b.port, "u@b.example", "in-stranger",
                      source="127.0.1.1", starttls=False) == 250,
          "a stranger was refused")
    m = received_at(b, "b.example", "u", "in-stranger")
    check("X-Aval-Federation" not in m and "federation member" not in m,
          "the stranger was marked:\n%s" % m[:600])
    check("client=[127.0.1.1]" not in " ".join(
        l for l in b.log().splitlines() if "federation=" in l),
        "the stranger got a federation line")

    def health():
        js = json.loads(ctl(b, "federation", "health", "--json"))
        for mb in js["members"]:
            if mb["id"] == "uni-a" and mb["in"]["sessions"] >= 3:
                return mb["in"]
        return None
    h = wait_until(health, 10, 0.2, "uni-a's inbound health")
    check(h["verified"] >= 1 and h["failures"].get("downgrade", 0) >= 1 and
          h["failures"].get("revoked", 0) >= 1, "inbound health: %r" % h)


@test("federation_inbound_defer_downgrade")
def t_inbound_defer(t):
    fed, b, a_good, a_revoked = inbound_setup(t, defer=True)
    check(client_send(b.port, "u@b.example", "d-nocert") == 451,
          "defer-downgrade: a member without its certificate must get 451")
    b.wait_log(r"federation=downgrade.*status=defer \(451 defer-downgrade\)")
    check(client_send(b.port, "u@b.example", "d-good", cert=a_good) == 250,
          "the member with its certificate was refused")
    check(client_send(b.port, "u@b.example", "d-stranger",
                      source="127.0.1.1", starttls=False) == 250,
          "defer-downgrade must never refuse a stranger")


# --- aval to aval -----------------------------------------------------------------

@test("federation_aval_to_aval_mutual_tls", timeout=120)
def t_aval_to_aval(t):
    """uni-a's aval relays to uni-b's: federation policy, both ends
    verified, B logs the member and writes it in Received"""
    fed = Fed(t)
    fed.member("uni-a", ["a.example"], ["mx.a.example"], ["127.0.0.0/24"])
    fed.member("uni-b", ["b.example"], ["mx.b.example"])
    a_crt, a_key, _ = fed.cert("uni-a", ["mx.a.example"])
    b_crt, b_key, _ = fed.cert("uni-b", ["mx.b.example"])
    bundle = fed.publish()
    b = t.aval(name="b", hostname="mx.b.example",
               local_domains="localhost b.example",
               extra_conf=fed.conf(bundle, b_crt, b_key)).start()
    resolver, _ = dns_server(t, zone("b.example"))
    a = t.aval(name="a", hostname="mx.a.example", resolver=resolver,
               transport_lines=["b.example\tsmtp b.example:%d" % b.port],
               extra_conf=fed.conf(bundle, a_crt, a_key)).start()
    for i in range(3):
        smtp_send(a.port, "s@client.test", ["u%d@b.example" % i],
                  make_message("a2b-%d" % i))
    for i in range(3):
        st, line = outcome(a, "u%d@b.example" % i)
        check(st == "sent" and "policy=federation" in line and
              "verified=federation" in line and
              "trust=federation:uni-b" in line, line)
        m = received_at(b, "b.example", "u%d" % i, "a2b-%d" % i)
        check("federation member uni-a" in m, "B's Received:\n%s" % m[:600])
        check("X-Aval-Federation" not in m, "A's own client, from A's "
              "relay-networks, was marked as a downgrade:\n%s" % m[:800])
    check(re.search(r"trust=federation:uni-a", b.log()), "B: no trust= line")


@test("federation_bounce_after_lifetime_says_why", timeout=90)
def t_bounce(t):
    """A member's mail that cannot go out verified bounces after the queue
    lifetime, and the bounce says why in plain words"""
    fed = Fed(t)
    crt_a, key_a, _ = sender_member(fed)
    fed.member("m-good", ["good.example"], ["mx.good.example"])
    good = fed.cert("m-good", ["mx.good.example"])
    fed.revoke(good[2])
    bundle = fed.publish()
    resolver, _ = dns_server(t, zone("good.example"))
    sink = t.sink("tls", cert=good[0], key=good[1])
    a = t.aval(resolver=resolver, queue_lines=["max-lifetime\t3s"],
               transport_lines=["good.example\tsmtp good.example:%d"
                                % sink.port],
               extra_conf=fed.conf(bundle, crt_a, key_a)).start()
    smtp_send(a.port, "s@aval.test", ["u@good.example"], make_message("bnc"))
    m = received_at(a, "aval.test", "s", "u@good.example")
    check("certificate revoked" in m and "federation" in m,
          "the bounce does not say why:\n%s" % m[:1500])
    no_mail(sink, "revoked, then bounced")


@test("federation_inbound_dns_whitelist", timeout=90)
def t_whitelist(t):
    """The connecting address is looked up in the federation's DNS
    whitelist and the answer logged; a listed address of a member that the
    registry does not place is placed by the whitelist: without the
    member's certificate a possible downgrade, marked, and (a DNS answer
    alone) never deferred even with defer-downgrade"""
    spec = ("zone wl.example\n"
            "2.0.0.127\tA 127.0.0.2\n"
            "2.0.0.127\tTXT \"test entry\"\n"
            "1.3.0.127\tA 127.0.0.2\n"
            "1.3.0.127\tTXT \"member uni-a (Org uni-a)\"\n")
    resolver, _ = dns_server(t, spec)
    fed = Fed(t)
    fed.member("uni-a", ["a.example"], ["mx.a.example"], ["127.0.0.0/24"])
    fed.member("uni-b", ["b.example"], ["mx.b.example"])
    a_good = fed.cert("uni-a", ["mx.a.example"])
    b_crt, b_key, _ = fed.cert("uni-b", ["mx.b.example"])
    bundle = fed.publish()
    b = t.aval(name="b", hostname="mx.b.example", resolver=resolver,
               local_domains="localhost b.example",
               relay_networks="192.0.2.1/32",
               extra_conf=fed.conf(bundle, b_crt, b_key,
                                   ['whitelist-zone\t"wl.example"',
                                    "defer-downgrade\tyes"])).start()
    b.wait_log(r"federation: whitelist wl\.example answers its test entry")
    check(client_send(b.port, "u@b.example", "wl-nocert",
                      source="127.0.3.1") == 250,
          "a whitelist listing alone must never defer")
    m = received_at(b, "b.example", "u", "wl-nocert")
    check("X-Aval-Federation: possible downgrade; member=uni-a; "
          "by=whitelist" in m, "no whitelist mark:\n%s" % m[:600])
    check(re.search(r"client=\[127\.0\.3\.1\]:\d+, federation=whitelist, "
                    r"listed=yes, member=uni-a", b.log()),
          "the listing is not logged:\n%s" % tail(b.log(), 20))
    check(client_send(b.port, "u@b.example", "wl-good", cert=a_good,
                      source="127.0.3.1") == 250, "the member was refused")
    m = received_at(b, "b.example", "u", "wl-good")
    check("federation member uni-a" in m and "X-Aval-Federation" not in m,
          "a verified member from a listed address:\n%s" % m[:600])
    check(client_send(b.port, "u@b.example", "wl-stranger",
                      source="127.0.4.1", starttls=False) == 250,
          "a stranger was refused")
    m = received_at(b, "b.example", "u", "wl-stranger")
    check("X-Aval-Federation" not in m, "the stranger was marked")


@test("federation_star_policy_never_lowers_a_member")
def t_star_policy(t):
    """tls-policy { * may } is a default for strangers: a member's domain
    still gets the federation level (a peer of another CA defers), while
    a line for the member's domain itself is the operator's override"""
    fed = Fed(t)
    other = Fed(t, name="Other CA", sub="otherca")
    crt_a, key_a, _ = sender_member(fed)
    for n in ("m-x", "m-y"):
        fed.member(n, ["%s.example" % n], ["mx.%s.example" % n])
    other.member("o", ["o.example"], ["mx.m-x.example", "mx.m-y.example"])
    bad = other.cert("o", ["mx.m-x.example", "mx.m-y.example"])
    bundle = fed.publish()
    resolver, _ = dns_server(t, zone("m-x.example") + zone("m-y.example"))
    sx = t.sink("tls", cert=bad[0], key=bad[1])
    sy = t.sink("tls", cert=bad[0], key=bad[1])
    a = t.aval(resolver=resolver, transport_lines=[
        "m-x.example\tsmtp m-x.example:%d" % sx.port,
        "m-y.example\tsmtp m-y.example:%d" % sy.port],
        extra_conf=fed.conf(bundle, crt_a, key_a) +
        ["tls-policy {", "\t*\tmay", "\tm-y.example\tencrypt", "}"]).start()
    smtp_send(a.port, "s@client.test", ["u@m-x.example"], make_message("x"))
    smtp_send(a.port, "s@client.test", ["u@m-y.example"], make_message("y"))
    st, line = outcome(a, "u@m-x.example")
    check(st == "deferred" and "policy=federation" in line, line)
    no_mail(sx, "m-x under * may")
    st, line = outcome(a, "u@m-y.example")
    check(st == "sent" and "policy=encrypt" in line,
          "the domain's own line must override: %s" % line)
