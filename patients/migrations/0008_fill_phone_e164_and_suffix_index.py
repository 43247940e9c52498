"""Fill the E.164 copy of the phone for patients registered before it existed, and index its
end for phone search (patients.selectors.search_patients): the query
REVERSE(phone_e164) LIKE '1010555%' finds numbers ending in ...5550101 through a btree
pattern index on the reversed string, which PostgreSQL cannot do for LIKE '%5550101'."""

import phonenumbers
from django.conf import settings
from django.db import migrations

from treatments.db import PostgresOnlyRunSQL

BATCH = 1000


def _to_e164(raw, region):
    # A copy of patients.phones.to_e164 as it was when this migration was written.
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def fill_phone_e164(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    region = settings.CLINIC_PHONE_REGION
    batch = []
    for patient in Patient.objects.exclude(phone="").only("pk", "phone").iterator(BATCH):
        patient.phone_e164 = _to_e164(patient.phone, region)
        batch.append(patient)
        if len(batch) >= BATCH:
            Patient.objects.bulk_update(batch, ["phone_e164"])
            batch = []
    if batch:
        Patient.objects.bulk_update(batch, ["phone_e164"])


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_patient_phone_e164")]

    operations = [
        migrations.RunPython(fill_phone_e164, migrations.RunPython.noop, elidable=True),
        PostgresOnlyRunSQL(
            sql="CREATE INDEX patient_phone_e164_suffix ON patients_patient "
            "(REVERSE(phone_e164) text_pattern_ops)",
            reverse_sql="DROP INDEX patient_phone_e164_suffix",
        ),
    ]
