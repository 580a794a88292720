"""
sinks.py - the next hops aval relays to in the tests

Each sink listens on a loopback port and writes every message it accepts
to a file of its own in its folder: AvalSink runs the project's aval-sink,
PostfixSink Postfix's smtp-sink (the test is skipped when it is missing),
PySink is a small threaded sink written here with aval-sink's file format
and its defer*/reject* recipients. A test gets one from Ctx.sink(kind);
without a kind, default_sink_kind() picks aval-sink, or PySink when
aval-sink is not built or AVAL_INTEG_SINK=py.
"""

import os
import re
import socket
import socketserver
import subprocess
import threading
import time

from harness import (BUILD, IS_ROOT, Fail, Skip, wait_until, popen, free_port,
                     tail, sanitizer_env)


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
        self.dir = t.subdir("sink-%d" % self.port if host == "127.0.0.1"
                            else "sink-%s-%d" % (host, self.port), 0o777)
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


class ProcSink(SinkBase):
    """A sink that is a process of its own (self.proc, its log in
    self.logpath): listening while the process lives and its port (or
    unix socket, self.path) takes a connection; stopped with SIGTERM,
    then SIGKILL."""

    path = None
    what = "the sink"

    def listening(self):
        if self.proc.poll() is not None:
            raise Fail("%s exited %s: %s" % (
                self.what, self.proc.returncode,
                tail(open(self.logpath, errors="replace").read(), 10)))
        try:
            if self.path:
                with socket.socket(socket.AF_UNIX) as u:
                    u.settimeout(1)
                    u.connect(self.path)
                    return True
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


class AvalSink(ProcSink):
    """The project's bench/aval-sink."""

    what = "aval-sink"

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

class PostfixSink(ProcSink):
    """Postfix's smtp-sink, dumping each transaction to a file."""

    what = "smtp-sink"

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


def _sink_store(holder, rfile, sender, rcpts):
    """Read a DATA body from rfile (dots undone) and store it as the next
    file of holder (its .dir, .n and .lock), in aval-sink's format; the
    file's name, or None if the client went away first."""
    data = []
    while True:
        l = rfile.readline(1 << 20)
        if not l:
            return None
        if l == b".\r\n":
            break
        data.append(l[1:] if l.startswith(b".") else l)
    with holder.lock:
        holder.n += 1
        name = "%06d" % holder.n
    head = "X-Sink-From: <%s>\r\n" % sender + "".join(
        "X-Sink-To: <%s>\r\n" % r for r in rcpts)
    tmp = os.path.join(holder.dir, "." + name)
    with open(tmp, "wb") as out:
        out.write(head.encode() + b"".join(data))
    os.rename(tmp, os.path.join(holder.dir, name))
    return name


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
                name = _sink_store(srv, self.rfile, sender, rcpts)
                if name is None:
                    return
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


class _ScriptHandler(socketserver.StreamRequestHandler):
    """One session of ScriptSink: PySink's answers, with the sink's
    extensions, delays and one-off failures (see ScriptSink)."""

    def say(self, b):
        self.wfile.write(b)
        self.wfile.flush()

    def handle(self):
        srv = self.server
        sk = srv.sink
        self.say(b"220 scriptsink ESMTP\r\n")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(8192)
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            with srv.lock:
                sk.lines.append(cmd)
            verb = cmd[:4].upper()
            if verb in (b"EHLO", b"HELO", b"LHLO"):
                ext = [b"scriptsink"] + [e.encode() for e in sk.ehlo]
                self.say(b"".join(b"250-" + e + b"\r\n" for e in ext[:-1])
                         + b"250 " + ext[-1] + b"\r\n")
            elif verb == b"MAIL":
                m = re.search(rb"<([^>]*)>", cmd)
                sender, rcpts = (m.group(1).decode("utf-8", "replace") if m else ""), []
                self.say(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                if sk.rcpt_delay:
                    time.sleep(sk.rcpt_delay)
                m = re.search(rb"<([^>]*)>", cmd)
                a = m.group(1).decode("utf-8", "replace") if m else ""
                if sk.take("rcpt421", a):
                    self.say(b"421 4.3.2 scriptsink shutting down\r\n")
                    return
                rcpts.append(a)
                self.say(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                if not rcpts:
                    self.say(b"554 5.5.1 no valid recipients\r\n")
                    continue
                if sk.take("data421"):
                    self.say(b"421 4.3.2 scriptsink shutting down\r\n")
                    return
                self.say(b"354 go ahead\r\n")
                if sk.take("drop_after_dot"):
                    while self.rfile.readline(1 << 20) not in (b".\r\n", b""):
                        pass
                    return		# gone before the final reply
                name = _sink_store(srv, self.rfile, sender, rcpts)
                if name is None:
                    return
                self.say(b"250 2.0.0 Ok: stored %s\r\n" % name.encode())
                sender, rcpts = None, []
            elif verb in (b"RSET", b"NOOP"):
                sender, rcpts = None, []
                self.say(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                self.say(b"221 2.0.0 Bye\r\n")
                return
            else:
                self.say(b"502 5.5.1 unknown\r\n")


class ScriptSink(SinkBase):
    """A threaded sink in aval-sink's file format that says of itself
    what the test wants: ehlo is the list of extensions it announces,
    rcpt_delay the seconds it waits before each RCPT reply, and
    fail={"rcpt421": "addr", "data421": 1, "drop_after_dot": 1} the
    one-off failures (each happens once, then the sink behaves): a 421
    to that RCPT, a 421 to DATA, the connection closed after the body's
    dot before any reply. Every command line it reads is in .lines."""

    def __init__(self, t, port=None, host="127.0.0.1",
                 ehlo=("PIPELINING", "8BITMIME", "SIZE 100000000",
                       "ENHANCEDSTATUSCODES"), rcpt_delay=0, fail=None):
        super().__init__(t, port, host)
        self.ehlo, self.rcpt_delay = list(ehlo), rcpt_delay
        self.fail = dict(fail or {})
        self.lines = []

        class Srv(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def handle_error(self, request, client_address):
                pass
        self.srv = Srv((host, self.port), _ScriptHandler)
        self.srv.dir, self.srv.n, self.srv.lock = self.dir, 0, threading.Lock()
        self.srv.sink = self
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def take(self, what, addr=None):
        """1 (and forgotten) if the one-off failure what is due now."""
        with self.srv.lock:
            v = self.fail.get(what)
            if v is None or (addr is not None and v != addr):
                return False
            del self.fail[what]
            return True

    def commands(self, verb):
        with self.srv.lock:
            return [l.decode("utf-8", "replace") for l in self.lines
                    if l[:len(verb)].upper() == verb.encode()]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class LmtpSink(ProcSink):
    """An LMTP server on aiosmtpd (lmtp_sink.py, run by Debian's python3,
    which has python3-aiosmtpd): a reply per recipient after DATA, 452
    for a local part starting with "full". Skipped when aiosmtpd is not
    there."""

    what = "lmtp_sink.py"

    PYTHON = "/usr/bin/python3"

    def __init__(self, t, port=None, host="127.0.0.1", path=None):
        super().__init__(t, port, host)
        self.path = path		# a unix socket instead of the port
        if subprocess.run([self.PYTHON, "-c", "import aiosmtpd.lmtp"],
                          capture_output=True).returncode != 0:
            raise Skip("no aiosmtpd for %s (Debian: python3-aiosmtpd)"
                       % self.PYTHON)
        self.logpath = os.path.join(t.dir, "lmtp-%d.log" % self.port)
        self.logf = open(self.logpath, "ab")
        self.proc = popen(
            [self.PYTHON, os.path.join(os.path.dirname(__file__), "lmtp_sink.py"),
             "unix:" + path if path else str(self.port), self.dir],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_until(self.listening, 10, 0.05, "the LMTP sink to listen on %s"
                   % (path or self.port))


class TlsSink(SinkBase):
    """A sink that speaks STARTTLS, or misbehaves around it, for the
    outbound TLS policy tests. Options:

      cert, key   the server certificate (paths); None: no TLS at all
      starttls    "offer" (default), "hide" (not in EHLO), "454" (refuse),
                  "drop" (close at STARTTLS), "inject" (220 and then bytes
                  before the handshake)
      client_ca   ask for a client certificate and verify it against this
      one_per_conn  close the connection after each message (so every
                  message needs a new connection: TLS resumption is seen)

    Every connection is recorded in self.conns: a dict with "tls"
    (version or None), "resumed", "client_cert" (subject CN or None),
    "mail" (MAIL FROM commands seen) and "cmds" (every command verb)."""

    def __init__(self, t, port=None, host="127.0.0.1", cert=None, key=None,
                 starttls="offer", client_ca=None, one_per_conn=False):
        import ssl
        super().__init__(t, port, host)
        self.conns, self.lock = [], threading.Lock()
        self.ctx = None
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
            if client_ca:
                self.ctx.verify_mode = ssl.CERT_OPTIONAL
                self.ctx.load_verify_locations(client_ca)
        sink = self
        sink.starttls, sink.one_per_conn, sink.n = starttls, one_per_conn, 0

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                sink._serve(self.request)

        class Srv(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def handle_error(self, request, client_address):
                pass
        self.srv = Srv((host, self.port), H)
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def _serve(self, sock):
        rec = {"tls": None, "resumed": False, "client_cert": None,
               "mail": 0, "cmds": []}
        with self.lock:
            self.conns.append(rec)
        sock.settimeout(30)
        f = sock.makefile("rwb")

        def say(b):
            f.write(b)
            f.flush()
        say(b"220 tlssink ESMTP\r\n")
        sender, rcpts = None, []
        while True:
            line = f.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            verb = cmd.split(b" ")[0].upper()
            rec["cmds"].append(verb.decode(errors="replace"))
            if verb in (b"EHLO", b"HELO"):
                ext = [b"tlssink", b"PIPELINING", b"8BITMIME", b"SIZE 10000000"]
                if self.ctx and rec["tls"] is None and self.starttls != "hide":
                    ext.append(b"STARTTLS")
                say(b"".join(b"250-" + e + b"\r\n" for e in ext[:-1]) +
                    b"250 " + ext[-1] + b"\r\n")
            elif verb == b"STARTTLS" and self.ctx and rec["tls"] is None:
                if self.starttls == "454":
                    say(b"454 4.7.0 TLS not available now\r\n")
                    continue
                if self.starttls == "drop":
                    sock.close()
                    return
                if self.starttls == "inject":
                    say(b"220 2.0.0 go ahead\r\n250 2.0.0 injected\r\n")
                    time.sleep(0.5)
                else:
                    say(b"220 2.0.0 go ahead\r\n")
                try:
                    s2 = self.ctx.wrap_socket(sock, server_side=True)
                except Exception:
                    return
                rec["tls"] = s2.version()
                rec["resumed"] = s2.session_reused
                pc = s2.getpeercert()
                if pc:
                    for part in pc.get("subject", ()):
                        for k, v in part:
                            if k == "commonName":
                                rec["client_cert"] = v
                sock, f = s2, s2.makefile("rwb")
            elif verb == b"MAIL":
                rec["mail"] += 1
                m = re.search(rb"<([^>]*)>", cmd)
                sender, rcpts = (m.group(1).decode(errors="replace") if m else ""), []
                say(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                m = re.search(rb"<([^>]*)>", cmd)
                rcpts.append(m.group(1).decode(errors="replace") if m else "")
                say(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                say(b"354 go ahead\r\n")
                name = _sink_store(self, f, sender, rcpts)
                if name is None:
                    return
                say(b"250 2.0.0 Ok: stored %s\r\n" % name.encode())
                if self.one_per_conn:
                    try:
                        if hasattr(sock, "unwrap"):
                            sock.unwrap()
                    except Exception:
                        pass
                    sock.close()
                    return
            elif verb == b"RSET" or verb == b"NOOP":
                say(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                say(b"221 2.0.0 Bye\r\n")
                return
            else:
                say(b"502 5.5.1 unknown\r\n")

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
