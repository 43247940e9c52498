import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST
from django_otp import DEVICE_ID_SESSION_KEY

from . import roles, throttle, two_factor
from .forms import CodeForm, EnrolmentCodeForm, NextForm, VerifyForm, safe_next


@login_required
def home(request):
    """Where each user starts: the follow-up review if they may review, else the day's
    schedule if they may see it, else (a patient) the portal."""
    user = request.user
    if roles.role_grants(user, "treatments.review_followup"):
        return redirect("follow_up_review")
    if roles.role_grants(user, "treatments.view_treatmentsession"):
        return redirect("schedule")
    if roles.is_patient(user):
        return redirect("portal_home")
    raise PermissionDenied("Your account has no role yet; ask the clinic to set it up.")


class SignOutView(LogoutView):
    """Sign out, and say so on the sign-in page it leads to (a shared computer at the desk:
    the next person sees the last one really left)."""

    def post(self, request, *args, **kwargs):
        was_signed_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_signed_in:  # the session is new now; the message goes into it
            messages.success(request, _("You are signed out."))
        return response


# --- Second factor (accounts/two_factor.py) -------------------------------------------------

WRONG_CODE = gettext_lazy("That code is not right. Check your app's clock and try the newest code.")
PAUSED = gettext_lazy(
    "Too many wrong codes came from your network. Wait an hour, or ask a clinic admin, "
    "then try again."
)


def _next_url(request) -> str:
    form = NextForm(request.GET)
    return safe_next(request, form.cleaned_data["next"] if form.is_valid() else None)


def _code_refused(request, form, result) -> None:
    """Count a refused code against the address and say why, without a 500 for any input."""
    throttle.count_two_factor_failure(request)
    if result is not None and result.locked_until is not None:
        seconds = max(1, math.ceil((result.locked_until - timezone.now()).total_seconds()))
        form.add_error(
            None,
            ngettext(
                "Too many wrong codes in a row: wait %(seconds)s second, then try again.",
                "Too many wrong codes in a row: wait %(seconds)s seconds, then try again.",
                seconds,
            )
            % {"seconds": seconds},
        )
    elif result is not None:
        form.add_error("code", WRONG_CODE)


@login_required
def two_factor_overview(request):
    """Sign-in security: whether the user has a second factor, recovery codes left, and the
    ways to set one up, make new codes or remove it."""
    user = request.user
    device = two_factor.enrolled_device(user)
    return render(
        request,
        "registration/two_factor.html",
        {
            "device": device,
            "codes_left": two_factor.recovery_codes_left(user) if device else 0,
            "required": two_factor.required_for(user),
        },
    )


@login_required
def two_factor_setup(request):
    """Enrol: scan the QR code (or type the secret), confirm with a code; the recovery codes
    are then shown on this response, once, and never again."""
    user = request.user
    enrolled = two_factor.enrolled_device(user) is not None
    if enrolled and not two_factor.is_verified(user):
        # Re-enrolment needs the current factor first. Asked of the database, not the
        # session's note: a session begun before the user enrolled elsewhere must not
        # replace the device with a password alone.
        request.session[two_factor.ENROLLED_SESSION_KEY] = True
        return redirect("two_factor_verify")
    device = two_factor.start_enrolment(user=user)
    form = EnrolmentCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.confirm_enrolment(
            user=user, device_id=device.pk, code=form.cleaned_data["code"]
        )
        if codes is not None:
            device.refresh_from_db()
            two_factor.bind_session(request, device)
            return render(
                request,
                "registration/two_factor_codes.html",
                {
                    "codes": [two_factor.format_recovery_code(c) for c in codes],
                    "enrolled": True,
                    "next": _next_url(request),
                },
            )
        form.add_error("code", WRONG_CODE)
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": two_factor.qr_code_svg(device),
            "secret": two_factor.secret_text(device),
            "required": two_factor.required_for(user),
            "enrolled": enrolled,
        },
    )


@login_required
def two_factor_verify(request):
    """The second step of signing in: a code from the app or a recovery code, and whether to
    remember this device. Wrong codes: django-otp slows the device down, and one address is
    paused after TWO_FACTOR_FAILURES_PER_IP."""
    user = request.user
    next_url = _next_url(request)
    if two_factor.is_verified(user):
        return HttpResponseRedirect(next_url)
    device = two_factor.enrolled_device(user)
    if device is None:  # removed or reset since sign-in
        request.session[two_factor.ENROLLED_SESSION_KEY] = False
        if two_factor.required_for(user):
            return redirect("two_factor_setup")
        return HttpResponseRedirect(next_url)
    days = settings.TWO_FACTOR_REMEMBER_DAYS
    form = VerifyForm(request.POST or None, remember_days=days, initial={"next": next_url})
    status = 200
    if request.method == "POST":
        if throttle.two_factor_paused(request):
            form.is_valid()
            form.add_error(None, PAUSED)
            status = 429
        elif form.is_valid():
            result = two_factor.verify_code(user=user, code=form.cleaned_data["code"])
            if result.device is not None:
                two_factor.bind_session(request, result.device)
                response = HttpResponseRedirect(safe_next(request, form.cleaned_data["next"]))
                if form.cleaned_data.get("remember"):
                    two_factor.remember_device(response, user=user, device=device)
                return response
            _code_refused(request, form, result)
        else:
            _code_refused(request, form, None)
    return render(
        request,
        "registration/two_factor_verify.html",
        {"form": form, "remember_days": days},
        status=status,
    )


@login_required
@require_POST
def two_factor_recovery_codes(request):
    """New recovery codes (the old ones stop working), shown on this response only."""
    user = request.user
    if two_factor.enrolled_device(user) is None or not two_factor.is_verified(user):
        return redirect("two_factor")
    codes = two_factor.regenerate_recovery_codes(user=user)
    return render(
        request,
        "registration/two_factor_codes.html",
        {"codes": [two_factor.format_recovery_code(c) for c in codes], "enrolled": False},
    )


@login_required
def two_factor_remove(request):
    """Remove the second factor, with a current code (a session left open is not enough)."""
    user = request.user
    if two_factor.enrolled_device(user) is None:
        return redirect("two_factor")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if throttle.two_factor_paused(request):
            form.is_valid()
            form.add_error(None, PAUSED)
            status = 429
        elif form.is_valid():
            result = two_factor.verify_code(user=user, code=form.cleaned_data["code"])
            if result.device is not None:
                two_factor.remove_two_factor(user=user, actor=user)
                request.session.pop(DEVICE_ID_SESSION_KEY, None)
                request.session[two_factor.ENROLLED_SESSION_KEY] = False
                messages.success(request, _("Your second factor and recovery codes are removed."))
                response = redirect("two_factor")
                two_factor.forget_device(response)
                return response
            _code_refused(request, form, result)
        else:
            _code_refused(request, form, None)
    return render(
        request,
        "registration/two_factor_remove.html",
        {"form": form, "required": two_factor.required_for(user)},
        status=status,
    )
