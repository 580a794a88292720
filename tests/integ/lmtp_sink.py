"""
lmtp_sink.py - an LMTP server for the integration tests, on aiosmtpd

	/usr/bin/python3 lmtp_sink.py PORT DIR
	/usr/bin/python3 lmtp_sink.py unix:PATH DIR

Runs under Debian's python3 (the python3-aiosmtpd package) as a process of
its own, since the test runner may be another Python. It listens on
127.0.0.1:PORT, or on the unix socket PATH (mode 0666, so that a worker
under another user can connect), with aiosmtpd.lmtp.LMTP and, after
DATA, answers one reply
per recipient (RFC 2033 section 4.2): "452 4.2.2" for a local part that
starts with "full", "250 2.0.0" for the others, which get the message in
DIR in aval-sink's file format (X-Sink-From, X-Sink-To, the message).
"""

import os
import sys
import threading

from aiosmtpd.controller import Controller, UnixSocketController
from aiosmtpd.lmtp import LMTP


class Handler:
    def __init__(self, d):
        self.d, self.n, self.lock = d, 0, threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        ok = [r for r in envelope.rcpt_tos if not r.lower().startswith("full")]
        if ok:
            with self.lock:
                self.n += 1
                name = "%06d" % self.n
            head = "X-Sink-From: <%s>\r\n" % envelope.mail_from + "".join(
                "X-Sink-To: <%s>\r\n" % r for r in ok)
            tmp = os.path.join(self.d, "." + name)
            with open(tmp, "wb") as f:
                f.write(head.encode() + envelope.original_content)
            os.rename(tmp, os.path.join(self.d, name))
        return "\r\n".join(
            "452 4.2.2 <%s> mailbox full" % r if r.lower().startswith("full")
            else "250 2.0.0 <%s> delivered" % r for r in envelope.rcpt_tos)


class LmtpController(Controller):
    def factory(self):
        return LMTP(self.handler, enable_SMTPUTF8=True)


class LmtpUnixController(UnixSocketController):
    def factory(self):
        return LMTP(self.handler, enable_SMTPUTF8=True)


def main():
    where, d = sys.argv[1], sys.argv[2]
    if where.startswith("unix:"):
        c = LmtpUnixController(Handler(d), unix_socket=where[5:])
        c.start()
        os.chmod(where[5:], 0o666)
    else:
        c = LmtpController(Handler(d), hostname="127.0.0.1", port=int(where))
        c.start()
    print("listening", flush=True)
    try:
        threading.Event().wait()
    finally:
        c.stop()


if __name__ == "__main__":
    main()
