"""The before/after comparison (templates/_photo_compare.html) written in Python for the
staff page (issue 18): its translations, URL tags and filters were most of the page's
rendering. tests/test_baseline.py compares it with the template byte for byte."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext

from .rows import escaped, staff_said
from .templatetags.clinic_clock import medium_date


@dataclass(frozen=True)
class _Words:
    """The partial's words in one language (HTML, as a template's translated literals)."""

    errors: str  # the alert when part of the choice was not understood
    compare: str
    toggle: str  # the fieldset of radio buttons, whole
    before: str
    after: str
    missing: str  # "%(view_label)s: missing at this visit."
    empty: str


@lru_cache(maxsize=16)
def _words(language: str | None) -> _Words:
    """Each msgid as the template has it (makemessages reads this file too)."""
    before, after = gettext("Before"), gettext("After")
    # Outside the f-strings below: makemessages does not look inside an f-string.
    show, side_by_side = gettext("Show"), gettext("Side by side")
    return _Words(
        errors=(
            '<div class="col-12"><div class="alert alert-warning mb-0" id="compare-errors">'
            + gettext(
                "Part of the choice was not understood; the first view, the first and the "
                "latest visit are shown instead."
            )
            + "</div></div>"
        ),
        compare=gettext("Compare"),
        toggle=(
            '  <fieldset class="compare-toggle mb-2">\n'
            f'    <legend class="form-label fs-6">{show}</legend>\n'
            '    <input class="btn-check" type="radio" name="compare-show" id="compare-both"'
            ' value="both" checked>\n'
            '    <label class="btn btn-outline-secondary btn-sm" for="compare-both">'
            f"{side_by_side}</label>\n"
            '    <input class="btn-check" type="radio" name="compare-show" id="compare-before"'
            ' value="before">\n'
            '    <label class="btn btn-outline-secondary btn-sm" for="compare-before">'
            f"{before}</label>\n"
            '    <input class="btn-check" type="radio" name="compare-show" id="compare-after"'
            ' value="after">\n'
            '    <label class="btn btn-outline-secondary btn-sm" for="compare-after">'
            f"{after}</label>\n"
            "  </fieldset>\n"
        ),
        before=before,
        after=after,
        missing=gettext("%(view_label)s: missing at this visit."),
        empty=gettext("No recorded visit with photos to compare yet."),
    )


def compare_html(context: dict, photo_link: Callable[[int], str]) -> SafeString:
    """What `{% include "_photo_compare.html" %}` writes for `context` (ui.forms.
    compare_context's), each photo's address from `photo_link(pk)`. Values escaped as the
    template escapes them."""
    w = _words(get_language())
    parts = [
        '\n<form method="get" class="row g-2 align-items-end mb-3 compare-form"'
        ' id="compare-form">\n  ',
        w.errors if context["form_errors"] else "",
        "\n  ",
    ]
    for field in context["form"]:
        parts.append(
            '\n  <div class="col-12 col-md-4">\n'
            f'    <label class="form-label" for="{escaped(field.id_for_label)}">'
            f"{escaped(field.label)}</label>\n"
            f"    {field}\n"
            "  </div>\n  "
        )
    parts.append(
        '\n  <div class="col-12"><button class="btn btn-primary" type="submit">'
        f"{w.compare}</button></div>\n</form>\n"
    )
    if context["before"] and context["after"]:
        view_label = escaped(context["view_label"])
        parts.append(
            f'\n<div class="photo-compare" id="photo-compare">\n{w.toggle}'
            '  <div class="compare-pair">\n  '
        )
        for side, visit, photo in context["pair"]:
            kind = escaped(visit.follow_up.get_kind_display())
            day = escaped(medium_date(visit.day))
            if photo:
                shown = (
                    f'<img src="{escaped(photo_link(photo.pk))}" '
                    f'alt="{view_label}, {kind}, {day}">\n      '
                )
            else:
                shown = (
                    '<div class="compare-missing border rounded p-3 text-muted">'
                    f"{staff_said(w.missing, view_label=context['view_label'])}</div>"
                )
            parts.append(
                f'\n    <figure class="compare-{escaped(side)} mb-0" '
                f'id="compare-{escaped(side)}-photo">\n      {shown}\n'
                '      <figcaption class="small"><strong>'
                f"{w.before if side == 'before' else w.after}:</strong> {kind}, {day}"
                "</figcaption>\n    </figure>\n  "
            )
        parts.append("\n  </div>\n</div>\n")
    else:
        parts.append(f'<p class="text-muted" id="compare-empty">{w.empty}</p>')
    parts.append("\n")
    return mark_safe("".join(parts))  # noqa: S308 (every value escaped)
