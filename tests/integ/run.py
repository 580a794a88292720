#!/usr/bin/env python3
"""
run.py - aval's integration tests: real processes on loopback

Each test starts its own avald from $AVAL_BUILD on free loopback ports with
a config of its own in a temporary directory, drives it with swaks,
smtplib or a raw socket, relays to aval-sink, Postfix's smtp-sink or a
small Python sink, and tears everything down again.

	AVAL_BUILD=/abs/build AVAL_SANITIZE= python3 tests/integ/run.py [-k PAT]... [-v] [-l]

-k runs only the tests whose name contains PAT (or matches it as a glob;
may be repeated), -v shows up to 400 lines of aval's log (and the sinks'
logs) under a failure instead of the last 30, -l lists the tests.

Output is TAP-like: one "ok - name" / "not ok - name" line per test, with
"# " diagnostics (and the tail of the aval log) under a failure, then
"integ: N passed, N failed" (", N skipped" when a test could not run, with
the reason on its "ok - name # SKIP" line) as the very last line. The exit
status is 0 only when nothing failed.

Files in this folder:
	run.py		this runner: options, one test at a time, the output
	harness.py	Fail/Skip/check/wait_until, the @test decorator, process
			helpers, Ctx, the Aval class (one avald), SMTP clients
	sinks.py	the next hops: aval-sink, Postfix's smtp-sink, PySink
	test_*.py	the tests, one file per process or area (test_config,
			test_smtpd, test_queue, test_deliver, test_master)

Adding tests: put them in the test_<area>.py file they belong to, or in a
new one (test_tls.py, test_federation.py, ...), which is picked up just by
existing: the runner imports every test_*.py here, in file-name order, and
runs the tests in the order each file registers them. A test is a function
of one argument (its Ctx) under the decorator, named uniquely across all
files:

	from harness import check, make_message, smtp_send, test

	@test("starttls_offered_on_submission", timeout=60)
	def t_starttls(t):
	    a = t.aval(extra_conf=["..."]).start()
	    ...

t.aval() and t.sink() start what the test needs and Ctx stops it all
afterwards; raise Fail (or use check()) for a failure, Skip when the test
cannot run here. Helpers two files share go into harness.py.

Environment:
	AVAL_BUILD	folder with avald, avalctl, aval-sink (default: ./build)
	AVAL_SANITIZE	non-empty when the binaries were built with sanitizers:
			ASan/UBSan options are set, timeouts stretched, and any
			sanitizer report in a log fails the test (this check is
			made in every run)
	AVAL_INTEG_SINK	"py" to use the Python sink (sinks.py) instead of
			aval-sink in the tests that do not name a sink
	AVAL_INTEG_KEEP	non-empty: keep the temporary folders (printed)
	AVAL_SUMMARY	a file to append "PASSED FAILED" to (make check adds
			up every runner's counts from it)
	AVAL_INTEG_TIMES a file to append "SECONDS NAME" to for every test
			(to see where the suite's time goes)

Only the Python 3.11 standard library is used. Every wait is bounded in
count and time, and every process this runner starts (and every process
those start: the runner is a child subreaper) is ended before it exits.
"""

import argparse
import fnmatch
import glob
import importlib
import os
import pwd
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import (BUILD, SANITIZE, IS_ROOT, SLOW, SANITIZER_RE, TESTS,
                     Ctx, Fail, Skip, Timeout, set_subreaper, reap_orphans,
                     tail)


def load_tests():
    """Import every test_*.py beside this file; each registers its tests
    in TESTS as it is imported."""
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        importlib.import_module(os.path.splitext(os.path.basename(path))[0])


# --- main ------------------------------------------------------------------

def run_one(name, f, timeout, root_only, base, verbose):
    t = Ctx(name, base, verbose)
    status, why = "ok", ""

    def on_alarm(sig, frame):
        raise Timeout("test took longer than %.0fs" % (timeout * SLOW))
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(timeout * SLOW) + 1)
    start = time.monotonic()
    try:
        if root_only and not IS_ROOT:
            raise Skip("needs root (privilege drop happens only when started as root)")
        f(t)
    except Skip as e:
        status, why = "skip", str(e)
    except (Fail, Timeout) as e:
        status, why = "fail", str(e)
    except Exception as e:
        status, why = "fail", "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    errs = t.teardown()
    for root, _, files in os.walk(t.dir):
        for fn in files:
            if not fn.endswith(".log"):
                continue
            try:
                with open(os.path.join(root, fn), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            m = SANITIZER_RE.search(text)
            if m:
                status = "fail"
                why = (why + "; " if why else "") + "sanitizer report in %s:\n%s" % (
                    os.path.join(root, fn), text[max(0, m.start() - 200):m.start() + 2000])
    if errs and status == "ok":
        t.note("; ".join(errs))
    elapsed = time.monotonic() - start
    if status == "ok":
        print("ok - %s" % name)
    elif status == "skip":
        print("ok - %s # SKIP %s" % (name, why))
    else:
        print("not ok - %s" % name)
        for l in why.splitlines():
            print("#   " + l)
    if elapsed >= 5:
        print("# took %.1fs" % elapsed)
    if os.environ.get("AVAL_INTEG_TIMES"):
        with open(os.environ["AVAL_INTEG_TIMES"], "a") as tf:
            tf.write("%.1f %s\n" % (elapsed, name))
    for n in t.notes:
        print("# " + n)
    if status == "fail":
        for a in t.avals:
            text = a.log()
            n = 400 if verbose else 30
            print("# --- %s (last %d lines) ---" % (a.logpath, n))
            for l in tail(text, n).splitlines():
                print("#   " + l)
        if verbose:
            for p in sorted(os.listdir(t.dir)):
                if p.startswith("sink-") and p.endswith(".log") or p.startswith("smtp-sink"):
                    print("# --- %s ---" % p)
                    for l in tail(open(os.path.join(t.dir, p), errors="replace").read(), 40).splitlines():
                        print("#   " + l)
    sys.stdout.flush()
    return status


def main():
    ap = argparse.ArgumentParser(description="aval integration tests")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN",
                    help="run only tests whose name contains PATTERN (or matches it as a glob)")
    ap.add_argument("-v", action="store_true", help="show more of aval's logs on failure")
    ap.add_argument("-l", action="store_true", help="list the tests and exit")
    args = ap.parse_args()
    load_tests()
    if args.l:
        for name, *_ in TESTS:
            print(name)
        return 0
    sys.stdout.reconfigure(line_buffering=True)
    set_subreaper()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    base = tempfile.mkdtemp(prefix="aval-integ-")
    os.chmod(base, 0o755)
    print("# aval integration tests: build %s%s, %s, temp %s"
          % (BUILD, ", sanitize=" + SANITIZE if SANITIZE else "",
             "root" if IS_ROOT else "user %s" % pwd.getpwuid(os.geteuid()).pw_name, base))
    counts = {"ok": 0, "fail": 0, "skip": 0}
    skipped = []
    try:
        for name, f, timeout, root_only in TESTS:
            if args.k and not any(k in name or fnmatch.fnmatch(name, k) for k in args.k):
                continue
            st = run_one(name, f, timeout, root_only, base, args.v)
            counts[st] += 1
            if st == "skip":
                skipped.append(name)
    except KeyboardInterrupt:
        print("# interrupted")
        counts["fail"] += 1
    finally:
        reap_orphans()
        if os.environ.get("AVAL_INTEG_KEEP"):
            print("# kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    line = "integ: %d passed, %d failed" % (counts["ok"], counts["fail"])
    if counts["skip"]:
        line += ", %d skipped" % counts["skip"]
    print(line)
    # make check adds up every runner's counts from this file.
    summary = os.environ.get("AVAL_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write("%d %d\n" % (counts["ok"], counts["fail"]))
    return 0 if counts["fail"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
