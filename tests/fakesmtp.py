"""A fake mail provider on loopback for tests and bench/faults.py: a small threaded SMTP
server that can answer normally (after a simulated latency), accept connections and never
answer, or stall mid-message. Like a transactional mail API with an idempotency key, it
delivers each Message-ID once and counts every time one was handed over again.

Only what Django's SMTP backend says is understood: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT. No TLS, no auth.
"""

from __future__ import annotations

import re
import socketserver
import threading
import time
from dataclasses import dataclass, field

OK = "ok"
HANG = "hang"  # accept the connection, never send the greeting
STALL = "stall"  # take the whole message, never confirm it

MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.I | re.M)
REMINDER = re.compile(rb"^X-Clinic-Reminder:\s*(\d+)", re.I | re.M)


@dataclass
class Mailbox:
    """What the provider saw. `received` counts every complete hand-over per Message-ID,
    `delivered` holds the first (the one a patient would get), `first_seen` when its
    hand-over began (the DATA command)."""

    received: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)  # Message-ID -> reminder id
    first_seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, data: bytes, *, started: float) -> None:
        found = MESSAGE_ID.search(data)
        reminder = REMINDER.search(data)
        key = found.group(1).decode() if found else f"no-id-{time.monotonic_ns()}"
        with self.lock:
            self.received[key] = self.received.get(key, 0) + 1
            if key not in self.delivered:
                self.delivered[key] = int(reminder.group(1)) if reminder else 0
                self.first_seen[key] = started

    def handed_over_twice(self) -> int:
        with self.lock:
            return sum(n - 1 for n in self.received.values())

    def reminder_ids(self) -> set[int]:
        with self.lock:
            return set(self.delivered.values())


class _Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def hold(self) -> None:
        """Say nothing until the client gives up (or the server stops)."""
        server = self.server
        while not server.stopping.is_set():
            self.request.settimeout(0.2)
            try:
                if self.request.recv(1024) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def handle(self):
        server = self.server
        if server.mode == HANG:
            return self.hold()
        self.reply("220 fake-smtp ready")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            if server.mode == HANG:  # stops answering open connections too
                return self.hold()
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 fake-smtp")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.reply("250 OK")
            elif verb == b"DATA":
                self.reply("354 go ahead")
                started = time.time()
                lines = []
                while (chunk := self.rfile.readline(65536)) not in (b".\r\n", b""):
                    lines.append(chunk)
                if server.mode == STALL:
                    server.stalled += 1
                    return self.hold()
                if server.latency:
                    time.sleep(server.latency)
                server.mailbox.take(b"".join(lines), started=started)
                self.reply("250 queued")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not here")


class FakeSmtpServer(socketserver.ThreadingTCPServer):
    """`with FakeSmtpServer(latency=0.05) as smtp:` ... `smtp.port`, `smtp.mode = HANG`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *, port: int = 0, latency: float = 0.0, mode: str = OK):
        super().__init__(("127.0.0.1", port), _Handler)
        self.port = self.server_address[1]
        self.latency = latency
        self.mode = mode
        self.mailbox = Mailbox()
        self.stalled = 0  # messages taken and never confirmed
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def settings_env(self) -> dict[str, str]:
        """Environment for a worker process that mails through this server."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_URL": f"smtp://127.0.0.1:{self.port}",
        }
