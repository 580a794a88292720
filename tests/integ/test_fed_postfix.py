"""
test_fed_postfix.py - a federation member running Postfix, set up as
docs/joining.md says, and a member running aval: mail both ways over
mutually verified TLS

The federation is made with aval-ca (fed.py): "uni-a" (a.example, MX
mx.a.example) runs aval, "uni-p" (p.example, MX mx.p.example, network
127.0.2.0/24) runs a private Postfix (Debian's package, its own main.cf,
master.cf, queue and log in a folder of the test, smtpd on a free
loopback port; never the system's instance or /etc/postfix). Postfix's
configuration is the two fragments docs/joining.md marks as tested, cut
out of the document itself (so the document cannot drift from what was
tested; only fed_dir is pointed at the test's folder), plus the lines a
test instance needs (queue, log, ports, a virtual mailbox for p.example).
Its tables are written by tools/aval-fed-postfix from the bundle.

DNS. Both MTAs find each other by MX records served by the harness's
dns_server() (tests/dns/dnsserver). aval takes the server's port in its
resolver setting. Postfix resolves with the C library's resolver, which
reads /etc/resolv.conf and speaks to port 53 only; no Postfix parameter
names a resolver, and neither /etc/resolv.conf nor /etc/hosts may be
touched. So Postfix is started in a mount namespace of its own (unshare
-m, private propagation), where a resolv.conf of the test is bind-mounted
over /etc/resolv.conf: only that Postfix's processes see it, and the
machine's file is never written. Its nameserver is a small relay on
127.53.X.Y port 53 (a free address of 127/8) that forwards each query to
the dnsserver. Postfix thus makes its real MX and A lookups, and reaches
aval on aval's port by smtp_tcp_port. The other way round, a transport
entry "smtp:[127.0.0.1]:PORT", was not taken: it would change the key
the TLS policy table is looked up with to "[127.0.0.1]:PORT", so
neither the tool's tables nor MX lookups would be what was tested.

What is checked: (1) aval -> Postfix: aval's line says policy=federation,
verified=federation, trust=federation:uni-p; Postfix logs a Trusted TLS
connection from aval (aval's client certificate verified against the
federation CA) and the message is in Postfix's mailbox, its Received
header naming the client certificate as verified. (2) Postfix -> aval:
Postfix logs a Verified TLS connection to mx.a.example, aval logs
trust=federation:uni-p and writes "federation member uni-p" into
Received, with no downgrade mark. (3) uni-p's certificate revoked in a
new bundle: Postfix cannot know (no CRLs), sends as before; aval logs
federation=not-verified, reason=revoked, accepts the message and marks
it as a possible downgrade; aval-fed-postfix reports our own certificate
revoked. (4) The bundle expired (aval-fed-postfix under faketime):
member mail waits in Postfix's queue with the tool's reason (and smtpd
answers RCPT with 450), and no connection reaches aval.

A second test runs aval-fed-postfix alone on bundles it must refuse
(tampered, another CA's, a rollback, an expired one over a good one),
each time keeping the tables of the last good bundle, and on a
suspended member and a replaced federation CA.
"""

import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

from harness import (REPO, SLOW, Fail, Skip, check, wait_until, test,
                     make_message, smtp_send, free_port, dns_server,
                     maildir_files)
from fed import Fed

DOC = os.path.join(REPO, "docs", "joining.md")
TOOL = os.path.join(REPO, "tools", "aval-fed-postfix")

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
virtual   unix  -       n       n       -       -       virtual
"""


def doc_fragment(name):
    """the fenced block after docs/joining.md's "tested by ...: name"
    marker"""
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"<!-- tested by tests/integ/test_fed_postfix\.py: %s -->"
                  r"\s*```\n(.*?)\n```" % re.escape(name), text, re.S)
    if not m:
        raise Fail("docs/joining.md has no tested %s fragment" % name)
    return m.group(1)


class DnsRelay:
    """UDP and TCP on a free 127.53.x.y port 53, each query forwarded to
    the dnsserver at 127.0.0.1:upstream"""

    def __init__(self, t, upstream):
        self.up = upstream
        self.stopped = False
        self.queries = 0
        for i in range(64):
            addr = "127.53.%d.%d" % ((os.getpid() + i * 7) % 256,
                                     1 + (int(time.time() * 1000) + i) % 254)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                u.bind((addr, 53))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, 53))
                s.listen(16)
                break
            except OSError:
                u.close()
                s.close()
        else:
            raise Skip("no free 127.53.x.y address for port 53")
        self.addr, self.udp, self.tcp = addr, u, s
        u.settimeout(0.5)
        s.settimeout(0.5)
        for f in (self.serve_udp, self.serve_tcp):
            threading.Thread(target=f, daemon=True).start()
        t.cleanups.append(self.stop)

    def serve_udp(self):
        while not self.stopped:
            try:
                q, peer = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            threading.Thread(target=self.answer_udp, args=(q, peer),
                             daemon=True).start()

    def answer_udp(self, q, peer):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            try:
                c.sendto(q, ("127.0.0.1", self.up))
                r, _ = c.recvfrom(65535)
                self.udp.sendto(r, peer)
            except OSError:
                pass

    def serve_tcp(self):
        while not self.stopped:
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            threading.Thread(target=self.answer_tcp, args=(conn,),
                             daemon=True).start()

    def answer_tcp(self, conn):
        def read(sock, n):
            b = b""
            while len(b) < n:
                x = sock.recv(n - len(b))
                if not x:
                    raise OSError("closed")
                b += x
            return b
        try:
            with conn, socket.create_connection(("127.0.0.1", self.up),
                                                5) as c:
                conn.settimeout(5)
                n = int.from_bytes(read(conn, 2), "big")
                c.sendall(n.to_bytes(2, "big") + read(conn, n))
                m = int.from_bytes(read(c, 2), "big")
                conn.sendall(m.to_bytes(2, "big") + read(c, m))
        except OSError:
            pass

    def stop(self):
        self.stopped = True
        self.udp.close()
        self.tcp.close()


class MemberPostfix:
    """uni-p's Postfix: the doc's fragments with fed_dir in our folder,
    in a mount namespace whose /etc/resolv.conf names the relay"""

    def __init__(self, t, port, aval_port, nameserver):
        if shutil.which("postfix") is None:
            raise Skip("no postfix (Debian's postfix package)")
        if shutil.which("unshare") is None or subprocess.run(
                ["unshare", "-m", "--propagation", "private", "true"],
                capture_output=True).returncode != 0:
            raise Skip("unshare -m is not permitted here: Postfix cannot "
                       "get a resolv.conf of its own")
        self.t, self.port = t, port
        # Its unix sockets live under the queue: a short path (sun_path
        # holds 108 bytes), removed at teardown.
        d = tempfile.mkdtemp(prefix="avalpf-", dir="/tmp")
        os.chmod(d, 0o755)
        self.dir = d
        self.etc = os.path.join(d, "etc")
        self.queue = os.path.join(d, "queue")
        self.data = os.path.join(d, "data")
        self.mail = os.path.join(d, "mail")
        self.fed_dir = os.path.join(d, "federation")
        self.maillog = os.path.join(d, "maillog")
        self.resolv = os.path.join(d, "resolv.conf")
        for p in (self.etc, self.queue, self.data, self.mail, self.fed_dir):
            os.makedirs(p, exist_ok=True)
        shutil.chown(self.data, "postfix", "postfix")
        os.chmod(self.data, 0o700)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        with open(self.resolv, "w") as f:
            f.write("nameserver %s\noptions timeout:2 attempts:2\n"
                    % nameserver)
        site = [
            "# the test instance's own lines",
            "compatibility_level = 3.6",
            "queue_directory = %s" % self.queue,
            "data_directory = %s" % self.data,
            "maillog_file = %s" % self.maillog,
            "maillog_file_prefixes = %s" % d,
            "myhostname = mx.p.example",
            "mydomain = p.example",
            "myorigin = p.example",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "mydestination =",
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, "
            "reject_unauth_destination",
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "virtual_mailbox_domains = p.example",
            "virtual_mailbox_base = %s" % self.mail,
            "virtual_mailbox_maps = inline:{ u@p.example=p.example/u/ }",
            "virtual_uid_maps = static:%d" % nobody.pw_uid,
            "virtual_gid_maps = static:%d" % nobody.pw_gid,
            # aval listens on a port of its own; uni-p's network
            "smtp_tcp_port = %d" % aval_port,
            "smtp_bind_address = 127.0.2.1",
            "smtp_tls_security_level = may",
            "biff = no",
            "",
        ]
        frag = doc_fragment("main.cf")
        frag, n = re.subn(r"(?m)^fed_dir = .*$", "fed_dir = %s"
                          % self.fed_dir, frag)
        check(n == 1, "the doc's main.cf fragment does not set fed_dir once")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("\n".join(site) + "\n" + frag + "\n")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=port) + doc_fragment("master.cf")
                    + "\n")
        t.cleanups.append(self.stop)

    def install(self, ca, crt, key):
        for src, name in ((ca, "ca.crt"), (crt, "mta.crt"), (key, "mta.key")):
            shutil.copy(src, os.path.join(self.fed_dir, name))
        os.chmod(os.path.join(self.fed_dir, "mta.key"), 0o600)

    def tool(self, bundle, fake=None, reload=True):
        """aval-fed-postfix as the doc runs it, on this instance:
        (exit status, output)"""
        argv = [TOOL, "-d", self.fed_dir, "--self", "uni-p",
                "--bundle-file", bundle, "--config-directory", self.etc]
        if reload:
            argv.append("--reload")
        if fake:
            argv = [shutil.which("faketime"), "-f", fake] + argv
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=60 * SLOW)
        out = r.stdout + r.stderr
        with open(os.path.join(self.t.dir, "aval-fed-postfix.log"), "a") as f:
            f.write("$ %s\n%s(exit %d)\n" % (" ".join(argv), out,
                                             r.returncode))
        return r.returncode, out

    def in_namespace(self, argv):
        """argv run where /etc/resolv.conf is ours: its output (and the
        exit status, 0 expected)"""
        r = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"',
             "sh", self.resolv] + argv,
            capture_output=True, text=True, timeout=60 * SLOW,
            env=dict(os.environ, MAIL_CONFIG=self.etc))
        out = r.stdout + r.stderr
        if r.returncode != 0:
            raise Fail("%s: exit %d: %s\n%s" % (" ".join(argv), r.returncode,
                                                out, self.log()[-2000:]))
        return out

    def start(self):
        self.run("check")
        self.in_namespace(["postfix", "-c", self.etc, "start"])
        wait_until(self.listening, 30 * SLOW, 0.1,
                   "postfix listening on 127.0.0.1:%d" % self.port)
        return self

    def run(self, verb):
        r = subprocess.run(["postfix", "-c", self.etc, verb],
                           capture_output=True, text=True, timeout=60 * SLOW)
        if r.returncode != 0:
            raise Fail("postfix %s: %s\n%s" % (verb, r.stdout + r.stderr,
                                               self.log()[-2000:]))

    def listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1):
                return True
        except OSError:
            return False

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, regex, what, timeout=30):
        return wait_until(lambda: re.search(regex, self.log()),
                          timeout * SLOW, 0.1, what)

    def mailbox(self, local, token):
        d = os.path.join(self.mail, "p.example", local, "new")

        def find():
            try:
                names = sorted(os.listdir(d))
            except OSError:
                return None
            for n in names:
                with open(os.path.join(d, n), "rb") as f:
                    b = f.read().decode("utf-8", "replace")
                if token in b:
                    return b
            return None
        return wait_until(find, 30 * SLOW, 0.1, "%s in Postfix's mailbox "
                          "for %s@p.example" % (token, local))

    def stop(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"],
                       capture_output=True, timeout=60)
        try:				# keep the log beside the test's
            shutil.copy(self.maillog, os.path.join(self.t.dir,
                                                   "postfix.maillog"))
            for n in ("transport", "tls_policy", "members"):
                shutil.copy(os.path.join(self.fed_dir, n),
                            os.path.join(self.t.dir, "postfix-" + n))
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def aval_message(a, local, token):
    def find():
        for f in maildir_files(a, "a.example", local):
            with open(f, "rb") as fh:
                b = fh.read().decode("utf-8", "replace")
            if token in b:
                return b
        return None
    return wait_until(find, 30 * SLOW, 0.1, "%s in aval's Maildir for "
                      "%s@a.example" % (token, local))


def via_postfix(pf, rcpt, token):
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30 * SLOW) as c:
        c.ehlo("client.p.example")
        c.sendmail("s@p.example", [rcpt], make_message(token))


@test("fed_postfix_member_both_ways_as_joining_md_says", timeout=240,
      root_only=True)
def t_fed_postfix(t):
    fed = Fed(t)
    fed.member("uni-a", ["a.example"], ["mx.a.example"])
    fed.member("uni-p", ["p.example"], ["mx.p.example"], ["127.0.2.0/24"])
    a_crt, a_key, _ = fed.cert("uni-a", ["mx.a.example"])
    p_crt, p_key, p_serial = fed.cert("uni-p", ["mx.p.example"])
    v1 = fed.publish()
    resolver, _ = dns_server(t, "zone a.example\n@\tMX 10 mx\nmx\tA 127.0.0.1\n"
                             "zone p.example\n@\tMX 10 mx\nmx\tA 127.0.0.1\n")
    relay = DnsRelay(t, int(resolver.split("@")[1]))

    bundle_a = os.path.join(t.dir, "bundle-a.cms")
    shutil.copy(v1, bundle_a)
    pf_port = free_port()
    # relay-networks only 127.0.0.1: Postfix, a member, comes from
    # 127.0.2.1, and our own clients are never placed at a member.
    a = t.aval(hostname="mx.a.example", resolver=resolver,
               local_domains="localhost a.example",
               relay_networks="127.0.0.1/32",
               transport_lines=["p.example\tsmtp p.example:%d" % pf_port],
               extra_conf=fed.conf(bundle_a, a_crt, a_key))
    pf = MemberPostfix(t, pf_port, a.port, relay.addr)
    pf.install(fed.ca, p_crt, p_key)
    rc, out = pf.tool(v1, reload=False)
    check(rc == 0 and "bundle serial 1" in out,
          "aval-fed-postfix, first run: %s" % out)
    with open(os.path.join(pf.fed_dir, "tls_policy")) as f:
        pol = f.read()
    check("a.example\tsecure match=mx.a.example protocols=>=TLSv1.2" in pol
          and "p.example" not in pol, "tls_policy:\n%s" % pol)
    pf.start()
    a.start()
    # What docs/joining.md says to look at after configuring aval.
    r = a.ctl("federation")
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0 and re.search(r"bundle: +serial 1, from file", out)
          and re.search(r"(?m)^uni-p +active", out),
          "avalctl federation:\n%s%s" % (out, r.stderr.decode()))
    with open(os.path.join(t.dir, "avalctl-federation.txt"), "w") as f:
        f.write(out)

    # (1) aval -> Postfix
    t0 = time.monotonic()
    smtp_send(a.port, "s@a.example", ["u@p.example"], make_message("a2p"))
    m = pf.mailbox("u", "a2p")
    line = wait_until(lambda: re.search(r"to=<u@p\.example>.*status=sent.*",
                                        a.log()), 30 * SLOW, 0.1,
                      "aval's delivery line")
    line = line.group(0)
    for want in ("policy=federation", "verified=federation",
                 "trust=federation:uni-p"):
        check(want in line, "aval -> Postfix: no %s in: %s" % (want, line))
    pf.wait_log(r"Trusted TLS connection established from \S+\[127\.0\.0\.1\]",
                "Postfix verifying aval's client certificate")
    check(re.search(r'\(Client CN "mx\.a\.example", Issuer "Test Federation" '
                    r'\(verified OK\)\)', m),
          "Postfix's Received does not show aval's verified client "
          "certificate:\n%s" % m[:800])
    t.note("aval -> Postfix: %.1fs" % (time.monotonic() - t0))

    # (2) Postfix -> aval, over real MX lookups in Postfix's namespace
    t0 = time.monotonic()
    via_postfix(pf, "u@a.example", "p2a")
    m = aval_message(a, "u", "p2a")
    pf.wait_log(r"postfix/fed/smtp\[\d+\]: Verified TLS connection "
                r"established to mx\.a\.example\[127\.0\.0\.1\]:%d" % a.port,
                "Postfix verifying aval (mx.a.example)")
    pf.wait_log(r"to=<u@a\.example>, relay=mx\.a\.example\[127\.0\.0\.1\]:%d"
                r".*status=sent" % a.port, "Postfix's delivery line")
    check(re.search(r"client=\[127\.0\.2\.1\].*trust=federation:uni-p",
                    a.log()),
          "aval did not log Postfix as the verified peer uni-p")
    check("federation member uni-p" in m and "X-Aval-Federation" not in m,
          "aval's Received for Postfix's mail:\n%s" % m[:800])
    check(relay.queries > 0, "Postfix found mx.a.example without asking "
          "the test's DNS server")
    t.note("Postfix -> aval: %.1fs" % (time.monotonic() - t0))
    # The doc's check by hand, in Postfix's namespace (for its DNS).
    out = pf.in_namespace(["posttls-finger", "-c", "-l", "secure", "-F",
                           os.path.join(pf.fed_dir, "ca.crt"),
                           "a.example:%d" % a.port, "mx.a.example"])
    check(re.search(r"Verified TLS connection established to "
                    r"mx\.a\.example\[127\.0\.0\.1\]:%d" % a.port, out),
          "posttls-finger as docs/joining.md gives it:\n%s" % out)

    # (3) uni-p's certificate revoked: aval refuses it as a peer, Postfix
    # cannot tell, and the tool sees our own certificate revoked.
    fed.revoke(p_serial)
    v2 = fed.publish()
    shutil.copy(v2, bundle_a + ".tmp")
    os.rename(bundle_a + ".tmp", bundle_a)
    a.signal(signal.SIGHUP)
    a.wait_log(r"loaded bundle serial 2 from file", timeout=30 * SLOW)
    rc, out = pf.tool(v2)
    check(rc == 1 and re.search(r"our certificate .* does not verify.*"
                                r"revoked", out),
          "aval-fed-postfix with our certificate revoked: %s" % out)
    via_postfix(pf, "u@a.example", "p2a-revoked")
    m = aval_message(a, "u", "p2a-revoked")
    a.wait_log(r"client=\[127\.0\.2\.1\].*federation=not-verified, "
               r"reason=revoked")
    check("X-Aval-Federation: possible downgrade; member=uni-p" in m and
          "federation member" not in m,
          "revoked: aval's copy:\n%s" % m[:800])

    # (4) The bundle expired: member mail waits in Postfix, no connection.
    if shutil.which("faketime") is None:
        t.note("no faketime: the expired-bundle hold was not tried")
        return
    rc, out = pf.tool(v2, fake="+9d")
    check(rc == 1 and "expired" in out, "aval-fed-postfix at +9d: %s" % out)
    with open(os.path.join(pf.fed_dir, "transport")) as f:
        tr = f.read()
    check(re.search(r"(?m)^a\.example\tretry:4\.7\.5 federation bundle "
                    r"serial 2 expired at ", tr), "transport:\n%s" % tr)
    time.sleep(1)			# postfix reload: the new children
    before = len(re.findall(r"client=\[127\.0\.2\.1\]", a.log()))
    # Over SMTP, smtpd answers RCPT for a retry: destination with 450:
    # the client keeps the message.
    try:
        via_postfix(pf, "v@a.example", "p2a-held")
        raise Fail("Postfix took member mail while the bundle was expired")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients["v@a.example"]
        check(code == 450 and b"4.7.5" in text and
              b"federation bundle serial 2 expired at" in text,
              "RCPT while held: %d %r" % (code, text))
    # Mail already in Postfix's queue (here: local submission) waits there.
    r = subprocess.run(["sendmail", "-C", pf.etc, "-f", "s@p.example",
                        "w@a.example"], input=make_message("p2a-queued"),
                       capture_output=True, timeout=30 * SLOW)
    check(r.returncode == 0, "Postfix's sendmail: %r" % r.stderr)
    pf.wait_log(r"to=<w@a\.example>, relay=none, .*dsn=4\.7\.5, "
                r"status=deferred \(federation bundle serial 2 expired at "
                r".*member mail waits\)", "Postfix holding queued member mail")
    time.sleep(1)
    check(len(re.findall(r"client=\[127\.0\.2\.1\]", a.log())) == before,
          "Postfix connected to aval while the bundle was expired")


@test("fed_postfix_tool_refuses_what_aval_refuses", timeout=120)
def t_fed_postfix_tool(t):
    """aval-fed-postfix alone (no Postfix: --no-postmap): the bundle
    checks docs/joining.md promises, each refusal keeping the tables of
    the last good bundle"""
    fed = Fed(t, fake="-30d")
    fed.member("uni-a", ["a.example"], ["mx.a.example"])
    fed.member("uni-b", ["b.example", "b2.example"],
               ["mx1.b.example", "mx2.b.example"])
    fed.member("uni-p", ["p.example"], ["mx.p.example"])
    v1 = fed.publish()
    v2 = fed.publish()
    old = fed.publish(fake="-10d", days=1)	# serial 3, long expired
    fed.run("member", "suspend", "uni-b")
    v4 = fed.publish()
    other = Fed(t, name="Other Federation", sub="otherca")
    other.member("uni-p", ["p.example"], ["mx.p.example"])
    o1 = other.publish()
    d = t.subdir("postfix-federation")
    shutil.copy(fed.ca, os.path.join(d, "ca.crt"))

    def run(bundle, *extra):
        r = subprocess.run([TOOL, "-d", d, "--self", "uni-p", "--no-postmap",
                            "--bundle-file", bundle] + list(extra),
                           capture_output=True, text=True, timeout=60 * SLOW)
        return r.returncode, r.stdout + r.stderr

    def tables():
        with open(os.path.join(d, "transport")) as f:
            tr = f.read()
        with open(os.path.join(d, "tls_policy")) as f:
            return tr, f.read()

    rc, out = run(v1)
    tr, pol = tables()
    check(rc == 0 and "serial 1" in tr, "v1: %s\n%s" % (out, tr))
    for want in ("a.example\tfed:", "b.example\tfed:", "b2.example\tfed:"):
        check(want in tr, "v1: no %r in transport:\n%s" % (want, tr))
    check("b2.example\tsecure match=mx1.b.example:mx2.b.example "
          "protocols=>=TLSv1.2" in pol and "p.example" not in tr + pol,
          "v1 tls_policy:\n%s" % pol)

    with open(v2, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0x40
    bad = os.path.join(t.dir, "tampered.cms")
    with open(bad, "wb") as f:
        f.write(data)
    for bundle, why in ((bad, r"refused: the signature does not verify"),
                        (o1, r"refused: the signature does not verify")):
        rc, out = run(bundle)
        check(rc == 1 and re.search(why, out) and "keeping serial 1" in out
              and "serial 1" in tables()[0], "%s: %s" % (bundle, out))
    rc, out = run(v2)
    check(rc == 0 and "serial 2" in tables()[0], "v2: %s" % out)
    rc, out = run(v1)
    check(rc == 1 and re.search(r"serial 1 is older than 2.*rollback", out)
          and "serial 2" in tables()[0], "rollback: %s" % out)
    rc, out = run(old)
    check(rc == 1 and "refused: it expired at" in out and
          "serial 2" in tables()[0], "an expired bundle over a good one: %s"
          % out)
    rc, out = run(v4)
    tr, pol = tables()
    check(rc == 0 and "serial 4" in tr and "b.example" not in tr + pol and
          "a.example\tfed:" in tr, "uni-b suspended: %s\n%s" % (out, tr))
    # The federation's CA replaced (policy 12.2): its serials start again.
    shutil.copy(other.ca, os.path.join(d, "ca.crt"))
    rc, out = run(o1)
    check(rc == 1 and "moved to" in out and "bundle serial 1" in out and
          "Other Federation" in tables()[0], "a new CA: %s" % out)
    check(os.path.exists(os.path.join(d, "bundle.cms.forgotten")),
          "the old federation's bundle was not set aside")
