"""
test_interop.py - aval and a private Postfix, each way, over mutually
authenticated TLS

A real Postfix (Debian's package, run as a private instance with its own
main.cf, queue and log under the test's folder, smtpd on a free loopback
port, never the system's /etc/postfix) receives from aval with TLS
required and a client certificate asked for and checked, and sends to
aval with smtp_tls_security_level = verify and its own client
certificate. Both sides' logs must say the peer was verified: this is the
link a federation member running Postfix has with an aval member.
"""

import os
import re
import shutil
import smtplib
import subprocess
import tempfile

from harness import (SLOW, Skip, check, wait_until, test, make_message,
                     smtp_send, certs, free_port, maildir_files)

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
"""


class PrivatePostfix:
    """A Postfix instance of the test's own, relaying everything to
    relayhost; stopped at teardown"""

    def __init__(self, t, relayhost, extra):
        if os.geteuid() != 0:
            raise Skip("a private Postfix instance needs root")
        if shutil.which("postfix") is None:
            raise Skip("no postfix (Debian's postfix package)")
        self.t = t
        self.port = free_port()
        # Its unix sockets live under the queue: a short path of its own
        # (sun_path holds 108 bytes), removed at teardown.
        d = tempfile.mkdtemp(prefix="avalpf-", dir="/tmp")
        os.chmod(d, 0o755)
        self.dir = d
        self.etc = os.path.join(d, "etc")
        self.queue = os.path.join(d, "queue")
        self.data = os.path.join(d, "data")
        self.maillog = os.path.join(d, "maillog")
        for p in (self.etc, self.queue, self.data):
            os.makedirs(p, exist_ok=True)
        shutil.chown(self.data, "postfix", "postfix")
        os.chmod(self.data, 0o700)
        main = [
            "compatibility_level = 3.6",
            "queue_directory = %s" % self.queue,
            "data_directory = %s" % self.data,
            "maillog_file = %s" % self.maillog,
            "maillog_file_prefixes = %s" % d,
            "myhostname = postfix.interop.test",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "mydestination =",
            "relayhost = %s" % relayhost,
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, reject",
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "smtp_dns_support_level = disabled",
            "smtp_tls_loglevel = 1",
            "smtpd_tls_loglevel = 1",
            "biff = no",
        ] + extra
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("\n".join(main) + "\n")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        t.cleanups.append(self.stop)
        self.run("check")
        self.run("start")
        wait_until(self.listening, 30 * SLOW, 0.1,
                   "postfix listening on 127.0.0.1:%d" % self.port)

    def run(self, verb):
        r = subprocess.run(["postfix", "-c", self.etc, verb],
                           capture_output=True, text=True, timeout=60 * SLOW)
        if r.returncode != 0:
            raise AssertionError("postfix %s: %s\n%s" % (
                verb, r.stdout + r.stderr, self.log()[-2000:]))

    def listening(self):
        import socket
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", self.port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"],
                       capture_output=True, timeout=60)
        try:				# keep the log beside the test's
            shutil.copy(self.maillog, os.path.join(self.t.dir,
                                                   "postfix.maillog"))
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def pem(name):
    c = certs()
    return os.path.join(c, name + ".crt"), os.path.join(c, name + ".key")


@test("interop_aval_to_postfix_verified_with_client_certificate",
      timeout=120, root_only=True)
def t_aval_to_postfix(t):
    """aval verifies Postfix's certificate (verify, the test CA, the name
    mx.test) and presents its client certificate, which Postfix checks
    against the same CA ("Trusted TLS connection ... from")"""
    ca = os.path.join(certs(), "ca.crt")
    crt, key = pem("server")
    ccrt, ckey = pem("client")
    sink = t.sink("py")
    pf = PrivatePostfix(t, "[127.0.0.1]:%d" % sink.port, [
        "smtpd_tls_security_level = encrypt",
        "smtpd_tls_cert_file = %s" % crt,
        "smtpd_tls_key_file = %s" % key,
        "smtpd_tls_ask_ccert = yes",
        "smtpd_tls_CAfile = %s" % ca,
        "smtpd_tls_received_header = yes",
    ])
    a = t.aval(transport_lines=["pf.example\tsmtp [127.0.0.1]:%d" % pf.port],
               tls_lines=['client-certificate "%s" "%s"' % (ccrt, ckey)],
               extra_conf=["tls-policy {", '\tpf.example\tverify ca "%s" '
                           'match mx.test' % ca, "}"]).start()
    smtp_send(a.port, "s@client.test", ["u@pf.example"],
              make_message("aval-to-postfix"))
    sink.wait_count(1, timeout=60 * SLOW)
    line = wait_until(lambda: re.search(r"to=<u@pf\.example>.*status=sent.*",
                                        a.log()), 30, 0.1, "aval's line")
    check("verified=yes" in line.group(0) and "policy=verify" in line.group(0),
          "aval did not verify Postfix: %s" % line.group(0))
    log = pf.log()
    check(re.search(r"Trusted TLS connection established from "
                    r"localhost\[127\.0\.0\.1\]", log) or
          re.search(r"Trusted TLS connection established from \S+\[127\.0\.0\.1\]",
                    log),
          "Postfix did not verify aval's client certificate:\n%s" % log[-1500:])
    _, _, _, data = sink.messages()[0]
    check(b'Client CN "client.test"' in data and b"verified OK" in data,
          "Postfix's Received header does not show the verified client "
          "certificate: %r" % data[:600])


@test("interop_postfix_to_aval_verified_with_client_certificate",
      timeout=120, root_only=True)
def t_postfix_to_aval(t):
    """Postfix sends with smtp_tls_security_level = verify (the test CA,
    match mx.test) and a client certificate; aval logs it verified"""
    ca = os.path.join(certs(), "ca.crt")
    ccrt, ckey = pem("client")
    a = t.aval(tls_lines=['client-ca "%s"' % ca]).start()
    dest = "[127.0.0.1]:%d" % a.port
    pf = PrivatePostfix(t, dest, [
        "smtp_tls_security_level = verify",
        "smtp_tls_CAfile = %s" % ca,
        "smtp_tls_policy_maps = inline:{ {%s = verify match=mx.test} }"
        % dest,
        "smtp_tls_cert_file = %s" % ccrt,
        "smtp_tls_key_file = %s" % ckey,
    ])
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=30 * SLOW) as c:
        c.sendmail("s@client.test", ["someone@aval.test"],
                   make_message("postfix-to-aval"))
    wait_until(lambda: maildir_files(a, "aval.test", "someone"), 60 * SLOW,
               0.1, "the message in aval's Maildir")
    log = pf.log()
    check(re.search(r"Verified TLS connection established to "
                    r"127\.0\.0\.1\[127\.0\.0\.1\]:%d" % a.port, log),
          "Postfix did not verify aval:\n%s" % log[-1500:])
    check(re.search(r"client-cert=verified", a.log()),
          "aval did not log Postfix's client certificate as verified:\n%s"
          % a.log()[-1500:])
