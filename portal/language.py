"""The signed-in patient's language beyond the portal's own pages (password change, the
sign-out message): remembered in the session at sign-in and whenever a portal page finds it
changed, read by clinic.middleware.ReaderLanguageMiddleware. The portal's pages themselves
always read the patient's record (portal.views.patient_view)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts import roles
from patients.models import Patient

SESSION_KEY = "patient_language"


@receiver(user_logged_in, dispatch_uid="portal.remember_patient_language")
def remember_patient_language(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session") or not roles.is_patient(user):
        return
    language = Patient.objects.filter(user=user).values_list("language", flat=True).first()
    if language:
        request.session[SESSION_KEY] = language


def remember(request, language: str) -> None:
    """Keep the session's copy in step with the record (written only when it changed)."""
    if hasattr(request, "session") and request.session.get(SESSION_KEY) != language:
        request.session[SESSION_KEY] = language
