"""
fed.py - a federation made with aval-ca, for the federation tests

Fed(t) runs the real aval-ca in a folder of the test: init, members,
each member's request and sign, revoke, publish. Certificates in the past
or the future are made the only honest way, by running aval-ca under
faketime (Debian's faketime), so aval-ca's own profile is what every test
certificate has.
"""

import json
import os
import shutil
import subprocess

from harness import BUILD, Fail, SANITIZE, SLOW, Skip, sanitizer_env


def _ca_bin():
    p = os.path.join(BUILD, "aval-ca")
    if not os.access(p, os.X_OK):
        raise Fail("%s is not built" % p)
    return p


class Fed:
    def __init__(self, t, name="Test Federation", crl_days=10, sub="fedca",
                 fake=None):
        self.t = t
        self.dir = t.subdir(sub)
        self.state = os.path.join(self.dir, "state")
        self.n = 0
        self.run("init", "--name", name, "--crl-days", str(crl_days),
                 fake=fake)
        self.ca = os.path.join(self.state, "ca.crt")
        self.cakey = os.path.join(self.state, "ca.key")

    def run(self, *args, fake=None, ok=True):
        argv = [_ca_bin(), "-d", self.state] + list(args)
        if fake is not None:
            ft = shutil.which("faketime")
            if ft is None:
                raise Skip("certificates in the past need Debian's faketime")
            argv = [ft, "-f", fake] + argv
        env = sanitizer_env()
        if fake is not None and SANITIZE:
            # libfaketime is preloaded ahead of the ASan runtime, which
            # refuses that order unless told it is fine here.
            env["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
        r = subprocess.run(argv, capture_output=True, timeout=60 * SLOW,
                           env=env)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        with open(os.path.join(self.dir, "aval-ca.log"), "a") as f:
            f.write("$ %s\n%s" % (" ".join(argv), out))
        if ok and r.returncode != 0:
            raise Fail("aval-ca %s: %s" % (" ".join(args), out))
        return r.returncode, out

    def member(self, mid, domains, mx, nets=()):
        args = ["member", "add", mid, "--org", "Org %s" % mid, "--contact",
                "postmaster@%s" % domains[0]]
        for d in domains:
            args += ["--domain", d]
        for h in mx:
            args += ["--mx", h]
        for n in nets:
            args += ["--net", n]
        self.run(*args)

    def cert(self, mid, mx, fake=None, days=None, rsa=False):
        """A key and certificate for member mid naming the hosts mx:
        (cert, key, serial)"""
        self.n += 1
        d = os.path.join(self.dir, "req%d-%s" % (self.n, mid))
        args = ["request", "--out", d]
        for h in mx:
            args += ["--mx", h]
        if rsa:
            args.append("--rsa")
        self.run(*args)
        crt = os.path.join(d, "mta.crt")
        sargs = ["sign", os.path.join(d, "mta.csr"), "--member", mid,
                 "--out", crt]
        if days is not None:
            sargs += ["--days", str(days)]
        _, out = self.run("--json", *sargs, fake=fake)
        return crt, os.path.join(d, "mta.key"), json.loads(out)["serial"]

    def revoke(self, serial, reason="keyCompromise"):
        self.run("revoke", serial, "--reason", reason)

    def publish(self, fake=None, days=None, zone=None):
        """A new bundle; returns the path of a copy of its own"""
        self.n += 1
        out = os.path.join(self.dir, "pub%d" % self.n)
        args = ["publish", "--out", out]
        if days is not None:
            args += ["--days", str(days)]
        if zone is not None:
            args += ["--zone", zone]
        self.run(*args, fake=fake)
        return os.path.join(out, "bundle.cms")

    def conf(self, bundle, cert, key, extra=()):
        """the federation { } block for an Aval's extra_conf"""
        return ["federation {",
                '\tca\t\t"%s"' % self.ca,
                '\tbundle-file\t"%s"' % bundle,
                '\tcertificate\t"%s" "%s"' % (cert, key),
                *["\t" + x for x in extra],
                "}"]
