from django.db.models import Q
from django.db.models.functions import Lower

from .models import Patient


def search_patients(query: str):
    """Patients matching every word of `query`: a word matches the start of the first name,
    last name or email, or (digits) any part of the phone. Ordered by name.

    Prefix matches use the patient_*_prefix indexes; while searching, the order is by
    LOWER(name), which keeps PostgreSQL on those indexes instead of walking the whole list
    in name order and filtering.
    """
    words = query.split()
    if not words:
        return Patient.objects.order_by("last_name", "first_name", "id")
    patients = Patient.objects.all()
    for word in words:
        match = (
            Q(last_name__istartswith=word)
            | Q(first_name__istartswith=word)
            | Q(email__istartswith=word)
        )
        digits = "".join(ch for ch in word if ch.isdigit())
        if len(digits) >= 3:
            match |= Q(phone__icontains=word)
        patients = patients.filter(match)
    return patients.order_by(Lower("last_name"), Lower("first_name"), "id")
