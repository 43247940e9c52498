"""Languages (README, "Languages"): everything a patient reads is in Patient.language, with
dates in that language's words and order, on the patient's clock; staff pages stay English;
the translation check fails on a missing translation."""

import re
from datetime import date
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from reminders.channels import LocmemSmsBackend, render_email, render_sms
from reminders.models import Reminder
from reminders.services import receive_sms
from scripts import check_translations
from tests.factories import NOW, PatientFactory, at, book
from tests.test_portal import portal_client
from tests.test_reminders import dispatch_at

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sms(settings):
    settings.SMS_BACKEND = "reminders.channels.LocmemSmsBackend"
    LocmemSmsBackend.outbox.clear()


class TestMessagesByWorkers:
    def test_a_german_patient_gets_german_email_and_sms_with_german_dates(self, frozen):
        patient = PatientFactory(
            first_name="Jonas", language="de", reminders_by_sms=True, phone="+49 170 5550101"
        )
        book(patient, date(2027, 3, 10), hour=16)
        dispatch_at(at(NOW.date(), 12))  # the booking confirmation, by the real dispatcher
        [email] = mail.outbox
        assert email.subject == "Ihr Termin am Mittwoch, 10. März 2027 ist gebucht"
        assert email.body.startswith("Guten Tag Jonas,")
        # The clinic's clock, named, in German words and order.
        when = "Mittwoch, 10. März 2027 um 16:00 Uhr, Ortszeit Berlin"
        assert f"Ihr Behandlungstermin ist gebucht für {when}." in email.body
        assert "Von Sonntag, 7. März 2027 bis Mittwoch, 31. März 2027" in email.body
        assert "Mit freundlichen Grüßen" in email.body
        html = email.alternatives[0][0]
        assert '<html lang="de">' in html and "Ortszeit Berlin" in html
        assert "Wednesday" not in email.body + html
        [sms] = LocmemSmsBackend.outbox
        assert sms["body"].startswith("Exosome Hair Clinic: gebucht für Mi 10. Mär, 16:00 Berlin.")
        assert "Keine NSAR So 7. Mär bis Mi 31. Mär." in sms["body"]

    def test_the_patients_zone_is_kept_in_their_language(self, frozen):
        patient = PatientFactory(language="de", time_zone="America/New_York")
        book(patient, date(2027, 3, 10), hour=16)
        reminder = Reminder.objects.get(
            session__patient=patient, kind="booking_confirmation", channel="email"
        )
        text = render_email(reminder).text
        assert "um 16:00 Uhr, Ortszeit Berlin (10:00 Uhr bei Ihnen in New York)" in text

    def test_a_turkish_patient_gets_turkish_messages(self, frozen):
        patient = PatientFactory(language="tr", reminders_by_sms=True, phone="+90 532 555 0101")
        session = book(patient, date(2027, 3, 10), hour=16)
        reminder = Reminder.objects.get(session=session, kind="day_before", channel="sms")
        sms = render_sms(reminder)
        assert "seansınız yarın, 10 Mar Çrş, Berlin 16:00" in sms
        email = render_email(
            Reminder.objects.get(session=session, kind="day_before", channel="email")
        )
        assert email.subject == "Yarınki seansınız, 10 Mart 2027 Çarşamba"

    def test_english_stays_as_it_was(self, frozen):
        session = book(PatientFactory(language="en"), date(2027, 3, 10), hour=16)
        reminder = Reminder.objects.get(session=session, kind="day_before", channel="email")
        email = render_email(reminder)
        assert email.subject == "Your session tomorrow, Wednesday 10 March 2027"
        assert "tomorrow, Wednesday 10 March 2027 at 16:00 Berlin time, at " in email.text
        assert '<html lang="en">' in email.html

    def test_an_sms_reply_is_in_the_patients_language(self, frozen):
        PatientFactory(language="de", reminders_by_sms=True, phone="+49 170 5550101")
        received = receive_sms(
            message_sid="SM" + "a" * 32, from_number="+491705550101", to_number="+4930", body="STOP"
        )
        assert received.reply == (
            "Exosome Hair Clinic: Sie erhalten keine SMS mehr von uns. "
            "Antworten Sie START, um sie wieder zu erhalten."
        )


class TestPortal:
    def test_a_turkish_patients_home_is_in_turkish(self, frozen, django_assert_max_num_queries):
        patient = PatientFactory(first_name="Elif", language="tr")
        book(patient, date(2027, 1, 11), hour=16)
        client = portal_client(patient)
        # Whatever the browser asks for: the patient's stored language.
        response = client.get(reverse("portal_home"), HTTP_ACCEPT_LANGUAGE="de")
        html = response.content.decode()
        assert response["Content-Language"] == "tr"
        assert '<html lang="tr">' in html
        assert "Merhaba Elif" in html and "Bir sonraki seansınız" in html
        assert "11 Ocak 2027 Pazartesi, Berlin saatiyle 16:00" in html
        assert "Seansım" in html and "Çıkış yap" in html  # the navigation too
        assert "Hello" not in html and "Your next session" not in html

    @pytest.mark.parametrize(
        ("name", "text"),
        [
            ("portal_follow_ups", "Kontrolleriniz ve ilerlemeniz"),
            ("portal_aftercare", "Bir yan etkiyi bize bildirin"),
            ("portal_consents", "Onaylar"),
            ("portal_intake", "Tedavinizden önce: anketiniz"),
            ("portal_preferences", "Takvim bağlantımı oluştur"),
            ("portal_compare", "Henüz karşılaştırılacak fotoğraflı bir ziyaret kaydı yok."),
            ("portal_book", "Seans ayarla"),
        ],
    )
    def test_every_portal_page_is_in_turkish(self, frozen, name, text):
        patient = PatientFactory(language="tr")
        html = portal_client(patient).get(reverse(name)).content.decode()
        assert text in html and '<html lang="tr">' in html

    def test_a_patients_404_is_in_their_language(self, frozen):
        client = portal_client(PatientFactory(language="de"))
        response = client.get(reverse("portal_consent", args=[999999]))
        assert response.status_code == 404
        assert "Diese Seite gibt es nicht" in response.content.decode()

    def test_the_session_ics_is_in_the_patients_language(self, frozen):
        patient = PatientFactory(language="de")
        session = book(patient, date(2027, 3, 10), hour=16)
        response = portal_client(patient).get(reverse("portal_session_ics", args=[session.pk]))
        [event] = Calendar.from_ical(response.content).walk("VEVENT")
        assert str(event["summary"]) == "Behandlungstermin bei Exosome Hair Clinic"
        assert "Kein Aspirin, Ibuprofen oder andere NSAR von Sonntag, 7. März 2027" in str(
            event["description"]
        )

    def test_the_calendar_feed_is_in_the_patients_language(self, frozen):
        from patients.services import new_calendar_token

        patient = PatientFactory(language="tr")
        new_calendar_token(patient=patient)
        patient.refresh_from_db()
        book(patient, date(2027, 3, 10), hour=16)
        response = Client().get(
            reverse("portal_calendar_feed", args=[patient.calendar_token]),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        summaries = [str(e["summary"]) for e in Calendar.from_ical(response.content).walk("VEVENT")]
        assert "Exosome Hair Clinic tedavi seansı" in summaries
        assert not [s for s in summaries if "Treatment session" in s]

    def test_the_patient_switches_language_in_preferences(self, frozen):
        patient = PatientFactory(language="en", time_zone="Europe/Berlin")
        client = portal_client(patient)
        response = client.post(
            reverse("portal_preferences"),
            {"language": "de", "reminders_by_email": "on", "time_zone": "Europe/Berlin"},
            follow=True,
        )
        patient.refresh_from_db()
        assert patient.language == "de"
        html = response.content.decode()
        assert "Gespeichert. Ihre Erinnerungen richten sich nach Ihrer neuen Auswahl." in html
        assert "Ihre Einstellungen" in html

    @pytest.mark.parametrize("language", ["xx", "de-at", "DE", "tr\u0131"])
    def test_an_unknown_language_is_refused_not_saved(self, frozen, language):
        patient = PatientFactory(language="tr")
        response = portal_client(patient).post(
            reverse("portal_preferences"),
            {"language": language, "time_zone": "Europe/Berlin"},
        )
        assert response.status_code == 200 and "language" in response.context["form"].errors
        patient.refresh_from_db()
        assert patient.language == "tr"

    def test_a_form_without_the_language_keeps_it(self, frozen):
        patient = PatientFactory(language="tr")
        response = portal_client(patient).post(
            reverse("portal_preferences"), {"time_zone": "Europe/Berlin"}
        )
        assert response.status_code == 302
        patient.refresh_from_db()
        assert patient.language == "tr"

    def test_a_patients_page_outside_the_portal_is_in_their_language(self, frozen):
        patient = PatientFactory(language="tr")
        client = portal_client(patient)  # signs in: the session remembers the language
        html = client.get(reverse("password_change"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
        assert "Şifrenizi değiştirin" in html and '<html lang="tr">' in html
        # Switched in the preferences: the other pages follow.
        client.post(reverse("portal_preferences"), {"language": "de", "time_zone": "Europe/Berlin"})
        html = client.get(reverse("password_change")).content.decode()
        assert "Passwort ändern" in html
        response = client.post(reverse("logout"), follow=True)
        assert "Sie sind abgemeldet." in response.content.decode()

    def test_a_patients_two_factor_pages_are_in_their_language(self, frozen):
        # Patients may turn on two-factor sign-in too: its pages and messages are theirs.
        client = portal_client(PatientFactory(language="de"))
        html = client.get(reverse("two_factor")).content.decode()
        assert '<h1 class="h3 mb-3">Zwei-Faktor-Anmeldung</h1>' in html
        assert "Aus: Sie melden sich nur mit Ihrem Passwort an." in html
        html = client.get(reverse("two_factor_setup")).content.decode()
        assert "Scannen Sie damit diesen QR-Code:" in html and "Bestätigen" in html
        response = client.post(reverse("two_factor_setup"), {"code": "12"})
        assert "Das ist kein Code" in response.content.decode()

    def test_the_invitation_and_its_welcome_page_are_in_the_patients_language(
        self, frozen, staff_client, django_capture_on_commit_callbacks
    ):
        patient = PatientFactory(first_name="Jonas", language="de")
        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("portal_invite", args=[patient.pk]))
        [email] = mail.outbox
        assert email.subject == "Ihre Patientenseite bei Exosome Hair Clinic"
        assert email.body.startswith("Guten Tag Jonas,")
        path = re.search(r"/portal/welcome/\S+/", email.body).group(0)
        client = Client()
        set_password = client.get(path, HTTP_ACCEPT_LANGUAGE="en")["Location"]
        html = client.get(set_password, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "Wählen Sie ein Passwort für Ihre Patientenseite" in html
        response = client.post(
            set_password, {"new_password1": "Tr1cky-pass-9", "new_password2": "Tr1cky-pass-9"}
        )
        assert response["Location"] == reverse("portal_home")
        html = client.get(reverse("portal_home")).content.decode()
        assert "Willkommen! Ihr Passwort ist gesetzt." in html

    def test_the_sign_in_page_follows_the_browser(self, client):
        html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="tr").content.decode()
        assert '<html lang="tr">' in html and "Giriş yap" in html
        html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
        assert "Anmelden" in html and "Passwort vergessen?" in html

    def test_staff_pages_stay_english(self, staff_client):
        response = staff_client.get(reverse("patient_list"), HTTP_ACCEPT_LANGUAGE="de")
        assert response["Content-Language"] == "en-gb"
        html = response.content.decode()
        assert '<html lang="en-gb">' in html and "Sign out" in html and "Abmelden" not in html


class TestTheCheck:
    PO = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "Translated"
msgstr "Übersetzt"
"""

    def write(self, tmp_path: Path, extra: str) -> Path:
        po = tmp_path / "django.po"
        po.write_text(self.PO + extra, encoding="utf-8")
        return po

    def test_a_complete_file_passes(self, tmp_path):
        assert check_translations.problems(self.write(tmp_path, "")) == []

    def test_an_untranslated_string_fails(self, tmp_path, capsys):
        po = self.write(tmp_path, '\nmsgid "Forgotten"\nmsgstr ""\n')
        assert check_translations.problems(po) == [f"{po}: untranslated: Forgotten"]
        assert check_translations.main([str(po)]) == 1
        assert "untranslated: Forgotten" in capsys.readouterr().out

    def test_a_fuzzy_string_fails(self, tmp_path):
        po = self.write(tmp_path, '\n#, fuzzy\nmsgid "Guessed"\nmsgstr "Geraten"\n')
        assert check_translations.problems(po) == [f"{po}: fuzzy: Guessed"]

    def test_an_obsolete_string_fails(self, tmp_path):
        po = self.write(tmp_path, '\n#~ msgid "Gone"\n#~ msgstr "Weg"\n')
        assert check_translations.problems(po) == [
            f"{po}: no longer in the sources (obsolete): Gone"
        ]

    def test_the_staff_strings_may_stay_english(self, tmp_path):
        # The staff's own set (message context "staff") ships in English only.
        po = self.write(
            tmp_path,
            '\nmsgctxt "staff"\nmsgid "Schedule"\nmsgstr ""\n'
            '\n#, fuzzy\nmsgctxt "staff"\nmsgid "Patients"\nmsgstr "Patienten"\n',
        )
        assert check_translations.problems(po) == []

    def test_the_same_text_for_patients_must_be_translated(self, tmp_path):
        po = self.write(
            tmp_path,
            '\nmsgctxt "staff"\nmsgid "Sign out"\nmsgstr ""\n'
            '\nmsgid "Sign out"\nmsgstr ""\n'
            '\nmsgctxt "other"\nmsgid "Sign out"\nmsgstr ""\n',
        )
        assert check_translations.problems(po) == [
            f"{po}: untranslated: Sign out",
            f"{po}: untranslated: other|Sign out",
        ]

    def test_the_shipped_languages_are_complete(self):
        # What `make test` runs: makemessages on a copy, nothing untranslated or stale.
        assert check_translations.check_project() == []
