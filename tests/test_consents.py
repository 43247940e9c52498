"""Consents: versioned texts, signatures, withdrawal, and the services that refuse without them."""

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InternalError, connection, transaction
from django.test import Client
from django.urls import reverse

from accounts import roles
from consents import selectors
from consents import services as consent_services
from consents.models import Consent, ConsentDocument, ConsentKind, ConsentVersion, text_hash
from tests.factories import (
    BERLIN,
    NOW,
    PatientFactory,
    ProductLotFactory,
    UserFactory,
    at,
    book,
    reconfirm,
    sign_current_consents,
    staff,
)
from tests.test_query_counts import photo
from treatments import services
from treatments.models import FollowUpPhoto, FollowUpStatus

pytestmark = pytest.mark.django_db


def doc(kind):
    return ConsentDocument.objects.get(kind=kind)


def version(kind, number=1, language="en"):
    return ConsentVersion.objects.get(document__kind=kind, number=number, language=language)


def publish(kind, number, *, on: date, language="en", text=None) -> ConsentVersion:
    return ConsentVersion.objects.create(
        document=doc(kind),
        number=number,
        language=language,
        text=text or f"{kind} consent, version {number}, {language}",
        statements=["I agree."],
        published_at=at(on, 8),
    )


def sign(patient, v, *, now=NOW, witnessed_by=None, name=None):
    return consent_services.sign_consent(
        patient=patient,
        version=v,
        typed_name=name or patient.full_name,
        statements=list(v.statements),
        ip="203.0.113.9",
        user_agent="pytest",
        witnessed_by=witnessed_by,
        now=now,
    )


def complete(session, now=None):
    return services.complete_session(
        session=session,
        vials=[(ProductLotFactory(), 1)],
        completed_by=session.clinician,
        now=now or session.ends_at,
    )


def refusal(exc_info) -> set[str]:
    exc = exc_info.value
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors}
    return {e.code for e in exc.error_list}


# --- Signing ---------------------------------------------------------------------------------


def test_signing_stores_the_hash_of_the_text_shown_and_who_how(frozen):
    patient = PatientFactory(consents=False, first_name="Anna", last_name="Lind")
    v = version(ConsentKind.TREATMENT)
    consent = sign(patient, v, name="  anna   LIND ")
    consent.refresh_from_db()
    assert consent.shown_sha256 == v.sha256 == text_hash(v.text)
    assert (consent.ip, consent.user_agent, consent.signed_via) == (
        "203.0.113.9",
        "pytest",
        "portal",
    )
    assert consent.statements == v.statements
    assert consent.witnessed_by is None


@pytest.mark.parametrize(
    ("name", "ticks", "code"),
    [
        ("Someone Else", None, "name_mismatch"),
        ("", None, "name_mismatch"),
        (None, [], "statements_required"),
        (None, ["I agree to something else."], "statements_required"),
    ],
)
def test_bad_signatures_are_refused(frozen, name, ticks, code):
    patient = PatientFactory(consents=False)
    v = version(ConsentKind.TREATMENT)
    with pytest.raises(ValidationError) as exc_info:
        consent_services.sign_consent(
            patient=patient,
            version=v,
            typed_name=patient.full_name if name is None else name,
            statements=list(v.statements) if ticks is None else ticks,
            ip=None,
            user_agent="",
            now=NOW,
        )
    assert refusal(exc_info) == {code}
    assert not Consent.objects.filter(patient=patient).exists()


def test_an_outdated_version_or_a_changed_text_cannot_be_signed(frozen):
    patient = PatientFactory(consents=False)
    old = version(ConsentKind.TREATMENT)
    new = publish(ConsentKind.TREATMENT, 2, on=date(2026, 12, 1))
    with pytest.raises(ValidationError) as exc_info:
        sign(patient, old)
    assert refusal(exc_info) == {"outdated_version"}
    with pytest.raises(ValidationError) as exc_info:
        consent_services.sign_consent(
            patient=patient,
            version=new,
            typed_name=patient.full_name,
            statements=new.statements,
            shown_sha256=old.sha256,
            ip=None,
            user_agent="",
            now=NOW,
        )
    assert refusal(exc_info) == {"text_changed"}
    sign(patient, new)
    with pytest.raises(ValidationError) as exc_info:
        sign(patient, new)
    assert refusal(exc_info) == {"already_signed"}


def test_a_published_version_is_read_only_in_the_database(frozen):
    v = version(ConsentKind.TREATMENT)
    v.text = "Other words"
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        v.save()
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        ConsentVersion.objects.filter(pk=v.pk).delete()
    draft = ConsentVersion.objects.create(document=doc("treatment"), number=2, text="Draft")
    draft.text = "Draft, revised"
    draft.save()  # a draft is still edited
    assert ConsentVersion.objects.get(pk=draft.pk).sha256 == text_hash("Draft, revised")


def test_the_back_office_shows_a_published_version_read_only(clinic_admin_client):
    clinic_admin_client.user.is_staff = True
    clinic_admin_client.user.save()
    v = version(ConsentKind.TREATMENT)
    url = reverse("admin:consents_consentversion_change", args=[v.pk])
    html = clinic_admin_client.get(url).content.decode()
    assert 'name="text"' not in html and v.text.splitlines()[0] in html


# --- Enforcement -------------------------------------------------------------------------


def test_completing_without_the_treatment_consent_is_refused_naming_the_version(frozen):
    patient = PatientFactory(consents=False)
    session = book(patient, day=date(2027, 3, 10))
    with pytest.raises(ValidationError) as exc_info:
        complete(session)
    assert refusal(exc_info) == {"consent_required"}
    assert "Treatment consent version 1" in exc_info.value.messages[0]
    sign(patient, version(ConsentKind.TREATMENT))
    assert complete(session).status == "completed"


def test_a_version_published_between_two_sessions_asks_for_a_new_signature(frozen):
    patient = PatientFactory()  # signed version 1
    first = book(patient, day=date(2027, 3, 10), now=NOW)
    complete(first)
    reconfirm(patient, at=at(date(2027, 9, 1)))  # the intake, before a later session
    second = book(patient, day=date(2027, 9, 15), now=NOW)
    v2 = publish(ConsentKind.TREATMENT, 2, on=date(2027, 5, 1))
    # On the first session's day version 1 was current: still fine for that day.
    assert selectors.missing_consents(patient, date(2027, 3, 10)) == []
    assert selectors.missing_consents(patient, date(2027, 9, 15)) == [v2]
    with pytest.raises(ValidationError) as exc_info:
        complete(second)
    assert refusal(exc_info) == {"consent_required"}
    assert "version 2" in exc_info.value.messages[0]
    sign(patient, v2, now=at(date(2027, 5, 2)))
    assert complete(second).status == "completed"


def test_published_on_the_session_day_counts_for_that_day(frozen):
    patient = PatientFactory()
    publish(ConsentKind.TREATMENT, 2, on=date(2027, 3, 10))
    assert [v.number for v in selectors.missing_consents(patient, date(2027, 3, 9))] == []
    assert [v.number for v in selectors.missing_consents(patient, date(2027, 3, 10))] == [2]


def test_a_withdrawn_treatment_consent_blocks_completion(frozen):
    patient = PatientFactory()
    session = book(patient, day=date(2027, 3, 10))
    consent = Consent.objects.get(patient=patient, version__document__kind="treatment")
    consent_services.withdraw_consent(
        consent=consent, withdrawn_by=staff(), reason="Changed my mind", now=NOW
    )
    with pytest.raises(ValidationError) as exc_info:
        complete(session)
    assert refusal(exc_info) == {"consent_required"}
    with pytest.raises(ValidationError) as exc_info:
        consent_services.withdraw_consent(
            consent=consent, withdrawn_by=staff(), reason="again", now=NOW
        )
    assert refusal(exc_info) == {"already_withdrawn"}


def test_withdrawal_needs_a_reason(frozen):
    consent = Consent.objects.filter(patient=PatientFactory()).first()
    with pytest.raises(ValidationError):
        consent_services.withdraw_consent(
            consent=consent, withdrawn_by=staff(), reason=" ", now=NOW
        )
    consent.refresh_from_db()
    assert consent.withdrawn_at is None


def test_a_signature_in_another_language_counts(frozen):
    patient = PatientFactory(consents=False)
    sign_current_consents(patient, kinds=("photo",))
    german = publish(ConsentKind.TREATMENT, 2, on=date(2026, 12, 1), language="de")
    publish(ConsentKind.TREATMENT, 2, on=date(2026, 12, 1), language="en")
    assert selectors.current_version("treatment", date(2027, 3, 10), "de") == german
    sign(patient, german)
    session = book(patient, day=date(2027, 3, 10))
    assert complete(session).status == "completed"


def _held_follow_up(patient):
    session = book(patient, day=date(2026, 10, 1), now=at(date(2026, 9, 20)))
    complete(session)
    return session.follow_ups.get(kind="aftercare_check")


def test_photos_need_the_photo_consent(frozen):
    patient = PatientFactory(consents=False)
    sign_current_consents(patient, kinds=("treatment",))
    follow_up = _held_follow_up(patient)

    def record(**kwargs):
        return services.record_follow_up(
            follow_up=follow_up,
            status=FollowUpStatus.DONE,
            recorded_by=follow_up.session.clinician,
            now=at(date(2026, 10, 8)),
            **kwargs,
        )

    with pytest.raises(ValidationError) as exc_info:
        record(photos=[("top", photo())])
    assert refusal(exc_info) == {"photo_consent_required"}
    assert not FollowUpPhoto.objects.filter(follow_up=follow_up).exists()
    record(notes="Healing well")  # findings without photos are fine
    sign(patient, version(ConsentKind.PHOTO))
    record(photos=[("top", photo())], reason="Photo taken", shared_with_patient=True)
    assert FollowUpPhoto.objects.filter(follow_up=follow_up).count() == 1


def test_sharing_existing_photos_after_withdrawal_is_refused(frozen):
    patient = PatientFactory()
    follow_up = _held_follow_up(patient)
    doctor = follow_up.session.clinician
    services.record_follow_up(
        follow_up=follow_up,
        status="done",
        recorded_by=doctor,
        photos=[("top", photo())],
        now=at(date(2026, 10, 8)),
    )
    consent = Consent.objects.get(patient=patient, version__document__kind="photo")
    consent_services.withdraw_consent(consent=consent, withdrawn_by=doctor, reason="No", now=NOW)
    with pytest.raises(ValidationError) as exc_info:
        services.record_follow_up(
            follow_up=follow_up,
            status="done",
            recorded_by=doctor,
            shared_with_patient=True,
            reason="share",
            now=NOW,
        )
    assert refusal(exc_info) == {"photo_consent_required"}


# --- The portal ----------------------------------------------------------------------------


def portal_client(patient) -> Client:
    user = UserFactory(username=patient.email, role=roles.PATIENT)
    patient.user = user
    patient.save()
    client = Client(HTTP_USER_AGENT="Phone browser")
    client.force_login(user)
    return client


def test_the_patient_signs_in_the_portal_and_prints_it(frozen):
    patient = PatientFactory(consents=False, first_name="Maria", last_name="Kovač")
    client = portal_client(patient)
    v = version(ConsentKind.TREATMENT)
    listing = client.get(reverse("portal_consents")).content.decode()
    assert reverse("portal_consent_sign", args=[v.pk]) in listing
    page = client.get(reverse("portal_consent_sign", args=[v.pk])).content.decode()
    assert v.text.splitlines()[0] in page and v.sha256 in page
    response = client.post(
        reverse("portal_consent_sign", args=[v.pk]),
        {"typed_name": "maria kovač", "statements": ["0", "1"], "shown_sha256": v.sha256},
    )
    consent = Consent.objects.get(patient=patient)
    assert response.status_code == 302
    assert (consent.user_agent, consent.ip, consent.signed_via) == (
        "Phone browser",
        "127.0.0.1",
        "portal",
    )
    printable = client.get(reverse("portal_consent", args=[consent.pk])).content.decode()
    assert v.text.splitlines()[0] in printable and consent.shown_sha256 in printable


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"typed_name": "Wrong Name", "statements": ["0", "1"], "shown_sha256": "x"},
        {"typed_name": "Maria Kovač", "statements": ["0"], "shown_sha256": "x" * 64},
        {"typed_name": "Maria Kovač", "statements": ["7", "-1", "a"], "shown_sha256": "x"},
        {"typed_name": "M" * 10_000, "shown_sha256": "x" * 1000},
        {"typed_name": "\x00", "statements": "0"},
    ],
)
def test_bad_input_in_the_portal_keeps_the_page_and_signs_nothing(frozen, data):
    patient = PatientFactory(consents=False, first_name="Maria", last_name="Kovač")
    client = portal_client(patient)
    v = version(ConsentKind.TREATMENT)
    response = client.post(reverse("portal_consent_sign", args=[v.pk]), data)
    assert response.status_code in (200, 400)  # 400: a NUL byte, refused before the view
    assert not Consent.objects.filter(patient=patient).exists()


def test_a_patient_sees_only_their_own_consents(frozen):
    me, other = PatientFactory(), PatientFactory()
    client = portal_client(me)
    theirs = Consent.objects.filter(patient=other).first()
    assert client.get(reverse("portal_consent", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("portal_consent_withdraw", args=[theirs.pk])).status_code == 404
    client.post(reverse("portal_consent_withdraw", args=[theirs.pk]), {"reason": "x"})
    theirs.refresh_from_db()
    assert theirs.withdrawn_at is None
    assert client.get(reverse("portal_consent_sign", args=[999_999])).status_code == 404


def test_withdrawing_photo_consent_in_the_portal_hides_the_photos(frozen):
    patient = PatientFactory()
    follow_up = _held_follow_up(patient)
    services.record_follow_up(
        follow_up=follow_up,
        status="done",
        recorded_by=follow_up.session.clinician,
        photos=[("top", photo())],
        shared_with_patient=True,
        now=at(date(2026, 10, 8)),
    )
    picture = FollowUpPhoto.objects.get(follow_up=follow_up)
    client = portal_client(patient)
    photo_url = reverse("portal_photo", args=[picture.pk])
    assert photo_url in client.get(reverse("portal_follow_ups")).content.decode()
    assert client.get(photo_url).status_code == 200
    consent = Consent.objects.get(patient=patient, version__document__kind="photo")
    response = client.post(
        reverse("portal_consent_withdraw", args=[consent.pk]), {"reason": "Not any more"}
    )
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.withdrawn_by == patient.user and consent.withdrawal_reason == "Not any more"
    assert photo_url not in client.get(reverse("portal_follow_ups")).content.decode()
    assert client.get(photo_url).status_code == 404
    # An empty reason withdraws nothing.
    treatment = Consent.objects.get(patient=patient, version__document__kind="treatment")
    assert (
        client.post(
            reverse("portal_consent_withdraw", args=[treatment.pk]), {"reason": ""}
        ).status_code
        == 200
    )
    treatment.refresh_from_db()
    assert treatment.withdrawn_at is None


@pytest.mark.parametrize("name", ["portal_consents", "portal_consent_sign", "portal_consent"])
def test_portal_consent_pages_take_a_constant_number_of_queries(
    frozen, django_assert_max_num_queries, name
):
    patient = PatientFactory()
    for n in range(2, 5):  # more versions and more signatures than the default
        for kind in ("treatment", "photo"):
            newer = publish(kind, n, on=date(2026, 11, n))
            sign(patient, newer, now=datetime(2026, 11, n, 12, tzinfo=BERLIN))
    client = portal_client(patient)
    pk = {
        "portal_consents": None,
        "portal_consent_sign": version("treatment", 4).pk,
        "portal_consent": Consent.objects.filter(patient=patient).first().pk,
    }[name]
    url = reverse(name, args=[pk] if pk else [])
    with django_assert_max_num_queries(9):
        assert client.get(url).status_code == 200


# --- The front desk ------------------------------------------------------------------------


def test_the_session_page_shows_what_is_missing_and_the_desk_takes_the_signature(staff_client):
    patient = PatientFactory(consents=False)
    session = book(patient, day=date(2027, 3, 10))
    html = staff_client.get(reverse("session_detail", args=[session.pk])).content.decode()
    v = version(ConsentKind.TREATMENT)
    sign_url = reverse("consent_desk_sign", args=[patient.pk, v.pk])
    assert 'id="missing-consents"' in html and sign_url in html
    response = staff_client.post(
        sign_url,
        {"typed_name": patient.full_name, "statements": ["0", "1"], "shown_sha256": v.sha256},
    )
    assert response.status_code == 302
    consent = Consent.objects.get(patient=patient)
    assert (consent.signed_via, consent.witnessed_by) == ("desk", staff_client.user)
    html = staff_client.get(reverse("session_detail", args=[session.pk])).content.decode()
    assert sign_url not in html


def test_only_staff_take_a_signature_at_the_desk(patient_client):
    patient = PatientFactory(consents=False)
    v = version(ConsentKind.TREATMENT)
    url = reverse("consent_desk_sign", args=[patient.pk, v.pk])
    assert patient_client.get(url).status_code == 403
    with pytest.raises(Exception):  # noqa: B017,PT011 - PermissionDenied
        sign(patient, v, witnessed_by=patient_client.user)
    assert not Consent.objects.filter(patient=patient).exists()


def test_the_session_page_stays_within_its_queries(staff_client, django_assert_max_num_queries):
    patient = PatientFactory(consents=False)
    session = book(patient, day=date(2027, 3, 10), now=NOW - timedelta(days=1))
    with django_assert_max_num_queries(12):  # + the Inbox unread count
        assert staff_client.get(reverse("session_detail", args=[session.pk])).status_code == 200


# --- The reminder before the session ------------------------------------------------------


def _day_before_text(session):
    from reminders.channels import message_context, render_email
    from reminders.models import Reminder

    reminder = Reminder.objects.filter(session=session, kind="day_before", channel="email").first()
    return render_email(reminder, message_context(reminder)).text


def test_the_day_before_reminder_links_to_what_is_missing(frozen, settings):
    settings.SITE_URL = "https://clinic.example"
    unsigned = PatientFactory(consents=False)
    portal_client(unsigned)
    unsigned.refresh_from_db()
    text = _day_before_text(book(unsigned, day=date(2027, 3, 10)))
    assert "Treatment consent" in text and "https://clinic.example/portal/consents/" in text
    # Without a portal account: no link, the desk.
    offline = PatientFactory(consents=False)
    text = _day_before_text(book(offline, day=date(2027, 3, 10)))
    assert "Treatment consent" in text and "/portal/consents/" not in text
    assert "front desk" in text
    # Everything signed: nothing asked.
    signed = PatientFactory()
    portal_client(signed)
    text = _day_before_text(book(signed, day=date(2027, 3, 10)))
    assert "please sign" not in text


def test_photos_are_shared_as_before_where_no_photo_consent_is_published(frozen):
    """As `require_consent`: no published photo consent, none asked for; once one is
    published, only a signed and not withdrawn one lets photos be shared."""
    patient = PatientFactory(consents=False)
    assert not selectors.has_photo_consent(patient)  # the migration's version is published
    with connection.cursor() as cursor:  # a clinic that never published one (trigger-proof)
        cursor.execute("ALTER TABLE consents_consentversion DISABLE TRIGGER USER")
        try:
            ConsentVersion.objects.filter(document__kind=ConsentKind.PHOTO).update(
                published_at=None
            )
        finally:
            cursor.execute("ALTER TABLE consents_consentversion ENABLE TRIGGER USER")
    assert selectors.has_photo_consent(patient)
