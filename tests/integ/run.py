#!/usr/bin/env python3
"""
run.py - aval's integration tests: real processes on loopback

Each test starts its own avald from $AVAL_BUILD on free loopback ports with
a config of its own in a temporary directory, drives it with swaks,
smtplib or a raw socket, relays to aval-sink, Postfix's smtp-sink or a
small sink written here, and tears everything down again.

	AVAL_BUILD=/abs/build AVAL_SANITIZE= python3 tests/integ/run.py [-k PAT]... [-v] [-l]

-k runs only the tests whose name contains PAT (or matches it as a glob;
may be repeated), -v shows up to 400 lines of aval's log (and the sinks'
logs) under a failure instead of the last 30, -l lists the tests.

Output is TAP-like: one "ok - name" / "not ok - name" line per test, with
"# " diagnostics (and the tail of the aval log) under a failure, then
"integ: N passed, N failed" (", N skipped" when a test could not run, with
the reason on its "ok - name # SKIP" line) as the very last line. The exit
status is 0 only when nothing failed.

Environment:
	AVAL_BUILD	folder with avald, avalctl, aval-sink (default: ./build)
	AVAL_SANITIZE	non-empty when the binaries were built with sanitizers:
			ASan/UBSan options are set, timeouts stretched, and any
			sanitizer report in a log fails the test (this check is
			made in every run)
	AVAL_INTEG_SINK	"py" to use this file's sink instead of aval-sink in the
			tests that do not name a sink
	AVAL_INTEG_KEEP	non-empty: keep the temporary folders (printed)

Only the Python 3.11 standard library is used. Every wait is bounded in
count and time, and every process this runner starts (and every process
those start: the runner is a child subreaper) is ended before it exits.
"""

import argparse
import ctypes
import fnmatch
import json
import os
import pwd
import random
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("AVAL_BUILD") or os.path.join(REPO, "build"))
SANITIZE = os.environ.get("AVAL_SANITIZE", "").strip()
IS_ROOT = os.geteuid() == 0
RUN_USER = "nobody"
# Sanitized binaries are several times slower: stretch every wait.
SLOW = 3.0 if SANITIZE else 1.0
# ...except the pause that shows no further reply is coming.
QUIET_SLOW = 1.5 if SANITIZE else 1.0

WORKER_KINDS = ("aval-smtpd", "aval-queue", "aval-deliver")
QID_RE = re.compile(rb"queued as ([0-9A-F]{14})\b")
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                          r"runtime error:|AddressSanitizer:DEADLYSIGNAL")


# --- harness ---------------------------------------------------------------

class Fail(Exception):
    """A test's assertion failed."""


class Skip(Exception):
    """A test cannot run here; the message says why."""


class Timeout(Exception):
    """The test's own time limit ran out."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_until(pred, timeout, interval=0.05, what=None):
    """Poll pred() until it returns a true value or timeout (seconds,
    stretched under sanitizers) passes; return the value, or raise Fail
    naming `what` (when given) or return the last false value."""
    deadline = time.monotonic() + timeout * SLOW
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(interval)
        v = pred()
    if not v and what:
        raise Fail("timed out after %.0fs waiting for %s" % (timeout * SLOW, what))
    return v


TESTS = []


def test(name, timeout=60, root_only=False):
    """Register a test function f(t) under name; timeout is in seconds
    (before the sanitizer stretch)."""
    def deco(f):
        TESTS.append((name, f, timeout, root_only))
        return f
    return deco


def set_subreaper():
    """Orphaned grandchildren (workers whose avald died) become our
    children, so none can escape teardown unseen."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)		# PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def proc_table():
    """{pid: (ppid, comm, exe basename or '')} for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                st = f.read().decode("ascii", "replace")
        except OSError:
            continue
        r = st.rfind(")")
        comm = st[st.find("(") + 1:r]
        fields = st[r + 2:].split()
        if len(fields) < 2 or fields[0] == "Z":
            continue
        ppid = int(fields[1])
        try:
            exe = os.path.basename(os.readlink("/proc/%d/exe" % pid))
            if exe.endswith(" (deleted)"):
                exe = exe[:-10]
        except OSError:
            exe = ""
        out[pid] = (ppid, comm, exe)
    return out


def group_members(pgid):
    """Live (not zombie) processes whose process group is pgid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(d))
    return out


def descendants(root, table=None):
    table = table if table is not None else proc_table()
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


OWNED = set()			# pids of our Popen children: never reaped here


def popen(*a, **kw):
    p = subprocess.Popen(*a, **kw)
    OWNED.add(p.pid)
    return p


def reap_orphans(keep=()):
    """Reap our zombie children that no Popen owns (reparented workers)."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in keep or int(d) in OWNED:
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == os.getpid():
            table[int(d)] = fields[0]
    for pid in table:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def proc_status(pid):
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            d[k] = v.strip()
    return d


def rss_kb(pid):
    try:
        return int(proc_status(pid).get("VmRSS", "0 kB").split()[0])
    except (OSError, ValueError):
        return 0


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_ok():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def tail(text, n=40):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


class Ctx:
    """What one test owns: temp dirs, avald instances, sinks, threads.
    teardown() ends them all, newest first."""

    def __init__(self, name, base, verbose):
        self.name = name
        self.verbose = verbose
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.dir = os.path.join(base, safe)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.cleanups = []
        self.avals = []
        self.notes = []

    def note(self, msg):
        """A diagnostic line shown under the test's result line."""
        self.notes.append(msg)

    def subdir(self, name, mode=0o755):
        p = os.path.join(self.dir, name)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
        return p

    def aval(self, name="aval", **kw):
        a = Aval(self, name, **kw)
        self.avals.append(a)
        self.cleanups.append(a.stop)
        return a

    def sink(self, kind=None, **kw):
        kind = kind or default_sink_kind()
        cls = {"aval": AvalSink, "py": PySink, "postfix": PostfixSink}[kind]
        s = cls(self, **kw)
        self.cleanups.append(s.stop)
        return s

    def teardown(self):
        errs = []
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception as e:		# report, go on with the rest
                errs.append("teardown: %r" % e)
        self.cleanups = []
        return errs


# --- avald -----------------------------------------------------------------

def sanitizer_env(extra_asan=""):
    env = dict(os.environ)
    if SANITIZE:
        asan = "detect_leaks=0:abort_on_error=1:disable_coredump=1:" \
               "print_summary=1:handle_abort=1"
        if extra_asan:
            asan += ":" + extra_asan
        env["ASAN_OPTIONS"] = asan
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


class Aval:
    """One avald with its config, ports and folders.

    Settings are keyword arguments that override the defaults below;
    `listen_extra` adds listen lines, `raw` replaces the generated config
    text. Ports are picked free per instance."""

    def __init__(self, t, name, **kw):
        self.t = t
        self.dir = t.subdir(name)
        self.conf = os.path.join(self.dir, "aval.conf")
        self.logpath = os.path.join(self.dir, "aval.log")
        self.port = kw.pop("port", None) or free_port()
        self.subport = kw.pop("subport", None) or free_port()
        self.sinkport = kw.pop("sinkport", None) or free_port()
        self.spool = os.path.join(self.dir, "spool")
        self.rundir = os.path.join(self.dir, "run")
        self.maildir = os.path.join(self.dir, "mail")
        self.extra_asan = kw.pop("extra_asan", "")
        self.verbose_log = kw.pop("verbose_log", True)
        self.opts = {
            "hostname": "mx.test",
            "processes": 2,
            "max_sessions": 100,
            "max_recipients": 100,
            "max_errors": 10,
            "command_timeout": "5m",
            "data_timeout": "10m",
            "max_message_size": "1M",
            "retry_min": "1s",
            "retry_max": "2s",
            "deliver_processes": 2,
            "deliver_command_timeout": None,
            "local_domains": "localhost aval.test",
            "relay_domains": "relay.test",
            "relay_networks": "127.0.0.0/8 ::1/128",
            "listen_extra": [],
        }
        for k, v in kw.items():
            if k not in self.opts:
                raise TypeError("Aval: unknown option %s" % k)
            self.opts[k] = v
        self.proc = None
        self.logf = None
        self.write_config()

    def config_text(self, **over):
        o = dict(self.opts)
        o.update(over)
        listens = ["listen on 127.0.0.1 port %d" % self.port,
                   "listen on 127.0.0.1 port %d submission" % self.subport]
        listens += o["listen_extra"]
        return "\n".join([
            "# written by tests/integ/run.py for %s" % self.t.name,
            'hostname\t"%s"' % o["hostname"],
            'spool\t\t"%s"' % self.spool,
            'runtime-dir\t"%s"' % self.rundir,
            'maildir\t\t"%s"' % self.maildir,
            'user\t\t"%s"' % RUN_USER,
            *listens,
            "local-domains\t{ %s }" % o["local_domains"],
            "relay-domains\t{ %s }" % o["relay_domains"],
            "relay-networks\t{ %s }" % o["relay_networks"],
            "transport {",
            "\trelay.test\tsmtp [127.0.0.1]:%d" % self.sinkport,
            "\t*\t\tsmtp [127.0.0.1]:%d" % self.sinkport,
            "}",
            "smtpd {",
            "\tprocesses\t\t%s" % o["processes"],
            "\tmax-sessions\t\t%s" % o["max_sessions"],
            "\tmax-recipients\t\t%s" % o["max_recipients"],
            "\tmax-errors\t\t%s" % o["max_errors"],
            "\tcommand-timeout\t\t%s" % o["command_timeout"],
            "\tdata-timeout\t\t%s" % o["data_timeout"],
            "}",
            "queue {",
            "\tmax-message-size\t%s" % o["max_message_size"],
            "\tretry-min\t\t%s" % o["retry_min"],
            "\tretry-max\t\t%s" % o["retry_max"],
            "}",
            "deliver {",
            "\tprocesses\t\t%s" % o["deliver_processes"],
            *(["\tcommand-timeout\t\t%s" % o["deliver_command_timeout"]]
              if o["deliver_command_timeout"] else []),
            "}",
            "",
        ])

    def write_config(self, text=None, **over):
        if over:
            self.opts.update(over)
        with open(self.conf, "w") as f:
            f.write(text if text is not None else self.config_text())

    # running

    def start(self, wait=True):
        binp = os.path.join(BUILD, "avald")
        if not os.access(binp, os.X_OK):
            raise Fail("no %s (is the tree built?)" % binp)
        self.logf = open(self.logpath, "ab")
        args = [binp, "-d", "-f", self.conf]
        if self.verbose_log:
            args.insert(2, "-v")
        self.proc = popen(
            args, stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=subprocess.STDOUT, cwd=self.dir,
            env=sanitizer_env(self.extra_asan), start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        """Until the MX port greets with 220 and one queue, at least one
        smtpd and one deliver process run."""
        def ready():
            if self.proc.poll() is not None:
                raise Fail("avald exited with status %s during start-up"
                           % self.proc.returncode)
            kinds = {k for _, k in self.workers()}
            if not set(WORKER_KINDS) <= kinds:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), 2) as s:
                    s.settimeout(5 * SLOW)
                    return s.recv(512).startswith(b"220")
            except OSError:
                return False
        wait_until(ready, timeout, 0.1, "avald to accept mail on port %d "
                   "with all its workers" % self.port)

    def workers(self, kind=None):
        """[(pid, kind)] of the running aval-* children of this avald."""
        if not self.proc or self.proc.poll() is not None:
            return []
        table = proc_table()
        out = []
        for pid in descendants(self.proc.pid, table):
            ppid, comm, exe = table[pid]
            k = exe if exe in WORKER_KINDS else \
                next((w for w in WORKER_KINDS if comm.startswith(w[:15])), None)
            if k is None:
                continue
            if kind is None or k == kind:
                out.append((pid, k))
        return out

    def pids(self, kind):
        return [p for p, _ in self.workers(kind)]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM, wait, then SIGKILL whatever is left of this avald."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.t.note("avald did not exit within %.0fs of SIGTERM; killed"
                            % (10 * SLOW))
        self.kill_leftovers()
        if self.logf:
            self.logf.close()
            self.logf = None

    def kill_leftovers(self):
        """SIGKILL every process still in this avald's process group (the
        workers stay in it) and reap what was orphaned onto us."""
        deadline = time.monotonic() + 5
        while self.leftovers() and time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            time.sleep(0.05)
            reap_orphans(keep=(self.proc.pid,))
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        reap_orphans()

    def leftovers(self):
        """pids of live (not zombie) processes in this avald's group."""
        return group_members(self.proc.pid)

    # logs

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.logpath)
        except OSError:
            return 0

    def log_since(self, offset):
        return self.log().encode("utf-8", "replace")[offset:].decode("utf-8", "replace")

    def wait_log(self, regex, timeout=10, since=0, what=None):
        r = re.compile(regex)
        def found():
            return r.search(self.log_since(since))
        return wait_until(found, timeout, 0.1,
                          what or "log line matching /%s/" % regex)

    # avalctl

    def ctl(self, *args, timeout=20):
        binp = os.path.join(BUILD, "avalctl")
        if not os.access(binp, os.X_OK):
            raise Fail("no %s" % binp)
        try:
            # "--" ends avalctl's options, so "queue --json" reaches it
            # whole even where getopt would permute; the documented form
            # without it is checked on its own in avalctl_commands.
            return subprocess.run([binp, "-f", self.conf, "--"] + list(args),
                                  capture_output=True, timeout=timeout * SLOW,
                                  env=sanitizer_env())
        except subprocess.TimeoutExpired:
            raise Fail("avalctl %s did not finish in %.0fs"
                       % (" ".join(args), timeout * SLOW))

    def ctl_plain(self, *args, timeout=20):
        """avalctl -f conf ARGS exactly as documented (no "--")."""
        binp = os.path.join(BUILD, "avalctl")
        try:
            return subprocess.run([binp, "-f", self.conf] + list(args),
                                  capture_output=True, timeout=timeout * SLOW,
                                  env=sanitizer_env())
        except subprocess.TimeoutExpired:
            raise Fail("avalctl %s did not finish in %.0fs"
                       % (" ".join(args), timeout * SLOW))

    def queue(self):
        """The queue as a list of {"id", "sender", "recipients":
        [{"address", "state", "last_error"}]} (normalized from whatever
        key names avalctl uses)."""
        r = self.ctl("queue", "--json")
        out = r.stdout.decode("utf-8", "replace")
        if r.returncode != 0:
            raise Fail("avalctl queue --json exited %d: %s %s"
                       % (r.returncode, out.strip(), r.stderr.decode(errors="replace").strip()))
        try:
            data = json.loads(out) if out.strip() else []
        except ValueError as e:
            raise Fail("avalctl queue --json printed no JSON (%s): %r" % (e, out[:300]))
        return normalize_queue(data)

    def flush(self):
        r = self.ctl("flush")
        if r.returncode != 0:
            raise Fail("avalctl flush exited %d: %s" % (r.returncode,
                       (r.stdout + r.stderr).decode(errors="replace").strip()))

    def wait_queue_empty(self, timeout=20, flush_every=None):
        last = [None]
        t0 = [time.monotonic()]
        def empty():
            q = self.queue()
            last[0] = q
            if flush_every and time.monotonic() - t0[0] > flush_every:
                t0[0] = time.monotonic()
                self.flush()
            return len(q) == 0
        if not wait_until(empty, timeout, 0.2):
            raise Fail("queue not empty after %.0fs: %s"
                       % (timeout * SLOW, json.dumps(last[0])[:1500]))


def normalize_queue(data):
    if isinstance(data, dict):
        for k in ("messages", "queue", "entries", "items"):
            if isinstance(data.get(k), list):
                data = data[k]
                break
        else:
            raise Fail("avalctl queue --json: unexpected object %r" % str(data)[:300])
    out = []
    for m in data:
        def pick(d, *keys, default=None):
            for k in keys:
                if k in d:
                    return d[k]
            return default
        rcpts = []
        for r in pick(m, "recipients", "rcpts", "rcpt", default=[]) or []:
            if isinstance(r, str):
                rcpts.append({"address": r, "state": "", "last_error": ""})
                continue
            rcpts.append({
                "address": pick(r, "address", "rcpt", "to", "recipient", default=""),
                "state": str(pick(r, "state", "status", default="")),
                "last_error": pick(r, "last_error", "last-error", "error",
                                   "reason", default="") or "",
            })
        out.append({"id": pick(m, "id", "qid", "queue_id", default=""),
                    "sender": pick(m, "sender", "from", default=""),
                    "recipients": rcpts, "raw": m})
    return out


# --- sinks -----------------------------------------------------------------

def default_sink_kind():
    if os.environ.get("AVAL_INTEG_SINK") == "py":
        return "py"
    return "aval" if os.access(os.path.join(BUILD, "aval-sink"), os.X_OK) else "py"


def parse_sink_file(raw):
    """aval-sink's (and PySink's) file: X-Sink-From/X-Sink-To lines, then
    the message as received. Returns (sender, [rcpts], data)."""
    sender, rcpts = None, []
    pos = 0
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            break
        line = raw[pos:nl].rstrip(b"\r")
        if line.startswith(b"X-Sink-From:"):
            sender = line[12:].strip().decode("utf-8", "replace")
        elif line.startswith(b"X-Sink-To:"):
            rcpts.append(line[10:].strip().decode("utf-8", "replace"))
        else:
            break
        pos = nl + 1
    return sender, rcpts, raw[pos:]


class SinkBase:
    """A next hop that writes each message to a file in self.dir."""

    def __init__(self, t, port=None, host="127.0.0.1"):
        self.t = t
        self.port = port or free_port(host)
        self.host = host
        self.dir = t.subdir("sink-%d" % self.port, 0o777)
        self.seen = {}			# file name -> parsed, once complete

    def files(self):
        try:
            return sorted(f for f in os.listdir(self.dir) if not f.startswith("."))
        except OSError:
            return []

    def count(self):
        return len(self.files())

    def messages(self):
        """[(file, sender, rcpts, data)] of every message written so far."""
        out = []
        for f in self.files():
            p = os.path.join(self.dir, f)
            try:
                with open(p, "rb") as fh:
                    raw = fh.read()
            except OSError:
                continue
            out.append((f,) + self.parse(raw))
        return out

    def parse(self, raw):
        return parse_sink_file(raw)

    def wait_count(self, n, timeout=20):
        wait_until(lambda: self.count() >= n, timeout, 0.1,
                   "%d message(s) at the sink (have %d)" % (n, self.count()))


class AvalSink(SinkBase):
    """The project's bench/aval-sink."""

    def __init__(self, t, port=None, host="127.0.0.1", lifetime=600):
        super().__init__(t, port, host)
        binp = os.path.join(BUILD, "aval-sink")
        if not os.access(binp, os.X_OK):
            raise Fail("no %s" % binp)
        self.logpath = os.path.join(t.dir, "sink-%d.log" % self.port)
        self.logf = open(self.logpath, "ab")
        hp = "[%s]:%d" % (host, self.port) if ":" in host else "%s:%d" % (host, self.port)
        self.proc = popen(
            [binp, "-v", "-l", hp, "-d", self.dir, "-t", str(lifetime)],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
            env=sanitizer_env(), start_new_session=True)
        wait_until(self.listening, 10, 0.05, "aval-sink to listen on %d" % self.port)

    def listening(self):
        if self.proc.poll() is not None:
            raise Fail("aval-sink exited %s: %s" % (self.proc.returncode,
                       tail(open(self.logpath, errors="replace").read(), 10)))
        try:
            with socket.create_connection((self.host, self.port), 1):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.logf.close()


class PostfixSink(SinkBase):
    """Postfix's smtp-sink, dumping each transaction to a file."""

    BIN = "/usr/sbin/smtp-sink"

    def __init__(self, t, port=None, host="127.0.0.1"):
        super().__init__(t, port, host)
        if not os.access(self.BIN, os.X_OK):
            raise Skip("Postfix's smtp-sink is not installed (%s)" % self.BIN)
        args = [self.BIN, "-d", os.path.join(self.dir, "%M."), "-t", "30"]
        if IS_ROOT:
            args += ["-u", "root"]
        args += ["inet:%s:%d" % (host, self.port), "100"]
        self.logpath = os.path.join(t.dir, "smtp-sink-%d.log" % self.port)
        self.logf = open(self.logpath, "ab")
        self.proc = popen(args, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self.listening, 10, 0.05, "smtp-sink to listen")

    listening = AvalSink.listening
    stop = AvalSink.stop

    def parse(self, raw):
        """smtp-sink's dump: X-* lines and a 3-line Received, then the
        message as received (dots unstuffed) with LF line ends, then one
        empty line. Returns the message with CRLF line ends."""
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()			# the file ends in "\n"
        if lines and lines[-1] == b"":
            lines.pop()			# smtp-sink's closing empty line
        sender, rcpts, i = None, [], 0
        while i < len(lines) and lines[i].startswith(b"X-"):
            if lines[i].startswith(b"X-Mail-Args:"):
                sender = lines[i][12:].split()[0].decode(errors="replace")
            elif lines[i].startswith(b"X-Rcpt-Args:"):
                rcpts.append(lines[i][12:].split()[0].decode(errors="replace"))
            i += 1
        if i < len(lines) and lines[i].startswith(b"Received:"):
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
        return sender, rcpts, b"".join(l + b"\r\n" for l in lines[i:])


class _PyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        srv = self.server
        self.wfile.write(b"220 pysink ESMTP\r\n")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            verb = cmd[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250-pysink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250-SIZE 100000000\r\n250 ENHANCEDSTATUSCODES\r\n")
            elif verb == b"MAIL":
                m = re.search(rb"<([^>]*)>", cmd)
                sender, rcpts = (m.group(1).decode(errors="replace") if m else ""), []
                self.wfile.write(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                m = re.search(rb"<([^>]*)>", cmd)
                a = m.group(1).decode(errors="replace") if m else ""
                if a.lower().startswith("defer"):
                    self.wfile.write(b"451 4.3.0 deferred by pysink\r\n")
                elif a.lower().startswith("reject"):
                    self.wfile.write(b"550 5.1.1 rejected by pysink\r\n")
                else:
                    rcpts.append(a)
                    self.wfile.write(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                if not rcpts:
                    self.wfile.write(b"554 5.5.1 no valid recipients\r\n")
                    continue
                self.wfile.write(b"354 go ahead\r\n")
                self.wfile.flush()
                data = []
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    data.append(l[1:] if l.startswith(b".") else l)
                with srv.lock:
                    srv.n += 1
                    name = "%06d" % srv.n
                head = "X-Sink-From: <%s>\r\n" % sender + "".join(
                    "X-Sink-To: <%s>\r\n" % r for r in rcpts)
                tmp = os.path.join(srv.dir, "." + name)
                with open(tmp, "wb") as f:
                    f.write(head.encode() + b"".join(data))
                os.rename(tmp, os.path.join(srv.dir, name))
                self.wfile.write(b"250 2.0.0 Ok: stored %s\r\n" % name.encode())
                sender, rcpts = None, []
            elif verb == b"RSET":
                sender, rcpts = None, []
                self.wfile.write(b"250 2.0.0 Ok\r\n")
            elif verb == b"NOOP":
                self.wfile.write(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 2.0.0 Bye\r\n")
                return
            else:
                self.wfile.write(b"502 5.5.1 unknown\r\n")
            self.wfile.flush()


class PySink(SinkBase):
    """A small threaded sink with aval-sink's file format and its
    defer*/reject* recipients; used where aval-sink is missing or when
    AVAL_INTEG_SINK=py."""

    def __init__(self, t, port=None, host="127.0.0.1"):
        super().__init__(t, port, host)

        class Srv(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def handle_error(self, request, client_address):
                pass			# a client that hangs up is no news
        self.srv = Srv((host, self.port), _PyHandler)
        self.srv.dir, self.srv.n, self.srv.lock = self.dir, 0, threading.Lock()
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


# --- SMTP clients ----------------------------------------------------------

class Raw:
    """A raw SMTP client on a socket: send bytes, read whole replies."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.timeout = timeout * SLOW
        self.sock = socket.create_connection((host, port), self.timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _line(self, timeout):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                rest, self.buf = self.buf, b""
                return rest or None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def reply(self, timeout=None):
        """(code, text) of the next whole reply; (None, partial) at EOF.
        Raises socket.timeout when nothing comes in time."""
        lines = []
        while True:
            line = self._line(timeout if timeout is not None else self.timeout)
            if line is None:
                return None, b"".join(lines)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        text = b"".join(lines)
        try:
            return int(text[:3]), text
        except ValueError:
            return None, text

    def cmd(self, line):
        self.send(line + b"\r\n")
        return self.reply()

    def replies(self, quiet=1.0, limit=50):
        """Every reply that comes until `quiet` seconds pass with none (or
        EOF): [(code, text)]."""
        out = []
        for _ in range(limit):
            try:
                c, txt = self.reply(timeout=quiet * QUIET_SLOW)
            except (socket.timeout, TimeoutError):
                break
            if c is None and not txt:
                break
            out.append((c, txt))
            if c is None:
                break
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def greet(port, host="127.0.0.1", ehlo=b"client.test"):
    """A Raw session past its greeting and EHLO."""
    r = Raw(port, host)
    c, txt = r.reply()
    check(c == 220, "greeting: %r" % txt)
    c, txt = r.cmd(b"EHLO " + ehlo)
    check(c == 250, "EHLO: %r" % txt)
    return r


def make_message(token, body=b"hello\r\n", extra_headers=b""):
    return (b"From: <sender@client.test>\r\nTo: <rcpt@relay.test>\r\n"
            b"Subject: integ " + token.encode() + b"\r\n"
            b"X-Test-Token: " + token.encode() + b"\r\n" + extra_headers +
            b"\r\n" + body)


def smtp_send(port, sender, rcpts, msg, host="127.0.0.1", options=()):
    """One message through smtplib; returns the queue ID from the 250."""
    with smtplib.SMTP(host, port, timeout=30 * SLOW) as s:
        s.ehlo("client.test")
        s.mail(sender, list(options))
        for r in rcpts:
            code, txt = s.rcpt(r)
            check(code == 250, "RCPT %s: %d %r" % (r, code, txt))
        code, txt = s.data(msg)
        check(code == 250, "DATA: %d %r" % (code, txt))
        m = QID_RE.search(txt)
        check(m, "250 after DATA does not say 'queued as <QUEUEID>': %r" % txt)
        return m.group(1).decode()


def strip_received(data):
    """Split off the first header (which must be Received:) with its
    continuation lines: returns (received, rest)."""
    check(data.startswith(b"Received:"),
          "message does not start with aval's Received: header: %r" % data[:200])
    pos = data.find(b"\r\n") + 2 if b"\r\n" in data else data.find(b"\n") + 1
    while data[pos:pos + 1] in (b" ", b"\t"):
        nl = data.find(b"\n", pos)
        pos = nl + 1 if nl >= 0 else len(data)
    return data[:pos], data[pos:]


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def describe_diff(got, want):
    i = first_diff(got, want)
    return ("lengths %d vs %d, first difference at byte %d: got %r, want %r"
            % (len(got), len(want), i, got[max(0, i - 20):i + 40],
               want[max(0, i - 20):i + 40]))


# --- tests -----------------------------------------------------------------


def run_avald_n(conf):
    binp = os.path.join(BUILD, "avald")
    if not os.access(binp, os.X_OK):
        raise Fail("no %s (is the tree built?)" % binp)
    try:
        r = subprocess.run([binp, "-n", "-f", conf], capture_output=True,
                           timeout=20 * SLOW, env=sanitizer_env(),
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Fail("avald -n did not finish")
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


@test("config_check_reports_ok_and_every_error")
def t_config(t):
    a = t.aval()
    rc, out = run_avald_n(a.conf)
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
    rc, out = run_avald_n(bad)
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


def maildir_files(a, domain, local):
    d = os.path.join(a.maildir, domain, local, "new")
    try:
        return [os.path.join(d, f) for f in sorted(os.listdir(d))]
    except OSError:
        return []


def split_maildir(raw):
    """(prepended header lines until Received:, the Received header, the
    rest) of a Maildir file."""
    lines = raw.split(b"\n")
    pre = []
    i = 0
    while i < len(lines) and not lines[i].startswith(b"Received:"):
        pre.append(lines[i])
        i += 1
        check(i < 5, "no Received: among the first lines of the Maildir file: %r" % raw[:300])
    j = i + 1
    while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
        j += 1
    return pre, b"\n".join(lines[i:j]), b"\n".join(lines[j:])


@test("maildir_delivery_swaks_and_smtplib")
def t_maildir(t):
    if not shutil.which("swaks"):
        raise Skip("swaks is not installed")
    a = t.aval().start()
    body = "first body line\n.leading dot line\n..two dots\n\nlast line\n"
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % a.port, "--helo", "client.test",
         "--from", "swaks@client.test", "--to", "someone@aval.test",
         "--header", "Subject: swaks to maildir", "--header", "X-Test-Token: sw1",
         "--body", body],
        capture_output=True, timeout=30 * SLOW, stdin=subprocess.DEVNULL)
    out = r.stdout.decode(errors="replace")
    check(r.returncode == 0, "swaks exited %d:\n%s" % (r.returncode, tail(out, 15)))
    check(re.search(r"<- +250 2\.0\.0 Ok: queued as [0-9A-F]{14}", out),
          "swaks did not see '250 2.0.0 Ok: queued as <QUEUEID>':\n%s" % tail(out, 8))
    wait_until(lambda: maildir_files(a, "aval.test", "someone"), 20, 0.1,
               "the message in %s/aval.test/someone/new/" % a.maildir)
    time.sleep(0.5)
    files = maildir_files(a, "aval.test", "someone")
    check(len(files) == 1, "%d files in Maildir new/, want 1" % len(files))
    raw = open(files[0], "rb").read()
    check(b"\r" not in raw, "Maildir file still has CR: %r" % raw[:200])
    pre, received, rest = split_maildir(raw)
    check(pre[:1] == [b"Return-Path: <swaks@client.test>"],
          "Maildir file does not start with Return-Path: <swaks@client.test>: %r" % pre)
    check(any(l.startswith(b"Delivered-To:") and b"someone@aval.test" in l for l in pre),
          "no Delivered-To: someone@aval.test before Received:: %r" % pre)
    check(b"X-Test-Token: sw1\n" in rest and b"Subject: swaks to maildir\n" in rest,
          "headers missing in the Maildir copy: %r" % rest[:500])
    check(rest.endswith(b"\n\n" + body.encode()) or (b"\n\n" + body.encode()) in rest,
          "body not intact in the Maildir copy: %r" % rest[-300:])

    # Exact bytes through smtplib, to a mixed-case local part and to localhost.
    msg = make_message("md2", b"line one\r\n.dot\r\n\r\nline \xc3\xa9 8bit\r\n")
    smtp_send(a.port, "sender@client.test", ["MiXed.Case@aval.test", "x@localhost"],
              msg, options=["BODY=8BITMIME"])
    for dom, loc in (("aval.test", "mixed.case"), ("localhost", "x")):
        wait_until(lambda: maildir_files(a, dom, loc), 20, 0.1,
                   "the message in %s/%s/%s/new/" % (a.maildir, dom, loc))
    for dom, loc, rc in (("aval.test", "mixed.case", b"MiXed.Case@aval.test"),
                         ("localhost", "x", b"x@localhost")):
        files = maildir_files(a, dom, loc)
        check(len(files) == 1, "%d files in %s/%s/new, want 1" % (len(files), dom, loc))
        pre, received, rest = split_maildir(open(files[0], "rb").read())
        check(pre[:1] == [b"Return-Path: <sender@client.test>"], "Return-Path: %r" % pre)
        check(any(l.startswith(b"Delivered-To:") and rc.lower() in l.lower() for l in pre),
              "Delivered-To: %r" % pre)
        want = msg.replace(b"\r\n", b"\n")
        check(rest == want, "Maildir copy for %s@%s differs: %s"
              % (loc, dom, describe_diff(rest, want)))
    a.wait_queue_empty(10)


def corpus(n=20, seed=20240601):
    """n messages of varied sizes (one of ~900 KB), with lines that start
    with '.', a line that is only '.', empty lines, 998-octet lines, and
    8-bit bytes in every third message. Every line ends in CRLF."""
    rnd = random.Random(seed)
    sizes = [60, 300, 1000, 1500, 2048, 4000, 8192, 16000, 32768, 65536,
             100000, 250000, 900 * 1024, 500, 700, 3000, 12000, 50000, 128, 20000]
    printable = bytes(range(32, 127))
    high = bytes(range(0x80, 0x100))
    specials = [b".", b"..", b".leading dot", b"..two", b"...", b" .space dot",
                b"", b"From the start", b"x" * 998, b".\t", b"\t", b"X-Not: header",
                b"-- ", b". ", b"=2E"]
    out = []
    for i in range(n):
        eight = i % 3 == 2
        token = "m%02d" % i
        lines = [b"first line of message " + token.encode()]
        total = 200
        size = sizes[i % len(sizes)]
        while total < size:
            if rnd.random() < 0.15:
                l = rnd.choice(specials)
            else:
                ln = rnd.choice([0, 1, 10, 40, 76, 77, 200, 500, 997, 998])
                alpha = printable + (high if eight else b"")
                l = bytes(rnd.choice(alpha) for _ in range(ln))
                if not l.startswith(b".") and rnd.random() < 0.1:
                    l = b"." + l[:997]	# up to 998 octets: 999 once stuffed
            lines.append(l)
            total += len(l) + 2
        lines.append(b".")			# a lone dot as the last line
        body = b"".join(l + b"\r\n" for l in lines)
        extra = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" \
                b"Content-Transfer-Encoding: 8bit\r\n" if eight else b""
        out.append((token, eight, make_message(token, body, extra)))
    return out


def relay_corpus(t, sink):
    a = t.aval(sinkport=sink.port).start()
    msgs = corpus()
    qids = {}
    with smtplib.SMTP("127.0.0.1", a.port, timeout=60 * SLOW) as s:
        s.ehlo("client.test")
        for token, eight, msg in msgs:
            s.mail("sender@client.test", ["BODY=8BITMIME"] if eight else [])
            code, txt = s.rcpt("%s@relay.test" % token)
            check(code == 250, "RCPT for %s: %d %r" % (token, code, txt))
            code, txt = s.data(msg)
            check(code == 250 and QID_RE.search(txt),
                  "DATA for %s (%d bytes): %d %r" % (token, len(msg), code, txt))
            qids[token] = QID_RE.search(txt).group(1).decode()
    check(len(set(qids.values())) == len(qids), "queue IDs not unique: %s" % qids)
    sink.wait_count(len(msgs), 60)
    a.wait_queue_empty(20)
    time.sleep(1.5 * SLOW)				# let a duplicate show up
    got = {}
    for f, sender, rcpts, data in sink.messages():
        m = re.search(rb"X-Test-Token: (m\d\d)\r\n", data[:8192])
        check(m, "sink file %s carries no token: %r" % (f, data[:300]))
        got.setdefault(m.group(1).decode(), []).append((f, sender, rcpts, data))
    bad = []
    for token, eight, msg in msgs:
        copies = got.get(token, [])
        if len(copies) != 1:
            bad.append("%s arrived %d times" % (token, len(copies)))
            continue
        f, sender, rcpts, data = copies[0]
        if sender is not None and sender.strip("<>") != "sender@client.test":
            bad.append("%s: sender %r" % (token, sender))
        if [r.strip("<>") for r in rcpts] != ["%s@relay.test" % token]:
            bad.append("%s: recipients %r" % (token, rcpts))
        try:
            received, rest = strip_received(data)
        except Fail as e:
            bad.append("%s: %s" % (token, e))
            continue
        if b"mx.test" not in received:
            bad.append("%s: Received: does not name mx.test: %r" % (token, received))
        if qids[token].encode() not in received:
            t.note("%s: Received: does not carry the queue ID %s: %r"
                   % (token, qids[token], received))
        if rest.startswith(b"Received:"):
            bad.append("%s: more than one Received: header prepended" % token)
        if rest != msg:
            bad.append("%s (%d bytes%s): body differs: %s"
                       % (token, len(msg), ", 8bit" if eight else "",
                          describe_diff(rest, msg)))
    check(not bad, "; ".join(bad))
    t.note("%d messages (%d bytes in all) arrived once each, bytes intact"
           % (len(msgs), sum(len(m) for _, _, m in msgs)))


@test("relay_20_messages_to_aval_sink_intact", timeout=120)
def t_relay_aval_sink(t):
    relay_corpus(t, t.sink("aval"))


@test("relay_20_messages_to_postfix_smtp_sink_intact", timeout=120)
def t_relay_postfix_sink(t):
    relay_corpus(t, t.sink("postfix"))


@test("smtp_dialogue_basics")
def t_dialogue(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    with Raw(a.port) as r:
        c, txt = r.reply()
        check(c == 220 and b"mx.test" in txt, "greeting %r, want 220 naming mx.test" % txt)
        c, txt = r.cmd(b"MAIL FROM:<early@client.test>")
        check(c == 503, "MAIL before EHLO: %r, want 503" % txt)
        c, txt = r.cmd(b"EHLO client.test")
        check(c == 250, "EHLO: %r" % txt)
        kw = {l[4:].strip().upper() for l in txt.decode(errors="replace").split("\r\n")[1:] if l}
        for want in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 1048576"):
            check(want in kw, "EHLO does not advertise %s: %r" % (want, sorted(kw)))
        for cmd, code in ((b"HELO client.test", 250), (b"EHLO client.test", 250),
                          (b"VRFY someone", 252), (b"HELP", 214), (b"NOOP", 250),
                          (b"RSET", 250), (b"RCPT TO:<x@relay.test>", 503), (b"DATA", 503),
                          (b"EXPN staff", 502), (b"FROB", 500),
                          (b"MAIL FROM:<big@client.test> SIZE=2000000", 552),
                          (b"MAIL FROM:<> BODY=8BITMIME", 250),
                          (b"RCPT TO:<postmaster>", 250), (b"RSET", 250)):
            c, txt = r.cmd(cmd)
            check(c == code, "%r: %r, want %d" % (cmd, txt, code))
            if code >= 500 and code not in (502, 500):
                check(re.match(rb"\d{3} 5\.\d+\.\d+ ", txt), "%r: no enhanced status code in %r"
                      % (cmd, txt))
        # Pipelined envelope in one write, replies in order.
        r.send(b"MAIL FROM:<p@client.test>\r\nRCPT TO:<p1@relay.test>\r\n"
               b"RCPT TO:<p2@relay.test>\r\nDATA\r\n")
        codes = [r.reply() for _ in range(4)]
        check([c for c, _ in codes] == [250, 250, 250, 354],
              "pipelined MAIL/RCPT/RCPT/DATA: %r" % [x for _, x in codes])
        r.send(make_message("dlg1") + b".\r\n")
        c, txt = r.reply()
        check(re.fullmatch(rb"250 2\.0\.0 Ok: queued as [0-9A-F]{14}\r\n", txt),
              "final reply %r, want '250 2.0.0 Ok: queued as <14 hex>'" % txt)
        # Over max-message-size (1M) without SIZE=: 552 at the end, nothing queued.
        for cmd, code in ((b"MAIL FROM:<big@client.test>", 250),
                          (b"RCPT TO:<big@relay.test>", 250), (b"DATA", 354)):
            c, txt = r.cmd(cmd)
            check(c == code, "%r: %r" % (cmd, txt))
        r.send(make_message("dlg2", (b"B" * 998 + b"\r\n") * 1100) + b".\r\n")
        c, txt = r.reply()
        check(c == 552, "a 1.1 MB message with max-message-size 1M: %r, want 552" % txt)
        c, txt = r.cmd(b"QUIT")
        check(c == 221, "QUIT: %r" % txt)
        check(r.reply(timeout=5)[0] is None and r.eof, "connection not closed after QUIT")
    with Raw(a.subport) as r:
        c, txt = r.reply()
        check(c == 220, "submission listener greeting: %r" % txt)
        c, txt = r.cmd(b"EHLO client.test")
        check(c == 250, "EHLO on the submission listener: %r" % txt)
    sink.wait_count(1, 20)
    a.wait_queue_empty(10)
    time.sleep(0.5 * SLOW)
    msgs = sink.messages()
    check(len(msgs) == 1, "%d messages at the sink, want only the pipelined one" % len(msgs))
    check(sorted(x.strip("<>") for x in msgs[0][2]) == ["p1@relay.test", "p2@relay.test"],
          "recipients %r" % msgs[0][2])


@test("session_max_errors_and_timeouts")
def t_errors_timeouts(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=3, command_timeout="2s",
               data_timeout="2s").start()
    with greet(a.port) as r:
        reps = []
        for _ in range(5):
            try:
                r.send(b"FROB\r\n")
            except OSError:
                break
            reps += r.replies(quiet=0.5)
            if r.eof:
                break
        codes = [c for c, _ in reps]
        check(421 in codes and r.eof,
              "max-errors 3: replies %r, want a 421 and the connection closed" % codes)
        check(codes[:codes.index(421)] == [500, 500, 500],
              "max-errors 3: %r before the 421, want three 500" % codes)
    with greet(a.port) as r:
        t0 = time.monotonic()
        c, txt = r.reply(timeout=10 * SLOW)
        took = time.monotonic() - t0
        check(c == 421 and b"4.4.2" in txt, "idle session with command-timeout 2s: %r" % txt)
        check(1.5 <= took <= 6 * SLOW, "command-timeout 2s hit after %.1fs" % took)
        check(r.reply(timeout=5)[0] is None and r.eof, "connection not closed after the timeout 421")
    with greet(a.port) as r:
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<slow@relay.test>", b"DATA"):
            r.cmd(cmd)
        r.send(b"Subject: slow\r\n\r\npartial")
        c, txt = r.reply(timeout=10 * SLOW)
        check(c == 421, "stalled DATA with data-timeout 2s: %r, want 421" % txt)
    nothing_queued(t, a, sink, "after a DATA timeout")


@test("relay_denied_outside_relay_networks")
def t_relay_denied(t):
    sink = t.sink()
    a = t.aval("closed", sinkport=sink.port, relay_networks="192.0.2.0/24").start()
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<someone@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:<victim@elsewhere.example>")
        check(c == 554 and b"5.7.1" in txt,
              "RCPT to a foreign domain from outside relay-networks: %r, want 554 5.7.1" % txt)
        c, txt = r.cmd(b"RCPT TO:<u@aval.test>")
        check(c == 250, "RCPT to a local domain from outside relay-networks: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:<v@relay.test>")
        check(c == 250, "RCPT to a relay domain from outside relay-networks: %r" % txt)
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA: %r" % txt)
        r.send(make_message("rd1") + b".\r\n")
        c, txt = r.reply()
        check(c == 250 and QID_RE.search(txt), "end of DATA: %r" % txt)
        r.cmd(b"QUIT")
    sink.wait_count(1, 20)
    wait_until(lambda: maildir_files(a, "aval.test", "u"), 20, 0.1, "the local copy in Maildir")
    a.wait_queue_empty(10)
    msgs = sink.messages()
    check(len(msgs) == 1, "%d messages at the sink, want 1" % len(msgs))
    rc = [x.strip("<>") for x in msgs[0][2]]
    check(rc == ["v@relay.test"], "sink recipients %r, want only v@relay.test" % rc)
    check("status=reject" in a.log() or "554" in a.log(),
          "the refused RCPT was not logged (status=reject)")

    # From inside relay-networks, any domain is relayed (to the * transport).
    b = t.aval("open", sinkport=sink.port).start()
    smtp_send(b.port, "someone@client.test", ["friend@elsewhere.example"], make_message("rd2"))
    sink.wait_count(2, 20)


SMUGGLE_ENDINGS = [
    ("LF.LF", b"\n.\n"),
    ("CR.CR", b"\r.\r"),
    ("LF.CRLF", b"\n.\r\n"),
    ("CRLF.LF", b"\r\n.\n"),
    ("CR.CRLF", b"\r.\r\n"),
    ("CRLF.CR", b"\r\n.\r"),
    ("LF.CR", b"\n.\r"),
    ("CR.LF", b"\r.\n"),
    ("CRLF.CRCRLF", b"\r\n.\r\r\n"),
    ("CRLF.LFCRLF", b"\r\n.\n\r\n"),
    ("LF.LFCRLF", b"\n.\n\r\n"),
]


def rejected_data(t, a, payload, name):
    """Send payload (the whole DATA text including the final CRLF.CRLF)
    after a good envelope; the reply must be one 5xx, nothing 2xx or 3xx
    may follow, and the session must answer NOOP with 250 or be closed.
    Returns a problem string or None."""
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<victim@client.test>")
        if c != 250:
            return "%s: MAIL %r" % (name, txt)
        c, txt = r.cmd(b"RCPT TO:<legit@relay.test>")
        if c != 250:
            return "%s: RCPT %r" % (name, txt)
        c, txt = r.cmd(b"DATA")
        if c != 354:
            return "%s: DATA %r" % (name, txt)
        try:
            r.send(payload)
        except OSError:
            pass
        reps = r.replies(quiet=0.8)
        if not reps:
            return "%s: no reply to the end of DATA" % name
        c0, txt0 = reps[0]
        if c0 is None or not 500 <= c0 < 600:
            return "%s: reply %r, want 5xx" % (name, txt0)
        good = [x for x in reps if x[0] is not None and x[0] < 400]
        if good:
            return "%s: 5xx then %r (smuggled commands were run)" % (
                name, [x[1] for x in good])
        if r.eof:
            return None
        try:
            c, txt = r.cmd(b"NOOP")
        except OSError:
            return None
        if c is not None and c != 250:
            return "%s: NOOP after the refused DATA got %r" % (name, txt)
    return None


def nothing_queued(t, a, sink, what):
    time.sleep(1.0 * SLOW)
    q = a.queue()
    check(not q, "%s: queued: %s" % (what, json.dumps([m["raw"] for m in q])[:800]))
    check(sink.count() == 0, "%s: %d message(s) reached the sink: %r"
          % (what, sink.count(), [m[3][:200] for m in sink.messages()]))


@test("smtp_smuggling_endings_refused_nothing_queued", timeout=120)
def t_smuggling(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=100).start()
    problems = []
    for name, ending in SMUGGLE_ENDINGS:
        payload = (b"From: <victim@client.test>\r\nSubject: smuggle " + name.encode() +
                   b"\r\n\r\nlegit body" + ending +
                   b"MAIL FROM:<attacker@evil.test>\r\nRCPT TO:<smuggled@relay.test>\r\n"
                   b"DATA\r\nFrom: <attacker@evil.test>\r\nSubject: smuggled\r\n\r\n"
                   b"smuggled body\r\n.\r\n")
        p = rejected_data(t, a, payload, name)
        if p:
            problems.append(p)
    nothing_queued(t, a, sink, "after the smuggling attempts")
    check("smuggled@relay.test" not in a.log() or "status=sent" not in "".join(
        l for l in a.log().splitlines() if "smuggled@relay.test" in l),
        "the smuggled recipient was delivered")
    check(not problems, "; ".join(problems))


@test("bare_cr_lf_in_commands_and_text_refused")
def t_bare(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=100).start()
    problems = []
    cases = [
        ("NOOP LF NOOP", b"NOOP\nNOOP\r\n"),
        ("NOOP CR NOOP", b"NOOP\rNOOP\r\n"),
        ("MAIL LF RCPT", b"MAIL FROM:<a@client.test>\nRCPT TO:<b@relay.test>\r\n"),
        ("MAIL CR RCPT", b"MAIL FROM:<a@client.test>\rRCPT TO:<b@relay.test>\r\n"),
        ("RSET CR LF-less", b"RSET\r\rNOOP\r\n"),
        ("HELO LF", b"HELO a.test\nNOOP\r\n"),
    ]
    for name, line in cases:
        with greet(a.port) as r:
            r.send(line)
            reps = r.replies(quiet=0.8)
            if not reps or reps[0][0] is None or not 500 <= reps[0][0] < 600:
                problems.append("%s: %r, want 5xx first" % (name, [x[1] for x in reps]))
                continue
            ok = [x for x in reps if x[0] is not None and x[0] < 400]
            if ok:
                problems.append("%s: 5xx then %r" % (name, [x[1] for x in ok]))
                continue
            if not r.eof:
                try:
                    c, txt = r.cmd(b"NOOP")
                    if c is not None and c != 250:
                        problems.append("%s: NOOP afterwards got %r" % (name, txt))
                except OSError:
                    pass
    texts = [
        ("bare LF in text", b"Subject: x\r\n\r\nline one\nline two\r\n.\r\n"),
        ("bare CR in text", b"Subject: x\r\n\r\nline one\rline two\r\n.\r\n"),
        ("bare LF in header", b"Subject: x\nX-Other: y\r\n\r\nbody\r\n.\r\n"),
        ("bare CR at end of text", b"Subject: x\r\n\r\nbody\r\r\n.\r\n"),
    ]
    for name, payload in texts:
        p = rejected_data(t, a, payload, name)
        if p:
            problems.append(p)
    nothing_queued(t, a, sink, "after bare CR/LF in text")
    check(not problems, "; ".join(problems))


@test("command_line_limit_512_octets")
def t_cmd_limit(t):
    a = t.aval(max_errors=100).start()
    with greet(a.port) as r:
        line = b"NOOP " + b"x" * (510 - 5)
        check(len(line) + 2 == 512, "test bug")
        c, txt = r.cmd(line)
        check(c == 250, "a 512-octet command line (with CRLF) got %r, want 250" % txt)
        c, txt = r.cmd(b"NOOP " + b"x" * (511 - 5))
        check(c == 500, "a 513-octet command line got %r, want 500" % txt)
        if b"5.5." not in txt:
            t.note("513-octet line: %r (no 5.5.x enhanced code)" % txt)
        if r.eof:
            return
        c, txt = r.cmd(b"NOOP")
        check(c in (250, None), "NOOP after the overlong line: %r" % txt)


def smtpd_rss(a):
    return sum(rss_kb(p) for p in a.pids("aval-smtpd"))


@test("overlong_lines_refused_memory_bounded", timeout=120)
def t_overlong(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, processes=1, max_errors=100,
               extra_asan="quarantine_size_mb=1").start()
    # 100 KB without a newline, then CRLF: 500, then usable or closed.
    with greet(a.port) as r:
        try:
            r.send(b"A" * 100000 + b"\r\n")
        except OSError:
            pass
        reps = r.replies(quiet=2.0)
        check(reps and reps[0][0] == 500,
              "a 100 KB command line got %r, want 500" % [x[1][:100] for x in reps])
        check(all(x[0] is None or x[0] >= 500 for x in reps),
              "more than a refusal after the 100 KB line: %r" % [x[1][:100] for x in reps])
        if not r.eof:
            try:
                c, txt = r.cmd(b"NOOP")
                check(c in (250, None), "NOOP after the 100 KB line: %r" % txt)
            except OSError:
                pass

    # 50 MB in one line: the smtpd processes' memory must stay bounded.
    limit_kb = (16 if SANITIZE else 8) * 1024
    with greet(a.port) as r:
        time.sleep(0.2)
        base = smtpd_rss(a)
        check(base > 0, "cannot read the aval-smtpd processes' RSS")
        peak, sent, closed = base, 0, False
        chunk = b"B" * 65536
        r.sock.settimeout(10 * SLOW)
        deadline = time.monotonic() + 40 * SLOW
        while sent < 50 * 1024 * 1024 and time.monotonic() < deadline:
            try:
                r.sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except (socket.timeout, TimeoutError):
                raise Fail("aval-smtpd stopped reading a 50 MB line after %d bytes "
                           "and neither replied nor closed" % sent)
            sent += len(chunk)
            if sent % (1 << 21) == 0:
                peak = max(peak, smtpd_rss(a))
        peak = max(peak, smtpd_rss(a))
        t.note("sent %d MB in one line (%s); smtpd RSS %d kB -> peak %d kB"
               % (sent >> 20, "closed by server" if closed else "open",
                  base, peak))
        check(peak - base < limit_kb, "aval-smtpd grew by %d kB on a %d MB line (limit %d kB)"
              % (peak - base, sent >> 20, limit_kb))
        if not closed:
            try:
                r.send(b"\r\n")
                reps = r.replies(quiet=2.0)
                check(not reps or reps[0][0] is None or reps[0][0] == 500,
                      "after the 50 MB line: %r" % [x[1][:100] for x in reps])
            except OSError:
                pass
    check(a.proc.poll() is None, "avald died")
    check(a.pids("aval-smtpd"), "no aval-smtpd after the long line")

    # A 2000-octet text line in DATA: 5xx, nothing queued.
    p = rejected_data(t, a, b"Subject: long line\r\n\r\n" + b"L" * 2000 + b"\r\nend\r\n.\r\n",
                      "2000-octet text line")
    check(p is None, p or "")
    # A 1000-octet text line (998 + CRLF) is fine.
    with greet(a.port) as r:
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<ok@relay.test>"):
            c, txt = r.cmd(cmd)
            check(c == 250, "%r: %r" % (cmd, txt))
        nothing_queued(t, a, sink, "after the 2000-octet text line")
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA: %r" % txt)
        r.send(b"Subject: max line\r\n\r\n" + b"M" * 998 + b"\r\n.\r\n")
        c, txt = r.reply()
        check(c == 250, "a 998-octet text line (1000 with CRLF) got %r, want 250" % txt)
        # RFC 5321 4.5.3.1.6: the limit does not count the dot added for
        # transparency, so ".xxx" of 998 octets (1001 on the wire) is fine.
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<ok2@relay.test>", b"DATA"):
            c, txt = r.cmd(cmd)
            check(c in (250, 354), "%r: %r" % (cmd, txt))
        r.send(b"Subject: max dot line\r\n\r\n.." + b"D" * 997 + b"\r\n.\r\n")
        c, txt = r.reply()
        check(c == 250, "a 998-octet text line starting with '.' (dot-stuffed to 999 + CRLF "
              "on the wire) got %r, want 250: the stuffing dot must not count" % txt)
    sink.wait_count(2, 20)
    want = b"." + b"D" * 997 + b"\r\n"
    check(any(m[3].endswith(b"\r\n\r\n" + want) for m in sink.messages()),
          "the 998-octet dot line did not arrive intact")


@test("max_recipients_and_max_sessions")
def t_limits(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_recipients=5, max_sessions=3, processes=1).start()
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<s@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        for i in range(5):
            c, txt = r.cmd(b"RCPT TO:<r%d@relay.test>" % i)
            check(c == 250, "RCPT %d: %r" % (i + 1, txt))
        c, txt = r.cmd(b"RCPT TO:<r5@relay.test>")
        check(c == 452 and b"4.5.3" in txt, "6th RCPT with max-recipients 5: %r, want 452 4.5.3" % txt)
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA after the 452: %r" % txt)
        r.send(make_message("lim1") + b".\r\n")
        c, txt = r.reply()
        check(c == 250, "end of DATA: %r" % txt)
    a.wait_queue_empty(20)
    rc = sorted(x.strip("<>") for m in sink.messages() for x in m[2])
    check(rc == ["r%d@relay.test" % i for i in range(5)],
          "recipients at the sink: %r, want r0..r4" % rc)

    # Sessions: the cap (3) counts sessions still open, so the closes above
    # must have been seen first; a 421 among the first three is retried.
    held = []
    try:
        for attempt in range(10):
            for r in held:
                r.close()
            held = []
            time.sleep(0.3 * SLOW)
            codes = []
            for i in range(3):
                r = Raw(a.port)
                held.append(r)
                codes.append(r.reply())
            if all(c == 220 for c, _ in codes):
                break
        check(all(c == 220 for c, _ in codes), "3 sessions with max-sessions 3: %r" % codes)
        r4 = Raw(a.port)
        c, txt = r4.reply()
        r4.close()
        check(c == 421 and b"4.3.2" in txt, "4th session with max-sessions 3: %r, want 421 4.3.2" % txt)
        held.pop().close()

        def fifth():
            with Raw(a.port) as r5:
                c, _ = r5.reply()
                return c == 220
        wait_until(fifth, 5, 0.2, "a new session to be accepted once one closed")
    finally:
        for r in held:
            r.close()


def queue_rcpt(a, addr):
    """(message, recipient) of addr in the queue, or None."""
    for m in a.queue():
        for rc in m["recipients"]:
            if rc["address"].strip("<>").lower() == addr:
                return m, rc
    return None


@test("deferred_while_next_hop_down_then_delivered_once", timeout=90)
def t_defer(t):
    a = t.aval().start()			# no sink on a.sinkport yet
    qid = smtp_send(a.port, "s@client.test", ["later@relay.test"], make_message("df1"))
    found = [None]

    def deferred():
        x = queue_rcpt(a, "later@relay.test")
        found[0] = x
        return x and "defer" in x[1]["state"].lower() and x[1]["last_error"]
    if not wait_until(deferred, 15, 0.3):
        raise Fail("recipient not shown as deferred with a last error in avalctl queue: %r"
                   % (found[0],))
    m, rc = found[0]
    check(m["id"] == qid, "avalctl shows id %r, the 250 said %s" % (m["id"], qid))
    check(m["sender"].strip("<>") == "s@client.test", "sender %r" % m["sender"])
    t.note("deferred: %s" % rc["last_error"])
    a.wait_log(r"%s: .*to=<later@relay\.test>.*status=deferred" % qid, 5)
    r = a.ctl("queue")
    check(r.returncode == 0 and qid.encode() in r.stdout,
          "avalctl queue (text) does not list %s: %r" % (qid, r.stdout[:300]))

    sink = t.sink(port=a.sinkport)
    a.flush()
    sink.wait_count(1, 15)
    a.wait_queue_empty(10)
    a.wait_log(r"%s: .*to=<later@relay\.test>.*status=sent" % qid, 5)
    time.sleep(2.5 * SLOW)
    check(sink.count() == 1, "%d copies at the sink, want 1" % sink.count())


@test("avalctl_queue_json_status_flush")
def t_avalctl(t):
    a = t.aval().start()			# no sink: the message stays deferred
    qid = smtp_send(a.port, "s@client.test", ["ctl@relay.test"], make_message("ctl1"))
    wait_until(lambda: queue_rcpt(a, "ctl@relay.test"), 10, 0.2, "the message in the queue")
    problems = []
    r = a.ctl_plain("queue", "--json")
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        problems.append("'avalctl -f FILE queue --json' exited %d: %s" % (
            r.returncode, (out + r.stderr.decode(errors="replace")).strip()))
    else:
        try:
            data = json.loads(out)
            m = [x for x in data if x.get("id") == qid]
            if len(m) != 1:
                problems.append("queue --json has no entry with \"id\": %s: %s" % (qid, out[:300]))
            else:
                m = m[0]
                if m.get("sender") != "s@client.test":
                    problems.append("queue --json sender %r" % m.get("sender"))
                rc = m.get("recipients") or [{}]
                for k in ("address", "state", "last_error"):
                    if k not in rc[0]:
                        problems.append("queue --json recipient has no %r: %r" % (k, rc[0]))
                if rc[0].get("state") not in ("pending", "active", "deferred", "delivered",
                                              "bounced"):
                    problems.append("queue --json state %r" % rc[0].get("state"))
        except ValueError as e:
            problems.append("queue --json is not JSON (%s): %r" % (e, out[:300]))
    r = a.ctl_plain("queue")
    if r.returncode != 0 or qid.encode() not in r.stdout:
        problems.append("'avalctl queue' exited %d and printed %r" % (r.returncode, r.stdout[:300]))
    r = a.ctl_plain("status")
    txt = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        problems.append("'avalctl status' exited %d: %s" % (r.returncode, r.stderr[:300]))
    for pid, kind in a.workers():
        if str(pid) not in txt:
            problems.append("'avalctl status' does not show %s[%d]: %r" % (kind, pid, txt[:400]))
    r = a.ctl_plain("status", "--json")
    if r.returncode != 0:
        problems.append("'avalctl status --json' exited %d" % r.returncode)
    else:
        try:
            json.loads(r.stdout)
        except ValueError as e:
            problems.append("'avalctl status --json' is not JSON (%s): %r" % (e, r.stdout[:300]))
    r = a.ctl_plain("flush")
    if r.returncode != 0:
        problems.append("'avalctl flush' exited %d: %s" % (r.returncode, r.stderr[:300]))
    t.note("avalctl status: %s" % txt.strip().replace("\n", " | "))
    check(not problems, "; ".join(problems))


@test("per_recipient_outcomes_sent_deferred_bounced", timeout=90)
def t_outcomes(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    qid = smtp_send(a.port, "s@client.test",
                    ["ok1@relay.test", "defer1@relay.test", "reject1@relay.test"],
                    make_message("oc1"))
    qid2 = smtp_send(a.port, "s@client.test", ["reject2@relay.test"], make_message("oc2"))
    a.wait_log(r"%s: .*to=<reject1@relay\.test>.*status=bounced" % qid, 15)
    a.wait_log(r"%s: .*to=<reject2@relay\.test>.*status=bounced" % qid2, 15)
    a.wait_log(r"%s: .*to=<ok1@relay\.test>.*status=sent" % qid, 15)
    a.wait_log(r"%s: .*to=<defer1@relay\.test>.*status=deferred" % qid, 15)
    time.sleep(3 * SLOW)				# a couple of retries (retry-max 2s)
    q = a.queue()
    ids = [m["id"] for m in q]
    check(qid2 not in ids, "the all-bounced message %s is still queued: %r" % (qid2, ids))
    x = queue_rcpt(a, "defer1@relay.test")
    check(x is not None, "defer1@relay.test is no longer queued: %r" % q)
    m, rc = x
    check("defer" in rc["state"].lower(), "defer1 state %r" % rc["state"])
    check("451" in rc["last_error"], "defer1 last error %r does not carry the 451" % rc["last_error"])
    for other in m["recipients"]:
        ad = other["address"].strip("<>")
        if ad != "defer1@relay.test":
            check(other["state"].lower() in ("delivered", "bounced", "sent"),
                  "%s state %r while still listed" % (ad, other["state"]))
    n_retry = len(re.findall(r"to=<defer1@relay\.test>.*status=deferred", a.log()))
    check(n_retry >= 2, "defer1 was tried %d time(s) in ~3s with retry-max 2s" % n_retry)
    rc_at_sink = sorted(x.strip("<>") for mm in sink.messages() for x in mm[2])
    check(rc_at_sink == ["ok1@relay.test"], "recipients at the sink: %r" % rc_at_sink)


@test("killed_workers_restarted_mail_still_flows", timeout=120)
def t_restart(t):
    a = t.aval(processes=1).start()
    # smtpd
    old = a.pids("aval-smtpd")
    check(len(old) == 1, "aval-smtpd pids %r, want one" % old)
    off = a.log_size()
    os.kill(old[0], signal.SIGKILL)
    wait_until(lambda: [p for p in a.pids("aval-smtpd") if p != old[0]], 15, 0.1,
               "a new aval-smtpd")
    a.wait_log(r"(?i)smtpd.*(restart|respawn)|(restart|respawn).*smtpd", 5, off,
               "a log line saying aval-smtpd is restarted")
    a.wait_ready()
    qid1 = smtp_send(a.port, "s@client.test", ["one@relay.test"], make_message("rs1"))
    # queue: with mail waiting in it
    oldq = a.pids("aval-queue")
    check(len(oldq) == 1, "aval-queue pids %r, want one" % oldq)
    wait_until(lambda: queue_rcpt(a, "one@relay.test"), 10, 0.2, "the message in the queue")
    off = a.log_size()
    os.kill(oldq[0], signal.SIGKILL)
    wait_until(lambda: [p for p in a.pids("aval-queue") if p != oldq[0]], 15, 0.1,
               "a new aval-queue")
    a.wait_log(r"(?i)queue.*(restart|respawn)|(restart|respawn).*queue", 5, off,
               "a log line saying aval-queue is restarted")
    a.wait_ready()
    sink = t.sink(port=a.sinkport)

    def flushed():
        try:
            a.flush()
        except Fail:
            pass
        return sink.count() >= 1
    wait_until(flushed, 20, 1.0, "the message queued before the kill at the sink")
    qid2 = smtp_send(a.port, "s@client.test", ["two@relay.test"], make_message("rs2"))
    sink.wait_count(2, 20)
    a.wait_queue_empty(10)
    time.sleep(1.5 * SLOW)
    toks = sorted(re.search(rb"X-Test-Token: (\w+)", m[3]).group(1).decode()
                  for m in sink.messages())
    check(toks == ["rs1", "rs2"], "at the sink: %r (queue IDs %s %s)" % (toks, qid1, qid2))


@test("queue_restart_mid_transaction_never_splits_the_envelope", timeout=90)
def t_queue_restart_mid_txn(t):
    """A queue that dies after RCPT a and before RCPT b loses the open
    transaction; RCPT b must not start a new one that would carry b alone."""
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_errors=100).start()
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<s@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        c, txt = r.cmd(b"RCPT TO:<first@relay.test>")
        check(c == 250, "RCPT first: %r" % txt)
        oldq = a.pids("aval-queue")
        os.kill(oldq[0], signal.SIGKILL)
        wait_until(lambda: [p for p in a.pids("aval-queue") if p != oldq[0]], 15,
                   0.1, "a new aval-queue")
        a.wait_ready()
        time.sleep(0.5 * SLOW)
        c, txt = r.cmd(b"RCPT TO:<second@relay.test>")
        check(c is not None and 400 <= c < 500,
              "RCPT after the queue restarted got %r, want 4xx" % txt)
        c, txt = r.cmd(b"DATA")
        check(c is not None and 400 <= c < 600 and c != 354,
              "DATA after the queue restarted got %r, want a refusal" % txt)
        c, txt = r.cmd(b"RSET")
        check(c == 250, "RSET: %r" % txt)
        for cmd in (b"MAIL FROM:<s@client.test>", b"RCPT TO:<first@relay.test>",
                    b"RCPT TO:<second@relay.test>"):
            c, txt = r.cmd(cmd)
            check(c == 250, "%r: %r" % (cmd, txt))
        c, txt = r.cmd(b"DATA")
        check(c == 354, "DATA: %r" % txt)
        r.send(make_message("mid1") + b".\r\n")
        c, txt = r.reply()
        check(c == 250, "final dot: %r" % txt)
    sink.wait_count(1, 20)
    a.wait_queue_empty(10)
    time.sleep(1.0 * SLOW)
    msgs = sink.messages()
    check(len(msgs) == 1, "%d messages at the sink, want 1" % len(msgs))
    rcpts = sorted(x.strip("<>") for x in msgs[0][2])
    check(rcpts == ["first@relay.test", "second@relay.test"],
          "recipients at the sink: %r" % rcpts)


@test("client_that_half_closes_still_gets_its_250")
def t_half_close(t):
    """The client sends the final dot and shuts its writing side: the 250 for
    a message now on disk must still reach it, or it would send it again."""
    sink = t.sink()
    a = t.aval(sinkport=sink.port).start()
    got = 0
    for i in range(10):
        with socket.create_connection(("127.0.0.1", a.port), 10 * SLOW) as s:
            s.sendall(b"EHLO client.test\r\nMAIL FROM:<s@client.test>\r\n"
                      b"RCPT TO:<hc%d@relay.test>\r\nDATA\r\n" % i)
            seen = b""
            while b"354" not in seen:
                d = s.recv(4096)
                check(d, "closed before 354: %r" % seen)
                seen += d
            s.sendall(make_message("hc%d" % i) + b".\r\n")
            s.shutdown(socket.SHUT_WR)
            while True:
                d = s.recv(4096)
                if not d:
                    break
                seen += d
        check(re.search(rb"250 2\.0\.0 Ok: queued as [0-9A-F]{14}", seen),
              "half-closed session %d never got its 250: %r" % (i, seen[-200:]))
        got += 1
    sink.wait_count(10, 20)
    t.note("%d half-closed sessions each got their 250" % got)


@test("reply_flood_to_a_client_that_does_not_read_is_bounded", timeout=90)
def t_reply_flood(t):
    """HELP costs 6 octets in and ~70 out: a client that never reads its
    replies must not make smtpd buffer them without end."""
    a = t.aval(processes=1, max_errors=100).start()
    limit_kb = (16 if SANITIZE else 8) * 1024
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(2 * SLOW)
    s.connect(("127.0.0.1", a.port))
    time.sleep(0.2)
    base = smtpd_rss(a)
    chunk = b"HELP\r\n" * 10000
    sent, stalled = 0, False
    deadline = time.monotonic() + 10 * SLOW
    try:
        while sent < 60 * 1000 * 1000 and time.monotonic() < deadline:
            s.sendall(chunk)
            sent += len(chunk)
    except (socket.timeout, TimeoutError):
        stalled = True			# smtpd stopped reading: back-pressure
    except OSError:
        pass
    peak = smtpd_rss(a)
    s.close()
    t.note("sent %d kB of HELP without reading (%s); smtpd RSS %d kB -> %d kB"
           % (sent >> 10, "server stopped reading" if stalled else "not stalled",
              base, peak))
    check(peak - base < limit_kb, "aval-smtpd grew by %d kB (limit %d kB)"
          % (peak - base, limit_kb))
    with greet(a.port) as r:
        c, txt = r.cmd(b"NOOP")
        check(c == 250, "smtpd unusable after the flood: %r" % txt)


@test("sigterm_drains_sessions_with_421")
def t_sigterm(t):
    a = t.aval().start()
    pids = [p for p, _ in a.workers()]
    with greet(a.port) as r:
        c, txt = r.cmd(b"MAIL FROM:<s@client.test>")
        check(c == 250, "MAIL: %r" % txt)
        a.signal(signal.SIGTERM)
        try:
            c, txt = r.reply(timeout=5 * SLOW)
        except (socket.timeout, TimeoutError):
            c, txt = r.cmd(b"NOOP")
        check(c == 421 and b"4.3.2" in txt, "open session after SIGTERM got %r, want 421 4.3.2" % txt)
    try:
        rc = a.proc.wait(10 * SLOW)
    except subprocess.TimeoutExpired:
        raise Fail("avald still running %.0fs after SIGTERM" % (10 * SLOW))
    check(rc == 0, "avald exited %d after SIGTERM, want 0" % rc)

    def all_gone():
        reap_orphans()
        return not group_members(a.proc.pid)
    if not wait_until(all_gone, 5, 0.1):
        table = proc_table()
        raise Fail("aval processes left after avald exited: %r (workers were %r)"
                   % ([(p, table.get(p)) for p in group_members(a.proc.pid)], pids))
    try:
        with socket.create_connection(("127.0.0.1", a.port), 1):
            raise Fail("port %d still accepts connections after avald exited" % a.port)
    except OSError:
        pass


@test("sighup_reload_bad_config_kept_good_config_applied", timeout=90)
def t_sighup(t):
    sink = t.sink()
    a = t.aval(sinkport=sink.port, max_recipients=5).start()
    good = a.config_text()
    off = a.log_size()
    a.write_config("# broken on purpose\nhostname \"mx.test\"\nsmtpd {\n\tprocesses\n"
                   "frobnicate yes\n")
    a.signal(signal.SIGHUP)
    a.wait_log(r"(?i)reload\w*\b.*(fail|error|refus|keep|old|invalid)|"
               r"(fail|error|refus|invalid|cannot|can't)\w*.*\b(reload|config)|aval\.conf:\d+:",
               10, off, "a log line saying the reload failed")
    time.sleep(0.5)
    check(a.proc.poll() is None, "avald exited on a bad reload (status %s)" % a.proc.returncode)
    t.note("bad reload logged: %s" % " | ".join(
        l for l in a.log_since(off).splitlines()
        if re.search(r"(?i)reload|conf|error|fail", l))[:600])
    smtp_send(a.port, "s@client.test", ["h1@relay.test"], make_message("hup1"))
    sink.wait_count(1, 20)
    with greet(a.port) as r:
        r.cmd(b"MAIL FROM:<s@client.test>")
        for i in range(3):
            c, txt = r.cmd(b"RCPT TO:<h%d@relay.test>" % i)
            check(c == 250, "old max-recipients 5 not kept after a bad reload: RCPT %d %r"
                  % (i + 1, txt))

    a.write_config(good.replace("max-recipients\t\t5", "max-recipients\t\t2"))
    check("max-recipients\t\t2" in open(a.conf).read(), "test bug: config not changed")
    off = a.log_size()
    a.signal(signal.SIGHUP)

    def limit_is_2():
        try:
            with greet(a.port) as r:
                r.cmd(b"MAIL FROM:<s@client.test>")
                codes = [r.cmd(b"RCPT TO:<n%d@relay.test>" % i) for i in range(3)]
        except (OSError, Fail):
            return False
        return codes[0][0] == 250 and codes[1][0] == 250 and codes[2][0] == 452
    wait_until(limit_is_2, 10, 0.3, "max-recipients 2 to apply after SIGHUP")
    check(a.proc.poll() is None, "avald exited after a good reload")
    smtp_send(a.port, "s@client.test", ["h2@relay.test"], make_message("hup2"))
    sink.wait_count(2, 20)


@test("no_loss_2000_messages_while_killing_queue", timeout=300)
def t_no_loss(t):
    """20 sessions push 2,000 messages; each message slot is retried (with a
    fresh token) until it gets 250, so the load keeps going while the queue
    is down. Each session sends at most one message per PACE seconds, so the
    push spans at least ~5 s and a few kills; killing goes on after it
    (while the queue delivers) up to MIN_KILLS. A slower push meets more
    kills, and avald's restart backoff (doubling from 250 ms to 30 s, reset
    after a minute up) then keeps the queue down for most of the run."""
    N, SESSIONS, KILL_EVERY, PACE, LOAD_SECS, MIN_KILLS = 2000, 20, 2.0, 0.05, 60, 5
    sink = t.sink()
    # A short deliver command-timeout bounds how long one stuck outbound
    # session can hold a message, so "eventually delivered" fits the wait
    # below; the default (5m) is what every other test runs with.
    a = t.aval(sinkport=sink.port, deliver_command_timeout="10s").start()
    lock = threading.Lock()
    state = {"next": 0, "acked": set(), "attempts": 0, "errors": 0, "refused": 0}
    stop = threading.Event()
    body = (b"x" * 76 + b"\r\n") * 24		# ~1.9 KB
    load_deadline = time.monotonic() + LOAD_SECS

    def loader(n):
        s = None
        while not stop.is_set() and time.monotonic() < load_deadline:
            with lock:
                slot = state["next"]
                if slot >= N:
                    break
                state["next"] += 1
            attempt = 0
            while not stop.is_set() and time.monotonic() < load_deadline:
                t_start = time.monotonic()
                token = "tok-%05d-%d" % (slot, attempt)
                attempt += 1
                msg = (b"From: <load@client.test>\r\nTo: <sink@relay.test>\r\n"
                       b"Subject: load\r\nX-Bench-Token: " + token.encode() +
                       b"\r\n\r\n" + body)
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", a.port, timeout=30 * SLOW)
                        s.ehlo("load.test")
                    with lock:
                        state["attempts"] += 1
                    code, _ = s.mail("load@client.test")
                    if code == 250:
                        code, _ = s.rcpt("sink@relay.test")
                    if code == 250:
                        code, _ = s.data(msg)
                    if code == 250:
                        with lock:
                            state["acked"].add(token)
                        time.sleep(max(0, PACE - (time.monotonic() - t_start)))
                        break
                    with lock:
                        state["refused"] += 1
                    s.rset()
                except (smtplib.SMTPException, OSError):
                    with lock:
                        state["errors"] += 1
                    try:
                        if s is not None:
                            s.close()
                    except Exception:
                        pass
                    s = None
                time.sleep(0.2)
        if s is not None:
            try:
                s.quit()
            except Exception:
                s.close()

    kills = []

    kill_stop = threading.Event()

    def killer():
        # Every KILL_EVERY seconds, but never a queue younger than half a
        # second: the ticks would otherwise meet avald's power-of-two
        # restart backoff and kill each new queue as it starts.
        first_seen, last_kill = {}, time.monotonic()
        while not kill_stop.wait(0.1):
            now = time.monotonic()
            for p in a.pids("aval-queue"):
                first_seen.setdefault(p, now)
                if now - last_kill < KILL_EVERY or now - first_seen[p] < 0.5:
                    continue
                try:
                    os.kill(p, signal.SIGKILL)
                    kills.append(p)
                    last_kill = now
                except ProcessLookupError:
                    pass
    threads = [threading.Thread(target=loader, args=(i,), daemon=True) for i in range(SESSIONS)]
    kt = threading.Thread(target=killer, daemon=True)
    t0 = time.monotonic()
    for th in threads:
        th.start()
    kt.start()
    try:
        for th in threads:
            th.join(max(1, load_deadline - time.monotonic() + 40 * SLOW))
        load_time = time.monotonic() - t0
        # A quick load leaves few kills: go on killing (the queue is now
        # delivering what it acknowledged) until MIN_KILLS or 25 s.
        wait_until(lambda: len(kills) >= MIN_KILLS or time.monotonic() - t0 > 25, 30, 0.2)
    finally:
        stop.set()
        kill_stop.set()
        kt.join(10)
    check(not any(th.is_alive() for th in threads), "load threads did not finish")
    acked = set(state["acked"])
    t.note("load: %d slots, %d attempts, %d acked (250), %d refused, %d session errors, "
           "%d queue kills, %.1fs" % (min(state["next"], N), state["attempts"], len(acked),
                                      state["refused"], state["errors"], len(kills), load_time))
    check(len(acked) >= N // 10, "only %d of %d messages were acknowledged: the test proves "
          "little" % (len(acked), N))
    if len(acked) < N:
        t.note("only %d of %d messages got 250 within %ds of load" % (len(acked), N, LOAD_SECS))

    # Collect from the sink until every acked token is there (bounded).
    seen = {}
    parsed = set()
    tok_re = re.compile(rb"X-Bench-Token: (tok-\d+-\d+)")

    def scan():
        for f in sink.files():
            if f in parsed:
                continue
            try:
                with open(os.path.join(sink.dir, f), "rb") as fh:
                    head = fh.read(8192)
            except OSError:
                continue
            m = tok_re.search(head)
            if m:
                parsed.add(f)
                tok = m.group(1).decode()
                seen[tok] = seen.get(tok, 0) + 1
        return acked <= set(seen)
    last_flush = [time.monotonic()]

    def done():
        if time.monotonic() - last_flush[0] > 5:
            last_flush[0] = time.monotonic()
            try:
                a.flush()
            except Fail:
                pass
        return scan()
    wait_until(done, 120, 0.5)
    time.sleep(3 * SLOW)				# late duplicates
    scan()
    lost = sorted(acked - set(seen))
    dups = {k: v for k, v in seen.items() if v > 1}
    extra = len(set(seen) - acked)
    t.note("acked %d, delivered %d distinct (%d files), duplicates %d (%d extra copies), "
           "delivered but not acked %d, lost %d, kills %d"
           % (len(acked), len(set(seen) & acked), len(parsed), len(dups),
              sum(v - 1 for v in dups.values()), extra, len(lost), len(kills)))
    if dups:
        t.note("duplicated tokens: %s" % ", ".join(sorted(dups)[:30]))
    if lost:
        try:
            q = a.queue()
            states = {}
            for m in q:
                for rc in m["recipients"]:
                    states[rc["state"]] = states.get(rc["state"], 0) + 1
            t.note("queue now: %d messages, recipient states %r; e.g. %s"
                   % (len(q), states, json.dumps([m["raw"] for m in q[:3]])[:600]))
        except Fail as e:
            t.note("queue now: %s" % e)
        log = a.log()
        t.note("log: %d status=sent, %d status=deferred, %d durable, %d removed"
               % (log.count("status=sent"), log.count("status=deferred"),
                  log.count("(durable)"), log.count(": removed")))
    check(len(kills) >= 3, "only %d queue kills happened" % len(kills))
    check(not lost, "%d acknowledged message(s) never reached the sink: %s"
          % (len(lost), ", ".join(lost[:30])))


@test("workers_unprivileged_chrooted_no_capabilities", root_only=True)
def t_privileges(t):
    a = t.aval().start()
    pw = pwd.getpwnam(RUN_USER)
    problems = []
    workers = a.workers()
    check({k for _, k in workers} == set(WORKER_KINDS), "workers: %r" % workers)
    for pid, kind in workers:
        st = proc_status(pid)
        uids = st["Uid"].split()
        gids = st["Gid"].split()
        if any(int(u) != pw.pw_uid for u in uids):
            problems.append("%s[%d] Uid %s, want %d (%s)" % (kind, pid, uids, pw.pw_uid, RUN_USER))
        if any(int(g) != pw.pw_gid for g in gids):
            problems.append("%s[%d] Gid %s, want %d" % (kind, pid, gids, pw.pw_gid))
        if st.get("Groups", "").strip() not in ("", str(pw.pw_gid)):
            problems.append("%s[%d] supplementary groups %r" % (kind, pid, st["Groups"]))
        for cap in ("CapEff", "CapPrm", "CapAmb"):
            if int(st.get(cap, "0"), 16) != 0:
                problems.append("%s[%d] %s %s" % (kind, pid, cap, st[cap]))
        if st.get("NoNewPrivs", "1") != "1":
            problems.append("%s[%d] NoNewPrivs %s" % (kind, pid, st.get("NoNewPrivs")))
        root = os.readlink("/proc/%d/root" % pid)
        t.note("%s[%d] root %s uid %s" % (kind, pid, root, uids[0]))
        if kind == "aval-smtpd":
            if root == "/":
                problems.append("aval-smtpd[%d] is not chrooted" % pid)
            else:
                try:
                    ents = os.listdir(root)
                    sb = os.stat(root)
                except OSError as e:
                    ents, sb = ["(%s)" % e], None
                if ents:
                    problems.append("aval-smtpd[%d] chroot %s is not empty: %r" % (pid, root, ents))
                if sb and (sb.st_uid != 0 or sb.st_mode & 0o022):
                    problems.append("aval-smtpd[%d] chroot %s is owned by %d mode %o: "
                                    "writable by others than root"
                                    % (pid, root, sb.st_uid, sb.st_mode & 0o7777))
        elif kind == "aval-queue":
            if os.path.realpath(root) != os.path.realpath(a.spool):
                problems.append("aval-queue[%d] root %s, want the spool %s" % (pid, root, a.spool))
        elif kind == "aval-deliver":
            if root == "/":
                problems.append("aval-deliver[%d] is not chrooted" % pid)
    master = proc_status(a.proc.pid)
    t.note("avald[%d] Uid %s" % (a.proc.pid, master["Uid"]))
    check(not problems, "; ".join(problems))
    # And it still works that way.
    smtp_send(a.port, "s@client.test", ["priv@aval.test"], make_message("pv1"))
    wait_until(lambda: maildir_files(a, "aval.test", "priv"), 20, 0.1, "Maildir delivery as %s" % RUN_USER)


@test("ipv6_listener_on_loopback")
def t_ipv6(t):
    if not ipv6_ok():
        raise Skip("no IPv6 on the loopback interface (::1 cannot be bound)")
    sink = t.sink()
    p6 = free_port("::1")
    a = t.aval(sinkport=sink.port, listen_extra=["listen on ::1 port %d" % p6]).start()

    def up():
        try:
            with Raw(p6, "::1") as r:
                return r.reply()[0] == 220
        except OSError:
            return False
    wait_until(up, 10, 0.1, "a 220 greeting on [::1]:%d" % p6)
    qid = smtp_send(p6, "s@client.test", ["v6@relay.test", "far@elsewhere.example"],
                    make_message("v6"), host="::1")
    sink.wait_count(1, 20)
    a.wait_queue_empty(10)
    f, sender, rcpts, data = sink.messages()[0]
    received, _ = strip_received(data)
    check(b"::1" in received, "Received: does not show the IPv6 client: %r" % received)
    check(qid, "no queue id")
    a.wait_log(r"client=[^,]*\[?(IPv6:)?::1\]?", 5, 0, "a log line with client ::1")


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
