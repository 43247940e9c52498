from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views as accounts_views
from accounts.forms import ClinicPasswordResetForm
from accounts.throttle import throttle_password_reset, throttle_sign_in
from clinic.health import healthz, ping, status
from frontdesk.views import consents as desk_consents
from frontdesk.views import (
    follow_ups,
    history,
    lots,
    messages,
    patients,
    recall,
    reminders,
    requests,
    schedule,
    sessions,
    waitlist,
)
from portal import views as portal
from portal.forms import SignInForm
from reminders import webhooks

admin.site.site_header = "Clinic administration"
admin.site.site_title = "Clinic administration"

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("ping", ping, name="ping"),
    path("status/", status, name="delivery_status"),
    path(
        "accounts/login/",
        throttle_sign_in(auth_views.LoginView.as_view(authentication_form=SignInForm)),
        name="login",
    ),
    path(
        "accounts/password_reset/",
        throttle_password_reset(
            auth_views.PasswordResetView.as_view(
                form_class=ClinicPasswordResetForm,
                subject_template_name="registration/password_reset_subject.txt",
            )
        ),
        name="password_reset",
    ),
    path("accounts/logout/", accounts_views.SignOutView.as_view(), name="logout"),
    path("accounts/two-factor/", accounts_views.two_factor_overview, name="two_factor"),
    path("accounts/two-factor/setup/", accounts_views.two_factor_setup, name="two_factor_setup"),
    path("accounts/two-factor/verify/", accounts_views.two_factor_verify, name="two_factor_verify"),
    path(
        "accounts/two-factor/recovery-codes/",
        accounts_views.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("accounts/two-factor/remove/", accounts_views.two_factor_remove, name="two_factor_remove"),
    path("accounts/", include("django.contrib.auth.urls")),
    # The patient portal
    path("portal/", portal.home, name="portal_home"),
    path("portal/aftercare/", portal.aftercare, name="portal_aftercare"),
    path("portal/follow-ups/", portal.follow_ups, name="portal_follow_ups"),
    path("portal/photos/<int:pk>/", portal.photo, name="portal_photo"),
    path("portal/compare/", portal.compare, name="portal_compare"),
    path("portal/sessions/<int:pk>.ics", portal.session_ics, name="portal_session_ics"),
    path("portal/sessions/<int:pk>/request/", portal.request_change, name="portal_request_change"),
    path("portal/book/", portal.book, name="portal_book"),
    path("portal/waitlist/", portal.waitlist, name="portal_waitlist"),
    path("portal/waitlist/leave/", portal.waitlist_leave, name="portal_waitlist_leave"),
    path("portal/waitlist/offers/<int:pk>/", portal.waitlist_offer, name="portal_waitlist_offer"),
    path("portal/sessions/<int:pk>/cancel/", portal.cancel_own, name="portal_cancel"),
    path("portal/follow-ups/<int:pk>.ics", portal.follow_up_ics, name="portal_follow_up_ics"),
    path("portal/calendar/<str:token>.ics", portal.calendar_feed, name="portal_calendar_feed"),
    path("portal/calendar-link/", portal.calendar_token, name="portal_calendar_token"),
    path("portal/consents/", portal.consents, name="portal_consents"),
    path("portal/consents/<int:pk>/", portal.consent, name="portal_consent"),
    path(
        "portal/consents/<int:pk>/withdraw/",
        portal.consent_withdraw,
        name="portal_consent_withdraw",
    ),
    path("portal/consents/sign/<int:pk>/", portal.consent_sign, name="portal_consent_sign"),
    path("portal/preferences/", portal.preferences, name="portal_preferences"),
    path("portal/intake/", portal.intake, name="portal_intake"),
    path("portal/intake/confirm/", portal.intake_confirm, name="portal_intake_confirm"),
    path("portal/welcome/<uidb64>/<token>/", portal.welcome, name="portal_welcome"),
    path("schedule/", schedule.schedule, name="schedule"),
    path("recall/", recall.recall_list, name="recall"),
    path("booking-requests/", requests.booking_requests, name="booking_requests"),
    path("waitlist/", waitlist.waitlist, name="staff_waitlist"),
    path("patients/", patients.patient_list, name="patient_list"),
    path("patients/new/", patients.patient_create, name="patient_create"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient_detail"),
    path(
        "patients/<int:patient_pk>/consents/<int:pk>/sign/",
        desk_consents.desk_sign,
        name="consent_desk_sign",
    ),
    path(
        "patients/<int:patient_pk>/consents/<int:pk>/hand-over/",
        desk_consents.hand_over,
        name="consent_desk_hand_over",
    ),
    path("patients/<int:pk>/consents/", desk_consents.patient_consents, name="patient_consents"),
    path(
        "patients/<int:patient_pk>/consents/signed/<int:pk>/withdraw/",
        desk_consents.desk_withdraw,
        name="consent_desk_withdraw",
    ),
    path("desk/patient-signing/", desk_consents.desk_patient_signing, name="desk_patient_signing"),
    path("desk/patient-signing/unlock/", desk_consents.desk_unlock, name="desk_unlock"),
    path("patients/<int:pk>/history/", history.patient_history, name="patient_history"),
    path("intake/<int:pk>/review/", patients.intake_review, name="intake_review"),
    path("patients/<int:patient_pk>/book/", sessions.session_book, name="session_book"),
    path("patients/<int:patient_pk>/preview/", sessions.session_preview, name="session_preview"),
    path("sessions/<int:pk>/", sessions.session_detail, name="session_detail"),
    path("sessions/<int:pk>/history/", history.session_history, name="session_history"),
    path("sessions/<int:pk>/check-in/", sessions.session_check_in, name="session_check_in"),
    path("sessions/<int:pk>/no-show/", sessions.session_no_show, name="session_no_show"),
    path("sessions/<int:pk>/complete/", sessions.session_complete, name="session_complete"),
    path("sessions/<int:pk>/amend/", sessions.session_amend, name="session_amend"),
    path(
        "sessions/<int:pk>/nsaid-decision/",
        sessions.session_nsaid_decision,
        name="session_nsaid_decision",
    ),
    path("sessions/<int:pk>/move/", sessions.session_reschedule, name="session_reschedule"),
    path("sessions/<int:pk>/cancel/", sessions.session_cancel, name="session_cancel"),
    path("follow-ups/<int:pk>/record/", follow_ups.follow_up_record, name="follow_up_record"),
    path("follow-ups/review/", follow_ups.follow_up_review, name="follow_up_review"),
    path("follow-ups/review.csv", follow_ups.follow_up_review_csv, name="follow_up_review_csv"),
    path("follow-ups/mark-missed/", follow_ups.follow_up_mark_missed, name="follow_up_mark_missed"),
    path("photos/<int:pk>/", follow_ups.follow_up_photo, name="follow_up_photo"),
    # Issue 14, item 5: the day-0 baseline and the before/after comparison.
    path("sessions/<int:pk>/baseline/", follow_ups.session_baseline, name="session_baseline"),
    path("patients/<int:pk>/compare/", follow_ups.photo_compare, name="photo_compare"),
    path("lots/", lots.lot_list, name="lot_list"),
    path("lots/<int:pk>/", lots.lot_detail, name="lot_detail"),
    path("lots/<int:pk>/certificate/", lots.lot_certificate, name="lot_certificate"),
    path("lots/<int:pk>/hold/", lots.lot_hold, name="lot_hold"),
    path("lots/<int:pk>/release/", lots.lot_release, name="lot_release"),
    path("lots/<int:pk>/write-off/", lots.lot_write_off, name="lot_write_off"),
    path("lots/<int:pk>/recall/", lots.lot_recall, name="lot_recall"),
    path("recalls/<int:pk>/", lots.recall_report, name="recall_report"),
    path("recalls/<int:pk>/report.csv", lots.recall_report_csv, name="recall_report_csv"),
    path("recall-patients/<int:pk>/contact/", lots.recall_contact, name="recall_contact"),
    path("reminders/failed/", reminders.failed_reminders, name="failed_reminders"),
    path("reminders/<int:pk>/resend/", reminders.reminder_resend, name="reminder_resend"),
    path("patients/<int:patient_pk>/invite/", patients.invite, name="portal_invite"),
    path(
        "side-effects/<int:pk>/resolve/", requests.resolve_side_effect, name="resolve_side_effect"
    ),
    path(
        "requests/<int:pk>/handled/", requests.handle_change_request, name="handle_change_request"
    ),
    path("admin/", admin.site.urls),
    # Issue 12, part B: editing and merging patients.
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient_edit"),
    path("patients/<int:pk>/merge/", patients.patient_merge, name="patient_merge"),
    # Issue 13, item 8: a patient's data on request (subject access).
    path("patients/<int:pk>/export/", patients.patient_export, name="patient_export"),
    path("patients/<int:pk>/export.json", patients.patient_export_json, name="patient_export_json"),
    # Issue 17: SMS through a provider, its webhooks, replies, the message log, phone numbers.
    path("webhooks/sms/status/", webhooks.status_callback, name="sms_status_callback"),
    path("webhooks/sms/inbound/", webhooks.inbound_sms, name="sms_inbound"),
    path("inbox/", messages.inbox, name="inbox"),
    path("inbox/<int:pk>/read/", messages.inbox_mark_read, name="inbox_mark_read"),
    path("patients/<int:pk>/messages/", messages.message_log, name="message_log"),
    path("patients/phones-to-fix/", messages.phone_numbers_to_fix, name="phones_to_fix"),
]
