"""A remembered answer for each message a language has been asked to translate.

Django merges every app's catalog of a language into one `DjangoTranslation`, with the
default language's as its fallback. A message the catalog lacks (every English staff page's
own words: en-gb has few entries; every `pgettext` asks for "context\\x04message" first) is
looked up in each merged catalog (about six: Django keeps a catalog apart for each plural
rule it meets) twice, singular and plural, and then again in each fallback: 4 to 5 µs a
call, and a page makes 50 to 150 such calls (labels, choices, chart words, dates). The
answer for a message never changes while the translation object lives: Django builds a new
one when a catalog is reloaded (`translation_file_changed`) or the languages change in a
test (`setting_changed`), so its memo goes with it. The memo holds at most
`MEMO_LIMIT` messages a language, so text translated from data cannot grow it for ever.
"""

from gettext import GNUTranslations

from django.utils.translation.trans_real import DjangoTranslation

MEMO_LIMIT = 20_000


def _memoized_gettext(self, message):
    memo = self.__dict__.get("_clinic_memo")
    if memo is None:
        memo = self.__dict__["_clinic_memo"] = {}
    try:
        return memo[message]
    except KeyError:
        pass
    result = GNUTranslations.gettext(self, message)
    if len(memo) < MEMO_LIMIT:
        memo[message] = result
    return result


def remember_translations():
    """Called once, from ui.apps.UiConfig.ready."""
    DjangoTranslation.gettext = _memoized_gettext
