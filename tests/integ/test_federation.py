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
