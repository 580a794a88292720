"""
test_route.py - routing: MX lookups against a real DNS server, the hosts
tried in order, and the transport table's methods

Each DNS test starts tests/dns/dnsserver (an authoritative unbound on a
loopback port, zones under example.) and points deliver's resolver at it.
MX hosts resolve to addresses of 127.0.0.0/8 where sinks listen; routes
name a port ("smtp route.example:PORT": the MX hosts of route.example, on
PORT), because a test cannot take port 25. The route with no next hop
(the recipient domain's own MX, port 25) is the same code with the domain
as the name.
"""

import os
import re
import socket
import threading

from harness import (check, wait_until, test, make_message, smtp_send, certs,
                     outcome,
                     dns_server, free_port)


def port_free_on(port, *hosts):
    for h in hosts:
        s = socket.socket()
        try:
            s.bind((h, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def common_port(*hosts):
    """A port free on every one of hosts"""
    for _ in range(50):
        p = free_port(hosts[0])
        if port_free_on(p, *hosts):
            return p
    raise AssertionError("no port free on %r" % (hosts,))


class Greeter:
    """A server that greets with one fixed reply and hangs up"""

    def __init__(self, t, host, port, greeting=b"421 4.3.2 busy, try later"):
        self.conns = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopped = False
        self.greeting = greeting
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()
        t.cleanups.append(self.stop)

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns += 1
            try:
                c.sendall(self.greeting + b"\r\n")
            finally:
                c.close()

    def stop(self):
        self.stopped = True
        self.th.join(2)
        self.sock.close()


SPEC = """
zone route.example
@	MX 10 mx1
@	MX 20 mx2
mx1	A 127.0.0.21
mx2	A 127.0.0.22
zone direct.example
@	A 127.0.0.23
zone dead.example
@	MX 10 mx1
@	MX 20 mx2.route.example.
mx1	A 127.0.0.24
zone busy.example
@	MX 10 mx1
@	MX 20 mx2.route.example.
mx1	A 127.0.0.25
zone nullmx.example
@	MX 0 .
zone nohost.example
@	MX 10 nowhere.nohost.example
servfail broken.example
"""


@test("route_mx_hosts_by_preference_and_the_next_on_failure", timeout=120)
def t_mx_order(t):
    """MX 10 gets the mail; when it refuses connections, or greets with
    421, MX 20 does, each step logged; no MX (an A record only) means the
    domain itself"""
    resolver, _ = dns_server(t, SPEC)
    port = common_port("127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24", "127.0.0.25")
    mx1 = t.sink("py", host="127.0.0.21", port=port)
    mx2 = t.sink("py", host="127.0.0.22", port=port)
    direct = t.sink("py", host="127.0.0.23", port=port)
    a = t.aval(resolver=resolver, transport_lines=[
        "route.example\tsmtp route.example:%d" % port,
        "direct.example\tsmtp direct.example:%d" % port,
        "dead.example\tsmtp dead.example:%d" % port,
        "busy.example\tsmtp busy.example:%d" % port,
    ]).start()

    smtp_send(a.port, "s@client.test", ["u1@route.example"],
              make_message("mx-1"))
    st, line = outcome(a, "u1@route.example")
    check(st == "sent" and "relay=mx1.route.example[127.0.0.21]:%d" % port
          in line, "the most preferred MX must get it: %s" % line)
    check(mx1.count() == 1 and mx2.count() == 0, "mx1 %d, mx2 %d" %
          (mx1.count(), mx2.count()))

    smtp_send(a.port, "s@client.test", ["u@direct.example"],
              make_message("a-only"))
    st, line = outcome(a, "u@direct.example")
    check(st == "sent" and "relay=direct.example[127.0.0.23]" in line,
          "no MX: the domain's own address: %s" % line)

    # dead.example's MX 10 refuses connections (nothing listens there)
    smtp_send(a.port, "s@client.test", ["u@dead.example"],
              make_message("mx-dead"))
    st, line = outcome(a, "u@dead.example")
    check(st == "sent" and "relay=mx2.route.example[127.0.0.22]" in line,
          "MX 20 must take over from a dead MX 10: %s" % line)
    check(re.search(r"relay=mx1\.dead\.example\[127\.0\.0\.24\]:%d, .*"
                    r"trying the next address" % port, a.log()),
          "the skipped host has no log line")

    # busy.example's MX 10 greets with 421
    g = Greeter(t, "127.0.0.25", port)
    smtp_send(a.port, "s@client.test", ["u@busy.example"],
              make_message("mx-busy"))
    st, line = outcome(a, "u@busy.example")
    check(st == "sent" and "mx2.route.example" in line,
          "a 421 greeting must send it to MX 20: %s" % line)
    check(g.conns >= 1, "MX 10 was not tried first")
    check(mx2.count() == 2 and mx1.count() == 1,
          "mx1 %d, mx2 %d" % (mx1.count(), mx2.count()))


@test("route_dns_verdicts_bounce_or_defer", timeout=120)
def t_dns_verdicts(t):
    """NXDOMAIN and a host without an address bounce 5.1.2, null MX
    bounces 5.1.10, SERVFAIL defers 4.4.3; the sink sees nothing"""
    resolver, _ = dns_server(t, SPEC)
    sink = t.sink("py")
    lines = ["%s\tsmtp %s:%d" % (d, d, sink.port) for d in (
        "nx.route.example", "nullmx.example", "nohost.example",
        "broken.example")]
    a = t.aval(resolver=resolver, transport_lines=lines).start()
    want = {
        "nx.route.example": ("bounced", "5.1.2"),
        "nullmx.example": ("bounced", "5.1.10"),
        "nohost.example": ("bounced", "5.1.2"),
        "broken.example": ("deferred", "4.4.3"),
    }
    for d in want:
        smtp_send(a.port, "s@client.test", ["u@%s" % d], make_message(d))
    for d, (status, dsn) in want.items():
        st, line = outcome(a, "u@%s" % d)
        check(st == status and "dsn=%s" % dsn in line,
              "%s: want %s %s: %s" % (d, status, dsn, line))
    check(sink.count() == 0, "the sink got %d messages" % sink.count())
    check("null MX" in a.log(), "the null MX is not named in the log")


@test("route_transport_methods_discard_error_bracketed_host", timeout=90)
def t_methods(t):
    """discard says sent and drops; error 5.x.x bounces, 4.x.x defers,
    with the table's text; [host]:port looks up the host's address only,
    never its MX"""
    resolver, _ = dns_server(t, SPEC)
    port = common_port("127.0.0.21", "127.0.0.22")
    mx1 = t.sink("py", host="127.0.0.21", port=port)
    mx2 = t.sink("py", host="127.0.0.22", port=port)
    a = t.aval(resolver=resolver, transport_lines=[
        "null.test\tdiscard",
        "gone.test\terror 5.1.2 \"this domain has moved\"",
        "later.test\terror:4.3.2 closed for the night",
        "pinned.test\tsmtp [mx2.route.example]:%d" % port,
    ]).start()
    for d in ("null.test", "gone.test", "later.test", "pinned.test"):
        smtp_send(a.port, "s@client.test", ["u@%s" % d], make_message(d))
    st, line = outcome(a, "u@null.test")
    check(st == "sent" and "relay=discard" in line and "dsn=2.0.0" in line,
          line)
    st, line = outcome(a, "u@gone.test")
    check(st == "bounced" and "dsn=5.1.2" in line and
          "this domain has moved" in line, line)
    st, line = outcome(a, "u@later.test")
    check(st == "deferred" and "dsn=4.3.2" in line and
          "closed for the night" in line, line)
    st, line = outcome(a, "u@pinned.test")
    check(st == "sent" and "mx2.route.example[127.0.0.22]" in line, line)
    check(mx1.count() == 0 and mx2.count() == 1,
          "mx1 %d, mx2 %d" % (mx1.count(), mx2.count()))


@test("route_verify_checks_the_mx_host_name", timeout=90)
def t_verify_mx_name(t):
    """verify checks the certificate against the MX host's name: the MX
    whose certificate names it gets the mail; a certificate for another
    name defers 4.7.5 and moves on to the next MX"""
    c = certs()
    port = common_port("127.0.0.21", "127.0.0.22")
    # mx1 shows a certificate for mx.test: wrong name for mx1.route.example
    bad = t.sink("tls", host="127.0.0.21", port=port,
                 cert=os.path.join(c, "server.crt"),
                 key=os.path.join(c, "server.key"))
    good = t.sink("tls", host="127.0.0.22", port=port,
                  cert=os.path.join(c, "mx-route.crt"),
                  key=os.path.join(c, "mx-route.key"))
    resolver, _ = dns_server(t, SPEC)
    a = t.aval(resolver=resolver, transport_lines=[
        "route.example\tsmtp route.example:%d" % port,
    ], extra_conf=["tls-policy {", "\troute.example\tverify ca \"%s\"" %
                   os.path.join(c, "ca.crt"), "}"]).start()
    smtp_send(a.port, "s@client.test", ["u@route.example"],
              make_message("verify-mx"))
    st, line = outcome(a, "u@route.example")
    check(st == "sent" and "mx2.route.example" in line and
          "verified=yes" in line, line)
    check("hostname mismatch" in a.log() and "trying the next address" in
          a.log(), "the refused MX 10 has no log line")
    check(sum(x["mail"] for x in bad.conns) == 0,
          "MX 10 with the wrong name saw a MAIL command")
    check(good.count() == 1, "MX 20 has %d" % good.count())


def spki_sha256(crt):
    """The 3 1 1 TLSA data of a certificate: SHA-256 of its SPKI, hex"""
    import hashlib
    import subprocess
    pub = subprocess.run(["openssl", "x509", "-in", crt, "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub, capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


@test("route_dane_tlsa_from_signed_dns_decides", timeout=150)
def t_dane(t):
    """With a validating resolver, the default may becomes dane where a
    signed zone publishes TLSA records: a matching DANE-EE record
    delivers (verified=dane-ee); a host whose record matches nothing is
    skipped (4.7.5, no MAIL reaches it) for the next MX; TLSA in an
    unsigned zone is ignored; a TLSA lookup that fails for a signed
    host keeps the mail from that host (4.7.5)"""
    c = certs()
    port = common_port("127.0.0.21", "127.0.0.22")
    good_crt = os.path.join(c, "mx-route.crt")
    good = t.sink("tls", host="127.0.0.22", port=port, cert=good_crt,
                  key=os.path.join(c, "mx-route.key"))
    bad = t.sink("tls", host="127.0.0.21", port=port,
                 cert=os.path.join(c, "server.crt"),
                 key=os.path.join(c, "server.key"))
    h = spki_sha256(good_crt)
    wrong = "00" * 32
    spec = """
zone dane.example signed
@	MX 10 mx2
mx2	A 127.0.0.22
_{p}._tcp.mx2	TLSA 3 1 1 {h}
zone skip.example signed
@	MX 10 mx1
@	MX 20 mx2
mx1	A 127.0.0.21
mx2	A 127.0.0.22
_{p}._tcp.mx1	TLSA 3 1 1 {w}
_{p}._tcp.mx2	TLSA 3 1 1 {h}
zone plain.example
@	MX 10 mx1
mx1	A 127.0.0.21
_{p}._tcp.mx1	TLSA 3 1 1 {w}
zone temp.example signed
@	MX 10 mx1
mx1	A 127.0.0.21
_{p}._tcp.mx1	TXT "here, so the NSEC of mx1 does not deny the TLSA name"
servfail _{p}._tcp.mx1.temp.example
""".format(p=port, h=h, w=wrong)
    # temp.example's TXT at the TLSA name is there for libunbound's
    # aggressive NSEC (RFC 8198): without it the NSEC that proved mx1 has
    # no AAAA would also deny the TLSA name, from the cache, and the
    # refusal below would never be asked for.
    resolver, anchors = dns_server(t, spec)
    domains = ("dane.example", "skip.example", "plain.example",
               "temp.example")
    a = t.aval(resolver=resolver, trust_anchor=anchors, transport_lines=[
        "%s\tsmtp %s:%d" % (d, d, port) for d in domains]).start()
    wait_until(lambda: "DNSSEC validates" in a.log(), 30, 0.1,
               "the probe saying the resolver validates")
    for d in domains:
        smtp_send(a.port, "s@client.test", ["u@%s" % d], make_message(d))
    st, line = outcome(a, "u@dane.example")
    check(st == "sent" and "policy=dane" in line and
          "verified=dane-ee" in line, "dane.example: %s" % line)
    st, line = outcome(a, "u@skip.example")
    check(st == "sent" and "mx2.skip.example" in line and
          "verified=dane-ee" in line, "skip.example: %s" % line)
    check(re.search(r"relay=mx1\.skip\.example\[127\.0\.0\.21\]:%d, .*DANE"
                    % port, a.log()), "the host whose TLSA matched nothing "
          "has no 'trying the next' line")
    st, line = outcome(a, "u@plain.example")
    check(st == "sent" and "policy=may" in line,
          "unsigned TLSA must be ignored: %s" % line)
    st, line = outcome(a, "u@temp.example")
    check(st == "deferred" and "dsn=4.7.5" in line and
          "TLSA lookup for" in line, "temp.example: %s" % line)
    # the bad sink got plain.example's message, and no MAIL from the others
    check(bad.count() == 1, "mx1 (wrong TLSA) stored %d" % bad.count())
    check(good.count() == 2, "mx2 stored %d" % good.count())
