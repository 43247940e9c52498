"""ui.translation: each language remembers its answers; they are the catalogs' own."""

from gettext import GNUTranslations

import pytest
from django.utils import translation
from django.utils.translation import trans_real

import ui.translation


@pytest.mark.parametrize("language", ["de", "tr", "en-gb"])
def test_every_answer_is_the_catalogs_own(language):
    """For every message of the language's catalogs (and words none of them has, and a
    context's key that falls back), the remembered answer is what the catalogs and their
    fallbacks give, asked twice."""
    trans = trans_real.translation(language)
    messages = [key for key in trans._catalog.keys() if isinstance(key, str)][:3000]
    messages += ["No such words in any catalog", "Patient", "month\x04May", "Sign out"]
    for message in messages:
        expected = GNUTranslations.gettext(trans, message)
        assert trans.gettext(message) == expected
        assert trans.gettext(message) == expected  # from the memo


def test_translated_words_in_each_language():
    with translation.override("de"):
        german = translation.gettext("Sign out")
    with translation.override("en-gb"):
        english = translation.gettext("Sign out")
    assert english == "Sign out" and german != english


def test_a_second_ask_does_not_search_the_catalogs(monkeypatch):
    trans = trans_real.translation("de")
    searched = []
    real_get = trans._catalog.get
    monkeypatch.setattr(trans._catalog, "get", lambda *a: searched.append(a) or real_get(*a))
    message = "A message asked for the first time in this test"
    trans.gettext(message)
    first = len(searched)
    trans.gettext(message)
    assert first > 0 and len(searched) == first


def test_the_memo_stops_growing_at_its_limit(monkeypatch):
    monkeypatch.setattr(ui.translation, "MEMO_LIMIT", 3)
    trans = trans_real.translation("tr")
    trans.__dict__.pop("_clinic_memo", None)
    words = [f"Unknown word {n}" for n in range(10)]
    assert [trans.gettext(w) for w in words] == words
    assert len(trans.__dict__["_clinic_memo"]) == 3
    trans.__dict__.pop("_clinic_memo", None)
