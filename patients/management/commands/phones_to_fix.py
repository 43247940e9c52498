"""List the patients whose phone number is not a valid number in their country (kept as
typed by the migration to checked numbers): staff fix them on the patient's edit page, or
see them at /patients/phones-to-fix/."""

from django.core.management.base import BaseCommand

from patients.selectors import phones_to_fix


class Command(BaseCommand):
    help = "List patients whose phone number could not be read (kept as typed)."

    def handle(self, *args, **options):
        count = 0
        for patient in phones_to_fix().iterator():
            count += 1
            self.stdout.write(
                f"{patient.pk}\t{patient.full_name}\t{patient.country}\t{patient.phone}"
            )
        self.stdout.write(f"{count} phone number(s) to fix.")
