"""
harness.py - what every integration test shares: processes, avald, clients

The pieces a test file imports: the outcomes a test raises (Fail, Skip,
Timeout), check() and wait_until(), the @test decorator that registers a
test in TESTS, process bookkeeping (a child subreaper, /proc readers,
reaping of orphaned workers, free ports), Ctx (what one test owns, torn
down newest first), the Aval class (one avald with its generated config
and folders, avalctl), and SMTP clients and message helpers (Raw, greet,
make_message, smtp_send, ...), and outside programs (avald_check,
need_tool, run_tool, ca for aval-ca, dns_server). The sinks a message is
relayed to are in sinks.py; Ctx.sink() starts them.

The environment (AVAL_BUILD, AVAL_SANITIZE, ...) is described in run.py,
which runs the tests. Only the Python 3.11 standard library is used.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("AVAL_BUILD") or os.path.join(REPO, "build"))
SANITIZE = os.environ.get("AVAL_SANITIZE", "").strip()
IS_ROOT = os.geteuid() == 0
RUN_USER = "nobody"
# aval-local's own user (local-user): not RUN_USER, so the tests see the
# split of mailboxes from the network-facing workers.
LOCAL_USER = "daemon"
# Sanitized binaries are several times slower: stretch every wait.
SLOW = 3.0 if SANITIZE else 1.0
# ...except the pause that shows no further reply is coming.
QUIET_SLOW = 1.5 if SANITIZE else 1.0

WORKER_KINDS = ("aval-smtpd", "aval-queue", "aval-deliver", "aval-local")
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


TESTS = []			# (name, f, timeout, root_only), in run order


def test(name, timeout=60, root_only=False, plain_only=None):
    """Register a test function f(t) under name; timeout is in seconds
    (before the sanitizer stretch). Names are unique across all the
    test_*.py files, since -k and the output know a test by name only.
    plain_only is the reason a test runs in the plain tree alone: one that
    spends its time waiting on clocks (a rate, a deadline, a back-off)
    exercises no code the sanitizer tree does not meet in other tests,
    and the suite has a time budget."""
    def deco(f):
        if any(n == name for n, *_ in TESTS):
            raise ValueError("two tests named %s (the second in %s)"
                             % (name, f.__module__))
        run = f
        if plain_only and SANITIZE:
            def run(t):
                raise Skip(plain_only)
        TESTS.append((name, run, timeout, root_only))
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


_CERTS = None


def certs():
    """A folder of test certificates (tests/certs/mkcerts.sh), made once
    per run and removed at exit."""
    global _CERTS
    if _CERTS is None:
        import atexit
        d = tempfile.mkdtemp(prefix="aval-certs-")
        subprocess.run([os.path.join(REPO, "tests", "certs", "mkcerts.sh"),
                        d], check=True)
        os.chmod(d, 0o755)
        atexit.register(shutil.rmtree, d, True)
        _CERTS = d
    return _CERTS


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
        """Start a sink ("aval", "py" or "postfix"; default_sink_kind()
        when None), to be stopped at teardown."""
        import sinks			# here: sinks.py imports this module
        kind = kind or sinks.default_sink_kind()
        cls = {"aval": sinks.AvalSink, "py": sinks.PySink, "tls": sinks.TlsSink,
               "script": sinks.ScriptSink, "lmtp": sinks.LmtpSink,
               "postfix": sinks.PostfixSink}[kind]
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
    `listen_extra` adds listen lines, `extra_conf` adds raw lines at the
    end of the generated config text (for settings that have no option
    here, such as TLS), and write_config(text) replaces the text whole.
    Ports are picked free per instance."""

    def __init__(self, t, name, **kw):
        self.t = t
        self.dir = t.subdir(name)
        self.conf = os.path.join(self.dir, "aval.conf")
        self.logpath = os.path.join(self.dir, "aval.log")
        self.port = kw.pop("port", None) or free_port()
        self.subport = kw.pop("subport", None) or free_port()
        self.sinkport = kw.pop("sinkport", None) or free_port()
        self.spool = kw.pop("spool", None) or os.path.join(self.dir, "spool")
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
            # Most tests deliver to any local part of the local domains,
            # as aval did before mailbox maps: the harness turns catch-all
            # on; tests of maps and of the default pass catch_all="no".
            "catch_all": "yes",
            "relay_domains": "relay.test",
            "relay_networks": "127.0.0.0/8 ::1/128",
            "listen_extra": [],
            "extra_conf": [],
            # TLS: "ecdsa", "rsa", "both" (certificates from certs()) or
            # None (no tls block, and no submission listener then).
            "tls": "ecdsa",
            "tls_lines": [],		# more lines inside tls { }
            "smtpd_lines": [],		# more lines inside smtpd { }
            "queue_lines": [],		# ... inside queue { }
            "transport_lines": [],	# ... inside transport { }, before *
            "deliver_lines": [],		# ... inside deliver { }
            # DNS: the resolver deliver asks (a tests/dns/dnsserver port
            # via dns_server()); by default a closed loopback port, so
            # that no test ever sends a DNS query off the machine.
            "resolver": "127.0.0.1@9",
            "trust_anchor": None,
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
        listens = ["listen on 127.0.0.1 port %d" % self.port]
        if o["tls"]:
            listens.append("listen on 127.0.0.1 port %d submission"
                           % self.subport)
        listens += o["listen_extra"]
        tls = []
        if o["tls"]:
            c = certs()
            tls.append("tls {")
            if o["tls"] in ("ecdsa", "both"):
                tls.append('\tcertificate "%s/server.crt" "%s/server.key"'
                           % (c, c))
            if o["tls"] in ("rsa", "both"):
                tls.append('\tcertificate "%s/server-rsa.crt" '
                           '"%s/server-rsa.key"' % (c, c))
            tls += ["\t" + x for x in o["tls_lines"]]
            tls.append("}")
        return "\n".join([
            "# written by tests/integ/run.py for %s" % self.t.name,
            'hostname\t"%s"' % o["hostname"],
            'spool\t\t"%s"' % self.spool,
            'runtime-dir\t"%s"' % self.rundir,
            'maildir\t\t"%s"' % self.maildir,
            'user\t\t"%s"' % RUN_USER,
            'local-user\t"%s"' % LOCAL_USER,
            *listens,
            *tls,
            "local-domains\t{ %s }" % o["local_domains"],
            "catch-all\t%s" % o["catch_all"],
            "relay-domains\t{ %s }" % o["relay_domains"],
            "relay-networks\t{ %s }" % o["relay_networks"],
            "transport {",
            "\trelay.test\tsmtp [127.0.0.1]:%d" % self.sinkport,
            *["\t" + x for x in o["transport_lines"]],
            "\t*\t\tsmtp [127.0.0.1]:%d" % self.sinkport,
            "}",
            "smtpd {",
            "\tprocesses\t\t%s" % o["processes"],
            "\tmax-sessions\t\t%s" % o["max_sessions"],
            "\tmax-recipients\t\t%s" % o["max_recipients"],
            "\tmax-errors\t\t%s" % o["max_errors"],
            "\tcommand-timeout\t\t%s" % o["command_timeout"],
            "\tdata-timeout\t\t%s" % o["data_timeout"],
            *["\t" + x for x in o["smtpd_lines"]],
            "}",
            "queue {",
            "\tmax-message-size\t%s" % o["max_message_size"],
            "\tretry-min\t\t%s" % o["retry_min"],
            "\tretry-max\t\t%s" % o["retry_max"],
            *["\t" + x for x in o["queue_lines"]],
            "}",
            "deliver {",
            "\tprocesses\t\t%s" % o["deliver_processes"],
            *(["\tcommand-timeout\t\t%s" % o["deliver_command_timeout"]]
              if o["deliver_command_timeout"] else []),
            '\tresolver\t\t"%s"' % o["resolver"],
            *(['\ttrust-anchor\t\t"%s"' % o["trust_anchor"]]
              if o["trust_anchor"] else []),
            *["\t" + x for x in o["deliver_lines"]],
            "}",
            *o["extra_conf"],
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
                "attempts": pick(r, "attempts", default=0),
                "next_try": pick(r, "next_try", default=0),
            })
        out.append({"id": pick(m, "id", "qid", "queue_id", default=""),
                    "sender": pick(m, "sender", "from", default=""),
                    "recipients": rcpts, "raw": m})
    return out


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

    def starttls(self, ctx=None, server_hostname="mx.test", command=True):
        """STARTTLS (unless command is False: implicit TLS), then the
        handshake; the socket is TLS from here on."""
        import ssl
        if command:
            c, txt = self.cmd(b"STARTTLS")
            check(c == 220, "STARTTLS: %r, want 220" % txt)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=os.path.join(certs(),
                                                                 "ca.crt"))
        self.buf = b""
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=server_hostname)
        return self.sock

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


# --- outside programs -----------------------------------------------------

def avald_check(conf):
    """avald -n -f conf: (exit status, stdout and stderr as text)."""
    binp = os.path.join(BUILD, "avald")
    if not os.access(binp, os.X_OK):
        raise Fail("no %s (is the tree built?)" % binp)
    try:
        r = subprocess.run([binp, "-n", "-f", conf], capture_output=True,
                           timeout=20 * SLOW, env=sanitizer_env(),
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Fail("avald -n -f %s did not finish in %.0fs" % (conf, 20 * SLOW))
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def need_tool(name, package):
    """The path of an outside program, or Skip naming its Debian package."""
    p = shutil.which(name)
    if not p:
        raise Skip("%s is not installed (Debian package %s)" % (name, package))
    return p


def run_tool(argv, data=b"", timeout=30):
    """Run an outside client with data on its standard input; (exit
    status, stdout and stderr as text). Killed, and the test failed, when
    it runs past timeout seconds (stretched under sanitizers)."""
    try:
        r = subprocess.run(argv, input=data, capture_output=True,
                           timeout=timeout * SLOW)
    except subprocess.TimeoutExpired as e:
        out = ((e.stdout or b"") + (e.stderr or b"")).decode("utf-8", "replace")
        raise Fail("%s did not finish in %.0fs:\n%s"
                   % (" ".join(argv), timeout * SLOW, tail(out, 15)))
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def ca_bin():
    p = os.path.join(BUILD, "aval-ca")
    if not os.access(p, os.X_OK):
        raise Fail("%s is not built (make %s)" % (p, p))
    return p


def ca(t, state, *args, ok=True, json_out=False):
    """Run aval-ca -d state ARGS; (exit status, output). Its stderr goes to
    a file in the test folder too, so a sanitizer report fails the test."""
    argv = [ca_bin(), "-d", state] + (["--json"] if json_out else []) + list(args)
    r = subprocess.run(argv, capture_output=True, timeout=60 * SLOW)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    with open(os.path.join(t.dir, "aval-ca.log"), "a") as f:
        f.write("$ %s\n%s" % (" ".join(argv), out))
    if ok and r.returncode != 0:
        raise Fail("aval-ca %s exited %d:\n%s" % (" ".join(args), r.returncode, out))
    if json_out and r.returncode == 0:
        return r.returncode, json.loads(r.stdout.decode())
    return r.returncode, out


def outcome(a, rcpt, timeout=30):
    """(status, line) of the delivery line for rcpt ("sent", "deferred" or
    "bounced"), once an agent has logged it"""
    r = re.compile(r"to=<%s>, relay=.*status=(sent|deferred|bounced)"
                   % re.escape(rcpt))

    def find():
        for line in a.log().splitlines():
            m = r.search(line)
            if m:
                return m.group(1), line
        return None
    return wait_until(find, timeout, 0.1, "a delivery line for %s" % rcpt)


def dns_server(t, spec):
    """Start tests/dns/dnsserver with the zones of spec (its SPEC text) in
    a folder of the test, stopped at teardown; (resolver setting, trust
    anchor file). Skip when unbound or ldnsutils are missing."""
    tool = os.path.join(REPO, "tests", "dns", "dnsserver")
    if subprocess.run([tool, "check"], capture_output=True).returncode != 0:
        raise Skip("the DNS test server needs Debian's unbound and ldnsutils")
    d = t.subdir("dns")
    specfile = os.path.join(d, "spec")
    with open(specfile, "w") as f:
        f.write(spec)
    r = subprocess.run([tool, "start", d, specfile], capture_output=True,
                       timeout=30 * SLOW)
    if r.returncode != 0:
        raise Fail("dnsserver start: %s" % (r.stdout + r.stderr).decode(
            "utf-8", "replace"))
    t.cleanups.append(lambda: subprocess.run([tool, "stop", d],
                                             capture_output=True, timeout=30))
    with open(os.path.join(d, "port")) as f:
        port = int(f.read().strip())
    return "127.0.0.1@%d" % port, os.path.join(d, "trust-anchors")


# --- what avald left behind ------------------------------------------------

def maildir_files(a, domain, local):
    d = os.path.join(a.maildir, domain, local, "new")
    try:
        return [os.path.join(d, f) for f in sorted(os.listdir(d))]
    except OSError:
        return []


def queue_rcpt(a, addr):
    """(message, recipient) of addr in the queue, or None."""
    for m in a.queue():
        for rc in m["recipients"]:
            if rc["address"].strip("<>").lower() == addr:
                return m, rc
    return None


def nothing_queued(t, a, sink, what):
    time.sleep(1.0 * SLOW)
    q = a.queue()
    check(not q, "%s: queued: %s" % (what, json.dumps([m["raw"] for m in q])[:800]))
    check(sink.count() == 0, "%s: %d message(s) reached the sink: %r"
          % (what, sink.count(), [m[3][:200] for m in sink.messages()]))
