"""Stand-ins for outside providers, used by tests (and loaded by test worker processes)."""

import os
import time
from pathlib import Path

from django.core.mail.backends import filebased, locmem

from reminders.channels import BaseSmsBackend


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


class CallbackEmailBackend(locmem.EmailBackend):
    """Django's locmem backend that calls `during_send(message)` for each message it takes:
    something happening elsewhere while a message is with the provider."""

    during_send = staticmethod(lambda message: None)

    def send_messages(self, email_messages):
        for message in email_messages:
            type(self).during_send(message)
        return super().send_messages(email_messages)


class ConnectionDroppingEmailBackend(locmem.EmailBackend):
    """Django's locmem backend that, once a message is handed over, has PostgreSQL end this
    process's database connections (pg_terminate_backend from a second connection): the
    database blip that comes between a send and the record of it (the dispatcher records on a
    connection of its own, reminders.delivery.Recorder: that one too)."""

    def send_messages(self, email_messages):
        sent = super().send_messages(email_messages)
        terminate_own_connections()
        return sent


def terminate_own_connections() -> None:
    """End every session on the test database but the killer's: only this test process uses
    it (its main connection and the dispatcher's recording thread)."""
    import psycopg2
    from django.db import connection

    s = connection.settings_dict
    killer = psycopg2.connect(
        dbname=s["NAME"], user=s["USER"], host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432
    )
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    killer.close()
