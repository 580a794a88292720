"""
test_crash.py - what survives when the machine does not: a power cut and
a full disk

The power cut: the spool on a loop-mounted ext4 image (loop device in
direct-I/O mode, so what the file system has sent to the device is in the
image file), every aval process frozen at once with SIGSTOP in the middle
of a load, the image copied as it is, the processes killed, and the copy
mounted (ext4 replays its journal, as after a power loss) and recovered by
a fresh aval. Every message acknowledged before the freeze must be
delivered. Writeback that the kernel still does for the frozen processes
may reach the image during the copy; that only keeps more, never less,
than a power cut would.

The full disk: the spool on a small tmpfs, filled by the load itself:
only 4xx once it is full, nothing acknowledged lost, and mail flows again
once space comes back.
"""

import os
import shutil
import signal
import smtplib
import subprocess
import threading
import time

from harness import (IS_ROOT, SANITIZE, SLOW, Fail, Skip, check, wait_until,
                     test)

BODY = (b"x" * 76 + b"\r\n") * 24
# Over one store chunk: a body the queue keeps in a file of its own.
BIG_BODY = (b"y" * 76 + b"\r\n") * 2000


def sh(*args):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise Fail("%s: %s" % (" ".join(args), r.stdout.decode(errors="replace")[-300:]))
    return r.stdout.decode().strip()


class LoopFs:
    """An ext4 image on a loop device, mounted; gone at teardown."""

    def __init__(self, t, img, mnt, make=True, size_mb=96):
        for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
            if not shutil.which(tool):
                raise Skip("no %s" % tool)
        self.img, self.mnt, self.dev = img, mnt, None
        if make:
            with open(img, "wb") as f:
                f.truncate(size_mb * 1024 * 1024)
            sh("mkfs.ext4", "-q", "-F", img)
        os.makedirs(mnt, exist_ok=True)
        self.dev = sh("losetup", "--direct-io=on", "-f", "--show", img)
        sh("mount", self.dev, mnt)
        os.chmod(mnt, 0o755)
        t.cleanups.append(self.down)

    def down(self):
        if self.dev is None:
            return
        subprocess.run(["umount", "-l", self.mnt], stderr=subprocess.DEVNULL)
        subprocess.run(["losetup", "-d", self.dev], stderr=subprocess.DEVNULL)
        self.dev = None


class Load:
    """SESSIONS threads sending one-recipient messages, each with its
    token, until stopped; acked holds the tokens that got 250. Every
    BIG_EVERY-th message of a thread carries BIG_BODY, and its token ends
    in "-big"."""

    def __init__(self, port, sessions=10, tag="pc", big_every=4):
        self.port, self.tag, self.big_every = port, tag, big_every
        self.acked, self.lock = set(), threading.Lock()
        self.stop = threading.Event()
        self.codes = {}
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(sessions)]
        for th in self.threads:
            th.start()

    def run(self, n):
        i = 0
        s = None
        while not self.stop.is_set():
            big = self.big_every > 0 and i % self.big_every == 0
            token = "%s-%02d-%05d%s" % (self.tag, n, i, "-big" if big else "")
            i += 1
            msg = (b"From: <load@client.test>\r\nTo: <sink@relay.test>\r\n"
                   b"Subject: load\r\nX-Bench-Token: " + token.encode() +
                   b"\r\n\r\n" + (BIG_BODY if big else BODY))
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                    s.ehlo("load.test")
                code, _ = s.mail("load@client.test")
                if code == 250:
                    code, _ = s.rcpt("sink@relay.test")
                if code == 250:
                    code, _ = s.data(msg)
                with self.lock:
                    self.codes[code] = self.codes.get(code, 0) + 1
                    if code == 250:
                        self.acked.add(token)
                if code != 250:
                    s.rset()
                    time.sleep(0.1)
            except (smtplib.SMTPException, OSError):
                try:
                    if s is not None:
                        s.close()
                except Exception:
                    pass
                s = None
                time.sleep(0.1)

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(20)

    def snapshot(self):
        with self.lock:
            return set(self.acked)


def sink_tokens(sink, short=None):
    """token -> copies delivered; a "-big" token whose copy lacks any of
    BIG_BODY is added to the set short, when one is given."""
    import re
    tok = re.compile(rb"X-Bench-Token: (\S+)")
    out = {}
    for f in sink.files():
        try:
            with open(os.path.join(sink.dir, f), "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        m = tok.search(data[:8192])
        if m:
            k = m.group(1).decode()
            out[k] = out.get(k, 0) + 1
            if (short is not None and k.endswith("-big") and
                    not data.endswith(BIG_BODY)):
                short.add(k)
    return out


@test("crash_power_cut_keeps_every_acknowledged_message", timeout=300,
      root_only=True)
def t_power_cut(t):
    sink = t.sink()
    lost_all = 0
    # Durability is the plain run's question; the sanitizer run looks at
    # recovery's memory once.
    rounds = 1 if SANITIZE else 3
    for r in range(rounds):
        img = os.path.join(t.dir, "spool%d.img" % r)
        fs = LoopFs(t, img, os.path.join(t.dir, "mnt%d" % r))
        a = t.aval(name="pc%d" % r, sinkport=sink.port,
                   spool=os.path.join(fs.mnt, "spool"),
                   queue_lines=["min-free-space\t\t1M"]).start()
        load = Load(a.port, tag="pc%d" % r)
        time.sleep((1.5 + r * 0.7) * SLOW)
        # The power goes: every aval process at once.
        os.killpg(a.proc.pid, signal.SIGSTOP)
        acked = load.snapshot()
        copy = os.path.join(t.dir, "copy%d.img" % r)
        shutil.copyfile(img, copy)
        os.killpg(a.proc.pid, signal.SIGKILL)
        try:
            a.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        load.finish()
        fs.down()
        # The machine comes back: the copy, journal replayed, a new aval.
        fs2 = LoopFs(t, copy, os.path.join(t.dir, "back%d" % r), make=False)
        b = t.aval(name="back%d" % r, sinkport=sink.port,
                   spool=os.path.join(fs2.mnt, "spool"),
                   queue_lines=["min-free-space\t\t1M"]).start()

        def all_there():
            seen = sink_tokens(sink)
            return acked <= set(seen)
        wait_until(all_there, 60, 0.5)
        short = set()
        seen = sink_tokens(sink, short)
        lost = sorted(acked - set(seen))
        dups = sum(1 for k in acked if seen.get(k, 0) > 1)
        big = sum(1 for k in acked if k.endswith("-big"))
        t.note("round %d: %d acknowledged before the cut (%d with a body "
               "file), %d delivered, %d lost, %d duplicated, %d cut short; "
               "replies %r" % (r, len(acked), big, len(acked & set(seen)),
                               len(lost), dups, len(short), load.codes))
        check(not short, "round %d: delivered without the whole body: %r"
              % (r, sorted(short)[:5]))
        lost_all += len(lost)
        b.stop()
        fs2.down()
        check(len(acked) > 20, "round %d: only %d messages acknowledged before the "
              "cut: the test proves little" % (r, len(acked)))
    check(lost_all == 0, "%d acknowledged message(s) lost to the power cuts" % lost_all)


@test("crash_disk_full_only_4xx_nothing_lost_flows_again", timeout=300,
      root_only=True)
def t_disk_full(t):
    from harness import free_port, make_message, smtp_send
    if not shutil.which("mount"):
        raise Skip("no mount")
    sink = t.sink()
    mnt = os.path.join(t.dir, "small")
    os.makedirs(mnt)
    # Room for the Berkeley DB environment and some mail, not much more.
    sh("mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", mnt)
    t.cleanups.append(lambda: subprocess.run(["umount", "-l", mnt]))
    filler = os.path.join(mnt, "filler")
    # No next hop at first (nobody on the port): the mail stays, the disk
    # fills. min-free-space 0: the writes themselves must fail, not the
    # 452 at MAIL that min-free-space gives before.
    a = t.aval(sinkport=free_port(), spool=os.path.join(mnt, "spool"),
               queue_lines=["min-free-space\t\t0"]).start()
    # Most of the disk goes to a file, the last few MiB to the mail: so
    # that removing the file gives the queue room again (a disk full of
    # mail alone would stay full until the postmaster made room).
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, os.path.getsize(filler) - 6 * (1 << 20)))
    load = Load(a.port, tag="df")
    wait_until(lambda: load.codes.get(451, 0) + load.codes.get(452, 0) > 0,
               60, 0.2, "the disk to fill and the 4xx to come")
    time.sleep(2 * SLOW)
    full_before = len(load.snapshot())
    time.sleep(2 * SLOW)
    grew = len(load.snapshot()) - full_before
    codes_full = dict(load.codes)
    t.note("with the disk full: replies so far %r, %d more acknowledged in 2s"
           % (codes_full, grew))
    bad = [c for c in codes_full if c is not None and 500 <= c < 600]
    check(not bad, "permanent refusals while the disk was full: %r" % codes_full)
    check(codes_full.get(451, 0) + codes_full.get(452, 0) > 0,
          "no 4xx while the disk was full: %r" % codes_full)
    # Space comes back, and so does the next hop: no restart, a reload.
    os.unlink(filler)
    a.sinkport = sink.port
    a.write_config()
    a.signal(signal.SIGHUP)
    t_back = time.time()

    def accepted():
        try:
            smtp_send(a.port, "s@client.test", ["after@relay.test"],
                      make_message("after-full"))
            return True
        except (Fail, OSError, smtplib.SMTPException):
            return False
    wait_until(accepted, 30, 0.5, "mail accepted again once space came back")
    t.note("accepted again %.1fs after the space came back"
           % (time.time() - t_back))
    load.finish()
    acked = load.snapshot()
    a.flush()

    def all_there():
        return acked <= set(sink_tokens(sink))
    wait_until(all_there, 60, 0.5)
    short = set()
    seen = sink_tokens(sink, short)
    lost = sorted(acked - set(seen))
    t.note("%d acknowledged in all (%d with a body file), %d delivered once "
           "space came back, %d lost, %d cut short"
           % (len(acked), sum(1 for k in acked if k.endswith("-big")),
              len(acked & set(seen)), len(lost), len(short)))
    check(not lost, "%d acknowledged message(s) lost after the disk was full: %r"
          % (len(lost), lost[:10]))
    check(not short, "delivered without the whole body: %r" % sorted(short)[:5])
