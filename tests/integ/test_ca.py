"""
test_ca.py - aval-ca, the federation operator's tool, through a life cycle

The real binary runs in a temporary folder: init, members, a member's
request, sign, a CSR naming another member's host refused, revoke, crl,
publish. Its output is then checked independently with the openssl
command (verify, x509, crl, cms), never with aval-ca itself; and two runs
started at once are shown to be serialised by the folder's lock.
"""

import os
import re
import stat
import subprocess
import time

from harness import SLOW, ca, ca_bin, check, need_tool, run_tool, test


def openssl(*args):
    return run_tool([need_tool("openssl", "openssl")] + list(args))


def setup_federation(t):
    st = os.path.join(t.dir, "state")
    ca(t, st, "init", "--name", "Test Federation", "--crl-days", "10")
    ca(t, st, "member", "add", "uni-a", "--org", "University A",
       "--contact", "postmaster@a.example", "--domain", "a.example",
       "--mx", "mx1.a.example,mx2.a.example", "--net", "192.0.2.0/24",
       "--net", "2001:db8:a::/48")
    ca(t, st, "member", "add", "uni-b", "--org", "University \"B\"",
       "--contact", "pm@b.example", "--domain", "b.example",
       "--mx", "mx.b.example", "--net", "198.51.100.0/24",
       "--net", "10.20.0.0/16")
    return st


@test("ca_life_cycle_checked_with_openssl", timeout=120)
def t_ca_life_cycle(t):
    st = setup_federation(t)
    mode = stat.S_IMODE(os.stat(os.path.join(st, "ca.key")).st_mode)
    check(mode == 0o600, "ca.key has mode %o, not 600" % mode)
    cacrt = os.path.join(st, "ca.crt")
    rc, out = openssl("x509", "-in", cacrt, "-noout", "-text")
    check(rc == 0, "openssl x509 on ca.crt: %s" % out)
    check(re.search(r"Basic Constraints: critical\s+CA:TRUE", out),
          "CA is not CA:TRUE critical:\n%s" % out)
    check("Certificate Sign, CRL Sign" in out, "CA keyUsage:\n%s" % out)
    check("prime256v1" in out or "P-256" in out, "CA key is not P-256")
    check("Subject Key Identifier" in out and "Authority Key Identifier" in out,
          "CA has no SKI/AKI")

    # A name or network already taken is refused, naming the member.
    rc, out = ca(t, st, "member", "add", "uni-c", "--org", "C", "--contact",
                 "c@c.example", "--domain", "c.example", "--mx", "mx.b.example",
                 ok=False)
    check(rc != 0 and "uni-b" in out and "mx.b.example" in out,
          "a second member got mx.b.example: %d %s" % (rc, out))
    rc, out = ca(t, st, "member", "add", "uni-c", "--org", "C", "--contact",
                 "c@c.example", "--domain", "c.example", "--mx", "mx.c.example",
                 "--net", "10.20.30.0/24", ok=False)
    check(rc != 0 and "overlaps" in out, "overlapping network accepted: %s" % out)
    rc, out = ca(t, st, "member", "add", "uni-c", "--org", "C", "--contact",
                 "c", "--domain", "c..example", "--mx", "mx.c.example", ok=False)
    check(rc != 0 and "c..example" in out, "bad domain accepted: %s" % out)
    rc, out = ca(t, st, "member", "add", "uni-c", "--org", "C", "--contact",
                 "c", "--domain", "c.example", "--mx", "mx.c.example",
                 "--net", "10.9.0.1/16", ok=False)
    check(rc != 0 and "host bits" in out, "bad network accepted: %s" % out)

    # The member's side: key and CSR, no CA folder needed.
    req = os.path.join(t.dir, "member-a")
    ca(t, os.path.join(t.dir, "nowhere"), "request", "--mx", "mx1.a.example",
       "--mx", "mx2.a.example", "--out", req)
    mode = stat.S_IMODE(os.stat(os.path.join(req, "mta.key")).st_mode)
    check(mode == 0o600, "mta.key has mode %o, not 600" % mode)
    rc, out = openssl("req", "-in", os.path.join(req, "mta.csr"), "-noout",
                      "-verify", "-text")
    check(rc == 0 and "DNS:mx1.a.example, DNS:mx2.a.example" in out,
          "CSR: %s" % out)

    crt = os.path.join(t.dir, "a.crt")
    _, js = ca(t, st, "sign", os.path.join(req, "mta.csr"), "--member",
               "uni-a", "--out", crt, json_out=True)
    serial = js["serial"]
    check(re.fullmatch(r"[0-9A-F]{32}", serial), "serial %r is not 128 bits" % serial)
    for purpose in ("sslserver", "sslclient"):
        rc, out = openssl("verify", "-CAfile", cacrt, "-purpose", purpose, crt)
        check(rc == 0 and ": OK" in out, "verify %s: %s" % (purpose, out))
    rc, out = openssl("x509", "-in", crt, "-noout", "-text")
    check("TLS Web Server Authentication, TLS Web Client Authentication" in out,
          "EKU:\n%s" % out)
    check(re.search(r"Key Usage: critical\s+Digital Signature\s", out),
          "keyUsage:\n%s" % out)
    check(re.search(r"Basic Constraints: critical\s+CA:FALSE", out),
          "basicConstraints:\n%s" % out)
    check("DNS:mx1.a.example, DNS:mx2.a.example" in out and "IP Address" not in out,
          "SAN:\n%s" % out)
    rc, out = openssl("x509", "-in", crt, "-noout", "-dates")
    m = re.search(r"notAfter=(.*)", out)
    check(m is not None, out)

    # A CSR naming another member's host: refused, saying which and whose.
    reqb = os.path.join(t.dir, "member-evil")
    ca(t, st, "request", "--mx", "mx1.a.example", "--mx", "mx.b.example",
       "--out", reqb)
    rc, out = ca(t, st, "sign", os.path.join(reqb, "mta.csr"), "--member",
                 "uni-a", ok=False)
    check(rc != 0 and "mx.b.example" in out and "uni-b" in out,
          "CSR naming uni-b's host was not refused clearly: %d %s" % (rc, out))
    # Suspended members get nothing.
    ca(t, st, "member", "suspend", "uni-b")
    reqc = os.path.join(t.dir, "member-b")
    ca(t, st, "request", "--mx", "mx.b.example", "--out", reqc, "--rsa")
    rc, out = ca(t, st, "sign", os.path.join(reqc, "mta.csr"), "--member",
                 "uni-b", ok=False)
    check(rc != 0 and "suspended" in out, "suspended member got a certificate: %s" % out)
    ca(t, st, "member", "resume", "uni-b")
    crtb = os.path.join(t.dir, "b.crt")
    ca(t, st, "sign", os.path.join(reqc, "mta.csr"), "--member", "uni-b",
       "--out", crtb)
    rc, out = openssl("x509", "-in", crtb, "-noout", "-text")
    check(re.search(r"Digital Signature, Key Encipherment", out),
          "RSA certificate lacks keyEncipherment:\n%s" % out)

    # Revoke, CRL, and the openssl command sees the revocation.
    ca(t, st, "revoke", serial, "--reason", "keyCompromise")
    crl = os.path.join(t.dir, "crl.pem")
    ca(t, st, "crl", "--out", crl)
    rc, out = openssl("crl", "-in", crl, "-noout", "-text", "-CAfile", cacrt)
    check(rc == 0 and "verify OK" in out, "openssl crl: %s" % out)
    check("Version 2" in out and "CRL Number" in out and "Key Compromise" in out
          and serial in out and "Next Update" in out, "CRL:\n%s" % out)
    both = os.path.join(t.dir, "ca+crl.pem")
    with open(both, "w") as f:
        f.write(open(cacrt).read() + open(crl).read())
    rc, out = openssl("verify", "-crl_check", "-CAfile", both, crt)
    check(rc != 0 and "revoked" in out, "revoked cert still verifies: %s" % out)
    rc, out = openssl("verify", "-crl_check", "-CAfile", both, crtb)
    check(rc == 0, "unrevoked cert fails the CRL check: %s" % out)

    # Publish: the bundle verifies with openssl cms against the CA only.
    pub = os.path.join(t.dir, "pub")
    _, js = ca(t, st, "publish", "--out", pub, "--zone", "wl.fed.example",
               json_out=True)
    check(js["serial"] == 1 and js["members"] == 2, "publish said %r" % js)
    content = os.path.join(t.dir, "content.txt")
    rc, out = openssl("cms", "-verify", "-inform", "DER", "-binary", "-in",
                      os.path.join(pub, "bundle.cms"), "-CAfile", cacrt,
                      "-out", content)
    check(rc == 0 and "Verification successful" in out, "openssl cms: %s" % out)
    text = open(content).read()
    check(text.startswith("aval-federation-bundle 1\nfederation Test Federation\n"
                          "serial 1\n"), "bundle text starts:\n%s" % text[:200])
    for want in ("member uni-a\n", "mx mx2.a.example\n", "net 2001:db8:a::/48\n",
                 "-----BEGIN CERTIFICATE-----", "-----BEGIN X509 CRL-----"):
        check(want in text, "bundle lacks %r" % want)
    _, js = ca(t, st, "publish", "--out", pub, json_out=True)
    check(js["serial"] == 2, "second bundle has serial %r, not 2" % js["serial"])
    rc, out = ca(t, st, "publish", "--out", pub, "--days", "30", ok=False)
    check(rc != 0 and "outlive" in out, "bundle outliving its CRL: %s" % out)

    # The zone: RFC 5782 names, test entries, SOA/NS; checked by a zone
    # checker when one is installed.
    zone = open(os.path.join(pub, "wl.fed.example.zone")).read()
    for want in ("$ORIGIN wl.fed.example.", "IN\tSOA\t", "IN\tNS\t",
                 "2.0.0.127\tIN\tA\t127.0.0.2",
                 "7.2.0.192\tIN\tA\t127.0.0.2",
                 "*.20.10\tIN\tA\t127.0.0.2",
                 "*.a.0.0.0.8.b.d.0.1.0.0.2\tIN\tA\t127.0.0.2",
                 '7.2.0.192\tIN\tTXT\t"member uni-a (University A)"',
                 '\\"B\\"'):
        check(want in zone, "zone lacks %r" % want)
    check(len(re.findall(r"^\d+\.2\.0\.192\tIN\tA", zone, re.M)) == 256,
          "192.0.2.0/24 not listed address by address")
    for tool in ("named-checkzone", "nsd-checkzone"):
        p = subprocess.run(["sh", "-c", "command -v " + tool],
                           capture_output=True).stdout.strip()
        if p:
            rc, out = run_tool([p.decode(), "wl.fed.example",
                                os.path.join(pub, "wl.fed.example.zone")])
            check(rc == 0, "%s: %s" % (tool, out))

    # status and list speak JSON too.
    _, js = ca(t, st, "status", "--within", "400", json_out=True)
    check(any(r["serial"] == serial for r in js["revoked"]), "status: %r" % js)
    check(any(e["what"].startswith("certificate of") for e in js["expiring"]),
          "status shows no expiring certificate within 400 days: %r" % js)
    _, js = ca(t, st, "list", "--certs", json_out=True)
    check([m["id"] for m in js["members"]] == ["uni-a", "uni-b"], "list: %r" % js)
    check(len(js["certificates"]) == 2, "list --certs: %r" % js)
    # Removing a member revokes what it holds.
    _, out = ca(t, st, "member", "remove", "uni-b")
    check("revoked 1 certificate" in out, "remove: %s" % out)
    for cmd in ("init", "member", "list", "request", "sign", "revoke", "crl",
                "publish", "status"):
        rc, out = ca(t, st, cmd, "--help")
        check(rc == 0 and "usage: aval-ca" in out, "%s --help: %s" % (cmd, out))


@test("ca_concurrent_runs_are_serialised_by_the_lock", timeout=120)
def t_ca_lock(t):
    st = setup_federation(t)
    lock = os.path.join(st, "lock")
    # Hold the lock from here; an aval-ca run must wait for it.
    import fcntl
    fd = os.open(lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    argv = [ca_bin(), "-d", st, "member", "add", "uni-c", "--org", "C",
            "--contact", "c@c.example", "--domain", "c.example", "--mx",
            "mx.c.example"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0 * SLOW)
    check(p.poll() is None, "aval-ca did not wait for the lock")
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    out, err = p.communicate(timeout=30 * SLOW)
    check(p.returncode == 0, "after the lock: %s" % (out + err))
    check(b"waiting for another aval-ca run" in err, "no word of the wait: %r" % err)

    # Many runs at once, each adding a member: none lost, none torn.
    procs = []
    for i in range(8):
        procs.append(subprocess.Popen(
            [ca_bin(), "-d", st, "member", "add", "m%d" % i, "--org", "M%d" % i,
             "--contact", "c", "--domain", "m%d.example" % i, "--mx",
             "mx.m%d.example" % i, "--net", "203.0.113.%d/32" % i],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for p in procs:
        p.communicate(timeout=60 * SLOW)
        check(p.returncode == 0, "a concurrent member add failed")
    _, js = ca(t, st, "list", json_out=True)
    ids = [m["id"] for m in js["members"]]
    check(ids == sorted(["uni-a", "uni-b", "uni-c"] + ["m%d" % i for i in range(8)]),
          "after 8 concurrent adds the registry holds %r" % ids)
    leftovers = [f for f in os.listdir(st) if ".tmp." in f]
    check(not leftovers, "temporary files left: %r" % leftovers)
