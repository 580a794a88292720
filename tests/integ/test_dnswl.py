"""
test_dnswl.py - the federation's DNS whitelist lookup (common/dnswl.h)
against a real DNS server

The zone is the one aval-ca publish --zone writes, for two members, served
by tests/dns/dnsserver (an authoritative unbound on a loopback port) signed
and, as a second zone, unsigned. $AVAL_BUILD/dnswl-lookup
(tests/integ/dnswl_lookup.c) runs the lookups of one zone at once in one
event loop, as smtpd would for that many sessions, and prints one JSON
result a line; no avald is started.

A note on the test server: unbound 1.17's auth-zone answers an NXDOMAIN
whose closest encloser is an empty non-terminal (2.2.0.192 beside a listed
1.2.0.192: 2.0.192 exists only as a parent) with the wildcard denial of
the apex instead of that of the closest encloser, which a validator
rightly calls bogus (so 198.51.100.4, next to a listed /30, comes back
TEMP there). The not-listed addresses of the signed zone are therefore
ones whose closest encloser is the apex (203.0.113.7, 3fff::1); the
unsigned copy has the neighbours.
"""

import ipaddress
import json
import os
import re
import subprocess

from harness import (BUILD, SLOW, SANITIZER_RE, Fail, ca, check, dns_server,
                     sanitizer_env, test)

ZONE = "wl.fed.example"
PLAIN = "plain.fed.example"


def lookup(t, resolver, zone, addrs, anchors=None, timeout=5, max_=None,
           expect_rc=0):
    """Run dnswl-lookup; {addr: result dict}. Its stderr goes to a log
    file of the test, so that a sanitizer report fails the test."""
    binp = os.path.join(BUILD, "dnswl-lookup")
    if not os.access(binp, os.X_OK):
        raise Fail("no %s (make check-integ builds it)" % binp)
    argv = [binp, "-v", "-t", str(timeout)]
    if anchors:
        argv += ["-a", anchors]
    if max_:
        argv += ["-m", str(max_)]
    argv += [resolver, zone] + list(addrs)
    try:
        p = subprocess.run(argv, capture_output=True, env=sanitizer_env(),
                           timeout=(timeout + 20) * SLOW)
    except subprocess.TimeoutExpired:
        raise Fail("dnswl-lookup did not finish: %s" % " ".join(argv))
    err = p.stderr.decode("utf-8", "replace")
    with open(os.path.join(t.dir, "dnswl-lookup.log"), "a") as f:
        f.write("$ %s\n%s" % (" ".join(argv), err))
    check(not SANITIZER_RE.search(err), "sanitizer report:\n%s" % err)
    check(p.returncode == expect_rc, "dnswl-lookup exited %d, not %d:\n%s"
          % (p.returncode, expect_rc, err[-2000:]))
    out = {}
    for line in p.stdout.decode().splitlines():
        r = json.loads(line)
        out[r["addr"]] = r
    check(sorted(out) == sorted(addrs), "answers for %s, asked %s"
          % (sorted(out), sorted(addrs)))
    return out


def want(res, addr, status, secure=None, member=None, text=None, a=None,
         flags=(), reason=None, qname=None):
    """Check one result; every field given must match."""
    r = res[addr]
    got = "%s: %s" % (addr, json.dumps(r))
    check(r["status"] == status, "want %s, %s" % (status, got))
    check(sorted(r["flags"]) == sorted(flags), "want flags %s, %s"
          % (list(flags), got))
    if secure is not None:
        check(r["secure"] == secure, "want secure=%d, %s" % (secure, got))
    if member is not None:
        check(r["member"] == member, "want member %r, %s" % (member, got))
    if text is not None:
        check(r["text"] == text, "want text %r, %s" % (text, got))
    if a is not None:
        check(r["a"] == a, "want A %r, %s" % (a, got))
    if reason is not None:
        check(re.search(reason, r["reason"]), "want reason /%s/, %s"
              % (reason, got))
    if qname is not None:
        check(r["qname"] == qname, "want qname %s, %s" % (qname, got))
    if status != "LISTED":
        check(r["a"] == "" and r["text"] == "" and r["member"] == "",
              "a result not LISTED carries a listing: %s" % got)


def published_records(t):
    """The records of the whitelist zone aval-ca publishes for two
    members, relative to the zone, as dnsserver's SPEC wants them (it
    adds its own SOA and NS)."""
    st = os.path.join(t.dir, "ca-state")
    ca(t, st, "init", "--name", "Test Federation", "--crl-days", "10")
    # /29 and /30 keep the zone small: address by address below /24.
    ca(t, st, "member", "add", "uni-a", "--org", "University A",
       "--contact", "postmaster@a.example", "--domain", "a.example",
       "--mx", "mx1.a.example", "--net", "192.0.2.0/29",
       "--net", "2001:db8:a::/48")
    ca(t, st, "member", "add", "uni-b", "--org", "University \"B\"",
       "--contact", "pm@b.example", "--domain", "b.example",
       "--mx", "mx.b.example", "--net", "198.51.100.0/30",
       "--net", "10.20.0.0/16")
    pub = os.path.join(t.dir, "pub")
    ca(t, st, "publish", "--out", pub, "--zone", ZONE)
    recs = []
    with open(os.path.join(pub, ZONE + ".zone")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line[0] in ";$" or line.startswith("@"):
                continue
            recs.append(line)
    check(any(r.startswith("*.20.10\t") for r in recs) and
          any("member uni-a (University A)" in r for r in recs),
          "the published zone is not as expected:\n%s" % "\n".join(recs))
    return recs


def spec_with(recs=None):
    """The zones of the tests: the published records (when given) signed
    as ZONE and unsigned as PLAIN, and zones with odd answers."""
    wl = []
    if recs:
        wl = (["zone %s signed\n" % ZONE] + [r + "\n" for r in recs] +
              ["zone %s\n" % PLAIN] + [r + "\n" for r in recs])
    return "".join(wl + [
        "zone odd.example\n",
        # A resolver that rewrites NXDOMAIN, or a list gone wrong.
        "1.2.0.192 A 192.0.2.99\n",
        # A TXT without an A: not a listing.
        "2.2.0.192 TXT \"member uni-a (University A)\"\n",
        # Two members claim one address.
        "3.2.0.192 A 127.0.0.2\n",
        "3.2.0.192 TXT \"member uni-a (University A)\"\n",
        "3.2.0.192 TXT \"member uni-b (University B)\"\n",
        # Several A records, one in 127/8; a TXT of another form.
        "4.2.0.192 A 192.0.2.1\n",
        "4.2.0.192 A 127.0.0.4\n",
        "4.2.0.192 TXT \"listed by hand\"\n",
        "zone bad.example signed expired\n",
        "1.2.0.192 A 127.0.0.2\n",
        "servfail broken.example\n",
        "deny slow.example\n"])


@test("dnswl_listed_and_not_listed_in_the_zone_aval_ca_publishes", timeout=120)
def t_dnswl_listed(t):
    """IPv4 by address and by wildcard, IPv6 by nibble wildcard, an
    IPv4-mapped address as its IPv4 name, the RFC 5782 test entry, and
    addresses not listed: the member ids from the TXT, secure only in the
    signed zone and only with its trust anchor"""
    resolver, anchors = dns_server(t, spec_with(published_records(t)))
    addrs = ["192.0.2.5", "10.20.30.40", "2001:db8:a:1::25",
             "::ffff:192.0.2.5", "198.51.100.3", "127.0.0.2",
             "203.0.113.7", "3fff::1"]
    res = lookup(t, resolver, ZONE, addrs, anchors=anchors)
    ua = "member uni-a (University A)"
    ub = "member uni-b (University ?B?)"
    want(res, "192.0.2.5", "LISTED", secure=1, member="uni-a", text=ua,
         a="127.0.0.2", qname="5.2.0.192." + ZONE)
    want(res, "10.20.30.40", "LISTED", secure=1, member="uni-b", text=ub,
         a="127.0.0.2", qname="40.30.20.10." + ZONE)
    nibbles = ipaddress.ip_address("2001:db8:a:1::25").reverse_pointer
    want(res, "2001:db8:a:1::25", "LISTED", secure=1, member="uni-a",
         text=ua, qname=nibbles.replace(".ip6.arpa", "." + ZONE))
    want(res, "::ffff:192.0.2.5", "LISTED", secure=1, member="uni-a",
         qname="5.2.0.192." + ZONE)
    want(res, "198.51.100.3", "LISTED", secure=1, member="uni-b")
    want(res, "127.0.0.2", "LISTED", secure=1, member="", text="test entry",
         a="127.0.0.2")
    want(res, "203.0.113.7", "NOTLISTED", secure=1, reason=r"NXDOMAIN")
    want(res, "3fff::1", "NOTLISTED", secure=1, reason=r"NXDOMAIN")
    for r in res.values():
        check(r["seconds"] < 2 * SLOW, "slow answer: %r" % r)

    # The same zone unsigned: the same answers, none secure.
    # (Here the neighbours of listed networks too: see the note above.)
    res = lookup(t, resolver, PLAIN, ["192.0.2.5", "2001:db8:a::1",
                                      "192.0.2.8", "198.51.100.4",
                                      "2001:db8:b::1"],
                 anchors=anchors)
    want(res, "192.0.2.5", "LISTED", secure=0, member="uni-a", text=ua)
    want(res, "2001:db8:a::1", "LISTED", secure=0, member="uni-a")
    # A /29 ends at .7 and a /30 at .3.
    want(res, "192.0.2.8", "NOTLISTED", secure=0, reason=r"NXDOMAIN")
    want(res, "198.51.100.4", "NOTLISTED", secure=0)
    want(res, "2001:db8:b::1", "NOTLISTED", secure=0)

    # The signed zone without its trust anchor: nothing is secure.
    res = lookup(t, resolver, ZONE, ["192.0.2.5", "203.0.113.7"])
    want(res, "192.0.2.5", "LISTED", secure=0, member="uni-a")
    want(res, "203.0.113.7", "NOTLISTED", secure=0)


@test("dnswl_odd_answers_are_read_strictly", timeout=60)
def t_dnswl_odd(t):
    """An A outside 127/8 is no listing and no denial (TEMP); a TXT
    without an A is not listed; two members in the TXTs name none; of
    several A records the one in 127/8 counts and a TXT of another form is
    text without a member"""
    resolver, anchors = dns_server(t, spec_with())
    res = lookup(t, resolver, "odd.example", ["192.0.2.1", "192.0.2.2",
                                              "192.0.2.3", "192.0.2.4"],
                 anchors=anchors)
    want(res, "192.0.2.1", "TEMP", secure=0,
         reason=r"192\.0\.2\.99 is not a DNSxL answer")
    want(res, "192.0.2.2", "NOTLISTED", reason=r"no A record")
    want(res, "192.0.2.3", "LISTED", member="", flags=["members"])
    want(res, "192.0.2.4", "LISTED", member="", text="listed by hand",
         a="127.0.0.4")


@test("dnswl_servfail_timeout_bogus_and_a_full_table_are_temp", timeout=90)
def t_dnswl_temp(t):
    """SERVFAIL, expired signatures and a zone that never answers are
    TEMP, the last after the lookup's own timeout and not libunbound's
    retries; over the bound of lookups in flight, TEMP at once"""
    resolver, anchors = dns_server(t, spec_with())
    res = lookup(t, resolver, "broken.example", ["192.0.2.1", "2001:db8::1"],
                 anchors=anchors)
    want(res, "192.0.2.1", "TEMP", secure=0, reason=r"SERVFAIL")
    want(res, "2001:db8::1", "TEMP", secure=0, reason=r"SERVFAIL")

    res = lookup(t, resolver, "bad.example", ["192.0.2.1", "192.0.2.2"],
                 anchors=anchors)
    want(res, "192.0.2.1", "TEMP", secure=0, reason=r"bogus")
    want(res, "192.0.2.2", "TEMP", secure=0, reason=r"bogus")

    # A dropped query: libunbound alone would retry for far longer.
    res = lookup(t, resolver, "slow.example", ["192.0.2.1", "2001:db8::1"],
                 anchors=anchors, timeout=1)
    for addr in res:
        want(res, addr, "TEMP", secure=0, flags=["timeout"],
             reason=r"timed out after 1 s")
        s = res[addr]["seconds"]
        check(0.95 <= s < 1 + 1.5 * SLOW, "%s: TEMP after %.3f s, not 1 s"
              % (addr, s))

    # One in flight at most: the second and third are not asked.
    res = lookup(t, resolver, "slow.example", ["192.0.2.1", "192.0.2.2",
                                               "2001:db8::2"],
                 anchors=anchors, timeout=1, max_=1)
    want(res, "192.0.2.1", "TEMP", flags=["timeout"])
    for addr in ("192.0.2.2", "2001:db8::2"):
        want(res, addr, "TEMP", flags=["full"], reason=r"in flight already")
        check(res[addr]["seconds"] < 0.5 * SLOW, "a full table's answer "
              "took %.3f s" % res[addr]["seconds"])
