from django.conf import settings

from . import roles


def clinic(request):
    """What every page's navigation needs to know about the signed-in user: what their roles
    grant (`may.<app>.<codename>`, read without a query) and whether they are a patient."""
    context = {
        "CLINIC_NAME": settings.CLINIC_NAME,
        "CLINIC_ADDRESS": settings.CLINIC_ADDRESS,
        "CLINIC_PHONE": settings.CLINIC_PHONE,
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["may"] = roles.Grants(user)
        context["is_patient"] = roles.is_patient(user)
    return context
