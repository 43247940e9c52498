"""Stand-ins for outside providers, used by tests (and loaded by test worker processes)."""

import os
import time
from pathlib import Path

from django.core.mail.backends import filebased

from treatments.channels import BaseSmsBackend


class FailingSmsBackend(BaseSmsBackend):
    """An SMS gateway that is down."""

    def send(self, *, to, body, reference):
        raise ConnectionError("SMS gateway unreachable")


class SlowFileEmailBackend(filebased.EmailBackend):
    """Django's file backend, but each send first leaves a "sending-<id>" marker and waits
    SLOW_SEND_SECONDS: a test can kill a worker while it is in the middle of a send."""

    def send_messages(self, email_messages):
        delay = float(os.environ.get("SLOW_SEND_SECONDS", "0"))
        for message in email_messages:
            marker = Path(self.file_path) / f"sending-{message.extra_headers['X-Clinic-Reminder']}"
            marker.touch()
        if delay:
            time.sleep(delay)
        return super().send_messages(email_messages)
