"""
test_peers.py - Postfix's own tools against aval's smtpd

posttls-finger verifies aval's certificate against the test CA, with the
name, and resumes a session; smtp-source sends mail over many sessions,
plain and with STARTTLS. Postfix's tools want a main.cf: an empty one in
the test's folder (MAIL_CONFIG) is enough, and /etc/postfix is never read.
"""

import os
import shutil
import subprocess

from harness import SLOW, Skip, check, test, certs


def postfix_env(t):
    d = t.subdir("postfix-conf")
    open(os.path.join(d, "main.cf"), "w").close()
    env = dict(os.environ)
    env["MAIL_CONFIG"] = d
    return env


@test("peers_posttls_finger_verifies_and_resumes")
def t_finger(t):
    if shutil.which("posttls-finger") is None:
        raise Skip("no posttls-finger (Debian's postfix package)")
    a = t.aval().start()
    env = postfix_env(t)
    out = subprocess.run(
        ["posttls-finger", "-c", "-l", "secure", "-F",
         os.path.join(certs(), "ca.crt"), "-r", "1",
         "[127.0.0.1]:%d" % a.port, "mx.test"],
        capture_output=True, text=True, timeout=60 * SLOW, env=env)
    txt = out.stdout + out.stderr
    check("Verified TLS connection established" in txt
          or "Trusted TLS connection established" in txt,
          "posttls-finger did not verify aval's certificate: %s" % txt[-800:])
    check("Reusing old session" in txt,
          "posttls-finger did not resume its session: %s" % txt[-800:])


@test("peers_smtp_source_many_sessions_and_reused_ones")
def t_source(t):
    if shutil.which("smtp-source") is None:
        raise Skip("no smtp-source (Debian's postfix package)")
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    env = postfix_env(t)
    for extra in ([], ["-d"]):
        out = subprocess.run(
            ["smtp-source", "-s", "5", "-m", "25", "-l", "2000",
             "-f", "src@client.test", "-t", "dst@relay.test"] + extra +
            ["127.0.0.1:%d" % a.port],
            capture_output=True, text=True, timeout=60 * SLOW, env=env)
        check(out.returncode == 0, "smtp-source %s: rc %d %s" %
              (extra, out.returncode, out.stderr[-400:]))
    sink.wait_count(50, 60 * SLOW)
