"""The Celery application. Broker and schedule come from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.signals import celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

WORKER_APPLICATION_NAME = "clinic-reminder-worker"


def _worker_session_settings(sender, connection, **kwargs):
    """A worker's PostgreSQL sessions: named (so operators can find them in pg_stat_activity)
    and ended by the server if they ever sit idle inside a transaction, so a stuck worker
    cannot keep reminder rows locked against staff."""
    if connection.vendor != "postgresql":
        return
    from django.conf import settings

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('application_name', %s, false),"
            " set_config('idle_in_transaction_session_timeout', %s, false)",
            [WORKER_APPLICATION_NAME, f"{settings.WORKER_IDLE_IN_TRANSACTION_SECONDS}s"],
        )


@celeryd_init.connect
def _configure_worker(**kwargs):
    """In a `celery worker` process only (before its pool forks): the web is unaffected."""
    from django.db.backends.signals import connection_created

    connection_created.connect(_worker_session_settings, weak=False)
