# The slot finder's busy times of a range: a partial covering index, so a month of them is an
# index-only scan. Built concurrently (no lock on bookings while it builds), hence not atomic.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("treatments", "0024_waitlist"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="treatmentsession",
            index=models.Index(
                condition=models.Q(("status__in", ("scheduled", "confirmed", "completed"))),
                fields=["starts_at"],
                include=("ends_at", "clinician", "room"),
                name="session_busy_idx",
            ),
        ),
    ]
