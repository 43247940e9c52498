from django.contrib import admin
from django.urls import include, path

from accounts import views as accounts_views
from patients import views as patients_views
from treatments import views as t

admin.site.site_header = "Clinic administration"
admin.site.site_title = "Clinic administration"

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("portal/", accounts_views.portal_home, name="portal_home"),
    path("schedule/", t.schedule, name="schedule"),
    path("patients/", patients_views.patient_list, name="patient_list"),
    path("patients/new/", patients_views.patient_create, name="patient_create"),
    path("patients/<int:pk>/", patients_views.patient_detail, name="patient_detail"),
    path("patients/<int:patient_pk>/book/", t.session_book, name="session_book"),
    path("patients/<int:patient_pk>/preview/", t.session_preview, name="session_preview"),
    path("sessions/<int:pk>/", t.session_detail, name="session_detail"),
    path("sessions/<int:pk>/check-in/", t.session_check_in, name="session_check_in"),
    path("sessions/<int:pk>/no-show/", t.session_no_show, name="session_no_show"),
    path("sessions/<int:pk>/complete/", t.session_complete, name="session_complete"),
    path(
        "sessions/<int:pk>/nsaid-decision/", t.session_nsaid_decision, name="session_nsaid_decision"
    ),
    path("sessions/<int:pk>/move/", t.session_reschedule, name="session_reschedule"),
    path("sessions/<int:pk>/cancel/", t.session_cancel, name="session_cancel"),
    path("follow-ups/<int:pk>/record/", t.follow_up_record, name="follow_up_record"),
    path("follow-ups/review/", t.follow_up_review, name="follow_up_review"),
    path("follow-ups/review.csv", t.follow_up_review_csv, name="follow_up_review_csv"),
    path("follow-ups/mark-missed/", t.follow_up_mark_missed, name="follow_up_mark_missed"),
    path("photos/<int:pk>/", t.follow_up_photo, name="follow_up_photo"),
    path("reminders/failed/", t.failed_reminders, name="failed_reminders"),
    path("reminders/<int:pk>/resend/", t.reminder_resend, name="reminder_resend"),
    path("admin/", admin.site.urls),
]
