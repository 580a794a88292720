"""
test_config.py - the configuration as avald reads it: `avald -n`

Tests that start no avald of their own (beyond writing its config) and
look at what the parser and checker say. Reloads (SIGHUP) are the master's
and live in test_master.py.
"""

import os
import re

from harness import avald_check, check, test


@test("config_check_reports_ok_and_every_error")
def t_config(t):
    a = t.aval()
    rc, out = avald_check(a.conf)
    check(rc == 0, "avald -n on a good config exited %d: %s" % (rc, out))
    check("configuration OK" in out, "avald -n printed %r, not 'configuration OK'" % out)

    lines = a.config_text().split("\n")
    expect = {}

    def replace(prefix, new, why):
        for i, l in enumerate(lines):
            if l.strip().startswith(prefix):
                lines[i] = new
                expect[i + 1] = why
                return
        raise Fail("test bug: no line %r in the generated config" % prefix)
    replace("hostname", 'colour\t\t"blue"', "unknown keyword")
    replace("max-message-size", "\tmax-message-size\t10Q", "bad size unit")
    replace("command-timeout", "\tcommand-timeout\t\tsoon", "bad duration")
    bad = os.path.join(a.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("\n".join(lines))
    rc, out = avald_check(bad)
    check(rc == 1, "avald -n on a config with 3 errors exited %d, not 1: %s" % (rc, out))
    check("configuration OK" not in out, "avald -n said 'configuration OK' for a bad file")
    got = {}
    for l in out.splitlines():
        m = re.match(r"^(\S*?):(\d+): (.+)$", l.strip())
        if m and m.group(1).endswith("bad.conf"):
            got[int(m.group(2))] = m.group(3)
    t.note("avald -n said: %s" % out.strip().replace("\n", " | "))
    missing = {n: w for n, w in expect.items() if n not in got}
    check(not missing, "errors not reported as 'file:line: message' for lines %s"
          % ", ".join("%d (%s)" % kv for kv in sorted(missing.items())))
    extra = sorted(set(got) - set(expect))
    check(not extra, "errors reported for lines that have none: %s" % extra)
