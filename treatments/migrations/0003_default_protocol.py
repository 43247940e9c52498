"""The protocol in force from the start: the stricter defaults of clinic-protocol.md."""

import datetime

from django.db import migrations


def create_default_protocol(apps, schema_editor):
    ProtocolVersion = apps.get_model("treatments", "ProtocolVersion")
    if not ProtocolVersion.objects.exists():
        ProtocolVersion.objects.create(
            name="Standard protocol v1",
            effective_from=datetime.date(2000, 1, 1),
            gap_months=6,
            nsaid_days_before=3,
            nsaid_days_after=21,
            follow_up_plan=[
                {"kind": "aftercare_check", "days": 7},
                {"kind": "early_result", "months": 3},
                {"kind": "assessment", "months": 6},
                {"kind": "long_term", "months": 12},
            ],
            quiet_hours_start=datetime.time(21, 0),
            quiet_hours_end=datetime.time(8, 0),
            notes="Defaults of the clinical protocol (the stricter source where sources differ).",
        )


class Migration(migrations.Migration):
    dependencies = [("treatments", "0002_postgres_rule_constraints")]

    operations = [migrations.RunPython(create_default_protocol, migrations.RunPython.noop)]
