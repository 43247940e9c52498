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
    # A session still owing its second factor sees no navigation (every link would lead
    # back to the code page).
    context["two_factor_pending"] = getattr(request, "two_factor_pending", False)
    if user is not None and user.is_authenticated and not context["two_factor_pending"]:
        context["may"] = roles.Grants(user)
        context["is_patient"] = roles.is_patient(user)
    return context
