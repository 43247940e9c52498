"""Every SMS template, in every shipped language, with long but realistic values: one
segment where the language allows it, and a known, small number where it does not
(README, "Languages": GSM-7 vs UCS-2)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from tests.sms_segments import is_gsm7, segments
from treatments.formatting import day_month, short_date, short_when

CLINIC = ZoneInfo("Europe/Berlin")
# A long day and month in every language (Wednesday, September / Mittwoch / Çarşamba, Eylül),
# for a patient in New York: the SMS names both clocks.
SESSION = datetime(2027, 9, 29, 14, 30, tzinfo=UTC)
READER = ZoneInfo("America/New_York")

KINDS = (
    "aftercare",
    "booking_confirmation",
    "cancellation",
    "day_before",
    "follow_up_due",
    "next_session_eligible",
    "nsaid_end",
    "nsaid_stop",
    "recall",
    "request_answered",
    "waitlist_offer",
)

# The most segments each SMS may take, per language, with the longest values below. English
# and German are GSM-7 (German's ä, ö, ü and ß are in it): one segment, except the day-before
# SMS when it carries the consent link, and a recall, which quotes the staff's own notice.
# Turkish needs ş, ğ and ı, so it is UCS-2 (70 characters, 67 a segment when split): two
# segments, three for those two (README, "Languages", says so).
BUDGET = {
    "en": {"day_before": 2, "recall": 2, "waitlist_offer": 2},
    "de": {"day_before": 2, "recall": 2, "waitlist_offer": 2},
    "tr": {"day_before": 3, "recall": 3, "waitlist_offer": 3},
}
DEFAULT_BUDGET = {"en": 1, "de": 1, "tr": 2}


def context(language: str, **extra) -> dict:
    with translation.override(language):
        return {
            "clinic_name": "Exosome Hair Clinic",
            "clinic_phone": "+49 30 1234567",
            "first_name": "Maximilian",
            "portal_url": "https://clinic.example/",
            "session_short": short_when(SESSION, CLINIC, READER),
            "nsaid_first_short": short_date(date(2027, 9, 26)),
            "nsaid_last_short": short_date(date(2027, 10, 20)),
            "follow_up_day": day_month(date(2027, 12, 29)),
            "consent_url": "https://clinic.example/portal/consents/",
            "prescribed_nsaid": "",
            "moved": False,
            "recall_text": "ExoHair 400 lot L-7: stop using it.",
            "recall_sessions": [{"day": day_month(date(2027, 9, 29))}],
            "outcome": "Moved to Friday 8 October, 10:00.",
            # A waitlist offer: the time and the answer's deadline, and the offer's link.
            "offer_short": short_when(SESSION, CLINIC, READER),
            "answer_by_short": short_when(SESSION - timedelta(days=4), CLINIC, READER),
            "offer_url": "https://clinic.example/portal/waitlist/offers/123456/",
            **extra,
        }


def render(kind: str, language: str, **extra) -> str:
    with translation.override(language):
        body = render_to_string(f"reminders/{kind}.sms.txt", context(language, **extra), "text")
    return " ".join(body.split())


def variants(kind: str) -> list[dict]:
    """Each branch of the template that changes its length."""
    if kind == "booking_confirmation":
        return [{}, {"moved": True}, {"prescribed_nsaid": "aspirin 100 mg daily"}]
    if kind == "nsaid_stop":
        return [{}, {"prescribed_nsaid": "aspirin 100 mg daily"}]
    return [{}]


@pytest.mark.parametrize("language", [code for code, _ in settings.LANGUAGES])
@pytest.mark.parametrize("kind", KINDS)
def test_each_sms_fits_its_budget(kind, language):
    for extra in variants(kind):
        text = render(kind, language, **extra)
        budget = BUDGET[language].get(kind, DEFAULT_BUDGET[language])
        assert segments(text) <= budget, (kind, language, len(text), text)
        if language in ("en", "de"):
            # German's umlauts are GSM-7: no stray character (a typographic quote, a dash)
            # may turn a German or English SMS into UCS-2 and halve its room.
            assert is_gsm7(text), (kind, language, [c for c in text if not is_gsm7(c)])


def test_the_turkish_sms_are_in_turkish_and_ucs2():
    text = render("nsaid_end", "tr")
    assert "NSAİİ arası bitti" in text
    assert not is_gsm7(text)


def test_segment_arithmetic():
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("ä" * 160) == 1  # in GSM-7
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2  # extension: two septets
    assert segments("ş" * 70) == 1 and segments("ş" * 71) == 2
    assert segments("ş" * 134) == 2 and segments("ş" * 135) == 3
